"""Smoke test: the decoding benchmark's ``--quick`` path runs, checks its outputs and writes a table."""

from __future__ import annotations

import math

import torch



def test_decoding_benchmark_quick_runs_and_writes_markdown(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("decoding")
    out = tmp_path / "decoding.md"
    threads = torch.get_num_threads()
    rows = bench.main(["--quick", "--threads", "1", "--out", str(out)])
    assert torch.get_num_threads() == threads  # the benchmark put the setting back
    assert len(rows) == len(bench.QUICK)
    for r in rows:
        assert r["cache"] > 0 and r["recompute"] > 0
        assert math.isclose(r["speedup"], r["recompute"] / r["cache"])
        assert r["agree"] == 1.0  # the cached and recomputed decoders wrote the same ids
    assert "threads: 1" in capsys.readouterr().out
    table = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(bench.QUICK)  # header row + one row per case
    assert {"greedy", "beam 2"} == {line.split("|")[1].strip() for line in table[1:]}
