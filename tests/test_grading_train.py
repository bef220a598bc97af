"""The chapter 11 grader checks: correct versions pass, each known mistake fails and is named."""

from __future__ import annotations

import pytest
import torch

from course_lib.grading import check, get


def loss_ok(logits, target, *, smoothing=0.1, ignore_index=-100):
    # Written another way: build the smoothed target distribution explicitly.
    V = logits.shape[-1]
    q = torch.full_like(logits, smoothing / V).scatter_add(
        -1, target.clamp(min=0).unsqueeze(-1), torch.full_like(logits[..., :1], 1 - smoothing))
    per_token = -(q * torch.log_softmax(logits, -1)).sum(-1)
    real = target != ignore_index
    return per_token[real].mean()


def noam_ok(step, *, d_model, warmup, factor=1.0):
    rate = step / warmup**1.5 if step < warmup else step**-0.5
    return factor * rate / d_model**0.5


def flops_ok(config, *, src_len, tgt_len):
    d, f, n, V = config.d_model, config.d_ff, config.num_layers, config.vocab_size
    per_layer_enc = src_len * (4 * d * d + 2 * d * f) + 2 * d * src_len * src_len
    per_layer_dec = (tgt_len * (4 * d * d) + 2 * d * tgt_len * tgt_len  # self-attention
                     + tgt_len * 2 * d * d + src_len * 2 * d * d + 2 * d * tgt_len * src_len  # cross
                     + tgt_len * 2 * d * f)
    forward_macs = n * (per_layer_enc + per_layer_dec) + tgt_len * V * d
    return 6 * forward_macs


@pytest.mark.parametrize("exercise_id,candidate", [("train.label_smoothed_loss", loss_ok),
                                                   ("train.noam_lr", noam_ok), ("train.model_flops", flops_ok)])
def test_correct_versions_score_full_marks(exercise_id, candidate):
    result = check(exercise_id, candidate, quiet=True)
    assert result.passed, result.message
    assert result.points == result.max_points == get(exercise_id).max_points > 0


def _loss_over_v_minus_1(logits, target, *, smoothing=0.1, ignore_index=-100):
    V = logits.shape[-1]
    q = torch.full_like(logits, smoothing / (V - 1)).scatter(-1, target.clamp(min=0).unsqueeze(-1), 1 - smoothing)
    real = target != ignore_index
    return -(q * torch.log_softmax(logits, -1)).sum(-1)[real].mean()


def _loss_pad_counted(logits, target, *, smoothing=0.1, ignore_index=-100):
    real = target != ignore_index
    return loss_ok(logits, target, smoothing=smoothing, ignore_index=ignore_index) * real.sum() / target.numel()


def _loss_pad_not_ignored(logits, target, *, smoothing=0.1, ignore_index=-100):
    return torch.nn.functional.cross_entropy(logits.flatten(0, -2), target.flatten(), label_smoothing=smoothing)


@pytest.mark.parametrize("exercise_id,candidate,named", [
    ("train.label_smoothed_loss", _loss_over_v_minus_1, "V - 1 wrong classes"),
    ("train.label_smoothed_loss", _loss_pad_counted, "padding positions are counted in the mean"),
    ("train.label_smoothed_loss", _loss_pad_not_ignored, "padding positions are not ignored"),
    ("train.label_smoothed_loss",
     lambda lg, t, *, smoothing=0.1, ignore_index=-100: loss_ok(lg, t, smoothing=0.0, ignore_index=ignore_index),
     "no label smoothing"),
    ("train.noam_lr", lambda s, *, d_model, warmup, factor=1.0: noam_ok(s + 1, d_model=d_model, warmup=warmup,
                                                                         factor=factor), "off by one"),
    ("train.noam_lr", lambda s, *, d_model, warmup, factor=1.0:
        factor * d_model**-0.5 * max(s**-0.5, s * warmup**-1.5), "max instead of min"),
    ("train.noam_lr", lambda s, *, d_model, warmup, factor=1.0:
        factor * d_model**-0.5 * min(s**-0.5, s * warmup**-0.5), "warmup^-0.5"),
    ("train.model_flops", lambda c, *, src_len, tgt_len: flops_ok(c, src_len=src_len, tgt_len=tgt_len) // 3,
     "forward pass only"),
    ("train.model_flops", lambda c, *, src_len, tgt_len: flops_ok(c, src_len=src_len, tgt_len=tgt_len)
     + 6 * c.num_layers * 2 * c.d_model**2 * (tgt_len - src_len), "counted on the target positions"),
    ("train.model_flops", lambda c, *, src_len, tgt_len: flops_ok(c, src_len=src_len, tgt_len=tgt_len)
     - 6 * tgt_len * c.vocab_size * c.d_model, "output projection"),
])
def test_known_mistakes_fail_and_are_named(exercise_id, candidate, named):
    result = check(exercise_id, candidate, quiet=True)
    assert not result.passed
    assert named in result.message, result.message


def test_unfinished_exercises_score_zero_without_crashing():
    def todo(*args, **kwargs):
        raise NotImplementedError

    for exercise_id in ("train.label_smoothed_loss", "train.noam_lr", "train.model_flops"):
        result = check(exercise_id, todo, quiet=True)
        assert result.points == 0 and "not implemented" in result.message
