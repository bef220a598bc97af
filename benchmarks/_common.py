"""Helpers the benchmark scripts share: the conditions header, alternating timing, flags, output.

The scripts in ``benchmarks/`` are run as ``python benchmarks/NAME.py`` and loaded by path in
the tests; each puts its own folder on ``sys.path`` and then imports this module as ``_common``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor, nn

FLAGS = {  # name: (argparse keyword arguments, default help)
    "quick": (dict(action="store_true"), "tiny sizes, few repeats: a smoke run"),
    "repeats": (dict(type=int, default=None), "timed repeats per case"),
    "warmup": (dict(type=int, default=None), "untimed calls per case"),
    "threads": (dict(type=int, default=None), "torch.set_num_threads before timing"),
    "out": (dict(type=Path, default=None), "also write the table as markdown here"),
}


def cpu_model() -> str:
    """Return the CPU's model name from ``/proc/cpuinfo``, else the platform's description."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages as ``"a, b, c"``, or ``"n/a"``."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def stamp() -> str:
    """Return ``"<date>; torch <version>, python <version>"``, the start of a one-line header."""
    return (f"{datetime.datetime.now().isoformat(timespec='seconds')}; torch {torch.__version__}, "
            f"python {platform.python_version()}")


def header_lines() -> list[str]:
    """Return the conditions of a timing, one per line: date, versions, threads, CPU, load."""
    return [
        f"date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"torch {torch.__version__}, python {platform.python_version()}, float32, CPU",
        f"threads: {torch.get_num_threads()} (torch.get_num_threads), cores: {os.cpu_count()}",
        f"cpu: {cpu_model()}",
        f"load average (1, 5, 15 min): {load_average()}",
    ]


def print_header(title: str, header: Sequence[str], *notes: str) -> None:
    """Print ``title``, then ``header`` and ``notes`` indented by two spaces."""
    print(title)
    for h in (*header, *notes):
        print("  " + h)


def make_parser(doc: str, *flags: str, **helps: str) -> argparse.ArgumentParser:
    """Return a parser described by ``doc``'s first line, with the shared ``flags``.

    Parameters
    ----------
    doc : str
        The script's docstring.
    *flags : str
        Names from :data:`FLAGS` (``quick``, ``repeats``, ``warmup``, ``threads``, ``out``),
        added as ``--NAME`` in the order given.
    **helps : str
        Help texts that replace a flag's default one.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name in flags:
        kwargs, default_help = FLAGS[name]
        parser.add_argument(f"--{name}", help=helps.get(name, default_help), **kwargs)
    return parser


def repeats_warmup(args: argparse.Namespace, *, quick: tuple[int, int], full: tuple[int, int]) -> tuple[int, int]:
    """Return ``(repeats, warmup)``: ``--repeats``/``--warmup`` if given, else the defaults.

    ``quick`` and ``full`` are the ``(repeats, warmup)`` defaults with and without ``--quick``;
    a ``--repeats`` of 0 also means the default, and a parser without ``--warmup`` its default.
    """
    repeats, warmup = quick if args.quick else full
    given = getattr(args, "warmup", None)
    return args.repeats or repeats, warmup if given is None else given


@contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (if ``n``), then restore the setting."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)  # main() may be called from a test process


def forward_backward(forward: Callable[[], Tensor], grad_out: Tensor, *leaves: Tensor,
                     module: nn.Module | None = None) -> Callable[[], Tensor]:
    """Return a closure clearing the gradients of ``leaves`` and ``module``, then running
    ``forward()`` and its backward pass with ``grad_out``; it returns the output."""
    def step() -> Tensor:
        for t in leaves:
            t.grad = None
        if module is not None:
            module.zero_grad(set_to_none=True)
        out = forward()
        out.backward(grad_out)
        return out

    return step


def time_alternating(steps: Sequence[Callable[[], object]], *, warmup: int, repeats: int) -> list[list[float]]:
    """Time each step ``repeats`` times after ``warmup`` untimed rounds, alternating steps.

    Returns
    -------
    list of list of float
        Seconds per call, one list per step, so that a change in machine load hits all alike.
    """
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


def spread(xs: Sequence[float]) -> float:
    """Return half the interquartile range: a noise estimate that ignores a stray slow repeat."""
    if len(xs) < 4:
        return (max(xs) - min(xs)) / 2
    q1, _, q3 = statistics.quantiles(xs, n=4)
    return (q3 - q1) / 2


def check_agree(outputs: Mapping[str, Tensor], label: str, *, reference: str = "torch") -> None:
    """Raise ``RuntimeError`` unless every output is close to ``outputs[reference]``.

    Timing contenders that disagree would be meaningless.
    """
    ref = outputs[reference]
    for name, out in outputs.items():
        if not torch.allclose(out, ref, atol=1e-4, rtol=1e-4):
            raise RuntimeError(f"{label}: {name} differs from {reference} by {(out - ref).abs().max():.2e}")


def median_times(steps: Mapping[str, Callable[[], Tensor]], label: str, *, warmup: int,
                 repeats: int) -> dict[str, float]:
    """Check the contenders agree with ``steps["torch"]``, then return each one's median seconds."""
    check_agree({name: step().detach() for name, step in steps.items()}, label)
    times = time_alternating(list(steps.values()), warmup=warmup, repeats=repeats)
    return {name: statistics.median(ts) for name, ts in zip(steps, times)}


def ms(seconds: float, spread_s: float, digits: int = 2) -> str:
    """Format a median and its spread, given in seconds, as ``"m ± s"`` in milliseconds."""
    return f"{seconds * 1e3:.{digits}f} ± {spread_s * 1e3:.{digits}f}"


def write_markdown(path: str | Path | None, lines: Sequence[str], *, announce: bool = False) -> None:
    """Write ``lines``, each ending in a newline, to ``path`` if it is given.

    With ``announce``, print ``"wrote <path>"`` after a blank line.
    """
    if not path:
        return
    Path(path).write_text("\n".join(lines) + "\n")
    if announce:
        print(f"\nwrote {path}")


def first_reached(metrics: Sequence[Mapping[str, float]], target: float) -> Mapping[str, float] | None:
    """Return the first evaluation record whose exact match on both held-out sets is ``target`` or more."""
    return next((r for r in metrics if min(r["uniform/exact_match"], r["zero_heavy/exact_match"]) >= target), None)
