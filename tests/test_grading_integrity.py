"""Integrity: the checks run in the grader, on a proxy of the candidate the kernel serves.

The ``hostile_integrity*.ipynb`` fixtures call the references they should re-implement
(imported, renamed, subclassed, wrapped, imported inside the candidate), patch
``registry.check``, ``Grader.case`` and the references in memory, and replace ``sys.stdout``
with one that forges result lines. None of it can raise a score: the grader's own checks and
references decide. Every variant of the learner-variant corpus gets the same verdict through
the proxy as in-process, for every registered exercise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_lib import attention
from course_lib.grading import all_exercises, check
from course_lib.grading.runner import grade_notebook

FIXTURES = Path(__file__).resolve().parent / "notebooks"


@pytest.fixture(scope="module")
def report():
    return grade_notebook(FIXTURES / "hostile_integrity.ipynb", timeout=30)


def test_every_exercise_has_variants_graded_through_the_proxy():
    from grading_variants import all_variants

    assert {v.exercise_id for v in all_variants()} == set(all_exercises())


def test_a_candidate_calling_its_own_reference_scores_zero_and_is_told_so(report):
    by_id = {e.id: e for e in report.exercises}
    for exercise_id in ("masks.causal_mask", "masks.padding_mask"):
        e = by_id[exercise_id]
        assert e.points == 0 and not e.passed, e.message
        assert "calls the reference" in e.message and exercise_id.split(".")[1] in e.message


@pytest.mark.parametrize("fixture, exercise_id", [("report", "masks.combine_masks"),
                                                  ("classes_report", "ffn.PositionwiseFFN")])
def test_the_reference_itself_imported_as_the_answer_scores_zero_and_is_told_so(request, fixture, exercise_id):
    e = {e.id: e for e in request.getfixturevalue(fixture).exercises}[exercise_id]
    assert e.points == 0 and not e.passed, e.message
    name = exercise_id.split(".")[1]
    assert f"your `{name}` is the reference `course_lib.{exercise_id}` itself" in e.message, e.message


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
    import os
    import socket

    from course_lib.grading import remote
    from course_lib.grading.registry import get

    import torch

    name = get(exercise_id).name
    torch.set_num_threads(1)  # a forked child cannot use the parent's OpenMP pool (the kernel runs with 1)
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the child plays the learner's kernel
        try:
            ours.close()
            remote.serve(theirs, candidate, remote.find_references(exercise_id), name)
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


def _variants():
    from grading_variants import all_variants

    return all_variants()


@pytest.mark.parametrize("variant", _variants(), ids=lambda v: f"{v.exercise_id}:{v.name}")
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


# -- autograd, in-place copies onto parameters, objects given to the candidate, sub-modules ---------
@pytest.fixture(scope="module")
def objects_report():
    return grade_notebook(FIXTURES / "hostile_integrity_objects.ipynb", timeout=30)


def test_the_reference_behind_backward_copies_or_given_objects_scores_zero(objects_report):
    by_id = {e.id: e for e in objects_report.exercises}
    for exercise_id in ("norm.layer_norm", "norm.LayerNorm", "embedding.Embeddings",
                        "multihead.MultiHeadAttention", "decoding.greedy_decode",
                        "ffn.gelu"):  # the original kept under another name, a decoy in its place
        e = by_id[exercise_id]
        assert e.points == 0 and not e.passed, (exercise_id, e.message)
        assert "calls the reference" in e.message and exercise_id.split(".")[1] in e.message, e.message


def _naive_count(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def _unsmoothed(logits, target, *, smoothing=0.1, ignore_index=-100):
    logp = logits.log_softmax(-1)
    keep = target != ignore_index
    picked = logp.gather(-1, target.clamp(min=0)[..., None])[..., 0]
    return -(picked * keep).sum() / keep.sum()


def test_patched_checks_and_references_leave_the_honest_score(objects_report):
    by_id = {e.id: e for e in objects_report.exercises}
    for exercise_id, wrong in (("embedding.parameter_count", _naive_count),
                               ("train.label_smoothed_loss", _unsmoothed)):
        honest = check(exercise_id, wrong, quiet=True)  # the same wrong code, graded here
        e = by_id[exercise_id]
        assert e.points == honest.points < honest.max_points, (exercise_id, e.message)
        assert e.max_points == honest.max_points
        assert [ok for _, ok, _ in e.cases] == [ok for _, ok, _ in honest.cases]
