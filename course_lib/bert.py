"""BERT (仅编码器, encoder-only): the Transformer's encoder with a masked-word head (chapter 12).

Devlin et al. (2019). Keep the encoder, drop the decoder, and train the encoder to fill
in words hidden from it: the masked language model (掩码语言模型). With nothing to predict
left to right, every position may attend to every other (bidirectional)::

    ids, token types ─► token + position + segment embeddings ─► LayerNorm, dropout
                     ─► N × post-LN EncoderLayer (exact GELU FFN)
                     ─► dense ─► GELU ─► LayerNorm ─► OutputProjection tied to E, + bias
                     ─► masked-LM logits (B, L, V)

The layers are :class:`course_lib.transformer.EncoderLayer` with ``norm_first=False`` (the
paper's post-LN) and LayerNorm epsilon ``1e-12``; :meth:`BERT.from_huggingface` copies a
``transformers.BertForMaskedLM``. :func:`mask_tokens` draws BERT's training inputs: 15%
of the tokens are chosen, 80% of those become ``[MASK]``, 10% a random word, 10% stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib._validate import boolean, fail, integer, one_of, positive, positive_int, probability, shape_error, tensor
from course_lib._validate import generator as _check_generator
from course_lib.embedding import Embeddings, OutputProjection
from course_lib.embedding import _check_ids as _check_embedding_ids
from course_lib.gpt import _HF_ACTIVATIONS, _check_ids, _check_padding_mask
from course_lib.multihead import _check_num_heads
from course_lib.norm import LayerNorm
from course_lib.positional import LearnedPositionalEmbedding
from course_lib.transformer import EncoderLayer

__all__ = ["BERTConfig", "BERT", "mask_tokens"]

IGNORE = -100  # the label of a position that is not a target (cross_entropy's ignore_index)


@dataclass
class BERTConfig:
    """The hyper-parameters of a :class:`BERT`; the defaults are BERT-base (uncased).

    Parameters
    ----------
    vocab_size : int, default 30522
        ``V``: BERT's WordPiece vocabulary.
    max_len : int, default 512
        Rows of the learned position table.
    type_vocab_size : int, default 2
        Segments (sentence A / sentence B).
    d_model : int, default 768
    num_heads : int, default 12
    d_ff : int, default 3072
    num_layers : int, default 12
    dropout : float, default 0.1
    activation : {"gelu", "gelu_tanh", "relu"}, default "gelu"
        The exact GELU, in the FFN and in the masked-LM head.
    eps : float, default 1e-12
        Every LayerNorm's epsilon.
    fast : bool, default False
    """

    vocab_size: int = 30522
    max_len: int = 512
    type_vocab_size: int = 2
    d_model: int = 768
    num_heads: int = 12
    d_ff: int = 3072
    num_layers: int = 12
    dropout: float = 0.1
    activation: str = "gelu"
    eps: float = 1e-12
    fast: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_len", "type_vocab_size", "d_model", "num_heads", "d_ff", "num_layers"):
            setattr(self, name, positive_int(name, getattr(self, name)))
        _check_num_heads(self.d_model, self.num_heads)
        self.dropout = probability("dropout", self.dropout)
        one_of("activation", self.activation, ("gelu", "gelu_tanh", "relu"))
        self.eps = positive("eps", self.eps)
        boolean("fast", self.fast)


class BERT(nn.Module):
    """An encoder-only Transformer with BERT's embeddings and masked-LM head, from course_lib's blocks.

    Parameters
    ----------
    config : BERTConfig

    Attributes
    ----------
    token_embed : Embeddings
        Not scaled (``scale=False``).
    positional : LearnedPositionalEmbedding
        No dropout of its own: BERT normalises the sum of the three embeddings first.
    segment_embed : nn.Embedding, (type_vocab_size, d_model)
    embed_norm : LayerNorm
    layers : nn.ModuleList of EncoderLayer
        Post-LN, bidirectional self-attention (only padding is masked).
    mlm_dense : nn.Linear(d_model, d_model)
        The head's transform, followed by the activation and ``mlm_norm``.
    mlm_norm : LayerNorm
    output_projection : OutputProjection
        Tied to ``token_embed``, with a bias per word.
    """

    def __init__(self, config: BERTConfig):
        super().__init__()
        if not isinstance(config, BERTConfig):
            raise fail("config", config, "a BERTConfig")
        self.config = c = config
        self.token_embed = Embeddings(c.vocab_size, c.d_model, scale=False)
        self.positional = LearnedPositionalEmbedding(c.d_model, c.max_len)
        self.segment_embed = nn.Embedding(c.type_vocab_size, c.d_model)
        self.embed_norm = LayerNorm(c.d_model, c.eps, fast=c.fast)
        self.embed_dropout = nn.Dropout(c.dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(c.d_model, c.num_heads, c.d_ff, c.dropout, norm_first=False,
                         activation=c.activation, fast=c.fast, eps=c.eps)
            for _ in range(c.num_layers))
        self.mlm_dense = nn.Linear(c.d_model, c.d_model)
        self.mlm_norm = LayerNorm(c.d_model, c.eps, fast=c.fast)
        self.output_projection = OutputProjection(c.d_model, c.vocab_size, tied_to=self.token_embed, bias=True)
        _bert_init_(self)

    def encode(self, ids: Tensor, padding_mask: Tensor | None = None,
               token_type_ids: Tensor | None = None) -> Tensor:
        """The encoder's output: one contextual vector per position.

        Parameters
        ----------
        ids : Tensor of int, shape (B, L)
        padding_mask : Tensor of bool, shape (B, L), optional
            True for a real token; no position attends to padding.
        token_type_ids : Tensor of int, shape (B, L), optional
            Segment of each token, in ``[0, type_vocab_size)``; all 0 when None.

        Returns
        -------
        Tensor, shape (B, L, d_model)
        """
        c = self.config
        _check_ids(ids, c.vocab_size, c.max_len)
        _check_padding_mask(padding_mask, ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(ids)
        elif tensor("token_type_ids", token_type_ids, shape=f"{tuple(ids.shape)}, like ids").shape != ids.shape:
            raise shape_error("token_type_ids", token_type_ids, f"(B, L) = {tuple(ids.shape)}, like ids")
        _check_embedding_ids(token_type_ids, c.type_vocab_size, "token_type_ids")
        x = self.positional(self.token_embed(ids)) + self.segment_embed(token_type_ids)
        x = self.embed_dropout(self.embed_norm(x))
        mask = None if padding_mask is None else padding_mask[:, None, :]  # (B, 1, L): real keys
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def forward(self, ids: Tensor, padding_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None) -> Tensor:
        """Masked-LM logits: at every position, a score for every word of the vocabulary.

        Parameters are those of :meth:`encode`.

        Returns
        -------
        logits : Tensor, shape (B, L, vocab_size)
        """
        h = self.encode(ids, padding_mask, token_type_ids)
        h = self.mlm_norm(self._act(self.mlm_dense(h)))
        return self.output_projection(h)

    def _act(self, h: Tensor) -> Tensor:
        return _ACT[self.config.activation](h)  # the FFN's activation, for the head too

    @classmethod
    def from_huggingface(cls, model) -> BERT:
        """Build a :class:`BERT` with the weights of a ``transformers.BertForMaskedLM``.

        Parameters
        ----------
        model : transformers.BertForMaskedLM
            Absolute position embeddings, a decoder tied to the word embedding, and one
            activation (``hidden_act``) for the FFN and the head.

        Returns
        -------
        BERT
            On the model's device and dtype, in its train/eval mode; its logits equal
            ``model(ids, attention_mask, token_type_ids).logits``.
        """
        hf = _bert_config(model)
        new = cls(BERTConfig(
            vocab_size=hf.vocab_size, max_len=hf.max_position_embeddings,
            type_vocab_size=hf.type_vocab_size, d_model=hf.hidden_size,
            num_heads=hf.num_attention_heads, d_ff=hf.intermediate_size,
            num_layers=hf.num_hidden_layers, dropout=hf.hidden_dropout_prob,
            activation=_HF_ACTIVATIONS[hf.hidden_act], eps=hf.layer_norm_eps))
        weight = model.bert.embeddings.word_embeddings.weight
        new.to(device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            _copy_bert(new, model)
        new.train(model.training)
        return new


_ACT = {
    "gelu": lambda h: nn.functional.gelu(h),
    "gelu_tanh": lambda h: nn.functional.gelu(h, approximate="tanh"),
    "relu": torch.relu,
}


def _bert_init_(module: nn.Module) -> None:
    """BERT's initialisation: matrices and tables ``N(0, 0.02²)``, biases 0, LayerNorms (1, 0)."""
    for name, p in module.named_parameters():
        if name.endswith("norm.weight"):
            continue
        if p.dim() > 1:
            nn.init.normal_(p, 0.0, 0.02)
        else:
            nn.init.zeros_(p)


