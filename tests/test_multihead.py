"""Tests of course_lib.multihead against torch.nn.MultiheadAttention and the numpy twin."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from course_lib import numpy_ref
from course_lib.multihead import MultiHeadAttention, merge_heads, split_heads

D_MODEL, HEADS = 12, 3


def _inputs(seed: int, batch: int, len_q: int, len_k: int, d_model: int = D_MODEL, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    make = lambda n: torch.randn(batch, n, d_model, generator=g, dtype=dtype)  # noqa: E731
    return make(len_q), make(len_k), make(len_k)


def _torch_mha(seed: int, *, bias: bool = True, d_model: int = D_MODEL, heads: int = HEADS, batch_first=True):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=batch_first)
    # Torch initialises its biases to zero; random ones make a wrong bias copy visible.
    if bias:
        with torch.no_grad():
            ref.in_proj_bias.normal_()
            ref.out_proj.bias.normal_()
    return ref


# -- split_heads / merge_heads -------------------------------------------------------------

def test_split_heads_gives_each_head_a_column_block_of_every_position():
    # Hand-readable input: x[b, i, f] = 100 b + 10 i + f.
    b, i, f = torch.meshgrid(torch.arange(2), torch.arange(3), torch.arange(6), indexing="ij")
    x = (100 * b + 10 * i + f).float()
    heads = split_heads(x, 2)
    assert heads.shape == (2, 2, 3, 3)
    # Head 1 holds features 3..5 of all three positions, positions kept in order.
    assert_close(heads[1, 1], torch.tensor([[103.0, 104, 105], [113, 114, 115], [123, 124, 125]]))
    # A reshape without the transpose would give head 0 the first 1.5 positions instead.
    wrong = x.reshape(2, 2, 3, 3)
    assert not torch.equal(heads, wrong)


def test_split_and_merge_match_numpy_twin():
    x = torch.randn(3, 5, 12, generator=torch.Generator().manual_seed(1))
    for num_heads in (1, 2, 3, 4, 6, 12):
        heads = split_heads(x, num_heads)
        np.testing.assert_array_equal(heads.numpy(), numpy_ref.split_heads(x.numpy(), num_heads))
        np.testing.assert_array_equal(merge_heads(heads).numpy(), numpy_ref.merge_heads(heads.numpy()))


def test_merge_is_the_inverse_of_split():
    x = torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(merge_heads(split_heads(x, 4)), x)
    h = torch.randn(2, 4, 7, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(split_heads(merge_heads(h), 4), h)


def test_merge_heads_places_head_h_in_column_block_h():
    h = torch.randn(1, 3, 4, 2, generator=torch.Generator().manual_seed(4))
    merged = merge_heads(h)
    for head in range(3):
        assert torch.equal(merged[0, :, 2 * head:2 * head + 2], h[0, head])


def test_split_merge_errors():
    with pytest.raises(ValueError, match="d_model=12 is not divisible by num_heads=5"):
        split_heads(torch.zeros(1, 2, 12), 5)
    with pytest.raises(ValueError, match=r"x has shape \(2, 12\); expected \(B, L, d_model\)"):
        split_heads(torch.zeros(2, 12), 3)
    with pytest.raises(ValueError, match=r"x has shape \(2, 3, 12\); expected \(B, H, L, d_head\)"):
        merge_heads(torch.zeros(2, 3, 12))


# -- parity with torch.nn.MultiheadAttention ------------------------------------------------

MASK_KINDS = ["none", "attn", "padding", "both"]


def _masks(kind: str, batch: int, len_q: int, len_k: int, seed: int):
    """Our mask (True = attend) and torch's (attn_mask, key_padding_mask), True = ignore."""
    g = torch.Generator().manual_seed(seed)
    attn = torch.rand(len_q, len_k, generator=g) < 0.7
    attn[:, 0] = True  # torch gives NaN for fully masked rows: keep one key per query
    lengths = torch.randint(1, len_k + 1, (batch,), generator=g)
    lengths[0] = len_k - 1  # at least one padded key
    keep = torch.arange(len_k) < lengths[:, None]  # (B, L_k)
    ours = {"none": None, "attn": attn, "padding": keep[:, None, :], "both": attn & keep[:, None, :]}[kind]
    torch_kw = {
        "attn_mask": ~attn if kind in ("attn", "both") else None,
        "key_padding_mask": ~keep if kind in ("padding", "both") else None,
    }
    return ours, torch_kw


