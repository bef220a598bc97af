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
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import time
from collections.abc import Callable

__all__ = ["become_subreaper", "descendants", "kill_descendants", "limit_memory", "MEMORY_ERRORS"]

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
