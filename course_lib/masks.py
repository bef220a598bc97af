"""Boolean attention masks: which keys each query may look at (chapter 5, 掩码).

A mask is a boolean tensor broadcastable to the scores' shape ``(..., L_q, L_k)``, and
**True means "may attend"** (the convention of
:func:`torch.nn.functional.scaled_dot_product_attention`). Attention turns every False
into a score of ``-inf`` before the softmax, so a masked key gets exactly zero weight
(:func:`course_lib.attention.scaled_dot_product_attention`).

Two masks cover the Transformer (Vaswani et al. 2017, section 3.2.3):

- :func:`padding_mask` hides the padding tokens that make a batch of sentences of
  different lengths rectangular. Shape ``(B, 1, L_k)``: the same keys are hidden from
  every query.
- :func:`causal_mask` hides the future from a decoder, so that position ``i`` cannot see
  the answer at ``i + 1`` it is being trained to predict. Shape ``(L, L)``.

:func:`combine_masks` ANDs them into one ``(B, L_q, L_k)`` mask: a key is visible only
if every mask allows it. :func:`to_torch_mask` and :func:`from_torch_mask` translate to
and from the opposite convention of :class:`torch.nn.MultiheadAttention`, whose
``attn_mask`` and ``key_padding_mask`` mark with True the keys to **ignore**.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from course_lib._validate import boolean, broadcast_shape, fail, integer, non_negative_int, shape_error, tensor

__all__ = ["causal_mask", "padding_mask", "combine_masks", "to_torch_mask", "from_torch_mask"]


def causal_mask(L: int, *, device: torch.device | str | None = None) -> Tensor:
    """Return the look-ahead mask: query ``i`` may attend to keys ``j <= i`` only.

    Row ``i`` allows keys ``0..i``, itself included: a decoder position sees the tokens
    produced so far but never a later one (Vaswani et al. 2017, section 3.2.3).

    Parameters
    ----------
    L : int
        Sequence length (``L_q = L_k = L``), at least 0; a numpy integer or a 0-d integer
        tensor will do.
    device : torch.device or str, optional
        Where to create the mask.

    Returns
    -------
    Tensor of bool, shape (L, L)
        Lower triangular, diagonal included: ``mask[i, j] = j <= i``.
    """
    L = non_negative_int("L", L)
    positions = torch.arange(L, device=device)
    return positions[None, :] <= positions[:, None]  # (L, L): key index <= query index


def padding_mask(lengths: Tensor | Sequence[int], max_len: int) -> Tensor:
    """Return a mask that hides the padding keys of each sequence in a batch.

    Sequence ``b`` holds ``lengths[b]`` real tokens followed by padding up to ``max_len``;
    every query may attend to the real tokens and to none of the padding.

    Parameters
    ----------
    lengths : Tensor of int, shape (B,), or a sequence of B ints
        Number of real (non-padding) tokens of each sequence, each in ``[0, max_len]``.
        Integers only: a length such as 2.5 is refused, not truncated.
    max_len : int
        Padded length ``L_k`` of the batch, at least 0.

    Returns
    -------
    Tensor of bool, shape (B, 1, max_len)
        ``mask[b, 0, j] = j < lengths[b]``. The singleton query axis lets it broadcast
        against scores of shape ``(B, L_q, max_len)``. On the device of ``lengths``.
    """
    max_len = non_negative_int("max_len", max_len)
    lengths = _lengths_tensor(lengths)
    if lengths.numel() and (lengths.min() < 0 or lengths.max() > max_len):
        raise fail("lengths", lengths.tolist(), f"each length between 0 and max_len={max_len}")
    positions = torch.arange(max_len, device=lengths.device)
    return (positions[None, :] < lengths[:, None]).unsqueeze(1)  # (B, 1, max_len)


def _lengths_tensor(lengths) -> Tensor:
    """``lengths`` as a 1-D integer tensor; a sequence is checked element by element."""
    expected = "a 1-D integer tensor or a sequence of ints, one length per sequence"
    if not isinstance(lengths, Tensor):
        if lengths is None or isinstance(lengths, (str, bytes)):
            raise fail("lengths", lengths, expected)
        try:
            items = list(lengths)
        except TypeError:  # not iterable: a lone number, an object
            raise fail("lengths", lengths, expected) from None
        # integer() refuses 2.5 and True, which torch would silently turn into 2 and 1
        lengths = torch.tensor([integer(f"lengths[{i}]", n, expected="an int, one length per sequence")
                                for i, n in enumerate(items)], dtype=torch.long)
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise fail("lengths", lengths, expected)
    if lengths.dim() != 1:
        raise shape_error("lengths", lengths, "(B,), one length per sequence")
    return lengths


def combine_masks(*masks: Tensor | None) -> Tensor:
    """Combine boolean masks with a logical AND: a key is visible only if every mask allows it.

    Typical use: ``combine_masks(padding_mask(lengths, L), causal_mask(L))`` gives a
    decoder's self-attention mask of shape ``(B, L, L)``.

    Parameters
    ----------
    *masks : Tensor of bool or None
        Masks broadcastable to one another, e.g. ``(L_q, L_k)`` and ``(B, 1, L_k)``.
        ``None`` (no mask) is skipped, so optional masks can be passed straight through.

    Returns
    -------
    Tensor of bool, the broadcast shape of the masks, e.g. (B, L_q, L_k)
        A new tensor; the inputs are not modified.
    """
    given = [(i, m) for i, m in enumerate(masks) if m is not None]
    if not given:
        raise fail("masks", masks, "at least one boolean mask (None is skipped: no mask was left)")
    for i, m in given:
        _boolean_mask(f"masks[{i}]", m)
    combined = given[0][1]
    shape = combined.shape
    for i, m in given[1:]:
        try:
            shape = broadcast_shape(shape, m.shape)
        except RuntimeError:
            raise shape_error(f"masks[{i}]", m, f"a shape that broadcasts with {tuple(shape)}, that of the masks "
                              "before it", "e.g. (L_q, L_k), (B, 1, L_k) and (B, L_q, L_k) do") from None
        combined = combined & m
    # A lone mask is copied, so that writing into the result never changes the input.
    return combined.clone() if len(given) == 1 else combined


def _boolean_mask(name: str, mask: object) -> Tensor:
    """Return ``mask`` if it is a boolean tensor; a float or int tensor has no True/False meaning here."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise fail(name, mask, "a boolean tensor (True = may attend)")
    return mask


