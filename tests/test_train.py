"""Tests for course_lib.train: the recipe against torch and the formulas, checkpoints, resume, DDP.

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
import types

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from course_lib import train as T
from course_lib.data import JOINT_VOCAB, make_batch
from course_lib.masks import causal_mask
from course_lib.transformer import Transformer, TransformerConfig


def tiny_config(tmp_path=None, **changes) -> T.TrainConfig:
    """A config that trains in about a second: d_model 32, 1 + 1 layers, small data."""
    model = TransformerConfig(vocab_size=52, d_model=32, num_heads=4, d_ff=64, num_layers=1, dropout=0.1,
                              norm_first=True, max_len=64)
    base = dict(model=model, steps=12, batch_size=16, lr=3e-3, warmup_steps=5, eval_every=6, eval_size=8,
                test_size=8, train_size=400, progress=False, out=str(tmp_path) if tmp_path else None)
    base.update(changes)
    return T.TrainConfig(**base)


# --------------------------------------------------------------------------- label smoothing


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_label_smoothed_loss_matches_torch_cross_entropy(smoothing, reduction):
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(4, 6, 11, generator=g, dtype=torch.float64)
    target = torch.randint(0, 11, (4, 6), generator=g)
    target[:, -2:] = 0  # padding, some of it in every row
    got = T.label_smoothed_loss(logits, target, smoothing=smoothing, ignore_index=0, reduction=reduction)
    expected = F.cross_entropy(logits.flatten(0, 1), target.flatten(), label_smoothing=smoothing,
                               ignore_index=0, reduction=reduction)
    torch.testing.assert_close(got, expected.float())


def test_label_smoothed_loss_by_hand_and_padding_ignored():
    # Two classes with equal logits: p = (1/2, 1/2), so every -log p_c is log 2 whatever ε is.
    logits = torch.zeros(1, 3, 2)
    target = torch.tensor([[1, 1, 0]])
    assert math.isclose(T.label_smoothed_loss(logits, target, smoothing=0.1, ignore_index=0).item(), math.log(2),
                        rel_tol=1e-6)
    # Padding rows must neither add to the sum nor count in the mean.
    logits = torch.tensor([[[0.0, 2.0], [5.0, -5.0]]])
    target = torch.tensor([[1, 0]])
    log_p = torch.log_softmax(logits[0, 0], -1)
    by_hand = -(0.8 * log_p[1] + 0.2 * log_p.mean())  # ε = 0.2 over both classes, the target included
    got = T.label_smoothed_loss(logits, target, smoothing=0.2, ignore_index=0)
    assert math.isclose(got.item(), by_hand.item(), rel_tol=1e-6)
    with pytest.raises(ValueError, match="target has shape"):
        T.label_smoothed_loss(logits, target[:, :1], smoothing=0.1)


# --------------------------------------------------------------------------- schedule


def test_noam_lr_is_equation_3():
    d_model, warmup = 512, 4000
    for step in (1, 2, 100, 3999, 4000, 4001, 10_000, 100_000):
        expected = d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)
        assert math.isclose(T.noam_lr(step, d_model=d_model, warmup=warmup), expected, rel_tol=1e-12)
    rates = [T.noam_lr(s, d_model=64, warmup=10, factor=2.0) for s in range(1, 40)]
    assert max(range(len(rates)), key=rates.__getitem__) == 9  # the peak is step 10 = warmup
    assert math.isclose(rates[9], 2.0 * (64 * 10) ** -0.5)
    assert all(a < b for a, b in zip(rates[:9], rates[1:10]))  # linear rise
    assert math.isclose(rates[0], rates[9] / 10)  # step 1 of 10: a tenth of the peak, not zero
    with pytest.raises(ValueError, match="step=0"):
        T.noam_lr(0, d_model=64, warmup=10)


def test_optimizer_follows_the_schedule_from_step_one(tmp_path):
    # The rate of the k-th optimizer step must be noam_lr(k) scaled so that the peak is config.lr.
    config = tiny_config(steps=8, eval_every=100)
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


# --------------------------------------------------------------------------- FLOPs and MFU


@pytest.mark.parametrize("norm_first", [False, True])
def test_model_flops_equals_torch_flop_counter(norm_first):
    config = TransformerConfig(vocab_size=52, d_model=32, num_heads=4, d_ff=48, num_layers=2, dropout=0.0,
                               norm_first=norm_first, max_len=32)
    torch.manual_seed(0)
    model = Transformer(config)
    B, S, L = 3, 7, 5
    src, tgt = torch.randint(4, 52, (B, S)), torch.randint(4, 52, (B, L))
    with FlopCounterMode(display=False) as counter:  # counts every matmul, forward and backward
        model(src, tgt, None, causal_mask(L)).sum().backward()
    assert counter.get_total_flops() == B * T.model_flops(config, src_len=S, tgt_len=L)


def test_model_flops_is_six_n_plus_attention_and_mfu_arithmetic():
    config = TransformerConfig(vocab_size=52, d_model=64, num_heads=4, d_ff=256, num_layers=3)
    model = Transformer(config)
    # Kaplan's 6·N per token when source and target have one token each and attention is negligible.
    matrices = {n: p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n}
    enc = sum(v for n, v in matrices.items() if n.startswith("encoder"))
    dec = sum(v for n, v in matrices.items() if n.startswith("decoder"))
    V_d = config.vocab_size * config.d_model  # the output projection (tied: the embedding matrix)
    S, L = 10, 12
    attention = 12 * config.num_layers * config.d_model * (S * S + L * L + S * L)
    cross_kv = 2 * config.d_model**2 * config.num_layers  # decoder matrices that read the S memory positions
    expected = 6 * (enc * S + (dec - cross_kv) * L + cross_kv * S + V_d * L) + attention
    assert T.model_flops(config, src_len=S, tgt_len=L) == expected
    lengths = torch.tensor([3, 10])
    assert T.model_flops(config, src_len=lengths, tgt_len=lengths).tolist() == [
        T.model_flops(config, src_len=3, tgt_len=3), T.model_flops(config, src_len=10, tgt_len=10)]
    assert T.estimate_mfu(flops=989e12 * 0.5, seconds=1.0, peak=989e12) == pytest.approx(0.5)
    assert T.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert T.peak_flops("NVIDIA H100 PCIe") == 756e12
    assert T.peak_flops("NVIDIA A100-SXM4-40GB") == 312e12
    assert T.peak_flops("Some Future GPU") is None


# --------------------------------------------------------------------------- configuration


def test_apply_overrides_parses_by_field_type():
    base = T.preset("tiny")
    got = T.apply_overrides(base, ["d_model=64", "model.num_layers=3", "norm_first=false", "lr=1e-3",
                                   "betas=0.9,0.99", "target_exact=0.5", "steps=1_000", "device=cpu",
                                   "amp=no"])
    assert (got.model.d_model, got.model.num_layers, got.model.norm_first) == (64, 3, False)
    assert (got.lr, got.betas, got.target_exact, got.steps, got.device, got.amp) == \
        (1e-3, (0.9, 0.99), 0.5, 1000, "cpu", False)
    assert T.apply_overrides(got, ["target_exact=none"]).target_exact is None
    assert base.model.d_model == 64 and base.lr != 1e-3  # the original is untouched
    with pytest.raises(ValueError, match=r"unknown key.*expected one of"):
        T.apply_overrides(base, ["learning_rate=1"])
    with pytest.raises(ValueError, match="expected int"):
        T.apply_overrides(base, ["steps=many"])
    with pytest.raises(ValueError, match="expected true or false"):
        T.apply_overrides(base, ["amp=maybe"])
    with pytest.raises(ValueError, match="key=value"):
        T.apply_overrides(base, ["steps"])
    with pytest.raises(ValueError, match="not divisible by num_heads"):  # TransformerConfig re-validates
        T.apply_overrides(base, ["d_model=66"])


def test_cli_rejects_unknown_key_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        T.main(["--preset", "tiny", "--set", "colour=blue"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "unknown key" in err[-1] and "Traceback" not in "".join(err)


def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert T.pick_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert T.pick_device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert T.pick_device().type == "cuda"
    assert T.pick_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="not available"):
        T.pick_device("cuda")


# --------------------------------------------------------------------------- training


def test_loss_decreases_and_metrics_are_written(tmp_path):
    config = tiny_config(tmp_path, steps=40, eval_every=20)
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


def test_attention_maps_and_report_after_training(tmp_path, capsys):
    config = tiny_config(tmp_path, steps=6, eval_every=6, model=dataclasses.replace(
        tiny_config().model, fast=True, num_layers=2))
    result = T.train(config)
    maps = T.attention_maps(result.model, 4021)
    batch = make_batch([4021], shared_vocab=True)
    S, T_len = batch.src.shape[1], batch.tgt_in.shape[1]
    assert maps.cross.shape == (2, 4, T_len, S) and maps.encoder_self.shape == (2, 4, S, S)
    torch.testing.assert_close(maps.cross.sum(-1), torch.ones(2, 4, T_len))  # rows are distributions
    assert maps.src_tokens == ["four", "thousand", "and", "twenty", "-", "one"]
    assert maps.tgt_tokens[-1] == "<eos>" and "".join(maps.tgt_tokens[:-1]) == "四千零二十一"
    with torch.no_grad():  # the explicit copy computes what the fast model computes
        expected = result.model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)
    torch.testing.assert_close(maps.logits, expected, rtol=1e-4, atol=1e-4)
    assert result.model.config.fast  # the model itself was not switched to the explicit path

    lines = T.report(result, count=3)
    assert len(lines) == 2 * (1 + 3) and all(line.startswith(("held-out", "  ")) for line in lines)
    assert "figures:" in capsys.readouterr().out
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "attention.png").stat().st_size > 0


class _Oracle(torch.nn.Module):
    """Knows each source's reference translation; writes it, except one wrong first token for ``spoil``."""

    def __init__(self, numbers, spoil):
        super().__init__()
        self.config = types.SimpleNamespace(pad_id=0)
        batch = make_batch(numbers, shared_vocab=True)
        self.answers = {}
        for n, src, tgt in zip(numbers, batch.src.tolist(), batch.tgt_out.tolist()):
            tgt = [t for t in tgt if t != 0]
            if n == spoil:
                tgt[0] = JOINT_VOCAB.stoi["九"]
            self.answers[tuple(t for t in src if t != 0)] = tgt

    def encode(self, src, src_mask=None):
        return src  # the "memory" is the source itself

    def decode(self, tgt_in, memory, tgt_mask=None, memory_mask=None):
        logits = torch.zeros(*tgt_in.shape, len(JOINT_VOCAB))
        for b, row in enumerate(memory.tolist()):
            answer = self.answers[tuple(t for t in row if t != 0)]
            for i in range(tgt_in.shape[1]):
                logits[b, i, answer[i] if i < len(answer) else 0] = 1.0
        return logits

    def forward(self, src, tgt_in, src_mask=None, tgt_mask=None):
        return self.decode(tgt_in, self.encode(src, src_mask))


