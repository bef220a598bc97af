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


def _expect_equal(g: Grader, got, expected, *, what: str, hint: str, mistakes: Mapping[str, object] | None = None) -> None:
    """Fail unless ``got == expected``; name the mistake when ``got`` equals a known wrong answer."""
    if isinstance(expected, tuple):  # a LayerCost: any 3-sequence of numbers will do
        try:
            got = tuple(int(v) if float(v) == int(v) else v for v in got)
        except (TypeError, ValueError):  # not iterable, or holds something that is not a number
            raise CaseFailed(f"{what} should be three numbers; got {type(got).__name__}") from None
    elif isinstance(got, float) and got.is_integer():
        got = int(got)
    if got == expected:
        return
    for description, wrong in (mistakes or {}).items():
        if wrong != expected and got == wrong:
            raise CaseFailed(f"{what}: looks like {description}. {hint}")
    g.expect(False, f"{what} = {got!r} is not the reference count. {hint}")


@exercise("complexity.attention_layer_params", name="attention_layer_params", chapter="02")
def _(candidate, g: Grader):
    """Count the parameters of one self-attention layer (W^Q, W^K, W^V, W^O and biases)."""
    for d in (8, 64, 512):
        with g.case(f"matches nn.MultiheadAttention at d_model={d}"):
            _expect_equal(
                g, candidate(d), attention_layer_params(d), what=f"attention_layer_params({d})",
                hint="count every projection matrix and its bias vector",
                mistakes={
                    "the biases are missing": 4 * d * d,
                    "the output projection W^O is missing": 3 * d * d + 3 * d,
                    "only one bias vector for the whole layer": 4 * d * d + d,
                },
            )
    with g.case("bias=False counts the matrices only"):
        d = 32
        _expect_equal(
            g, candidate(d, bias=False), attention_layer_params(d, bias=False),
            what=f"attention_layer_params({d}, bias=False)", hint="without biases only the matrices remain",
            mistakes={"the biases are still counted": attention_layer_params(d)},
        )


@exercise("complexity.recurrent_layer_params", name="recurrent_layer_params", chapter="02")
def _(candidate, g: Grader):
    """Count the parameters of one nn.RNN / nn.LSTM / nn.GRU layer with input size = hidden size."""
    for kind, d in (("rnn", 16), ("lstm", 16), ("lstm", 100), ("gru", 16), ("gru", 64)):
        gates = RECURRENT_GATES[kind]
        mistakes = {
            "the biases are missing": gates * 2 * d * d,
            "one bias per gate; torch keeps two (b_ih and b_hh)": gates * (2 * d * d + d),
            "the hidden-to-hidden matrices W_h are missing": gates * (d * d + 2 * d),
            "no input-to-hidden matrices and biases only once": gates * (d * d + d),
        }
        for wrong_gates, name in ((3, "three gates"), (4, "four gates"), (1, "a single gate")):
            if wrong_gates != gates:
                mistakes[f"{kind.upper()} counted with {name}"] = wrong_gates * (2 * d * d + 2 * d)
        with g.case(f"matches nn.{kind.upper()} at d_model={d}"):
            _expect_equal(
                g, candidate(kind, d), recurrent_layer_params(kind, d), what=f"recurrent_layer_params({kind!r}, {d})",
                hint="count the gates of the cell, and for each gate every matrix and bias torch stores",
                mistakes=mistakes,
            )
    with g.case("bias=False drops b_ih and b_hh"):
        _expect_equal(
            g, candidate("lstm", 10, bias=False), recurrent_layer_params("lstm", 10, bias=False),
            what="recurrent_layer_params('lstm', 10, bias=False)", hint="without biases only the matrices remain",
            mistakes={"the biases are still counted": recurrent_layer_params("lstm", 10)},
        )
    with g.case("an unknown kind raises ValueError naming `kind`"):
        g.expect_value_error(lambda: candidate("transformer", 8),
                             "kind='transformer' is not a recurrent layer: raise ValueError naming the argument",
                             naming="kind")


