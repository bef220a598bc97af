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

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from course_lib.multihead import MultiHeadAttention

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # benchmarks/ is a folder of scripts, not a package: find _common
    sys.path.insert(0, HERE)
from _common import (cpu_model, forward_backward, load_average, make_parser, median_times,  # noqa: E402
                     repeats_warmup, stamp)


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

    return {
        "ours": forward_backward(lambda: explicit(x, x, x, mask=mask)[0], grad_out, x, module=explicit),
        "ours fast": forward_backward(lambda: fast(x, x, x, mask=mask)[0], grad_out, x, module=fast),
        "torch": forward_backward(lambda: reference(x, x, x, attn_mask=torch_mask, need_weights=True)[0],
                                  grad_out, x, module=reference),
        "torch fast": forward_backward(lambda: reference(x, x, x, attn_mask=torch_mask, need_weights=False)[0],
                                       grad_out, x, module=reference),
    }


def measure(case: Case, *, warmup: int, repeats: int) -> dict[str, float]:
    """Median seconds per forward + backward of each contender."""
    return median_times(make_steps(case), case.label, warmup=warmup, repeats=repeats)


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__doc__, "quick", "repeats", quick="tiny sizes, few repeats: a smoke test",
                         repeats="timed repeats per contender")
    args = parser.parse_args(argv)
    cases = QUICK if args.quick else FULL
    repeats, warmup = repeats_warmup(args, quick=(3, 1), full=(10, 2))

    print("# MultiHeadAttention vs nn.MultiheadAttention, forward + backward, float32, CPU")
    print(f"# {stamp()}; threads: {torch.get_num_threads()}, cores {os.cpu_count()}; cpu: {cpu_model()}; load average {load_average()}")
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
