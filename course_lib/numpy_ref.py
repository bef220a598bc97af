"""The course's math in plain numpy: the from-scratch view and an independent test oracle.

Each function has the same name and signature as its torch version in ``course_lib`` and
shares no code with it, so agreement between the two is evidence, not a tautology.
Arrays are ``numpy.ndarray``; shapes follow the glossary in ``course_lib/__init__.py``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "dot_product_scores", "scaled_dot_product_attention", "self_attention"]


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


def self_attention(x, *, w_q, w_k, w_v, mask=None):
    """Compute one head of self-attention, softmax((x W_Q)(x W_K)ᵀ / √d_k)(x W_V), in numpy.

    Written out one query position at a time, as in the notes' "Thinking Machines" walk-through,
    so that it shares neither code nor vectorisation with the torch version.

    Parameters
    ----------
    x : ndarray, shape (B, L, d_model)
    w_q, w_k : ndarray, shape (d_model, d_k)
    w_v : ndarray, shape (d_model, d_v)
    mask : ndarray of bool, broadcastable to (B, L, L), optional
        True where position ``i`` may attend to position ``j``.

    Returns
    -------
    out : ndarray, shape (B, L, d_v)
    weights : ndarray, shape (B, L, L); a position allowed to attend to nothing gets zeros.
    """
    x = np.asarray(x, dtype=np.float64)
    w_q, w_k, w_v = (np.asarray(w, dtype=np.float64) for w in (w_q, w_k, w_v))
    if x.ndim != 3 or x.shape[-1] != w_q.shape[0]:
        raise ValueError(f"x has shape {x.shape}; expected (B, L, d_model={w_q.shape[0]})")
    if w_k.shape != w_q.shape or w_v.shape[0] != w_q.shape[0]:
        raise ValueError(f"w_k {w_k.shape} and w_v {w_v.shape} do not match w_q {w_q.shape}")
    batch, length, _ = x.shape
    allowed = np.ones((batch, length, length), dtype=bool)
    if mask is not None:
        allowed = np.broadcast_to(np.asarray(mask, dtype=bool), allowed.shape)
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # each position's query, key and value
    scale = np.sqrt(w_q.shape[1])
    out = np.zeros((batch, length, w_v.shape[1]))
    weights = np.zeros((batch, length, length))
    for b in range(batch):
        for i in range(length):
            keep = allowed[b, i]
            if not keep.any():
                continue  # nothing to attend to: zero weights, zero output
            scores = np.array([q[b, i] @ k[b, j] for j in range(length)]) / scale
            e = np.where(keep, np.exp(scores - scores[keep].max()), 0.0)
            weights[b, i] = e / e.sum()
            out[b, i] = sum(weights[b, i, j] * v[b, j] for j in range(length))
    return out, weights
