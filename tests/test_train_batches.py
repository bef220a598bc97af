"""Tests for course_lib.train.batches: BatchStream's shards, epochs, resumption and checks."""

from __future__ import annotations

import pytest

from course_lib import train as T


def test_batch_stream_shards_cover_the_batch_and_resume():
    numbers = list(range(100))
    whole = T.BatchStream(numbers, batch_size=8, seed=3)
    halves = [T.BatchStream(numbers, batch_size=8, seed=3, rank=r, world_size=2) for r in range(2)]
    for _ in range(15):  # crosses the epoch boundary (12 full batches per epoch)
        assert next(whole).numbers == next(halves[0]).numbers + next(halves[1]).numbers
    state = whole.state_dict()
    assert state == {"epoch": 1, "index": 3}
    expected = [next(whole).numbers for _ in range(3)]
    again = T.BatchStream(numbers, batch_size=8, seed=3)
    again.load_state_dict(state)
    assert [next(again).numbers for _ in range(3)] == expected
    with pytest.raises(ValueError, match=r"^batch_size=7; expected a multiple of world_size=2"):
        T.BatchStream(numbers, batch_size=7, seed=0, world_size=2)


def test_batch_stream_checks_its_sizes_and_rank():
    numbers = list(range(10))
    with pytest.raises(ValueError, match=r"^batch_size=True; expected a positive int"):
        T.BatchStream(numbers, batch_size=True, seed=0)
    with pytest.raises(ValueError, match=r"^world_size=0; expected a positive int"):
        T.BatchStream(numbers, batch_size=4, seed=0, world_size=0)
    with pytest.raises(ValueError, match=r"^rank=2; expected an int with 0 <= rank <= 1"):
        T.BatchStream(numbers, batch_size=4, seed=0, rank=2, world_size=2)
    with pytest.raises(ValueError, match=r"^batch_size=16; expected at most the 10 training numbers"):
        T.BatchStream(numbers, batch_size=16, seed=0)
