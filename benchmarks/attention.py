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

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.attention import scaled_dot_product_attention


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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header_lines() -> list[str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"torch {torch.__version__}, python {platform.python_version()}, float32, CPU",
        f"threads: {torch.get_num_threads()} (torch.get_num_threads), cores: {os.cpu_count()}",
        f"cpu: {cpu_model()}",
        f"load average (1, 5, 15 min): {load}",
    ]


def make_step(fn: Callable, case: Case, seed: int = 0) -> Callable[[], Tensor]:
    """Return a closure running one forward + backward pass of ``fn`` on fixed inputs."""
    g = torch.Generator().manual_seed(seed)
    shape = (case.B, case.H, case.L, case.d_k)
    q, k, v = (torch.randn(shape, generator=g).requires_grad_() for _ in range(3))
    grad_out = torch.randn(shape, generator=g)
    # Both functions get the same boolean mask, so both do the same work (no is_causal shortcut).
    mask = torch.ones(case.L, case.L, dtype=torch.bool).tril() if case.causal else None

    def step() -> Tensor:
        for t in (q, k, v):
            t.grad = None
        out = fn(q, k, v, mask)
        out.backward(grad_out)
        return out

    return step


def ours(q, k, v, mask):
    """course_lib's explicit version; its weights are computed too, and thrown away here."""
    return scaled_dot_product_attention(q, k, v, mask=mask)[0]


def theirs(q, k, v, mask):
    """torch's fused version, given the same boolean mask (True = may attend)."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def time_pair(steps: Sequence[Callable[[], Tensor]], *, warmup: int, repeats: int) -> list[list[float]]:
    """Time each step ``repeats`` times after ``warmup`` untimed calls, alternating steps."""
    for _ in range(warmup):
        for step in steps:
            step()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, bucket in zip(steps, times):
            start = time.perf_counter()
            step()
            bucket.append(time.perf_counter() - start)
    return times


def spread(xs: list[float]) -> float:
    """Half the interquartile range: a noise estimate that ignores a stray slow repeat."""
    if len(xs) < 4:
        return (max(xs) - min(xs)) / 2
    q1, _, q3 = statistics.quantiles(xs, n=4)
    return (q3 - q1) / 2


def run(cases: Sequence[Case], *, warmup: int, repeats: int) -> list[dict]:
    rows = []
    for case in cases:
        steps = [make_step(ours, case), make_step(theirs, case)]
        # Timing two functions that disagree would be meaningless: check them once first.
        a, b = steps[0]().detach(), steps[1]().detach()
        if not torch.allclose(a, b, atol=1e-4, rtol=1e-4):
            raise RuntimeError(f"{case.label}: outputs differ by {(a - b).abs().max():.2e}")
        t_ours, t_torch = time_pair(steps, warmup=warmup, repeats=repeats)
        m_ours, m_torch = statistics.median(t_ours), statistics.median(t_torch)
        rows.append(dict(case=case, ours=m_ours, torch=m_torch, ratio=m_ours / m_torch,
                         ours_spread=spread(t_ours), torch_spread=spread(t_torch)))
    return rows


def markdown(rows: list[dict], header: list[str], repeats: int, warmup: int) -> str:
    lines = [f"- {h}" for h in header]
    lines.append(f"- forward + backward, median of {repeats} repeats after {warmup} warm-up; "
                 "± is half the interquartile range")
    lines += ["", "| B | H | L | d_k | mask | course_lib (ms) | torch (ms) | ours / torch |",
              "|---:|---:|---:|---:|:---|---:|---:|---:|"]
    for r in rows:
        c = r["case"]
        lines.append(
            f"| {c.B} | {c.H} | {c.L} | {c.d_k} | {'causal' if c.causal else 'none'} "
            f"| {r['ours'] * 1e3:.2f} ± {r['ours_spread'] * 1e3:.2f} "
            f"| {r['torch'] * 1e3:.2f} ± {r['torch_spread'] * 1e3:.2f} | {r['ratio']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats: a smoke run")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per case (default 15, quick 3)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed calls per case (default 3, quick 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads before timing")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as markdown here")
    args = parser.parse_args(argv)

    repeats = args.repeats or (3 if args.quick else 15)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _report(args.quick, repeats, warmup, args.out)
    finally:
        torch.set_num_threads(threads_before)  # main() may be called from a test process


def _report(quick: bool, repeats: int, warmup: int, out: Path | None) -> list[dict]:
    header = header_lines()
    print("Attention forward + backward: course_lib vs torch.nn.functional.scaled_dot_product_attention")
    for h in header:
        print("  " + h)
    print(f"  median of {repeats} repeats after {warmup} warm-up; ± is half the interquartile range\n")

    rows = run(QUICK if quick else FULL, warmup=warmup, repeats=repeats)

    width = max(len(r["case"].label) for r in rows)
    print(f"{'case':<{width}}  {'course_lib ms':>16}  {'torch ms':>16}  {'ours/torch':>10}")
    for r in rows:
        ours_s = f"{r['ours'] * 1e3:.2f} ± {r['ours_spread'] * 1e3:.2f}"
        torch_s = f"{r['torch'] * 1e3:.2f} ± {r['torch_spread'] * 1e3:.2f}"
        print(f"{r['case'].label:<{width}}  {ours_s:>16}  {torch_s:>16}  {r['ratio']:>10.2f}")
    if out is not None:
        out.write_text(markdown(rows, header, repeats, warmup))
        print(f"\nwrote {out}")
    return rows


if __name__ == "__main__":
    main()
