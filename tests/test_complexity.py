"""Tests for course_lib.complexity: counts against torch.nn, Table 1 against hand-computed numbers.

The grader's checks of the chapter-2 exercises are tested in test_grading_complexity.py.
"""

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import complexity as cx


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
    with pytest.raises(ValueError, match=rf"^{name}=.*; expected "):
        call()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: cx.attention_layer_params(True), r"^d_model=True; expected a positive int"),
        (lambda: cx.recurrent_layer_params("LSTM", 8), r"^kind='LSTM'; expected one of 'rnn', 'lstm', 'gru'$"),
        (lambda: cx.layer_complexity("convolutional", 4, 4, k=1), r"^k=1; expected a kernel size of at least 2"),
        (lambda: cx.layer_complexity("convolutional", 4, 4, k=2.0), r"^k=2.0; expected a kernel size"),
        (lambda: cx.layer_complexity("restricted_self_attention", 4, 4), r"^r=None; expected the neighbourhood size"),
        (lambda: cx.layer_complexity("restricted_self_attention", 4, 4, r=0), r"^r=0; expected a positive int"),
        (lambda: cx.long_range_task(4, 5, 5, 3), r"^distance=5; expected an int in \[0, seq_len=5\)$"),
        (lambda: cx.long_range_task(4, 5, True, 3), r"^distance=True; expected an int in \[0, seq_len=5\)"),
        (lambda: cx.long_range_task(4, 5, 1, 1), r"^vocab=1; expected an int >= 2"),
    ],
)
def test_error_messages_say_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_sizes_may_be_numpy_or_tensor_integers():
    d = np.int64(8)
    counts = (cx.attention_layer_params(d), cx.recurrent_layer_params("gru", torch.tensor(8)),
              cx.conv1d_layer_params(d, np.int32(3)))
    assert counts == (cx.attention_layer_params(8), cx.recurrent_layer_params("gru", 8), cx.conv1d_layer_params(8, 3))
    assert all(type(c) is int for c in counts)
    cost = cx.layer_complexity("convolutional", np.int64(27), d, k=torch.tensor(3))
    assert cost == (3 * 27 * 64, 1, 3) and all(type(v) is int for v in cost)
    x, y = cx.long_range_task(np.int64(3), np.int64(5), np.int64(2), torch.tensor(4))
    assert x.shape == (3, 5) and torch.equal(y, x[:, 2])
