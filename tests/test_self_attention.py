"""Tests for chapter 3: ``attention.self_attention``, ``attention.SelfAttention`` and the numpy twin.

References are independent of the code under test: the numpy twin (a per-query loop), explicit
per-token arithmetic in torch, pure-Python arithmetic for the notes' "Thinking Machines" example,
and small inputs whose weights are worked out by hand.
"""

import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from course_lib import numpy_ref
from course_lib.attention import SelfAttention, self_attention

DT = torch.float64


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DT)


def matrices(module):
    """The (d_model, d_out) matrices of the equations, from the module's nn.Linear layers."""
    return {name: getattr(module, name).weight.detach().T for name in ("w_q", "w_k", "w_v")}


def per_token(x, w_q, w_k, w_v, mask=None):
    """Self-attention one query at a time, the way the notes walk through it."""
    batch, length, _ = x.shape
    d_k = w_q.shape[1]
    out = torch.zeros(batch, length, w_v.shape[1], dtype=x.dtype)
    weights = torch.zeros(batch, length, length, dtype=x.dtype)
    for b in range(batch):
        for i in range(length):
            q_i = x[b, i] @ w_q
            scores = torch.stack([q_i @ (x[b, j] @ w_k) for j in range(length)]) / math.sqrt(d_k)
            allowed = torch.ones(length, dtype=torch.bool) if mask is None else mask.expand(batch, length, length)[b, i]
            if not allowed.any():
                continue
            e = torch.where(allowed, torch.exp(scores - scores[allowed].max()), torch.zeros(()))
            weights[b, i] = e / e.sum()
            out[b, i] = sum(weights[b, i, j] * (x[b, j] @ w_v) for j in range(length))
    return out, weights


# (d_model, d_k, d_v): non-square and square, so that a transposed projection cannot hide.
SHAPES = [(8, 4, 3), (6, 6, 6), (5, 3, 7)]


@pytest.mark.parametrize("d_model,d_k,d_v", SHAPES)
def test_module_matches_numpy_twin_and_per_token_arithmetic(d_model, d_k, d_v):
    torch.manual_seed(0)
    module = SelfAttention(d_model, d_k, d_v).to(DT)
    x = randn(2, 5, d_model, seed=1)
    out, weights = module(x)
    w = matrices(module)

    ref_out, ref_weights = numpy_ref.self_attention(x.numpy(), **{k: v.numpy() for k, v in w.items()})
    assert_close(out, torch.from_numpy(ref_out))
    assert_close(weights, torch.from_numpy(ref_weights))

    tok_out, tok_weights = per_token(x, w["w_q"], w["w_k"], w["w_v"])
    assert_close(out, tok_out)
    assert_close(weights, tok_weights)
    assert out.shape == (2, 5, d_v) and weights.shape == (2, 5, 5)


@pytest.mark.parametrize("d_model,d_k,d_v", SHAPES)
def test_functional_matches_per_token_and_module(d_model, d_k, d_v):
    x = randn(3, 4, d_model, seed=2)
    w_q, w_k, w_v = randn(d_model, d_k, seed=3), randn(d_model, d_k, seed=4), randn(d_model, d_v, seed=5)
    out, weights = self_attention(x, w_q=w_q, w_k=w_k, w_v=w_v)
    tok_out, tok_weights = per_token(x, w_q, w_k, w_v)
    assert_close(weights, tok_weights)
    assert_close(out, tok_out)
    module = SelfAttention.from_matrices(w_q=w_q, w_k=w_k, w_v=w_v)
    assert module.w_q.weight.dtype == DT
    m_out, m_weights = module(x)
    assert_close(m_out, out)
    assert_close(m_weights, weights)


def test_queries_and_keys_are_not_interchangeable():
    # Swapping W_Q and W_K transposes the score matrix; the weights must follow q_i · k_j.
    x = randn(1, 4, 6, seed=6)
    w_q, w_k, w_v = randn(6, 3, seed=7), randn(6, 3, seed=8), randn(6, 3, seed=9)
    _, weights = self_attention(x, w_q=w_q, w_k=w_k, w_v=w_v)
    _, swapped = self_attention(x, w_q=w_k, w_k=w_q, w_v=w_v)
    scores = (x[0] @ w_q) @ (x[0] @ w_k).T / math.sqrt(3)
    assert_close(weights[0], torch.softmax(scores, dim=-1))
    assert not torch.allclose(weights, swapped)


