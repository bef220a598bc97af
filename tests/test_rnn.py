"""course_lib.rnn: the GRU encoder-decoders, with and without additive attention (issue 14, item 2)."""

import pytest
import torch

from course_lib.attention import additive_attention
from course_lib.decoding import greedy_decode
from course_lib.embedding import parameter_count
from course_lib.rnn import RNNConfig, RNNSeq2Seq, width_for_parameter_count
from course_lib.train.config import TrainConfig
from course_lib.transformer import Transformer

V = 20


def _model(attention: bool, **changes) -> RNNSeq2Seq:
    torch.manual_seed(0)
    return RNNSeq2Seq(RNNConfig(vocab_size=V, d_model=16, attention=attention, **changes)).eval()


def _batch():
    g = torch.Generator().manual_seed(1)
    src, tgt = torch.randint(4, V, (3, 7), generator=g), torch.randint(4, V, (3, 5), generator=g)
    mask = torch.ones(3, 1, 7, dtype=torch.bool)
    mask[1, :, 4:] = False  # row 1 has 4 real tokens, then padding
    return src, tgt, mask


@pytest.mark.parametrize("attention", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_shapes(attention, num_layers):
    src, tgt, mask = _batch()
    model = _model(attention, num_layers=num_layers)
    assert model(src, tgt, mask).shape == (3, 5, V)
    assert model.encode(src, mask).shape == (3, 7, 16)
    if attention:
        assert model.cross_attn_weights.shape == (3, 5, 7)
        assert torch.all(model.cross_attn_weights[1, :, 4:] == 0)  # never on padding
        torch.testing.assert_close(model.cross_attn_weights.sum(-1), torch.ones(3, 5))
    else:
        assert not hasattr(model, "w_q")


@pytest.mark.parametrize("attention", [False, True])
def test_source_padding_cannot_change_the_output(attention):
    src, tgt, mask = _batch()
    model = _model(attention)
    with torch.no_grad():
        out = model(src, tgt, mask)
        other = src.clone()
        other[1, 4:] = torch.tensor([5, 9, 13])  # different tokens under the padding
        torch.testing.assert_close(model(other, tgt, mask), out, rtol=0, atol=0)
        # The mask is what hides them: without it the same change shows.
        assert not torch.allclose(model(other, tgt), model(src, tgt))
        # Row 1 alone, unpadded, gives the same logits as in the padded batch.
        alone = model(src[1:2, :4], tgt[1:2], torch.ones(1, 1, 4, dtype=torch.bool))
        torch.testing.assert_close(alone[0], out[1], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("attention", [False, True])
def test_the_decoder_is_causal(attention):
    src, tgt, mask = _batch()
    model = _model(attention)
    with torch.no_grad():
        out = model(src, tgt, mask)
        later = tgt.clone()
        later[:, 3:] = 4
        changed = model(src, later, mask)
    torch.testing.assert_close(changed[:, :3], out[:, :3], rtol=0, atol=0)
    assert not torch.allclose(changed[:, 3:], out[:, 3:])


def test_attention_is_additive_attention_over_the_encoder_states():
    """Step 0's weights are additive_attention with the summary (last real state) as query."""
    src, tgt, mask = _batch()
    model = _model(True)
    with torch.no_grad():
        model(src, tgt, mask)
        memory = model.encode(src, mask)
        query = torch.stack([memory[0, -1], memory[1, 3], memory[2, -1]]).unsqueeze(1)
        _, w = additive_attention(query, memory, memory, w_q=model.w_q, w_k=model.w_k, w_v=model.w_v,
                                  mask=mask)
    torch.testing.assert_close(model.cross_attn_weights[:, :1], w)


@pytest.mark.parametrize("attention", [False, True])
def test_overfits_one_batch(attention):
    torch.manual_seed(0)
    model = RNNSeq2Seq(RNNConfig(vocab_size=V, d_model=32, attention=attention))
    src, tgt, mask = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        logits = model(src, tgt[:, :-1], mask)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), tgt[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    model.eval()
    assert torch.equal(model(src, tgt[:, :-1], mask).argmax(-1), tgt[:, 1:])


@pytest.mark.parametrize("attention", [False, True])
def test_greedy_decode_runs_the_rnn_like_the_transformer(attention):
    src, _, mask = _batch()
    model = _model(attention)
    out = greedy_decode(model, src, max_len=6, bos_id=1, eos_id=2, src_mask=mask)
    assert out.shape[0] == 3 and out.shape[1] <= 6
    # The same tokens as feeding the prefix by hand, one step at a time (without <bos>).
    ys = torch.full((3, 1), 1)
    with torch.no_grad():
        memory = model.encode(src, mask)
        for _ in range(out.shape[1]):
            ys = torch.cat([ys, model.decode(ys, memory, None, mask)[:, -1:].argmax(-1)], dim=1)
    ys = ys[:, 1:]
    done = (ys == 2).cumsum(1).cumsum(1) > 1  # positions after the first <eos>
    assert torch.equal(out, ys.masked_fill(done, model.config.pad_id))


def test_width_matches_the_tiny_transformer():
    tiny = TrainConfig().model
    target = parameter_count(Transformer(tiny))
    for attention in (False, True):
        config = RNNConfig(vocab_size=tiny.vocab_size, attention=attention)
        width = width_for_parameter_count(target, config)
        counts = {w: parameter_count(RNNSeq2Seq(RNNConfig(vocab_size=tiny.vocab_size, d_model=w,
                                                          attention=attention)))
                  for w in (width - 1, width, width + 1)}
        assert abs(counts[width] - target) <= min(abs(counts[w] - target) for w in counts)
        assert abs(counts[width] - target) < 0.02 * target


@pytest.mark.parametrize("field, value, match", [
    ("vocab_size", 0, r"^vocab_size=0; expected a positive int"),
    ("d_model", -3, r"^d_model=-3; expected a positive int"),
    ("num_layers", 0, r"^num_layers=0"),
    ("attention", "yes", r"^attention='yes'; expected True or False"),
    ("dropout", 1.5, r"^dropout=1\.5; expected a probability"),
    ("tie_embeddings", 1, r"^tie_embeddings=1"),
    ("pad_id", 20, r"^pad_id=20; expected an int in \[0, vocab_size=20\)"),
])
def test_bad_config_names_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        RNNConfig(**{"vocab_size": V, field: value})


def test_bad_inputs_name_the_argument():
    src, tgt, mask = _batch()
    model = _model(True)
    with pytest.raises(ValueError, match=r"^config="):
        RNNSeq2Seq(None)
    with pytest.raises(ValueError, match="src"):
        model(src.float(), tgt, mask)
    with pytest.raises(ValueError, match="tgt_in"):
        model(src, tgt[0], mask)
    with pytest.raises(ValueError, match="src_mask"):
        model(src, tgt, mask[:, 0])
    with pytest.raises(ValueError, match="src_mask"):
        model(src, tgt, mask.int())
    with pytest.raises(ValueError, match="tgt_mask"):
        model(src, tgt, mask, "causal")
    with pytest.raises(ValueError, match="memory"):
        model.decode(tgt, torch.zeros(3, 7, 15))
    with pytest.raises(ValueError, match="target"):
        width_for_parameter_count(0, RNNConfig())
    with pytest.raises(ValueError, match="config"):
        width_for_parameter_count(1000, TrainConfig().model)


# --------------------------------------------------------------------------- course-train


@pytest.mark.parametrize("kind, attention", [("rnn", False), ("rnn_attention", True)])
def test_set_model_picks_an_rnn_of_the_transformers_size(kind, attention):
    from course_lib.train.config import apply_overrides, build_model

    base = TrainConfig()
    config = apply_overrides(base, [f"model={kind}", "dropout=0.1"])
    assert isinstance(config.model, RNNConfig) and config.model.attention is attention
    assert config.model.dropout == 0.1
    target = parameter_count(Transformer(base.model))
    assert abs(parameter_count(build_model(config.model)) - target) < 0.02 * target
    assert isinstance(build_model(apply_overrides(config, ["model=transformer"]).model), Transformer)
    with pytest.raises(ValueError, match="--set model"):
        apply_overrides(base, ["model=lstm"])
    with pytest.raises(ValueError, match="num_heads"):  # a Transformer field, not the RNN's
        apply_overrides(base, [f"model={kind}", "num_heads=2"])


@pytest.mark.parametrize("attention", [False, True])
def test_train_runs_an_rnn_and_resumes_it(attention, tiny_train_config, tmp_path):
    from course_lib.train import train
    from course_lib.train.checkpoint import CheckpointError
    from course_lib.train.recipe import model_flops

    model = RNNConfig(vocab_size=52, d_model=24, attention=attention)
    result = train(tiny_train_config(tmp_path, model=model))
    assert isinstance(result.model, RNNSeq2Seq) and len(result.losses) == 12
    assert result.losses[-1] < result.losses[0]
    assert model_flops(model, src_len=10, tgt_len=8) > 0
    more = train(tiny_train_config(tmp_path, model=model, steps=14), resume=True)
    assert len(more.losses) == 14 and more.losses[:12] == result.losses
    with pytest.raises(CheckpointError, match="different configuration"):
        train(tiny_train_config(tmp_path, model=RNNConfig(vocab_size=52, d_model=24, attention=not attention),
                                steps=16), resume=True)


def test_the_attention_weights_start_normal_with_variance_one_over_d_and_meta_skips_them():
    import subprocess
    import sys

    torch.manual_seed(0)
    model = RNNSeq2Seq(RNNConfig(vocab_size=20, d_model=256, attention=True))
    for weight in (model.w_q, model.w_k, model.w_v):
        assert abs(weight.detach().std().item() * 256 ** 0.5 - 1) < 0.05 and abs(weight.mean().item()) < 0.01
    # On meta (counting) nothing is drawn: no torch._dynamo import behind a decomposed randn.
    code = ("import sys, torch\n"
            "from course_lib.rnn import RNNConfig, RNNSeq2Seq, width_for_parameter_count\n"
            "with torch.device('meta'):\n"
            "    RNNSeq2Seq(RNNConfig(vocab_size=20, d_model=8, attention=True))\n"
            "assert width_for_parameter_count(237_056, RNNConfig(vocab_size=52, d_model=8)) > 0\n"
            "assert 'torch._dynamo' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
