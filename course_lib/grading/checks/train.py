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
import numbers

import torch

from course_lib.grading.registry import CaseFailed, exercise
from course_lib.i18n import tr
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
        tr("the smoothing mass ε spread over the V - 1 wrong classes; torch's definition (which this "
           "exercise follows) spreads ε over all V classes, the right one included",
           "平滑质量 ε 分给了 V - 1 个错误类别；torch 的定义（本练习采用它）把 ε 分给全部 "
           "V 个类别，包括正确的那个"):
            (((1 - eps) * nll + eps * others) * keep).sum() / n,
        tr("no label smoothing (the plain cross-entropy)", "没有标签平滑（普通的交叉熵）"): (nll * keep).sum() / n,
        tr("only (1 - ε) · (-log p_target): the ε · mean(-log p) term is missing",
           "只有 (1 - ε) · (-log p_target)：漏了 ε · mean(-log p)"
           " 这一项"): ((1 - eps) * nll * keep).sum() / n,
        tr("padding positions are counted in the mean (divide by the number of real tokens)",
           "填充位置被计入了平均（应除以真实词元的个数）"):
            (((1 - eps) * nll + eps * uniform) * keep).sum() / target.numel(),
        tr("padding positions are not ignored", "没有忽略填充位置"): ((1 - eps) * nll + eps * uniform).mean(),
        tr("the sum over positions instead of the mean",
           "对位置求和而不是取平均"): (((1 - eps) * nll + eps * uniform) * keep).sum(),
    }


@exercise("train.label_smoothed_loss", name="label_smoothed_loss", chapter="11")
def _(candidate, g):
    """label_smoothed_loss(logits, target, *, smoothing, ignore_index) -> mean over real tokens."""
    hint = (tr("per real token, (1 - ε) · (-log p_target) + ε · (mean over all V classes of -log p); "
               "average over the tokens whose target is not ignore_index",
               "对每个真实词元计算 (1 - ε) · (-log p_target) + ε ·（-log p "
               "在全部 V 个类别上的平均）；再对目标不是 ignore_index 的词元取平均"))
    logits = 3 * g.randn(3, 5, 9)
    target = g.randint(1, 9, 3, 5)
    target[0, 3:] = 0
    target[2, 1:] = 0
    with g.case(tr("matches F.cross_entropy(label_smoothing=0.1, ignore_index=0) on a padded (3, 5, 9) batch",
                   "在带填充的 (3, 5, 9) 批量上与 F.cross_entropy(label_smoothing=0.1, "
                   "ignore_index=0) 一致"),
                points=2):
        got = candidate(logits.clone(), target.clone(), smoothing=0.1, ignore_index=0)
        g.assert_close(torch.as_tensor(got), label_smoothed_loss(logits, target, smoothing=0.1, ignore_index=0),
                       what="loss", hint=hint, mistakes=_loss_variants(logits, target, 0.1, 0), check_dtype=False)
    with g.case(tr("smoothing 0 gives the plain cross-entropy; a larger ε (0.4) and another padding id (2)",
                   "平滑为 0 时就是普通的交叉熵；更大的 ε (0.4) 和另一个填充 id (2)")):
        for eps, pad in ((0.0, 0), (0.4, 2)):
            expected = label_smoothed_loss(logits, target, smoothing=eps, ignore_index=pad)
            got = candidate(logits.clone(), target.clone(), smoothing=eps, ignore_index=pad)
            g.assert_close(torch.as_tensor(got), expected, what=tr(f"loss (ε={eps}, ignore_index={pad})",
                                                                   f"损失（ε={eps}，ignore_index={pad}）"), hint=hint,
                           mistakes=_loss_variants(logits, target, eps, pad), check_dtype=False)
    with g.case(tr("written without F.cross_entropy (the task's rule)", "不使用 F.cross_entropy（题目的规则）")):
        with g.spying(**{"F.cross_entropy": (torch.nn.functional, "cross_entropy"),
                         "nn.CrossEntropyLoss": (torch.nn.CrossEntropyLoss, "forward")}) as called:
            got = candidate(logits.clone(), target.clone(), smoothing=0.1, ignore_index=0)
        g.expect(not called, tr("your loss calls PyTorch's cross-entropy (F.cross_entropy or nn.CrossEntropyLoss); "
                                "the task asks for the formula itself (the reference is what it computes)",
                                "你的损失调用了 PyTorch 的交叉熵（F.cross_entropy 或 nn.CrossEntropyLoss）"
                                "；题目要求自己写公式（参考实现就是它算出的结果）"))
    with g.case(tr("returns a scalar tensor that backward() can reach the logits through",
                   "返回一个标量张量，backward() 能经由它传到 logits")):
        leaf = logits.clone().requires_grad_()
        got = candidate(leaf, target.clone(), smoothing=0.1, ignore_index=0)
        g.expect(isinstance(got, torch.Tensor), tr(f"the loss is a {type(got).__name__}; return a tensor (no "
                    ".item() or float()): training calls loss.backward()",
                                                   f"损失是 {type(got).__name__}；请返回张量（不要 .item() 或 float()"
                                                   f"）：训练时要调用 loss.backward()"))
        g.expect(got.dim() == 0, tr(f"the loss has shape {tuple(got.shape)}; return a scalar, the mean",
                                    f"损失的形状是 {tuple(got.shape)}；请返回标量，即平均值"))
        g.expect(got.requires_grad, tr("the loss carries no gradient: use torch operations on the logits only "
                    "(no .detach(), .item() or numpy)",
                                       "损失不带梯度：请只对 logits 使用 torch 运算（不要 .detach()、.item()"
                                       " 或 numpy）"))
        got.backward()
        expected = logits.clone().requires_grad_()
        label_smoothed_loss(expected, target, smoothing=0.1, ignore_index=0).backward()
        g.assert_close(leaf.grad, expected.grad, what=tr("the gradient of the loss",
                                                         "损失的梯度"), hint=hint, rtol=1e-4, atol=1e-6)
    with g.case(tr("large logits (±1e4) give a finite loss", "大的 logits（±1e4）给出有限的损失")):
        big = torch.tensor([[[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]]], dtype=torch.float64)
        tgt = torch.tensor([[0, 2]])
        got = torch.as_tensor(candidate(big, tgt, smoothing=0.1, ignore_index=-100))
        g.expect(torch.isfinite(got).all(), tr("the loss overflowed: take log_softmax, not log(softmax(...))",
                                               "损失溢出了：请用 log_softmax，而不是 log(softmax(...))"))
        g.assert_close(got, label_smoothed_loss(big, tgt, smoothing=0.1, ignore_index=-100), what="loss",
                       hint=hint, rtol=1e-6, check_dtype=False)


