"""course_lib.bert against Hugging Face's BertForMaskedLM (random weights, built offline) and by itself."""

from __future__ import annotations

import pytest
import torch

from course_lib.bert import BERT, BERTConfig, mask_tokens
from course_lib.embedding import parameter_count

transformers = pytest.importorskip("transformers")

CONFIGS = [  # (hidden, layers, heads, d_ff, vocab, positions, types, act)
    (24, 2, 3, 40, 37, 16, 2, "gelu"),
    (16, 1, 2, 16, 11, 9, 3, "gelu"),
    (32, 3, 4, 64, 50, 20, 1, "gelu_new"),
]


def _hf(hidden, layers, heads, d_ff, vocab, positions, types, act, seed=0):
    torch.manual_seed(seed)
    config = transformers.BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                     intermediate_size=d_ff, vocab_size=vocab, max_position_embeddings=positions,
                                     type_vocab_size=types, hidden_act=act, attn_implementation="eager")
    model = transformers.BertForMaskedLM(config).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("spec", CONFIGS, ids=lambda s: f"d{s[0]}-N{s[1]}-H{s[2]}-types{s[6]}")
def test_logits_equal_hugging_face_in_float64(spec):
    hf = _hf(*spec)
    ours = BERT.from_huggingface(hf)
    B, L = 3, spec[5] - 1
    ids = torch.randint(0, spec[4], (B, L))
    types = torch.randint(0, spec[6], (B, L))
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, L - 3:] = False
    mask[2, :2] = False
    with torch.no_grad():
        plain = (hf(ids).logits - ours(ids)).abs().max().item()
        full = (hf(ids, attention_mask=mask.long(), token_type_ids=types).logits - ours(ids, mask, types))
    assert plain < 1e-10 and full.abs().max().item() < 1e-10
    assert parameter_count(ours) == sum(p.numel() for p in hf.parameters())


def test_token_types_and_padding_change_the_logits():
    hf = _hf(*CONFIGS[0])
    ours = BERT.from_huggingface(hf)
    ids = torch.randint(0, 37, (2, 8))
    with torch.no_grad():
        base = ours(ids)
        assert (ours(ids, token_type_ids=torch.ones_like(ids)) - base).abs().max() > 1e-3
        mask = torch.ones(2, 8, dtype=torch.bool)
        mask[:, 6:] = False
        assert (ours(ids, mask)[:, :6] - base[:, :6]).abs().max() > 1e-5
        # padding is invisible: what sits in the padded slots does not matter
        other = ids.clone()
        other[:, 6:] = 0
        torch.testing.assert_close(ours(other, mask)[:, :6], ours(ids, mask)[:, :6], rtol=0, atol=1e-12)


def test_a_later_token_changes_the_first_position():
    torch.manual_seed(1)
    model = BERT(BERTConfig(vocab_size=20, max_len=12, d_model=16, num_heads=2, d_ff=32, num_layers=2,
                            dropout=0.0)).eval()
    ids = torch.randint(0, 20, (2, 10))
    changed = ids.clone()
    changed[:, 8] = (changed[:, 8] + 1) % 20
    with torch.no_grad():
        assert (model(ids)[:, 0] - model(changed)[:, 0]).abs().max() > 1e-5  # bidirectional


def test_bert_base_parameter_count_matches_hugging_face():
    with torch.device("meta"):
        model = BERT(BERTConfig())
        hf = transformers.BertForMaskedLM(transformers.BertConfig())
    assert parameter_count(model) == sum(p.numel() for p in hf.parameters()) == 109_514_298


def test_from_huggingface_refuses_relative_positions():
    config = transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, vocab_size=10, position_embedding_type="relative_key")
    with pytest.raises(ValueError, match="position_embedding_type"):
        BERT.from_huggingface(transformers.BertForMaskedLM(config))


def test_mask_tokens_follows_15_and_80_10_10():
    ids = torch.randint(4, 1000, (200, 100))
    ids[:, 0] = 1  # a [CLS]-like special token
    inputs, labels = mask_tokens(ids, vocab_size=1000, mask_id=3, special_ids=[0, 1],
                                 generator=torch.Generator().manual_seed(0))
    chosen = labels != -100
    assert not bool(chosen[:, 0].any())  # special tokens are never chosen
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])
    frac = chosen[:, 1:].float().mean().item()
    assert abs(frac - 0.15) < 0.01
    masked = (inputs[chosen] == 3).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02  # the rest (~10%) random
    again = mask_tokens(ids, vocab_size=1000, mask_id=3, special_ids=[0, 1], generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0], inputs) and torch.equal(again[1], labels)


def test_mask_tokens_draws_in_the_documented_order():
    ids = torch.randint(4, 50, (3, 20))
    g = torch.Generator().manual_seed(7)
    chosen = torch.rand(ids.shape, generator=g) < 0.15
    r = torch.rand(ids.shape, generator=g)
    random_ids = torch.randint(50, ids.shape, generator=g)
    want = torch.where(chosen & (r < 0.8), 3, torch.where(chosen & (r >= 0.8) & (r < 0.9), random_ids, ids))
    inputs, labels = mask_tokens(ids, vocab_size=50, mask_id=3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(inputs, want) and torch.equal(labels, torch.where(chosen, ids, -100))
