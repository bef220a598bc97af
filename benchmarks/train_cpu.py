"""Time to 99% held-out exact match for ``course-train --preset tiny`` on the CPU.

Trains the ``tiny`` preset of :mod:`course_lib.train` with ``target_exact=0.99``: every
``eval_every`` steps it greedily decodes ``eval_size`` numbers of each held-out set (uniform
and zero-heavy, values the training set never contains) and stops once *both* reach 99%
exact match. Then it re-scores the final model on the whole held-out sets (``test_size``
numbers each) and prints one table row: the step and the training time (wall time less
evaluations and checkpoints) at which the target was first met, the wall time including
evaluations, and the final figures.

Usage::

    python benchmarks/train_cpu.py                    # the real run: a few minutes on 2 cores
    python benchmarks/train_cpu.py --smoke            # a run of a few seconds (the test suite's)
    python benchmarks/train_cpu.py --threads 2 --set d_model=96 --out results.md

The target is met honestly only if the final re-scoring on the full sets agrees; the table
shows both. Record figures from a quiet machine: the header gives the load average.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from course_lib.train import apply_overrides, evaluate, preset, train
from course_lib.data import make_splits

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # benchmarks/ is a folder of scripts, not a package: find _common
    sys.path.insert(0, HERE)
from _common import cpu_model, first_reached, load_average, make_parser, num_threads, stamp, write_markdown  # noqa: E402

SMOKE = ["steps=30", "eval_every=15", "eval_size=20", "test_size=20", "train_size=2000", "d_model=32",
         "d_ff=64", "num_layers=1"]


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny model for a few steps: checks the script runs")
    parser.add_argument("--target", type=float, default=0.99, help="exact match to reach on both held-out sets")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(N) for the run")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field of the tiny preset, as course-train --set")
    parser.add_argument("--out", help="also write the header and the table as markdown to this file")
    args = parser.parse_args(argv)

    with num_threads(args.threads):
        config = apply_overrides(preset("tiny"), (SMOKE if args.smoke else []) + args.overrides
                                 + [f"target_exact={args.target}", "progress=false", "device=cpu"])
        m = config.model
        lines = ["# course-train --preset tiny: time to held-out exact match, CPU",
                 f"# {stamp()}; threads: {torch.get_num_threads()}, cores {os.cpu_count()}",
                 f"# cpu: {cpu_model()}; load average {load_average()}",
                 f"# model: d_model {m.d_model}, {m.num_heads} heads, d_ff {m.d_ff}, {m.num_layers}+{m.num_layers} "
                 f"layers, norm_first={m.norm_first}, dropout {m.dropout}; batch {config.batch_size}, peak lr "
                 f"{config.lr}, warmup {config.warmup_steps}; evaluated every {config.eval_every} steps on "
                 f"{config.eval_size} numbers per set"]
        print("\n".join(lines), flush=True)
        result = train(config)
        reached = first_reached(result.metrics, args.target)
        # The stopping evaluation used eval_size numbers per set; score the final model on all of them.
        splits = make_splits(train_size=config.train_size, test_size=config.test_size, seed=config.seed)
        final = {name: evaluate(result.model, numbers, direction=config.direction)["exact_match"]
                 for name, numbers in (("uniform", splits.test_uniform), ("zero_heavy", splits.test_zero_heavy))}
    row = {
        "reached": reached is not None,
        "step": reached["step"] if reached else None,
        "train_s": reached["train_s"] if reached else None,
        "elapsed_s": reached["elapsed_s"] if reached else None,
        "steps_run": result.step,
        "final_uniform": final["uniform"],
        "final_zero_heavy": final["zero_heavy"],
        "test_size": config.test_size,
    }
    def fmt(x, unit=""):
        return "not reached" if x is None else f"{x:.0f}{unit}"
    table = [
        "| target | step | training time | wall time (with evaluation) | final exact match, uniform | "
        "final exact match, zero-heavy | numbers per set |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {args.target:.0%} | {fmt(row['step'])} | {fmt(row['train_s'], ' s')} | {fmt(row['elapsed_s'], ' s')} | "
        f"{final['uniform']:.2%} | {final['zero_heavy']:.2%} | {config.test_size} |",
    ]
    print("\n".join(["", *table]))
    write_markdown(args.out, [*lines, "", *table])
    return row


if __name__ == "__main__":
    main()
