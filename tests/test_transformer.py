"""Tests of course_lib.transformer and course_lib.decoding.

References: torch.nn.TransformerEncoderLayer / DecoderLayer / TransformerEncoder /
TransformerDecoder (outputs and gradients), parameter counts computed from the formulas,
and behavioural checks that fail on the usual wiring mistakes (no causal mask, cross-attention
without the source mask, pre-LN without its final norm).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from course_lib.data import JOINT_VOCAB, Vocab, make_batch
from course_lib.decoding import greedy_decode
from course_lib.embedding import parameter_count
from course_lib.masks import causal_mask, combine_masks, padding_mask, to_torch_mask
from course_lib.norm import LayerNorm
from course_lib.transformer import (
    Decoder,
    DecoderLayer,
    Encoder,
    EncoderLayer,
    Transformer,
    TransformerConfig,
    parameter_breakdown,
)

D, H, FF = 16, 4, 32
B, S, T = 3, 6, 5
SRC_LENGTHS, TGT_LENGTHS = [6, 4, 2], [5, 3, 4]
DT = torch.float64


def _tiny(**kwargs) -> TransformerConfig:
    base = dict(vocab_size=23, d_model=D, num_heads=H, d_ff=FF, num_layers=2, dropout=0.0, max_len=32)
    return TransformerConfig(**{**base, **kwargs})


def _randomise_(module: nn.Module, seed: int) -> nn.Module:
    """Random values everywhere: torch's zero biases and unit LayerNorm scales hide wrong copies."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * (0.3 if p.dim() > 1 else 0.5))
    return module


def _torch_layer(kind: str, norm_first: bool, seed: int = 0, activation: str = "relu") -> nn.Module:
    torch.manual_seed(seed)
    cls = nn.TransformerEncoderLayer if kind == "encoder" else nn.TransformerDecoderLayer
    layer = cls(D, H, FF, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first)
    return _randomise_(layer.to(DT), seed)


def _data(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, S, D, generator=g, dtype=DT, requires_grad=True)
    y = torch.randn(B, T, D, generator=g, dtype=DT, requires_grad=True)
    target = torch.randn(B, T, D, generator=g, dtype=DT)
    return x, y, target


# Torch parameter name -> ours; in_proj is cut into three.
_ENCODER_NAMES = {"self_attn.": "self_attn.sublayer.", "linear1.": "ffn.sublayer.linear1.",
                  "linear2.": "ffn.sublayer.linear2.", "norm1.": "self_attn.norm.", "norm2.": "ffn.norm."}
_DECODER_NAMES = {"self_attn.": "self_attn.sublayer.", "multihead_attn.": "cross_attn.sublayer.",
                  "linear1.": "ffn.sublayer.linear1.", "linear2.": "ffn.sublayer.linear2.",
                  "norm1.": "self_attn.norm.", "norm2.": "cross_attn.norm.", "norm3.": "ffn.norm."}


def _our_grad(ours: nn.Module, torch_name: str, names: dict[str, str]) -> torch.Tensor:
    prefix = next(p for p in names if torch_name.startswith(p))
    rest = torch_name[len(prefix):].replace("out_proj.", "w_o.")
    grads = dict((n, p.grad) for n, p in ours.named_parameters())
    if rest.startswith("in_proj_"):
        part = rest[len("in_proj_"):]  # weight or bias
        return torch.cat([grads[f"{names[prefix]}{w}.{part}"] for w in ("w_q", "w_k", "w_v")])
    return grads[names[prefix] + rest]


def _assert_same_grads(ref: nn.Module, ours: nn.Module, names: dict[str, str]) -> None:
    ref_params = dict(ref.named_parameters())
    assert len(ref_params) > 0
    for name, p in ref_params.items():
        assert_close(_our_grad(ours, name, names), p.grad, msg=lambda m: f"{name}: {m}")
    # Every parameter of ours took part (none left without a gradient).
    assert all(p.grad is not None for p in ours.parameters())


