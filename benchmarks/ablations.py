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

    python benchmarks/ablations.py --jobs 2            # every variant, 3 seeds, two at a time
    python benchmarks/ablations.py --only no_pe --seeds 1
    python benchmarks/ablations.py --smoke --only baseline,rnn --out /tmp/smoke.json  # seconds

The JSON is rewritten after every finished training, and a second call with the same
``--target`` and ``--set`` resumes: pairs (variant, seed) already in it are skipped. Each
training runs on ``--threads`` torch threads (1 by default); each record keeps its wall and
process CPU seconds and the load average before and after, so that a run on a busy machine
can still be read as CPU seconds per core.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
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
    # The scale matters where d_head is large: one head of d_model 64 is d_head 64 (the
    # paper's size), against the preset's 4 heads of 16; compared with one_head.
    "one_head_no_scale": ["num_heads=1", "scale_scores=false"],
    "post_ln": ["norm_first=false"],
    "post_ln_no_warmup": ["norm_first=false", "warmup_steps=1"],
    "no_norm": ["layer_norm=false"],
    "no_residual": ["residual=false"],
    "untied": ["tie_embeddings=false"],
    "gelu": ["activation=gelu"],
    "rnn": ["model=rnn"],
    "rnn_attention": ["model=rnn_attention"],
}
#: The budget of the full run (the preset trains 3000 steps; its baseline reaches 99% near 1000).
FULL = ["steps=1000", "eval_every=100"]
SMOKE = ["steps=6", "eval_every=3", "eval_size=8", "test_size=8", "train_size=400", "batch_size=16"]
#: Steps at which the table reads exact match (the last evaluation at or before each).
BUDGETS = (250, 500, 1000)


def run_variant(name: str, seed: int, extra: list[str], target: float, threads: int = 1) -> dict:
    """Train variant ``name`` from ``seed`` on ``threads`` torch threads; return its record.

    The record holds the curves, the step and training seconds to ``target`` (None: not
    reached), the final loss and exact match, and the wall and process CPU seconds of the
    whole training with the load average before and after it.
    """
    config = apply_overrides(preset("tiny"), VARIANTS[name] + extra
                             + [f"seed={seed}", "progress=false", "device=cpu", "target_exact=none"])
    load_start, wall, cpu = os.getloadavg(), time.perf_counter(), time.process_time()
    with num_threads(threads):
        result = train(config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    reached = first_reached(result.metrics, target)
    model = config.model
    return {
        "variant": name, "seed": seed, "set": VARIANTS[name],
        "parameters": parameter_count(build_model(model)),
        "d_head": model.d_model // model.num_heads if hasattr(model, "num_heads") else None,
        "curve": [{k: r[k] for k in ("step", "train_s", "uniform/exact_match", "zero_heavy/exact_match")}
                  for r in result.metrics],
        "step_to_target": reached["step"] if reached else None,
        "train_s_to_target": reached["train_s"] if reached else None,
        "final_loss": result.losses[-1],
        "final_uniform": result.metrics[-1]["uniform/exact_match"],
        "final_zero_heavy": result.metrics[-1]["zero_heavy/exact_match"],
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "threads": threads,
        "load_start": [round(x, 2) for x in load_start],
        "load_end": [round(x, 2) for x in os.getloadavg()],
    }


def exact_at(record: dict, step: int) -> float:
    """Mean exact match of both held-out sets at the last evaluation at or before ``step``."""
    rows = [c for c in record["curve"] if c["step"] <= step]
    if not rows:
        return float("nan")
    return (rows[-1]["uniform/exact_match"] + rows[-1]["zero_heavy/exact_match"]) / 2


def _mean_spread(values: list[float], digits: str = ".3g") -> str:
    """"mean ± spread" of ``values``; one value is its mean alone (one value measures no spread)."""
    if not values:
        return "not reached"
    if len(values) == 1:
        return f"{values[0]:{digits}}"
    return f"{statistics.fmean(values):{digits}} ± {statistics.pstdev(values):.2g}"


def table(records: list[dict], target: float, budgets: tuple[int, ...] = BUDGETS) -> list[str]:
    """Markdown rows per variant: size, exact match at each budget and final, steps to target, loss.

    Spread is the population standard deviation over the seeds (none is printed for a single
    value); "steps to target" averages the seeds that reached it, and "reached" counts them.
    """
    head = ["variant", "d_head", "parameters", *[f"exact match @{b}" for b in budgets],
            "final, uniform", "final, zero-heavy", f"steps to {target:.0%}", "reached", "final loss"]
    rows = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name in dict.fromkeys(r["variant"] for r in records):
        mine = [r for r in records if r["variant"] == name]
        steps = [r["step_to_target"] for r in mine if r["step_to_target"] is not None]
        d_head = mine[0].get("d_head")
        cells = [name, "—" if d_head is None else str(d_head), f"{mine[0]['parameters']:,}",
                 *[_mean_spread([exact_at(r, b) for r in mine]) for b in budgets],
                 _mean_spread([r["final_uniform"] for r in mine]),
                 _mean_spread([r["final_zero_heavy"] for r in mine]), _mean_spread(steps, ".4g"),
                 f"{len(steps)}/{len(mine)}", _mean_spread([r["final_loss"] for r in mine])]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _write(out: Path, data: dict, order: list[str]) -> None:
    """Write ``data`` to ``out`` atomically, its records sorted by variant order, then seed."""
    data["records"].sort(key=lambda r: (order.index(r["variant"]) if r["variant"] in order else len(order),
                                        r["variant"], r["seed"]))
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)


