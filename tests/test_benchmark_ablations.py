"""Smoke test: benchmarks/ablations.py runs its short path and records what it promises."""

from __future__ import annotations

import json

import pytest


def test_ablations_smoke_run(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("ablations")
    out = tmp_path / "ablations.json"
    data = bench.main(["--smoke", "--only", "baseline,no_pe,rnn_attention", "--seeds", "2", "--target", "0.0",
                       "--out", str(out)])
    assert json.loads(out.read_text()) == data
    records = data["records"]
    assert [(r["variant"], r["seed"]) for r in records] == [
        ("baseline", 0), ("baseline", 1), ("no_pe", 0), ("no_pe", 1), ("rnn_attention", 0), ("rnn_attention", 1)]
    assert all(r["step_to_target"] == 3 for r in records)  # target 0 is met at the first evaluation
    assert [c["step"] for c in records[0]["curve"]] == [3, 6]
    assert records[0]["final_loss"] != records[1]["final_loss"]  # the seed matters
    base, rnn = records[0]["parameters"], records[4]["parameters"]
    assert records[2]["parameters"] == base and abs(rnn - base) < 0.02 * base  # equal size
    printed = capsys.readouterr().out
    assert "| no_pe |" in printed and "| 2/2 |" in printed and "date:" in printed
    with pytest.raises(SystemExit):
        bench.main(["--smoke", "--only", "no_such_variant", "--out", str(out)])
