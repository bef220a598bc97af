"""The chapter 6 grader checks: correct versions pass, each known mistake fails and is named."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.grading import check

from grading_helpers import assert_full_marks, assert_mistake_named, assert_stub_scores_zero


def _gelu_ok(x):  # written differently from the library, as a learner might
    return x * (1 + torch.special.erf(x * 0.5**0.5)) / 2


class _FFNOk(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation={activation!r}")
        self.d_model = d_model
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)
        self.act = nn.ReLU() if activation == "relu" else nn.GELU()

    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has last dim {x.shape[-1]}, expected {self.d_model}")
        return self.linear2(self.drop(self.act(self.linear1(x))))


def _ffn_variant(forward):
    """_FFNOk with a different forward(self, x): a plausible wrong version."""
    return type("Variant", (_FFNOk,), {"forward": forward})


def _np_ffn_ok(x, w1, b1, w2, b2, activation="relu"):
    h = np.einsum("...i,ij->...j", x, w1) + b1
    if activation == "relu":
        h = h * (h > 0)
    else:
        h = h * 0.5 * (1 + np.array([math.erf(t) for t in (h / math.sqrt(2)).ravel()]).reshape(h.shape))
    return np.einsum("...j,jk->...k", h, w2) + b2


@pytest.mark.parametrize(
    "exercise_id,candidate",
    [("ffn.gelu", _gelu_ok), ("ffn.PositionwiseFFN", _FFNOk), ("numpy_ref.positionwise_ffn", _np_ffn_ok)],
)
def test_correct_versions_score_full_marks(exercise_id, candidate):
    assert_full_marks(exercise_id, candidate)


@pytest.mark.parametrize(
    "exercise_id,candidate,named",
    [
        ("ffn.gelu", lambda x: F.gelu(x, approximate="tanh"), "tanh approximation"),
        ("ffn.gelu", torch.relu, "a ReLU"),
        ("ffn.gelu", lambda x: x * torch.sigmoid(x), "SiLU"),
        ("ffn.gelu", lambda x: 0.5 * x * (1 + torch.erf(x)), "erf(x / √2)"),
        ("ffn.PositionwiseFFN", _ffn_variant(lambda self, x: self.linear2(self.linear1(x))), "activation is missing"),
        ("ffn.PositionwiseFFN", _ffn_variant(lambda self, x: self.act(self.linear2(self.linear1(x)))),
         "after the second linear"),
        ("ffn.PositionwiseFFN", _ffn_variant(lambda self, x: self.act(self.linear2(self.act(self.linear1(x))))),
         "after both linear"),
        ("ffn.PositionwiseFFN", _ffn_variant(lambda self, x: self.linear2(torch.relu(self.linear1(x)))),
         "ReLU where GELU was asked for"),
        ("numpy_ref.positionwise_ffn", lambda x, w1, b1, w2, b2, activation="relu": (x @ w1 + b1) @ w2 + b2,
         "activation is missing"),
        ("numpy_ref.positionwise_ffn",
         lambda x, w1, b1, w2, b2, activation="relu": np.maximum((x @ w1 + b1) @ w2 + b2, 0),
         "after the second linear"),
        ("numpy_ref.positionwise_ffn",
         lambda x, w1, b1, w2, b2, activation="relu": np.maximum(x @ w1 + b1, 0) @ w2 + b2,
         "ReLU where GELU was asked for"),
    ],
)
def test_known_mistakes_fail_with_a_named_hint(exercise_id, candidate, named):
    assert_mistake_named(exercise_id, candidate, named)


def test_wrong_attribute_names_and_missing_validation_are_reported():
    class Renamed(_FFNOk):
        def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
            super().__init__(d_model, d_ff, dropout, activation)
            self.fc1, self.fc2 = self.linear1, self.linear2
            del self.linear1, self.linear2

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    renamed = check("ffn.PositionwiseFFN", Renamed, quiet=True)
    assert not renamed.passed and "`linear1`" in renamed.message

    class NoChecks(_FFNOk):
        def __init__(self, d_model, d_ff, dropout=0.0, activation="relu"):
            super().__init__(d_model, d_ff, dropout, "relu" if activation == "tanh" else activation)

        def forward(self, x):
            return self.linear2(self.drop(self.act(self.linear1(x))))

    no_checks = check("ffn.PositionwiseFFN", NoChecks, quiet=True)
    failing = [title for title, ok, _ in no_checks.cases if not ok]
    assert failing == ['an unknown activation ("tanh") raises ValueError',
                       "an input whose last axis is not d_model raises ValueError"]

    class NoDropout(_FFNOk):
        def forward(self, x):
            return self.linear2(self.act(self.linear1(x)))

    no_dropout = check("ffn.PositionwiseFFN", NoDropout, quiet=True)
    assert "training mode" in no_dropout.message


def test_numpy_twin_must_return_numpy():
    result = check("numpy_ref.positionwise_ffn", lambda *a, **k: torch.from_numpy(_np_ffn_ok(*a, **k)), quiet=True)
    assert result.points == 0 and "numpy array" in result.message


@pytest.mark.parametrize("exercise_id", ["ffn.gelu", "ffn.PositionwiseFFN", "numpy_ref.positionwise_ffn"])
def test_unimplemented_scores_zero_without_crashing(exercise_id):
    assert_stub_scores_zero(exercise_id, "06")
