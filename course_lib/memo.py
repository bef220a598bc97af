"""Heavy results computed once per book build and shared by the book's two editions.

The English and the Chinese chapters run the same code (only the text they print differs), so
a training run or a timing sweep gives the same result in both. ``make book`` sets
``COURSE_MEMO`` to a fresh folder: the English build runs each heavy computation and stores
its result there, and the Chinese build, executing the same cell, reads it back instead of
training again. Without ``COURSE_MEMO`` (a reader's Jupyter, ``make test``)
:func:`remember` just computes.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from course_lib._validate import fail

__all__ = ["remember"]

T = TypeVar("T")
_ENV = "COURSE_MEMO"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")


def _random_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "python": random.getstate()}


def _set_random_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def remember(name: str, compute: Callable[[], T], *, modules: Iterable[nn.Module] = (),
             files: str | os.PathLike | None = None) -> T:
    """Return ``compute()``, or what the same book build computed under ``name`` before.

    On a hit, everything ``compute`` left behind is restored as it left it: its return value,
    the parameters and buffers of ``modules`` (trained in place), the files it wrote under
    ``files``, and the global random state of torch, numpy and ``random`` (so the cells after
    it draw the same numbers as in the build that computed it).

    Parameters
    ----------
    name : str
        Unique within the book, e.g. ``"11_training/train"`` (letters, digits, ``._-``, ``/``).
    compute : callable
        Takes no arguments; its result must be picklable (``torch.save``).
    modules : iterable of nn.Module
        Modules ``compute`` changes in place.
    files : path, optional
        A folder ``compute`` writes into; on a hit its files are copied back there.

    Returns
    -------
    The result of ``compute()``.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail("name", name, "a name such as '11_training/train' (letters, digits, ._-/)")
    if not callable(compute):
        raise fail("compute", compute, "a function of no arguments")
    modules = list(modules)
    if not all(isinstance(m, nn.Module) for m in modules):
        raise fail("modules", modules, "nn.Module objects")
    folder = os.environ.get(_ENV)
    if not folder:
        return compute()
    stored = Path(folder) / (name + ".pt")
    saved_files = Path(folder) / (name + ".files")
    if stored.exists():
        memo = torch.load(stored, weights_only=False)  # written by this build, trusted
        for module, state in zip(modules, memo["modules"]):
            module.load_state_dict(state)
        if files is not None and saved_files.exists():
            shutil.copytree(saved_files, files, dirs_exist_ok=True)
        _set_random_state(memo["random"])
        return memo["result"]
    result = compute()
    memo = {"result": result, "modules": [m.state_dict() for m in modules],
            "random": _random_state()}
    stored.parent.mkdir(parents=True, exist_ok=True)
    if files is not None and Path(files).exists():  # a failed run may have written none
        shutil.copytree(files, saved_files, dirs_exist_ok=True)
    partial = stored.with_suffix(".partial")
    torch.save(memo, partial)
    partial.replace(stored)  # a build killed mid-write leaves no half memo behind
    return result
