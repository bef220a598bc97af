"""The chapter 1 grader checks: the reference passes, each known mistake fails and is named.

The exercises are the five registered in ``course_lib/grading/checks/attention.py``:
softmax, dot-product scores, scaled dot-product attention, Nadaraya-Watson kernel regression
and additive attention. A hint must name the mistake without showing code.
"""

import math
import re

import pytest
import torch

from course_lib import attention
from course_lib.grading import all_exercises, check

from grading_helpers import assert_full_marks, assert_mistake_named, assert_stub_scores_zero

CHAPTER_1 = ["attention.softmax", "attention.dot_product_scores", "attention.scaled_dot_product_attention",
             "attention.nadaraya_watson", "attention.additive_attention"]


@pytest.mark.parametrize("exercise_id", CHAPTER_1[1:])
def test_reference_implementations_pass(exercise_id):
    result = assert_full_marks(exercise_id, getattr(attention, exercise_id.split(".")[1]))
    assert result.max_points >= 3


def test_the_reference_softmax_fails_only_the_learners_rule():
    # course_lib's softmax calls torch.softmax (one fused pass); the exercise forbids that to learners.
    result = check("attention.softmax", attention.softmax, quiet=True)
    failed = [title for title, ok, _ in result.cases if not ok]
    assert failed == ["written without PyTorch's own softmax (the task's rule for this exercise)"]


def _naive_softmax(x, dim=-1):  # no max-subtraction: exp(1e4) overflows
    e = x.exp()
    return e / e.sum(dim, keepdim=True)


def _masked_weights(scores, mask, *, fill=float("-inf"), softmax=attention.softmax):
    if mask is not None:
        scores = scores.masked_fill(~mask, fill)
    return softmax(scores, dim=-1)


def _attend_scores(scores, v, mask, *, axis=-1, invert=False, after=False, fill=float("-inf"),
                   softmax=attention.softmax):
    """Weights and output from ready-made scores, right or with one of the masking mistakes."""
    if mask is not None and invert:
        mask = ~mask
    if after:
        weights = softmax(scores, dim=-1) * (mask if mask is not None else 1)
    elif axis != -1:
        weights = softmax(scores if mask is None else scores.masked_fill(~mask, fill), dim=axis)
    else:
        weights = _masked_weights(scores, mask, fill=fill, softmax=softmax)
    return weights @ v, weights


def _sdpa(*, scale=math.sqrt, pair=True, **attend):
    def impl(q, k, v, mask=None):
        out, weights = _attend_scores(q @ k.transpose(-2, -1) / scale(q.shape[-1]), v, mask, **attend)
        return (out, weights) if pair else out
    return impl


def _nw(*, exponent=lambda d2, d, s: -d2 / (2 * s**2), axis=-1, softmax=attention.softmax):
    def impl(queries, keys, values, *, bandwidth=1.0):
        d = queries[..., :, None] - keys[..., None, :]
        weights = softmax(exponent(d**2, d, bandwidth), dim=axis)
        return (weights * values[..., None, :]).sum(-1), weights
    return impl


def _additive(*, tanh=torch.tanh, swap=False, **attend):
    def impl(q, k, v, *, w_q, w_k, w_v, mask=None):
        if swap:
            w_q, w_k = w_k, w_q
        scores = tanh((q @ w_q)[..., :, None, :] + (k @ w_k)[..., None, :, :]) @ w_v
        return _attend_scores(scores, v, mask, **attend)
    return impl


def _inplace_softmax(x, dim=-1):
    x -= x.amax(dim, keepdim=True)
    return attention.softmax(x, dim)


WRONG = {
    "attention.softmax": {
        "no max-subtraction": _naive_softmax,
        "wrong axis": lambda x, dim=-1: attention.softmax(x, dim=0),
        "`dim` argument ignored": lambda x, dim=-1: attention.softmax(x, dim=-1),
        "changed its input `x`": _inplace_softmax,
    },
    "attention.dot_product_scores": {
        "swapped": lambda q, k: k @ q.transpose(-2, -1),
        "already scaled": lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]),
    },
    "attention.scaled_dot_product_attention": {
        "not scaled by 1/sqrt(d_k)": _sdpa(scale=lambda d: 1.0),
        "divided by d_k instead of sqrt(d_k)": _sdpa(scale=lambda d: d),
        "wrong axis": _sdpa(axis=-2),
        "applied after the softmax": _sdpa(after=True),
        "inverted": _sdpa(invert=True),
        "spreading its weight evenly": _sdpa(fill=-1e9),
        "zero weights and a zero output": _sdpa(softmax=torch.softmax),  # NaN on fully masked rows
        "no max-subtraction": _sdpa(softmax=_naive_softmax),
        "return a pair": _sdpa(pair=False),
    },
    "attention.nadaraya_watson": {
        "1/2 missing": _nw(exponent=lambda d2, d, s: -d2 / s**2),
        "not squared": _nw(exponent=lambda d2, d, s: -d.abs() / (2 * s**2)),
        "sign flipped": _nw(exponent=lambda d2, d, s: d2 / (2 * s**2)),
        "bandwidth instead of its square": _nw(exponent=lambda d2, d, s: -d2 / (2 * s)),
        "bandwidth argument ignored": _nw(exponent=lambda d2, d, s: -d2 / 2),
        "wrong axis": _nw(axis=-2),
        "no max-subtraction": _nw(softmax=_naive_softmax),
    },
    "attention.additive_attention": {
        "tanh missing": _additive(tanh=lambda x: x),
        "swapped": _additive(swap=True),
        "wrong axis": _additive(axis=-2),
        "applied after the softmax": _additive(after=True),
        "inverted": _additive(invert=True),
        "spreading its weight evenly": _additive(fill=-1e9),
    },
}


@pytest.mark.parametrize("exercise_id, mistake", [(i, m) for i, table in WRONG.items() for m in table])
def test_wrong_implementation_fails_and_the_hint_names_the_mistake(exercise_id, mistake):
    result = assert_mistake_named(exercise_id, WRONG[exercise_id][mistake], mistake)
    assert mistake in result.message, result.message
    # A hint, not code (a crash quotes the learner's own line between backquotes: that is theirs).
    hints = re.sub(r"\(line \d+ of \w+: `[^`]*`\)", "", result.message)
    assert not re.search(r"torch\.|\bdef |masked_fill|\.exp\(|\.max\(|@", hints)


def test_every_chapter_1_exercise_has_wrong_implementations():
    assert sorted(WRONG) == sorted(CHAPTER_1)
    registered = [i for i, e in all_exercises().items() if e.chapter == "01"]
    assert sorted(registered) == sorted(CHAPTER_1)


@pytest.mark.parametrize("exercise_id", CHAPTER_1)
def test_unimplemented_scores_zero_without_crashing(exercise_id):
    assert_stub_scores_zero(exercise_id, "01")
