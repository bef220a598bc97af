"""Smoke test: the multi-head benchmark's ``--quick`` path runs and writes a sensible table."""

from __future__ import annotations

import math

import torch


def test_multihead_benchmark_quick_runs_and_writes_markdown(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("multihead")
    out = tmp_path / "multihead.md"
    threads = torch.get_num_threads()
    # One thread: on a busy machine, thread hand-offs, not arithmetic, dominate tiny sizes.
    rows = bench.main(["--quick", "--repeats", "3", "--threads", "1", "--out", str(out)])
    assert torch.get_num_threads() == threads  # the benchmark put the setting back
    assert [r["case"] for r in rows] == bench.QUICK
    for r in rows:
        assert set(r["median"]) == set(bench.NAMES) and all(t > 0 for t in r["median"].values())
        for title, (a, b) in bench.RATIOS.items():
            assert math.isclose(r["ratio"][title], r["median"][a] / r["median"][b])
            assert r["ratio_spread"][title] >= 0
    printed = capsys.readouterr().out
    assert "torch " in printed and "threads: 1" in printed and "cpu:" in printed and "load average" in printed
    table = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(bench.QUICK)  # header row + one row per case
    columns = [c.strip() for c in table[0].strip("|").split("|")]
    assert {"torch per head (ms)", "ours / torch per head"} <= set(columns)  # the fair pair is shown
    labels = [line.split("|")[1].strip() for line in table[1:]]
    assert [label.endswith("causal") for label in labels] == [c.causal for c in bench.QUICK]
    ratios = [line.split("|")[1 + columns.index("ours / torch per head")].strip() for line in table[1:]]
    assert all(" ± " in cell for cell in ratios)  # a ratio comes with its spread
