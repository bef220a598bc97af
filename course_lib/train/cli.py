"""The ``course-train`` command line: argument parser, configuration, entry point, end-of-run report.

:func:`main` is the console script ``course-train`` and what ``python -m course_lib.train``
and ``torchrun -m course_lib.train`` run (via ``__main__.py``); after a run it prints
:func:`report`: sample translations of held-out numbers, and the run's figures.

Every error it expects ends the command with one line on stderr, ``course-train: error:
...``, and no traceback: status 2 for what the command was given (a bad field, a missing
device, an output folder it may not use), 1 for what happened on the way (an unreadable
checkpoint, a diverged loss), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from course_lib.data import Splits, make_splits
from course_lib.i18n import tr
from course_lib.train.checkpoint import CheckpointError
from course_lib.train.config import PRESETS, TrainConfig, apply_overrides, config_dict, pick_device, preset
from course_lib.train.evaluation import attention_maps, evaluate
from course_lib.train.folder import RunFolderError
from course_lib.train.loop import TrainingDiverged, TrainResult, train
from course_lib.transformer import Transformer


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The ``course-train`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="course-train",
        description="Train the course's Transformer to translate English number words into Chinese numerals.",
        epilog="Examples: course-train --preset tiny --out runs/tiny; "
               "course-train --preset gpu --out runs/gpu --set d_model=768; "
               "torchrun --nproc_per_node=2 -m course_lib.train --preset tiny --out runs/ddp")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="starting configuration (default: gpu if CUDA is available, else tiny)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a TrainConfig or model field (repeatable), "
                             "e.g. --set d_model=64 --set lr=1e-3; --set model=rnn or rnn_attention "
                             "trains a GRU encoder-decoder of the same size instead")
    parser.add_argument("--steps", type=int, help="optimizer steps (same as --set steps=N)")
    parser.add_argument("--batch-size", type=int, help="pairs per step over all processes")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--out", help="directory for checkpoint.pt and metrics.jsonl (locked while the run uses it)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in OUT from OUT/checkpoint.pt")
    again.add_argument("--overwrite", action="store_true",
                       help="replace the run that OUT holds (without it, or --resume, such an OUT is refused)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--target-exact", type=float, help="stop once both held-out sets reach this exact match")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s, for MFU")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--print-config", action="store_true", help="print the configuration and exit")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Build the :class:`TrainConfig` that parsed ``course-train`` arguments describe."""
    name = args.preset or ("gpu" if torch.cuda.is_available() else "tiny")
    overrides = list(args.overrides)
    for flag, key in (("steps", "steps"), ("batch_size", "batch_size"), ("device", "device"), ("out", "out"),
                      ("seed", "seed"), ("target_exact", "target_exact"), ("peak_tflops", "peak_tflops")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.no_progress:
        overrides.append("progress=false")
    return apply_overrides(preset(name), overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``course-train``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        _usage_error(error)
    if args.print_config:
        print(json.dumps(config_dict(config), indent=2))
        return 0
    try:
        pick_device(config.device)  # a device this machine lacks: found before any work
    except ValueError as error:
        _usage_error(error)
    try:
        result = train(config, resume=args.resume, overwrite=args.overwrite)
    except RunFolderError as error:
        _usage_error(error)
    except (CheckpointError, TrainingDiverged) as error:
        raise SystemExit(f"course-train: error: {error}") from None
    except KeyboardInterrupt as error:
        print(f"\ncourse-train: interrupted ({error}); continue with --resume", file=sys.stderr)
        return 130
    if result.metrics and int(os.environ.get("RANK", "0")) == 0:
        last = result.metrics[-1]
        print(tr(f"step {last['step']}: exact match uniform {last['uniform/exact_match']:.2%}, "
                 f"zero-heavy {last['zero_heavy/exact_match']:.2%} ({last['eval_n']} numbers each); "
                 f"{last['train_s']:.0f} s of training",
                 f"第 {last['step']} 步：完全匹配率 均匀集 {last['uniform/exact_match']:.2%}，"
                 f"多零集 {last['zero_heavy/exact_match']:.2%}（每个集合 {last['eval_n']} 个数）；"
                 f"训练用时 {last['train_s']:.0f} s"))
        report(result)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return 0


def _usage_error(error: Exception) -> None:
    """End the command with status 2 and the error as one line on stderr (no usage text, no traceback)."""
    print(f"course-train: error: {error}", file=sys.stderr)
    raise SystemExit(2)


# --------------------------------------------------------------------------- end-of-run report


def report(result: TrainResult, *, count: int = 5) -> list[str]:
    """Print sample translations of held-out numbers; with ``out``, save the run's figures.

    Prints ``count`` numbers of each held-out set with the model's greedy translation, and,
    when the run has an ``out`` directory, writes ``curves.png``
    (:func:`course_lib.viz.training_curves`) and ``attention.png`` (the last decoder layer's
    cross-attention, per head, for one held-out number) into it.

    Parameters
    ----------
    result : TrainResult
        What :func:`train` returned.
    count : int, default 5
        Numbers shown from each held-out set.

    Returns
    -------
    list of str
        The printed lines.
    """
    config = result.config
    splits = make_splits(train_size=config.train_size, test_size=config.test_size, seed=config.seed)
    sets = ((tr("uniform", "均匀集"), splits.test_uniform[:count]),
            (tr("zero-heavy", "多零集"), splits.test_zero_heavy[:count]))
    lines = []
    for name, numbers in sets:
        scored = evaluate(result.model, numbers, direction=config.direction, device=result.device,
                          return_predictions=True)
        lines.append(tr(f"held-out numbers ({name}), greedy translations:",
                        f"留出的数（{name}），贪心解码的翻译："))
        lines += [f"  {'✓' if ok else '✗'} {n:>11,} → {text}"
                  for n, text, ok in zip(numbers, scored["predictions"], scored["correct"])]
    print("\n".join(lines))
    if config.out and result.metrics:
        paths = _save_figures(result, splits, Path(config.out))
        print(tr("figures: ", "图：") + ", ".join(str(p) for p in paths))
    return lines


def _save_figures(result: TrainResult, splits: Splits, out: Path) -> list[Path]:
    """Write ``curves.png`` and ``attention.png`` of a finished run into ``out``; return their paths.

    An RNN (:mod:`course_lib.rnn`) has no multi-head maps: it gets ``curves.png`` only.
    """
    import matplotlib.pyplot as plt

    from course_lib.viz import attention_grid, training_curves

    config = result.config
    # Files only: with interactive mode off no window opens, whatever the backend, and
    # savefig renders a PNG itself; the backend and the interactive state are left as they were.
    with plt.ioff():
        figures = {"curves.png": training_curves(result.metrics, losses=result.losses, title="course-train")}
        if isinstance(result.model, Transformer):
            number = next((n for n in splits.test_zero_heavy if n >= 100_000), splits.test_zero_heavy[0])
            maps = attention_maps(result.model, number, direction=config.direction)
            cross = maps.cross[-1]  # (H, T, S)
            figures["attention.png"] = attention_grid(
                cross, titles=[tr(f"head {h}", f"头 {h}") for h in range(cross.shape[0])], annotate=False,
                x_labels=maps.src_tokens, y_labels=maps.tgt_tokens, ncols=2,
                suptitle=tr(f"{number:,}: cross-attention of the last decoder layer",
                            f"{number:,}：最后一个解码器层的交叉注意力"))
        for name, fig in figures.items():
            fig.savefig(out / name, dpi=100)
            plt.close(fig)
    return [out / name for name in figures]
