"""The chapter 2 grader checks: correct versions pass, each known mistake fails and is named.

The four exercises of ``course_lib/grading/checks/complexity.py`` count parameters of one
attention, recurrent and convolutional layer, and evaluate a row of Table 1 of *Attention Is
All You Need*. Wrong versions below change one thing in a right count.
"""

import math

import pytest

from course_lib import complexity as cx
from course_lib.grading import check

from grading_helpers import assert_full_marks, assert_mistake_named, assert_stub_scores_zero

EXERCISES = ["complexity.attention_layer_params", "complexity.recurrent_layer_params",
             "complexity.conv1d_layer_params", "complexity.layer_complexity"]
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


# -- right versions, written differently from solutions/02_why_attention.ipynb ------------------
def _attention_ok(d_model, *, bias=True):
    return 4 * (d_model * d_model + (d_model if bias else 0))


def _recurrent_ok(kind, d_model, *, bias=True):
    gates = {"rnn": 1, "gru": 3, "lstm": 4}
    if kind not in gates:
        raise ValueError(f"kind={kind!r}")
    w_ih = w_hh = d_model * d_model
    b = d_model if bias else 0
    return gates[kind] * (w_ih + w_hh + 2 * b)


def _conv_ok(d_model, kernel_size, *, bias=True):
    return d_model * (d_model * kernel_size + int(bias))


def _complexity_ok(kind, n, d, k=3, r=None):
    if kind == "self_attention":
        return (n * n * d, 1, 1)
    if kind == "recurrent":
        return (n * d * d, n, n)
    if kind == "convolutional":
        # a small epsilon absorbs the float error of log at exact powers of k
        return (k * n * d * d, 1, math.ceil(math.log(n, k) - 1e-9))
    return (r * n * d, 1, math.ceil(n / r))


