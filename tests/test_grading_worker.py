"""Tests of the worker (:mod:`course_lib.grading.worker`): spawned or forked from a server, and
what the kernel under it can and cannot reach.

For a class, every notebook's worker is forked from one server that imported the grader once
(:func:`runner.forked_workers`). A forked worker must do all a spawned one does (own session,
deadline, every process it started killed) and the grader must take no report it did not
write. The kernel must see neither the notebook's folder (a classmate's work lies next to
it) nor the grader's private folder (the reports).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import nbformat
import pytest
from grading_helpers import alive

from course_lib.grading import cli, runner
from course_lib.grading.runner import NotebookReport, forked_workers, grade_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "05_masking.ipynb"
EXERCISE = ROOT / "exercises" / "05_masking.ipynb"

# Appended to the stub notebook: copy every function of every notebook it can find (a
# classmate's, the solutions' through the class folder), and record what it could see.
_COPY = """
import glob, json, os, tempfile
found = sorted(glob.glob({folder!r} + "/*/*.ipynb"))
private = os.path.join(tempfile.gettempdir(), f"course-grade-private-{{os.getuid()}}")
worker = int(open(f"/proc/{{os.getppid()}}/stat").read().rsplit(")", 1)[1].split()[1])
own = os.path.dirname({own!r})
seen = {{"found": found, "own": os.listdir(own) if os.path.isdir(own) else None,
        "private": os.listdir(private) if os.path.isdir(private) else None,
        "server": open(f"/proc/{{worker}}/cmdline").read().split(chr(0))}}
json.dump(seen, open({record!r}, "w"))
for path in found:
    for cell in json.load(open(path))["cells"]:
        if cell["cell_type"] == "code" and "def " in "".join(cell["source"]):
            exec("".join(cell["source"]))
# and plant a full-marks report wherever a worker's folder can be found, then break the
# worker's own write (it scored 1000 / 1000 this way before the reports were hidden and signed)
forged = {{"report": {{"path": "x", "problems": [], "seconds": 1, "graded": True, "exercises": [{{
    "id": "masks.causal_mask", "name": "causal_mask", "points": 1000, "max_points": 1000, "passed": True,
    "message": "forged", "cases": []}}]}}}}
for folder in glob.glob(tempfile.gettempdir() + "/course-grade-*worker-*") + glob.glob(private + "/*"):
    try:
        open(folder + "/report.json", "w").write(json.dumps(forged))
        os.mkdir(folder + "/report.json.tmp")
    except OSError:
        pass
"""


def _copier(path: Path, folder: Path, record: Path) -> None:
    nb = nbformat.read(EXERCISE, 4)
    nb.cells.append(nbformat.v4.new_code_cell(_COPY.format(folder=str(folder), own=str(path), record=str(record))))
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)


def test_a_class_is_graded_by_forked_workers_and_nobody_copies_a_classmate(tmp_path):
    klass, record = tmp_path / "class", tmp_path / "seen.json"
    (klass / "ada").mkdir(parents=True)
    (klass / "ada" / SOLUTION.name).write_bytes(SOLUTION.read_bytes())
    _copier(klass / "bob" / EXERCISE.name, klass, record)
    grades = tmp_path / "grades.csv"
    assert cli.main(["--submissions", str(klass), "--csv", str(grades), "--jobs", "2"]) == 0
    totals = {r["student"]: float(r["points"]) for r in csv.DictReader(grades.open()) if r["exercise"] == "TOTAL"}
    assert totals == {"ada": 10.0, "bob": 0.0}, totals
    seen = json.loads(record.read_text())
    # The class folder, the notebook's own folder and the grader's are empty to the kernel.
    assert seen["found"] == [] and seen["own"] in ([], None) and seen["private"] in ([], None), seen
    # bob's worker was forked from the server, not started on its own.
    assert "course_lib.grading.worker" in seen["server"] and "--serve" in seen["server"], seen["server"]


def test_a_forked_worker_past_its_deadline_is_stopped_and_a_dead_server_is_done_without(tmp_path):
    pids = tmp_path / "pids.txt"
    endless = tmp_path / "endless" / "05_masking.ipynb"
    endless.parent.mkdir()
    nb = nbformat.read(SOLUTION, 4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getppid()}} {{child.pid}}')\n"
        "while True:\n    time.sleep(0.1)\n"))
    nbformat.write(nb, endless)
    with forked_workers():
        server = runner._SERVER
        with forked_workers():  # blocks nest: the same server
            assert runner._SERVER is server
        with pytest.raises(RuntimeError, match="took longer than 25 s"):
            grade_notebook(endless, timeout=120, notebook_timeout=25)
        worker, child = map(int, pids.read_text().split())
        deadline = time.monotonic() + 10
        while (alive(worker) or alive(child)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(worker) and not alive(child)
        os.kill(server.process.pid, signal.SIGKILL)  # no server: a worker is spawned instead
        server.process.wait()
        report = grade_notebook(SOLUTION, timeout=60)
        assert report.points == report.max_points == 10
    assert runner._SERVER is None and server.process.returncode is not None


def test_the_server_is_gone_after_its_block(monkeypatch):
    with forked_workers():
        process = runner._SERVER.process
        assert process.poll() is None
    assert process.poll() is not None and runner._SERVER is None

    def refused(*args):
        raise OSError("Protocol not supported")

    monkeypatch.setattr(runner.socket, "socketpair", refused)  # as on macOS: then every worker is spawned
    with forked_workers():
        assert runner._SERVER is None


def test_a_report_the_worker_did_not_write_is_refused(tmp_path, monkeypatch):
    # A report is taken only with the secret the grader gave its worker (never in a file):
    # one planted where the report goes, or left by anything else, is not a grade.
    def planted(request, stderr, deadline):
        forged = NotebookReport(request["path"], [], [])
        Path(request["result"]).write_text(json.dumps({"report": forged.to_dict(), "token": "0" * 32}))
        return "exit status 0"

    monkeypatch.setattr(runner, "_spawned", planted)
    path = tmp_path / "nb" / "05_masking.ipynb"
    path.parent.mkdir()
    path.write_bytes(SOLUTION.read_bytes())
    with pytest.raises(RuntimeError, match="the grader failed"):
        grade_notebook(path, timeout=5)


def test_folders_the_kernel_needs_are_never_hidden(tmp_path):
    path = tmp_path / "nb" / "05_masking.ipynb"
    path.parent.mkdir()
    path.write_bytes(SOLUTION.read_bytes())
    for wrong in (str(tmp_path), tmp_path, [1]):  # one folder where a list is expected
        with pytest.raises(ValueError, match="hide=.*expected a list of folders"):
            grade_notebook(path, hide=wrong)
    # hide= may name anything; one holding the temporary or home folder stays visible
    # (hiding it would hide the kernel's own), and none is hidden inside another.
    tmp, home = Path(runner.tempfile.gettempdir()).resolve(), Path.home().resolve()
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    hidden = runner._hidden([tmp_path / "a"], [str(inner), str(tmp), "/", str(home), str(tmp_path / "nope")],
                            [tmp, home])
    assert tmp_path / "a" in hidden and inner not in hidden
    assert not any(tmp.is_relative_to(h) or home.is_relative_to(h) for h in hidden), hidden
