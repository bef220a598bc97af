"""The grading end inside the kernel: a single-threaded snapshot of the notebook, serving gradings.

After the notebook's cells have run, the runner asks the kernel to call :func:`start`. It
forks the kernel: the copy — the *snapshot* — holds the notebook's namespace as the cells
left it, but none of the threads the cells started (a fork keeps only the calling thread),
and it leaves the kernel's session, so that a cell's ``threading.Timer`` killing the
kernel, or the kernel being stopped, cannot reach it. The kernel's own part ends as soon as
the snapshot listens on a Unix socket in the runner's private folder.

For each exercise the runner sends one JSON line (exercise id, the name the notebook defines,
the grader's socket, the timeout). The snapshot forks again and, in that copy, from a clean
state (grad mode on, float32 default dtype, stdout and stderr to ``/dev/null``, SIGINT
ignored), connects to the grader's socket and serves the candidate's calls
(:func:`course_lib.grading.remote.serve`): the checks themselves run in the grader. The
snapshot kills the copy at the timeout and answers one JSON line with what happened
(``exit N`` or ``timeout``). Whatever a candidate does — ``os._exit``, a crash, an endless
loop, changing global state — ends with its own copy. The snapshot exits when the runner
closes the connection.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

__all__ = ["start"]

#: Seconds the snapshot waits for the runner to connect before it gives up and exits.
ACCEPT_TIMEOUT = 120.0


def start(namespace: dict, path: str) -> bool:
    """Fork the snapshot serving ``namespace`` on the Unix socket ``path``; True once it listens."""
    pid = os.fork()
    if pid == 0:
        try:
            _serve(namespace, path)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
        time.sleep(0.005)
    return False


def _quiet() -> None:
    os.setsid()  # out of the kernel's process group: stopping the kernel does not stop us
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # timeouts are the runner's, not a KeyboardInterrupt
    sys.stdout = sys.stderr = open(os.devnull, "w")
    sys.stdin = open(os.devnull)


def _serve(namespace: dict, path: str) -> None:
    _quiet()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path + ".tmp")
    server.listen(1)
    os.rename(path + ".tmp", path)  # the runner connects only once we listen
    server.settimeout(ACCEPT_TIMEOUT)
    from course_lib.grading import registry, remote  # noqa: F401 (imported once, here: every copy inherits them)

    remote.index_references()  # once, here, too
    connection, _ = server.accept()
    connection.settimeout(None)
    with connection, connection.makefile("r", encoding="utf-8") as requests:
        for line in requests:
            request = json.loads(line)
            state = _grade_in_a_copy(namespace, request)
            connection.sendall((json.dumps({"state": state}) + "\n").encode())


def _grade_in_a_copy(namespace: dict, request: dict) -> str:
    pid = os.fork()
    if pid == 0:
        try:
            _serve_candidate(namespace, request)  # the checks run in the grader
        finally:
            os._exit(0)
    deadline = time.monotonic() + request["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return f"exit {os.waitstatus_to_exitcode(status)}"
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.005)


def _serve_candidate(namespace: dict, request: dict) -> None:
    """Connect to the grader at ``request["serve"]`` and serve the candidate's calls, the reference a tripwire."""
    import torch

    from course_lib.grading import remote

    torch.set_default_dtype(torch.float32)
    torch.autograd.set_detect_anomaly(False)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(request["serve"])
    name = request["name"]
    remote.Channel(sock).send({"defined": name in namespace})
    if name not in namespace:
        return
    references = remote.find_references(request["id"])
    with torch.inference_mode(False), torch.enable_grad():
        remote.serve(sock, namespace[name], references, name)
