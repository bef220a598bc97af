"""Tests for course_lib.masks: causal and padding masks, combining them, torch's convention.

References: hand-written small masks, ``torch.ones(L, L).tril()``, the numpy twins in
``course_lib.numpy_ref``, ``torch.nn.MultiheadAttention`` and
``torch.nn.functional.scaled_dot_product_attention``.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import numpy_ref
from course_lib.attention import masked_softmax, scaled_dot_product_attention
from course_lib.masks import causal_mask, combine_masks, from_torch_mask, padding_mask, to_torch_mask

T, F_ = True, False


# -- causal_mask -------------------------------------------------------------------------------


def test_causal_mask_hand_written_3x3():
    expected = torch.tensor([[T, F_, F_], [T, T, F_], [T, T, T]])
    got = causal_mask(3)
    assert got.dtype == torch.bool and got.shape == (3, 3)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("L", [1, 2, 5, 9])
def test_causal_mask_matches_tril_and_numpy(L):
    assert torch.equal(causal_mask(L), torch.ones(L, L).tril().bool())
    np.testing.assert_array_equal(causal_mask(L).numpy(), numpy_ref.causal_mask(L))


def test_causal_mask_includes_the_diagonal_and_is_not_transposed():
    m = causal_mask(6)
    # Off by one either way: the diagonal excluded (tril(-1)) or one key too many (tril(1)).
    assert m.diagonal().all(), "a query must see its own position"
    assert not m.diagonal(1).any(), "a query must not see the next position"
    # Transposed (upper triangular): query 0 would see everything, the last query only itself.
    assert m[0].sum() == 1 and m[-1].sum() == 6
    assert m[5, 0] and not m[0, 5]


def test_causal_mask_device_and_empty():
    assert causal_mask(4, device="cpu").device.type == "cpu"
    assert causal_mask(0).shape == (0, 0)


@pytest.mark.parametrize("bad", [-1, 2.0, True, "3", None, torch.tensor([3]), torch.tensor(3.0)])
def test_causal_mask_rejects_bad_length(bad):
    with pytest.raises(ValueError, match=r"^L=.*; expected a non-negative int"):
        causal_mask(bad)


@pytest.mark.parametrize("length", [np.int64(3), np.int32(3), torch.tensor(3)])
def test_causal_mask_accepts_integer_likes(length):
    # A length read off an array or a tensor (x.shape[0] of a numpy array, lengths.max()).
    assert torch.equal(causal_mask(length), causal_mask(3))


# -- padding_mask ------------------------------------------------------------------------------


def test_padding_mask_hand_written():
    expected = torch.tensor([[[T, T, T, F_]], [[T, F_, F_, F_]], [[F_, F_, F_, F_]]])
    for lengths in ([3, 1, 0], torch.tensor([3, 1, 0]), (3, 1, 0)):
        got = padding_mask(lengths, 4)
        assert got.dtype == torch.bool and got.shape == (3, 1, 4)
        assert torch.equal(got, expected)


@pytest.mark.parametrize("lengths,max_len", [([3, 1, 0], 3), ([5, 2, 4, 1], 7), ([0], 0), ([], 4)])
def test_padding_mask_matches_numpy(lengths, max_len):
    got = padding_mask(torch.tensor(lengths, dtype=torch.long), max_len)
    expected = numpy_ref.padding_mask(np.array(lengths, dtype=np.int64), max_len)
    assert got.shape == expected.shape == (len(lengths), 1, max_len)
    np.testing.assert_array_equal(got.numpy(), expected)


def test_padding_mask_broadcasts_over_queries_in_attention():
    torch.manual_seed(0)
    lengths, L = [4, 2], 5
    q, k, v = torch.randn(3, 2, L, 3, dtype=torch.float64).unbind(0)
    out, w = scaled_dot_product_attention(q, k, v, padding_mask(lengths, L))
    for b, n in enumerate(lengths):
        assert (w[b, :, n:] == 0).all()  # no query looks at padding
        torch.testing.assert_close(w[b, :, :n].sum(-1), torch.ones(L, dtype=torch.float64))
        # Same result as attending over the unpadded sequence alone.
        ref_out, _ = numpy_ref.scaled_dot_product_attention(q[b].numpy(), k[b, :n].numpy(), v[b, :n].numpy())
        torch.testing.assert_close(out[b], torch.from_numpy(ref_out))


@pytest.mark.parametrize(
    "lengths,max_len,match",
    [
        ([3, 5], 4, "lengths"),  # too long
        ([-1, 2], 4, "lengths"),  # negative
        ([[1, 2]], 4, "lengths"),  # not 1-D
        (torch.tensor([1.0, 2.0]), 4, "lengths"),  # not integers
        ([1, 2], -1, "max_len"),
        ([1, 2], 4.0, "max_len"),
    ],
)
def test_padding_mask_rejects_bad_input(lengths, max_len, match):
    with pytest.raises(ValueError, match=match):
        padding_mask(lengths, max_len)


@pytest.mark.parametrize(
    "lengths, shown",
    [
        ([2.5], r"lengths\[0\]=2\.5"),  # torch would truncate it to 2
        ([3, True], r"lengths\[1\]=True"),
        (np.array([2.0, 1.0]), r"lengths\[0\]=(np\.float64\()?2\.0\)?"),  # numpy 2 shows the type
        (None, r"lengths=None"),
        (3, r"lengths=3"),
        ("31", r"lengths='31'"),
    ],
)
def test_padding_mask_refuses_lengths_that_are_not_integers(lengths, shown):
    with pytest.raises(ValueError, match=rf"^{shown}; expected .*one length per sequence"):
        padding_mask(lengths, 4)


def test_padding_mask_accepts_integer_likes():
    expected = padding_mask([3, 1], 4)
    for lengths, max_len in (([np.int64(3), np.int64(1)], 4), (np.array([3, 1]), np.int64(4)),
                             (range(3, 0, -2), torch.tensor(4)), (torch.tensor([3, 1], dtype=torch.int32), 4)):
        assert torch.equal(padding_mask(lengths, max_len), expected), (lengths, max_len)


# -- combine_masks -----------------------------------------------------------------------------


def test_combine_causal_and_padding_is_an_and_with_broadcasting():
    lengths, L = [3, 1, 0], 4
    got = combine_masks(causal_mask(L), padding_mask(lengths, L))
    assert got.shape == (3, L, L) and got.dtype == torch.bool
    for b, n in enumerate(lengths):
        for i in range(L):
            for j in range(L):
                assert got[b, i, j] == (j <= i and j < n), (b, i, j)
    # Against the numpy twins, combined the numpy way.
    np.testing.assert_array_equal(
        got.numpy(), np.logical_and(numpy_ref.causal_mask(L), numpy_ref.padding_mask(lengths, L))
    )


def test_combine_masks_is_and_not_or():
    a = torch.tensor([[T, T, F_, F_]])
    b = torch.tensor([[T, F_, T, F_]])
    assert torch.equal(combine_masks(a, b), torch.tensor([[T, F_, F_, F_]]))


def test_combine_masks_skips_none_and_copies_a_lone_mask():
    m = causal_mask(3)
    got = combine_masks(None, m, None)
    assert torch.equal(got, m)
    got[0, 0] = False
    assert m[0, 0], "combine_masks must not return its input itself"
    assert torch.equal(combine_masks(m, torch.ones(2, 3, 3, dtype=torch.bool)), m.expand(2, 3, 3))


def test_combine_masks_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"^masks=\(\); expected at least one boolean mask .*no mask"):
        combine_masks()
    with pytest.raises(ValueError, match=r"^masks=\(None, None\); expected at least one boolean mask"):
        combine_masks(None, None)
    with pytest.raises(ValueError, match=r"^masks\[2\] has shape \(2, 1, 5\); expected a shape that broadcasts with \(4, 4\)"):
        combine_masks(causal_mask(4), None, padding_mask([1, 2], 5))
    with pytest.raises(ValueError, match=r"^masks\[1\]=a tensor of shape \(4, 4\) and dtype torch.float32; "
                                         r"expected a boolean tensor"):
        combine_masks(causal_mask(4), torch.ones(4, 4))
    with pytest.raises(ValueError, match=r"^masks\[0\]=\[\[True\]\]; expected a boolean tensor"):
        combine_masks([[True]])


# -- leakage: the causal mask really hides the future --------------------------------------------


def _self_attention(x, mask, seed=1):
    """Single-head self-attention with fixed random projections; x is (L, D)."""
    g = torch.Generator().manual_seed(seed)
    w_q, w_k, w_v = torch.randn(3, x.shape[-1], x.shape[-1], generator=g, dtype=x.dtype) / x.shape[-1] ** 0.5
    return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v, mask)[0]


@pytest.mark.parametrize("t", [0, 3, 6])
def test_causal_mask_stops_future_tokens_leaking(t):
    torch.manual_seed(0)
    L, D = 8, 6
    x = torch.randn(L, D, dtype=torch.float64)
    x_changed = x.clone()
    x_changed[t + 1 :] = torch.randn(L - t - 1, D, dtype=torch.float64)  # new tokens after t

    with_mask = _self_attention(x, causal_mask(L)), _self_attention(x_changed, causal_mask(L))
    # Exactly equal, not merely close: masked keys get weight exactly 0.
    assert torch.equal(with_mask[0][: t + 1], with_mask[1][: t + 1])
    if t + 1 < L:
        assert (with_mask[0][t + 1 :] - with_mask[1][t + 1 :]).abs().amax(-1).min() > 1e-3

    without = _self_attention(x, None), _self_attention(x_changed, None)
    if t + 1 < L:  # without the mask, the past sees the future: every output changes
        assert (without[0][: t + 1] - without[1][: t + 1]).abs().amax(-1).min() > 1e-2


# -- torch's opposite convention -----------------------------------------------------------------


def test_to_torch_mask_matches_torch_helpers_and_round_trips():
    L = 5
    torch_causal = torch.nn.Transformer.generate_square_subsequent_mask(L)  # float: 0 / -inf
    assert torch.equal(to_torch_mask(causal_mask(L)), torch.isinf(torch_causal))
    assert torch.equal(to_torch_mask(causal_mask(L)), torch.ones(L, L).triu(1).bool())
    assert torch.equal(from_torch_mask(torch_causal), causal_mask(L))
    m = torch.rand(2, 3, 4, generator=torch.Generator().manual_seed(0)) < 0.5
    assert torch.equal(from_torch_mask(to_torch_mask(m)), m)
    assert not (to_torch_mask(m) & m).any()  # the meaning really flips

    pad = padding_mask([3, 1, 0], 4)
    kpm = to_torch_mask(pad, key_padding=True)
    assert torch.equal(kpm, torch.tensor([[F_, F_, F_, T], [F_, T, T, T], [T, T, T, T]]))
    assert torch.equal(from_torch_mask(kpm, key_padding=True), pad)


def test_converters_reject_bad_input():
    with pytest.raises(ValueError, match=r"^mask=a tensor .* torch.float32; expected a boolean tensor"):
        to_torch_mask(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"^mask has shape \(3, 3\); expected \(B, 1, L_k\)"):
        to_torch_mask(causal_mask(3), key_padding=True)
    with pytest.raises(ValueError, match=r"^mask=.*; expected bool, or float of only 0 and -inf \(it has other values"):
        from_torch_mask(torch.full((3, 3), -1e9))
    with pytest.raises(ValueError, match=r"^mask=.*torch.int64; expected bool, or float of only 0 and -inf$"):
        from_torch_mask(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^mask is a list; expected a torch.Tensor"):
        from_torch_mask([[True]])
    with pytest.raises(ValueError, match=r"^mask has shape \(2, 1, 3\); expected \(B, L_k\)"):
        from_torch_mask(torch.zeros(2, 1, 3, dtype=torch.bool), key_padding=True)


def test_converted_masks_agree_with_nn_multihead_attention():
    torch.manual_seed(0)
    B, L, d_model, H = 3, 5, 8, 2
    lengths = [5, 3, 1]  # every query keeps at least key 0: no fully masked row (MHA gives NaN there)
    mha = torch.nn.MultiheadAttention(d_model, H, batch_first=True, dtype=torch.float64).eval()
    x = torch.randn(B, L, d_model, dtype=torch.float64)
    causal, pad = causal_mask(L), padding_mask(lengths, L)
    with torch.no_grad():
        ref_out, ref_w = mha(
            x, x, x,
            attn_mask=to_torch_mask(causal),
            key_padding_mask=to_torch_mask(pad, key_padding=True),
            average_attn_weights=False,
        )
        # The same computation with our mask convention and our attention.
        q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
        heads = [t.view(B, L, H, d_model // H).transpose(1, 2) for t in (q, k, v)]  # (B, H, L, d_head)
        mask = combine_masks(causal, pad)[:, None]  # (B, 1, L, L): add the head axis
        out, w = scaled_dot_product_attention(*heads, mask)
        out = mha.out_proj(out.transpose(1, 2).reshape(B, L, d_model))
    torch.testing.assert_close(w, ref_w)
    torch.testing.assert_close(out, ref_out)
    # The inverted (unconverted) mask gives something else entirely.
    with torch.no_grad():
        wrong, _ = mha(x, x, x, attn_mask=causal, key_padding_mask=to_torch_mask(pad, key_padding=True))
    assert not torch.allclose(wrong.nan_to_num(), ref_out)


def test_functional_sdpa_shares_our_convention():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 3, dtype=torch.float64).unbind(0)
    mask = combine_masks(causal_mask(4), padding_mask([4, 2], 4))
    torch.testing.assert_close(
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        scaled_dot_product_attention(q, k, v, mask)[0],
    )


# -- -inf versus a large negative number, in float16 and float32 ---------------------------------


def _leak(scores, mask, fill):
    """Total weight a plain softmax puts on masked keys when they are filled with ``fill``."""
    filled = torch.where(mask, scores, torch.tensor(fill, dtype=scores.dtype))
    w = torch.softmax(filled.float(), dim=-1)  # softmax in fp32, as mixed precision does
    return (w * ~mask).sum(-1)


def test_fp16_minus_1e9_overflows_to_minus_inf():
    assert torch.tensor(-1e9, dtype=torch.float16) == -math.inf
    assert torch.tensor(-1e4, dtype=torch.float16) == -1e4
    with pytest.raises(RuntimeError, match="overflow"):  # masked_fill refuses it outright
        torch.zeros(2, dtype=torch.float16).masked_fill(torch.tensor([T, F_]), -1e9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_fill_value_matters_only_on_fully_masked_rows(dtype):
    g = torch.Generator().manual_seed(0)
    scores = (torch.randn(4, 6, generator=g) * 3).to(dtype)
    mask = padding_mask([6, 4, 1, 0], 6)[:, 0]  # (4, 6); the last row has no visible key
    for fill in (-1e4, -1e9, -math.inf):
        leak = _leak(scores, mask, fill)
        # A row with a visible key: exp(fill - max) underflows to exactly 0, whatever the fill.
        assert (leak[:3] == 0).all(), (dtype, fill)
        # A fully masked row: a finite fill spreads all the weight over the masked keys ...
        finite = torch.tensor(fill, dtype=dtype).isfinite()
        if finite:
            assert leak[3] == pytest.approx(1.0)
        else:  # ... -inf (or -1e9 overflowed to -inf in fp16) makes a plain softmax give NaN.
            assert leak[3].isnan()
    assert torch.tensor(-1e9, dtype=dtype).isfinite() == (dtype == torch.float32)
    # Our masked softmax uses -inf and returns zeros for the empty row, in either dtype.
    w = masked_softmax(scores, mask)
    assert not w.isnan().any() and (w[3] == 0).all() and (w * ~mask == 0).all()
