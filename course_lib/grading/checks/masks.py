"""Checks for chapter 5's exercises: causal_mask, padding_mask, combine_masks.

Each known wrong version (off-by-one causal mask, transposed mask, inverted meaning,
padding mask with the query axis missing or misplaced, OR instead of AND) is listed as a
``mistake`` so that the hint names it.
"""

from __future__ import annotations

import torch

from course_lib.grading.registry import CaseFailed, Grader, exercise
from course_lib.i18n import tr
from course_lib.masks import causal_mask, combine_masks, padding_mask

def _bool_hint() -> str:
    return tr("return a boolean tensor (dtype torch.bool) where True means 'may attend'",
              "返回布尔张量（dtype torch.bool），True 表示“可以关注”")


def _expect_bool(g: Grader, got) -> None:
    g.expect(isinstance(got, torch.Tensor), tr(f"the mask should be a torch.Tensor; got {type(got).__name__}",
                                               f"掩码应是 torch.Tensor；得到的是 {type(got).__name__}"))
    g.expect(got.dtype == torch.bool, tr(f"the mask has dtype {got.dtype}; {_bool_hint()}",
                                         f"掩码的 dtype 是 {got.dtype}；{_bool_hint()}"))



# -- causal_mask -------------------------------------------------------------------------------


def _causal_mistakes(L: int) -> dict[str, torch.Tensor]:
    ones = torch.ones(L, L)
    return {
        tr("the mask meaning is inverted (True must mean 'may attend', not 'hide')",
           "掩码的含义反了（True 必须表示“可以关注”，而不是“遮住”）"): ~causal_mask(L),
        tr("an off-by-one: the diagonal is excluded, so a position cannot see itself",
           "差一错误：排除了对角线，于是位置看不到自己"): ones.tril(-1).bool(),
        tr("an off-by-one: one key too many, so each position sees the next token",
           "差一错误：多了一个键，于是每个位置看到了下一个词元"): ones.tril(1).bool(),
        tr("the mask is transposed (upper triangular): early positions see the future",
           "掩码被转置了（上三角）：靠前的位置看到了未来"): ones.triu().bool(),
    }


@exercise("masks.causal_mask", name="causal_mask", chapter="05")
def _(candidate, g):
    """causal_mask(L) -> (L, L) bool, True where key j <= query i."""
    hint = tr("row i (a query) should allow columns j = 0..i (keys up to and including itself)",
              "第 i 行（一个查询）应允许第 j = 0..i 列（直到并包括它自己的键）")
    for L in (5, 1, 8):
        with g.case(tr(f"L = {L}: the ({L}, {L}) lower-triangular mask, diagonal included",
                       f"L = {L}：({L}, {L}) 的下三角掩码，包括对角线")):
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
            tr(f"the mask has shape {shape} = (B, max_len): it lacks the query axis, so it would not "
               f"broadcast against scores of shape (B, L_q, L_k); expected (B, 1, max_len)",
               f"掩码的形状是 {shape} = (B, max_len)：缺少查询轴，无法与形状为 (B, L_q, "
               f"L_k) 的分数广播；应为 (B, 1, max_len)")
        )
    if shape == (B, max_len, 1):
        raise CaseFailed(
            tr(f"the mask has shape {shape} = (B, max_len, 1): the singleton axis is in the key "
               f"position, so it would hide queries instead of keys; expected (B, 1, max_len)",
               f"掩码的形状是 {shape} = (B, max_len, 1)：单例轴放在了键的位置上，会遮住查询而不是键；"
               f"应为 (B, 1, max_len)")
        )
    expected = padding_mask(lengths, max_len)
    positions = torch.arange(max_len)
    g.assert_close(
        got, expected, what="mask",
        hint=tr("key j of sequence b is real (visible) when j < lengths[b]",
                "当 j < lengths[b] 时，序列 b 的键 j 是真实的（可见）"),
        mistakes={
            tr("the mask meaning is inverted (True must mean 'may attend', i.e. a real token)",
               "掩码的含义反了（True 必须表示“可以关注”，即真实词元）"): ~expected,
            tr("an off-by-one: one padding position too many is visible (<= instead of <)",
               "差一错误：多了一个填充位置可见（用了 <= 而不是 <）"):
                (positions[None, :] <= torch.tensor(lengths)[:, None]).unsqueeze(1),
        },
    )


