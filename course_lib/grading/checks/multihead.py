"""Checks for chapter 4, multi-head attention: split_heads, merge_heads, MultiHeadAttention."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib.attention import softmax
from course_lib.grading.registry import CaseFailed, Grader, exercise
from course_lib.i18n import tr
from course_lib.multihead import MultiHeadAttention, merge_heads, split_heads

# -- split_heads -------------------------------------------------------------------------------


def _split_mistakes(x: Tensor, num_heads: int) -> dict[str, Tensor]:
    batch, length, d_model = x.shape
    d_head = d_model // num_heads
    return {
        tr("heads split along the wrong axis: a reshape straight to (B, H, L, d_head) hands each "
           "head a block of positions instead of a block of features of every position",
           "头沿错误的轴拆分：直接 reshape 成 (B, H, L, d_head)，让每个头拿到一段位置，"
           "而不是每个位置的一段特征"):
            x.reshape(batch, num_heads, length, d_head),
        tr("features dealt out round-robin (head h got features h, h+H, h+2H, ...) instead of one "
           "contiguous block per head",
           "特征被轮流分给各头（头 h 拿到特征 h、h+H、h+2H、...），而不是每个头一段连续的特征"):
            x.reshape(batch, length, d_head, num_heads).permute(0, 3, 1, 2),
    }


@exercise("multihead.split_heads", name="split_heads", chapter="04")
def _(candidate, g: Grader):
    """Cut (B, L, d_model) into heads: (B, H, L, d_head)."""
    hint = (tr("view the last axis as (H, d_head), then move the head axis in front of the positions; "
               "head h must hold features h*d_head ... (h+1)*d_head - 1 of every position",
               "把最后一个轴看成 (H, d_head)，再把头轴移到位置轴前面；头 h 必须持有每个位置的特征 "
               "h*d_head ... (h+1)*d_head - 1"))
    x = g.randn(2, 5, 12)
    with g.case(tr("a (2, 5, 12) input cut into 3 heads of width 4",
                   "把 (2, 5, 12) 的输入切成 3 个宽度为 4 的头"), points=2):
        g.assert_close(candidate(x, 3), split_heads(x, 3), hint=hint, mistakes=_split_mistakes(x, 3))
    x = g.randn(3, 4, 8)
    with g.case(tr("the same rule for 2, 4 and 8 heads (8 heads of width 1)",
                   "对 2、4、8 个头同样适用（8 个头时宽度为 1）")):
        for h in (2, 4, 8):
            g.assert_close(candidate(x, h), split_heads(x, h), hint=hint, mistakes=_split_mistakes(x, h),
                           what=tr(f"output for num_heads={h}", f"num_heads={h} 时的输出"))
    with g.case(tr("one head keeps every feature: (B, 1, L, d_model)",
                   "只有一个头时保留全部特征：(B, 1, L, d_model)")):
        g.assert_close(candidate(x, 1), split_heads(x, 1), hint=hint)
    with g.case(tr("raises ValueError when d_model=12 is not divisible by num_heads=5",
                   "d_model=12 不能被 num_heads=5 整除时抛出 ValueError")):
        g.expect_value_error(lambda: candidate(g.randn(2, 3, 12), 5),
                             tr("check that num_heads divides d_model first, and name num_heads",
                                "先检查 num_heads 能否整除 d_model，并写明 num_heads"))


# -- merge_heads -------------------------------------------------------------------------------


def _merge_mistakes(x: Tensor) -> dict[str, Tensor]:
    batch, heads, length, d_head = x.shape
    return {
        tr("merged without the inverse transpose: reshaping (B, H, L, d_head) straight to "
           "(B, L, H*d_head) mixes positions",
           "合并时没有做逆转置：把 (B, H, L, d_head) 直接 reshape 成 (B, L, "
           "H*d_head) 会把位置混在一起"):
            x.reshape(batch, length, heads * d_head),
        tr("heads interleaved feature by feature instead of laid side by side", "各头按特征交错排列，而不是并排摆放"):
            x.permute(0, 2, 3, 1).reshape(batch, length, heads * d_head),
    }


@exercise("multihead.merge_heads", name="merge_heads", chapter="04")
def _(candidate, g: Grader):
    """Lay the heads side by side again: (B, H, L, d_head) → (B, L, H·d_head)."""
    hint = tr("move the head axis back next to the feature axis, then join (H, d_head) into one axis",
              "把头轴移回特征轴旁边，再把 (H, d_head) 合并成一个轴")
    x = g.randn(2, 3, 5, 4)
    with g.case(tr("3 heads of width 4 back into a (2, 5, 12) tensor",
                   "把 3 个宽度为 4 的头合回 (2, 5, 12) 的张量"), points=2):
        g.assert_close(candidate(x), merge_heads(x), hint=hint, mistakes=_merge_mistakes(x))
    y = g.randn(2, 6, 12)
    with g.case(tr("undoes the reference split_heads: merge_heads(split_heads(y, H)) == y",
                   "是参考 split_heads 的逆操作：merge_heads(split_heads(y, "
                   "H)) == y")):
        for h in (2, 4, 6):
            g.assert_close(candidate(split_heads(y, h)), y, hint=hint,
                           mistakes=_merge_mistakes(split_heads(y, h)), what=tr(f"round trip with num_heads={h}",
                                                                                f"num_heads={h} 时往返一致"))
    with g.case(tr("works on a non-contiguous input (the output of a transpose)",
                   "对非连续的输入（转置的输出）也能工作")):
        z = g.randn(2, 4, 3, 5).transpose(1, 2)  # (B, H=3, L=4, d_head=5), not contiguous
        g.assert_close(candidate(z), merge_heads(z), hint=hint + tr("; .view needs contiguous memory, .reshape does not",
                                                                    "；.view 需要连续内存，.reshape 不需要"))


# -- MultiHeadAttention ------------------------------------------------------------------------

_PROJECTIONS = ("w_q", "w_k", "w_v", "w_o")


def _reference(g: Grader, d_model: int, num_heads: int) -> MultiHeadAttention:
    """A float64 reference with seeded weights (biases nonzero, so a missing bias shows)."""
    ref = MultiHeadAttention(d_model, num_heads).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(g.randn(*p.shape) / math.sqrt(d_model))
    return ref


def _variant(ref: MultiHeadAttention, query, key, value, mask=None, *, split="ok", merge="ok",
             scale="d_head", softmax_dim=-1, project=True):
    """What a multi-head attention with one known mistake computes: (out, weights)."""
    h, d_model = ref.num_heads, ref.d_model
    d_head = d_model // h

    def cut(t: Tensor) -> Tensor:
        b, n, _ = t.shape
        if split == "reshape":
            return t.reshape(b, h, n, d_head)
        return t.reshape(b, n, h, d_head).transpose(1, 2)

    def join(t: Tensor) -> Tensor:
        b, _, n, _ = t.shape
        if merge == "reshape" or split == "reshape":
            return t.reshape(b, n, d_model)
        return t.transpose(1, 2).reshape(b, n, d_model)

    q, k, v = cut(ref.w_q(query)), cut(ref.w_k(key)), cut(ref.w_v(value))
    scores = q @ k.transpose(-2, -1)  # (B, H, L_q, L_k)
    scores = scores / {"d_head": math.sqrt(d_head), "d_model": math.sqrt(d_model), "none": 1.0}[scale]
    if mask is not None:
        scores = scores.masked_fill(~(mask.unsqueeze(1) if mask.dim() == 3 else mask), float("-inf"))
    weights = softmax(scores, dim=softmax_dim)
    heads = join(weights @ v)
    return (ref.w_o(heads) if project else heads), weights


def _mistake_knobs() -> dict[str, dict]:
    """Each known mistake's name (in the language in force) and the knobs of _variant that make it."""
    return {
        tr("heads split along the wrong axis (a reshape to (B, H, L, d_head) without the transpose)",
           "头沿错误的轴拆分（reshape 成 (B, H, L, d_head) 却没有转置）"): dict(split="reshape"),
        tr("heads merged without the inverse transpose", "合并头时没有做逆转置"): dict(merge="reshape"),
        tr("scores not scaled by 1/sqrt(d_head)", "分数没有乘以 1/sqrt(d_head) 缩放"): dict(scale="none"),
        tr("scores scaled by 1/sqrt(d_model) instead of 1/sqrt(d_head)",
           "分数按 1/sqrt(d_model) 缩放，而不是 1/sqrt(d_head)"): dict(scale="d_model"),
        tr("softmax over the wrong axis (over the queries instead of the keys)",
           "softmax 沿错了轴（在查询上而不是在键上）"): dict(softmax_dim=-2),
        tr("a missing output projection w_o", "缺少输出投影 w_o"): dict(project=False),
    }


