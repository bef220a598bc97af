"""Tests for ``course_lib.attention`` against independent references.

The references are the numpy twin (``course_lib.numpy_ref``, which shares no code with the
torch version), ``torch.nn.functional.scaled_dot_product_attention``, explicit Python loops
and numbers worked out by hand in the test itself. Each test is chosen so that a plausible
wrong implementation fails it: a missing or wrong ``1/sqrt(d_k)``, softmax over the query
axis instead of the key axis, an inverted mask, NaN for fully masked rows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck
from torch.testing import assert_close

from course_lib import numpy_ref
from course_lib.attention import (
    SelfAttention,
    additive_attention,
    dot_product_scores,
    masked_softmax,
    nadaraya_watson,
    scaled_dot_product_attention,
    softmax,
)

F64 = torch.float64


def make_qkv(*batch, L_q=3, L_k=5, d_k=4, d_v=6, dtype=F64, seed=0, requires_grad=False):
    """Seeded random q (..., L_q, d_k), k (..., L_k, d_k), v (..., L_k, d_v)."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*batch, L_q, d_k, generator=g, dtype=dtype)
    k = torch.randn(*batch, L_k, d_k, generator=g, dtype=dtype)
    v = torch.randn(*batch, L_k, d_v, generator=g, dtype=dtype)
    return tuple(t.requires_grad_(requires_grad) for t in (q, k, v))


def random_mask(*shape, seed=1, p_keep=0.6):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g) < p_keep


def numpy_sdpa(q, k, v, mask=None):
    """Run the numpy twin on torch inputs and return torch float64 tensors."""
    m = None if mask is None else mask.numpy()
    out, w = numpy_ref.scaled_dot_product_attention(
        q.detach().numpy(), k.detach().numpy(), v.detach().numpy(), m
    )
    return torch.from_numpy(out), torch.from_numpy(w)


# --------------------------------------------------------------------------- softmax


def test_softmax_matches_numpy_twin_and_torch():
    x = torch.randn(4, 7, generator=torch.Generator().manual_seed(0), dtype=F64)
    ours = softmax(x)
    assert_close(ours, torch.from_numpy(numpy_ref.softmax(x.numpy())))
    assert_close(ours, torch.softmax(x, dim=-1))


def test_softmax_hand_computed():
    # softmax([0, ln 2, ln 3]) = [1, 2, 3] / 6: exact in closed form.
    x = torch.tensor([0.0, math.log(2.0), math.log(3.0)], dtype=F64)
    assert_close(softmax(x), torch.tensor([1 / 6, 2 / 6, 3 / 6], dtype=F64))


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_softmax_dim_argument(dim):
    # A non-square input makes a wrong axis visible in the sums, not only in the values.
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(1), dtype=F64)
    w = softmax(x, dim=dim)
    assert_close(w, torch.softmax(x, dim=dim))
    sums = w.sum(dim=dim)
    assert_close(sums, torch.ones_like(sums))
    other = w.sum(dim=1 if dim in (0, -2) else 0)  # the axis it must not normalise
    assert not torch.allclose(other, torch.ones_like(other))


def test_softmax_dim_on_3d_input():
    x = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(2), dtype=F64)
    assert_close(softmax(x, dim=1), torch.from_numpy(numpy_ref.softmax(x.numpy(), dim=1)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_large_logits_do_not_overflow(dtype):
    x = torch.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    w = softmax(x)
    assert torch.isfinite(w).all()
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], dtype=dtype)
    assert_close(w, expected)


def test_softmax_all_neg_inf_slice_gives_zeros_and_zero_grad():
    x = torch.tensor([[0.0, 1.0, -math.inf], [-math.inf] * 3], dtype=F64, requires_grad=True)
    w = softmax(x)
    assert_close(w[1], torch.zeros(3, dtype=F64))
    assert_close(w[0], torch.tensor([1 / (1 + math.e), math.e / (1 + math.e), 0.0], dtype=F64))
    (w * torch.arange(3.0, dtype=F64)).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert_close(x.grad[1], torch.zeros(3, dtype=F64))


