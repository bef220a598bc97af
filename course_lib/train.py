"""Training the Transformer (训练): the paper's recipe, checkpoints, and ``course-train`` (chapter 11).

Vaswani et al. (2017), section 5, trained with

- **label smoothing** (标签平滑) ``ε_ls = 0.1`` (section 5.4): the target distribution puts
  ``1 - ε`` on the right token and spreads ``ε`` over the vocabulary, so the model is never
  pushed towards infinite logits (:func:`label_smoothed_loss`);
- **Adam** with ``β1 = 0.9, β2 = 0.98, ε = 1e-9`` (section 5.3; we use AdamW, whose weight
  decay is 0 by default, i.e. plain Adam);
- a **warmup then inverse-square-root** learning rate (学习率预热), equation (3)::

      lrate = d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5)

  rising linearly for ``warmup_steps`` steps, then decaying as ``1/√step``
  (:func:`noam_lr`). We scale it so that its peak, reached at ``step = warmup_steps``, is
  :attr:`TrainConfig.lr`;
- **gradient clipping** (梯度裁剪) at norm 1, which the paper does not use but which makes
  small, fast runs robust to a bad batch.

:func:`train` runs the loop on the number-translation task of :mod:`course_lib.data`,
evaluates on both held-out sets (uniform and zero-heavy) with greedy decoding, writes
``metrics.jsonl`` and atomic checkpoints to ``--out``, and resumes exactly where it left off
(on CPU an interrupted and resumed run gives the same losses as an uninterrupted one). Under
``torchrun`` it trains with DistributedDataParallel. ``course-train`` is its command line::

    course-train --preset tiny --out runs/tiny          # CPU, a few minutes
    course-train --preset gpu --out runs/gpu            # bf16, fused attention, torch.compile
    course-train --preset tiny --set d_model=64 --set lr=2e-3 --steps 500
    torchrun --nproc_per_node=2 -m course_lib.train --preset tiny --out runs/ddp

Throughput is reported as tokens per second and, on a GPU, as model FLOPs utilisation
(MFU, :func:`estimate_mfu`): the FLOPs the model needs per step (:func:`model_flops`)
divided by what the device could do in that time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import signal
import sys
import tempfile
import threading
import time
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from course_lib.data import JOINT_VOCAB, Vocab, make_batch, make_splits
from course_lib.decode import greedy_decode
from course_lib.transformer import Transformer, TransformerConfig

__all__ = [
    "label_smoothed_loss",
    "noam_lr",
    "model_flops",
    "peak_flops",
    "estimate_mfu",
    "TrainConfig",
    "PRESETS",
    "preset",
    "apply_overrides",
    "pick_device",
    "BatchStream",
    "evaluate",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "TrainResult",
    "train",
    "AttentionMaps",
    "attention_maps",
    "report",
    "main",
]


# --------------------------------------------------------------------------- the paper's recipe


def label_smoothed_loss(
    logits: Tensor,
    target: Tensor,
    *,
    smoothing: float = 0.1,
    ignore_index: int | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy against a label-smoothed target distribution (section 5.4).

    With ``V`` classes and ``p = softmax(logits)``, the target distribution is
    ``q = (1 - ε) · onehot(y) + ε / V`` (the ``ε`` spread over *all* ``V`` classes, the
    right one included, as :func:`torch.nn.functional.cross_entropy` defines it), and the
    loss of one position is ``-Σ_c q_c log p_c = (1 - ε) · (-log p_y) + ε · mean_c(-log p_c)``.

    Parameters
    ----------
    logits : Tensor, shape (..., V)
        Unnormalised scores; computed in float32 at least (bf16 logits are upcast).
    target : Tensor of int, shape (...)
        The right class of each position.
    smoothing : float, default 0.1
        ``ε``, in ``[0, 1]``; 0 gives the plain cross-entropy.
    ignore_index : int, optional
        Positions whose target equals it (padding) contribute nothing and are not counted.
    reduction : {"mean", "sum"}, default "mean"
        Average over the counted positions, or their sum.

    Returns
    -------
    Tensor, shape ()
        Equal to ``F.cross_entropy(logits.flatten(0, -2), target.flatten(),
        label_smoothing=smoothing, ignore_index=ignore_index, reduction=reduction)``.
    """
    if logits.shape[:-1] != target.shape:
        raise ValueError(f"target has shape {tuple(target.shape)}; expected {tuple(logits.shape[:-1])} "
                         f"to match logits {tuple(logits.shape)}")
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"smoothing={smoothing}; expected a value in [0, 1]")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction={reduction!r}; expected 'mean' or 'sum'")
    log_p = torch.log_softmax(logits.float(), dim=-1)  # (..., V)
    keep = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    safe_target = target.masked_fill(~keep, 0)  # any valid index; these rows are zeroed below
    nll = -log_p.gather(-1, safe_target.unsqueeze(-1)).squeeze(-1)  # (...)
    uniform = -log_p.mean(dim=-1)  # (...): cross-entropy against the uniform distribution
    per_position = ((1.0 - smoothing) * nll + smoothing * uniform) * keep
    total = per_position.sum()
    return total if reduction == "sum" else total / keep.sum()


