"""GRU encoder–decoders, without and with additive attention: the lineage before the Transformer (chapter 2).

The notes tell the story in three steps (RNN 死记硬背 → attention 提纲挈领 → Transformer);
this module makes the first two trainable with the same loop, data, evaluation and
decoding as :class:`course_lib.transformer.Transformer`:

- ``RNNConfig(attention=False)``: Sutskever et al. (2014) / Cho et al. (2014). A GRU reads
  the source; its state at the last real source token is the *whole* summary: it starts
  the decoder GRU and is fed to it again at every step (as d2l.ai's ``Seq2SeqDecoder``).
- ``RNNConfig(attention=True)``: Bahdanau et al. (2015). At each step the decoder's
  previous state is the query of :func:`course_lib.attention.additive_attention` over
  every encoder state, and the context it returns replaces the fixed summary.

Interface, as the Transformer's: ``forward(src, tgt_in, src_mask, tgt_mask) -> logits``,
``encode(src, src_mask) -> memory`` and ``decode(tgt_in, memory, tgt_mask, memory_mask)
-> logits`` (one pass over the target tokens given, what greedy and beam search call),
and ``config.pad_id``. ``tgt_mask`` is accepted and checked but not needed: a recurrence
is causal by construction. The source must be padded at the end (as
:func:`course_lib.data.make_batch` pads): the encoder reads left to right, so padding
after the last real token never reaches the states the decoder uses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from course_lib._validate import (
    boolean, fail, floating, integer, module_dtype, positive_int, probability, shape_error, tensor,
)
from course_lib.attention import additive_attention
from course_lib.embedding import _check_ids as _check_embedding_ids
from course_lib.embedding import _init_normal
from course_lib.embedding import build_embeddings, parameter_count

__all__ = ["RNNConfig", "RNNSeq2Seq", "width_for_parameter_count"]


@dataclass
class RNNConfig:
    """The hyper-parameters of an :class:`RNNSeq2Seq`.

    Parameters
    ----------
    vocab_size : int, default 1000
        Size of the shared vocabulary ``V``.
    d_model : int, default 128
        Width of the embeddings and of every GRU state (one name for the model width, as
        in :class:`~course_lib.transformer.TransformerConfig`).
    num_layers : int, default 1
        Stacked GRU layers in the encoder, and again in the decoder.
    attention : bool, default False
        False: the fixed summary (no attention). True: Bahdanau's additive attention.
    dropout : float, default 0.0
        Between stacked GRU layers (torch's ``nn.GRU`` dropout) and on the embeddings.
    tie_embeddings : bool, default True
        One ``(V, d_model)`` matrix for both embeddings and the output projection.
    pad_id : int, default 0
        Id of the padding token (used by :mod:`course_lib.decoding`).

    Raises
    ------
    ValueError
        Naming the field.
    """

    vocab_size: int = 1000
    d_model: int = 128
    num_layers: int = 1
    attention: bool = False
    dropout: float = 0.0
    tie_embeddings: bool = True
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "num_layers"):
            setattr(self, name, positive_int(name, getattr(self, name)))
        self.dropout = probability("dropout", self.dropout)
        for name in ("attention", "tie_embeddings"):
            boolean(name, getattr(self, name))
        self.pad_id = integer("pad_id", self.pad_id, minimum=0, maximum=self.vocab_size - 1,
                              expected=f"an int in [0, vocab_size={self.vocab_size})")


def _check_source_mask(name: str, mask: Tensor | None, batch: int, length: int) -> None:
    """A source mask is None or boolean ``(B, 1, S)``, True at the real tokens."""
    if mask is None:
        return
    expected = f"a boolean (B, 1, S) = ({batch}, 1, {length}) tensor (True = a real token)"
    tensor(name, mask, shape=expected)
    if mask.dtype != torch.bool:
        raise fail(name, mask, expected)
    if tuple(mask.shape) != (batch, 1, length):
        raise shape_error(name, mask, expected)


class RNNSeq2Seq(nn.Module):
    """A GRU encoder–decoder, with a fixed summary or with additive attention (chapter 2's lineage).

    Parameters
    ----------
    config : RNNConfig

    Attributes
    ----------
    config : RNNConfig
    src_embed, tgt_embed, output_projection
        As :func:`course_lib.embedding.build_embeddings` makes them (one matrix if tied).
    encoder, decoder : nn.GRU
        ``batch_first``; the decoder reads ``[embedding, context]`` (width ``2 · d_model``).
    w_q, w_k : nn.Parameter, shape (d_model, d_model); w_v : nn.Parameter, shape (d_model,)
        The additive score's weights (attention only).
    cross_attn_weights : Tensor, shape (B, T, S), or None
        The attention weights of the latest :meth:`decode` (detached), for plots.
    """

    def __init__(self, config: RNNConfig):
        super().__init__()
        if not isinstance(config, RNNConfig):
            raise fail("config", config, "an RNNConfig")
        self.config = config
        d, V = config.d_model, config.vocab_size
        self.src_embed, self.tgt_embed, self.output_projection = build_embeddings(
            d, src_vocab_size=V, tgt_vocab_size=V,
            shared_vocab=config.tie_embeddings, tie_output=config.tie_embeddings)
        between = config.dropout if config.num_layers > 1 else 0.0  # torch warns otherwise
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = nn.GRU(d, d, config.num_layers, batch_first=True, dropout=between)
        self.decoder = nn.GRU(2 * d, d, config.num_layers, batch_first=True, dropout=between)
        if config.attention:
            scale = d ** -0.5  # keeps tanh's inputs near unit size at initialisation
            self.w_q = nn.Parameter(torch.empty(d, d))
            self.w_k = nn.Parameter(torch.empty(d, d))
            self.w_v = nn.Parameter(torch.empty(d))
            for weight in (self.w_q, self.w_k, self.w_v):  # N(0, 1/d), as torch.randn(...) * scale drew them
                _init_normal(weight, scale)
        self.cross_attn_weights: Tensor | None = None

    def _check_ids(self, name: str, ids: Tensor, length: str) -> None:
        if tensor(name, ids, shape=f"(B, {length})").dim() != 2:
            raise shape_error(name, ids, f"(B, {length}) token ids")
        _check_embedding_ids(ids, self.config.vocab_size, name)

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """Run the encoder GRU over source ids ``src`` (B, S); return its states ``memory`` (B, S, d_model).

        ``src_mask`` (B, 1, S) is checked here and used by :meth:`decode` (pass it there as
        ``memory_mask``); the states at real tokens do not depend on trailing padding.
        """
        self._check_ids("src", src, "S")
        _check_source_mask("src_mask", src_mask, *src.shape)
        memory, _ = self.encoder(self.dropout(self.src_embed(src)))
        return memory

    def _summary(self, memory: Tensor, memory_mask: Tensor | None) -> Tensor:
        """The encoder state at each row's last real token, (B, d_model); zeros for an empty row."""
        batch, length = memory.shape[:2]
        if memory_mask is None:
            return memory[:, -1]
        positions = torch.arange(length, device=memory.device)
        last = torch.where(memory_mask[:, 0], positions, -1).max(dim=-1).values  # (B,)
        picked = memory[torch.arange(batch, device=memory.device), last.clamp(min=0)]
        return picked * (last >= 0).unsqueeze(-1).to(memory.dtype)

    def decode(self, tgt_in: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
               memory_mask: Tensor | None = None) -> Tensor:
        """Run the decoder GRU and the output projection over ``tgt_in`` (B, T) given ``memory`` (B, S, d_model).

        Parameters
        ----------
        tgt_in : Tensor of int, shape (B, T)
            ``<bos>`` then the target so far.
        memory : Tensor, shape (B, S, d_model)
            From :meth:`encode`.
        tgt_mask : Tensor of bool, optional
            Checked, not needed (the recurrence never sees later tokens).
        memory_mask : Tensor of bool, shape (B, 1, S), optional
            True at real source tokens: the summary is taken at the last one, and attention
            never reads padding.

        Returns
        -------
        logits : Tensor, shape (B, T, vocab_size)
        """
        self._check_ids("tgt_in", tgt_in, "T")
        d = self.config.d_model
        if tensor("memory", memory, shape=f"(B, S, {d})").dim() != 3 or memory.shape[-1] != d \
                or memory.shape[0] != tgt_in.shape[0]:
            raise shape_error("memory", memory, f"(B, S, d_model) = ({tgt_in.shape[0]}, S, {d})")
        module_dtype("memory", floating("memory", memory), self)
        if tgt_mask is not None and (not isinstance(tgt_mask, Tensor) or tgt_mask.dtype != torch.bool):
            raise fail("tgt_mask", tgt_mask, "a boolean tensor or None")
        _check_source_mask("memory_mask", memory_mask, memory.shape[0], memory.shape[1])
        summary = self._summary(memory, memory_mask)  # (B, d)
        state = summary.unsqueeze(0).repeat(self.config.num_layers, 1, 1).contiguous()  # (layers, B, d)
        x = self.dropout(self.tgt_embed(tgt_in))  # (B, T, d)
        if not self.config.attention:  # the same summary at every step: one GRU call
            context = summary.unsqueeze(1).expand(-1, x.shape[1], -1)
            out, _ = self.decoder(torch.cat([x, context], dim=-1), state)
            return self.output_projection(out)
        outs, weights = [], []
        for t in range(x.shape[1]):  # the query at step t is the state before it
            context, w = additive_attention(state[-1].unsqueeze(1), memory, memory, w_q=self.w_q,
                                            w_k=self.w_k, w_v=self.w_v, mask=memory_mask)
            out, state = self.decoder(torch.cat([x[:, t : t + 1], context], dim=-1), state)
            outs.append(out)
            weights.append(w)
        if outs:
            self.cross_attn_weights = torch.cat(weights, dim=1).detach()  # (B, T, S)
            return self.output_projection(torch.cat(outs, dim=1))
        return self.output_projection(x.new_zeros(x.shape[0], 0, d))

    def forward(self, src: Tensor, tgt_in: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None) -> Tensor:
        """Encode ``src`` (B, S), decode ``tgt_in`` (B, T); return logits (B, T, vocab_size)."""
        return self.decode(tgt_in, self.encode(src, src_mask), tgt_mask, src_mask)


def width_for_parameter_count(target: int, config: RNNConfig) -> int:
    """The ``d_model`` that gives ``config``'s model the parameter count closest to ``target``.

    For comparing the RNNs with a Transformer at equal size; the count grows with the width,
    so a bisection over models built on the ``meta`` device (no memory) finds it.

    Parameters
    ----------
    target : int
        The parameter count to match, e.g. ``parameter_count(transformer)``.
    config : RNNConfig
        Every field but ``d_model`` is kept.

    Returns
    -------
    int
    """
    target = positive_int("target", target)
    if not isinstance(config, RNNConfig):
        raise fail("config", config, "an RNNConfig")

    def count(width: int) -> int:
        with torch.device("meta"):
            return parameter_count(RNNSeq2Seq(replace(config, d_model=width)))

    lo, hi = 1, 2
    while count(hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda w: abs(count(w) - target))
