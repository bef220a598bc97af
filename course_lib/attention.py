"""Attention as a soft dictionary lookup: score, normalise, take a weighted sum (chapters 1-3).

Every function here follows the same three steps of the course notes (注意力的本质):

1. compare each query with every key to get a score (相似度);
2. turn one query's scores into weights that are positive and sum to one (softmax);
3. return the weighted sum of the values (加权求和).

Chapter 3 adds self-attention (自注意力): :func:`self_attention` and the module
:class:`SelfAttention` project one sequence into queries, keys and values and run the same
three steps within it.

Shapes follow the glossary in ``course_lib/__init__.py``: ``q`` is ``(..., L_q, d_k)``,
``k`` is ``(..., L_k, d_k)``, ``v`` is ``(..., L_k, d_v)``, where ``...`` is any number of
leading batch dimensions (``B`` or ``B, H``). A mask is boolean, broadcastable to
``(..., L_q, L_k)``, and **True means "may attend"**.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validate import (
    boolean, broadcast_shape, fail, floating, integer, module_dtype, positive, positive_int, probability, same_dtype, shape_error,
    tensor,
)

__all__ = [
    "softmax",
    "masked_softmax",
    "dot_product_scores",
    "scaled_dot_product_attention",
    "additive_attention",
    "nadaraya_watson",
    "self_attention",
    "SelfAttention",
]


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Normalise ``x`` along ``dim`` into positive weights that sum to one, without overflow.

    .. math:: \\mathrm{softmax}(x)_i = \\frac{e^{x_i - m}}{\\sum_j e^{x_j - m}},
              \\quad m = \\max_j x_j

    Subtracting the maximum ``m`` changes nothing mathematically but keeps every exponent
    at or below zero, so logits of ``1e4`` or ``-1e4`` neither overflow nor give NaN.

    Parameters
    ----------
    x : Tensor, any shape
        Logits (scores).
    dim : int, default -1
        The axis to normalise over: for attention, the key axis.

    Returns
    -------
    Tensor, same shape as ``x``
        Weights in ``[0, 1]`` summing to one along ``dim``. A slice whose entries are all
        ``-inf`` (a query whose keys are all masked) gives all zeros instead of NaN, and so
        does an empty ``dim`` (no keys at all): the output is then empty too.
    """
    floating("x", x)
    dim = integer("dim", dim, minimum=-max(x.dim(), 1), maximum=max(x.dim(), 1) - 1,
                  expected=f"an axis of x, which has {x.dim()} dimensions")
    if x.dim() == 0 or x.shape[dim] == 0:  # nothing to normalise over: amax has no maximum to take
        return torch.softmax(x, dim=dim) if x.dim() == 0 else torch.zeros_like(x)
    # torch.softmax evaluates exactly this formula, max shift included, in one fused pass
    # over x (and one fused backward); spelt out as amax, subtract, exp, sum and divide it
    # costs about five passes over x each way. What it lacks is our rule for an all -inf
    # slice, where the formula reads 0/0 = NaN: such a slice gets finite logits, then zero
    # weights, so no NaN, not even in the gradient. No `if` on the data: torch.func.vmap
    # (chapter 3 takes the Jacobian row by row) cannot branch on a tensor's values.
    empty = x.amax(dim=dim, keepdim=True) == float("-inf")  # (..., 1, ...): no finite entry
    return torch.where(empty, 0.0, torch.softmax(torch.where(empty, 0.0, x), dim=dim))


def _check_mask(mask: Tensor, scores_shape: torch.Size, name: str = "mask") -> None:
    """Raise ValueError unless ``mask`` is boolean and broadcasts to ``scores_shape`` as is."""
    if not isinstance(mask, Tensor):
        raise ValueError(f"{name} is a {type(mask).__name__}; expected a boolean torch.Tensor (True = may attend)")
    if mask.dtype != torch.bool:
        raise fail(name, mask, "a boolean tensor (True = may attend)")
    expected = tuple(scores_shape)
    try:
        out = broadcast_shape(mask.shape, scores_shape)
    except RuntimeError:
        raise shape_error(name, mask, f"a shape that broadcasts to the scores' shape {expected} = (..., L_q, L_k)",
                          "it does not broadcast") from None
    if out != expected:
        raise shape_error(name, mask, f"a shape broadcastable to {expected}, e.g. (L_q, L_k) or (B, L_q, L_k)",
                          f"broadcasting it would enlarge the scores from {expected} to {out}")