def noam_lr(step: int, *, d_model: int, warmup: int, factor: float = 1.0) -> float:
    """The learning rate of equation (3): linear warmup, then inverse-square-root decay.

    ``factor · d_model^-0.5 · min(step^-0.5, step · warmup^-1.5)``. The two branches meet
    at ``step = warmup``, where the rate peaks at ``factor · (d_model · warmup)^-0.5``.

    Parameters
    ----------
    step : int
        The optimizer step being taken, counted from 1 (step 0 would give a zero rate).
    d_model : int
        Model width; a wider model gets a smaller rate.
    warmup : int
        ``warmup_steps`` (4000 in the paper).
    factor : float, default 1.0
        Overall scale (the Annotated Transformer's ``factor``).

    Returns
    -------
    float
    """
    if step < 1:
        raise ValueError(f"step={step}; steps are counted from 1")
    if warmup < 1:
        raise ValueError(f"warmup={warmup}; expected a positive number of steps")
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


# --------------------------------------------------------------------------- FLOPs and MFU


def model_flops(config: TransformerConfig, *, src_len, tgt_len):
    """FLOPs of one training step (forward and backward) on one (source, target) pair.

    Counted as the matrix multiplications a forward pass does, times 3 (the backward pass
    does two matmuls per forward one: the gradient of the input and of the weight), as in
    Kaplan et al. (2020) and PaLM (Chowdhury et al. 2022, appendix B). A matmul of an
    ``(m, k)`` by a ``(k, n)`` matrix is ``2mkn`` FLOPs. With ``S = src_len``,
    ``T = tgt_len``, ``d = d_model``, ``N`` layers per stack and vocabulary ``V``:

    - weights, ``6 · (tokens through them) · (their size)``: per encoder layer
      ``4d² + 2·d·d_ff`` on ``S`` tokens; per decoder layer ``6d² + 2·d·d_ff`` on ``T``
      tokens (self-attention, cross-attention's query and output projections, FFN) and
      ``2d²`` on ``S`` tokens (cross-attention's keys and values are projections of the
      memory); the output projection ``V·d`` on ``T`` tokens. This is the familiar
      ``6 · N_params`` per token, embeddings being looked up, not multiplied;
    - attention, ``12 · d`` per (query, key) pair (``QKᵀ`` and ``weights · V``, forward and
      backward): ``12 · N · d · (S² + T² + T·S)`` for encoder self-, decoder self- and
      cross-attention. PaLM's ``12 · L · d · T`` per token is this for one stack.

    Biases, LayerNorms, softmax and dropout are left out (well under 1% here), and so is
    the saving a causal mask could bring (fused kernels skip masked blocks; we count the
    full square, as PaLM does). Padding is not counted: pass each pair's real lengths.

    Parameters
    ----------
    config : TransformerConfig
    src_len, tgt_len : int or Tensor of int, broadcastable
        Real source length and decoder input length; tensors give one count per pair.

    Returns
    -------
    int or Tensor
        Training FLOPs of each pair.
    """
    d, d_ff, n, V = config.d_model, config.d_ff, config.num_layers, config.vocab_size
    S, T = src_len, tgt_len
    # Multiply-adds (each 2 FLOPs) of one forward pass. Cross-attention's key and value
    # projections read the memory, so they run on the S source positions, not the T targets.
    weights = (n * (4 * d * d + 2 * d * d_ff) * S  # encoder: W_q, W_k, W_v, W_o and the FFN
               + n * (2 * d * d) * S  # decoder cross-attention: W_k, W_v on the memory
               + (n * (6 * d * d + 2 * d * d_ff) + V * d) * T)  # decoder: the rest; output projection
    attention = 2 * n * d * (S * S + T * T + T * S)  # QKᵀ and weights·V: 2·d per (query, key) pair
    return 3 * 2 * (weights + attention)  # backward = 2 × forward


#: Dense peak throughput in TFLOP/s for bf16/fp16 matmuls, by substring of the device name
#: (checked in order: the first match wins). From the vendors' data sheets, without sparsity.
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM
    ("H200", 989.0),
    ("GH200", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("A10G", 70.0),
    ("L4", 121.0),
    ("V100", 125.0),
    ("T4", 65.0),
)


def peak_flops(device_name: str) -> float | None:
    """The dense bf16 peak FLOP/s of a GPU named ``device_name``, or None if unknown.

    Parameters
    ----------
    device_name : str
        E.g. ``torch.cuda.get_device_name()``: ``"NVIDIA H100 80GB HBM3"``.

    Returns
    -------
    float or None
        FLOP/s (not TFLOP/s), from :data:`PEAK_TFLOPS`.
    """
    for key, tflops in PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops * 1e12
    return None


