"""Checks for chapter 2: parameter counts and the per-layer cost table (course_lib.complexity)."""

from __future__ import annotations

from collections.abc import Mapping

from course_lib.complexity import (
    RECURRENT_GATES,
    attention_layer_params,
    conv1d_layer_params,
    layer_complexity,
    recurrent_layer_params,
)
from course_lib.grading.registry import CaseFailed, Grader, exercise
from course_lib.i18n import tr


def _expect_equal(g: Grader, got, expected, *, what: str, hint: str, mistakes: Mapping[str, object] | None = None) -> None:
    """Fail unless ``got == expected``; name the mistake when ``got`` equals a known wrong answer."""
    if isinstance(expected, tuple):  # a LayerCost: any 3-sequence of numbers will do
        try:
            got = tuple(int(v) if float(v) == int(v) else v for v in got)
        except (TypeError, ValueError):  # not iterable, or holds something that is not a number
            raise CaseFailed(tr(f"{what} should be three numbers; got {type(got).__name__}",
                                f"{what} 应是三个数；得到的是 {type(got).__name__}")) from None
    elif isinstance(got, float) and got.is_integer():
        got = int(got)
    if got == expected:
        return
    for description, wrong in (mistakes or {}).items():
        if wrong != expected and got == wrong:
            raise CaseFailed(tr(f"{what}: looks like {description}. {hint}",
                                f"{what}：看起来是{description}。{hint}"))
    g.expect(False, tr(f"{what} = {got!r} is not the reference count. {hint}",
                       f"{what} = {got!r} 不是参考答案的计数。{hint}"))


@exercise("complexity.attention_layer_params", name="attention_layer_params", chapter="02")
def _(candidate, g: Grader):
    """Count the parameters of one self-attention layer (W^Q, W^K, W^V, W^O and biases)."""
    for d in (8, 64, 512):
        with g.case(tr(f"matches nn.MultiheadAttention at d_model={d}",
                       f"d_model={d} 时与 nn.MultiheadAttention 一致")):
            _expect_equal(
                g, candidate(d), attention_layer_params(d), what=f"attention_layer_params({d})",
                hint=tr("count every projection matrix and its bias vector",
                        "数出每个投影矩阵及其偏置向量"),
                mistakes={
                    tr("the biases are missing",
                       "漏了偏置"): 4 * d * d,
                    tr("the output projection W^O is missing",
                       "漏了输出投影 W^O"): 3 * d * d + 3 * d,
                    tr("only one bias vector for the whole layer",
                       "整个层只算了一个偏置向量"): 4 * d * d + d,
                },
            )
    with g.case(tr("bias=False counts the matrices only",
                   "bias=False 时只数矩阵")):
        d = 32
        _expect_equal(
            g, candidate(d, bias=False), attention_layer_params(d, bias=False),
            what=f"attention_layer_params({d}, bias=False)", hint=tr("without biases only the matrices remain",
                                                                     "没有偏置时只剩下矩阵"),
            mistakes={tr("the biases are still counted",
                         "仍然数了偏置"): attention_layer_params(d)},
        )


