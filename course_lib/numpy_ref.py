"""The course's math in plain numpy: the from-scratch view and an independent test oracle.

Each function has the same name and signature as its torch version in ``course_lib`` and
shares no code with it, so agreement between the two is evidence, not a tautology.
Arrays are ``numpy.ndarray``; shapes follow the glossary in ``course_lib/__init__.py``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "softmax",
    "dot_product_scores",
    "scaled_dot_product_attention",
    "additive_attention",
    "nadaraya_watson",
    "causal_mask",
    "padding_mask",
    "positionwise_ffn",
    "layer_norm",
]


def softmax(x: np.ndarray, dim: int = -1) -> np.ndarray:
    """Normalise ``x`` along ``dim`` into weights summing to one (max-subtracted, stable).

    Parameters
    ----------
    x : ndarray, any shape
    dim : int, default -1

    Returns
    -------
    ndarray, same shape as ``x``; an all ``-inf`` slice gives zeros.
    """
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=dim, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(x - m)
    s = np.sum(e, axis=dim, keepdims=True)
    return e / np.where(s > 0, s, 1.0)


def dot_product_scores(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Return ``q @ kᵀ``: shape (..., L_q, d_k) × (..., L_k, d_k) → (..., L_q, L_k)."""
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q has d_k={q.shape[-1]} but k has d_k={k.shape[-1]}; expected equal")
    return np.einsum("...id,...jd->...ij", q, k)


def scaled_dot_product_attention(q, k, v, mask=None, dropout_p: float = 0.0):
    """Compute softmax(q kᵀ / √d_k) v with a boolean mask (True = may attend), in numpy.

    Parameters
    ----------
    q : ndarray, shape (..., L_q, d_k)
    k : ndarray, shape (..., L_k, d_k)
    v : ndarray, shape (..., L_k, d_v)
    mask : ndarray of bool, broadcastable to (..., L_q, L_k), optional
    dropout_p : float
        Must be 0.0: the reference is deterministic.

    Returns
    -------
    out : ndarray, shape (..., L_q, d_v)
    weights : ndarray, shape (..., L_q, L_k); rows with no allowed key are zero.
    """
    if dropout_p != 0.0:
        raise ValueError(f"dropout_p={dropout_p}; the numpy reference supports only 0.0")
    v = np.asarray(v, dtype=np.float64)
    scores = dot_product_scores(q, k) / np.sqrt(np.shape(q)[-1])
    if mask is not None:
        scores = np.where(np.asarray(mask, dtype=bool), scores, -np.inf)
    weights = softmax(scores, dim=-1)
    return weights @ v, weights