def test_softmax_all_neg_inf_slice_along_another_dim():
    # The empty-slice rule must look along `dim`: here column 1 is all -inf, rows are not.
    x = torch.tensor([[0.0, -math.inf, 2.0], [1.0, -math.inf, -math.inf]], dtype=F64, requires_grad=True)
    w = softmax(x, dim=0)
    assert_close(w[:, 1], torch.zeros(2, dtype=F64))
    assert_close(w[:, [0, 2]], torch.softmax(x.detach()[:, [0, 2]], dim=0))
    w.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[:, 1] == 0).all()


def test_softmax_works_under_vmap_and_jacrev():
    # Chapter 3 takes the softmax's Jacobian row by row with torch.func: an `if` on the data
    # inside softmax would fail there. J = diag(p) - p pᵀ, and an all -inf row has J = 0.
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(4), dtype=F64)
    x[2] = -math.inf
    jac = torch.func.vmap(torch.func.jacrev(softmax))(x)
    p = softmax(x)
    assert_close(jac, torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2))
    assert (jac[2] == 0).all()


def test_masked_softmax_works_under_vmap_with_an_empty_row():
    scores = torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(5), dtype=F64)
    mask = torch.tensor([[True, False, True, True], [False, False, False, False]])
    batched = torch.func.vmap(lambda s: masked_softmax(s, mask))(scores)
    assert_close(batched, masked_softmax(scores, mask))
    assert (batched[:, 1] == 0).all()


def test_softmax_gradcheck():
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(3), dtype=F64, requires_grad=True)
    assert gradcheck(lambda t: softmax(t, dim=-1), (x,))
    assert gradcheck(lambda t: softmax(t, dim=0), (x,))


# ----------------------------------------------------------------- dot_product_scores


def test_dot_product_scores_is_unscaled_q_kt():
    q, k, _ = make_qkv(2, L_q=3, L_k=5, d_k=4)
    expected = torch.einsum("bid,bjd->bij", q, k)  # no 1/sqrt(d_k): that is the caller's job
    assert_close(dot_product_scores(q, k), expected)


# ------------------------------------------------------- scaled dot-product attention


def test_sdpa_hand_computed_one_query_two_keys():
    # d_k = 4, so the scale is 1/2. Scores: q·k1 / 2 = 2/2 = 1 and q·k2 / 2 = 0.
    # Weights: e/(1+e) and 1/(1+e). With one-hot values the output *is* the weights.
    q = torch.tensor([[2.0, 0.0, 0.0, 0.0]], dtype=F64)
    k = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=F64)
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    w1 = math.e / (1 + math.e)
    out, w = scaled_dot_product_attention(q, k, v)
    assert_close(w, torch.tensor([[w1, 1 - w1]], dtype=F64))
    assert_close(out, torch.tensor([[w1, 1 - w1]], dtype=F64))
    # The wrong scales a reader might try give visibly different weights:
    # no scale -> sigmoid(2) = 0.881, 1/d_k -> sigmoid(0.5) = 0.622; the right one is 0.731.
    assert abs(w[0, 0].item() - 1 / (1 + math.exp(-2.0))) > 0.1
    assert abs(w[0, 0].item() - 1 / (1 + math.exp(-0.5))) > 0.1


def test_sdpa_hand_computed_mask_keeps_true_keys():
    # Same numbers, but key 2 is masked out (False): all weight goes to key 1.
    q = torch.tensor([[2.0, 0.0, 0.0, 0.0]], dtype=F64)
    k = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=F64)
    v = torch.tensor([[10.0, 0.0], [0.0, 20.0]], dtype=F64)
    out, w = scaled_dot_product_attention(q, k, v, mask=torch.tensor([[True, False]]))
    assert_close(w, torch.tensor([[1.0, 0.0]], dtype=F64))
    assert_close(out, torch.tensor([[10.0, 0.0]], dtype=F64))
    # An inverted mask would send all weight to key 2 instead.
    out, w = scaled_dot_product_attention(q, k, v, mask=torch.tensor([[False, True]]))
    assert_close(out, torch.tensor([[0.0, 20.0]], dtype=F64))


