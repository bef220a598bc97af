"""Checks for chapter 3's exercises: self-attention in numpy, in torch, and as an ``nn.Module``.

Every case compares the candidate with :mod:`course_lib.attention` on seeded inputs, and names
the mistake when the candidate's output equals that of a known wrong version: scores not
scaled, scaled by √d_model, softmax over the query axis, queries and keys swapped, keys (or the
raw input) used as values, projections transposed, mask inverted.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from course_lib.attention import SelfAttention, self_attention
from course_lib.grading.registry import CaseFailed, Grader, exercise
from course_lib.i18n import tr


def _variant(x, w_q, w_k, w_v, mask=None, *, scale=True, by_d_model=False, axis=-1, values="v",
             swap_qk=False, transpose=False, invert_mask=False):
    """What self-attention gives with one plausible mistake switched on (all off = correct)."""
    if transpose:
        w_q, w_k, w_v = w_q.T, w_k.T, w_v.T
    if swap_qk:
        w_q, w_k = w_k, w_q
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ k.transpose(-2, -1)  # (B, L, L)
    if scale:
        scores = scores / math.sqrt(x.shape[-1] if by_d_model else q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask if invert_mask else ~mask, float("-inf"))
    weights = torch.softmax(scores, dim=axis).nan_to_num(0.0)
    source = {"v": v, "k": k, "x": x}[values]
    return weights @ source, weights


def _mistakes(x, w_q, w_k, w_v, mask=None):
    """Known wrong versions whose outputs have the right shape for these inputs: {name: (out, weights)}."""
    d_model, d_k, d_v = w_q.shape[0], w_q.shape[1], w_v.shape[1]
    found = {
        tr("the scores were not divided by √d_k", "分数没有除以 √d_k"): _variant(x, w_q, w_k, w_v, mask, scale=False),
        tr("the softmax ran over the query axis (columns sum to one, not rows)",
           "softmax 在查询轴上进行（每列和为 1，而不是每行）"): _variant(x, w_q, w_k, w_v, mask, axis=-2),
        tr("queries and keys are swapped (W_K used for the queries)",
           "查询和键交换了（查询用了 W_K）"): _variant(x, w_q, w_k, w_v, mask, swap_qk=True),
    }
    if d_model != d_k:
        found[tr("the scores were divided by √d_model instead of √d_k",
                 "分数除以了 √d_model，而不是 √d_k")] = _variant(x, w_q, w_k, w_v, mask, by_d_model=True)
    if d_v == d_k:
        found[tr("K was used where V should be",
                 "该用 V 的地方用了 K")] = _variant(x, w_q, w_k, w_v, mask, values="k")
    if d_v == d_model:
        found[tr("the values are the raw inputs (W_V was not applied)",
                 "值就是原始输入（没有施加 W_V）")] = _variant(x, w_q, w_k, w_v, mask, values="x")
    if d_model == d_k == d_v:
        found[tr("the projections are transposed (x @ Wᵀ instead of x @ W)",
                 "投影被转置了（算成了 x @ Wᵀ 而不是 x @ W）")] = _variant(x, w_q, w_k, w_v, mask, transpose=True)
    if mask is not None:
        found[tr("the mask is inverted (True must mean 'may attend')",
                 "掩码反了（True 必须表示“可以关注”）")] = _variant(x, w_q, w_k, w_v, mask, invert_mask=True)
    return found


def _unpack(got, to_tensor):
    if not isinstance(got, tuple) or len(got) != 2:
        raise CaseFailed(tr(f"return a pair (out, weights); got {type(got).__name__}",
                            f"返回二元组 (out, weights)；得到的是 {type(got).__name__}"))
    return to_tensor(got[0], "out"), to_tensor(got[1], "weights")


def _compare(g: Grader, got, expected, mistakes, hint: str) -> None:
    """Check weights first (most mistakes show there), then the output."""
    out, weights = got
    g.assert_close(weights, expected[1], what="weights", hint=hint,
                   mistakes={name: pair[1] for name, pair in mistakes.items()})
    g.assert_close(out, expected[0], what="out", hint=hint,
                   mistakes={name: pair[0] for name, pair in mistakes.items()})


def _functional_cases(call, g: Grader, to_tensor) -> None:
    """Cases shared by the numpy and torch function exercises; ``call(x, w_q, w_k, w_v, mask)``."""

    def run(title, batch, length, d_model, d_k, d_v, *, masked=False, grow=1.0, hint):
        x = g.randn(batch, length, d_model) * grow
        w_q, w_k, w_v = g.randn(d_model, d_k), g.randn(d_model, d_k), g.randn(d_model, d_v)
        w_q, w_k, w_v = (w / math.sqrt(d_model) for w in (w_q, w_k, w_v))
        mask = None
        if masked:
            mask = g.rand_mask(batch, length, length)
            mask[:, 0] = False  # a position allowed to attend to nothing: zeros, not NaN
            mask[:, 1:, 1] = True
        with g.case(title):
            got = _unpack(call(x, w_q, w_k, w_v, mask), to_tensor)
            _compare(g, got, self_attention(x, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask),
                     _mistakes(x, w_q, w_k, w_v, mask), hint)

    run(tr("matches the reference: x (2, 5, 8), d_k = 4, d_v = 3",
           "与参考实现一致：x (2, 5, 8)，d_k = 4，d_v = 3"), 2, 5, 8, 4, 3,
        hint=tr("q = x W_Q, k = x W_K, v = x W_V; score q_i · k_j / √d_k; softmax over j",
                "q = x W_Q，k = x W_K，v = x W_V；分数为 q_i · k_j / √d_k；"
                "在 j 上做 softmax"))
    run(tr("matches the reference: x (1, 6, 6), d_k = d_v = 6",
           "与参考实现一致：x (1, 6, 6)，d_k = d_v = 6"), 1, 6, 6, 6, 6,
        hint=tr("each W has shape (d_model, d_out) and multiplies x from the right",
                "每个 W 的形状为 (d_model, d_out)，从右边乘 x"))
    run(tr("mask (True = may attend), including a position that may attend to nothing",
           "掩码（True = 可以关注），包括一个什么都不能关注的位置"), 2, 4, 6, 3, 4,
        masked=True, hint=tr("put -inf where the mask is False before the softmax; an all-masked row gives zeros",
                             "softmax 之前在掩码为 False 处填 -inf；整行都被掩蔽时得到零"))
    run(tr("large inputs do not overflow", "大输入不会溢出"), 1, 4, 6, 3, 3, grow=40.0,
        hint=tr("subtract each row's maximum score before exponentiating", "取指数之前减去每行的最大分数"))


def _numpy_array(value, what):
    if not isinstance(value, np.ndarray):
        raise CaseFailed(tr(f"{what} should be a numpy array; got {type(value).__name__}",
                            f"{what} 应是 numpy 数组；得到的是 {type(value).__name__}"))
    return torch.from_numpy(np.asarray(value, dtype=np.float64))


def _torch_tensor(value, what):
    if not isinstance(value, torch.Tensor):
        raise CaseFailed(tr(f"{what} should be a torch.Tensor; got {type(value).__name__}",
                            f"{what} 应是 torch.Tensor；得到的是 {type(value).__name__}"))
    return value


@exercise("numpy_ref.self_attention", name="np_self_attention", chapter="03")
def _(candidate, g: Grader):
    """Self-attention in plain numpy: project, score, scale, softmax, weighted sum."""

    def call(x, w_q, w_k, w_v, mask):
        arrays = {"w_q": w_q.numpy(), "w_k": w_k.numpy(), "w_v": w_v.numpy()}
        return candidate(x.numpy(), **arrays, mask=None if mask is None else mask.numpy())

    _functional_cases(call, g, _numpy_array)


@exercise("attention.self_attention", name="self_attention", chapter="03")
def _(candidate, g: Grader):
    """Self-attention in torch from the three projection matrices."""
    _functional_cases(lambda x, w_q, w_k, w_v, mask: candidate(x, w_q=w_q, w_k=w_k, w_v=w_v, mask=mask),
                      g, _torch_tensor)
    x, w = g.randn(2, 3, 4), g.randn(4, 4)
    with g.case(tr("gradients flow back to x and to every projection matrix", "梯度能反向传到 x 和每个投影矩阵")):
        leaves = [t.clone().requires_grad_() for t in (x, w, w.flip(0), w.flip(1))]
        out, _ = candidate(leaves[0], w_q=leaves[1], w_k=leaves[2], w_v=leaves[3])
        g.expect(isinstance(out, torch.Tensor) and out.requires_grad,
                 tr("out carries no gradient: use torch operations only (no .numpy(), no .detach())",
                    "out 不带梯度：请只用 torch 运算（不要 .numpy()，不要 .detach()）"))
        out.square().sum().backward()
        for name, leaf in zip(("x", "w_q", "w_k", "w_v"), leaves):
            g.expect(leaf.grad is not None and leaf.grad.abs().sum() > 0,
                     tr(f"no gradient reached {name}: use torch operations only (no .numpy(), no .detach())",
                        f"没有梯度传到 {name}：请只用 torch 运算（不要 .numpy()，不要 .detach()"
                        f"）"))


def _layout() -> str:
    return (tr("define w_q, w_k, w_v in __init__ as nn.Linear(d_model, d_k), nn.Linear(d_model, d_k) and "
               "nn.Linear(d_model, d_v), with bias=bias",
               "在 __init__ 中把 w_q、w_k、w_v 定义为 nn.Linear(d_model, "
               "d_k)、nn.Linear(d_model, d_k) 和 nn.Linear(d_model, "
               "d_v)，并传入 bias=bias"))


def _build(candidate, g: Grader, d_model: int, d_k: int, d_v: int | None = None, *, bias: bool = False):
    """Construct the learner's module, check its layout, load seeded reference weights into both."""
    module = candidate(d_model, d_k, d_v, bias=bias) if d_v is not None else candidate(d_model, d_k, bias=bias)
    g.expect(isinstance(module, nn.Module), tr("SelfAttention should subclass torch.nn.Module",
                                               "SelfAttention 应继承 torch.nn.Module"))
    d_v = d_k if d_v is None else d_v
    reference = SelfAttention(d_model, d_k, d_v, bias=bias).double()
    for name, d_out in (("w_q", d_k), ("w_k", d_k), ("w_v", d_v)):
        layer = getattr(module, name, None)
        g.expect(isinstance(layer, nn.Linear), tr(f"`{name}` is missing or not an nn.Linear: {_layout()}",
                                                  f"`{name}` 不存在或不是 nn.Linear：{_layout()}"))
        g.expect(tuple(layer.weight.shape) == (d_out, d_model),
                 tr(f"{name}.weight has shape {tuple(layer.weight.shape)}; expected ({d_out}, {d_model}): {_layout()}",
                    f"{name}.weight 的形状是 {tuple(layer.weight.shape)}；应为 "
                    f"({d_out}, {d_model})：{_layout()}"))
        g.expect((layer.bias is not None) == bias,
                 tr(f"{name} should have a bias when bias={bias}", f"bias={bias} 时 {name} 应带偏置") if bias
                 else tr(f"{name} should not have a bias when bias={bias}", f"bias={bias} 时 {name} 不应带偏置"))
    module = module.double()
    with torch.no_grad():
        for name, d_out in (("w_q", d_k), ("w_k", d_k), ("w_v", d_v)):
            for param in ("weight", "bias") if bias else ("weight",):
                value = g.randn(d_out, d_model) / math.sqrt(d_model) if param == "weight" else g.randn(d_out)
                getattr(getattr(reference, name), param).copy_(value)
                getattr(getattr(module, name), param).copy_(value)
    return module, reference


