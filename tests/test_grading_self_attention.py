"""The chapter 3 grader: learner-style solutions score full marks, known mistakes fail by name."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.grading import check, get


# -- learner-style implementations, written independently of course_lib -------------------------

def np_self_attention(x, *, w_q, w_k, w_v, mask=None, scale=True, axis=-1, values="v"):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ np.swapaxes(k, -1, -2)
    if scale:
        scores = scores / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=axis, keepdims=True)
    e = np.exp(scores - np.where(np.isfinite(top), top, 0.0))
    total = e.sum(axis=axis, keepdims=True)
    weights = e / np.where(total > 0, total, 1.0)
    return weights @ {"v": v, "k": k}[values], weights


def torch_self_attention(x, *, w_q, w_k, w_v, mask=None):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = torch.einsum("bid,bjd->bij", q, k) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return weights @ v, weights


class GoodSelfAttention(nn.Module):
    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        self.d_model = d_model
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v or d_k, bias=bias)

    def forward(self, x, mask=None):
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)}; expected (B, L, {self.d_model})")
        q, k, v = self.w_q(x), self.w_k(x), self.w_v(x)
        scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        return weights @ v, weights


class TransposedSelfAttention(GoodSelfAttention):
    def forward(self, x, mask=None):  # x @ W instead of x @ Wᵀ: only runs when square
        return torch_self_attention(x, w_q=self.w_q.weight, w_k=self.w_k.weight, w_v=self.w_v.weight, mask=mask)


class KeysAsValuesSelfAttention(GoodSelfAttention):
    def forward(self, x, mask=None):
        q, k = self.w_q(x), self.w_k(x)
        scores = (q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]))
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        return weights @ k, weights


class NoChecksSelfAttention(GoodSelfAttention):
    def forward(self, x, mask=None):
        return torch_self_attention(x, w_q=self.w_q.weight.T, w_k=self.w_k.weight.T, w_v=self.w_v.weight.T, mask=mask)


class TupleOfParamsSelfAttention(nn.Module):
    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, d_model, d_k))

    def forward(self, x, mask=None):
        return torch_self_attention(x, w_q=self.w[0], w_k=self.w[1], w_v=self.w[2], mask=mask)


def assert_full_marks(exercise_id, candidate):
    result = check(exercise_id, candidate, quiet=True)
    assert result.passed, result.message
    assert result.points == result.max_points == get(exercise_id).max_points


def failing_messages(exercise_id, candidate):
    result = check(exercise_id, candidate, quiet=True)
    assert not result.passed
    return " | ".join(message for _, ok, message in result.cases if not ok)


def test_correct_implementations_score_full_marks():
    assert_full_marks("numpy_ref.self_attention", np_self_attention)
    assert_full_marks("attention.self_attention", torch_self_attention)
    assert_full_marks("attention.SelfAttention", GoodSelfAttention)


@pytest.mark.parametrize(
    "kwargs,mistake",
    [({"scale": False}, "not divided by √d_k"),
     ({"axis": -2}, "query axis"),
     ({"values": "k"}, "K was used where V should be")],
)
def test_numpy_mistakes_are_named(kwargs, mistake):
    def wrong(x, *, w_q, w_k, w_v, mask=None):
        return np_self_attention(x, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask, **kwargs)

    assert mistake in failing_messages("numpy_ref.self_attention", wrong)


def test_torch_mistakes_are_named():
    def swapped(x, *, w_q, w_k, w_v, mask=None):
        return torch_self_attention(x, w_q=w_k, w_k=w_q, w_v=w_v, mask=mask)

    def transposed(x, *, w_q, w_k, w_v, mask=None):
        return torch_self_attention(x, w_q=w_q.T, w_k=w_k.T, w_v=w_v.T, mask=mask)

    def by_d_model(x, *, w_q, w_k, w_v, mask=None):
        out, weights = torch_self_attention(x, w_q=w_q * (w_q.shape[1] / w_q.shape[0]) ** 0.5, w_k=w_k, w_v=w_v, mask=mask)
        return out, weights

    def inverted(x, *, w_q, w_k, w_v, mask=None):
        return torch_self_attention(x, w_q=w_q, w_k=w_k, w_v=w_v, mask=None if mask is None else ~mask)

    def naive_numpy(x, *, w_q, w_k, w_v, mask=None):
        return tuple(torch.from_numpy(a) for a in np_self_attention(x.detach().numpy(), w_q=w_q.detach().numpy(), w_k=w_k.detach().numpy(), w_v=w_v.detach().numpy(), mask=mask))

    assert "queries and keys are swapped" in failing_messages("attention.self_attention", swapped)
    assert "projections are transposed" in failing_messages("attention.self_attention", transposed)
    assert "√d_model instead of √d_k" in failing_messages("attention.self_attention", by_d_model)
    assert "mask is inverted" in failing_messages("attention.self_attention", inverted)
    assert "out carries no gradient" in failing_messages("attention.self_attention", naive_numpy)


def test_unstable_softmax_fails_the_large_input_case():
    def naive(x, *, w_q, w_k, w_v, mask=None):
        scores = (x @ w_q) @ np.swapaxes(x @ w_k, -1, -2) / np.sqrt(w_q.shape[1])
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        e = np.exp(scores)
        weights = e / e.sum(-1, keepdims=True)
        return weights @ (x @ w_v), weights

    with np.errstate(all="ignore"):
        result = check("numpy_ref.self_attention", naive, quiet=True)
    failed = [title for title, ok, _ in result.cases if not ok]
    assert any("large inputs" in title for title in failed)
    assert result.points > 0  # the ordinary cases still earn their points


def test_module_mistakes_are_named():
    assert "projections are transposed" in failing_messages("attention.SelfAttention", TransposedSelfAttention)
    assert "K was used where V should be" in failing_messages("attention.SelfAttention", KeysAsValuesSelfAttention)
    message = failing_messages("attention.SelfAttention", NoChecksSelfAttention)  # ignores bias, no checks
    assert "ValueError" in message and "biases were not added" in message
    message = failing_messages("attention.SelfAttention", TupleOfParamsSelfAttention)
    assert "`w_q` is missing or not an nn.Linear" in message
    assert check("attention.SelfAttention", TupleOfParamsSelfAttention, quiet=True).points == 0


def test_unimplemented_exercises_score_zero_without_crashing():
    def todo(*args, **kwargs):
        raise NotImplementedError

    class Todo(nn.Module):
        def __init__(self, *args, **kwargs):
            raise NotImplementedError

    for exercise_id, candidate in (("numpy_ref.self_attention", todo), ("attention.self_attention", todo),
                                   ("attention.SelfAttention", Todo)):
        result = check(exercise_id, candidate, quiet=True)
        assert result.points == 0 and not result.passed
        assert "not implemented yet" in result.message
