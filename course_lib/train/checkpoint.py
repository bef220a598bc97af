"""Checkpoints: atomic writes, checked reads, and the state a resumed run needs.

:func:`save_checkpoint` writes atomically (temporary file, then ``os.replace``);
:func:`load_checkpoint` reads one back and checks it against the current
:class:`~course_lib.train.config.TrainConfig`, raising :class:`CheckpointError` with a
one-line message. The private helpers capture the configuration and the random state.
"""

from __future__ import annotations

import dataclasses
import os
import random
import tempfile
from pathlib import Path

import torch

from course_lib.train.config import TrainConfig


# --------------------------------------------------------------------------- checkpoints


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed: unreadable, or written by a different configuration."""


_FORMAT = "course_lib.train/1"
#: Fields a resumed run may change: they do not alter the trajectory of the weights.
RESUMABLE_CHANGES = frozenset({"steps", "out", "device", "eval_every", "eval_size", "target_exact",
                               "progress", "peak_tflops", "compile", "amp"})


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a reader sees the old file or the new one, never half.

    The state goes to a temporary file in the same directory, is flushed to disk, and then
    ``os.replace`` renames it over ``path`` (a rename within one file system is atomic). If
    anything fails on the way, the temporary file is removed and ``path`` is untouched.

    Parameters
    ----------
    path : path-like
    state : dict
        Anything :func:`torch.save` accepts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, config: TrainConfig | None = None, *,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`train`, checking that it matches ``config``.

    Parameters
    ----------
    path : path-like
    config : TrainConfig, optional
        If given, every field outside :data:`RESUMABLE_CHANGES` (and every model field)
        must equal the checkpoint's.
    map_location : str or torch.device

    Returns
    -------
    dict
        ``step``, ``config`` (as a dict), ``model``, ``optimizer``, ``scheduler``, ``rng``,
        ``data``, ``losses``, ``elapsed_s``, ``eval_s``.

    Raises
    ------
    CheckpointError
        With a one-line message: the file is missing, unreadable or not a checkpoint of
        this format, or its configuration differs from ``config`` (the fields are named).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated, corrupt, or not a torch file at all
        reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(error).__name__}: {reason}); "
                              f"delete it or choose another --out") from None
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise CheckpointError(f"{path} is not a course-train checkpoint (expected format {_FORMAT!r})")
    if config is not None:
        saved, current = state["config"], _config_dict(config)
        diffs = [f"{k}: checkpoint {saved['model'].get(k)!r}, now {v!r}"
                 for k, v in current["model"].items() if saved["model"].get(k) != v]
        diffs += [f"{k}: checkpoint {saved.get(k)!r}, now {v!r}" for k, v in current.items()
                  if k != "model" and k not in RESUMABLE_CHANGES and saved.get(k) != v]
        if diffs:
            raise CheckpointError(f"{path} was written with a different configuration ({'; '.join(diffs)}); "
                                  f"resume with the same settings or choose another --out")
    return state


def _config_dict(config: TrainConfig) -> dict:
    d = dataclasses.asdict(config)
    d["betas"] = list(d["betas"])  # tuples come back as lists from JSON; compare like with like
    return d


def _rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