# -- layers against torch ------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [False, True], ids=["explicit", "fast"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_encoder_layer_matches_torch_outputs_and_gradients(norm_first, fast):
    ref = _torch_layer("encoder", norm_first)
    ours = EncoderLayer.from_torch(ref, fast=fast)
    x, _, _ = _data()
    x2 = x.detach().clone().requires_grad_()
    pad = padding_mask(SRC_LENGTHS, S)  # (B, 1, S)
    expected = ref(x, src_key_padding_mask=to_torch_mask(pad, key_padding=True))
    got = ours(x2, pad)
    assert_close(got, expected)
    weights = torch.randn(B, S, D, dtype=DT, generator=torch.Generator().manual_seed(5))
    (expected * weights).sum().backward()
    (got * weights).sum().backward()
    assert_close(x2.grad, x.grad)
    _assert_same_grads(ref, ours, _ENCODER_NAMES)


@pytest.mark.parametrize("fast", [False, True], ids=["explicit", "fast"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_decoder_layer_matches_torch_outputs_and_gradients(norm_first, fast):
    ref = _torch_layer("decoder", norm_first, seed=2)
    ours = DecoderLayer.from_torch(ref, fast=fast)
    memory, y, target = _data()
    memory2, y2 = (t.detach().clone().requires_grad_() for t in (memory, y))
    src_pad, tgt_pad = padding_mask(SRC_LENGTHS, S), padding_mask(TGT_LENGTHS, T)
    expected = ref(y, memory, tgt_mask=to_torch_mask(causal_mask(T)),
                   tgt_key_padding_mask=to_torch_mask(tgt_pad, key_padding=True),
                   memory_key_padding_mask=to_torch_mask(src_pad, key_padding=True))
    got = ours(y2, memory2, combine_masks(causal_mask(T), tgt_pad), src_pad)  # (B, T, T) and (B, 1, S)
    assert_close(got, expected)
    ((expected - target) ** 2).sum().backward()
    ((got - target) ** 2).sum().backward()
    assert_close(y2.grad, y.grad)
    assert_close(memory2.grad, memory.grad)  # the memory's gradient flows through cross-attention only
    _assert_same_grads(ref, ours, _DECODER_NAMES)


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_from_torch_keeps_gelu_eps_dropout_mode_and_dtype(kind):
    torch.manual_seed(0)
    cls = nn.TransformerEncoderLayer if kind == "encoder" else nn.TransformerDecoderLayer
    ref = cls(D, H, FF, dropout=0.25, activation="gelu", layer_norm_eps=1e-3, batch_first=True).eval()
    ours = (EncoderLayer if kind == "encoder" else DecoderLayer).from_torch(ref)
    assert not ours.training and ours.ffn.sublayer.activation == "gelu"
    assert ours.ffn.norm.eps == 1e-3 and ours.self_attn.dropout.p == 0.25
    assert ours.self_attn.sublayer.dropout == 0.25 and ours.ffn.sublayer.dropout.p == 0.25
    x = torch.randn(2, 4, D)
    with torch.no_grad():
        if kind == "encoder":
            assert_close(ours(x), ref(x))
        else:
            assert_close(ours(x, x), ref(x, x))


def test_from_torch_rejects_what_it_cannot_copy():
    with pytest.raises(ValueError, match="batch_first"):
        EncoderLayer.from_torch(nn.TransformerEncoderLayer(D, H, FF))
    with pytest.raises(ValueError, match="TransformerDecoderLayer"):
        DecoderLayer.from_torch(nn.TransformerEncoderLayer(D, H, FF, batch_first=True))
    with pytest.raises(ValueError, match="bias"):
        EncoderLayer.from_torch(nn.TransformerEncoderLayer(D, H, FF, batch_first=True, bias=False))


# -- stacks against torch ------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_stacks_match_torch_encoder_and_decoder(norm_first):
    """Pre-LN stacks end with a LayerNorm (nn.Transformer*(norm=...)); post-LN ones do not."""
    config = _tiny(norm_first=norm_first, num_layers=3)
    torch.manual_seed(0)
    final = (lambda: nn.LayerNorm(D)) if norm_first else (lambda: None)
    enc_layer = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
    dec_layer = nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
    ref_enc = _randomise_(nn.TransformerEncoder(enc_layer, 3, norm=final(), enable_nested_tensor=False).to(DT), 3)
    ref_dec = _randomise_(nn.TransformerDecoder(dec_layer, 3, norm=final()).to(DT), 4)
    enc, dec = Encoder(config).to(DT), Decoder(config).to(DT)
    assert (enc.norm is None) == (dec.norm is None) == (not norm_first)
    for ours, ref, cls in ((enc, ref_enc, EncoderLayer), (dec, ref_dec, DecoderLayer)):
        for mine, theirs in zip(ours.layers, ref.layers, strict=True):
            mine.load_state_dict(cls.from_torch(theirs).state_dict())
        if norm_first:
            ours.norm.load_state_dict(ref.norm.state_dict())
    x, y, _ = _data()
    src_pad = padding_mask(SRC_LENGTHS, S)
    src_kpm = to_torch_mask(src_pad, key_padding=True)
    memory = enc(x, src_pad)
    assert_close(memory, ref_enc(x, src_key_padding_mask=src_kpm))
    assert_close(dec(y, memory, causal_mask(T), src_pad),
                 ref_dec(y, memory, tgt_mask=to_torch_mask(causal_mask(T)), memory_key_padding_mask=src_kpm))


# -- the whole model -----------------------------------------------------------------------------


def _model(seed: int = 0, **kwargs) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(_tiny(**kwargs)).eval()


def _ids(seed: int, shape, low: int = 4, high: int = 23) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_composes_embeddings_encoder_decoder_and_projection(norm_first):
    model = _model(norm_first=norm_first)
    src, tgt = _ids(0, (B, S)), _ids(1, (B, T))
    src_mask = padding_mask(SRC_LENGTHS, S)
    tgt_mask = combine_masks(causal_mask(T), padding_mask(TGT_LENGTHS, T))
    logits = model(src, tgt, src_mask, tgt_mask)
    assert logits.shape == (B, T, 23)
    # By hand, from the parts: the embeddings are scaled by sqrt(d_model), the memory mask is
    # the source mask, and the projection is the embedding matrix transposed.
    pe = model.positional.pe
    memory = model.encoder(model.src_embed.weight[src] * math.sqrt(D) + pe[:S], src_mask)
    h = model.decoder(model.tgt_embed.weight[tgt] * math.sqrt(D) + pe[:T], memory, tgt_mask, src_mask)
    assert_close(logits, h @ model.src_embed.weight.T)
    assert_close(model.encode(src, src_mask), memory)
    assert_close(model.decode(tgt, memory, tgt_mask, src_mask), logits)


def test_changing_a_future_target_token_leaves_earlier_logits_unchanged():
    model = _model()
    src, tgt = _ids(0, (B, S)), _ids(1, (B, T))
    changed = tgt.clone()
    changed[:, 3] = (changed[:, 3] + 5) % 19 + 4
    for mask in (causal_mask(T), combine_masks(causal_mask(T), padding_mask([5, 5, 5], T))):
        a, b = model(src, tgt, tgt_mask=mask), model(src, changed, tgt_mask=mask)
        assert_close(a[:, :3], b[:, :3])
        assert not torch.allclose(a[:, 3:], b[:, 3:])  # the token itself and later ones do see it
    # The test can fail: without the causal mask, position 0 sees position 3.
    assert not torch.allclose(model(src, tgt)[:, :3], model(src, changed)[:, :3])


def test_padded_source_tokens_change_nothing():
    model = _model()
    src, tgt = _ids(0, (B, S)), _ids(1, (B, T))
    src_mask = padding_mask(SRC_LENGTHS, S)
    other = src.clone()
    for b, n in enumerate(SRC_LENGTHS):
        other[b, n:] = _ids(b + 7, (S - n,))  # different tokens where the padding is
    tgt_mask = causal_mask(T)
    memory, memory_other = model.encode(src, src_mask), model.encode(other, src_mask)
    for b, n in enumerate(SRC_LENGTHS):
        assert_close(memory[b, :n], memory_other[b, :n])
    assert_close(model(src, tgt, src_mask, tgt_mask), model(other, tgt, src_mask, tgt_mask))
    # Cross-attention must use the source mask too: without it the decoder reads the padding.
    leaky = model.decode(tgt, memory_other, tgt_mask, None)
    assert not torch.allclose(leaky, model.decode(tgt, memory, tgt_mask, None))


def test_fast_path_matches_explicit_path_and_keeps_no_weights():
    explicit, fast = _model(), _model(fast=True)
    fast.load_state_dict(explicit.state_dict())
    src, tgt = _ids(0, (B, S)), _ids(1, (B, T))
    src_mask = padding_mask(SRC_LENGTHS, S)
    tgt_mask = combine_masks(causal_mask(T), padding_mask(TGT_LENGTHS, T))
    assert_close(fast(src, tgt, src_mask, tgt_mask), explicit(src, tgt, src_mask, tgt_mask),
                 atol=1e-5, rtol=1e-5)
    assert all(layer.self_attn_weights is None for layer in fast.encoder.layers)
    assert all(layer.cross_attn_weights is None for layer in fast.decoder.layers)


def test_layers_keep_their_latest_attention_weights():
    model = _model()
    src, tgt = _ids(0, (B, S)), _ids(1, (B, T))
    assert model.encoder.layers[0].self_attn_weights is None  # before any forward
    model(src, tgt, padding_mask(SRC_LENGTHS, S), causal_mask(T))
    enc_w = model.encoder.layers[-1].self_attn_weights
    dec_layer = model.decoder.layers[0]
    self_w, cross_w = dec_layer.self_attn_weights, dec_layer.cross_attn_weights
    assert enc_w.shape == (B, H, S, S) and self_w.shape == (B, H, T, T) and cross_w.shape == (B, H, T, S)
    assert not enc_w.requires_grad
    for w in (enc_w, self_w, cross_w):
        assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    for b, n in enumerate(SRC_LENGTHS):
        assert (enc_w[b, ..., n:] == 0).all() and (cross_w[b, ..., n:] == 0).all()
    assert (self_w.triu(1) == 0).all()  # the future gets no weight
    assert cross_w[0, 0].std() > 0  # cross weights vary: they read the memory, not a constant


def test_tied_embeddings_share_one_matrix_and_untied_have_three():
    tied, untied = _model(), _model(tie_embeddings=False)
    assert tied.src_embed is tied.tgt_embed and tied.output_projection.weight is tied.tgt_embed.weight
    assert len({id(untied.src_embed.weight), id(untied.tgt_embed.weight), id(untied.output_projection.weight)}) == 3
    assert parameter_count(untied) - parameter_count(tied) == 2 * 23 * D
    # A gradient step through the output projection moves the input embedding too.
    logits = tied(_ids(0, (B, S)), _ids(1, (B, T)), tgt_mask=causal_mask(T))
    logits.sum().backward()
    assert tied.src_embed.weight.grad is not None


def test_weight_matrices_are_xavier_uniform_and_embeddings_normal():
    torch.manual_seed(0)
    model = Transformer(_tiny(d_model=64, num_heads=4, d_ff=256, vocab_size=500, num_layers=1))
    for name, p in model.named_parameters():
        if p.dim() == 2 and "embed" not in name:
            fan_out, fan_in = p.shape
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert p.abs().max() <= bound, name
            assert abs(p.std().item() - bound / math.sqrt(3)) < 0.1 * bound, name
    # nn.Linear's default (kaiming-uniform, bound 1/sqrt(fan_in)) would fail the FFN check above.
    assert abs(model.src_embed.weight.std().item() - 64**-0.5) < 0.05 * 64**-0.5


def test_dropout_is_active_in_training_only():
    model = _model(dropout=0.3)
    src, tgt = _ids(0, (B, S)), _ids(1, (B, T))
    assert torch.equal(model(src, tgt, tgt_mask=causal_mask(T)), model(src, tgt, tgt_mask=causal_mask(T)))
    model.train()
    assert not torch.equal(model(src, tgt, tgt_mask=causal_mask(T)), model(src, tgt, tgt_mask=causal_mask(T)))


# -- parameter count -----------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
def test_base_model_parameter_count_per_part(norm_first):
    config = TransformerConfig(norm_first=norm_first)
    assert (config.vocab_size, config.d_model, config.num_heads, config.d_ff, config.num_layers,
            config.dropout, config.tie_embeddings) == (37000, 512, 8, 2048, 6, 0.1, True)
    with torch.device("meta"):  # counts without allocating ~250 MB
        model = Transformer(config)
    assert model.src_embed.weight.device.type == "meta"
    d, ff, V, N = 512, 2048, 37000, 6
    attention = 4 * (d * d + d)  # W^Q, W^K, W^V, W^O with biases
    ffn = 2 * d * ff + ff + d
    layer_norm = 2 * d
    parts = parameter_breakdown(model)
    assert parts == {
        "embeddings": V * d,  # one matrix for source, target and output
        "encoder layers": N * (attention + ffn + 2 * layer_norm),
        "decoder layers": N * (2 * attention + ffn + 3 * layer_norm),
        "final norms": 2 * layer_norm if norm_first else 0,
        "total": parts["total"],
    }
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total") == parameter_count(model)
    assert parts["total"] == (63_082_496 + (2048 if norm_first else 0))  # the paper rounds to 65M
    assert len({id(p) for p in model.parameters()}) == len(list(model.parameters()))


# -- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_heads=6), r"d_model=512 is not divisible by num_heads=6"),
        (dict(d_model=10, num_heads=5, d_ff=8), None),
        (dict(d_model=9, num_heads=3), "d_model=9; expected an even d_model"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(num_layers=2.0), "num_layers"),
        (dict(d_ff=True), "d_ff"),
        (dict(max_len=-1), "max_len"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(norm_first=1), "norm_first"),
        (dict(tie_embeddings="yes"), "tie_embeddings"),
        (dict(activation="tanh"), "activation"),
        (dict(pad_id=37000), "pad_id"),
    ],
)
def test_config_validation_names_the_field(kwargs, match):
    if match is None:  # valid corner cases
        config = TransformerConfig(**kwargs)
        assert config.d_head * config.num_heads == config.d_model
        return
    with pytest.raises(ValueError, match=match):
        TransformerConfig(**kwargs)


