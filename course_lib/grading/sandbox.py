"""Keep a graded notebook's processes in a box: every one is found and killed, memory is capped.

The grader of one notebook (:mod:`course_lib.grading.worker`) makes itself a *child
subreaper* (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``): a process the kernel started and then
abandoned, even one started with ``start_new_session=True`` or left behind when the kernel
died, is re-parented to the grader instead of to ``init``. So "every descendant of the
grader" is every process the notebook started, and :func:`kill_descendants` kills them
all — before a report is written, so that none can touch it afterwards.

:func:`limit_memory` caps the address space of the kernel process (``RLIMIT_AS``); a
notebook that allocates too much gets a ``MemoryError`` (or torch's "can't allocate
memory") and the grader, in its own process, is unaffected.

:func:`cover_plan` and :func:`preexec` hide the **project checkout** from the kernel (Linux). The
kernel imports a read-only copy of course_lib (``PYTHONPATH``), but by absolute path it could
still open the project's own ``course_lib/`` (and change what every later grading imports),
``solutions/`` and ``.git``. So the kernel starts in mount and user namespaces of its own: in
the child, after ``fork`` and before ``exec``, it calls ``unshare(CLONE_NEWUSER | CLONE_NEWNS)``,
maps its uid and gid to themselves, makes every mount private, and mounts an empty read-only
``tmpfs`` over the project folder; what the kernel needs from under it (the venv, when it is
``ROOT/.venv``; a temporary or runtime folder) is bind-mounted back first, read-only where it is
code, writable where the kernel writes. The interpreter's prefixes and course_lib's installed
package are bound onto themselves read-only wherever they are. Then it unshares a *second*
user and mount namespace: the mounts it inherits there are locked (``MNT_LOCKED``), so the
kernel — root in its namespace — can neither unmount the cover nor make a read-only mount
writable. Every descendant of the kernel inherits the namespaces. The paths are computed in the
parent; the child makes only system calls. It costs a few milliseconds per kernel.

Limits: it needs unprivileged user namespaces (Linux; not macOS, and not where a container's
seccomp profile or ``kernel.unprivileged_userns_clone=0`` forbids them). :func:`cover_failure`
tries the whole sequence once in a forked child; where it fails the kernel starts unhidden and
``course-grade`` says so (a ``"not-hidden"`` problem). Files of the project outside the folder
that holds course_lib (another checkout, a copy of the solutions elsewhere) are not hidden, and
the kernel can still write wherever its user may outside the project and the read-only paths.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["become_subreaper", "descendants", "kill_descendants", "limit_memory", "MEMORY_ERRORS",
           "Cover", "project_root", "cover_plan", "cover_failure", "preexec"]

PR_SET_CHILD_SUBREAPER = 36
#: Words in an error message that mean "out of memory" (Python's MemoryError, torch's allocator).
MEMORY_ERRORS = ("MemoryError", "can't allocate memory", "std::bad_alloc", "Cannot allocate memory")


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants; False where the OS has no such thing."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _parents() -> dict[int, tuple[int, str]]:
    """Every live process: pid -> (parent pid, state letter), read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:  # it exited while we looked
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0])
    return table


def descendants(pid: int | None = None) -> list[int]:
    """The pids of every live (not zombie) process below ``pid`` (default: this process)."""
    root = os.getpid() if pid is None else pid
    table = _parents()
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(root, []))
    while todo:
        p = todo.pop()
        if table.get(p, (0, "Z"))[1] not in ("Z", "X"):
            found.append(p)
        todo.extend(children.get(p, []))
    return found


def _reap(spare: set[int]) -> None:
    """Collect our exited children (the orphans re-parented to us), except the ``spare`` ones."""
    for child, (parent, state) in _parents().items():
        if parent == os.getpid() and state in ("Z", "X") and child not in spare:
            try:
                os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                pass


def kill_descendants(*, spare: set[int] = frozenset(), timeout: float = 10.0) -> int:
    """SIGKILL every descendant of this process except the ``spare`` pids and their trees.

    Repeats until none is left (a process may fork while the others are being killed), and
    reaps the orphans that were re-parented to this subreaper. Returns how many were killed.
    """
    spared = set(spare)
    for pid in spare:
        spared.update(descendants(pid))
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in descendants() if p not in spared]
        if not alive:
            break
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        _reap(set(spare))
        time.sleep(0.01)
    _reap(set(spare))
    return len(killed)


