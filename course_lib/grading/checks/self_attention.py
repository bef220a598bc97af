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
        "the scores were not divided by √d_k": _variant(x, w_q, w_k, w_v, mask, scale=False),
        "the softmax ran over the query axis (columns sum to one, not rows)": _variant(x, w_q, w_k, w_v, mask, axis=-2),
        "queries and keys are swapped (W_K used for the queries)": _variant(x, w_q, w_k, w_v, mask, swap_qk=True),
    }
    if d_model != d_k:
        found["the scores were divided by √d_model instead of √d_k"] = _variant(x, w_q, w_k, w_v, mask, by_d_model=True)
    if d_v == d_k:
        found["K was used where V should be"] = _variant(x, w_q, w_k, w_v, mask, values="k")
    if d_v == d_model:
        found["the values are the raw inputs (W_V was not applied)"] = _variant(x, w_q, w_k, w_v, mask, values="x")
    if d_model == d_k == d_v:
        found["the projections are transposed (x @ Wᵀ instead of x @ W)"] = _variant(x, w_q, w_k, w_v, mask, transpose=True)
    if mask is not None:
        found["the mask is inverted (True must mean 'may attend')"] = _variant(x, w_q, w_k, w_v, mask, invert_mask=True)
    return found


def _unpack(got, to_tensor):
    if not isinstance(got, tuple) or len(got) != 2:
        raise CaseFailed(f"return a pair (out, weights); got {type(got).__name__}")
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

    run("matches the reference: x (2, 5, 8), d_k = 4, d_v = 3", 2, 5, 8, 4, 3,
        hint="q = x W_Q, k = x W_K, v = x W_V; score q_i · k_j / √d_k; softmax over j")
    run("matches the reference: x (1, 6, 6), d_k = d_v = 6", 1, 6, 6, 6, 6,
        hint="each W has shape (d_model, d_out) and multiplies x from the right")
    run("mask (True = may attend), including a position that may attend to nothing", 2, 4, 6, 3, 4,
        masked=True, hint="put -inf where the mask is False before the softmax; an all-masked row gives zeros")
    run("large inputs do not overflow", 1, 4, 6, 3, 3, grow=40.0,
        hint="subtract each row's maximum score before exponentiating")


def _numpy_array(value, what):
    if not isinstance(value, np.ndarray):
        raise CaseFailed(f"{what} should be a numpy array; got {type(value).__name__}")
    return torch.from_numpy(np.asarray(value, dtype=np.float64))


def _torch_tensor(value, what):
    if not isinstance(value, torch.Tensor):
        raise CaseFailed(f"{what} should be a torch.Tensor; got {type(value).__name__}")
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
    with g.case("gradients flow back to x and to every projection matrix"):
        leaves = [t.clone().requires_grad_() for t in (x, w, w.flip(0), w.flip(1))]
        out, _ = candidate(leaves[0], w_q=leaves[1], w_k=leaves[2], w_v=leaves[3])
        g.expect(isinstance(out, torch.Tensor) and out.requires_grad,
                 "out carries no gradient: use torch operations only (no .numpy(), no .detach())")
        out.square().sum().backward()
        for name, leaf in zip(("x", "w_q", "w_k", "w_v"), leaves):
            g.expect(leaf.grad is not None and leaf.grad.abs().sum() > 0,
                     f"no gradient reached {name}: use torch operations only (no .numpy(), no .detach())")


_LAYOUT = ("define w_q, w_k, w_v in __init__ as nn.Linear(d_model, d_k), nn.Linear(d_model, d_k) and "
           "nn.Linear(d_model, d_v), with bias=bias")


def _build(candidate, g: Grader, d_model: int, d_k: int, d_v: int | None = None, *, bias: bool = False):
    """Construct the learner's module, check its layout, load seeded reference weights into both."""
    module = candidate(d_model, d_k, d_v, bias=bias) if d_v is not None else candidate(d_model, d_k, bias=bias)
    g.expect(isinstance(module, nn.Module), "SelfAttention should subclass torch.nn.Module")
    d_v = d_k if d_v is None else d_v
    reference = SelfAttention(d_model, d_k, d_v, bias=bias).double()
    for name, d_out in (("w_q", d_k), ("w_k", d_k), ("w_v", d_v)):
        layer = getattr(module, name, None)
        g.expect(isinstance(layer, nn.Linear), f"`{name}` is missing or not an nn.Linear: {_LAYOUT}")
        g.expect(tuple(layer.weight.shape) == (d_out, d_model),
                 f"{name}.weight has shape {tuple(layer.weight.shape)}; expected ({d_out}, {d_model}): {_LAYOUT}")
        g.expect((layer.bias is not None) == bias, f"{name} should {'' if bias else 'not '}have a bias when bias={bias}")
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
    with g.case("constructor: nn.Module with w_q, w_k, w_v as nn.Linear; d_v defaults to d_k"):
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
                mistakes = {"the biases were not added": _variant(x, w["w_q"], w["w_k"], w["w_v"])}
            else:
                w = {name: getattr(reference, name).weight.detach().T for name in ("w_q", "w_k", "w_v")}
                mistakes = _mistakes(x, w["w_q"], w["w_k"], w["w_v"], mask)
            _compare(g, got, expected, mistakes,
                     hint="compare your forward with the task text: which layer gives the queries, the keys "
                          "and the values, and how the scores are scaled and normalised")

    run("forward matches the reference: d_model = 8, d_k = 4, d_v = 3", 8, 4, 3)
    run("forward matches the reference: d_model = d_k = d_v = 6", 6, 6, 6)
    run("forward with a mask, including a position that may attend to nothing", 6, 3, 3, masked=True)
    run("bias=True: the projections add their biases", 6, 4, 5, bias=True)

    with g.case("bad input raises ValueError (x not 3-D, or last dim != d_model)"):
        module, _ = _build(candidate, g, 8, 4)
        for shape in ((5, 8), (2, 5, 7)):
            try:
                module(torch.zeros(*shape, dtype=torch.float64))
            except ValueError as error:
                g.expect("x" in str(error), f"the ValueError for shape {shape} should name the argument x")
            except Exception as error:  # noqa: BLE001 - the learner's code may raise anything
                raise CaseFailed(f"x of shape {shape} raised {type(error).__name__}; expected ValueError") from None
            else:
                raise CaseFailed(f"x of shape {shape} was accepted; expected ValueError naming x")

    with g.case("gradients reach w_q, w_k and w_v"):
        module, _ = _build(candidate, g, 6, 4)
        out, _ = module(g.randn(1, 4, 6))
        g.expect(isinstance(out, torch.Tensor) and out.requires_grad,
                 "out carries no gradient: use torch operations only (no .numpy(), no .detach())")
        out.square().sum().backward()
        for name in ("w_q", "w_k", "w_v"):
            grad = getattr(module, name).weight.grad
            g.expect(grad is not None and grad.abs().sum() > 0,
                     f"no gradient reached {name}: call the layer on x inside forward, in torch")
