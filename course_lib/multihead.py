"""Multi-head attention (多头注意力): several attention heads side by side, then one projection.

One attention head turns each query into a single weighting of the keys. Multi-head
attention runs ``H`` heads in parallel, each with its own learned projections of the
queries, keys and values, so that each head can weigh the sequence by a different
relation (the way different convolution kernels pick out different features). Every head
still sees the whole sequence; only its view of the features differs. The heads' outputs
are concatenated and mixed by an output projection ``W^O`` (Vaswani et al. 2017, §3.2.2):

.. math::

    \\mathrm{MultiHead}(Q, K, V) = \\mathrm{Concat}(\\mathrm{head}_1, \\dots,
    \\mathrm{head}_H)\\, W^O, \\qquad
    \\mathrm{head}_i = \\mathrm{Attention}(Q W_i^Q, K W_i^K, V W_i^V).

Instead of ``H`` small projections we apply one ``d_model × d_model`` projection and cut
its output into ``H`` slices of width ``d_head = d_model / H`` (:func:`split_heads`); the
slices are exactly the per-head projections ``Q W_i^Q``. :func:`merge_heads` is the
inverse: it lays the heads' outputs side by side again (the Concat above).

Shapes follow the glossary in ``course_lib/__init__.py``: inputs are batch-first
``(B, L, d_model)`` and heads live on their own axis, ``(B, H, L, d_head)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validate import boolean, floating, index_tensor, module_dtype, positive_int, probability, shape_error, tensor
from course_lib.attention import _check_mask, scaled_dot_product_attention

__all__ = ["split_heads", "merge_heads", "MultiHeadAttention", "AttentionCache"]


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """Cut the feature axis into ``num_heads`` slices and give each head its own axis.

    Head ``h`` receives features ``h·d_head`` to ``(h+1)·d_head - 1`` of *every* position:
    ``split_heads(x, H)[b, h, i] == x[b, i, h*d_head:(h+1)*d_head]``. The transpose
    matters: reshaping ``(B, L, d_model)`` straight to ``(B, H, L, d_head)`` would instead
    hand each head a block of positions with all their features mixed up.

    Parameters
    ----------
    x : Tensor, shape (B, L, d_model)
    num_heads : int
        ``H``; must divide ``d_model``.

    Returns
    -------
    Tensor, shape (B, H, L, d_head) with ``d_head = d_model // H``
        A view of ``x`` (no copy).
    """
    if tensor("x", x, shape="(B, L, d_model)").dim() != 3:
        raise shape_error("x", x, "(B, L, d_model)")
    num_heads = _check_num_heads(x.shape[-1], num_heads)
    batch, length, d_model = x.shape
    # (B, L, H, d_head): the last axis is cut into heads, positions stay where they are ...
    x = x.view(batch, length, num_heads, d_model // num_heads)
    # ... then the head axis moves in front of the positions.
    return x.transpose(1, 2)  # (B, H, L, d_head)


def merge_heads(x: Tensor) -> Tensor:
    """Lay the heads side by side again: the inverse of :func:`split_heads` (the Concat).

    Parameters
    ----------
    x : Tensor, shape (B, H, L, d_head)

    Returns
    -------
    Tensor, shape (B, L, H·d_head)
        ``out[b, i, h*d_head:(h+1)*d_head] == x[b, h, i]``.
    """
    if tensor("x", x, shape="(B, H, L, d_head)").dim() != 4:
        raise shape_error("x", x, "(B, H, L, d_head)")
    batch, heads, length, d_head = x.shape
    # Undo the transpose first, so that each position's heads become neighbours in memory.
    return x.transpose(1, 2).reshape(batch, length, heads * d_head)  # (B, L, H·d_head)


def _check_num_heads(d_model: int, num_heads: int) -> int:
    """Return ``num_heads`` as an int after checking that it is positive and divides ``d_model``."""
    num_heads = positive_int("num_heads", num_heads)
    if d_model % num_heads != 0:
        raise ValueError(
            f"d_model={d_model} is not divisible by num_heads={num_heads}; every head needs "
            f"the same width d_head = d_model / num_heads"
        )
    return num_heads


class MultiHeadAttention(nn.Module):
    """Multi-head attention: ``H`` scaled dot-product heads in parallel, concatenated, projected.

    ``forward`` computes ``Concat(head_1, …, head_H) W^O`` with
    ``head_i = softmax(Q W_i^Q (K W_i^K)ᵀ / √d_head) V W_i^V`` (Vaswani et al. 2017, §3.2.2).
    The four projections have the same total size whatever ``H`` is
    (``4·d_model² + 4·d_model`` parameters with biases): more heads means narrower heads,
    not more computation.

    Parameters
    ----------
    d_model : int
        Width of the inputs and outputs.
    num_heads : int
        ``H``; must divide ``d_model``. Each head has width ``d_head = d_model // H``.
    dropout : float, default 0.0
        Dropout on the attention weights, active in training mode only (as in
        :class:`torch.nn.MultiheadAttention`).
    bias : bool, default True
        Whether the four projections have biases.
    fast : bool, default False
        Compute the attention step with :func:`torch.nn.functional.scaled_dot_product_attention`
        (fused kernels: flash / memory-efficient on GPU) instead of the explicit
        :func:`course_lib.attention.scaled_dot_product_attention`. The results agree; the
        fast path does not form the weight matrix, so ``forward`` returns ``None`` for the
        weights. Can be switched later by setting the attribute ``fast``.
    scale_scores : bool, default True
        Divide each head's scores by ``√d_head`` (the paper). False leaves them unscaled,
        a switch for ablations (see :func:`course_lib.attention.scaled_dot_product_attention`).

    Attributes
    ----------
    w_q, w_k, w_v : nn.Linear(d_model, d_model)
        The query, key and value projections of all heads at once; head ``h`` uses output
        features ``h·d_head … (h+1)·d_head - 1``, i.e. ``W_h^Q`` is a slice of ``w_q``.
    w_o : nn.Linear(d_model, d_model)
        The output projection ``W^O`` that mixes the concatenated heads.

    Examples
    --------
    >>> mha = MultiHeadAttention(d_model=16, num_heads=4)
    >>> x = torch.randn(2, 5, 16)
    >>> out, weights = mha(x, x, x)
    >>> out.shape, weights.shape
    (torch.Size([2, 5, 16]), torch.Size([2, 4, 5, 5]))
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        *,
        fast: bool = False,
        scale_scores: bool = True,
    ) -> None:
        super().__init__()
        d_model = positive_int("d_model", d_model)
        num_heads = _check_num_heads(d_model, num_heads)
        bias = boolean("bias", bias)
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.dropout = probability("dropout", dropout)
        self.fast = boolean("fast", fast)
        self.scale_scores = boolean("scale_scores", scale_scores)
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, d_head={self.d_head}, "
                f"dropout={self.dropout}, fast={self.fast}" + ("" if self.scale_scores else ", scale_scores=False"))

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        mask: Tensor | None = None,
        *,
        cache: AttentionCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from every query to every key with each head, then merge and project.

        Parameters
        ----------
        query : Tensor, shape (B, L_q, d_model)
        key : Tensor, shape (B, L_k, d_model)
        value : Tensor, shape (B, L_k, d_model)
            For self-attention (自注意力) pass the same tensor three times.
        mask : Tensor of bool, broadcastable to (B, L_q, L_k), optional
            True where query ``i`` may attend to key ``j``; e.g. ``(L_q, L_k)`` (causal) or
            ``(B, 1, L_k)`` (padding). The same mask applies to every head: the module adds
            the head axis itself. A query with no allowed key gets a zero output.
        cache : AttentionCache, optional
            For decoding one step at a time (chapter 11). With a self-attention cache the
            keys and values of ``key``/``value`` are appended to the cached ones and the
            queries attend to all of them (``L_k`` = cached + new); with a ``static`` cache
            (cross-attention) the keys and values are projected on the first call only and
            reused afterwards. ``mask``, if given, must then cover every key:
            ``(L_q, L_k)`` with ``L_k`` counted after the update.

        Returns
        -------
        out : Tensor, shape (B, L_q, d_model)
        weights : Tensor, shape (B, H, L_q, L_k), or None when ``fast`` is set
            Each head's attention weights (after dropout, if any). Average over ``H`` to
            compare with :class:`torch.nn.MultiheadAttention`'s default output.
        """
        self._check_inputs(query, key, value)
        q = split_heads(self.w_q(query), self.num_heads)  # (B, H, L_q, d_head)
        k, v = self._keys_values(key, value, cache)  # each (B, H, L_k, d_head)
        batch, len_q, len_k = query.shape[0], query.shape[1], k.shape[2]
        if mask is not None:
            _check_mask(mask, torch.Size((batch, len_q, len_k)))
            if mask.dim() == 3:
                mask = mask.unsqueeze(1)  # (B, 1, L_q, L_k): the same mask for every head
        dropout_p = self.dropout if self.training else 0.0
        scale = self.scale_scores  # False only in the ablation without 1/√d_head
        if self.fast:
            heads, weights = _fused_attention(q, k, v, mask, dropout_p, scale), None
        else:
            heads, weights = scaled_dot_product_attention(
                q, k, v, mask, dropout_p=dropout_p, scale_scores=scale)
        return self.w_o(merge_heads(heads)), weights

    def _keys_values(self, key: Tensor, value: Tensor, cache: AttentionCache | None) -> tuple[Tensor, Tensor]:
        """Project ``key`` and ``value`` into heads, going through ``cache`` when there is one."""
        if cache is not None and cache.static and cache.k is not None:
            return cache.k, cache.v  # the memory is the same at every step: projected once
        k = split_heads(self.w_k(key), self.num_heads)  # (B, H, L_new, d_head)
        v = split_heads(self.w_v(value), self.num_heads)
        if cache is None:
            return k, v
        if cache.k is not None:  # a self-attention cache: the earlier positions come first
            if cache.k.shape[0] != k.shape[0]:
                raise ValueError(f"cache holds keys of shape {tuple(cache.k.shape)} but the input has batch "
                                 f"size {k.shape[0]}; expected the same B (reorder the cache with the batch)")
            k, v = torch.cat([cache.k, k], dim=2), torch.cat([cache.v, v], dim=2)  # (B, H, L_k, d_head)
        cache.k, cache.v = k, v
        return k, v

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        for name, x, length in (("query", query, "L_q"), ("key", key, "L_k"), ("value", value, "L_k")):
            expected = f"(B, {length}, d_model={self.d_model})"
            if tensor(name, x, shape=expected).dim() != 3 or x.shape[-1] != self.d_model:
                raise shape_error(name, x, expected)
            module_dtype(name, floating(name, x), self)
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(
                f"query, key and value have batch sizes {query.shape[0]}, {key.shape[0]} and "
                f"{value.shape[0]}; expected the same B"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key has shape {tuple(key.shape)} but value has shape {tuple(value.shape)}; "
                f"expected one value per key (the same L_k)"
            )

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention, *, fast: bool = False) -> MultiHeadAttention:
        """Build a :class:`MultiHeadAttention` that computes what ``module`` computes.

        ``nn.MultiheadAttention`` stores the three input projections stacked in one
        ``in_proj_weight`` of shape ``(3·d_model, d_model)`` (queries, then keys, then
        values); they are cut apart into ``w_q``, ``w_k`` and ``w_v``; ``out_proj`` becomes
        ``w_o``. The weights are copied, not shared, on the module's device and dtype.

        The weights do not depend on ``batch_first``, so both settings are accepted, but
        the returned module is always batch-first: give it ``(B, L, d_model)`` tensors
        (transpose ``(L, B, d_model)`` inputs of a ``batch_first=False`` module first).
        Torch's masks mean the opposite of ours: pass ``mask = ~attn_mask`` (and
        ``~key_padding_mask[:, None, :]`` for padding).

        Parameters
        ----------
        module : nn.MultiheadAttention
            With ``kdim == vdim == embed_dim``, ``add_bias_kv=False`` and
            ``add_zero_attn=False``; other configurations are a ``ValueError``.
        fast : bool, default False
            Passed to the constructor.

        Returns
        -------
        MultiHeadAttention
            With the same ``d_model``, ``num_heads``, ``dropout`` and ``bias``.
        """
        if not isinstance(module, nn.MultiheadAttention):
            raise ValueError(f"module is a {type(module).__name__}; expected nn.MultiheadAttention")
        d_model = module.embed_dim
        if module.kdim != d_model or module.vdim != d_model:
            raise ValueError(
                f"module has kdim={module.kdim}, vdim={module.vdim}; expected both equal to "
                f"embed_dim={d_model} (keys and values of a different width are not supported)"
            )
        if module.bias_k is not None or module.add_zero_attn:
            raise ValueError("module was built with add_bias_kv=True or add_zero_attn=True; "
                             "expected both False (they add extra keys this class does not have)")
        bias = module.in_proj_bias is not None
        weight = module.in_proj_weight
        new = cls(d_model, module.num_heads, dropout=module.dropout, bias=bias, fast=fast)
        new.to(device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            for i, linear in enumerate((new.w_q, new.w_k, new.w_v)):
                rows = slice(i * d_model, (i + 1) * d_model)
                linear.weight.copy_(weight[rows])
                if bias:
                    linear.bias.copy_(module.in_proj_bias[rows])
            new.w_o.weight.copy_(module.out_proj.weight)
            if bias:
                new.w_o.bias.copy_(module.out_proj.bias)
        new.train(module.training)
        return new


@dataclass
class AttentionCache:
    """The keys and values one attention sub-layer keeps between decoding steps (KV cache, 键值缓存).

    When a decoder writes one token at a time, the keys and values of the positions it has
    already written never change (a position only attends to itself and earlier ones), so
    recomputing them at every step wastes ``O(t)`` work per step. The cache keeps them, and
    each step projects only the newest position.

    Parameters
    ----------
    k, v : Tensor, shape (B, H, L_k, d_head), optional
        The cached keys and values; None until the first call of
        :meth:`MultiHeadAttention.forward` fills them.
    static : bool, default False
        False for self-attention: each call appends the keys and values of its new
        positions. True for cross-attention: ``key``/``value`` (the encoder's memory) are
        projected on the first call and reused unchanged afterwards.
    """

    k: Tensor | None = None
    v: Tensor | None = None
    static: bool = False

    @property
    def length(self) -> int:
        """Number of cached key positions ``L_k`` (0 when empty)."""
        return 0 if self.k is None else self.k.shape[2]

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (long, shape (B',)), in that order; rows may repeat.

        Beam search calls this when it re-ranks its hypotheses: new row ``i`` continues old
        row ``index[i]``, so it must see that row's keys and values.
        """
        index_tensor("index", index)
        if self.k is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)


def _fused_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout_p: float,
                     scale_scores: bool = True) -> Tensor:
    """Attention through torch's fused kernel, with the course's zero-for-fully-masked rows.

    ``F.scaled_dot_product_attention`` takes the same boolean convention (True = may
    attend), but what a fused kernel returns for a query with no allowed key depends on
    the backend (NaN on some). Such rows are let through to every key and zeroed after.
    """
    factor = None if scale_scores else 1.0  # None: torch's own 1/√d_head
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=factor)
    has_key = mask.any(dim=-1, keepdim=True)  # (..., L_q, 1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~has_key, dropout_p=dropout_p,
                                         scale=factor)
    return out.masked_fill(~has_key, 0.0)  # (B, H, L_q, d_head)