@exercise("masks.padding_mask", name="padding_mask", chapter="05")
def _(candidate, g):
    """padding_mask(lengths, max_len) -> (B, 1, max_len) bool, True on the real tokens."""
    with g.case(tr("lengths = tensor([3, 1, 0]), max_len = 4", "lengths = tensor([3, 1, 0])、max_len = 4 时")):
        _check_padding(g, candidate(torch.tensor([3, 1, 0]), 4), [3, 1, 0], 4)
    lengths = g.randint(0, 8, 5).tolist()
    lengths[0] = 7  # one full-length sequence
    with g.case(tr(f"lengths given as the list {lengths}, max_len = 7",
                   f"lengths 以列表 {lengths} 给出，max_len = 7")):
        _check_padding(g, candidate(list(lengths), 7), lengths, 7)
    with g.case(tr("a length longer than max_len, or a negative one, raises ValueError",
                   "长度超过 max_len 或为负时抛出 ValueError")):
        g.expect_value_error(
            lambda: candidate([2, 5], 4),
            tr("a length above max_len cannot be padded to max_len: raise ValueError naming `lengths`",
               "超过 max_len 的长度无法填充到 max_len：抛出写明 `lengths` 的 ValueError"),
            naming="lengths",
        )
        g.expect_value_error(
            lambda: candidate(torch.tensor([2, -1]), 4),
            tr("a negative length is no length: raise ValueError naming `lengths`",
               "负的长度不是长度：抛出写明 `lengths` 的 ValueError"),
            naming="lengths",
        )


# -- combine_masks -----------------------------------------------------------------------------


@exercise("masks.combine_masks", name="combine_masks", chapter="05")
def _(candidate, g):
    """combine_masks(*masks) -> the logical AND of the masks, broadcast; None is skipped."""
    hint = tr("a key stays visible only if every mask allows it; masks broadcast to (B, L_q, L_k)",
              "只有每个掩码都允许时，键才保持可见；掩码广播到 (B, L_q, L_k)")
    L = 5
    causal, pad = causal_mask(L), padding_mask([5, 3, 1], L)
    with g.case(tr("causal (5, 5) with padding (3, 1, 5) gives a (3, 5, 5) mask",
                   "因果掩码 (5, 5) 与填充掩码 (3, 1, 5) 得到 (3, 5, 5) 的掩码")):
        got = candidate(causal.clone(), pad.clone())
        _expect_bool(g, got)
        g.assert_close(
            got, combine_masks(causal, pad), what="mask", hint=hint,
            mistakes={
                tr("an OR instead of an AND: a key hidden by one mask is shown by the other",
                   "用了 OR 而不是 AND：被一个掩码遮住的键被另一个掩码放了出来"): causal | pad,
                tr("only the first mask is used", "只用了第一个掩码"): causal.expand(3, L, L),
            },
        )
    a, b, c = g.rand_mask(2, 1, 6), g.rand_mask(4, 6), g.rand_mask(2, 4, 6)
    with g.case(tr("three masks of shapes (2, 1, 6), (4, 6), (2, 4, 6), with None between them",
                   "形状为 (2, 1, 6)、(4, 6)、(2, 4, 6) 的三个掩码，中间夹着 None")):
        got = candidate(a.clone(), None, b.clone(), c.clone(), None)
        _expect_bool(g, got)
        g.assert_close(
            got, combine_masks(a, b, c), what="mask", hint=hint + tr("; skip None", "；跳过 None"),
            mistakes={
                tr("an OR instead of an AND", "用了 OR 而不是 AND"): a | b | c,
                tr("only the first two masks are used", "只用了前两个掩码"): (a & b).expand(2, 4, 6),
            },
        )
    first, second = g.rand_mask(3, L, L), g.rand_mask(3, L, L)
    with g.case(tr("the inputs are left unchanged", "输入保持不变")):
        x, y = first.clone(), second.clone()
        candidate(x, y)
        g.expect(torch.equal(x, first) and torch.equal(y, second),
                 tr("your function changed a mask it was given (an in-place &=?): build a new tensor",
                    "你的函数修改了传给它的掩码（原地的 &=？）：请构造新张量"))
    with g.case(tr("no mask at all (nothing, or only None) raises ValueError",
                   "完全没有掩码（什么都没给，或只有 None）时抛出 ValueError")):
        g.expect_value_error(lambda: candidate(), tr("with nothing to combine there is no mask to return",
                                                     "没有可组合的东西，就没有掩码可返回"))
        g.expect_value_error(lambda: candidate(None, None), tr("None means 'no mask', so this is nothing to combine",
                                                               "None 表示“没有掩码”，所以这里没有可组合的东西"))