def masked_softmax(scores: Tensor, mask: Tensor | None = None) -> Tensor:
    """Softmax over the key axis of ``scores``, giving zero weight where ``mask`` is False.

    Parameters
    ----------
    scores : Tensor, shape (..., L_q, L_k)
        Finite scores: keys are hidden with ``mask``, not with ``-inf`` scores.
    mask : Tensor of bool, broadcastable to (..., L_q, L_k), optional
        True where a query may attend to a key.

    Returns
    -------
    Tensor, shape (..., L_q, L_k)
        Each row sums to one over its allowed keys; a row with no allowed key is all zeros.
    """
    # torch.softmax is :func:`softmax` without its all -inf rule, which costs two passes over
    # the scores; here no row is all -inf: the scores are finite, and the mask is handled below.
    floating("scores", scores)
    if mask is None:
        return torch.softmax(scores, dim=-1)
    _check_mask(mask, scores.shape)
    has_key = mask.any(dim=-1, keepdim=True)  # (..., L_q, 1): False for a query that may see no key
    # Every False becomes -inf: exactly zero weight, in every dtype. The bias has the mask's
    # small shape, and adding it costs less than a masked_fill of the scores (an addition
    # passes its gradient back unchanged). A query with no allowed key stays unmasked, as its
    # softmax would be 0/0 = NaN, and its weights are zeroed after.
    bias = torch.zeros_like(mask, dtype=scores.dtype).masked_fill(~mask & has_key, float("-inf"))
    weights = torch.softmax(scores + bias, dim=-1)
    # The zeroing is a pass over all the weights, forward and backward: skip it when every
    # query has a key. (The test reads the small mask, never the scores, so torch.func.vmap
    # over the scores still works.)
    return weights if bool(has_key.all()) else weights * has_key


def _check_batched(name: str, x: Tensor, expected: str) -> None:
    if tensor(name, x, shape=expected).dim() < 2:
        raise shape_error(name, x, expected)


def dot_product_scores(q: Tensor, k: Tensor) -> Tensor:
    """Score every query against every key with a dot product: ``q @ k^T``.

    Parameters
    ----------
    q : Tensor, shape (..., L_q, d_k)
    k : Tensor, shape (..., L_k, d_k)

    Returns
    -------
    Tensor, shape (..., L_q, L_k)
        ``scores[..., i, j] = q[..., i, :] · k[..., j, :]``.
    """
    _check_queries_keys(q, k)
    return q @ k.transpose(-2, -1)  # (..., L_q, L_k)


def _check_queries_keys(q: Tensor, k: Tensor) -> None:
    _check_batched("q", q, "(..., L_q, d_k)")
    _check_batched("k", k, "(..., L_k, d_k)")
    floating("q", q)
    same_dtype(("q", q), ("k", k))
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q has d_k={q.shape[-1]} (shape {tuple(q.shape)}) but k has d_k={k.shape[-1]} "
            f"(shape {tuple(k.shape)}); expected the same last dimension"
        )
    try:
        broadcast_shape(q.shape[:-2], k.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"q's batch dimensions {tuple(q.shape[:-2])} do not broadcast with k's "
            f"{tuple(k.shape[:-2])}"
        ) from None


