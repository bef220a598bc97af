"""The training loop: :func:`train` and :class:`TrainResult`.

One optimizer step per batch with the paper's recipe, periodic evaluation and atomic
checkpoints on rank 0, exact resumption, a graceful first Ctrl-C, a clean stop
(:class:`TrainingDiverged`) when the loss turns NaN or infinite, and
DistributedDataParallel under ``torchrun`` (``WORLD_SIZE > 1``).

:func:`train` reads as its steps: it claims the output folder
(:func:`~course_lib.train.folder.claim_run_folder`), ``_setup`` builds the run (a
``_Run``), ``_restore`` continues it from a checkpoint or seeds it afresh, and
``_run_steps`` loops over ``_step`` (one optimizer step), ``_flush`` (the per-step
statistics, kept on the device and brought to the host every few steps for the losses,
the divergence check and the progress bar) and ``_evaluate_and_save``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from course_lib._validate import boolean, fail
from course_lib.data import Splits, Vocab, make_splits
from course_lib.train.batches import BatchStream
from course_lib.train.checkpoint import restore_run_checkpoint, save_run_checkpoint
from course_lib.train.config import TrainConfig, build_model, pick_device
from course_lib.train.evaluation import evaluate
from course_lib.train.folder import claim_run_folder, write_atomically
from course_lib.train.recipe import estimate_mfu, label_smoothed_loss, model_flops, noam_lr, peak_flops
from course_lib.rnn import RNNSeq2Seq
from course_lib.transformer import Transformer


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : Transformer or RNNSeq2Seq
        The trained model (unwrapped from DDP / ``torch.compile``), in eval mode.
    config : TrainConfig
    losses : list of float
        The training loss of every step from step 1 (also the steps before a resume).
    metrics : list of dict
        One entry per evaluation, as written to ``metrics.jsonl``.
    step : int
        Steps done.
    device : torch.device
    """

    model: Transformer | RNNSeq2Seq
    config: TrainConfig
    losses: list[float]
    metrics: list[dict]
    step: int
    device: torch.device