def test_sdpa_hand_computed_equal_keys_average_values():
    # Two identical keys get equal weight whatever the query: the output is the mean value.
    q = torch.tensor([[3.0, -1.0], [0.5, 7.0]], dtype=F64)
    k = torch.tensor([[1.0, 2.0], [1.0, 2.0]], dtype=F64)
    v = torch.tensor([[1.0, 2.0, 3.0], [5.0, 6.0, 7.0]], dtype=F64)
    out, w = scaled_dot_product_attention(q, k, v)
    assert_close(w, torch.full((2, 2), 0.5, dtype=F64))
    assert_close(out, torch.tensor([[3.0, 4.0, 5.0]] * 2, dtype=F64))


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)], ids=["no-batch", "B", "B,H"])
def test_sdpa_matches_numpy_twin_and_torch(batch):
    # L_q != L_k and d_v != d_k, so a transposed or mis-sized operand cannot pass silently.
    q, k, v = make_qkv(*batch, L_q=3, L_k=5, d_k=4, d_v=6)
    out, w = scaled_dot_product_attention(q, k, v)
    assert out.shape == (*batch, 3, 6) and w.shape == (*batch, 3, 5)
    ref_out, ref_w = numpy_sdpa(q, k, v)
    assert_close(out, ref_out)
    assert_close(w, ref_w)
    assert_close(out, F.scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)], ids=["no-batch", "B", "B,H"])
def test_sdpa_with_mask_matches_numpy_twin_and_torch(batch):
    q, k, v = make_qkv(*batch, L_q=4, L_k=6)
    mask = random_mask(4, 6)
    mask[:, 0] = True  # every row keeps a key, so torch's result is defined on every row
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    ref_out, ref_w = numpy_sdpa(q, k, v, mask)
    assert_close(out, ref_out)
    assert_close(w, ref_w)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert (w[..., ~mask] == 0).all()


def test_sdpa_weights_normalise_over_keys_not_queries():
    q, k, v = make_qkv(2, L_q=3, L_k=5)
    _, w = scaled_dot_product_attention(q, k, v)
    assert_close(w.sum(-1), torch.ones(2, 3, dtype=F64))
    assert not torch.allclose(w.sum(-2), torch.ones(2, 5, dtype=F64))


def test_sdpa_float32_matches_torch():
    q, k, v = make_qkv(2, 2, L_q=7, L_k=7, d_k=8, d_v=8, dtype=torch.float32)
    causal = torch.ones(7, 7, dtype=torch.bool).tril()
    out, _ = scaled_dot_product_attention(q, k, v, mask=causal)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))


# Masks of several shapes against 3-D scores (B, L_q, L_k) = (2, 3, 5).
@pytest.mark.parametrize("mask_shape", [(3, 5), (2, 3, 5), (2, 1, 5), (5,)])
def test_sdpa_mask_broadcasts(mask_shape):
    q, k, v = make_qkv(2, L_q=3, L_k=5)
    mask = random_mask(*mask_shape, seed=4)
    mask[..., 0] = True
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    full = mask.expand(2, 3, 5)
    # Compare with an explicit per-batch, per-row computation on the expanded mask.
    for b in range(2):
        for i in range(3):
            keep = full[b, i]
            s = (k[b, keep] @ q[b, i]) / 2.0  # sqrt(d_k) = 2
            w_row = torch.exp(s - s.max()) / torch.exp(s - s.max()).sum()
            assert_close(w[b, i, keep], w_row)
            assert_close(out[b, i], w_row @ v[b, keep])
    assert (w[~full] == 0).all()


