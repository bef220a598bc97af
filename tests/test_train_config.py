"""Tests for course_lib.train.config: TrainConfig's checks, presets, ``--set`` overrides, the device choice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from course_lib import train as T
from course_lib.train.config import config_dict


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
    with pytest.raises(ValueError, match=r"^--set key='learning_rate'; expected a known key, one of \["):
        T.apply_overrides(base, ["learning_rate=1"])
    with pytest.raises(ValueError, match=r"^--set model key='colour'; expected a known model key, one of \["):
        T.apply_overrides(base, ["model.colour=1"])
    with pytest.raises(ValueError, match="expected int"):
        T.apply_overrides(base, ["steps=many"])
    with pytest.raises(ValueError, match="expected true or false"):
        T.apply_overrides(base, ["amp=maybe"])
    with pytest.raises(ValueError, match=r"^--set betas='0\.9'; expected 2 comma-separated values"):
        T.apply_overrides(base, ["betas=0.9"])
    with pytest.raises(ValueError, match="key=value"):
        T.apply_overrides(base, ["steps"])
    with pytest.raises(ValueError, match="divisible by num_heads"):  # TransformerConfig re-validates
        T.apply_overrides(base, ["d_model=66"])


def test_train_config_checks_its_fields_in_one_style():
    config = T.TrainConfig(steps=np.int64(5), eval_every=torch.tensor(5))
    assert (config.steps, config.eval_every) == (5, 5) and type(config.steps) is int  # normalised
    assert type(config.eval_every) is int
    for field, value in (("steps", True), ("batch_size", 0), ("eval_every", 2.5), ("test_size", -1)):
        with pytest.raises(ValueError, match=rf"^{field}={value!r}; expected a positive int"):
            T.TrainConfig(**{field: value})
    with pytest.raises(ValueError, match=r"^label_smoothing=1\.0; expected a probability 0 <= label_smoothing < 1"):
        T.TrainConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"^direction='en-fr'; expected one of 'en-zh', 'zh-en'"):
        T.TrainConfig(direction="en-fr")
    with pytest.raises(ValueError, match=r"^model\.vocab_size=10; expected len\(JOINT_VOCAB\)=52"):
        T.TrainConfig(model=dataclasses.replace(T.TrainConfig().model, vocab_size=10))
    with pytest.raises(ValueError, match=r"^eval_size=20; expected at most test_size=10"):
        T.TrainConfig(eval_size=20, test_size=10)


def test_preset_names_and_config_dict():
    assert T.preset("gpu").model.d_model == 1024 and T.preset("tiny") == T.TrainConfig()
    with pytest.raises(ValueError, match=r"^preset='huge'; expected one of 'gpu', 'tiny'"):
        T.preset("huge")
    d = config_dict(T.TrainConfig(betas=(0.8, 0.9)))
    assert d["betas"] == [0.8, 0.9] and d["model"]["d_model"] == 64 and d["steps"] == 3000  # JSON-ready


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
    with pytest.raises(ValueError, match=r"^device='cuda'; expected a device available on this machine \('cpu'\)"):
        T.pick_device("cuda")
