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
# The learner's kernel, played by a process of its own (as small as a kernel): it forks a copy
# per variant, as the grading snapshot does per exercise, and serves the variant's candidate
# over the socket. (Forking the test process instead, grown large by the tests before, cost
# about a second per variant.)
_SERVER = """
import importlib, json, os, signal, socket, sys, traceback
import torch
from course_lib.grading import remote
from course_lib.grading.registry import check, get
from grading_variants import all_variants

torch.set_num_threads(1)  # a forked child cannot use the parent's OpenMP pool (the kernel runs with 1)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the copies are reaped as they end
variants = {(v.exercise_id, v.name): v for v in all_variants()}
for exercise_id in {v.exercise_id for v in variants.values()}:  # warm, as the grader warms a kernel up
    module, name = exercise_id.rsplit(".", 1)
    check(exercise_id, getattr(importlib.import_module("course_lib." + module), name), quiet=True)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(sys.argv[1])
listener.listen(8)
while True:
    connection, _ = listener.accept()
    line = b""
    while not line.endswith(b"\\n"):
        line += connection.recv(1)
    variant = variants[tuple(json.loads(line))]
    if os.fork() == 0:
        try:
            listener.close()
            name = get(variant.exercise_id).name
            remote.serve(connection, variant.candidate, remote.find_references(variant.exercise_id), name)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    connection.close()
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """The address of the process that serves the variants' candidates."""
    import os
    import subprocess
    import sys
    import time

    address = str(tmp_path_factory.mktemp("served") / "variants.sock")
    tests = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-c", _SERVER, address], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not Path(address).exists():
            assert server.poll() is None and time.monotonic() < deadline, "the variant server did not start"
            time.sleep(0.05)
        yield address
    finally:
        os.killpg(server.pid, 9)
        server.wait()


def _check_served(address: str, variant):
    """``check`` on a proxy of the variant's candidate, served by a copy of the ``kernel`` process."""
    import json
    import socket

    from course_lib.grading import remote

    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(address)
    connection.sendall((json.dumps([variant.exercise_id, variant.name]) + "\n").encode())
    connection.settimeout(60)
    try:
        return check(variant.exercise_id, remote.RemoteCandidate(remote.Channel(connection), 0), quiet=True)
    finally:
        connection.close()


def _variants():
    from grading_variants import all_variants

    return all_variants()


@pytest.mark.parametrize("variant", _variants(), ids=lambda v: f"{v.exercise_id}:{v.name}")
def test_a_variant_gets_the_same_verdict_through_the_proxy(kernel, variant):
    here = check(variant.exercise_id, variant.candidate, quiet=True)
    served = _check_served(kernel, variant)
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