def test_evaluate_counts_exact_matches_and_tokens():
    numbers = [0, 7, 15, 4021, 100_000]
    r = T.evaluate(_Oracle(numbers, spoil=15), numbers, batch_size=2, return_predictions=True)
    # References: 零 七 十五 四千零二十一 十万, each plus <eos>: 2 + 2 + 3 + 7 + 3 = 17 target tokens.
    assert r["predictions"] == ["零", "七", "九五", "四千零二十一", "十万"]
    assert r["correct"] == [True, True, False, True, True]
    assert r["exact_match"] == pytest.approx(4 / 5)
    assert r["token_accuracy"] == pytest.approx(16 / 17)  # teacher forcing: only 十 of 十五 is wrong
    assert r["n"] == 5 and r["loss"] > 0


def _interrupt_at(step):
    def on_step(s):
        if s == step:
            signal.raise_signal(signal.SIGINT)  # what Ctrl-C does
    return on_step


def test_interrupt_then_resume_gives_the_uninterrupted_losses_exactly(tmp_path):
    full = T.train(tiny_config(tmp_path / "full"))
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt, match="checkpoint saved"):
        T.train(tiny_config(out), on_step=_interrupt_at(8))  # dropout on: the RNG state matters
    saved = T.load_checkpoint(out / "checkpoint.pt")
    assert saved["step"] == 8 and saved["losses"] == full.losses[:8]
    resumed = T.train(tiny_config(out), resume=True)
    assert resumed.losses == full.losses  # exact, every step
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [6, 12]