@exercise("complexity.conv1d_layer_params", name="conv1d_layer_params", chapter="02")
def _(candidate, g: Grader):
    """Count the parameters of one nn.Conv1d(d_model, d_model, kernel_size)."""
    for d, k in ((16, 3), (64, 5), (8, 1), (32, 7)):
        with g.case(f"matches nn.Conv1d at d_model={d}, kernel_size={k}"):
            _expect_equal(
                g, candidate(d, k), conv1d_layer_params(d, k), what=f"conv1d_layer_params({d}, {k})",
                hint="each output channel looks at every input channel at each of the k positions",
                mistakes={
                    "the kernel size is missing": d * d + d,
                    "the bias is missing": k * d * d,
                    "a bias per kernel position; there is one per output channel": k * d * d + k * d,
                    "one filter per channel (a depthwise convolution)": k * d + d,
                },
            )
    with g.case("bias=False counts the filters only"):
        _expect_equal(
            g, candidate(20, 3, bias=False), conv1d_layer_params(20, 3, bias=False),
            what="conv1d_layer_params(20, 3, bias=False)", hint="without biases only the filters remain",
            mistakes={"the bias is still counted": conv1d_layer_params(20, 3)},
        )


@exercise("complexity.layer_complexity", name="layer_complexity", chapter="02")
def _(candidate, g: Grader):
    """Evaluate a row of Table 1 (complexity, sequential ops, max path length) at given sizes."""
    d = 16
    _self_attention_and_recurrent_rows(candidate, g, 100, d)
    _convolutional_rows(candidate, g, d)
    _restricted_rows(candidate, g, d)


def _self_attention_and_recurrent_rows(candidate, g: Grader, n: int, d: int) -> None:
    with g.case("self-attention row"):
        _expect_equal(
            g, candidate("self_attention", n, d), tuple(layer_complexity("self_attention", n, d)),
            what=f"layer_complexity('self_attention', {n}, {d})",
            hint="every position is scored against every position with a length-d dot product",
            mistakes={
                "n and d are swapped in the complexity": (n * d * d, 1, 1),
                "the path length grows with n": (n * n * d, 1, n),
            },
        )
    with g.case("recurrent row"):
        _expect_equal(
            g, candidate("recurrent", n, d), tuple(layer_complexity("recurrent", n, d)),
            what=f"layer_complexity('recurrent', {n}, {d})",
            hint="each of the n steps multiplies a d x d matrix by a vector and waits for the previous step",
            mistakes={
                "n and d are swapped in the complexity": (n * n * d, n, n),
                "the steps are counted as parallel": (n * d * d, 1, n),
            },
        )


def _convolutional_rows(candidate, g: Grader, d: int) -> None:
    # 125 = 5**3, 243 = 3**5 and 512 = 8**3 are exact powers at which a floating-point log_k n
    # overshoots: math.log(n, k) at the first, log2(n) / log2(k) at the second, log10 at the third.
    for k, n in ((3, 100), (5, 125), (5, 30), (3, 243), (8, 512)):
        exact = layer_complexity("convolutional", n, d, k=k)
        mistakes = {
            "the kernel size is missing from the complexity": (n * d * d, 1, exact[2]),
            "contiguous kernels (n/k); Table 1 uses dilated ones (log_k n)": (exact[0], 1, -(-n // k)),
            "the layer count is rounded down": (exact[0], 1, exact[2] - 1),
        }
        if k ** exact[2] == n:  # the float error shows only where log_k n is a whole number
            mistakes["log_k n computed in floating point overshoots at an exact power"] = (exact[0], 1, exact[2] + 1)
        with g.case(f"convolutional row, k={k}, n={n}"):
            _expect_equal(
                g, candidate("convolutional", n, d, k=k), tuple(exact),
                what=f"layer_complexity('convolutional', {n}, {d}, k={k})",
                hint="with dilated kernels each layer multiplies the reach by k; round the layer count up",
                mistakes=mistakes,
            )


def _restricted_rows(candidate, g: Grader, d: int, r: int = 8) -> None:
    for n in (100, 96):  # 96 = 12 * 8: where r divides n, n // r + 1 is one layer too many
        with g.case(f"restricted self-attention row, r={r}, n={n}"):
            _expect_equal(
                g, candidate("restricted_self_attention", n, d, r=r),
                tuple(layer_complexity("restricted_self_attention", n, d, r=r)),
                what=f"layer_complexity('restricted_self_attention', {n}, {d}, r={r})",
                hint="each position scores only r neighbours; reaching n positions takes n/r layers, rounded up",
                mistakes={
                    "the path length is rounded down": (r * n * d, 1, n // r),
                    "one layer too many when r divides n (n // r + 1 is not a ceiling)": (r * n * d, 1, n // r + 1),
                },
            )
