"""The chapter 9 grader checks: correct versions pass, each known mistake fails and is named."""

import math

import pytest
import torch
from torch import nn

from course_lib.grading import check

from grading_helpers import assert_full_marks, assert_mistake_named, assert_stub_scores_zero


class _EmbOk(nn.Module):  # written differently from the library, as a learner might
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.vocab_size, self.d_model = vocab_size, d_model
        self.weight = nn.Parameter(torch.randn(vocab_size, d_model) / math.sqrt(d_model))

    def forward(self, ids):
        if ids.is_floating_point() or ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"bad ids {ids}")
        return self.weight[ids] * math.sqrt(self.d_model)


class _EmbNoScale(_EmbOk):
    def forward(self, ids):
        return super().forward(ids) / math.sqrt(self.d_model)


class _EmbDivided(_EmbOk):
    def forward(self, ids):
        return super().forward(ids) / self.d_model


class _EmbDefaultInit(_EmbOk):
    def __init__(self, vocab_size, d_model):
        super().__init__(vocab_size, d_model)
        self.weight = nn.Embedding(vocab_size, d_model).weight


class _ProjOk(nn.Module):
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__()
        self.weight = tied_to.weight if tied_to is not None else nn.Parameter(torch.randn(vocab_size, d_model))
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, h):
        logits = torch.einsum("...d,vd->...v", h, self.weight)
        return logits if self.bias is None else logits + self.bias


class _ProjCopied(_ProjOk):
    def __init__(self, d_model, vocab_size, *, tied_to=None, bias=False):
        super().__init__(d_model, vocab_size, tied_to=tied_to, bias=bias)
        self.weight = nn.Parameter(self.weight.detach().clone())  # a copy: untied


class _ProjScaled(_ProjOk):
    def forward(self, h):
        return super().forward(h) * math.sqrt(h.shape[-1])


def _count_ok(*modules):
    params = {}
    for m in modules:
        params.update({p.data_ptr(): p.numel() for p in m.parameters()})
    return sum(params.values())


def _count_naive(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def _count_with_buffers(*modules):
    return _count_ok(*modules) + sum(b.numel() for m in modules for b in m.buffers())


@pytest.mark.parametrize(
    "exercise_id,candidate",
    [("embedding.Embeddings", _EmbOk), ("embedding.OutputProjection", _ProjOk), ("embedding.parameter_count", _count_ok)],
)
def test_correct_versions_score_full_marks(exercise_id, candidate):
    assert_full_marks(exercise_id, candidate)


@pytest.mark.parametrize(
    "exercise_id,candidate,named",
    [
        ("embedding.Embeddings", _EmbNoScale, "scale is missing"),
        ("embedding.Embeddings", _EmbDivided, "divided by sqrt(d_model) instead of multiplied"),
        ("embedding.Embeddings", _EmbDefaultInit, "default nn.Embedding init"),
        ("embedding.OutputProjection", _ProjCopied, "untied projection"),
        ("embedding.OutputProjection", _ProjScaled, "belongs to the embedding lookup"),
        ("embedding.parameter_count", _count_naive, "counted once per module"),
        ("embedding.parameter_count", _count_with_buffers, "buffers are not parameters"),
    ],
)
def test_known_mistakes_fail_with_a_named_hint(exercise_id, candidate, named):
    assert_mistake_named(exercise_id, candidate, named)


def test_untied_copy_also_fails_the_training_step():
    result = check("embedding.OutputProjection", _ProjCopied, quiet=True)
    messages = {title: message for title, ok, message in result.cases if not ok}
    assert "not among the projection's parameters" in messages[
        "tied: a gradient step on the projection changes the embedding lookup"]


@pytest.mark.parametrize("exercise_id", ["embedding.Embeddings", "embedding.OutputProjection",
                                         "embedding.parameter_count"])
def test_unimplemented_scores_zero_without_crashing(exercise_id):
    assert_stub_scores_zero(exercise_id, "09")
