"""GPT (仅解码器, decoder-only): the Transformer's decoder without cross-attention (chapter 12).

Radford et al. (2018, 2019). Drop the encoder and, with it, every decoder layer's
cross-attention; what is left is a stack of *masked* self-attention + FFN layers that reads
a sequence and predicts, at every position, the next token (自回归, autoregressive)::

    ids (B, L) ─► token embedding + learned position ─► N × pre-LN layer ─► LayerNorm
                                                         (causal self-attention, GELU FFN)
               ─► OutputProjection tied to the token embedding ─► logits (B, L, V)

A layer is exactly :class:`course_lib.transformer.EncoderLayer` with ``norm_first=True``,
the tanh GELU and the causal mask: an "encoder" layer that may only look back is a decoder
layer without cross-attention. No attention is re-implemented here.

:meth:`GPT.from_huggingface` copies a ``transformers.GPT2LMHeadModel``; GPT-2 stores its
linear maps as ``Conv1D`` with weights of shape ``(in, out)`` (``y = x W + b``), the
transpose of ``nn.Linear``'s ``(out, in)``, and its query, key and value projections side
by side in one ``c_attn``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validate import boolean, fail, floating, integer, one_of, positive, positive_int, probability, shape_error, tensor
from course_lib._validate import generator as _check_generator
from course_lib.embedding import Embeddings, OutputProjection
from course_lib.embedding import _check_ids as _check_embedding_ids
from course_lib.masks import causal_mask
from course_lib.multihead import AttentionCache, _check_num_heads
from course_lib.norm import LayerNorm
from course_lib.positional import LearnedPositionalEmbedding
from course_lib.transformer import EncoderLayer

__all__ = ["GPTConfig", "GPT", "causal_lm_loss"]

_ACTIVATIONS = ("gelu_tanh", "gelu", "relu")
# Hugging Face's names for the activations a GPT-2 or BERT config may ask for.
_HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}


@dataclass
class GPTConfig:
    """The hyper-parameters of a :class:`GPT`; the defaults are GPT-2 small (124M parameters).

    Parameters
    ----------
    vocab_size : int, default 50257
        ``V``: GPT-2's byte-level BPE vocabulary.
    max_len : int, default 1024
        Rows of the learned position table: the longest sequence (context) the model reads.
    d_model : int, default 768
    num_heads : int, default 12
        Must divide ``d_model``.
    d_ff : int, default 3072
        The FFN's hidden width (``4·d_model`` in GPT-2).
    num_layers : int, default 12
    dropout : float, default 0.1
        Embedding, residual, attention-weight and FFN-hidden dropout.
    activation : {"gelu_tanh", "gelu", "relu"}, default "gelu_tanh"
        GPT-2's tanh approximation of the GELU.
    eps : float, default 1e-5
        Every LayerNorm's epsilon.
    fast : bool, default False
        Fused attention and LayerNorm kernels (no attention weights kept).
    """

    vocab_size: int = 50257
    max_len: int = 1024
    d_model: int = 768
    num_heads: int = 12
    d_ff: int = 3072
    num_layers: int = 12
    dropout: float = 0.1
    activation: str = "gelu_tanh"
    eps: float = 1e-5
    fast: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_len", "d_model", "num_heads", "d_ff", "num_layers"):
            setattr(self, name, positive_int(name, getattr(self, name)))
        _check_num_heads(self.d_model, self.num_heads)
        self.dropout = probability("dropout", self.dropout)
        one_of("activation", self.activation, _ACTIVATIONS)
        self.eps = positive("eps", self.eps)
        boolean("fast", self.fast)


def _check_ids(ids: Tensor, vocab_size: int, max_len: int, offset: int = 0) -> None:
    """Check ``ids`` (B, L): integer, in the vocabulary, and short enough for the position table."""
    if tensor("ids", ids, shape="(B, L)").dim() != 2:
        raise shape_error("ids", ids, "(B, L) token ids")
    _check_embedding_ids(ids, vocab_size, "ids")
    if offset + ids.shape[1] > max_len:
        raise fail("ids", ids, f"at most max_len={max_len} positions (the rows of the position "
                               f"table); got {offset + ids.shape[1]}")


def _check_padding_mask(padding_mask: Tensor | None, ids: Tensor) -> None:
    """``padding_mask`` must be a bool tensor shaped like ``ids``: True = a real token."""
    if padding_mask is None:
        return
    expected = f"(B, L) = {tuple(ids.shape)}, like ids"
    if tensor("padding_mask", padding_mask, shape=expected).dtype != torch.bool:
        raise fail("padding_mask", padding_mask, "a boolean tensor (True = a real token)")
    if padding_mask.shape != ids.shape:
        raise shape_error("padding_mask", padding_mask, expected)


def _gpt2_init_(module: nn.Module, num_layers: int) -> None:
    """GPT-2's initialisation: matrices ``N(0, 0.02²)``, biases 0; residual outputs scaled by ``1/√(2N)``.

    Each layer adds two sub-layer outputs to the residual stream, so with ``N`` layers the
    stream is a sum of ``2N`` terms; shrinking the last projection of each keeps its scale
    independent of depth (Radford et al. 2019, section 2.3).
    """
    for name, p in module.named_parameters():
        if name.endswith("norm.weight"):
            continue
        if p.dim() > 1:
            std = 0.02 / (2 * num_layers) ** 0.5 if name.endswith(("w_o.weight", "linear2.weight")) else 0.02
            nn.init.normal_(p, 0.0, std)
        else:
            nn.init.zeros_(p)


class GPT(nn.Module):
    """A decoder-only Transformer language model: GPT-2's architecture from course_lib's blocks.

    ``forward(ids)`` returns, at every position ``t``, logits for the token at ``t + 1``
    given the tokens up to ``t``; the causal mask hides the rest.

    Parameters
    ----------
    config : GPTConfig

    Attributes
    ----------
    config : GPTConfig
    token_embed : Embeddings
        ``E[ids]``, not scaled (``scale=False``), ``(V, d_model)``.
    positional : LearnedPositionalEmbedding
        One learned row per position, added to the token vectors, then dropout.
    layers : nn.ModuleList of EncoderLayer
        Pre-LN, causal self-attention and FFN each inside a ``Residual``.
    norm : LayerNorm
        The final LayerNorm of a pre-LN stack.
    output_projection : OutputProjection
        Tied to ``token_embed`` (one matrix, as GPT-2).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise fail("config", config, "a GPTConfig")
        self.config = c = config
        self.token_embed = Embeddings(c.vocab_size, c.d_model, scale=False)
        self.positional = LearnedPositionalEmbedding(c.d_model, c.max_len, c.dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(c.d_model, c.num_heads, c.d_ff, c.dropout, norm_first=True,
                         activation=c.activation, fast=c.fast, eps=c.eps)
            for _ in range(c.num_layers))
        self.norm = LayerNorm(c.d_model, c.eps, fast=c.fast)
        self.output_projection = OutputProjection(c.d_model, c.vocab_size, tied_to=self.token_embed)
        _gpt2_init_(self, c.num_layers)

    def forward(self, ids: Tensor, padding_mask: Tensor | None = None, *,
                cache: list[AttentionCache] | None = None) -> Tensor:
        """Next-token logits at every position of ``ids``.

        Parameters
        ----------
        ids : Tensor of int, shape (B, L)
        padding_mask : Tensor of bool, shape (B, L), optional
            True for a real token, False for padding: no position attends to a padding key.
            (A padding *query* still gets logits; ignore them, e.g. with
            :func:`causal_lm_loss`'s ``target_mask``.)
        cache : list of AttentionCache, optional
            One per layer, for :meth:`generate`: ``ids`` are then the tokens after the
            ``cache[0].length`` already read, placed at the following positions.

        Returns
        -------
        logits : Tensor, shape (B, L, vocab_size)
        """
        offset = 0 if cache is None else cache[0].length
        _check_ids(ids, self.config.vocab_size, self.config.max_len, offset)
        _check_padding_mask(padding_mask, ids)
        L = ids.shape[1]
        # (L, offset + L): position offset + i sees every cached key and the new ones up to itself
        mask = causal_mask(offset + L, device=ids.device)[offset:]
        if padding_mask is not None:
            if cache is not None and offset:
                raise ValueError("padding_mask with a non-empty cache is not supported; "
                                 "expected padding_mask=None after the first call")
            mask = mask & padding_mask[:, None, :]  # (B, L, L): causal AND a real key
        x = self.positional(self.token_embed(ids), offset=offset)
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, cache=None if cache is None else cache[i])
        return self.output_projection(self.norm(x))

    @torch.no_grad()
    def generate(self, ids: Tensor, max_new_tokens: int, *, sample: bool = False,
                 temperature: float = 1.0, top_k: int | None = None, eos_id: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """Continue each prompt by ``max_new_tokens`` tokens, greedily or by sampling, with a KV cache.

        The prompt is read once; each later step feeds only the newest token, whose
        keys and values are appended to the per-layer :class:`AttentionCache`.

        Parameters
        ----------
        ids : Tensor of int, shape (B, L)
            The prompts, all of length ``L`` (no padding).
        max_new_tokens : int
            At least 0; ``L + max_new_tokens`` must fit in ``max_len``.
        sample : bool, default False
            False: the most likely token (greedy). True: draw from ``softmax(logits / temperature)``.
        temperature : float, default 1.0
            Positive; used when ``sample``.
        top_k : int, optional
            When sampling, only the ``top_k`` most likely tokens may be drawn.
        eos_id : int, optional
            A row that has produced it is filled with ``eos_id`` afterwards; the loop stops
            early when every row has.
        generator : torch.Generator, optional
            For reproducible sampling.

        Returns
        -------
        Tensor of int, shape (B, L + n) with ``n <= max_new_tokens``
            The prompts followed by what was generated.
        """
        max_new_tokens = integer("max_new_tokens", max_new_tokens, minimum=0)
        _check_ids(ids, self.config.vocab_size, self.config.max_len)
        if ids.shape[1] + max_new_tokens > self.config.max_len:
            raise ValueError(f"ids has {ids.shape[1]} positions and max_new_tokens={max_new_tokens}; expected "
                             f"at most max_len={self.config.max_len} positions in all")
        boolean("sample", sample)
        temperature = positive("temperature", temperature)
        if top_k is not None:
            top_k = integer("top_k", top_k, minimum=1, maximum=self.config.vocab_size)
        if eos_id is not None:
            eos_id = integer("eos_id", eos_id, minimum=0, maximum=self.config.vocab_size - 1)
        _check_generator("generator", generator)
        was_training = self.training
        self.eval()
        cache = [AttentionCache() for _ in self.layers]
        out, step_input = ids, ids
        done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for _ in range(max_new_tokens):
            logits = self(step_input, cache=cache)[:, -1]  # (B, V): the next token's scores
            nxt = self._pick(logits, sample, temperature, top_k, generator)
            if eos_id is not None:
                nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
                done |= nxt == eos_id
            out, step_input = torch.cat([out, nxt[:, None]], dim=1), nxt[:, None]
            if eos_id is not None and bool(done.all()):
                break
        self.train(was_training)
        return out

    @staticmethod
    def _pick(logits: Tensor, sample: bool, temperature: float, top_k: int | None,
              gen: torch.Generator | None) -> Tensor:
        """The next token of every row: argmax, or a draw from the (top-k) softmax."""
        if not sample:
            return logits.argmax(dim=-1)
        logits = logits / temperature
        if top_k is not None:
            kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest
            logits = logits.masked_fill(logits < kth, float("-inf"))
        return torch.multinomial(F.softmax(logits.float(), dim=-1), 1, generator=gen)[:, 0]

    @classmethod
    def from_huggingface(cls, model) -> GPT:
        """Build a :class:`GPT` with the weights of a ``transformers.GPT2LMHeadModel``.

        Parameters
        ----------
        model : transformers.GPT2LMHeadModel
            With tied input/output embeddings, ``scale_attn_weights=True`` and
            ``scale_attn_by_inverse_layer_idx=False``; other settings are a ValueError.

        Returns
        -------
        GPT
            On the model's device and dtype, in its train/eval mode; its logits equal
            ``model(ids).logits``.
        """
        hf = _gpt2_config(model)
        new = cls(GPTConfig(
            vocab_size=hf.vocab_size, max_len=hf.n_positions, d_model=hf.n_embd,
            num_heads=hf.n_head, d_ff=hf.n_inner or 4 * hf.n_embd, num_layers=hf.n_layer,
            dropout=hf.resid_pdrop, activation=_HF_ACTIVATIONS[hf.activation_function],
            eps=hf.layer_norm_epsilon))
        weight = model.transformer.wte.weight
        new.to(device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            _copy_gpt2(new, model.transformer)
        new.train(model.training)
        return new


def _gpt2_config(model):
    """Return ``model.config`` after checking that ``model`` is a GPT-2 this class can copy."""
    if type(model).__name__ != "GPT2LMHeadModel":
        raise ValueError(f"model is a {type(model).__name__}; expected a transformers.GPT2LMHeadModel")
    hf = model.config
    if model.lm_head.weight is not model.transformer.wte.weight:
        raise ValueError("model has an output matrix of its own (tie_word_embeddings=False); "
                         "expected it tied to the token embedding, as GPT-2's is")
    if not hf.scale_attn_weights or hf.scale_attn_by_inverse_layer_idx:
        raise ValueError("model scales its attention otherwise than by 1/sqrt(d_head); expected "
                         "scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False")
    if hf.activation_function not in _HF_ACTIVATIONS:
        raise fail("model.config.activation_function", hf.activation_function,
                   "one of " + ", ".join(map(repr, _HF_ACTIVATIONS)))
    return hf


def _copy_gpt2(new: GPT, hf) -> None:
    """Copy GPT-2's weights (``GPT2Model``) into ``new``, transposing its ``Conv1D`` layout."""
    d = new.config.d_model
    new.token_embed.weight.copy_(hf.wte.weight)
    new.positional.weight.copy_(hf.wpe.weight)
    for ours, block in zip(new.layers, hf.h):
        attn = ours.self_attn.sublayer
        # c_attn: (d, 3d) holding [W_q | W_k | W_v] as x @ W; nn.Linear wants W.T, (out, in)
        w, b = block.attn.c_attn.weight, block.attn.c_attn.bias
        for i, linear in enumerate((attn.w_q, attn.w_k, attn.w_v)):
            linear.weight.copy_(w[:, i * d:(i + 1) * d].T)
            linear.bias.copy_(b[i * d:(i + 1) * d])
        pairs = ((attn.w_o, block.attn.c_proj), (ours.ffn.sublayer.linear1, block.mlp.c_fc),
                 (ours.ffn.sublayer.linear2, block.mlp.c_proj))
        for linear, conv in pairs:
            linear.weight.copy_(conv.weight.T)
            linear.bias.copy_(conv.bias)
        ours.self_attn.norm.load_state_dict(block.ln_1.state_dict())
        ours.ffn.norm.load_state_dict(block.ln_2.state_dict())
    new.norm.load_state_dict(hf.ln_f.state_dict())


def causal_lm_loss(logits: Tensor, ids: Tensor, target_mask: Tensor | None = None) -> Tensor:
    """The language-modelling loss: cross-entropy of each position's logits against the *next* token.

    Position ``t``'s logits predict ``ids[:, t + 1]``, so the logits of the last position
    and the first token (which nothing predicts) drop out:
    ``cross_entropy(logits[:, :-1], ids[:, 1:])``, averaged over the counted targets.

    Parameters
    ----------
    logits : Tensor, shape (B, L, V)
        From :meth:`GPT.forward` on ``ids``.
    ids : Tensor of int, shape (B, L)
    target_mask : Tensor of bool, shape (B, L), optional
        Which tokens count as targets (True = counted), indexed like ``ids``: e.g. only the
        answer after a prompt, and never padding. ``target_mask[:, 0]`` is ignored (the
        first token is never a target).

    Returns
    -------
    Tensor, scalar
        The mean over counted targets (NaN if there are none).
    """
    if tensor("logits", logits, shape="(B, L, V)").dim() != 3:
        raise shape_error("logits", logits, "(B, L, V)")
    floating("logits", logits)
    expected = f"(B, L) = {tuple(logits.shape[:2])}, the first two axes of logits"
    if tensor("ids", ids, shape=expected).shape != logits.shape[:2]:
        raise shape_error("ids", ids, expected)
    _check_embedding_ids(ids, logits.shape[-1], "ids")
    targets = ids[:, 1:]  # (B, L-1): position t predicts token t + 1
    if target_mask is not None:
        if tensor("target_mask", target_mask, shape=expected).dtype != torch.bool:
            raise fail("target_mask", target_mask, "a boolean tensor (True = counted)")
        if target_mask.shape != ids.shape:
            raise shape_error("target_mask", target_mask, expected)
        targets = targets.masked_fill(~target_mask[:, 1:], -100)  # -100: ignored by cross_entropy
    flat = logits[:, :-1].reshape(-1, logits.shape[-1])
    return F.cross_entropy(flat, targets.reshape(-1), ignore_index=-100)