@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize("len_q,len_k", [(6, 6), (4, 7)], ids=["self", "cross"])
@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_matches_forward_and_backward(mask_kind, len_q, len_k, bias):
    ref = _torch_mha(0, bias=bias).double()
    ours = MultiHeadAttention.from_torch(ref)
    query, key, value = _inputs(1, 3, len_q, len_k, dtype=torch.float64)
    if len_q == len_k:
        key = value = query  # genuine self-attention: one tensor, three roles
    mask, torch_kw = _masks(mask_kind, 3, len_q, len_k, seed=2)
    inputs_ref = [t.clone().requires_grad_() for t in (query, key, value)]
    inputs_ours = [t.clone().requires_grad_() for t in (query, key, value)]

    out_ref, w_ref = ref(*inputs_ref, **torch_kw, need_weights=True, average_attn_weights=False)
    out, weights = ours(*inputs_ours, mask=mask)
    assert weights.shape == (3, HEADS, len_q, len_k)
    assert_close(out, out_ref)
    assert_close(weights, w_ref)
    _, w_avg = ref(*inputs_ref, **torch_kw, need_weights=True)  # torch's default: head mean
    assert_close(weights.mean(dim=1), w_avg)

    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=out.dtype)
    out_ref.backward(grad)
    out.backward(grad)
    for a, b in zip(inputs_ours, inputs_ref):
        assert_close(a.grad, b.grad)
    d = D_MODEL
    w_in = ref.in_proj_weight.grad
    for i, linear in enumerate((ours.w_q, ours.w_k, ours.w_v)):
        assert_close(linear.weight.grad, w_in[i * d:(i + 1) * d])
    assert_close(ours.w_o.weight.grad, ref.out_proj.weight.grad)
    if bias:
        b_in = ref.in_proj_bias.grad
        for i, linear in enumerate((ours.w_q, ours.w_k, ours.w_v)):
            assert_close(linear.bias.grad, b_in[i * d:(i + 1) * d])
        assert_close(ours.w_o.bias.grad, ref.out_proj.bias.grad)
    else:
        assert all(lin.bias is None for lin in (ours.w_q, ours.w_k, ours.w_v, ours.w_o))


def test_from_torch_float32_and_seq_first_module():
    # The weights of a batch_first=False module are the same; only its inputs are (L, B, d).
    ref = _torch_mha(5, batch_first=False)
    ours = MultiHeadAttention.from_torch(ref)
    assert ours.w_q.weight.dtype == torch.float32
    query, key, value = _inputs(6, 2, 5, 3)
    out_ref, w_ref = ref(query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1))
    out, weights = ours(query, key, value)
    assert_close(out, out_ref.transpose(0, 1))
    assert_close(weights.mean(1), w_ref)


def test_from_torch_copies_rather_than_shares():
    ref = _torch_mha(7)
    ours = MultiHeadAttention.from_torch(ref)
    with torch.no_grad():
        ours.w_q.weight.zero_()
    assert ref.in_proj_weight[:D_MODEL].abs().sum() > 0


def test_from_torch_rejects_unsupported_configurations():
    with pytest.raises(ValueError, match="kdim=5, vdim=7"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(12, 3, kdim=5, vdim=7, batch_first=True))
    with pytest.raises(ValueError, match="add_bias_kv"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(12, 3, add_bias_kv=True, batch_first=True))
    with pytest.raises(ValueError, match="expected nn.MultiheadAttention"):
        MultiHeadAttention.from_torch(nn.Linear(3, 3))


# -- the numpy twin: the paper's per-head loop ------------------------------------------------

@pytest.mark.parametrize("with_mask", [False, True])
def test_module_matches_numpy_per_head_loop(with_mask):
    torch.manual_seed(8)
    mha = MultiHeadAttention(D_MODEL, 4).double()
    query, key, value = _inputs(9, 2, 5, 6, dtype=torch.float64)
    mask = None
    if with_mask:
        mask = torch.rand(2, 5, 6, generator=torch.Generator().manual_seed(10)) < 0.5
        mask[1, 2] = False  # a fully masked query row: zero weights, output = W^O bias
    out, weights = mha(query, key, value, mask=mask)
    p = {name: getattr(mha, name) for name in ("w_q", "w_k", "w_v", "w_o")}
    out_np, weights_np = numpy_ref.multi_head_attention(
        query.numpy(), key.numpy(), value.numpy(), num_heads=4,
        **{name: lin.weight.detach().numpy().T for name, lin in p.items()},
        **{"b" + name[1:]: lin.bias.detach().numpy() for name, lin in p.items()},
        mask=None if mask is None else mask.numpy(),
    )
    np.testing.assert_allclose(out.detach().numpy(), out_np, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.detach().numpy(), weights_np, rtol=1e-10, atol=1e-12)
    if with_mask:
        assert torch.all(weights[1, :, 2] == 0)
        assert_close(out[1, 2], mha.w_o.bias.detach())


