"""Configuration of a training run: :class:`TrainConfig`, its presets, overrides, the device.

:class:`TrainConfig` holds everything :func:`~course_lib.train.train` reads;
:data:`PRESETS` / :func:`preset` name starting points ("tiny" for a CPU, "gpu"),
:func:`apply_overrides` applies ``course-train --set key=value`` strings, typed by the
dataclass annotations, and :func:`pick_device` chooses CUDA, then MPS, then the CPU.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from course_lib._validate import boolean, fail, integer, one_of, positive, positive_int, probability, real
from course_lib.data import JOINT_VOCAB, Vocab
from course_lib.embedding import parameter_count
from course_lib.rnn import RNNConfig, RNNSeq2Seq, width_for_parameter_count
from course_lib.transformer import Transformer, TransformerConfig


# --------------------------------------------------------------------------- configuration


def _tiny_model() -> TransformerConfig:
    return TransformerConfig(vocab_size=len(JOINT_VOCAB), d_model=64, num_heads=4, d_ff=256,
                             num_layers=2, dropout=0.0, norm_first=True, max_len=64, fast=True)


@dataclass
class TrainConfig:
    """Everything a training run depends on; :func:`train` reads nothing else.

    The defaults are the ``tiny`` preset (:data:`PRESETS`), sized for a CPU.

    Parameters
    ----------
    model : TransformerConfig or RNNConfig
        The Transformer, or one of the GRU encoder–decoders of :mod:`course_lib.rnn`
        (``--set model=rnn`` / ``model=rnn_attention``).
        The model; ``vocab_size`` must be ``len(JOINT_VOCAB)`` (52) for this task.
    steps : int
        Optimizer steps to train for (counted from the start, across resumes).
    batch_size : int
        Sentence pairs per optimizer step, over all processes.
    lr : float
        Peak learning rate, reached at the end of warmup; the schedule is :func:`noam_lr`
        scaled to this peak.
    warmup_steps : int
        Linear warmup length.
    label_smoothing : float
        ``ε_ls`` of :func:`label_smoothed_loss`.
    betas, eps, weight_decay : AdamW settings; the paper's ``(0.9, 0.98)``, ``1e-9`` and no decay.
    grad_clip : float
        Clip the gradient's global norm to this; 0 turns clipping off.
    eval_every : int
        Evaluate (and checkpoint) every this many steps, and at the end.
    eval_size : int
        Numbers of each held-out set used by the periodic evaluations (the final one uses
        all ``test_size``).
    target_exact : float, optional
        Stop early once both held-out sets reach this exact-match rate, ``0 <= target_exact
        <= 1`` (0 stops at the first evaluation).
    seed : int
        Seeds the data, the initialisation and dropout; ``0 <= seed < 2**32``.
    device : str, optional
        "cpu", "cuda", "cuda:N", "mps", or None / "auto" for :func:`pick_device`'s choice.
    amp : bool
        bf16 autocast (CUDA only; ignored elsewhere).
    compile : bool
        ``torch.compile`` the training model (CUDA only).
    direction : {"en-zh", "zh-en"}
    train_size, test_size : int
        Training numbers, and distinct numbers in each held-out set (:func:`make_splits`).
    out : str, optional
        Directory for ``checkpoint.pt`` and ``metrics.jsonl``; None writes nothing.
    progress : bool
        Show a tqdm progress bar (rank 0 only).
    peak_tflops : float, optional
        The device's peak for MFU when it is not in :data:`PEAK_TFLOPS`.

    Raises
    ------
    ValueError
        Naming the first bad field, e.g. ``lr=-0.1; expected a finite number > 0``: every
        field is checked when the config is built (:meth:`validate`).
    """

    model: TransformerConfig | RNNConfig = field(default_factory=_tiny_model)
    steps: int = 3000
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 200
    label_smoothing: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-9
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_size: int = 500
    target_exact: float | None = None
    seed: int = 0
    device: str | None = None
    amp: bool = True
    compile: bool = False
    direction: str = "en-zh"
    train_size: int = 200_000
    test_size: int = 1000
    out: str | None = None
    progress: bool = True
    peak_tflops: float | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field and the model's, normalising them in place; raise ``ValueError`` on a bad one.

        Run when the config is built (also by :func:`dataclasses.replace` and
        :func:`apply_overrides`) and again by :func:`train`, which catches a field changed
        after that.
        """
        self.direction = one_of("direction", self.direction, ("en-zh", "zh-en"))
        _check_model(self.model, self.direction)
        for name in ("steps", "batch_size", "warmup_steps", "eval_every", "eval_size", "train_size", "test_size"):
            setattr(self, name, positive_int(name, getattr(self, name)))
        if self.eval_size > self.test_size:
            raise fail("eval_size", self.eval_size, f"at most test_size={self.test_size}")
        if self.test_size > _MAX_TEST_SIZE:
            raise fail("test_size", self.test_size, f"at most {_MAX_TEST_SIZE:,} (distinct held-out numbers per set)")
        if self.batch_size > self.train_size:
            raise fail("batch_size", self.batch_size, f"at most train_size={self.train_size}")
        self._check_optimizer()
        self.seed = integer("seed", self.seed, minimum=0, maximum=2**32 - 1, expected="an int with 0 <= seed < 2**32")
        if self.target_exact is not None:
            self.target_exact = real("target_exact", self.target_exact, low=0.0, high=1.0)
        if self.peak_tflops is not None:
            self.peak_tflops = positive("peak_tflops", self.peak_tflops)
        self.device = _check_device(self.device)
        for name in ("amp", "compile", "progress"):
            boolean(name, getattr(self, name))
        self.out = _check_out(self.out)

    def _check_optimizer(self) -> None:
        """The optimizer's fields: the rate, AdamW's settings, clipping and smoothing."""
        self.lr = positive("lr", self.lr)
        betas = self.betas
        expected = "two numbers (beta1, beta2), each 0 <= beta < 1"
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
            raise fail("betas", betas, expected)
        try:
            self.betas = tuple(real("betas", b, low=0.0, high=1.0, high_open=True) for b in betas)
        except ValueError:
            raise fail("betas", tuple(betas), expected) from None
        self.eps = positive("eps", self.eps)
        self.weight_decay = real("weight_decay", self.weight_decay, low=0.0)
        self.grad_clip = real("grad_clip", self.grad_clip, low=0.0, expected="a finite number >= 0 (0: no clipping)")
        self.label_smoothing = probability("label_smoothing", self.label_smoothing)


