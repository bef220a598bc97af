"""Smoke test: the attention benchmark's ``--quick`` path runs and writes a sensible table."""

from __future__ import annotations

import math

import torch


def test_attention_benchmark_quick_runs_and_writes_markdown(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("attention")
    out = tmp_path / "attention.md"
    threads = torch.get_num_threads()
    # One thread: on a busy machine, thread hand-offs, not arithmetic, dominate tiny sizes.
    rows = bench.main(["--quick", "--repeats", "2", "--threads", "1", "--out", str(out)])
    assert torch.get_num_threads() == threads  # the benchmark put the setting back
    assert len(rows) == len(bench.QUICK)
    for r in rows:
        assert r["ours"] > 0 and r["torch"] > 0
        assert math.isclose(r["ratio"], r["ours"] / r["torch"])
    printed = capsys.readouterr().out
    assert "torch " in printed and "threads: 1" in printed and "cpu:" in printed
    table = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(bench.QUICK)  # header row + one row per case
    assert {"causal", "none"} <= {line.split("|")[5].strip() for line in table[1:]}
