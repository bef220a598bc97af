"""Time course_lib's teaching attention against torch's fused one, forward + backward, on CPU.

``course_lib.attention.scaled_dot_product_attention`` spells out every step (matmul, scale,
mask, softmax, matmul) and returns the weights; ``torch.nn.functional.scaled_dot_product_attention``
dispatches to a fused kernel. This script measures what the clarity costs: the median wall
time of one forward and backward pass for each, at a few sizes, with and without a causal
mask, and the ratio ours / torch. Both run in the same process, alternating repeat by repeat,
so that a change in machine load hits both alike.

Usage::

    python benchmarks/attention.py              # the full table (about a minute on 2 cores)
    python benchmarks/attention.py --quick      # a smoke run of a second or so
    python benchmarks/attention.py --out attention.md   # also write a markdown table
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.attention import scaled_dot_product_attention

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # benchmarks/ is a folder of scripts, not a package: find _common
    sys.path.insert(0, HERE)
from _common import (check_agree, forward_backward, header_lines, make_parser, ms, num_threads,  # noqa: E402
                     print_header, repeats_warmup, spread, time_alternating, write_markdown)


@dataclass(frozen=True)
class Case:
    """One setting: q, k and v of shape (B, H, L, d_k), optionally a causal (L, L) mask."""

    B: int
    H: int
    L: int
    d_k: int
    causal: bool

    @property
    def label(self) -> str:
        return f"B={self.B} H={self.H} L={self.L} d_k={self.d_k} {'causal' if self.causal else 'no mask'}"


FULL = [Case(8, 8, L, 64, causal) for L in (64, 256, 512) for causal in (False, True)]
QUICK = [Case(2, 2, L, 16, causal) for L in (16, 32) for causal in (False, True)]


def make_step(fn: Callable, case: Case, seed: int = 0) -> Callable[[], Tensor]:
    """Return a closure running one forward + backward pass of ``fn`` on fixed inputs."""
    g = torch.Generator().manual_seed(seed)
    shape = (case.B, case.H, case.L, case.d_k)
    q, k, v = (torch.randn(shape, generator=g).requires_grad_() for _ in range(3))
    grad_out = torch.randn(shape, generator=g)
    # Both functions get the same boolean mask, so both do the same work (no is_causal shortcut).
    mask = torch.ones(case.L, case.L, dtype=torch.bool).tril() if case.causal else None
    return forward_backward(lambda: fn(q, k, v, mask), grad_out, q, k, v)


def ours(q, k, v, mask):
    """course_lib's explicit version; its weights are computed too, and thrown away here."""
    return scaled_dot_product_attention(q, k, v, mask=mask)[0]


def theirs(q, k, v, mask):
    """torch's fused version, given the same boolean mask (True = may attend)."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def run(cases: Sequence[Case], *, warmup: int, repeats: int) -> list[dict]:
    rows = []
    for case in cases:
        steps = [make_step(ours, case), make_step(theirs, case)]
        check_agree({"ours": steps[0]().detach(), "torch": steps[1]().detach()}, case.label)
        t_ours, t_torch = time_alternating(steps, warmup=warmup, repeats=repeats)
        m_ours, m_torch = statistics.median(t_ours), statistics.median(t_torch)
        rows.append(dict(case=case, ours=m_ours, torch=m_torch, ratio=m_ours / m_torch,
                         ours_spread=spread(t_ours), torch_spread=spread(t_torch)))
    return rows


def markdown(rows: list[dict], header: list[str], repeats: int, warmup: int) -> list[str]:
    lines = [f"- {h}" for h in header]
    lines.append(f"- forward + backward, median of {repeats} repeats after {warmup} warm-up; "
                 "± is half the interquartile range")
    lines += ["", "| B | H | L | d_k | mask | course_lib (ms) | torch (ms) | ours / torch |",
              "|---:|---:|---:|---:|:---|---:|---:|---:|"]
    for r in rows:
        c = r["case"]
        lines.append(f"| {c.B} | {c.H} | {c.L} | {c.d_k} | {'causal' if c.causal else 'none'} "
                     f"| {ms(r['ours'], r['ours_spread'])} | {ms(r['torch'], r['torch_spread'])} | {r['ratio']:.2f} |")
    return lines


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = make_parser(__doc__, "quick", "repeats", "warmup", "threads", "out",
                         repeats="timed repeats per case (default 15, quick 3)",
                         warmup="untimed calls per case (default 3, quick 1)")
    args = parser.parse_args(argv)
    repeats, warmup = repeats_warmup(args, quick=(3, 1), full=(15, 3))
    with num_threads(args.threads):
        return _report(args.quick, repeats, warmup, args.out)


def _report(quick: bool, repeats: int, warmup: int, out: Path | None) -> list[dict]:
    header = header_lines()
    print_header("Attention forward + backward: course_lib vs torch.nn.functional.scaled_dot_product_attention",
                 header, f"median of {repeats} repeats after {warmup} warm-up; ± is half the interquartile range\n")

    rows = run(QUICK if quick else FULL, warmup=warmup, repeats=repeats)

    width = max(len(r["case"].label) for r in rows)
    print(f"{'case':<{width}}  {'course_lib ms':>16}  {'torch ms':>16}  {'ours/torch':>10}")
    for r in rows:
        ours_s, torch_s = ms(r["ours"], r["ours_spread"]), ms(r["torch"], r["torch_spread"])
        print(f"{r['case'].label:<{width}}  {ours_s:>16}  {torch_s:>16}  {r['ratio']:>10.2f}")
    write_markdown(out, markdown(rows, header, repeats, warmup), announce=True)
    return rows


if __name__ == "__main__":
    main()