def _schedule(candidate, steps, **kw):
    rates = [candidate(s, **kw) for s in steps]
    for rate in rates:  # a Python or numpy real number; a tensor would become the optimizer's lr as it is
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise CaseFailed(tr(f"returned a {type(rate).__name__}; the task asks for a float (a Python or "
                                "numpy real number), e.g. float(...) or .item(), not a tensor",
                                f"返回的是 {type(rate).__name__}；题目要求返回 float（Python 或 numpy 的实数），"
                                "例如 float(...) 或 .item()，而不是张量"))
    return torch.tensor([float(rate) for rate in rates], dtype=torch.float64)


@exercise("train.noam_lr", name="noam_lr", chapter="11")
def _(candidate, g):
    """noam_lr(step, *, d_model, warmup, factor=1.0): equation (3) of the paper."""
    hint = tr("factor · d_model^-0.5 · min(step^-0.5, step · warmup^-1.5), with steps counted from 1",
              "factor · d_model^-0.5 · min(step^-0.5, step · warmup^-1.5)"
              "，步数从 1 开始计")
    steps = [1, 2, 3, 50, 99, 100, 101, 400, 5000]
    d, w, f = 64, 100, 2.0

    def ref(fn):
        return torch.tensor([fn(s) for s in steps], dtype=torch.float64)

    expected = ref(lambda s: noam_lr(s, d_model=d, warmup=w, factor=f))
    mistakes = {
        tr("max instead of min: the rate must rise during warmup and fall after it",
           "用了 max 而不是 min：学习率必须在预热期间上升，之后下降"):
            ref(lambda s: f * d**-0.5 * max(s**-0.5, s * w**-1.5)),
        tr("a step counter off by one (step 1 of the schedule is the first optimizer step)",
           "步数计数差了一（调度的第 1 步就是优化器的第一步）"):
            ref(lambda s: noam_lr(s + 1, d_model=d, warmup=w, factor=f)),
        tr("warmup^-0.5 where the formula has warmup^-1.5", "公式里是 warmup^-1.5，这里用了 warmup^-0.5"):
            ref(lambda s: f * d**-0.5 * min(s**-0.5, s * w**-0.5)),
        tr("the d_model^-0.5 factor is missing",
           "漏了 d_model^-0.5 因子"): ref(lambda s: f * min(s**-0.5, s * w**-1.5)),
        tr("the factor is not applied", "没有乘上 factor"): ref(lambda s: noam_lr(s, d_model=d, warmup=w)),
    }
    with g.case(tr("d_model=64, warmup=100, factor=2 at steps 1 ... 5000",
                   "d_model=64，warmup=100，factor=2，第 1 ... 5000 步"), points=2):
        g.assert_close(_schedule(candidate, steps, d_model=d, warmup=w, factor=f), expected, what="rates",
                       hint=hint, rtol=1e-9, atol=0, mistakes=mistakes)
    with g.case(tr("the paper's base model (d_model=512, warmup=4000, factor 1): peak at step 4000",
                   "论文的基础模型（d_model=512，warmup=4000，factor 1）：在第 4000 "
                   "步达到峰值")):
        got = _schedule(candidate, [3999, 4000, 4001], d_model=512, warmup=4000)
        g.assert_close(got, torch.tensor([noam_lr(s, d_model=512, warmup=4000) for s in (3999, 4000, 4001)],
                                         dtype=torch.float64), what="rates", hint=hint, rtol=1e-9, atol=0)
        g.expect(got[1] > got[0] and got[1] > got[2], tr("the rate should peak at step = warmup",
                                                         "学习率应在 step = warmup 时达到峰值"))
    with g.case(tr("factor defaults to 1.0", "factor 默认为 1.0")):
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
        tr("the forward pass only: training also runs the backward pass, about twice the forward's FLOPs",
           "只算了前向传播：训练还要运行反向传播，约为前向 FLOPs 的两倍"):
            forward,
        tr("the attention matmuls (QKᵀ and weights·V) are missing",
           "漏了注意力中的矩阵乘法（QKᵀ 和 weights·V）"): 3 * (forward - attention),
        tr("the output projection (d_model × vocabulary, on every target position) is missing",
           "漏了输出投影（d_model × 词表，作用于每个目标位置）"):
            3 * (forward - output),
        tr("cross-attention's key and value projections counted on the target positions; they project "
           "the encoder's memory, one per source position",
           "交叉注意力的键和值投影按目标位置计算了；它们投影的是编码器的 memory，每个源位置一次"): 3 * cross_kv_on_targets,
        tr("one FLOP per multiply-add; a multiply-add is 2 FLOPs",
           "一次乘加算成了一个 FLOP；一次乘加是 2 FLOPs"): model_flops(config, src_len=S, tgt_len=T) // 2,
    }