def test_sdpa_padding_mask_broadcasts_over_heads_when_head_axis_added():
    # (B, 1, 1, L_k) against (B, H, L_q, L_k) is the 4-D form modules with heads build.
    q, k, v = make_qkv(2, 3, L_q=4, L_k=5)
    lengths = torch.tensor([3, 5])
    pad = (torch.arange(5) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, L_k)
    out, w = scaled_dot_product_attention(q, k, v, mask=pad)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=pad))
    assert (w[0, :, :, 3:] == 0).all() and (w[1] > 0).all()


# ------------------------------------------------------------- fully masked rows


def test_fully_masked_row_gives_zero_weights_and_output_forward_and_backward():
    q, k, v = make_qkv(2, L_q=3, L_k=4, requires_grad=True)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False  # query 1 may attend to nothing
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    assert torch.isfinite(out).all() and torch.isfinite(w).all()
    assert (w[:, 1] == 0).all() and (out[:, 1] == 0).all()
    assert_close(w[:, [0, 2]].sum(-1), torch.ones(2, 2, dtype=F64))
    (out * torch.randn_like(out)).sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert (q.grad[:, 1] == 0).all()  # the masked query has no influence on the output
    assert (q.grad[:, [0, 2]] != 0).any()


def test_fully_masked_row_naive_recipe_is_nan_ours_is_zero_torch_agrees_up_to_nan():
    q, k, v = make_qkv(2, L_q=3, L_k=4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[2] = False
    # Why the library needs care: the textbook recipe gives NaN on such a row.
    naive = torch.softmax((q @ k.mT / 2.0).masked_fill(~mask, -math.inf), dim=-1)
    assert torch.isnan(naive[:, 2]).all()
    out, _ = scaled_dot_product_attention(q, k, v, mask=mask)
    assert (out[:, 2] == 0).all()
    # torch's function gave NaN here in older releases and zeros in newer ones (2.5+);
    # either way, it agrees with ours once NaN is read as zero.
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(out, torch.nan_to_num(ref, nan=0.0))


def test_numpy_twin_fully_masked_row_is_zero_too():
    q, k, v = make_qkv(L_q=2, L_k=3)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    ref_out, ref_w = numpy_sdpa(q, k, v, mask)
    assert_close(out, ref_out)
    assert_close(w, ref_w)


def test_sdpa_large_logits_forward_and_backward_are_finite():
    # Scores of about ±1e4 after scaling: exp would overflow without the max shift.
    q = torch.tensor([[[1e4, 0.0, 0.0, 0.0], [-1e4, 0.0, 0.0, 0.0]]], dtype=torch.float32)
    k = torch.tensor([[[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-2.0, 0.0, 0.0, 0.0]]])
    v = torch.tensor([[[1.0], [2.0], [3.0]]])
    q.requires_grad_(True)
    out, w = scaled_dot_product_attention(q, k, v)  # scores ±1e4, 0, ∓1e4
    assert_close(w[0], torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    assert_close(out[0, :, 0], torch.tensor([1.0, 3.0]))
    out.sum().backward()
    assert torch.isfinite(q.grad).all()


# ---------------------------------------------------------------------- gradcheck


def test_sdpa_gradcheck_without_mask():
    q, k, v = make_qkv(2, L_q=2, L_k=3, d_k=3, d_v=2, requires_grad=True)
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v), (q, k, v))


def test_sdpa_gradcheck_with_mask_and_fully_masked_row():
    q, k, v = make_qkv(2, L_q=3, L_k=3, d_k=3, d_v=2, requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, False, False], [True, True, False]])
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=mask), (q, k, v))


def test_additive_attention_gradcheck():
    q, k, v, params = additive_inputs(requires_grad=True)
    mask = torch.tensor([[True, True, False, True], [False, False, False, False], [True] * 4])

    def f(q, k, v, w_q, w_k, w_v):
        return additive_attention(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask)

    assert gradcheck(f, (q, k, v, *params))