class TrainingDiverged(RuntimeError):
    """The training loss, the weights or Adam's moments became NaN or infinite; nothing of it was saved."""


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          on_step: Callable[[int], None] | None = None,
          on_eval: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a :class:`~course_lib.transformer.Transformer` (or an RNN of :mod:`course_lib.rnn`) on the number task.

    Each step draws a batch (:class:`BatchStream`), computes :func:`label_smoothed_loss`
    on the non-padding target tokens, backpropagates, clips the gradient norm, and takes
    an AdamW step at the rate :func:`noam_lr` gives. Every ``eval_every`` steps (and at
    the end) rank 0 evaluates both held-out sets (:func:`evaluate`), appends a line to
    ``metrics.jsonl`` and writes a checkpoint atomically.

    Before the first step the output folder ``config.out`` is claimed
    (:func:`~course_lib.train.folder.claim_run_folder`): it must be writable, it is locked
    against other runs while this one uses it, and one that already holds a run is refused
    unless ``resume`` or ``overwrite``. A loss that becomes NaN or infinite stops the run
    (:class:`TrainingDiverged`); no checkpoint with non-finite weights is ever written, so
    the last one on disk is the last good one.

    The first Ctrl-C (SIGINT) finishes the current step, saves a checkpoint and raises
    ``KeyboardInterrupt``; a second one stops at once. On CPU, resuming a single-process
    run from any checkpoint reproduces the uninterrupted run's losses exactly (under
    ``torchrun`` the checkpoint keeps rank 0's random state, so with dropout a resumed
    distributed run follows a different but equally valid path). Under ``torchrun``
    (``WORLD_SIZE > 1``) each process trains on its shard of every batch and the
    gradients are averaged by DistributedDataParallel, weighted so that the step equals
    the single-process step on the whole batch.

    Parameters
    ----------
    config : TrainConfig
        Checked again (:meth:`TrainConfig.validate`): a field may have changed since it was built.
    resume : bool, default False
        Continue from ``config.out/checkpoint.pt`` if it exists.
    overwrite : bool, default False
        Replace the run that ``config.out`` holds (its checkpoint, metrics and figures are
        deleted before the first step). At most one of ``resume`` and ``overwrite``.
    on_step : callable, optional
        Called with the step number after every step (rank 0), e.g. to stop early.
    on_eval : callable, optional
        Called with each metrics record (rank 0).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        For a bad argument or configuration field, or a device this machine lacks.
    RunFolderError
        (a ``ValueError``) When ``config.out`` cannot be written, another run holds it, or
        it holds a run and neither ``resume`` nor ``overwrite`` is set.
    CheckpointError
        When resuming from an unreadable checkpoint or one with another configuration.
    TrainingDiverged
        When the loss (or the weights) became NaN or infinite; the message names the step
        and the last good checkpoint.
    KeyboardInterrupt
        After saving a checkpoint, on Ctrl-C.
    """
    _check_arguments(config, resume, overwrite, on_step, on_eval)
    rank, world = _distributed(config)
    device = _device(config, world)
    claimed = (claim_run_folder(config.out, resume=resume, overwrite=overwrite) if config.out and rank == 0
               else contextlib.nullcontext())
    with claimed:  # released however the run ends
        run = _setup(config, rank=rank, world=world, device=device)
        _restore(run, resume)
        run.step_model = _wrap(run)  # after the restore: DDP starts every process from the restored weights
        run.model.train()
        with _StopFlag() as stop:
            interrupted = _run_steps(run, stop, on_step=on_step, on_eval=on_eval)
    if interrupted:
        saved = f"; checkpoint saved to {run.ckpt_path}" if run.out is not None else ""
        raise KeyboardInterrupt(f"stopped at step {run.step}" + saved)
    run.model.eval()
    return TrainResult(model=run.model, config=config, losses=run.losses, metrics=run.metrics, step=run.step,
                       device=run.device)


def _check_arguments(config: TrainConfig, resume: bool, overwrite: bool, on_step, on_eval) -> None:
    """Refuse bad arguments of :func:`train` before anything is built or written."""
    if not isinstance(config, TrainConfig):
        raise fail("config", config, "a TrainConfig")
    config.validate()
    resume, overwrite = boolean("resume", resume), boolean("overwrite", overwrite)
    if resume and overwrite:
        raise fail("overwrite", overwrite, "False when resume=True (resume continues the run in out, overwrite "
                                           "replaces it)")
    for name, callback in (("on_step", on_step), ("on_eval", on_eval)):
        if callback is not None and not callable(callback):
            raise fail(name, callback, "a callable or None")


# --------------------------------------------------------------------------- the run's state


@dataclass
class _Window:
    """Tokens and FLOPs done since time ``t``: the throughput the progress bar shows."""

    t: float
    tokens: float = 0.0
    flops: float = 0.0


@dataclass
class _Run:
    """The state of one training run, shared by the steps of :func:`train`."""

    config: TrainConfig
    device: torch.device
    rank: int
    world: int
    out: Path | None  # where this process writes: rank 0's config.out, else None
    ckpt_path: Path | None
    splits: Splits
    stream: BatchStream
    model: Transformer | RNNSeq2Seq  # the bare model: what is evaluated and saved
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    amp: bool  # bf16 autocast (CUDA only)
    peak: float | None  # the device's peak FLOP/s, for MFU; None when unknown
    step_model: nn.Module | None = None  # the model wrapped by DDP and torch.compile: what takes the steps
    step: int = 0
    losses: list[float] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    elapsed0: float = 0.0  # wall time of the run before this process took it over (a resume)
    eval_s: float = 0.0  # time spent evaluating and checkpointing
    t0: float = 0.0  # when this process started stepping
    last_eval_step: int = 0
    saved_step: int | None = None  # the step of the checkpoint in out, once there is one
    pending: list[Tensor] = field(default_factory=list)  # per-step statistics still on the device
    bar: Any = None  # the tqdm progress bar, rank 0 only
    window: _Window = field(default_factory=lambda: _Window(0.0))

    @property
    def flush_every(self) -> int:
        """Steps between host syncs: every step on the CPU, where it costs nothing; 20 on a GPU."""
        return 1 if self.device.type == "cpu" else 20

    def elapsed(self) -> float:
        """Wall time of the run so far, across resumes."""
        return self.elapsed0 + time.perf_counter() - self.t0


def _device(config: TrainConfig, world: int) -> torch.device:
    """The device this process trains on: :func:`pick_device`'s, and its own GPU under torchrun."""
    device = pick_device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def _setup(config: TrainConfig, *, rank: int, world: int, device: torch.device) -> _Run:
    """Build a fresh run: the data, the model, its optimizer and schedule (the folder is already claimed)."""
    out = Path(config.out) if config.out and rank == 0 else None
    splits = make_splits(train_size=config.train_size, test_size=config.test_size, seed=config.seed)
    stream = BatchStream(splits.train, batch_size=config.batch_size, seed=config.seed,
                         direction=config.direction, rank=rank, world_size=world)
    torch.manual_seed(config.seed)
    model = build_model(config.model).to(device)
    # The paper's schedule, scaled so that its peak (at step = warmup) is config.lr.
    factor = config.lr * math.sqrt(config.model.d_model * config.warmup_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1.0, betas=tuple(config.betas), eps=config.eps,
                                  weight_decay=config.weight_decay)
    # LambdaLR multiplies the base rate (1.0) by the lambda of its step counter, which is 0
    # for the first optimizer step: that step is the schedule's step 1.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: noam_lr(s + 1, d_model=config.model.d_model, warmup=config.warmup_steps,
                                     factor=factor))
    peak = (config.peak_tflops * 1e12 if config.peak_tflops else
            peak_flops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None)
    return _Run(config=config, device=device, rank=rank, world=world, out=out,
                ckpt_path=Path(config.out) / "checkpoint.pt" if config.out else None, splits=splits,
                stream=stream, model=model, optimizer=optimizer, scheduler=scheduler,
                amp=config.amp and device.type == "cuda", peak=peak)


