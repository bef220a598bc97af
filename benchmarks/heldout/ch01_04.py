"""Held-out learner-style solutions for chapters 1-4 (attention, complexity, self-attention,
multi-head attention), written from the exercise notebooks' task texts alone.

Each entry of VARIANTS is (exercise_id, "correct" | "wrong", description, candidate).
"""
import math

import numpy as np
import torch
from torch import nn

from course_lib.attention import scaled_dot_product_attention


# =====================================================================================
# Chapter 1, exercise 1: attention.softmax
# =====================================================================================

def softmax_v1(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Subtract the (finite) max of each slice; guard the all -inf slice with a clamp."""
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(x - m)
    s = e.sum(dim=dim, keepdim=True)
    # s >= 1 for every slice with a finite entry; s == 0 only for an all -inf slice,
    # where e is 0 too, so 0 / tiny = 0.
    return e / s.clamp_min(torch.finfo(x.dtype).tiny)


def softmax_v2(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """float64 internals with logsumexp; -inf entries forced to exactly 0; cast back."""
    x64 = x.to(torch.float64)
    lse = torch.logsumexp(x64, dim=dim, keepdim=True)  # -inf for an all -inf slice
    y = torch.exp(x64 - lse)  # nan only where x = -inf and lse = -inf
    y = torch.where(torch.isneginf(x64), torch.zeros_like(y), y)
    return y.to(x.dtype)


def softmax_v3(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shift by .max(dim).values, then torch.where to repair the nan of all -inf slices."""
    shifted = x - x.max(dim=dim, keepdim=True).values
    e = torch.where(torch.isnan(shifted), torch.zeros_like(x), torch.exp(shifted))
    s = e.sum(dim=dim, keepdim=True)
    s = torch.where(s == 0, torch.ones_like(s), s)
    return e / s


def softmax_w1(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Forgets to subtract the max: exp(1e4) overflows to inf, inf/inf = nan."""
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)


def softmax_w2(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Subtracts the max but an all -inf slice gives -inf - -inf = nan, not zeros."""
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def softmax_w3(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Right values, but shifts and exponentiates x in place (x is changed)."""
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    x.sub_(m)
    x.exp_()
    s = x.sum(dim=dim, keepdim=True)
    return x / s.clamp_min(torch.finfo(x.dtype).tiny)


def softmax_w4(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Ignores the dim argument: always normalises along the last axis."""
    m = x.amax(dim=-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(x - m)
    s = e.sum(dim=-1, keepdim=True)
    return e / s.clamp_min(torch.finfo(x.dtype).tiny)


def softmax_w5(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Subtracts one global max instead of each slice's max: a slice near -1e4 next to
    a slice near +1e4 underflows to all zeros (weights no longer sum to one)."""
    finite = x[torch.isfinite(x)]
    m = finite.max() if finite.numel() else torch.zeros((), dtype=x.dtype)
    e = torch.exp(x - m)
    s = e.sum(dim=dim, keepdim=True)
    return torch.where(s == 0, torch.zeros_like(e), e / s)


def softmax_w6(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Computes in float64 for safety but forgets to cast back (float32 in, float64 out)."""
    x64 = x.double()
    m = x64.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(x64 - m)
    s = e.sum(dim=dim, keepdim=True)
    return e / s.clamp_min(torch.finfo(torch.float64).tiny)


# =====================================================================================
# Chapter 1, exercise 2: attention.dot_product_scores
# =====================================================================================

def dot_product_scores_v1(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q @ kᵀ with transpose of the last two axes only."""
    return q @ k.transpose(-2, -1)


def dot_product_scores_v2(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """einsum over the feature axis, any batch dims."""
    return torch.einsum("...id,...jd->...ij", q, k)


def dot_product_scores_v3(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Broadcast (…, L_q, 1, d) * (…, 1, L_k, d) and sum the features."""
    return (q.unsqueeze(-2) * k.unsqueeze(-3)).sum(dim=-1)


def dot_product_scores_w1(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Scales by √d_k although the task says not to scale here."""
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


def dot_product_scores_w2(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """'Transposes' k with reshape: right shape, scrambled numbers."""
    return q @ k.reshape(*k.shape[:-2], k.shape[-1], k.shape[-2])


def dot_product_scores_w3(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Wiring swapped: k @ qᵀ gives (…, L_k, L_q), the transpose of the answer."""
    return k @ q.transpose(-2, -1)


def dot_product_scores_w4(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Assumes exactly one batch axis: permute(0, 2, 1) breaks with two batch axes."""
    return torch.matmul(q, k.permute(0, 2, 1))


# =====================================================================================
# Chapter 1, exercise 3: attention.scaled_dot_product_attention
# =====================================================================================

def _safe_softmax_last(scores: torch.Tensor) -> torch.Tensor:
    """Hand-written softmax over the last axis; an all -inf row gives zeros."""
    m = scores.amax(dim=-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(scores - m)
    s = e.sum(dim=-1, keepdim=True)
    return e / s.clamp_min(torch.finfo(scores.dtype).tiny)


def sdpa_v1(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """masked_fill(-inf), torch.softmax, nan_to_num for fully masked rows."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    weights = torch.nan_to_num(weights, nan=0.0)
    return weights @ v, weights


def sdpa_v2(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """einsum; torch.where with the dtype's most negative number, then zero the masked
    weights (a fully masked row is uniform before, zero after)."""
    scores = torch.einsum("...id,...jd->...ij", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask
    out = torch.einsum("...ij,...jd->...id", weights, v)
    return out, weights


def sdpa_v3(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale the queries first (q/√d_k) kᵀ; own stable softmax, no nan_to_num needed."""
    scores = (q / math.sqrt(q.size(-1))) @ k.mT
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, float("-inf")))
    weights = _safe_softmax_last(scores)
    return torch.matmul(weights, v), weights


def sdpa_w1(q, k, v, mask=None):
    """Missing scale: softmax(q kᵀ) v."""
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def sdpa_w2(q, k, v, mask=None):
    """Divides by d_k instead of √d_k."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def sdpa_w3(q, k, v, mask=None):
    """Mask of the wrong polarity: blocks the keys that are allowed."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def sdpa_w4(q, k, v, mask=None):
    """No guard for a fully masked query: softmax of an all -inf row is nan."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def sdpa_w5(q, k, v, mask=None):
    """Fills with -1e9 instead of -inf: a fully masked query gets uniform weights, not 0."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e9)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def sdpa_w6(q, k, v, mask=None):
    """Masks after the softmax by multiplying: allowed weights no longer sum to one."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v, weights


def sdpa_w7(q, k, v, mask=None):
    """Softmax over the query axis (dim=-2) instead of the key axis."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-2), nan=0.0)
    return weights @ v, weights


def sdpa_w8(q, k, v, mask=None):
    """Scales by √d_v (the width of v) instead of √d_k."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(v.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


# =====================================================================================
# Chapter 1, exercise 4: attention.nadaraya_watson
# =====================================================================================

def nadaraya_watson_v1(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, *,
                       bandwidth: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Column of queries minus row of keys, torch.softmax, matmul (unsqueeze for scalars)."""
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    weights = torch.softmax(-diff ** 2 / (2 * bandwidth ** 2), dim=-1)
    if values.dim() == keys.dim():  # one number per key
        out = (weights @ values.unsqueeze(-1)).squeeze(-1)
    else:
        out = weights @ values
    return out, weights


def nadaraya_watson_v2(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, *,
                       bandwidth: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Own max-shifted softmax; einsum / broadcast-sum for the pooling."""
    d = queries[..., :, None] - keys[..., None, :]
    scores = -(d * d) / (2.0 * bandwidth * bandwidth)
    scores = scores - scores.amax(dim=-1, keepdim=True)
    e = scores.exp()
    weights = e / e.sum(dim=-1, keepdim=True)
    if values.dim() == weights.dim() - 1:
        out = (weights * values.unsqueeze(-2)).sum(dim=-1)
    else:
        out = torch.einsum("...qk,...kd->...qd", weights, values)
    return out, weights


def nadaraya_watson_v3(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, *,
                       bandwidth: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Another algebraic form: -(x - x_i)² = -x² + 2 x x_i - x_i², and -x² is the same for
    every key of one query, so softmax_i((2 x x_i - x_i²) / 2σ²) is the same."""
    q = queries.unsqueeze(-1)
    kk = keys.unsqueeze(-2)
    scores = (2 * q * kk - kk * kk) / (2 * bandwidth ** 2)
    weights = torch.softmax(scores, dim=-1)
    if values.dim() == keys.dim():
        out = torch.einsum("...qk,...k->...q", weights, values)
    else:
        out = torch.einsum("...qk,...kd->...qd", weights, values)
    return out, weights


def nadaraya_watson_w1(queries, keys, values, *, bandwidth=1.0):
    """Forgets the factor 2: -(x - x_i)² / σ²."""
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    weights = torch.softmax(-diff ** 2 / bandwidth ** 2, dim=-1)
    out = (weights @ values.unsqueeze(-1)).squeeze(-1) if values.dim() == keys.dim() \
        else weights @ values
    return out, weights


def nadaraya_watson_w2(queries, keys, values, *, bandwidth=1.0):
    """Divides by 2σ instead of 2σ² (same as correct only at the default σ = 1)."""
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    weights = torch.softmax(-diff ** 2 / (2 * bandwidth), dim=-1)
    out = (weights @ values.unsqueeze(-1)).squeeze(-1) if values.dim() == keys.dim() \
        else weights @ values
    return out, weights


def nadaraya_watson_w3(queries, keys, values, *, bandwidth=1.0):
    """Plain Gaussian kernel exp(...) / sum: far queries give 0/0 = nan."""
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    kern = torch.exp(-diff ** 2 / (2 * bandwidth ** 2))
    weights = kern / kern.sum(dim=-1, keepdim=True)
    out = (weights @ values.unsqueeze(-1)).squeeze(-1) if values.dim() == keys.dim() \
        else weights @ values
    return out, weights


def nadaraya_watson_w4(queries, keys, values, *, bandwidth=1.0):
    """Softmax over the query axis instead of over the keys."""
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    weights = torch.softmax(-diff ** 2 / (2 * bandwidth ** 2), dim=-2)
    out = (weights @ values.unsqueeze(-1)).squeeze(-1) if values.dim() == keys.dim() \
        else weights @ values
    return out, weights


def nadaraya_watson_w5(queries, keys, values, *, bandwidth=1.0):
    """Hard-coded σ = 1: the bandwidth argument is ignored."""
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    weights = torch.softmax(-diff ** 2 / 2.0, dim=-1)
    out = (weights @ values.unsqueeze(-1)).squeeze(-1) if values.dim() == keys.dim() \
        else weights @ values
    return out, weights


def nadaraya_watson_w6(queries, keys, values, *, bandwidth=1.0):
    """Sign dropped: softmax(+(x - x_i)² / 2σ²) favours the farthest keys."""
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)
    weights = torch.softmax(diff ** 2 / (2 * bandwidth ** 2), dim=-1)
    out = (weights @ values.unsqueeze(-1)).squeeze(-1) if values.dim() == keys.dim() \
        else weights @ values
    return out, weights


# =====================================================================================
# Chapter 1, exercise 5: attention.additive_attention
# =====================================================================================

def additive_attention_v1(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
                          w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                          mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Project once, broadcast (…, L_q, 1, h) + (…, 1, L_k, h), masked_fill + nan_to_num."""
    qp = q @ w_q
    kp = k @ w_k
    feats = torch.tanh(qp.unsqueeze(-2) + kp.unsqueeze(-3))
    scores = feats @ w_v
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def additive_attention_v2(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
                          w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                          mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All einsum; torch.where with finfo.min, then multiply the weights by the mask."""
    qp = torch.einsum("...qd,dh->...qh", q, w_q)
    kp = torch.einsum("...kd,dh->...kh", k, w_k)
    scores = torch.einsum("...qkh,h->...qk", torch.tanh(qp[..., :, None, :] + kp[..., None, :, :]), w_v)
    if mask is not None:
        scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask
    return torch.einsum("...qk,...kd->...qd", weights, v), weights


def additive_attention_v3(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
                          w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                          mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A Python loop over the keys, one score column at a time; own safe softmax."""
    qp = q @ w_q                       # (..., L_q, h)
    kp = k @ w_k                       # (..., L_k, h)
    cols = []
    for j in range(k.shape[-2]):
        cols.append(torch.tanh(qp + kp[..., j:j + 1, :]) @ w_v)   # (..., L_q)
    scores = torch.stack(cols, dim=-1)                            # (..., L_q, L_k)
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, float("-inf")))
    weights = _safe_softmax_last(scores)
    return weights @ v, weights


def additive_attention_w1(q, k, v, *, w_q, w_k, w_v, mask=None):
    """Wiring swapped: q @ w_k + k @ w_q."""
    feats = torch.tanh((q @ w_k).unsqueeze(-2) + (k @ w_q).unsqueeze(-3))
    scores = feats @ w_v
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def additive_attention_w2(q, k, v, *, w_q, w_k, w_v, mask=None):
    """tanh applied to each projection separately: w_vᵀ tanh(qW_q) + w_vᵀ tanh(kW_k)."""
    sq = torch.tanh(q @ w_q) @ w_v          # (..., L_q)
    sk = torch.tanh(k @ w_k) @ w_v          # (..., L_k)
    scores = sq.unsqueeze(-1) + sk.unsqueeze(-2)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def additive_attention_w3(q, k, v, *, w_q, w_k, w_v, mask=None):
    """Mask of the wrong polarity."""
    scores = torch.tanh((q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3)) @ w_v
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def additive_attention_w4(q, k, v, *, w_q, w_k, w_v, mask=None):
    """No guard: a fully masked query gives nan weights and output."""
    scores = torch.tanh((q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3)) @ w_v
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def additive_attention_w5(q, k, v, *, w_q, w_k, w_v, mask=None):
    """Copies the √ scale from exercise 3: divides the scores by √h."""
    scores = torch.tanh((q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3)) @ w_v
    scores = scores / math.sqrt(w_v.shape[0])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def additive_attention_w6(q, k, v, *, w_q, w_k, w_v, mask=None):
    """Softmax over the query axis (dim=-2)."""
    scores = torch.tanh((q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3)) @ w_v
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-2), nan=0.0)
    return weights @ v, weights


# =====================================================================================
# Chapter 2, exercise 1: complexity.attention_layer_params
# =====================================================================================

def attention_layer_params_v1(d_model, *, bias=True):
    """4 d² weights plus 4 d biases."""
    return 4 * d_model * d_model + (4 * d_model if bias else 0)


def attention_layer_params_v2(d_model, *, bias=True):
    """Loop over the four projections, each (d_model × d_model) + optional bias."""
    total = 0
    for _name in ("W_Q", "W_K", "W_V", "W_O"):
        total += d_model * d_model
        if bias:
            total += d_model
    return total


def attention_layer_params_v3(d_model, *, bias=True):
    """Factored: 4 d (d + [bias]), returned as a float equal to the count."""
    return float(4 * d_model * (d_model + int(bool(bias))))


def attention_layer_params_w1(d_model, *, bias=True):
    """Forgets the output projection W^O: 3 d² + 3 d."""
    return 3 * d_model * d_model + (3 * d_model if bias else 0)


def attention_layer_params_w2(d_model, *, bias=True):
    """Counts a single bias vector for the whole layer."""
    return 4 * d_model * d_model + (d_model if bias else 0)


def attention_layer_params_w3(d_model, *, bias=True):
    """Ignores the bias flag: always adds the biases."""
    return 4 * d_model * d_model + 4 * d_model


def attention_layer_params_w4(d_model, *, bias=True):
    """Off-by-one: treats each projection as (d+1) × (d+1) (bias as an extra row and column)."""
    return 4 * (d_model + 1) ** 2 if bias else 4 * d_model * d_model


# =====================================================================================
# Chapter 2, exercise 2: complexity.recurrent_layer_params
# =====================================================================================

def recurrent_layer_params_v1(kind, d_model, *, bias=True):
    """gates × (W_ih + W_hh + b_ih + b_hh)."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}
    if kind not in gates:
        raise ValueError(f"kind must be 'rnn', 'lstm' or 'gru', got kind={kind!r}")
    per_gate = 2 * d_model * d_model + (2 * d_model if bias else 0)
    return gates[kind] * per_gate


def recurrent_layer_params_v2(kind, d_model, *, bias=True):
    """if/elif chain; weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0 counted one by one."""
    if kind == "rnn":
        g = 1
    elif kind == "lstm":
        g = 4
    elif kind == "gru":
        g = 3
    else:
        raise ValueError(f"unknown recurrent kind {kind!r} (expected rnn, lstm or gru)")
    weight_ih = g * d_model * d_model
    weight_hh = g * d_model * d_model
    bias_ih = g * d_model if bias else 0
    bias_hh = g * d_model if bias else 0
    return weight_ih + weight_hh + bias_ih + bias_hh


def recurrent_layer_params_w1(kind, d_model, *, bias=True):
    """One bias vector per gate (forgets torch's second bias, bias_hh)."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}
    if kind not in gates:
        raise ValueError(f"unknown kind {kind!r}")
    return gates[kind] * (2 * d_model * d_model + (d_model if bias else 0))


def recurrent_layer_params_w2(kind, d_model, *, bias=True):
    """GRU counted with 2 gates (update, reset), forgetting the candidate block."""
    gates = {"rnn": 1, "lstm": 4, "gru": 2}
    if kind not in gates:
        raise ValueError(f"unknown kind {kind!r}")
    return gates[kind] * (2 * d_model * d_model + (2 * d_model if bias else 0))


def recurrent_layer_params_w3(kind, d_model, *, bias=True):
    """Dict lookup without a check: an unknown kind raises KeyError, not ValueError."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    return gates * (2 * d_model * d_model + (2 * d_model if bias else 0))


def recurrent_layer_params_w4(kind, d_model, *, bias=True):
    """Ignores bias=False."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}
    if kind not in gates:
        raise ValueError(f"unknown kind {kind!r}")
    return gates[kind] * (2 * d_model * d_model + 2 * d_model)


def recurrent_layer_params_w5(kind, d_model, *, bias=True):
    """Right counts, but the ValueError message names neither 'kind' nor its value."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}
    if kind not in gates:
        raise ValueError("unsupported recurrent layer")
    return gates[kind] * (2 * d_model * d_model + (2 * d_model if bias else 0))


# =====================================================================================
# Chapter 2, exercise 3: complexity.conv1d_layer_params
# =====================================================================================

def conv1d_layer_params_v1(d_model, kernel_size, *, bias=True):
    """out × in × k weights plus out biases."""
    return d_model * d_model * kernel_size + (d_model if bias else 0)


def conv1d_layer_params_v2(d_model, kernel_size, *, bias=True):
    """math.prod of the weight shape, plus bias count via int(bias)."""
    weight_shape = (d_model, d_model, kernel_size)
    return math.prod(weight_shape) + int(bool(bias)) * d_model


def conv1d_layer_params_v3(d_model, kernel_size, *, bias=True):
    """Per output channel: in × k weights + 1 bias."""
    return d_model * (d_model * kernel_size + (1 if bias else 0))


def conv1d_layer_params_w1(d_model, kernel_size, *, bias=True):
    """Bias counted per kernel tap: d k instead of d."""
    return d_model * d_model * kernel_size + (d_model * kernel_size if bias else 0)


def conv1d_layer_params_w2(d_model, kernel_size, *, bias=True):
    """Forgets the kernel size: d² + d, like a linear layer."""
    return d_model * d_model + (d_model if bias else 0)


def conv1d_layer_params_w3(d_model, kernel_size, *, bias=True):
    """Ignores bias=False."""
    return d_model * d_model * kernel_size + d_model


def conv1d_layer_params_w4(d_model, kernel_size, *, bias=True):
    """Off-by-one in the kernel: (k - 1) taps."""
    return d_model * d_model * (kernel_size - 1) + (d_model if bias else 0)


# =====================================================================================
# Chapter 2, exercise 4: complexity.layer_complexity
# =====================================================================================

def _ceil_log_int(n, k):
    """Smallest L >= 0 with k**L >= n, with integers only."""
    layers, reach = 0, 1
    while reach < n:
        reach *= k
        layers += 1
    return layers


def layer_complexity_v1(kind, n, d, k=3, r=None):
    """Integer-only: repeated multiplication for log_k, (n + r - 1) // r for n / r."""
    if kind == "self_attention":
        return (n * n * d, 1, 1)
    if kind == "recurrent":
        return (n * d * d, n, n)
    if kind == "convolutional":
        return (k * n * d * d, 1, _ceil_log_int(n, k))
    if kind == "restricted_self_attention":
        if r is None:
            raise ValueError("restricted_self_attention needs r")
        return (r * n * d, 1, (n + r - 1) // r)
    raise ValueError(f"unknown kind {kind!r}")


def layer_complexity_v2(kind, n, d, k=3, r=None):
    """Float log rounded, then corrected with integer powers; -(-n // r); returns a list."""
    if kind == "self_attention":
        return [n ** 2 * d, 1, 1]
    elif kind == "recurrent":
        return [n * d ** 2, n, n]
    elif kind == "convolutional":
        path = round(math.log(n, k)) if n > 1 else 0
        while k ** path < n:
            path += 1
        while path > 0 and k ** (path - 1) >= n:
            path -= 1
        return [k * n * d ** 2, 1, path]
    elif kind == "restricted_self_attention":
        return [r * n * d, 1, -(-n // r)]
    else:
        raise ValueError(f"unknown kind {kind!r}")


def layer_complexity_w1(kind, n, d, k=3, r=None):
    """math.ceil(math.log(n, k)): overshoots at exact powers (125, 5 -> 4)."""
    if kind == "self_attention":
        return (n * n * d, 1, 1)
    if kind == "recurrent":
        return (n * d * d, n, n)
    if kind == "convolutional":
        return (k * n * d * d, 1, math.ceil(math.log(n, k)))
    if kind == "restricted_self_attention":
        return (r * n * d, 1, math.ceil(n / r))
    raise ValueError(kind)


def layer_complexity_w2(kind, n, d, k=3, r=None):
    """Floors instead of ceilings: n // r, and the largest L with k**L <= n."""
    if kind == "self_attention":
        return (n * n * d, 1, 1)
    if kind == "recurrent":
        return (n * d * d, n, n)
    if kind == "convolutional":
        layers, reach = 0, 1
        while reach * k <= n:
            reach *= k
            layers += 1
        return (k * n * d * d, 1, layers)
    if kind == "restricted_self_attention":
        return (r * n * d, 1, n // r)
    raise ValueError(kind)


def layer_complexity_w3(kind, n, d, k=3, r=None):
    """Convolutional complexity without the kernel size: n d²."""
    if kind == "self_attention":
        return (n * n * d, 1, 1)
    if kind == "recurrent":
        return (n * d * d, n, n)
    if kind == "convolutional":
        return (n * d * d, 1, _ceil_log_int(n, k))
    if kind == "restricted_self_attention":
        return (r * n * d, 1, (n + r - 1) // r)
    raise ValueError(kind)


def layer_complexity_w4(kind, n, d, k=3, r=None):
    """Self-attention and recurrent complexities swapped (n d² vs n² d)."""
    if kind == "self_attention":
        return (n * d * d, 1, 1)
    if kind == "recurrent":
        return (n * n * d, n, n)
    if kind == "convolutional":
        return (k * n * d * d, 1, _ceil_log_int(n, k))
    if kind == "restricted_self_attention":
        return (r * n * d, 1, (n + r - 1) // r)
    raise ValueError(kind)


def layer_complexity_w5(kind, n, d, k=3, r=None):
    """Recurrent sequential operations given as 1 (confuses it with the path length column)."""
    if kind == "self_attention":
        return (n * n * d, 1, 1)
    if kind == "recurrent":
        return (n * d * d, 1, n)
    if kind == "convolutional":
        return (k * n * d * d, 1, _ceil_log_int(n, k))
    if kind == "restricted_self_attention":
        return (r * n * d, 1, (n + r - 1) // r)
    raise ValueError(kind)


# =====================================================================================
# Chapter 3, exercise 1: numpy_ref.self_attention
# =====================================================================================

def np_self_attention_v1(x, *, w_q, w_k, w_v, mask=None):
    """Vectorised with @ and np.swapaxes; np.where(-inf); guarded stable softmax."""
    q = x @ w_q
    k = x @ w_k
    v = x @ w_v
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    m = scores.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(scores - m)
    s = e.sum(axis=-1, keepdims=True)
    weights = e / np.where(s > 0, s, 1.0)
    return weights @ v, weights


def np_self_attention_v2(x, *, w_q, w_k, w_v, mask=None):
    """einsum for the products, Python loops for a per-row softmax over allowed keys."""
    B, L, _ = x.shape
    q = np.einsum("bld,dk->blk", x, w_q)
    k = np.einsum("bld,dk->blk", x, w_k)
    v = np.einsum("bld,dv->blv", x, w_v)
    scores = np.einsum("bik,bjk->bij", q, k) / math.sqrt(q.shape[-1])
    if mask is None:
        allowed = np.ones((B, L, L), dtype=bool)
    else:
        allowed = np.broadcast_to(np.asarray(mask, dtype=bool), (B, L, L))
    weights = np.zeros((B, L, L), dtype=scores.dtype)
    for b in range(B):
        for i in range(L):
            idx = allowed[b, i]
            if not idx.any():
                continue  # may attend to nothing: row of zeros
            row = scores[b, i, idx]
            row = np.exp(row - row.max())
            weights[b, i, idx] = row / row.sum()
    out = np.einsum("bij,bjv->biv", weights, v)
    return out, weights


def np_self_attention_w1(x, *, w_q, w_k, w_v, mask=None):
    """Softmax over axis=1 (the query axis) instead of the key axis."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    m = scores.max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(scores - m)
    s = e.sum(axis=1, keepdims=True)
    weights = e / np.where(s > 0, s, 1.0)
    return weights @ v, weights


def np_self_attention_w2(x, *, w_q, w_k, w_v, mask=None):
    """Missing the 1/√d_k scale."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ np.swapaxes(k, -1, -2)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    m = scores.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(scores - m)
    s = e.sum(axis=-1, keepdims=True)
    weights = e / np.where(s > 0, s, 1.0)
    return weights @ v, weights


def np_self_attention_w3(x, *, w_q, w_k, w_v, mask=None):
    """Stable softmax but no guard: a row with nothing allowed gives nan."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = e / e.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def np_self_attention_w4(x, *, w_q, w_k, w_v, mask=None):
    """No max subtraction: large inputs overflow exp to inf (nan weights)."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    e = np.exp(scores)
    if mask is not None:
        e = np.where(mask, e, 0.0)
    s = e.sum(axis=-1, keepdims=True)
    weights = e / np.where(s > 0, s, 1.0)
    return weights @ v, weights


def np_self_attention_w5(x, *, w_q, w_k, w_v, mask=None):
    """Right outputs, but folds the scale into w_q in place (the caller's w_q changes)."""
    w_q /= np.sqrt(w_q.shape[-1])
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ np.swapaxes(k, -1, -2)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    m = scores.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(scores - m)
    s = e.sum(axis=-1, keepdims=True)
    weights = e / np.where(s > 0, s, 1.0)
    return weights @ v, weights


def np_self_attention_w6(x, *, w_q, w_k, w_v, mask=None):
    """Correct out, but returns the weights transposed (weights[b, j, i])."""
    out, weights = np_self_attention_v1(x, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask)
    return out, np.swapaxes(weights, -1, -2)


# =====================================================================================
# Chapter 3, exercise 2: attention.self_attention
# =====================================================================================

def self_attention_v1(x, *, w_q, w_k, w_v, mask=None):
    """Project, then chapter 1's scaled_dot_product_attention."""
    return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v, mask)


def self_attention_v2(x, *, w_q, w_k, w_v, mask=None):
    """einsum projections; torch.where(finfo.min) then weights * mask."""
    q = torch.einsum("bld,dk->blk", x, w_q)
    k = torch.einsum("bld,dk->blk", x, w_k)
    v = torch.einsum("bld,dv->blv", x, w_v)
    scores = torch.einsum("bik,bjk->bij", q, k) / math.sqrt(w_q.shape[1])
    if mask is not None:
        scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask
    return torch.einsum("bij,bjv->biv", weights, v), weights


def self_attention_v3(x, *, w_q, w_k, w_v, mask=None):
    """torch.matmul, scale on q, own guarded softmax (no nan at any point)."""
    q = torch.matmul(x, w_q) / math.sqrt(w_q.shape[-1])
    k = torch.matmul(x, w_k)
    v = torch.matmul(x, w_v)
    scores = torch.matmul(q, k.transpose(1, 2))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = _safe_softmax_last(scores)
    return torch.matmul(weights, v), weights


def self_attention_w1(x, *, w_q, w_k, w_v, mask=None):
    """Wiring swapped: keys from w_v and values from w_k."""
    return scaled_dot_product_attention(x @ w_q, x @ w_v, x @ w_k, mask)


def self_attention_w2(x, *, w_q, w_k, w_v, mask=None):
    """Goes through numpy: right numbers, but gradients cannot reach x or the matrices."""
    xn, qn, kn, vn = (t.detach().cpu().numpy() for t in (x, w_q, w_k, w_v))
    mn = None if mask is None else mask.detach().cpu().numpy()
    out, weights = np_self_attention_v1(xn, w_q=qn, w_k=kn, w_v=vn, mask=mn)
    return torch.from_numpy(out), torch.from_numpy(weights)


def self_attention_w3(x, *, w_q, w_k, w_v, mask=None):
    """Scales by √d_model (width of x) instead of √d_k."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def self_attention_w4(x, *, w_q, w_k, w_v, mask=None):
    """Mask of the wrong polarity (passes ~mask)."""
    return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v,
                                        None if mask is None else ~mask)


def self_attention_w5(x, *, w_q, w_k, w_v, mask=None):
    """Queries and keys swapped in the score: k qᵀ, so weights come out transposed."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = k @ q.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


def self_attention_w6(x, *, w_q, w_k, w_v, mask=None):
    """Casts to float32 'for speed': float64 in, float32 out."""
    x32 = x.float()
    return scaled_dot_product_attention(x32 @ w_q.float(), x32 @ w_k.float(),
                                        x32 @ w_v.float(), mask)


# =====================================================================================
# Chapter 3, exercise 3: attention.SelfAttention
# =====================================================================================

class SelfAttention_v1(nn.Module):
    """nn.Linear layers and chapter 1's scaled_dot_product_attention; message with a tuple."""

    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        if d_v is None:
            d_v = d_k
        self.d_model = d_model
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v, bias=bias)

    def forward(self, x, mask=None):
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, L, {self.d_model}), got {tuple(x.shape)}")
        return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)


class SelfAttention_v2(nn.Module):
    """Uses the layers' weight/bias by hand (x @ W.T + b), einsum, torch.where masking;
    the error message prints x.shape as torch.Size."""

    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        d_v = d_k if d_v is None else d_v
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v, bias=bias)

    @staticmethod
    def _project(layer, x):
        y = x @ layer.weight.T
        if layer.bias is not None:
            y = y + layer.bias
        return y

    def forward(self, x, mask=None):
        d_model = self.w_q.in_features
        if x.ndim != 3 or x.size(-1) != d_model:
            raise ValueError(f"expected x of shape (batch, length, {d_model}), "
                             f"but x.shape = {x.shape}")
        q = self._project(self.w_q, x)
        k = self._project(self.w_k, x)
        v = self._project(self.w_v, x)
        scores = torch.einsum("bik,bjk->bij", q, k) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights * mask
        return torch.einsum("bij,bjv->biv", weights, v), weights


class SelfAttention_w1(nn.Module):
    """d_v defaults to d_model instead of d_k."""

    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        d_v = d_model if d_v is None else d_v
        self.d_model = d_model
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v, bias=bias)

    def forward(self, x, mask=None):
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, L, {self.d_model}), got {tuple(x.shape)}")
        return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)


class SelfAttention_w2(nn.Module):
    """Forgets to pass bias=bias: nn.Linear's default adds biases even when bias=False."""

    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        d_v = d_k if d_v is None else d_v
        self.d_model = d_model
        self.w_q = nn.Linear(d_model, d_k)
        self.w_k = nn.Linear(d_model, d_k)
        self.w_v = nn.Linear(d_model, d_v)

    def forward(self, x, mask=None):
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, L, {self.d_model}), got {tuple(x.shape)}")
        return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)


class SelfAttention_w3(nn.Module):
    """No input check: a bad x fails inside nn.Linear with a RuntimeError, not ValueError."""

    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        d_v = d_k if d_v is None else d_v
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v, bias=bias)

    def forward(self, x, mask=None):
        return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)


class SelfAttention_w4(nn.Module):
    """Multiplies by layer.weight without the transpose (treats it as (d_model, d_out))."""

    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        d_v = d_k if d_v is None else d_v
        self.d_model = d_model
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v, bias=bias)

    def forward(self, x, mask=None):
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, L, {self.d_model}), got {tuple(x.shape)}")
        q = x @ self.w_q.weight
        k = x @ self.w_k.weight
        v = x @ self.w_v.weight
        if self.w_q.bias is not None:
            q, k, v = q + self.w_q.bias, k + self.w_k.bias, v + self.w_v.bias
        return scaled_dot_product_attention(q, k, v, mask)


class SelfAttention_w5(nn.Module):
    """Checks only that x is 3-D, not its last dimension."""

    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        d_v = d_k if d_v is None else d_v
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v, bias=bias)

    def forward(self, x, mask=None):
        if x.dim() != 3:
            raise ValueError(f"x must be 3-D (B, L, d_model), got shape {tuple(x.shape)}")
        return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)


class SelfAttention_w6(nn.Module):
    """Mask of the wrong polarity."""

    def __init__(self, d_model, d_k, d_v=None, *, bias=False):
        super().__init__()
        d_v = d_k if d_v is None else d_v
        self.d_model = d_model
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v, bias=bias)

    def forward(self, x, mask=None):
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, L, {self.d_model}), got {tuple(x.shape)}")
        return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x),
                                            None if mask is None else ~mask)