def test_nadaraya_watson_gradcheck():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(4, generator=g, dtype=F64, requires_grad=True)
    xs = torch.rand(6, generator=g, dtype=F64, requires_grad=True)
    ys = torch.randn(6, generator=g, dtype=F64, requires_grad=True)
    assert gradcheck(lambda a, b, c: nadaraya_watson(a, b, c, bandwidth=0.3), (x, xs, ys))


# ------------------------------------------------------------------------ dropout


def test_dropout_zero_is_deterministic_and_equals_no_dropout():
    q, k, v = make_qkv(2, L_q=3, L_k=5)
    a = scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    b = scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    c = scaled_dot_product_attention(q, k, v)
    for x, y, z in zip(a, b, c):
        assert torch.equal(x, y) and torch.equal(x, z)


def test_dropout_zeroes_some_weights_and_rescales_the_rest():
    p = 0.5
    q, k, v = make_qkv(4, L_q=8, L_k=8)
    _, base = scaled_dot_product_attention(q, k, v)
    torch.manual_seed(0)
    out, w = scaled_dot_product_attention(q, k, v, dropout_p=p)
    dropped = w == 0
    assert 0.3 < dropped.float().mean().item() < 0.7  # about p of 256 weights
    assert_close(w[~dropped], base[~dropped] / (1 - p))
    assert_close(out, w @ v)  # the output uses the weights it returns
    torch.manual_seed(0)
    _, w_again = scaled_dot_product_attention(q, k, v, dropout_p=p)
    assert torch.equal(w, w_again)  # seeded: reproducible


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_out_of_range_raises(p):
    q, k, v = make_qkv(L_q=2, L_k=2)
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=p)


@pytest.mark.parametrize("p", ["0.1", True, None, float("nan")], ids=["str", "bool", "None", "nan"])
def test_dropout_that_is_not_a_number_raises_value_error(p):
    # "0.1" would compare as a str, True would pass as 1 > 0 and None would raise a TypeError.
    q, k, v = make_qkv(L_q=2, L_k=2)
    with pytest.raises(ValueError, match=r"dropout_p=.*; expected a probability 0 <= dropout_p < 1"):
        scaled_dot_product_attention(q, k, v, dropout_p=p)


def test_dropout_accepts_numpy_and_zero_d_tensor_probabilities():
    q, k, v = make_qkv(L_q=2, L_k=2)
    for p in (np.float64(0.0), torch.tensor(0.0), 0):
        out, w = scaled_dot_product_attention(q, k, v, dropout_p=p)
        assert_close(out, scaled_dot_product_attention(q, k, v)[0])


# ------------------------------------------------------------------- bad inputs


def test_mask_that_would_enlarge_scores_raises():
    q, k, v = make_qkv(2, L_q=3, L_k=3)  # scores (2, 3, 3)
    pad = torch.ones(2, 1, 1, 3, dtype=torch.bool)  # would silently give (2, 2, 3, 3)
    with pytest.raises(ValueError, match=r"mask has shape \(2, 1, 1, 3\).*enlarge"):
        scaled_dot_product_attention(q, k, v, mask=pad)


def test_mask_that_does_not_broadcast_raises():
    q, k, v = make_qkv(2, L_q=3, L_k=5)
    with pytest.raises(ValueError, match=r"mask has shape \(3, 4\)"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(3, 4, dtype=torch.bool))


@pytest.mark.parametrize(
    "mask", [torch.ones(3, 5), torch.ones(3, 5, dtype=torch.long), np.ones((3, 5), dtype=bool)],
    ids=["float", "int", "numpy"],
)
def test_non_bool_mask_raises(mask):
    # An additive float mask (0 / -inf) or a 0/1 integer mask would otherwise be misread.
    q, k, v = make_qkv(L_q=3, L_k=5)
    with pytest.raises(ValueError, match=r"mask(=| is ).*; expected a boolean"):
        scaled_dot_product_attention(q, k, v, mask=mask)


