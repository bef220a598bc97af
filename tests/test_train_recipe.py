"""Tests for course_lib.train.recipe: label smoothing and the schedule against torch and the formulas, FLOPs, MFU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from course_lib import train as T
from course_lib.masks import causal_mask
from course_lib.transformer import Transformer, TransformerConfig


# --------------------------------------------------------------------------- label smoothing


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_label_smoothed_loss_matches_torch_cross_entropy(smoothing, reduction):
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(4, 6, 11, generator=g, dtype=torch.float64)
    target = torch.randint(0, 11, (4, 6), generator=g)
    target[:, -2:] = 0  # padding, some of it in every row
    got = T.label_smoothed_loss(logits, target, smoothing=smoothing, ignore_index=0, reduction=reduction)
    expected = F.cross_entropy(logits.flatten(0, 1), target.flatten(), label_smoothing=smoothing,
                               ignore_index=0, reduction=reduction)
    torch.testing.assert_close(got, expected.float())


def test_label_smoothed_loss_by_hand_and_padding_ignored():
    # Two classes with equal logits: p = (1/2, 1/2), so every -log p_c is log 2 whatever ε is.
    logits = torch.zeros(1, 3, 2)
    target = torch.tensor([[1, 1, 0]])
    assert math.isclose(T.label_smoothed_loss(logits, target, smoothing=0.1, ignore_index=0).item(), math.log(2),
                        rel_tol=1e-6)
    # Padding rows must neither add to the sum nor count in the mean.
    logits = torch.tensor([[[0.0, 2.0], [5.0, -5.0]]])
    target = torch.tensor([[1, 0]])
    log_p = torch.log_softmax(logits[0, 0], -1)
    by_hand = -(0.8 * log_p[1] + 0.2 * log_p.mean())  # ε = 0.2 over both classes, the target included
    got = T.label_smoothed_loss(logits, target, smoothing=0.2, ignore_index=0)
    assert math.isclose(got.item(), by_hand.item(), rel_tol=1e-6)
    with pytest.raises(ValueError, match="target has shape"):
        T.label_smoothed_loss(logits, target[:, :1], smoothing=0.1)


def test_label_smoothed_loss_refuses_bad_arguments_in_one_style():
    logits, target = torch.zeros(1, 2, 3), torch.tensor([[1, 2]])
    with pytest.raises(ValueError, match=r"^target has shape \(1, 1\); expected \(1, 2\) \(to match logits"):
        T.label_smoothed_loss(logits, target[:, :1])
    with pytest.raises(ValueError, match=r"^smoothing=1\.5; expected"):
        T.label_smoothed_loss(logits, target, smoothing=1.5)
    with pytest.raises(ValueError, match=r"^smoothing=True; expected"):
        T.label_smoothed_loss(logits, target, smoothing=True)
    with pytest.raises(ValueError, match=r"^reduction='none'; expected one of 'mean', 'sum'"):
        T.label_smoothed_loss(logits, target, reduction="none")
    with pytest.raises(ValueError, match=r"^logits is a list; expected a torch.Tensor"):
        T.label_smoothed_loss([[0.0, 1.0]], target)
    # The ends of [0, 1] are allowed: 1 spreads the whole mass uniformly.
    assert T.label_smoothed_loss(logits, target, smoothing=1.0).item() == pytest.approx(math.log(3))


# --------------------------------------------------------------------------- schedule


def test_noam_lr_is_equation_3():
    d_model, warmup = 512, 4000
    for step in (1, 2, 100, 3999, 4000, 4001, 10_000, 100_000):
        expected = d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)
        assert math.isclose(T.noam_lr(step, d_model=d_model, warmup=warmup), expected, rel_tol=1e-12)
    rates = [T.noam_lr(s, d_model=64, warmup=10, factor=2.0) for s in range(1, 40)]
    assert max(range(len(rates)), key=rates.__getitem__) == 9  # the peak is step 10 = warmup
    assert math.isclose(rates[9], 2.0 * (64 * 10) ** -0.5)
    assert all(a < b for a, b in zip(rates[:9], rates[1:10]))  # linear rise
    assert math.isclose(rates[0], rates[9] / 10)  # step 1 of 10: a tenth of the peak, not zero
    with pytest.raises(ValueError, match="step=0"):
        T.noam_lr(0, d_model=64, warmup=10)


def test_noam_lr_checks_its_integers():
    assert T.noam_lr(np.int64(10), d_model=64, warmup=10) == T.noam_lr(10, d_model=64, warmup=10)
    with pytest.raises(ValueError, match=r"^step=0; expected an int >= 1 \(steps are counted from 1\)"):
        T.noam_lr(0, d_model=64, warmup=10)
    with pytest.raises(ValueError, match=r"^step=True; expected"):
        T.noam_lr(True, d_model=64, warmup=10)
    with pytest.raises(ValueError, match=r"^warmup=0; expected a positive int"):
        T.noam_lr(1, d_model=64, warmup=0)
    with pytest.raises(ValueError, match=r"^d_model=2\.5; expected a positive int"):
        T.noam_lr(1, d_model=2.5, warmup=10)


# --------------------------------------------------------------------------- FLOPs and MFU


@pytest.mark.parametrize("norm_first", [False, True])
def test_model_flops_equals_torch_flop_counter(norm_first):
    config = TransformerConfig(vocab_size=52, d_model=32, num_heads=4, d_ff=48, num_layers=2, dropout=0.0,
                               norm_first=norm_first, max_len=32)
    torch.manual_seed(0)
    model = Transformer(config)
    B, S, L = 3, 7, 5
    src, tgt = torch.randint(4, 52, (B, S)), torch.randint(4, 52, (B, L))
    with FlopCounterMode(display=False) as counter:  # counts every matmul, forward and backward
        model(src, tgt, None, causal_mask(L)).sum().backward()
    assert counter.get_total_flops() == B * T.model_flops(config, src_len=S, tgt_len=L)


def test_model_flops_is_six_n_plus_attention_and_mfu_arithmetic():
    config = TransformerConfig(vocab_size=52, d_model=64, num_heads=4, d_ff=256, num_layers=3)
    model = Transformer(config)
    # Kaplan's 6·N per token when source and target have one token each and attention is negligible.
    matrices = {n: p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n}
    enc = sum(v for n, v in matrices.items() if n.startswith("encoder"))
    dec = sum(v for n, v in matrices.items() if n.startswith("decoder"))
    V_d = config.vocab_size * config.d_model  # the output projection (tied: the embedding matrix)
    S, L = 10, 12
    attention = 12 * config.num_layers * config.d_model * (S * S + L * L + S * L)
    cross_kv = 2 * config.d_model**2 * config.num_layers  # decoder matrices that read the S memory positions
    expected = 6 * (enc * S + (dec - cross_kv) * L + cross_kv * S + V_d * L) + attention
    assert T.model_flops(config, src_len=S, tgt_len=L) == expected
    lengths = torch.tensor([3, 10])
    assert T.model_flops(config, src_len=lengths, tgt_len=lengths).tolist() == [
        T.model_flops(config, src_len=3, tgt_len=3), T.model_flops(config, src_len=10, tgt_len=10)]
    assert T.estimate_mfu(flops=989e12 * 0.5, seconds=1.0, peak=989e12) == pytest.approx(0.5)
    assert T.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert T.peak_flops("NVIDIA H100 PCIe") == 756e12
    assert T.peak_flops("NVIDIA A100-SXM4-40GB") == 312e12
    assert T.peak_flops("Some Future GPU") is None


def test_estimate_mfu_refuses_a_non_positive_time_or_peak():
    with pytest.raises(ValueError, match=r"^seconds=0\.0; expected a finite number > 0"):
        T.estimate_mfu(flops=1e12, seconds=0.0, peak=1e15)
    with pytest.raises(ValueError, match=r"^peak=-1; expected a finite number > 0"):
        T.estimate_mfu(flops=1e12, seconds=1.0, peak=-1)