def test_config_accepts_integer_likes_as_ints_and_refuses_bools():
    config = TransformerConfig(vocab_size=np.int64(23), d_model=torch.tensor(16), num_heads=np.int32(4),
                               d_ff=32, num_layers=2, dropout=0, pad_id=np.int64(1))
    fields = (config.vocab_size, config.d_model, config.num_heads, config.pad_id)
    assert fields == (23, 16, 4, 1) and all(type(v) is int for v in fields)
    assert config.dropout == 0.0 and type(config.dropout) is float
    with pytest.raises(ValueError, match=r"pad_id=True; expected an int in \[0, vocab_size=37000\)"):
        TransformerConfig(pad_id=True)
    with pytest.raises(ValueError, match=r"dropout='0.1'; expected a probability"):
        TransformerConfig(dropout="0.1")
    with pytest.raises(ValueError, match=r"activation='tanh'; expected one of 'relu', 'gelu'"):
        TransformerConfig(activation="tanh")


@pytest.mark.parametrize("cls", [EncoderLayer, DecoderLayer])
def test_layers_reject_bad_dropout_and_norm_first(cls):
    with pytest.raises(ValueError, match=r"dropout=True; expected a probability"):
        cls(D, H, FF, dropout=True)
    with pytest.raises(ValueError, match=r"dropout=1.0; expected a probability"):
        cls(D, H, FF, dropout=1.0)
    with pytest.raises(ValueError, match=r"norm_first=1; expected True or False"):
        cls(D, H, FF, norm_first=1)


