"""Positional encoding: telling attention where each token sits (chapter 8, 位置编码).

Self-attention compares every token with every other one and sums the values by weight;
nothing in it depends on the order of the tokens. Permute the input and the output is
permuted the same way (it is *permutation-equivariant*), so "dog bites man" and "man bites
dog" would be the same bag of vectors. A model without recurrence or convolution must be
told the order explicitly: each position gets a vector, added to the token's embedding.

The Transformer uses fixed sinusoids (Vaswani et al. 2017, section 3.5)::

    PE[pos, 2i]     = sin(pos / 10000^(2i / d_model))
    PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model))

Pair ``i`` of columns is a point on the unit circle turning at angular frequency
``omega_i = 10000^(-2i / d_model)`` radians per position, so the wavelengths grow
geometrically from ``2 pi`` to nearly ``10000 * 2 pi``. Moving ``k`` positions turns every
pair by the fixed angle ``k * omega_i``: ``PE[pos + k] = M_k @ PE[pos]`` with a
block-diagonal rotation ``M_k`` that does not depend on ``pos``
(:func:`relative_rotation`). That is the paper's reason for the choice: relative offsets
are linear functions of the encoding.

:class:`PositionalEncoding` adds the table to a batch of embeddings; :class:`LearnedPositionalEmbedding`
is the alternative of BERT and GPT, a trained table with one row per position.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib._validate import (fail, floating, integer, non_negative_int, positive, positive_int, probability, shape_error,
                                  tensor)

__all__ = [
    "frequencies",
    "sinusoidal_encoding",
    "relative_rotation",
    "PositionalEncoding",
    "LearnedPositionalEmbedding",
]

BASE = 10000.0  # the paper's constant: the longest wavelength is about BASE * 2 pi


def _even_width(d_model: object) -> int:
    d_model = positive_int("d_model", d_model)
    if d_model % 2:
        raise fail("d_model", d_model, "an even int: the columns come in (sin, cos) pairs")
    return d_model


def frequencies(d_model: int, *, base: float = BASE) -> Tensor:
    """Return the angular frequency of each (sin, cos) pair: ``omega_i = base^(-2i / d_model)``.

    Parameters
    ----------
    d_model : int
        Model width, even.
    base : float, default 10000
        The paper's constant; a finite number > 0.

    Returns
    -------
    Tensor of float64, shape (d_model // 2,)
        ``omega_0 = 1`` radian per position, decreasing geometrically; the wavelength of
        pair ``i`` is ``2 pi / omega_i``.
    """
    d_model = _even_width(d_model)
    base = positive("base", base)  # log(base): NaN for NaN, a domain error for base <= 0
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # 0, 2, 4, ..., d_model - 2
    return torch.exp(-math.log(base) * two_i / d_model)  # base^(-2i/d) without a huge power


def sinusoidal_encoding(
    max_len: int,
    d_model: int,
    *,
    base: float = BASE,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Return the sinusoidal position table of Vaswani et al. 2017, section 3.5.

    ``PE[pos, 2i] = sin(pos * omega_i)`` and ``PE[pos, 2i + 1] = cos(pos * omega_i)`` with
    ``omega_i = base^(-2i / d_model)``: sines in the even columns, cosines in the odd ones,
    interleaved (not a block of sines followed by a block of cosines).

    Parameters
    ----------
    max_len : int
        Number of positions ``0 .. max_len - 1``; 0 gives an empty ``(0, d_model)`` table.
    d_model : int
        Model width, even.
    base : float, default 10000
    dtype : torch.dtype, default float32
        A floating-point dtype. The table is computed in float64 and then cast, so far
        positions stay accurate.
    device : torch.device or str, optional

    Returns
    -------
    Tensor, shape (max_len, d_model)
        Every entry in ``[-1, 1]``; every row has norm ``sqrt(d_model / 2)``.
    """
    max_len = non_negative_int("max_len", max_len)
    d_model = _even_width(d_model)
    # an integer table would round every entry to 0, 1 or -1
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise fail("dtype", dtype,
                   "a floating-point torch.dtype such as torch.float32")
    positions = torch.arange(max_len, dtype=torch.float64)
    omega = frequencies(d_model, base=base)
    angles = positions[:, None] * omega[None, :]  # (max_len, d_model // 2)
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.to(dtype=dtype, device=device)


def relative_rotation(k: int, d_model: int, *, base: float = BASE) -> Tensor:
    """Return the matrix ``M_k`` with ``PE[pos + k] = M_k @ PE[pos]`` for every position ``pos``.

    By the angle-addition formulas, each (sin, cos) pair of ``PE[pos]`` is turned by the
    angle ``k * omega_i``::

        [sin(a + b)]   [ cos b   sin b] [sin a]
        [cos(a + b)] = [-sin b   cos b] [cos a],   a = pos * omega_i,  b = k * omega_i

    so ``M_k`` is block diagonal with one 2 x 2 rotation per pair and depends on the offset
    ``k`` only, never on ``pos``: the linear map the paper cites as its reason for sinusoids.

    Parameters
    ----------
    k : int
        The offset; negative moves back. ``M_{-k}`` is ``M_k`` transposed (its inverse). A
        numpy integer or a 0-d integer tensor will do.
    d_model : int
        Model width, even.
    base : float, default 10000

    Returns
    -------
    Tensor of float64, shape (d_model, d_model)
        Orthogonal and block diagonal.
    """
    k = integer("k", k, expected="an int offset")
    angle = k * frequencies(d_model, base=base)  # (d_model // 2,)
    cos, sin = torch.cos(angle), torch.sin(angle)
    blocks = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (d/2, 2, 2)
    return torch.block_diag(*blocks)


def _check_input(x: Tensor, d_model: int, max_len: int, offset: int, owner: str) -> int:
    """Check ``x`` and ``offset`` against a table of ``max_len`` rows; return ``offset`` as an int."""
    expected = f"(B, L, d_model={d_model})"
    tensor("x", x, shape=expected)
    if x.dim() < 2 or x.shape[-1] != d_model:
        raise shape_error("x", x, expected)
    floating("x", x)  # an int x + float position vectors would silently become a float tensor
    offset = integer("offset", offset, minimum=0, expected="a non-negative int (the position of x[:, 0])")
    L = x.shape[-2]
    if offset + L > max_len:
        where = f"sequence length {L} exceeds" if offset == 0 else f"offset={offset}: positions {offset}..{offset + L - 1} exceed"
        raise ValueError(f"{where} max_len={max_len} of this {owner}; build it with a larger max_len")
    return offset


class PositionalEncoding(nn.Module):
    """Add the sinusoidal encoding to a batch of embeddings, then apply dropout (section 3.5).

    The table is a buffer, not a parameter: it moves with ``.to(device)`` and is never
    trained. It is not saved in the ``state_dict`` either (``persistent=False``): it is a
    function of ``(max_len, d_model)``, so a checkpoint does not store it and loads into a
    model built with another ``max_len``.

    Parameters
    ----------
    d_model : int
        Model width, even.
    max_len : int, default 5000
        Longest sequence (plus ``offset``) the module accepts.
    dropout : float, default 0.0
        Dropout on the sum; the paper uses 0.1 (section 5.4).

    Shape
    -----
    ``forward(x, offset=0)``: ``x`` is (B, L, d_model), or any (..., L, d_model); returns the
    same shape, ``dropout(x + PE[offset : offset + L])``. ``offset`` is the position of
    ``x[..., 0, :]``, for decoding one token at a time.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0):
        super().__init__()
        d_model, max_len = _even_width(d_model), positive_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.dropout = nn.Dropout(probability("dropout", dropout))
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        offset = _check_input(x, self.d_model, self.max_len, offset, type(self).__name__)
        pe = self.pe[offset : offset + x.shape[-2]].to(x.dtype)  # (L, d_model), broadcasts over the batch
        return self.dropout(x + pe)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(nn.Module):
    """Add a trained position vector to each embedding, as BERT and GPT do.

    One row per position, learned like a word embedding (initialised ``N(0, 0.02^2)`` as in
    GPT-2). It can fit whatever the data needs, but it has nothing to say about a position
    it never saw: there is no row ``max_len``. The paper found it "nearly identical" to
    the sinusoids (Table 3, row E) and kept the sinusoids for that reason.

    Parameters
    ----------
    d_model : int
    max_len : int
        Number of rows, the longest sequence it accepts.
    dropout : float, default 0.0

    Shape
    -----
    ``forward(x, offset=0)``: (B, L, d_model) -> (B, L, d_model).
    """

    def __init__(self, d_model: int, max_len: int, dropout: float = 0.0):
        super().__init__()
        d_model, max_len = positive_int("d_model", d_model), positive_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * 0.02)  # (max_len, d_model)
        self.dropout = nn.Dropout(probability("dropout", dropout))

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        offset = _check_input(x, self.d_model, self.max_len, offset, type(self).__name__)
        return self.dropout(x + self.weight[offset : offset + x.shape[-2]].to(x.dtype))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"
