"""Tests of course_lib.grading.sandbox: the subreaper finds and kills every descendant, memory is capped.

Each test runs in a child process of its own (a subreaper kills *its* descendants, and
pytest's own children must not be among them).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc are Linux's")


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


SPAWNER = r"""
import os, subprocess, sys, time
pids = sys.argv[1]
for _ in range(20):  # detached children of a process that then exits
    p = subprocess.Popen(["sleep", "600"], start_new_session=True)
    open(pids, "a").write(f"{p.pid}\n")
for _ in range(5):  # double-forked daemons, each recording its pid once it runs
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            open(pids, "a").write(f"{os.getpid()}\n")
            time.sleep(600)
        os._exit(0)
"""


def test_detached_and_orphaned_descendants_are_all_found_and_killed(tmp_path):
    spawner, pids = tmp_path / "spawner.py", tmp_path / "pids"
    spawner.write_text(SPAWNER)
    out = _run(f"""
        import os, subprocess, sys, time
        from course_lib.grading import sandbox

        assert sandbox.become_subreaper()
        subprocess.run([sys.executable, {str(spawner)!r}, {str(pids)!r}])
        deadline = time.monotonic() + 60
        while len(open({str(pids)!r}).read().split()) < 25 and time.monotonic() < deadline:
            time.sleep(0.05)
        recorded = [int(p) for p in open({str(pids)!r}).read().split()]
        # They were re-parented to us, not to init: we see them all.
        print(len(recorded), len(set(recorded) & set(sandbox.descendants())))
        print(sandbox.kill_descendants() >= 25, len(sandbox.descendants()))
        print(sum(os.path.exists(f"/proc/{{p}}") for p in recorded))  # reaped, not zombies
    """)
    assert out.split() == ["25", "25", "True", "0", "0"]


def test_spared_processes_and_their_children_survive():
    out = _run("""
        import subprocess
        from course_lib.grading import sandbox

        sandbox.become_subreaper()
        keep = subprocess.Popen(["sh", "-c", "sleep 600 & wait"])
        drop = subprocess.Popen(["sleep", "600"], start_new_session=True)
        import time; time.sleep(0.5)
        sandbox.kill_descendants(spare={keep.pid})
        print(keep.poll() is None, drop.wait(5) is not None, len(sandbox.descendants()))
        sandbox.kill_descendants()
        print(len(sandbox.descendants()))
    """)
    first, second = out.splitlines()
    assert first.split() == ["True", "True", "2"] and second == "0"


def test_limit_memory_makes_a_big_allocation_fail_in_the_child_only():
    out = _run("""
        import subprocess, sys
        from course_lib.grading import sandbox

        child = subprocess.run([sys.executable, "-c", "bytearray(3 << 30)"], capture_output=True, text=True,
                               preexec_fn=sandbox.limit_memory(1 << 30))
        print(child.returncode, "MemoryError" in child.stderr)
        bytearray(1 << 30)  # the parent is not limited
        print("parent ok")
    """)
    assert out.split() == ["1", "True", "parent", "ok"]
