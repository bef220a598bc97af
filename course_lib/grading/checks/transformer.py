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
from course_lib.i18n import tr
from course_lib.masks import causal_mask, combine_masks, padding_mask
from course_lib.norm import Residual
from course_lib.transformer import DecoderLayer, EncoderLayer

D, H, FF = 16, 4, 32

def _encoder_names() -> str:
    return (tr("self_attn = Residual(d_model, <self-attention: a MultiHeadAttention subclass>, norm_first, "
               "dropout) and ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, "
               "dropout)",
               "self_attn = Residual(d_model, <自注意力：MultiHeadAttention "
               "的子类>, norm_first, dropout)，ffn = Residual(d_model, "
               "PositionwiseFFN(d_model, d_ff, dropout), norm_first, "
               "dropout)"))


def _decoder_names() -> str:
    return (tr("self_attn, cross_attn and ffn, each a Residual around a MultiHeadAttention subclass "
               "(twice) and a PositionwiseFFN",
               "self_attn、cross_attn 和 ffn，分别是包着 MultiHeadAttention "
               "子类（两次）和 PositionwiseFFN 的 Residual"))


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
    g.expect(isinstance(module, nn.Module), tr(f"{getattr(candidate, '__name__', 'the layer')} should be an "
                f"nn.Module (subclass nn.Module)",
                                               f"{getattr(candidate, '__name__', 'the layer')} 应是 "
                                               f"nn.Module（继承 nn.Module）"))
    module = module.double().eval()
    ours, theirs = set(module.state_dict()), set(reference.state_dict())
    if ours != theirs:
        def some(keys: list[str]) -> str:
            return f"{keys[:4]}{' …' if len(keys) > 4 else ''}"

        raise CaseFailed(
            tr(f"the grader copies the reference weights by name and could not: missing {some(sorted(theirs - ours))}, "
               f"unexpected {some(sorted(ours - theirs))}. Build the layer from course_lib parts with these "
               f"attributes: {names}",
               f"评分程序按名字复制参考权重，但没能成功：缺少 {some(sorted(theirs - ours))}，"
               f"多出 {some(sorted(ours - theirs))}。请用 course_lib 的组件构造这一层，"
               f"并使用这些属性：{names}")
        )
    module.load_state_dict(reference.state_dict())
    return module


def _output(got) -> Tensor:
    if isinstance(got, tuple):
        raise CaseFailed(tr("the layer returned a tuple; return only the output tensor (keep the attention "
                            "weights in an attribute instead)",
                            "这一层返回了元组；请只返回输出张量（注意力权重可以存到属性里）"))
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
        return tr("pre-LN: each sub-layer reads LN(x) and its output is added to the un-normalised x",
                  "pre-LN：每个子层读入 LN(x)，其输出加到未归一化的 x 上")
    return tr("post-LN (the paper): each sub-layer reads x and the sum x + sublayer(x) is normalised",
              "post-LN（论文的做法）：每个子层读入 x，对和 x + sublayer(x) 做归一化")


def _other_placement(norm_first: bool) -> str:
    if norm_first:
        return (tr("post-LN wiring (the norm applied after the sum) although norm_first=True asks for pre-LN, "
                   "x + sublayer(LN(x))",
                   "用了 post-LN 的接法（归一化在求和之后），而 norm_first=True 要求 pre-LN，"
                   "x + sublayer(LN(x))"))
    return (tr("pre-LN wiring (the residual added after the norm, x + sublayer(LN(x))) although norm_first=False "
               "asks for post-LN, LN(x + sublayer(x))",
               "用了 pre-LN 的接法（残差在归一化之后相加，x + sublayer(LN(x))），而 "
               "norm_first=False 要求 post-LN，LN(x + sublayer(x))"))


# -- EncoderLayer ------------------------------------------------------------------------------