def test_resume_extends_a_finished_run(tmp_path):
    full = T.train(tiny_config(tmp_path / "a", steps=12))
    T.train(tiny_config(tmp_path / "b", steps=6))
    longer = T.train(tiny_config(tmp_path / "b", steps=12), resume=True)  # steps may change on resume
    assert longer.losses == full.losses


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    T.save_checkpoint(path, {"format": "course_lib.train/1", "step": 1})
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.seek(0)
        f.truncate(7)  # half a file...
        raise OSError("disk full")  # ...and the process dies

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        T.save_checkpoint(path, {"format": "course_lib.train/1", "step": 2})
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1  # the previous checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temporary file left


def test_corrupt_and_mismatched_checkpoints_give_one_line_errors(tmp_path, capsys):
    out = tmp_path / "run"
    T.train(tiny_config(out, steps=6))
    with pytest.raises(T.CheckpointError, match=r"different configuration \(d_model: checkpoint 32, now 64"):
        T.train(tiny_config(out, steps=12, model=TransformerConfig(
            vocab_size=52, d_model=64, num_heads=4, d_ff=64, num_layers=1, norm_first=True, max_len=64)),
            resume=True)
    with pytest.raises(T.CheckpointError, match=r"lr: checkpoint 0.003, now 0.001"):
        T.train(tiny_config(out, steps=12, lr=1e-3), resume=True)
    (out / "checkpoint.pt").write_bytes(b"\x80\x02 this is not a checkpoint")
    with pytest.raises(T.CheckpointError, match="not a readable checkpoint"):
        T.load_checkpoint(out / "checkpoint.pt")
    # The command line turns it into one line on stderr and a non-zero exit, no traceback.
    args = ["--preset", "tiny", "--out", str(out), "--resume", "--no-progress", "--steps", "1"]
    with pytest.raises(SystemExit) as exit_info:
        T.main(args)
    message = str(exit_info.value.code)
    assert message.startswith("course-train: error:") and "not a readable checkpoint" in message
    assert "\n" not in message


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