@pytest.mark.parametrize(
    "shapes, match",
    [
        (((3, 4), (5, 4), (4, 6)), r"v has shape \(4, 6\)"),
        (((3, 4), (5, 3), (5, 6)), r"q has d_k=4 .* k has d_k=3"),
        (((4,), (5, 4), (5, 6)), r"q has shape \(4,\)"),
        (((3, 4), (4,), (5, 6)), r"k has shape \(4,\)"),
        (((3, 4), (5, 4), (6,)), r"v has shape \(6,\)"),
        (((2, 3, 4), (3, 5, 4), (3, 5, 6)), "batch dimensions"),
    ],
)
def test_bad_shapes_raise_naming_the_argument(shapes, match):
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(q, k, v)


def test_masked_softmax_hand_computed_and_mask_checked():
    scores = torch.tensor([[0.0, math.log(3.0), 5.0]], dtype=F64)
    w = masked_softmax(scores, torch.tensor([[True, True, False]]))
    assert_close(w, torch.tensor([[0.25, 0.75, 0.0]], dtype=F64))
    with pytest.raises(ValueError, match="boolean"):
        masked_softmax(scores, torch.tensor([[1, 1, 0]]))


# ------------------------------------------------------------- additive attention


def additive_inputs(*, requires_grad=False, d_q=3, d_k=2, h=4):
    g = torch.Generator().manual_seed(6)
    q = torch.randn(2, 3, d_q, generator=g, dtype=F64)
    k = torch.randn(2, 4, d_k, generator=g, dtype=F64)
    v = torch.randn(2, 4, 5, generator=g, dtype=F64)
    w_q = torch.randn(d_q, h, generator=g, dtype=F64)
    w_k = torch.randn(d_k, h, generator=g, dtype=F64)
    w_v = torch.randn(h, generator=g, dtype=F64)
    ts = [t.requires_grad_(requires_grad) for t in (q, k, v, w_q, w_k, w_v)]
    return ts[0], ts[1], ts[2], ts[3:]


def test_additive_attention_matches_explicit_loop():
    q, k, v, (w_q, w_k, w_v) = additive_inputs()  # d_q = 3 differs from d_k = 2
    mask = torch.tensor([[True, False, True, True], [True] * 4, [False, True, False, False]])
    out, w = additive_attention(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask)
    B, L_q, L_k = 2, 3, 4
    for b in range(B):
        for i in range(L_q):
            scores = []
            for j in range(L_k):
                hidden = [math.tanh(sum(q[b, i, a].item() * w_q[a, c].item() for a in range(3))
                                    + sum(k[b, j, a].item() * w_k[a, c].item() for a in range(2)))
                          for c in range(4)]
                scores.append(sum(w_v[c].item() * hidden[c] for c in range(4)))
            allowed = [j for j in range(L_k) if mask[i, j]]
            top = max(scores[j] for j in allowed)
            z = sum(math.exp(scores[j] - top) for j in allowed)
            expected = [math.exp(scores[j] - top) / z if mask[i, j] else 0.0 for j in range(L_k)]
            assert_close(w[b, i], torch.tensor(expected, dtype=F64))
            assert_close(out[b, i], torch.tensor(expected, dtype=F64) @ v[b])


def test_additive_attention_fully_masked_row_is_zero():
    q, k, v, (w_q, w_k, w_v) = additive_inputs()
    mask = torch.tensor([[True] * 4, [False] * 4, [True] * 4])
    out, w = additive_attention(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask)
    assert (w[:, 1] == 0).all() and (out[:, 1] == 0).all() and torch.isfinite(out).all()


