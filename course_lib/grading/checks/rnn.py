"""Checks for chapter 13's exercise: width_for_parameter_count.

The ablations compare the RNNs with the Transformer at equal size, so the width must give
the parameter count *closest* to the target. Known mistakes named by the hints: the widest
model still under the target (rounding down), the narrowest at or over it (rounding up),
and a width that ignores the model's other fields (attention, layers, tying).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from course_lib.embedding import parameter_count
from course_lib.grading.registry import exercise
from course_lib.i18n import tr
from course_lib.rnn import RNNConfig, RNNSeq2Seq, width_for_parameter_count


def _count(config: RNNConfig, width: int) -> int:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        return parameter_count(RNNSeq2Seq(replace(config, d_model=width)))


def _floor_ceil(target: int, config: RNNConfig) -> tuple[int, int]:
    """The widest width whose count is below ``target``, and the narrowest at or above it."""
    lo, hi = 1, 2  # count(lo) < target <= count(hi), by doubling then bisection
    while _count(config, hi) < target:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _count(config, mid) < target else (lo, mid)
    return lo, hi


def _expect_width(g, candidate, target: int, config: RNNConfig, others: dict[str, RNNConfig]) -> None:
    want = width_for_parameter_count(target, config)
    got = candidate(target, config)
    g.expect(isinstance(got, int) and got >= 1,
             tr(f"returned {got!r}; expected an int width >= 1",
                f"返回了 {got!r}；应当返回一个 >= 1 的 int 宽度"))
    if got == want or abs(_count(config, got) - target) == abs(_count(config, want) - target):
        return  # a tie: either neighbour is as close
    floor, ceil = _floor_ceil(target, config)
    says = tr(f"width {got} gives {_count(config, got):,} parameters; width {want} gives "
              f"{_count(config, want):,}, closer to the target {target:,}",
              f"宽度 {got} 的参数量是 {_count(config, got):,}；宽度 {want} 的参数量是 "
              f"{_count(config, want):,}，更接近目标 {target:,}")
    if got == floor:
        g.expect(False, tr(f"{says}: you rounded down (the widest model under the target); "
                           "take whichever of the two neighbours is closer",
                           f"{says}：你向下取整了（取了低于目标的最宽模型）；"
                           "应当取两个相邻宽度中更接近目标的那个"))
    if got == ceil:
        g.expect(False, tr(f"{says}: you rounded up (the narrowest model at or over the target); "
                           "take whichever of the two neighbours is closer",
                           f"{says}：你向上取整了（取了达到或超过目标的最窄模型）；"
                           "应当取两个相邻宽度中更接近目标的那个"))
    for label, other in others.items():
        if got == width_for_parameter_count(target, other):
            g.expect(False, tr(f"{says}: that is the width for {label}; build the model from "
                               "`config` with only d_model replaced (dataclasses.replace)",
                               f"{says}：这是{label}的宽度；应当用 `config` 搭模型，只替换 "
                               "d_model（dataclasses.replace）"))
    g.expect(False, says)


@exercise("rnn.width_for_parameter_count", name="width_for_parameter_count", chapter="13")
def _(candidate, g):
    """width_for_parameter_count(target, config) -> the d_model whose model count is closest to target."""
    plain = RNNConfig(vocab_size=52, d_model=8, attention=False)
    attention = replace(plain, attention=True)
    one_layer = tr("a one-layer model", "单层模型")
    others = {tr("the model without attention", "不带注意力的模型"): plain,
              tr("the model with attention", "带注意力的模型"): attention,
              one_layer: replace(plain, num_layers=1)}
    with g.case(tr("the tiny Transformer's 237,056 parameters, a GRU without attention",
                   "tiny Transformer 的 237,056 个参数，不带注意力的 GRU"), points=2):
        _expect_width(g, candidate, 237_056, plain, others)
    with g.case(tr("the same target with additive attention (its extra weights need a narrower GRU)",
                   "同样的目标，带加性注意力（多出的权重要求更窄的 GRU）"), points=2):
        _expect_width(g, candidate, 237_056, attention, {k: v for k, v in others.items() if v != attention})
    two_layers = replace(plain, num_layers=2, tie_embeddings=False)
    low = _count(two_layers, 40)
    gap = _count(two_layers, 41) - low
    with g.case(tr("two layers, untied: a target just above width 40's count is width 40",
                   "两层、不共享嵌入：目标略高于宽度 40 的参数量时，答案是宽度 40")):
        _expect_width(g, candidate, low + gap // 4, two_layers, {one_layer: plain})
    with g.case(tr("the same, a target just below width 41's count is width 41",
                   "同上，目标略低于宽度 41 的参数量时，答案是宽度 41")):
        _expect_width(g, candidate, low + 3 * gap // 4, two_layers, {one_layer: plain})
    with g.case(tr("a target equal to width 17's count is width 17, and width 1,000's is 1,000 (no upper bound)",
                   "目标恰好等于宽度 17 的参数量时，答案是宽度 17；等于宽度 1,000 的参数量时是 1,000（没有上限）")):
        _expect_width(g, candidate, _count(attention, 17), attention, {})
        _expect_width(g, candidate, _count(attention, 1000), attention, {})