def _check_values(k: Tensor, v: Tensor) -> None:
    _check_batched("v", v, "(..., L_k, d_v)")
    same_dtype(("k", k), ("v", v))
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"v has shape {tuple(v.shape)} with L_k={v.shape[-2]}, but k has shape "
            f"{tuple(k.shape)} with L_k={k.shape[-2]}; expected one value per key"
        )


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    *,
    scale_scores: bool = True,
) -> tuple[Tensor, Tensor]:
    """Attend from each query to all keys: softmax(q kᵀ / √d_k) v (Vaswani et al. 2017, eq. 1).

    The explicit teaching version: scale, matmul, mask, softmax, matmul. Trainable modules
    can use :func:`torch.nn.functional.scaled_dot_product_attention` instead (``fast=True``).

    Parameters
    ----------
    q : Tensor, shape (..., L_q, d_k)
        Queries, floating point, ``d_k >= 1``. ``...`` is any number of batch dimensions,
        e.g. ``(B,)`` or ``(B, H)``. ``L_q = 0`` gives an empty output.
    k : Tensor, shape (..., L_k, d_k)
        Keys, in the dtype of ``q``. ``L_k = 0`` (no keys) gives zero outputs, as for a
        query whose keys are all masked.
    v : Tensor, shape (..., L_k, d_v)
        Values; ``d_v`` may differ from ``d_k``.
    mask : Tensor of bool, broadcastable to (..., L_q, L_k), optional
        True where query ``i`` may attend to key ``j``. A query with no allowed key gets
        all-zero weights and a zero output, never NaN. A mask that would enlarge the scores
        by broadcasting is a ``ValueError``.
    dropout_p : float, default 0.0
        Dropout probability applied to the weights (always, as in the torch function: pass
        0.0 at evaluation time).
    scale_scores : bool, default True
        Divide the scores by ``√d_k`` (the paper). False: ``softmax(q kᵀ) v``, the unscaled
        dot product that chapter 3 warns about, kept as a switch for ablations.

    Returns
    -------
    out : Tensor, shape (..., L_q, d_v)
        ``weights @ v``.
    weights : Tensor, shape (..., L_q, L_k)
        The attention weights that multiplied ``v`` (after dropout, if any).
    """
    _check_queries_keys(q, k)
    _check_values(k, v)
    if q.shape[-1] == 0:  # the scale 1/√d_k would be 1/0: every score NaN
        raise shape_error("q", q, "(..., L_q, d_k) with d_k >= 1", "the scores are scaled by 1/sqrt(d_k)")
    dropout_p = probability("dropout_p", dropout_p)
    # (q / √d_k) kᵀ equals q kᵀ / √d_k, and scaling q costs L_q·d_k multiplications
    # instead of L_q·L_k: a pass over the (..., L_q, L_k) scores saved, forward and backward.
    if boolean("scale_scores", scale_scores):
        q = q / math.sqrt(q.shape[-1])
    scores = dot_product_scores(q, k)  # (..., L_q, L_k)
    weights = masked_softmax(scores, mask)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)
    return weights @ v, weights