def _mistakes(ref, query, key, value, mask=None, which: int = 0) -> dict[str, Tensor]:
    out = {}
    for description, knobs in _mistake_knobs().items():
        try:
            out[description] = _variant(ref, query, key, value, mask, **knobs)[which].detach()
        except RuntimeError:  # e.g. a wrong reshape that cannot happen for these shapes
            continue
    return out


def _build(candidate, d_model: int, num_heads: int, ref: MultiHeadAttention):
    """Instantiate the learner's class and copy the reference weights into it by name."""
    model = candidate(d_model, num_heads)
    if not isinstance(model, nn.Module):
        raise CaseFailed(tr(f"MultiHeadAttention(...) should build an nn.Module; got {type(model).__name__}",
                            f"MultiHeadAttention(...) 应构造一个 nn.Module；得到的是 {type(model).__name__}"))
    model = model.double()
    with torch.no_grad():
        for name in _PROJECTIONS:
            linear = getattr(model, name, None)
            if not isinstance(linear, nn.Linear) or tuple(linear.weight.shape) != (d_model, d_model):
                raise CaseFailed(
                    tr(f"self.{name} should be nn.Linear(d_model, d_model) = nn.Linear({d_model}, {d_model}); "
                       f"got {linear!r}",
                       f"self.{name} 应是 nn.Linear(d_model, d_model) = nn.Linear({d_model}, "
                       f"{d_model})；得到的是 {linear!r}")
                )
            if linear.bias is None:
                raise CaseFailed(tr(f"self.{name} should have a bias (bias=True is the default)",
                                    f"self.{name} 应带偏置（默认 bias=True）"))
            source = getattr(ref, name)
            linear.weight.copy_(source.weight)
            linear.bias.copy_(source.bias)
    return model.eval()