def test_additive_attention_swapped_projections_raise():
    q, k, v, (w_q, w_k, w_v) = additive_inputs()  # w_q (3, 4), w_k (2, 4)
    with pytest.raises(ValueError, match=r"w_q has shape \(2, 4\)"):
        additive_attention(q, k, v, w_q=w_k, w_k=w_q, w_v=w_v)
    with pytest.raises(ValueError, match=r"w_k has shape \(3, 4\)"):
        additive_attention(q, k, v, w_q=w_q, w_k=w_q, w_v=w_v)
    with pytest.raises(ValueError, match=r"w_v has shape \(3,\)"):
        additive_attention(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v[:3])
    with pytest.raises(ValueError, match="v has shape"):
        additive_attention(q, k, v[:, :3], w_q=w_q, w_k=w_k, w_v=w_v)
    with pytest.raises(TypeError):  # keyword-only: a positional call cannot swap them
        additive_attention(q, k, v, w_q, w_k, w_v)


# --------------------------------------------------------------- Nadaraya-Watson


def test_nadaraya_watson_hand_computed():
    # Query 0, keys 0 and 1, bandwidth 1: scores 0 and -1/2, so weights 1/(1+e^-½), e^-½/(1+e^-½).
    a = 1 / (1 + math.exp(-0.5))
    out, w = nadaraya_watson(torch.tensor([0.0], dtype=F64), torch.tensor([0.0, 1.0], dtype=F64),
                             torch.tensor([1.0, 3.0], dtype=F64))
    assert_close(w, torch.tensor([[a, 1 - a]], dtype=F64))
    assert_close(out, torch.tensor([a * 1.0 + (1 - a) * 3.0], dtype=F64))
    # Bandwidth 0.5: the far key's score is -1/(2·0.25) = -2.
    _, w = nadaraya_watson(torch.tensor([0.0], dtype=F64), torch.tensor([0.0, 1.0], dtype=F64),
                           torch.tensor([1.0, 3.0], dtype=F64), bandwidth=0.5)
    b = 1 / (1 + math.exp(-2.0))
    assert_close(w, torch.tensor([[b, 1 - b]], dtype=F64))


def test_nadaraya_watson_matches_numpy_kernel_regression():
    g = torch.Generator().manual_seed(7)
    x, xs, ys = (torch.rand(n, generator=g, dtype=F64) * 5 for n in (6, 9, 9))
    out, w = nadaraya_watson(x, xs, ys, bandwidth=0.7)
    xn, xsn, ysn = x.numpy(), xs.numpy(), ys.numpy()
    kernel = np.exp(-((xn[:, None] - xsn[None, :]) ** 2) / (2 * 0.7**2))  # Gaussian kernel
    expected_w = kernel / kernel.sum(axis=1, keepdims=True)
    assert_close(w, torch.from_numpy(expected_w))
    assert_close(out, torch.from_numpy(expected_w @ ysn))


def test_nadaraya_watson_scalar_and_vector_values_agree():
    g = torch.Generator().manual_seed(8)
    x, xs = torch.rand(2, 4, generator=g, dtype=F64), torch.rand(2, 7, generator=g, dtype=F64)
    ys = torch.randn(2, 7, 3, generator=g, dtype=F64)  # (B, L_k, d_v)
    out_vec, w = nadaraya_watson(x, xs, ys)
    assert out_vec.shape == (2, 4, 3) and w.shape == (2, 4, 7)
    for c in range(3):
        out_c, w_c = nadaraya_watson(x, xs, ys[..., c])
        assert out_c.shape == (2, 4)
        assert_close(out_c, out_vec[..., c])
        assert_close(w_c, w)


def test_nadaraya_watson_bad_inputs_raise():
    xs = torch.rand(5)
    with pytest.raises(ValueError, match="bandwidth"):
        nadaraya_watson(torch.rand(3), xs, torch.rand(5), bandwidth=0.0)
    with pytest.raises(ValueError, match=r"values has shape \(4,\)"):
        nadaraya_watson(torch.rand(3), xs, torch.rand(4))
    with pytest.raises(ValueError, match=r"values has shape \(4, 2\)"):
        nadaraya_watson(torch.rand(3), xs, torch.rand(4, 2))