# The most distinct held-out numbers :func:`make_splits` can draw for each set (there are
#: only so many zero-heavy held-out values), rounded down.
_MAX_TEST_SIZE = 20_000

# The longest source of the number task, in tokens with <eos>: 121,121,121 in English (20),
# 111,111,111 in Chinese (17). Evaluation decodes at most 2 * source + 2 tokens, so the
# model's positional table must be at least that long.
_LONGEST_SOURCE = {"en-zh": 20, "zh-en": 17}
_DEVICE = re.compile(r"cpu|mps|cuda(:\d+)?")


def _check_model(model: object, direction: str) -> None:
    """The model: a valid :class:`TransformerConfig` (or :class:`RNNConfig`) that fits the number task."""
    if not isinstance(model, TransformerConfig | RNNConfig):
        raise fail("model", model, "a TransformerConfig or an RNNConfig")
    model.__post_init__()  # its own checks again: its fields may have changed since it was built
    if model.vocab_size != len(JOINT_VOCAB):
        raise fail("model.vocab_size", model.vocab_size,
                   f"len(JOINT_VOCAB)={len(JOINT_VOCAB)} (the task's shared vocabulary)")
    if model.pad_id != Vocab.PAD:
        raise fail("model.pad_id", model.pad_id, f"Vocab.PAD={Vocab.PAD} (the task's padding id)")
    needed = 2 * _LONGEST_SOURCE[direction] + 2
    if isinstance(model, TransformerConfig) and model.max_len < needed:  # an RNN has no length limit
        raise fail("model.max_len", model.max_len,
                   f"at least {needed} for {direction}: evaluation decodes up to 2 * {_LONGEST_SOURCE[direction]} "
                   "+ 2 tokens")