def test_heads_are_independent_slices_of_the_projections():
    # Changing head 1's rows of W_q may change only head 1's weights.
    torch.manual_seed(11)
    mha = MultiHeadAttention(D_MODEL, HEADS)
    x, _, _ = _inputs(12, 2, 5, 5)
    _, before = mha(x, x, x)
    with torch.no_grad():
        mha.w_q.weight[4:8] *= 3.0  # d_head = 4: rows 4..7 feed head 1
    _, after = mha(x, x, x)
    assert_close(after[:, [0, 2]], before[:, [0, 2]])
    assert not torch.allclose(after[:, 1], before[:, 1])


# -- the fast path ----------------------------------------------------------------------------

@pytest.mark.parametrize("mask_shape", [None, (5, 7), (2, 1, 7), (2, 5, 7)])
def test_fast_path_matches_explicit_path(mask_shape):
    torch.manual_seed(13)
    slow = MultiHeadAttention(D_MODEL, HEADS).double()
    fast = MultiHeadAttention(D_MODEL, HEADS, fast=True).double()
    fast.load_state_dict(slow.state_dict())
    mask = None
    if mask_shape is not None:
        mask = torch.rand(mask_shape, generator=torch.Generator().manual_seed(14)) < 0.6
        if mask_shape[-2] > 1:
            mask[..., 1, :] = False  # query 1 may attend to nothing
    inputs = _inputs(15, 2, 5, 7, dtype=torch.float64)
    xs_slow = [t.clone().requires_grad_() for t in inputs]
    xs_fast = [t.clone().requires_grad_() for t in inputs]
    out_slow, w_slow = slow(*xs_slow, mask=mask)
    out_fast, w_fast = fast(*xs_fast, mask=mask)
    assert w_fast is None and w_slow is not None
    assert_close(out_fast, out_slow)
    out_slow.square().sum().backward()
    out_fast.square().sum().backward()
    for a, b in zip(xs_fast, xs_slow):
        assert_close(a.grad, b.grad)
    for (name, p_fast), p_slow in zip(fast.named_parameters(), slow.parameters()):
        assert_close(p_fast.grad, p_slow.grad, msg=name)
    if mask is not None and mask_shape[-2] > 1:
        assert torch.all(out_fast[:, 1] == fast.w_o.bias)  # zero heads -> only the bias
        assert torch.isfinite(xs_fast[0].grad).all()


def test_fast_path_keeps_fully_masked_rows_zero_before_projection():
    mha = MultiHeadAttention(8, 2, bias=False, fast=True)
    x = torch.randn(1, 3, 8, generator=torch.Generator().manual_seed(16), requires_grad=True)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[0] = False
    out, _ = mha(x, x, x, mask=mask)
    assert torch.equal(out[0, 0], torch.zeros(8))
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


# -- gradients, dropout, errors -----------------------------------------------------------------

def test_gradcheck_float64():
    torch.manual_seed(17)
    mha = MultiHeadAttention(6, 2).double()
    q, k, v = (t.requires_grad_() for t in _inputs(18, 2, 3, 4, d_model=6, dtype=torch.float64))
    mask = torch.tensor([[True, False, True, True], [False, True, True, False], [True, True, True, True]])
    assert torch.autograd.gradcheck(lambda q, k, v: mha(q, k, v, mask=mask)[0], (q, k, v))


def test_dropout_acts_on_weights_in_training_only():
    torch.manual_seed(19)
    mha = MultiHeadAttention(D_MODEL, HEADS, dropout=0.5)
    x, _, _ = _inputs(20, 2, 6, 6)
    mha.eval()
    _, w_eval = mha(x, x, x)
    assert_close(w_eval.sum(-1), torch.ones(2, HEADS, 6))
    mha.train()
    torch.manual_seed(21)
    _, w_train = mha(x, x, x)
    dropped = w_train == 0
    assert 0.3 < dropped.float().mean() < 0.7
    assert_close(w_train[~dropped], 2 * w_eval[~dropped])  # survivors scaled by 1 / (1 - p)


