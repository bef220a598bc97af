"""Smoke test: the training benchmarks (benchmarks/train_cpu.py, train_gpu.py) run their short paths."""

from __future__ import annotations

import pytest
import torch


def test_benchmark_scripts_smoke_runs(tmp_path, capsys, load_benchmark):
    cpu = load_benchmark("train_cpu")
    row = cpu.main(["--smoke", "--target", "0.0", "--set", "steps=4", "--set", "eval_every=2",
                    "--out", str(tmp_path / "cpu.md")])
    assert row["reached"] and row["step"] == 2 and row["steps_run"] == 2  # target 0 is met at the first evaluation
    assert "| 0% | 2 |" in (tmp_path / "cpu.md").read_text()
    gpu = load_benchmark("train_gpu")
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="no CUDA GPU"):
            gpu.main([])
    row = gpu.main(["--smoke", "--skip-accuracy", "--warmup", "1", "--steps", "2"])
    assert row["tokens_per_s"] > 0 and row["flops_per_s"] > 0
    assert "SMOKE RUN" in capsys.readouterr().out
