"""Smoke test: the encoder-layer benchmark's ``--quick`` path runs and writes a sensible table."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "transformer.py"


def test_transformer_benchmark_quick_runs_and_writes_markdown(tmp_path, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_transformer", BENCH)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    out = tmp_path / "transformer.md"
    threads = torch.get_num_threads()
    rows = bench.main(["--quick", "--repeats", "2", "--threads", "1", "--out", str(out)])
    assert torch.get_num_threads() == threads  # the benchmark put the setting back
    assert len(rows) == len(bench.QUICK)
    for r in rows:
        assert r["ours"] > 0 and r["ours fast"] > 0 and r["torch"] > 0
        assert math.isclose(r["ratio_fast"], r["ours fast"] / r["torch"])
    assert "threads: 1" in capsys.readouterr().out
    table = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(bench.QUICK)
    assert {"no mask", "padding mask"} <= {line.split("|")[1].strip().split("-LN ")[1] for line in table[1:]}
