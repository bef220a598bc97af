"""The ablation switches of TransformerConfig: each changes exactly its part (issue 14, item 1)."""

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from course_lib.attention import scaled_dot_product_attention
from course_lib.multihead import MultiHeadAttention
from course_lib.norm import Residual
from course_lib.positional import LearnedPositionalEmbedding
from course_lib.train.config import TrainConfig, apply_overrides, config_dict
from course_lib.transformer import Transformer, TransformerConfig

REFERENCE = Path(__file__).parent / "data" / "transformer_reference.pt"


def _config(**changes) -> TransformerConfig:
    # The settings tests/data/transformer_reference.pt was written with (by main's code,
    # before the switches existed).
    base = dict(vocab_size=23, d_model=16, num_heads=4, d_ff=32, num_layers=2, dropout=0.0, max_len=32)
    return TransformerConfig(**{**base, **changes})


def _model(**changes) -> Transformer:
    torch.manual_seed(0)
    return Transformer(_config(**changes)).eval()


def _inputs():
    g = torch.Generator().manual_seed(1)
    src, tgt = torch.randint(1, 23, (3, 7), generator=g), torch.randint(1, 23, (3, 5), generator=g)
    src_mask = torch.ones(3, 1, 7, dtype=torch.bool)
    src_mask[1, :, 5:] = False
    return src, tgt, src_mask, torch.tril(torch.ones(5, 5, dtype=torch.bool))


@pytest.mark.parametrize("norm_first", [False, True])
def test_default_is_bit_identical_to_the_model_before_the_switches(norm_first):
    ref = torch.load(REFERENCE, weights_only=True)[f"norm_first={norm_first}"]
    model = _model(norm_first=norm_first)
    state = model.state_dict()
    assert list(state) == list(ref["state_dict"])
    assert all(torch.equal(state[k], ref["state_dict"][k]) for k in state)
    with torch.no_grad():
        logits = model(ref["src"], ref["tgt_in"], ref["src_mask"], ref["tgt_mask"])
    assert torch.equal(logits, ref["logits"])


def _logits(model):
    with torch.no_grad():
        return model(*_inputs())


def _switched(**changes):
    """(default model, switched model with the default's weights where the names agree)."""
    default, switched = _model(), _model(**changes)
    missing, unexpected = switched.load_state_dict(default.state_dict(), strict=False)
    return default, switched, set(missing), set(unexpected)


@pytest.mark.parametrize("changes", [dict(scale_scores=False), dict(residual=False),
                                     dict(activation="gelu")])
def test_switches_without_parameters_change_outputs_not_weights(changes):
    default, switched, missing, unexpected = _switched(**changes)
    assert not missing and not unexpected
    torch.manual_seed(0)  # same draws: the switch adds no parameter
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(),
                                                 _model(**changes).state_dict().values()))
    assert not torch.allclose(_logits(default), _logits(switched))


@pytest.mark.parametrize("norm_first", [False, True])
def test_no_layer_norm_drops_exactly_the_norms(norm_first):
    default, switched = _model(norm_first=norm_first), _model(layer_norm=False, norm_first=norm_first)
    dropped = set(default.state_dict()) - set(switched.state_dict())
    assert dropped and all(".norm." in k or k.split(".")[1] == "norm" for k in dropped)
    assert not any("norm" in k for k in switched.state_dict())
    assert set(switched.state_dict()) < set(default.state_dict())
    switched.load_state_dict(default.state_dict(), strict=False)
    assert not torch.allclose(_logits(default), _logits(switched))


def test_learned_positions_add_one_table_and_none_adds_nothing():
    default = _model()
    learned, none = _model(positional="learned"), _model(positional="none")
    assert set(learned.state_dict()) - set(default.state_dict()) == {"positional.weight"}
    assert set(default.state_dict()) - set(learned.state_dict()) == set()
    assert isinstance(learned.positional, LearnedPositionalEmbedding)
    assert set(none.state_dict()) == set(default.state_dict())
    none.load_state_dict(default.state_dict())
    assert not torch.allclose(_logits(default), _logits(none))