def test_parameter_count_does_not_depend_on_heads():
    d = 64
    counts = {h: sum(p.numel() for p in MultiHeadAttention(d, h).parameters()) for h in (1, 2, 4, 8, 16)}
    assert set(counts.values()) == {4 * d * d + 4 * d}
    assert sum(p.numel() for p in nn.MultiheadAttention(d, 8).parameters()) == 4 * d * d + 4 * d


def test_constructor_errors():
    with pytest.raises(ValueError, match="d_model=512 is not divisible by num_heads=6"):
        MultiHeadAttention(512, 6)
    with pytest.raises(ValueError, match="num_heads=0"):
        MultiHeadAttention(512, 0)
    with pytest.raises(ValueError, match="dropout=1.5"):
        MultiHeadAttention(512, 8, dropout=1.5)


@pytest.mark.parametrize("args, kwargs, match", [
    ((True, 1), {}, r"d_model=True; expected a positive int"),  # True == 1 in Python, but not a size
    ((8, True), {}, r"num_heads=True; expected a positive int"),
    ((8.0, 2), {}, r"d_model=8.0; expected a positive int"),
    ((8, "2"), {}, r"num_heads='2'; expected a positive int"),
    ((8, 2), {"dropout": "0.1"}, r"dropout='0.1'; expected a probability 0 <= dropout < 1"),
    ((8, 2), {"dropout": True}, r"dropout=True; expected a probability"),
    ((8, 2), {"dropout": None}, r"dropout=None; expected a probability"),
    ((8, 2), {"bias": 1}, r"bias=1; expected True or False"),
    ((8, 2), {"fast": "yes"}, r"fast='yes'; expected True or False"),
], ids=["d_model-bool", "heads-bool", "d_model-float", "heads-str", "dropout-str", "dropout-bool",
        "dropout-None", "bias-int", "fast-str"])
def test_constructor_refuses_non_sizes_and_non_probabilities(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(*args, **kwargs)


def test_constructor_accepts_integer_like_sizes_as_ints():
    mha = MultiHeadAttention(np.int64(12), torch.tensor(3), dropout=np.float32(0.25))
    assert (mha.d_model, mha.num_heads, mha.d_head) == (12, 3, 4)
    assert all(type(n) is int for n in (mha.d_model, mha.num_heads, mha.d_head))
    assert type(mha.dropout) is float and mha.dropout == 0.25
    assert split_heads(torch.zeros(1, 2, 12), np.int64(4)).shape == (1, 4, 2, 3)
    with pytest.raises(ValueError, match="num_heads=True"):
        split_heads(torch.zeros(1, 2, 12), True)


def test_forward_shape_errors_name_the_argument():
    mha = MultiHeadAttention(D_MODEL, HEADS)
    good = torch.zeros(2, 5, D_MODEL)
    with pytest.raises(ValueError, match=r"query has shape \(2, 5, 10\); expected \(B, L_q, d_model=12\)"):
        mha(torch.zeros(2, 5, 10), good, good)
    with pytest.raises(ValueError, match=r"key has shape \(5, 12\)"):
        mha(good, torch.zeros(5, D_MODEL), good)
    with pytest.raises(ValueError, match="value"):
        mha(good, good, torch.zeros(2, 4, D_MODEL))
    with pytest.raises(ValueError, match="batch sizes 2, 3 and 2"):
        mha(good, torch.zeros(3, 5, D_MODEL), good)


def test_mask_errors():
    mha = MultiHeadAttention(D_MODEL, HEADS)
    x = torch.zeros(2, 5, D_MODEL)
    with pytest.raises(ValueError, match="boolean"):
        mha(x, x, x, mask=torch.ones(5, 5))
    # The old 4-D padding idiom (B, 1, 1, L_k) would broadcast to (B, B, ...) here: refused.
    with pytest.raises(ValueError, match="enlarge"):
        mha(x, x, x, mask=torch.ones(2, 1, 1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        mha(x, x, x, mask=torch.ones(5, 4, dtype=torch.bool))


def test_fast_path_applies_dropout_in_training_only():
    torch.manual_seed(22)
    mha = MultiHeadAttention(D_MODEL, HEADS, dropout=0.5, fast=True)
    x, _, _ = _inputs(23, 2, 6, 6)
    mha.eval()
    out_eval, _ = mha(x, x, x)
    assert_close(out_eval, mha(x, x, x)[0])  # deterministic in eval mode
    mha.train()
    out_train, _ = mha(x, x, x)
    assert torch.isfinite(out_train).all()
    assert not torch.allclose(out_train, out_eval)
