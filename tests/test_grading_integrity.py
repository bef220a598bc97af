"""Integrity (work in progress): the checks run in the grader, on a proxy of the candidate.

``hostile_integrity.ipynb`` calls the references it should re-implement, patches
``registry.check``, ``Grader.case`` and the references in memory, and replaces ``sys.stdout``
with one that forges result lines. For the exercises in ``runner.REMOTE_EXERCISES`` none of
it can raise a score: the grader's own checks and references decide.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_lib import attention
from course_lib.grading import check
from course_lib.grading.runner import REMOTE_EXERCISES, grade_notebook

FIXTURES = Path(__file__).resolve().parent / "notebooks"


@pytest.fixture(scope="module")
def report():
    return grade_notebook(FIXTURES / "hostile_integrity.ipynb", timeout=30)


def test_the_exercises_of_the_fixture_are_graded_in_the_grader(report):
    assert {e.id for e in report.exercises} <= REMOTE_EXERCISES


def test_a_candidate_calling_its_own_reference_scores_zero_and_is_told_so(report):
    by_id = {e.id: e for e in report.exercises}
    for exercise_id in ("masks.causal_mask", "masks.padding_mask"):
        e = by_id[exercise_id]
        assert e.points == 0 and not e.passed, e.message
        assert "calls the reference" in e.message and exercise_id.split(".")[1] in e.message


def test_patched_checks_references_and_stdout_cannot_raise_a_score(report):
    by_id = {e.id: e for e in report.exercises}
    wrong = {"attention.softmax": lambda x, dim=-1: x.exp(),
             "attention.dot_product_scores": lambda q, k: k @ q.transpose(-2, -1)}
    for exercise_id, candidate in wrong.items():
        honest = check(exercise_id, candidate, quiet=True)  # what the wrong code earns here
        assert by_id[exercise_id].points == honest.points < honest.max_points
        assert by_id[exercise_id].max_points == honest.max_points
    assert attention.softmax(attention.softmax.__globals__["torch"].zeros(2)).sum() == 1  # ours is untouched


# -- the learner-variant corpus, graded through the proxy ---------------------------------------
def _check_served(exercise_id: str, candidate):
    """``check`` on a proxy of ``candidate`` served by a forked child, as the snapshot serves it."""
    import importlib
    import os
    import socket

    from course_lib.grading import remote
    from course_lib.grading.registry import get

    name = get(exercise_id).name
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the child plays the learner's kernel
        try:
            ours.close()
            module, function = exercise_id.rsplit(".", 1)
            reference = getattr(importlib.import_module("course_lib." + module), function)
            remote.serve(theirs, candidate, reference, name)
        except BaseException:  # shown by pytest's captured output of the failing test
            import traceback

            traceback.print_exc()
        finally:
            os._exit(0)
    theirs.close()
    ours.settimeout(60)
    try:
        return check(exercise_id, remote.RemoteCandidate(remote.Channel(ours), 0), quiet=True)
    finally:
        ours.close()
        os.waitpid(pid, 0)


def _routed_variants():
    from grading_variants import all_variants

    return [v for v in all_variants() if v.exercise_id in REMOTE_EXERCISES]


@pytest.mark.parametrize("variant", _routed_variants(), ids=lambda v: f"{v.exercise_id}:{v.name}")
def test_a_variant_gets_the_same_verdict_through_the_proxy(variant):
    here = check(variant.exercise_id, variant.candidate, quiet=True)
    served = _check_served(variant.exercise_id, variant.candidate)
    assert (served.points, served.passed) == (here.points, here.passed), (served.message, here.message)
    assert [ok for _, ok, _ in served.cases] == [ok for _, ok, _ in here.cases]


# -- classes and the other routed exercises: the same cheats --------------------------------------
@pytest.fixture(scope="module")
def classes_report():
    return grade_notebook(FIXTURES / "hostile_integrity_classes.ipynb", timeout=30)


def test_a_class_renaming_or_wrapping_its_reference_scores_zero_and_is_told_so(classes_report):
    by_id = {e.id: e for e in classes_report.exercises}
    assert set(by_id) <= REMOTE_EXERCISES
    for exercise_id in ("positional.PositionalEncoding", "transformer.EncoderLayer",
                        "complexity.layer_complexity"):
        e = by_id[exercise_id]
        assert e.points == 0 and not e.passed, e.message
        assert "calls the reference" in e.message and exercise_id.split(".")[1] in e.message


def test_patches_and_forged_lines_do_not_raise_a_routed_score(classes_report):
    from grading_variants.train import nl_max

    e = {e.id: e for e in classes_report.exercises}["train.noam_lr"]
    honest = check("train.noam_lr", nl_max, quiet=True)  # the same wrong code, graded here
    assert e.points == honest.points < honest.max_points and e.max_points == honest.max_points
