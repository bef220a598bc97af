"""Tests for ``course_lib.numpy_ref``, the numpy twin used as an oracle elsewhere.

An oracle is only as good as its own tests, so these check it against numbers worked out by
hand and plain-Python loops, never against the torch version it is meant to check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from course_lib import numpy_ref as ref


def test_softmax_hand_computed():
    # softmax([0, ln 2, ln 3]) = [1, 2, 3] / 6.
    assert_allclose(ref.softmax([0.0, math.log(2.0), math.log(3.0)]), [1 / 6, 2 / 6, 3 / 6])


def test_softmax_matches_python_loop_on_each_row():
    x = np.random.default_rng(0).normal(size=(4, 6))
    w = ref.softmax(x)
    for row, w_row in zip(x, w):
        e = [math.exp(t) for t in row]
        assert_allclose(w_row, [t / sum(e) for t in e])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_dim(dim):
    x = np.random.default_rng(1).normal(size=(3, 5))
    w = ref.softmax(x, dim=dim)
    assert_allclose(w.sum(axis=dim), 1.0)
    assert not np.allclose(w.sum(axis=1 if dim == 0 else 0), 1.0)  # only the chosen axis
    e = np.exp(x)
    assert_allclose(w, e / e.sum(axis=dim, keepdims=True))


def test_softmax_large_logits_and_all_neg_inf_slice():
    w = ref.softmax(np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0], [-np.inf] * 3]))
    assert np.isfinite(w).all()
    assert_allclose(w, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-12)


def test_softmax_shift_invariance():
    x = np.random.default_rng(2).normal(size=(2, 7))
    assert_allclose(ref.softmax(x + 1234.5), ref.softmax(x))


def test_dot_product_scores_matches_loop_and_checks_width():
    rng = np.random.default_rng(3)
    q, k = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4))
    s = ref.dot_product_scores(q, k)
    assert s.shape == (2, 3, 5)
    for b in range(2):
        for i in range(3):
            for j in range(5):
                assert math.isclose(s[b, i, j], sum(q[b, i, d] * k[b, j, d] for d in range(4)))
    with pytest.raises(ValueError, match="q has d_k=4 but k has d_k=3"):
        ref.dot_product_scores(q, k[..., :3])


def test_sdpa_hand_computed_one_query_two_keys():
    # d_k = 4, scale 1/2: scores 1 and 0, so weights e/(1+e) and 1/(1+e).
    out, w = ref.scaled_dot_product_attention(
        [[2.0, 0.0, 0.0, 0.0]], [[1.0, 0.0, 0.0, 0.0], [0.0] * 4], [[1.0, 0.0], [0.0, 1.0]]
    )
    a = math.e / (1 + math.e)
    assert_allclose(w, [[a, 1 - a]])
    assert_allclose(out, [[a, 1 - a]])


def test_sdpa_mask_true_means_attend_and_fully_masked_row_is_zero():
    q = [[2.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    k = [[1.0, 0.0, 0.0, 0.0], [0.0] * 4]
    v = [[10.0, 0.0], [0.0, 20.0]]
    out, w = ref.scaled_dot_product_attention(q, k, v, mask=[[False, True], [False, False]])
    assert_allclose(w, [[0.0, 1.0], [0.0, 0.0]])
    assert_allclose(out, [[0.0, 20.0], [0.0, 0.0]])
    assert np.isfinite(out).all()


def test_sdpa_batched_matches_per_example_loop_with_broadcast_mask():
    # (B, H) batch dims, L_q != L_k, d_v != d_k, a (L_q, L_k) mask shared by every example.
    rng = np.random.default_rng(4)
    q, k, v = rng.normal(size=(2, 3, 4, 8)), rng.normal(size=(2, 3, 6, 8)), rng.normal(size=(2, 3, 6, 5))
    mask = rng.random((4, 6)) < 0.6
    mask[:, 0] = True
    out, w = ref.scaled_dot_product_attention(q, k, v, mask)
    assert out.shape == (2, 3, 4, 5) and w.shape == (2, 3, 4, 6)
    for b in range(2):
        for h in range(3):
            s = q[b, h] @ k[b, h].T / math.sqrt(8)
            e = np.where(mask, np.exp(s - s.max(axis=1, keepdims=True)), 0.0)
            expected = e / e.sum(axis=1, keepdims=True)
            assert_allclose(w[b, h], expected)
            assert_allclose(out[b, h], expected @ v[b, h])


def test_sdpa_rejects_dropout():
    with pytest.raises(ValueError, match="dropout_p=0.1"):
        ref.scaled_dot_product_attention(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), dropout_p=0.1)


def test_returns_float64():
    q = np.ones((2, 4), dtype=np.float32)
    out, w = ref.scaled_dot_product_attention(q, q, q)
    assert out.dtype == np.float64 and w.dtype == np.float64


def test_additive_attention_matches_explicit_double_loop():
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(3, 4)), rng.normal(size=(5, 6)), rng.normal(size=(5, 2))
    w_q, w_k, w_v = rng.normal(size=(4, 7)), rng.normal(size=(6, 7)), rng.normal(size=7)
    out, w = ref.additive_attention(q, k, v, w_q=w_q, w_k=w_k, w_v=w_v)
    for i in range(3):
        scores = np.array([w_v @ np.tanh(q[i] @ w_q + k[j] @ w_k) for j in range(5)])
        expected = np.exp(scores) / np.exp(scores).sum()
        assert_allclose(w[i], expected)
        assert_allclose(out[i], expected @ v)


def test_nadaraya_watson_hand_computed():
    # Query 0 with keys at distance 0 and 1, sigma = 1: weights proportional to 1 and e^{-1/2}.
    out, w = ref.nadaraya_watson(np.array([0.0]), np.array([0.0, 1.0]), np.array([2.0, 4.0]), bandwidth=1.0)
    a = math.exp(-0.5)
    assert_allclose(w, [[1 / (1 + a), a / (1 + a)]])
    assert_allclose(out, [(2 + 4 * a) / (1 + a)])
    with pytest.raises(ValueError, match="bandwidth"):
        ref.nadaraya_watson(np.zeros(1), np.zeros(2), np.zeros(2), bandwidth=0.0)
