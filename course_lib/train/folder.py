"""The run folder (``--out``): claimed by one run at a time, written atomically.

:func:`claim_run_folder` is what :func:`~course_lib.train.train` does before its first
step: it creates the folder, checks that it can write there, locks it (``OUT/.lock``,
holding the run's pid, host and start time) for as long as the run uses it, and refuses a
folder that already holds a run unless the run resumes it or was told to overwrite it.
Every refusal is a :class:`RunFolderError` with a one-line message. :func:`write_atomically`
writes a file so that a reader sees the old one or the new one, never half of either,
through a temporary file with a unique name (two writers never share one).

The lock is an advisory ``fcntl.flock``: the operating system releases it when its holder
exits in any way, ``kill -9`` included, so a lock left by a dead run never blocks the next
one. Where ``fcntl`` does not exist (Windows) the folder is not locked.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the folder checks still apply
    fcntl = None

#: The files of a run, all replaced by ``overwrite``.
RUN_FILES = ("checkpoint.pt", "metrics.jsonl", "curves.png", "attention.png")
_HOLDS_A_RUN = ("checkpoint.pt", "metrics.jsonl")  # a folder with either holds a run
_LOCK = ".lock"
_TEMPORARY_PREFIXES = (".checkpoint.pt.", ".metrics.jsonl.", ".write-check.")


class RunFolderError(ValueError):
    """An output folder a run may not use: another run's, in use, or not writable."""


@contextlib.contextmanager
def claim_run_folder(out: str | os.PathLike, *, resume: bool = False, overwrite: bool = False) -> Iterator[Path]:
    """Claim ``out`` for one training run: create it, check it is writable, lock it, check what it holds.

    On entry the folder is created if needed and must be writable; it is locked against
    other runs until the ``with`` block ends (normally, by an exception, or by Ctrl-C);
    temporary files that a killed run left behind are removed. A folder that holds a run
    (``checkpoint.pt`` or ``metrics.jsonl``) is refused unless ``resume`` (the run continues
    it) or ``overwrite`` (its :data:`RUN_FILES` are deleted, so nothing of the old run
    mixes with the new one; other files are left alone).

    Parameters
    ----------
    out : path-like
        The run's output folder.
    resume : bool, default False
        The run continues the one in ``out``.
    overwrite : bool, default False
        The run replaces the one in ``out``.

    Yields
    ------
    Path
        ``out``, locked.

    Raises
    ------
    RunFolderError
        With a one-line message: ``out`` cannot be created or written, another run holds
        its lock (the message names that run's pid, host and start time), or it holds a run
        and neither ``resume`` nor ``overwrite`` is set.
    """
    out = Path(out)
    _make_writable(out)
    lock = _lock(out)
    try:
        _remove_temporaries(out)
        held = [name for name in _HOLDS_A_RUN if (out / name).exists()]
        if held and not (resume or overwrite):
            raise RunFolderError(f"{out} already holds a run ({' and '.join(held)}); continue it with --resume, "
                                 "replace it with --overwrite (train(..., resume=True) or overwrite=True), or choose "
                                 "another --out")
        if overwrite:
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
        yield out
    finally:
        _unlock(out, lock)


def _make_writable(out: Path) -> None:
    """Create ``out`` if needed and check that a file can be written in it; RunFolderError if not."""
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out} is a file, not a folder; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=_TEMPORARY_PREFIXES[2])
        os.close(fd)
        Path(probe).unlink(missing_ok=True)  # a run holding the folder may have tidied it away already
    except OSError as error:
        raise RunFolderError(f"cannot write to {out} ({error.strerror or error}); choose another --out") from None


def _lock(out: Path) -> int | None:
    """Lock ``out`` for this process and write who holds it; return the lock's file descriptor."""
    if fcntl is None:
        return None
    path = out / _LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RunFolderError(f"cannot open the lock file {path} ({error.strerror}); choose another --out") \
                from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunFolderError(f"{out} is in use by another course-train run ({holder}); wait for it to "
                                 "finish or choose another --out") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed this file as it finished: lock the new one
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}).encode())
    return fd


def _holder(fd: int) -> str:
    """Who holds the lock, as the lock file says: ``pid 123 on host, since 2025-01-01T12:00:00+00:00``."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode())
        return f"pid {info['pid']} on {info['host']}, since {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its pid is not written yet"  # it has just taken the lock


def _unlock(out: Path, fd: int | None) -> None:
    """Release the lock: remove the lock file while still holding it, then let it go."""
    if fd is None:
        return
    with contextlib.suppress(OSError):
        (out / _LOCK).unlink()
    os.close(fd)  # closing the descriptor releases the flock


def _remove_temporaries(out: Path) -> None:
    """Delete the temporary files of writes that a killed run never finished (only under the lock)."""
    for path in out.iterdir():
        if path.name.startswith(_TEMPORARY_PREFIXES) and path.is_file():
            path.unlink(missing_ok=True)
    (out / ".metrics.jsonl.tmp").unlink(missing_ok=True)  # the fixed name older versions used


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file atomically: ``write`` fills a uniquely named temporary file, which then replaces ``path``.

    The temporary file sits in the same folder (``.NAME.XXXXXXXX.tmp``), is flushed to disk,
    and ``os.replace`` renames it over ``path`` (a rename within one file system is atomic).
    If anything fails on the way, the temporary file is removed and ``path`` is untouched.

    Parameters
    ----------
    path : path-like
    write : callable
        Called with the temporary file, opened for writing in binary mode.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
