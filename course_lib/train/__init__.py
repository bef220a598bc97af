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
``metrics.jsonl`` and atomic checkpoints to ``--out`` (a folder one run uses at a time:
another run's is refused unless ``--resume`` or ``--overwrite``), stops with a clear message
when the loss diverges, and resumes exactly where it left off (on CPU an interrupted and
resumed run gives the same losses as an uninterrupted one). Under
``torchrun`` it trains with DistributedDataParallel. ``course-train`` is its command line::

    course-train --preset tiny --out runs/tiny          # CPU, a few minutes
    course-train --preset gpu --out runs/gpu            # bf16, fused attention, torch.compile
    course-train --preset tiny --set d_model=64 --set lr=2e-3 --steps 500
    torchrun --nproc_per_node=2 -m course_lib.train --preset tiny --out runs/ddp

Throughput is reported as tokens per second and, on a GPU, as model FLOPs utilisation
(MFU, :func:`estimate_mfu`): the FLOPs the model needs per step (:func:`model_flops`)
divided by what the device could do in that time.

The package has one module per concept: :mod:`~course_lib.train.recipe` (loss, schedule,
FLOPs and MFU), :mod:`~course_lib.train.config` (:class:`TrainConfig`, presets, overrides),
:mod:`~course_lib.train.batches` (:class:`BatchStream`), :mod:`~course_lib.train.evaluation`
(:func:`evaluate`, attention maps), :mod:`~course_lib.train.checkpoint`,
:mod:`~course_lib.train.folder` (the ``--out`` folder: lock, checks, atomic writes),
:mod:`~course_lib.train.loop` (:func:`train`) and :mod:`~course_lib.train.cli`
(``course-train`` and its end-of-run :func:`report`). Every name below is importable from
``course_lib.train`` itself.
"""

from course_lib.train.batches import BatchStream
from course_lib.train.checkpoint import RESUMABLE_CHANGES, CheckpointError, load_checkpoint, save_checkpoint
from course_lib.train.cli import build_parser, config_from_args, main, report
from course_lib.train.config import PRESETS, TrainConfig, apply_overrides, pick_device, preset
from course_lib.train.evaluation import AttentionMaps, attention_maps, evaluate
from course_lib.train.folder import RunFolderError
from course_lib.train.loop import TrainingDiverged, TrainResult, train
from course_lib.train.recipe import PEAK_TFLOPS, estimate_mfu, label_smoothed_loss, model_flops, noam_lr, peak_flops

__all__ = [
    "label_smoothed_loss",
    "noam_lr",
    "model_flops",
    "peak_flops",
    "estimate_mfu",
    "PEAK_TFLOPS",
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
    "RESUMABLE_CHANGES",
    "TrainResult",
    "train",
    "TrainingDiverged",
    "RunFolderError",
    "AttentionMaps",
    "attention_maps",
    "report",
    "build_parser",
    "config_from_args",
    "main",
]
