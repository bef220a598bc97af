"""Chapter 1 variants: softmax, dot_product_scores, scaled_dot_product_attention,
nadaraya_watson, additive_attention."""

import math

import torch

from . import correct, wrong

SM, DP, SD = "attention.softmax", "attention.dot_product_scores", "attention.scaled_dot_product_attention"
NW, AD = "attention.nadaraya_watson", "attention.additive_attention"


# -- softmax ---------------------------------------------------------------------------------
def sm_logsumexp(x, dim=-1):
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    e = torch.exp(x - m)
    s = e.sum(dim=dim, keepdim=True)
    return torch.where(s > 0, e / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(e))


def sm_moved_axis(x, dim=-1):
    y = x.movedim(dim, -1)
    m = y.max(dim=-1, keepdim=True).values.nan_to_num(0.0, neginf=0.0, posinf=0.0)
    e = (y - m).exp()
    total = e.sum(-1, keepdim=True)
    out = e / total.clamp_min(torch.finfo(x.dtype).tiny)
    return out.movedim(-1, dim)


def sm_no_max(x, dim=-1):
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)


def sm_nan_on_empty(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def sm_in_place(x, dim=-1):
    x -= x.amax(dim=dim, keepdim=True).nan_to_num(0.0, neginf=0.0)
    x.exp_()
    return x / x.sum(dim=dim, keepdim=True).clamp_min(1e-300)


def sm_float32(x, dim=-1):
    return sm_moved_axis(x.float(), dim)


def sm_torch(x, dim=-1):
    return torch.softmax(x, dim=dim).nan_to_num(0.0)


def sm_ignores_dim(x, dim=-1):
    return sm_moved_axis(x, -1)


# -- dot_product_scores ------------------------------------------------------------------------
def dp_einsum(q, k):
    return torch.einsum("...id,...jd->...ij", q, k)


def dp_broadcast(q, k):
    return (q.unsqueeze(-2) * k.unsqueeze(-3)).sum(-1)


def dp_transpose_all(q, k):
    return q @ k.T if k.dim() == 2 else q @ k.permute(*range(k.dim() - 1, -1, -1))


def dp_scaled(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


def dp_swapped(q, k):
    return k @ q.transpose(-2, -1)


# -- scaled_dot_product_attention ----------------------------------------------------------------
def _masked_softmax(scores, mask):
    if mask is None:
        return torch.softmax(scores, dim=-1)
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1).nan_to_num(0.0)


def sd_torch(q, k, v, mask=None):
    w = _masked_softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
    return w @ v, w


def sd_einsum(q, k, v, mask=None):
    s = torch.einsum("...qd,...kd->...qk", q, k) * q.shape[-1] ** -0.5
    if mask is not None:
        s = torch.where(mask, s, torch.tensor(float("-inf"), dtype=s.dtype))
    m = s.amax(-1, keepdim=True).clamp_min(-1e300).nan_to_num(0.0, neginf=0.0)
    e = torch.exp(s - m)
    w = e / e.sum(-1, keepdim=True).clamp_min(1e-300)
    return torch.einsum("...qk,...kd->...qd", w, v), w


def sd_no_scale(q, k, v, mask=None):
    w = _masked_softmax(q @ k.transpose(-2, -1), mask)
    return w @ v, w


def sd_by_d(q, k, v, mask=None):
    w = _masked_softmax(q @ k.transpose(-2, -1) / q.shape[-1], mask)
    return w @ v, w


def sd_nan_rows(q, k, v, mask=None):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = torch.softmax(s, dim=-1)
    return w @ v, w


def sd_big_negative(q, k, v, mask=None):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, -1e9)
    w = torch.softmax(s, dim=-1)
    return w @ v, w


def sd_mask_after(q, k, v, mask=None):
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        w = w * mask
    return w @ v, w


# -- nadaraya_watson ---------------------------------------------------------------------------
def _nw_pool(weights, values, vector):
    return weights @ values if vector else (weights @ values.unsqueeze(-1)).squeeze(-1)


def nw_torch(queries, keys, values, *, bandwidth=1.0):
    d = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    w = torch.softmax(-d.square() / (2 * bandwidth**2), dim=-1)
    return _nw_pool(w, values, values.dim() > keys.dim()), w


def nw_loops(queries, keys, values, *, bandwidth=1.0):
    if queries.dim() > 1:  # batch dimensions: one call per batch element
        pairs = [nw_loops(q, k, v, bandwidth=bandwidth) for q, k, v in zip(queries, keys, values)]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
    rows = []
    for x in queries:
        logits = torch.stack([-(x - xi) ** 2 / (2 * bandwidth * bandwidth) for xi in keys])
        rows.append(torch.exp(logits - logits.max()) / torch.exp(logits - logits.max()).sum())
    w = torch.stack(rows)
    return _nw_pool(w, values, values.dim() > keys.dim()), w


def nw_no_half(queries, keys, values, *, bandwidth=1.0):
    d = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    w = torch.softmax(-d.square() / bandwidth**2, dim=-1)
    return _nw_pool(w, values, values.dim() > keys.dim()), w