def estimate_mfu(*, flops: float, seconds: float, peak: float) -> float:
    """Model FLOPs utilisation: the share of the device's peak the model's FLOPs used.

    ``MFU = flops / (seconds · peak)``, where ``flops`` counts only what the model needs
    (:func:`model_flops`), not recomputation or padding (PaLM, appendix B).

    Parameters
    ----------
    flops : float
        Model FLOPs done in ``seconds`` (summed over the devices that did them).
    seconds : float
        Wall time they took.
    peak : float
        Peak FLOP/s of all those devices together (:func:`peak_flops` times their number).

    Returns
    -------
    float
        A fraction; 0.4 is a good figure for a Transformer on an H100.
    """
    if seconds <= 0 or peak <= 0:
        raise ValueError(f"seconds={seconds} and peak={peak}; expected both positive")
    return flops / (seconds * peak)


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
    model : TransformerConfig
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
        Stop early once both held-out sets reach this exact-match rate.
    seed : int
        Seeds the data, the initialisation and dropout.
    device : str, optional
        "cuda", "mps", "cpu" or None for :func:`pick_device`'s choice.
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
    """

    model: TransformerConfig = field(default_factory=_tiny_model)
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
        for name in ("steps", "batch_size", "warmup_steps", "eval_every", "eval_size",
                     "train_size", "test_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected a positive int")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={self.label_smoothing}; expected a value in [0, 1)")
        if self.direction not in ("en-zh", "zh-en"):
            raise ValueError(f"direction={self.direction!r}; expected 'en-zh' or 'zh-en'")
        if self.model.vocab_size != len(JOINT_VOCAB):
            raise ValueError(f"model.vocab_size={self.model.vocab_size}; expected len(JOINT_VOCAB)="
                             f"{len(JOINT_VOCAB)} (the task's shared vocabulary)")
        if self.eval_size > self.test_size:
            raise ValueError(f"eval_size={self.eval_size} exceeds test_size={self.test_size}")


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
    if name not in PRESETS:
        raise ValueError(f"preset={name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]()


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
            raise ValueError(f"--set {key}={text}: expected {len(args)} comma-separated values")
        return tuple(_parse_value(p.strip(), a, key) for a, p in zip(args, parts))
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}={text}: expected true or false")
    try:
        if kind is int:
            return int(text.replace("_", ""))
        if kind is float:
            return float(text)
    except ValueError:
        raise ValueError(f"--set {key}={text}: expected {kind.__name__}") from None
    return text


def apply_overrides(config: TrainConfig, overrides: Sequence[str]) -> TrainConfig:
    """Apply ``key=value`` overrides to a config, typed by the dataclass annotations.

    A key names a :class:`TrainConfig` field (``lr=1e-3``, ``betas=0.9,0.99``,
    ``target_exact=none``) or a :class:`~course_lib.transformer.TransformerConfig` field,
    bare or as ``model.<field>`` (``d_model=64``, ``model.norm_first=false``). Both configs
    re-validate their values.

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
    model_types = typing.get_type_hints(TransformerConfig)
    train_changes: dict = {}
    model_changes: dict = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected key=value")
        bare = key.removeprefix("model.")
        if key != bare or (bare in model_types and bare not in train_types):
            if bare not in model_types:
                raise ValueError(f"--set {key}: unknown model key; expected one of {sorted(model_types)}")
            model_changes[bare] = _parse_value(text, model_types[bare], key)
        elif key in train_types and key != "model":
            train_changes[key] = _parse_value(text, train_types[key], key)
        else:
            known = sorted((set(train_types) - {"model"}) | set(model_types))
            raise ValueError(f"--set {key}: unknown key; expected one of {known}")
    model = dataclasses.replace(config.model, **model_changes)
    return dataclasses.replace(config, model=model, **train_changes)


