"""Embeddings and the pre-softmax projection, sharing one matrix (chapter 9, 嵌入与 softmax).

Tokens enter the Transformer as integer ids and leave it as a probability for every word
of the vocabulary (Vaswani et al. 2017, section 3.4):

- :class:`Embeddings` turns each id into a vector of length ``d_model`` by looking up a row
  of a ``(vocab_size, d_model)`` matrix ``E``, and multiplies it by ``sqrt(d_model)``;
- :class:`OutputProjection` turns each decoder output ``h`` into one score (logit) per word,
  ``h @ E^T``; a softmax of the logits is the distribution of the next token.

The paper uses **one** matrix for the source embedding, the target embedding and the
pre-softmax projection (with a shared source/target vocabulary of about 37000 BPE tokens).
:func:`build_embeddings` makes the three with the sharing asked for, and
:func:`parameter_count` counts a shared matrix once, so the saving shows.

Initialisation and the scale go together. The table is drawn from ``N(0, 1/d_model)`` (as
in the paper's tensor2tensor code), so a raw row has norm about 1, while a row of the
sinusoidal position encoding has norm ``sqrt(d_model / 2)``. Multiplying by
``sqrt(d_model)`` brings the token to norm about ``sqrt(d_model)``, the same order as its
position, and gives the logits ``h @ E^T`` of the tied projection a sensible size.

For chapter 10: ``TransformerConfig(vocab_size, d_model, tie_embeddings=True)`` describes
one vocabulary shared by source and target, the paper's three-way sharing::

    src_embed, tgt_embed, generator = build_embeddings(
        config.d_model, src_vocab_size=config.vocab_size, tgt_vocab_size=config.vocab_size,
        shared_vocab=config.tie_embeddings, tie_output=config.tie_embeddings)

Ids are ``(B, L)`` integer tensors; the decoder output ``h`` is ``(B, L, d_model)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Embeddings", "OutputProjection", "EmbeddingLayers", "build_embeddings", "parameter_count"]


def _check_size(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r}; expected a positive int")


def _check_ids(ids: Tensor, vocab_size: int) -> None:
    if not isinstance(ids, Tensor):
        raise ValueError(f"ids must be a torch.Tensor of token ids; got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ValueError(f"ids has dtype {ids.dtype}; expected integer token ids (torch.long)")
    if ids.device.type == "meta" or ids.numel() == 0:
        return
    low, high = ids.min().item(), ids.max().item()  # one host sync, worth a clear message
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"ids contains {bad}, outside [0, vocab_size={vocab_size}); expected ids in range")


class Embeddings(nn.Module):
    """Look up each token id's row of the embedding matrix and scale it by ``sqrt(d_model)``.

    ``Embeddings(ids) = E[ids] * sqrt(d_model)`` (Vaswani et al. 2017, section 3.4), which
    equals ``one_hot(ids) @ E * sqrt(d_model)`` computed without the one-hot.

    Parameters
    ----------
    vocab_size : int
        Number of rows ``V``.
    d_model : int
        Width of each vector.
    device, dtype : optional
        Where and how to create the matrix (``device="meta"`` counts parameters without
        allocating them).

    Attributes
    ----------
    weight : Parameter, shape (vocab_size, d_model)
        The matrix ``E``, initialised ``N(0, 1/d_model)``. An :class:`OutputProjection`
        built with ``tied_to=`` this module uses the same tensor.

    Shape
    -----
    ``forward(ids)``: ids of any integer shape, e.g. (B, L) -> (B, L, d_model).
    """

    def __init__(self, vocab_size: int, d_model: int, *, device=None, dtype=None):
        super().__init__()
        _check_size("vocab_size", vocab_size)
        _check_size("d_model", d_model)
        self.vocab_size, self.d_model = vocab_size, d_model
        self.weight = nn.Parameter(torch.empty(vocab_size, d_model, device=device, dtype=dtype))
        nn.init.normal_(self.weight, mean=0.0, std=d_model**-0.5)

    def forward(self, ids: Tensor) -> Tensor:
        _check_ids(ids, self.vocab_size)
        return F.embedding(ids, self.weight) * math.sqrt(self.d_model)  # (*ids.shape, d_model)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, d_model={self.d_model}"


class OutputProjection(nn.Module):
    """Map decoder outputs to one logit per vocabulary word: ``logits = h @ W^T (+ b)``.

    The pre-softmax linear transformation of section 3.4; ``softmax(logits)`` is the
    distribution of the next token. With ``tied_to=embeddings`` the matrix ``W`` *is* the
    embedding matrix ``E`` (the same Parameter, so one gradient step changes both), and
    the logit of word ``t`` is the dot product of ``h`` with ``t``'s embedding. No
    ``sqrt(d_model)`` here: the scale belongs to the lookup.

    Parameters
    ----------
    d_model : int
    vocab_size : int
    tied_to : Embeddings, optional
        Share its ``weight``; ``vocab_size`` and ``d_model`` must match it.
    bias : bool, default False
        Add a learned bias per word (never shared). The paper's shared matrix has none.
    device, dtype : optional
        For an untied matrix and the bias.

    Shape
    -----
    ``forward(h)``: (..., d_model) -> (..., vocab_size) logits (apply a softmax, or hand
    them to ``cross_entropy``, which applies log-softmax itself).
    """

    def __init__(self, d_model: int, vocab_size: int, *, tied_to: Embeddings | None = None,
                 bias: bool = False, device=None, dtype=None):
        super().__init__()
        _check_size("d_model", d_model)
        _check_size("vocab_size", vocab_size)
        self.d_model, self.vocab_size = d_model, vocab_size
        self.tied = tied_to is not None
        if tied_to is not None:
            shape = tuple(tied_to.weight.shape)
            if shape != (vocab_size, d_model):
                raise ValueError(
                    f"tied_to has a weight of shape {shape}; expected (vocab_size={vocab_size}, "
                    f"d_model={d_model}) to share it"
                )
            self.weight = tied_to.weight  # the same Parameter object: one matrix, two uses
            device, dtype = tied_to.weight.device, tied_to.weight.dtype
        else:
            self.weight = nn.Parameter(torch.empty(vocab_size, d_model, device=device, dtype=dtype))
            nn.init.normal_(self.weight, mean=0.0, std=d_model**-0.5)
        self.bias = nn.Parameter(torch.zeros(vocab_size, device=device, dtype=dtype)) if bias else None

    def forward(self, h: Tensor) -> Tensor:
        if not isinstance(h, Tensor) or h.dim() < 1 or h.shape[-1] != self.d_model:
            got = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
            raise ValueError(f"h has shape {got}; expected (..., d_model={self.d_model})")
        return F.linear(h, self.weight, self.bias)  # (..., vocab_size)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, vocab_size={self.vocab_size}, tied={self.tied}, bias={self.bias is not None}"


class EmbeddingLayers(NamedTuple):
    """The three layers around a Transformer, from :func:`build_embeddings`."""

    source: Embeddings
    target: Embeddings
    output: OutputProjection


def build_embeddings(
    d_model: int,
    *,
    src_vocab_size: int,
    tgt_vocab_size: int,
    shared_vocab: bool = False,
    tie_output: bool = True,
    bias: bool = False,
    device=None,
    dtype=None,
) -> EmbeddingLayers:
    """Build the source embedding, target embedding and pre-softmax projection, sharing as asked.

    - ``tie_output``: the projection uses the target embedding's matrix (both index the
      target vocabulary, so this is always possible).
    - ``shared_vocab``: source and target are one vocabulary (the paper's shared BPE), so
      they use one embedding. Equal sizes are not enough: English and Chinese vocabularies
      of the same size still mean different things row by row, so this is explicit.

    Both together are the paper's three-way sharing: one ``(V, d_model)`` matrix in all.

    Parameters
    ----------
    d_model : int
    src_vocab_size, tgt_vocab_size : int
        Must be equal when ``shared_vocab=True``.
    shared_vocab : bool, default False
    tie_output : bool, default True
    bias : bool, default False
        Give the projection a bias (never shared).
    device, dtype : optional

    Returns
    -------
    EmbeddingLayers
        ``(source, target, output)``; with ``shared_vocab`` ``source is target``.
    """
    if shared_vocab and src_vocab_size != tgt_vocab_size:
        raise ValueError(
            f"shared_vocab=True needs one vocabulary, but src_vocab_size={src_vocab_size} and "
            f"tgt_vocab_size={tgt_vocab_size}; expected equal sizes (or shared_vocab=False)"
        )
    target = Embeddings(tgt_vocab_size, d_model, device=device, dtype=dtype)
    source = target if shared_vocab else Embeddings(src_vocab_size, d_model, device=device, dtype=dtype)
    output = OutputProjection(d_model, tgt_vocab_size, tied_to=target if tie_output else None,
                              bias=bias, device=device, dtype=dtype)
    return EmbeddingLayers(source, target, output)


def parameter_count(*modules: nn.Module | Iterable[nn.Parameter]) -> int:
    """Count the parameters of some modules, each distinct tensor once.

    ``sum(p.numel() for p in m.parameters())`` over several modules counts a tied matrix
    once per module that uses it; this counts it once. Buffers (such as a positional
    encoding table) are not parameters and are not counted.

    Parameters
    ----------
    *modules : nn.Module or iterable of Parameter

    Returns
    -------
    int
        The number of trainable numbers the modules hold together.
    """
    seen: dict[int, int] = {}
    for m in modules:
        for p in m.parameters() if isinstance(m, nn.Module) else m:
            seen[id(p)] = p.numel()
    return sum(seen.values())
