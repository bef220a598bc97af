"""The full Transformer (Transformer 整体架构): encoder, decoder, embeddings, output (chapter 10).

Vaswani et al. (2017), section 3 and Figure 1, assembled from the parts of chapters 4-9::

    src ids (B, S) ──Embeddings·√d──+PE──► Encoder: N × EncoderLayer ──► memory (B, S, d_model)
                                                                              │
    tgt_in ids (B, T) ─Embeddings·√d─+PE─► Decoder: N × DecoderLayer ◄────────┘
                                                 │
                                      OutputProjection (tied to E) ──► logits (B, T, V)

- :class:`EncoderLayer` (编码器层): self-attention (自注意力), then the position-wise FFN
  (前馈网络), each inside a :class:`~course_lib.norm.Residual` (残差 + 层归一化).
- :class:`DecoderLayer` (解码器层): *masked* self-attention (the causal mask keeps position
  ``i`` from seeing the tokens it must predict), then cross-attention (交叉注意力, "encoder-
  decoder attention": queries from the decoder, keys and values from the encoder's output,
  the *memory*), then the FFN; three Residuals.
- :class:`Encoder` and :class:`Decoder` stack ``N`` layers. A pre-LN stack
  (``norm_first=True``) never normalises its residual stream, so it ends with one final
  :class:`~course_lib.norm.LayerNorm` (as ``nn.TransformerEncoder(norm=...)``, GPT-2 and
  Xiong et al. 2020); a post-LN stack (the paper) already ends with a norm and has none.
- :class:`Transformer` adds the embeddings, the positional encoding and the output
  projection, with the paper's sharing of one matrix between them (section 3.4).

Masks follow ``docs/DESIGN.md``: boolean, True = may attend, shaped ``(L_q, L_k)``,
``(B, 1, L_k)`` or ``(B, L_q, L_k)``; the attention modules add the head axis.

Dropout. ``dropout`` is applied where :class:`torch.nn.TransformerEncoderLayer` applies it:
on each sub-layer's output before the residual sum (the paper's residual dropout, section
5.4), on the attention weights and on the FFN's hidden units; :class:`Transformer` also
applies it to the sum of embeddings and positional encoding (section 5.4).

Initialisation. Every weight matrix of the encoder and decoder (the attention projections
and the FFN) is drawn Xavier-uniform (Glorot & Bengio 2010), as
:class:`torch.nn.Transformer` and the Annotated Transformer do, biases and LayerNorms keep
their defaults. The embedding table keeps chapter 9's ``N(0, 1/d_model)``, the scale that
goes with its ``√d_model`` factor (Xavier on a ``37000 × 512`` table would make it about
six times smaller).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validate import (
    boolean, fail, floating, integer, module_dtype, one_of, positive_int, probability, shape_error, tensor,
)
from course_lib.embedding import _check_ids as _check_embedding_ids
from course_lib.embedding import build_embeddings, parameter_count
from course_lib.ffn import PositionwiseFFN
from course_lib.multihead import AttentionCache, MultiHeadAttention, _check_num_heads
from course_lib.norm import LayerNorm, Residual
from course_lib.positional import LearnedPositionalEmbedding, PositionalEncoding

__all__ = [
    "TransformerConfig",
    "SelfAttentionSublayer",
    "CrossAttentionSublayer",
    "EncoderLayer",
    "DecoderLayer",
    "Encoder",
    "Decoder",
    "Transformer",
    "LayerCache",
    "KVCache",
    "parameter_breakdown",
]

_ACTIVATIONS = ("relu", "gelu", "gelu_tanh")
_POSITIONALS = ("sinusoidal", "learned", "none")


@dataclass
class TransformerConfig:
    """The hyper-parameters of a :class:`Transformer`; the defaults are the paper's base model.

    Table 3 of Vaswani et al. (2017), row "base": ``N = 6`` layers in the encoder and in the
    decoder, ``d_model = 512``, ``h = 8`` heads, ``d_ff = 2048``, ``P_drop = 0.1``, with a
    shared source/target vocabulary of about 37000 byte-pair tokens (section 5.1) and one
    matrix for both embeddings and the pre-softmax projection (section 3.4).

    Parameters
    ----------
    vocab_size : int, default 37000
        Size of the (shared) vocabulary ``V``; token ids lie in ``[0, V)``.
    d_model : int, default 512
        Width of every vector between the sub-layers; even (the positional encoding comes
        in sin/cos pairs) and divisible by ``num_heads``.
    num_heads : int, default 8
        Heads per attention sub-layer; ``d_head = d_model / num_heads`` (64 in the base model).
    d_ff : int, default 2048
        Hidden width of the position-wise FFN.
    num_layers : int, default 6
        ``N``: layers in the encoder, and again in the decoder.
    dropout : float, default 0.1
        ``P_drop``: residual, attention-weight, FFN-hidden and embedding dropout.
    norm_first : bool, default False
        False: post-LN, the paper's ``LayerNorm(x + Sublayer(x))``. True: pre-LN,
        ``x + Sublayer(LayerNorm(x))``, with a final LayerNorm after each stack.
    tie_embeddings : bool, default True
        One ``(V, d_model)`` matrix for the source embedding, the target embedding and the
        output projection (the paper). This presumes one vocabulary for both languages
        (:data:`course_lib.data.JOINT_VOCAB` for the number task). False: three matrices.
    max_len : int, default 512
        Longest source or target sequence: the length of the positional table. The paper
        fixes none (its sinusoids extend to any length); 512 is the limit BERT later made
        familiar and is ample for sentence-level translation. The number task needs at
        most 20 source and 18 target positions (``<bos>``/``<eos>`` included).
    activation : {"relu", "gelu", "gelu_tanh"}, default "relu"
        The FFN's non-linearity; the paper's ReLU.
    fast : bool, default False
        Use the fused :func:`torch.nn.functional.scaled_dot_product_attention` in every
        attention sub-layer and :func:`torch.nn.functional.layer_norm` in every LayerNorm.
        Same results, faster, but no attention weights are kept.
    pad_id : int, default 0
        Id of the padding token (:attr:`course_lib.data.Vocab.PAD`), used by
        :func:`course_lib.decoding.greedy_decode` to fill positions after ``<eos>`` and to
        derive a source mask when none is given.
    positional : {"sinusoidal", "learned", "none"}, default "sinusoidal"
        How positions enter: the paper's sinusoids (:class:`~course_lib.positional.PositionalEncoding`),
        a trained table (:class:`~course_lib.positional.LearnedPositionalEmbedding`, the
        paper's Table 3 row E), or not at all (the encoder is then permutation-equivariant).
    scale_scores : bool, default True
        Divide the attention scores by ``√d_head`` (the paper); False for the ablation.
    layer_norm : bool, default True
        Every sub-layer has its LayerNorm, placed as ``norm_first`` says. False: no LayerNorm
        anywhere (no final norms either), so ``norm_first`` changes nothing.
    residual : bool, default True
        Every sub-layer adds its input back; False drops the residual connections.

    The last four are the switches of the ablations (消融实验): each takes one part away
    and leaves the rest, parameters included, as they were.

    Raises
    ------
    ValueError
        Naming the field, e.g. ``d_model=512 is not divisible by num_heads=6``.
    """

    vocab_size: int = 37000
    d_model: int = 512
    num_heads: int = 8
    d_ff: int = 2048
    num_layers: int = 6
    dropout: float = 0.1
    norm_first: bool = False
    tie_embeddings: bool = True
    max_len: int = 512
    activation: str = "relu"
    fast: bool = False
    pad_id: int = 0
    positional: str = "sinusoidal"
    scale_scores: bool = True
    layer_norm: bool = True
    residual: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "num_heads", "d_ff", "num_layers", "max_len"):
            setattr(self, name, positive_int(name, getattr(self, name)))
        _check_num_heads(self.d_model, self.num_heads)
        if self.d_model % 2:
            raise fail("d_model", self.d_model, "an even d_model: the positional encoding's columns "
                                                 "come in (sin, cos) pairs")
        self.dropout = probability("dropout", self.dropout)
        for name in ("norm_first", "tie_embeddings", "fast", "scale_scores", "layer_norm", "residual"):
            boolean(name, getattr(self, name))
        one_of("activation", self.activation, _ACTIVATIONS)
        one_of("positional", self.positional, _POSITIONALS)
        self.pad_id = integer("pad_id", self.pad_id, minimum=0, maximum=self.vocab_size - 1,
                              expected=f"an int in [0, vocab_size={self.vocab_size})")

    @property
    def d_head(self) -> int:
        """Width of one head, ``d_model // num_heads``."""
        return self.d_model // self.num_heads


# --------------------------------------------------------------------------- attention sub-layers


class SelfAttentionSublayer(MultiHeadAttention):
    """Multi-head self-attention adapted to :class:`~course_lib.norm.Residual`: one stream in.

    :class:`Residual` calls its sub-layer as ``sublayer(x, *args)``, with the residual
    stream first; :class:`MultiHeadAttention` takes ``(query, key, value, mask)``. This
    adapter's ``forward(x, mask)`` is ``MultiHeadAttention.forward(x, x, x, mask)``:
    queries, keys and values all come from ``x`` (normalised first, in pre-LN). Same
    constructor and parameters (``w_q, w_k, w_v, w_o``) as :class:`MultiHeadAttention`.
    Not chapter 3's single-head :class:`course_lib.attention.SelfAttention`, whose
    arguments are ``(d_model, d_k, d_v)``: here the second one is ``num_heads``.
    """

    def forward(self, x: Tensor, mask: Tensor | None = None, *,
                cache: AttentionCache | None = None) -> tuple[Tensor, Tensor | None]:
        """Attend from every position of ``x`` (B, L, d_model) to every position of ``x``.

        Returns ``(out (B, L, d_model), weights (B, H, L, L) or None on the fast path)``.
        With a ``cache`` (chapter 11) the keys are the cached positions followed by ``x``'s.
        """
        return super().forward(x, x, x, mask, cache=cache)


class CrossAttentionSublayer(MultiHeadAttention):
    """Decoder-to-encoder attention adapted to :class:`~course_lib.norm.Residual`: queries from ``x``.

    Section 3.2.3: "the queries come from the previous decoder layer, and the memory keys
    and values come from the output of the encoder". ``forward(x, memory, mask)`` is
    ``MultiHeadAttention.forward(x, memory, memory, mask)``, so the residual stream ``x``
    comes first, as :class:`Residual` passes it. In a pre-LN layer only ``x`` is
    normalised by the surrounding :class:`Residual`; the memory arrives as the encoder
    left it (already through the encoder's final norm). Same constructor and parameters
    as :class:`MultiHeadAttention`.
    """

    def forward(self, x: Tensor, memory: Tensor, mask: Tensor | None = None, *,
                cache: AttentionCache | None = None) -> tuple[Tensor, Tensor | None]:
        """Attend from each decoder position of ``x`` (B, T, d) to the encoder output ``memory`` (B, S, d).

        ``mask`` broadcasts to (B, T, S), usually the source padding mask (B, 1, S).
        Returns ``(out (B, T, d_model), weights (B, H, T, S) or None on the fast path)``.
        With a static ``cache`` (chapter 11) the memory's keys and values are projected once.
        """
        expected = f"(B, S, d_model={self.d_model})"
        if tensor("memory", memory, shape=expected).dim() != 3 or memory.shape[-1] != self.d_model:
            raise shape_error("memory", memory, expected, "the encoder's output")
        module_dtype("memory", floating("memory", memory), self)
        return super().forward(x, memory, memory, mask, cache=cache)


# --------------------------------------------------------------------------- layers


def _check_mask_arg(name: str, mask: Tensor | None) -> None:
    """Check a mask under the caller's name (its shape is checked where it meets the scores)."""
    if mask is not None and (not isinstance(mask, Tensor) or mask.dtype != torch.bool):
        raise fail(name, mask, "a boolean tensor (True = may attend), or None")


def _xavier_(module: nn.Module) -> None:
    """Xavier-uniform every weight matrix of ``module`` (LayerNorm vectors and biases kept)."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)


def _residual_maker(d_model: int, norm_first: bool, dropout: float, eps: float,
                    fast: bool, residual: bool = True,
                    layer_norm: bool = True) -> Callable[[nn.Module], Residual]:
    """Return ``wrap(sublayer)``: the sub-layer inside a :class:`Residual` with this layer's settings.

    Every sub-layer of a layer gets the same residual dropout, norm placement, epsilon,
    kernel choice and ablation switches; only what it wraps differs.
    """
    for name, value in (("norm_first", norm_first), ("fast", fast), ("residual", residual),
                        ("layer_norm", layer_norm)):
        boolean(name, value)
    return functools.partial(Residual, d_model, norm_first=norm_first, dropout=dropout, eps=eps, fast=fast,
                             residual=residual, layer_norm=layer_norm)


def _detached(weights: Tensor | None) -> Tensor | None:
    """Attention weights kept for plots: detached, or None on the fast path."""
    return None if weights is None else weights.detach()


class EncoderLayer(nn.Module):
    """One encoder layer: self-attention then FFN, each with a residual connection and LayerNorm.

    Post-LN (the paper, section 3.1): ``x = LN(x + SelfAttn(x)); x = LN(x + FFN(x))``.
    Pre-LN: ``x = x + SelfAttn(LN(x)); x = x + FFN(LN(x))``.

    Parameters
    ----------
    d_model, num_heads, d_ff : int
        Width, heads (must divide ``d_model``), FFN hidden width.
    dropout : float, default 0.1
        Residual, attention-weight and FFN-hidden dropout.
    norm_first : bool, default False
        Pre-LN if True, post-LN (the paper) if False.
    activation : {"relu", "gelu"}, default "relu"
    fast : bool, default False
        Fused attention and LayerNorm kernels; then no attention weights are kept.
    eps : float, default 1e-5
        LayerNorm epsilon.
    scale_scores, residual, layer_norm : bool, default True
        The ablation switches of :class:`TransformerConfig`.

    Attributes
    ----------
    self_attn : Residual
        Around a :class:`SelfAttentionSublayer` (``self_attn.sublayer``, with ``w_q, w_k,
        w_v, w_o``); ``self_attn.norm`` is its LayerNorm.
    ffn : Residual
        Around a :class:`~course_lib.ffn.PositionwiseFFN` (``ffn.sublayer.linear1/linear2``).
    self_attn_weights : Tensor, shape (B, H, L, L), or None
        The attention weights of the latest forward pass (detached), for plots; None before
        the first call and on the fast path.

    Matrices are initialised Xavier-uniform, as in :class:`torch.nn.Transformer`.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 norm_first: bool = False, *, activation: str = "relu", fast: bool = False,
                 eps: float = 1e-5, scale_scores: bool = True, residual: bool = True,
                 layer_norm: bool = True):
        super().__init__()
        dropout = probability("dropout", dropout)
        attention = functools.partial(SelfAttentionSublayer, d_model, num_heads, dropout, fast=fast,
                                      scale_scores=scale_scores)
        residual = _residual_maker(d_model, norm_first, dropout, eps, fast, residual, layer_norm)
        self.self_attn = residual(attention())
        self.ffn = residual(PositionwiseFFN(d_model, d_ff, dropout, activation))
        self.norm_first = norm_first
        self.self_attn_weights: Tensor | None = None
        _xavier_(self)

    def forward(self, x: Tensor, mask: Tensor | None = None, *,
                cache: AttentionCache | None = None) -> Tensor:
        """Run the layer on the source stream ``x``.

        Parameters
        ----------
        x : Tensor, shape (B, S, d_model)
        mask : Tensor of bool, broadcastable to (B, S, S), optional
            Usually the source padding mask ``(B, 1, S)``: no position attends to padding.
            A decoder-only model (:class:`course_lib.gpt.GPT`) passes the causal mask.
        cache : AttentionCache, optional
            For a decoder-only model writing one token at a time: the keys and values of
            ``x``'s positions are appended to the cached ones and attended to with them
            (``mask``, if given, must then cover ``(S, cached + S)`` keys).

        Returns
        -------
        Tensor, shape (B, S, d_model)
        """
        x, weights = self.self_attn(x, mask, cache=cache)
        self.self_attn_weights = _detached(weights)
        return self.ffn(x)

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer, *, fast: bool = False) -> EncoderLayer:
        """Build an :class:`EncoderLayer` computing what ``layer`` computes (weights copied).

        ``layer`` must be ``batch_first=True`` with biases and a relu or exact-gelu
        activation; either ``norm_first``. Torch's ``norm1``/``norm2`` become
        ``self_attn.norm``/``ffn.norm`` (all names: ``_TORCH_NAMES``). Remember that
        torch's masks mean the opposite (True = ignore): see
        :func:`course_lib.masks.to_torch_mask`.

        Parameters
        ----------
        layer : nn.TransformerEncoderLayer
        fast : bool, default False

        Returns
        -------
        EncoderLayer
            On ``layer``'s device and dtype, in its train/eval mode.
        """
        return _layer_from_torch(cls, layer, nn.TransformerEncoderLayer, fast)