def _bert_config(model):
    """Return ``model.config`` after checking that ``model`` is a BERT this class can copy."""
    if type(model).__name__ != "BertForMaskedLM":
        raise ValueError(f"model is a {type(model).__name__}; expected a transformers.BertForMaskedLM")
    hf = model.config
    if getattr(hf, "position_embedding_type", "absolute") != "absolute":
        raise fail("model.config.position_embedding_type", hf.position_embedding_type, "'absolute'")
    if hf.hidden_act not in _HF_ACTIVATIONS:
        raise fail("model.config.hidden_act", hf.hidden_act, "one of " + ", ".join(map(repr, _HF_ACTIVATIONS)))
    decoder = model.cls.predictions.decoder
    if decoder.weight is not model.bert.embeddings.word_embeddings.weight:
        raise ValueError("model has a decoder matrix of its own (tie_word_embeddings=False); "
                         "expected it tied to the word embedding, as BERT's is")
    return hf


def _copy_bert(new: BERT, model) -> None:
    """Copy a ``BertForMaskedLM``'s weights into ``new`` (``nn.Linear`` on both sides: no transpose)."""
    emb = model.bert.embeddings
    new.token_embed.weight.copy_(emb.word_embeddings.weight)
    new.positional.weight.copy_(emb.position_embeddings.weight)
    new.segment_embed.weight.copy_(emb.token_type_embeddings.weight)
    new.embed_norm.load_state_dict(emb.LayerNorm.state_dict())
    for ours, layer in zip(new.layers, model.bert.encoder.layer):
        attn, hf_attn = ours.self_attn.sublayer, layer.attention
        pairs = ((attn.w_q, hf_attn.self.query), (attn.w_k, hf_attn.self.key),
                 (attn.w_v, hf_attn.self.value), (attn.w_o, hf_attn.output.dense),
                 (ours.ffn.sublayer.linear1, layer.intermediate.dense),
                 (ours.ffn.sublayer.linear2, layer.output.dense),
                 (ours.self_attn.norm, hf_attn.output.LayerNorm), (ours.ffn.norm, layer.output.LayerNorm))
        for mine, theirs in pairs:
            mine.load_state_dict(theirs.state_dict())
    head = model.cls.predictions
    new.mlm_dense.load_state_dict(head.transform.dense.state_dict())
    new.mlm_norm.load_state_dict(head.transform.LayerNorm.state_dict())
    new.output_projection.bias.copy_(head.decoder.bias)


