"""Every public function under bad input: a ValueError naming the argument, or the right result.

``TABLE`` maps each public name of course_lib (the ``__all__`` of every module, ``grading``,
``train`` and ``viz`` excluded, see ``EXCLUDED``) to the calls that exercise it: a callable,
keyword arguments that are valid, and bad values for some of them, each with its expected
outcome. Generic bad values are generated for every size (:func:`size`), probability
(:func:`prob`) and tensor (:func:`tens`) argument. ``test_every_public_name_has_an_entry``
fails when a module gains a public name that the table does not cover.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course_lib
from course_lib import attention, complexity, decoding, embedding, ffn, masks, multihead, norm, numpy_ref
from course_lib import bert, gpt, i18n, positional, rnn, transformer
from course_lib.data import batches, referents, spelling, splits, vocab

EXCLUDED = {
    "course_lib.grading": "the graders check learners' notebooks; tested in tests/test_grading*.py",
    "course_lib.train": "config validation and run folders belong to the training helper (tests/test_train_*.py)",
    "course_lib.viz": "plotting: matplotlib figures, no numerical contract to fuzz (tests/test_viz.py)",
    "course_lib.memo": "a store of results shared by the book's two editions (tests/test_memo.py)",
    "course_lib.display": "notebook display helpers: text in, text out (tests/test_display.py)",
    "course_lib.diagrams": "drawn block diagrams, no numerical contract to fuzz (tests/test_diagrams.py)",
    "course_lib._validate": "private: the validators themselves (tests/test_validate.py)",
    "course_lib.data": "re-exports its submodules' names, which are covered one by one",
}

NAMED = "ValueError naming the argument"
NAN = float("nan")
torch.manual_seed(0)


@dataclass
class Same:
    """Expected outcome: the call succeeds and equals ``reference()`` (tensors compared with assert_close)."""

    reference: Callable[[], Any]


@dataclass
class Case:
    call: Callable[..., Any]
    valid: dict[str, Any]
    bad: list[tuple[str, Any, Any]] = field(default_factory=list)


@dataclass
class Exempt:
    """A public name that is data, not a function of inputs: nothing to fuzz."""

    why: str


def size(arg: str, *, skip: tuple = ()) -> list[tuple[str, Any, Any]]:
    """The generic bad sizes: True, 0, -1, 2.5, "3", None (minus ``skip``, where legal)."""
    return [(arg, v, NAMED) for v in (True, 0, -1, 2.5, "3", None) if not any(v is s or (v == s and type(v) is type(s)) for s in skip)]


def prob(arg: str) -> list[tuple[str, Any, Any]]:
    """The generic bad probabilities: 1.0, -0.1, nan, "0.1", True."""
    return [(arg, v, NAMED) for v in (1.0, -0.1, NAN, "0.1", True)]


def tens(arg: str, value: torch.Tensor, *, ndim: torch.Tensor | None = None, dtype: bool = True,
         other_dtype: bool = True, none: bool = True) -> list[tuple[str, Any, Any]]:
    """The generic bad tensors: a list, None, the wrong number of axes, an int dtype, float64 among float32."""
    bad = [(arg, value.tolist(), NAMED)]
    if none:
        bad.append((arg, None, NAMED))
    if ndim is not None:
        bad.append((arg, ndim, NAMED))
    if dtype:
        bad.append((arg, value.long(), NAMED))
    if other_dtype:
        bad.append((arg, value.double(), NAMED))
    return bad


def _module_call(build: Callable[[], torch.nn.Module], method: str = "forward"):
    module = build()
    return lambda **kw: getattr(module, method)(**kw)


# ------------------------------------------------------------------------------ inputs
q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
x4 = torch.randn(2, 3, 4)
x8 = torch.randn(2, 3, 8)
w44, w46 = torch.randn(4, 4), torch.randn(4, 6)
mask35 = torch.ones(3, 5, dtype=torch.bool)
ids = torch.tensor([[1, 2, 3], [4, 5, 0]])
CONFIG = dict(vocab_size=12, d_model=8, num_heads=2, d_ff=16, num_layers=1, dropout=0.0, max_len=16)


def _model() -> transformer.Transformer:
    torch.manual_seed(0)
    return transformer.Transformer(transformer.TransformerConfig(**CONFIG)).eval()


MODEL = _model()
MEMORY = MODEL.encode(ids)
HALF = x8.half()
GPT_CONFIG = dict(vocab_size=12, max_len=5, d_model=8, num_heads=2, d_ff=16, num_layers=1, dropout=0.0)
BERT_CONFIG = dict(vocab_size=12, max_len=5, type_vocab_size=2, d_model=8, num_heads=2, d_ff=16, num_layers=1,
                   dropout=0.0)
GPT_MODEL = gpt.GPT(gpt.GPTConfig(**GPT_CONFIG)).eval()
BERT_MODEL = bert.BERT(bert.BERTConfig(**BERT_CONFIG)).eval()


def _hf_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=12, n_positions=5, n_embd=8, n_layer=1, n_head=2))


def _hf_bert():
    from transformers import BertConfig, BertForMaskedLM

    return BertForMaskedLM(BertConfig(vocab_size=12, max_position_embeddings=5, hidden_size=8, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=16))


TABLE: dict[str, list[Case] | Exempt] = {
    # ---------------------------------------------------------------- attention
    "attention.softmax": [Case(attention.softmax, dict(x=q, dim=-1),
                               [*tens("x", q, other_dtype=False), ("dim", 3, NAMED), ("dim", True, NAMED),
                                ("dim", "1", NAMED), ("dim", np.int64(-1), Same(lambda: torch.softmax(q, -1)))])],
    "attention.masked_softmax": [Case(attention.masked_softmax, dict(scores=q, mask=torch.ones(3, 4, dtype=torch.bool)),
                                      [*tens("scores", q, other_dtype=False),
                                       ("mask", torch.ones(3, 4), NAMED), ("mask", [[True] * 4] * 3, NAMED),
                                       ("mask", torch.ones(5, 3, 4, dtype=torch.bool), NAMED)])],
    "attention.dot_product_scores": [Case(attention.dot_product_scores, dict(q=q, k=k),
                                          [*tens("q", q, ndim=torch.randn(4), other_dtype=False),
                                           *tens("k", k, ndim=torch.randn(4), dtype=False),
                                           ("k", torch.randn(2, 5, 3), NAMED)])],
    "attention.scaled_dot_product_attention": [Case(
        attention.scaled_dot_product_attention, dict(q=q, k=k, v=v, mask=mask35, dropout_p=0.0),
        [*tens("q", q, ndim=torch.randn(4), other_dtype=False), *tens("k", k, ndim=torch.randn(4), dtype=False),
         *tens("v", v, ndim=torch.randn(5), dtype=False), ("q", torch.randn(2, 3, 0), NAMED),
         ("v", torch.randn(2, 4, 6), NAMED), *prob("dropout_p"), ("mask", mask35.float(), NAMED),
         ("mask", torch.ones(4, 3, 5, dtype=torch.bool), NAMED)])],
    "attention.additive_attention": [Case(
        attention.additive_attention, dict(q=q, k=k, v=v, w_q=w46, w_k=w46, w_v=torch.randn(6)),
        [*tens("q", q, ndim=torch.randn(4), other_dtype=False), *tens("k", k, dtype=False),
         *tens("v", v, dtype=False), *tens("w_q", w46, dtype=False), *tens("w_k", w46, dtype=False),
         *tens("w_v", torch.randn(6), ndim=torch.randn(6, 1), dtype=False),
         ("mask", torch.ones(3, 5), NAMED)])],
    "attention.nadaraya_watson": [Case(
        attention.nadaraya_watson, dict(queries=torch.randn(4), keys=torch.randn(6), values=torch.randn(6),
                                        bandwidth=0.5),
        [*tens("queries", torch.randn(4), other_dtype=False), *tens("keys", torch.randn(6), dtype=False),
         *tens("values", torch.randn(6), dtype=False), ("values", torch.randn(5), NAMED),
         ("bandwidth", 0.0, NAMED), ("bandwidth", -1.0, NAMED), ("bandwidth", NAN, NAMED),
         ("bandwidth", "1", NAMED), ("bandwidth", True, NAMED), ("bandwidth", torch.tensor(-1.0), NAMED)])],
    "attention.self_attention": [Case(
        attention.self_attention, dict(x=x4, w_q=w44, w_k=w44, w_v=w46),
        [*tens("x", x4, ndim=torch.randn(3, 4)), *tens("w_q", w44, dtype=False), *tens("w_k", w44, dtype=False),
         *tens("w_v", w46, dtype=False), ("w_k", torch.randn(4, 5), NAMED), ("mask", torch.ones(3, 3), NAMED)])],
    "attention.SelfAttention": [
        Case(attention.SelfAttention, dict(d_model=4, d_k=4, d_v=None, bias=False),
             [*size("d_model"), *size("d_k"), *size("d_v", skip=(None,)), ("bias", 1, NAMED), ("bias", "no", NAMED)]),
        Case(_module_call(lambda: attention.SelfAttention(4, 4)), dict(x=x4),
             [*tens("x", x4, ndim=torch.randn(3, 4)), ("x", x4.half(), NAMED), ("x", torch.randn(2, 3, 5), NAMED)]),
    ],
    # ---------------------------------------------------------------- multihead
    "multihead.split_heads": [Case(multihead.split_heads, dict(x=x8, num_heads=2),
                                   [*tens("x", x8, ndim=torch.randn(8), dtype=False, other_dtype=False),
                                    *size("num_heads"), ("num_heads", 3, NAMED)])],
    "multihead.merge_heads": [Case(multihead.merge_heads, dict(x=torch.randn(2, 2, 3, 4)),
                                   tens("x", torch.randn(2, 2, 3, 4), ndim=x8, dtype=False, other_dtype=False))],
    "multihead.MultiHeadAttention": [
        Case(multihead.MultiHeadAttention, dict(d_model=8, num_heads=2, dropout=0.0, bias=True, fast=False),
             [*size("d_model"), *size("num_heads"), ("num_heads", 3, NAMED), *prob("dropout"),
              ("bias", 1, NAMED), ("fast", "yes", NAMED)]),
        Case(_module_call(lambda: multihead.MultiHeadAttention(8, 2)), dict(query=x8, key=x8, value=x8),
             [*tens("query", x8, ndim=torch.randn(3, 8)), *tens("key", x8, ndim=torch.randn(3, 8)),
              *tens("value", x8, ndim=torch.randn(3, 8)), ("query", HALF, NAMED), ("value", torch.randn(2, 4, 8), NAMED),
              ("mask", torch.ones(3, 3), NAMED)]),
    ],
    "multihead.AttentionCache": [Case(_module_call(lambda: multihead.AttentionCache(), "reorder"),
                                      dict(index=torch.tensor([0])), [("index", [0], NAMED), ("index", None, NAMED)])],
    # ---------------------------------------------------------------- masks
    "masks.causal_mask": [Case(masks.causal_mask, dict(L=3),
                               [*size("L", skip=(0,)), ("L", np.int64(3), Same(lambda: masks.causal_mask(3))),
                                ("L", torch.tensor(3), Same(lambda: masks.causal_mask(3))),
                                ("L", 0, Same(lambda: torch.ones(0, 0, dtype=torch.bool)))])],
    "masks.padding_mask": [Case(masks.padding_mask, dict(lengths=[1, 3], max_len=3),
                                [("lengths", None, NAMED), ("lengths", [2.5], NAMED), ("lengths", 5, NAMED),
                                 ("lengths", [True], NAMED), ("lengths", [4], NAMED), ("lengths", [-1], NAMED),
                                 ("lengths", torch.tensor([1.0]), NAMED), ("lengths", torch.ones(2, 2, dtype=torch.long), NAMED),
                                 *size("max_len", skip=(0,)),
                                 ("max_len", np.int64(3), Same(lambda: masks.padding_mask([1, 3], 3)))])],
    "masks.combine_masks": [Case(lambda **kw: masks.combine_masks(kw["a"], kw["b"]),
                                 dict(a=mask35, b=torch.ones(2, 1, 5, dtype=torch.bool)),
                                 [("b", torch.ones(2, 1, 5), NAMED), ("b", [[True]], NAMED),
                                  ("b", torch.ones(2, 1, 4, dtype=torch.bool), NAMED)])],
    "masks.to_torch_mask": [Case(masks.to_torch_mask, dict(mask=mask35, key_padding=False),
                                 [("mask", mask35.float(), NAMED), ("mask", None, NAMED), ("key_padding", 1, NAMED),
                                  ("key_padding", "yes", NAMED)])],
    "masks.from_torch_mask": [Case(masks.from_torch_mask, dict(mask=mask35, key_padding=False),
                                   [("mask", mask35.long(), NAMED), ("mask", None, NAMED), ("mask", torch.randn(3, 5), NAMED),
                                    ("key_padding", 1, NAMED)])],
    # ---------------------------------------------------------------- norm
    "norm.layer_norm": [Case(norm.layer_norm, dict(x=x4, gamma=torch.ones(4), beta=torch.zeros(4), eps=1e-5),
                             [*tens("x", x4, other_dtype=False), *tens("gamma", torch.ones(4), ndim=torch.ones(1, 4), dtype=False),
                              *tens("beta", torch.zeros(4), dtype=False), ("eps", -1.0, NAMED), ("eps", NAN, NAMED),
                              ("eps", "1e-5", NAMED), ("eps", True, NAMED)])],
    "norm.LayerNorm": [
        Case(norm.LayerNorm, dict(d_model=4, eps=1e-5, fast=False),
             [*size("d_model"), ("eps", -1.0, NAMED), ("eps", NAN, NAMED), ("fast", 1, NAMED)]),
        Case(_module_call(lambda: norm.LayerNorm(4)), dict(x=x4),
             [*tens("x", x4, none=True), ("x", x4.half(), NAMED), ("x", torch.randn(2, 5), NAMED)]),
    ],
    "norm.Residual": [
        Case(norm.Residual, dict(d_model=4, sublayer=torch.nn.Identity(), norm_first=False, dropout=0.0),
             [*size("d_model"), ("sublayer", None, NAMED), ("norm_first", 1, NAMED), *prob("dropout"),
              ("residual", 0, NAMED), ("layer_norm", "off", NAMED)]),
        Case(_module_call(lambda: norm.Residual(4, torch.nn.Identity(), False)), dict(x=x4),
             [*tens("x", x4), ("x", torch.randn(2, 5), NAMED)]),
    ],
    # ---------------------------------------------------------------- ffn
    "ffn.gelu": [Case(ffn.gelu, dict(x=x4), tens("x", x4, other_dtype=False))],
    "ffn.PositionwiseFFN": [
        Case(ffn.PositionwiseFFN, dict(d_model=4, d_ff=8, dropout=0.0, activation="relu"),
             [*size("d_model"), *size("d_ff"), *prob("dropout"), ("activation", "tanh", NAMED), ("activation", None, NAMED)]),
        Case(_module_call(lambda: ffn.PositionwiseFFN(4, 8)), dict(x=x4),
             [*tens("x", x4), ("x", x4.half(), NAMED), ("x", x4.bfloat16(), NAMED), ("x", torch.randn(2, 5), NAMED)]),
    ],
    # ---------------------------------------------------------------- positional
    "positional.frequencies": [Case(positional.frequencies, dict(d_model=4, base=10000.0),
                                    [*size("d_model"), ("d_model", 3, NAMED), ("base", 0.0, NAMED), ("base", -1.0, NAMED),
                                     ("base", NAN, NAMED), ("base", "1e4", NAMED), ("base", True, NAMED),
                                     ("d_model", np.int64(4), Same(lambda: positional.frequencies(4)))])],
    "positional.sinusoidal_encoding": [Case(positional.sinusoidal_encoding, dict(max_len=5, d_model=4, dtype=torch.float32),
                                            [*size("max_len", skip=(0,)), *size("d_model"), ("dtype", torch.int64, NAMED),
                                             ("dtype", "float32", NAMED), ("base", NAN, NAMED),
                                             ("max_len", 0, Same(lambda: torch.zeros(0, 4)))])],
    "positional.relative_rotation": [Case(positional.relative_rotation, dict(k=2, d_model=4),
                                          [("k", 2.5, NAMED), ("k", True, NAMED), ("k", None, NAMED), *size("d_model"),
                                           ("base", -1.0, NAMED),
                                           ("k", torch.tensor(2), Same(lambda: positional.relative_rotation(2, 4)))])],
    "positional.PositionalEncoding": [
        Case(positional.PositionalEncoding, dict(d_model=4, max_len=8, dropout=0.0),
             [*size("d_model"), ("d_model", 3, NAMED), *size("max_len"), *prob("dropout")]),
        Case(_module_call(lambda: positional.PositionalEncoding(4, 8)), dict(x=x4, offset=0),
             [*tens("x", x4, ndim=torch.randn(4), other_dtype=False), ("x", torch.randn(2, 9, 4), NAMED),
              ("offset", -1, NAMED), ("offset", 2.5, NAMED), ("offset", True, NAMED), ("offset", 6, NAMED)]),
    ],
    "positional.LearnedPositionalEmbedding": [
        Case(positional.LearnedPositionalEmbedding, dict(d_model=4, max_len=8, dropout=0.0),
             [*size("d_model"), *size("max_len"), *prob("dropout")]),
        Case(_module_call(lambda: positional.LearnedPositionalEmbedding(4, 8)), dict(x=x4, offset=0),
             [*tens("x", x4, ndim=torch.randn(4), other_dtype=False), ("offset", -1, NAMED), ("offset", 6, NAMED)]),
    ],
    # ---------------------------------------------------------------- embedding
    "embedding.Embeddings": [
        Case(embedding.Embeddings, dict(vocab_size=10, d_model=4), [*size("vocab_size"), *size("d_model")]),
        Case(_module_call(lambda: embedding.Embeddings(10, 4)), dict(ids=ids),
             [("ids", ids.tolist(), NAMED), ("ids", None, NAMED), ("ids", ids.float(), NAMED), ("ids", ids + 10, NAMED),
              ("ids", ids - 10, NAMED)]),
    ],
    "embedding.OutputProjection": [
        Case(embedding.OutputProjection, dict(d_model=4, vocab_size=10, bias=False),
             [*size("d_model"), *size("vocab_size"), ("tied_to", embedding.Embeddings(9, 4), NAMED)]),
        Case(_module_call(lambda: embedding.OutputProjection(4, 10)), dict(h=x4),
             [*tens("h", x4, ndim=torch.tensor(1.0)), ("h", x4.half(), NAMED), ("h", torch.randn(2, 5), NAMED)]),
    ],
    "embedding.EmbeddingLayers": Exempt("a NamedTuple of modules that build_embeddings returns"),
    "embedding.build_embeddings": [Case(embedding.build_embeddings, dict(d_model=4, src_vocab_size=10, tgt_vocab_size=10),
                                        [*size("d_model"), *size("src_vocab_size"), *size("tgt_vocab_size"),
                                         ("shared_vocab", 1, NAMED), ("tie_output", "yes", NAMED), ("bias", None, NAMED)])],
    "embedding.parameter_count": [Case(lambda **kw: embedding.parameter_count(kw["m"]), dict(m=torch.nn.Linear(2, 3)),
                                       [("m", 5, NAMED), ("m", None, NAMED), ("m", "linear", NAMED),
                                        ("m", [torch.nn.Parameter(torch.ones(4))], Same(lambda: 4))])],
    # ---------------------------------------------------------------- complexity
    "complexity.RECURRENT_GATES": Exempt("a constant table"),
    "complexity.LAYER_KINDS": Exempt("a constant tuple"),
    "complexity.LayerCost": Exempt("the NamedTuple layer_complexity returns"),
    "complexity.attention_layer_params": [Case(complexity.attention_layer_params, dict(d_model=4, bias=True),
                                               [*size("d_model"), ("bias", 1, NAMED)])],
    "complexity.recurrent_layer_params": [Case(complexity.recurrent_layer_params, dict(kind="lstm", d_model=4),
                                               [("kind", "cnn", NAMED), ("kind", None, NAMED), *size("d_model"),
                                                ("bias", "no", NAMED)])],
    "complexity.conv1d_layer_params": [Case(complexity.conv1d_layer_params, dict(d_model=4, kernel_size=3),
                                            [*size("d_model"), *size("kernel_size"), ("bias", 0, NAMED)])],
    "complexity.layer_complexity": [Case(complexity.layer_complexity, dict(kind="self_attention", n=8, d=4),
                                         [("kind", "mlp", NAMED), *size("n"), *size("d")])],
    "complexity.long_range_task": [Case(complexity.long_range_task, dict(num_samples=4, seq_len=6, distance=2, vocab=5),
                                        [*size("num_samples"), *size("seq_len"), *size("vocab"), ("distance", 6, NAMED),
                                         ("distance", 2.5, NAMED), ("generator", "seed", NAMED)])],
    "complexity.LSTMClassifier": [Case(complexity.LSTMClassifier, dict(vocab=5, d_model=4),
                                       [*size("vocab"), *size("d_model")])],
    "complexity.AttentionClassifier": [Case(complexity.AttentionClassifier, dict(vocab=5, d_model=4, max_len=8, num_heads=2),
                                            [*size("vocab"), *size("d_model"), *size("max_len"), *size("num_heads"),
                                             ("num_heads", 3, NAMED)])],
    # ---------------------------------------------------------------- rnn
    "rnn.RNNConfig": [Case(rnn.RNNConfig, dict(vocab_size=12, d_model=8),
                           [*size("vocab_size"), *size("d_model"), *size("num_layers"), *prob("dropout"),
                            ("attention", 1, NAMED), ("tie_embeddings", None, NAMED), ("pad_id", 12, NAMED),
                            ("pad_id", -1, NAMED)])],
    "rnn.RNNSeq2Seq": [
        Case(rnn.RNNSeq2Seq, dict(config=rnn.RNNConfig(vocab_size=12, d_model=8)),
             [("config", None, NAMED), ("config", transformer.TransformerConfig(**CONFIG), NAMED)]),
        Case(_module_call(lambda: rnn.RNNSeq2Seq(rnn.RNNConfig(vocab_size=12, d_model=8, attention=True))),
             dict(src=ids, tgt_in=ids),
             [("src", ids.tolist(), NAMED), ("src", None, NAMED), ("src", ids.float(), NAMED), ("src", ids[0], NAMED),
              ("src", ids + 12, NAMED), ("tgt_in", ids.float(), NAMED), ("tgt_in", ids - 1, NAMED),
              ("src_mask", torch.ones(2, 1, 3), NAMED), ("src_mask", torch.ones(2, 3, dtype=torch.bool), NAMED),
              ("tgt_mask", torch.ones(3, 3), NAMED)]),
        Case(_module_call(lambda: rnn.RNNSeq2Seq(rnn.RNNConfig(vocab_size=12, d_model=8)), "decode"),
             dict(tgt_in=ids, memory=x8),
             [*tens("memory", x8, ndim=x8[0]), ("memory", torch.randn(2, 3, 4), NAMED),
              ("memory_mask", torch.ones(2, 1, 4, dtype=torch.bool), NAMED)]),
    ],
    "rnn.width_for_parameter_count": [Case(rnn.width_for_parameter_count,
                                           dict(target=5000, config=rnn.RNNConfig(vocab_size=12)),
                                           [*size("target"), ("config", None, NAMED)])],
    # ---------------------------------------------------------------- transformer
    "transformer.TransformerConfig": [Case(transformer.TransformerConfig, dict(CONFIG),
                                           [*size("vocab_size"), *size("d_model"), *size("num_heads"), *size("d_ff"),
                                            *size("num_layers"), *size("max_len"), *prob("dropout"), ("d_model", 7, NAMED),
                                            ("norm_first", 1, NAMED), ("activation", "tanh", NAMED), ("pad_id", -1, NAMED),
                                            ("pad_id", 12, NAMED), ("fast", None, NAMED), ("positional", "rope", NAMED),
                                            ("scale_scores", 1, NAMED), ("layer_norm", None, NAMED),
                                            ("residual", "no", NAMED)])],
    "transformer.SelfAttentionSublayer": [
        Case(transformer.SelfAttentionSublayer, dict(d_model=8, num_heads=2), [*size("d_model"), *size("num_heads")]),
        Case(_module_call(lambda: transformer.SelfAttentionSublayer(8, 2)), dict(x=x8),
             [*tens("x", x8, ndim=torch.randn(3, 8)), ("x", HALF, NAMED)]),
    ],
    "transformer.CrossAttentionSublayer": [
        Case(transformer.CrossAttentionSublayer, dict(d_model=8, num_heads=2), [*size("d_model"), *size("num_heads")]),
        Case(_module_call(lambda: transformer.CrossAttentionSublayer(8, 2)), dict(x=x8, memory=x8),
             [*tens("x", x8, ndim=torch.randn(3, 8)), *tens("memory", x8, ndim=torch.randn(3, 8))]),
    ],
    "transformer.EncoderLayer": [
        Case(transformer.EncoderLayer, dict(d_model=8, num_heads=2, d_ff=16, dropout=0.0),
             [*size("d_model"), *size("num_heads"), *size("d_ff"), *prob("dropout"), ("norm_first", 1, NAMED),
              ("eps", -1.0, NAMED), ("activation", "tanh", NAMED)]),
        Case(_module_call(lambda: transformer.EncoderLayer(8, 2, 16, 0.0)), dict(x=x8),
             [*tens("x", x8, ndim=torch.randn(3, 8)), ("x", HALF, NAMED), ("mask", torch.ones(3, 3), NAMED)]),
    ],
    "transformer.DecoderLayer": [
        Case(transformer.DecoderLayer, dict(d_model=8, num_heads=2, d_ff=16, dropout=0.0),
             [*size("d_model"), *size("num_heads"), *size("d_ff"), *prob("dropout")]),
        Case(_module_call(lambda: transformer.DecoderLayer(8, 2, 16, 0.0)), dict(x=x8, memory=x8),
             [*tens("x", x8, ndim=torch.randn(3, 8)), *tens("memory", x8, ndim=torch.randn(3, 8)),
              ("self_mask", torch.ones(3, 3), NAMED)]),
    ],
    "transformer.Encoder": [
        Case(transformer.Encoder, dict(config=transformer.TransformerConfig(**CONFIG)), [("config", None, NAMED),
                                                                                         ("config", dict(CONFIG), NAMED)]),
        Case(_module_call(lambda: MODEL.encoder), dict(x=x8), [*tens("x", x8, ndim=torch.randn(3, 8)), ("x", HALF, NAMED)]),
    ],
    "transformer.Decoder": [
        Case(transformer.Decoder, dict(config=transformer.TransformerConfig(**CONFIG)), [("config", "base", NAMED)]),
        Case(_module_call(lambda: MODEL.decoder), dict(x=x8, memory=x8),
             [*tens("x", x8, ndim=torch.randn(3, 8)), *tens("memory", x8, ndim=torch.randn(3, 8))]),
    ],
    "transformer.Transformer": [
        Case(transformer.Transformer, dict(config=transformer.TransformerConfig(**CONFIG)), [("config", None, NAMED)]),
        Case(_module_call(lambda: MODEL, "encode"), dict(src=ids),
             [("src", ids.tolist(), NAMED), ("src", None, NAMED), ("src", ids.float(), NAMED), ("src", ids[0], NAMED),
              ("src", ids + 12, NAMED), ("src_mask", torch.ones(2, 1, 3), NAMED)]),
        Case(_module_call(lambda: MODEL, "decode"), dict(tgt_in=ids, memory=MEMORY),
             [("tgt_in", ids.float(), NAMED), ("tgt_in", None, NAMED), *tens("memory", MEMORY, ndim=MEMORY[0]),
              ("tgt_mask", torch.ones(3, 3), NAMED)]),
    ],
    "transformer.LayerCache": Exempt("a dataclass holding two AttentionCache objects"),
    "transformer.KVCache": [Case(transformer.KVCache, dict(num_layers=2), size("num_layers")),
                            Case(_module_call(lambda: transformer.KVCache(1), "reorder"), dict(index=torch.tensor([0])),
                                 [("index", [0], NAMED), ("index", None, NAMED)])],
    "transformer.parameter_breakdown": [Case(transformer.parameter_breakdown, dict(model=MODEL),
                                             [("model", None, NAMED), ("model", torch.nn.Linear(2, 2), NAMED)])],
    # ---------------------------------------------------------------- decoding
    "decoding.greedy_decode": [Case(decoding.greedy_decode, dict(model=MODEL, src=ids, max_len=3, bos_id=1, eos_id=2),
                                    [("src", ids.tolist(), NAMED), ("src", None, NAMED), ("src", ids[0], NAMED),
                                     ("src", ids.float(), NAMED), *size("max_len"), ("bos_id", -1, NAMED),
                                     ("bos_id", 12, NAMED), ("eos_id", -1, NAMED), ("eos_id", 2.5, NAMED),
                                     ("eos_id", None, NAMED), ("use_cache", 1, NAMED)])],
    "decoding.gnmt_length_penalty": [Case(decoding.gnmt_length_penalty, dict(length=torch.tensor([1, 2, 7]), alpha=0.6),
                                          [("length", [1, 2], NAMED), ("length", None, NAMED), ("length", torch.tensor([0]), NAMED),
                                           ("length", torch.tensor([-6.0]), NAMED), ("alpha", -0.1, NAMED), ("alpha", NAN, NAMED),
                                           ("alpha", "0.6", NAMED), ("alpha", True, NAMED),
                                           ("length", torch.tensor([1.0, 7.0]),
                                            Same(lambda: torch.tensor([1.0, 2.0 ** 0.6], dtype=torch.float64)))])],
    "decoding.BeamStep": Exempt("the NamedTuple beam_step returns"),
    "decoding.beam_step": [Case(decoding.beam_step, dict(log_probs=torch.randn(2, 3, 5).log_softmax(-1), scores=torch.zeros(2, 3),
                                                         finished=torch.zeros(2, 3, dtype=torch.bool),
                                                         lengths=torch.ones(2, 3, dtype=torch.long), beam_size=2, pad_id=0),
                                [*tens("log_probs", torch.randn(2, 3, 5), ndim=torch.randn(3, 5), other_dtype=False),
                                 ("scores", None, NAMED), ("scores", torch.zeros(2, 4), NAMED),
                                 ("finished", torch.zeros(2, 3), NAMED), ("lengths", [[1] * 3] * 2, NAMED),
                                 *size("beam_size"), ("pad_id", -1, NAMED), ("pad_id", 5, NAMED),
                                 ("length_penalty", NAN, NAMED), ("length_penalty", -1.0, NAMED)])],
    "decoding.beam_search": [Case(decoding.beam_search, dict(model=MODEL, src=ids, beam_size=2, max_len=3, bos_id=1, eos_id=2),
                                  [("src", None, NAMED), ("src", ids.float(), NAMED), *size("beam_size"), *size("max_len"),
                                   ("length_penalty", NAN, NAMED), ("length_penalty", -0.1, NAMED),
                                   ("length_penalty", "0.6", NAMED), ("eos_id", -1, NAMED), ("eos_id", 12, NAMED),
                                   ("bos_id", True, NAMED), ("return_scores", 1, NAMED), ("use_cache", "yes", NAMED)])],
    # ---------------------------------------------------------------- numpy_ref (numpy in, numpy out: lists are arrays)
    "numpy_ref.softmax": [Case(numpy_ref.softmax, dict(x=q.numpy()),
                               [("x", q.tolist(), Same(lambda: numpy_ref.softmax(q.numpy()))), ("dim", 3, NAMED),
                                ("dim", 2.5, NAMED), ("x", None, NAMED)])],
    "numpy_ref.dot_product_scores": [Case(numpy_ref.dot_product_scores, dict(q=q.numpy(), k=k.numpy()),
                                          [("k", torch.randn(2, 5, 3).numpy(), NAMED), ("q", np.ones(4), NAMED),
                                           ("q", None, NAMED)])],
    "numpy_ref.scaled_dot_product_attention": [Case(numpy_ref.scaled_dot_product_attention,
                                                    dict(q=q.numpy(), k=k.numpy(), v=v.numpy()),
                                                    [("v", np.ones((2, 4, 6)), NAMED), ("q", np.ones((2, 3, 0)), NAMED),
                                                     ("mask", np.ones((4, 3, 5), dtype=bool), NAMED),
                                                     ("mask", np.ones((3, 5)), NAMED), *prob("dropout_p"),
                                                     ("dropout_p", 0.5, NAMED)])],
    "numpy_ref.additive_attention": [Case(numpy_ref.additive_attention,
                                          dict(q=q.numpy(), k=k.numpy(), v=v.numpy(), w_q=w46.numpy(), w_k=w46.numpy(),
                                               w_v=np.ones(6)),
                                          [("w_q", np.ones((3, 6)), NAMED), ("w_v", np.ones(5), NAMED), ("v", np.ones((2, 4, 6)), NAMED)])],
    "numpy_ref.nadaraya_watson": [Case(numpy_ref.nadaraya_watson, dict(queries=np.ones(4), keys=np.ones(6), values=np.ones(6)),
                                       [("bandwidth", 0.0, NAMED), ("bandwidth", NAN, NAMED), ("bandwidth", True, NAMED),
                                        ("values", np.ones(5), NAMED)])],
    "numpy_ref.self_attention": [Case(numpy_ref.self_attention, dict(x=x4.numpy(), w_q=w44.numpy(), w_k=w44.numpy(),
                                                                    w_v=w46.numpy()),
                                      [("x", np.ones((2, 3, 5)), NAMED), ("w_k", np.ones((4, 5)), NAMED), ("x", np.ones(4), NAMED)])],
    "numpy_ref.split_heads": [Case(numpy_ref.split_heads, dict(x=x8.numpy(), num_heads=2),
                                   [*size("num_heads"), ("num_heads", 3, NAMED)])],
    "numpy_ref.merge_heads": [Case(numpy_ref.merge_heads, dict(x=np.ones((2, 2, 3, 4))), [("x", np.ones((3, 4)), NAMED)])],
    "numpy_ref.multi_head_attention": [Case(numpy_ref.multi_head_attention,
                                            dict(query=x8.numpy(), key=x8.numpy(), value=x8.numpy(), w_q=np.eye(8),
                                                 w_k=np.eye(8), w_v=np.eye(8), w_o=np.eye(8), num_heads=2),
                                            [*size("num_heads"), ("num_heads", 3, NAMED), ("w_o", np.eye(7), NAMED)])],
    "numpy_ref.causal_mask": [Case(numpy_ref.causal_mask, dict(L=3), [*size("L", skip=(0,)),
                                                                      ("L", np.int64(3), Same(lambda: np.tril(np.ones((3, 3), bool))))])],
    "numpy_ref.padding_mask": [Case(numpy_ref.padding_mask, dict(lengths=[1, 3], max_len=3),
                                    [("lengths", [2.5], NAMED), ("lengths", [4], NAMED), ("lengths", None, NAMED),
                                     *size("max_len", skip=(0,))])],
    "numpy_ref.positionwise_ffn": [Case(numpy_ref.positionwise_ffn, dict(x=x4.numpy(), w1=np.ones((4, 8)), b1=np.zeros(8),
                                                                        w2=np.ones((8, 4)), b2=np.zeros(4)),
                                        [("w1", np.ones((5, 8)), NAMED), ("b2", np.zeros(3), NAMED), ("activation", "tanh", NAMED)])],
    "numpy_ref.layer_norm": [Case(numpy_ref.layer_norm, dict(x=x4.numpy(), gamma=np.ones(4), beta=np.zeros(4)),
                                  [("gamma", np.ones(3), NAMED), ("eps", -1.0, NAMED), ("eps", NAN, NAMED)])],
    "numpy_ref.sinusoidal_encoding": [Case(numpy_ref.sinusoidal_encoding, dict(max_len=5, d_model=4),
                                           [*size("max_len", skip=(0,)), *size("d_model"), ("d_model", 3, NAMED)])],
    # ---------------------------------------------------------------- i18n
    "i18n.LANGUAGES": Exempt("a constant tuple"),
    "i18n.language": Exempt("no arguments: reads COURSE_LANG (tests/test_i18n.py)"),
    "i18n.tr": [Case(i18n.tr, dict(en="weight", zh="权重"),
                     [("en", None, NAMED), ("en", ["weight"], NAMED), ("zh", 3, NAMED)])],
    # ---------------------------------------------------------------- data
    "spelling.MAX_NUMBER": Exempt("a constant"),
    "spelling.ENGLISH_WORDS": Exempt("a constant word list"),
    "spelling.CHINESE_CHARACTERS": Exempt("a constant character list"),
    "spelling.english_words": [Case(spelling.english_words, dict(n=42),
                                    [("n", -1, NAMED), ("n", 2.5, NAMED), ("n", True, NAMED), ("n", "3", NAMED),
                                     ("n", None, NAMED), ("n", 10**9, NAMED),
                                     ("n", np.int64(42), Same(lambda: "forty-two"))])],
    "spelling.chinese_numerals": [Case(spelling.chinese_numerals, dict(n=42),
                                       [("n", -1, NAMED), ("n", 2.5, NAMED), ("n", True, NAMED), ("n", None, NAMED),
                                        ("n", torch.tensor(42), Same(lambda: spelling.chinese_numerals(42)))])],
    "spelling.english_tokens": [Case(spelling.english_tokens, dict(text="forty two"),
                                     [("text", 5, NAMED), ("text", None, NAMED), ("text", ["forty"], NAMED)])],
    "spelling.chinese_tokens": [Case(spelling.chinese_tokens, dict(text="四十二"),
                                     [("text", 5, NAMED), ("text", None, NAMED)])],
    "vocab.Vocab": [Case(vocab.Vocab, dict(language="en"), [("language", "fr", NAMED), ("language", None, NAMED)]),
                    Case(_module_call(lambda: vocab.Vocab("en"), "to_ids"), dict(text="forty two"),
                         [("text", 5, NAMED), ("text", None, NAMED)]),
                    Case(_module_call(lambda: vocab.Vocab("en"), "to_text"), dict(ids=[4, 5]),
                         [("ids", 5, NAMED), ("ids", [10**6], Same(lambda: "<unk>")), ("ids", [2.5], NAMED),
                          ("ids", torch.tensor([[4, 5]]), NAMED), ("ids", np.array([4, 5]), Same(lambda: vocab.Vocab("en").to_text([4, 5]))),
                          ("ids", None, NAMED)])],
    "vocab.ENGLISH_VOCAB": Exempt("a ready-made Vocab('en')"),
    "vocab.CHINESE_VOCAB": Exempt("a ready-made Vocab('zh')"),
    "vocab.JOINT_VOCAB": Exempt("a ready-made Vocab('joint')"),
    "splits.sample_numbers": [Case(splits.sample_numbers, dict(count=4, generator=torch.Generator().manual_seed(0)),
                                   [*size("count", skip=(0,)), ("generator", 0, NAMED), ("generator", None, NAMED),
                                    *size("max_value"), ("zero_heavy_fraction", 1.5, NAMED), ("zero_heavy_fraction", NAN, NAMED),
                                    ("zero_prob", -0.1, NAMED), ("zero_prob", "0.5", NAMED)])],
    "splits.is_held_out": [Case(splits.is_held_out, dict(numbers=42),
                                [("numbers", -1, NAMED), ("numbers", 2.5, NAMED), ("numbers", None, NAMED),
                                 ("numbers", True, NAMED), ("numbers", "3", NAMED)])],
    "splits.Splits": Exempt("the dataclass make_splits returns"),
    "splits.make_splits": [Case(splits.make_splits, dict(train_size=8, test_size=4, seed=0),
                                [*size("train_size", skip=(0,)), *size("test_size", skip=(0,)), ("seed", None, NAMED), ("seed", 2.5, NAMED),
                                 ("seed", True, NAMED), ("zero_heavy_fraction", 2.0, NAMED)])],
    "batches.Batch": Exempt("the dataclass make_batch returns"),
    "batches.make_batch": [Case(batches.make_batch, dict(numbers=[1, 42]),
                                [("numbers", 5, NAMED), ("numbers", None, NAMED), ("numbers", [], NAMED), ("numbers", [2.5], NAMED),
                                 ("numbers", [-1], NAMED), ("direction", "fr-en", NAMED), ("shared_vocab", 1, NAMED),
                                 ("numbers", np.array([1, 42]), Same(lambda: batches.make_batch([1, 42])))])],
    "batches.iterate_batches": [Case(lambda **kw: list(batches.iterate_batches(**kw)), dict(numbers=[1, 42, 7], batch_size=2),
                                     [("numbers", 5, NAMED), ("numbers", None, NAMED), *size("batch_size"),
                                      ("direction", "zh", NAMED), ("generator", 0, NAMED), ("drop_last", 1, NAMED)])],
    # ---------------------------------------------------------------- gpt, bert (chapter 12)
    "gpt.GPTConfig": [Case(gpt.GPTConfig, dict(**GPT_CONFIG),
                           [*size("vocab_size"), *size("max_len"), *size("d_model"), *size("num_heads"),
                            *size("d_ff"), *size("num_layers"), *prob("dropout"), ("num_heads", 3, NAMED),
                            ("activation", "swish", NAMED), ("eps", -1.0, NAMED), ("fast", 1, NAMED)])],
    "gpt.GPT": [
        Case(gpt.GPT, dict(config=gpt.GPTConfig(**GPT_CONFIG)), [("config", GPT_CONFIG, NAMED),
                                                                  ("config", transformer.TransformerConfig(), NAMED)]),
        Case(_module_call(lambda: GPT_MODEL), dict(ids=ids, padding_mask=ids > 0),
             [("ids", ids.tolist(), NAMED), ("ids", ids.float(), NAMED), ("ids", ids + 12, NAMED),
              ("ids", ids - 10, NAMED), ("ids", ids[0], NAMED), ("ids", torch.ones(1, 9, dtype=torch.long), NAMED),
              ("padding_mask", (ids > 0).long(), NAMED), ("padding_mask", torch.ones(2, 4, dtype=torch.bool), NAMED),
              ("padding_mask", ids[0] > 0, NAMED)]),
        Case(_module_call(lambda: GPT_MODEL, "generate"), dict(ids=ids, max_new_tokens=2),
             [*size("max_new_tokens", skip=(0,)), ("max_new_tokens", 6, NAMED), ("ids", ids + 12, NAMED),
              ("temperature", 0.0, NAMED), ("top_k", 0, NAMED), ("eos_id", 12, NAMED), ("sample", 1, NAMED),
              ("generator", 0, NAMED)]),
        Case(gpt.GPT.from_huggingface, dict(model=_hf_gpt2()),
             [("model", torch.nn.Linear(2, 2), NAMED), ("model", _hf_bert(), NAMED), ("model", None, NAMED)]),
    ],
    "gpt.causal_lm_loss": [Case(gpt.causal_lm_loss, dict(logits=torch.randn(2, 3, 12), ids=ids, target_mask=ids > 0),
                                [*tens("logits", torch.randn(2, 3, 12), ndim=torch.randn(3, 12), other_dtype=False),
                                 ("ids", ids + 12, NAMED), ("ids", ids[:, :2], NAMED), ("ids", ids.float(), NAMED),
                                 ("target_mask", (ids > 0).long(), NAMED), ("target_mask", ids[:, :2] > 0, NAMED)])],
    "bert.BERTConfig": [Case(bert.BERTConfig, dict(**BERT_CONFIG),
                             [*size("vocab_size"), *size("max_len"), *size("type_vocab_size"), *size("d_model"),
                              *size("num_heads"), *size("d_ff"), *size("num_layers"), *prob("dropout"),
                              ("num_heads", 3, NAMED), ("activation", "swish", NAMED), ("eps", 0.0, NAMED)])],
    "bert.BERT": [
        Case(bert.BERT, dict(config=bert.BERTConfig(**BERT_CONFIG)), [("config", GPT_CONFIG, NAMED),
                                                                       ("config", gpt.GPTConfig(**GPT_CONFIG), NAMED)]),
        Case(_module_call(lambda: BERT_MODEL), dict(ids=ids, padding_mask=ids > 0, token_type_ids=ids % 2),
             [("ids", ids.tolist(), NAMED), ("ids", ids.float(), NAMED), ("ids", ids + 12, NAMED),
              ("ids", torch.ones(1, 9, dtype=torch.long), NAMED), ("padding_mask", (ids > 0).long(), NAMED),
              ("padding_mask", torch.ones(2, 4, dtype=torch.bool), NAMED), ("token_type_ids", ids, NAMED),
              ("token_type_ids", ids[:, :2] % 2, NAMED), ("token_type_ids", (ids % 2).float(), NAMED)]),
        Case(_module_call(lambda: BERT_MODEL, "encode"), dict(ids=ids, padding_mask=ids > 0),
             [("ids", ids + 12, NAMED), ("padding_mask", ids[0] > 0, NAMED)]),
        Case(bert.BERT.from_huggingface, dict(model=_hf_bert()),
             [("model", torch.nn.Linear(2, 2), NAMED), ("model", _hf_gpt2(), NAMED), ("model", "bert", NAMED)]),
    ],
    "bert.mask_tokens": [Case(bert.mask_tokens, dict(ids=ids, vocab_size=12, mask_id=3, special_ids=[0],
                                                     mask_prob=0.15, generator=torch.Generator().manual_seed(0)),
                              [("ids", ids.tolist(), NAMED), ("ids", ids.float(), NAMED), ("ids", ids + 12, NAMED),
                               ("ids", ids[0], NAMED), *size("vocab_size"), ("mask_id", 12, NAMED),
                               ("mask_id", -1, NAMED), ("special_ids", 0, NAMED), ("special_ids", [0.5], NAMED),
                               *prob("mask_prob"), ("generator", 0, NAMED)])],
    "referents.NOUNS": Exempt("a constant word list"),
    "referents.PRONOUNS": Exempt("a constant table"),
    "referents.REFERENT_WORDS": Exempt("a constant word list"),
    "referents.SENTENCE_LENGTH": Exempt("a constant"),
    "referents.ReferentBatch": Exempt("the dataclass referent_sentences returns"),
    "referents.is_held_out_pair": [Case(referents.is_held_out_pair, dict(singular="law", plural="cat"),
                                        [("singular", "laws", NAMED), ("plural", 3, NAMED), ("plural", "law", NAMED)])],
    "referents.referent_sentences": [Case(referents.referent_sentences, dict(count=4, split="test", seed=1),
                                          [*size("count"), ("split", "valid", NAMED), ("split", None, NAMED),
                                           ("seed", 2.5, NAMED), ("seed", True, NAMED), ("seed", None, NAMED)])],
}


# ------------------------------------------------------------------------------ the tests

def _public_names() -> set[str]:
    names = set()
    for info in pkgutil.walk_packages(course_lib.__path__, "course_lib."):
        if info.name in EXCLUDED or any(info.name.startswith(m + ".") for m in EXCLUDED if m != "course_lib.data"):
            continue
        module = importlib.import_module(info.name)
        short = info.name.rsplit(".", 1)[1]
        names.update(f"{short}.{n}" for n in getattr(module, "__all__", []))
    return names


def test_every_public_name_has_an_entry():
    """A new public name cannot be added without its bad-input cases (or a reason it has none)."""
    public = _public_names()
    assert public - set(TABLE) == set(), "public names without an entry in tests/test_bad_input.py TABLE"
    assert set(TABLE) - public == set(), "TABLE names that are not public (renamed or removed?)"


def test_the_package_reexports_only_covered_names():
    import course_lib.data as data

    assert set(data.__all__) == {n.split(".", 1)[1] for n in TABLE if n.split(".")[0] in
                                 ("spelling", "vocab", "splits", "batches", "referents")}


CALLS = [(name, i, case) for name, cases in TABLE.items() if not isinstance(cases, Exempt)
         for i, case in enumerate(cases)]
BAD = [(name, i, case, arg, value, outcome) for name, i, case in CALLS for arg, value, outcome in case.bad]


def _id(value) -> str:
    text = f"{type(value).__name__}:{value.dtype}{tuple(value.shape)}" if hasattr(value, "shape") else repr(value)
    return text[:40]


@pytest.mark.parametrize("name,i,case", CALLS, ids=[f"{n}[{i}]" for n, i, _ in CALLS])
def test_valid_call_succeeds(name, i, case):
    case.call(**case.valid)


def _equal(got, want) -> None:
    if isinstance(want, torch.Tensor):
        torch.testing.assert_close(got, want)
    elif isinstance(want, np.ndarray):
        np.testing.assert_allclose(got, want)
    elif hasattr(want, "__dataclass_fields__"):
        for f in want.__dataclass_fields__:
            _equal(getattr(got, f), getattr(want, f))
    else:
        assert got == want


@pytest.mark.parametrize("name,i,case,arg,value,outcome", BAD,
                         ids=[f"{n}[{i}]-{a}={_id(v)}" for n, i, _, a, v, _o in BAD])
def test_bad_input(name, i, case, arg, value, outcome):
    kwargs = {**case.valid, arg: value}
    if outcome == NAMED:
        with pytest.raises(ValueError) as info:
            case.call(**kwargs)
        assert arg.split("[")[0] in str(info.value), f"the message does not name {arg!r}: {info.value}"
    else:
        _equal(case.call(**kwargs), outcome.reference())


# ------------------------------------------------------------------------------ legal empty inputs

def test_softmax_over_an_empty_axis_is_empty_and_over_an_empty_batch_too():
    assert attention.softmax(torch.randn(3, 0)).shape == (3, 0)
    assert attention.softmax(torch.randn(0, 4)).shape == (0, 4)
    torch.testing.assert_close(attention.softmax(torch.randn(0, 4)), torch.softmax(torch.randn(0, 4), -1))


@pytest.mark.parametrize("L_q,L_k", [(3, 0), (0, 5), (0, 0)])
def test_attention_over_no_keys_or_no_queries_matches_torch(L_q, L_k):
    q, k, v = torch.randn(2, L_q, 4), torch.randn(2, L_k, 4), torch.randn(2, L_k, 6)
    out, weights = attention.scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, L_q, 6) and weights.shape == (2, L_q, L_k)
    torch.testing.assert_close(out, torch.zeros(2, L_q, 6))  # no key: zeros, as a fully masked row
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v).nan_to_num(0.0))
    add_out, add_w = attention.additive_attention(q, k, v, w_q=w46, w_k=w46, w_v=torch.randn(6))
    torch.testing.assert_close(add_out, torch.zeros(2, L_q, 6))
    assert add_w.shape == (2, L_q, L_k)
    nw_out, nw_w = attention.nadaraya_watson(torch.randn(L_q), torch.randn(L_k), torch.randn(L_k))
    torch.testing.assert_close(nw_out, torch.zeros(L_q))
    assert nw_w.shape == (L_q, L_k)


def test_a_fully_masked_row_and_no_keys_agree():
    """Attention over no keys is what a query whose keys are all masked gets."""
    q, k, v = torch.randn(1, 2, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 6)
    masked, _ = attention.scaled_dot_product_attention(q, k, v, torch.zeros(2, 3, dtype=torch.bool))
    empty, _ = attention.scaled_dot_product_attention(q, k[:, :0], v[:, :0])
    torch.testing.assert_close(masked, empty)


@pytest.mark.parametrize("fast", [False, True])
def test_empty_sequences_through_the_modules(fast):
    torch.manual_seed(0)
    sa = attention.SelfAttention(4, 4)
    out, w = sa(torch.randn(2, 0, 4))
    assert out.shape == (2, 0, 4) and w.shape == (2, 0, 0)
    mha = multihead.MultiHeadAttention(8, 2, fast=fast)
    x, empty = torch.randn(2, 3, 8), torch.randn(2, 0, 8)
    out, _ = mha(x, empty, empty)  # queries, no keys: w_o applied to zeros gives its bias
    torch.testing.assert_close(out, mha.w_o.bias.expand(2, 3, 8))
    assert mha(empty, x, x)[0].shape == (2, 0, 8)


def test_transformer_and_greedy_decode_on_an_empty_source():
    src = torch.zeros(2, 0, dtype=torch.long)
    memory = MODEL.encode(src)
    assert memory.shape == (2, 0, 8)
    assert MODEL.decode(torch.zeros(2, 0, dtype=torch.long), MEMORY).shape == (2, 0, 12)
    logits = MODEL.decode(ids, memory)
    assert logits.shape == (2, 3, 12) and bool(logits.isfinite().all())
    out = decoding.greedy_decode(MODEL, src, 3, bos_id=1, eos_id=2)
    assert out.shape[0] == 2 and 1 <= out.shape[1] <= 3


# ------------------------------------------------------------------------------ dtypes and autocast

def test_dtype_messages_name_the_argument_and_both_dtypes():
    with pytest.raises(ValueError, match=r"^q has dtype torch.int64; expected a floating-point tensor$"):
        attention.scaled_dot_product_attention(q.long(), k, v)
    with pytest.raises(ValueError, match=r"^k has dtype torch.float64 but q has torch.float32; expected one dtype$"):
        attention.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(ValueError, match=r"^x has dtype torch.float16; expected torch.float32, the dtype of the module"):
        ffn.PositionwiseFFN(4, 8)(x4.half())


def test_autocast_allows_a_dtype_difference():
    mha, ln, ff = multihead.MultiHeadAttention(8, 2), norm.LayerNorm(8), ffn.PositionwiseFFN(8, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = mha(x8.bfloat16(), x8, x8)
        out = ff(ln(out))
        a, _ = attention.scaled_dot_product_attention(q.bfloat16(), k, v)
    assert out.shape == (2, 3, 8) and a.shape == (2, 3, 6)


def test_integer_like_sizes_are_accepted_everywhere():
    for n in (np.int64(4), np.int32(4), torch.tensor(4)):
        assert multihead.MultiHeadAttention(8, n // 2 if isinstance(n, torch.Tensor) else n // 2).num_heads == 2
        assert attention.SelfAttention(n, n).d_model == 4
        assert ffn.PositionwiseFFN(n, 8).d_model == 4
        assert norm.LayerNorm(n).d_model == 4
        assert positional.PositionalEncoding(n, n).max_len == 4
        assert embedding.Embeddings(n, n).vocab_size == 4
        assert transformer.TransformerConfig(**{**CONFIG, "d_model": n * 2}).d_model == 8
        assert complexity.attention_layer_params(n) == complexity.attention_layer_params(4)
        assert decoding.greedy_decode(MODEL, ids, n, bos_id=np.int64(1), eos_id=torch.tensor(2)).shape[1] <= 4
        assert multihead.split_heads(x8, n // 2).shape == (2, 2, 3, 4)
