"""Tests for course_lib.data.splits: sampling numbers and the two held-out test sets."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from course_lib.data import MAX_NUMBER, is_held_out, make_splits, sample_numbers

# --------------------------------------------------------------------------- sampling


def _digits(n: int) -> int:
    return len(str(n))


def _is_round(n: int) -> bool:
    """At least 3 digits and at least 60% of the digits after the first are zero."""
    s = str(n)
    return len(s) >= 3 and s[1:].count("0") >= 0.6 * (len(s) - 1)


def test_uniform_sampling_is_uniform_over_digit_counts():
    numbers = sample_numbers(18_000, generator=torch.Generator().manual_seed(1),
                             zero_heavy_fraction=0.0)
    counts = np.bincount([_digits(n) for n in numbers], minlength=10)[1:]
    # Each of the 9 digit counts gets 1/9 of the draws; binomial sd ~ 0.0023.
    np.testing.assert_allclose(counts / len(numbers), 1 / 9, atol=0.008)
    assert 0 in numbers and 9 in numbers  # one-digit numbers include 0 and 9
    nine = [n for n in numbers if _digits(n) == 9]
    assert abs(np.mean(nine) / 5.5e8 - 1) < 0.05  # uniform within 100,000,000..999,999,999
    assert np.mean([_is_round(n) for n in numbers]) < 0.05


def test_zero_heavy_numbers_are_round():
    g = torch.Generator().manual_seed(2)
    heavy = sample_numbers(2_000, generator=g, zero_heavy_fraction=1.0)
    assert np.mean([_is_round(n) for n in heavy]) > 0.6
    assert min(heavy) >= 10  # at least two digits: a single digit has no zeros to read
    assert set(map(_digits, heavy)) == set(range(2, 10))
    # zero_prob=1: a nonzero leading digit followed by zeros only.
    only_zeros = sample_numbers(500, generator=g, zero_heavy_fraction=1.0, zero_prob=1.0)
    assert all(re.fullmatch(r"[1-9]0+", str(n)) for n in only_zeros)
    # zero_prob=0: no zero digit at all.
    no_zeros = sample_numbers(500, generator=g, zero_heavy_fraction=1.0, zero_prob=0.0)
    assert all("0" not in str(n) for n in no_zeros)


def test_zero_heavy_fraction_is_as_configured():
    def round_share(fraction, seed):
        numbers = sample_numbers(4_000, generator=torch.Generator().manual_seed(seed),
                                 zero_heavy_fraction=fraction)
        return np.mean([_is_round(n) for n in numbers])

    low, high = round_share(0.0, 3), round_share(1.0, 4)
    assert high - low > 0.5
    for fraction in (0.2, 0.7):
        expected = fraction * high + (1 - fraction) * low
        assert abs(round_share(fraction, 5) - expected) < 0.04, fraction


def test_sampling_respects_max_value_and_is_deterministic():
    g = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    numbers = sample_numbers(2_000, generator=g(6), max_value=5_000)
    assert max(numbers) <= 5_000 and max(numbers) > 4_000
    assert set(map(_digits, numbers)) == {1, 2, 3, 4}
    assert sample_numbers(100, generator=g(7)) == sample_numbers(100, generator=g(7))
    assert sample_numbers(100, generator=g(7)) != sample_numbers(100, generator=g(8))
    assert sample_numbers(0, generator=g(7)) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"zero_heavy_fraction": 1.5}, r"^zero_heavy_fraction=1\.5; expected a number with 0 <= zero_heavy_fraction <= 1$"),
    ({"zero_heavy_fraction": True}, r"^zero_heavy_fraction=True; expected"),
    ({"zero_prob": -0.1}, r"^zero_prob=-0\.1; expected a number with 0 <= zero_prob <= 1$"),
    ({"zero_prob": "0.5"}, r"^zero_prob='0\.5'; expected"),
    ({"max_value": MAX_NUMBER + 1}, r"^max_value=1000000000; expected an int with 1 <= max_value <= 999,999,999$"),
    ({"max_value": 0}, r"^max_value=0; expected"),
    ({"max_value": True}, r"^max_value=True; expected"),
])
def test_sampling_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_numbers(10, generator=torch.Generator(), **kwargs)


@pytest.mark.parametrize("count", [-1, True, 2.5, "3"])
def test_sampling_rejects_a_bad_count(count):
    with pytest.raises(ValueError, match=r"^count=.*; expected a non-negative int"):
        sample_numbers(count, generator=torch.Generator())


def test_sampling_accepts_integer_like_arguments():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert sample_numbers(np.int64(5), generator=g(), max_value=torch.tensor(99)) == \
        sample_numbers(5, generator=g(), max_value=99)


# --------------------------------------------------------------------------- splits


def test_held_out_membership_is_a_stable_fraction_of_values():
    values = np.arange(200_000)
    held = is_held_out(values)
    assert abs(held.mean() - 0.1) < 0.005
    assert np.array_equal(held, is_held_out(values))  # a function of the value only
    assert is_held_out(int(values[held][0])) is True
    assert not np.array_equal(held, is_held_out(values, salt=1))
    assert abs(is_held_out(values, held_out_fraction=0.3).mean() - 0.3) < 0.01


def test_splits_are_disjoint_by_value_and_deterministic():
    splits = make_splits(train_size=3_000, test_size=300, seed=0)
    assert len(splits.train) == 3_000
    assert len(splits.test_uniform) == len(splits.test_zero_heavy) == 300
    train = set(splits.train)
    assert not train & set(splits.test_uniform)
    assert not train & set(splits.test_zero_heavy)
    assert not is_held_out(splits.train).any()
    assert is_held_out(splits.test_uniform).all() and is_held_out(splits.test_zero_heavy).all()
    assert len(set(splits.test_uniform)) == 300 and len(set(splits.test_zero_heavy)) == 300
    # The zero-heavy test set is made of round numbers; the uniform one almost never.
    assert np.mean([_is_round(n) for n in splits.test_zero_heavy]) > 0.6
    assert np.mean([_is_round(n) for n in splits.test_uniform]) < 0.05
    assert make_splits(train_size=3_000, test_size=300, seed=0) == splits
    assert make_splits(train_size=3_000, test_size=300, seed=1).train != splits.train


def test_test_sets_do_not_depend_on_train_size():
    small = make_splits(train_size=100, test_size=200, seed=3)
    large = make_splits(train_size=2_000, test_size=200, seed=3)
    assert small.test_uniform == large.test_uniform
    assert small.test_zero_heavy == large.test_zero_heavy


def test_splits_raise_when_held_out_values_run_out():
    with pytest.raises(ValueError, match="distinct held-out numbers"):
        make_splits(train_size=10, test_size=50, seed=0, max_value=99)
    with pytest.raises(ValueError, match=r"^test_size=-1; expected a non-negative int$"):
        make_splits(train_size=10, test_size=-1, seed=0)
    with pytest.raises(ValueError, match=r"^held_out_fraction=0\.0; expected a number with 0 < held_out_fraction < 1$"):
        make_splits(train_size=10, test_size=5, seed=0, held_out_fraction=0.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"train_size": True}, r"^train_size=True; expected a non-negative int"),
    ({"train_size": 2.0}, r"^train_size=2\.0; expected a non-negative int$"),
    ({"seed": 1.5}, r"^seed=1\.5; expected an int$"),
    ({"seed": True}, r"^seed=True; expected an int"),
    ({"held_out_fraction": 1.0}, r"^held_out_fraction=1\.0; expected"),
    ({"salt": True}, r"^salt=True; expected an int"),
])
def test_splits_reject_bad_arguments(kwargs, match):
    arguments = {"train_size": 10, "test_size": 5, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_splits(**arguments)


@pytest.mark.parametrize("bad", [-1, True, False, MAX_NUMBER + 1, 10**9, 2.5, "12", None])
def test_is_held_out_refuses_a_bad_number(bad):
    # These used to return False silently: a value outside the task is never "not held out".
    with pytest.raises(ValueError, match=r"^numbers=.*; expected an int with 0 <= numbers <= 999,999,999"):
        is_held_out(bad)


@pytest.mark.parametrize("bad, match", [
    ([3, -5], r"^numbers\[1\]=-5; expected 0 <= n <= 999,999,999$"),
    (np.array([1, 2, 10**9]), r"^numbers\[2\]=1000000000; expected 0 <= n <= 999,999,999$"),
    ([3, True], r"^numbers\[1\]=True; expected an int \(True/False is not a number\)$"),
    (np.array([True, False]), r"^numbers=.*; expected .*\(True/False is not a number\)$"),
    ([1.5, 2.0], r"^numbers=\[1\.5, 2\.0\]; expected an int or a sequence of ints"),
    (torch.tensor([1.0]), r"^numbers=a tensor of shape \(1,\) and dtype torch.float32; expected"),
    ([[1, 2], [3]], r"^numbers=.*; expected an int or a sequence of ints"),
])
def test_is_held_out_refuses_a_bad_sequence_naming_the_element(bad, match):
    with pytest.raises(ValueError, match=match):
        is_held_out(bad)


def test_is_held_out_accepts_integer_likes_and_checks_its_options():
    values = [0, 7, 4_021, MAX_NUMBER]
    expected = is_held_out(values)
    assert np.array_equal(is_held_out(np.array(values, dtype=np.uint32)), expected)
    assert np.array_equal(is_held_out(torch.tensor(values)), expected)
    assert is_held_out(np.int64(4_021)) is bool(expected[2])
    assert is_held_out([]).shape == (0,)
    with pytest.raises(ValueError,
                       match=r"^held_out_fraction=1\.5; expected a number with 0 <= held_out_fraction <= 1$"):
        is_held_out(values, held_out_fraction=1.5)
    with pytest.raises(ValueError, match=r"^salt=True; expected an int"):
        is_held_out(values, salt=True)
    assert is_held_out(values, held_out_fraction=1).all() and not is_held_out(values, held_out_fraction=0).any()
