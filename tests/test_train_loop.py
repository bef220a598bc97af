"""Tests for course_lib.train.loop: the schedule in use, the loss falls, exact resume, Ctrl-C, DDP, the GPU path.

Training runs are tiny (d_model 32, a few dozen steps, small data) so the module stays fast
on 2 CPU cores; what they test is exactness (resume, DDP) and direction (the loss falls),
not quality.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import socket

import pytest
import torch

from course_lib import train as T


def test_optimizer_follows_the_schedule_from_step_one(tiny_train_config):
    # The rate of the k-th optimizer step must be noam_lr(k) scaled so that the peak is config.lr.
    config = tiny_train_config(steps=8, eval_every=100)
    seen = []
    original = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.optim.AdamW, "step", spy)
        T.train(config)
    factor = config.lr * math.sqrt(config.model.d_model * config.warmup_steps)
    expected = [T.noam_lr(k, d_model=32, warmup=5, factor=factor) for k in range(1, 9)]
    assert seen == pytest.approx(expected, rel=1e-12)
    assert seen[4] == pytest.approx(config.lr)  # peak at step warmup


def test_loss_decreases_and_metrics_are_written(tmp_path, tiny_train_config):
    config = tiny_train_config(tmp_path, steps=40, eval_every=20)
    result = T.train(config)
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert len(result.losses) == 40 and last < first - 1.0, (first, last)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [20, 40]
    for m in lines:
        for key in ("step", "elapsed_s", "loss", "token_accuracy", "exact_match", "uniform/exact_match",
                    "zero_heavy/exact_match", "uniform/token_accuracy", "zero_heavy/token_accuracy"):
            assert key in m
        assert 0.0 <= m["exact_match"] <= 1.0 and 0.0 <= m["token_accuracy"] <= 1.0
        assert m["exact_match"] == pytest.approx((m["uniform/exact_match"] + m["zero_heavy/exact_match"]) / 2)
    assert lines[1]["token_accuracy"] > lines[0]["token_accuracy"]
    assert (tmp_path / "checkpoint.pt").exists()
    assert result.metrics == lines and result.step == 40 and not result.model.training
    # Each record's loss is the mean training loss of the steps since the previous evaluation.
    assert lines[0]["loss"] == pytest.approx(sum(result.losses[:20]) / 20)
    assert lines[1]["loss"] == pytest.approx(sum(result.losses[20:]) / 20)
    # A run that returns was not interrupted (Ctrl-C raises instead): the result has no such flag.
    assert [f.name for f in dataclasses.fields(result)] == ["model", "config", "losses", "metrics", "step",
                                                            "device"]


def test_target_exact_stops_at_the_first_evaluation_that_reaches_it(tmp_path, tiny_train_config):
    result = T.train(tiny_train_config(tmp_path, steps=12, eval_every=4, target_exact=0.0))
    assert result.step == 4 and len(result.losses) == 4 and [m["step"] for m in result.metrics] == [4]


def _interrupt_at(step):
    def on_step(s):
        if s == step:
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C does
    return on_step


def test_interrupt_then_resume_gives_the_uninterrupted_losses_exactly(tmp_path, tiny_train_config):
    handler = signal.getsignal(signal.SIGINT)
    full = T.train(tiny_train_config(tmp_path / "full"))
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt, match="checkpoint saved"):
        T.train(tiny_train_config(out), on_step=_interrupt_at(8))  # dropout on: the RNG state matters
    saved = T.load_checkpoint(out / "checkpoint.pt")
    assert saved["step"] == 8 and saved["losses"] == full.losses[:8]
    resumed = T.train(tiny_train_config(out), resume=True)
    assert resumed.losses == full.losses  # exact, every step
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [6, 12]
    assert signal.getsignal(signal.SIGINT) is handler  # train put the previous Ctrl-C handler back
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]  # no lock, no temporary


def test_resume_extends_a_finished_run(tmp_path, tiny_train_config):
    full = T.train(tiny_train_config(tmp_path / "a", steps=12))
    T.train(tiny_train_config(tmp_path / "b", steps=6))
    longer = T.train(tiny_train_config(tmp_path / "b", steps=12), resume=True)  # steps may change on resume
    assert longer.losses == full.losses


# --------------------------------------------------------------------------- divergence


def _nan_loss_from(step, monkeypatch):
    """Make the training loss NaN from the ``step``-th step on (its gradient, and then the weights, too)."""
    from course_lib.train import loop

    real, calls = loop.label_smoothed_loss, []

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * math.nan if len(calls) >= step else loss

    monkeypatch.setattr(loop, "label_smoothed_loss", poisoned)


def _saved_steps(out):
    metrics = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    return T.load_checkpoint(out / "checkpoint.pt"), metrics


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, tiny_train_config, monkeypatch):
    config = tiny_train_config(tmp_path, steps=12, eval_every=3)
    _nan_loss_from(7, monkeypatch)
    with pytest.raises(T.TrainingDiverged) as e:
        T.train(config)
    assert str(e.value) == f"loss became nan at step 7; the last good checkpoint (step 6) is kept in {tmp_path}"
    state, metrics = _saved_steps(tmp_path)
    assert state["step"] == 6 and metrics == [3, 6] and len(state["losses"]) == 6
    assert all(math.isfinite(x) for x in state["losses"]) and all(v.isfinite().all() for v in state["model"].values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]  # lock released
    monkeypatch.undo()
    assert T.train(config, resume=True).losses[:6] == state["losses"]  # the kept checkpoint resumes


def test_divergence_is_found_at_the_next_flush_and_named_at_its_step(tmp_path, tiny_train_config, monkeypatch):
    # On a GPU the statistics come to the host every 20 steps, not every step: the check
    # costs no extra sync, and still names the step the loss went bad.
    from course_lib.train import loop

    monkeypatch.setattr(loop._Run, "flush_every", property(lambda self: 4))
    flushed_at = []
    real_flush = loop._flush
    monkeypatch.setattr(loop, "_flush", lambda run, stop: flushed_at.append(run.step) or real_flush(run, stop))
    _nan_loss_from(7, monkeypatch)
    with pytest.raises(T.TrainingDiverged, match=r"^loss became nan at step 7; the last good checkpoint \(step 5\)"):
        T.train(tiny_train_config(tmp_path, steps=12, eval_every=5))
    assert flushed_at == [4, 5, 9]  # steps 6-9 came to the host together
    assert _saved_steps(tmp_path)[0]["step"] == 5


def test_weights_gone_bad_under_a_finite_loss_are_never_saved(tmp_path, tiny_train_config, monkeypatch):
    original, calls = torch.optim.AdamW.step, []

    def corrupting_step(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 6:  # the 6th update overflows; its loss was computed before, and is finite
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(math.inf)
        return result

    monkeypatch.setattr(torch.optim.AdamW, "step", corrupting_step)
    with pytest.raises(T.TrainingDiverged, match=r"^the weights or Adam's moments became NaN or infinite at step "
                                                 r"6 \(its loss was still finite\); the last good checkpoint \(step 3\) is kept in "):
        T.train(tiny_train_config(tmp_path, steps=12, eval_every=3))
    state, metrics = _saved_steps(tmp_path)
    assert state["step"] == 3 and metrics == [3]  # neither the checkpoint nor the metrics of step 6


def test_a_learning_rate_that_blows_up_stops_with_one_line(tiny_train_config):
    with pytest.raises(T.TrainingDiverged, match=r"^loss became (nan|inf) at step \d+; nothing was saved "
                                                 r"\(no out folder\)$"):
        T.train(tiny_train_config(lr=1e30))


# --------------------------------------------------------------------------- data parallel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, config: T.TrainConfig, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = T.train(config)
    if rank == 0:
        queue.put(result.losses)
    torch.distributed.destroy_process_group()


def test_ddp_gloo_two_processes_match_the_single_process_run(tiny_train_config):
    # No dropout: each process draws its own dropout masks, so only then can the runs agree.
    config = T.apply_overrides(tiny_train_config(steps=8, eval_every=100), ["dropout=0.0"])
    single = T.train(config).losses
    ctx = torch.multiprocessing.get_context("spawn")
    queue = ctx.SimpleQueue()
    torch.multiprocessing.start_processes(_ddp_worker, args=(2, _free_port(), config, queue), nprocs=2,
                                          join=True, start_method="spawn")
    ddp = queue.get()
    # Each process takes half of every batch; the weighted gradient average makes each step
    # the whole-batch step, so the losses agree up to float rounding.
    assert len(ddp) == 8
    torch.testing.assert_close(torch.tensor(ddp), torch.tensor(single), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_gpu_preset_step_in_bf16_reports_mfu(tmp_path, capsys):
    config = T.apply_overrides(T.preset("gpu"), ["steps=4", "eval_every=100", "eval_size=16", "test_size=16",
                                                 "train_size=4096", "batch_size=64", "compile=false",
                                                 "progress=true", f"out={tmp_path}"])
    result = T.train(config)
    assert result.device.type == "cuda" and all(math.isfinite(x) for x in result.losses)
    if T.peak_flops(torch.cuda.get_device_name()) is not None:
        assert "mfu" in capsys.readouterr().err