def additive_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    w_q: Tensor,
    w_k: Tensor,
    w_v: Tensor,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Attend with Bahdanau's additive score ``w_vᵀ tanh(W_q q + W_k k)`` (Bahdanau et al. 2015).

    A small one-hidden-layer network scores each query–key pair, so queries and keys may
    have different widths. The weights are passed keyword-only because ``w_q`` and ``w_k``
    are easy to swap.

    Parameters
    ----------
    q : Tensor, shape (..., L_q, d_q)
    k : Tensor, shape (..., L_k, d_k)
    v : Tensor, shape (..., L_k, d_v)
    w_q : Tensor, shape (d_q, h)
        Projects queries into the hidden space of width ``h``.
    w_k : Tensor, shape (d_k, h)
        Projects keys into the same hidden space.
    w_v : Tensor, shape (h,)
        Reduces a hidden vector to a scalar score.
    mask : Tensor of bool, broadcastable to (..., L_q, L_k), optional
        True = may attend.

    Returns
    -------
    out : Tensor, shape (..., L_q, d_v)
    weights : Tensor, shape (..., L_q, L_k)
    """
    _check_batched("q", q, "(..., L_q, d_q)")
    _check_batched("k", k, "(..., L_k, d_k)")
    floating("q", q)
    _check_values(k, v)
    for name, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v)):
        tensor(name, w)
    same_dtype(("q", q), ("k", k), ("w_q", w_q), ("w_k", w_k), ("w_v", w_v))
    if w_q.dim() != 2 or w_q.shape[0] != q.shape[-1]:
        raise ValueError(f"w_q has shape {tuple(w_q.shape)}; expected (d_q, h) = ({q.shape[-1]}, h)")
    if w_k.dim() != 2 or w_k.shape[0] != k.shape[-1]:
        raise ValueError(f"w_k has shape {tuple(w_k.shape)}; expected (d_k, h) = ({k.shape[-1]}, h)")
    hidden = w_q.shape[1]
    if w_k.shape[1] != hidden or tuple(w_v.shape) != (hidden,):
        raise ValueError(
            f"w_k has shape {tuple(w_k.shape)} and w_v has shape {tuple(w_v.shape)}; "
            f"expected ({k.shape[-1]}, {hidden}) and ({hidden},) to match w_q's hidden width {hidden}"
        )
    # Broadcast every query against every key in the hidden space.
    features = torch.tanh((q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3))  # (..., L_q, L_k, h)
    scores = features @ w_v  # (..., L_q, L_k)
    weights = masked_softmax(scores, mask)
    return weights @ v, weights


def nadaraya_watson(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    *,
    bandwidth: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Predict at ``queries`` by Gaussian-kernel regression: attention pooling with fixed scores.

    Nadaraya (1964) and Watson (1964) estimate ``f(x)`` as a weighted average of the
    training targets, the weights a softmax of ``-(x - x_i)² / (2σ²)``: a query attends to
    the training points near it. Nothing is learned except, optionally, the bandwidth ``σ``.

    Parameters
    ----------
    queries : Tensor, shape (..., L_q)
        Scalar inputs where a prediction is wanted.
    keys : Tensor, shape (..., L_k)
        Scalar training inputs ``x_i``.
    values : Tensor, shape (..., L_k) or (..., L_k, d_v)
        Training targets ``y_i``.
    bandwidth : float, default 1.0
        Kernel width ``σ > 0``: small values follow the data closely, large ones smooth it.

    Returns
    -------
    out : Tensor, shape (..., L_q) or (..., L_q, d_v)
        The predictions, shaped like ``values`` with ``L_k`` replaced by ``L_q``.
    weights : Tensor, shape (..., L_q, L_k)
    """
    if isinstance(bandwidth, Tensor):  # a learnable σ stays a tensor, so that it gets a gradient
        if not bool((bandwidth > 0).all()):
            raise fail("bandwidth", bandwidth, "a positive kernel width")
    else:
        bandwidth = positive("bandwidth", bandwidth)
    for name, x in (("queries", queries), ("keys", keys), ("values", values)):
        floating(name, x)
    same_dtype(("queries", queries), ("keys", keys), ("values", values))
    if queries.dim() < 1 or keys.dim() < 1:
        raise ValueError(
            f"queries has shape {tuple(queries.shape)} and keys has shape {tuple(keys.shape)}; "
            f"expected (..., L_q) and (..., L_k)"
        )
    vector_values = values.dim() == keys.dim() + 1
    if values.dim() not in (keys.dim(), keys.dim() + 1) or values.shape[keys.dim() - 1] != keys.shape[-1]:
        raise ValueError(
            f"values has shape {tuple(values.shape)}; expected (..., L_k) or (..., L_k, d_v) "
            f"with L_k={keys.shape[-1]} as in keys {tuple(keys.shape)}"
        )
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)  # (..., L_q, L_k)
    weights = softmax(-(diff**2) / (2 * bandwidth**2), dim=-1)
    if vector_values:
        return weights @ values, weights
    return (weights @ values.unsqueeze(-1)).squeeze(-1), weights


# -- Chapter 3: self-attention (自注意力) ----------------------------------------------------


def _check_sequence(x: Tensor, d_model: int) -> None:
    """Raise ValueError unless ``x`` is a batch of sequences of ``d_model``-wide vectors."""
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != d_model:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x has shape {got}; expected (B, L, d_model={d_model})")


def _check_matrix(name: str, w: Tensor, rows: int | None, cols: int | None, expected: str) -> None:
    """Raise ValueError unless ``w`` is a 2-D tensor with ``rows`` × ``cols`` (None = any)."""
    ok = (
        isinstance(w, Tensor)
        and w.dim() == 2
        and rows in (None, w.shape[0])
        and cols in (None, w.shape[1])
    )
    if not ok:
        got = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
        raise ValueError(f"{name} has shape {got}; expected {expected}")


def _check_projections(w_q: Tensor, w_k: Tensor, w_v: Tensor) -> tuple[int, int, int]:
    """Check the three projection matrices agree; return ``(d_model, d_k, d_v)``."""
    _check_matrix("w_q", w_q, None, None, "(d_model, d_k)")
    d_model, d_k = w_q.shape
    _check_matrix("w_k", w_k, d_model, d_k, f"(d_model, d_k) = ({d_model}, {d_k}) like w_q")
    _check_matrix("w_v", w_v, d_model, None, f"(d_model, d_v) = ({d_model}, d_v)")
    return d_model, d_k, w_v.shape[1]


