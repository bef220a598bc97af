"""The course's math in plain numpy: the from-scratch view and an independent test oracle.

Each function has the same name and signature as its torch version in ``course_lib`` and
shares no code with it, so agreement between the two is evidence, not a tautology.
Arrays are ``numpy.ndarray``; shapes follow the glossary in ``course_lib/__init__.py``.
"""

from __future__ import annotations

import math

import numpy as np

from course_lib import _validate

__all__ = [
    "softmax",
    "dot_product_scores",
    "scaled_dot_product_attention",
    "additive_attention",
    "nadaraya_watson",
    "self_attention",
    "split_heads",
    "merge_heads",
    "multi_head_attention",
    "causal_mask",
    "padding_mask",
    "positionwise_ffn",
    "layer_norm",
    "sinusoidal_encoding",
]

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _array(name: str, x, min_ndim: int = 0, expected: str = "") -> np.ndarray:
    """``x`` as a float64 array with at least ``min_ndim`` axes, or a ValueError naming ``name``."""
    what = expected or f"an array with at least {min_ndim} axes"
    if x is None or isinstance(x, (str, bytes)):
        raise _validate.fail(name, x, what)
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise _validate.fail(name, x, what) from None
    if a.ndim < min_ndim:
        raise ValueError(f"{name} has shape {a.shape}; expected {what}")
    return a


def _mask(mask, shape: tuple) -> np.ndarray:
    """A boolean mask broadcastable to ``shape`` as is (True = may attend)."""
    m = np.asarray(mask)
    if m.dtype != bool:
        raise ValueError(f"mask has dtype {m.dtype}; expected a boolean array (True = may attend)")
    try:
        out = np.broadcast_shapes(m.shape, shape)
    except ValueError:
        out = None
    if out != tuple(shape):
        raise ValueError(f"mask has shape {m.shape}; expected a shape broadcastable to {tuple(shape)}")
    return m