def test_hand_computed_weights_fix_the_scale():
    # W_Q = W_K pick the first two coordinates (d_k = 2, d_model = 4), W_V = identity.
    # Scores are then x_i[:2] · x_j[:2] / √2; dividing by √d_model = 2 or not at all differs.
    x = torch.tensor([[[1.0, 0.0, 5.0, 0.0], [0.0, 2.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]], dtype=DT)
    pick = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]], dtype=DT)
    out, weights = self_attention(x, w_q=pick, w_k=pick, w_v=torch.eye(4, dtype=DT))
    dots = [[1, 0, 1], [0, 4, 2], [1, 2, 2]]  # x_i[:2] · x_j[:2], worked out by hand
    expected = torch.tensor(
        [[math.exp(s / math.sqrt(2)) / sum(math.exp(t / math.sqrt(2)) for t in row) for s in row] for row in dots],
        dtype=DT,
    )
    assert_close(weights[0], expected)
    assert_close(out[0], expected @ x[0])  # W_V = I: each output is a mix of the raw inputs


def test_thinking_machines_example_in_pure_python():
    # The chapter's seeded example, recomputed with Python floats and no tensor algebra.
    g = torch.Generator().manual_seed(2017)
    x = torch.randn(2, 512, generator=g, dtype=DT)
    w_q, w_k, w_v = (torch.randn(512, 64, generator=g, dtype=DT) / math.sqrt(512) for _ in range(3))
    xs, wq, wk, wv = x.tolist(), w_q.tolist(), w_k.tolist(), w_v.tolist()

    def project(vec, w):
        return [sum(vec[i] * w[i][j] for i in range(512)) for j in range(64)]

    q1 = project(xs[0], wq)
    k1, k2 = project(xs[0], wk), project(xs[1], wk)
    v1, v2 = project(xs[0], wv), project(xs[1], wv)
    scores = [sum(a * b for a, b in zip(q1, k)) / 8 for k in (k1, k2)]  # √64 = 8
    m = max(scores)
    e = [math.exp(s - m) for s in scores]
    w1 = [t / sum(e) for t in e]
    z1 = [w1[0] * a + w1[1] * b for a, b in zip(v1, v2)]

    out, weights = SelfAttention.from_matrices(w_q=w_q, w_k=w_k, w_v=w_v)(x.unsqueeze(0))
    assert_close(weights[0, 0], torch.tensor(w1, dtype=DT))
    assert_close(out[0, 0], torch.tensor(z1, dtype=DT))
    assert 0.0 < w1[0] < 1.0 and abs(sum(w1) - 1.0) < 1e-12


def test_gradcheck_module_and_function():
    torch.manual_seed(0)
    module = SelfAttention(5, 3, 2, bias=True).to(DT)
    x = randn(2, 4, 5, seed=10).requires_grad_()
    mask = torch.tensor([[True, True, False, True]]).expand(4, 4)
    assert torch.autograd.gradcheck(lambda t: module(t, mask), (x,))
    params = tuple(p.detach().clone().requires_grad_() for p in (module.w_q.weight, module.w_k.weight, module.w_v.weight))
    assert torch.autograd.gradcheck(
        lambda x, a, b, c: self_attention(x, w_q=a.T, w_k=b.T, w_v=c.T), (x,) + params
    )


