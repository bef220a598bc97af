"""The process that grades one notebook: ``python -m course_lib.grading.worker``.

:func:`course_lib.grading.runner.grade_notebook` starts one per notebook and writes the
request (the notebook's text, its exercise ids, the limits, where to put the report) to its
stdin as JSON. The worker makes itself the subreaper of everything the notebook starts,
grades the notebook, kills every process left, and only then writes the report to the file
named in the request (atomically): no process of the notebook exists any more to touch it.
SIGTERM (the notebook ran too long) kills those processes too.

For a class (:func:`course_lib.grading.runner.forked_workers`) one **worker server**
(``python -m course_lib.grading.worker --serve FD``) imports the grader, and so torch, once;
every notebook's worker is then a fork of it, started in a session of its own, which reads
its request from its connection, answers with its pid, does exactly what a spawned worker
does, and exits, closing the connection: the grader knows it is done.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import tempfile
import traceback
from pathlib import Path

from course_lib.grading import runner, sandbox

__all__ = ["main", "serve"]


def _write(path: Path, document: dict) -> None:
    # A fresh name (O_EXCL) in the grader's private folder: nothing planted there is followed.
    handle, temporary = tempfile.mkstemp(prefix=".report-", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as f:
        f.write(json.dumps(document))
    os.replace(temporary, path)


def _terminate(signum, frame) -> None:
    sandbox.kill_descendants()
    os._exit(3)


def _grade(request: dict) -> None:
    """Grade the notebook of ``request``, kill every process it left, then write the report file."""
    sandbox.become_subreaper()
    signal.signal(signal.SIGTERM, _terminate)
    result = Path(request["result"])
    try:
        report = runner._grade_here(Path(request["path"]), request["text"], request["ids"], request["timeout"],
                                    memory_limit=request["memory_limit"], output_limit=request["output_limit"],
                                    reap=True, hide=request["hide"])
        document = {"report": report.to_dict()}
    except runner.NotebookError as error:  # no exercises, or an unknown id: the caller raises it
        document = {"notebook_error": str(error)}
    except Exception as error:  # no kernel could be started, ...: the caller reports it for this notebook
        document = {"error": f"{type(error).__name__}: {error}"}
    sandbox.kill_descendants()  # before the report exists, so that nothing left can rewrite it
    document["token"] = request["token"]  # the grader's secret: a report written by anyone else lacks it
    _write(result, document)


def main() -> int:
    """Grade the notebook described on stdin; return the exit status (0 once a report is written)."""
    _grade(json.loads(sys.stdin.read()))
    return 0


def _receive_line(connection: socket.socket, limit: int = 1 << 26) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(1 << 16)
        if not chunk or len(data) > limit:
            raise EOFError("the request ended before its newline")
        data += chunk
    return data


def _forked(connection: socket.socket, stderr: int) -> None:
    """The forked worker: its request from ``connection``, answered with its pid, then graded."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server's SIG_IGN would hide its kernel's exit
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()  # as start_new_session: the notebook's signals to its group never reach the server
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(stderr, 2)
        request = json.loads(_receive_line(connection))
        connection.sendall(f"{os.getpid()}\n".encode())
        _grade(request)
        code = 0
    except BaseException:  # noqa: BLE001 (a fork must never return into the server's loop)
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def serve(control: socket.socket) -> int:
    """Fork one worker per message on ``control`` until it closes; then kill whatever is left.

    Each message carries two file descriptors (:func:`socket.send_fds`): the worker's end of a
    socket pair, and the file for its stderr. The server has no address: nothing but the
    grader that started it can ask it for a worker.
    """
    from course_lib.grading import registry, remote  # noqa: F401 (what every worker would import)

    registry.all_exercises()
    sandbox.become_subreaper()  # a worker killed at its deadline leaves its kernel with us, not init
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the workers are reaped as they exit
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader's Ctrl-C is the grader's to handle
    message = b"w"
    while message:  # empty: the grader closed its end (or exited), the class is graded
        try:
            message, fds, _, _ = socket.recv_fds(control, 16, 2)
        except OSError:
            break
        if message and len(fds) == 2:
            try:
                pid = os.fork()
            except OSError:  # no fork: the grader sees the connection close and spawns a worker instead
                pid = -1
            if pid == 0:
                control.close()
                _forked(socket.socket(fileno=fds[0]), fds[1])
        for fd in fds:  # the fork has its copies
            os.close(fd)
    sandbox.kill_descendants()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(socket.socket(fileno=int(sys.argv[2]))))
    sys.exit(main())
