"""Splits: which numbers the model trains on and which two held-out sets it is tested on.

Round numbers such as 5000 or 3,005,000 are the commonest numbers in real text and the
ones these 零 rules are about, but a uniform sample of 9-digit numbers almost never
contains one. :func:`sample_numbers` therefore mixes numbers uniform per digit count with
*zero-heavy* ones, and :func:`make_splits` holds out two test sets, one of each kind,
whose values the training set never contains.

Membership of the held-out values is a hash of the value (:func:`is_held_out`), not of a
seed, so no run ever trains on a value another run tests on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from course_lib import _validate
from course_lib.data.spelling import MAX_NUMBER

__all__ = ["sample_numbers", "is_held_out", "Splits", "make_splits"]


# --------------------------------------------------------------------------- sampling



def sample_numbers(
    count: int,
    *,
    generator: torch.Generator,
    max_value: int = MAX_NUMBER,
    zero_heavy_fraction: float = 0.5,
    zero_prob: float = 0.75,
) -> list[int]:
    """Draw ``count`` numbers, mixing uniform-per-digit-count ones with zero-heavy ones.

    *Uniform per digit count*: pick a digit count ``d`` uniformly, then a number
    uniformly among those with ``d`` digits (0-9 count as one digit), so 2-digit numbers
    are as common as 9-digit ones. A uniform draw from ``0..max_value`` would be 90%
    9-digit numbers.

    *Zero-heavy*: pick ``d >= 2`` uniformly, a nonzero leading digit, then make each
    other digit zero with probability ``zero_prob`` (else 1-9). This yields round numbers
    such as 5000, 3,005,000, 100,010,000, whose 零 are the hard part of the task and
    which uniform sampling almost never draws.

    Exactly ``round(count * zero_heavy_fraction)`` numbers are zero-heavy; the two kinds
    are shuffled together. Numbers may repeat.

    Parameters
    ----------
    count : int
        How many numbers.
    generator : torch.Generator
        Source of randomness: the same seed gives the same numbers.
    max_value : int, default MAX_NUMBER
        Largest number drawn; its digit count is the largest ``d``.
    zero_heavy_fraction : float, default 0.5
        Share of zero-heavy numbers, in ``[0, 1]``.
    zero_prob : float, default 0.75
        Chance that a non-leading digit of a zero-heavy number is zero.

    Returns
    -------
    list of int
        ``count`` numbers in ``0..max_value``.

    Raises
    ------
    ValueError
        If ``count`` is negative, ``max_value`` is not in ``1..MAX_NUMBER``, or a
        probability is outside ``[0, 1]``.
    """
    count = _validate.non_negative_int("count", count)
    _validate.generator("generator", generator, optional=False)
    max_value = _validate.integer("max_value", max_value, minimum=1, maximum=MAX_NUMBER)
    zero_heavy_fraction = _validate.real("zero_heavy_fraction", zero_heavy_fraction, low=0, high=1)
    zero_prob = _validate.real("zero_prob", zero_prob, low=0, high=1)
    n_heavy = round(count * zero_heavy_fraction)
    numbers = torch.cat([
        _sample_uniform(count - n_heavy, max_value, generator),
        _sample_zero_heavy(n_heavy, max_value, zero_prob, generator),
    ])
    return numbers[torch.randperm(count, generator=generator)].tolist()


def _sample_uniform(count: int, max_value: int, generator: torch.Generator) -> Tensor:
    max_digits = len(str(max_value))
    d = torch.randint(1, max_digits + 1, (count,), generator=generator)  # (count,)
    lo = torch.where(d == 1, 0, 10 ** (d - 1))
    hi = torch.clamp(10**d - 1, max=max_value)
    # float64 holds every integer below 2^53 exactly, far above 10^9.
    u = torch.rand(count, generator=generator, dtype=torch.float64)
    return lo + (u * (hi - lo + 1).double()).long()


def _sample_zero_heavy(
    count: int, max_value: int, zero_prob: float, generator: torch.Generator
) -> Tensor:
    max_digits = len(str(max_value))
    out = torch.empty(0, dtype=torch.long)
    while len(out) < count:  # rejection only matters when max_value is not 99...9
        m = count - len(out)
        d = torch.randint(min(2, max_digits), max_digits + 1, (m, 1), generator=generator)
        digits = torch.randint(1, 10, (m, max_digits), generator=generator)  # (m, D), units first
        zero = torch.rand(m, max_digits, generator=generator) < zero_prob
        position = torch.arange(max_digits)  # (D,)
        digits = torch.where(zero & (position < d - 1), 0, digits)  # the leading digit stays 1-9
        digits = torch.where(position < d, digits, 0)  # nothing above the leading digit
        values = (digits * 10**position).sum(dim=1)  # (m,)
        out = torch.cat([out, values[values <= max_value]])
    return out


# --------------------------------------------------------------------------- splits


def _hash_unit(values: np.ndarray, salt: int) -> np.ndarray:
    """Map integers to pseudo-random floats in [0, 1) with the splitmix64 finaliser."""
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps around on purpose
        z = values.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53


def is_held_out(
    numbers: Sequence[int] | int, *, held_out_fraction: float = 0.1, salt: int = 0
) -> np.ndarray | bool:
    """Say whether each number belongs to the held-out values, by a hash of its value.

    Membership depends on the value alone (and ``salt``), not on a seed or on how many
    numbers are drawn: a held-out number is held out in every run, at every data size,
    so no run ever trains on a value another run tests on.

    Parameters
    ----------
    numbers : int or sequence of int
        Values to classify.
    held_out_fraction : float, default 0.1
        Share of all values that are held out.
    salt : int, default 0
        Changes which values are held out.

    Returns
    -------
    bool or numpy.ndarray of bool, shape (N,)
        True for held-out values.

    Raises
    ------
    ValueError
        If a number is not an integer in ``0..MAX_NUMBER`` (a bool is not a number), or
        ``held_out_fraction`` is not in ``[0, 1]``.
    """
    values, scalar = _as_values(numbers)
    held_out_fraction = _validate.real("held_out_fraction", held_out_fraction, low=0, high=1)
    salt = _validate.integer("salt", salt)
    held = _hash_unit(values, salt) < held_out_fraction
    return bool(held[0]) if scalar else held


def _as_values(numbers: object) -> tuple[np.ndarray, bool]:
    """``numbers`` as an int64 array, and whether it was a single number; checks each value."""
    if isinstance(numbers, (str, bytes)) or not isinstance(numbers, (Sequence, np.ndarray, Tensor)):
        return np.asarray([_validate.integer("numbers", numbers, minimum=0, maximum=MAX_NUMBER)]), True
    expected = f"an int or a sequence of ints, each 0 <= n <= {MAX_NUMBER:,}"
    try:
        values = np.asarray(numbers.detach().cpu() if isinstance(numbers, Tensor) else numbers)
    except (TypeError, ValueError):  # ragged or otherwise not an array of numbers
        raise _validate.fail("numbers", numbers, expected) from None
    if values.size == 0:
        return values.astype(np.int64), False
    if values.dtype == np.bool_:
        raise _validate.fail("numbers", numbers, expected + " (True/False is not a number)")
    if isinstance(numbers, Sequence):  # np.asarray turns [True, 5] into [1, 5]: look first
        for i, n in enumerate(numbers):
            if isinstance(n, (bool, np.bool_)):
                raise _validate.fail(f"numbers[{i}]", n, "an int (True/False is not a number)")
    if values.dtype.kind not in "iu":
        raise _validate.fail("numbers", numbers, expected)
    bad = np.flatnonzero((values.ravel() < 0) | (values.ravel() > MAX_NUMBER))
    if bad.size:
        raise _validate.fail(f"numbers[{bad[0]}]", int(values.ravel()[bad[0]]), f"0 <= n <= {MAX_NUMBER:,}")
    return values.astype(np.int64), False


@dataclass(frozen=True)
class Splits:
    """Train numbers and two held-out test sets whose values training never sees.

    Attributes
    ----------
    train : list of int
        Training numbers, the mixture of :func:`sample_numbers`; may repeat.
    test_uniform : list of int
        Distinct held-out numbers, uniform per digit count.
    test_zero_heavy : list of int
        Distinct held-out round numbers.
    """

    train: list[int]
    test_uniform: list[int]
    test_zero_heavy: list[int]


def make_splits(
    *,
    train_size: int,
    test_size: int,
    seed: int,
    max_value: int = MAX_NUMBER,
    zero_heavy_fraction: float = 0.5,
    held_out_fraction: float = 0.1,
    salt: int = 0,
) -> Splits:
    """Draw a training set and two held-out test sets, disjoint from it by value.

    A value is held out if :func:`is_held_out` says so; training numbers are drawn by
    :func:`sample_numbers` and held-out values rejected, test numbers are drawn the same
    way and only held-out values kept. The uniform test set has no zero-heavy numbers and
    the zero-heavy one only those, so evaluation can report both. Each set has its own
    generator derived from ``seed``, so the test sets do not change with ``train_size``.

    Parameters
    ----------
    train_size : int
        Number of training examples.
    test_size : int
        Number of distinct numbers in each test set.
    seed : int
        Seed of the draws; the same arguments give the same splits.
    max_value : int, default MAX_NUMBER
        Largest number in any set.
    zero_heavy_fraction : float, default 0.5
        Share of zero-heavy numbers in the training set.
    held_out_fraction : float, default 0.1
        Share of all values reserved for testing.
    salt : int, default 0
        Passed to :func:`is_held_out`.

    Returns
    -------
    Splits
        ``train``, ``test_uniform``, ``test_zero_heavy``.

    Raises
    ------
    ValueError
        If an argument is out of range, or if ``test_size`` distinct held-out values
        cannot be found (``max_value`` too small or ``held_out_fraction`` too low).
    """
    train_size = _validate.non_negative_int("train_size", train_size)
    test_size = _validate.non_negative_int("test_size", test_size)
    seed = _validate.integer("seed", seed)
    held_out_fraction = _validate.real("held_out_fraction", held_out_fraction, low=0, high=1,
                                       low_open=True, high_open=True)

    def draw(size: int, stream: int, *, fraction: float, held: bool) -> list[int]:
        # One generator per set, so that a set does not depend on the others' sizes.
        generator = torch.Generator().manual_seed(seed * 3 + stream)
        keep_rate = held_out_fraction if held else 1.0 - held_out_fraction
        kept: list[int] = []
        seen: set[int] = set()  # test sets are distinct values; train may repeat
        for _ in range(100):
            need = size - len(kept)
            if need == 0:
                return kept
            candidates = sample_numbers(int(need / keep_rate * 1.25) + 16, generator=generator,
                                        max_value=max_value, zero_heavy_fraction=fraction)
            mask = is_held_out(candidates, held_out_fraction=held_out_fraction, salt=salt)
            for n, h in zip(candidates, mask.tolist()):
                if h == held and len(kept) < size and not (held and n in seen):
                    kept.append(n)
                    seen.add(n)
        raise ValueError(
            f"could not draw {size} distinct held-out numbers with max_value={max_value} "
            f"and held_out_fraction={held_out_fraction}; lower test_size"
        )

    return Splits(
        train=draw(train_size, 0, fraction=zero_heavy_fraction, held=False),
        test_uniform=draw(test_size, 1, fraction=0.0, held=True),
        test_zero_heavy=draw(test_size, 2, fraction=1.0, held=True),
    )