def test_nadaraya_watson_bandwidth_is_a_positive_number_or_tensor():
    xs, ys = torch.rand(5, dtype=F64), torch.rand(5, dtype=F64)
    for bad in ("0.5", True, -1.0, float("inf")):
        with pytest.raises(ValueError, match="bandwidth="):
            nadaraya_watson(torch.rand(3, dtype=F64), xs, ys, bandwidth=bad)
    with pytest.raises(ValueError, match="bandwidth="):
        nadaraya_watson(torch.rand(3, dtype=F64), xs, ys, bandwidth=torch.tensor(-0.5, dtype=F64))
    # A learnable bandwidth stays a tensor and gets a gradient; a float one gives the same numbers.
    sigma = torch.tensor(0.4, dtype=F64, requires_grad=True)
    out, _ = nadaraya_watson(torch.rand(3, dtype=F64), xs, ys, bandwidth=sigma)
    out.sum().backward()
    assert sigma.grad is not None and torch.isfinite(sigma.grad)
    queries = torch.linspace(0, 1, 3, dtype=F64)
    assert_close(nadaraya_watson(queries, xs, ys, bandwidth=sigma)[0].detach(),
                 nadaraya_watson(queries, xs, ys, bandwidth=0.4)[0])


def test_self_attention_sizes_are_positive_ints_not_bools():
    # True is an int in Python (True == 1) but never a size.
    for args in ((True, 2), (8, True), (8, 2, True), (8.0, 2), ("8", 2)):
        with pytest.raises(ValueError, match=r"(d_model|d_k|d_v)=.*; expected a positive int"):
            SelfAttention(*args)
    with pytest.raises(ValueError, match=r"bias=1; expected True or False"):
        SelfAttention(8, 2, bias=1)
    module = SelfAttention(np.int64(8), torch.tensor(2))  # integer-like sizes are accepted, as ints
    assert (module.d_model, module.d_k, module.d_v) == (8, 2, 2)
    assert all(type(n) is int for n in (module.d_model, module.d_k, module.d_v))


def test_additive_attention_matches_numpy_twin_with_mask():
    g = torch.Generator().manual_seed(11)
    q, k, v = (torch.randn(2, *s, generator=g, dtype=torch.float64) for s in ((3, 4), (5, 6), (5, 2)))
    w_q, w_k, w_v = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((4, 7), (6, 7), (7,)))
    mask = torch.rand(2, 3, 5, generator=g) < 0.6
    mask[1, 2] = False  # one fully masked row
    out, w = additive_attention(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask)
    out_np, w_np = numpy_ref.additive_attention(
        q.numpy(), k.numpy(), v.numpy(), w_q=w_q.numpy(), w_k=w_k.numpy(), w_v=w_v.numpy(), mask=mask.numpy()
    )
    assert_close(w, torch.from_numpy(w_np))
    assert_close(out, torch.from_numpy(out_np))


@pytest.mark.parametrize("value_shape", [(2, 9), (2, 9, 3)])
def test_nadaraya_watson_matches_numpy_twin(value_shape):
    g = torch.Generator().manual_seed(12)
    queries, keys = torch.rand(2, 5, generator=g, dtype=torch.float64), torch.rand(2, 9, generator=g, dtype=torch.float64)
    values = torch.randn(*value_shape, generator=g, dtype=torch.float64)
    out, w = nadaraya_watson(queries, keys, values, bandwidth=0.3)
    out_np, w_np = numpy_ref.nadaraya_watson(queries.numpy(), keys.numpy(), values.numpy(), bandwidth=0.3)
    assert_close(w, torch.from_numpy(w_np))
    assert_close(out, torch.from_numpy(out_np))
