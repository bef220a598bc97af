"""A corpus of learner-style solutions, written from the exercise texts (not from solutions/).

Each module holds the variants for one check module: ``VARIANTS``, a list of
:class:`Variant`. A *correct* variant solves the task in another valid style (einsum, loops,
torch built-ins where the task allows them, float64 tables, other buffer layouts) and must
get full marks. A *wrong* variant makes one mistake a learner makes and must lose points
with a hint that names the mistake: ``hint`` is a regular expression searched in the
messages of its failing cases.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

__all__ = ["Variant", "correct", "wrong", "all_variants"]


@dataclass(frozen=True)
class Variant:
    exercise_id: str
    name: str
    candidate: Callable
    hint: str | None = None  # None: a correct solution

    @property
    def correct(self) -> bool:
        return self.hint is None


def correct(exercise_id: str, name: str, candidate: Callable) -> Variant:
    return Variant(exercise_id, name, candidate)


def wrong(exercise_id: str, name: str, candidate: Callable, hint: str) -> Variant:
    return Variant(exercise_id, name, candidate, hint)


def all_variants() -> list[Variant]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        found += importlib.import_module(f"{__name__}.{info.name}").VARIANTS
    return found
