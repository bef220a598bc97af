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

__all__ = ["causal_mask", "padding_mask", "combine_masks", "to_torch_mask", "from_torch_mask"]


def causal_mask(L: int, *, device: torch.device | str | None = None) -> Tensor:
    """Return the look-ahead mask: query ``i`` may attend to keys ``j <= i`` only.

    Row ``i`` allows keys ``0..i``, itself included: a decoder position sees the tokens
    produced so far but never a later one (Vaswani et al. 2017, section 3.2.3).

    Parameters
    ----------
    L : int
        Sequence length (``L_q = L_k = L``), at least 0.
    device : torch.device or str, optional
        Where to create the mask.

    Returns
    -------
    Tensor of bool, shape (L, L)
        Lower triangular, diagonal included: ``mask[i, j] = j <= i``.
    """
    if isinstance(L, bool) or not isinstance(L, int) or L < 0:
        raise ValueError(f"L={L!r}; expected a non-negative int (the sequence length)")
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
    max_len : int
        Padded length ``L_k`` of the batch.

    Returns
    -------
    Tensor of bool, shape (B, 1, max_len)
        ``mask[b, 0, j] = j < lengths[b]``. The singleton query axis lets it broadcast
        against scores of shape ``(B, L_q, max_len)``. On the device of ``lengths``.
    """
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 0:
        raise ValueError(f"max_len={max_len!r}; expected a non-negative int (the padded length)")
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(list(lengths), dtype=torch.long)
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise ValueError(f"lengths has dtype {lengths.dtype}; expected integer token counts")
    if lengths.dim() != 1:
        raise ValueError(f"lengths has shape {tuple(lengths.shape)}; expected (B,), one length per sequence")
    if lengths.numel() and (lengths.min() < 0 or lengths.max() > max_len):
        raise ValueError(
            f"lengths={lengths.tolist()} has values outside [0, max_len={max_len}]; "
            f"expected each length between 0 and max_len"
        )
    positions = torch.arange(max_len, device=lengths.device)
    return (positions[None, :] < lengths[:, None]).unsqueeze(1)  # (B, 1, max_len)


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
        raise ValueError("combine_masks got no mask (only None or nothing); expected at least one boolean mask")
    for i, m in given:
        if not isinstance(m, Tensor) or m.dtype != torch.bool:
            got = m.dtype if isinstance(m, Tensor) else type(m).__name__
            raise ValueError(f"masks[{i}] must be a boolean tensor (True = may attend); got {got}")
    combined = given[0][1]
    shape = combined.shape
    for i, m in given[1:]:
        try:
            shape = torch.broadcast_shapes(shape, m.shape)
        except RuntimeError:
            raise ValueError(
                f"masks[{i}] has shape {tuple(m.shape)}, which does not broadcast with the shape "
                f"{tuple(shape)} of the masks before it; expected shapes that broadcast together, "
                f"e.g. (L_q, L_k), (B, 1, L_k) and (B, L_q, L_k)"
            ) from None
        combined = combined & m
    # A lone mask is copied, so that writing into the result never changes the input.
    return combined.clone() if len(given) == 1 else combined


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
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a boolean tensor (True = may attend); got {got}")
    if key_padding:
        if mask.dim() != 3 or mask.shape[1] != 1:
            raise ValueError(
                f"mask has shape {tuple(mask.shape)}; a key padding mask needs (B, 1, L_k), "
                f"the shape padding_mask returns"
            )
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
    if not isinstance(mask, Tensor):
        raise ValueError(f"mask must be a torch.Tensor; got {type(mask).__name__}")
    if mask.dtype == torch.bool:
        ours = ~mask
    elif mask.dtype.is_floating_point:
        if not bool(((mask == 0) | (mask == float("-inf"))).all()):
            raise ValueError(
                "mask is a float mask with values other than 0 and -inf; an additive bias that "
                "is not a hard mask has no boolean equivalent"
            )
        ours = mask == 0
    else:
        raise ValueError(f"mask has dtype {mask.dtype}; expected bool, or float of 0 and -inf")
    if key_padding:
        if ours.dim() != 2:
            raise ValueError(f"mask has shape {tuple(mask.shape)}; a key_padding_mask is (B, L_k)")
        ours = ours.unsqueeze(1)  # (B, 1, L_k)
    return ours
