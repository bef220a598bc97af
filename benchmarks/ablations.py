"""What each part buys (消融实验): every ablation of the tiny preset trained on the number task, CPU.

Each variant is the ``tiny`` preset of :mod:`course_lib.train` with a few ``--set``
changes (the switches of :class:`course_lib.transformer.TransformerConfig`, or an RNN of
:mod:`course_lib.rnn` sized to the same parameter count). Every variant trains for the same
step budget from several seeds, is evaluated every ``eval_every`` steps on both held-out
sets, and the script records per variant and seed: exact match on both sets at each
evaluation, the first step (and training seconds) at which both reach the target (or "not
reached"), and the final loss. It writes ``benchmarks/results/ablations.json`` (with an
environment header) and prints a markdown table of mean and spread over the seeds.

Usage::

    python benchmarks/ablations.py                     # every variant, 3 seeds (long: run on an idle machine)
    python benchmarks/ablations.py --only no_pe --seeds 1
    python benchmarks/ablations.py --smoke --only baseline,rnn   # seconds: checks the script runs

Status (issue 14, item 3): written and smoke-tested; the full run has not been made yet.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import torch

from course_lib.embedding import parameter_count
from course_lib.train import apply_overrides, preset, train
from course_lib.train.config import build_model

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # benchmarks/ is a folder of scripts, not a package: find _common
    sys.path.insert(0, str(HERE))
from _common import first_reached, header_lines, make_parser, num_threads  # noqa: E402

#: Variant name -> the --set changes to the tiny preset.
VARIANTS: dict[str, list[str]] = {
    "baseline": [],
    "no_pe": ["positional=none"],
    "learned_pe": ["positional=learned"],
    "no_scale": ["scale_scores=false"],
    "one_head": ["num_heads=1"],
    "post_ln": ["norm_first=false"],
    "post_ln_no_warmup": ["norm_first=false", "warmup_steps=1"],
    "no_norm": ["layer_norm=false"],
    "no_residual": ["residual=false"],
    "untied": ["tie_embeddings=false"],
    "gelu": ["activation=gelu"],
    "rnn": ["model=rnn"],
    "rnn_attention": ["model=rnn_attention"],
}
SMOKE = ["steps=6", "eval_every=3", "eval_size=8", "test_size=8", "train_size=400", "batch_size=16"]


def run_variant(name: str, seed: int, extra: list[str], target: float) -> dict:
    """Train variant ``name`` from ``seed``; return its record (curves, time to target, final loss)."""
    config = apply_overrides(preset("tiny"), VARIANTS[name] + extra
                             + [f"seed={seed}", "progress=false", "device=cpu", "target_exact=none"])
    result = train(config)
    reached = first_reached(result.metrics, target)
    return {
        "variant": name, "seed": seed, "set": VARIANTS[name],
        "parameters": parameter_count(build_model(config.model)),
        "curve": [{k: r[k] for k in ("step", "train_s", "uniform/exact_match", "zero_heavy/exact_match")}
                  for r in result.metrics],
        "step_to_target": reached["step"] if reached else None,
        "train_s_to_target": reached["train_s"] if reached else None,
        "final_loss": result.losses[-1],
        "final_uniform": result.metrics[-1]["uniform/exact_match"],
        "final_zero_heavy": result.metrics[-1]["zero_heavy/exact_match"],
    }


def _mean_spread(values: list[float]) -> str:
    if not values:
        return "not reached"
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3g} ± {spread:.2g}"


def table(records: list[dict], target: float) -> list[str]:
    """Markdown rows: per variant, parameters, final exact match, steps to target, final loss."""
    rows = [f"| variant | parameters | exact match, uniform | exact match, zero-heavy | steps to {target:.0%} "
            "| reached | final loss |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["variant"] for r in records):
        mine = [r for r in records if r["variant"] == name]
        steps = [r["step_to_target"] for r in mine if r["step_to_target"] is not None]
        rows.append(f"| {name} | {mine[0]['parameters']:,} | {_mean_spread([r['final_uniform'] for r in mine])} "
                    f"| {_mean_spread([r['final_zero_heavy'] for r in mine])} | {_mean_spread(steps)} "
                    f"| {len(steps)}/{len(mine)} | {_mean_spread([r['final_loss'] for r in mine])} |")
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__)
    parser.add_argument("--only", help="comma-separated variant names (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per variant (0, 1, ...)")
    parser.add_argument("--target", type=float, default=0.99, help="exact match to reach on both held-out sets")
    parser.add_argument("--smoke", action="store_true", help="a few steps of a tiny data set: checks the script runs")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(N) for the run")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a change applied to every variant, as course-train --set")
    parser.add_argument("--out", default=str(HERE / "results" / "ablations.json"), help="where to write the JSON")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"--only: unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    extra = (SMOKE if args.smoke else []) + args.overrides
    with num_threads(args.threads):
        header = header_lines() + [f"smoke: {args.smoke}", f"extra --set: {extra}"]
        print("\n".join(header), flush=True)
        records = [run_variant(n, seed, extra, args.target) for n in names for seed in range(args.seeds)]
    rows = table(records, args.target)
    print("\n".join(["", *rows]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {"environment": header, "threads": torch.get_num_threads(), "cores": os.cpu_count(),
            "target": args.target, "records": records}
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


if __name__ == "__main__":
    main()
