"""Checks for chapter 11's exercises: label_smoothed_loss, noam_lr and model_flops.

Known wrong versions are computed and named as ``mistakes``: for the loss, the smoothing
mass spread over the ``V - 1`` wrong classes (the paper's wording, not torch's definition,
which the exercise follows), no smoothing, the uniform term left out, padding counted in
the mean or not ignored at all, the sum instead of the mean; for the schedule, ``max``
instead of ``min``, a step counter off by one, ``warmup^-0.5`` for ``warmup^-1.5``, the
``d_model^-0.5`` factor missing; for the FLOP count, the backward pass forgotten, the
attention term or the output projection left out, cross-attention's keys and values
counted on the target positions.
"""

from __future__ import annotations

import math

import torch

from course_lib.grading.registry import CaseFailed, exercise
from course_lib.train import label_smoothed_loss, model_flops, noam_lr
from course_lib.transformer import TransformerConfig


def _loss_variants(logits, target, eps, pad):
    """Outputs of the plausible wrong losses, by description."""
    log_p = torch.log_softmax(logits, -1)
    V = logits.shape[-1]
    keep = target != pad
    nll = -log_p.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    uniform = -log_p.mean(-1)
    others = (-log_p.sum(-1) - nll) / (V - 1)  # mean over the V - 1 wrong classes
    n = keep.sum()
    return {
        "the smoothing mass ε spread over the V - 1 wrong classes; torch's definition (which this "
        "exercise follows) spreads ε over all V classes, the right one included":
            (((1 - eps) * nll + eps * others) * keep).sum() / n,
        "no label smoothing (the plain cross-entropy)": (nll * keep).sum() / n,
        "only (1 - ε) · (-log p_target): the ε · mean(-log p) term is missing": ((1 - eps) * nll * keep).sum() / n,
        "padding positions are counted in the mean (divide by the number of real tokens)":
            (((1 - eps) * nll + eps * uniform) * keep).sum() / target.numel(),
        "padding positions are not ignored": ((1 - eps) * nll + eps * uniform).mean(),
        "the sum over positions instead of the mean": (((1 - eps) * nll + eps * uniform) * keep).sum(),
    }


@exercise("train.label_smoothed_loss", name="label_smoothed_loss", chapter="11")
def _(candidate, g):
    """label_smoothed_loss(logits, target, *, smoothing, ignore_index) -> mean over real tokens."""
    hint = ("per real token, (1 - ε) · (-log p_target) + ε · (mean over all V classes of -log p); "
            "average over the tokens whose target is not ignore_index")
    logits = 3 * g.randn(3, 5, 9)
    target = g.randint(1, 9, 3, 5)
    target[0, 3:] = 0
    target[2, 1:] = 0
    with g.case("matches F.cross_entropy(label_smoothing=0.1, ignore_index=0) on a padded (3, 5, 9) batch",
                points=2):
        got = candidate(logits.clone(), target.clone(), smoothing=0.1, ignore_index=0)
        g.assert_close(torch.as_tensor(got), label_smoothed_loss(logits, target, smoothing=0.1, ignore_index=0),
                       what="loss", hint=hint, mistakes=_loss_variants(logits, target, 0.1, 0), check_dtype=False)
    with g.case("smoothing 0 gives the plain cross-entropy; a larger ε (0.4) and another padding id (2)"):
        for eps, pad in ((0.0, 0), (0.4, 2)):
            expected = label_smoothed_loss(logits, target, smoothing=eps, ignore_index=pad)
            got = candidate(logits.clone(), target.clone(), smoothing=eps, ignore_index=pad)
            g.assert_close(torch.as_tensor(got), expected, what=f"loss (ε={eps}, ignore_index={pad})", hint=hint,
                           mistakes=_loss_variants(logits, target, eps, pad), check_dtype=False)
    with g.case("written without F.cross_entropy (the task's rule)"):
        with g.spying(**{"F.cross_entropy": (torch.nn.functional, "cross_entropy"),
                         "nn.CrossEntropyLoss": (torch.nn.CrossEntropyLoss, "forward")}) as called:
            got = candidate(logits.clone(), target.clone(), smoothing=0.1, ignore_index=0)
        g.expect(not called, "your loss calls PyTorch's cross-entropy (F.cross_entropy or nn.CrossEntropyLoss); "
                             "the task asks for the formula itself (the reference is what it computes)")
    with g.case("returns a scalar tensor that backward() can reach the logits through"):
        leaf = logits.clone().requires_grad_()
        got = candidate(leaf, target.clone(), smoothing=0.1, ignore_index=0)
        g.expect(isinstance(got, torch.Tensor), f"the loss is a {type(got).__name__}; return a tensor (no "
                 ".item() or float()): training calls loss.backward()")
        g.expect(got.dim() == 0, f"the loss has shape {tuple(got.shape)}; return a scalar, the mean")
        g.expect(got.requires_grad, "the loss carries no gradient: use torch operations on the logits only "
                 "(no .detach(), .item() or numpy)")
        got.backward()
        expected = logits.clone().requires_grad_()
        label_smoothed_loss(expected, target, smoothing=0.1, ignore_index=0).backward()
        g.assert_close(leaf.grad, expected.grad, what="the gradient of the loss", hint=hint, rtol=1e-4, atol=1e-6)
    with g.case("large logits (±1e4) give a finite loss"):
        big = torch.tensor([[[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]]], dtype=torch.float64)
        tgt = torch.tensor([[0, 2]])
        got = torch.as_tensor(candidate(big, tgt, smoothing=0.1, ignore_index=-100))
        g.expect(torch.isfinite(got).all(), "the loss overflowed: take log_softmax, not log(softmax(...))")
        g.assert_close(got, label_smoothed_loss(big, tgt, smoothing=0.1, ignore_index=-100), what="loss",
                       hint=hint, rtol=1e-6, check_dtype=False)