def additive_attention(q, k, v, *, w_q, w_k, w_v, mask=None):
    """Compute Bahdanau attention with scores ``w_vᵀ tanh(q W_q + k W_k)``, in numpy.

    Parameters
    ----------
    q : ndarray, shape (..., L_q, d_q)
    k : ndarray, shape (..., L_k, d_k)
    v : ndarray, shape (..., L_k, d_v)
    w_q : ndarray, shape (d_q, h)
    w_k : ndarray, shape (d_k, h)
    w_v : ndarray, shape (h,)
    mask : ndarray of bool, broadcastable to (..., L_q, L_k), optional

    Returns
    -------
    out : ndarray, shape (..., L_q, d_v)
    weights : ndarray, shape (..., L_q, L_k)
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    hidden_q = np.einsum("...id,dh->...ih", q, w_q)
    hidden_k = np.einsum("...jd,dh->...jh", k, w_k)
    scores = np.einsum("...ijh,h->...ij", np.tanh(hidden_q[..., :, None, :] + hidden_k[..., None, :, :]), w_v)
    if mask is not None:
        scores = np.where(np.asarray(mask, dtype=bool), scores, -np.inf)
    weights = softmax(scores, dim=-1)
    return weights @ v, weights


def nadaraya_watson(queries, keys, values, *, bandwidth: float = 1.0):
    """Gaussian-kernel regression, weights ``softmax(-(x_q - x_k)² / (2σ²))``, in numpy.

    Parameters
    ----------
    queries : ndarray, shape (..., L_q)
    keys : ndarray, shape (..., L_k)
    values : ndarray, shape (..., L_k) or (..., L_k, d_v)
    bandwidth : float
        The kernel width ``σ > 0``.

    Returns
    -------
    out : ndarray, shape (..., L_q) or (..., L_q, d_v)
    weights : ndarray, shape (..., L_q, L_k)
    """
    if not bandwidth > 0:
        raise ValueError(f"bandwidth={bandwidth}; expected a positive kernel width")
    queries, keys, values = (np.asarray(a, dtype=np.float64) for a in (queries, keys, values))
    weights = softmax(-np.square(queries[..., :, None] - keys[..., None, :]) / (2.0 * bandwidth**2), dim=-1)
    if values.ndim == keys.ndim:
        return np.einsum("...ij,...j->...i", weights, values), weights
    return weights @ values, weights


# -- masks (chapter 5): True means "may attend" ------------------------------------------------


def causal_mask(L: int) -> np.ndarray:
    """Return the (L, L) look-ahead mask: True on and below the diagonal (keys j <= query i)."""
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 0:
        raise ValueError(f"L={L!r}; expected a non-negative int")
    return np.tril(np.ones((L, L), dtype=bool))


def padding_mask(lengths, max_len: int) -> np.ndarray:
    """Return the (B, 1, max_len) mask that is True on the first ``lengths[b]`` keys of row b."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or (lengths.size and not np.issubdtype(lengths.dtype, np.integer)):
        raise ValueError(f"lengths has shape {lengths.shape} and dtype {lengths.dtype}; expected (B,) ints")
    if lengths.size and (lengths.min() < 0 or lengths.max() > max_len):
        raise ValueError(f"lengths={lengths.tolist()} has values outside [0, max_len={max_len}]")
    mask = np.zeros((len(lengths), 1, max_len), dtype=bool)
    for b, n in enumerate(lengths):
        mask[b, 0, :n] = True
    return mask


# -- feed-forward network (chapter 6) and layer normalisation (chapter 7) -----------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def positionwise_ffn(x, w1, b1, w2, b2, activation: str = "relu") -> np.ndarray:
    """Apply ``act(x W1 + b1) W2 + b2`` to every position (the paper's eq. 2), in numpy.

    Parameters
    ----------
    x : ndarray, shape (..., d_model)
    w1 : ndarray, shape (d_model, d_ff)
        The paper's ``W_1`` (torch's ``linear1.weight`` is its transpose).
    b1 : ndarray, shape (d_ff,)
    w2 : ndarray, shape (d_ff, d_model)
    b2 : ndarray, shape (d_model,)
    activation : {"relu", "gelu"}
        ``max(0, h)``, or the exact GELU ``h Φ(h)`` with the normal CDF written with erf.

    Returns
    -------
    ndarray, shape (..., d_model)
    """
    x, w1, b1, w2, b2 = (np.asarray(a, dtype=np.float64) for a in (x, w1, b1, w2, b2))
    if activation not in ("relu", "gelu"):
        raise ValueError(f"activation={activation!r}; expected 'relu' or 'gelu'")
    if w1.shape != (x.shape[-1], b1.shape[0]) or w2.shape != (b1.shape[0], b2.shape[0]):
        raise ValueError(
            f"x {x.shape}, w1 {w1.shape}, b1 {b1.shape}, w2 {w2.shape}, b2 {b2.shape}; expected "
            f"(..., d_model), (d_model, d_ff), (d_ff,), (d_ff, d_model), (d_model,)"
        )
    h = x @ w1 + b1
    h = np.maximum(h, 0.0) if activation == "relu" else h * 0.5 * (1.0 + _erf(h / math.sqrt(2.0)))
    return h @ w2 + b2


def layer_norm(x, gamma, beta, eps: float = 1e-5) -> np.ndarray:
    """Normalise over the last axis with the biased variance, eps inside the root, then ``γ·+β``."""
    x = np.asarray(x, dtype=np.float64)
    gamma, beta = np.asarray(gamma, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    if gamma.shape != (x.shape[-1],) or beta.shape != (x.shape[-1],):
        raise ValueError(f"gamma {gamma.shape} and beta {beta.shape}; expected ({x.shape[-1]},) each")
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)  # numpy's default ddof=0 is the biased variance
    return gamma * (x - mu) / np.sqrt(var + eps) + beta
