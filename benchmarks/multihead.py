"""Time course_lib's MultiHeadAttention against torch.nn.MultiheadAttention, forward + backward, CPU.

Five contenders run the same self-attention layer (weights copied with ``from_torch``):

- ``ours``: ``MultiHeadAttention``, explicit path (scale, matmul, mask, softmax, matmul; it
  returns every head's weights);
- ``ours fast``: ``MultiHeadAttention(fast=True)``, attention by
  ``torch.nn.functional.scaled_dot_product_attention``, no weights returned;
- ``torch per head``: ``nn.MultiheadAttention(..., need_weights=True, average_attn_weights=False)``,
  which forms and returns every head's weights, as ``ours`` does;
- ``torch``: ``nn.MultiheadAttention(..., need_weights=True)`` (its default), which forms the
  weights and returns their mean over the heads (one more pass over them);
- ``torch fast``: ``nn.MultiheadAttention(..., need_weights=False)``, which uses the fused kernel.

The fair pairs are ours / torch per head (both return per-head weights) and ours fast / torch
fast. Each repeat times one forward and one backward pass (gradients for the input and every
parameter), in training mode with dropout 0. All contenders run in the same process,
alternating repeat by repeat, so a change in machine load hits them alike; the table shows
the median ± half the interquartile range, and each ratio is of the medians, ± half the
interquartile range of the per-repeat ratios (a repeat runs every contender once, back to back).

Usage::

    python benchmarks/multihead.py                # the full table (a few minutes on 2 cores)
    python benchmarks/multihead.py --quick        # a smoke run of a few seconds
    python benchmarks/multihead.py --threads 2 --out multihead.md   # also write markdown
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from course_lib.multihead import MultiHeadAttention

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # benchmarks/ is a folder of scripts, not a package: find _common
    sys.path.insert(0, HERE)
from _common import (check_agree, forward_backward, header_lines, make_parser, ms, num_threads,  # noqa: E402
                     print_header, repeats_warmup, spread, time_alternating, write_markdown)


@dataclass(frozen=True)
class Case:
    """One setting: self-attention over x of shape (B, L, d_model) with H heads."""

    B: int
    L: int
    d_model: int
    H: int
    causal: bool = False

    @property
    def label(self) -> str:
        return f"B={self.B} L={self.L} d={self.d_model} h={self.H} {'causal' if self.causal else 'no mask'}"


FULL = [Case(8, 256, 512, 8), Case(8, 256, 512, 8, causal=True), Case(8, 512, 512, 8)]
QUICK = [Case(2, 16, 32, 4), Case(2, 16, 32, 4, causal=True)]
NAMES = ("ours", "ours fast", "torch per head", "torch", "torch fast")
RATIOS = {  # column title: (numerator, denominator), the fair pairs first
    "ours / torch per head": ("ours", "torch per head"),
    "ours fast / torch fast": ("ours fast", "torch fast"),
    "ours / torch": ("ours", "torch"),
}


def make_steps(case: Case, seed: int = 0) -> dict[str, Callable[[], Tensor]]:
    """One closure per contender, each running a forward + backward pass on the same input."""
    torch.manual_seed(seed)
    reference = nn.MultiheadAttention(case.d_model, case.H, batch_first=True)
    explicit = MultiHeadAttention.from_torch(reference)
    fast = MultiHeadAttention.from_torch(reference, fast=True)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(case.B, case.L, case.d_model, generator=g).requires_grad_()
    grad_out = torch.randn(case.B, case.L, case.d_model, generator=g)
    mask = torch.ones(case.L, case.L, dtype=torch.bool).tril() if case.causal else None  # True = attend
    torch_mask = None if mask is None else ~mask  # torch: True = may not attend

    def theirs(**kwargs) -> Callable[[], Tensor]:
        return forward_backward(lambda: reference(x, x, x, attn_mask=torch_mask, **kwargs)[0],
                                grad_out, x, module=reference)

    return {
        "ours": forward_backward(lambda: explicit(x, x, x, mask=mask)[0], grad_out, x, module=explicit),
        "ours fast": forward_backward(lambda: fast(x, x, x, mask=mask)[0], grad_out, x, module=fast),
        "torch per head": theirs(need_weights=True, average_attn_weights=False),
        "torch": theirs(need_weights=True),
        "torch fast": theirs(need_weights=False),
    }


def measure(case: Case, *, warmup: int, repeats: int) -> dict:
    """Check the contenders agree, time them; return medians, spreads and ratios (seconds)."""
    steps = make_steps(case)
    check_agree({name: step().detach() for name, step in steps.items()}, case.label)
    times = dict(zip(steps, time_alternating(list(steps.values()), warmup=warmup, repeats=repeats)))
    row = {"case": case, "median": {n: statistics.median(t) for n, t in times.items()},
           "spread": {n: spread(t) for n, t in times.items()}, "ratio": {}, "ratio_spread": {}}
    for title, (a, b) in RATIOS.items():
        row["ratio"][title] = row["median"][a] / row["median"][b]
        row["ratio_spread"][title] = spread([x / y for x, y in zip(times[a], times[b])])
    return row


def table(rows: Sequence[dict]) -> list[str]:
    """The markdown table: one line per case, times in ms as median ± half the IQR."""
    lines = ["| case | " + " | ".join(f"{n} (ms)" for n in NAMES) + " | " + " | ".join(RATIOS) + " |",
             "|:---|" + "---:|" * (len(NAMES) + len(RATIOS))]
    for r in rows:
        times = [ms(r["median"][n], r["spread"][n], 1) for n in NAMES]
        ratios = [f"{r['ratio'][t]:.2f} ± {r['ratio_spread'][t]:.2f}" for t in RATIOS]
        lines.append(f"| {r['case'].label} | " + " | ".join(times + ratios) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = make_parser(__doc__, "quick", "repeats", "warmup", "threads", "out",
                         quick="tiny sizes, few repeats: a smoke test",
                         repeats="timed repeats per contender (default 10, quick 3)",
                         warmup="untimed calls per contender (default 2, quick 1)")
    args = parser.parse_args(argv)
    repeats, warmup = repeats_warmup(args, quick=(3, 1), full=(10, 2))
    with num_threads(args.threads):
        header = header_lines()
        note = (f"forward + backward, median of {repeats} repeats after {warmup} warm-up, contenders "
                "alternating; ± is half the interquartile range (of the per-repeat ratios for a ratio)")
        print_header("MultiHeadAttention vs nn.MultiheadAttention, forward + backward, float32, CPU", header, note)
        print()
        lines = table([])
        print("\n".join(lines), flush=True)
        rows = []
        for case in QUICK if args.quick else FULL:
            rows.append(measure(case, warmup=warmup, repeats=repeats))
            print(table(rows[-1:])[-1], flush=True)
    write_markdown(args.out, [f"- {h}" for h in (*header, note)] + [""] + table(rows), announce=True)
    return rows


if __name__ == "__main__":
    main()
