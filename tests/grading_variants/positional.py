"""Chapter 8 variants: sinusoidal_encoding, PositionalEncoding, relative_rotation;
chapter 12: LearnedPositionalEmbedding."""

import math

import torch
from torch import nn

from . import correct, wrong

SE, PE, RR = "positional.sinusoidal_encoding", "positional.PositionalEncoding", "positional.relative_rotation"
LP = "positional.LearnedPositionalEmbedding"


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


class LpParameter(nn.Module):
    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.table = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.table.size(0):
            raise ValueError(f"offset={offset} + length {L} > max_len={self.table.size(0)}")
        return self.dropout(x + self.table[offset: offset + L])


class LpEmbedding(nn.Module):
    """nn.Embedding's weight is the (max_len, d_model) table; look the positions up."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.wpe = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.drop = nn.Dropout(p=dropout)

    def forward(self, x, offset=0):
        if offset + x.shape[1] > self.max_len:
            raise ValueError("positions past max_len")
        pos = torch.arange(offset, offset + x.shape[1], device=x.device)
        return self.drop(x + self.wpe(pos)[None])


class LpIndexSelect(LpParameter):
    def forward(self, x, offset=0):
        L = x.size(1)
        if offset < 0 or offset + L > self.table.size(0):
            raise ValueError(f"offset={offset}, length {L}; expected offset + length <= max_len")
        rows = self.table.index_select(0, torch.arange(offset, offset + L))
        return self.dropout(x + rows.unsqueeze(0).expand_as(x))


class LpBuffer(LpParameter):
    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__(d_model, max_len, dropout)
        del self.table
        self.register_buffer("table", 0.02 * torch.randn(max_len, d_model))


class LpFromOne(LpEmbedding):
    """Positions counted from 1, as a learner who reserves row 0 might: one row more."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__(d_model, max_len + 1, dropout)
        self.max_len = max_len

    def forward(self, x, offset=0):
        if offset + x.shape[1] > self.max_len:
            raise ValueError("positions past max_len")
        pos = torch.arange(offset + 1, offset + x.shape[1] + 1)
        return self.drop(x + self.wpe(pos))


class LpShiftedRows(LpParameter):
    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.table.size(0):
            raise ValueError("too long")
        return self.dropout(x + self.table[offset + 1: offset + L + 1])  # short at the end: fails loudly


class LpNoCheck(LpParameter):
    def forward(self, x, offset=0):
        return self.dropout(x + self.table[offset: offset + x.size(1)])


class LpCheckIgnoresOffset(LpParameter):
    def forward(self, x, offset=0):
        L = x.size(1)
        if L > self.table.size(0):
            raise ValueError("x is longer than max_len")
        return self.dropout(x + self.table[offset: offset + L])


class LpBatchAxis(LpParameter):
    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.table.size(0):
            raise ValueError("too long")
        return self.dropout(x + self.table[offset: offset + x.size(0)].unsqueeze(1))


class LpOffsetIgnored(LpParameter):
    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.table.size(0):
            raise ValueError("too long")
        return self.dropout(x + self.table[:L])


class LpDropoutOnTable(LpParameter):
    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.table.size(0):
            raise ValueError("too long")
        return x + self.dropout(self.table[offset: offset + L])


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
    correct(LP, "nn.Parameter table, sliced", LpParameter),
    correct(LP, "nn.Embedding looked up at arange(offset, offset + L)", LpEmbedding),
    correct(LP, "index_select, expanded over the batch", LpIndexSelect),
    wrong(LP, "a buffer, not a parameter", LpBuffer, "is a buffer"),
    wrong(LP, "positions from 1 (one row more)", LpFromOne, r"max_len \+ 1 rows"),
    wrong(LP, "rows offset + 1 onwards", LpShiftedRows, "start at 1"),
    wrong(LP, "no max_len check", LpNoCheck, "ValueError"),
    wrong(LP, "max_len check ignores offset", LpCheckIgnoresOffset, "offset 3"),
    wrong(LP, "table added along the batch axis", LpBatchAxis, "batch axis"),
    wrong(LP, "offset ignored", LpOffsetIgnored, "offset is ignored"),
    wrong(LP, "dropout on the table only", LpDropoutOnTable, "[Dd]ropout"),
]