@exercise("transformer.EncoderLayer", name="EncoderLayer", chapter="10")
def _(candidate, g):
    """EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first): self-attention then FFN, each in a Residual."""
    B, S = 3, 6
    x = 2 * g.randn(B, S, D) + 0.5
    mask = padding_mask([6, 4, 2], S)
    for norm_first in (False, True):
        with g.case(tr(f"norm_first={norm_first}: a padded batch (3, 6, {D}) matches the reference",
                       f"norm_first={norm_first}：带填充的批量 (3, 6, {D}) 与参考实现一致"), points=2):
            reference = _randomised(EncoderLayer(D, H, FF, 0.0, norm_first), g)
            module = _build(candidate, g, reference, _encoder_names(), dropout=0.0, norm_first=norm_first)
            with torch.no_grad():
                got = _output(module(x.clone(), mask.clone()))
                mistakes = {
                    _other_placement(norm_first): _encoder(reference, x, mask, not norm_first),
                    tr("the self-attention mask is not applied: padded positions are attended to",
                       "没有施加自注意力掩码：填充位置也被关注了"):
                        reference(x, None),
                    tr("the FFN has no residual connection (its input is never added back)",
                       "FFN 没有残差连接（它的输入从未加回来）"):
                        _encoder(reference, x, mask, norm_first, ffn_residual=False),
                    tr("the self-attention sub-layer has no residual connection", "自注意力子层没有残差连接"):
                        _encoder(reference, x, mask, norm_first, attn_residual=False),
                }
                g.assert_close(got, reference(x, mask), mistakes=mistakes, hint=_placement_hint(norm_first))
    with g.case(tr("the mask is optional: forward(x) attends everywhere", "掩码是可选的：forward(x) 关注所有位置")):
        reference = _randomised(EncoderLayer(D, H, FF, 0.0, False), g)
        module = _build(candidate, g, reference, _encoder_names(), dropout=0.0, norm_first=False)
        with torch.no_grad():
            g.assert_close(_output(module(x)), reference(x), hint=tr("default mask=None", "默认 mask=None"))
    with g.case(tr("dropout is passed on: to both Residuals, the attention and the FFN; in training mode two "
                   "calls differ, in eval mode they agree",
                   "dropout 被传了下去：传给两个 Residual、注意力和 FFN；训练模式下两次调用结果不同，eval 模式下相同")):
        module = candidate(D, H, FF, dropout=0.5, norm_first=False).double()
        missing = _without_dropout(module, 0.5)
        if missing:
            raise CaseFailed(tr(f"dropout=0.5 did not reach {missing}: pass dropout to the attention, the FFN and "
                                "both Residuals, as the task's Residual(d_model, sublayer, norm_first, dropout) says",
                                f"dropout=0.5 没有传到 {missing}：请把 dropout 传给注意力、FFN 和两个 Residual，"
                                "如题目中的 Residual(d_model, sublayer, norm_first, dropout) 所示"))
        with torch.no_grad():
            module.train()
            g.expect(not torch.equal(module(x), module(x)), tr("with dropout=0.5 in training mode the output should be "
                        "random: pass dropout to the attention, the FFN and both Residuals",
                                                               "训练模式下 dropout=0.5 时输出应是随机的：请把 dropout 传给注意力、FFN "
                                                               "和两个 Residual"))
            module.eval()
            g.expect(torch.equal(module(x), module(x)), tr("in eval mode the layer should be deterministic",
                                                           "eval 模式下这一层应是确定的"))


def _without_dropout(module, p: float) -> str:
    """Where the encoder layer's dropout ``p`` did not arrive: each Residual's and each sub-layer's."""
    places = {
        tr("self_attn's Residual", "self_attn 的 Residual"): lambda m: m.self_attn.dropout.p,
        tr("the attention weights (MultiHeadAttention's dropout)", "注意力权重（MultiHeadAttention 的 dropout）"):
            lambda m: m.self_attn.sublayer.dropout,
        tr("ffn's Residual", "ffn 的 Residual"): lambda m: m.ffn.dropout.p,
        tr("the FFN (PositionwiseFFN's dropout)", "FFN（PositionwiseFFN 的 dropout）"):
            lambda m: m.ffn.sublayer.dropout.p,
    }
    missing = []
    for where, read in places.items():
        try:
            value = read(module)
        except AttributeError:
            value = None
        if not (isinstance(value, (int, float)) and value == p):
            missing.append(where)
    return ", ".join(missing)


# -- DecoderLayer ------------------------------------------------------------------------------