def test_modules_reject_a_wrong_config_and_bad_ids():
    with pytest.raises(ValueError, match="TransformerConfig"):
        Encoder({"d_model": 16})
    model = _model()
    with pytest.raises(ValueError, match=r"src has shape \(6,\)"):
        model.encode(_ids(0, (S,)))
    with pytest.raises(ValueError, match=r"tgt_in is a list; expected a torch.Tensor of shape \(B, T\)"):
        model.decode([[1, 2]], torch.zeros(1, S, D))
    with pytest.raises(ValueError, match="max_len"):
        model.encode(_ids(0, (1, 40)))


# -- greedy decoding -----------------------------------------------------------------------------


class _Scripted(nn.Module):
    """A fake model whose row b writes tokens 5, 6, 7, ... and <eos> as its step script[b]."""

    def __init__(self, script: list[int]):
        super().__init__()
        self.script = script
        self.config = TransformerConfig(vocab_size=20, d_model=8, num_heads=2, d_ff=8, pad_id=0)
        self.calls = 0

    def encode(self, src, src_mask=None):
        assert not torch.is_grad_enabled() and not self.training
        return torch.zeros(src.shape[0], src.shape[1], 8)

    def decode(self, tgt_in, memory, tgt_mask=None, memory_mask=None):
        self.calls += 1
        step = tgt_in.shape[1] - 1  # tokens written so far
        logits = torch.zeros(tgt_in.shape[0], tgt_in.shape[1], 20)
        for b, eos_at in enumerate(self.script):
            logits[b, -1, 2 if step == eos_at else 5 + step] = 1.0
        return logits