@exercise("train.model_flops", name="model_flops", chapter="11")
def _(candidate, g):
    """model_flops(config, *, src_len, tgt_len): training FLOPs of one pair (forward + backward)."""
    hint = (tr("count 2·m·k·n per matmul: every weight matrix on the positions it reads (source or target), "
               "QKᵀ and weights·V in each attention, the output projection; then ×3 for forward + backward",
               "每次矩阵乘法计 2·m·k·n：每个权重矩阵按它读取的位置（源或目标）计算，每个注意力中的 QKᵀ "
               "和 weights·V，以及输出投影；然后对前向加反向乘以 3"))
    cases = [
        (TransformerConfig(vocab_size=52, d_model=32, num_heads=4, d_ff=64, num_layers=2), 7, 5),
        (TransformerConfig(vocab_size=1000, d_model=128, num_heads=8, d_ff=512, num_layers=3), 20, 24),
    ]
    for i, (config, S, T) in enumerate(cases):
        with g.case(tr(f"d_model={config.d_model}, {config.num_layers} layers, S={S}, T={T}",
                       f"d_model={config.d_model}，{config.num_layers} 层，S={S}，"
                       f"T={T}"), points=2 if i else 1):
            got = candidate(config, src_len=S, tgt_len=T)
            if isinstance(got, torch.Tensor):
                got = got.item()
            if not isinstance(got, (int, float)) or isinstance(got, bool):
                raise CaseFailed(tr(f"return a number of FLOPs; got {type(got).__name__}",
                                    f"请返回 FLOPs 数；得到的是 {type(got).__name__}"))
            expected = model_flops(config, src_len=S, tgt_len=T)
            for description, wrong in _flops_variants(config, S, T).items():
                if math.isclose(got, wrong, rel_tol=1e-9) and not math.isclose(got, expected, rel_tol=1e-9):
                    raise CaseFailed(tr(f"looks like {description}. {hint}", f"看起来是{description}。{hint}"))
            g.expect(math.isclose(got, expected, rel_tol=1e-9),
                     tr(f"{got:.6g} FLOPs; the count is {got / expected:.3f} times the expected one. {hint}",
                        f"{got:.6g} FLOPs；这个计数是预期值的 {got / expected:.3f} 倍。"
                        f"{hint}"))
