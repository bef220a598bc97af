"""Tests for course_lib.train.checkpoint: atomic writes, the run checkpoint's layout, one-line refusals."""

from __future__ import annotations

import random

import pytest
import torch

from course_lib import train as T
from course_lib.train.checkpoint import (RunProgress, restore_run_checkpoint, rng_state, save_run_checkpoint,
                                         set_rng_state)
from course_lib.transformer import Transformer, TransformerConfig

_LAYOUT = {"format", "config", "step", "model", "optimizer", "scheduler", "rng", "data", "losses", "elapsed_s",
           "eval_s"}


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    T.save_checkpoint(path, {"format": "course_lib.train/3", "step": 1})
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.seek(0)
        f.truncate(7)  # half a file...
        raise OSError("disk full")  # ...and the process dies

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        T.save_checkpoint(path, {"format": "course_lib.train/3", "step": 2})
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1  # the previous checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temporary file left


def test_corrupt_and_mismatched_checkpoints_give_one_line_errors(tmp_path, tiny_train_config):
    out = tmp_path / "run"
    T.train(tiny_train_config(out, steps=6))
    with pytest.raises(T.CheckpointError, match=r"different configuration \(d_model: checkpoint 32, now 64"):
        T.train(tiny_train_config(out, steps=12, model=TransformerConfig(
            vocab_size=52, d_model=64, num_heads=4, d_ff=64, num_layers=1, norm_first=True, max_len=64)),
            resume=True)
    with pytest.raises(T.CheckpointError, match=r"lr: checkpoint 0.003, now 0.001"):
        T.train(tiny_train_config(out, steps=12, lr=1e-3), resume=True)
    (out / "checkpoint.pt").write_bytes(b"\x80\x02 this is not a checkpoint")
    with pytest.raises(T.CheckpointError, match="not a readable checkpoint"):
        T.load_checkpoint(out / "checkpoint.pt")


def _parts(config, seed):
    """A model, optimizer, scheduler and stream as a run builds them, from ``seed``."""
    torch.manual_seed(seed)
    model = Transformer(config.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1e-3 / (s + 1))
    stream = T.BatchStream(list(range(200)), batch_size=16, seed=config.seed)
    return dict(model=model, optimizer=optimizer, scheduler=scheduler, stream=stream)


def _take_steps(parts, n):
    for _ in range(n):
        batch = next(parts["stream"])
        logits = parts["model"](batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)
        T.label_smoothed_loss(logits, batch.tgt_out, ignore_index=0).backward()
        parts["optimizer"].step()
        parts["optimizer"].zero_grad()
        parts["scheduler"].step()


def test_run_checkpoint_round_trip_restores_every_part_and_the_random_state(tmp_path, tiny_train_config):
    config, path = tiny_train_config(), tmp_path / "checkpoint.pt"
    saved = _parts(config, seed=0)
    _take_steps(saved, 3)
    random.seed(7)
    torch.manual_seed(8)
    save_run_checkpoint(path, config=config, step=3, losses=[3.0, 2.5, 2.0], elapsed_s=1.5, eval_s=0.25, **saved)
    next_draws = (random.random(), torch.rand(3))  # what the step after the checkpoint would draw

    state = T.load_checkpoint(path, config)  # the layout, as load_checkpoint checks it
    assert set(state) == _LAYOUT and state["step"] == 3 and state["data"] == {"epoch": 0, "index": 3}
    fresh = _parts(config, seed=1)  # other weights, a stream at its start
    progress = restore_run_checkpoint(path, config, **fresh)
    assert progress == RunProgress(step=3, losses=[3.0, 2.5, 2.0], elapsed_s=1.5, eval_s=0.25)
    assert random.random() == next_draws[0]
    torch.testing.assert_close(torch.rand(3), next_draws[1], rtol=0, atol=0)
    for a, b in zip(saved["model"].state_dict().values(), fresh["model"].state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert fresh["scheduler"].last_epoch == 3 and fresh["stream"].state_dict() == {"epoch": 0, "index": 3}
    # Adam's moments came back too: one more step from both gives the same weights.
    for parts in (saved, fresh):
        torch.manual_seed(0)  # the same dropout masks for both
        _take_steps(parts, 1)
    for a, b in zip(saved["model"].parameters(), fresh["model"].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_run_checkpoint_keeps_a_given_random_state(tmp_path, tiny_train_config):
    config, path = tiny_train_config(), tmp_path / "checkpoint.pt"
    parts = _parts(config, seed=0)
    torch.manual_seed(3)
    captured = rng_state()
    expected = torch.rand(2)
    torch.rand(100)  # the state moves on; the checkpoint must keep the captured one
    save_run_checkpoint(path, config=config, step=0, losses=[], elapsed_s=0.0, eval_s=0.0, rng=captured, **parts)
    restore_run_checkpoint(path, config, **_parts(config, seed=1))
    torch.testing.assert_close(torch.rand(2), expected, rtol=0, atol=0)
    set_rng_state(captured)
    torch.testing.assert_close(torch.rand(2), expected, rtol=0, atol=0)


def test_restore_refuses_another_format_or_configuration_in_one_line(tmp_path, tiny_train_config):
    config, path = tiny_train_config(), tmp_path / "checkpoint.pt"
    save_run_checkpoint(path, config=config, step=2, losses=[1.0, 0.5], elapsed_s=1.0, eval_s=0.0,
                        **_parts(config, seed=0))
    fresh = _parts(config, seed=1)
    before = [p.detach().clone() for p in fresh["model"].parameters()]
    with pytest.raises(T.CheckpointError, match=r"different configuration \(lr: checkpoint 0.003, now 0.01\)") as e:
        restore_run_checkpoint(path, tiny_train_config(lr=1e-2), **fresh)
    assert "\n" not in str(e.value)
    # Nothing was loaded into the parts before the check refused the checkpoint.
    assert all(torch.equal(a, b) for a, b in zip(before, fresh["model"].parameters()))
    assert fresh["stream"].state_dict() == {"epoch": 0, "index": 0}
    # Fields in RESUMABLE_CHANGES may differ.
    assert restore_run_checkpoint(path, tiny_train_config(steps=50, eval_every=3), **fresh).step == 2
    T.save_checkpoint(path, {"format": "course_lib.train/1", "step": 2})  # before output_projection
    with pytest.raises(T.CheckpointError, match=r"another version of course_lib \(format 'course_lib.train/1'") as e:
        restore_run_checkpoint(path, config, **_parts(config, seed=1))
    assert "\n" not in str(e.value)
    T.save_checkpoint(path, {"format": "something else", "step": 2})
    with pytest.raises(T.CheckpointError, match=r"not a course-train checkpoint \(expected format") as e:
        restore_run_checkpoint(path, config, **_parts(config, seed=1))
    assert "\n" not in str(e.value)
    with pytest.raises(T.CheckpointError, match=r"^no checkpoint at"):
        restore_run_checkpoint(tmp_path / "missing.pt", config, **fresh)