def test_greedy_decode_stops_when_every_row_has_written_eos_and_pads_after():
    model = _Scripted([1, 3, 0]).train()
    out = greedy_decode(model, torch.ones(3, 4, dtype=torch.long), 10, bos_id=1, eos_id=2)
    assert out.tolist() == [[5, 2, 0, 0], [5, 6, 7, 2], [2, 0, 0, 0]]
    assert model.calls == 4  # stopped after the last row's <eos>, not at max_len
    assert model.training  # the mode is restored
    capped = greedy_decode(_Scripted([1, 8]), torch.ones(2, 4, dtype=torch.long), 3, bos_id=1, eos_id=2)
    assert capped.tolist() == [[5, 2, 0], [5, 6, 7]]  # max_len reached without <eos>


def test_greedy_decode_is_the_argmax_of_the_full_model_at_each_step():
    model = _model(seed=3, vocab_size=len(JOINT_VOCAB))
    batch = make_batch([5, 4_021, 300_500], shared_vocab=True)
    out = greedy_decode(model, batch.src, 6, bos_id=Vocab.BOS, eos_id=Vocab.EOS, src_mask=batch.src_mask)
    assert out.shape == (3, 6) or (out == Vocab.EOS).any(1).all()
    for b in range(3):
        prefix = [Vocab.BOS]
        for t in range(out.shape[1]):
            if Vocab.EOS in prefix:
                assert out[b, t] == model.config.pad_id
                continue
            ys = torch.tensor([prefix])
            logits = model(batch.src[b:b + 1, :batch.src_lengths[b]], ys, tgt_mask=causal_mask(len(prefix)))
            assert out[b, t] == logits[0, -1].argmax()
            prefix.append(int(out[b, t]))