class DecoderLayer(nn.Module):
    """One decoder layer: masked self-attention, cross-attention to the memory, FFN; three residuals.

    Post-LN (the paper, section 3.1)::

        x = LN(x + SelfAttn(x, self_mask))            # causal: no peeking at later tokens
        x = LN(x + CrossAttn(x, memory, cross_mask))  # queries from x, keys/values from memory
        x = LN(x + FFN(x))

    Pre-LN normalises each sub-layer's input instead, ``x = x + Sublayer(LN(x), ...)``;
    the memory is never normalised by the decoder layer.

    Parameters
    ----------
    d_model, num_heads, d_ff : int
    dropout : float, default 0.1
    norm_first : bool, default False
    activation : {"relu", "gelu"}, default "relu"
    fast : bool, default False
    eps : float, default 1e-5
    scale_scores, residual, layer_norm : bool, default True
        The ablation switches of :class:`TransformerConfig`.

    Attributes
    ----------
    self_attn : Residual
        Around a :class:`SelfAttentionSublayer`.
    cross_attn : Residual
        Around a :class:`CrossAttentionSublayer`.
    ffn : Residual
        Around a :class:`~course_lib.ffn.PositionwiseFFN`.
    self_attn_weights : Tensor, shape (B, H, T, T), or None
    cross_attn_weights : Tensor, shape (B, H, T, S), or None
        Weights of the latest forward (detached); None before it and on the fast path.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 norm_first: bool = False, *, activation: str = "relu", fast: bool = False,
                 eps: float = 1e-5, scale_scores: bool = True, residual: bool = True,
                 layer_norm: bool = True):
        super().__init__()
        dropout = probability("dropout", dropout)
        attention = functools.partial(SelfAttentionSublayer, d_model, num_heads, dropout, fast=fast,
                                      scale_scores=scale_scores)
        residual = _residual_maker(d_model, norm_first, dropout, eps, fast, residual, layer_norm)
        self.self_attn = residual(attention())
        self.cross_attn = residual(CrossAttentionSublayer(d_model, num_heads, dropout, fast=fast,
                                                          scale_scores=scale_scores))
        self.ffn = residual(PositionwiseFFN(d_model, d_ff, dropout, activation))
        self.norm_first = norm_first
        self.self_attn_weights: Tensor | None = None
        self.cross_attn_weights: Tensor | None = None
        _xavier_(self)

    def forward(self, x: Tensor, memory: Tensor, self_mask: Tensor | None = None,
                cross_mask: Tensor | None = None, *, cache: LayerCache | None = None) -> Tensor:
        """Run the layer on the target stream ``x``, reading the encoder output ``memory``.

        Parameters
        ----------
        x : Tensor, shape (B, T, d_model)
        memory : Tensor, shape (B, S, d_model)
            The encoder's output.
        self_mask : Tensor of bool, broadcastable to (B, T, T), optional
            Causal mask ``(T, T)``, or causal AND target padding ``(B, T, T)``. Without it
            position ``i`` sees the token it is trained to predict.
        cross_mask : Tensor of bool, broadcastable to (B, T, S), optional
            The source padding mask ``(B, 1, S)``.
        cache : LayerCache, optional
            Incremental decoding (chapter 11): ``x`` holds only the new positions, which
            attend to the cached earlier ones too; ``self_mask`` must then be None or cover
            ``(T, cached + T)`` keys. See :class:`KVCache`.

        Returns
        -------
        Tensor, shape (B, T, d_model)
        """
        _check_mask_arg("self_mask", self_mask)
        _check_mask_arg("cross_mask", cross_mask)
        self_cache, cross_cache = (None, None) if cache is None else (cache.self_attn, cache.cross_attn)
        x, weights = self.self_attn(x, self_mask, cache=self_cache)
        self.self_attn_weights = _detached(weights)
        x, weights = self.cross_attn(x, memory, cross_mask, cache=cross_cache)
        self.cross_attn_weights = _detached(weights)
        return self.ffn(x)

    @classmethod
    def from_torch(cls, layer: nn.TransformerDecoderLayer, *, fast: bool = False) -> DecoderLayer:
        """Build a :class:`DecoderLayer` computing what ``layer`` computes (weights copied).

        Torch's ``self_attn``, ``multihead_attn``, ``norm1``, ``norm2``, ``norm3`` become
        ``self_attn.sublayer``, ``cross_attn.sublayer``, ``self_attn.norm``,
        ``cross_attn.norm``, ``ffn.norm`` (all names: ``_TORCH_NAMES``). Same requirements
        as :meth:`EncoderLayer.from_torch`.

        Parameters
        ----------
        layer : nn.TransformerDecoderLayer
        fast : bool, default False

        Returns
        -------
        DecoderLayer
            On ``layer``'s device and dtype, in its train/eval mode.
        """
        return _layer_from_torch(cls, layer, nn.TransformerDecoderLayer, fast)


# --------------------------------------------------------------------------- from torch's layers

# Our sub-module path -> the attribute of torch's layer that holds the same weights. Linear
# and LayerNorm state dicts have the same keys in both; an attention is converted by
# MultiHeadAttention.from_torch, which cuts torch's stacked in_proj into w_q, w_k, w_v.
_TORCH_NAMES: dict[type[nn.Module], dict[str, str]] = {
    nn.TransformerEncoderLayer: {
        "self_attn.sublayer": "self_attn",
        "ffn.sublayer.linear1": "linear1",
        "ffn.sublayer.linear2": "linear2",
        "self_attn.norm": "norm1",
        "ffn.norm": "norm2",
    },
    nn.TransformerDecoderLayer: {
        "self_attn.sublayer": "self_attn",
        "cross_attn.sublayer": "multihead_attn",
        "ffn.sublayer.linear1": "linear1",
        "ffn.sublayer.linear2": "linear2",
        "self_attn.norm": "norm1",
        "cross_attn.norm": "norm2",
        "ffn.norm": "norm3",
    },
}


def _torch_activation(layer: nn.Module) -> str:
    """Name the activation of an ``nn.Transformer*Layer``: "relu" or "gelu"."""
    act = layer.activation
    if act is F.relu or isinstance(act, nn.ReLU):
        return "relu"
    if act is F.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
        return "gelu"
    raise ValueError(f"layer has activation {act!r}; expected relu or the exact gelu")


def _check_torch_layer(layer: nn.Module, kind: type) -> None:
    if not isinstance(layer, kind):
        raise ValueError(f"layer is a {type(layer).__name__}; expected nn.{kind.__name__}")
    if not layer.self_attn.batch_first:
        raise ValueError("layer was built with batch_first=False; expected batch_first=True "
                         "(course_lib is batch-first: (B, L, d_model))")
    if layer.linear1.bias is None or layer.norm1.bias is None:
        raise ValueError("layer was built with bias=False; expected bias=True")


def _copy_from_torch(ours: nn.Module, theirs: nn.Module, names: dict[str, str]) -> None:
    """Copy the weights of each of ``theirs``'s sub-modules into ours, as ``names`` pairs them.

    Strict state-dict loads: a key missing on either side raises instead of leaving a
    weight at its initial value.
    """
    with torch.no_grad():
        for our_path, their_name in names.items():
            source = getattr(theirs, their_name)
            if isinstance(source, nn.MultiheadAttention):
                source = MultiHeadAttention.from_torch(source)
            ours.get_submodule(our_path).load_state_dict(source.state_dict())


def _layer_from_torch(cls: type[nn.Module], layer: nn.Module, kind: type[nn.Module], fast: bool) -> nn.Module:
    """Build ``cls`` (EncoderLayer or DecoderLayer) with ``layer``'s settings and weights."""
    _check_torch_layer(layer, kind)
    new = cls(layer.self_attn.embed_dim, layer.self_attn.num_heads, layer.linear1.out_features,
              layer.dropout.p, layer.norm_first, activation=_torch_activation(layer), fast=fast,
              eps=layer.norm1.eps)
    weight = layer.linear1.weight
    new.to(device=weight.device, dtype=weight.dtype)
    _copy_from_torch(new, layer, _TORCH_NAMES[kind])
    new.train(layer.training)
    return new


