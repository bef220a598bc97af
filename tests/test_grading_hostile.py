"""Hostile notebooks: each grade they must get, and nothing they may do to the grader or to others.

The fixtures in ``tests/notebooks/hostile_*.ipynb`` (written by hand, each cheat of issue 11
that concerns the runtime): ``processes`` starts detached children, double-forked daemons,
children left behind by a kernel death and children while its exercise is graded;
``files`` writes beside itself and deletes its own file (it cannot see it; a copy of it
in a folder the grader cannot hide can); ``limits`` allocates too much
memory, prints forever and raises ``KeyboardInterrupt`` itself; ``state`` replaces
``sys.stdout``, turns grad mode off, changes the default dtype and starts a thread that kills
the kernel once grading begins; ``disk`` appends a wrong function to course_lib's source, its
copy's and the project's by absolute path, reads the solutions and ``.git`` by absolute path
(and through ``/proc/PID/root``) and tries to unmount what hides them. Every notebook is graded once, in the module fixture, from a
copy in a temporary folder (``files`` deletes its own file).
"""

from __future__ import annotations

import concurrent.futures
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from grading_helpers import alive

from course_lib.grading import all_exercises
from course_lib.grading.runner import forked_workers, grade_notebook

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "notebooks"
HOSTILE = ["hostile_processes", "hostile_files", "hostile_limits", "hostile_state", "hostile_disk"]
TIMEOUT = 20  # generous: this runs on a loaded machine; the endless cells pay it once each


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    pids = folder / "pids.txt"
    paths = {}
    for name in HOSTILE:
        (folder / name).mkdir()
        paths[name] = folder / name / "nb.ipynb"
        shutil.copy(FIXTURES / f"{name}.ipynb", paths[name])
    # ``files`` again, straight in the temporary folder: the kernel writes there, so that folder
    # cannot be hidden from it, and the notebook reaches (and deletes) its own file.
    opened = Path(tempfile.gettempdir()) / f"course-grade-test-{uuid.uuid4().hex[:8]}.ipynb"
    opened.write_text((FIXTURES / "hostile_files.ipynb").read_text().replace("_TEST_ORIGINAL", "_TEST_OPENED")
                      .replace("nb.ipynb", opened.name))
    paths["hostile_files_opened"] = opened
    before = {name: path.read_bytes() for name, path in paths.items()}
    seen = folder / "seen.json"
    env = {"COURSE_GRADE_TEST_PIDS": str(pids), "COURSE_GRADE_TEST_ORIGINAL": str(paths["hostile_files"]),
           "COURSE_GRADE_TEST_OPENED": str(opened),
           "COURSE_GRADE_TEST_REPORT": str(seen), "COURSE_GRADE_TEST_PROJECT": str(ROOT),
           "COURSE_GRADE_TEST_GIT": str(_git_dir())}
    masks_source = (ROOT / "course_lib" / "masks.py").read_bytes()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the worker and the kernel inherit them
    try:  # as a class is graded: every worker forked from one server (started after the env is set)
        with forked_workers(), concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
            futures = {name: pool.submit(grade_notebook, path, timeout=TIMEOUT) for name, path in paths.items()}
            reports = {name: f.result() for name, f in futures.items()}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        masks_after = (ROOT / "course_lib" / "masks.py").read_bytes()
        if masks_after != masks_source:  # the hole is open: undo it, and the test below fails
            (ROOT / "course_lib" / "masks.py").write_bytes(masks_source)
    recorded = [int(line) for line in pids.read_text().split()] if pids.exists() else []
    yield {"reports": reports, "paths": paths, "before": before, "pids": recorded,
           "seen": json.loads(seen.read_text()) if seen.exists() else None, "masks_source": masks_source,
           "masks_after": masks_after}
    opened.unlink(missing_ok=True)


def _git_dir() -> Path:
    """The project's git directory (the main checkout's, from a ``git worktree``): it holds the solutions."""
    try:
        done = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=ROOT,
                              capture_output=True, text=True, timeout=30)
    except OSError:
        return ROOT / ".git"
    return Path(done.stdout.strip()) if done.returncode == 0 else ROOT / ".git"