def pick_device(requested: str | None = None) -> torch.device:
    """The device to train on: ``requested`` if given, else CUDA, then Apple's MPS, then the CPU.

    Raises
    ------
    ValueError
        If ``requested`` names a device this machine does not have.
    """
    if requested:
        device = torch.device(requested)
        available = {"cpu": True, "cuda": torch.cuda.is_available(),
                     "mps": torch.backends.mps.is_available()}
        if not available.get(device.type, False):
            raise ValueError(f"device={requested!r} is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# --------------------------------------------------------------------------- data


class BatchStream:
    """An endless, resumable stream of training batches, one shard per process.

    Epoch ``e`` visits the numbers in the order ``randperm`` gives with seed
    ``(seed, e)``, in batches of ``batch_size``; a partial last batch is dropped so that
    every step sees the same number of pairs. Under data parallelism every process walks
    the same order and takes its own contiguous ``batch_size / world_size`` rows of each
    batch, so together the processes see exactly the single-process batch. The position
    ``(epoch, index)`` is all a checkpoint needs to resume the stream.

    Parameters
    ----------
    numbers : sequence of int
        The training split.
    batch_size : int
        Rows per step over all processes; divisible by ``world_size``.
    seed : int
    direction : {"en-zh", "zh-en"}
    rank, world_size : int
        This process's shard.
    """

    def __init__(self, numbers: Sequence[int], *, batch_size: int, seed: int, direction: str = "en-zh",
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"batch_size={batch_size} is not divisible by world_size={world_size}")
        if len(numbers) < batch_size:
            raise ValueError(f"{len(numbers)} training numbers cannot fill batch_size={batch_size}")
        self.numbers, self.batch_size, self.seed, self.direction = list(numbers), batch_size, seed, direction
        self.rank, self.world_size = rank, world_size
        self.epoch, self.index = 0, 0
        self._order: list[int] | None = None

    def _epoch_order(self) -> list[int]:
        if self._order is None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._order = torch.randperm(len(self.numbers), generator=generator).tolist()
        return self._order

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self):
        if (self.index + 1) * self.batch_size > len(self.numbers):
            self.epoch, self.index, self._order = self.epoch + 1, 0, None
        rows = self._epoch_order()[self.index * self.batch_size:(self.index + 1) * self.batch_size]
        share = self.batch_size // self.world_size
        mine = rows[self.rank * share:(self.rank + 1) * share]
        self.index += 1
        return make_batch([self.numbers[i] for i in mine], direction=self.direction, shared_vocab=True)

    def state_dict(self) -> dict:
        """The stream's position: the epoch and the next batch within it."""
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a position saved by :meth:`state_dict`."""
        self.epoch, self.index, self._order = int(state["epoch"]), int(state["index"]), None


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: Transformer, numbers: Sequence[int], *, direction: str = "en-zh",
             device: torch.device | str = "cpu", batch_size: int = 500, amp: bool = False,
             return_predictions: bool = False) -> dict:
    """Score a model on held-out numbers: teacher-forced token accuracy and greedy exact match.

    Parameters
    ----------
    model : Transformer
        Trained on :data:`JOINT_VOCAB` ids; put in eval mode for the call, then restored.
    numbers : sequence of int
        E.g. ``make_splits(...).test_uniform``.
    direction : {"en-zh", "zh-en"}
    device : torch.device or str
        Where ``model`` lives.
    batch_size : int
        Numbers per forward pass.
    amp : bool
        bf16 autocast (CUDA only).
    return_predictions : bool
        Also return each number's greedy translation and whether it was exactly right.

    Returns
    -------
    dict
        ``loss`` (plain cross-entropy per target token, teacher-forced), ``token_accuracy``
        (share of target tokens, ``<eos>`` included, whose argmax is right when the model
        is given the true prefix), ``exact_match`` (share of numbers whose greedy
        translation equals the reference exactly), ``n``; with ``return_predictions``, also
        ``predictions`` (list of str) and ``correct`` (list of bool).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    loss_sum = correct_tokens = tokens = exact = 0.0
    predictions: list[str] = []
    correct: list[bool] = []
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")
    try:
        for start in range(0, len(numbers), batch_size):
            batch = make_batch(numbers[start:start + batch_size], direction=direction,
                               shared_vocab=True).to(device)
            with autocast:
                logits = model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (B, T, V)
                # Decoding reads only the source: at most twice its length, never the target's.
                out = greedy_decode(model, batch.src, 2 * batch.src.shape[1] + 2, bos_id=Vocab.BOS,
                                    eos_id=Vocab.EOS, src_mask=batch.src_mask)  # (B, <= L)
            real = batch.tgt_out != Vocab.PAD  # (B, T)
            loss_sum += label_smoothed_loss(logits, batch.tgt_out, smoothing=0.0, ignore_index=Vocab.PAD,
                                            reduction="sum").item()
            correct_tokens += ((logits.argmax(-1) == batch.tgt_out) & real).sum().item()
            tokens += real.sum().item()
            for row_out, row_ref in zip(out.tolist(), batch.tgt_out.tolist()):
                text = JOINT_VOCAB.decode(row_out)
                ok = text == JOINT_VOCAB.decode(row_ref)
                exact += ok
                if return_predictions:
                    predictions.append(text)
                    correct.append(ok)
    finally:
        model.train(was_training)
    result = {"loss": loss_sum / tokens, "token_accuracy": correct_tokens / tokens,
              "exact_match": exact / len(numbers), "n": len(numbers)}
    if return_predictions:
        result.update(predictions=predictions, correct=correct)
    return result


