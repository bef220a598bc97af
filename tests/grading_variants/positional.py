"""Chapter 8 variants: sinusoidal_encoding, PositionalEncoding, relative_rotation."""

import math

import torch
from torch import nn

from . import correct, wrong

SE, PE, RR = "positional.sinusoidal_encoding", "positional.PositionalEncoding", "positional.relative_rotation"


def _check(d_model):
    if d_model % 2:
        raise ValueError(f"d_model={d_model}; expected an even number")


def se_exp_log(max_len, d_model):
    _check(d_model)
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe


def se_loops64(max_len, d_model):
    _check(d_model)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    for pos in range(max_len):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            pe[pos, 2 * i], pe[pos, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return pe


def se_halves(max_len, d_model):
    _check(d_model)
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    w = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return torch.cat([torch.sin(pos * w), torch.cos(pos * w)], -1)


def se_i_over_d(max_len, d_model):
    _check(d_model)
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    w = 10000.0 ** (-torch.arange(d_model // 2, dtype=torch.float64) / d_model)
    return torch.stack([torch.sin(pos * w), torch.cos(pos * w)], -1).flatten(1)


def se_no_check(max_len, d_model):
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    w = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * w)
    pe[:, 1::2] = torch.cos(pos * w)[:, : d_model // 2]
    return pe


def se_positions_from_one(max_len, d_model):
    return se_loops64(max_len + 1, d_model)[1:]


class PeRows(nn.Module):
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.register_buffer("pe", se_exp_log(max_len, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError(f"x has {x.shape[1]} positions; max_len={self.pe.shape[0]}")
        return self.dropout(x + self.pe[: x.shape[1]])


class PeAnnotated(nn.Module):
    """The Annotated Transformer's layout: a (1, max_len, d_model) buffer."""

    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x):
        if x.size(1) > self.pe.size(1):
            raise ValueError(f"x has length {x.size(1)} > max_len {self.pe.size(1)}")
        return self.dropout(x + self.pe[:, : x.size(1)].requires_grad_(False))


class PeFloat64(PeRows):
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__(d_model, max_len, dropout)
        self.pe = se_loops64(max_len, d_model)  # still a buffer: assigning to a buffer's name keeps it one

    def forward(self, x):
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError("x is longer than max_len")
        return self.dropout(x + self.pe[: x.shape[1]].to(x.dtype))


class PeParameter(nn.Module):
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.pe = nn.Parameter(se_exp_log(max_len, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError("x too long")
        return self.dropout(x + self.pe[: x.shape[1]])


class PeSequenceFirst(PeRows):
    def forward(self, x):
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError("x too long")
        return self.dropout(x + self.pe[: x.shape[0]].unsqueeze(1))


class PeNoLengthCheck(PeRows):
    def forward(self, x):
        return self.dropout(x + self.pe[: x.shape[1]])


class PeDropoutOnTable(PeRows):
    def forward(self, x):
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError("x too long")
        return x + self.dropout(self.pe[: x.shape[1]])


class PeScaled(PeRows):
    def forward(self, x):
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError("x too long")
        return self.dropout(x * math.sqrt(self.pe.shape[1]) + self.pe[: x.shape[1]])


def rr_blocks(k, d_model):
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        b = k * 10000 ** (-2 * i / d_model)
        c, s = math.cos(b), math.sin(b)
        M[2 * i: 2 * i + 2, 2 * i: 2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    return M


def rr_block_diag(k, d_model):
    w = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    c, s = torch.cos(k * w), torch.sin(k * w)
    return torch.block_diag(*[torch.stack([torch.stack([ci, si]), torch.stack([-si, ci])]) for ci, si in zip(c, s)])


def rr_float32(k, d_model):
    return rr_blocks(k, d_model).float()


def rr_transposed(k, d_model):
    return rr_blocks(k, d_model).T


def rr_i_over_d(k, d_model):
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        b = k * 10000 ** (-i / d_model)
        c, s = math.cos(b), math.sin(b)
        M[2 * i: 2 * i + 2, 2 * i: 2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    return M


def rr_radians_of_pos(k, d_model):
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        c, s = math.cos(k), math.sin(k)  # the angle k, whatever the pair's frequency
        M[2 * i: 2 * i + 2, 2 * i: 2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    return M


VARIANTS = [
    correct(SE, "exp-log frequencies, float32", se_exp_log),
    correct(SE, "loops in float64", se_loops64),
    wrong(SE, "sines then cosines", se_halves, "block of sines"),
    wrong(SE, "exponent i/d", se_i_over_d, "i/d_model"),
    wrong(SE, "no odd check", se_no_check, "ValueError"),
    wrong(SE, "positions from 1", se_positions_from_one, "start at 1"),
    correct(PE, "(max_len, d) buffer", PeRows),
    correct(PE, "Annotated Transformer (1, max_len, d) buffer", PeAnnotated),
    correct(PE, "float64 buffer cast to x's dtype", PeFloat64),
    wrong(PE, "a trainable parameter", PeParameter, "buffer"),
    wrong(PE, "sequence-first positions", PeSequenceFirst, "batch axis"),
    wrong(PE, "no length check", PeNoLengthCheck, "ValueError"),
    wrong(PE, "dropout on the table only", PeDropoutOnTable, "[Dd]ropout"),
    wrong(PE, "input scaled by sqrt(d_model)", PeScaled, "scaled by sqrt"),
    correct(RR, "loops over blocks", rr_blocks),
    correct(RR, "block_diag", rr_block_diag),
    wrong(RR, "float32", rr_float32, "float64|dtype"),
    wrong(RR, "transposed", rr_transposed, "-k|transposed"),
    wrong(RR, "exponent i/d", rr_i_over_d, "frequenc"),
    wrong(RR, "one angle for every pair", rr_radians_of_pos, "frequenc"),
]
