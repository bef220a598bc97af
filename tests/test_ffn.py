"""Tests for course_lib.ffn: the position-wise feed-forward network and GELU.

References: the numpy twin ``numpy_ref.positionwise_ffn``, an explicit loop over positions,
``torch.nn.Conv1d`` with kernel size 1, ``torch.nn.functional.gelu`` and
``torch.nn.TransformerEncoderLayer``'s own feed-forward block.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import numpy_ref
from course_lib.ffn import PositionwiseFFN, gelu


def _ffn(d_model=6, d_ff=10, activation="relu", seed=0):
    torch.manual_seed(seed)
    return PositionwiseFFN(d_model, d_ff, activation=activation).double()


def _numpy_weights(ffn):
    """The paper's W1, b1, W2, b2 from torch's (out, in) Linear weights."""
    return (ffn.linear1.weight.detach().numpy().T, ffn.linear1.bias.detach().numpy(),
            ffn.linear2.weight.detach().numpy().T, ffn.linear2.bias.detach().numpy())


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_matches_numpy_twin(activation):
    ffn = _ffn(activation=activation)
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    expected = numpy_ref.positionwise_ffn(x.numpy(), *_numpy_weights(ffn), activation=activation)
    np.testing.assert_allclose(ffn(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_numpy_twin_hand_computed():
    # One position, d_model = 2, d_ff = 3: h = [1, -2, 0.5] -> relu [1, 0, 0.5] -> [1*1 + 0.5*2, 1*-1] + b2.
    x = np.array([[1.0, 2.0]])
    w1 = np.array([[1.0, 0.0, 0.5], [0.0, -1.0, 0.0]])
    b1 = np.array([0.0, 0.0, 0.0])
    w2 = np.array([[1.0, -1.0], [5.0, 5.0], [2.0, 0.0]])
    b2 = np.array([0.1, 0.2])
    np.testing.assert_allclose(numpy_ref.positionwise_ffn(x, w1, b1, w2, b2), [[2.1, -0.8]])
    gelu_h = np.array([1.0, -2.0, 0.5]) * 0.5 * (1 + np.array([math.erf(t / math.sqrt(2)) for t in (1.0, -2.0, 0.5)]))
    np.testing.assert_allclose(numpy_ref.positionwise_ffn(x, w1, b1, w2, b2, activation="gelu"), (gelu_h @ w2 + b2)[None])


def test_matches_an_explicit_loop_over_positions():
    ffn = _ffn(activation="relu")
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    w1, b1, w2, b2 = (p.detach() for p in (ffn.linear1.weight, ffn.linear1.bias, ffn.linear2.weight, ffn.linear2.bias))
    out = torch.empty_like(x)
    for b in range(2):
        for t in range(4):
            hidden = [max(0.0, float(w1[j] @ x[b, t] + b1[j])) for j in range(10)]
            out[b, t] = w2 @ torch.tensor(hidden, dtype=torch.float64) + b2
    torch.testing.assert_close(ffn(x).detach(), out)


def test_equals_a_kernel_size_one_convolution():
    ffn = _ffn()
    conv1 = torch.nn.Conv1d(6, 10, kernel_size=1, dtype=torch.float64)
    conv2 = torch.nn.Conv1d(10, 6, kernel_size=1, dtype=torch.float64)
    with torch.no_grad():
        conv1.weight.copy_(ffn.linear1.weight[:, :, None])  # (d_ff, d_model, 1)
        conv1.bias.copy_(ffn.linear1.bias)
        conv2.weight.copy_(ffn.linear2.weight[:, :, None])
        conv2.bias.copy_(ffn.linear2.bias)
    x = torch.randn(3, 7, 6, dtype=torch.float64)
    by_conv = conv2(torch.relu(conv1(x.transpose(1, 2)))).transpose(1, 2)  # Conv1d wants (B, C, L)
    torch.testing.assert_close(ffn(x), by_conv)


def test_permuting_positions_permutes_outputs_and_positions_do_not_mix():
    ffn = _ffn()
    x = torch.randn(2, 9, 6, dtype=torch.float64)
    perm = torch.randperm(9)
    torch.testing.assert_close(ffn(x[:, perm]), ffn(x)[:, perm])
    # Changing one position leaves every other position's output bit-for-bit unchanged.
    y = x.clone()
    y[:, 4] += 1.0
    changed = (ffn(y) - ffn(x)).abs().amax(-1)  # (2, 9)
    assert (changed[:, 4] > 0).all() and (changed[:, torch.arange(9) != 4] == 0).all()


def test_any_leading_shape():
    ffn = _ffn()
    x = torch.randn(2, 3, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(ffn(x).reshape(-1, 6), ffn(x.reshape(-1, 6)))
    assert ffn(torch.randn(6, dtype=torch.float64)).shape == (6,)


def test_parameter_count_at_the_papers_sizes():
    ffn = PositionwiseFFN(512, 2048)
    assert sum(p.numel() for p in ffn.parameters()) == 2 * 512 * 2048 + 2048 + 512 == 2_099_712


def test_weights_copy_from_torch_encoder_layer_by_name():
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True)
    ffn = PositionwiseFFN(8, 16, activation="gelu")
    ffn.load_state_dict({k: v for k, v in layer.state_dict().items() if k.startswith(("linear1.", "linear2."))})
    x = torch.randn(2, 5, 8)
    # torch's own feed-forward block inside the layer: linear2(dropout(activation(linear1(x)))).
    torch.testing.assert_close(ffn(x), layer._ff_block(x))


def test_relu_versus_gelu_are_different_and_gelu_is_exact():
    relu, gelu_ffn = _ffn(activation="relu"), _ffn(activation="gelu")  # same seed, same weights
    x = torch.randn(4, 6, dtype=torch.float64)
    assert not torch.allclose(relu(x), gelu_ffn(x))
    h = gelu_ffn.linear1(x)
    torch.testing.assert_close(gelu_ffn(x), gelu_ffn.linear2(F.gelu(h)))


def test_gelu_matches_torch_not_the_tanh_approximation():
    x = torch.linspace(-8, 8, 401, dtype=torch.float64)
    torch.testing.assert_close(gelu(x), F.gelu(x), rtol=0, atol=1e-14)
    assert (gelu(x) - F.gelu(x, approximate="tanh")).abs().max() > 1e-4
    # GELU(1) = Φ(1), the normal CDF at 1, about 0.8413.
    assert gelu(torch.tensor(0.0)) == 0
    assert math.isclose(gelu(torch.tensor(1.0, dtype=torch.float64)).item(), 0.5 * (1 + math.erf(1 / math.sqrt(2))))
    assert torch.autograd.gradcheck(gelu, torch.randn(7, dtype=torch.float64, requires_grad=True))


def test_dropout_acts_on_hidden_units_in_training_only():
    torch.manual_seed(0)
    ffn = PositionwiseFFN(6, 50, dropout=0.5).double()
    x = torch.randn(3, 6, dtype=torch.float64)
    ffn.eval()
    torch.testing.assert_close(ffn(x), ffn.linear2(torch.relu(ffn.linear1(x))))
    ffn.train()
    assert not torch.allclose(ffn(x), ffn.linear2(torch.relu(ffn.linear1(x))))


def test_wrong_last_dimension_raises():
    with pytest.raises(ValueError, match=r"x has shape \(2, 5\); expected \(\.\.\., d_model=6\)"):
        _ffn()(torch.randn(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^x has shape \(\); expected"):
        _ffn()(torch.tensor(1.0, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^x is a list; expected a torch.Tensor of shape \(\.\.\., d_model=6\)"):
        _ffn()([[0.0] * 6])


@pytest.mark.parametrize("kwargs,name", [
    (dict(activation="tanh"), "activation"), (dict(activation="ReLU"), "activation"),
    (dict(dropout=1.0), "dropout"), (dict(d_ff=0), "d_ff"), (dict(d_model=2.0), "d_model"),
    (dict(d_model=True), "d_model"), (dict(dropout=True), "dropout"), (dict(dropout="0.1"), "dropout"),
    (dict(dropout=None), "dropout"), (dict(dropout=float("nan")), "dropout"), (dict(activation=None), "activation"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    args = dict(d_model=4, d_ff=8) | kwargs
    with pytest.raises(ValueError, match=rf"^{name}=.*; expected "):
        PositionwiseFFN(**args)


def test_sizes_may_be_numpy_or_tensor_integers():
    ffn = PositionwiseFFN(np.int64(4), torch.tensor(8), dropout=np.float32(0.25))
    assert type(ffn.d_model) is int and type(ffn.d_ff) is int and (ffn.d_model, ffn.d_ff) == (4, 8)
    assert ffn.linear1.weight.shape == (8, 4) and ffn.dropout.p == 0.25


def test_numpy_twin_rejects_bad_input():
    x, w1, b1, w2, b2 = np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(4), np.zeros((4, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="activation"):
        numpy_ref.positionwise_ffn(x, w1, b1, w2, b2, activation="tanh")
    with pytest.raises(ValueError, match="w1"):
        numpy_ref.positionwise_ffn(x, w1.T, b1, w2, b2)


# -- the tanh GELU of GPT-2 (chapter 12) -------------------------------------------------------

def test_gelu_tanh_is_gpt2s_formula_and_differs_from_the_exact_gelu():
    import math

    torch.manual_seed(0)
    ffn = PositionwiseFFN(6, 10, activation="gelu_tanh").double()
    exact = PositionwiseFFN(6, 10, activation="gelu").double()
    exact.load_state_dict(ffn.state_dict())
    x = 3 * torch.randn(4, 5, 6, dtype=torch.float64)
    h = ffn.linear1(x)
    want = ffn.linear2(0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3))))
    torch.testing.assert_close(ffn(x), want, rtol=0, atol=1e-12)
    assert (ffn(x) - exact(x)).abs().max() > 1e-6  # the two GELUs are not the same function
