"""Checks for chapter 1 (注意力的本质): softmax, scores, scaled dot-product, kernel regression.

Each exercise is graded against :mod:`course_lib.attention` on seeded random inputs with
the shapes learners get wrong: extra leading batch dimensions, ``L_q != L_k``,
``d_v != d_k``, masks with fully masked rows and logits of about ±1e4. Every plausible wrong
implementation we know of is passed as a ``mistakes=`` entry, so that the hint names it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib import attention as ref
from course_lib.grading.registry import Grader, exercise
from course_lib.i18n import tr

# The names of known mistakes, shared by several exercises (tests look for these words). Each is a
# function, so that its text is made when a case fails, in the language in force then; the function
# itself is the mistake's identity (``mistake == wrong_axis``).
def wrong_axis() -> str:
    return tr("weights normalised over the queries instead of the keys (softmax along the wrong axis)",
              "权重在查询上归一化，而不是在键上（softmax 沿错了轴）")


def no_scale() -> str:
    return tr("scores not scaled by 1/sqrt(d_k)",
              "分数没有乘以 1/sqrt(d_k) 缩放")


def scale_by_d() -> str:
    return tr("scores divided by d_k instead of sqrt(d_k)",
              "分数除以了 d_k，而不是 sqrt(d_k)")


def mask_after() -> str:
    return tr("the mask applied after the softmax (masked weights zeroed but the rest not renormalised)",
              "掩码在 softmax 之后才施加（被掩蔽的权重置零了，但其余权重没有重新归一化）")


def mask_inverted() -> str:
    return tr("the mask's meaning inverted (True means the query may attend to that key)",
              "掩码的含义反了（True 表示该查询可以关注那个键）")


def full_row_uniform() -> str:
    return (tr("a fully masked query spreading its weight evenly over the masked keys "
               "(it should get zero weights and a zero output)",
               "完全被掩蔽的查询把权重平均分给了被掩蔽的键（它应得到全零的权重和零输出）"))


def overflow() -> str:
    return (tr("exp() overflowing or underflowing for scores of about ±1e4 (no max-subtraction?): "
               "a softmax is unchanged when every score of one query is shifted by the same amount",
               "分数约为 ±1e4 时 exp() 上溢或下溢（没有先减去最大值？）：同一查询的所有分数平移同一个量，"
               "softmax 不变"))


def not_a_pair() -> str:
    return tr("return a pair (out, weights)",
              "返回一个二元组 (out, weights)")


def sum_to_one() -> str:
    return tr("each query's weights should be non-negative and sum to one over the keys (the last axis)",
              "每个查询的权重应非负，且在键上（最后一个轴）和为 1")


# -- shared helpers ------------------------------------------------------------------------
def _pair(g: Grader, result) -> tuple[Tensor, Tensor]:
    g.expect(isinstance(result, (tuple, list)) and len(result) == 2,
             tr(f"{not_a_pair()}; got {type(result).__name__}",
                f"{not_a_pair()}；得到的是 {type(result).__name__}"))
    return result[0], result[1]


def _assert_pair(g: Grader, result, expected: tuple[Tensor, Tensor], *, hint: str,
                 mistakes: dict[str, tuple[Tensor, Tensor]] | None = None) -> None:
    """Compare the weights first (they show most mistakes), then the output."""
    out, weights = _pair(g, result)
    mistakes = mistakes or {}
    g.assert_close(weights, expected[1], what="weights", hint=hint,
                   mistakes={name: wrong[1] for name, wrong in mistakes.items()})
    g.assert_close(out, expected[0], what="out", hint=hint,
                   mistakes={name: wrong[0] for name, wrong in mistakes.items()})


def _expect_normalised(g: Grader, weights, mask: Tensor | None = None) -> None:
    g.expect(isinstance(weights, Tensor), tr(f"weights should be a torch.Tensor; got {type(weights).__name__}",
                                             f"weights 应是 torch.Tensor，得到的是 {type(weights).__name__}"))
    weights = weights.detach().to(torch.float64)
    g.expect(not torch.isnan(weights).any(), tr(f"weights contain NaN. {sum_to_one()}",
                                                f"weights 含有 NaN。{sum_to_one()}"))
    g.expect((weights >= 0).all(), tr(f"some weights are negative. {sum_to_one()}",
                                      f"有些权重为负。{sum_to_one()}"))
    # A query with no allowed key sums to zero instead.
    target = torch.ones(weights.shape[:-1], dtype=torch.float64)
    if mask is not None:
        target = mask.expand(weights.shape).any(dim=-1).to(torch.float64)
    sums = weights.sum(dim=-1)
    g.expect(sums.shape == target.shape and torch.allclose(sums, target, atol=1e-6),
             tr(f"the weights do not sum to one over the keys. {sum_to_one()}",
                f"权重在键上的和不为 1。{sum_to_one()}"))


def _some_key_per_query(g: Grader, *shape: int) -> Tensor:
    """A random mask with at least one allowed key in every query row."""
    mask = g.rand_mask(*shape, p=0.6)
    keep = g.randint(0, shape[-1], *shape[:-1])  # one key per query that is always allowed
    return mask | torch.nn.functional.one_hot(keep, shape[-1]).bool()


def _with_full_rows(g: Grader, *shape: int, rows: tuple[int, ...]) -> Tensor:
    mask = _some_key_per_query(g, *shape)
    mask[..., list(rows), :] = False  # these queries may attend to nothing
    return mask


def _weights_from_scores(scores: Tensor, mask: Tensor | None, mistake=None) -> Tensor:
    """Attention weights computed right (``mistake=None``) or in one known wrong way."""
    if mistake == wrong_axis:
        return ref.softmax(scores if mask is None else scores.masked_fill(~mask, float("-inf")), dim=-2)
    if mistake == mask_after:
        return ref.softmax(scores) * mask
    if mistake == mask_inverted:
        return ref.masked_softmax(scores, ~mask)
    if mistake == full_row_uniform:
        return ref.softmax(scores.masked_fill(~mask, -1e9))
    return ref.masked_softmax(scores, mask)


def _attend(scores: Tensor, v: Tensor, mask: Tensor | None, mistake=None):
    weights = _weights_from_scores(scores, mask, mistake)
    return weights @ v, weights


# -- softmax -------------------------------------------------------------------------------
@exercise("attention.softmax", name="softmax", chapter="01",
          description="softmax(x, dim=-1): a numerically stable softmax along one axis")
def _softmax(candidate, g: Grader) -> None:
    x = g.randn(4, 7)
    with g.case(tr("a random (4, 7) input, normalised along the last axis",
                   "随机的 (4, 7) 输入，沿最后一个轴归一化")):
        g.assert_close(candidate(x), ref.softmax(x), hint=tr("each row should become positive weights summing to one",
                                                             "每一行都应变成和为 1 的正权重"),
                       mistakes={tr("normalising over the wrong axis (dim=0)",
                                    "在错误的轴上归一化（dim=0）"): ref.softmax(x, dim=0)})

    x = g.randn(2, 3, 5)
    with g.case(tr("extra leading batch dimensions, shape (2, 3, 5)",
                   "额外的前导批量维，形状 (2, 3, 5)")):
        g.assert_close(candidate(x), ref.softmax(x), hint=tr("only the last axis is normalised; the others are batch axes",
                                                             "只归一化最后一个轴；其余都是批量轴"),
                       mistakes={tr("normalising over the wrong axis (dim=0)",
                                    "在错误的轴上归一化（dim=0）"): ref.softmax(x, dim=0),
                                 tr("normalising over the wrong axis (dim=1)",
                                    "在错误的轴上归一化（dim=1）"): ref.softmax(x, dim=1),
                                 tr("normalising over all entries at once instead of along one axis",
                                    "对所有元素一起归一化，而不是沿一个轴"):
                                     ref.softmax(x.flatten(), dim=0).reshape(x.shape)})

    x = g.randn(2, 5, 3)
    with g.case(tr("the `dim` argument: shape (2, 5, 3) with dim=1",
                   "参数 `dim`：形状 (2, 5, 3)，dim=1")):
        g.assert_close(candidate(x, dim=1), ref.softmax(x, dim=1), hint=tr("normalise along the axis `dim` names",
                                                                           "沿 `dim` 指定的轴归一化"),
                       mistakes={tr("the `dim` argument ignored (normalising the last axis)",
                                    "忽略了参数 `dim`（归一化的是最后一个轴）"): ref.softmax(x, dim=-1),
                                 tr("normalising over the wrong axis (dim=0)",
                                    "在错误的轴上归一化（dim=0）"): ref.softmax(x, dim=0)})

    x = 1e4 * g.randn(3, 6)
    x[2] = -1e4 + g.randn(6)  # a row where every logit is very negative: exp underflows to 0
    with g.case(tr("logits of about ±1e4 neither overflow nor give NaN",
                   "约 ±1e4 的 logits 既不溢出也不产生 NaN")):
        g.assert_close(candidate(x), ref.softmax(x), hint=tr(f"looks like {overflow()}",
                                                             f"看起来是{overflow()}"))

    x = g.randn(3, 5)
    x[0, 1] = x[2, 0] = x[2, 4] = float("-inf")  # masked-out logits
    with g.case(tr("-inf logits get exactly zero weight and the rest still sum to one",
                   "-inf 的 logit 权重恰为零，其余仍和为 1")):
        g.assert_close(candidate(x), ref.softmax(x), hint=tr("exp(-inf) is 0: a -inf logit should simply drop out",
                                                             "exp(-inf) 为 0：-inf 的 logit 应当直接被剔除"))

    x = g.randn(4, 5)
    x[1] = float("-inf")  # a query whose keys are all masked
    x[3, :4] = float("-inf")
    with g.case(tr("a slice of only -inf (a query with every key masked) gives zeros, not NaN",
                   "只含 -inf 的切片（所有键都被掩蔽的查询）得到零，而不是 NaN")):
        g.assert_close(candidate(x), ref.softmax(x),
                       hint=tr("every exp() in that slice is 0, so the sum is 0 and 0 / 0 is NaN: such a slice "
                               "must come out as zeros, and the other slices as usual",
                               "这个切片里每个 exp() 都是 0，和为 0，而 0 / 0 是 NaN：这样的切片必须输出零，"
                               "其他切片照常"))

    x = g.randn(3, 4)
    before = x.clone()
    with g.case(tr("the input tensor is left unchanged",
                   "输入张量保持不变")):
        candidate(x)
        g.expect(torch.equal(x, before), tr("your softmax changed the tensor it was given: "
                                            "look for an in-place operation on the input",
                                            "你的 softmax 修改了传给它的张量：检查是否对输入做了原地操作"))

    x = g.randn(3, 5)
    with g.case(tr("written without PyTorch's own softmax (the task's rule for this exercise)",
                   "不使用 PyTorch 自带的 softmax（本练习的规则）")):
        expected = ref.softmax(x)
        with g.spying(**{"torch.softmax": (torch, "softmax"), "F.softmax": (torch.nn.functional, "softmax"),
                         "Tensor.softmax": (torch.Tensor, "softmax"),
                         "torch.special.softmax": (torch.special, "softmax")}) as called:
            got = candidate(x)
        g.expect(not called, tr("your softmax calls PyTorch's own softmax; this exercise asks you to write it "
                                "from exp() and a sum (from exercise 3 on, the built-in one is allowed)",
                                "你的 softmax 调用了 PyTorch 自带的 softmax；本练习要求用 exp() "
                                "和求和自己写（从练习 3 起可以用内置的）"))
        g.assert_close(got, expected, hint=tr("each row should become positive weights summing to one",
                                              "每一行都应变成和为 1 的正权重"))

    x = g.randn(2, 6, dtype=torch.float32)
    with g.case(tr("float32 in, float32 out (and float64 in, float64 out: every other case)",
                   "输入 float32 则输出 float32（输入 float64 则输出 float64：其余各项）")):
        g.assert_close(candidate(x), ref.softmax(x), hint=tr("keep the input's dtype",
                                                             "保持输入的 dtype"), rtol=1e-5, atol=1e-6)


# -- dot_product_scores ----------------------------------------------------------------------
@exercise("attention.dot_product_scores", name="dot_product_scores", chapter="01",
          description="dot_product_scores(q, k): every query's dot product with every key")
def _dot_product_scores(candidate, g: Grader) -> None:
    hint = tr("scores[..., i, j] should be the dot product of query i with key j",
              "scores[..., i, j] 应是查询 i 与键 j 的点积")

    def mistakes(q, k):
        return {tr("queries and keys swapped (k q^T instead of q k^T)",
                   "查询和键交换了（算成了 k q^T 而不是 q k^T）"): k @ q.transpose(-2, -1),
                tr("scores already scaled by 1/sqrt(d_k) (scaling belongs to the attention function)",
                   "分数已经按 1/sqrt(d_k) 缩放（缩放属于注意力函数的工作）"):
                    (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])}

    q, k = g.randn(5, 4), g.randn(6, 4)
    with g.case(tr("q (5, 4) against k (6, 4): L_q != L_k",
                   "q (5, 4) 对 k (6, 4)：L_q != L_k")):
        g.assert_close(candidate(q, k), ref.dot_product_scores(q, k), hint=hint, mistakes=mistakes(q, k))

    q, k = g.randn(2, 3, 5, 4), g.randn(2, 3, 6, 4)
    with g.case(tr("leading batch dimensions: q (2, 3, 5, 4), k (2, 3, 6, 4)",
                   "前导批量维：q (2, 3, 5, 4)，k (2, 3, 6, 4)")):
        g.assert_close(candidate(q, k), ref.dot_product_scores(q, k),
                       hint=hint + tr("; transpose only the last two axes of k",
                                      "；只转置 k 的最后两个轴"), mistakes=mistakes(q, k))

    q, k = g.randn(2, 1, 3), g.randn(2, 7, 3)
    with g.case(tr("a single query per batch: q (2, 1, 3), k (2, 7, 3)",
                   "每个批量只有一个查询：q (2, 1, 3)，k (2, 7, 3)")):
        g.assert_close(candidate(q, k), ref.dot_product_scores(q, k),
                       hint=hint + tr("; keep the query axis even when L_q = 1",
                                      "；L_q = 1 时也要保留查询轴"), mistakes=mistakes(q, k))


# -- scaled_dot_product_attention ----------------------------------------------------------------
def _sdpa_mistakes(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, names: tuple):
    raw = q @ k.transpose(-2, -1)  # (..., L_q, L_k), unscaled
    d_k = q.shape[-1]
    scaled = raw / math.sqrt(d_k)
    table = {}
    for name in names:
        if name == no_scale:
            table[name()] = _attend(raw, v, mask)
        elif name == scale_by_d:
            table[name()] = _attend(raw / d_k, v, mask)
        else:
            table[name()] = _attend(scaled, v, mask, mistake=name)
    return table


@exercise("attention.scaled_dot_product_attention", name="scaled_dot_product_attention", chapter="01",
          description="scaled_dot_product_attention(q, k, v, mask=None) -> (out, weights)")
def _scaled_dot_product_attention(candidate, g: Grader) -> None:
    hint = (tr("look at how the scores are scaled and along which axis they are normalised; "
               "each output row mixes the values with that query's weights",
               "看看分数是怎样缩放的、沿哪个轴归一化；每个输出行都是用该查询的权重对值加权混合"))
    unmasked = (no_scale, scale_by_d, wrong_axis)

    q, k, v = g.randn(2, 5, 8), g.randn(2, 6, 8), g.randn(2, 6, 3)
    with g.case(tr("q (2, 5, 8), k (2, 6, 8), v (2, 6, 3): L_q != L_k and d_v != d_k",
                   "q (2, 5, 8)，k (2, 6, 8)，v (2, 6, 3)：L_q != L_k 且 "
                   "d_v != d_k")):
        _assert_pair(g, candidate(q, k, v), ref.scaled_dot_product_attention(q, k, v), hint=hint,
                     mistakes=_sdpa_mistakes(q, k, v, None, unmasked))

    q, k, v = g.randn(2, 3, 4, 6), g.randn(2, 3, 5, 6), g.randn(2, 3, 5, 2)
    with g.case(tr("two leading batch dimensions (B, H) = (2, 3)",
                   "两个前导批量维 (B, H) = (2, 3)")):
        _assert_pair(g, candidate(q, k, v), ref.scaled_dot_product_attention(q, k, v), hint=hint,
                     mistakes=_sdpa_mistakes(q, k, v, None, unmasked))

    q, k, v = 70 * g.randn(2, 4, 4), 70 * g.randn(2, 5, 4), g.randn(2, 5, 3)
    with g.case(tr("scaled scores of about ±1e4 neither overflow nor give NaN",
                   "约 ±1e4 的缩放分数既不溢出也不产生 NaN")):
        _assert_pair(g, candidate(q, k, v), ref.scaled_dot_product_attention(q, k, v),
                     hint=tr(f"looks like {overflow()}",
                             f"看起来是{overflow()}"), mistakes=_sdpa_mistakes(q, k, v, None, unmasked))

    q, k, v = g.randn(2, 5, 4), g.randn(2, 6, 4), g.randn(2, 6, 3)
    mask = _some_key_per_query(g, 2, 5, 6)
    with g.case(tr("a (B, L_q, L_k) mask; True means the query may attend to that key",
                   "(B, L_q, L_k) 的掩码；True 表示该查询可以关注那个键")):
        _assert_pair(g, candidate(q, k, v, mask=mask), ref.scaled_dot_product_attention(q, k, v, mask),
                     hint=tr("masked keys must get zero weight and the allowed ones must still sum to one",
                             "被掩蔽的键权重必须为零，允许的键权重仍须和为 1"),
                     mistakes=_sdpa_mistakes(q, k, v, mask, (mask_after, mask_inverted, no_scale, wrong_axis)))

    q, k, v = g.randn(5, 4), g.randn(7, 4), g.randn(7, 2)
    mask = _some_key_per_query(g, 5, 7)
    with g.case(tr("an (L_q, L_k) mask without batch dimensions",
                   "不带批量维的 (L_q, L_k) 掩码")):
        _assert_pair(g, candidate(q, k, v, mask=mask), ref.scaled_dot_product_attention(q, k, v, mask),
                     hint=tr("masked keys must get zero weight and the allowed ones must still sum to one",
                             "被掩蔽的键权重必须为零，允许的键权重仍须和为 1"),
                     mistakes=_sdpa_mistakes(q, k, v, mask, (mask_after, mask_inverted)))

    q, k, v = g.randn(2, 5, 4), g.randn(2, 6, 4), g.randn(2, 6, 3)
    mask = _with_full_rows(g, 2, 5, 6, rows=(1, 3))
    with g.case(tr("fully masked queries get zero weights and a zero output, never NaN",
                   "完全被掩蔽的查询得到零权重和零输出，绝不是 NaN")):
        _assert_pair(g, candidate(q, k, v, mask=mask), ref.scaled_dot_product_attention(q, k, v, mask),
                     hint=tr("a query whose keys are all masked should get all-zero weights and a zero output",
                             "所有键都被掩蔽的查询应得到全零的权重和零输出"),
                     mistakes=_sdpa_mistakes(q, k, v, mask, (full_row_uniform, mask_after, mask_inverted)))

    q, k, v = g.randn(3, 4, 5), g.randn(3, 6, 5), g.randn(3, 6, 2)
    mask = _with_full_rows(g, 3, 4, 6, rows=(2,))
    with g.case(tr("the weights are non-negative and sum to one over the keys",
                   "权重非负，且在键上和为 1")):
        _, weights = _pair(g, candidate(q, k, v, mask=mask))
        _expect_normalised(g, weights, mask)


# -- nadaraya_watson -----------------------------------------------------------------------
def nw_no_half() -> str:
    return tr("the 1/2 missing from the Gaussian kernel's exponent",
              "高斯核指数里漏了 1/2")


def nw_not_squared() -> str:
    return tr("the distance not squared (|x - x_i| where the kernel needs the squared distance)",
              "距离没有平方（用了 |x - x_i|，而核需要距离的平方）")


def nw_sign() -> str:
    return tr("the exponent's sign flipped (far keys weighted more than near ones)",
              "指数的符号反了（远的键比近的键权重更大）")


def nw_sigma() -> str:
    return tr("dividing by the bandwidth instead of its square",
              "除以了带宽，而不是带宽的平方")


def nw_no_bandwidth() -> str:
    return tr("the bandwidth argument ignored",
              "忽略了带宽参数")


def _nw(queries: Tensor, keys: Tensor, values: Tensor, bandwidth: float, mistake=None):
    diff = queries.unsqueeze(-1) - keys.unsqueeze(-2)  # (..., L_q, L_k)
    logits = {
        None: -(diff**2) / (2 * bandwidth**2),
        nw_no_half: -(diff**2) / bandwidth**2,
        nw_not_squared: -diff.abs() / (2 * bandwidth**2),
        nw_sign: diff**2 / (2 * bandwidth**2),
        nw_sigma: -(diff**2) / (2 * bandwidth),
        nw_no_bandwidth: -(diff**2) / 2,
        wrong_axis: -(diff**2) / (2 * bandwidth**2),
    }[mistake]
    weights = ref.softmax(logits, dim=-2 if mistake == wrong_axis else -1)
    return (weights @ values.unsqueeze(-1)).squeeze(-1), weights


def _nw_mistakes(queries, keys, values, bandwidth, names):
    return {name(): _nw(queries, keys, values, bandwidth, name) for name in names}


@exercise("attention.nadaraya_watson", name="nadaraya_watson", chapter="01",
          description="nadaraya_watson(queries, keys, values, *, bandwidth=1.0) -> (out, weights)")
def _nadaraya_watson(candidate, g: Grader) -> None:
    hint = (tr("each query's weights are a softmax over the keys of the Gaussian kernel's exponent, "
               "which depends on the query-key distance and the bandwidth",
               "每个查询的权重是高斯核指数在键上的 softmax，指数取决于查询与键的距离和带宽"))

    queries, keys, values = g.randn(5), 2 * g.randn(8), g.randn(8)
    with g.case(tr("5 queries, 8 keys, default bandwidth",
                   "5 个查询、8 个键，默认带宽")):
        _assert_pair(g, candidate(queries, keys, values),
                     ref.nadaraya_watson(queries, keys, values), hint=hint,
                     mistakes=_nw_mistakes(queries, keys, values, 1.0,
                                           (nw_no_half, nw_not_squared, nw_sign, wrong_axis)))

    queries, keys, values = g.randn(4), 2 * g.randn(7), g.randn(7)
    with g.case("bandwidth=0.5"):
        _assert_pair(g, candidate(queries, keys, values, bandwidth=0.5),
                     ref.nadaraya_watson(queries, keys, values, bandwidth=0.5), hint=hint,
                     mistakes=_nw_mistakes(queries, keys, values, 0.5,
                                           (nw_sigma, nw_no_bandwidth, nw_no_half, nw_not_squared)))

    queries, keys, values = g.randn(3, 5), 2 * g.randn(3, 8), g.randn(3, 8)
    with g.case(tr("a leading batch dimension: queries (3, 5), keys and values (3, 8), bandwidth=2.0",
                   "一个前导批量维：queries (3, 5)，keys 和 values (3, 8)，bandwidth=2.0")):
        _assert_pair(g, candidate(queries, keys, values, bandwidth=2.0),
                     ref.nadaraya_watson(queries, keys, values, bandwidth=2.0),
                     hint=hint + tr("; compare queries and keys within each batch element only",
                                    "；只在同一个批量元素内比较查询和键"),
                     mistakes=_nw_mistakes(queries, keys, values, 2.0, (nw_sigma, nw_no_half, wrong_axis)))

    queries, keys, values = g.randn(2, 4), g.randn(2, 6), g.randn(2, 6, 3)
    with g.case(tr("a vector per key: values (2, 6, 3) give out (2, 4, 3)",
                   "每个键对应一个向量：values (2, 6, 3) 得到 out (2, 4, 3)")):
        expected = ref.nadaraya_watson(queries, keys, values, bandwidth=0.7)
        _assert_pair(g, candidate(queries, keys, values, bandwidth=0.7), expected,
                     hint=tr("with values of shape (..., L_k, d_v) each output is a weighted sum of value "
                             "vectors: out has shape (..., L_q, d_v)",
                             "values 的形状为 (..., L_k, d_v) 时，每个输出是值向量的加权和：out 的形状为 "
                             "(..., L_q, d_v)"))

    keys, values = g.randn(6), g.randn(6)
    queries = torch.tensor([0.0, 150.0, -150.0], dtype=torch.float64)  # exponents around -1e4
    with g.case(tr("queries far from every key (exponents of about -1e4) give no NaN",
                   "离所有键都很远的查询（指数约为 -1e4）不产生 NaN")):
        _assert_pair(g, candidate(queries, keys, values), ref.nadaraya_watson(queries, keys, values),
                     hint=tr(f"looks like {overflow()}",
                             f"看起来是{overflow()}"))

    queries, keys, values = g.randn(2, 6), g.randn(2, 4), g.randn(2, 4)
    with g.case(tr("the weights are non-negative and sum to one over the keys",
                   "权重非负，且在键上和为 1")):
        _, weights = _pair(g, candidate(queries, keys, values, bandwidth=0.8))
        _expect_normalised(g, weights)


# -- additive_attention --------------------------------------------------------------------
def add_no_tanh() -> str:
    return tr("the tanh missing from the additive score",
              "加性分数里漏了 tanh")


def add_swapped() -> str:
    return tr("w_q and w_k swapped (w_q projects the queries, w_k the keys)",
              "w_q 和 w_k 交换了（w_q 投影查询，w_k 投影键）")


def _additive(q, k, v, w_q, w_k, w_v, mask=None, mistake=None):
    if mistake == add_swapped:
        w_q, w_k = w_k, w_q
    hidden = (q @ w_q).unsqueeze(-2) + (k @ w_k).unsqueeze(-3)  # (..., L_q, L_k, h)
    scores = (hidden if mistake == add_no_tanh else torch.tanh(hidden)) @ w_v  # (..., L_q, L_k)
    return _attend(scores, v, mask, mistake if mistake not in (add_no_tanh, add_swapped) else None)


def _additive_case(g: Grader, candidate, q, k, v, *, h: int, mask=None, names=(), hint: str) -> None:
    w_q, w_k, w_v = g.randn(q.shape[-1], h), g.randn(k.shape[-1], h), g.randn(h)
    expected = ref.additive_attention(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask)
    mistakes = {name(): _additive(q, k, v, w_q, w_k, w_v, mask, name) for name in names}
    kwargs = {"w_q": w_q, "w_k": w_k, "w_v": w_v}
    if mask is not None:
        kwargs["mask"] = mask
    _assert_pair(g, candidate(q, k, v, **kwargs), expected, hint=hint, mistakes=mistakes)


@exercise("attention.additive_attention", name="additive_attention", chapter="01",
          description="additive_attention(q, k, v, *, w_q, w_k, w_v, mask=None) -> (out, weights)")
def _additive_attention(candidate, g: Grader) -> None:
    hint = (tr("score each query-key pair with the small network w_v · tanh(projected query + projected key), "
               "then softmax over the keys",
               "用小网络 w_v · tanh(投影后的查询 + 投影后的键) 给每个查询-键对打分，再在键上做 "
               "softmax"))
    masked_hint = tr("masked keys must get zero weight and the allowed ones must still sum to one",
                     "被掩蔽的键权重必须为零，允许的键权重仍须和为 1")

    q, k, v = g.randn(2, 3, 4), g.randn(2, 5, 4), g.randn(2, 5, 3)
    with g.case(tr("queries and keys of the same width: q (2, 3, 4), k (2, 5, 4)",
                   "查询和键宽度相同：q (2, 3, 4)，k (2, 5, 4)")):
        _additive_case(g, candidate, q, k, v, h=6, names=(add_swapped, add_no_tanh, wrong_axis), hint=hint)

    q, k, v = g.randn(2, 4, 3), g.randn(2, 6, 5), g.randn(2, 6, 2)
    with g.case(tr("queries and keys of different widths: q (2, 4, 3), k (2, 6, 5), v (2, 6, 2)",
                   "查询和键宽度不同：q (2, 4, 3)，k (2, 6, 5)，v (2, 6, 2)")):
        _additive_case(g, candidate, q, k, v, h=7, names=(add_no_tanh, wrong_axis), hint=hint)

    q, k, v = g.randn(2, 2, 3, 4), g.randn(2, 2, 5, 3), g.randn(2, 2, 5, 2)
    with g.case(tr("two leading batch dimensions (2, 2)",
                   "两个前导批量维 (2, 2)")):
        _additive_case(g, candidate, q, k, v, h=5, names=(add_no_tanh, wrong_axis), hint=hint)

    q, k, v = g.randn(2, 4, 3), g.randn(2, 6, 3), g.randn(2, 6, 2)
    mask = _some_key_per_query(g, 2, 4, 6)
    with g.case(tr("a (B, L_q, L_k) mask; True means the query may attend to that key",
                   "(B, L_q, L_k) 的掩码；True 表示该查询可以关注那个键")):
        _additive_case(g, candidate, q, k, v, h=5, mask=mask, names=(mask_after, mask_inverted), hint=masked_hint)

    q, k, v = g.randn(2, 4, 3), g.randn(2, 6, 3), g.randn(2, 6, 2)
    mask = _with_full_rows(g, 2, 4, 6, rows=(0, 2))
    with g.case(tr("fully masked queries get zero weights and a zero output, never NaN",
                   "完全被掩蔽的查询得到零权重和零输出，绝不是 NaN")):
        _additive_case(g, candidate, q, k, v, h=5, mask=mask,
                       names=(full_row_uniform, mask_after, mask_inverted),
                       hint=tr("a query whose keys are all masked should get all-zero weights and a zero output",
                               "所有键都被掩蔽的查询应得到全零的权重和零输出"))

    q, k, v = g.randn(3, 5, 2), g.randn(3, 4, 2), g.randn(3, 4, 3)
    w_q, w_k, w_v = g.randn(2, 4), g.randn(2, 4), g.randn(4)
    with g.case(tr("the weights are non-negative and sum to one over the keys",
                   "权重非负，且在键上和为 1")):
        _, weights = _pair(g, candidate(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v))
        _expect_normalised(g, weights)
