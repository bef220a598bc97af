"""The training loop: :func:`train` and :class:`TrainResult`.

One optimizer step per batch with the paper's recipe, periodic evaluation and atomic
checkpoints on rank 0, exact resumption, a graceful first Ctrl-C, and
DistributedDataParallel under ``torchrun`` (``WORLD_SIZE > 1``).
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from course_lib.data import Vocab, make_splits
from course_lib.train.batches import BatchStream
from course_lib.train.checkpoint import (_FORMAT, _config_dict, _rng_state, _set_rng_state, load_checkpoint,
                                         save_checkpoint)
from course_lib.train.config import TrainConfig, pick_device
from course_lib.train.evaluation import evaluate
from course_lib.train.recipe import estimate_mfu, label_smoothed_loss, model_flops, noam_lr, peak_flops
from course_lib.transformer import Transformer


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : Transformer
        The trained model (unwrapped from DDP / ``torch.compile``), in eval mode.
    config : TrainConfig
    losses : list of float
        The training loss of every step from step 1 (also the steps before a resume).
    metrics : list of dict
        One entry per evaluation, as written to ``metrics.jsonl``.
    step : int
        Steps done.
    interrupted : bool
        True when the run stopped on Ctrl-C (after saving a checkpoint).
    device : torch.device
    """

    model: Transformer
    config: TrainConfig
    losses: list[float]
    metrics: list[dict]
    step: int
    interrupted: bool
    device: torch.device


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


