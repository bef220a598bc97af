"""course_lib.gpt against Hugging Face's GPT2LMHeadModel (random weights, built offline) and by itself."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.embedding import parameter_count
from course_lib.gpt import GPT, GPTConfig, causal_lm_loss

transformers = pytest.importorskip("transformers")

CONFIGS = [  # (n_embd, n_layer, n_head, vocab, n_positions, n_inner, activation)
    (24, 2, 3, 37, 16, None, "gelu_new"),
    (16, 1, 1, 11, 9, 40, "gelu_new"),
    (32, 3, 4, 50, 20, 48, "gelu"),
]


def _hf(n_embd, n_layer, n_head, vocab, n_positions, n_inner, act, seed=0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(n_embd=n_embd, n_layer=n_layer, n_head=n_head, vocab_size=vocab,
                                     n_positions=n_positions, n_inner=n_inner, activation_function=act,
                                     layer_norm_epsilon=1e-5 * (1 + n_layer), attn_implementation="eager")
    model = transformers.GPT2LMHeadModel(config).double().eval()
    with torch.no_grad():  # biases and LayerNorms start at 0 and 1: move them, so a wrong copy shows
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
    return model


def _padding(B, L):
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, L - 3:] = False  # right padding
    mask[2, :2] = False  # left padding
    return mask


@pytest.mark.parametrize("spec", CONFIGS, ids=lambda s: f"d{s[0]}-N{s[1]}-H{s[2]}-{s[6]}")
def test_logits_equal_hugging_face_in_float64(spec):
    hf = _hf(*spec)
    ours = GPT.from_huggingface(hf)
    assert ours.config.activation == ("gelu" if spec[6] == "gelu" else "gelu_tanh")
    L = spec[4] - 1
    ids = torch.randint(0, spec[3], (3, L))
    with torch.no_grad():
        diff = (hf(ids).logits - ours(ids)).abs().max().item()
        mask = _padding(3, L)
        want = hf(ids, attention_mask=mask.long()).logits
        got = ours(ids, mask)
    assert diff < 1e-10
    assert (want - got)[mask].abs().max().item() < 1e-10  # padding queries' logits are not compared
    assert parameter_count(ours) == sum(p.numel() for p in hf.parameters())  # tied: one matrix


def test_a_wrong_conv1d_copy_would_be_caught():
    """The layouts differ: copying c_attn without the transpose gives other logits."""
    hf = _hf(*CONFIGS[0])
    ours = GPT.from_huggingface(hf)
    with torch.no_grad():
        w = ours.layers[0].ffn.sublayer.linear1.weight
        ours.layers[0].ffn.sublayer.linear1.weight.copy_(w.flip(0))
        ids = torch.randint(0, 37, (2, 7))
        assert (hf(ids).logits - ours(ids)).abs().max() > 1e-3


def test_causal_lm_loss_equals_hugging_face_loss_with_labels():
    hf = _hf(*CONFIGS[0])
    ours = GPT.from_huggingface(hf)
    ids = torch.randint(0, 37, (3, 10))
    counted = torch.rand(3, 10) < 0.6
    counted[:, 1] = True
    labels = ids.masked_fill(~counted, -100)
    with torch.no_grad():
        want = hf(ids, labels=labels).loss
        got = causal_lm_loss(ours(ids), ids, counted)
        plain = causal_lm_loss(ours(ids), ids)
        unshifted = F.cross_entropy(ours(ids).reshape(-1, 37), ids.reshape(-1))
    # Hugging Face computes its loss in float32, whatever the model's dtype
    torch.testing.assert_close(got.float(), want, rtol=0, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(plain.float(), hf(ids, labels=ids).loss, rtol=0, atol=1e-6)
    assert (plain - unshifted).abs() > 1e-3  # the shift matters


def test_a_future_token_leaves_earlier_logits_exactly_unchanged():
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=20, max_len=12, d_model=16, num_heads=2, d_ff=32, num_layers=2,
                          dropout=0.0)).eval()
    ids = torch.randint(0, 20, (2, 10))
    changed = ids.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 20
    with torch.no_grad():
        a, b = model(ids), model(changed)
    assert torch.equal(a[:, :6], b[:, :6])
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-4


@pytest.mark.parametrize("fast", [False, True])
def test_generate_with_the_cache_equals_greedy_recomputation(fast):
    torch.manual_seed(2)
    model = GPT(GPTConfig(vocab_size=15, max_len=16, d_model=16, num_heads=4, d_ff=32, num_layers=2,
                          dropout=0.0, fast=fast)).double()
    prompt = torch.randint(0, 15, (3, 4))
    out = model.generate(prompt, 8)
    ids = prompt
    with torch.no_grad():
        for _ in range(8):  # no cache: the whole prefix every step
            ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, ids) and model.training  # the mode is restored


def test_generate_stops_at_eos_and_samples_reproducibly():
    torch.manual_seed(3)
    model = GPT(GPTConfig(vocab_size=6, max_len=40, d_model=8, num_heads=2, d_ff=16, num_layers=1, dropout=0.0))
    prompt = torch.zeros(4, 2, dtype=torch.long)
    a = model.generate(prompt, 30, sample=True, generator=torch.Generator().manual_seed(0))
    b = model.generate(prompt, 30, sample=True, generator=torch.Generator().manual_seed(0))
    c = model.generate(prompt, 30, sample=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(set(a[:, 2:].flatten().tolist())) > 2  # sampling, not argmax
    top1 = model.generate(prompt, 10, sample=True, top_k=1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(top1, model.generate(prompt, 10))  # top-1 sampling is greedy
    out = model.generate(prompt, 30, sample=True, eos_id=5, generator=torch.Generator().manual_seed(0))
    for row in out[:, 2:]:
        hits = (row == 5).nonzero()
        if len(hits):
            assert bool((row[hits[0, 0]:] == 5).all())  # after eos, only eos
    assert out.shape[1] <= 32


def test_gpt2_small_has_124_439_808_parameters():
    with torch.device("meta"):
        model = GPT(GPTConfig())  # the defaults are GPT-2 small
        hf = transformers.GPT2LMHeadModel(transformers.GPT2Config())
    assert parameter_count(model) == 124_439_808 == sum(p.numel() for p in hf.parameters())


def test_from_huggingface_refuses_an_untied_or_rescaled_model():
    config = transformers.GPT2Config(n_embd=8, n_layer=1, n_head=2, vocab_size=10, n_positions=6,
                                     scale_attn_by_inverse_layer_idx=True)
    with pytest.raises(ValueError, match="scale_attn_by_inverse_layer_idx"):
        GPT.from_huggingface(transformers.GPT2LMHeadModel(config))
    config = transformers.GPT2Config(n_embd=8, n_layer=1, n_head=2, vocab_size=10, n_positions=6,
                                     tie_word_embeddings=False)
    with pytest.raises(ValueError, match="tie_word_embeddings"):
        GPT.from_huggingface(transformers.GPT2LMHeadModel(config))


def test_a_too_long_sequence_names_ids_and_max_len():
    model = GPT(GPTConfig(vocab_size=10, max_len=4, d_model=8, num_heads=2, d_ff=16, num_layers=1))
    with pytest.raises(ValueError, match=r"^ids=.*max_len=4"):
        model(torch.zeros(1, 5, dtype=torch.long))