def test_greedy_decode_batched_equals_one_by_one():
    model = _model(seed=4, vocab_size=len(JOINT_VOCAB), norm_first=True)
    batch = make_batch([7, 19, 90_000_001, 1_234], shared_vocab=True)
    # Default src_mask: derived from the padding ids.
    batched = greedy_decode(model, batch.src, 12, bos_id=Vocab.BOS, eos_id=Vocab.EOS)
    for b in range(4):
        single = greedy_decode(model, batch.src[b:b + 1, :batch.src_lengths[b]], 12,
                               bos_id=Vocab.BOS, eos_id=Vocab.EOS)
        n = single.shape[1]
        assert torch.equal(batched[b, :n], single[0])
        assert (batched[b, n:] == Vocab.PAD).all()


def test_greedy_decode_rejects_bad_arguments():
    model = _model()
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(model, _ids(0, (2, 3)), 0, bos_id=1, eos_id=2)
    with pytest.raises(ValueError, match="src has shape"):
        greedy_decode(model, _ids(0, (3,)), 4, bos_id=1, eos_id=2)


def test_layer_norm_sits_where_norm_first_says():
    """Post-LN outputs are normalised (mean 0, std 1 per position before the affine); pre-LN's are not."""
    x = torch.randn(2, 5, D) * 3 + 1
    for norm_first in (False, True):
        torch.manual_seed(0)
        layer = EncoderLayer(D, H, FF, dropout=0.0, norm_first=norm_first)
        out = layer(x)
        normalised = torch.allclose(out.mean(-1), torch.zeros(2, 5), atol=1e-5)
        assert normalised == (not norm_first)
    assert isinstance(Encoder(_tiny(norm_first=True)).norm, LayerNorm)


# -- EncoderLayer with a key/value cache (chapter 12's decoder-only GPT) ------------------------

@pytest.mark.parametrize("fast", [False, True])
def test_encoder_layer_with_a_cache_equals_the_causal_layer_on_the_whole_prefix(fast):
    from course_lib.multihead import AttentionCache

    torch.manual_seed(0)
    layer = EncoderLayer(16, 4, 32, dropout=0.0, norm_first=True, activation="gelu_tanh", fast=fast).double()
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    full = layer(x, causal_mask(7))
    cache = AttentionCache()
    first = layer(x[:, :3], causal_mask(3), cache=cache)  # the prompt at once, then one position a step
    steps = [first] + [layer(x[:, t:t + 1], cache=cache) for t in range(3, 7)]
    assert_close(torch.cat(steps, 1), full, rtol=0, atol=1e-12)
    assert cache.length == 7
    # without the cache (or without the mask) a position sees other keys: the outputs differ
    assert (layer(x[:, 3:4]) - full[:, 3:4]).abs().max() > 1e-3
    assert (layer(x) - full).abs().max() > 1e-3
