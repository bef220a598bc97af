"""Tests for course_lib.complexity: counts against torch.nn, Table 1 against hand-computed numbers."""

import math

import pytest
import torch
from torch import nn

from course_lib import complexity as cx
from course_lib.grading import check


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


WIDTHS = [1, 3, 8, 64, 100]


# -- parameter counts against real torch.nn modules -------------------------------------------

@pytest.mark.parametrize("d", WIDTHS)
@pytest.mark.parametrize("bias", [True, False])
def test_attention_params_match_multihead_attention(d, bias):
    assert cx.attention_layer_params(d, bias=bias) == numel(nn.MultiheadAttention(d, 1, bias=bias))


def test_attention_params_do_not_depend_on_heads():
    counts = {numel(nn.MultiheadAttention(64, h)) for h in (1, 2, 4, 8, 16)}
    assert counts == {cx.attention_layer_params(64)}


@pytest.mark.parametrize("d", WIDTHS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind, module", [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_recurrent_params_match_torch(kind, module, d, bias):
    assert cx.recurrent_layer_params(kind, d, bias=bias) == numel(module(d, d, bias=bias))


def test_recurrent_params_hand_computed():
    # d = 10: LSTM 8*100 + 8*10, GRU 6*100 + 6*10, RNN 2*100 + 2*10
    assert cx.recurrent_layer_params("lstm", 10) == 880
    assert cx.recurrent_layer_params("gru", 10) == 660
    assert cx.recurrent_layer_params("rnn", 10) == 220


@pytest.mark.parametrize("d", WIDTHS)
@pytest.mark.parametrize("k", [1, 3, 5, 7])
@pytest.mark.parametrize("bias", [True, False])
def test_conv1d_params_match_torch(d, k, bias):
    assert cx.conv1d_layer_params(d, k, bias=bias) == numel(nn.Conv1d(d, d, k, bias=bias))


def test_attention_beats_conv_only_for_small_kernels():
    d = 64
    assert cx.conv1d_layer_params(d, 3) < cx.attention_layer_params(d) < cx.conv1d_layer_params(d, 5)
    assert cx.attention_layer_params(d) < cx.recurrent_layer_params("lstm", d)


# -- Table 1 ----------------------------------------------------------------------------------

def test_layer_complexity_hand_computed():
    n, d = 10, 4
    assert cx.layer_complexity("self_attention", n, d) == (400, 1, 1)
    assert cx.layer_complexity("recurrent", n, d) == (160, 10, 10)
    assert cx.layer_complexity("convolutional", n, d, k=3) == (480, 1, 3)  # 3**2 < 10 <= 3**3
    assert cx.layer_complexity("restricted_self_attention", n, d, r=4) == (160, 1, 3)  # ceil(10/4)
    cost = cx.layer_complexity("recurrent", n, d)
    assert (cost.complexity, cost.sequential_ops, cost.max_path_length) == (160, 10, 10)


@pytest.mark.parametrize("k, n, layers", [(3, 27, 3), (3, 28, 4), (5, 125, 3), (10, 1000, 3), (2, 1, 0), (2, 2, 1)])
def test_conv_path_length_is_exact_at_powers(k, n, layers):
    # math.log(125, 5) = 3.0000000000000004: a float ceiling would say 4
    assert cx.layer_complexity("convolutional", n, 8, k=k).max_path_length == layers


def test_attention_cheaper_than_recurrent_only_when_n_below_d():
    d = 512
    for n in (64, 511):
        assert cx.layer_complexity("self_attention", n, d).complexity < cx.layer_complexity("recurrent", n, d).complexity
    assert cx.layer_complexity("self_attention", 512, d).complexity == cx.layer_complexity("recurrent", 512, d).complexity
    assert cx.layer_complexity("self_attention", 4096, d).complexity > cx.layer_complexity("recurrent", 4096, d).complexity


# -- the long-range task ----------------------------------------------------------------------

@pytest.mark.parametrize("distance", [0, 1, 5, 11])
def test_long_range_labels(distance):
    g = torch.Generator().manual_seed(0)
    x, y = cx.long_range_task(50, 12, distance, 7, generator=g)
    assert x.shape == (50, 12) and y.shape == (50,)
    assert x.dtype == torch.int64 and x.min() >= 0 and x.max() < 7
    for row, label in zip(x.tolist(), y.tolist()):
        assert label == row[len(row) - 1 - distance]


def test_long_range_is_seeded_and_label_is_a_copy():
    a = cx.long_range_task(8, 5, 2, 4, generator=torch.Generator().manual_seed(3))
    b = cx.long_range_task(8, 5, 2, 4, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    a[1][:] = -1
    assert (a[0] >= 0).all()


def test_classifiers_shapes_and_position_limit():
    torch.manual_seed(0)
    x = torch.randint(0, 5, (3, 9))
    assert cx.LSTMClassifier(5, 8)(x).shape == (3, 5)
    model = cx.AttentionClassifier(5, 8, max_len=9)
    assert model(x).shape == (3, 5)
    assert numel(model.attn) == cx.attention_layer_params(8)
    with pytest.raises(ValueError, match="max_len=9"):
        model(torch.randint(0, 5, (3, 10)))


def _grad_norm_per_position(model, e):
    e = e.clone().requires_grad_(True)
    model.from_embeddings(e).sum().backward()
    return e.grad[0].norm(dim=-1)  # (L,)


def test_attention_reaches_every_position_in_one_step_lstm_fades():
    # at initialisation, the output's gradient w.r.t. the first token is of the same order as
    # w.r.t. the last-but-one for attention (path length 1), but far smaller for an LSTM
    torch.manual_seed(0)
    e = torch.randn(1, 60, 16)
    attn = _grad_norm_per_position(cx.AttentionClassifier(6, 16, max_len=60), e)
    lstm = _grad_norm_per_position(cx.LSTMClassifier(6, 16), e)
    assert 0.1 < (attn[0] / attn[-2]).item() < 10
    assert (lstm[0] / lstm[-2]).item() < 1e-3


def test_from_embeddings_matches_forward():
    torch.manual_seed(0)
    x = torch.randint(0, 6, (2, 7))
    for model in (cx.LSTMClassifier(6, 8), cx.AttentionClassifier(6, 8, max_len=7)):
        torch.testing.assert_close(model(x), model.from_embeddings(model.embed(x)))


# -- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: cx.attention_layer_params(0), "d_model"),
        (lambda: cx.attention_layer_params(2.0), "d_model"),
        (lambda: cx.recurrent_layer_params("transformer", 8), "kind"),
        (lambda: cx.recurrent_layer_params("lstm", -1), "d_model"),
        (lambda: cx.conv1d_layer_params(8, 0), "kernel_size"),
        (lambda: cx.layer_complexity("mlp", 4, 4), "kind"),
        (lambda: cx.layer_complexity("self_attention", 0, 4), "n"),
        (lambda: cx.layer_complexity("convolutional", 4, 4, k=1), "k"),
        (lambda: cx.layer_complexity("restricted_self_attention", 4, 4), "r"),
        (lambda: cx.long_range_task(4, 5, 5, 3), "distance"),
        (lambda: cx.long_range_task(4, 5, -1, 3), "distance"),
        (lambda: cx.long_range_task(4, 5, 1, 1), "vocab"),
        (lambda: cx.long_range_task(0, 5, 1, 3), "num_samples"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=rf"^{name}="):
        call()


# -- the grader: reference-style solutions pass, plausible mistakes fail with the right hint ---

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


@pytest.mark.parametrize(
    "exercise_id, candidate",
    [
        ("complexity.attention_layer_params", _attention_ok),
        ("complexity.recurrent_layer_params", _recurrent_ok),
        ("complexity.conv1d_layer_params", _conv_ok),
        ("complexity.layer_complexity", _complexity_ok),
        ("complexity.attention_layer_params", cx.attention_layer_params),
        ("complexity.recurrent_layer_params", cx.recurrent_layer_params),
        ("complexity.conv1d_layer_params", cx.conv1d_layer_params),
        ("complexity.layer_complexity", cx.layer_complexity),
    ],
)
def test_correct_candidates_pass(exercise_id, candidate):
    result = check(exercise_id, candidate, quiet=True)
    assert result.passed and result.points == result.max_points, result.message


@pytest.mark.parametrize(
    "exercise_id, candidate, hint",
    [
        ("complexity.attention_layer_params", lambda d, bias=True: 4 * d * d, "biases are missing"),
        ("complexity.attention_layer_params", lambda d, bias=True: 3 * d * d + 3 * d * bias, "output projection"),
        ("complexity.recurrent_layer_params",
         lambda kind, d, bias=True: {"rnn": 1, "gru": 3, "lstm": 3}[kind] * (2 * d * d + 2 * d * bias),
         "LSTM counted with three gates"),
        ("complexity.recurrent_layer_params",
         lambda kind, d, bias=True: {"rnn": 1, "gru": 3, "lstm": 4}[kind] * (2 * d * d + d * bias),
         "one bias per gate"),
        ("complexity.recurrent_layer_params",
         lambda kind, d, bias=True: {"rnn": 1, "gru": 3, "lstm": 4}[kind] * 2 * d * d, "biases are missing"),
        ("complexity.conv1d_layer_params", lambda d, k, bias=True: d * d + d * bias, "kernel size is missing"),
        ("complexity.conv1d_layer_params", lambda d, k, bias=True: k * d * d + k * d * bias, "bias per kernel position"),
        ("complexity.layer_complexity",
         lambda kind, n, d, k=3, r=None: cx.layer_complexity(kind, n, d, k, r)._replace(
             max_path_length=math.ceil(n / k)) if kind == "convolutional" else cx.layer_complexity(kind, n, d, k, r),
         "contiguous kernels"),
        ("complexity.layer_complexity",
         lambda kind, n, d, k=3, r=None: (k * n * d * d, 1, math.ceil(math.log(n) / math.log(k)))
         if kind == "convolutional" else cx.layer_complexity(kind, n, d, k, r),
         "floating point overshoots"),
        ("complexity.layer_complexity",
         lambda kind, n, d, k=3, r=None: (n * d * d, 1, 1) if kind == "self_attention" else cx.layer_complexity(kind, n, d, k, r),
         "n and d are swapped"),
    ],
)
def test_plausible_mistakes_fail_with_a_hint_naming_them(exercise_id, candidate, hint):
    result = check(exercise_id, candidate, quiet=True)
    assert not result.passed
    assert any(hint in message for _, ok, message in result.cases if not ok), result.cases


def test_recurrent_check_requires_value_error_for_unknown_kind():
    def no_validation(kind, d, bias=True):
        return {"rnn": 1, "gru": 3, "lstm": 4}.get(kind, 0) * (2 * d * d + 2 * d * bias)

    result = check("complexity.recurrent_layer_params", no_validation, quiet=True)
    assert result.max_points - result.points == 1 and "ValueError" in result.message
