"""Tests for course_lib.norm: layer normalisation and the residual wrapper, post-LN and pre-LN.

References: ``torch.nn.LayerNorm``, the numpy twin ``numpy_ref.layer_norm``, numbers worked
out by hand, ``torch.autograd.gradcheck``, hand-composed torch modules and
``torch.nn.TransformerEncoderLayer`` (both ``norm_first`` settings).
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import numpy_ref
from course_lib.norm import LayerNorm, Residual, layer_norm

D = 8


def _affine(d=D, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (1 + 0.5 * torch.randn(d, generator=g, dtype=torch.float64),
            torch.randn(d, generator=g, dtype=torch.float64))


# -- layer_norm ----------------------------------------------------------------------------------


def test_layer_norm_hand_computed():
    # [1, 2, 3, 6]: mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5.
    x = torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=torch.float64)
    expected = (x - 3) / math.sqrt(3.5 + 1e-5)
    torch.testing.assert_close(layer_norm(x, torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)),
                               expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_layer_norm_matches_torch_and_numpy(eps):
    gamma, beta = _affine()
    x = 3 * torch.randn(2, 5, D, dtype=torch.float64) + 1
    ref = nn.LayerNorm(D, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(gamma), ref.bias.copy_(beta)
    got = layer_norm(x, gamma, beta, eps)
    torch.testing.assert_close(got, ref(x).detach())
    np.testing.assert_allclose(got.numpy(), numpy_ref.layer_norm(x.numpy(), gamma.numpy(), beta.numpy(), eps),
                               rtol=1e-12, atol=1e-12)


def test_layer_norm_gradients_match_torch_and_pass_gradcheck():
    gamma, beta = _affine()
    x = torch.randn(3, 4, D, dtype=torch.float64)
    w = torch.randn(3, 4, D, dtype=torch.float64)  # a loss that weighs outputs differently
    ours = [t.clone().requires_grad_() for t in (x, gamma, beta)]
    (layer_norm(*ours) * w).sum().backward()
    theirs = [t.clone().requires_grad_() for t in (x, gamma, beta)]
    (torch.nn.functional.layer_norm(theirs[0], (D,), theirs[1], theirs[2], 1e-5) * w).sum().backward()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad)
    assert torch.autograd.gradcheck(lambda *t: layer_norm(*t, eps=1e-3), ours)


def test_biased_variance_and_eps_inside_the_square_root():
    # D = 2 makes the unbiased variance twice the biased one; a tiny spread (variance ~1e-6,
    # close to eps) makes eps inside vs outside the root differ by a factor of ~1.4, not 1e-5.
    one, zero = torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    x = torch.tensor([[1.0, 3.0], [1e-3, -1e-3]], dtype=torch.float64)
    got = layer_norm(x, one, zero)
    var = torch.tensor([[1.0], [1e-6]], dtype=torch.float64)  # biased: ((x - mean)^2).mean()
    centred = x - x.mean(-1, keepdim=True)
    torch.testing.assert_close(got, centred / (var + 1e-5).sqrt())
    unbiased = centred / (2 * var + 1e-5).sqrt()
    eps_outside = centred / (var.sqrt() + 1e-5)
    assert not torch.allclose(got[0], unbiased[0])  # row 0: var = 1 >> eps, only the divisor matters
    assert not torch.allclose(got[1], eps_outside[1], rtol=1e-2)  # row 1: eps matters
    assert (got[1].abs() < 0.33).all()  # sqrt(1e-6 / (1e-6 + 1e-5)) ~ 0.30, not ~1


def test_constant_vector_gives_beta_not_nan():
    gamma, beta = _affine()
    out = layer_norm(torch.full((3, D), 7.0, dtype=torch.float64), gamma, beta)
    torch.testing.assert_close(out, beta.expand(3, D))


def test_each_vector_is_normalised_alone_unlike_batch_norm():
    # The output for example 0 must not depend on the other examples or on padding positions.
    torch.manual_seed(0)
    gamma, beta = _affine()
    x = torch.randn(4, 6, D, dtype=torch.float64)
    other = x.clone()
    other[1:] = 100 * torch.randn(3, 6, D, dtype=torch.float64) - 50  # the rest of the batch
    other[0, 4:] = 1e3  # padding positions of example 0
    torch.testing.assert_close(layer_norm(other, gamma, beta)[0, :4], layer_norm(x, gamma, beta)[0, :4])
    torch.testing.assert_close(layer_norm(x[:1, :4], gamma, beta)[0], layer_norm(x, gamma, beta)[0, :4])
    # BatchNorm, in training mode, does depend on them: the point of the comparison.
    bn = nn.BatchNorm1d(D, dtype=torch.float64).train()
    bn_out = lambda t: bn(t.reshape(-1, D)).reshape(t.shape)  # noqa: E731
    assert not torch.allclose(bn_out(other)[0, :4], bn_out(x)[0, :4])
    # Normalising over the batch axis instead (a common slip) would not be independent either.
    wrong = lambda t: (t - t.mean(0)) / (t.var(0, unbiased=False) + 1e-5).sqrt()  # noqa: E731
    assert not torch.allclose(wrong(other)[0, :4], wrong(x)[0, :4])


def test_statistics_of_the_output():
    x = 5 * torch.randn(10, 64, dtype=torch.float64) - 3
    out = layer_norm(x, torch.ones(64, dtype=torch.float64), torch.zeros(64, dtype=torch.float64), eps=0.0)
    torch.testing.assert_close(out.mean(-1), torch.zeros(10, dtype=torch.float64))
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(10, dtype=torch.float64))


def test_layer_norm_bad_shapes():
    x = torch.randn(2, D)
    with pytest.raises(ValueError, match=r"gamma has shape \(7,\); expected \(D,\) = \(8,\)"):
        layer_norm(x, torch.ones(7), torch.zeros(D))
    with pytest.raises(ValueError, match="beta"):
        layer_norm(x, torch.ones(D), torch.zeros(2, D))
    with pytest.raises(ValueError, match="gamma"):
        numpy_ref.layer_norm(x.numpy(), np.ones(7), np.zeros(D))
    with pytest.raises(ValueError, match=r"^gamma is a list; expected a torch.Tensor of shape \(D,\) = \(8,\)"):
        layer_norm(x, [1.0] * D, torch.zeros(D))
    with pytest.raises(ValueError, match=r"^x has shape \(\); expected \(\.\.\., D\) with at least one axis"):
        layer_norm(torch.tensor(1.0), torch.ones(1), torch.zeros(1))


@pytest.mark.parametrize("eps", [-1.0, -1e-12, float("nan"), float("inf"), True, "1e-5", None])
def test_function_and_module_refuse_the_same_eps(eps):
    # A negative eps makes var + eps negative for a nearly constant vector: NaN, not an error.
    x = torch.randn(2, D)
    with pytest.raises(ValueError, match=r"^eps=.*; expected a finite number >= 0$"):
        layer_norm(x, torch.ones(D), torch.zeros(D), eps)
    with pytest.raises(ValueError, match=r"^eps=.*; expected a finite number >= 0$"):
        LayerNorm(D, eps=eps)
    with pytest.raises(ValueError, match=r"^eps="):
        Residual(D, nn.Identity(), False, eps=eps)


def test_eps_zero_and_integer_likes_are_accepted():
    ln = LayerNorm(np.int64(D), eps=0)
    assert type(ln.d_model) is int and type(ln.eps) is float and ln.eps == 0.0
    assert ln.weight.shape == (D,) and LayerNorm(torch.tensor(D)).d_model == D


# -- LayerNorm -----------------------------------------------------------------------------------


def test_layer_norm_module_loads_torch_state_dict_and_matches():
    torch.manual_seed(0)
    ref = nn.LayerNorm(D, eps=1e-6)
    with torch.no_grad():
        ref.weight.normal_(), ref.bias.normal_()
    ours = LayerNorm(D, eps=1e-6)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 5, D)
    torch.testing.assert_close(ours(x), ref(x))
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]
    assert torch.equal(LayerNorm(D).weight, torch.ones(D)) and torch.equal(LayerNorm(D).bias, torch.zeros(D))


def test_fast_layer_norm_matches_the_explicit_one_forward_and_backward(monkeypatch):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 5, 8, generator=g, dtype=torch.float64, requires_grad=True)
    slow, fast = LayerNorm(8).double(), LayerNorm(8, fast=True).double()
    with torch.no_grad():
        for p in (slow.weight, slow.bias):
            p.normal_(generator=g)
    fast.load_state_dict(slow.state_dict())
    out_slow, out_fast = slow(x), fast(x)
    torch.testing.assert_close(out_fast, out_slow)
    grads_slow = torch.autograd.grad(out_slow.square().sum(), (x, slow.weight, slow.bias))
    grads_fast = torch.autograd.grad(out_fast.square().sum(), (x, fast.weight, fast.bias))
    for a, b in zip(grads_fast, grads_slow):
        torch.testing.assert_close(a, b)
    assert Residual(8, nn.Identity(), norm_first=True, fast=True).norm.fast
    # The fast path really is the fused kernel, not the tensor-operation version.
    monkeypatch.setattr("course_lib.norm.layer_norm", lambda *a, **k: pytest.fail("explicit path used"))
    fast(x)


def test_layer_norm_module_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"expected \(\.\.\., d_model=8\)"):
        LayerNorm(D)(torch.randn(2, 7))
    with pytest.raises(ValueError, match="d_model"):
        LayerNorm(0)
    for bad in (True, 8.0, "8"):
        with pytest.raises(ValueError, match=r"^d_model=.*; expected a positive int"):
            LayerNorm(bad)
    with pytest.raises(ValueError, match=r"^x is a list; expected a torch.Tensor of shape \(\.\.\., d_model=8\)"):
        LayerNorm(D)([0.0] * D)


# -- Residual ------------------------------------------------------------------------------------


class _Sub(nn.Module):
    """A sub-layer with a mean far from zero, so that where the norm sits changes the output."""

    def __init__(self, d=D):
        super().__init__()
        self.lin = nn.Linear(d, d, dtype=torch.float64)

    def forward(self, x, scale=1.0):
        return scale * torch.tanh(self.lin(x)) + 2.0


def _residual(norm_first, seed=0):
    torch.manual_seed(seed)
    res = Residual(D, _Sub(), norm_first).double()
    gamma, beta = _affine(seed=seed + 1)
    with torch.no_grad():
        res.norm.weight.copy_(gamma), res.norm.bias.copy_(beta)
    ref_norm = nn.LayerNorm(D, dtype=torch.float64)
    ref_norm.load_state_dict(res.norm.state_dict())
    return res, ref_norm


def test_post_ln_is_norm_of_the_sum():
    res, ln = _residual(norm_first=False)
    x = 3 * torch.randn(2, 5, D, dtype=torch.float64) + 1
    f = res.sublayer
    got = res(x)
    torch.testing.assert_close(got, ln(x + f(x)))
    # The wrong placements a reader might write instead:
    assert not torch.allclose(got, x + ln(f(x)))  # residual added after the norm
    assert not torch.allclose(got, x + f(ln(x)))  # pre-LN
    assert not torch.allclose(got, ln(x) + f(ln(x)))  # residual taken from the normalised x


def test_pre_ln_adds_to_the_unnormalised_stream():
    res, ln = _residual(norm_first=True)
    x = 3 * torch.randn(2, 5, D, dtype=torch.float64) + 1
    f = res.sublayer
    got = res(x)
    torch.testing.assert_close(got, x + f(ln(x)))
    assert not torch.allclose(got, ln(x + f(x)))  # post-LN
    assert not torch.allclose(got, ln(x) + f(ln(x)))  # residual taken from the normalised x
    assert not torch.allclose(got, x + ln(f(x)))  # norm on the output instead of the input
    # The stream is not normalised: its per-position mean keeps the input's offset of ~1 (+2 from f).
    assert got.mean(-1).min() > 1.5


def test_placements_differ():
    post, _ = _residual(norm_first=False)
    pre, _ = _residual(norm_first=True)  # same seed: same sub-layer and norm weights
    x = torch.randn(3, 4, D, dtype=torch.float64)
    assert not torch.allclose(post(x), pre(x))
    # The post-LN output is normalised (undo gamma and beta: mean 0 per position); pre-LN's is not.
    z = (post(x) - post.norm.bias) / post.norm.weight
    torch.testing.assert_close(z.mean(-1), torch.zeros(3, 4, dtype=torch.float64))
    assert ((pre(x) - pre.norm.bias) / pre.norm.weight).mean(-1).abs().min() > 0.1


def test_extra_arguments_reach_the_sublayer_and_only_x_is_normalised():
    for norm_first in (False, True):
        res, ln = _residual(norm_first)
        x = torch.randn(2, 3, D, dtype=torch.float64)
        inner = ln(x) if norm_first else x
        expected = x + res.sublayer(inner, scale=-4.0)
        expected = expected if norm_first else ln(expected)
        torch.testing.assert_close(res(x, scale=-4.0), expected)
        torch.testing.assert_close(res(x, -4.0), expected)


def test_tuple_returning_sublayer_keeps_its_extras():
    class Attn(nn.Module):
        def forward(self, x, mask):
            w = torch.softmax((x @ x.transpose(-2, -1)).masked_fill(~mask, float("-inf")), -1)
            return w @ x, w

    mask = torch.ones(4, 4, dtype=torch.bool).tril()
    x = torch.randn(2, 4, D, dtype=torch.float64)
    for norm_first in (False, True):
        res = Residual(D, Attn(), norm_first).double()
        out, weights = res(x, mask)
        inner = res.norm(x) if norm_first else x
        ref_out, ref_w = Attn()(inner, mask)
        torch.testing.assert_close(weights, ref_w)
        torch.testing.assert_close(out, x + ref_out if norm_first else res.norm(x + ref_out))


def test_dropout_on_the_sublayer_output_only_in_training():
    torch.manual_seed(0)
    res = Residual(D, _Sub(), norm_first=True, dropout=0.5).double()
    x = torch.randn(4, D, dtype=torch.float64)
    res.train()
    out = res(x)
    delta = out - x  # what was added to the stream: dropped entries are exactly 0, kept ones doubled
    f = res.sublayer(res.norm(x))
    kept = delta != 0
    assert 0 < kept.float().mean() < 1
    torch.testing.assert_close(delta[kept], 2 * f[kept])
    res.eval()
    torch.testing.assert_close(res(x), x + f)


@pytest.mark.parametrize("norm_first", [False, True])
def test_two_residuals_reproduce_torch_encoder_layer(norm_first):
    torch.manual_seed(0)
    d, heads, d_ff = 8, 2, 16
    layer = nn.TransformerEncoderLayer(d, heads, d_ff, dropout=0.0, batch_first=True, norm_first=norm_first,
                                       dtype=torch.float64)

    class SelfAttention(nn.Module):
        def forward(self, x):
            return layer.self_attn(x, x, x, need_weights=False)[0]

    class FFN(nn.Module):
        def forward(self, x):
            return layer.linear2(torch.relu(layer.linear1(x)))

    # float64 like the layer: a norm refuses input of another dtype than its parameters
    attn_block = Residual(d, SelfAttention(), norm_first).double()
    ffn_block = Residual(d, FFN(), norm_first).double()
    attn_block.norm.load_state_dict(layer.norm1.state_dict())
    ffn_block.norm.load_state_dict(layer.norm2.state_dict())
    with torch.no_grad():  # non-trivial norm weights, so a swapped norm1/norm2 would show
        for p in (*layer.norm1.parameters(), *layer.norm2.parameters()):
            p.normal_()
        attn_block.norm.load_state_dict(layer.norm1.state_dict())
        ffn_block.norm.load_state_dict(layer.norm2.state_dict())
    x = 2 * torch.randn(2, 5, d, dtype=torch.float64) + 1
    torch.testing.assert_close(ffn_block(attn_block(x)), layer(x))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^norm_first=0.1; expected True or False"):
        Residual(D, _Sub(), 0.1)
    with pytest.raises(ValueError, match=r"^sublayer='attention'; expected a callable"):
        Residual(D, "attention", False)
    with pytest.raises(ValueError, match=r"sublayer's output has shape \(2, 3\); expected x's shape \(2, 8\)"):
        Residual(D, lambda x: x[..., :3], False)(torch.randn(2, D))
    with pytest.raises(ValueError, match=r"sublayer's output is a list; expected a torch.Tensor"):
        Residual(D, lambda x: [x], False)(torch.randn(2, D))
    for dropout in (1.0, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match=r"^dropout=.*; expected a probability 0 <= dropout < 1"):
            Residual(D, _Sub(), False, dropout)