# =====================================================================================
# Chapter 4, exercise 1: multihead.split_heads
# =====================================================================================

def split_heads_v1(x, num_heads):
    """reshape to (B, L, H, d_head), then swap L and H."""
    B, L, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} does not divide d_model={d_model}")
    return x.reshape(B, L, num_heads, d_model // num_heads).transpose(1, 2)


def split_heads_v2(x, num_heads):
    """chunk the feature axis into H pieces and stack them on a new head axis."""
    d_model = x.shape[-1]
    if num_heads <= 0 or d_model % num_heads:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    return torch.stack(torch.chunk(x, num_heads, dim=-1), dim=1)


def split_heads_v3(x, num_heads):
    """unflatten + permute, contiguous copy."""
    if x.shape[-1] % num_heads != 0:
        raise ValueError("num_heads must divide d_model")
    return x.unflatten(-1, (num_heads, x.shape[-1] // num_heads)).permute(0, 2, 1, 3).contiguous()


def split_heads_w1(x, num_heads):
    """Right shape, wrong tensor: reshape straight to (B, H, L, d_head)."""
    B, L, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError("num_heads must divide d_model")
    return x.reshape(B, num_heads, L, d_model // num_heads)


def split_heads_w2(x, num_heads):
    """Interleaved heads: (B, L, d_head, H) then permute, so head h gets features h, h+H, ..."""
    B, L, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError("num_heads must divide d_model")
    return x.reshape(B, L, d_model // num_heads, num_heads).permute(0, 3, 1, 2)


def split_heads_w3(x, num_heads):
    """No divisibility check: torch's reshape raises RuntimeError instead of ValueError."""
    B, L, d_model = x.shape
    return x.reshape(B, L, num_heads, d_model // num_heads).transpose(1, 2)


def split_heads_w4(x, num_heads):
    """Operands of % swapped: rejects valid head counts (3 heads of 12 -> 3 % 12 != 0)."""
    B, L, d_model = x.shape
    if num_heads % d_model != 0:
        raise ValueError("num_heads must divide d_model")
    return x.reshape(B, L, num_heads, d_model // num_heads).transpose(1, 2)


# =====================================================================================
# Chapter 4, exercise 2: multihead.merge_heads
# =====================================================================================

def merge_heads_v1(x):
    """transpose back, reshape (copies when needed)."""
    B, H, L, d_head = x.shape
    return x.transpose(1, 2).reshape(B, L, H * d_head)


def merge_heads_v2(x):
    """Concatenate the heads side by side along the features, head 0 first."""
    return torch.cat(x.unbind(dim=1), dim=-1)


def merge_heads_v3(x):
    """permute, contiguous, view; flatten(-2) style."""
    return x.permute(0, 2, 1, 3).contiguous().flatten(start_dim=-2)


def merge_heads_w1(x):
    """No transpose: reshape (B, H, L, d) straight to (B, L, H d), scrambling positions."""
    B, H, L, d_head = x.shape
    return x.reshape(B, L, H * d_head)


def merge_heads_w2(x):
    """view after transpose: fails on a non-contiguous tensor (e.g. a plain contiguous
    (B, H, L, d) input, whose transpose is not contiguous)."""
    B, H, L, d_head = x.shape
    return x.transpose(1, 2).view(B, L, H * d_head)


def merge_heads_w3(x):
    """Wrong axis order: (B, L, d, H), so features of the heads are interleaved."""
    B, H, L, d_head = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, L, H * d_head)


def merge_heads_w4(x):
    """Transposes the wrong pair of axes (2, 3) before reshaping."""
    B, H, L, d_head = x.shape
    return x.transpose(2, 3).reshape(B, L, H * d_head)


# =====================================================================================
# Chapter 4, exercise 3: multihead.MultiHeadAttention
# =====================================================================================

class MultiHeadAttention_v1(nn.Module):
    """split_heads_v1 / merge_heads_v1, masked_fill(-inf) + nan_to_num."""

    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"num_heads={num_heads} does not divide d_model={d_model}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        q = split_heads_v1(self.w_q(query), self.num_heads)   # (B, H, L_q, d_head)
        k = split_heads_v1(self.w_k(key), self.num_heads)     # (B, H, L_k, d_head)
        v = split_heads_v1(self.w_v(value), self.num_heads)   # (B, H, L_k, d_head)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        if mask is not None:
            if mask.dim() == 3:          # (B, L_q, L_k) -> (B, 1, L_q, L_k)
                mask = mask.unsqueeze(1)
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        out = self.w_o(merge_heads_v1(weights @ v))
        return out, weights


class MultiHeadAttention_v2(nn.Module):
    """split_heads_v2 / merge_heads_v2 (chunk/cat), einsum, torch.where(finfo.min) then
    weights * mask, output projection applied by hand through its weight and bias."""

    def __init__(self, d_model, num_heads):
        super().__init__()
        if num_heads <= 0 or d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.h = num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        q = split_heads_v2(self.w_q(query), self.h)
        k = split_heads_v2(self.w_k(key), self.h)
        v = split_heads_v2(self.w_v(value), self.h)
        d_head = q.shape[-1]
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) * (1.0 / math.sqrt(d_head))
        if mask is not None:
            m = mask if mask.dim() == 2 else mask[:, None, :, :]
            scores = torch.where(m, scores, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights * m
        heads = torch.einsum("bhqk,bhkd->bhqd", weights, v)
        concat = merge_heads_v2(heads)
        out = concat @ self.w_o.weight.T + self.w_o.bias
        return out, weights


class _MHABase(nn.Module):
    """Shared constructor for the wrong variants below (correct constructor)."""

    def __init__(self, d_model, num_heads):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"num_heads={num_heads} does not divide d_model={d_model}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    @staticmethod
    def _mask4(mask):
        if mask is None:
            return None
        return mask.unsqueeze(1) if mask.dim() == 3 else mask


class MultiHeadAttention_w1(_MHABase):
    """Scales by √d_model instead of √d_head."""

    def forward(self, query, key, value, mask=None):
        q = split_heads_v1(self.w_q(query), self.num_heads)
        k = split_heads_v1(self.w_k(key), self.num_heads)
        v = split_heads_v1(self.w_v(value), self.num_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_model)
        mask = self._mask4(mask)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return self.w_o(merge_heads_v1(weights @ v)), weights


class MultiHeadAttention_w2(_MHABase):
    """Always unsqueezes the mask at dim 1: a (L_q, L_k) mask becomes (L_q, 1, L_k)."""

    def forward(self, query, key, value, mask=None):
        q = split_heads_v1(self.w_q(query), self.num_heads)
        k = split_heads_v1(self.w_k(key), self.num_heads)
        v = split_heads_v1(self.w_v(value), self.num_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        if mask is not None:
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return self.w_o(merge_heads_v1(weights @ v)), weights


class MultiHeadAttention_w3(_MHABase):
    """Forgets the output projection W^O (returns the concatenated heads)."""

    def forward(self, query, key, value, mask=None):
        q = split_heads_v1(self.w_q(query), self.num_heads)
        k = split_heads_v1(self.w_k(key), self.num_heads)
        v = split_heads_v1(self.w_v(value), self.num_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        mask = self._mask4(mask)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return merge_heads_v1(weights @ v), weights


class MultiHeadAttention_w4(_MHABase):
    """Uses a split that has the right shape but the wrong layout (reshape to (B, H, L, d))."""

    def forward(self, query, key, value, mask=None):
        q = split_heads_w1(self.w_q(query), self.num_heads)
        k = split_heads_w1(self.w_k(key), self.num_heads)
        v = split_heads_w1(self.w_v(value), self.num_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        mask = self._mask4(mask)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        B, H, L, d = weights.shape[0], self.num_heads, q.shape[2], self.d_head
        return self.w_o((weights @ v).reshape(B, L, H * d)), weights


class MultiHeadAttention_w5(_MHABase):
    """Returns the head-averaged weights (B, L_q, L_k), like nn.MultiheadAttention."""

    def forward(self, query, key, value, mask=None):
        q = split_heads_v1(self.w_q(query), self.num_heads)
        k = split_heads_v1(self.w_k(key), self.num_heads)
        v = split_heads_v1(self.w_v(value), self.num_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        mask = self._mask4(mask)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return self.w_o(merge_heads_v1(weights @ v)), weights.mean(dim=1)


class MultiHeadAttention_w6(_MHABase):
    """Mask of the wrong polarity."""

    def forward(self, query, key, value, mask=None):
        q = split_heads_v1(self.w_q(query), self.num_heads)
        k = split_heads_v1(self.w_k(key), self.num_heads)
        v = split_heads_v1(self.w_v(value), self.num_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        mask = self._mask4(mask)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return self.w_o(merge_heads_v1(weights @ v)), weights


class MultiHeadAttention_w7(_MHABase):
    """Wiring swapped: keys projected from `value` and values from `key` (invisible when
    key is value)."""

    def forward(self, query, key, value, mask=None):
        q = split_heads_v1(self.w_q(query), self.num_heads)
        k = split_heads_v1(self.w_k(value), self.num_heads)
        v = split_heads_v1(self.w_v(key), self.num_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        mask = self._mask4(mask)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return self.w_o(merge_heads_v1(weights @ v)), weights


class MultiHeadAttention_w8(nn.Module):
    """No divisibility check anywhere: d_head = d_model // H, and the unchecked split
    fails later with torch's RuntimeError, never a ValueError."""

    def __init__(self, d_model, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        q = split_heads_w3(self.w_q(query), self.num_heads)
        k = split_heads_w3(self.w_k(key), self.num_heads)
        v = split_heads_w3(self.w_v(value), self.num_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        if mask is not None:
            if mask.dim() == 3:
                mask = mask.unsqueeze(1)
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return self.w_o(merge_heads_v1(weights @ v)), weights


# =====================================================================================
# The list
# =====================================================================================

VARIANTS = [
    # ---- attention.softmax
    ("attention.softmax", "correct", "amax shift with non-finite max replaced by 0; clamp the denominator", softmax_v1),
    ("attention.softmax", "correct", "float64 logsumexp, -inf entries forced to 0, cast back to input dtype", softmax_v2),
    ("attention.softmax", "correct", "max().values shift, torch.where repairs nan of all -inf slices", softmax_v3),
    ("attention.softmax", "wrong", "forgets to subtract the max: overflows at large inputs", softmax_w1),
    ("attention.softmax", "wrong", "no guard: an all -inf slice gives nan instead of zeros", softmax_w2),
    ("attention.softmax", "wrong", "right values but mutates x in place (sub_/exp_)", softmax_w3),
    ("attention.softmax", "wrong", "ignores dim: always normalises the last axis", softmax_w4),
    ("attention.softmax", "wrong", "one global max for all slices: slices far below it underflow to zeros", softmax_w5),
    ("attention.softmax", "wrong", "float64 internals not cast back: float32 in, float64 out", softmax_w6),
    # ---- attention.dot_product_scores
    ("attention.dot_product_scores", "correct", "q @ k.transpose(-2, -1)", dot_product_scores_v1),
    ("attention.dot_product_scores", "correct", "einsum '...id,...jd->...ij'", dot_product_scores_v2),
    ("attention.dot_product_scores", "correct", "broadcast product and sum over features", dot_product_scores_v3),
    ("attention.dot_product_scores", "wrong", "scales by sqrt(d_k) although told not to", dot_product_scores_w1),
    ("attention.dot_product_scores", "wrong", "reshape instead of transpose: right shape, wrong numbers", dot_product_scores_w2),
    ("attention.dot_product_scores", "wrong", "wiring swapped: k @ q^T, shape (..., L_k, L_q)", dot_product_scores_w3),
    ("attention.dot_product_scores", "wrong", "permute(0, 2, 1): assumes exactly one batch axis", dot_product_scores_w4),
    # ---- attention.scaled_dot_product_attention
    ("attention.scaled_dot_product_attention", "correct", "masked_fill(-inf), torch.softmax, nan_to_num", sdpa_v1),
    ("attention.scaled_dot_product_attention", "correct", "einsum, where(finfo.min), weights * mask", sdpa_v2),
    ("attention.scaled_dot_product_attention", "correct", "scale q first, hand-written guarded softmax", sdpa_v3),
    ("attention.scaled_dot_product_attention", "wrong", "missing 1/sqrt(d_k) scale", sdpa_w1),
    ("attention.scaled_dot_product_attention", "wrong", "divides by d_k instead of sqrt(d_k)", sdpa_w2),
    ("attention.scaled_dot_product_attention", "wrong", "mask of the wrong polarity", sdpa_w3),
    ("attention.scaled_dot_product_attention", "wrong", "fully masked query gives nan (no guard)", sdpa_w4),
    ("attention.scaled_dot_product_attention", "wrong", "-1e9 fill: fully masked query gets uniform weights", sdpa_w5),
    ("attention.scaled_dot_product_attention", "wrong", "mask multiplied after softmax: rows no longer sum to one", sdpa_w6),
    ("attention.scaled_dot_product_attention", "wrong", "softmax over the query axis", sdpa_w7),
    ("attention.scaled_dot_product_attention", "wrong", "scales by sqrt(d_v) instead of sqrt(d_k)", sdpa_w8),
    # ---- attention.nadaraya_watson
    ("attention.nadaraya_watson", "correct", "broadcast difference, torch.softmax, matmul", nadaraya_watson_v1),
    ("attention.nadaraya_watson", "correct", "own shifted softmax, broadcast-sum / einsum pooling", nadaraya_watson_v2),
    ("attention.nadaraya_watson", "correct", "expanded square without the per-query x^2 term", nadaraya_watson_v3),
    ("attention.nadaraya_watson", "wrong", "missing factor 2 in 2 sigma^2", nadaraya_watson_w1),
    ("attention.nadaraya_watson", "wrong", "bandwidth not squared: / (2 sigma)", nadaraya_watson_w2),
    ("attention.nadaraya_watson", "wrong", "plain kernel / sum without max shift: nan far away", nadaraya_watson_w3),
    ("attention.nadaraya_watson", "wrong", "softmax over queries (dim=-2)", nadaraya_watson_w4),
    ("attention.nadaraya_watson", "wrong", "hard-coded sigma = 1", nadaraya_watson_w5),
    ("attention.nadaraya_watson", "wrong", "sign dropped: favours far keys", nadaraya_watson_w6),
    # ---- attention.additive_attention
    ("attention.additive_attention", "correct", "project once, broadcast-add, masked_fill + nan_to_num", additive_attention_v1),
    ("attention.additive_attention", "correct", "einsum, where(finfo.min), weights * mask", additive_attention_v2),
    ("attention.additive_attention", "correct", "loop over keys, stack score columns, guarded softmax", additive_attention_v3),
    ("attention.additive_attention", "wrong", "w_q and w_k swapped", additive_attention_w1),
    ("attention.additive_attention", "wrong", "tanh of each projection separately, then added", additive_attention_w2),
    ("attention.additive_attention", "wrong", "mask of the wrong polarity", additive_attention_w3),
    ("attention.additive_attention", "wrong", "fully masked query gives nan", additive_attention_w4),
    ("attention.additive_attention", "wrong", "extra 1/sqrt(h) scale copied from exercise 3", additive_attention_w5),
    ("attention.additive_attention", "wrong", "softmax over the query axis", additive_attention_w6),
    # ---- complexity.attention_layer_params
    ("complexity.attention_layer_params", "correct", "4 d^2 + 4 d", attention_layer_params_v1),
    ("complexity.attention_layer_params", "correct", "loop over the four projections", attention_layer_params_v2),
    ("complexity.attention_layer_params", "correct", "4 d (d + bias) as a float", attention_layer_params_v3),
    ("complexity.attention_layer_params", "wrong", "forgets W^O: 3 d^2 + 3 d", attention_layer_params_w1),
    ("complexity.attention_layer_params", "wrong", "a single bias vector", attention_layer_params_w2),
    ("complexity.attention_layer_params", "wrong", "ignores bias=False", attention_layer_params_w3),
    ("complexity.attention_layer_params", "wrong", "off-by-one: 4 (d+1)^2", attention_layer_params_w4),
    # ---- complexity.recurrent_layer_params
    ("complexity.recurrent_layer_params", "correct", "gates dict x (2 d^2 + 2 d)", recurrent_layer_params_v1),
    ("complexity.recurrent_layer_params", "correct", "if/elif, four tensors counted one by one", recurrent_layer_params_v2),
    ("complexity.recurrent_layer_params", "wrong", "one bias per gate (forgets bias_hh)", recurrent_layer_params_w1),
    ("complexity.recurrent_layer_params", "wrong", "GRU with 2 gate blocks instead of 3", recurrent_layer_params_w2),
    ("complexity.recurrent_layer_params", "wrong", "unknown kind raises KeyError, not ValueError", recurrent_layer_params_w3),
    ("complexity.recurrent_layer_params", "wrong", "ignores bias=False", recurrent_layer_params_w4),
    ("complexity.recurrent_layer_params", "wrong", "ValueError message names neither 'kind' nor its value", recurrent_layer_params_w5),
    # ---- complexity.conv1d_layer_params
    ("complexity.conv1d_layer_params", "correct", "d*d*k + d", conv1d_layer_params_v1),
    ("complexity.conv1d_layer_params", "correct", "math.prod of weight shape + int(bias)*d", conv1d_layer_params_v2),
    ("complexity.conv1d_layer_params", "correct", "d (d k + 1)", conv1d_layer_params_v3),
    ("complexity.conv1d_layer_params", "wrong", "bias counted per kernel tap", conv1d_layer_params_w1),
    ("complexity.conv1d_layer_params", "wrong", "forgets the kernel size", conv1d_layer_params_w2),
    ("complexity.conv1d_layer_params", "wrong", "ignores bias=False", conv1d_layer_params_w3),
    ("complexity.conv1d_layer_params", "wrong", "off-by-one: (k - 1) taps", conv1d_layer_params_w4),
    # ---- complexity.layer_complexity
    ("complexity.layer_complexity", "correct", "integers only: repeated multiplication, (n + r - 1) // r", layer_complexity_v1),
    ("complexity.layer_complexity", "correct", "rounded float log corrected by integer powers; list return", layer_complexity_v2),
    ("complexity.layer_complexity", "wrong", "math.ceil(math.log(n, k)) overshoots at exact powers", layer_complexity_w1),
    ("complexity.layer_complexity", "wrong", "floors instead of ceilings", layer_complexity_w2),
    ("complexity.layer_complexity", "wrong", "convolutional complexity missing k", layer_complexity_w3),
    ("complexity.layer_complexity", "wrong", "self-attention and recurrent complexities swapped", layer_complexity_w4),
    ("complexity.layer_complexity", "wrong", "recurrent sequential operations = 1", layer_complexity_w5),
    # ---- numpy_ref.self_attention
    ("numpy_ref.self_attention", "correct", "vectorised @ / swapaxes, np.where(-inf), guarded softmax", np_self_attention_v1),
    ("numpy_ref.self_attention", "correct", "einsum + per-row Python loops over allowed keys", np_self_attention_v2),
    ("numpy_ref.self_attention", "wrong", "softmax over axis=1 (queries)", np_self_attention_w1),
    ("numpy_ref.self_attention", "wrong", "missing 1/sqrt(d_k)", np_self_attention_w2),
    ("numpy_ref.self_attention", "wrong", "row with nothing allowed gives nan", np_self_attention_w3),
    ("numpy_ref.self_attention", "wrong", "no max subtraction: overflow on large inputs", np_self_attention_w4),
    ("numpy_ref.self_attention", "wrong", "divides w_q in place (input mutated), outputs right", np_self_attention_w5),
    ("numpy_ref.self_attention", "wrong", "weights returned transposed", np_self_attention_w6),
    # ---- attention.self_attention
    ("attention.self_attention", "correct", "project, then course_lib scaled_dot_product_attention", self_attention_v1),
    ("attention.self_attention", "correct", "einsum, where(finfo.min), weights * mask", self_attention_v2),
    ("attention.self_attention", "correct", "matmul, scale on q, guarded hand softmax", self_attention_v3),
    ("attention.self_attention", "wrong", "keys from w_v and values from w_k", self_attention_w1),
    ("attention.self_attention", "wrong", "numpy round trip: no gradients", self_attention_w2),
    ("attention.self_attention", "wrong", "scales by sqrt(d_model) instead of sqrt(d_k)", self_attention_w3),
    ("attention.self_attention", "wrong", "mask of the wrong polarity", self_attention_w4),
    ("attention.self_attention", "wrong", "k q^T: weights transposed", self_attention_w5),
    ("attention.self_attention", "wrong", "casts to float32: dtype not kept", self_attention_w6),
    # ---- attention.SelfAttention
    ("attention.SelfAttention", "correct", "nn.Linear + course_lib sdpa, tuple shape in message", SelfAttention_v1),
    ("attention.SelfAttention", "correct", "manual x @ W.T + b, einsum, where masking, torch.Size in message", SelfAttention_v2),
    ("attention.SelfAttention", "wrong", "d_v defaults to d_model", SelfAttention_w1),
    ("attention.SelfAttention", "wrong", "bias not passed: layers always have biases", SelfAttention_w2),
    ("attention.SelfAttention", "wrong", "no input check (RuntimeError instead of ValueError)", SelfAttention_w3),
    ("attention.SelfAttention", "wrong", "x @ weight without transpose", SelfAttention_w4),
    ("attention.SelfAttention", "wrong", "checks x.dim() only, not the last dimension", SelfAttention_w5),
    ("attention.SelfAttention", "wrong", "mask of the wrong polarity", SelfAttention_w6),
    # ---- multihead.split_heads
    ("multihead.split_heads", "correct", "reshape (B, L, H, d) + transpose(1, 2)", split_heads_v1),
    ("multihead.split_heads", "correct", "chunk + stack on dim 1", split_heads_v2),
    ("multihead.split_heads", "correct", "unflatten + permute + contiguous", split_heads_v3),
    ("multihead.split_heads", "wrong", "reshape straight to (B, H, L, d): right shape, wrong tensor", split_heads_w1),
    ("multihead.split_heads", "wrong", "interleaved heads via (B, L, d, H)", split_heads_w2),
    ("multihead.split_heads", "wrong", "no ValueError: torch raises RuntimeError", split_heads_w3),
    ("multihead.split_heads", "wrong", "divisibility test with operands swapped", split_heads_w4),
    # ---- multihead.merge_heads
    ("multihead.merge_heads", "correct", "transpose(1, 2).reshape", merge_heads_v1),
    ("multihead.merge_heads", "correct", "torch.cat(x.unbind(1), -1)", merge_heads_v2),
    ("multihead.merge_heads", "correct", "permute, contiguous, flatten", merge_heads_v3),
    ("multihead.merge_heads", "wrong", "reshape without the transpose", merge_heads_w1),
    ("multihead.merge_heads", "wrong", "view on a non-contiguous tensor", merge_heads_w2),
    ("multihead.merge_heads", "wrong", "features interleaved: (B, L, d, H)", merge_heads_w3),
    ("multihead.merge_heads", "wrong", "transposes axes (2, 3) instead of (1, 2)", merge_heads_w4),
    # ---- multihead.MultiHeadAttention
    ("multihead.MultiHeadAttention", "correct", "reshape split/merge, masked_fill + nan_to_num", MultiHeadAttention_v1),
    ("multihead.MultiHeadAttention", "correct", "chunk/cat split/merge, einsum, where(finfo.min), manual W^O", MultiHeadAttention_v2),
    ("multihead.MultiHeadAttention", "wrong", "scales by sqrt(d_model) instead of sqrt(d_head)", MultiHeadAttention_w1),
    ("multihead.MultiHeadAttention", "wrong", "mask always unsqueezed at dim 1: (L_q, L_k) masks break", MultiHeadAttention_w2),
    ("multihead.MultiHeadAttention", "wrong", "forgets the output projection W^O", MultiHeadAttention_w3),
    ("multihead.MultiHeadAttention", "wrong", "wrong head split/merge layout (plain reshape)", MultiHeadAttention_w4),
    ("multihead.MultiHeadAttention", "wrong", "returns head-averaged weights (B, L_q, L_k)", MultiHeadAttention_w5),
    ("multihead.MultiHeadAttention", "wrong", "mask of the wrong polarity", MultiHeadAttention_w6),
    ("multihead.MultiHeadAttention", "wrong", "keys from value and values from key (cross-attention)", MultiHeadAttention_w7),
    ("multihead.MultiHeadAttention", "wrong", "no ValueError for num_heads not dividing d_model", MultiHeadAttention_w8),
]
