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


# -- the project hidden from the kernel (mount and user namespaces) ----------------------------
CHILD = r"""
import ctypes, os, sys
project = sys.argv[1]
def verdict(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return type(error).__name__
print(verdict(lambda: open(os.path.join(project, "secret.txt")).read()))
print(verdict(lambda: open(os.path.join(project, "venv", "code.py")).read()))
print(verdict(lambda: open(os.path.join(project, "venv", "new.py"), "w").close()))
print(verdict(lambda: open(os.path.join(project, "scratch", "out.txt"), "w").write("kept")))
print(verdict(lambda: open("relative.txt", "w").write("kept")))
libc = ctypes.CDLL(None, use_errno=True)
print(libc.umount2(project.encode(), 2), libc.mount(None, project.encode(), None, 32 | 4096, None))
print(sorted(os.listdir(project)))
"""


def test_a_covered_child_sees_only_what_it_is_left_and_cannot_uncover_the_rest(tmp_path):
    from course_lib.grading import sandbox

    project = tmp_path / "project"
    for folder in ("venv", "scratch", "solutions"):
        (project / folder).mkdir(parents=True)
    (project / "secret.txt").write_text("the answers")
    (project / "venv" / "code.py").write_text("x = 1")
    cover = sandbox.cover_plan([project], writable=[project / "scratch"], readonly=[project / "venv"],
                               cwd=project / "scratch")
    why = sandbox.cover_failure(cover)
    if why is not None:
        pytest.skip(f"namespaces unavailable here: {why}")
    done = subprocess.run([sys.executable, "-c", CHILD, str(project)], capture_output=True, text=True,
                          timeout=120, preexec_fn=sandbox.preexec(cover=cover), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[:5] == ["FileNotFoundError", "ok", "OSError", "ok", "ok"], done.stdout
    assert lines[5] == "-1 -1"  # the cover is locked: neither unmounted nor made writable
    assert lines[6] == "['scratch', 'venv']"
    assert (project / "scratch" / "out.txt").read_text() == "kept"  # written through to the real folder
    assert (project / "scratch" / "relative.txt").read_text() == "kept"  # in the kernel's cwd, not tmp_path
    assert not (project / "venv" / "new.py").exists() and (project / "secret.txt").exists()


def test_a_path_the_kernel_needs_cannot_be_the_folder_to_hide(tmp_path):
    from course_lib.grading import sandbox

    with pytest.raises(ValueError, match="itself"):
        sandbox.cover_plan([tmp_path], writable=[tmp_path], readonly=[], cwd=tmp_path)


def test_where_namespaces_are_refused_the_kernel_starts_unhidden_and_says_so(tmp_path, monkeypatch):
    import errno

    import nbformat

    from course_lib.grading import runner, sandbox

    def refused(flags):
        raise OSError(errno.EPERM, "unshare: Operation not permitted")

    monkeypatch.setattr(sandbox, "_unshare", refused)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('raise ValueError("the kernel ran")')])
    path = tmp_path / "nb.ipynb"
    text = nbformat.writes(nb)
    path.write_text(text)
    report = runner._grade_here(path, text, [], 20.0)
    kinds = [p.kind for p in report.problems]
    assert kinds.count("not-hidden") == 1 and "Operation not permitted" in report.problems[0].message, kinds
    errors = [p.message for p in report.problems if p.kind == "cell-error"]
    assert len(errors) == 1 and errors[0].endswith("raised ValueError: the kernel ran"), errors


def test_course_grade_says_once_on_stderr_that_the_project_was_not_hidden(tmp_path, monkeypatch, capsys):
    from course_lib.grading import cli

    notice = "the project (/p) could not be hidden from the kernel"

    def fake(path, **options):
        return cli.NotebookReport(str(path), [], [cli.Problem("not-hidden", notice)])

    monkeypatch.setattr(cli, "grade_notebook", fake)
    paths = []
    for name in ("a.ipynb", "b.ipynb"):
        paths.append(tmp_path / name)
        paths[-1].write_text("{}")
    assert cli.main([str(p) for p in paths]) == 0
    captured = capsys.readouterr()
    assert captured.err.count(notice) == 1 and captured.out.count(notice) == 2
