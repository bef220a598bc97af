"""Tests for course_lib.positional: the sinusoidal table, its rotation property, the modules.

References: an explicit double loop over (pos, i) with ``math.sin``/``math.cos``, the
numpy twin, entries computed by hand, and self-attention's permutation equivariance.
"""

import math

import numpy as np
import pytest
import torch

from course_lib import numpy_ref
from course_lib.attention import scaled_dot_product_attention
from course_lib.positional import (
    LearnedPositionalEmbedding,
    PositionalEncoding,
    frequencies,
    relative_rotation,
    sinusoidal_encoding,
)


def _double_loop(max_len, d_model):
    """The paper's formula, one entry at a time (Vaswani et al. 2017, section 3.5)."""
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    for pos in range(max_len):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            pe[pos, 2 * i] = math.sin(angle)
            pe[pos, 2 * i + 1] = math.cos(angle)
    return pe


# -- sinusoidal_encoding -----------------------------------------------------------------------


@pytest.mark.parametrize("max_len,d_model", [(1, 2), (7, 4), (30, 16), (50, 6)])
def test_matches_the_double_loop_and_the_numpy_twin(max_len, d_model):
    got = sinusoidal_encoding(max_len, d_model, dtype=torch.float64)
    assert got.shape == (max_len, d_model) and got.dtype == torch.float64
    torch.testing.assert_close(got, _double_loop(max_len, d_model), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.numpy(), numpy_ref.sinusoidal_encoding(max_len, d_model), rtol=0, atol=1e-12)


def test_default_dtype_is_float32_and_close_to_float64():
    pe = sinusoidal_encoding(2000, 32)
    assert pe.dtype == torch.float32
    # Computed in float64 then cast: far positions are as accurate as float32 allows.
    torch.testing.assert_close(pe.double(), _double_loop(2000, 32)[:, :], rtol=0, atol=1e-6)


def test_hand_computed_entries():
    pe = sinusoidal_encoding(3, 8, dtype=torch.float64)
    assert pe[0].tolist() == [0.0, 1.0] * 4  # sin 0 = 0, cos 0 = 1 in every pair
    assert pe[1, 0].item() == pytest.approx(math.sin(1.0), abs=1e-15)  # omega_0 = 1
    assert pe[1, 1].item() == pytest.approx(math.cos(1.0), abs=1e-15)
    # Pair i = 1 of d_model = 8 has omega = 10000^(-2/8) = 0.1.
    assert pe[2, 2].item() == pytest.approx(math.sin(0.2), abs=1e-15)
    assert pe[2, 3].item() == pytest.approx(math.cos(0.2), abs=1e-15)
    # The last pair, i = 3: omega = 10000^(-6/8) = 10^-3.
    assert pe[2, 6].item() == pytest.approx(math.sin(2e-3), abs=1e-15)