def _check_device(device: object) -> str | None:
    """A device name: None, "auto", "cpu", "cuda", "cuda:N" or "mps" (whether it exists is :func:`pick_device`'s)."""
    if device is None or device == "auto":
        return device
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise fail("device", device, "None, 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return device


def _check_out(out: object) -> str | None:
    """The output folder: None, or a non-empty path (``str`` or ``os.PathLike``), returned as ``str``."""
    if out is None:
        return None
    if isinstance(out, os.PathLike):
        out = os.fspath(out)
    if not isinstance(out, str) or not out.strip() or "\0" in out:
        raise fail("out", out, "a folder path (str or os.PathLike) or None")
    return out


def config_dict(config: TrainConfig) -> dict:
    """The configuration as plain data (the model's fields nested under ``"model"``), as checkpoints store it.

    Parameters
    ----------
    config : TrainConfig

    Returns
    -------
    dict
        JSON-ready: ``betas`` is a list, since a tuple comes back from JSON as one.
    """
    d = dataclasses.asdict(config)
    d["betas"] = list(d["betas"])  # compare like with like
    return d


#: Named starting points for ``course-train --preset``.
PRESETS: dict[str, Callable[[], TrainConfig]] = {
    # CPU: 2 + 2 pre-LN layers, d_model 64, fused attention, no dropout (the data are
    # plentiful: 200k numbers, and the held-out values are never seen). It reaches 99% exact
    # match on both held-out sets in 750 steps, about 30 s of training on one Xeon core
    # (benchmarks/train_cpu.py); d_model 128 needed 1000 steps at twice the cost per step.
    "tiny": TrainConfig,
    # GPU: a model wide enough to keep an H100's tensor cores busy, bf16 autocast, big batches.
    "gpu": lambda: TrainConfig(
        model=TransformerConfig(vocab_size=len(JOINT_VOCAB), d_model=1024, num_heads=16, d_ff=4096,
                                num_layers=4, dropout=0.0, norm_first=True, max_len=64, fast=True),
        steps=2000, batch_size=512, lr=6e-4, warmup_steps=200, eval_every=200, eval_size=1000,
        train_size=2_000_000, test_size=1000, amp=True, compile=True),
}


def preset(name: str) -> TrainConfig:
    """A fresh :class:`TrainConfig` of the preset called ``name`` ("tiny" or "gpu")."""
    return PRESETS[one_of("preset", name, sorted(PRESETS))]()


def _parse_value(text: str, kind, key: str):
    """Turn the text of ``--set key=text`` into a value of the annotated type ``kind``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):  # e.g. float | None
        if text.strip().lower() == "none" and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        return _parse_value(text, kind, key)
    if origin is tuple:
        parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
        if len(parts) != len(args):
            raise fail(f"--set {key}", text, f"{len(args)} comma-separated values")
        return tuple(_parse_value(p.strip(), a, key) for a, p in zip(args, parts))
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise fail(f"--set {key}", text, "true or false")
    try:
        if kind is int:
            return int(text.replace("_", ""))
        if kind is float:
            return float(text)
    except ValueError:
        raise fail(f"--set {key}", text, kind.__name__) from None
    return text


#: The values of ``--set model=...``.
MODEL_KINDS = ("transformer", "rnn", "rnn_attention")


def build_model(config: TransformerConfig | RNNConfig) -> Transformer | RNNSeq2Seq:
    """The model a :class:`TrainConfig`'s ``model`` field describes, freshly initialised."""
    if isinstance(config, RNNConfig):
        return RNNSeq2Seq(config)
    return Transformer(config)


def _switch_model(model: TransformerConfig | RNNConfig, kind: str) -> TransformerConfig | RNNConfig:
    """``--set model=kind``: an RNN gets the current Transformer's parameter count."""
    kind = one_of("--set model", kind, MODEL_KINDS)
    if kind == "transformer":
        return model if isinstance(model, TransformerConfig) else _tiny_model()
    attention = kind == "rnn_attention"
    if isinstance(model, RNNConfig):
        return dataclasses.replace(model, attention=attention)
    rnn = RNNConfig(vocab_size=model.vocab_size, dropout=model.dropout, tie_embeddings=model.tie_embeddings,
                    pad_id=model.pad_id, attention=attention)
    with torch.device("meta"):  # counted without memory
        target = parameter_count(Transformer(model))
    return dataclasses.replace(rnn, d_model=width_for_parameter_count(target, rnn))


def apply_overrides(config: TrainConfig, overrides: Sequence[str]) -> TrainConfig:
    """Apply ``key=value`` overrides to a config, typed by the dataclass annotations.

    A key names a :class:`TrainConfig` field (``lr=1e-3``, ``betas=0.9,0.99``,
    ``target_exact=none``) or a :class:`~course_lib.transformer.TransformerConfig` field,
    bare or as ``model.<field>`` (``d_model=64``, ``model.norm_first=false``). Both configs
    re-validate their values. ``model=rnn`` or ``model=rnn_attention`` (or ``transformer``)
    first replaces the model by a GRU encoder–decoder (:mod:`course_lib.rnn`) with as many
    parameters as the Transformer it replaces; the other model keys then name its fields.

    Parameters
    ----------
    config : TrainConfig
    overrides : sequence of str
        ``"key=value"`` strings, applied in order.

    Returns
    -------
    TrainConfig
        A new config; ``config`` is not modified.

    Raises
    ------
    ValueError
        For a malformed override, an unknown key (the message lists the known ones) or a
        value of the wrong type.
    """
    train_types = typing.get_type_hints(TrainConfig)
    model = config.model
    for item in overrides:  # the kind of model first: it decides which model keys exist
        key, _, text = item.partition("=")
        if key.strip() == "model":
            model = _switch_model(model, text.strip())
    model_types = typing.get_type_hints(type(model))
    train_changes: dict = {}
    model_changes: dict = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise fail("--set", item, "key=value")
        if key == "model":
            continue
        bare = key.removeprefix("model.")
        if key != bare or (bare in model_types and bare not in train_types):
            if bare not in model_types:
                raise fail("--set model key", bare, f"a known model key, one of {sorted(model_types)}")
            model_changes[bare] = _parse_value(text, model_types[bare], key)
        elif key in train_types and key != "model":
            train_changes[key] = _parse_value(text, train_types[key], key)
        else:
            known = sorted((set(train_types) - {"model"}) | set(model_types))
            raise fail("--set key", key, f"a known key, one of {known}")
    model = dataclasses.replace(model, **model_changes)
    return dataclasses.replace(config, model=model, **train_changes)


def pick_device(requested: str | None = None) -> torch.device:
    """The device to train on: ``requested`` if given, else CUDA, then Apple's MPS, then the CPU.

    Parameters
    ----------
    requested : str, optional
        "cpu", "cuda", "cuda:N" or "mps"; None or "auto" chooses.

    Raises
    ------
    ValueError
        If ``requested`` is not a device name, or names a device this machine does not have.
    """
    requested = _check_device(requested)
    if requested is not None and requested != "auto":
        device = torch.device(requested)
        cuda = torch.cuda.is_available()
        count = torch.cuda.device_count() if cuda else 0
        available = {"cpu": True, "cuda": cuda and (device.index is None or device.index < count),
                     "mps": torch.backends.mps.is_available()}
        if not available[device.type]:
            have = ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(count)] if cuda else []) + \
                (["mps"] if available["mps"] else [])
            raise fail("device", requested,
                       f"a device available on this machine ({', '.join(repr(name) for name in have)})")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