# --------------------------------------------------------------------------- checkpoints


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed: unreadable, or written by a different configuration."""


_FORMAT = "course_lib.train/1"
#: Fields a resumed run may change: they do not alter the trajectory of the weights.
RESUMABLE_CHANGES = frozenset({"steps", "out", "device", "eval_every", "eval_size", "target_exact",
                               "progress", "peak_tflops", "compile", "amp"})


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a reader sees the old file or the new one, never half.

    The state goes to a temporary file in the same directory, is flushed to disk, and then
    ``os.replace`` renames it over ``path`` (a rename within one file system is atomic). If
    anything fails on the way, the temporary file is removed and ``path`` is untouched.

    Parameters
    ----------
    path : path-like
    state : dict
        Anything :func:`torch.save` accepts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, config: TrainConfig | None = None, *,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`train`, checking that it matches ``config``.

    Parameters
    ----------
    path : path-like
    config : TrainConfig, optional
        If given, every field outside :data:`RESUMABLE_CHANGES` (and every model field)
        must equal the checkpoint's.
    map_location : str or torch.device

    Returns
    -------
    dict
        ``step``, ``config`` (as a dict), ``model``, ``optimizer``, ``scheduler``, ``rng``,
        ``data``, ``losses``, ``elapsed_s``, ``eval_s``.

    Raises
    ------
    CheckpointError
        With a one-line message: the file is missing, unreadable or not a checkpoint of
        this format, or its configuration differs from ``config`` (the fields are named).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated, corrupt, or not a torch file at all
        reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(error).__name__}: {reason}); "
                              f"delete it or choose another --out") from None
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise CheckpointError(f"{path} is not a course-train checkpoint (expected format {_FORMAT!r})")
    if config is not None:
        saved, current = state["config"], _config_dict(config)
        diffs = [f"{k}: checkpoint {saved['model'].get(k)!r}, now {v!r}"
                 for k, v in current["model"].items() if saved["model"].get(k) != v]
        diffs += [f"{k}: checkpoint {saved.get(k)!r}, now {v!r}" for k, v in current.items()
                  if k != "model" and k not in RESUMABLE_CHANGES and saved.get(k) != v]
        if diffs:
            raise CheckpointError(f"{path} was written with a different configuration ({'; '.join(diffs)}); "
                                  f"resume with the same settings or choose another --out")
    return state


def _config_dict(config: TrainConfig) -> dict:
    d = dataclasses.asdict(config)
    d["betas"] = list(d["betas"])  # tuples come back as lists from JSON; compare like with like
    return d


def _rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : Transformer
        The trained model (unwrapped from DDP / ``torch.compile``), in eval mode.
    config : TrainConfig
    losses : list of float
        The training loss of every step from step 1 (also the steps before a resume).
    metrics : list of dict
        One entry per evaluation, as written to ``metrics.jsonl``.
    step : int
        Steps done.
    interrupted : bool
        True when the run stopped on Ctrl-C (after saving a checkpoint).
    device : torch.device
    """

    model: Transformer
    config: TrainConfig
    losses: list[float]
    metrics: list[dict]
    step: int
    interrupted: bool
    device: torch.device


class _StopFlag:
    """Turns the first Ctrl-C into a request to stop at the end of the current step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop now, without a checkpoint
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _distributed() -> tuple[int, int]:
    """This process's (rank, world size), starting the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def _write_metrics(out: Path | None, metrics: list[dict]) -> None:
    if out is None:
        return
    tmp = out / ".metrics.jsonl.tmp"
    tmp.write_text("".join(json.dumps(m) + "\n" for m in metrics))
    os.replace(tmp, out / "metrics.jsonl")


