"""Time incremental decoding with a key/value cache against full recomputation, on CPU.

Without a cache, step ``t`` of autoregressive decoding reruns the decoder over all ``t``
tokens written so far, so writing ``N`` tokens processes about ``N² / 2`` positions; with
:class:`course_lib.transformer.KVCache` each step feeds only the newest token and reads the
earlier keys and values from the cache, about ``N`` positions in all (attention still reads
``t`` cached keys per step). This script measures the difference for greedy decoding and
for beam search (beam 4) with a small random Transformer, generating ``N`` tokens for
``N`` in {32, 64, 128}: the median wall time of a whole decode with and without the cache
and the speed-up *recompute / cache*. The two runs alternate repeat by repeat, so that a
change in machine load hits both alike, and their outputs are checked to agree first.

``<eos>`` is given an id the model can never write, so every run writes exactly ``N`` tokens.

Usage::

    python benchmarks/decoding.py              # the full table (several minutes on 2 cores)
    python benchmarks/decoding.py --quick      # a smoke run of a few seconds
    python benchmarks/decoding.py --out decoding.md   # also write a markdown table
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from course_lib.decoding import beam_search, greedy_decode
from course_lib.transformer import Transformer, TransformerConfig

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # benchmarks/ is a folder of scripts, not a package: find _common
    sys.path.insert(0, HERE)
from _common import (header_lines, make_parser, ms, num_threads, print_header, repeats_warmup, spread,  # noqa: E402
                     time_alternating, write_markdown)

BOS = 1


@dataclass(frozen=True)
class Case:
    """Decode ``N`` tokens for ``B`` sources of length ``S``; ``beam`` 1 means greedy."""

    B: int
    N: int
    beam: int = 1
    S: int = 32

    @property
    def label(self) -> str:
        how = "greedy" if self.beam == 1 else f"beam {self.beam}"
        return f"{how} B={self.B} N={self.N}"


FULL_CONFIG = dict(vocab_size=1000, d_model=128, num_heads=4, d_ff=512, num_layers=3, max_len=256)
QUICK_CONFIG = dict(vocab_size=50, d_model=32, num_heads=2, d_ff=64, num_layers=2, max_len=64)
FULL = [Case(B, N) for B in (8, 32) for N in (32, 64, 128)] + [Case(8, N, beam=4) for N in (32, 64, 128)]
QUICK = [Case(2, 8, S=6), Case(2, 16, S=6), Case(2, 8, beam=2, S=6)]


def make_model(config: dict, seed: int = 0) -> Transformer:
    """A random model that never writes the last id of its vocabulary (the benchmark's <eos>)."""
    torch.manual_seed(seed)
    model = Transformer(TransformerConfig(dropout=0.0, tie_embeddings=False, **config)).eval()
    never = model.config.vocab_size - 1
    # Its logit is -inf, so every row writes N tokens; one masked_fill per step, both paths alike.
    model.output_projection.register_forward_hook(
        lambda module, args, logits: logits.index_fill(-1, torch.tensor([never], device=logits.device), float("-inf")))
    return model


def make_run(model: Transformer, case: Case, *, use_cache: bool, seed: int = 1):
    """A closure decoding the case's batch once, with or without the cache."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, model.config.vocab_size, (case.B, case.S), generator=g)
    never = model.config.vocab_size - 1  # an <eos> id make_model's model never picks: every row writes N tokens

    def run() -> torch.Tensor:
        if case.beam == 1:
            return greedy_decode(model, src, case.N, bos_id=BOS, eos_id=never, use_cache=use_cache)
        return beam_search(model, src, case.beam, case.N, bos_id=BOS, eos_id=never, use_cache=use_cache)

    return run


def run_cases(model: Transformer, cases: Sequence[Case], *, warmup: int, repeats: int,
              report=lambda row: None) -> list[dict]:
    """Time every case; ``report(row)`` is called as each one finishes (the full run takes minutes)."""
    rows = []
    for case in cases:
        steps = [make_run(model, case, use_cache=True), make_run(model, case, use_cache=False)]
        cached, recomputed = steps[0](), steps[1]()
        if cached.shape != (case.B, case.N):
            raise RuntimeError(f"{case.label}: wrote {tuple(cached.shape)} tokens; expected {(case.B, case.N)}")
        # Float32 rounding could in principle flip a near-tie; report rather than hide it.
        agree = float((cached == recomputed).double().mean())
        t_cache, t_full = time_alternating(steps, warmup=warmup, repeats=repeats)
        m_cache, m_full = statistics.median(t_cache), statistics.median(t_full)
        rows.append(dict(case=case, cache=m_cache, recompute=m_full, speedup=m_full / m_cache, agree=agree,
                         cache_spread=spread(t_cache), recompute_spread=spread(t_full)))
        report(rows[-1])
    return rows


def markdown(rows: list[dict], header: list[str], config: dict, repeats: int, warmup: int) -> list[str]:
    lines = [f"- {h}" for h in header]
    lines.append(f"- model: {config}, float32, eval; sources of length S, N tokens written per row")
    lines.append(f"- whole decode, median of {repeats} repeats after {warmup} warm-up; ± is half the IQR")
    lines += ["", "| decoder | B | N | KV cache (ms) | recompute (ms) | speed-up | same ids |",
              "|:---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        c = r["case"]
        lines.append(f"| {'greedy' if c.beam == 1 else f'beam {c.beam}'} | {c.B} | {c.N} "
                     f"| {ms(r['cache'], r['cache_spread'], 1)} | {ms(r['recompute'], r['recompute_spread'], 1)} "
                     f"| {r['speedup']:.2f} | {r['agree']:.0%} |")
    return lines


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = make_parser(__doc__, "quick", "repeats", "warmup", "threads", "out",
                         quick="tiny model and sizes, few repeats: a smoke run",
                         repeats="timed repeats per case (default 5, quick 2)",
                         warmup="untimed runs per case (default 1, quick 1)")
    args = parser.parse_args(argv)
    repeats, warmup = repeats_warmup(args, quick=(2, 1), full=(5, 1))
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    with num_threads(args.threads):
        header = header_lines()
        print_header("Decoding N tokens: KV cache vs full recomputation of the prefix at every step", header,
                     f"model {config}; median of {repeats} repeats after {warmup} warm-up\n")
        cases = QUICK if args.quick else FULL
        width = max(len(c.label) for c in cases)
        print(f"{'case':<{width}}  {'KV cache ms':>16}  {'recompute ms':>16}  {'speed-up':>8}  same ids")

        def report(r: dict) -> None:
            cache, full = ms(r["cache"], r["cache_spread"], 1), ms(r["recompute"], r["recompute_spread"], 1)
            print(f"{r['case'].label:<{width}}  {cache:>16}  {full:>16}  {r['speedup']:>8.2f}  {r['agree']:.0%}",
                  flush=True)

        rows = run_cases(make_model(config), cases, warmup=warmup, repeats=repeats, report=report)
        write_markdown(args.out, markdown(rows, header, config, repeats, warmup), announce=True)
        return rows


if __name__ == "__main__":
    main()
