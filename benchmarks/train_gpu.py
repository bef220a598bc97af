"""Throughput, MFU and time to 99% held-out exact match of ``course-train --preset gpu``.

Two measurements on one CUDA GPU, both with the ``gpu`` preset of :mod:`course_lib.train`
(bf16 autocast, fused attention, ``torch.compile``):

1. **Throughput.** ``--warmup`` untimed steps (compilation happens here), then ``--steps``
   timed training steps on the preset's batches: tokens per second (source + target, no
   padding) and model FLOPs utilisation, ``model_flops / (time · peak)`` with the device's
   dense bf16 peak from :data:`course_lib.train.PEAK_TFLOPS` (or ``--peak-tflops``).
2. **Time to accuracy.** A fresh run with ``target_exact=0.99``: the training time (wall
   time less evaluations) at which both held-out sets first reach 99% exact match.

Usage::

    python benchmarks/train_gpu.py                  # on a GPU machine
    python benchmarks/train_gpu.py --smoke          # anywhere, CPU included: a tiny model, a few steps,
                                                    # to check the script runs; its numbers mean nothing

Without ``--smoke`` the script refuses to run without CUDA rather than print CPU figures
under a GPU heading.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import torch

from course_lib.data import Vocab, make_splits
from course_lib.train import (BatchStream, apply_overrides, estimate_mfu, label_smoothed_loss, model_flops,
                              peak_flops, pick_device, preset, train)
from course_lib.transformer import Transformer

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # benchmarks/ is a folder of scripts, not a package: find _common
    sys.path.insert(0, HERE)
from _common import first_reached, make_parser, stamp, write_markdown  # noqa: E402

SMOKE = ["d_model=32", "num_heads=4", "d_ff=64", "num_layers=1", "batch_size=16", "train_size=2000",
         "test_size=20", "eval_size=20", "eval_every=10", "steps=20", "compile=false"]


def throughput(config, *, warmup: int, steps: int, peak: float | None) -> dict:
    """Time ``steps`` training steps after ``warmup`` untimed ones; tokens/s and MFU."""
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model = Transformer(config.model).to(device)
    step_model = torch.compile(model) if config.compile and device.type == "cuda" else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps,
                                  fused=device.type == "cuda")
    splits = make_splits(train_size=config.train_size, test_size=1, seed=config.seed)
    stream = BatchStream(splits.train, batch_size=config.batch_size, seed=config.seed, direction=config.direction)
    batches = [next(stream) for _ in range(warmup + steps)]  # built before timing: data is not the subject
    amp = config.amp and device.type == "cuda"
    tokens = flops = 0.0
    start = None
    for i, batch in enumerate(batches):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        if i >= warmup:
            tokens += float(batch.src_lengths.sum() + batch.tgt_lengths.sum())
            flops += float(model_flops(config.model, src_len=batch.src_lengths, tgt_len=batch.tgt_lengths).sum())
        batch = batch.to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            logits = step_model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)
        loss = label_smoothed_loss(logits, batch.tgt_out, smoothing=config.label_smoothing, ignore_index=Vocab.PAD)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    out = {"tokens_per_s": tokens / seconds, "step_ms": 1e3 * seconds / steps, "flops_per_s": flops / seconds,
           "mfu": estimate_mfu(flops=flops, seconds=seconds, peak=peak) if peak else None,
           "parameters": sum(p.numel() for p in model.parameters())}
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny model, few steps, any device")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps before timing (default 20)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 50)")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, if not in the table")
    parser.add_argument("--skip-accuracy", action="store_true", help="only measure throughput")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", help="also write the header and the table as markdown to this file")
    args = parser.parse_args(argv)
    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("train_gpu.py: no CUDA GPU here; run it on a GPU machine, or pass --smoke to check "
                         "that the script runs (its figures then mean nothing)")
    config = apply_overrides(preset("gpu"), (SMOKE if args.smoke else []) + args.overrides
                             + ["progress=false", f"target_exact={args.target}"])
    device = pick_device(config.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})"
    peak = args.peak_tflops * 1e12 if args.peak_tflops else (peak_flops(name) if device.type == "cuda" else None)
    m = config.model
    lines = [f"# course-train --preset gpu{' (SMOKE RUN: figures mean nothing)' if args.smoke else ''}",
             f"# {stamp()}; device: {name}; peak "
             f"{'unknown' if peak is None else f'{peak / 1e12:.0f} TFLOP/s (dense bf16)'}",
             f"# model: d_model {m.d_model}, {m.num_heads} heads, d_ff {m.d_ff}, {m.num_layers}+{m.num_layers} layers, "
             f"fast attention {m.fast}; batch {config.batch_size}; amp (bf16) {config.amp and device.type == 'cuda'}, "
             f"compile {config.compile and device.type == 'cuda'}"]
    print("\n".join(lines), flush=True)
    warmup = args.warmup if args.warmup is not None else (2 if args.smoke else 20)
    steps = args.steps if args.steps is not None else (3 if args.smoke else 50)
    speed = throughput(config, warmup=warmup, steps=steps, peak=peak)
    row = dict(speed)
    if not args.skip_accuracy:
        result = train(config)
        reached = first_reached(result.metrics, args.target)
        row.update(reached=reached is not None, step=reached and reached["step"],
                   train_s=reached and reached["train_s"], elapsed_s=reached and reached["elapsed_s"],
                   final=result.metrics[-1])
    mfu = "n/a (peak unknown)" if row["mfu"] is None else f"{row['mfu']:.1%}"
    if args.skip_accuracy:
        reach = "skipped | skipped"
    elif not row["reached"]:
        reach = "not reached | not reached"
    else:
        reach = f"{row['train_s']:.1f} s | {row['step']}"
    table = ["| parameters | step (ms) | tokens/s | TFLOP/s | MFU | time to "
             f"{args.target:.0%} (training) | step reached |", "|---:|---:|---:|---:|---:|---:|---:|",
             f"| {row['parameters'] / 1e6:.1f} M | {row['step_ms']:.1f} | {row['tokens_per_s']:,.0f} | "
             f"{row['flops_per_s'] / 1e12:.1f} | {mfu} | "
             + f"{reach} |"]
    print("\n".join(["", *table]))
    write_markdown(args.out, [*lines, "", *table])
    return row


if __name__ == "__main__":
    main()