def _call(model, query, key, value, mask=None):
    result = model(query, key, value) if mask is None else model(query, key, value, mask=mask)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise CaseFailed(tr("forward should return a pair (out, weights)", "forward 应返回二元组 (out, weights)"))
    return result


@exercise("multihead.MultiHeadAttention", name="MultiHeadAttention", chapter="04")
def _(candidate, g: Grader):
    """H scaled dot-product heads in parallel, concatenated and projected by W^O."""
    hint = (tr("project with w_q/w_k/w_v, split into heads, attend per head with scores / sqrt(d_head) "
               "and a softmax over the keys, merge the heads, then apply w_o",
               "用 w_q/w_k/w_v 投影，拆分成多个头，每个头用 scores / sqrt(d_head)"
               " 和在键上的 softmax 计算注意力，合并各头，再施加 w_o"))
    d_model, num_heads = 12, 3
    ref = _reference(g, d_model, num_heads)

    with g.case(tr("has w_q, w_k, w_v, w_o as nn.Linear(d_model, d_model)",
                   "有 w_q、w_k、w_v、w_o 四个 nn.Linear(d_model, d_model)")):
        _build(candidate, d_model, num_heads, ref)

    x = g.randn(2, 5, d_model)
    expected, expected_w = ref(x, x, x)
    with g.case(tr("self-attention: out matches the reference", "自注意力：out 与参考实现一致"), points=2):
        out, _ = _call(_build(candidate, d_model, num_heads, ref), x, x, x)
        g.assert_close(out, expected, hint=hint, mistakes=_mistakes(ref, x, x, x), what="out")
    with g.case(tr("self-attention: weights are per head, shape (B, H, L_q, L_k)",
                   "自注意力：weights 按头给出，形状为 (B, H, L_q, L_k)")):
        _, weights = _call(_build(candidate, d_model, num_heads, ref), x, x, x)
        g.assert_close(weights, expected_w, hint=hint, mistakes=_mistakes(ref, x, x, x, which=1), what="weights")

    query, key, value = g.randn(2, 3, d_model), g.randn(2, 6, d_model), g.randn(2, 6, d_model)
    with g.case(tr("cross-attention: 3 queries attend over 6 keys (L_q != L_k)",
                   "交叉注意力：3 个查询关注 6 个键（L_q != L_k）"), points=2):
        out, weights = _call(_build(candidate, d_model, num_heads, ref), query, key, value)
        g.assert_close(out, ref(query, key, value)[0], hint=hint,
                       mistakes=_mistakes(ref, query, key, value), what="out")
        g.assert_close(weights, ref(query, key, value)[1], hint=hint,
                       mistakes=_mistakes(ref, query, key, value, which=1), what="weights")

    mask = g.rand_mask(2, 3, 6, p=0.6)
    mask[:, :, 0] = True  # every query keeps a key here; the next case tests the empty row
    with g.case(tr("a boolean mask (B, L_q, L_k), True = may attend, shared by every head",
                   "布尔掩码 (B, L_q, L_k)，True = 可以关注，所有头共用")):
        out, _ = _call(_build(candidate, d_model, num_heads, ref), query, key, value, mask)
        g.assert_close(out, ref(query, key, value, mask=mask)[0],
                       hint=hint + tr("; give the mask a head axis (B, 1, L_q, L_k) before masking the scores",
                                      "；在掩蔽分数之前给掩码加一个头轴 (B, 1, L_q, L_k)"),
                       mistakes={tr("the mask inverted (True should mean 'may attend')",
                                    "掩码反了（True 应表示“可以关注”）"):
                                 ref(query, key, value, mask=~mask)[0]} | _mistakes(ref, query, key, value, mask),
                       what="out")
    square = g.rand_mask(3, 6, p=0.6)
    square[:, 1] = True
    with g.case(tr("a 2-D (L_q, L_k) mask, shared by every batch element and head",
                   "二维的 (L_q, L_k) 掩码，所有批量元素和所有头共用")):
        out, weights = _call(_build(candidate, d_model, num_heads, ref), query, key, value, square)
        # mask.unsqueeze(1), right for (B, L_q, L_k), turns (L_q, L_k) into (L_q, 1, L_k): with H = L_q
        # here it broadcasts silently, query row h masking every query of head h.
        as_3d = {tr("the 2-D mask given a head axis as if it were (B, L_q, L_k) (unsqueeze(1)); an (L_q, L_k) "
                    "mask already lines up with the scores' last two axes",
                    "二维掩码被当作 (B, L_q, L_k) 加了头轴（unsqueeze(1)）；(L_q, L_k)"
                    " 掩码本来就与分数的最后两个轴对齐"):
                 _variant(ref, query, key, value, square[None, :, None, :])[1].detach()}
        g.assert_close(weights, ref(query, key, value, mask=square)[1], what="weights", mistakes=as_3d,
                       hint=tr("a 2-D mask has no batch axis: it must line up with the last two axes of the "
                               "(B, H, L_q, L_k) scores (broadcasting aligns from the right)",
                               "二维掩码没有批量轴：它必须与 (B, H, L_q, L_k) 分数的最后两个轴对齐（广播从右边对齐）"))
        g.assert_close(out, ref(query, key, value, mask=square)[0], what="out", hint=hint)
    empty = mask.clone()
    empty[1, 2] = False
    with g.case(tr("a query whose keys are all masked gets zero weights (not NaN)",
                   "所有键都被掩蔽的查询得到零权重（不是 NaN）")):
        _, weights = _call(_build(candidate, d_model, num_heads, ref), query, key, value, empty)
        g.assert_close(weights, ref(query, key, value, mask=empty)[1], what="weights",
                       hint=tr("softmax over a row of -inf is 0/0; a row with no allowed key should give all-zero "
                               "weights (course_lib.attention.masked_softmax does this)",
                               "对一行 -inf 做 softmax 是 0/0；没有可关注键的行应得到全零权重（course_lib.attention.masked_softmax "
                               "就是这样做的）"))

    d_model, num_heads = 16, 8
    ref = _reference(g, d_model, num_heads)
    x = g.randn(1, 4, d_model)
    with g.case(tr("8 heads of width 2 (d_model=16)", "8 个宽度为 2 的头（d_model=16）")):
        out, _ = _call(_build(candidate, d_model, num_heads, ref), x, x, x)
        g.assert_close(out, ref(x, x, x)[0], hint=hint, mistakes=_mistakes(ref, x, x, x), what="out")
    with g.case(tr("raises ValueError when d_model=12 is not divisible by num_heads=5",
                   "d_model=12 不能被 num_heads=5 整除时抛出 ValueError")):
        g.expect_value_error(lambda: candidate(12, 5),
                             tr("check that num_heads divides d_model first, and name num_heads",
                                "先检查 num_heads 能否整除 d_model，并写明 num_heads"))
