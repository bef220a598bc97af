"""Chapter 3 variants: np_self_attention, self_attention, SelfAttention."""

import math

import numpy as np
import torch
from torch import nn

from . import correct, wrong

NP, SA, SM = "numpy_ref.self_attention", "attention.self_attention", "attention.SelfAttention"


def _np_softmax_rows(s):
    top = np.max(s, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(s - top)
    total = e.sum(-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def np_matmul(x, *, w_q, w_k, w_v, mask=None):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = _np_softmax_rows(s)
    return w @ v, w


def np_einsum(x, *, w_q, w_k, w_v, mask=None):
    q, k, v = (np.einsum("bld,de->ble", x, w) for w in (w_q, w_k, w_v))
    s = np.einsum("bie,bje->bij", q, k) / math.sqrt(q.shape[-1])
    allowed = np.ones(s.shape, dtype=bool) if mask is None else np.broadcast_to(mask, s.shape)
    s = np.where(allowed, s, -np.inf)
    w = np.zeros_like(s)
    rows = allowed.any(-1)
    m = np.where(rows[..., None], s, 0).max(-1, keepdims=True)
    e = np.where(allowed, np.exp(np.where(allowed, s - m, 0)), 0)
    w[rows] = (e / np.where(rows[..., None], e.sum(-1, keepdims=True), 1))[rows]
    return np.einsum("bij,bje->bie", w, v), w


def np_no_scale(x, *, w_q, w_k, w_v, mask=None):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    s = q @ np.swapaxes(k, -1, -2)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = _np_softmax_rows(s)
    return w @ v, w


def np_overflow(x, *, w_q, w_k, w_v, mask=None):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    e = np.exp(s)
    if mask is not None:
        e = e * mask
    with np.errstate(all="ignore"):
        w = np.nan_to_num(e / e.sum(-1, keepdims=True))
    return w @ v, w


def np_columns(x, *, w_q, w_k, w_v, mask=None):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = np.swapaxes(_np_softmax_rows(np.swapaxes(s, -1, -2)), -1, -2)
    return w @ v, w


def _t_softmax(s, mask):
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, -1).nan_to_num(0.0)


def sa_matmul(x, *, w_q, w_k, w_v, mask=None):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    w = _t_softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
    return w @ v, w


def sa_einsum(x, *, w_q, w_k, w_v, mask=None):
    q, k, v = (torch.einsum("bld,de->ble", x, w) for w in (w_q, w_k, w_v))
    w = _t_softmax(torch.einsum("bie,bje->bij", q, k) * q.shape[-1] ** -0.5, mask)
    return torch.einsum("bij,bje->bie", w, v), w


def sa_numpy_inside(x, *, w_q, w_k, w_v, mask=None):
    out, w = np_matmul(x.detach().numpy(), w_q=w_q.detach().numpy(), w_k=w_k.detach().numpy(),
                       w_v=w_v.detach().numpy(), mask=None if mask is None else mask.numpy())
    return torch.from_numpy(out), torch.from_numpy(w)


def sa_by_d_model(x, *, w_q, w_k, w_v, mask=None):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    w = _t_softmax(q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1]), mask)
    return w @ v, w


def sa_inverted_mask(x, *, w_q, w_k, w_v, mask=None):
    return sa_matmul(x, w_q=w_q, w_k=w_k, w_v=w_v, mask=None if mask is None else ~mask)


class _SA(nn.Module):
    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        d_v = d_k if d_v is None else d_v
        self.d_model = d_model
        self.w_q, self.w_k = nn.Linear(d_model, d_k, bias=bias), nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v, bias=bias)

    def check(self, x):
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)}; expected (B, L, {self.d_model})")

    def forward(self, x, mask=None):
        self.check(x)
        q, k, v = self.w_q(x), self.w_k(x), self.w_v(x)
        w = _t_softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
        return w @ v, w


class SaLinear(_SA):
    pass


class SaFunctional(_SA):
    def forward(self, x, mask=None):
        self.check(x)
        q, k, v = (torch.nn.functional.linear(x, m.weight, m.bias) for m in (self.w_q, self.w_k, self.w_v))
        w = _t_softmax(torch.einsum("bid,bjd->bij", q, k) / q.shape[-1] ** 0.5, mask)
        return w @ v, w


class SaRawWeights(_SA):
    def forward(self, x, mask=None):
        self.check(x)
        q, k, v = x @ self.w_q.weight, x @ self.w_k.weight, x @ self.w_v.weight  # no transpose
        w = _t_softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
        return w @ v, w


class SaNoCheck(_SA):
    def check(self, x):
        pass


class SaKeysAsValues(_SA):
    def forward(self, x, mask=None):
        self.check(x)
        q, k = self.w_q(x), self.w_k(x)
        w = _t_softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
        return w @ k, w


class SaDetached(_SA):
    def forward(self, x, mask=None):
        out, w = super().forward(x, mask)
        return out.detach(), w.detach()


VARIANTS = [
    correct(NP, "matmul", np_matmul),
    correct(NP, "einsum with explicit empty rows", np_einsum),
    wrong(NP, "no scale", np_no_scale, "not divided"),
    wrong(NP, "no max-subtraction", np_overflow, "overflow|maximum|NaN|inf"),
    wrong(NP, "softmax over the query axis", np_columns, "query axis"),
    correct(SA, "matmul", sa_matmul),
    correct(SA, "einsum", sa_einsum),
    wrong(SA, "through numpy", sa_numpy_inside, "gradient|numpy"),
    wrong(SA, "scaled by d_model", sa_by_d_model, "√d_model"),
    wrong(SA, "mask inverted", sa_inverted_mask, "inverted"),
    correct(SM, "nn.Linear layers", SaLinear),
    correct(SM, "F.linear and einsum", SaFunctional),
    wrong(SM, "x @ weight without transpose", SaRawWeights, "transposed|shape|weight"),
    wrong(SM, "no input check", SaNoCheck, "ValueError"),
    wrong(SM, "keys as values", SaKeysAsValues, "K was used|value"),
    wrong(SM, "detached output", SaDetached, "gradient"),
]