def _by_id(report):
    return {e.id: e for e in report.exercises}


def test_every_process_a_notebook_started_is_gone_after_grading(graded):
    report = graded["reports"]["hostile_processes"]
    # 20 detached + 5 daemons per run of the cell (it runs twice: before and after the kernel
    # death), the child left by the death, one started while the exercise is graded.
    pids = graded["pids"]
    assert len(pids) >= 2 * 25 + 2, len(pids)
    assert [p for p in pids if alive(p)] == []
    e = _by_id(report)["masks.causal_mask"]
    assert e.passed and e.points == e.max_points > 0, e.message
    assert ("kernel-died", 3) in {(p.kind, p.cell) for p in report.problems}


def test_the_learners_files_are_never_the_kernels(graded):
    report, path = graded["reports"]["hostile_files"], graded["paths"]["hostile_files"]
    # Its folder is hidden from the kernel: it cannot find its own file; what it wrote went to its copy.
    assert path.read_bytes() == graded["before"]["hostile_files"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["nb.ipynb"]
    assert ("cell-error", 3, "FileNotFoundError") in {(p.kind, p.cell, p.error) for p in report.problems}
    assert not any(p.kind == "file-changed" for p in report.problems)
    # In a folder that cannot be hidden it deletes its own file: put back as it was, and said so.
    opened, path = graded["reports"]["hostile_files_opened"], graded["paths"]["hostile_files_opened"]
    assert path.read_bytes() == graded["before"]["hostile_files_opened"]
    assert any(p.kind == "file-changed" and "deleted its own file" in p.message for p in opened.problems)
    for e in (_by_id(report)["masks.causal_mask"], _by_id(opened)["masks.causal_mask"]):
        assert e.passed and e.points == e.max_points


def test_memory_output_and_keyboard_interrupt_are_named_and_cost_only_themselves(graded):
    report = graded["reports"]["hostile_limits"]
    problems = {p.cell: p for p in report.problems if p.cell is not None}
    assert problems[2].kind == "memory" and "memory limit exceeded" in problems[2].message  # bytearray
    assert problems[3].kind == "memory"  # torch's allocator
    assert problems[4].kind == "output-limit" and "output limit exceeded" in problems[4].message
    assert problems[5].kind == "cell-error" and problems[5].error == "KeyboardInterrupt"  # not a timeout
    by_id = _by_id(report)
    assert by_id["attention.softmax"].passed
    dot = by_id["attention.dot_product_scores"]
    assert dot.points == 0 and "KeyboardInterrupt" in dot.message and "timed out" not in dot.message
    mask = by_id["masks.causal_mask"]
    assert mask.points == 0 and "memory limit exceeded" in mask.message, mask.message


def test_another_cells_state_and_threads_cannot_change_a_verdict(graded):
    report = graded["reports"]["hostile_state"]
    for e in report.exercises:  # stdout replaced, grad mode off, float64, a thread killing the kernel
        assert e.passed and e.points == e.max_points > 0, (e.id, e.message)


def test_the_kernel_imports_a_throwaway_copy_of_course_lib_and_cannot_see_the_project(graded):
    seen = graded["seen"]
    assert seen is not None, "the notebook did not run"
    # Whether or not it could write (root ignores the read-only bits; a read-only mount of the
    # copy stops even root: OSError), it wrote to its own copy.
    assert seen["wrote"] in ("yes", "PermissionError", "OSError")
    assert not Path(seen["course_lib"]).resolve().is_relative_to(ROOT)
    assert (ROOT / "course_lib" / "masks.py").read_bytes() == graded["masks_source"]
    assert not [p for p in seen["path"] if p and Path(p).resolve() in (ROOT, ROOT / "solutions")]
    e = _by_id(graded["reports"]["hostile_disk"])["masks.causal_mask"]
    assert e.passed and e.points == e.max_points


def test_the_kernel_can_neither_read_nor_write_the_project_by_absolute_path(graded):
    report = graded["reports"]["hostile_disk"]
    unhidden = [p.message for p in report.problems if p.kind == "not-hidden"]
    if unhidden:
        pytest.skip(f"namespaces unavailable here: {unhidden[0]}")
    hidden = graded["seen"]["hidden"]
    assert graded["masks_after"] == graded["masks_source"]  # byte-identical on disk
    assert hidden["append"] == "FileNotFoundError", hidden  # the folder is not there at all
    secrets = [ROOT / "solutions" / "05_masking.ipynb", _git_dir() / "HEAD"]
    assert all(path.is_file() for path in secrets)  # they are there: the kernel just cannot see them
    for reads in (hidden["reads"], hidden["reads_after"]):
        assert len(reads) >= 2 and all(not verdict.startswith("read") for verdict in reads.values()), reads
    assert len(hidden["reads"]) == 4  # course_lib's source too: not even readable
    assert hidden["umount"][0] == -1 and hidden["remount"][0] == -1, hidden
    e = _by_id(report)["masks.causal_mask"]  # the exercise it solves honestly keeps its points
    assert e.passed and e.points == e.max_points


def test_hostile_notebooks_leave_the_graded_files_untouched(graded):
    for name in ("hostile_processes", "hostile_limits", "hostile_state", "hostile_disk"):
        assert graded["paths"][name].read_bytes() == graded["before"][name]


# -- a class: course-grade --submissions ----------------------------------------------------
def test_a_class_is_graded_one_row_per_student_and_exercise(tmp_path):
    submissions = tmp_path / "class"
    for student in ("alice", "bob", "carol", "dave"):
        (submissions / student).mkdir(parents=True)
    shutil.copy(FIXTURES / "complete.ipynb", submissions / "alice" / "01_attention_essence.ipynb")
    shutil.copy(ROOT / "exercises" / "05_masking.ipynb", submissions / "bob" / "05_masking.ipynb")
    (submissions / "dave" / "01_attention_essence.ipynb").write_text(json.dumps(  # a code cell without source
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
         "cells": [{"cell_type": "code", "id": "0", "metadata": {}, "outputs": [], "execution_count": None}]}))
    shutil.copy(FIXTURES / "dies.ipynb", submissions / "erin.ipynb")  # a notebook, not a folder
    grades, document = tmp_path / "grades.csv", tmp_path / "grades.json"
    run = subprocess.run(
        [sys.executable, "-m", "course_lib.grading.cli", "--submissions", str(submissions), "--csv", str(grades),
         "--json", str(document), "--jobs", "2", "--timeout", str(TIMEOUT)],
        capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert run.returncode == 1, run.stderr  # carol has no notebook, dave's is not valid
    assert "could not be graded" in run.stderr
    rows = list(csv.DictReader(grades.open()))
    assert list(rows[0]) == ["student", "notebook", "exercise", "points", "max_points", "status", "message"]
    chapter = {ch: [i for i, ex in all_exercises().items() if ex.chapter == ch] for ch in ("01", "05")}
    table = {(r["student"], r["exercise"]): r for r in rows}
    for exercise_id in chapter["01"]:
        assert table[("alice", exercise_id)]["status"] == "PASS"
        assert table[("dave", exercise_id)]["status"] == "ERROR" and table[("dave", exercise_id)]["points"] == "0"
    for exercise_id in chapter["05"]:
        assert table[("bob", exercise_id)]["status"] == "FAIL"
    assert table[("carol", "")]["status"] == "ERROR"
    full = sum(all_exercises()[i].max_points for i in chapter["01"])
    assert table[("alice", "TOTAL")]["points"] == table[("alice", "TOTAL")]["max_points"] == f"{full:g}"
    assert table[("bob", "TOTAL")]["points"] == "0"
    assert table[("dave", "TOTAL")]["max_points"] == f"{full:g}"
    erin = {r["exercise"]: r for r in rows if r["student"] == "erin"}
    assert erin["attention.softmax"]["status"] == "PASS" and erin["attention.additive_attention"]["status"] == "FAIL"
    assert [r["exercise"] for r in rows[-5:]] == ["TOTAL"] * 5
    notebooks = json.loads(document.read_text())["notebooks"]
    assert {nb["student"] for nb in notebooks} == {"alice", "bob", "carol", "dave", "erin"}
