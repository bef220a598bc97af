"""Checkpoints: atomic writes, checked reads, and the state a resumed run needs.

:func:`save_checkpoint` writes any state atomically (temporary file, then ``os.replace``);
:func:`load_checkpoint` reads one back and checks it against the current
:class:`~course_lib.train.config.TrainConfig`, raising :class:`CheckpointError` with a
one-line message. The layout of a training run's checkpoint (which parts it holds, under
which keys) lives here and nowhere else: :func:`save_run_checkpoint` writes it from the
run's parts and :func:`restore_run_checkpoint` loads it back into them. :func:`rng_state`
and :func:`set_rng_state` capture and restore the random state (Python, torch, CUDA).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from course_lib.train.batches import BatchStream
from course_lib.train.config import TrainConfig, config_dict
from course_lib.train.folder import write_atomically


# --------------------------------------------------------------------------- checkpoints


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed: unreadable, or written by a different configuration."""


# Format 2: the output layer is ``output_projection`` (was ``generator`` in format 1).
# Format 3: the model config has the ablation switches (positional, scale_scores,
# layer_norm, residual); a format-2 file's config lacks them.
_FORMAT = "course_lib.train/3"
#: Fields a resumed run may change: they do not alter the trajectory of the weights.
RESUMABLE_CHANGES = frozenset({"steps", "out", "device", "eval_every", "eval_size", "target_exact",
                               "progress", "peak_tflops", "compile", "amp"})


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a reader sees the old file or the new one, never half.

    The state goes to a temporary file with a unique name in the same directory, is flushed
    to disk, and then ``os.replace`` renames it over ``path`` (a rename within one file system
    is atomic; :func:`~course_lib.train.folder.write_atomically`). If anything fails on the
    way, the temporary file is removed and ``path`` is untouched.

    Parameters
    ----------
    path : path-like
    state : dict
        Anything :func:`torch.save` accepts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda f: torch.save(state, f))


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
    found = state.get("format") if isinstance(state, dict) else None
    if isinstance(found, str) and found.startswith("course_lib.train/") and found != _FORMAT:
        raise CheckpointError(f"{path} was written by another version of course_lib (format {found!r}, this one "
                              f"reads {_FORMAT!r}); start a new run with another --out")
    if found != _FORMAT:
        raise CheckpointError(f"{path} is not a course-train checkpoint (expected format {_FORMAT!r})")
    if config is not None:
        saved, current = state["config"], config_dict(config)
        diffs = [f"{k}: checkpoint {saved['model'].get(k)!r}, now {v!r}"
                 for k, v in current["model"].items() if saved["model"].get(k) != v]
        diffs += [f"{k}: checkpoint {saved.get(k)!r}, now {v!r}" for k, v in current.items()
                  if k != "model" and k not in RESUMABLE_CHANGES and saved.get(k) != v]
        if diffs:
            raise CheckpointError(f"{path} was written with a different configuration ({'; '.join(diffs)}); "
                                  f"resume with the same settings or choose another --out")
    return state


# --------------------------------------------------------------------------- a training run's checkpoint


def save_run_checkpoint(path: str | os.PathLike, *, config: TrainConfig, step: int, model: nn.Module,
                        optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                        stream: BatchStream, losses: list[float], elapsed_s: float, eval_s: float,
                        rng: dict | None = None) -> None:
    """Write the checkpoint of a training run after ``step`` steps, atomically (:func:`save_checkpoint`).

    This is the one place that lays the checkpoint out; :func:`restore_run_checkpoint`
    reads it back and :func:`load_checkpoint` checks it.

    Parameters
    ----------
    path : path-like
    config : TrainConfig
        Stored as a dict, so that a resume can refuse a different configuration.
    step : int
        Steps done.
    model, optimizer, scheduler : the run's parts; their ``state_dict()`` is stored.
    stream : BatchStream
        Its position (epoch, next batch).
    losses : list of float
        The training loss of every step done.
    elapsed_s, eval_s : float
        Wall time of the run so far, and the part of it spent evaluating and checkpointing.
    rng : dict, optional
        A random state from :func:`rng_state`; by default the current one, which is the next
        step's when called between steps.
    """
    save_checkpoint(path, {
        "format": _FORMAT, "config": config_dict(config), "step": step, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "rng": rng_state() if rng is None else rng, "data": stream.state_dict(), "losses": losses,
        "elapsed_s": elapsed_s, "eval_s": eval_s})


@dataclass
class RunProgress:
    """How far a checkpointed run had got: what :func:`restore_run_checkpoint` returns.

    Attributes
    ----------
    step : int
        Steps done.
    losses : list of float
        The training loss of each of those steps.
    elapsed_s, eval_s : float
        Wall time so far, and the part of it spent evaluating and checkpointing.
    """

    step: int
    losses: list[float]
    elapsed_s: float
    eval_s: float


def restore_run_checkpoint(path: str | os.PathLike, config: TrainConfig, *, model: nn.Module,
                           optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                           stream: BatchStream, map_location: str | torch.device = "cpu") -> RunProgress:
    """Load a run's checkpoint into its parts, and set the random state to the saved one.

    The checkpoint is read and checked by :func:`load_checkpoint`; then ``model``,
    ``optimizer``, ``scheduler`` and ``stream`` continue from their saved states, and the
    Python, torch and CUDA random states become those of the step after the checkpoint.

    Parameters
    ----------
    path : path-like
        Written by :func:`save_run_checkpoint`.
    config : TrainConfig
        Must match the checkpoint's, outside :data:`RESUMABLE_CHANGES`.
    model, optimizer, scheduler, stream : the freshly built parts of the run, modified in place.
    map_location : str or torch.device
        Where the loaded tensors go (the model's device).

    Returns
    -------
    RunProgress

    Raises
    ------
    CheckpointError
        As :func:`load_checkpoint` does, with a one-line message.
    """
    state = load_checkpoint(path, config, map_location=map_location)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    stream.load_state_dict(state["data"])
    set_rng_state(state["rng"])
    return RunProgress(step=state["step"], losses=list(state["losses"]), elapsed_s=state["elapsed_s"],
                       eval_s=state["eval_s"])


def rng_state() -> dict:
    """The current random state: Python's ``random``, torch's CPU generator and, once initialised, CUDA's."""
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore a random state captured by :func:`rng_state`."""
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
