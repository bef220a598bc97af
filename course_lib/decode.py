"""Decoding: turning a trained Transformer's next-token logits into an output sentence (chapters 10-11).

At training time the decoder sees the whole reference target at once (teacher forcing). At
inference there is no reference: the model writes its output one token at a time, each step
feeding back everything written so far (自回归, autoregressive decoding):

1. encode the source once: ``memory = model.encode(src, src_mask)``;
2. start every row with ``<bos>``;
3. run the decoder on the tokens so far and take the logits of the *last* position;
4. choose the next token from them, append it, and repeat until every row has written
   ``<eos>`` or ``max_len`` tokens.

:func:`greedy_decode` chooses the most likely token at every step (贪心解码). Chapter 11
adds beam search, which keeps several candidate sentences, and a key/value cache that
avoids recomputing the earlier positions at every step; both reuse the encode-once /
step-by-step structure here.

``model`` is anything with the :class:`course_lib.transformer.Transformer` interface:
``encode(src, src_mask) -> memory`` and ``decode(tgt_in, memory, tgt_mask, memory_mask) ->
logits``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.masks import causal_mask

__all__ = ["greedy_decode"]


def _source_mask(model: nn.Module, src: Tensor, src_mask: Tensor | None) -> Tensor:
    """The given mask, or one hiding the padding ids of ``src``: (B, 1, S)."""
    if src_mask is not None:
        return src_mask
    return (src != model.config.pad_id).unsqueeze(1)  # (B, 1, S)


def _next_token_logits(model: nn.Module, ys: Tensor, memory: Tensor, src_mask: Tensor) -> Tensor:
    """Logits of the token after ``ys`` (B, t): the decoder's output at the last position, (B, V).

    The decoder is rerun over the whole prefix at every step (cost grows as ``t²``);
    chapter 11's cache keeps the earlier positions' keys and values instead.
    """
    tgt_mask = causal_mask(ys.shape[1], device=ys.device)  # (t, t)
    return model.decode(ys, memory, tgt_mask, src_mask)[:, -1]  # (B, V)


def greedy_decode(
    model: nn.Module,
    src: Tensor,
    max_len: int,
    *,
    bos_id: int,
    eos_id: int,
    src_mask: Tensor | None = None,
) -> Tensor:
    """Translate a batch of sources by taking the most likely next token at every step.

    The model is put in eval mode (no dropout) and run without gradients; its train/eval
    mode is restored afterwards. Rows are decoded together; a row that has written
    ``<eos>`` gets the padding id (``model.config.pad_id``) from then on, and decoding
    stops as soon as every row has finished, or after ``max_len`` tokens.

    Parameters
    ----------
    model : Transformer
        With ``encode``, ``decode`` and ``config.pad_id``.
    src : Tensor of int, shape (B, S)
        Source ids, padded with ``config.pad_id``.
    max_len : int
        Most tokens to generate per row (``<eos>`` included), at least 1.
    bos_id, eos_id : int
        Ids of ``<bos>`` (fed first, not returned) and ``<eos>`` (returned, then padding).
    src_mask : Tensor of bool, shape (B, 1, S), optional
        True on real source tokens. Default: ``src != config.pad_id``.

    Returns
    -------
    Tensor of long, shape (B, L) with ``1 <= L <= max_len``
        The generated ids, without ``<bos>``: each row is its tokens, ``<eos>``, then
        padding; a row that never wrote ``<eos>`` has ``max_len`` tokens.
        ``Vocab.decode`` turns a row back into text.
    """
    if not isinstance(src, Tensor) or src.dim() != 2:
        got = tuple(src.shape) if isinstance(src, Tensor) else type(src).__name__
        raise ValueError(f"src has shape {got}; expected (B, S) token ids")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len={max_len!r}; expected a positive int")
    pad_id = model.config.pad_id
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            src_mask = _source_mask(model, src, src_mask)
            memory = model.encode(src, src_mask)  # (B, S, d_model), computed once
            B = src.shape[0]
            ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)  # (B, 1)
            finished = torch.zeros(B, dtype=torch.bool, device=src.device)
            for _ in range(max_len):
                next_id = _next_token_logits(model, ys, memory, src_mask).argmax(dim=-1)  # (B,)
                next_id = next_id.masked_fill(finished, pad_id)
                ys = torch.cat([ys, next_id[:, None]], dim=1)
                finished |= next_id == eos_id
                if bool(finished.all()):
                    break
    finally:
        model.train(was_training)
    return ys[:, 1:]  # drop <bos>