@exercise("transformer.DecoderLayer", name="DecoderLayer", chapter="10")
def _(candidate, g):
    """DecoderLayer(...): masked self-attention, cross-attention to memory, FFN; three Residuals."""
    B, L = 3, 5  # source and target of the same length, so that every wrong wiring runs and can be named
    x, memory = 2 * g.randn(B, L, D) + 0.5, g.randn(B, L, D) * 1.5 - 0.3
    src_mask = padding_mask([5, 3, 2], L)  # (B, 1, S)
    self_mask = combine_masks(causal_mask(L), padding_mask([5, 4, 3], L))  # (B, T, T)
    for norm_first in (False, True):
        with g.case(tr(f"norm_first={norm_first}: causal + padding masks, matches the reference",
                       f"norm_first={norm_first}：因果掩码加填充掩码，与参考实现一致"), points=2):
            reference = _randomised(DecoderLayer(D, H, FF, 0.0, norm_first), g)
            module = _build(candidate, g, reference, _decoder_names(), dropout=0.0, norm_first=norm_first)
            with torch.no_grad():
                got = _output(module(x.clone(), memory.clone(), self_mask.clone(), src_mask.clone()))
                ref = lambda **kw: _decoder(reference, x, memory, self_mask, src_mask, norm_first, **kw)  # noqa: E731
                mistakes = {
                    _other_placement(norm_first): _decoder(reference, x, memory, self_mask, src_mask, not norm_first),
                    tr("cross-attention attends to the decoder's own stream instead of the encoder memory "
                       "(keys and values must come from memory)",
                       "交叉注意力关注的是解码器自己的流，而不是编码器的 memory（键和值必须来自 memory）"): ref(keys="decoder"),
                    tr("the self-attention mask is not applied: each position sees the future",
                       "没有施加自注意力掩码：每个位置都看到了未来"):
                        _decoder(reference, x, memory, None, src_mask, norm_first),
                    tr("cross-attention is given the decoder's self-attention (causal) mask instead of the "
                       "source padding mask",
                       "交叉注意力拿到的是解码器自注意力的（因果）掩码，而不是源序列的填充掩码"): _decoder(reference, x, memory, self_mask, self_mask, norm_first),
                    tr("cross-attention ignores the source padding mask", "交叉注意力忽略了源序列的填充掩码"):
                        _decoder(reference, x, memory, self_mask, None, norm_first),
                    tr("the FFN has no residual connection", "FFN 没有残差连接"): ref(ffn_residual=False),
                    tr("the two masks swapped: self-attention needs self_mask (causal and target padding), "
                       "cross-attention cross_mask (source padding)",
                       "两个掩码弄反了：自注意力需要 self_mask（因果加目标填充），交叉注意力需要 cross_mask（源填充）"):
                        _decoder(reference, x, memory, src_mask, self_mask, norm_first),
                    tr("cross-attention takes its queries from the memory and its keys and values from the "
                       "decoder stream; the queries come from x, keys and values from memory",
                       "交叉注意力的查询取自 memory，键和值取自解码器的流；应当查询来自 x，键和值来自 memory"):
                        ref(keys="queries from memory"),
                }
                parts = (("s", tr("self-attention", "自注意力")), ("c", tr("cross-attention", "交叉注意力")),
                         ("a", "FFN"))
                for letter, part in parts:
                    missing = (tr(f"the {part} sub-layer's LayerNorm is missing (every sub-layer has its own norm, "
                                  f"before the sub-layer)", f"{part}子层缺少 LayerNorm（每个子层都有自己的归一化，"
                                  f"位于子层之前）") if norm_first else
                               tr(f"the {part} sub-layer's LayerNorm is missing (every sub-layer has its own norm, "
                                  f"after the sub-layer)", f"{part}子层缺少 LayerNorm（每个子层都有自己的归一化，"
                                  f"位于子层之后）"))
                    mistakes[missing] = ref(norms="sca".replace(letter, ""))
                if norm_first:
                    mistakes[tr("the memory is normalised by the cross-attention's LayerNorm; only the decoder "
                                "stream x is (the encoder already normalised its output)",
                                "memory 被交叉注意力的 LayerNorm 归一化了；只应归一化解码器的流 x（编码器已经归一化了它的输出）")] = ref(keys="normalised memory")
                g.assert_close(got, reference(x, memory, self_mask, src_mask), mistakes=mistakes,
                               hint=_placement_hint(norm_first))
    with g.case(tr("a source longer than the target: memory (3, 7, 16), target (3, 4, 16)",
                   "源序列比目标长：memory (3, 7, 16)，目标 (3, 4, 16)")):
        reference = _randomised(DecoderLayer(D, H, FF, 0.0, False), g)
        module = _build(candidate, g, reference, _decoder_names(), dropout=0.0, norm_first=False)
        memory7, x4 = g.randn(B, 7, D), g.randn(B, 4, D)
        masks = (causal_mask(4), padding_mask([7, 5, 1], 7))
        with torch.no_grad():
            g.assert_close(_output(module(x4, memory7, *masks)), reference(x4, memory7, *masks),
                           hint=tr("cross-attention: queries from the decoder (T = 4), keys and values from the "
                                   "memory (S = 7)",
                                   "交叉注意力：查询来自解码器（T = 4），键和值来自 memory（S = 7）"))
    with g.case(tr("the masks are optional: forward(x, memory)", "掩码是可选的：forward(x, memory)")):
        reference = _randomised(DecoderLayer(D, H, FF, 0.0, True), g)
        module = _build(candidate, g, reference, _decoder_names(), dropout=0.0, norm_first=True)
        with torch.no_grad():
            g.assert_close(_output(module(x4, memory7)), reference(x4, memory7),
                           hint=tr("default self_mask=None and cross_mask=None",
                                   "默认 self_mask=None 和 cross_mask=None"))