def train(config: TrainConfig, *, resume: bool = False, on_step: Callable[[int], None] | None = None,
          on_eval: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a :class:`~course_lib.transformer.Transformer` on the number-translation task.

    Each step draws a batch (:class:`BatchStream`), computes :func:`label_smoothed_loss`
    on the non-padding target tokens, backpropagates, clips the gradient norm, and takes
    an AdamW step at the rate :func:`noam_lr` gives. Every ``eval_every`` steps (and at
    the end) rank 0 evaluates both held-out sets (:func:`evaluate`), appends a line to
    ``metrics.jsonl`` and writes a checkpoint atomically.

    The first Ctrl-C (SIGINT) finishes the current step, saves a checkpoint and raises
    ``KeyboardInterrupt``; a second one stops at once. On CPU, resuming a single-process
    run from any checkpoint reproduces the uninterrupted run's losses exactly (under
    ``torchrun`` the checkpoint keeps rank 0's random state, so with dropout a resumed
    distributed run follows a different but equally valid path). Under ``torchrun``
    (``WORLD_SIZE > 1``) each process trains on its shard of every batch and the
    gradients are averaged by DistributedDataParallel, weighted so that the step equals
    the single-process step on the whole batch.

    Parameters
    ----------
    config : TrainConfig
    resume : bool, default False
        Continue from ``config.out/checkpoint.pt`` if it exists.
    on_step : callable, optional
        Called with the step number after every step (rank 0), e.g. to stop early.
    on_eval : callable, optional
        Called with each metrics record (rank 0).

    Returns
    -------
    TrainResult

    Raises
    ------
    CheckpointError
        When resuming from an unreadable checkpoint or one with another configuration.
    KeyboardInterrupt
        After saving a checkpoint, on Ctrl-C.
    """
    rank, world = _distributed()
    device = pick_device(config.device)
    if device.type == "cuda" and world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    out = Path(config.out) if config.out and rank == 0 else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    ckpt_path = Path(config.out) / "checkpoint.pt" if config.out else None

    splits = make_splits(train_size=config.train_size, test_size=config.test_size, seed=config.seed)
    stream = BatchStream(splits.train, batch_size=config.batch_size, seed=config.seed,
                         direction=config.direction, rank=rank, world_size=world)

    torch.manual_seed(config.seed)
    model = Transformer(config.model).to(device)
    # The paper's schedule, scaled so that its peak (at step = warmup) is config.lr.
    factor = config.lr * math.sqrt(config.model.d_model * config.warmup_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1.0, betas=tuple(config.betas), eps=config.eps,
                                  weight_decay=config.weight_decay)
    # LambdaLR multiplies the base rate (1.0) by the lambda of its step counter, which is 0
    # for the first optimizer step: that step is the schedule's step 1.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: noam_lr(s + 1, d_model=config.model.d_model, warmup=config.warmup_steps,
                                     factor=factor))

    step, losses, metrics, elapsed0, eval_s = 0, [], [], 0.0, 0.0
    if resume and ckpt_path is not None and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, config, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        stream.load_state_dict(state["data"])
        step, losses = state["step"], list(state["losses"])
        elapsed0, eval_s = state["elapsed_s"], state["eval_s"]
        if out is not None and (out / "metrics.jsonl").exists():
            metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
            metrics = [m for m in metrics if m["step"] <= step]  # drop evaluations after the checkpoint
        rng = state["rng"]
    else:
        torch.manual_seed(config.seed + 1 + rank)  # dropout: its own stream per process
        random.seed(config.seed + rank)
        rng = _rng_state()
    _set_rng_state(rng)

    step_model: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        step_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile and device.type == "cuda":
        step_model = torch.compile(step_model)
    amp = config.amp and device.type == "cuda"
    peak = (config.peak_tflops * 1e12 if config.peak_tflops else
            peak_flops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None)

    def save(rng_state: dict) -> None:
        if out is None:
            return
        save_checkpoint(ckpt_path, {
            "format": _FORMAT, "config": _config_dict(config), "step": step, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state,
            "data": stream.state_dict(), "losses": losses, "elapsed_s": elapsed0 + time.perf_counter() - t0,
            "eval_s": eval_s})

    def run_eval(final: bool) -> dict:
        size = config.test_size if final else config.eval_size
        elapsed = elapsed0 + time.perf_counter() - t0
        record = {"step": step, "elapsed_s": round(elapsed, 3),
                  "train_s": round(elapsed - eval_s, 3),  # wall time less evaluations and checkpoints
                  "loss": sum(losses[last_eval_step:]) / max(1, step - last_eval_step),
                  "lr": scheduler.get_last_lr()[0]}
        totals = {"token_accuracy": 0.0, "exact_match": 0.0}
        for name, numbers in (("uniform", splits.test_uniform), ("zero_heavy", splits.test_zero_heavy)):
            r = evaluate(model, numbers[:size], direction=config.direction, device=device, amp=amp)
            for key in ("loss", "token_accuracy", "exact_match"):
                record[f"{name}/{key}"] = r[key]
            for key in totals:
                totals[key] += r[key] / 2  # both sets have `size` numbers
        record.update(totals, eval_n=size)
        return record

    stop = _StopFlag()
    pending: list[Tensor] = []  # per-step statistics still on the device (no sync every step on GPU)
    flush_every = 1 if device.type == "cpu" else 20
    last_eval_step = metrics[-1]["step"] if metrics else 0
    bar = None
    if config.progress and rank == 0:
        from tqdm import tqdm
        bar = tqdm(total=config.steps, initial=step, dynamic_ncols=True, desc="train")
    interrupted = done = False
    t0 = time.perf_counter()
    window = {"t": t0, "tokens": 0.0, "flops": 0.0}  # throughput since the last display
    model.train()
    with stop:
        try:
            while step < config.steps and not done:
                batch = next(stream)
                n_flops = model_flops(config.model, src_len=batch.src_lengths, tgt_len=batch.tgt_lengths).sum()
                batch = batch.to(device)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                    logits = step_model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (b, T, V)
                loss_sum = label_smoothed_loss(logits, batch.tgt_out, smoothing=config.label_smoothing,
                                               ignore_index=Vocab.PAD, reduction="sum")
                n_tgt = (batch.tgt_out != Vocab.PAD).sum()
                n_all = n_tgt + batch.src_lengths.sum().to(device)
                stats = torch.stack([loss_sum.detach(), n_tgt.float(), n_all.float(),
                                     n_flops.float().to(device),
                                     torch.tensor(float(stop.requested), device=device)])  # (5,)
                if world > 1:
                    import torch.distributed as dist
                    dist.all_reduce(stats)  # sums over processes: the whole batch's figures
                # DDP averages gradients over processes; scaling by world / (all target tokens)
                # makes that average the gradient of the mean loss over the whole batch.
                (loss_sum * world / stats[1]).backward()
                if config.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                step += 1
                pending.append(stats)
                if rank == 0 and on_step is not None:
                    on_step(step)
                # Flush at steps every process agrees on (so that all of them see the same stop
                # flag at the same step), before every evaluation, and at once on Ctrl-C when alone.
                if (len(pending) >= flush_every or step == config.steps or step % config.eval_every == 0
                        or (world == 1 and stop.requested)):
                    rows = torch.stack(pending).cpu()  # (steps, 5); the only host sync
                    pending.clear()
                    losses.extend((rows[:, 0] / rows[:, 1]).tolist())
                    window["tokens"] += rows[:, 2].sum().item()
                    window["flops"] += rows[:, 3].sum().item()
                    seconds = time.perf_counter() - window["t"]
                    if bar is not None:
                        post = {"loss": f"{losses[-1]:.3f}", "lr": f"{scheduler.get_last_lr()[0]:.2e}",
                                "tok/s": f"{window['tokens'] / max(seconds, 1e-9):,.0f}"}
                        if peak:
                            mfu = estimate_mfu(flops=window["flops"], seconds=max(seconds, 1e-9), peak=peak * world)
                            post["mfu"] = f"{mfu:.1%}"
                        bar.set_postfix(post, refresh=False)
                        bar.update(step - bar.n)
                    if seconds > 2.0:
                        window = {"t": time.perf_counter(), "tokens": 0.0, "flops": 0.0}
                    # Every process stops at the same step: on the flag summed over processes.
                    if bool(rows[:, 4].any()) or (world == 1 and stop.requested):
                        # The step is complete, so the current random state is the next step's.
                        save(_rng_state())
                        interrupted = True
                        break
                if step % config.eval_every == 0 or step == config.steps:
                    flag = torch.zeros(1, device=device)
                    t_eval = time.perf_counter()
                    if rank == 0:
                        record = run_eval(final=step == config.steps)
                        last_eval_step = step
                        metrics.append(record)
                        _write_metrics(out, metrics)
                        save(_rng_state())
                        if on_eval is not None:
                            on_eval(record)
                        if bar is not None:
                            bar.write(f"step {step}: loss {record['loss']:.3f}, exact match "
                                      f"uniform {record['uniform/exact_match']:.1%}, zero-heavy "
                                      f"{record['zero_heavy/exact_match']:.1%}")
                        target = config.target_exact
                        if target is not None and min(record["uniform/exact_match"],
                                                      record["zero_heavy/exact_match"]) >= target:
                            flag += 1
                    if world > 1:
                        import torch.distributed as dist
                        dist.broadcast(flag, src=0)
                    done = bool(flag.item())
                    eval_s += time.perf_counter() - t_eval
                    window["t"] += time.perf_counter() - t_eval  # throughput leaves evaluation out
        finally:
            if bar is not None:
                bar.close()
    if interrupted:
        raise KeyboardInterrupt(f"stopped at step {step}" + (f"; checkpoint saved to {ckpt_path}"
                                                             if out is not None else ""))
    model.eval()
    return TrainResult(model=model, config=config, losses=losses, metrics=metrics, step=step,
                       interrupted=False, device=device)


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The ``course-train`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="course-train",
        description="Train the course's Transformer to translate English number words into Chinese numerals.",
        epilog="Examples: course-train --preset tiny --out runs/tiny; "
               "course-train --preset gpu --out runs/gpu --set d_model=768; "
               "torchrun --nproc_per_node=2 -m course_lib.train --preset tiny --out runs/ddp")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="starting configuration (default: gpu if CUDA is available, else tiny)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a TrainConfig or TransformerConfig field (repeatable), "
                             "e.g. --set d_model=64 --set lr=1e-3")
    parser.add_argument("--steps", type=int, help="optimizer steps (same as --set steps=N)")
    parser.add_argument("--batch-size", type=int, help="pairs per step over all processes")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--out", help="directory for checkpoint.pt and metrics.jsonl")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--target-exact", type=float, help="stop once both held-out sets reach this exact match")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s, for MFU")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--print-config", action="store_true", help="print the configuration and exit")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Build the :class:`TrainConfig` that parsed ``course-train`` arguments describe."""
    name = args.preset or ("gpu" if torch.cuda.is_available() else "tiny")
    overrides = list(args.overrides)
    for flag, key in (("steps", "steps"), ("batch_size", "batch_size"), ("device", "device"), ("out", "out"),
                      ("seed", "seed"), ("target_exact", "target_exact"), ("peak_tflops", "peak_tflops")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.no_progress:
        overrides.append("progress=false")
    return apply_overrides(preset(name), overrides)


# --------------------------------------------------------------------------- what the model learned


@dataclass
class AttentionMaps:
    """The attention weights of one translation pair, layer by layer (see :func:`attention_maps`).

    Attributes
    ----------
    cross : Tensor, shape (N, H, T, S)
        Decoder cross-attention of each of the ``N`` layers: target position × source token.
    encoder_self : Tensor, shape (N, H, S, S)
        Encoder self-attention of each layer.
    src_tokens, tgt_tokens : list of str
        The source tokens, and the target token each decoder row predicts (``<eos>`` last).
    logits : Tensor, shape (1, T, V)
        The model's output for the pair, to check against the fast path.
    """

    cross: Tensor
    encoder_self: Tensor
    src_tokens: list[str]
    tgt_tokens: list[str]
    logits: Tensor


def attention_maps(model: Transformer, number: int, *, direction: str = "en-zh") -> AttentionMaps:
    """Translate one number with teacher forcing and collect every layer's attention weights.

    The fast path (``fast=True``) never forms the weights, so this runs a CPU copy of
    ``model`` on the explicit path: same parameters, same outputs, weights kept.

    Parameters
    ----------
    model : Transformer
        A trained model (on any device; it is not modified).
    number : int
        The number whose translation pair is run.
    direction : {"en-zh", "zh-en"}

    Returns
    -------
    AttentionMaps
    """
    viewer = Transformer(dataclasses.replace(model.config, fast=False))
    viewer.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    viewer.eval()
    batch = make_batch([number], direction=direction, shared_vocab=True)
    with torch.no_grad():
        logits = viewer(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)  # (1, T, V)
    return AttentionMaps(
        cross=torch.stack([layer.cross_attn_weights[0] for layer in viewer.decoder.layers]),
        encoder_self=torch.stack([layer.self_attn_weights[0] for layer in viewer.encoder.layers]),
        src_tokens=[JOINT_VOCAB.itos[i] for i in batch.src[0].tolist()],
        tgt_tokens=[JOINT_VOCAB.itos[i] for i in batch.tgt_out[0].tolist()],  # row t predicts tgt_out[t]
        logits=logits,
    )


def report(result: TrainResult, *, count: int = 5) -> list[str]:
    """Print sample translations of held-out numbers; with ``out``, save the run's figures.

    Prints ``count`` numbers of each held-out set with the model's greedy translation, and,
    when the run has an ``out`` directory, writes ``curves.png``
    (:func:`course_lib.viz.training_curves`) and ``attention.png`` (the last decoder layer's
    cross-attention, per head, for one held-out number) into it.

    Returns
    -------
    list of str
        The printed lines.
    """
    config = result.config
    splits = make_splits(train_size=config.train_size, test_size=config.test_size, seed=config.seed)
    sets = (("uniform", splits.test_uniform[:count]), ("zero-heavy", splits.test_zero_heavy[:count]))
    lines = []
    for name, numbers in sets:
        scored = evaluate(result.model, numbers, direction=config.direction, device=result.device,
                          return_predictions=True)
        lines.append(f"held-out numbers ({name}), greedy translations:")
        lines += [f"  {'✓' if ok else '✗'} {n:>11,} → {text}"
                  for n, text, ok in zip(numbers, scored["predictions"], scored["correct"])]
    print("\n".join(lines))
    if config.out and result.metrics:
        import matplotlib

        matplotlib.use("Agg")  # files only: no window, also on a machine with a display
        import matplotlib.pyplot as plt

        from course_lib.viz import attention_grid, gloss, training_curves

        out = Path(config.out)
        fig = training_curves(result.metrics, losses=result.losses, title="course-train")
        fig.savefig(out / "curves.png", dpi=100)
        plt.close(fig)
        number = next((n for n in splits.test_zero_heavy if n >= 100_000), splits.test_zero_heavy[0])
        maps = attention_maps(result.model, number, direction=config.direction)
        cross = maps.cross[-1]  # (H, T, S)
        fig = attention_grid(cross, titles=[f"head {h}" for h in range(cross.shape[0])], annotate=False,
                             x_labels=gloss(maps.src_tokens), y_labels=gloss(maps.tgt_tokens), ncols=2,
                             suptitle=f"{number:,}: cross-attention of the last decoder layer")
        fig.savefig(out / "attention.png", dpi=100)
        plt.close(fig)
        print(f"figures: {out / 'curves.png'}, {out / 'attention.png'}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``course-train``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    if args.print_config:
        print(json.dumps(_config_dict(config), indent=2))
        return 0
    try:
        result = train(config, resume=args.resume)
    except CheckpointError as error:
        raise SystemExit(f"course-train: error: {error}") from None
    except KeyboardInterrupt as error:
        print(f"\ncourse-train: interrupted ({error}); continue with --resume", file=sys.stderr)
        return 130
    if result.metrics and int(os.environ.get("RANK", "0")) == 0:
        last = result.metrics[-1]
        print(f"step {last['step']}: exact match uniform {last['uniform/exact_match']:.2%}, "
              f"zero-heavy {last['zero_heavy/exact_match']:.2%} ({last['eval_n']} numbers each); "
              f"{last['train_s']:.0f} s of training")
        report(result)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
