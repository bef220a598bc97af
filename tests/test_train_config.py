"""Tests for course_lib.train.config: TrainConfig's checks, presets, ``--set`` overrides, the device choice."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import train as T
from course_lib.train.config import config_dict
from course_lib.transformer import TransformerConfig


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


# Every field of TrainConfig and of its TransformerConfig ("model.<field>"), with bad values
# and the start of the message each must give. test_every_field_has_a_bad_value_here fails
# when a field is added without a row.
_BAD = [
    ("model", "tiny", r"^model='tiny'; expected a TransformerConfig"),
    ("steps", 0, r"^steps=0; expected a positive int"),
    ("steps", 2.5, r"^steps=2\.5; expected a positive int"),
    ("batch_size", True, r"^batch_size=True; expected a positive int"),
    ("batch_size", 500, r"^batch_size=500; expected at most train_size=400"),
    ("lr", -0.1, r"^lr=-0\.1; expected a finite number > 0"),
    ("lr", 0.0, r"^lr=0\.0; expected a finite number > 0"),
    ("lr", math.nan, r"^lr=nan; expected a finite number > 0"),
    ("lr", math.inf, r"^lr=inf; expected a finite number > 0"),
    ("lr", "0.1", r"^lr='0\.1'; expected a finite number > 0"),
    ("warmup_steps", 0, r"^warmup_steps=0; expected a positive int"),
    ("label_smoothing", 1.0, r"^label_smoothing=1\.0; expected a probability 0 <= label_smoothing < 1"),
    ("label_smoothing", -0.1, r"^label_smoothing=-0\.1; expected a probability"),
    ("betas", (0.9, 2), r"^betas=\(0\.9, 2\); expected two numbers \(beta1, beta2\), each 0 <= beta < 1"),
    ("betas", (0.9, 1.0), r"^betas=\(0\.9, 1\.0\); expected two numbers"),
    ("betas", (-0.1, 0.9), r"^betas=\(-0\.1, 0\.9\); expected two numbers"),
    ("betas", (math.nan, 0.9), r"^betas=\(nan, 0\.9\); expected two numbers"),
    ("betas", (0.9,), r"^betas=\(0\.9,\); expected two numbers"),
    ("betas", "0.9,0.98", r"^betas='0\.9,0\.98'; expected two numbers"),
    ("eps", -1.0, r"^eps=-1\.0; expected a finite number > 0"),
    ("eps", 0.0, r"^eps=0\.0; expected a finite number > 0"),
    ("weight_decay", -0.01, r"^weight_decay=-0\.01; expected a number with 0 <= weight_decay"),
    ("weight_decay", math.nan, r"^weight_decay=nan; expected"),
    ("grad_clip", -1.0, r"^grad_clip=-1\.0; expected a finite number >= 0 \(0: no clipping\)"),
    ("grad_clip", math.inf, r"^grad_clip=inf; expected a finite number >= 0"),
    ("eval_every", 0, r"^eval_every=0; expected a positive int"),
    ("eval_size", 0, r"^eval_size=0; expected a positive int"),
    ("eval_size", 9, r"^eval_size=9; expected at most test_size=8"),
    ("target_exact", 1.5, r"^target_exact=1\.5; expected a number with 0 <= target_exact <= 1"),
    ("target_exact", -0.1, r"^target_exact=-0\.1; expected a number with 0 <= target_exact <= 1"),
    ("target_exact", math.nan, r"^target_exact=nan; expected"),
    ("seed", -1, r"^seed=-1; expected an int with 0 <= seed < 2\*\*32"),
    ("seed", 2**32, r"^seed=4294967296; expected an int with 0 <= seed < 2\*\*32"),
    ("seed", 1.5, r"^seed=1\.5; expected an int"),
    ("seed", True, r"^seed=True; expected an int"),
    ("device", "tpu", r"^device='tpu'; expected None, 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    ("device", "cuda:x", r"^device='cuda:x'; expected None, 'auto'"),
    ("device", "CPU", r"^device='CPU'; expected None, 'auto'"),
    ("device", 0, r"^device=0; expected None, 'auto'"),
    ("amp", 1, r"^amp=1; expected True or False"),
    ("compile", "true", r"^compile='true'; expected True or False"),
    ("direction", "en-fr", r"^direction='en-fr'; expected one of 'en-zh', 'zh-en'"),
    ("train_size", 0, r"^train_size=0; expected a positive int"),
    ("test_size", -1, r"^test_size=-1; expected a positive int"),
    ("test_size", 10**6, r"^test_size=1000000; expected at most 20,000"),
    ("out", "", r"^out=''; expected a folder path \(str or os\.PathLike\) or None"),
    ("out", 123, r"^out=123; expected a folder path"),
    ("out", "runs/a\0b", r"^out='runs/a\\x00b'; expected a folder path"),
    ("progress", None, r"^progress=None; expected True or False"),
    ("peak_tflops", 0.0, r"^peak_tflops=0\.0; expected a finite number > 0"),
    ("peak_tflops", math.inf, r"^peak_tflops=inf; expected a finite number > 0"),
    # The model: TransformerConfig's own checks, and those of the number task.
    ("model.vocab_size", 10, r"^model\.vocab_size=10; expected len\(JOINT_VOCAB\)=52"),
    ("model.vocab_size", 0, r"^vocab_size=0; expected a positive int"),
    ("model.d_model", 66, r"divisible by num_heads"),
    ("model.d_model", 0, r"^d_model=0; expected a positive int"),
    ("model.num_heads", 0, r"^num_heads=0; expected a positive int"),
    ("model.d_ff", -1, r"^d_ff=-1; expected a positive int"),
    ("model.num_layers", 0, r"^num_layers=0; expected a positive int"),
    ("model.dropout", 1.0, r"^dropout=1\.0; expected a probability"),
    ("model.norm_first", "yes", r"^norm_first='yes'; expected True or False"),
    ("model.tie_embeddings", 1, r"^tie_embeddings=1; expected True or False"),
    ("model.max_len", 41, r"^model\.max_len=41; expected at least 42 for en-zh"),
    ("model.activation", "tanh", r"^activation='tanh'; expected one of"),
    ("model.fast", None, r"^fast=None; expected True or False"),
    ("model.pad_id", 3, r"^model\.pad_id=3; expected Vocab\.PAD=0"),
    ("model.pad_id", -1, r"^pad_id=-1; expected an int in \[0, vocab_size=52\)"),
    ("model.positional", "rope", r"^positional='rope'; expected one of 'sinusoidal', 'learned', 'none'"),
    ("model.scale_scores", "no", r"^scale_scores='no'; expected True or False"),
    ("model.layer_norm", 0, r"^layer_norm=0; expected True or False"),
    ("model.residual", None, r"^residual=None; expected True or False"),
]


def _with(field: str, value, tiny_train_config) -> T.TrainConfig:
    """The test config with one field (of TrainConfig, or of the model as "model.<field>") set to ``value``."""
    if field.startswith("model."):
        return tiny_train_config(model=dataclasses.replace(tiny_train_config().model, **{field[6:]: value}))
    return tiny_train_config(**{field: value})


@pytest.mark.parametrize("field,value,match", _BAD, ids=[f"{f}={v!r}" for f, v, _ in _BAD])
def test_every_field_refuses_a_bad_value_naming_it(field, value, match, tiny_train_config):
    with pytest.raises(ValueError, match=match):
        _with(field, value, tiny_train_config)


def test_every_field_has_a_bad_value_here():
    fields = {f.name for f in dataclasses.fields(T.TrainConfig)}
    fields |= {f"model.{f.name}" for f in dataclasses.fields(TransformerConfig)}
    assert {field for field, _, _ in _BAD} == fields


def test_a_field_changed_after_the_config_was_built_is_refused_by_train(tiny_train_config):
    config = tiny_train_config()
    config.lr = -0.1  # a dataclass field can be set after __post_init__ ran
    with pytest.raises(ValueError, match=r"^lr=-0\.1; expected a finite number > 0"):
        T.train(config)
    config = tiny_train_config()
    config.model.d_model = 30  # and so can the model's
    with pytest.raises(ValueError, match=r"^d_model=30 is not divisible by num_heads=4"):
        T.train(config)
    with pytest.raises(ValueError, match=r"^config=\{'lr': 0\.1\}; expected a TrainConfig"):
        T.train({"lr": 0.1})


def test_edge_values_are_accepted_and_normalised(tiny_train_config):
    config = tiny_train_config(betas=[0.0, np.float64(0.999)], lr=np.float32(0.5), eps=1e-300, weight_decay=0,
                               grad_clip=0, label_smoothing=0, target_exact=0, seed=2**32 - 1, out=Path("runs/x"),
                               peak_tflops=1, batch_size=400)
    assert config.betas == (0.0, 0.999) and type(config.betas[1]) is float and type(config.lr) is float
    assert config.out == "runs/x" and config.target_exact == 0.0 and type(config.peak_tflops) is float
    for device in (None, "auto", "cpu", "cuda", "cuda:3", "mps"):  # names; whether they exist is pick_device's
        assert tiny_train_config(device=device).device == device
    assert tiny_train_config(target_exact=1).target_exact == 1.0
    # The positional table must hold what evaluation decodes: 2 * longest source + 2.
    model = tiny_train_config().model
    assert tiny_train_config(model=dataclasses.replace(model, max_len=42)).model.max_len == 42
    assert tiny_train_config(direction="zh-en", model=dataclasses.replace(model, max_len=36)).model.max_len == 36
    with pytest.raises(ValueError, match=r"^model\.max_len=35; expected at least 36 for zh-en"):
        tiny_train_config(direction="zh-en", model=dataclasses.replace(model, max_len=35))


def test_the_longest_sources_fit_the_positional_table_the_config_asks_for(tiny_train_config):
    # The bound of model.max_len comes from the longest sources of the task (in tokens, with <eos>).
    from course_lib.data import make_batch
    from course_lib.train.config import _LONGEST_SOURCE

    for direction, longest in (("en-zh", 121_121_121), ("zh-en", 111_111_111)):
        assert make_batch([longest], direction=direction).src.shape[1] == _LONGEST_SOURCE[direction]
    # An untrained model that never writes <eos> decodes the longest source to 2 * 20 + 2
    # tokens: evaluating it needs max_len 42, and 41 runs off the positional table.
    from course_lib.data import Vocab
    from course_lib.decoding import greedy_decode
    from course_lib.transformer import Transformer

    models = {}
    for max_len in (42, 41):
        torch.manual_seed(0)  # the same weights: the positional table is not a parameter
        models[max_len] = Transformer(dataclasses.replace(tiny_train_config().model, max_len=max_len))
    batch = make_batch([121_121_121], direction="en-zh", shared_vocab=True)
    out = greedy_decode(models[42], batch.src, 42, bos_id=Vocab.BOS, eos_id=Vocab.EOS, src_mask=batch.src_mask)
    assert out.shape == (1, 42) and not (out == Vocab.EOS).any()  # it ran to the end
    assert T.evaluate(models[42], [121_121_121], direction="en-zh")["n"] == 1
    with pytest.raises(ValueError, match="exceed max_len=41"):
        T.evaluate(models[41], [121_121_121], direction="en-zh")


def test_the_test_size_bound_can_be_drawn():
    from course_lib.data import make_splits
    from course_lib.train.config import _MAX_TEST_SIZE

    splits = make_splits(train_size=1, test_size=_MAX_TEST_SIZE, seed=2)
    assert len(set(splits.test_zero_heavy)) == _MAX_TEST_SIZE


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
    assert T.pick_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert T.pick_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"^device='cuda:2'; expected a device available on this machine "
                                         r"\('cpu', 'cuda', 'cuda:0', 'cuda:1'\)"):
        T.pick_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^device='cuda'; expected a device available on this machine \('cpu'\)"):
        T.pick_device("cuda")
    with pytest.raises(ValueError, match=r"^device='mps'; expected a device available on this machine \('cpu'\)"):
        T.pick_device("mps")
    with pytest.raises(ValueError, match=r"^device='tpu'; expected None, 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
        T.pick_device("tpu")