def _schedule(candidate, steps, **kw):
    return torch.tensor([float(candidate(s, **kw)) for s in steps], dtype=torch.float64)


@exercise("train.noam_lr", name="noam_lr", chapter="11")
def _(candidate, g):
    """noam_lr(step, *, d_model, warmup, factor=1.0): equation (3) of the paper."""
    hint = "factor · d_model^-0.5 · min(step^-0.5, step · warmup^-1.5), with steps counted from 1"
    steps = [1, 2, 3, 50, 99, 100, 101, 400, 5000]
    d, w, f = 64, 100, 2.0

    def ref(fn):
        return torch.tensor([fn(s) for s in steps], dtype=torch.float64)

    expected = ref(lambda s: noam_lr(s, d_model=d, warmup=w, factor=f))
    mistakes = {
        "max instead of min: the rate must rise during warmup and fall after it":
            ref(lambda s: f * d**-0.5 * max(s**-0.5, s * w**-1.5)),
        "a step counter off by one (step 1 of the schedule is the first optimizer step)":
            ref(lambda s: noam_lr(s + 1, d_model=d, warmup=w, factor=f)),
        "warmup^-0.5 where the formula has warmup^-1.5":
            ref(lambda s: f * d**-0.5 * min(s**-0.5, s * w**-0.5)),
        "the d_model^-0.5 factor is missing": ref(lambda s: f * min(s**-0.5, s * w**-1.5)),
        "the factor is not applied": ref(lambda s: noam_lr(s, d_model=d, warmup=w)),
    }
    with g.case("d_model=64, warmup=100, factor=2 at steps 1 ... 5000", points=2):
        g.assert_close(_schedule(candidate, steps, d_model=d, warmup=w, factor=f), expected, what="rates",
                       hint=hint, rtol=1e-9, atol=0, mistakes=mistakes)
    with g.case("the paper's base model (d_model=512, warmup=4000, factor 1): peak at step 4000"):
        got = _schedule(candidate, [3999, 4000, 4001], d_model=512, warmup=4000)
        g.assert_close(got, torch.tensor([noam_lr(s, d_model=512, warmup=4000) for s in (3999, 4000, 4001)],
                                         dtype=torch.float64), what="rates", hint=hint, rtol=1e-9, atol=0)
        g.expect(got[1] > got[0] and got[1] > got[2], "the rate should peak at step = warmup")
    with g.case("factor defaults to 1.0"):
        g.assert_close(_schedule(candidate, [10, 1000], d_model=d, warmup=w),
                       torch.tensor([noam_lr(10, d_model=d, warmup=w), noam_lr(1000, d_model=d, warmup=w)],
                                    dtype=torch.float64), what="rates", hint=hint, rtol=1e-9, atol=0)


def _flops_variants(config, S, T):
    d, n, V = config.d_model, config.num_layers, config.vocab_size
    forward = model_flops(config, src_len=S, tgt_len=T) // 3
    attention = 4 * n * d * (S * S + T * T + S * T)
    output = 2 * V * d * T
    cross_kv_on_targets = forward + 2 * n * 2 * d * d * (T - S)
    return {
        "the forward pass only: training also runs the backward pass, about twice the forward's FLOPs":
            forward,
        "the attention matmuls (QKᵀ and weights·V) are missing": 3 * (forward - attention),
        "the output projection (d_model × vocabulary, on every target position) is missing":
            3 * (forward - output),
        "cross-attention's key and value projections counted on the target positions; they project "
        "the encoder's memory, one per source position": 3 * cross_kv_on_targets,
        "one FLOP per multiply-add; a multiply-add is 2 FLOPs": model_flops(config, src_len=S, tgt_len=T) // 2,
    }


@exercise("train.model_flops", name="model_flops", chapter="11")
def _(candidate, g):
    """model_flops(config, *, src_len, tgt_len): training FLOPs of one pair (forward + backward)."""
    hint = ("count 2·m·k·n per matmul: every weight matrix on the positions it reads (source or target), "
            "QKᵀ and weights·V in each attention, the output projection; then ×3 for forward + backward")
    cases = [
        (TransformerConfig(vocab_size=52, d_model=32, num_heads=4, d_ff=64, num_layers=2), 7, 5),
        (TransformerConfig(vocab_size=1000, d_model=128, num_heads=8, d_ff=512, num_layers=3), 20, 24),
    ]
    for i, (config, S, T) in enumerate(cases):
        with g.case(f"d_model={config.d_model}, {config.num_layers} layers, S={S}, T={T}", points=2 if i else 1):
            got = candidate(config, src_len=S, tgt_len=T)
            if isinstance(got, torch.Tensor):
                got = got.item()
            if not isinstance(got, (int, float)) or isinstance(got, bool):
                raise CaseFailed(f"return a number of FLOPs; got {type(got).__name__}")
            expected = model_flops(config, src_len=S, tgt_len=T)
            for description, wrong in _flops_variants(config, S, T).items():
                if math.isclose(got, wrong, rel_tol=1e-9) and not math.isclose(got, expected, rel_tol=1e-9):
                    raise CaseFailed(f"looks like {description}. {hint}")
            g.expect(math.isclose(got, expected, rel_tol=1e-9),
                     f"{got:.6g} FLOPs; the count is {got / expected:.3f} times the expected one. {hint}")