@exercise("complexity.recurrent_layer_params", name="recurrent_layer_params", chapter="02")
def _(candidate, g: Grader):
    """Count the parameters of one nn.RNN / nn.LSTM / nn.GRU layer with input size = hidden size."""
    for kind, d in (("rnn", 16), ("lstm", 16), ("lstm", 100), ("gru", 16), ("gru", 64)):
        gates = RECURRENT_GATES[kind]
        mistakes = {
            tr("the biases are missing",
               "漏了偏置"): gates * 2 * d * d,
            tr("one bias per gate; torch keeps two (b_ih and b_hh)",
               "每个门一个偏置；torch 存了两个（b_ih 和 b_hh）"): gates * (2 * d * d + d),
            tr("the hidden-to-hidden matrices W_h are missing",
               "漏了隐藏到隐藏的矩阵 W_h"): gates * (d * d + 2 * d),
            tr("no input-to-hidden matrices and biases only once",
               "没有输入到隐藏的矩阵，且偏置只算了一次"): gates * (d * d + d),
        }
        for wrong_gates, name in ((3, tr("three gates", "三个门")), (4, tr("four gates", "四个门")),
                                  (1, tr("a single gate", "只有一个门"))):
            if wrong_gates != gates:
                mistakes[tr(f"{kind.upper()} counted with {name}",
                            f"按 {name} 数出的 {kind.upper()}")] = wrong_gates * (2 * d * d + 2 * d)
        with g.case(tr(f"matches nn.{kind.upper()} at d_model={d}",
                       f"d_model={d} 时与 nn.{kind.upper()} 一致")):
            _expect_equal(
                g, candidate(kind, d), recurrent_layer_params(kind, d), what=f"recurrent_layer_params({kind!r}, {d})",
                hint=tr("count the gates of the cell, and for each gate every matrix and bias torch stores",
                        "数出单元的门，再对每个门数出 torch 存储的每个矩阵和偏置"),
                mistakes=mistakes,
            )
    with g.case(tr("bias=False drops b_ih and b_hh",
                   "bias=False 时去掉 b_ih 和 b_hh")):
        _expect_equal(
            g, candidate("lstm", 10, bias=False), recurrent_layer_params("lstm", 10, bias=False),
            what="recurrent_layer_params('lstm', 10, bias=False)", hint=tr("without biases only the matrices remain",
                                                                           "没有偏置时只剩下矩阵"),
            mistakes={tr("the biases are still counted",
                         "仍然数了偏置"): recurrent_layer_params("lstm", 10)},
        )
    with g.case(tr("an unknown kind raises ValueError naming `kind`",
                   "未知的 kind 抛出写明 `kind` 的 ValueError")):
        g.expect_value_error(lambda: candidate("transformer", 8),
                             tr("kind='transformer' is not a recurrent layer: raise ValueError naming the argument",
                                "kind='transformer' 不是循环层：抛出写明该参数的 ValueError"),
                             naming="kind")


@exercise("complexity.conv1d_layer_params", name="conv1d_layer_params", chapter="02")
def _(candidate, g: Grader):
    """Count the parameters of one nn.Conv1d(d_model, d_model, kernel_size)."""
    for d, k in ((16, 3), (64, 5), (8, 1), (32, 7)):
        with g.case(tr(f"matches nn.Conv1d at d_model={d}, kernel_size={k}",
                       f"d_model={d}、kernel_size={k} 时与 nn.Conv1d 一致")):
            _expect_equal(
                g, candidate(d, k), conv1d_layer_params(d, k), what=f"conv1d_layer_params({d}, {k})",
                hint=tr("each output channel looks at every input channel at each of the k positions",
                        "每个输出通道在 k 个位置上都要看每个输入通道"),
                mistakes={
                    tr("the kernel size is missing",
                       "漏了卷积核大小"): d * d + d,
                    tr("the bias is missing",
                       "漏了偏置"): k * d * d,
                    tr("a bias per kernel position; there is one per output channel",
                       "每个卷积核位置一个偏置；实际上每个输出通道只有一个"): k * d * d + k * d,
                    tr("one filter per channel (a depthwise convolution)",
                       "每个通道一个滤波器（深度卷积）"): k * d + d,
                },
            )
    with g.case(tr("bias=False counts the filters only",
                   "bias=False 时只数滤波器")):
        _expect_equal(
            g, candidate(20, 3, bias=False), conv1d_layer_params(20, 3, bias=False),
            what="conv1d_layer_params(20, 3, bias=False)", hint=tr("without biases only the filters remain",
                                                                   "没有偏置时只剩下滤波器"),
            mistakes={tr("the bias is still counted",
                         "仍然数了偏置"): conv1d_layer_params(20, 3)},
        )


@exercise("complexity.layer_complexity", name="layer_complexity", chapter="02")
def _(candidate, g: Grader):
    """Evaluate a row of Table 1 (complexity, sequential ops, max path length) at given sizes."""
    d = 16
    _self_attention_and_recurrent_rows(candidate, g, 100, d)
    _convolutional_rows(candidate, g, d)
    _restricted_rows(candidate, g, d)