def to_torch_mask(mask: Tensor, *, key_padding: bool = False) -> Tensor:
    """Translate our mask (True = may attend) into ``nn.MultiheadAttention``'s (True = ignore).

    :class:`torch.nn.MultiheadAttention` (and ``nn.Transformer*``) read a boolean
    ``attn_mask`` or ``key_padding_mask`` the opposite way round from us and from
    :func:`torch.nn.functional.scaled_dot_product_attention`: True marks a key to hide.

    Parameters
    ----------
    mask : Tensor of bool
        Our mask. Shape (L_q, L_k) for an ``attn_mask``; (B, 1, L_k), as made by
        :func:`padding_mask`, when ``key_padding=True``.
    key_padding : bool, default False
        Return a ``key_padding_mask`` of shape (B, L_k) instead of an ``attn_mask``.

    Returns
    -------
    Tensor of bool
        ``~mask``: shape of ``mask``, or (B, L_k) when ``key_padding=True``.
    """
    _boolean_mask("mask", mask)
    if boolean("key_padding", key_padding):
        if mask.dim() != 3 or mask.shape[1] != 1:
            raise shape_error("mask", mask, "(B, 1, L_k) for a key padding mask", "the shape padding_mask returns")
        mask = mask[:, 0, :]  # (B, L_k)
    return ~mask


def from_torch_mask(mask: Tensor, *, key_padding: bool = False) -> Tensor:
    """Translate a torch ``attn_mask``/``key_padding_mask`` (True = ignore) into ours (True = attend).

    Also accepts torch's additive float masks made only of ``0`` (attend) and ``-inf``
    (ignore), such as :meth:`torch.nn.Transformer.generate_square_subsequent_mask`.

    Parameters
    ----------
    mask : Tensor of bool, or float of 0 and -inf
        A torch-convention mask: (L_q, L_k) or (N, L_q, L_k) for an ``attn_mask``,
        (B, L_k) for a ``key_padding_mask``.
    key_padding : bool, default False
        ``mask`` is a ``key_padding_mask`` (B, L_k): return shape (B, 1, L_k), which
        broadcasts over queries like :func:`padding_mask`.

    Returns
    -------
    Tensor of bool
        True where a query may attend; shape of ``mask``, or (B, 1, L_k) when
        ``key_padding=True``.
    """
    tensor("mask", mask)
    key_padding = boolean("key_padding", key_padding)
    expected = "bool, or float of only 0 and -inf"
    if mask.dtype == torch.bool:
        ours = ~mask
    elif mask.dtype.is_floating_point:
        if not bool(((mask == 0) | (mask == float("-inf"))).all()):
            raise fail("mask", mask, f"{expected} (it has other values: an additive bias that is not a hard "
                       "mask has no boolean equivalent)")
        ours = mask == 0
    else:
        raise fail("mask", mask, expected)
    if key_padding:
        if ours.dim() != 2:
            raise shape_error("mask", mask, "(B, L_k) for a key_padding_mask")
        ours = ours.unsqueeze(1)  # (B, 1, L_k)
    return ours
