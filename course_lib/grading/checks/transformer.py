"""Checks for chapter 10's layer exercises: EncoderLayer and DecoderLayer.

The learner's layer is graded by its wiring, not its initialisation: the grader builds the
reference layer with random weights and loads them into the candidate with
``load_state_dict``, so the candidate must use the reference's attribute names (the
exercise text lists them). Each known wrong wiring (the LayerNorm placement of the other
``norm_first`` setting, a sub-layer without its residual, the self-attention mask not
applied, cross-attention reading the decoder stream instead of the memory, or given the
causal mask instead of the source mask) is computed from the reference's own parts and
listed as a ``mistake`` so that the hint names it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from course_lib.grading.registry import CaseFailed, Grader, exercise
from course_lib.masks import causal_mask, combine_masks, padding_mask
from course_lib.norm import Residual
from course_lib.transformer import DecoderLayer, EncoderLayer

D, H, FF = 16, 4, 32

_ENCODER_NAMES = ("self_attn = Residual(d_model, <self-attention: a MultiHeadAttention subclass>, norm_first, "
                  "dropout) and ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, "
                  "dropout)")
_DECODER_NAMES = ("self_attn, cross_attn and ffn, each a Residual around a MultiHeadAttention subclass "
                  "(twice) and a PositionwiseFFN")


def _randomised(layer: nn.Module, g: Grader) -> nn.Module:
    """The reference layer in float64 with random weights: unit LayerNorms would hide a misplaced norm."""
    layer = layer.double().eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(g.randn(*p.shape) * (0.3 if p.dim() > 1 else 0.5) + (1.0 if p.dim() == 1 else 0.0))
    return layer


def _build(candidate, g: Grader, reference: nn.Module, names: str, **kwargs) -> nn.Module:
    """Construct the candidate like the reference and give it the reference's weights."""
    module = candidate(D, H, FF, **kwargs)
    g.expect(isinstance(module, nn.Module), f"{getattr(candidate, '__name__', 'the layer')} should be an "
             f"nn.Module (subclass nn.Module)")
    module = module.double().eval()
    ours, theirs = set(module.state_dict()), set(reference.state_dict())
    if ours != theirs:
        def some(keys: list[str]) -> str:
            return f"{keys[:4]}{' …' if len(keys) > 4 else ''}"

        raise CaseFailed(
            f"the grader copies the reference weights by name and could not: missing {some(sorted(theirs - ours))}, "
            f"unexpected {some(sorted(ours - theirs))}. Build the layer from course_lib parts with these "
            f"attributes: {names}"
        )
    module.load_state_dict(reference.state_dict())
    return module


def _output(got) -> Tensor:
    if isinstance(got, tuple):
        raise CaseFailed("the layer returned a tuple; return only the output tensor (keep the attention "
                         "weights in an attribute instead)")
    return got


def _sublayer(res: Residual, x: Tensor, fn: Callable[[Tensor], Tensor], norm_first: bool, *,
              residual: bool = True, norm: bool = True) -> Tensor:
    """A Residual computed by hand, optionally with its residual connection or its LayerNorm forgotten."""
    ln = res.norm if norm else (lambda t: t)
    out = fn(ln(x) if norm_first else x)
    if norm_first:
        return x + out if residual else out
    return ln(x + out) if residual else ln(out)


def _encoder(layer: EncoderLayer, x: Tensor, mask: Tensor | None, norm_first: bool, *,
             ffn_residual: bool = True, attn_residual: bool = True) -> Tensor:
    attn = layer.self_attn.sublayer
    x = _sublayer(layer.self_attn, x, lambda t: attn(t, mask)[0], norm_first, residual=attn_residual)
    return _sublayer(layer.ffn, x, layer.ffn.sublayer, norm_first, residual=ffn_residual)


