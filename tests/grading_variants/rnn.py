"""Chapter 13 variants: width_for_parameter_count."""

import functools
from dataclasses import astuple, replace

import torch

from course_lib.embedding import parameter_count
from course_lib.rnn import RNNSeq2Seq

from . import correct, wrong

WIDTH = "rnn.width_for_parameter_count"


def _count(config, width):
    # A learner's scan of 100+ widths, memoised as a careful learner would: the variants are
    # graded twice (here and through the proxy, in a fork that inherits the memo).
    return _count_of(type(config), astuple(config), width)


@functools.lru_cache(maxsize=None)
def _count_of(config_type, fields, width):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        return parameter_count(RNNSeq2Seq(replace(config_type(*fields), d_model=width)))


def width_linear_scan(target, config):
    width = 1
    while _count(config, width + 1) < target:
        width += 1
    below, above = _count(config, width), _count(config, width + 1)
    return width if target - below <= above - target else width + 1


def width_quadratic_then_neighbours(target, config):
    # the count is about a * w^2 + b * w + c: fit it from three widths, then check neighbours
    c0, c1, c2 = (_count(config, w) for w in (1, 2, 3))
    a = (c2 - 2 * c1 + c0) / 2
    b = c1 - c0 - 3 * a
    c = c0 - a - b
    guess = max(1, round((-b + (b * b - 4 * a * (c - target)) ** 0.5) / (2 * a)))
    return min(range(max(1, guess - 2), guess + 3), key=lambda w: (abs(_count(config, w) - target), w))


def width_round_down(target, config):
    width = 1
    while _count(config, width + 1) < target:
        width += 1
    return width


def width_round_up(target, config):
    width = 1
    while _count(config, width) < target:
        width += 1
    return width


def width_ignores_attention(target, config):
    return width_linear_scan(target, replace(config, attention=False))


def width_default_layers(target, config):
    return width_linear_scan(target, replace(config, num_layers=1, tie_embeddings=True))


def width_bounded_bisection(target, config):
    lo, hi = 1, 512  # a hard-coded upper bound: wrong for any target past width 512's count
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _count(config, mid) < target else (lo, mid)
    return min((lo, hi), key=lambda w: (abs(_count(config, w) - target), w))


VARIANTS = [
    correct(WIDTH, "linear scan, nearest neighbour", width_linear_scan),
    correct(WIDTH, "quadratic fit, then the neighbours", width_quadratic_then_neighbours),
    wrong(WIDTH, "rounded down", width_round_down, "rounded down"),
    wrong(WIDTH, "rounded up", width_round_up, "rounded up"),
    wrong(WIDTH, "attention ignored", width_ignores_attention, "width for the model without attention"),
    wrong(WIDTH, "layers and tying ignored", width_default_layers, "width for a one-layer model"),
    wrong(WIDTH, "searched up to 512 only", width_bounded_bisection, "closer to the target"),
]