def test_layout_catches_swapped_concatenated_and_wrong_exponent():
    d = 8
    pe = sinusoidal_encoding(20, d, dtype=torch.float64)
    pos = torch.arange(20, dtype=torch.float64)[:, None]
    omega = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    swapped = torch.stack([torch.cos(pos * omega), torch.sin(pos * omega)], -1).flatten(1)
    halves = torch.cat([torch.sin(pos * omega), torch.cos(pos * omega)], -1)
    exponent_i = 10000 ** (-torch.arange(d // 2, dtype=torch.float64) / d)  # i/d instead of 2i/d
    wrong_exponent = torch.stack([torch.sin(pos * exponent_i), torch.cos(pos * exponent_i)], -1).flatten(1)
    for wrong in (swapped, halves, wrong_exponent):
        assert not torch.allclose(pe, wrong)
    # And directly: even columns are sines (0 at pos 0), odd columns cosines (1 at pos 0).
    assert (pe[0, 0::2] == 0).all() and (pe[0, 1::2] == 1).all()
    # Both columns of a pair share one frequency: sin^2 + cos^2 = 1 pair by pair.
    torch.testing.assert_close(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, torch.ones(20, d // 2, dtype=torch.float64))


def test_frequencies_are_geometric_from_one_to_nearly_one_over_10000():
    d = 64
    omega = frequencies(d)
    assert omega.shape == (d // 2,) and omega[0].item() == 1.0
    ratios = omega[1:] / omega[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, 10000 ** (-2 / d)))
    wavelengths = 2 * math.pi / omega
    assert wavelengths[0].item() == pytest.approx(2 * math.pi)
    assert wavelengths[-1].item() == pytest.approx(2 * math.pi * 10000 ** ((d - 2) / d))


def test_values_are_bounded_and_rows_have_norm_sqrt_half_d():
    pe = sinusoidal_encoding(5000, 64, dtype=torch.float64)
    assert pe.abs().max() <= 1.0
    torch.testing.assert_close(pe.norm(dim=-1), torch.full((5000,), math.sqrt(32), dtype=torch.float64))
    assert len(torch.unique(pe.round(decimals=6), dim=0)) == 5000  # every position distinct


@pytest.mark.parametrize("max_len,d_model,name", [(5, 7, "d_model"), (5, 0, "d_model"), (-3, 4, "max_len"),
                                                  (5.0, 4, "max_len"), (5, True, "d_model"), (True, 4, "max_len")])
def test_bad_sizes_raise_naming_the_argument(max_len, d_model, name):
    with pytest.raises(ValueError, match=rf"^{name}=.*; expected "):
        sinusoidal_encoding(max_len, d_model)
    with pytest.raises(ValueError, match=name):
        numpy_ref.sinusoidal_encoding(max_len, d_model)


def test_zero_positions_give_an_empty_table():
    # Legal, like torch.empty(0, 4): e.g. the encoding of an empty prefix. (The numpy twin,
    # a from-scratch view, still asks for at least one position.)
    pe = sinusoidal_encoding(0, 4)
    assert pe.shape == (0, 4) and pe.dtype == torch.float32
    with pytest.raises(ValueError, match="max_len"):
        numpy_ref.sinusoidal_encoding(0, 4)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.complex64, "float32", np.float32, None])
def test_a_table_that_is_not_floating_point_is_refused(dtype):
    # Cast to int64 the table would hold only 0, 1 and -1 (and True/False for bool).
    with pytest.raises(ValueError, match=r"^dtype=.*; expected a floating-point torch.dtype"):
        sinusoidal_encoding(4, 8, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_every_floating_dtype_is_accepted(dtype):
    pe = sinusoidal_encoding(4, 8, dtype=dtype)
    assert pe.dtype == dtype
    torch.testing.assert_close(pe.double(), sinusoidal_encoding(4, 8, dtype=torch.float64), rtol=0, atol=1e-2)


@pytest.mark.parametrize("base", [float("nan"), float("inf"), 0, -10000.0, True, "10000"])
def test_bad_base_is_a_value_error_naming_it(base):
    # Unchecked, NaN gives a NaN table and base <= 0 a bare "math domain error".
    for call in (lambda: sinusoidal_encoding(4, 8, base=base), lambda: frequencies(8, base=base),
                 lambda: relative_rotation(1, 8, base=base)):
        with pytest.raises(ValueError, match=r"^base=.*; expected a finite number > 0$"):
            call()


def test_sizes_and_offsets_may_be_numpy_or_tensor_integers():
    torch.testing.assert_close(sinusoidal_encoding(np.int64(6), torch.tensor(8)), sinusoidal_encoding(6, 8))
    torch.testing.assert_close(relative_rotation(np.int64(2), 8), relative_rotation(2, 8))
    torch.testing.assert_close(relative_rotation(torch.tensor(-3), np.int32(8)), relative_rotation(-3, 8))
    m = PositionalEncoding(np.int64(8), max_len=torch.tensor(20))
    assert (type(m.d_model), type(m.max_len)) == (int, int)
    x = torch.zeros(1, 3, 8)
    torch.testing.assert_close(m(x, offset=np.int64(2)), m(x, offset=2))
    for bad in (2.0, True, torch.tensor([2]), -1):
        with pytest.raises(ValueError, match=r"^offset=.*; expected a non-negative int"):
            m(x, offset=bad)
    for bad in (2.0, True, "2", None):
        with pytest.raises(ValueError, match=r"^k=.*; expected an int offset"):
            relative_rotation(bad, 8)


# -- relative positions: a fixed rotation ------------------------------------------------------


@pytest.mark.parametrize("k", [1, 5, 17, -4])
def test_shift_by_k_is_one_fixed_rotation_for_every_position(k):
    d, n = 16, 80
    pe = sinusoidal_encoding(n + abs(k), d, dtype=torch.float64)
    M = relative_rotation(k, d)
    start = max(0, -k)
    source, target = pe[start : start + n], pe[start + k : start + k + n]  # (n, d) each
    torch.testing.assert_close(source @ M.T, target, rtol=0, atol=1e-12)


def test_least_squares_recovers_the_rotation_from_scattered_positions():
    # Fit one linear map PE[pos] -> PE[pos + k] over positions spread far apart (so that even
    # the slowest pair turns): the fit is M_k, the same matrix for every position.
    d, k = 8, 7
    pos = torch.randperm(10_000, generator=torch.Generator().manual_seed(0))[:200]
    pe = sinusoidal_encoding(10_000 + k, d, dtype=torch.float64)
    fitted = torch.linalg.lstsq(pe[pos], pe[pos + k]).solution.T  # (d, d)
    torch.testing.assert_close(fitted, relative_rotation(k, d), rtol=0, atol=1e-8)


def test_rotation_is_block_diagonal_orthogonal_and_composes():
    d = 8
    M = relative_rotation(3, d)
    blocks = torch.block_diag(*[torch.ones(2, 2)] * (d // 2)).bool()
    assert (M[~blocks] == 0).all()
    torch.testing.assert_close(M @ M.T, torch.eye(d, dtype=torch.float64))
    torch.testing.assert_close(relative_rotation(2, d) @ relative_rotation(3, d), relative_rotation(5, d))
    torch.testing.assert_close(relative_rotation(-3, d), M.T)
    # Not the transposed rotation: for k = 1 the first block is [[cos 1, sin 1], [-sin 1, cos 1]].
    assert M[0, 1].item() == pytest.approx(math.sin(3.0)) and M[1, 0].item() == pytest.approx(-math.sin(3.0))


def test_dot_product_depends_on_distance_only_and_is_symmetric():
    pe = sinusoidal_encoding(60, 32, dtype=torch.float64)
    gram = pe @ pe.T  # (60, 60): sum_i cos((p - q) omega_i)
    omega = frequencies(32)
    for p, q in [(0, 7), (10, 17), (40, 33), (59, 0)]:
        assert gram[p, q].item() == pytest.approx(torch.cos((p - q) * omega).sum().item(), abs=1e-10)
    torch.testing.assert_close(gram, gram.T)
    assert gram[10, 17].item() == pytest.approx(gram[30, 37].item(), abs=1e-10)
    assert gram[5, 5] > gram[5, 6] > gram[5, 10]  # near positions are more alike


# -- PositionalEncoding ------------------------------------------------------------------------


def test_module_adds_the_table_to_every_sequence_of_the_batch():
    torch.manual_seed(0)
    m = PositionalEncoding(8, max_len=20)
    x = torch.randn(3, 6, 8)
    expected = x + torch.from_numpy(numpy_ref.sinusoidal_encoding(6, 8)).float()[None]
    torch.testing.assert_close(m(x), expected)
    torch.testing.assert_close(m(x[:, 2:4], offset=2), expected[:, 2:4])  # decoding from position 2
    assert m(x.double()).dtype == torch.float64 and m(x.half()).dtype == torch.float16


def test_table_is_a_buffer_not_a_parameter():
    m = PositionalEncoding(8, max_len=20)
    assert list(m.parameters()) == []
    assert "pe" in dict(m.named_buffers())
    assert not m.pe.requires_grad
    assert "pe" not in m.state_dict()  # recomputed, so checkpoints load into any max_len
    assert m.double().pe.dtype == torch.float64  # but it moves with the module


def test_dropout_applies_in_training_only():
    torch.manual_seed(0)
    m = PositionalEncoding(16, max_len=50, dropout=0.5)
    x = torch.randn(4, 50, 16)
    out = m(x)
    assert 0.4 < (out == 0).float().mean() < 0.6
    m.eval()
    torch.testing.assert_close(m(x), x + sinusoidal_encoding(50, 16))


def test_sequence_longer_than_max_len_raises_a_clear_error():
    m = PositionalEncoding(16, max_len=512)
    with pytest.raises(ValueError, match=r"sequence length 600 exceeds max_len=512 .*larger max_len"):
        m(torch.zeros(1, 600, 16))
    with pytest.raises(ValueError, match=r"positions 510\.\.513 exceed max_len=512"):
        m(torch.zeros(1, 4, 16), offset=510)
    m(torch.zeros(1, 512, 16))  # exactly max_len is fine


@pytest.mark.parametrize("shape", [(2, 5, 12), (16,)])
def test_wrong_input_shape_raises(shape):
    with pytest.raises(ValueError, match=r"^x has shape .*; expected \(B, L, d_model=16\)"):
        PositionalEncoding(16, max_len=10)(torch.zeros(shape))
    with pytest.raises(ValueError, match=r"^x is a list; expected a torch.Tensor"):
        PositionalEncoding(16, max_len=10)([[0.0] * 16])


def test_odd_d_model_raises():
    with pytest.raises(ValueError, match=r"^d_model=5; expected an even int"):
        PositionalEncoding(5)
    with pytest.raises(ValueError, match=r"^d_model=7; expected an even int"):
        frequencies(7)


@pytest.mark.parametrize("module", [PositionalEncoding, LearnedPositionalEmbedding])
def test_modules_refuse_bad_sizes_and_dropout(module):
    with pytest.raises(ValueError, match=r"^max_len=0; expected a positive int"):
        module(8, max_len=0)
    with pytest.raises(ValueError, match=r"^d_model=True; expected a positive int"):
        module(True, max_len=4)
    for dropout in (1.0, -0.5, True, "0.1"):
        with pytest.raises(ValueError, match=r"^dropout=.*; expected a probability 0 <= dropout < 1"):
            module(8, max_len=4, dropout=dropout)


def test_positions_break_permutation_equivariance_of_self_attention():
    torch.manual_seed(0)
    L, d = 7, 16
    x = torch.randn(1, L, d, dtype=torch.float64)
    w_q, w_k, w_v = torch.randn(3, d, d, dtype=torch.float64) / d**0.5
    perm = torch.randperm(L)

    def attend(x):
        return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v)[0]

    torch.testing.assert_close(attend(x[:, perm]), attend(x)[:, perm])  # order is invisible
    pe = PositionalEncoding(d, max_len=L).double()
    assert not torch.allclose(attend(pe(x[:, perm])), attend(pe(x))[:, perm])


# -- LearnedPositionalEmbedding ----------------------------------------------------------------


def test_learned_positions_are_parameters_with_the_same_length_limit():
    torch.manual_seed(0)
    m = LearnedPositionalEmbedding(8, max_len=10)
    assert [name for name, _ in m.named_parameters()] == ["weight"] and m.weight.shape == (10, 8)
    x = torch.randn(2, 4, 8)
    torch.testing.assert_close(m(x), x + m.weight[:4])
    torch.testing.assert_close(m(x, offset=3), x + m.weight[3:7])
    m(x).sum().backward()
    assert (m.weight.grad[:4] != 0).all() and (m.weight.grad[4:] == 0).all()  # unseen rows never train
    with pytest.raises(ValueError, match="sequence length 11 exceeds max_len=10 of this LearnedPositionalEmbedding"):
        m(torch.zeros(1, 11, 8))