def _decoder(layer: DecoderLayer, x: Tensor, memory: Tensor, self_mask, cross_mask, norm_first: bool, *,
             keys: str = "memory", ffn_residual: bool = True, norms: str = "sca") -> Tensor:
    """The decoder layer by hand; ``norms`` lists the sub-layers (s, c, a = self, cross, ffn) that keep their norm."""
    self_attn, cross_attn = layer.self_attn.sublayer, layer.cross_attn.sublayer
    x = _sublayer(layer.self_attn, x, lambda t: self_attn(t, self_mask)[0], norm_first, norm="s" in norms)
    if keys == "memory":
        x = _sublayer(layer.cross_attn, x, lambda t: cross_attn(t, memory, cross_mask)[0], norm_first,
                      norm="c" in norms)
    elif keys == "queries from memory":  # the roles swapped: memory asks, the decoder stream answers
        x = _sublayer(layer.cross_attn, memory, lambda t: cross_attn(t, x, cross_mask)[0], norm_first)
    elif keys == "normalised memory":  # pre-LN: the memory passed through the decoder's norm
        x = _sublayer(layer.cross_attn, x, lambda t: cross_attn(t, layer.cross_attn.norm(memory), cross_mask)[0],
                      norm_first)
    else:  # the decoder stream itself as keys and values
        x = _sublayer(layer.cross_attn, x, lambda t: cross_attn(t, t, cross_mask)[0], norm_first)
    return _sublayer(layer.ffn, x, layer.ffn.sublayer, norm_first, residual=ffn_residual, norm="a" in norms)


def _placement_hint(norm_first: bool) -> str:
    if norm_first:
        return "pre-LN: each sub-layer reads LN(x) and its output is added to the un-normalised x"
    return "post-LN (the paper): each sub-layer reads x and the sum x + sublayer(x) is normalised"


def _other_placement(norm_first: bool) -> str:
    if norm_first:
        return ("post-LN wiring (the norm applied after the sum) although norm_first=True asks for pre-LN, "
                "x + sublayer(LN(x))")
    return ("pre-LN wiring (the residual added after the norm, x + sublayer(LN(x))) although norm_first=False "
            "asks for post-LN, LN(x + sublayer(x))")


# -- EncoderLayer ------------------------------------------------------------------------------


@exercise("transformer.EncoderLayer", name="EncoderLayer", chapter="10")
def _(candidate, g):
    """EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first): self-attention then FFN, each in a Residual."""
    B, S = 3, 6
    x = 2 * g.randn(B, S, D) + 0.5
    mask = padding_mask([6, 4, 2], S)
    for norm_first in (False, True):
        with g.case(f"norm_first={norm_first}: a padded batch (3, 6, {D}) matches the reference", points=2):
            reference = _randomised(EncoderLayer(D, H, FF, 0.0, norm_first), g)
            module = _build(candidate, g, reference, _ENCODER_NAMES, dropout=0.0, norm_first=norm_first)
            with torch.no_grad():
                got = _output(module(x.clone(), mask.clone()))
                mistakes = {
                    _other_placement(norm_first): _encoder(reference, x, mask, not norm_first),
                    "the self-attention mask is not applied: padded positions are attended to":
                        reference(x, None),
                    "the FFN has no residual connection (its input is never added back)":
                        _encoder(reference, x, mask, norm_first, ffn_residual=False),
                    "the self-attention sub-layer has no residual connection":
                        _encoder(reference, x, mask, norm_first, attn_residual=False),
                }
                g.assert_close(got, reference(x, mask), mistakes=mistakes, hint=_placement_hint(norm_first))
    with g.case("the mask is optional: forward(x) attends everywhere"):
        reference = _randomised(EncoderLayer(D, H, FF, 0.0, False), g)
        module = _build(candidate, g, reference, _ENCODER_NAMES, dropout=0.0, norm_first=False)
        with torch.no_grad():
            g.assert_close(_output(module(x)), reference(x), hint="default mask=None")
    with g.case("dropout is passed on: in training mode two calls differ, in eval mode they agree"):
        module = candidate(D, H, FF, dropout=0.5, norm_first=False).double()
        with torch.no_grad():
            module.train()
            g.expect(not torch.equal(module(x), module(x)), "with dropout=0.5 in training mode the output should be "
                     "random: pass dropout to the attention, the FFN and both Residuals")
            module.eval()
            g.expect(torch.equal(module(x), module(x)), "in eval mode the layer should be deterministic")


# -- DecoderLayer ------------------------------------------------------------------------------