def _distributed() -> tuple[int, int]:
    """This process's (rank, world size), starting the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def _write_metrics(out: Path | None, metrics: list[dict]) -> None:
    if out is None:
        return
    tmp = out / ".metrics.jsonl.tmp"
    tmp.write_text("".join(json.dumps(m) + "\n" for m in metrics))
    os.replace(tmp, out / "metrics.jsonl")


def train(config: TrainConfig, *, resume: bool = False, on_step: Callable[[int], None] | None = None,
          on_eval: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a :class:`~course_lib.transformer.Transformer` on the number-translation task.

    Each step draws a batch (:class:`BatchStream`), computes :func:`label_smoothed_loss`
    on the non-padding target tokens, backpropagates, clips the gradient norm, and takes
    an AdamW step at the rate :func:`noam_lr` gives. Every ``eval_every`` steps (and at
    the end) rank 0 evaluates both held-out sets (:func:`evaluate`), appends a line to
    ``metrics.jsonl`` and writes a checkpoint atomically.

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
    resume : bool, default False
        Continue from ``config.out/checkpoint.pt`` if it exists.
    on_step : callable, optional
        Called with the step number after every step (rank 0), e.g. to stop early.
    on_eval : callable, optional
        Called with each metrics record (rank 0).

    Returns
    -------
    TrainResult

    Raises
    ------
    CheckpointError
        When resuming from an unreadable checkpoint or one with another configuration.
    KeyboardInterrupt
        After saving a checkpoint, on Ctrl-C.
    """
    rank, world = _distributed()
    device = pick_device(config.device)
    if device.type == "cuda" and world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    out = Path(config.out) if config.out and rank == 0 else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    ckpt_path = Path(config.out) / "checkpoint.pt" if config.out else None

    splits = make_splits(train_size=config.train_size, test_size=config.test_size, seed=config.seed)
    stream = BatchStream(splits.train, batch_size=config.batch_size, seed=config.seed,
                         direction=config.direction, rank=rank, world_size=world)

    torch.manual_seed(config.seed)
    model = Transformer(config.model).to(device)
    # The paper's schedule, scaled so that its peak (at step = warmup) is config.lr.
    factor = config.lr * math.sqrt(config.model.d_model * config.warmup_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1.0, betas=tuple(config.betas), eps=config.eps,
                                  weight_decay=config.weight_decay)
    # LambdaLR multiplies the base rate (1.0) by the lambda of its step counter, which is 0
    # for the first optimizer step: that step is the schedule's step 1.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: noam_lr(s + 1, d_model=config.model.d_model, warmup=config.warmup_steps,
                                     factor=factor))

    step, losses, metrics, elapsed0, eval_s = 0, [], [], 0.0, 0.0
    if resume and ckpt_path is not None and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, config, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        stream.load_state_dict(state["data"])
        step, losses = state["step"], list(state["losses"])
        elapsed0, eval_s = state["elapsed_s"], state["eval_s"]
        if out is not None and (out / "metrics.jsonl").exists():
            metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
            metrics = [m for m in metrics if m["step"] <= step]  # drop evaluations after the checkpoint
        rng = state["rng"]
    else:
        torch.manual_seed(config.seed + 1 + rank)  # dropout: its own stream per process
        random.seed(config.seed + rank)
        rng = _rng_state()
    _set_rng_state(rng)

    step_model: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        step_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile and device.type == "cuda":
        step_model = torch.compile(step_model)
    amp = config.amp and device.type == "cuda"
    peak = (config.peak_tflops * 1e12 if config.peak_tflops else
            peak_flops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None)

    def save(rng_state: dict) -> None:
        if out is None:
            return
        save_checkpoint(ckpt_path, {
            "format": _FORMAT, "config": _config_dict(config), "step": step, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state,
            "data": stream.state_dict(), "losses": losses, "elapsed_s": elapsed0 + time.perf_counter() - t0,
            "eval_s": eval_s})

    def run_eval(final: bool) -> dict:
        size = config.test_size if final else config.eval_size
        elapsed = elapsed0 + time.perf_counter() - t0
        record = {"step": step, "elapsed_s": round(elapsed, 3),
                  "train_s": round(elapsed - eval_s, 3),  # wall time less evaluations and checkpoints
                  "loss": sum(losses[last_eval_step:]) / max(1, step - last_eval_step),
                  "lr": scheduler.get_last_lr()[0]}
        totals = {"token_accuracy": 0.0, "exact_match": 0.0}
        for name, numbers in (("uniform", splits.test_uniform), ("zero_heavy", splits.test_zero_heavy)):
            r = evaluate(model, numbers[:size], direction=config.direction, device=device, amp=amp)
            for key in ("loss", "token_accuracy", "exact_match"):
                record[f"{name}/{key}"] = r[key]
            for key in totals:
                totals[key] += r[key] / 2  # both sets have `size` numbers
        record.update(totals, eval_n=size)
        return record

    stop = _StopFlag()
    pending: list[Tensor] = []  # per-step statistics still on the device (no sync every step on GPU)
    flush_every = 1 if device.type == "cpu" else 20
    last_eval_step = metrics[-1]["step"] if metrics else 0
    bar = None
    if config.progress and rank == 0:
        from tqdm import tqdm
        bar = tqdm(total=config.steps, initial=step, dynamic_ncols=True, desc="train")
    interrupted = done = False
    t0 = time.perf_counter()
    window = {"t": t0, "tokens": 0.0, "flops": 0.0}  # throughput since the last display
    model.train()
    with stop:
        try:
            while step < config.steps and not done:
                batch = next(stream)
                n_flops = model_flops(config.model, src_len=batch.src_lengths, tgt_len=batch.tgt_lengths).sum()
                batch = batch.to(device)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                    logits = step_model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (b, T, V)
                loss_sum = label_smoothed_loss(logits, batch.tgt_out, smoothing=config.label_smoothing,
                                               ignore_index=Vocab.PAD, reduction="sum")
                n_tgt = (batch.tgt_out != Vocab.PAD).sum()
                n_all = n_tgt + batch.src_lengths.sum().to(device)
                stats = torch.stack([loss_sum.detach(), n_tgt.float(), n_all.float(),
                                     n_flops.float().to(device),
                                     torch.tensor(float(stop.requested), device=device)])  # (5,)
                if world > 1:
                    import torch.distributed as dist
                    dist.all_reduce(stats)  # sums over processes: the whole batch's figures
                # DDP averages gradients over processes; scaling by world / (all target tokens)
                # makes that average the gradient of the mean loss over the whole batch.
                (loss_sum * world / stats[1]).backward()
                if config.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                step += 1
                pending.append(stats)
                if rank == 0 and on_step is not None:
                    on_step(step)
                # Flush at steps every process agrees on (so that all of them see the same stop
                # flag at the same step), before every evaluation, and at once on Ctrl-C when alone.
                if (len(pending) >= flush_every or step == config.steps or step % config.eval_every == 0
                        or (world == 1 and stop.requested)):
                    rows = torch.stack(pending).cpu()  # (steps, 5); the only host sync
                    pending.clear()
                    losses.extend((rows[:, 0] / rows[:, 1]).tolist())
                    window["tokens"] += rows[:, 2].sum().item()
                    window["flops"] += rows[:, 3].sum().item()
                    seconds = time.perf_counter() - window["t"]
                    if bar is not None:
                        post = {"loss": f"{losses[-1]:.3f}", "lr": f"{scheduler.get_last_lr()[0]:.2e}",
                                "tok/s": f"{window['tokens'] / max(seconds, 1e-9):,.0f}"}
                        if peak:
                            mfu = estimate_mfu(flops=window["flops"], seconds=max(seconds, 1e-9), peak=peak * world)
                            post["mfu"] = f"{mfu:.1%}"
                        bar.set_postfix(post, refresh=False)
                        bar.update(step - bar.n)
                    if seconds > 2.0:
                        window = {"t": time.perf_counter(), "tokens": 0.0, "flops": 0.0}
                    # Every process stops at the same step: on the flag summed over processes.
                    if bool(rows[:, 4].any()) or (world == 1 and stop.requested):
                        # The step is complete, so the current random state is the next step's.
                        save(_rng_state())
                        interrupted = True
                        break
                if step % config.eval_every == 0 or step == config.steps:
                    flag = torch.zeros(1, device=device)
                    t_eval = time.perf_counter()
                    if rank == 0:
                        record = run_eval(final=step == config.steps)
                        last_eval_step = step
                        metrics.append(record)
                        _write_metrics(out, metrics)
                        save(_rng_state())
                        if on_eval is not None:
                            on_eval(record)
                        if bar is not None:
                            bar.write(f"step {step}: loss {record['loss']:.3f}, exact match "
                                      f"uniform {record['uniform/exact_match']:.1%}, zero-heavy "
                                      f"{record['zero_heavy/exact_match']:.1%}")
                        target = config.target_exact
                        if target is not None and min(record["uniform/exact_match"],
                                                      record["zero_heavy/exact_match"]) >= target:
                            flag += 1
                    if world > 1:
                        import torch.distributed as dist
                        dist.broadcast(flag, src=0)
                    done = bool(flag.item())
                    eval_s += time.perf_counter() - t_eval
                    window["t"] += time.perf_counter() - t_eval  # throughput leaves evaluation out
        finally:
            if bar is not None:
                bar.close()
    if interrupted:
        raise KeyboardInterrupt(f"stopped at step {step}" + (f"; checkpoint saved to {ckpt_path}"
                                                             if out is not None else ""))
    model.eval()
    return TrainResult(model=model, config=config, losses=losses, metrics=metrics, step=step,
                       interrupted=False, device=device)