def test_module_gradients_reach_every_projection():
    torch.manual_seed(0)
    module = SelfAttention(6, 4)
    out, _ = module(torch.randn(2, 5, 6))
    out.square().sum().backward()
    for name in ("w_q", "w_k", "w_v"):
        grad = getattr(module, name).weight.grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_bias_and_default_d_v():
    torch.manual_seed(0)
    module = SelfAttention(6, 4, bias=True).to(DT)
    assert module.w_v.out_features == 4 and module.w_q.bias is not None
    assert SelfAttention(6, 4).w_q.bias is None
    x = randn(1, 3, 6, seed=11)
    q, k, v = (x @ lin.weight.T + lin.bias for lin in (module.w_q, module.w_k, module.w_v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1)
    out, got = module(x)
    assert_close(got, weights)
    assert_close(out, weights @ v)


def test_causal_mask_hides_the_future():
    torch.manual_seed(0)
    module = SelfAttention(4, 4).to(DT)
    x = randn(2, 5, 4, seed=12)
    causal = torch.tril(torch.ones(5, 5, dtype=torch.bool))
    out, weights = module(x, causal)
    assert torch.all(weights.masked_select(~causal) == 0)
    assert_close(weights.sum(-1), torch.ones(2, 5, dtype=DT))
    # Changing the last token must leave every earlier position's output untouched.
    x2 = x.clone()
    x2[:, -1] += 10.0
    out2, _ = module(x2, causal)
    assert_close(out2[:, :-1], out[:, :-1])
    assert not torch.allclose(out2[:, -1], out[:, -1])
    ref_out, ref_weights = per_token(x, **matrices(module), mask=causal)
    assert_close(weights, ref_weights)
    assert_close(out, ref_out)


def test_padding_mask_and_fully_masked_rows():
    torch.manual_seed(0)
    module = SelfAttention(4, 3).to(DT)
    x = randn(2, 4, 4, seed=13).requires_grad_()
    pad = torch.tensor([[True, True, True, False], [True, True, False, False]]).unsqueeze(1)  # (B, 1, L)
    out, weights = module(x, pad)
    assert torch.all(weights[0, :, 3] == 0) and torch.all(weights[1, :, 2:] == 0)
    ref_out, ref_weights = numpy_ref.self_attention(x.detach().numpy(), **{k: v.numpy() for k, v in matrices(module).items()}, mask=pad.numpy())
    assert_close(out, torch.from_numpy(ref_out))
    assert_close(weights, torch.from_numpy(ref_weights))

    none = torch.zeros(2, 4, 4, dtype=torch.bool)
    none[:, :, 0] = True
    none[:, 1] = False  # position 1 may attend to nothing
    out, weights = module(x, none)
    assert torch.all(out[:, 1] == 0) and torch.all(weights[:, 1] == 0)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_permuting_the_sequence_permutes_the_output():
    # Self-attention alone has no notion of order (chapter 8 adds positions).
    torch.manual_seed(0)
    module = SelfAttention(6, 4).to(DT)
    x = randn(1, 5, 6, seed=14)
    perm = torch.tensor([3, 0, 4, 1, 2])
    out, weights = module(x)
    p_out, p_weights = module(x[:, perm])
    assert_close(p_out, out[:, perm])
    assert_close(p_weights, weights[:, perm][:, :, perm])


def test_float32_input_and_numpy_twin_agree_loosely():
    torch.manual_seed(0)
    module = SelfAttention(16, 8)
    x = torch.randn(2, 6, 16)
    out, _ = module(x)
    assert out.dtype == torch.float32
    ref, _ = numpy_ref.self_attention(x.numpy(), **{k: v.numpy() for k, v in matrices(module).items()})
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "shape,match",
    [((5, 8), r"x has shape \(5, 8\); expected \(B, L, d_model=8\)"),
     ((2, 5, 7), r"x has shape \(2, 5, 7\); expected \(B, L, d_model=8\)"),
     ((1, 2, 5, 8), r"x has shape \(1, 2, 5, 8\)")],
)
def test_bad_x_raises_value_error_naming_x(shape, match):
    module = SelfAttention(8, 4)
    with pytest.raises(ValueError, match=match):
        module(torch.randn(*shape))
    w = torch.randn(8, 4)
    with pytest.raises(ValueError, match=match):
        self_attention(torch.randn(*shape), w_q=w, w_k=w, w_v=w)


def test_bad_weights_and_sizes_raise_value_error():
    x = torch.randn(1, 3, 8)
    w = torch.randn(8, 4)
    with pytest.raises(ValueError, match=r"w_k has shape \(8, 3\); expected \(d_model, d_k\) = \(8, 4\)"):
        self_attention(x, w_q=w, w_k=torch.randn(8, 3), w_v=w)
    with pytest.raises(ValueError, match=r"w_v has shape \(7, 4\)"):
        self_attention(x, w_q=w, w_k=w, w_v=torch.randn(7, 4))
    with pytest.raises(ValueError, match=r"w_q has shape \(8,\)"):
        SelfAttention.from_matrices(w_q=torch.randn(8), w_k=w, w_v=w)
    with pytest.raises(ValueError, match="d_k=0"):
        SelfAttention(8, 0)
    with pytest.raises(ValueError, match="mask"):  # (B, 1, 1, L) would enlarge the scores
        SelfAttention(8, 4)(x, torch.ones(1, 1, 1, 3, dtype=torch.bool))
