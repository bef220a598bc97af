"""Time course_lib's MultiHeadAttention against torch.nn.MultiheadAttention, forward + backward, CPU.

Four contenders run the same self-attention layer (weights copied with ``from_torch``):

- ``ours``: ``MultiHeadAttention``, explicit path (matmul, scale, mask, softmax, matmul; it
  returns every head's weights);
- ``ours fast``: ``MultiHeadAttention(fast=True)``, attention by
  ``torch.nn.functional.scaled_dot_product_attention``, no weights returned;
- ``torch``: ``nn.MultiheadAttention(..., need_weights=True)``, which forms the weights too;
- ``torch fast``: ``nn.MultiheadAttention(..., need_weights=False)``, which uses the fused kernel.

The fair pairs are ours / torch and ours fast / torch fast. Each repeat times one forward
and one backward pass (gradients for the input and every parameter), in training mode with
dropout 0. All contenders run in the same process, alternating repeat by repeat, so a change
in machine load hits them alike; the median is reported.

Usage::

    python benchmarks/multihead.py            # the full table (a minute or two on 2 cores)
    python benchmarks/multihead.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_lib.multihead import MultiHeadAttention


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
NAMES = ("ours", "ours fast", "torch", "torch fast")


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

    def step(module: nn.Module, forward: Callable[[], Tensor]) -> Callable[[], Tensor]:
        def run() -> Tensor:
            x.grad = None
            module.zero_grad(set_to_none=True)
            out = forward()
            out.backward(grad_out)
            return out

        return run

    return {
        "ours": step(explicit, lambda: explicit(x, x, x, mask=mask)[0]),
        "ours fast": step(fast, lambda: fast(x, x, x, mask=mask)[0]),
        "torch": step(reference, lambda: reference(x, x, x, attn_mask=torch_mask, need_weights=True)[0]),
        "torch fast": step(reference, lambda: reference(x, x, x, attn_mask=torch_mask, need_weights=False)[0]),
    }


def measure(case: Case, *, warmup: int, repeats: int) -> dict[str, float]:
    steps = make_steps(case)
    outputs = {name: step().detach() for name, step in steps.items()}
    for name, out in outputs.items():  # timing layers that disagree would be meaningless
        if not torch.allclose(out, outputs["torch"], atol=1e-4, rtol=1e-4):
            raise RuntimeError(f"{case.label}: {name} differs from torch by {(out - outputs['torch']).abs().max():.2e}")
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats: a smoke test")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per contender")
    args = parser.parse_args(argv)
    cases = QUICK if args.quick else FULL
    repeats = args.repeats or (3 if args.quick else 10)
    warmup = 1 if args.quick else 2

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print("# MultiHeadAttention vs nn.MultiheadAttention, forward + backward, float32, CPU")
    print(f"# {datetime.datetime.now().isoformat(timespec='seconds')}; torch {torch.__version__}, "
          f"python {platform.python_version()}; threads {torch.get_num_threads()}, cores {os.cpu_count()}; "
          f"load average {load}")
    print(f"# median of {repeats} repeats after {warmup} warm-up, contenders alternating; times in ms")
    print()
    print("| case | ours | ours fast | torch | torch fast | ours / torch | ours fast / torch fast |")
    print("|:---|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        t = measure(case, warmup=warmup, repeats=repeats)
        print(f"| {case.label} | " + " | ".join(f"{1e3 * t[name]:.2f}" for name in NAMES)
              + f" | {t['ours'] / t['torch']:.2f} | {t['ours fast'] / t['torch fast']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
