"""Checks for chapter 5's exercises: causal_mask, padding_mask, combine_masks.

Each known wrong version (off-by-one causal mask, transposed mask, inverted meaning,
padding mask with the query axis missing or misplaced, OR instead of AND) is listed as a
``mistake`` so that the hint names it.
"""

from __future__ import annotations

import torch

from course_lib.grading.registry import CaseFailed, Grader, exercise
from course_lib.masks import causal_mask, combine_masks, padding_mask

_BOOL_HINT = "return a boolean tensor (dtype torch.bool) where True means 'may attend'"


def _expect_bool(g: Grader, got) -> None:
    g.expect(isinstance(got, torch.Tensor), f"the mask should be a torch.Tensor; got {type(got).__name__}")
    g.expect(got.dtype == torch.bool, f"the mask has dtype {got.dtype}; {_BOOL_HINT}")



# -- causal_mask -------------------------------------------------------------------------------


def _causal_mistakes(L: int) -> dict[str, torch.Tensor]:
    ones = torch.ones(L, L)
    return {
        "the mask meaning is inverted (True must mean 'may attend', not 'hide')": ~causal_mask(L),
        "an off-by-one: the diagonal is excluded, so a position cannot see itself": ones.tril(-1).bool(),
        "an off-by-one: one key too many, so each position sees the next token": ones.tril(1).bool(),
        "the mask is transposed (upper triangular): early positions see the future": ones.triu().bool(),
    }


@exercise("masks.causal_mask", name="causal_mask", chapter="05")
def _(candidate, g):
    """causal_mask(L) -> (L, L) bool, True where key j <= query i."""
    hint = "row i (a query) should allow columns j = 0..i (keys up to and including itself)"
    for L in (5, 1, 8):
        with g.case(f"L = {L}: the ({L}, {L}) lower-triangular mask, diagonal included"):
            got = candidate(L)
            _expect_bool(g, got)
            g.assert_close(got, causal_mask(L), hint=hint, mistakes=_causal_mistakes(L), what="mask")


# -- padding_mask ------------------------------------------------------------------------------


def _check_padding(g: Grader, got, lengths: list[int], max_len: int) -> None:
    B = len(lengths)
    _expect_bool(g, got)
    shape = tuple(got.shape)
    if shape == (B, max_len):
        raise CaseFailed(
            f"the mask has shape {shape} = (B, max_len): it lacks the query axis, so it would not "
            f"broadcast against scores of shape (B, L_q, L_k); expected (B, 1, max_len)"
        )
    if shape == (B, max_len, 1):
        raise CaseFailed(
            f"the mask has shape {shape} = (B, max_len, 1): the singleton axis is in the key "
            f"position, so it would hide queries instead of keys; expected (B, 1, max_len)"
        )
    expected = padding_mask(lengths, max_len)
    positions = torch.arange(max_len)
    g.assert_close(
        got, expected, what="mask",
        hint="key j of sequence b is real (visible) when j < lengths[b]",
        mistakes={
            "the mask meaning is inverted (True must mean 'may attend', i.e. a real token)": ~expected,
            "an off-by-one: one padding position too many is visible (<= instead of <)":
                (positions[None, :] <= torch.tensor(lengths)[:, None]).unsqueeze(1),
        },
    )


@exercise("masks.padding_mask", name="padding_mask", chapter="05")
def _(candidate, g):
    """padding_mask(lengths, max_len) -> (B, 1, max_len) bool, True on the real tokens."""
    with g.case("lengths = tensor([3, 1, 0]), max_len = 4"):
        _check_padding(g, candidate(torch.tensor([3, 1, 0]), 4), [3, 1, 0], 4)
    lengths = g.randint(0, 8, 5).tolist()
    lengths[0] = 7  # one full-length sequence
    with g.case(f"lengths given as the list {lengths}, max_len = 7"):
        _check_padding(g, candidate(list(lengths), 7), lengths, 7)
    with g.case("a length longer than max_len, or a negative one, raises ValueError"):
        g.expect_value_error(
            lambda: candidate([2, 5], 4),
            "a length above max_len cannot be padded to max_len: raise ValueError naming `lengths`",
            naming="lengths",
        )
        g.expect_value_error(
            lambda: candidate(torch.tensor([2, -1]), 4),
            "a negative length is no length: raise ValueError naming `lengths`",
            naming="lengths",
        )


# -- combine_masks -----------------------------------------------------------------------------


@exercise("masks.combine_masks", name="combine_masks", chapter="05")
def _(candidate, g):
    """combine_masks(*masks) -> the logical AND of the masks, broadcast; None is skipped."""
    hint = "a key stays visible only if every mask allows it; masks broadcast to (B, L_q, L_k)"
    L = 5
    causal, pad = causal_mask(L), padding_mask([5, 3, 1], L)
    with g.case("causal (5, 5) with padding (3, 1, 5) gives a (3, 5, 5) mask"):
        got = candidate(causal.clone(), pad.clone())
        _expect_bool(g, got)
        g.assert_close(
            got, combine_masks(causal, pad), what="mask", hint=hint,
            mistakes={
                "an OR instead of an AND: a key hidden by one mask is shown by the other": causal | pad,
                "only the first mask is used": causal.expand(3, L, L),
            },
        )
    a, b, c = g.rand_mask(2, 1, 6), g.rand_mask(4, 6), g.rand_mask(2, 4, 6)
    with g.case("three masks of shapes (2, 1, 6), (4, 6), (2, 4, 6), with None between them"):
        got = candidate(a.clone(), None, b.clone(), c.clone(), None)
        _expect_bool(g, got)
        g.assert_close(
            got, combine_masks(a, b, c), what="mask", hint=hint + "; skip None",
            mistakes={
                "an OR instead of an AND": a | b | c,
                "only the first two masks are used": (a & b).expand(2, 4, 6),
            },
        )
    first, second = g.rand_mask(3, L, L), g.rand_mask(3, L, L)
    with g.case("the inputs are left unchanged"):
        x, y = first.clone(), second.clone()
        candidate(x, y)
        g.expect(torch.equal(x, first) and torch.equal(y, second),
                 "your function changed a mask it was given (an in-place &=?): build a new tensor")
    with g.case("no mask at all (nothing, or only None) raises ValueError"):
        g.expect_value_error(lambda: candidate(), "with nothing to combine there is no mask to return")
        g.expect_value_error(lambda: candidate(None, None), "None means 'no mask', so this is nothing to combine")
