"""The chapter 5 grader checks: correct versions pass, each known mistake fails and is named."""

import pytest
import torch

from course_lib.grading import check

from grading_helpers import assert_full_marks, assert_mistake_named, assert_stub_scores_zero


def _causal_ok(L):  # written differently from the library, as a learner might
    return torch.ones(L, L, dtype=torch.bool).tril()


def _padding_ok(lengths, max_len):
    lengths = torch.as_tensor(lengths)
    if (lengths > max_len).any() or (lengths < 0).any():
        raise ValueError("lengths out of range")
    return (torch.arange(max_len)[None, None, :] < lengths[:, None, None])


def _combine_ok(*masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        raise ValueError("no mask")
    out = masks[0]
    for m in masks[1:]:
        out = torch.logical_and(out, m)
    return out.clone()


def _no_check_padding(lengths, max_len):
    return torch.arange(max_len)[None, None, :] < torch.as_tensor(lengths)[:, None, None]


def _combine_or(*masks):
    masks = [m for m in masks if m is not None]
    return torch.stack(torch.broadcast_tensors(*masks)).any(0)


def _combine_in_place(*masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        raise ValueError("no mask")
    out = masks[0]
    for m in masks[1:]:
        out &= m
    return out


@pytest.mark.parametrize(
    "exercise_id,candidate",
    [("masks.causal_mask", _causal_ok), ("masks.padding_mask", _padding_ok), ("masks.combine_masks", _combine_ok)],
)
def test_correct_versions_score_full_marks(exercise_id, candidate):
    assert_full_marks(exercise_id, candidate)


@pytest.mark.parametrize(
    "exercise_id,candidate,named",
    [
        ("masks.causal_mask", lambda L: torch.ones(L, L).tril(-1).bool(), "diagonal is excluded"),
        ("masks.causal_mask", lambda L: torch.ones(L, L).tril(1).bool(), "one key too many"),
        ("masks.causal_mask", lambda L: torch.ones(L, L).triu().bool(), "transposed"),
        ("masks.causal_mask", lambda L: ~torch.ones(L, L).tril().bool(), "inverted"),
        ("masks.causal_mask", lambda L: torch.ones(L, L).tril(), "dtype torch.float32"),
        ("masks.padding_mask", lambda lengths, n: _padding_ok(lengths, n)[:, 0, :], "(B, max_len)"),
        ("masks.padding_mask", lambda lengths, n: _padding_ok(lengths, n).transpose(1, 2), "(B, max_len, 1)"),
        ("masks.padding_mask", lambda lengths, n: ~_padding_ok(lengths, n), "inverted"),
        ("masks.padding_mask",
         lambda lengths, n: torch.arange(n)[None, None, :] <= torch.as_tensor(lengths)[:, None, None],
         "off-by-one"),
        ("masks.combine_masks", _combine_or, "OR instead of an AND"),
        ("masks.combine_masks", lambda *ms: _combine_ok(*[m for m in ms if m is not None][:2]), "first two"),
    ],
)
def test_known_mistakes_fail_with_a_named_hint(exercise_id, candidate, named):
    assert_mistake_named(exercise_id, candidate, named)


def test_missing_validation_and_in_place_update_cost_their_own_points():
    padding = check("masks.padding_mask", _no_check_padding, quiet=True)
    assert not padding.passed and padding.points == padding.max_points - 1
    assert "ValueError" in padding.message
    combine = check("masks.combine_masks", _combine_in_place, quiet=True)
    messages = {title: message for title, ok, message in combine.cases if not ok}
    assert "changed its input `masks[0]`" in messages["the inputs are left unchanged"]


@pytest.mark.parametrize("exercise_id", ["masks.causal_mask", "masks.padding_mask", "masks.combine_masks"])
def test_unimplemented_scores_zero_without_crashing(exercise_id):
    assert_stub_scores_zero(exercise_id, "05")
