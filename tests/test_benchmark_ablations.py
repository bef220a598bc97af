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
    assert all(r["cpu_s"] > 0 and r["wall_s"] > 0 and len(r["load_start"]) == 3 for r in records)
    assert records[0]["d_head"] == 16 and records[4]["d_head"] is None
    assert data["runs"][0]["trainings"] == 6 and data["runs"][0]["wall_s"] > 0
    printed = capsys.readouterr().out
    assert "| no_pe | 16 |" in printed and "| 2/2 |" in printed and "date:" in printed
    # A second call resumes: only the pairs not yet in the JSON are trained.
    again = bench.main(["--smoke", "--only", "baseline,no_pe", "--seeds", "3", "--target", "0.0",
                        "--out", str(out)])
    assert again["runs"][1]["trainings"] == 2
    assert [(r["variant"], r["seed"]) for r in again["records"]][:3] == [
        ("baseline", 0), ("baseline", 1), ("baseline", 2)]
    assert again["records"][0] == records[0]  # kept, not retrained
    with pytest.raises(SystemExit):  # other settings are not mixed into the same file
        bench.main(["--smoke", "--only", "baseline", "--target", "0.5", "--out", str(out)])
    with pytest.raises(SystemExit):
        bench.main(["--smoke", "--only", "no_such_variant", "--out", str(out)])


def test_exact_at_reads_the_last_evaluation_at_or_before_the_budget(load_benchmark):
    bench = load_benchmark("ablations")
    curve = [{"step": s, "uniform/exact_match": u, "zero_heavy/exact_match": z}
             for s, u, z in [(100, 0.2, 0.4), (200, 0.6, 0.8), (300, 1.0, 1.0)]]
    record = {"curve": curve}
    assert bench.exact_at(record, 250) == pytest.approx(0.7)  # step 200, both sets averaged
    assert bench.exact_at(record, 300) == 1.0
    assert bench.exact_at(record, 99) != bench.exact_at(record, 99)  # NaN: no evaluation yet


def test_a_single_value_prints_its_mean_without_a_spread(load_benchmark):
    bench = load_benchmark("ablations")
    curve = [{"step": s, "uniform/exact_match": 0.5, "zero_heavy/exact_match": 0.5} for s in (250, 500, 1000)]
    records = [{"variant": "baseline", "seed": seed, "d_head": 16, "parameters": 10, "curve": curve,
                "step_to_target": step, "final_uniform": 0.5, "final_zero_heavy": 0.5, "final_loss": loss}
               for seed, step, loss in [(0, 700, 0.7), (1, None, 0.9)]]
    row = bench.table(records, 0.99)[2]
    assert "| 700 | 1/2 |" in row  # one seed reached the target: no "± 0" spread of one value
    assert "| 0.5 ± 0 |" in row and "| 0.8 ± 0.1 |" in row  # two values: a measured spread
    assert bench.table(records[:1], 0.99)[2] == "| baseline | 16 | 10 | 0.5 | 0.5 | 0.5 | 0.5 | 0.5 | 700 | 1/1 | 0.7 |"
    assert bench._mean_spread([]) == "not reached"
