"""The paper's training recipe: label smoothing, the warmup schedule, and FLOPs / MFU.

Vaswani et al. (2017), sections 5.3 and 5.4: the label-smoothed loss
(:func:`label_smoothed_loss`) and the warmup-then-inverse-square-root learning rate of
equation (3) (:func:`noam_lr`); and the throughput arithmetic of the run: the FLOPs one
training step needs (:func:`model_flops`), a GPU's peak (:func:`peak_flops`,
:data:`PEAK_TFLOPS`) and the model FLOPs utilisation they give (:func:`estimate_mfu`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib._validate import integer, one_of, positive, positive_int, real, shape_error, tensor
from course_lib.rnn import RNNConfig
from course_lib.transformer import TransformerConfig


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
    tensor("logits", logits, shape="(..., V)")
    tensor("target", target, shape="(...)")
    if logits.shape[:-1] != target.shape:
        raise shape_error("target", target, f"{tuple(logits.shape[:-1])}", f"to match logits {tuple(logits.shape)}")
    smoothing = real("smoothing", smoothing, low=0.0, high=1.0)
    one_of("reduction", reduction, ("mean", "sum"))
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
    step = integer("step", step, minimum=1, expected="an int >= 1 (steps are counted from 1)")
    warmup = positive_int("warmup", warmup)
    d_model = positive_int("d_model", d_model)
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


# --------------------------------------------------------------------------- FLOPs and MFU


def model_flops(config: TransformerConfig | RNNConfig, *, src_len, tgt_len):
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

    For an :class:`~course_lib.rnn.RNNConfig` the same rule counts the GRUs' matmuls
    (``3·(d_in·d + d²)`` per token and layer; the first decoder layer reads ``2d``) and,
    with attention, per decoder step the query and the ``S`` key projections (recomputed
    at every step) and ``2·S·d`` for the scores and the context.

    Parameters
    ----------
    config : TransformerConfig or RNNConfig
    src_len, tgt_len : int or Tensor of int, broadcastable
        Real source length and decoder input length; tensors give one count per pair.

    Returns
    -------
    int or Tensor
        Training FLOPs of each pair.
    """
    if isinstance(config, RNNConfig):
        return _rnn_flops(config, src_len, tgt_len)
    d, d_ff, n, V = config.d_model, config.d_ff, config.num_layers, config.vocab_size
    S, T = src_len, tgt_len
    # Multiply-adds (each 2 FLOPs) of one forward pass. Cross-attention's key and value
    # projections read the memory, so they run on the S source positions, not the T targets.
    weights = (n * (4 * d * d + 2 * d * d_ff) * S  # encoder: W_q, W_k, W_v, W_o and the FFN
               + n * (2 * d * d) * S  # decoder cross-attention: W_k, W_v on the memory
               + (n * (6 * d * d + 2 * d * d_ff) + V * d) * T)  # decoder: the rest; output projection
    attention = 2 * n * d * (S * S + T * T + T * S)  # QKᵀ and weights·V: 2·d per (query, key) pair
    return 3 * 2 * (weights + attention)  # backward = 2 × forward


def _rnn_flops(config: RNNConfig, S, T):
    """:func:`model_flops` of an :class:`~course_lib.rnn.RNNSeq2Seq`."""
    d, n, V = config.d_model, config.num_layers, config.vocab_size
    encoder = n * 6 * d * d * S  # each layer: 3 gates, input and hidden matmuls
    decoder = (9 * d * d + (n - 1) * 6 * d * d + V * d) * T  # first layer reads [embedding, context]
    attention = (d * d + S * d * d + 2 * S * d) * T if config.attention else 0
    return 3 * 2 * (encoder + decoder + attention)


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
    seconds = positive("seconds", seconds)
    peak = positive("peak", peak)
    return flops / (seconds * peak)
