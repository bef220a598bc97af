"""Time course_lib's EncoderLayer against torch.nn.TransformerEncoderLayer, forward + backward, CPU.

Three contenders run the same encoder layer (weights copied with ``EncoderLayer.from_torch``):

- ``ours``: ``EncoderLayer``, explicit attention (matmul, scale, mask, softmax, matmul; it
  keeps every head's weights for plots);
- ``ours fast``: ``EncoderLayer(fast=True)``, attention by
  ``torch.nn.functional.scaled_dot_product_attention``, no weights kept;
- ``torch``: ``nn.TransformerEncoderLayer(batch_first=True)`` in training mode, which calls
  its attention with ``need_weights=False`` (the fused kernel) and fuses nothing else.

The fair pair is ours fast / torch: the same kernels, so the ratio measures the overhead of
the course's readable modules (separate q, k, v projections, ``Residual``, our LayerNorm
written out in tensor operations). Each repeat times one forward and one backward pass
(gradients for the input and every parameter), in training mode with dropout 0. The
contenders alternate repeat by repeat, so a change in machine load hits them alike; the
median is reported.

Usage::

    python benchmarks/transformer.py            # the full table (a minute or two on 2 cores)
    python benchmarks/transformer.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from course_lib.masks import padding_mask, to_torch_mask
from course_lib.transformer import EncoderLayer

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # benchmarks/ is a folder of scripts, not a package: find _common
    sys.path.insert(0, HERE)
from _common import (cpu_model, forward_backward, load_average, make_parser, median_times, num_threads,  # noqa: E402
                     repeats_warmup, stamp, write_markdown)


@dataclass(frozen=True)
class Case:
    """One setting: an encoder layer over x of shape (B, L, d_model)."""

    B: int
    L: int
    d_model: int
    H: int
    d_ff: int
    norm_first: bool = False
    padded: bool = False  # a source padding mask, rows of lengths L, 3L/4, L/2, ...

    @property
    def label(self) -> str:
        placement = "pre-LN" if self.norm_first else "post-LN"
        return (f"B={self.B} L={self.L} d={self.d_model} h={self.H} d_ff={self.d_ff} {placement} "
                f"{'padding mask' if self.padded else 'no mask'}")


FULL = [Case(8, 256, 512, 8, 2048), Case(8, 256, 512, 8, 2048, padded=True),
        Case(8, 256, 512, 8, 2048, norm_first=True, padded=True)]
QUICK = [Case(2, 16, 32, 4, 64), Case(2, 16, 32, 4, 64, norm_first=True, padded=True)]
NAMES = ("ours", "ours fast", "torch")


def make_steps(case: Case, seed: int = 0) -> dict[str, Callable[[], Tensor]]:
    """One closure per contender, each running a forward + backward pass on the same input."""
    torch.manual_seed(seed)
    reference = nn.TransformerEncoderLayer(case.d_model, case.H, case.d_ff, dropout=0.0, batch_first=True,
                                           norm_first=case.norm_first)
    explicit = EncoderLayer.from_torch(reference)
    fast = EncoderLayer.from_torch(reference, fast=True)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(case.B, case.L, case.d_model, generator=g).requires_grad_()
    grad_out = torch.randn(case.B, case.L, case.d_model, generator=g)
    mask = None
    if case.padded:
        lengths = [max(1, case.L - i * case.L // (2 * case.B)) for i in range(case.B)]
        mask = padding_mask(lengths, case.L)  # (B, 1, L), True = attend
    torch_mask = None if mask is None else to_torch_mask(mask, key_padding=True)  # (B, L), True = ignore

    return {
        "ours": forward_backward(lambda: explicit(x, mask), grad_out, x, module=explicit),
        "ours fast": forward_backward(lambda: fast(x, mask), grad_out, x, module=fast),
        "torch": forward_backward(lambda: reference(x, src_key_padding_mask=torch_mask), grad_out, x,
                                  module=reference),
    }


def measure(case: Case, *, warmup: int, repeats: int) -> dict[str, float]:
    """Median seconds per forward + backward of each contender."""
    return median_times(make_steps(case), case.label, warmup=warmup, repeats=repeats)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = make_parser(__doc__, "quick", "repeats", "warmup", "threads", "out",
                         quick="tiny sizes, few repeats: a smoke test", repeats="timed repeats per contender",
                         warmup="untimed repeats per contender", out="also write the table as markdown")
    args = parser.parse_args(argv)
    cases = QUICK if args.quick else FULL
    repeats, warmup = repeats_warmup(args, quick=(3, 1), full=(10, 2))
    with num_threads(args.threads):
        lines = [
            "# EncoderLayer vs nn.TransformerEncoderLayer, forward + backward, float32, CPU",
            f"# {stamp()}; threads: {torch.get_num_threads()}, cores {os.cpu_count()}; "
            f"cpu: {cpu_model()}; load average {load_average()}",
            f"# median of {repeats} repeats after {warmup} warm-up, contenders alternating; times in ms",
            "",
            "| case | ours | ours fast | torch | ours / torch | ours fast / torch |",
            "|:---|---:|---:|---:|---:|---:|",
        ]
        print("\n".join(lines), flush=True)
        rows = []
        for case in cases:
            t = measure(case, warmup=warmup, repeats=repeats)
            row = {"case": case.label, **t, "ratio": t["ours"] / t["torch"], "ratio_fast": t["ours fast"] / t["torch"]}
            rows.append(row)
            line = (f"| {case.label} | " + " | ".join(f"{1e3 * t[name]:.2f}" for name in NAMES)
                    + f" | {row['ratio']:.2f} | {row['ratio_fast']:.2f} |")
            lines.append(line)
            print(line, flush=True)
        write_markdown(args.out, lines)
        return rows


if __name__ == "__main__":
    main()