def mask_tokens(ids: Tensor, *, vocab_size: int, mask_id: int, special_ids: Sequence[int] = (),
                mask_prob: float = 0.15, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw BERT's masked-LM inputs and labels: choose 15% of the tokens, then 80/10/10.

    Each token not in ``special_ids`` is chosen with probability ``mask_prob``. A chosen
    token becomes ``mask_id`` with probability 0.8, a uniformly random id in
    ``[0, vocab_size)`` with probability 0.1, and stays itself with probability 0.1 (so
    the model cannot tell from the input which words it will be asked about). The label is
    the original token at chosen positions and ``-100`` (ignored by ``cross_entropy``)
    everywhere else. Random numbers are drawn in this order: ``torch.rand(ids.shape)`` for
    the choice, ``torch.rand(ids.shape)`` for 80/10/10, ``torch.randint(vocab_size,
    ids.shape)`` for the random words, all from ``generator``.

    Parameters
    ----------
    ids : Tensor of int, shape (B, L)
    vocab_size : int
    mask_id : int
        The ``[MASK]`` token, in ``[0, vocab_size)``.
    special_ids : sequence of int, default ()
        Never chosen (padding, ``[CLS]``, ``[SEP]``, ...).
    mask_prob : float, default 0.15
    generator : torch.Generator, optional

    Returns
    -------
    inputs : Tensor of int, shape (B, L)
        ``ids`` with the chosen tokens replaced.
    labels : Tensor of int, shape (B, L)
        ``ids`` at chosen positions, -100 elsewhere.
    """
    if tensor("ids", ids, shape="(B, L)").dim() != 2:
        raise shape_error("ids", ids, "(B, L) token ids")
    vocab_size = positive_int("vocab_size", vocab_size)
    _check_embedding_ids(ids, vocab_size, "ids")
    mask_id = integer("mask_id", mask_id, minimum=0, maximum=vocab_size - 1,
                      expected=f"an int in [0, vocab_size={vocab_size})")
    if isinstance(special_ids, (str, bytes, Tensor)) or not hasattr(special_ids, "__iter__"):
        raise fail("special_ids", special_ids, "a sequence of ints")
    special = [integer("special_ids", s) for s in special_ids]
    mask_prob = probability("mask_prob", mask_prob)
    _check_generator("generator", generator)
    chosen = torch.rand(ids.shape, generator=generator, device=ids.device) < mask_prob  # (B, L)
    if special:
        chosen &= ~torch.isin(ids, torch.tensor(special, dtype=ids.dtype, device=ids.device))
    r = torch.rand(ids.shape, generator=generator, device=ids.device)  # 80/10/10 among the chosen
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator, dtype=ids.dtype, device=ids.device)
    inputs = torch.where(chosen & (r < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (r >= 0.8) & (r < 0.9), random_ids, inputs)
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    return inputs, labels