def limit_memory(nbytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` for Popen that caps the child's address space at ``nbytes``."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))

    return apply


# -- hiding the project from the kernel (Linux namespaces) -------------------------------------
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
#: statvfs flags -> the mount flags a read-only remount must repeat (a namespace may not drop them).
_LOCKED_FLAGS = [("ST_NOSUID", MS_NOSUID), ("ST_NODEV", MS_NODEV), ("ST_NOEXEC", MS_NOEXEC),
                 ("ST_NOATIME", MS_NOATIME), ("ST_NODIRATIME", MS_NODIRATIME), ("ST_RELATIME", MS_RELATIME)]
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


@dataclass(frozen=True)
class Cover:
    """What to hide from a kernel and what to leave it (all paths absolute, computed in the parent).

    Each folder of ``hide`` is covered by an empty read-only tmpfs; ``keep`` are
    ``(path, writable, flags)`` bound back under them, ``readonly`` ``(path, flags)`` bound
    onto themselves read-only (``flags``: the mount flags the remount must keep); ``make`` the
    folders to create in the tmpfs for ``keep``; ``cwd`` the kernel's working folder.
    """

    hide: tuple[str, ...]
    keep: tuple[tuple[str, bool, int], ...]
    readonly: tuple[tuple[str, int], ...]
    make: tuple[str, ...]
    cwd: str
    uid: int
    gid: int


def project_root(package: Path) -> list[Path]:
    """The checkout that holds the course_lib folder ``package`` and its git folder; [] if installed.

    In a ``git worktree`` checkout, ``.git`` is a file naming a folder of the main checkout's
    git directory, which holds every commit (the solutions too): that directory is hidden too.
    """
    root = package.resolve().parent
    if not any((root / name).exists() for name in ("solutions", ".git", "pyproject.toml")):
        return []
    folders = [root]
    dot_git = root / ".git"
    if dot_git.is_file():
        text = dot_git.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            git_dir = (root / text.removeprefix("gitdir:").strip()).resolve()
            common = git_dir / "commondir"
            if common.is_file():
                git_dir = (git_dir / common.read_text().strip()).resolve()
            if git_dir.is_dir() and not root.is_relative_to(git_dir):
                folders.append(git_dir)
    return folders


def _flags(path: Path) -> int:
    flag = os.statvfs(path).f_flag
    flags = 0
    for name, value in _LOCKED_FLAGS:
        if flag & getattr(os, name, 0):
            flags |= value
    if not flags & (MS_NOATIME | MS_RELATIME):
        flags |= MS_STRICTATIME
    return flags


def cover_plan(hide: list[Path], *, writable: list[Path], readonly: list[Path], cwd: Path) -> Cover:
    """The :class:`Cover` that hides the folders ``hide`` and leaves the kernel ``writable`` and ``readonly``.

    Paths under a hidden folder are bound back into its cover (the ``readonly`` ones
    read-only); the ``readonly`` paths elsewhere are bound onto themselves read-only, unless a
    ``writable`` one lies inside (it would be read-only too). Missing paths are left out. Raises
    ValueError when a path the kernel needs is a hidden folder itself.
    """
    roots = [Path(r).resolve() for r in hide]
    wanted: dict[Path, bool] = {}
    for paths, rw in ((readonly, False), (writable, True)):
        for path in paths:
            path = Path(path).resolve()
            if path.is_dir():
                wanted[path] = wanted.get(path, False) or rw
    for root in roots:
        if root in wanted:
            raise ValueError(f"the kernel needs {root} itself, the folder to hide")
    under = {p: r for p in wanted for r in roots if p.is_relative_to(r)}
    inside = sorted(under, key=lambda p: len(p.parts))
    keep = tuple((str(p), wanted[p], _flags(p)) for p in inside)
    make: list[str] = []
    for path in inside:
        for part in reversed([path, *path.parents]):
            if part.is_relative_to(under[path]) and part != under[path] and str(part) not in make:
                make.append(str(part))
    outside = [p for p, rw in wanted.items() if p not in inside and not rw
               and not any(q.is_relative_to(p) for q, w in wanted.items() if w)]
    return Cover(tuple(map(str, roots)), keep, tuple((str(p), _flags(p)) for p in sorted(outside)),
                 tuple(make), str(Path(cwd).resolve()), os.getuid(), os.getgid())


def _unshare(flags: int) -> None:
    if _libc is None or _libc.unshare(flags) != 0:
        code = ctypes.get_errno() if _libc is not None else errno.ENOSYS
        raise OSError(code, f"unshare: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = (lambda s: None if s is None else s.encode())
    if _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {target}: {os.strerror(code)}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _own_namespaces(uid: int, gid: int) -> None:
    """Unshare a user and a mount namespace, this uid and gid mapped to themselves."""
    _unshare(CLONE_NEWUSER | CLONE_NEWNS)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _bind(fd: int, target: str, writable: bool, flags: int) -> None:
    # The source is the folder opened before the cover hid it: /proc/self/fd/N still reaches it.
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    if not writable:
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def _enter(cover: Cover) -> None:
    """In the child: apply ``cover`` (system calls only), then lock it in a second namespace."""
    _own_namespaces(cover.uid, cover.gid)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the host's mounts
    fds = [os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path, _, _ in cover.keep]
    try:
        for path, flags in cover.readonly:
            fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                _bind(fd, path, False, flags)
            finally:
                os.close(fd)
        for root in cover.hide:
            _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for folder in cover.make:
            os.mkdir(folder)
        for fd, (path, writable, flags) in zip(fds, cover.keep):
            _bind(fd, path, writable, flags)
        for root in cover.hide:
            _mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    finally:
        for fd in fds:
            os.close(fd)
    # Mounts copied into a namespace owned by a newer user namespace are locked: the kernel,
    # root in there, cannot unmount the cover or remount it writable.
    _own_namespaces(cover.uid, cover.gid)
    os.chdir(cover.cwd)  # the old working folder may be one the cover now hides


def cover_failure(cover: Cover) -> str | None:
    """Why ``cover`` cannot be applied here (tried in a forked child), or None when it can."""
    if _libc is None:
        return f"no Linux namespaces on {sys.platform}"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: try, tell the parent why not, and vanish
        try:
            os.close(read)
            _enter(cover)
            os.close(write)
        except BaseException as error:  # noqa: BLE001 - whatever it is, the parent reports it
            os.write(write, f"{type(error).__name__}: {error}".encode()[:512])
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        why = f.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return why or None


def preexec(*, memory: int | None = None, cover: Cover | None = None) -> Callable[[], None] | None:
    """A ``preexec_fn`` for Popen: cap the address space at ``memory`` bytes and apply ``cover``."""
    if not memory and cover is None:
        return None

    def apply() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if cover is not None:
            _enter(cover)

    return apply