def test_ddp_gloo_two_processes_match_the_single_process_run(tmp_path):
    # No dropout: each process draws its own dropout masks, so only then can the runs agree.
    config = T.apply_overrides(tiny_config(steps=8, eval_every=100), ["dropout=0.0"])
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


def test_batch_stream_shards_cover_the_batch_and_resume():
    numbers = list(range(100))
    whole = T.BatchStream(numbers, batch_size=8, seed=3)
    halves = [T.BatchStream(numbers, batch_size=8, seed=3, rank=r, world_size=2) for r in range(2)]
    for _ in range(15):  # crosses the epoch boundary (12 full batches per epoch)
        assert next(whole).numbers == next(halves[0]).numbers + next(halves[1]).numbers
    state = whole.state_dict()
    assert state == {"epoch": 1, "index": 3}
    expected = [next(whole).numbers for _ in range(3)]
    again = T.BatchStream(numbers, batch_size=8, seed=3)
    again.load_state_dict(state)
    assert [next(again).numbers for _ in range(3)] == expected
    with pytest.raises(ValueError, match="not divisible by world_size"):
        T.BatchStream(numbers, batch_size=7, seed=0, world_size=2)


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


# --------------------------------------------------------------------------- plots and benchmarks


def test_training_curves_plot_the_records():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.viz import training_curves

    metrics = [{"step": s, "loss": 3.0 / s, "uniform/loss": 2.0 / s, "zero_heavy/loss": 2.5 / s,
                "uniform/token_accuracy": 0.5 + s / 10, "zero_heavy/token_accuracy": 0.4 + s / 10,
                "uniform/exact_match": s / 5, "zero_heavy/exact_match": s / 6} for s in (1, 2, 3)]
    fig = training_curves(metrics, losses=[3.0, 2.5, 2.0, 1.0], smooth=2)
    ax_loss, ax_acc = fig.axes
    lines = {line.get_label(): line for line in ax_acc.get_lines()}
    assert list(lines["zero-heavy: exact match (greedy)"].get_ydata()) == [1 / 6, 2 / 6, 3 / 6]
    running = [line for line in ax_loss.get_lines() if line.get_label().startswith("training")][0]
    assert list(running.get_ydata()) == [2.75, 2.25, 1.5]
    with pytest.raises(ValueError, match="metrics is empty"):
        training_curves([])
    plt.close("all")



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
