"""Checks for chapter 4, multi-head attention: split_heads, merge_heads, MultiHeadAttention."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib.attention import softmax
from course_lib.grading.registry import CaseFailed, Grader, exercise
from course_lib.multihead import MultiHeadAttention, merge_heads, split_heads

# -- split_heads -------------------------------------------------------------------------------


def _split_mistakes(x: Tensor, num_heads: int) -> dict[str, Tensor]:
    batch, length, d_model = x.shape
    d_head = d_model // num_heads
    return {
        "heads split along the wrong axis: a reshape straight to (B, H, L, d_head) hands each "
        "head a block of positions instead of a block of features of every position":
            x.reshape(batch, num_heads, length, d_head),
        "features dealt out round-robin (head h got features h, h+H, h+2H, ...) instead of one "
        "contiguous block per head":
            x.reshape(batch, length, d_head, num_heads).permute(0, 3, 1, 2),
    }


@exercise("multihead.split_heads", name="split_heads", chapter="04")
def _(candidate, g: Grader):
    """Cut (B, L, d_model) into heads: (B, H, L, d_head)."""
    hint = ("view the last axis as (H, d_head), then move the head axis in front of the positions; "
            "head h must hold features h*d_head ... (h+1)*d_head - 1 of every position")
    x = g.randn(2, 5, 12)
    with g.case("a (2, 5, 12) input cut into 3 heads of width 4", points=2):
        g.assert_close(candidate(x, 3), split_heads(x, 3), hint=hint, mistakes=_split_mistakes(x, 3))
    x = g.randn(3, 4, 8)
    with g.case("the same rule for 2, 4 and 8 heads (8 heads of width 1)"):
        for h in (2, 4, 8):
            g.assert_close(candidate(x, h), split_heads(x, h), hint=hint, mistakes=_split_mistakes(x, h),
                           what=f"output for num_heads={h}")
    with g.case("one head keeps every feature: (B, 1, L, d_model)"):
        g.assert_close(candidate(x, 1), split_heads(x, 1), hint=hint)
    with g.case("raises ValueError when d_model=12 is not divisible by num_heads=5"):
        g.expect_value_error(lambda: candidate(g.randn(2, 3, 12), 5),
                             "check that num_heads divides d_model first, and name num_heads")


# -- merge_heads -------------------------------------------------------------------------------


def _merge_mistakes(x: Tensor) -> dict[str, Tensor]:
    batch, heads, length, d_head = x.shape
    return {
        "merged without the inverse transpose: reshaping (B, H, L, d_head) straight to "
        "(B, L, H*d_head) mixes positions":
            x.reshape(batch, length, heads * d_head),
        "heads interleaved feature by feature instead of laid side by side":
            x.permute(0, 2, 3, 1).reshape(batch, length, heads * d_head),
    }


@exercise("multihead.merge_heads", name="merge_heads", chapter="04")
def _(candidate, g: Grader):
    """Lay the heads side by side again: (B, H, L, d_head) → (B, L, H·d_head)."""
    hint = "move the head axis back next to the feature axis, then join (H, d_head) into one axis"
    x = g.randn(2, 3, 5, 4)
    with g.case("3 heads of width 4 back into a (2, 5, 12) tensor", points=2):
        g.assert_close(candidate(x), merge_heads(x), hint=hint, mistakes=_merge_mistakes(x))
    y = g.randn(2, 6, 12)
    with g.case("undoes the reference split_heads: merge_heads(split_heads(y, H)) == y"):
        for h in (2, 4, 6):
            g.assert_close(candidate(split_heads(y, h)), y, hint=hint,
                           mistakes=_merge_mistakes(split_heads(y, h)), what=f"round trip with num_heads={h}")
    with g.case("works on a non-contiguous input (the output of a transpose)"):
        z = g.randn(2, 4, 3, 5).transpose(1, 2)  # (B, H=3, L=4, d_head=5), not contiguous
        g.assert_close(candidate(z), merge_heads(z), hint=hint + "; .view needs contiguous memory, .reshape does not")


# -- MultiHeadAttention ------------------------------------------------------------------------

_PROJECTIONS = ("w_q", "w_k", "w_v", "w_o")


def _reference(g: Grader, d_model: int, num_heads: int) -> MultiHeadAttention:
    """A float64 reference with seeded weights (biases nonzero, so a missing bias shows)."""
    ref = MultiHeadAttention(d_model, num_heads).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(g.randn(*p.shape) / math.sqrt(d_model))
    return ref


def _variant(ref: MultiHeadAttention, query, key, value, mask=None, *, split="ok", merge="ok",
             scale="d_head", softmax_dim=-1, project=True):
    """What a multi-head attention with one known mistake computes: (out, weights)."""
    h, d_model = ref.num_heads, ref.d_model
    d_head = d_model // h

    def cut(t: Tensor) -> Tensor:
        b, n, _ = t.shape
        if split == "reshape":
            return t.reshape(b, h, n, d_head)
        return t.reshape(b, n, h, d_head).transpose(1, 2)

    def join(t: Tensor) -> Tensor:
        b, _, n, _ = t.shape
        if merge == "reshape" or split == "reshape":
            return t.reshape(b, n, d_model)
        return t.transpose(1, 2).reshape(b, n, d_model)

    q, k, v = cut(ref.w_q(query)), cut(ref.w_k(key)), cut(ref.w_v(value))
    scores = q @ k.transpose(-2, -1)  # (B, H, L_q, L_k)
    scores = scores / {"d_head": math.sqrt(d_head), "d_model": math.sqrt(d_model), "none": 1.0}[scale]
    if mask is not None:
        scores = scores.masked_fill(~(mask.unsqueeze(1) if mask.dim() == 3 else mask), float("-inf"))
    weights = softmax(scores, dim=softmax_dim)
    heads = join(weights @ v)
    return (ref.w_o(heads) if project else heads), weights


_MISTAKES = {
    "heads split along the wrong axis (a reshape to (B, H, L, d_head) without the transpose)": dict(split="reshape"),
    "heads merged without the inverse transpose": dict(merge="reshape"),
    "scores not scaled by 1/sqrt(d_head)": dict(scale="none"),
    "scores scaled by 1/sqrt(d_model) instead of 1/sqrt(d_head)": dict(scale="d_model"),
    "softmax over the wrong axis (over the queries instead of the keys)": dict(softmax_dim=-2),
    "a missing output projection w_o": dict(project=False),
}


def _mistakes(ref, query, key, value, mask=None, which: int = 0) -> dict[str, Tensor]:
    out = {}
    for description, knobs in _MISTAKES.items():
        try:
            out[description] = _variant(ref, query, key, value, mask, **knobs)[which].detach()
        except RuntimeError:  # e.g. a wrong reshape that cannot happen for these shapes
            continue
    return out


def _build(candidate, d_model: int, num_heads: int, ref: MultiHeadAttention):
    """Instantiate the learner's class and copy the reference weights into it by name."""
    model = candidate(d_model, num_heads)
    if not isinstance(model, nn.Module):
        raise CaseFailed(f"MultiHeadAttention(...) should build an nn.Module; got {type(model).__name__}")
    model = model.double()
    with torch.no_grad():
        for name in _PROJECTIONS:
            linear = getattr(model, name, None)
            if not isinstance(linear, nn.Linear) or tuple(linear.weight.shape) != (d_model, d_model):
                raise CaseFailed(
                    f"self.{name} should be nn.Linear(d_model, d_model) = nn.Linear({d_model}, {d_model}); "
                    f"got {linear!r}"
                )
            if linear.bias is None:
                raise CaseFailed(f"self.{name} should have a bias (bias=True is the default)")
            source = getattr(ref, name)
            linear.weight.copy_(source.weight)
            linear.bias.copy_(source.bias)
    return model.eval()