def _load(out: Path, target: float, extra: list[str], fresh: bool) -> dict | None:
    """The results already in ``out`` if they were made with the same target and changes."""
    if fresh or not out.exists():
        return None
    data = json.loads(out.read_text(encoding="utf-8"))
    if data.get("target") != target or data.get("extra") != extra:
        raise SystemExit(f"{out} holds a run with target {data.get('target')} and --set "
                         f"{data.get('extra')}; pass --fresh to replace it, or another --out")
    return data


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__)
    parser.add_argument("--only", help="comma-separated variant names (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per variant (0, 1, ...)")
    parser.add_argument("--target", type=float, default=0.99, help="exact match to reach on both held-out sets")
    parser.add_argument("--smoke", action="store_true", help="a few steps of a tiny data set: checks the script runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training (default 1)")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run in parallel, one process each")
    parser.add_argument("--fresh", action="store_true", help="ignore (and replace) the results in --out")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a change applied to every variant, as course-train --set")
    parser.add_argument("--out", default=str(HERE / "results" / "ablations.json"), help="where to write the JSON")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"--only: unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    extra = (SMOKE if args.smoke else FULL) + args.overrides
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = _load(out, args.target, extra, args.fresh) or {"target": args.target, "extra": extra, "runs": [],
                                                          "records": []}
    done = {(r["variant"], r["seed"]) for r in data["records"]}
    # Seed-major order: a run stopped early still has every variant at its first seeds.
    todo = [(n, s) for s in range(args.seeds) for n in names if (n, s) not in done]
    with num_threads(args.threads):
        header = header_lines()
    run = {"environment": header, "threads_per_training": args.threads, "jobs": args.jobs,
           "cores": os.cpu_count(), "smoke": args.smoke, "trainings": len(todo),
           "load_start": [round(x, 2) for x in os.getloadavg()]}
    data["runs"].append(run)
    data["environment"] = header  # the latest run's conditions
    print("\n".join(header + [f"extra --set: {extra}", f"to train: {len(todo)}, already done: {len(done)}, "
                              f"jobs: {args.jobs}, threads each: {args.threads}"]), flush=True)
    wall, cpu_before = time.perf_counter(), time.process_time()
    for record in _records(todo, extra, args):
        data["records"].append(record)
        run["finished"] = run.get("finished", 0) + 1
        run["cpu_s_trainings"] = round(run.get("cpu_s_trainings", 0.0) + record["cpu_s"], 2)
        run["wall_s"] = round(time.perf_counter() - wall, 2)
        _write(out, data, list(VARIANTS))
        print(f"{record['variant']} seed {record['seed']}: {record['wall_s']:.0f} s wall, {record['cpu_s']:.0f} s "
              f"CPU, final exact match {record['final_uniform']:.3f} / {record['final_zero_heavy']:.3f}", flush=True)
    run.update(wall_s=round(time.perf_counter() - wall, 2), cpu_s_parent=round(time.process_time() - cpu_before, 2),
               load_end=[round(x, 2) for x in os.getloadavg()])
    _write(out, data, list(VARIANTS))
    print("\n".join(["", *table(data["records"], args.target)]))
    return data


def _records(todo: list[tuple[str, int]], extra: list[str], args) -> Iterator[dict]:
    """Yield each training's record as it finishes: in this process, or ``--jobs`` at a time."""
    if args.jobs <= 1:
        for name, seed in todo:
            yield run_variant(name, seed, extra, args.target, args.threads)
        return
    # spawn, not fork: a forked child of a process that has started OpenMP threads may hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures = [pool.submit(run_variant, name, seed, extra, args.target, args.threads) for name, seed in todo]
        for future in as_completed(futures):
            yield future.result()


if __name__ == "__main__":
    main()