# -- attention (chapters 1-3) --------------------------------------------------------------


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
    x = _array("x", x)
    dim = _validate.integer("dim", dim, minimum=-max(x.ndim, 1), maximum=max(x.ndim, 1) - 1,
                            expected=f"an axis of x, which has {x.ndim} dimensions")
    if x.ndim and x.shape[dim] == 0:
        return x.copy()  # nothing to normalise over
    m = np.max(x, axis=dim, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(x - m)
    s = np.sum(e, axis=dim, keepdims=True)
    return e / np.where(s > 0, s, 1.0)


def dot_product_scores(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Return ``q @ kᵀ``: shape (..., L_q, d_k) × (..., L_k, d_k) → (..., L_q, L_k)."""
    q, k = _array("q", q, 2, "(..., L_q, d_k)"), _array("k", k, 2, "(..., L_k, d_k)")
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
    if _validate.probability("dropout_p", dropout_p) != 0.0:
        raise ValueError(f"dropout_p={dropout_p}; the numpy reference supports only 0.0")
    v = _array("v", v, 2, "(..., L_k, d_v)")
    scores = dot_product_scores(q, k)
    if np.shape(q)[-1] == 0:
        raise ValueError(f"q has shape {np.shape(q)}; expected (..., L_q, d_k) with d_k >= 1")
    if v.shape[-2] != np.shape(k)[-2]:
        raise ValueError(f"v has shape {v.shape}; expected one value per key, L_k={np.shape(k)[-2]}")
    scores = scores / np.sqrt(np.shape(q)[-1])
    if mask is not None:
        scores = np.where(_mask(mask, scores.shape), scores, -np.inf)
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
    q, k, v = (_array(n, a, 2) for n, a in (("q", q), ("k", k), ("v", v)))
    w_q, w_k, w_v = (_array(n, a) for n, a in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v)))
    if w_q.shape[:1] != q.shape[-1:] or w_q.ndim != 2:
        raise ValueError(f"w_q has shape {w_q.shape}; expected (d_q, h) = ({q.shape[-1]}, h)")
    if w_k.shape != (k.shape[-1], w_q.shape[1]) or w_v.shape != (w_q.shape[1],):
        raise ValueError(f"w_k has shape {w_k.shape} and w_v {w_v.shape}; expected ({k.shape[-1]}, "
                         f"{w_q.shape[1]}) and ({w_q.shape[1]},)")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"v has shape {v.shape}; expected one value per key, L_k={k.shape[-2]}")
    hidden_q = np.einsum("...id,dh->...ih", q, w_q)
    hidden_k = np.einsum("...jd,dh->...jh", k, w_k)
    scores = np.einsum("...ijh,h->...ij", np.tanh(hidden_q[..., :, None, :] + hidden_k[..., None, :, :]), w_v)
    if mask is not None:
        scores = np.where(_mask(mask, scores.shape), scores, -np.inf)
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
    _validate.positive("bandwidth", bandwidth)
    queries, keys = _array("queries", queries, 1), _array("keys", keys, 1)
    values = _array("values", values, 1)
    if values.ndim not in (keys.ndim, keys.ndim + 1) or values.shape[keys.ndim - 1] != keys.shape[-1]:
        raise ValueError(f"values has shape {values.shape}; expected (..., L_k) or (..., L_k, d_v), L_k={keys.shape[-1]}")
    weights = softmax(-np.square(queries[..., :, None] - keys[..., None, :]) / (2.0 * bandwidth**2), dim=-1)
    if values.ndim == keys.ndim:
        return np.einsum("...ij,...j->...i", weights, values), weights
    return weights @ values, weights


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


# -- multi-head attention (chapter 4) ------------------------------------------------------


def split_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """Cut the feature axis into ``num_heads`` slices, one per head, stacked on a new axis 1.

    Parameters
    ----------
    x : ndarray, shape (B, L, d_model)
    num_heads : int
        Must divide ``d_model``.

    Returns
    -------
    ndarray, shape (B, H, L, d_head); ``out[:, h] == x[:, :, h*d_head:(h+1)*d_head]``.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x has shape {x.shape}; expected (B, L, d_model)")
    num_heads = _validate.positive_int("num_heads", num_heads)
    if x.shape[-1] % num_heads != 0:
        raise ValueError(f"d_model={x.shape[-1]} is not divisible by num_heads={num_heads}")
    d_head = x.shape[-1] // num_heads
    return np.stack([x[:, :, h * d_head:(h + 1) * d_head] for h in range(num_heads)], axis=1)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """Concatenate the heads' features position by position: (B, H, L, d_head) → (B, L, H·d_head).

    Parameters
    ----------
    x : ndarray, shape (B, H, L, d_head)

    Returns
    -------
    ndarray, shape (B, L, H·d_head); the inverse of :func:`split_heads`.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x has shape {x.shape}; expected (B, H, L, d_head)")
    return np.concatenate([x[:, h] for h in range(x.shape[1])], axis=-1)


def multi_head_attention(
    query,
    key,
    value,
    *,
    w_q,
    w_k,
    w_v,
    w_o,
    num_heads: int,
    b_q=None,
    b_k=None,
    b_v=None,
    b_o=None,
    mask=None,
):
    """Compute Concat(head_1, …, head_H) W^O, head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V).

    Vaswani et al. (2017), §3.2.2, literally: a loop over heads, head ``i`` using the
    column block ``i`` of each projection matrix. The weights multiply from the right as
    in the paper (``x @ w``), so pass ``linear.weight.T`` for a ``torch.nn.Linear``.

    Parameters
    ----------
    query : ndarray, shape (B, L_q, d_model)
    key, value : ndarray, shape (B, L_k, d_model)
    w_q, w_k, w_v, w_o : ndarray, shape (d_model, d_model)
        Keyword-only: they are easy to swap.
    num_heads : int
        Must divide ``d_model``.
    b_q, b_k, b_v, b_o : ndarray, shape (d_model,), optional
        Biases added after each projection.
    mask : ndarray of bool, broadcastable to (B, L_q, L_k), optional
        True = may attend; shared by all heads.

    Returns
    -------
    out : ndarray, shape (B, L_q, d_model)
    weights : ndarray, shape (B, H, L_q, L_k)
    """
    query, key, value = (np.asarray(a, dtype=np.float64) for a in (query, key, value))
    d_model = query.shape[-1]
    num_heads = _validate.positive_int("num_heads", num_heads)
    if np.shape(w_o) != (d_model, d_model):
        raise ValueError(f"w_o has shape {np.shape(w_o)}; expected (d_model, d_model) = ({d_model}, {d_model})")
    if d_model % num_heads != 0:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    d_head = d_model // num_heads

    def project(x, w, b, cols):
        y = x @ np.asarray(w, dtype=np.float64)[:, cols]
        return y if b is None else y + np.asarray(b, dtype=np.float64)[cols]

    heads, weights = [], []
    for h in range(num_heads):
        cols = slice(h * d_head, (h + 1) * d_head)  # head h's block of W_q, W_k, W_v
        out_h, weights_h = scaled_dot_product_attention(
            project(query, w_q, b_q, cols), project(key, w_k, b_k, cols),
            project(value, w_v, b_v, cols), mask=mask,
        )
        heads.append(out_h)
        weights.append(weights_h)
    out = project(np.concatenate(heads, axis=-1), w_o, b_o, slice(None))  # Concat(...) W^O
    return out, np.stack(weights, axis=1)


# -- masks (chapter 5): True means "may attend" --------------------------------------------


def causal_mask(L: int) -> np.ndarray:
    """Return the (L, L) look-ahead mask: True on and below the diagonal (keys j <= query i)."""
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 0:
        raise ValueError(f"L={L!r}; expected a non-negative int")
    return np.tril(np.ones((L, L), dtype=bool))


def padding_mask(lengths, max_len: int) -> np.ndarray:
    """Return the (B, 1, max_len) mask that is True on the first ``lengths[b]`` keys of row b."""
    max_len = _validate.non_negative_int("max_len", max_len)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or (lengths.size and not np.issubdtype(lengths.dtype, np.integer)):
        raise ValueError(f"lengths has shape {lengths.shape} and dtype {lengths.dtype}; expected (B,) ints")
    if lengths.size and (lengths.min() < 0 or lengths.max() > max_len):
        raise ValueError(f"lengths={lengths.tolist()} has values outside [0, max_len={max_len}]")
    mask = np.zeros((len(lengths), 1, max_len), dtype=bool)
    for b, n in enumerate(lengths):
        mask[b, 0, :n] = True
    return mask


# -- position-wise feed-forward network (chapter 6) ----------------------------------------


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


# -- layer normalisation (chapter 7) -------------------------------------------------------


def layer_norm(x, gamma, beta, eps: float = 1e-5) -> np.ndarray:
    """Normalise over the last axis with the biased variance, eps inside the root, then ``γ·+β``."""
    x = np.asarray(x, dtype=np.float64)
    gamma, beta = np.asarray(gamma, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    if gamma.shape != (x.shape[-1],) or beta.shape != (x.shape[-1],):
        raise ValueError(f"gamma {gamma.shape} and beta {beta.shape}; expected ({x.shape[-1]},) each")
    eps = _validate.real("eps", eps, low=0.0, expected="a finite number >= 0")
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)  # numpy's default ddof=0 is the biased variance
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


# -- positional encoding (chapter 8) -------------------------------------------------------


def sinusoidal_encoding(max_len: int, d_model: int) -> np.ndarray:
    """Return the (max_len, d_model) table PE[pos, 2i] = sin(pos/10000^(2i/d)), PE[pos, 2i+1] = cos(...)."""
    for name, value in (("max_len", max_len), ("d_model", d_model)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name}={value!r}; expected a positive int")
    if d_model % 2:
        raise ValueError(f"d_model={d_model} is odd; expected an even d_model")
    column = np.arange(d_model)
    pair_start = column - column % 2  # 2i for both columns of pair i
    angle = np.arange(max_len)[:, None] / np.power(10000.0, pair_start / d_model)[None, :]
    return np.where(column % 2 == 0, np.sin(angle), np.cos(angle))