def _call(model, query, key, value, mask=None):
    result = model(query, key, value) if mask is None else model(query, key, value, mask=mask)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise CaseFailed("forward should return a pair (out, weights)")
    return result


@exercise("multihead.MultiHeadAttention", name="MultiHeadAttention", chapter="04")
def _(candidate, g: Grader):
    """H scaled dot-product heads in parallel, concatenated and projected by W^O."""
    hint = ("project with w_q/w_k/w_v, split into heads, attend per head with scores / sqrt(d_head) "
            "and a softmax over the keys, merge the heads, then apply w_o")
    d_model, num_heads = 12, 3
    ref = _reference(g, d_model, num_heads)

    with g.case("has w_q, w_k, w_v, w_o as nn.Linear(d_model, d_model)"):
        _build(candidate, d_model, num_heads, ref)

    x = g.randn(2, 5, d_model)
    expected, expected_w = ref(x, x, x)
    with g.case("self-attention: out matches the reference", points=2):
        out, _ = _call(_build(candidate, d_model, num_heads, ref), x, x, x)
        g.assert_close(out, expected, hint=hint, mistakes=_mistakes(ref, x, x, x), what="out")
    with g.case("self-attention: weights are per head, shape (B, H, L_q, L_k)"):
        _, weights = _call(_build(candidate, d_model, num_heads, ref), x, x, x)
        g.assert_close(weights, expected_w, hint=hint, mistakes=_mistakes(ref, x, x, x, which=1), what="weights")

    query, key, value = g.randn(2, 3, d_model), g.randn(2, 6, d_model), g.randn(2, 6, d_model)
    with g.case("cross-attention: 3 queries attend over 6 keys (L_q != L_k)", points=2):
        out, weights = _call(_build(candidate, d_model, num_heads, ref), query, key, value)
        g.assert_close(out, ref(query, key, value)[0], hint=hint,
                       mistakes=_mistakes(ref, query, key, value), what="out")
        g.assert_close(weights, ref(query, key, value)[1], hint=hint,
                       mistakes=_mistakes(ref, query, key, value, which=1), what="weights")

    mask = g.rand_mask(2, 3, 6, p=0.6)
    mask[:, :, 0] = True  # every query keeps a key here; the next case tests the empty row
    with g.case("a boolean mask (B, L_q, L_k), True = may attend, shared by every head"):
        out, _ = _call(_build(candidate, d_model, num_heads, ref), query, key, value, mask)
        g.assert_close(out, ref(query, key, value, mask=mask)[0],
                       hint=hint + "; give the mask a head axis (B, 1, L_q, L_k) before masking the scores",
                       mistakes={"the mask inverted (True should mean 'may attend')":
                                 ref(query, key, value, mask=~mask)[0]} | _mistakes(ref, query, key, value, mask),
                       what="out")
    square = g.rand_mask(3, 6, p=0.6)
    square[:, 1] = True
    with g.case("a 2-D (L_q, L_k) mask, shared by every batch element and head"):
        out, weights = _call(_build(candidate, d_model, num_heads, ref), query, key, value, square)
        # mask.unsqueeze(1), right for (B, L_q, L_k), turns (L_q, L_k) into (L_q, 1, L_k): with H = L_q
        # here it broadcasts silently, query row h masking every query of head h.
        as_3d = {"the 2-D mask given a head axis as if it were (B, L_q, L_k) (unsqueeze(1)); an (L_q, L_k) "
                 "mask already lines up with the scores' last two axes":
                 _variant(ref, query, key, value, square[None, :, None, :])[1].detach()}
        g.assert_close(weights, ref(query, key, value, mask=square)[1], what="weights", mistakes=as_3d,
                       hint="a 2-D mask has no batch axis: it must line up with the last two axes of the "
                            "(B, H, L_q, L_k) scores (broadcasting aligns from the right)")
        g.assert_close(out, ref(query, key, value, mask=square)[0], what="out", hint=hint)
    empty = mask.clone()
    empty[1, 2] = False
    with g.case("a query whose keys are all masked gets zero weights (not NaN)"):
        _, weights = _call(_build(candidate, d_model, num_heads, ref), query, key, value, empty)
        g.assert_close(weights, ref(query, key, value, mask=empty)[1], what="weights",
                       hint="softmax over a row of -inf is 0/0; a row with no allowed key should give all-zero "
                            "weights (course_lib.attention.masked_softmax does this)")

    d_model, num_heads = 16, 8
    ref = _reference(g, d_model, num_heads)
    x = g.randn(1, 4, d_model)
    with g.case("8 heads of width 2 (d_model=16)"):
        out, _ = _call(_build(candidate, d_model, num_heads, ref), x, x, x)
        g.assert_close(out, ref(x, x, x)[0], hint=hint, mistakes=_mistakes(ref, x, x, x), what="out")
    with g.case("raises ValueError when d_model=12 is not divisible by num_heads=5"):
        g.expect_value_error(lambda: candidate(12, 5),
                             "check that num_heads divides d_model first, and name num_heads")
