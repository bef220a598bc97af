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

    src_embed, tgt_embed, output_projection = build_embeddings(
        config.d_model, src_vocab_size=config.vocab_size, tgt_vocab_size=config.vocab_size,
        shared_vocab=config.tie_embeddings, tie_output=config.tie_embeddings)

Ids are ``(B, L)`` integer tensors; the decoder output ``h`` is ``(B, L, d_model)``.

Checking the ids' range costs a host sync (``ids.min().item()``), so :class:`Embeddings`
does it only where that is free: on CPU tensors, outside ``torch.compile`` tracing. On a
GPU the lookup itself catches an out-of-range id (a device-side assert, reported at the
next sync), and a check there would stall every training step (see :func:`_range_checked`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validate import boolean, fail, floating, module_dtype, positive_int, shape_error, tensor

__all__ = ["Embeddings", "OutputProjection", "EmbeddingLayers", "build_embeddings", "parameter_count"]


def _range_checked(ids: Tensor) -> bool:
    """Whether :class:`Embeddings` checks the range of ``ids``: only where it costs no device sync.

    True for a non-empty CPU tensor in eager mode. False on any other device (on a GPU,
    ``.item()`` would wait for every queued kernel at every training step; torch's lookup
    raises its own device-side assert for a bad id there), on ``meta`` (no values), and
    while ``torch.compile`` traces (``.item()`` would break the graph).
    """
    return ids.device.type == "cpu" and ids.numel() > 0 and not torch.compiler.is_compiling()


def _check_ids(ids: Tensor, vocab_size: int, name: str = "ids") -> None:
    tensor(name, ids)
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise fail(name, ids, "integer token ids (torch.long)")
    if not _range_checked(ids):
        return
    low, high = ids.min().item(), ids.max().item()  # free on the CPU, and worth a clear message
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"{name} contains {bad}; expected ids in [0, vocab_size={vocab_size})")


def _init_normal(weight: Tensor, std: float) -> None:
    """Fill ``weight`` from N(0, std²) in place; a ``meta`` tensor has no values to fill.

    (On ``meta``, torch's ``normal_`` runs a Python decomposition that imports torch._dynamo
    the first time, about 2 s; counting parameters does not need it.)
    """
    if weight.device.type != "meta":
        nn.init.normal_(weight, mean=0.0, std=std)


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
    scale : bool, default True
        Multiply by ``sqrt(d_model)`` (the paper). GPT and BERT do not: their tables are
        initialised ``N(0, 0.02²)`` and added to a learned position embedding as they are.

    Attributes
    ----------
    weight : Parameter, shape (vocab_size, d_model)
        The matrix ``E``, initialised ``N(0, 1/d_model)``. An :class:`OutputProjection`
        built with ``tied_to=`` this module uses the same tensor.

    Shape
    -----
    ``forward(ids)``: ids of any integer shape, e.g. (B, L) -> (B, L, d_model).
    """

    def __init__(self, vocab_size: int, d_model: int, *, device=None, dtype=None, scale: bool = True):
        super().__init__()
        self.scale = boolean("scale", scale)
        self.vocab_size = positive_int("vocab_size", vocab_size)
        self.d_model = d_model = positive_int("d_model", d_model)
        self.weight = nn.Parameter(torch.empty(vocab_size, d_model, device=device, dtype=dtype))
        _init_normal(self.weight, d_model**-0.5)

    def forward(self, ids: Tensor) -> Tensor:
        """Return ``E[ids] · sqrt(d_model)`` (``E[ids]`` when ``scale=False``), shape ``(*ids.shape, d_model)``.

        ``ids`` must be integers; their range ``[0, vocab_size)`` is checked with a clear
        message on CPU tensors only (see :func:`_range_checked`).
        """
        _check_ids(ids, self.vocab_size)
        rows = F.embedding(ids, self.weight)  # (*ids.shape, d_model)
        return rows * math.sqrt(self.d_model) if self.scale else rows

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, d_model={self.d_model}" + ("" if self.scale else ", scale=False")


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
        self.d_model = d_model = positive_int("d_model", d_model)
        self.vocab_size = vocab_size = positive_int("vocab_size", vocab_size)
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
            _init_normal(self.weight, d_model**-0.5)
        self.bias = nn.Parameter(torch.zeros(vocab_size, device=device, dtype=dtype)) if bias else None

    def forward(self, h: Tensor) -> Tensor:
        """Return the logits ``h @ W^T (+ b)``, shape ``(..., vocab_size)``, for ``h`` of shape (..., d_model)."""
        if tensor("h", h, shape="(..., d_model)").dim() < 1 or h.shape[-1] != self.d_model:
            raise shape_error("h", h, f"(..., d_model={self.d_model})")
        module_dtype("h", floating("h", h), self)
        return F.linear(h, self.weight, self.bias)  # (..., vocab_size)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, vocab_size={self.vocab_size}, tied={self.tied}, bias={self.bias is not None}"


class EmbeddingLayers(NamedTuple):
    """The three layers around a Transformer, from :func:`build_embeddings`."""

    source: Embeddings
    target: Embeddings
    output_projection: OutputProjection


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
        ``(source, target, output_projection)``; with ``shared_vocab`` ``source is target``.
    """
    d_model = positive_int("d_model", d_model)
    src_vocab_size = positive_int("src_vocab_size", src_vocab_size)
    tgt_vocab_size = positive_int("tgt_vocab_size", tgt_vocab_size)
    shared_vocab, tie_output = boolean("shared_vocab", shared_vocab), boolean("tie_output", tie_output)
    bias = boolean("bias", bias)
    if shared_vocab and src_vocab_size != tgt_vocab_size:
        raise ValueError(
            f"shared_vocab=True needs one vocabulary, but src_vocab_size={src_vocab_size} and "
            f"tgt_vocab_size={tgt_vocab_size}; expected equal sizes (or shared_vocab=False)"
        )
    target = Embeddings(tgt_vocab_size, d_model, device=device, dtype=dtype)
    source = target if shared_vocab else Embeddings(src_vocab_size, d_model, device=device, dtype=dtype)
    output_projection = OutputProjection(d_model, tgt_vocab_size, tied_to=target if tie_output else None,
                                         bias=bias, device=device, dtype=dtype)
    return EmbeddingLayers(source, target, output_projection)


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
    for i, m in enumerate(modules):
        params = list(m.parameters()) if isinstance(m, nn.Module) else m
        expected = "an nn.Module or an iterable of tensors (parameters)"
        if isinstance(params, (str, bytes, Tensor)) or not hasattr(params, "__iter__"):
            raise fail(f"modules[{i}]", m, expected)
        for p in params:
            if not isinstance(p, Tensor):
                raise fail(f"modules[{i}]", m, expected)
            seen[id(p)] = p.numel()
    return sum(seen.values())
