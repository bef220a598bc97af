"""Chapter 4 variants: split_heads, merge_heads, MultiHeadAttention."""

import math

import torch
from torch import nn

from . import correct, wrong

SH, MH, MHA = "multihead.split_heads", "multihead.merge_heads", "multihead.MultiHeadAttention"


def sh_view(x, num_heads):
    B, L, d = x.shape
    if d % num_heads:
        raise ValueError(f"num_heads={num_heads} does not divide d_model={d}")
    return x.view(B, L, num_heads, d // num_heads).permute(0, 2, 1, 3)


def sh_chunks(x, num_heads):
    if x.shape[-1] % num_heads:
        raise ValueError(f"num_heads={num_heads}; expected a divisor of d_model={x.shape[-1]}")
    return torch.stack(x.chunk(num_heads, dim=-1), dim=1)


def sh_reshape_only(x, num_heads):
    B, L, d = x.shape
    if d % num_heads:
        raise ValueError("num_heads")
    return x.reshape(B, num_heads, L, d // num_heads)


def sh_round_robin(x, num_heads):
    B, L, d = x.shape
    if d % num_heads:
        raise ValueError("num_heads")
    return x.reshape(B, L, d // num_heads, num_heads).permute(0, 3, 1, 2)


def sh_no_check(x, num_heads):
    B, L, d = x.shape
    return x.reshape(B, L, num_heads, d // num_heads).transpose(1, 2)


def mh_reshape(x):
    B, H, L, d = x.shape
    return x.transpose(1, 2).reshape(B, L, H * d)


def mh_cat(x):
    return torch.cat(x.unbind(dim=1), dim=-1)


def mh_no_transpose(x):
    B, H, L, d = x.shape
    return x.reshape(B, L, H * d)


def mh_interleaved(x):
    B, H, L, d = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, L, H * d)


def mh_view(x):
    B, H, L, d = x.shape
    return x.transpose(1, 2).view(B, L, H * d)


class _Base(nn.Module):
    scale_by = "d_head"

    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"num_heads={num_heads} does not divide d_model={d_model}")
        self.d_model, self.num_heads = d_model, num_heads
        self.w_q, self.w_k = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.w_v, self.w_o = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)

    def heads(self, t):
        return sh_view(t, self.num_heads)

    def weights(self, scores, mask):
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1).nan_to_num(0.0)

    def forward(self, query, key, value, mask=None):
        q, k, v = self.heads(self.w_q(query)), self.heads(self.w_k(key)), self.heads(self.w_v(value))
        width = {"d_head": q.shape[-1], "d_model": self.d_model}[self.scale_by]
        scores = q @ k.transpose(-2, -1) / math.sqrt(width)
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)
        w = self.weights(scores, mask)
        return self.w_o(mh_reshape(w @ v)), w


class MhaTorch(_Base):
    pass


class MhaEinsum(_Base):
    def forward(self, query, key, value, mask=None):
        H = self.num_heads
        q = self.w_q(query).unflatten(-1, (H, -1))  # (B, L_q, H, d_head)
        k = self.w_k(key).unflatten(-1, (H, -1))
        v = self.w_v(value).unflatten(-1, (H, -1))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
        if mask is not None:
            mask = mask[:, None] if mask.dim() == 3 else mask[None, None]
            scores = torch.where(mask, scores, torch.full_like(scores, float("-inf")))
        top = scores.amax(-1, keepdim=True).nan_to_num(0.0, neginf=0.0)
        e = (scores - top).exp()
        w = e / e.sum(-1, keepdim=True).clamp_min(1e-300)
        out = torch.einsum("bhqk,bkhd->bqhd", w, v).flatten(-2)
        return self.w_o(out), w


class MhaScaleDModel(_Base):
    scale_by = "d_model"


class MhaNanRows(_Base):
    def weights(self, scores, mask):
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1)


class MhaOnly3dMask(_Base):
    def forward(self, query, key, value, mask=None):
        if mask is not None:
            mask = mask.unsqueeze(1)  # assumes (B, L_q, L_k): a 2-D mask lands on the wrong axes
        q, k, v = self.heads(self.w_q(query)), self.heads(self.w_k(key)), self.heads(self.w_v(value))
        w = self.weights(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
        return self.w_o(mh_reshape(w @ v)), w


class MhaNoOutputProjection(_Base):
    def forward(self, query, key, value, mask=None):
        q, k, v = self.heads(self.w_q(query)), self.heads(self.w_k(key)), self.heads(self.w_v(value))
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)
        w = self.weights(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
        return mh_reshape(w @ v), w


class MhaKeyFromQuery(_Base):
    def forward(self, query, key, value, mask=None):
        return super().forward(query, query, value if value.shape[1] == query.shape[1] else value, mask)


VARIANTS = [
    correct(SH, "view and permute", sh_view),
    correct(SH, "chunk and stack", sh_chunks),
    wrong(SH, "reshape without transpose", sh_reshape_only, "wrong axis"),
    wrong(SH, "round robin", sh_round_robin, "round-robin"),
    wrong(SH, "no divisibility check", sh_no_check, "ValueError"),
    correct(MH, "transpose and reshape", mh_reshape),
    correct(MH, "cat of the heads", mh_cat),
    wrong(MH, "no inverse transpose", mh_no_transpose, "without the inverse transpose"),
    wrong(MH, "interleaved", mh_interleaved, "interleaved"),
    wrong(MH, "view on a non-contiguous tensor", mh_view, "contiguous|view"),
    correct(MHA, "split/merge helpers and torch.softmax", MhaTorch),
    correct(MHA, "einsum and a hand-made softmax", MhaEinsum),
    wrong(MHA, "scaled by sqrt(d_model)", MhaScaleDModel, "sqrt\\(d_model\\)"),
    wrong(MHA, "NaN for a fully masked query", MhaNanRows, "NaN|all masked|zero weights"),
    wrong(MHA, "a 2-D mask unsqueezed like a 3-D one", MhaOnly3dMask, "\\(L_q, L_k\\)"),
    wrong(MHA, "no output projection", MhaNoOutputProjection, "output projection"),
    wrong(MHA, "keys from the queries", MhaKeyFromQuery, r"your code raised .*line \d+ of forward"),
]
