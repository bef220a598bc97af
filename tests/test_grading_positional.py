"""The chapter 8 grader checks: correct versions pass, each known mistake fails and is named."""

import math

import pytest
import torch
from torch import nn

from course_lib.grading import check

from grading_helpers import assert_full_marks, assert_mistake_named, assert_stub_scores_zero


def _omega(d, step=2):
    return torch.tensor([10000 ** (-(step * i) / d) for i in range(d // 2)], dtype=torch.float64)


def _pe_ok(max_len, d_model):  # written differently from the library, as a learner might
    if d_model % 2:
        raise ValueError("d_model must be even")
    pe = torch.zeros(max_len, d_model)
    for pos in range(max_len):
        for i in range(d_model // 2):
            pe[pos, 2 * i] = math.sin(pos / 10000 ** (2 * i / d_model))
            pe[pos, 2 * i + 1] = math.cos(pos / 10000 ** (2 * i / d_model))
    return pe


def _pe_from(max_len, d_model, *, omega=None, layout="interleaved", swap=False):
    omega = _omega(d_model) if omega is None else omega
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * omega
    a, b = (torch.cos(angles), torch.sin(angles)) if swap else (torch.sin(angles), torch.cos(angles))
    return torch.cat([a, b], -1) if layout == "halves" else torch.stack([a, b], -1).flatten(1)


class _PEOk(nn.Module):
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.register_buffer("table", _pe_ok(max_len, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        if x.shape[1] > self.table.shape[0]:
            raise ValueError("sequence too long")
        return self.drop(x + self.table[: x.shape[1]])


class _PESeqFirst(_PEOk):
    def forward(self, x):
        return self.drop(x + self.table[: x.shape[0]].unsqueeze(1))


class _PETrainable(_PEOk):
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__(d_model, max_len, dropout)
        self.table = nn.Parameter(self.table.clone())


class _PENoLengthCheck(_PEOk):
    def forward(self, x):
        return self.drop(x + self.table[: x.shape[1]])


def _rotation_ok(k, d_model):
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        angle = k * 10000 ** (-2 * i / d_model)
        M[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor(
            [[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    return M


@pytest.mark.parametrize(
    "exercise_id,candidate",
    [
        ("positional.sinusoidal_encoding", _pe_ok),
        ("positional.PositionalEncoding", _PEOk),
        ("positional.relative_rotation", _rotation_ok),
    ],
)
def test_correct_versions_score_full_marks(exercise_id, candidate):
    assert_full_marks(exercise_id, candidate)


@pytest.mark.parametrize(
    "exercise_id,candidate,named",
    [
        ("positional.sinusoidal_encoding", lambda n, d: _pe_from(n, d, swap=True), "sin and cos are swapped"),
        ("positional.sinusoidal_encoding", lambda n, d: _pe_from(n, d, layout="halves"), "block of sines"),
        ("positional.sinusoidal_encoding", lambda n, d: _pe_from(n, d, omega=_omega(d, step=1)), "i/d_model instead"),
        ("positional.sinusoidal_encoding", lambda n, d: _pe_from(n + 1, d)[1:], "start at 1"),
        ("positional.PositionalEncoding", _PESeqFirst, "batch axis"),
        ("positional.PositionalEncoding", _PETrainable, "register_buffer"),
        ("positional.PositionalEncoding", _PENoLengthCheck, "ValueError"),
        ("positional.relative_rotation", lambda k, d: _rotation_ok(k, d).T, "transposed"),
        ("positional.relative_rotation", lambda k, d: _rotation_ok(-k, d), "-k"),
    ],
)
def test_known_mistakes_fail_with_a_named_hint(exercise_id, candidate, named):
    assert_mistake_named(exercise_id, candidate, named)


def test_one_frequency_per_column_is_named():
    def per_column(n, d):
        angles = torch.arange(n, dtype=torch.float64)[:, None] / 10000 ** (torch.arange(d) / d)
        return torch.where(torch.arange(d) % 2 == 0, torch.sin(angles), torch.cos(angles))

    result = check("positional.sinusoidal_encoding", per_column, quiet=True)
    assert "each column has its own frequency" in result.message, result.message


def test_missing_odd_check_costs_only_its_point():
    result = check("positional.sinusoidal_encoding", lambda n, d: _pe_from(n, d), quiet=True)
    failed = [title for title, ok, _ in result.cases if not ok]
    assert failed == ["an odd d_model raises ValueError"]


@pytest.mark.parametrize("exercise_id", ["positional.sinusoidal_encoding", "positional.PositionalEncoding",
                                         "positional.relative_rotation"])
def test_unimplemented_scores_zero_without_crashing(exercise_id):
    assert_stub_scores_zero(exercise_id, "08")


# -- chapter 12: LearnedPositionalEmbedding ------------------------------------------------------

class _Learned(nn.Module):
    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.rows = nn.Parameter(0.02 * torch.randn(max_len, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, offset=0):
        if offset + x.shape[1] > self.rows.shape[0]:
            raise ValueError("too long")
        return self.drop(x + self.rows[offset: offset + x.shape[1]])


class _LearnedNoOffset(_Learned):
    def forward(self, x, offset=0):
        return super().forward(x, 0)


class _LearnedSeqFirst(_Learned):
    def forward(self, x, offset=0):
        return self.drop(x + self.rows[: x.shape[0]].unsqueeze(1))


class _LearnedNoCheck(_Learned):
    def forward(self, x, offset=0):
        return self.drop(x + self.rows[offset: offset + x.shape[1]][: x.shape[1]]) if offset + x.shape[1] <= \
            self.rows.shape[0] else x


class _LearnedBuffer(_Learned):
    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__(d_model, max_len, dropout)
        del self.rows
        self.register_buffer("rows", 0.02 * torch.randn(max_len, d_model))


class _LearnedFromOne(_Learned):
    def forward(self, x, offset=0):
        if offset + x.shape[1] > self.rows.shape[0]:
            raise ValueError("too long")
        rows = self.rows[offset + 1: offset + x.shape[1] + 1]
        return self.drop(x + rows) if len(rows) == x.shape[1] else x


class _LearnedExtraRow(_Learned):
    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__(d_model, max_len + 1, dropout)  # row 0 unused: positions from 1


def test_learned_positional_embedding_full_marks():
    assert_full_marks("positional.LearnedPositionalEmbedding", _Learned)


def test_learned_positional_embedding_mistakes_are_named():
    ID = "positional.LearnedPositionalEmbedding"
    assert_mistake_named(ID, _LearnedNoOffset, "offset is ignored")
    assert_mistake_named(ID, _LearnedSeqFirst, "batch axis")
    assert_mistake_named(ID, _LearnedNoCheck, "raise ValueError")
    assert_mistake_named(ID, _LearnedBuffer, "yours is a buffer")
    assert_mistake_named(ID, _LearnedFromOne, "positions start at 1")
    assert_mistake_named(ID, _LearnedExtraRow, "max_len + 1 rows")


def test_learned_positional_embedding_stub_scores_zero():
    assert_stub_scores_zero("positional.LearnedPositionalEmbedding", "12")
