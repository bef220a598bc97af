"""Training batches: :class:`BatchStream`, an endless, resumable, sharded stream.

Each epoch is a seeded permutation of the training numbers; under data parallelism every
process takes its own slice of every batch, and ``(epoch, index)`` is all a checkpoint
needs to resume the stream.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from course_lib._validate import fail, integer, positive_int
from course_lib.data import make_batch


# --------------------------------------------------------------------------- data


class BatchStream:
    """An endless, resumable stream of training batches, one shard per process.

    Epoch ``e`` visits the numbers in the order ``randperm`` gives with seed
    ``(seed, e)``, in batches of ``batch_size``; a partial last batch is dropped so that
    every step sees the same number of pairs. Under data parallelism every process walks
    the same order and takes its own contiguous ``batch_size / world_size`` rows of each
    batch, so together the processes see exactly the single-process batch. The position
    ``(epoch, index)`` is all a checkpoint needs to resume the stream.

    Parameters
    ----------
    numbers : sequence of int
        The training split.
    batch_size : int
        Rows per step over all processes; divisible by ``world_size``.
    seed : int
    direction : {"en-zh", "zh-en"}
    rank, world_size : int
        This process's shard.
    """

    def __init__(self, numbers: Sequence[int], *, batch_size: int, seed: int, direction: str = "en-zh",
                 rank: int = 0, world_size: int = 1):
        batch_size, world_size = positive_int("batch_size", batch_size), positive_int("world_size", world_size)
        rank = integer("rank", rank, minimum=0, maximum=world_size - 1)
        if batch_size % world_size:
            raise fail("batch_size", batch_size, f"a multiple of world_size={world_size}")
        if len(numbers) < batch_size:
            raise fail("batch_size", batch_size, f"at most the {len(numbers)} training numbers")
        self.numbers, self.batch_size, self.seed, self.direction = list(numbers), batch_size, seed, direction
        self.rank, self.world_size = rank, world_size
        self.epoch, self.index = 0, 0
        self._order: list[int] | None = None

    def _epoch_order(self) -> list[int]:
        if self._order is None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._order = torch.randperm(len(self.numbers), generator=generator).tolist()
        return self._order

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self):
        if (self.index + 1) * self.batch_size > len(self.numbers):
            self.epoch, self.index, self._order = self.epoch + 1, 0, None
        rows = self._epoch_order()[self.index * self.batch_size:(self.index + 1) * self.batch_size]
        share = self.batch_size // self.world_size
        mine = rows[self.rank * share:(self.rank + 1) * share]
        self.index += 1
        return make_batch([self.numbers[i] for i in mine], direction=self.direction, shared_vocab=True)

    def state_dict(self) -> dict:
        """The stream's position: the epoch and the next batch within it."""
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a position saved by :meth:`state_dict`."""
        self.epoch, self.index, self._order = int(state["epoch"]), int(state["index"]), None