def test_no_positional_encoding_makes_the_encoder_permutation_equivariant():
    src = _inputs()[0]
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    none, default = _model(positional="none"), _model()
    with torch.no_grad():
        assert torch.allclose(none.encode(src[:, perm]), none.encode(src)[:, perm], atol=1e-6)
        assert not torch.allclose(default.encode(src[:, perm]), default.encode(src)[:, perm], atol=1e-3)


def test_unscaled_scores_are_the_scaled_ones_times_sqrt_d_k():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 9), torch.randn(2, 6, 9), torch.randn(2, 6, 3)
    out, w = scaled_dot_product_attention(q, k, v, scale_scores=False)
    ref_out, ref_w = scaled_dot_product_attention(q * math.sqrt(9), k, v)
    assert torch.allclose(w, ref_w, atol=1e-6) and torch.allclose(out, ref_out, atol=1e-6)
    assert torch.allclose(w, torch.softmax(q @ k.transpose(-1, -2), -1), atol=1e-6)
    assert not torch.allclose(w, scaled_dot_product_attention(q, k, v)[1])


@pytest.mark.parametrize("scale_scores", [True, False])
def test_multihead_fast_and_explicit_paths_agree_on_the_scale(scale_scores):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, scale_scores=scale_scores).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.tril(torch.ones(5, 5, dtype=torch.bool))
    slow, _ = mha(x, x, x, mask)
    mha.fast = True
    fast, _ = mha(x, x, x, mask)
    assert torch.allclose(slow, fast, atol=1e-5)
    torch.manual_seed(0)
    other = MultiHeadAttention(16, 4, scale_scores=not scale_scores).eval()
    assert not torch.allclose(slow, other(x, x, x, mask)[0], atol=1e-4)


@pytest.mark.parametrize("norm_first", [False, True])
def test_residual_switches_compute_what_they_say(norm_first):
    torch.manual_seed(0)
    f = torch.nn.Linear(8, 8)
    x = torch.randn(2, 3, 8)
    full = Residual(8, f, norm_first)
    no_res = Residual(8, f, norm_first, residual=False)
    no_norm = Residual(8, f, norm_first, layer_norm=False)
    ln = full.norm
    if norm_first:
        assert torch.allclose(no_res(x), f(ln(x)))
    else:
        assert torch.allclose(no_res(x), ln(f(x)), atol=1e-6)
    assert torch.allclose(no_norm(x), x + f(x))
    assert isinstance(no_norm.norm, torch.nn.Identity) and not any("norm" in k for k in no_norm.state_dict())
    assert "residual=False" in repr(no_res) and "layer_norm=False" in repr(no_norm)


@pytest.mark.parametrize("name, value", [("positional", "rope"), ("positional", None), ("scale_scores", 1),
                                         ("layer_norm", "no"), ("residual", None)])
def test_bad_switches_name_the_field(name, value):
    with pytest.raises(ValueError, match=rf"^{name}="):
        _config(**{name: value})


def test_switches_are_reachable_from_set_and_saved_in_the_config_dict():
    config = apply_overrides(TrainConfig(), ["positional=none", "scale_scores=false", "layer_norm=off",
                                             "model.residual=false", "activation=gelu"])
    m = config.model
    assert (m.positional, m.scale_scores, m.layer_norm, m.residual, m.activation) == (
        "none", False, False, False, "gelu")
    assert TrainConfig().model.positional == "sinusoidal"
    saved = config_dict(config)["model"]
    assert {k: saved[k] for k in ("positional", "scale_scores", "layer_norm", "residual")} == {
        "positional": "none", "scale_scores": False, "layer_norm": False, "residual": False}
    assert TransformerConfig(**saved) == dataclasses.replace(m)
    with pytest.raises(ValueError, match="positional"):
        apply_overrides(TrainConfig(), ["positional=rotary"])
    with pytest.raises(ValueError, match="--set residual"):
        apply_overrides(TrainConfig(), ["residual=maybe"])