def _complexity_int_ok(kind, n, d, k=3, r=None):
    """Integers only: the smallest power of k that reaches n, and a ceiling by adding r - 1."""
    rows = {"self_attention": [n * n * d, 1, 1], "recurrent": [n * d * d, n, n]}
    if kind == "convolutional":
        layers = 0
        while k**layers < n:
            layers += 1
        rows[kind] = [k * n * d * d, 1, layers]
    if kind == "restricted_self_attention":
        rows[kind] = [r * n * d, 1, (n + r - 1) // r]
    return rows[kind]


@pytest.mark.parametrize(
    "exercise_id, candidate",
    [
        ("complexity.attention_layer_params", _attention_ok),
        ("complexity.recurrent_layer_params", _recurrent_ok),
        ("complexity.conv1d_layer_params", _conv_ok),
        ("complexity.layer_complexity", _complexity_ok),
        ("complexity.layer_complexity", _complexity_int_ok),
        ("complexity.attention_layer_params", cx.attention_layer_params),
        ("complexity.recurrent_layer_params", cx.recurrent_layer_params),
        ("complexity.conv1d_layer_params", cx.conv1d_layer_params),
        ("complexity.layer_complexity", cx.layer_complexity),
    ],
)
def test_correct_candidates_pass(exercise_id, candidate):
    assert_full_marks(exercise_id, candidate)


# -- wrong versions --------------------------------------------------------------------------
def _recurrent(gates=GATES, *, per_gate=lambda d, bias: 2 * d * d + 2 * d * bias, extra=lambda d, bias: 0):
    """A recurrent count with the gates per kind and the count per gate given; no kind check."""
    return lambda kind, d, bias=True: gates[kind] * per_gate(d, bias) + extra(d, bias)


def _row(kind, wrong):
    """Table 1 right except the row ``kind``, which ``wrong(n, d, k, r)`` computes."""
    return lambda name, n, d, k=3, r=None: wrong(n, d, k, r) if name == kind else cx.layer_complexity(name, n, d, k, r)


def _conv_path(layers):
    return _row("convolutional", lambda n, d, k, r: (k * n * d * d, 1, layers(n, k)))


def _restricted_path(layers):
    return _row("restricted_self_attention", lambda n, d, k, r: (r * n * d, 1, layers(n, r)))


def _layers_past_n(n, k):  # the loop runs while reach <= n: one layer too many at n = k**m
    layers, reach = 0, 1
    while reach <= n:
        reach, layers = reach * k, layers + 1
    return layers


NAMED = [
    ("complexity.attention_layer_params", lambda d, bias=True: 4 * d * d, "biases are missing"),
    ("complexity.attention_layer_params", lambda d, bias=True: 3 * d * d + 3 * d * bias, "output projection"),
    ("complexity.attention_layer_params", lambda d, bias=True: 4 * d * d + d * bias, "only one bias vector"),
    ("complexity.attention_layer_params", lambda d, bias=True: 4 * d * d + 4 * d, "biases are still counted"),
    ("complexity.recurrent_layer_params", _recurrent({"rnn": 1, "gru": 3, "lstm": 3}), "LSTM counted with three gates"),
    ("complexity.recurrent_layer_params", _recurrent({"rnn": 1, "gru": 4, "lstm": 4}), "GRU counted with four gates"),
    ("complexity.recurrent_layer_params", _recurrent({"rnn": 1, "gru": 1, "lstm": 1}),
     "LSTM counted with a single gate"),
    ("complexity.recurrent_layer_params", _recurrent(per_gate=lambda d, bias: 2 * d * d + d * bias),
     "one bias per gate"),
    ("complexity.recurrent_layer_params", _recurrent(per_gate=lambda d, bias: 2 * d * d), "biases are missing"),
    ("complexity.recurrent_layer_params", _recurrent(per_gate=lambda d, bias: d * d + 2 * d * bias),
     "hidden-to-hidden matrices W_h are missing"),
    ("complexity.recurrent_layer_params", _recurrent(per_gate=lambda d, bias: d * d + d * bias),
     "no input-to-hidden matrices"),
    ("complexity.recurrent_layer_params", _recurrent(per_gate=lambda d, bias: 2 * d * d + 2 * d),
     "biases are still counted"),
    ("complexity.conv1d_layer_params", lambda d, k, bias=True: d * d + d * bias, "kernel size is missing"),
    ("complexity.conv1d_layer_params", lambda d, k, bias=True: k * d * d + k * d * bias, "bias per kernel position"),
    ("complexity.conv1d_layer_params", lambda d, k, bias=True: k * d * d, "the bias is missing"),
    ("complexity.conv1d_layer_params", lambda d, k, bias=True: k * d + d * bias, "depthwise convolution"),
    ("complexity.conv1d_layer_params", lambda d, k, bias=True: k * d * d + d, "the bias is still counted"),
    ("complexity.layer_complexity", _row("self_attention", lambda n, d, k, r: (n * d * d, 1, 1)),
     "n and d are swapped"),
    ("complexity.layer_complexity", _row("self_attention", lambda n, d, k, r: (n * n * d, 1, n)),
     "path length grows with n"),
    ("complexity.layer_complexity", _row("recurrent", lambda n, d, k, r: (n * n * d, n, n)), "n and d are swapped"),
    ("complexity.layer_complexity", _row("recurrent", lambda n, d, k, r: (n * d * d, 1, n)),
     "steps are counted as parallel"),
    ("complexity.layer_complexity",
     _row("convolutional", lambda n, d, k, r: (n * d * d, 1, cx.layer_complexity("convolutional", n, d, k)[2])),
     "kernel size is missing from the complexity"),
    ("complexity.layer_complexity", _conv_path(lambda n, k: math.ceil(n / k)), "contiguous kernels"),
    ("complexity.layer_complexity", _conv_path(lambda n, k: int(math.log(n, k))), "layer count is rounded down"),
    ("complexity.layer_complexity", _conv_path(lambda n, k: math.ceil(math.log(n) / math.log(k))),
     "floating point overshoots"),
    # the notebook's hint warns about math.log(125, 5); other logarithms overshoot elsewhere
    ("complexity.layer_complexity", _conv_path(lambda n, k: math.ceil(math.log2(n) / math.log2(k))),
     "floating point overshoots"),
    ("complexity.layer_complexity", _conv_path(lambda n, k: math.ceil(math.log10(n) / math.log10(k))),
     "floating point overshoots"),
    ("complexity.layer_complexity", _restricted_path(lambda n, r: n // r), "path length is rounded down"),
    ("complexity.layer_complexity", _restricted_path(lambda n, r: n // r + 1), "one layer too many when r divides n"),
]


@pytest.mark.parametrize("exercise_id, candidate, hint", NAMED)
def test_known_mistakes_fail_with_a_hint_naming_them(exercise_id, candidate, hint):
    assert_mistake_named(exercise_id, candidate, hint)


def test_every_exercise_has_named_mistakes():
    assert sorted({exercise_id for exercise_id, _, _ in NAMED}) == sorted(EXERCISES)


OTHER_WRONG = {
    "attention: bias as an extra row and column": (
        "complexity.attention_layer_params", lambda d, bias=True: 4 * (d + bias) ** 2),
    "attention: one bias number per projection": (
        "complexity.attention_layer_params", lambda d, bias=True: 4 * d * d + 4 * bias),
    "recurrent: an LSTM with a fifth gate for the cell state": (
        "complexity.recurrent_layer_params", _recurrent({"rnn": 1, "gru": 3, "lstm": 5})),
    "recurrent: an extra bias vector for the layer": (
        "complexity.recurrent_layer_params", _recurrent(extra=lambda d, bias: d * bias)),
    "conv: kernel size off by one": (
        "complexity.conv1d_layer_params", lambda d, k, bias=True: (k - 1) * d * d + d * bias),
    "conv: one bias number": ("complexity.conv1d_layer_params", lambda d, k, bias=True: k * d * d + bias),
    "table: a loop that stops one layer late": ("complexity.layer_complexity", _conv_path(_layers_past_n)),
    "table: floor(log) + 1 for the ceiling": (
        "complexity.layer_complexity", _conv_path(lambda n, k: int(math.log(n, k)) + 1)),
    "table: (n + r) // r for the ceiling": ("complexity.layer_complexity", _restricted_path(lambda n, r: (n + r) // r)),
    "table: restricted attention with d squared": (
        "complexity.layer_complexity",
        _row("restricted_self_attention", lambda n, d, k, r: (r * n * d * d, 1, -(-n // r)))),
    "table: recurrent path length 1": (
        "complexity.layer_complexity", _row("recurrent", lambda n, d, k, r: (n * d * d, n, 1))),
    "table: self-attention sequential in n": (
        "complexity.layer_complexity", _row("self_attention", lambda n, d, k, r: (n * n * d, n, 1))),
    "table: restricted attention using k for r": (
        "complexity.layer_complexity",
        _row("restricted_self_attention", lambda n, d, k, r: (k * n * d, 1, -(-n // k)))),
}


@pytest.mark.parametrize("exercise_id, candidate", OTHER_WRONG.values(), ids=OTHER_WRONG.keys())
def test_other_plausible_wrong_versions_fail(exercise_id, candidate):
    result = check(exercise_id, candidate, quiet=True)
    assert not result.passed and result.points < result.max_points, result.cases


def test_recurrent_check_requires_value_error_for_unknown_kind():
    def no_validation(kind, d, bias=True):
        return {"rnn": 1, "gru": 3, "lstm": 4}.get(kind, 0) * (2 * d * d + 2 * d * bias)

    result = check("complexity.recurrent_layer_params", no_validation, quiet=True)
    assert result.max_points - result.points == 1 and "ValueError" in result.message
    key_error = check("complexity.recurrent_layer_params", _recurrent(), quiet=True)  # GATES[kind] raises KeyError
    assert key_error.max_points - key_error.points == 1 and "KeyError" in key_error.message


def test_a_row_that_is_not_three_numbers_fails_without_crashing():
    result = check("complexity.layer_complexity",
                   lambda kind, n, d, k=3, r=None: cx.layer_complexity(kind, n, d, k, r)._asdict(), quiet=True)
    assert result.points == 0 and all("should be three numbers; got dict" in m for _, _, m in result.cases)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_unimplemented_scores_zero_without_crashing(exercise_id):
    assert_stub_scores_zero(exercise_id, "02")