@exercise("transformer.DecoderLayer", name="DecoderLayer", chapter="10")
def _(candidate, g):
    """DecoderLayer(...): masked self-attention, cross-attention to memory, FFN; three Residuals."""
    B, L = 3, 5  # source and target of the same length, so that every wrong wiring runs and can be named
    x, memory = 2 * g.randn(B, L, D) + 0.5, g.randn(B, L, D) * 1.5 - 0.3
    src_mask = padding_mask([5, 3, 2], L)  # (B, 1, S)
    self_mask = combine_masks(causal_mask(L), padding_mask([5, 4, 3], L))  # (B, T, T)
    for norm_first in (False, True):
        with g.case(f"norm_first={norm_first}: causal + padding masks, matches the reference", points=2):
            reference = _randomised(DecoderLayer(D, H, FF, 0.0, norm_first), g)
            module = _build(candidate, g, reference, _DECODER_NAMES, dropout=0.0, norm_first=norm_first)
            with torch.no_grad():
                got = _output(module(x.clone(), memory.clone(), self_mask.clone(), src_mask.clone()))
                ref = lambda **kw: _decoder(reference, x, memory, self_mask, src_mask, norm_first, **kw)  # noqa: E731
                mistakes = {
                    _other_placement(norm_first): _decoder(reference, x, memory, self_mask, src_mask, not norm_first),
                    "cross-attention attends to the decoder's own stream instead of the encoder memory "
                    "(keys and values must come from memory)": ref(keys="decoder"),
                    "the self-attention mask is not applied: each position sees the future":
                        _decoder(reference, x, memory, None, src_mask, norm_first),
                    "cross-attention is given the decoder's self-attention (causal) mask instead of the "
                    "source padding mask": _decoder(reference, x, memory, self_mask, self_mask, norm_first),
                    "cross-attention ignores the source padding mask":
                        _decoder(reference, x, memory, self_mask, None, norm_first),
                    "the FFN has no residual connection": ref(ffn_residual=False),
                    "the two masks swapped: self-attention needs self_mask (causal and target padding), "
                    "cross-attention cross_mask (source padding)":
                        _decoder(reference, x, memory, src_mask, self_mask, norm_first),
                    "cross-attention takes its queries from the memory and its keys and values from the "
                    "decoder stream; the queries come from x, keys and values from memory":
                        ref(keys="queries from memory"),
                }
                for letter, part in (("s", "self-attention"), ("c", "cross-attention"), ("a", "FFN")):
                    mistakes[f"the {part} sub-layer's LayerNorm is missing (every sub-layer has its own norm, "
                             f"{'before' if norm_first else 'after'} the sub-layer)"] = \
                        ref(norms="sca".replace(letter, ""))
                if norm_first:
                    mistakes["the memory is normalised by the cross-attention's LayerNorm; only the decoder "
                             "stream x is (the encoder already normalised its output)"] = ref(keys="normalised memory")
                g.assert_close(got, reference(x, memory, self_mask, src_mask), mistakes=mistakes,
                               hint=_placement_hint(norm_first))
    with g.case("a source longer than the target: memory (3, 7, 16), target (3, 4, 16)"):
        reference = _randomised(DecoderLayer(D, H, FF, 0.0, False), g)
        module = _build(candidate, g, reference, _DECODER_NAMES, dropout=0.0, norm_first=False)
        memory7, x4 = g.randn(B, 7, D), g.randn(B, 4, D)
        masks = (causal_mask(4), padding_mask([7, 5, 1], 7))
        with torch.no_grad():
            g.assert_close(_output(module(x4, memory7, *masks)), reference(x4, memory7, *masks),
                           hint="cross-attention: queries from the decoder (T = 4), keys and values from the "
                                "memory (S = 7)")
    with g.case("the masks are optional: forward(x, memory)"):
        reference = _randomised(DecoderLayer(D, H, FF, 0.0, True), g)
        module = _build(candidate, g, reference, _DECODER_NAMES, dropout=0.0, norm_first=True)
        with torch.no_grad():
            g.assert_close(_output(module(x4, memory7)), reference(x4, memory7),
                           hint="default self_mask=None and cross_mask=None")