@exercise("attention.SelfAttention", name="SelfAttention", chapter="03")
def _(candidate, g: Grader):
    """A single-head self-attention nn.Module with projections w_q, w_k, w_v."""
    with g.case(tr("constructor: nn.Module with w_q, w_k, w_v as nn.Linear; d_v defaults to d_k",
                   "构造函数：nn.Module，w_q、w_k、w_v 为 nn.Linear；d_v 默认等于 "
                   "d_k")):
        _build(candidate, g, 8, 4, 3)
        _build(candidate, g, 8, 4)

    def run(title, d_model, d_k, d_v, *, masked=False, bias=False):
        with g.case(title):
            module, reference = _build(candidate, g, d_model, d_k, d_v, bias=bias)
            x = g.randn(2, 5, d_model)
            mask = None
            if masked:
                mask = g.rand_mask(2, 5, 5)
                mask[:, :, 0] = True
                mask[:, 2] = False  # position 2 may attend to nothing
            got = _unpack(module(x, mask), _torch_tensor)
            expected = reference(x, mask)
            if bias:
                w = {name: getattr(reference, name).weight.detach().T for name in ("w_q", "w_k", "w_v")}
                mistakes = {tr("the biases were not added",
                               "没有加上偏置"): _variant(x, w["w_q"], w["w_k"], w["w_v"])}
            else:
                w = {name: getattr(reference, name).weight.detach().T for name in ("w_q", "w_k", "w_v")}
                mistakes = _mistakes(x, w["w_q"], w["w_k"], w["w_v"], mask)
            _compare(g, got, expected, mistakes,
                     hint=tr("compare your forward with the task text: which layer gives the queries, the keys "
                             "and the values, and how the scores are scaled and normalised",
                             "对照题目检查你的 forward：哪一层给出查询、键和值，分数怎样缩放和归一化"))

    run(tr("forward matches the reference: d_model = 8, d_k = 4, d_v = 3",
           "forward 与参考实现一致：d_model = 8，d_k = 4，d_v = 3"), 8, 4, 3)
    run(tr("forward matches the reference: d_model = d_k = d_v = 6",
           "forward 与参考实现一致：d_model = d_k = d_v = 6"), 6, 6, 6)
    run(tr("forward with a mask, including a position that may attend to nothing",
           "带掩码的 forward，包括一个什么都不能关注的位置"), 6, 3, 3, masked=True)
    run(tr("bias=True: the projections add their biases", "bias=True：投影要加上偏置"), 6, 4, 5, bias=True)

    with g.case(tr("bad input raises ValueError (x not 3-D, or last dim != d_model)",
                   "错误输入抛出 ValueError（x 不是三维，或最后一维 != d_model）")):
        module, _ = _build(candidate, g, 8, 4)
        for shape in ((5, 8), (2, 5, 7)):
            try:
                module(torch.zeros(*shape, dtype=torch.float64))
            except ValueError as error:
                g.expect("x" in str(error), tr(f"the ValueError for shape {shape} should name the argument x",
                                               f"形状为 {shape} 时的 ValueError 应写明参数 x"))
            except Exception as error:  # noqa: BLE001 - the learner's code may raise anything
                raise CaseFailed(tr(f"x of shape {shape} raised {type(error).__name__}; expected ValueError",
                                    f"形状为 {shape} 的 x 抛出了 {type(error).__name__}；应为 ValueError")) from None
            else:
                raise CaseFailed(tr(f"x of shape {shape} was accepted; expected ValueError naming x",
                                    f"形状为 {shape} 的 x 被接受了；应抛出写明 x 的 ValueError"))

    with g.case(tr("gradients reach w_q, w_k and w_v", "梯度能传到 w_q、w_k 和 w_v")):
        module, _ = _build(candidate, g, 6, 4)
        out, _ = module(g.randn(1, 4, 6))
        g.expect(isinstance(out, torch.Tensor) and out.requires_grad,
                 tr("out carries no gradient: use torch operations only (no .numpy(), no .detach())",
                    "out 不带梯度：请只用 torch 运算（不要 .numpy()，不要 .detach()）"))
        out.square().sum().backward()
        for name in ("w_q", "w_k", "w_v"):
            grad = getattr(module, name).weight.grad
            g.expect(grad is not None and grad.abs().sum() > 0,
                     tr(f"no gradient reached {name}: call the layer on x inside forward, in torch",
                        f"没有梯度传到 {name}：请在 forward 中用 torch 在 x 上调用这一层"))
