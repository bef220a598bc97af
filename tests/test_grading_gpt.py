"""The chapter 12 grader check for gpt.causal_lm_loss: a correct version passes, each known mistake is named."""

import torch
import torch.nn.functional as F

from grading_helpers import assert_full_marks, assert_mistake_named, assert_stub_scores_zero

ID = "gpt.causal_lm_loss"


def _loss(logits, ids, target_mask=None, *, shift=1, mask_shift=1, reduce="mean", zeros_counted=False):
    """A learner-style loss with switches for the known mistakes."""
    B, L, V = logits.shape
    scores = logits[:, : L - shift] if shift >= 0 else logits[:, 1:]
    targets = ids[:, shift:] if shift >= 0 else ids[:, :-1]
    per = F.cross_entropy(scores.reshape(-1, V), targets.reshape(-1), reduction="none").reshape(B, -1)
    if target_mask is None:
        keep = torch.ones_like(per, dtype=torch.bool)
    else:
        keep = target_mask[:, mask_shift:] if mask_shift else target_mask[:, : L - shift]
    total = (per * keep).sum()
    if reduce == "sum":
        return total
    return total / (per.numel() if zeros_counted else keep.sum())


def test_a_learner_style_loss_gets_full_marks():
    assert_full_marks(ID, _loss)


def test_no_shift_is_named():
    assert_mistake_named(ID, lambda lo, i, m=None: _loss(lo, i, m, shift=0, mask_shift=0), "not shifted")


def test_the_shift_the_wrong_way_is_named():
    assert_mistake_named(ID, lambda lo, i, m=None: _loss(lo, i, m, shift=-1), "the wrong way")


def test_an_unshifted_mask_is_named():
    assert_mistake_named(ID, lambda lo, i, m=None: _loss(lo, i, m, mask_shift=0), "target_mask is not shifted")


def test_an_ignored_mask_is_named():
    assert_mistake_named(ID, lambda lo, i, m=None: _loss(lo, i, None), "target_mask is ignored")


def test_a_sum_is_named():
    assert_mistake_named(ID, lambda lo, i, m=None: _loss(lo, i, m, reduce="sum"), "summed")


def test_masked_positions_in_the_mean_are_named():
    assert_mistake_named(ID, lambda lo, i, m=None: _loss(lo, i, m, zeros_counted=True), "as zeros")


def test_stub_scores_zero():
    assert_stub_scores_zero(ID, "12")
