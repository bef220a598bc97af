"""Chapter 10 variants: EncoderLayer and DecoderLayer, built from course_lib parts."""

from torch import nn

from course_lib.ffn import PositionwiseFFN
from course_lib.multihead import MultiHeadAttention
from course_lib.norm import Residual

from . import correct, wrong

EL, DL = "transformer.EncoderLayer", "transformer.DecoderLayer"


class Attend(MultiHeadAttention):
    def forward(self, x, source=None, mask=None):
        source = x if source is None else source
        return super().forward(x, source, source, mask)


class SelfAttend(MultiHeadAttention):
    def forward(self, x, mask=None):
        return super().forward(x, x, x, mask)


class CrossAttend(MultiHeadAttention):
    def forward(self, x, memory, mask=None):
        return super().forward(x, memory, memory, mask)


class _Enc(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)
        self.norm_first = norm_first

    def forward(self, x, mask=None):
        x, self.weights = self.self_attn(x, None, mask)
        return self.ffn(x)


class EncResidual(_Enc):
    pass


class EncSelfAttend(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, SelfAttend(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, mask=None):
        out, _ = self.self_attn(x, mask=mask)
        return self.ffn(out)


class EncNoMask(_Enc):
    def forward(self, x, mask=None):
        x, _ = self.self_attn(x)
        return self.ffn(x)


class EncFfnNoResidual(_Enc):
    def forward(self, x, mask=None):
        x, _ = self.self_attn(x, None, mask)
        return self.ffn.norm(self.ffn.sublayer(x))


class EncAlwaysPostLN(_Enc):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__(d_model, num_heads, d_ff, dropout, False)


class EncNoDropout(_Enc):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__(d_model, num_heads, d_ff, 0.0, norm_first)


class EncNoResidualDropout(_Enc):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__(d_model, num_heads, d_ff, dropout, norm_first)
        self.self_attn = Residual(d_model, Attend(d_model, num_heads, dropout), norm_first)  # no residual dropout
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first)


class EncNoAttentionDropout(_Enc):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__(d_model, num_heads, d_ff, dropout, norm_first)
        self.self_attn = Residual(d_model, Attend(d_model, num_heads), norm_first, dropout)  # weights never dropped


class _Dec(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, Attend(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)
        self.norm_first = norm_first

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.self_attn(x, None, self_mask)
        x, _ = self.cross_attn(x, memory, cross_mask)
        return self.ffn(x)


class DecResidual(_Dec):
    pass


class DecNamedSublayers(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, SelfAttend(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, CrossAttend(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x = self.self_attn(x, mask=self_mask)[0]
        x = self.cross_attn(x, memory, mask=cross_mask)[0]
        return self.ffn(x)


class DecSwappedMasks(_Dec):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        if self_mask is not None and cross_mask is not None and x.shape[1] != memory.shape[1]:
            return super().forward(x, memory, self_mask, cross_mask)  # would not broadcast
        return super().forward(x, memory, cross_mask, self_mask)


class DecQueriesFromMemory(_Dec):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.self_attn(x, None, self_mask)
        if x.shape[1] == memory.shape[1]:
            x, _ = self.cross_attn(memory, x, cross_mask)
        else:
            x, _ = self.cross_attn(x, memory, cross_mask)
        return self.ffn(x)


class DecNoCrossNorm(_Dec):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.self_attn(x, None, self_mask)
        inner = self.cross_attn.norm(x) if self.norm_first else x
        x = x + self.cross_attn.sublayer(inner, memory, cross_mask)[0]  # post-LN's norm forgotten
        return self.ffn(x)


class DecSelfKeysFromMemory(_Dec):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.cross_attn(x, x, cross_mask if x.shape[1] == memory.shape[1] else None)
        x, _ = self.self_attn(x, memory, self_mask if x.shape[1] == memory.shape[1] else None)
        return self.ffn(x)


class DecMemoryNormalised(_Dec):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.self_attn(x, None, self_mask)
        x, _ = self.cross_attn(x, self.cross_attn.norm(memory) if self.norm_first else memory, cross_mask)
        return self.ffn(x)


VARIANTS = [
    correct(EL, "Residual around Attend", EncResidual),
    correct(EL, "Residual around a self-attention sub-layer", EncSelfAttend),
    wrong(EL, "mask not passed", EncNoMask, "mask is not applied"),
    wrong(EL, "FFN without residual", EncFfnNoResidual, "no residual"),
    wrong(EL, "norm_first ignored", EncAlwaysPostLN, "post-LN wiring"),
    wrong(EL, "dropout not passed on", EncNoDropout, "dropout"),
    wrong(EL, "the Residuals without dropout", EncNoResidualDropout, "self_attn's Residual, ffn's Residual"),
    wrong(EL, "the attention weights without dropout", EncNoAttentionDropout, "the attention weights"),
    correct(DL, "Residual around Attend", DecResidual),
    correct(DL, "named self and cross sub-layers", DecNamedSublayers),
    wrong(DL, "masks swapped", DecSwappedMasks, "mask"),
    wrong(DL, "queries from memory", DecQueriesFromMemory, "queries|memory"),
    wrong(DL, "cross-attention's LayerNorm missing", DecNoCrossNorm, "LayerNorm|norm"),
    wrong(DL, "self- and cross-attention swapped", DecSelfKeysFromMemory, "memory|order|swapped"),
    wrong(DL, "memory normalised", DecMemoryNormalised, "memory is normalised"),
]
