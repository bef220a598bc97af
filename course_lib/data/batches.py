"""Batches: numbers turned into padded (source, target) tensors with the masks of docs/DESIGN.md.

:func:`make_batch` writes each number on both sides (:mod:`course_lib.data.spelling`),
numbers the tokens (:mod:`course_lib.data.vocab`) and pads them into a :class:`Batch` with
the masks of ``docs/DESIGN.md`` (True = may attend); :func:`iterate_batches` walks a split in
batches, English to Chinese by default or Chinese to English.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib import _validate
from course_lib.data.spelling import MAX_NUMBER, chinese_numerals, english_words
from course_lib.data.vocab import CHINESE_VOCAB, ENGLISH_VOCAB, JOINT_VOCAB, Vocab
from course_lib.masks import causal_mask, combine_masks, padding_mask

__all__ = ["Batch", "make_batch", "iterate_batches"]


@dataclass
class Batch:
    """A padded batch of translation pairs, ready for an encoder-decoder (chapter 10).

    ``S`` is the longest source in the batch and ``T`` the longest target plus one
    (for ``<bos>`` or ``<eos>``). Masks follow ``docs/DESIGN.md``: boolean, True = may attend.

    Attributes
    ----------
    src : Tensor, shape (B, S), long
        Source ids, padded with ``<pad>`` (0).
    tgt_in : Tensor, shape (B, T), long
        Decoder input: ``<bos>`` then the target ids (teacher forcing), padded.
    tgt_out : Tensor, shape (B, T), long
        What the decoder must predict: the target ids then ``<eos>``, padded with 0,
        so a loss with ``ignore_index=Vocab.PAD`` skips the padding.
    src_lengths : Tensor, shape (B,), long
        Real source lengths.
    tgt_lengths : Tensor, shape (B,), long
        Real lengths of ``tgt_in`` (= of ``tgt_out``): target tokens + 1.
    src_mask : Tensor, shape (B, 1, S), bool
        Padding mask of the source: for encoder self-attention and for cross-attention.
    tgt_mask : Tensor, shape (B, T, T), bool
        Causal mask AND target padding mask: for decoder self-attention.
    numbers : list of int
        The integers the rows were made from.
    """

    src: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    src_lengths: Tensor
    tgt_lengths: Tensor
    src_mask: Tensor
    tgt_mask: Tensor
    numbers: list[int]

    def to(self, device: torch.device | str) -> Batch:
        """Return a copy with every tensor moved to ``device``."""
        moved = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in vars(self).items()}
        return Batch(**moved)


_DIRECTIONS = {
    "en-zh": (english_words, ENGLISH_VOCAB, chinese_numerals, CHINESE_VOCAB),
    "zh-en": (chinese_numerals, CHINESE_VOCAB, english_words, ENGLISH_VOCAB),
}


def _pad(rows: list[list[int]]) -> Tensor:
    out = torch.full((len(rows), max(map(len, rows))), Vocab.PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def make_batch(numbers: Sequence[int], *, direction: str = "en-zh", shared_vocab: bool = False) -> Batch:
    """Turn numbers into a padded batch of (source, target) translation pairs.

    Parameters
    ----------
    numbers : sequence of int
        ``B >= 1`` numbers in ``0..MAX_NUMBER``.
    direction : {"en-zh", "zh-en"}, default "en-zh"
        English words to Chinese numerals, or back.
    shared_vocab : bool, default False
        Encode both sides with :data:`JOINT_VOCAB` (one id space, for a model with tied
        embeddings) instead of :data:`ENGLISH_VOCAB` and :data:`CHINESE_VOCAB`. The
        special ids, the shapes and the masks are the same either way.

    Returns
    -------
    Batch
        ``src (B, S)``, ``tgt_in (B, T)``, ``tgt_out (B, T)``, lengths, and the masks
        ``src_mask (B, 1, S)`` and ``tgt_mask (B, T, T)``.

    Raises
    ------
    ValueError
        If ``numbers`` is not a non-empty sequence of integers in ``0..MAX_NUMBER``, or
        ``direction`` or ``shared_vocab`` is not one of its values.
    """
    _validate.one_of("direction", direction, _DIRECTIONS)
    numbers = _batch_numbers(numbers)
    write_src, src_vocab, write_tgt, tgt_vocab = _DIRECTIONS[direction]
    if _validate.boolean("shared_vocab", shared_vocab):
        src_vocab = tgt_vocab = JOINT_VOCAB
    src_rows = [src_vocab.to_ids(write_src(n)) for n in numbers]
    tgt_rows = [tgt_vocab.to_ids(write_tgt(n)) for n in numbers]
    src = _pad(src_rows)  # (B, S)
    tgt_in = _pad([[Vocab.BOS, *row] for row in tgt_rows])  # (B, T)
    tgt_out = _pad([[*row, Vocab.EOS] for row in tgt_rows])  # (B, T)
    src_lengths = torch.tensor([len(r) for r in src_rows])
    tgt_lengths = torch.tensor([len(r) + 1 for r in tgt_rows])
    T = tgt_in.shape[1]
    return Batch(
        src=src,
        tgt_in=tgt_in,
        tgt_out=tgt_out,
        src_lengths=src_lengths,
        tgt_lengths=tgt_lengths,
        src_mask=padding_mask(src_lengths, src.shape[1]),  # (B, 1, S)
        tgt_mask=combine_masks(causal_mask(T), padding_mask(tgt_lengths, T)),  # (B, T, T)
        numbers=numbers,
    )


def _batch_numbers(numbers: object) -> list[int]:
    """``numbers`` as a list of ints, each checked, named by its index in error messages."""
    if isinstance(numbers, (str, bytes)):
        raise _validate.fail("numbers", numbers, "a sequence of ints")
    try:
        items = list(numbers)  # a list, tuple, 1-d array or tensor
    except TypeError:  # an int, a 0-d tensor, None
        raise _validate.fail("numbers", numbers, "a sequence of ints") from None
    if not items:
        raise _validate.fail("numbers", numbers, "at least one number: a batch is never empty")
    return [_validate.integer(f"numbers[{i}]", n, minimum=0, maximum=MAX_NUMBER,
                              expected=f"an int with 0 <= n <= {MAX_NUMBER:,}")
            for i, n in enumerate(items)]


def iterate_batches(
    numbers: Sequence[int],
    *,
    batch_size: int,
    direction: str = "en-zh",
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    shared_vocab: bool = False,
) -> Iterator[Batch]:
    """Yield padded batches covering ``numbers`` once (one epoch).

    Parameters
    ----------
    numbers : sequence of int
        A split, e.g. ``make_splits(...).train``.
    batch_size : int
        Rows per batch; the last batch may be smaller unless ``drop_last``.
    direction : {"en-zh", "zh-en"}, default "en-zh"
        Passed to :func:`make_batch`.
    generator : torch.Generator, optional
        If given, the numbers are shuffled with it; if None they keep their order.
    drop_last : bool, default False
        Skip a final batch smaller than ``batch_size``.
    shared_vocab : bool, default False
        Passed to :func:`make_batch`: one joint vocabulary for both sides.

    Yields
    ------
    Batch
        See :func:`make_batch`.
    """
    batch_size = _validate.positive_int("batch_size", batch_size)
    _validate.boolean("drop_last", drop_last)
    numbers = _batch_numbers(numbers)
    _validate.one_of("direction", direction, _DIRECTIONS)
    if _validate.generator("generator", generator) is None:
        order = list(range(len(numbers)))
    else:
        order = torch.randperm(len(numbers), generator=generator).tolist()
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    for start in range(0, stop, batch_size):
        yield make_batch([numbers[i] for i in order[start : start + batch_size]],
                         direction=direction, shared_vocab=shared_vocab)