def _distributed(config: TrainConfig) -> tuple[int, int]:
    """This process's (rank, world size), starting the process group under torchrun.

    The backend follows the device the run trains on, not the machine: a CPU run under
    torchrun uses gloo even where CUDA is available (NCCL only moves CUDA tensors).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist
    if not dist.is_initialized():
        backend = "nccl" if pick_device(config.device).type == "cuda" else "gloo"
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def _restore(run: _Run, resume: bool) -> None:
    """Continue ``run`` from its checkpoint when resuming and one exists; else seed dropout afresh."""
    config = run.config
    if resume and run.ckpt_path is not None and run.ckpt_path.exists():
        progress = restore_run_checkpoint(run.ckpt_path, config, model=run.model, optimizer=run.optimizer,
                                          scheduler=run.scheduler, stream=run.stream, map_location=run.device)
        run.step, run.losses, run.saved_step = progress.step, progress.losses, progress.step
        run.elapsed0, run.eval_s = progress.elapsed_s, progress.eval_s
        if run.out is not None and (run.out / "metrics.jsonl").exists():
            lines = (run.out / "metrics.jsonl").read_text().splitlines()
            metrics = [json.loads(line) for line in lines if line]
            run.metrics = [m for m in metrics if m["step"] <= run.step]  # drop evaluations after the checkpoint
    else:
        torch.manual_seed(config.seed + 1 + run.rank)  # dropout: its own stream per process
        random.seed(config.seed + run.rank)
    run.last_eval_step = run.metrics[-1]["step"] if run.metrics else 0


def _wrap(run: _Run) -> nn.Module:
    """The module that takes the steps: the model under DDP when distributed, compiled on CUDA if asked."""
    step_model: nn.Module = run.model
    if run.world > 1:
        from torch.nn.parallel import DistributedDataParallel
        cuda = run.device.type == "cuda"
        step_model = DistributedDataParallel(run.model, device_ids=[run.device.index] if cuda else None)
    if run.config.compile and run.device.type == "cuda":
        step_model = torch.compile(step_model)
    return step_model


# --------------------------------------------------------------------------- the steps


def _run_steps(run: _Run, stop: _StopFlag, *, on_step: Callable[[int], None] | None,
               on_eval: Callable[[dict], None] | None) -> bool:
    """Step until ``config.steps``, the target or Ctrl-C; True when Ctrl-C stopped it (after saving)."""
    config = run.config
    if config.progress and run.rank == 0:
        from tqdm import tqdm

        from course_lib.i18n import tr
        run.bar = tqdm(total=config.steps, initial=run.step, dynamic_ncols=True,
                       desc=tr("train", "训练"))
    run.t0 = time.perf_counter()
    run.window = _Window(run.t0)
    done = False
    try:
        while run.step < config.steps and not done:
            run.pending.append(_step(run, stop))
            if run.rank == 0 and on_step is not None:
                on_step(run.step)
            # Flush at steps every process agrees on (so that all of them see the same stop
            # flag at the same step), before every evaluation, and at once on Ctrl-C when alone.
            if (len(run.pending) >= run.flush_every or run.step == config.steps
                    or run.step % config.eval_every == 0 or (run.world == 1 and stop.requested)):
                if _flush(run, stop):
                    _check_finite(run)
                    _save(run)  # the step is complete, so the current random state is the next step's
                    return True
            if run.step % config.eval_every == 0 or run.step == config.steps:
                done = _evaluate_and_save(run, final=run.step == config.steps, on_eval=on_eval)
    finally:
        if run.bar is not None:
            run.bar.close()
    return False


def _step(run: _Run, stop: _StopFlag) -> Tensor:
    """Take one optimizer step; return its statistics, left on the device (no host sync).

    Returns
    -------
    Tensor, shape (5,)
        Summed over processes: the loss sum, target tokens, all tokens, model FLOPs, and
        how many processes have seen a Ctrl-C.
    """
    config, device = run.config, run.device
    batch = next(run.stream)
    n_flops = model_flops(config.model, src_len=batch.src_lengths, tgt_len=batch.tgt_lengths).sum()
    batch = batch.to(device)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=run.amp):
        logits = run.step_model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (b, T, V)
    loss_sum = label_smoothed_loss(logits, batch.tgt_out, smoothing=config.label_smoothing,
                                   ignore_index=Vocab.PAD, reduction="sum")
    n_tgt = (batch.tgt_out != Vocab.PAD).sum()
    n_all = n_tgt + batch.src_lengths.sum().to(device)
    stats = torch.stack([loss_sum.detach(), n_tgt.float(), n_all.float(), n_flops.float().to(device),
                         torch.tensor(float(stop.requested), device=device)])  # (5,)
    if run.world > 1:
        import torch.distributed as dist
        dist.all_reduce(stats)  # sums over processes: the whole batch's figures
    # DDP averages gradients over processes; scaling by world / (all target tokens)
    # makes that average the gradient of the mean loss over the whole batch.
    (loss_sum * run.world / stats[1]).backward()
    if config.grad_clip > 0:
        nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.scheduler.step()
    run.step += 1
    return stats


def _flush(run: _Run, stop: _StopFlag) -> bool:
    """Bring the pending statistics to the host: losses, throughput, progress bar; True to stop now."""
    rows = torch.stack(run.pending).cpu()  # (steps, 5); the only host sync
    run.pending.clear()
    losses = (rows[:, 0] / rows[:, 1]).tolist()
    bad = next((i for i, loss in enumerate(losses) if not math.isfinite(loss)), None)
    if bad is not None:  # every process sees the same summed losses, so all of them stop here
        step = run.step - len(losses) + bad + 1
        raise TrainingDiverged(f"loss became {losses[bad]} at step {step}; {_kept(run)}")
    run.losses.extend(losses)
    run.window.tokens += rows[:, 2].sum().item()
    run.window.flops += rows[:, 3].sum().item()
    seconds = time.perf_counter() - run.window.t
    if run.bar is not None:
        post = {"loss": f"{run.losses[-1]:.3f}", "lr": f"{run.scheduler.get_last_lr()[0]:.2e}",
                "tok/s": f"{run.window.tokens / max(seconds, 1e-9):,.0f}"}
        if run.peak:
            mfu = estimate_mfu(flops=run.window.flops, seconds=max(seconds, 1e-9), peak=run.peak * run.world)
            post["mfu"] = f"{mfu:.1%}"
        run.bar.set_postfix(post, refresh=False)
        run.bar.update(run.step - run.bar.n)
    if seconds > 2.0:
        run.window = _Window(time.perf_counter())
    # Every process stops at the same step: on the flag summed over processes.
    return bool(rows[:, 4].any()) or (run.world == 1 and stop.requested)


# --------------------------------------------------------------------------- evaluation and checkpoints


def _evaluate_and_save(run: _Run, *, final: bool, on_eval: Callable[[dict], None] | None) -> bool:
    """On rank 0: evaluate, log, checkpoint. Return whether the run reached its target (all ranks agree)."""
    _check_finite(run)  # before anything of this step is evaluated, logged or saved
    flag = torch.zeros(1, device=run.device)
    t_eval = time.perf_counter()
    if run.rank == 0:
        record = _evaluation_record(run, final)
        run.last_eval_step = run.step
        run.metrics.append(record)
        _write_metrics(run.out, run.metrics)
        _save(run)
        if on_eval is not None:
            on_eval(record)
        if run.bar is not None:
            run.bar.write(f"step {run.step}: loss {record['loss']:.3f}, exact match "
                          f"uniform {record['uniform/exact_match']:.1%}, zero-heavy "
                          f"{record['zero_heavy/exact_match']:.1%}")
        target = run.config.target_exact
        if target is not None and min(record["uniform/exact_match"], record["zero_heavy/exact_match"]) >= target:
            flag += 1
    if run.world > 1:
        import torch.distributed as dist
        dist.broadcast(flag, src=0)
    done = bool(flag.item())
    run.eval_s += time.perf_counter() - t_eval
    run.window.t += time.perf_counter() - t_eval  # throughput leaves evaluation out
    return done


def _evaluation_record(run: _Run, final: bool) -> dict:
    """One line of ``metrics.jsonl``: the training figures since the last evaluation and both held-out sets."""
    config = run.config
    size = config.test_size if final else config.eval_size
    elapsed = run.elapsed()
    since = run.step - run.last_eval_step
    record = {"step": run.step, "elapsed_s": round(elapsed, 3),
              "train_s": round(elapsed - run.eval_s, 3),  # wall time less evaluations and checkpoints
              "loss": sum(run.losses[run.last_eval_step:]) / max(1, since),
              "lr": run.scheduler.get_last_lr()[0]}
    totals = {"token_accuracy": 0.0, "exact_match": 0.0}
    for name, numbers in (("uniform", run.splits.test_uniform), ("zero_heavy", run.splits.test_zero_heavy)):
        r = evaluate(run.model, numbers[:size], direction=config.direction, device=run.device, amp=run.amp)
        for key in ("loss", "token_accuracy", "exact_match"):
            record[f"{name}/{key}"] = r[key]
        for key in totals:
            totals[key] += r[key] / 2  # both sets have `size` numbers
    record.update(totals, eval_n=size)
    return record


def _save(run: _Run) -> None:
    """Checkpoint the run (rank 0 writes it, when the run has an output folder)."""
    if run.ckpt_path is None:
        return
    if run.out is not None:
        save_run_checkpoint(run.ckpt_path, config=run.config, step=run.step, model=run.model,
                            optimizer=run.optimizer, scheduler=run.scheduler, stream=run.stream, losses=run.losses,
                            elapsed_s=run.elapsed(), eval_s=run.eval_s)
    run.saved_step = run.step


def _check_finite(run: _Run) -> None:
    """Raise :class:`TrainingDiverged` if a weight or one of Adam's moments is NaN or infinite (one host sync)."""
    tensors = list(run.model.parameters()) + [value for state in run.optimizer.state.values()
                                              for value in state.values() if torch.is_tensor(value)]
    # Adam keeps its step counts on the CPU, the rest lives on the model's device.
    if not bool(torch.stack([t.isfinite().all().to(run.device) for t in tensors]).all()):
        raise TrainingDiverged(f"the weights or Adam's moments became NaN or infinite at step {run.step} (its "
                               f"loss was still finite); {_kept(run)}")


def _kept(run: _Run) -> str:
    """What a diverged run leaves behind, for its error message."""
    if run.config.out is None:
        return "nothing was saved (no out folder)"
    if run.saved_step is None:
        return f"no checkpoint had been saved in {run.config.out} yet"
    return f"the last good checkpoint (step {run.saved_step}) is kept in {run.config.out}"


def _write_metrics(out: Path | None, metrics: list[dict]) -> None:
    """Rewrite ``out/metrics.jsonl`` atomically, one JSON record per line."""
    if out is None:
        return
    text = "".join(json.dumps(m) + "\n" for m in metrics)
    write_atomically(out / "metrics.jsonl", lambda f: f.write(text.encode()))


class _StopFlag:
    """Turns the first Ctrl-C into a request to stop at the end of the current step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop now, without a checkpoint
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
