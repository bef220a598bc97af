"""Smoke test: the encoder-layer benchmark's ``--quick`` path runs and writes a sensible table."""

from __future__ import annotations

import math

import torch



def test_transformer_benchmark_quick_runs_and_writes_markdown(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("transformer")
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