def self_attention(
    x: Tensor,
    *,
    w_q: Tensor,
    w_k: Tensor,
    w_v: Tensor,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Let every position of one sequence attend to every position of the same sequence.

    Queries, keys and values are three linear views of the same input ``x``
    (``Q = X W_Q``, ``K = X W_K``, ``V = X W_V``), then
    ``softmax(Q Kᵀ / √d_k) V`` as in Vaswani et al. (2017), eq. 1. The matrices act on row
    vectors, so the notes' column-vector ``q = W^Q x`` is ``q = x W_Q`` here. They are
    keyword-only because ``w_q`` and ``w_k`` have the same shape and are easy to swap.

    Parameters
    ----------
    x : Tensor, shape (B, L, d_model)
        The sequence, e.g. word embeddings.
    w_q : Tensor, shape (d_model, d_k)
        Projects each position to its query.
    w_k : Tensor, shape (d_model, d_k)
        Projects each position to its key.
    w_v : Tensor, shape (d_model, d_v)
        Projects each position to its value.
    mask : Tensor of bool, broadcastable to (B, L, L), optional
        True where position ``i`` may attend to position ``j``.

    Returns
    -------
    out : Tensor, shape (B, L, d_v)
        One new vector per position: a weighted sum of all positions' values.
    weights : Tensor, shape (B, L, L)
        ``weights[b, i, j]``: how much position ``i`` takes from position ``j``; rows sum to one.
    """
    d_model, _, _ = _check_projections(w_q, w_k, w_v)
    _check_sequence(x, d_model)
    floating("x", x)
    same_dtype(("x", x), ("w_q", w_q), ("w_k", w_k), ("w_v", w_v))
    return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v, mask)


class SelfAttention(nn.Module):
    """One head of self-attention: project ``x`` to queries, keys and values, then attend.

    ``w_q``, ``w_k`` and ``w_v`` are :class:`torch.nn.Linear` layers, so their ``weight`` is
    stored as ``(out, in)``: the matrix ``W_Q`` of the equations, shape ``(d_model, d_k)``,
    is ``w_q.weight.T``. :meth:`from_matrices` builds a module from the matrices themselves.

    Parameters
    ----------
    d_model : int
        Width of each input vector.
    d_k : int
        Width of queries and keys (the paper's base model uses 64 with ``d_model=512``).
    d_v : int, optional
        Width of values and of the output; defaults to ``d_k``.
    bias : bool, default False
        Whether the three projections add a bias. The paper's equations have none.
    """

    def __init__(self, d_model: int, d_k: int, d_v: int | None = None, *, bias: bool = False):
        super().__init__()
        d_model, d_k = positive_int("d_model", d_model), positive_int("d_k", d_k)
        d_v = d_k if d_v is None else positive_int("d_v", d_v)
        bias = boolean("bias", bias)
        self.d_model, self.d_k, self.d_v = d_model, d_k, d_v
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, d_v, bias=bias)

    @classmethod
    def from_matrices(cls, *, w_q: Tensor, w_k: Tensor, w_v: Tensor) -> SelfAttention:
        """Build a bias-free module whose projections are the given ``(d_model, d_out)`` matrices.

        Parameters
        ----------
        w_q, w_k : Tensor, shape (d_model, d_k)
        w_v : Tensor, shape (d_model, d_v)

        Returns
        -------
        SelfAttention
            With ``w_q.weight == w_q.T`` and so on, in the matrices' dtype.
        """
        d_model, d_k, d_v = _check_projections(w_q, w_k, w_v)
        module = cls(d_model, d_k, d_v).to(w_q.dtype)
        with torch.no_grad():
            for linear, matrix in ((module.w_q, w_q), (module.w_k, w_k), (module.w_v, w_v)):
                linear.weight.copy_(matrix.T)  # nn.Linear stores (out, in)
        return module

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Attend from every position of ``x`` to every position of ``x``.

        Parameters
        ----------
        x : Tensor, shape (B, L, d_model)
        mask : Tensor of bool, broadcastable to (B, L, L), optional
            True where position ``i`` may attend to position ``j``.

        Returns
        -------
        out : Tensor, shape (B, L, d_v)
        weights : Tensor, shape (B, L, L)
            Rows sum to one (all zeros for a position that may attend to nothing).
        """
        _check_sequence(x, self.d_model)
        module_dtype("x", floating("x", x), self)
        # Same x three times: that is what makes it *self*-attention.
        return scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x), mask)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, d_k={self.d_k}, d_v={self.d_v}"