def _self_attention_and_recurrent_rows(candidate, g: Grader, n: int, d: int) -> None:
    with g.case(tr("self-attention row",
                   "自注意力这一行")):
        _expect_equal(
            g, candidate("self_attention", n, d), tuple(layer_complexity("self_attention", n, d)),
            what=f"layer_complexity('self_attention', {n}, {d})",
            hint=tr("every position is scored against every position with a length-d dot product",
                    "每个位置都要用长度为 d 的点积与每个位置打分"),
            mistakes={
                tr("n and d are swapped in the complexity",
                   "复杂度里把 n 和 d 弄反了"): (n * d * d, 1, 1),
                tr("the path length grows with n",
                   "路径长度随 n 增长"): (n * n * d, 1, n),
            },
        )
    with g.case(tr("recurrent row",
                   "循环层这一行")):
        _expect_equal(
            g, candidate("recurrent", n, d), tuple(layer_complexity("recurrent", n, d)),
            what=f"layer_complexity('recurrent', {n}, {d})",
            hint=tr("each of the n steps multiplies a d x d matrix by a vector and waits for the previous step",
                    "n 步中的每一步都要用 d x d 矩阵乘一个向量，并等待前一步"),
            mistakes={
                tr("n and d are swapped in the complexity",
                   "复杂度里把 n 和 d 弄反了"): (n * n * d, n, n),
                tr("the steps are counted as parallel",
                   "把这些步当成了可以并行"): (n * d * d, 1, n),
            },
        )


def _convolutional_rows(candidate, g: Grader, d: int) -> None:
    # 125 = 5**3, 243 = 3**5 and 512 = 8**3 are exact powers at which a floating-point log_k n
    # overshoots: math.log(n, k) at the first, log2(n) / log2(k) at the second, log10 at the third.
    for k, n in ((3, 100), (5, 125), (5, 30), (3, 243), (8, 512)):
        exact = layer_complexity("convolutional", n, d, k=k)
        mistakes = {
            tr("the kernel size is missing from the complexity",
               "复杂度里漏了卷积核大小"): (n * d * d, 1, exact[2]),
            tr("contiguous kernels (n/k); Table 1 uses dilated ones (log_k n)",
               "用的是连续卷积核 (n/k)；表 1 用的是空洞卷积核 (log_k n)"): (exact[0], 1, -(-n // k)),
            tr("the layer count is rounded down",
               "层数被向下取整了"): (exact[0], 1, exact[2] - 1),
        }
        if k ** exact[2] == n:  # the float error shows only where log_k n is a whole number
            mistakes[tr("log_k n computed in floating point overshoots at an exact power",
                        "用浮点数计算 log_k n，在恰为整数次幂时会偏大")] = (exact[0], 1, exact[2] + 1)
        with g.case(tr(f"convolutional row, k={k}, n={n}",
                       f"卷积层这一行，k={k}，n={n}")):
            _expect_equal(
                g, candidate("convolutional", n, d, k=k), tuple(exact),
                what=f"layer_complexity('convolutional', {n}, {d}, k={k})",
                hint=tr("with dilated kernels each layer multiplies the reach by k; round the layer count up",
                        "用空洞卷积核时每一层把感受范围乘以 k；层数要向上取整"),
                mistakes=mistakes,
            )


def _restricted_rows(candidate, g: Grader, d: int, r: int = 8) -> None:
    for n in (100, 96):  # 96 = 12 * 8: where r divides n, n // r + 1 is one layer too many
        with g.case(tr(f"restricted self-attention row, r={r}, n={n}",
                       f"受限自注意力这一行，r={r}，n={n}")):
            _expect_equal(
                g, candidate("restricted_self_attention", n, d, r=r),
                tuple(layer_complexity("restricted_self_attention", n, d, r=r)),
                what=f"layer_complexity('restricted_self_attention', {n}, {d}, r={r})",
                hint=tr("each position scores only r neighbours; reaching n positions takes n/r layers, rounded up",
                        "每个位置只给 r 个邻居打分；覆盖 n 个位置需要 n/r 层，向上取整"),
                mistakes={
                    tr("the path length is rounded down",
                       "路径长度被向下取整了"): (r * n * d, 1, n // r),
                    tr("one layer too many when r divides n (n // r + 1 is not a ceiling)",
                       "r 整除 n 时多算了一层（n // r + 1 不是向上取整）"): (r * n * d, 1, n // r + 1),
                },
            )