def nw_sigma(queries, keys, values, *, bandwidth=1.0):
    d = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    w = torch.softmax(-d.square() / (2 * bandwidth), dim=-1)
    return _nw_pool(w, values, values.dim() > keys.dim()), w


def nw_overflow(queries, keys, values, *, bandwidth=1.0):
    d = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    e = torch.exp(-d.square() / (2 * bandwidth**2))
    w = e / e.sum(-1, keepdim=True)
    return _nw_pool(w, values, values.dim() > keys.dim()), w


def nw_scalar_values_only(queries, keys, values, *, bandwidth=1.0):
    d = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    w = torch.softmax(-d.square() / (2 * bandwidth**2), dim=-1)
    return (w * values.unsqueeze(-2)).sum(-1), w


# -- additive_attention -------------------------------------------------------------------------
def ad_broadcast(q, k, v, *, w_q, w_k, w_v, mask=None):
    h = torch.tanh((q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3))
    w = _masked_softmax(h @ w_v, mask)
    return w @ v, w


def ad_einsum(q, k, v, *, w_q, w_k, w_v, mask=None):
    hq, hk = torch.einsum("...qd,dh->...qh", q, w_q), torch.einsum("...kd,dh->...kh", k, w_k)
    s = torch.einsum("...qkh,h->...qk", torch.tanh(hq[..., :, None, :] + hk[..., None, :, :]), w_v)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = torch.softmax(s, -1)
    w = torch.where(torch.isnan(w), torch.zeros_like(w), w)
    return w @ v, w


def ad_no_tanh(q, k, v, *, w_q, w_k, w_v, mask=None):
    w = _masked_softmax(((q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3)) @ w_v, mask)
    return w @ v, w


def ad_swapped(q, k, v, *, w_q, w_k, w_v, mask=None):
    return ad_broadcast(q, k, v, w_q=w_k, w_k=w_q, w_v=w_v, mask=mask)


def ad_axis(q, k, v, *, w_q, w_k, w_v, mask=None):
    s = torch.tanh((q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3)) @ w_v
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = torch.softmax(s, dim=-2).nan_to_num(0.0)
    return w @ v, w


def ad_nan_rows(q, k, v, *, w_q, w_k, w_v, mask=None):
    s = torch.tanh((q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3)) @ w_v
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = torch.softmax(s, dim=-1)
    return w @ v, w


VARIANTS = [
    correct(SM, "max-subtraction with where for empty slices", sm_logsumexp),
    correct(SM, "movedim to the last axis, clamped sum", sm_moved_axis),
    wrong(SM, "no max-subtraction", sm_no_max, "overflow"),
    wrong(SM, "NaN for an all -inf slice", sm_nan_on_empty, "all .?-inf|NaN"),
    wrong(SM, "subtracts the max in place", sm_in_place, "changed its input `x`"),
    wrong(SM, "float64 in, float32 out", sm_float32, "dtype"),
    wrong(SM, "ignores dim", sm_ignores_dim, "`dim` argument ignored"),
    wrong(SM, "calls torch.softmax, which the task forbids here", sm_torch, "calls PyTorch's own softmax"),
    correct(DP, "einsum", dp_einsum),
    correct(DP, "broadcast product and sum", dp_broadcast),
    wrong(DP, "transposes every axis of k", dp_transpose_all, r"transpose only the last two|line \d+ of dp_transpose_all"),
    wrong(DP, "scales the scores", dp_scaled, "already scaled"),
    wrong(DP, "keys against queries", dp_swapped, "swapped"),
    correct(SD, "torch.softmax with nan_to_num", sd_torch),
    correct(SD, "einsum and a hand-made softmax", sd_einsum),
    wrong(SD, "no scale", sd_no_scale, "not scaled"),
    wrong(SD, "divides by d_k", sd_by_d, "divided by d_k"),
    wrong(SD, "NaN for a fully masked query", sd_nan_rows, "NaN|fully masked"),
    wrong(SD, "masked with -1e9", sd_big_negative, "spreading its weight evenly"),
    wrong(SD, "mask after the softmax", sd_mask_after, "after the softmax"),
    correct(NW, "torch.softmax on the broadcast distances", nw_torch),
    correct(NW, "explicit loops", nw_loops),
    wrong(NW, "no 1/2", nw_no_half, "1/2"),
    wrong(NW, "divides by sigma", nw_sigma, "bandwidth instead of its square"),
    wrong(NW, "no max-subtraction", nw_overflow, "overflow|NaN"),
    wrong(NW, "only scalar values", nw_scalar_values_only, r"\(\.\.\., L_k, d_v\)|line \d+ of nw_scalar_values_only"),
    correct(AD, "broadcast projections", ad_broadcast),
    correct(AD, "einsum", ad_einsum),
    wrong(AD, "no tanh", ad_no_tanh, "tanh missing"),
    wrong(AD, "w_q and w_k swapped", ad_swapped, "swapped|shape"),
    wrong(AD, "softmax over the queries", ad_axis, "wrong axis"),
    wrong(AD, "NaN for a fully masked query", ad_nan_rows, "NaN|fully masked"),
]