# --------------------------------------------------------------------------- stacks


def _layer_kwargs(config: TransformerConfig) -> dict:
    return dict(d_model=config.d_model, num_heads=config.num_heads, d_ff=config.d_ff,
                dropout=config.dropout, norm_first=config.norm_first,
                activation=config.activation, fast=config.fast, scale_scores=config.scale_scores,
                residual=config.residual, layer_norm=config.layer_norm)


def _final_norm(config: TransformerConfig) -> LayerNorm | None:
    """The final LayerNorm of a pre-LN stack; None for post-LN or without LayerNorms."""
    return LayerNorm(config.d_model, fast=config.fast) if config.norm_first and config.layer_norm else None


class _NoPositions(nn.Module):
    """``positional="none"``: no position information, only the dropout the encoding would apply.

    ``forward(x, offset=0)`` as :class:`~course_lib.positional.PositionalEncoding`'s, so
    that the model and the key/value cache need no special case.
    """

    def __init__(self, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        return self.dropout(x)


def _positional(config: TransformerConfig) -> nn.Module:
    """The module that adds positions to the embeddings, as ``config.positional`` says."""
    if config.positional == "learned":
        return LearnedPositionalEmbedding(config.d_model, config.max_len, config.dropout)
    if config.positional == "none":
        return _NoPositions(config.dropout)
    return PositionalEncoding(config.d_model, config.max_len, config.dropout)


def _check_config(config) -> None:
    if not isinstance(config, TransformerConfig):
        raise ValueError(f"config is a {type(config).__name__}; expected a TransformerConfig")


class Encoder(nn.Module):
    """``N`` encoder layers in a row, plus a final LayerNorm when pre-LN.

    Parameters
    ----------
    config : TransformerConfig
        Uses ``d_model, num_heads, d_ff, num_layers, dropout, norm_first, activation, fast``.

    Attributes
    ----------
    layers : nn.ModuleList of EncoderLayer
    norm : LayerNorm or None
        The final norm of a pre-LN stack: its residual stream is a sum of ``N`` unnormalised
        sub-layer outputs, whose scale grows with depth. A post-LN stack's last operation is
        already a LayerNorm, so it has none (a second one would be redundant).
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        _check_config(config)
        self.layers = nn.ModuleList(EncoderLayer(**_layer_kwargs(config)) for _ in range(config.num_layers))
        self.norm = _final_norm(config)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Encode ``x`` (B, S, d_model) with source mask ``mask`` (e.g. (B, 1, S)); returns (B, S, d_model)."""
        for layer in self.layers:
            x = layer(x, mask)
        return x if self.norm is None else self.norm(x)


class Decoder(nn.Module):
    """``N`` decoder layers in a row, plus a final LayerNorm when pre-LN (see :class:`Encoder`).

    Parameters
    ----------
    config : TransformerConfig

    Attributes
    ----------
    layers : nn.ModuleList of DecoderLayer
    norm : LayerNorm or None
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        _check_config(config)
        self.layers = nn.ModuleList(DecoderLayer(**_layer_kwargs(config)) for _ in range(config.num_layers))
        self.norm = _final_norm(config)

    def forward(self, x: Tensor, memory: Tensor, self_mask: Tensor | None = None,
                cross_mask: Tensor | None = None, *, cache: KVCache | None = None) -> Tensor:
        """Decode ``x`` (B, T, d_model) against ``memory`` (B, S, d_model); returns (B, T, d_model).

        ``self_mask`` broadcasts to (B, T, T) (causal, and target padding); ``cross_mask``
        to (B, T, S) (source padding); every layer gets the same two masks. With a
        :class:`KVCache`, layer ``i`` reads and extends ``cache.layers[i]``.
        """
        if cache is not None and len(cache.layers) != len(self.layers):
            raise ValueError(f"cache has {len(cache.layers)} layers; expected one per decoder layer "
                             f"({len(self.layers)})")
        for i, layer in enumerate(self.layers):
            x = layer(x, memory, self_mask, cross_mask, cache=None if cache is None else cache.layers[i])
        return x if self.norm is None else self.norm(x)


# --------------------------------------------------------------------------- the key/value cache


@dataclass
class LayerCache:
    """What one :class:`DecoderLayer` keeps between decoding steps.

    Attributes
    ----------
    self_attn : AttentionCache
        Keys and values of every target position decoded so far, ``(B, H, t, d_head)``;
        grows by the new positions at every call.
    cross_attn : AttentionCache
        Keys and values of the encoder's memory, ``(B, H, S, d_head)``; ``static``:
        computed at the first call and reused.
    """

    self_attn: AttentionCache = field(default_factory=AttentionCache)
    cross_attn: AttentionCache = field(default_factory=lambda: AttentionCache(static=True))


class KVCache:
    """Keys and values kept between the steps of incremental decoding (键值缓存), one entry per decoder layer.

    Pass one to :meth:`Transformer.decode` and feed only the *new* target tokens: the
    decoder computes their keys and values, attends over the cached ones plus theirs, and
    appends them to the cache; the positional encoding starts at :attr:`length`. Decoding
    one token per call needs no causal mask: the single query is the newest position, and
    every cached key is at or before it, so the causal row would allow all of them. The
    logits equal those of a full recomputation over the whole prefix (tests prove it), at
    ``O(t)`` instead of ``O(t²)`` work for step ``t``.

    Parameters
    ----------
    num_layers : int
        The decoder's ``N``.

    Attributes
    ----------
    layers : list of LayerCache
    """

    def __init__(self, num_layers: int):
        self.layers = [LayerCache() for _ in range(positive_int("num_layers", num_layers))]

    @property
    def length(self) -> int:
        """Target positions decoded so far: the position of the next token fed."""
        return self.layers[0].self_attn.length

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (long, shape (B',)) of every cached tensor, in that order.

        Beam search calls this after re-ranking: new hypothesis ``i`` extends old row
        ``index[i]`` and must carry that row's keys and values (self and cross).
        """
        for layer in self.layers:
            layer.self_attn.reorder(index)
            layer.cross_attn.reorder(index)


# --------------------------------------------------------------------------- the model


class Transformer(nn.Module):
    """The encoder-decoder Transformer of Vaswani et al. (2017), Figure 1.

    ``forward(src, tgt_in)`` returns, for every target position ``t``, logits for the token
    at ``t + 1`` given the source and the target tokens up to ``t`` (teacher forcing: the
    whole target is fed at once, the causal mask hides the future).

    Parameters
    ----------
    config : TransformerConfig

    Attributes
    ----------
    config : TransformerConfig
    src_embed, tgt_embed : Embeddings
        ``E[ids] · √d_model``; the same module when ``config.tie_embeddings``.
    positional : PositionalEncoding
        Sinusoids added to the embeddings, then dropout; shared by both sides (it has no
        parameters). A :class:`~course_lib.positional.LearnedPositionalEmbedding` (shared
        too) or dropout alone when ``config.positional`` says so.
    encoder : Encoder
    decoder : Decoder
    output_projection : OutputProjection
        ``h @ Eᵀ``: logits over the vocabulary (the paper's "linear transformation" before
        the softmax), tied to ``tgt_embed`` when ``config.tie_embeddings``.

    Examples
    --------
    >>> model = Transformer(TransformerConfig(vocab_size=20, d_model=32, num_heads=4, d_ff=64,
    ...                                       num_layers=2))
    >>> model(torch.randint(4, 20, (3, 7)), torch.randint(4, 20, (3, 5))).shape
    torch.Size([3, 5, 20])
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        _check_config(config)
        self.config = config
        V = config.vocab_size
        self.src_embed, self.tgt_embed, self.output_projection = build_embeddings(
            config.d_model, src_vocab_size=V, tgt_vocab_size=V,
            shared_vocab=config.tie_embeddings, tie_output=config.tie_embeddings)
        self.positional = _positional(config)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def _check_ids(self, name: str, ids: Tensor, length: str) -> None:
        """Check the ids under their own name: axes, dtype, and (on the CPU only) the range."""
        if tensor(name, ids, shape=f"(B, {length})").dim() != 2:
            raise shape_error(name, ids, f"(B, {length}) token ids")
        _check_embedding_ids(ids, self.config.vocab_size, name)

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """Run the encoder on source ids.

        Parameters
        ----------
        src : Tensor of int, shape (B, S)
        src_mask : Tensor of bool, broadcastable to (B, S, S), optional
            Usually the padding mask (B, 1, S); None lets every position see every position.

        Returns
        -------
        memory : Tensor, shape (B, S, d_model)
        """
        self._check_ids("src", src, "S")
        _check_mask_arg("src_mask", src_mask)
        return self.encoder(self.positional(self.src_embed(src)), src_mask)

    def decode(self, tgt_in: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
               memory_mask: Tensor | None = None, *, cache: KVCache | None = None) -> Tensor:
        """Run the decoder stack and the output projection on target ids, given the memory.

        "Decode" in the paper's sense (Figure 1, right): one pass of the decoder stack over
        the target tokens given, returning next-token logits at every position. Writing a
        whole translation one token at a time is :mod:`course_lib.decoding`'s job
        (:func:`~course_lib.decoding.greedy_decode`, :func:`~course_lib.decoding.beam_search`),
        which calls this once per step.

        Parameters
        ----------
        tgt_in : Tensor of int, shape (B, T)
            ``<bos>`` then the target so far.
        memory : Tensor, shape (B, S, d_model)
            From :meth:`encode`.
        tgt_mask : Tensor of bool, broadcastable to (B, T, T), optional
            Causal (and target padding) mask. Pass one: without it the decoder sees the
            future (nothing adds it for you, as in ``nn.Transformer``).
        memory_mask : Tensor of bool, broadcastable to (B, T, S), optional
            The source padding mask (B, 1, S).
        cache : KVCache, optional
            Incremental decoding (chapter 11): ``tgt_in`` holds only the tokens after the
            ``cache.length`` already decoded (usually one, then ``tgt_mask`` can be None),
            and they are placed at positions ``cache.length, cache.length + 1, ...``.

        Returns
        -------
        logits : Tensor, shape (B, T, vocab_size)
        """
        self._check_ids("tgt_in", tgt_in, "T")
        _check_mask_arg("tgt_mask", tgt_mask)
        _check_mask_arg("memory_mask", memory_mask)
        offset = 0 if cache is None else cache.length  # position of tgt_in[:, 0]
        x = self.positional(self.tgt_embed(tgt_in), offset=offset)
        h = self.decoder(x, memory, tgt_mask, memory_mask, cache=cache)
        return self.output_projection(h)

    def forward(self, src: Tensor, tgt_in: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None) -> Tensor:
        """Encode ``src`` (B, S), decode ``tgt_in`` (B, T); return logits (B, T, vocab_size).

        ``src_mask`` (B, 1, S) serves the encoder's self-attention and the decoder's
        cross-attention; ``tgt_mask`` (B, T, T) the decoder's self-attention (e.g. a
        :class:`course_lib.data.Batch`'s ``src_mask`` and ``tgt_mask``).
        """
        return self.decode(tgt_in, self.encode(src, src_mask), tgt_mask, src_mask)


def parameter_breakdown(model: Transformer) -> dict[str, int]:
    """Count a :class:`Transformer`'s parameters by part, each shared tensor once.

    Parameters
    ----------
    model : Transformer
        May live on the ``meta`` device (counting needs no memory).

    Returns
    -------
    dict of str to int
        ``"embeddings"`` (source, target and output matrices, each distinct one once; plus
        an output bias if any), ``"encoder layers"``, ``"decoder layers"``, ``"final norms"``
        (pre-LN only, else 0) and ``"total"``, their sum, which equals
        :func:`~course_lib.embedding.parameter_count` of the whole model.
    """
    if not isinstance(model, Transformer):
        raise fail("model", model, "a course_lib.transformer.Transformer")
    final_norms = [m for m in (model.encoder.norm, model.decoder.norm) if m is not None]
    parts = {
        "embeddings": parameter_count(model.src_embed, model.tgt_embed, model.output_projection),
        "encoder layers": parameter_count(model.encoder.layers),
        "decoder layers": parameter_count(model.decoder.layers),
        "final norms": parameter_count(*final_norms) if final_norms else 0,
    }
    parts["total"] = sum(parts.values())
    return parts
