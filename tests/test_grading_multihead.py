"""The chapter-4 checks: correct versions score full marks, each known mistake is named."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib import multihead
from course_lib.grading import check, get

# Learner-style versions, written independently of the library and of the checks' own helpers.

def split_ok(x, num_heads):
    d = x.shape[-1]
    if d % num_heads:
        raise ValueError(f"d_model={d} is not divisible by num_heads={num_heads}")
    return torch.stack(x.chunk(num_heads, dim=-1), dim=1)


def split_no_transpose(x, num_heads):
    b, n, d = x.shape
    return x.reshape(b, num_heads, n, d // num_heads)


def split_round_robin(x, num_heads):
    b, n, d = x.shape
    return x.reshape(b, n, d // num_heads, num_heads).permute(0, 3, 1, 2)


def merge_ok(x):
    return torch.cat(x.unbind(dim=1), dim=-1)


def merge_no_transpose(x):
    b, h, n, d = x.shape
    return x.reshape(b, n, h * d)


class LearnerMHA(nn.Module):
    """A from-scratch multi-head attention; ``mistake`` switches on one known error."""

    def __init__(self, d_model, num_heads, mistake=None):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.h, self.mistake = num_heads, mistake
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, query, key, value, mask=None):
        m, h = self.mistake, self.h
        split = split_no_transpose if m == "split" else split_ok
        q, k, v = split(self.w_q(query), h), split(self.w_k(key), h), split(self.w_v(value), h)
        d_head = q.shape[-1]
        scale = {"no_scale": 1.0, "d_model": math.sqrt(h * d_head)}.get(m, math.sqrt(d_head))
        scores = q @ k.transpose(-2, -1) / scale
        if mask is not None:
            head_axis = mask.unsqueeze(1) if mask.dim() == 3 else mask  # (B, L_q, L_k) or (L_q, L_k)
            scores = scores.masked_fill(~head_axis, float("-inf"))
        weights = torch.softmax(scores, dim=-2 if m == "axis" else -1).nan_to_num(0.0)
        heads = weights @ v
        merged = merge_no_transpose(heads) if m in ("merge", "split") else merge_ok(heads)
        return (merged if m == "no_wo" else self.w_o(merged)), weights


def _full_marks(result):
    return result.passed and result.points == result.max_points


def test_correct_versions_score_full_marks():
    assert _full_marks(check("multihead.split_heads", split_ok, quiet=True))
    assert _full_marks(check("multihead.merge_heads", merge_ok, quiet=True))
    assert _full_marks(check("multihead.MultiHeadAttention", LearnerMHA, quiet=True))


def test_the_library_passes_its_own_checks():
    assert _full_marks(check("multihead.split_heads", multihead.split_heads, quiet=True))
    assert _full_marks(check("multihead.merge_heads", multihead.merge_heads, quiet=True))
    assert _full_marks(check("multihead.MultiHeadAttention", multihead.MultiHeadAttention, quiet=True))


@pytest.mark.parametrize("exercise_id,candidate,named", [
    ("multihead.split_heads", split_no_transpose, "heads split along the wrong axis"),
    ("multihead.split_heads", split_round_robin, "round-robin"),
    ("multihead.merge_heads", merge_no_transpose, "without the inverse transpose"),
])
def test_split_merge_mistakes_are_named(exercise_id, candidate, named):
    result = check(exercise_id, candidate, quiet=True)
    assert not result.passed and result.points < result.max_points
    assert named in result.message


@pytest.mark.parametrize("mistake,named", [
    ("split", "heads split along the wrong axis"),
    ("merge", "merged without the inverse transpose"),
    ("no_scale", "not scaled by 1/sqrt(d_head)"),
    ("d_model", "scaled by 1/sqrt(d_model)"),
    ("axis", "softmax over the wrong axis"),
    ("no_wo", "missing output projection"),
])
def test_attention_mistakes_are_named(mistake, named):
    candidate = lambda d_model, num_heads: LearnerMHA(d_model, num_heads, mistake)  # noqa: E731
    result = check("multihead.MultiHeadAttention", candidate, quiet=True)
    assert not result.passed
    assert named in result.message


def test_nan_for_empty_rows_costs_only_that_case():
    class NaNRows(LearnerMHA):
        def forward(self, query, key, value, mask=None):
            out, weights = super().forward(query, key, value, mask)
            if mask is not None and mask.dim() == 3 and not mask.any(-1).all():
                weights = weights.masked_fill(~mask.any(-1)[:, None, :, None], float("nan"))
            return out, weights

    result = check("multihead.MultiHeadAttention", NaNRows, quiet=True)
    failed = [title for title, ok, _ in result.cases if not ok]
    assert failed == ["a query whose keys are all masked gets zero weights (not NaN)"]


def test_unimplemented_exercises_score_zero_without_crashing():
    def todo(*args, **kwargs):
        raise NotImplementedError

    class Todo(nn.Module):
        def __init__(self, d_model, num_heads):
            raise NotImplementedError

    for exercise_id, candidate in [("multihead.split_heads", todo), ("multihead.merge_heads", todo),
                                   ("multihead.MultiHeadAttention", Todo)]:
        result = check(exercise_id, candidate, quiet=True)
        assert result.points == 0 and result.max_points == get(exercise_id).max_points > 0
