"""Held-out learner-style solutions for chapters 10-13 (written from the task texts only)."""
import bisect
import math
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.embedding import parameter_count
from course_lib.ffn import PositionwiseFFN
from course_lib.masks import causal_mask, combine_masks, padding_mask
from course_lib.multihead import MultiHeadAttention
from course_lib.norm import Residual
from course_lib.rnn import RNNConfig, RNNSeq2Seq
from course_lib.transformer import TransformerConfig


# =====================================================================================
# Attend helpers (the notebook's first cell of chapter 10), several styles
# =====================================================================================
class Attend_a(MultiHeadAttention):
    """Queries from x, keys/values from source (x if None)."""

    def forward(self, x, source=None, mask=None):
        src = x if source is None else source
        return super().forward(x, src, src, mask)


class Attend_b(MultiHeadAttention):
    def forward(self, x, source=None, mask=None):
        if source is None:
            source = x
        out, weights = MultiHeadAttention.forward(self, query=x, key=source, value=source, mask=mask)
        return out, weights


class Attend_noattn_dropout(MultiHeadAttention):
    """Used by a wrong variant: forces dropout 0 on the attention weights."""

    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__(d_model, num_heads, 0.0)

    def forward(self, x, source=None, mask=None):
        src = x if source is None else source
        return super().forward(x, src, src, mask)


# =====================================================================================
# transformer.EncoderLayer
# =====================================================================================
class EncoderLayer_v1(nn.Module):
    """Residual around Attend (self-attention, source None), Residual around FFN."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, mask=None):
        x, _ = self.self_attn(x, None, mask)
        return self.ffn(x)


class EncoderLayer_v2(nn.Module):
    """Keyword arguments everywhere, ffn built first, out[0] indexing, extra plain attributes."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.d_model = d_model
        self.norm_first = norm_first
        ffn = PositionwiseFFN(d_model=d_model, d_ff=d_ff, dropout=dropout)
        attn = Attend_b(d_model, num_heads, dropout=dropout)
        self.ffn = Residual(d_model, ffn, norm_first=norm_first, dropout=dropout)
        self.self_attn = Residual(d_model, attn, norm_first=norm_first, dropout=dropout)

    def forward(self, x, mask=None):
        out = self.self_attn(x, mask=mask)
        h = out[0] if isinstance(out, tuple) else out
        h = self.ffn(h)
        return h


class EncoderLayer_w1(nn.Module):
    """WRONG: forgets to pass the mask to the self-attention (padding is attended)."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, mask=None):
        x, _ = self.self_attn(x)
        return self.ffn(x)


class EncoderLayer_w2(nn.Module):
    """WRONG: passes x explicitly as source, so in pre-LN keys/values are the un-normalised x."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, mask=None):
        x, _ = self.self_attn(x, x, mask)
        return self.ffn(x)


class EncoderLayer_w3(nn.Module):
    """WRONG: ignores norm_first (always post-LN)."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), False, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), False, dropout)

    def forward(self, x, mask=None):
        x, _ = self.self_attn(x, None, mask)
        return self.ffn(x)


class EncoderLayer_w4(nn.Module):
    """WRONG: wiring swapped, FFN before self-attention."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, mask=None):
        x = self.ffn(x)
        x, _ = self.self_attn(x, None, mask)
        return x


class EncoderLayer_w5(nn.Module):
    """WRONG: the Residuals get no dropout (residual dropout forgotten); only attention/FFN dropout."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first)

    def forward(self, x, mask=None):
        x, _ = self.self_attn(x, None, mask)
        return self.ffn(x)


class EncoderLayer_w6(nn.Module):
    """WRONG: MultiHeadAttention built without the dropout (attention-weight dropout missing)."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_noattn_dropout(d_model, num_heads), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, mask=None):
        x, _ = self.self_attn(x, None, mask)
        return self.ffn(x)


class EncoderLayer_w7(nn.Module):
    """WRONG: variable typo, the FFN sub-layer reads the layer input; the attention output is discarded."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, mask=None):
        h, _ = self.self_attn(x, None, mask)  # noqa: F841 (bug: unused)
        return self.ffn(x)


# =====================================================================================
# transformer.DecoderLayer
# =====================================================================================
class DecoderLayer_v1(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.self_attn(x, None, self_mask)
        x, _ = self.cross_attn(x, memory, cross_mask)
        return self.ffn(x)


class DecoderLayer_v2(nn.Module):
    """Keyword calls, a small wrap() helper, [0] indexing."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()

        def wrap(module):
            return Residual(d_model, module, norm_first=norm_first, dropout=dropout)

        self.self_attn = wrap(Attend_b(d_model, num_heads, dropout=dropout))
        self.cross_attn = wrap(Attend_b(d_model, num_heads, dropout=dropout))
        self.ffn = wrap(PositionwiseFFN(d_model, d_ff, dropout=dropout))

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        h = self.self_attn(x, mask=self_mask)[0]
        h = self.cross_attn(h, source=memory, mask=cross_mask)[0]
        return self.ffn(h)


class DecoderLayer_w1(nn.Module):
    """WRONG: forgets the self-attention mask (no causal mask: sees the future)."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.self_attn(x)
        x, _ = self.cross_attn(x, memory, cross_mask)
        return self.ffn(x)


class DecoderLayer_w2(nn.Module):
    """WRONG: in pre-LN also normalises the memory with the cross-attention's LayerNorm."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.self_attn(x, None, self_mask)
        mem = self.cross_attn.norm(memory) if self.norm_first else memory
        x, _ = self.cross_attn(x, mem, cross_mask)
        return self.ffn(x)


class DecoderLayer_w3(nn.Module):
    """WRONG: self-attention gets x as explicit source (keys/values not normalised in pre-LN)."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.self_attn(x, x, self_mask)
        x, _ = self.cross_attn(x, memory, cross_mask)
        return self.ffn(x)


class DecoderLayer_w4(nn.Module):
    """WRONG: wiring swapped, cross-attention before the masked self-attention."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.cross_attn(x, memory, cross_mask)
        x, _ = self.self_attn(x, None, self_mask)
        return self.ffn(x)


class DecoderLayer_w5(nn.Module):
    """WRONG: variable typo, the FFN reads the self-attention output, discarding cross-attention."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        h1, _ = self.self_attn(x, None, self_mask)
        h2, _ = self.cross_attn(h1, memory, cross_mask)  # noqa: F841 (bug: unused)
        return self.ffn(h1)


class DecoderLayer_w6(nn.Module):
    """WRONG: cross_mask never passed (source padding attended)."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.self_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, Attend_a(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x, _ = self.self_attn(x, None, self_mask)
        x, _ = self.cross_attn(x, memory)
        return self.ffn(x)


# =====================================================================================
# decoding.greedy_decode
# =====================================================================================
def greedy_decode_v1(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            pad = model.config.pad_id
            if src_mask is None:
                src_mask = (src != pad).unsqueeze(1)
            memory = model.encode(src, src_mask)
            B = src.size(0)
            ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
            finished = torch.zeros(B, dtype=torch.bool, device=src.device)
            for _ in range(max_len):
                tgt_mask = causal_mask(ys.size(1), device=src.device)
                logits = model.decode(ys, memory, tgt_mask, src_mask)
                nxt = logits[:, -1, :].argmax(dim=-1)
                nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
                ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
                finished = finished | (nxt == eos_id)
                if bool(finished.all()):
                    break
    finally:
        model.train(was_training)
    return ys[:, 1:]


@torch.no_grad()
def greedy_decode_v2(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """Preallocated output buffer, tril mask, masked_fill, trimmed at the end."""
    mode = model.training
    model.eval()
    pad = model.config.pad_id
    mask = src_mask if src_mask is not None else (src != pad)[:, None, :]
    memory = model.encode(src, mask)
    B = src.shape[0]
    buf = torch.full((B, max_len + 1), pad, dtype=torch.long, device=src.device)
    buf[:, 0] = bos_id
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)
    length = 0
    for step in range(1, max_len + 1):
        tgt = buf[:, :step]
        causal = torch.tril(torch.ones(step, step, dtype=torch.bool, device=src.device))
        logits = model.decode(tgt, memory, causal, mask)
        token = logits[:, -1].argmax(-1).masked_fill(finished, pad)
        buf[:, step] = token
        finished |= token == eos_id
        length = step
        if finished.all():
            break
    if mode:
        model.train()
    return buf[:, 1:length + 1].clone()


def greedy_decode_v3(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """Python list of steps, inference_mode, stack at the end."""
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            pad = model.config.pad_id
            if src_mask is None:
                src_mask = (src != pad).unsqueeze(-2)
            memory = model.encode(src, src_mask)
            B = src.shape[0]
            prefix = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
            steps = []
            done = torch.zeros(B, dtype=torch.bool, device=src.device)
            while len(steps) < max_len and not bool(done.all()):
                t = prefix.shape[1]
                logits = model.decode(prefix, memory, causal_mask(t, device=src.device), src_mask)
                tok = torch.argmax(logits[:, t - 1, :], dim=-1)
                tok = torch.where(done, torch.full_like(tok, pad), tok)
                steps.append(tok)
                done = done | tok.eq(eos_id)
                prefix = torch.cat([prefix, tok[:, None]], 1)
            if steps:
                out = torch.stack(steps, dim=1)
            else:
                out = torch.empty(B, 0, dtype=torch.long, device=src.device)
        return out
    finally:
        model.train(was)


def greedy_decode_w1(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """WRONG: takes the argmax of the FIRST position's logits."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        pad = model.config.pad_id
        if src_mask is None:
            src_mask = (src != pad).unsqueeze(1)
        memory = model.encode(src, src_mask)
        B = src.size(0)
        ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = model.decode(ys, memory, causal_mask(ys.size(1), device=src.device), src_mask)
            nxt = logits[:, 0, :].argmax(dim=-1)
            nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            finished = finished | (nxt == eos_id)
            if finished.all():
                break
    model.train(was_training)
    return ys[:, 1:]


def greedy_decode_w2(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """WRONG: never restores the model's training mode."""
    model.eval()
    with torch.no_grad():
        pad = model.config.pad_id
        if src_mask is None:
            src_mask = (src != pad).unsqueeze(1)
        memory = model.encode(src, src_mask)
        B = src.size(0)
        ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = model.decode(ys, memory, causal_mask(ys.size(1), device=src.device), src_mask)
            nxt = logits[:, -1, :].argmax(dim=-1)
            nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            finished = finished | (nxt == eos_id)
            if finished.all():
                break
    return ys[:, 1:]


def greedy_decode_w3(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """WRONG: finished rows keep writing the argmax instead of pad_id."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        pad = model.config.pad_id
        if src_mask is None:
            src_mask = (src != pad).unsqueeze(1)
        memory = model.encode(src, src_mask)
        B = src.size(0)
        ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = model.decode(ys, memory, causal_mask(ys.size(1), device=src.device), src_mask)
            nxt = logits[:, -1, :].argmax(dim=-1)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            finished = finished | (nxt == eos_id)
            if finished.all():
                break
    model.train(was_training)
    return ys[:, 1:]


def greedy_decode_w4(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """WRONG: off-by-one, marks finished before writing, so the <eos> itself becomes pad."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        pad = model.config.pad_id
        if src_mask is None:
            src_mask = (src != pad).unsqueeze(1)
        memory = model.encode(src, src_mask)
        B = src.size(0)
        ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = model.decode(ys, memory, causal_mask(ys.size(1), device=src.device), src_mask)
            nxt = logits[:, -1, :].argmax(dim=-1)
            finished = finished | (nxt == eos_id)
            nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            if finished.all():
                break
    model.train(was_training)
    return ys[:, 1:]


def greedy_decode_w5(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """WRONG: default source mask of the wrong polarity (hides the real tokens)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        pad = model.config.pad_id
        if src_mask is None:
            src_mask = (src == pad).unsqueeze(1)
        memory = model.encode(src, src_mask)
        B = src.size(0)
        ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = model.decode(ys, memory, causal_mask(ys.size(1), device=src.device), src_mask)
            nxt = logits[:, -1, :].argmax(dim=-1)
            nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            finished = finished | (nxt == eos_id)
            if finished.all():
                break
    model.train(was_training)
    return ys[:, 1:]


def greedy_decode_w6(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """WRONG: never stops early; always runs max_len steps (output padded to max_len)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        pad = model.config.pad_id
        if src_mask is None:
            src_mask = (src != pad).unsqueeze(1)
        memory = model.encode(src, src_mask)
        B = src.size(0)
        ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = model.decode(ys, memory, causal_mask(ys.size(1), device=src.device), src_mask)
            nxt = logits[:, -1, :].argmax(dim=-1)
            nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            finished = finished | (nxt == eos_id)
    model.train(was_training)
    return ys[:, 1:]


def greedy_decode_w7(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """WRONG: returns the tokens with the leading <bos>."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        pad = model.config.pad_id
        if src_mask is None:
            src_mask = (src != pad).unsqueeze(1)
        memory = model.encode(src, src_mask)
        B = src.size(0)
        ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = model.decode(ys, memory, causal_mask(ys.size(1), device=src.device), src_mask)
            nxt = logits[:, -1, :].argmax(dim=-1)
            nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            finished = finished | (nxt == eos_id)
            if finished.all():
                break
    model.train(was_training)
    return ys


# =====================================================================================
# train.label_smoothed_loss
# =====================================================================================
def label_smoothed_loss_v1(logits, target, *, smoothing=0.1, ignore_index=-100):
    """log_softmax + gather, masked sum / count."""
    logp = torch.log_softmax(logits, dim=-1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    smooth = -logp.mean(dim=-1)
    loss = (1.0 - smoothing) * nll + smoothing * smooth
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    return loss.sum() / valid.sum()


def label_smoothed_loss_v2(logits, target, *, smoothing=0.1, ignore_index=-100):
    """Explicit smoothed target distribution q, boolean indexing, cross-entropy -(q*logp).sum."""
    V = logits.shape[-1]
    flat_logits = logits.reshape(-1, V)
    flat_target = target.reshape(-1)
    keep = flat_target != ignore_index
    z = flat_logits[keep]
    y = flat_target[keep].long()
    q = F.one_hot(y, V).to(z.dtype) * (1.0 - smoothing) + smoothing / V
    logp = F.log_softmax(z, dim=-1)
    return -(q * logp).sum(dim=-1).mean()


def label_smoothed_loss_v3(logits, target, *, smoothing=0.1, ignore_index=-100):
    """logsumexp algebra in float64, cast back to the logits' dtype."""
    z = logits.double()
    lse = torch.logsumexp(z, dim=-1)
    mask = (target != ignore_index)
    y = target.masked_fill(~mask, 0).long()
    z_y = torch.gather(z, -1, y[..., None])[..., 0]
    per_pos = lse - (1.0 - smoothing) * z_y - smoothing * z.mean(dim=-1)
    m = mask.to(z.dtype)
    return ((per_pos * m).sum() / m.sum()).to(logits.dtype)


def label_smoothed_loss_w1(logits, target, *, smoothing=0.1, ignore_index=-100):
    """WRONG: spreads epsilon over the V-1 wrong classes only (not torch's definition)."""
    V = logits.shape[-1]
    logp = torch.log_softmax(logits, dim=-1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    onehot = F.one_hot(safe, V).to(logp.dtype)
    q = onehot * (1.0 - smoothing) + (1 - onehot) * smoothing / (V - 1)
    loss = -(q * logp).sum(-1)
    return (loss * valid).sum() / valid.sum()


def label_smoothed_loss_w2(logits, target, *, smoothing=0.1, ignore_index=-100):
    """WRONG: averages over every position, ignored ones included (as zeros)."""
    logp = torch.log_softmax(logits, dim=-1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    loss = (1.0 - smoothing) * nll + smoothing * (-logp.mean(-1))
    return (loss * valid).mean()


def label_smoothed_loss_w3(logits, target, *, smoothing=0.1, ignore_index=-100):
    """WRONG: log(softmax(x)), unstable (inf/nan) for large logits."""
    p = torch.exp(logits) / torch.exp(logits).sum(-1, keepdim=True)
    logp = torch.log(p)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    loss = (1.0 - smoothing) * nll + smoothing * (-logp.mean(-1))
    return loss[valid].mean()


def label_smoothed_loss_w4(logits, target, *, smoothing=0.1, ignore_index=-100):
    """WRONG: hard-codes ignore_index = -100."""
    logp = torch.log_softmax(logits, dim=-1)
    valid = target != -100
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    loss = (1.0 - smoothing) * nll + smoothing * (-logp.mean(-1))
    return loss[valid].mean()


def label_smoothed_loss_w5(logits, target, *, smoothing=0.1, ignore_index=-100):
    """WRONG: missing the (1 - eps) factor on the NLL term."""
    logp = torch.log_softmax(logits, dim=-1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    loss = nll + smoothing * (-logp.mean(-1))
    return loss[valid].mean()


def label_smoothed_loss_w6(logits, target, *, smoothing=0.1, ignore_index=-100):
    """WRONG: uses sum over classes instead of mean for the smoothing term (missing 1/V)."""
    logp = torch.log_softmax(logits, dim=-1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    loss = (1.0 - smoothing) * nll + smoothing * (-logp.sum(-1))
    return loss[valid].mean()


# =====================================================================================
# train.noam_lr
# =====================================================================================
def noam_lr_v1(step, *, d_model, warmup, factor=1.0):
    step, d_model, warmup, factor = float(step), float(d_model), float(warmup), float(factor)
    return float(factor * d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5))


def noam_lr_v2(step, *, d_model, warmup, factor=1.0):
    """Piecewise form: linear warm-up, then inverse square root."""
    s = float(step)
    w = float(warmup)
    if s <= w:
        core = s / (w * math.sqrt(w))
    else:
        core = 1.0 / math.sqrt(s)
    return float(factor) / math.sqrt(float(d_model)) * core


def noam_lr_v3(step, *, d_model, warmup, factor=1.0):
    """numpy minimum on float64."""
    s = np.float64(step)
    val = np.float64(factor) * np.power(np.float64(d_model), -0.5) * np.minimum(
        np.power(s, -0.5), s * np.power(np.float64(warmup), -1.5))
    return float(val)


def noam_lr_w1(step, *, d_model, warmup, factor=1.0):
    """WRONG: treats step as 0-based (uses step + 1)."""
    s = float(step) + 1.0
    return float(factor * d_model ** -0.5 * min(s ** -0.5, s * warmup ** -1.5))


def noam_lr_w2(step, *, d_model, warmup, factor=1.0):
    """WRONG: warmup exponent -0.5 instead of -1.5."""
    s = float(step)
    return float(factor * d_model ** -0.5 * min(s ** -0.5, s * warmup ** -0.5))


def noam_lr_w3(step, *, d_model, warmup, factor=1.0):
    """WRONG: ignores factor."""
    s = float(step)
    return float(d_model ** -0.5 * min(s ** -0.5, s * warmup ** -1.5))


def noam_lr_w4(step, *, d_model, warmup, factor=1.0):
    """WRONG: max instead of min."""
    s = float(step)
    return float(factor * d_model ** -0.5 * max(s ** -0.5, s * warmup ** -1.5))


def noam_lr_w5(step, *, d_model, warmup, factor=1.0):
    """WRONG: multiplies by sqrt(d_model) instead of dividing."""
    s = float(step)
    return float(factor * d_model ** 0.5 * min(s ** -0.5, s * warmup ** -1.5))


def noam_lr_w6(step, *, d_model, warmup, factor=1.0):
    """WRONG: returns a torch tensor, not a float."""
    s = torch.tensor(float(step), dtype=torch.float64)
    return factor * d_model ** -0.5 * torch.minimum(s ** -0.5, s * warmup ** -1.5)


# =====================================================================================
# train.model_flops
# =====================================================================================
def model_flops_v1(config, *, src_len, tgt_len):
    """Closed form."""
    d, dff, N, V = config.d_model, config.d_ff, config.num_layers, config.vocab_size
    S, T = src_len, tgt_len
    enc = 8 * S * d * d + 4 * S * d * dff + 4 * S * S * d
    dec = (8 * T * d * d + 4 * T * T * d          # self-attention
           + 4 * T * d * d + 4 * S * d * d + 4 * T * S * d  # cross-attention
           + 4 * T * d * dff)                      # FFN
    out = 2 * T * d * V
    return 3 * (N * (enc + dec) + out)


def model_flops_v2(config, *, src_len, tgt_len):
    """Enumerate every matrix product (m, k) @ (k, n)."""
    d = config.d_model

    def mm(m, k, n):
        return 2 * m * k * n

    S, T = src_len, tgt_len
    fwd = 0
    for _ in range(config.num_layers):  # encoder
        fwd += 4 * mm(S, d, d)               # q, k, v, o
        fwd += mm(S, d, S) + mm(S, S, d)     # QK^T, weights V (all heads together)
        fwd += mm(S, d, config.d_ff) + mm(S, config.d_ff, d)
    for _ in range(config.num_layers):  # decoder
        fwd += 4 * mm(T, d, d)
        fwd += mm(T, d, T) + mm(T, T, d)
        fwd += mm(T, d, d)                   # cross q on the target
        fwd += 2 * mm(S, d, d)               # cross k, v on the memory
        fwd += mm(T, d, d)                   # cross o on the target
        fwd += mm(T, d, S) + mm(T, S, d)
        fwd += mm(T, d, config.d_ff) + mm(T, config.d_ff, d)
    fwd += mm(T, d, config.vocab_size)
    return fwd + 2 * fwd


def model_flops_v3(config, *, src_len, tgt_len):
    """Per head, summed over heads (H * d_head = d), returned as a float."""
    H = config.num_heads
    dh = config.d_model // H
    d = config.d_model
    S, T = float(src_len), float(tgt_len)
    def attn(lq, lk):
        return H * (2 * lq * dh * lk + 2 * lq * lk * dh)
    proj = lambda L: 2 * L * d * d
    ffn = lambda L: 2 * (2 * L * d * config.d_ff)
    enc = 4 * proj(S) + attn(S, S) + ffn(S)
    dec = 4 * proj(T) + attn(T, T) + 2 * proj(T) + 2 * proj(S) + attn(T, S) + ffn(T)
    return 3.0 * (config.num_layers * (enc + dec) + 2 * T * d * config.vocab_size)


def model_flops_w1(config, *, src_len, tgt_len):
    """WRONG: backward counted as equal to the forward (x2 instead of x3)."""
    return model_flops_v1(config, src_len=src_len, tgt_len=tgt_len) // 3 * 2


def model_flops_w2(config, *, src_len, tgt_len):
    """WRONG: cross-attention's key/value projections counted on the target positions."""
    d, dff, N, V = config.d_model, config.d_ff, config.num_layers, config.vocab_size
    S, T = src_len, tgt_len
    enc = 8 * S * d * d + 4 * S * d * dff + 4 * S * S * d
    dec = 8 * T * d * d + 4 * T * T * d + 8 * T * d * d + 4 * T * S * d + 4 * T * d * dff
    return 3 * (N * (enc + dec) + 2 * T * d * V)


def model_flops_w3(config, *, src_len, tgt_len):
    """WRONG: forgets the two matrix products inside attention (QK^T and weights V)."""
    d, dff, N, V = config.d_model, config.d_ff, config.num_layers, config.vocab_size
    S, T = src_len, tgt_len
    enc = 8 * S * d * d + 4 * S * d * dff
    dec = 8 * T * d * d + 4 * T * d * d + 4 * S * d * d + 4 * T * d * dff
    return 3 * (N * (enc + dec) + 2 * T * d * V)


def model_flops_w4(config, *, src_len, tgt_len):
    """WRONG: forgets the output projection."""
    d, dff, N = config.d_model, config.d_ff, config.num_layers
    S, T = src_len, tgt_len
    enc = 8 * S * d * d + 4 * S * d * dff + 4 * S * S * d
    dec = 8 * T * d * d + 4 * T * T * d + 4 * T * d * d + 4 * S * d * d + 4 * T * S * d + 4 * T * d * dff
    return 3 * N * (enc + dec)


def model_flops_w5(config, *, src_len, tgt_len):
    """WRONG: attention products counted for ONE head (d_head instead of d_model)."""
    d, dff, N, V = config.d_model, config.d_ff, config.num_layers, config.vocab_size
    dh = d // config.num_heads
    S, T = src_len, tgt_len
    enc = 8 * S * d * d + 4 * S * d * dff + 4 * S * S * dh
    dec = 8 * T * d * d + 4 * T * T * dh + 4 * T * d * d + 4 * S * d * d + 4 * T * S * dh + 4 * T * d * dff
    return 3 * (N * (enc + dec) + 2 * T * d * V)


def model_flops_w6(config, *, src_len, tgt_len):
    """WRONG: a matmul costs m*k*n (the factor 2 missing)."""
    return model_flops_v1(config, src_len=src_len, tgt_len=tgt_len) // 2


# =====================================================================================
# decoding.beam_step
# =====================================================================================
def beam_step_v1(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    B, K, V = log_probs.shape
    cand = scores.unsqueeze(-1) + log_probs                       # (B, K, V), new tensor
    is_pad = torch.arange(V, device=log_probs.device) == pad_id   # (V,)
    fin_row = torch.where(is_pad, scores.unsqueeze(-1).expand(B, K, V),
                          torch.full_like(cand, float("-inf")))
    cand = torch.where(finished.unsqueeze(-1), fin_row, cand)
    new_len = lengths + (~finished).to(lengths.dtype)
    penalty = ((5.0 + new_len.to(cand.dtype)) / 6.0) ** length_penalty
    rank = cand / penalty.unsqueeze(-1)
    k = min(beam_size, K * V)
    _, idx = rank.reshape(B, K * V).topk(k, dim=-1)
    beam = idx // V
    token = idx % V
    raw = cand.reshape(B, K * V).gather(1, idx)
    return beam, token, raw


def beam_step_v2(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    """Loop over beams building the candidate rows, descending sort, divmod indices."""
    B, K, V = log_probs.shape
    neg_inf = float("-inf")
    raw_rows, rank_rows = [], []
    for k in range(K):
        fin_k = finished[:, k]                                      # (B,)
        open_raw = scores[:, k:k + 1] + log_probs[:, k, :]          # (B, V)
        fin_raw = torch.full_like(open_raw, neg_inf)
        fin_raw[:, pad_id] = scores[:, k]
        raw_k = torch.where(fin_k[:, None], fin_raw, open_raw)
        len_k = lengths[:, k].to(torch.float64) + (~fin_k).to(torch.float64)
        pen_k = torch.pow((5.0 + len_k) / 6.0, length_penalty).to(raw_k.dtype)
        raw_rows.append(raw_k)
        rank_rows.append(raw_k / pen_k[:, None])
    raw = torch.cat(raw_rows, dim=1)      # (B, K*V), beam-major
    rank = torch.cat(rank_rows, dim=1)
    keep = min(beam_size, K * V)
    order = torch.sort(rank, dim=1, descending=True, stable=True).indices[:, :keep]
    beam = torch.div(order, V, rounding_mode="floor")
    token = order - beam * V
    return beam, token, torch.gather(raw, 1, order)


def beam_step_w1(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    """WRONG: returns the penalised ranking score instead of the raw log-probability."""
    B, K, V = log_probs.shape
    cand = scores.unsqueeze(-1) + log_probs
    is_pad = torch.arange(V, device=log_probs.device) == pad_id
    fin_row = torch.where(is_pad, scores.unsqueeze(-1).expand(B, K, V), torch.full_like(cand, float("-inf")))
    cand = torch.where(finished.unsqueeze(-1), fin_row, cand)
    new_len = lengths + (~finished).to(lengths.dtype)
    rank = cand / (((5.0 + new_len.to(cand.dtype)) / 6.0) ** length_penalty).unsqueeze(-1)
    val, idx = rank.reshape(B, K * V).topk(min(beam_size, K * V), dim=-1)
    return idx // V, idx % V, val


def beam_step_w2(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    """WRONG: a finished beam's length also grows by one."""
    B, K, V = log_probs.shape
    cand = scores.unsqueeze(-1) + log_probs
    is_pad = torch.arange(V, device=log_probs.device) == pad_id
    fin_row = torch.where(is_pad, scores.unsqueeze(-1).expand(B, K, V), torch.full_like(cand, float("-inf")))
    cand = torch.where(finished.unsqueeze(-1), fin_row, cand)
    new_len = lengths + 1
    rank = cand / (((5.0 + new_len.to(cand.dtype)) / 6.0) ** length_penalty).unsqueeze(-1)
    _, idx = rank.reshape(B, K * V).topk(min(beam_size, K * V), dim=-1)
    return idx // V, idx % V, cand.reshape(B, K * V).gather(1, idx)


def beam_step_w3(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    """WRONG: finished beams are not special-cased (they propose V candidates)."""
    B, K, V = log_probs.shape
    cand = scores.unsqueeze(-1) + log_probs
    new_len = lengths + 1
    rank = cand / (((5.0 + new_len.to(cand.dtype)) / 6.0) ** length_penalty).unsqueeze(-1)
    _, idx = rank.reshape(B, K * V).topk(min(beam_size, K * V), dim=-1)
    return idx // V, idx % V, cand.reshape(B, K * V).gather(1, idx)


def beam_step_w4(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    """WRONG: beam and token recovered the wrong way round (idx % V, idx // V)."""
    B, K, V = log_probs.shape
    cand = scores.unsqueeze(-1) + log_probs
    is_pad = torch.arange(V, device=log_probs.device) == pad_id
    fin_row = torch.where(is_pad, scores.unsqueeze(-1).expand(B, K, V), torch.full_like(cand, float("-inf")))
    cand = torch.where(finished.unsqueeze(-1), fin_row, cand)
    new_len = lengths + (~finished).to(lengths.dtype)
    rank = cand / (((5.0 + new_len.to(cand.dtype)) / 6.0) ** length_penalty).unsqueeze(-1)
    _, idx = rank.reshape(B, K * V).topk(min(beam_size, K * V), dim=-1)
    beam = idx % K
    token = idx // K
    return beam, token, cand.reshape(B, K * V).gather(1, idx)


def beam_step_w5(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    """WRONG: the finished beam's pad candidate adds log_probs[..., pad_id] to its score."""
    B, K, V = log_probs.shape
    cand = scores.unsqueeze(-1) + log_probs
    is_pad = torch.arange(V, device=log_probs.device) == pad_id
    fin_row = cand.masked_fill(~is_pad, float("-inf"))
    cand = torch.where(finished.unsqueeze(-1), fin_row, cand)
    new_len = lengths + (~finished).to(lengths.dtype)
    rank = cand / (((5.0 + new_len.to(cand.dtype)) / 6.0) ** length_penalty).unsqueeze(-1)
    _, idx = rank.reshape(B, K * V).topk(min(beam_size, K * V), dim=-1)
    return idx // V, idx % V, cand.reshape(B, K * V).gather(1, idx)


def beam_step_w6(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    """WRONG: mutates log_probs in place to handle finished beams."""
    B, K, V = log_probs.shape
    lp = log_probs
    lp[finished] = float("-inf")
    lp[..., pad_id] = torch.where(finished, torch.zeros_like(scores), lp[..., pad_id])
    cand = scores.unsqueeze(-1) + lp
    new_len = lengths + (~finished).to(lengths.dtype)
    rank = cand / (((5.0 + new_len.to(cand.dtype)) / 6.0) ** length_penalty).unsqueeze(-1)
    _, idx = rank.reshape(B, K * V).topk(min(beam_size, K * V), dim=-1)
    return idx // V, idx % V, cand.reshape(B, K * V).gather(1, idx)


def beam_step_w7(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0):
    """WRONG: keeps beam_size candidates without the min (fails when K*V < beam_size)."""
    B, K, V = log_probs.shape
    cand = scores.unsqueeze(-1) + log_probs
    is_pad = torch.arange(V, device=log_probs.device) == pad_id
    fin_row = torch.where(is_pad, scores.unsqueeze(-1).expand(B, K, V), torch.full_like(cand, float("-inf")))
    cand = torch.where(finished.unsqueeze(-1), fin_row, cand)
    new_len = lengths + (~finished).to(lengths.dtype)
    rank = cand / (((5.0 + new_len.to(cand.dtype)) / 6.0) ** length_penalty).unsqueeze(-1)
    _, idx = rank.reshape(B, K * V).topk(beam_size, dim=-1)
    return idx // V, idx % V, cand.reshape(B, K * V).gather(1, idx)


# =====================================================================================
# gpt.causal_lm_loss
# =====================================================================================
def causal_lm_loss_v1(logits, ids, target_mask=None):
    """Shift, set uncounted targets to -100, F.cross_entropy."""
    V = logits.size(-1)
    targets = ids[:, 1:].clone()
    if target_mask is not None:
        targets = targets.masked_fill(~target_mask[:, 1:], -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), targets.reshape(-1), ignore_index=-100)


def causal_lm_loss_v2(logits, ids, target_mask=None):
    """Manual log_softmax + gather, weighted mean."""
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    tgt = ids[:, 1:].long()
    nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)     # (B, L-1)
    if target_mask is None:
        return nll.mean()
    w = target_mask[:, 1:].to(nll.dtype)
    return (nll * w).sum() / w.sum()


def causal_lm_loss_v3(logits, ids, target_mask=None):
    """Boolean selection of the counted (B, t) pairs, cross_entropy with reduction='sum' / count."""
    pred = logits[:, :-1, :]
    tgt = ids[:, 1:]
    if target_mask is None:
        keep = torch.ones_like(tgt, dtype=torch.bool)
    else:
        keep = target_mask[:, 1:].bool()
    sel_logits = pred[keep]
    sel_tgt = tgt[keep]
    return F.cross_entropy(sel_logits, sel_tgt, reduction="sum") / keep.sum()


def causal_lm_loss_w1(logits, ids, target_mask=None):
    """WRONG: no shift (position t scored against its own token)."""
    V = logits.size(-1)
    targets = ids.clone()
    if target_mask is not None:
        targets = targets.masked_fill(~target_mask, -100)
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def causal_lm_loss_w2(logits, ids, target_mask=None):
    """WRONG: mask aligned with the logits (target_mask[:, :-1]) instead of with ids."""
    V = logits.size(-1)
    targets = ids[:, 1:].clone()
    if target_mask is not None:
        targets = targets.masked_fill(~target_mask[:, :-1], -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), targets.reshape(-1))


def causal_lm_loss_w3(logits, ids, target_mask=None):
    """WRONG: shift in the wrong direction (logits[:, 1:] vs ids[:, :-1])."""
    V = logits.size(-1)
    targets = ids[:, :-1].clone()
    if target_mask is not None:
        targets = targets.masked_fill(~target_mask[:, :-1], -100)
    return F.cross_entropy(logits[:, 1:].reshape(-1, V), targets.reshape(-1))


def causal_lm_loss_w4(logits, ids, target_mask=None):
    """WRONG: mask polarity inverted (True treated as 'ignore')."""
    V = logits.size(-1)
    targets = ids[:, 1:].clone()
    if target_mask is not None:
        targets = targets.masked_fill(target_mask[:, 1:], -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), targets.reshape(-1))


def causal_lm_loss_w5(logits, ids, target_mask=None):
    """WRONG: zeroes uncounted targets but averages over ALL predicted positions."""
    V = logits.size(-1)
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1), reduction="none")
    if target_mask is not None:
        nll = nll * target_mask[:, 1:].reshape(-1).to(nll.dtype)
    return nll.mean()


# =====================================================================================
# bert.mask_tokens
# =====================================================================================
def _special(ids, special_ids):
    out = torch.zeros_like(ids, dtype=torch.bool)
    for s in special_ids:
        out |= ids == s
    return out


def mask_tokens_v1(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """Two uniform draws (the hint), plus one randint for the random ids."""
    choose = torch.rand(ids.shape, generator=generator, device=ids.device) < mask_prob
    choose &= ~_special(ids, special_ids)
    case = torch.rand(ids.shape, generator=generator, device=ids.device)
    random_ids = torch.randint(0, vocab_size, ids.shape, generator=generator, device=ids.device, dtype=ids.dtype)
    inputs = ids.clone()
    inputs = torch.where(choose & (case < 0.8), torch.full_like(ids, mask_id), inputs)
    inputs = torch.where(choose & (case >= 0.8) & (case < 0.9), random_ids, inputs)
    labels = torch.where(choose, ids, torch.full_like(ids, -100))
    return inputs, labels


def mask_tokens_v2(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """One uniform draw: u < p chooses; u/p then picks among the three cases (0.8 / 0.1 / 0.1)."""
    u = torch.rand(ids.shape, generator=generator, device=ids.device)
    special = torch.isin(ids, torch.tensor(list(special_ids), dtype=ids.dtype, device=ids.device))
    chosen = (u < mask_prob) & ~special
    to_mask = chosen & (u < 0.8 * mask_prob)
    to_random = chosen & (u >= 0.8 * mask_prob) & (u < 0.9 * mask_prob)
    inputs = ids.clone()
    inputs[to_mask] = mask_id
    n = int(to_random.sum())
    if n:
        inputs[to_random] = torch.randint(vocab_size, (n,), generator=generator, device=ids.device).to(ids.dtype)
    labels = torch.full_like(ids, -100)
    labels[chosen] = ids[chosen]
    return inputs, labels


def mask_tokens_v3(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """Bernoulli draws: choose with p, mask with 0.8, else random with 0.5 of the rest."""
    shape_p = lambda p: torch.full(ids.shape, p, dtype=torch.float32, device=ids.device)
    chosen = torch.bernoulli(shape_p(mask_prob), generator=generator).bool()
    chosen = chosen & ~_special(ids, special_ids)
    masked = torch.bernoulli(shape_p(0.8), generator=generator).bool() & chosen
    randomised = torch.bernoulli(shape_p(0.5), generator=generator).bool() & chosen & ~masked
    rand_ids = torch.randint(vocab_size, ids.shape, generator=generator, device=ids.device).to(ids.dtype)
    inputs = ids.masked_fill(masked, mask_id)
    inputs = torch.where(randomised, rand_ids, inputs)
    labels = ids.masked_fill(~chosen, -100)
    return inputs, labels


def mask_tokens_w1(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """WRONG: special tokens are not protected."""
    choose = torch.rand(ids.shape, generator=generator, device=ids.device) < mask_prob
    case = torch.rand(ids.shape, generator=generator, device=ids.device)
    random_ids = torch.randint(0, vocab_size, ids.shape, generator=generator, device=ids.device, dtype=ids.dtype)
    inputs = torch.where(choose & (case < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(choose & (case >= 0.8) & (case < 0.9), random_ids, inputs)
    labels = torch.where(choose, ids, torch.full_like(ids, -100))
    return inputs, labels


def mask_tokens_w2(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """WRONG: 80/20 split, never leaves a chosen token unchanged."""
    choose = torch.rand(ids.shape, generator=generator, device=ids.device) < mask_prob
    choose &= ~_special(ids, special_ids)
    case = torch.rand(ids.shape, generator=generator, device=ids.device)
    random_ids = torch.randint(0, vocab_size, ids.shape, generator=generator, device=ids.device, dtype=ids.dtype)
    inputs = torch.where(choose & (case < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(choose & (case >= 0.8), random_ids, inputs)
    labels = torch.where(choose, ids, torch.full_like(ids, -100))
    return inputs, labels


def mask_tokens_w3(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """WRONG: labels taken from the corrupted inputs instead of the original tokens."""
    choose = torch.rand(ids.shape, generator=generator, device=ids.device) < mask_prob
    choose &= ~_special(ids, special_ids)
    case = torch.rand(ids.shape, generator=generator, device=ids.device)
    random_ids = torch.randint(0, vocab_size, ids.shape, generator=generator, device=ids.device, dtype=ids.dtype)
    inputs = torch.where(choose & (case < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(choose & (case >= 0.8) & (case < 0.9), random_ids, inputs)
    labels = torch.where(choose, inputs, torch.full_like(ids, -100))
    return inputs, labels


def mask_tokens_w4(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """WRONG: draws from the global RNG, ignoring generator."""
    choose = torch.rand(ids.shape, device=ids.device) < mask_prob
    choose &= ~_special(ids, special_ids)
    case = torch.rand(ids.shape, device=ids.device)
    random_ids = torch.randint(0, vocab_size, ids.shape, device=ids.device, dtype=ids.dtype)
    inputs = torch.where(choose & (case < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(choose & (case >= 0.8) & (case < 0.9), random_ids, inputs)
    labels = torch.where(choose, ids, torch.full_like(ids, -100))
    return inputs, labels


def mask_tokens_w5(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """WRONG: hard-coded 0.15 instead of mask_prob."""
    choose = torch.rand(ids.shape, generator=generator, device=ids.device) < 0.15
    choose &= ~_special(ids, special_ids)
    case = torch.rand(ids.shape, generator=generator, device=ids.device)
    random_ids = torch.randint(0, vocab_size, ids.shape, generator=generator, device=ids.device, dtype=ids.dtype)
    inputs = torch.where(choose & (case < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(choose & (case >= 0.8) & (case < 0.9), random_ids, inputs)
    labels = torch.where(choose, ids, torch.full_like(ids, -100))
    return inputs, labels


def mask_tokens_w6(ids, *, vocab_size, mask_id, special_ids=(), mask_prob=0.15, generator=None):
    """WRONG: off-by-one, random ids drawn from [0, vocab_size - 1) (last id never drawn)."""
    choose = torch.rand(ids.shape, generator=generator, device=ids.device) < mask_prob
    choose &= ~_special(ids, special_ids)
    case = torch.rand(ids.shape, generator=generator, device=ids.device)
    random_ids = torch.randint(0, vocab_size - 1, ids.shape, generator=generator, device=ids.device, dtype=ids.dtype)
    inputs = torch.where(choose & (case < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(choose & (case >= 0.8) & (case < 0.9), random_ids, inputs)
    labels = torch.where(choose, ids, torch.full_like(ids, -100))
    return inputs, labels


# =====================================================================================
# positional.LearnedPositionalEmbedding
# =====================================================================================
class LearnedPositionalEmbedding_v1(nn.Module):
    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Parameter(0.02 * torch.randn(max_len, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.max_len:
            raise ValueError(f"offset {offset} + length {L} > max_len {self.max_len}")
        return self.dropout(x + self.table[offset:offset + L])


class LearnedPositionalEmbedding_v2(nn.Module):
    """nn.Embedding holding the table (its weight is the (max_len, d_model) Parameter)."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.pos = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.pos.weight, mean=0.0, std=0.02)
        self.drop = nn.Dropout(p=dropout)

    def forward(self, x, offset=0):
        B, L, _ = x.shape
        if offset + L > self.pos.num_embeddings:
            raise ValueError("sequence runs past max_len")
        positions = torch.arange(offset, offset + L, device=x.device)
        return self.drop(x + self.pos(positions).unsqueeze(0))


class LearnedPositionalEmbedding_v3(nn.Module):
    """Parameter named weight, functional dropout with self.training, narrow() slice."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_len, d_model))
        with torch.no_grad():
            self.weight.normal_(0.0, 0.02)
        self.p = float(dropout)

    def forward(self, x, offset=0):
        L = x.shape[-2]
        if offset + L > self.weight.shape[0]:
            raise ValueError("offset + L exceeds max_len")
        y = x + self.weight.narrow(0, offset, L)
        return F.dropout(y, p=self.p, training=self.training)


class LearnedPositionalEmbedding_w1(nn.Module):
    """WRONG: off-by-one bound, raises already when offset + L == max_len."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Parameter(0.02 * torch.randn(max_len, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L >= self.max_len:
            raise ValueError("too long")
        return self.dropout(x + self.table[offset:offset + L])


class LearnedPositionalEmbedding_w2(nn.Module):
    """WRONG: ignores offset (always rows 0..L-1)."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Parameter(0.02 * torch.randn(max_len, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.max_len:
            raise ValueError("too long")
        return self.dropout(x + self.table[:L])


class LearnedPositionalEmbedding_w3(nn.Module):
    """WRONG: the table is a buffer, not a trainable parameter."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.register_buffer("table", 0.02 * torch.randn(max_len, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.max_len:
            raise ValueError("too long")
        return self.dropout(x + self.table[offset:offset + L])


class LearnedPositionalEmbedding_w4(nn.Module):
    """WRONG: dropout applied to the table only, before the sum."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Parameter(0.02 * torch.randn(max_len, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.max_len:
            raise ValueError("too long")
        return x + self.dropout(self.table[offset:offset + L])


class LearnedPositionalEmbedding_w5(nn.Module):
    """WRONG: an assert instead of ValueError."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Parameter(0.02 * torch.randn(max_len, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, offset=0):
        L = x.size(1)
        assert offset + L <= self.max_len, "too long"
        return self.dropout(x + self.table[offset:offset + L])


class LearnedPositionalEmbedding_w6(nn.Module):
    """WRONG: parameter stored transposed, shape (d_model, max_len)."""

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        self.max_len = max_len
        self.table = nn.Parameter(0.02 * torch.randn(d_model, max_len))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, offset=0):
        L = x.size(1)
        if offset + L > self.max_len:
            raise ValueError("too long")
        return self.dropout(x + self.table[:, offset:offset + L].T)


# =====================================================================================
# rnn.width_for_parameter_count
# =====================================================================================
def _rnn_count(config, width):
    with torch.device("meta"):
        return parameter_count(RNNSeq2Seq(replace(config, d_model=width)))


def width_for_parameter_count_v1(target, config):
    """Doubling then bisection for the first width with count >= target; compare with width-1."""
    def count(w):
        with torch.device("meta"):
            return parameter_count(RNNSeq2Seq(replace(config, d_model=w)))

    if count(1) >= target:
        return 1
    hi = 2
    while count(hi) < target:
        hi *= 2
    lo = hi // 2                       # count(lo) < target <= count(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid
        else:
            hi = mid
    return int(lo if target - count(lo) <= count(hi) - target else hi)


def width_for_parameter_count_v2(target, config):
    """bisect with a key over range(1, hi + 1), last width with count <= target, then compare."""
    cache = {}

    def count(w):
        if w not in cache:
            cache[w] = _rnn_count(config, w)
        return cache[w]

    hi = 1
    while count(hi) <= target:
        hi *= 2
    widths = range(1, hi + 1)
    i = bisect.bisect_right(widths, target, key=count)   # widths[:i] have count <= target
    if i == 0:
        return 1
    below = widths[i - 1]
    above = below + 1
    if abs(count(above) - target) < abs(count(below) - target):
        return int(above)
    return int(below)


def width_for_parameter_count_v3(target, config):
    """Quadratic fit from widths 1..3 for a first guess, then walk downhill on |count - target|."""
    c1, c2, c3 = (_rnn_count(config, w) for w in (1, 2, 3))
    a = (c3 - 2 * c2 + c1) / 2.0
    b = (c2 - c1) - 3.0 * a
    c = c1 - a - b
    if a > 0:
        disc = b * b - 4 * a * (c - target)
        guess = (-b + math.sqrt(disc)) / (2 * a) if disc >= 0 else 1.0
    elif b > 0:
        guess = (target - c) / b
    else:
        guess = 1.0
    w = max(1, int(round(guess)))
    dist = abs(_rnn_count(config, w) - target)
    while w > 1:
        d_down = abs(_rnn_count(config, w - 1) - target)
        if d_down < dist:
            w, dist = w - 1, d_down
        else:
            break
    while True:
        d_up = abs(_rnn_count(config, w + 1) - target)
        if d_up < dist:
            w, dist = w + 1, d_up
        else:
            break
    return int(w)


def width_for_parameter_count_w1(target, config):
    """WRONG: returns the first width whose count reaches the target (not the closest)."""
    if _rnn_count(config, 1) >= target:
        return 1
    hi = 2
    while _rnn_count(config, hi) < target:
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _rnn_count(config, mid) < target:
            lo = mid
        else:
            hi = mid
    return hi


def width_for_parameter_count_w2(target, config):
    """WRONG: returns the last width whose count stays at or under the target (not the closest)."""
    lo, hi = 1, 1
    while _rnn_count(config, hi) <= target:
        hi *= 2
    lo = max(1, hi // 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _rnn_count(config, mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo


def width_for_parameter_count_w3(target, config):
    """WRONG: builds a fresh RNNConfig with only the width (other fields lost)."""
    def count(w):
        with torch.device("meta"):
            return parameter_count(RNNSeq2Seq(RNNConfig(d_model=w)))

    if count(1) >= target:
        return 1
    hi = 2
    while count(hi) < target:
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid
        else:
            hi = mid
    return lo if target - count(lo) <= count(hi) - target else hi


def width_for_parameter_count_w4(target, config):
    """WRONG: hard-coded search range [1, 512] (wrong for targets needing wider models)."""
    lo, hi = 1, 512
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _rnn_count(config, mid) < target:
            lo = mid
        else:
            hi = mid
    return lo if abs(_rnn_count(config, lo) - target) <= abs(_rnn_count(config, hi) - target) else hi


# =====================================================================================
VARIANTS = [
    # transformer.EncoderLayer
    ("transformer.EncoderLayer", "correct", "Residual(Attend) + Residual(FFN), positional call (x, None, mask), tuple unpack", EncoderLayer_v1),
    ("transformer.EncoderLayer", "correct", "keyword construction/calls, ffn built first, out[0], extra plain attributes", EncoderLayer_v2),
    ("transformer.EncoderLayer", "wrong", "forgets to pass the mask to self-attention (padding attended)", EncoderLayer_w1),
    ("transformer.EncoderLayer", "wrong", "passes x as explicit source: keys/values un-normalised in pre-LN", EncoderLayer_w2),
    ("transformer.EncoderLayer", "wrong", "ignores norm_first (always post-LN)", EncoderLayer_w3),
    ("transformer.EncoderLayer", "wrong", "wiring swapped: FFN before self-attention", EncoderLayer_w4),
    ("transformer.EncoderLayer", "wrong", "Residuals built without dropout (residual dropout missing)", EncoderLayer_w5),
    ("transformer.EncoderLayer", "wrong", "MultiHeadAttention built without dropout (attention-weight dropout missing)", EncoderLayer_w6),
    ("transformer.EncoderLayer", "wrong", "FFN applied to the layer input, attention output discarded", EncoderLayer_w7),
    # transformer.DecoderLayer
    ("transformer.DecoderLayer", "correct", "three Residuals, positional (x, None/memory, mask) calls", DecoderLayer_v1),
    ("transformer.DecoderLayer", "correct", "wrap() helper, keyword source=/mask= calls, [0] indexing", DecoderLayer_v2),
    ("transformer.DecoderLayer", "wrong", "self_mask never passed (no causal mask)", DecoderLayer_w1),
    ("transformer.DecoderLayer", "wrong", "pre-LN: memory also normalised by cross_attn.norm", DecoderLayer_w2),
    ("transformer.DecoderLayer", "wrong", "self-attention gets x as source: K/V un-normalised in pre-LN", DecoderLayer_w3),
    ("transformer.DecoderLayer", "wrong", "wiring swapped: cross-attention before self-attention", DecoderLayer_w4),
    ("transformer.DecoderLayer", "wrong", "variable typo: FFN reads self-attn output, cross-attn discarded", DecoderLayer_w5),
    ("transformer.DecoderLayer", "wrong", "cross_mask never passed (source padding attended)", DecoderLayer_w6),
    # decoding.greedy_decode
    ("decoding.greedy_decode", "correct", "torch.cat loop, try/finally restores mode, causal_mask", greedy_decode_v1),
    ("decoding.greedy_decode", "correct", "@no_grad, preallocated pad buffer, tril mask, masked_fill, trimmed", greedy_decode_v2),
    ("decoding.greedy_decode", "correct", "inference_mode, list of steps stacked, while loop", greedy_decode_v3),
    ("decoding.greedy_decode", "wrong", "argmax of the first position's logits, not the last", greedy_decode_w1),
    ("decoding.greedy_decode", "wrong", "training mode never restored", greedy_decode_w2),
    ("decoding.greedy_decode", "wrong", "finished rows keep writing argmax instead of pad", greedy_decode_w3),
    ("decoding.greedy_decode", "wrong", "finished set before writing: the <eos> itself becomes pad", greedy_decode_w4),
    ("decoding.greedy_decode", "wrong", "default src_mask of wrong polarity (src == pad)", greedy_decode_w5),
    ("decoding.greedy_decode", "wrong", "never stops early: always max_len steps", greedy_decode_w6),
    ("decoding.greedy_decode", "wrong", "returns the leading <bos>", greedy_decode_w7),
    # train.label_smoothed_loss
    ("train.label_smoothed_loss", "correct", "log_softmax + gather, where-masked sum / count", label_smoothed_loss_v1),
    ("train.label_smoothed_loss", "correct", "explicit smoothed q, boolean indexing, -(q*logp).sum().mean()", label_smoothed_loss_v2),
    ("train.label_smoothed_loss", "correct", "logsumexp algebra in float64, cast back to logits dtype", label_smoothed_loss_v3),
    ("train.label_smoothed_loss", "wrong", "epsilon spread over V-1 wrong classes", label_smoothed_loss_w1),
    ("train.label_smoothed_loss", "wrong", "mean over all positions, ignored included", label_smoothed_loss_w2),
    ("train.label_smoothed_loss", "wrong", "log(softmax(x)): overflow for large logits", label_smoothed_loss_w3),
    ("train.label_smoothed_loss", "wrong", "ignore_index hard-coded to -100", label_smoothed_loss_w4),
    ("train.label_smoothed_loss", "wrong", "missing (1 - eps) factor on the NLL", label_smoothed_loss_w5),
    ("train.label_smoothed_loss", "wrong", "smoothing term sums over classes (missing 1/V)", label_smoothed_loss_w6),
    # train.noam_lr
    ("train.noam_lr", "correct", "direct formula with float conversions", noam_lr_v1),
    ("train.noam_lr", "correct", "piecewise warm-up / inverse-sqrt with math.sqrt", noam_lr_v2),
    ("train.noam_lr", "correct", "numpy float64 minimum, returned as float", noam_lr_v3),
    ("train.noam_lr", "wrong", "0-based step (step + 1)", noam_lr_w1),
    ("train.noam_lr", "wrong", "warmup ** -0.5 instead of -1.5", noam_lr_w2),
    ("train.noam_lr", "wrong", "factor ignored", noam_lr_w3),
    ("train.noam_lr", "wrong", "max instead of min", noam_lr_w4),
    ("train.noam_lr", "wrong", "d_model ** +0.5 (scale inverted)", noam_lr_w5),
    ("train.noam_lr", "wrong", "returns a torch tensor, not a float", noam_lr_w6),
    # train.model_flops
    ("train.model_flops", "correct", "closed form, int", model_flops_v1),
    ("train.model_flops", "correct", "enumerate every (m,k)@(k,n) product", model_flops_v2),
    ("train.model_flops", "correct", "per-head attention summed over heads, float", model_flops_v3),
    ("train.model_flops", "wrong", "backward = forward (x2 total)", model_flops_w1),
    ("train.model_flops", "wrong", "cross-attention K/V projections on target positions", model_flops_w2),
    ("train.model_flops", "wrong", "attention QK^T and weights.V products omitted", model_flops_w3),
    ("train.model_flops", "wrong", "output projection omitted", model_flops_w4),
    ("train.model_flops", "wrong", "attention products for one head only (d_head)", model_flops_w5),
    ("train.model_flops", "wrong", "matmul cost m*k*n (factor 2 missing)", model_flops_w6),
    # decoding.beam_step
    ("decoding.beam_step", "correct", "vectorised where + flattened topk, // and %", beam_step_v1),
    ("decoding.beam_step", "correct", "per-beam loop, float64 penalty, stable descending sort, div/mod", beam_step_v2),
    ("decoding.beam_step", "wrong", "returns the penalised score instead of the raw one", beam_step_w1),
    ("decoding.beam_step", "wrong", "finished beams' length also grows", beam_step_w2),
    ("decoding.beam_step", "wrong", "finished beams not special-cased", beam_step_w3),
    ("decoding.beam_step", "wrong", "beam/token recovered with K instead of V (swapped)", beam_step_w4),
    ("decoding.beam_step", "wrong", "finished pad candidate adds log_probs[pad]", beam_step_w5),
    ("decoding.beam_step", "wrong", "mutates log_probs in place", beam_step_w6),
    ("decoding.beam_step", "wrong", "topk(beam_size) without min(beam_size, K*V)", beam_step_w7),
    # gpt.causal_lm_loss
    ("gpt.causal_lm_loss", "correct", "shift, masked_fill -100, F.cross_entropy", causal_lm_loss_v1),
    ("gpt.causal_lm_loss", "correct", "manual log_softmax + gather, weighted mean", causal_lm_loss_v2),
    ("gpt.causal_lm_loss", "correct", "boolean selection, reduction='sum' / count", causal_lm_loss_v3),
    ("gpt.causal_lm_loss", "wrong", "no shift", causal_lm_loss_w1),
    ("gpt.causal_lm_loss", "wrong", "mask aligned with logits (target_mask[:, :-1])", causal_lm_loss_w2),
    ("gpt.causal_lm_loss", "wrong", "shift in the wrong direction", causal_lm_loss_w3),
    ("gpt.causal_lm_loss", "wrong", "mask polarity inverted", causal_lm_loss_w4),
    ("gpt.causal_lm_loss", "wrong", "zeroed but averaged over all positions", causal_lm_loss_w5),
    # bert.mask_tokens
    ("bert.mask_tokens", "correct", "two uniform draws + randint (the hint)", mask_tokens_v1),
    ("bert.mask_tokens", "correct", "one uniform draw: u<p chooses, u/p picks the case; isin; randint only where needed", mask_tokens_v2),
    ("bert.mask_tokens", "correct", "bernoulli draws (p, 0.8, 0.5 of the rest)", mask_tokens_v3),
    ("bert.mask_tokens", "wrong", "special_ids not excluded", mask_tokens_w1),
    ("bert.mask_tokens", "wrong", "80/20 split: chosen tokens never kept", mask_tokens_w2),
    ("bert.mask_tokens", "wrong", "labels from the corrupted inputs", mask_tokens_w3),
    ("bert.mask_tokens", "wrong", "global RNG used, generator ignored", mask_tokens_w4),
    ("bert.mask_tokens", "wrong", "mask_prob hard-coded to 0.15", mask_tokens_w5),
    ("bert.mask_tokens", "wrong", "random ids in [0, vocab_size - 1)", mask_tokens_w6),
    # positional.LearnedPositionalEmbedding
    ("positional.LearnedPositionalEmbedding", "correct", "Parameter 'table', nn.Dropout, slice", LearnedPositionalEmbedding_v1),
    ("positional.LearnedPositionalEmbedding", "correct", "nn.Embedding(max_len, d_model) re-initialised N(0, 0.02^2), arange lookup", LearnedPositionalEmbedding_v2),
    ("positional.LearnedPositionalEmbedding", "correct", "Parameter 'weight', narrow(), F.dropout(training=self.training)", LearnedPositionalEmbedding_v3),
    ("positional.LearnedPositionalEmbedding", "wrong", "off-by-one bound: raises at offset + L == max_len", LearnedPositionalEmbedding_w1),
    ("positional.LearnedPositionalEmbedding", "wrong", "offset ignored", LearnedPositionalEmbedding_w2),
    ("positional.LearnedPositionalEmbedding", "wrong", "table is a buffer, not a Parameter", LearnedPositionalEmbedding_w3),
    ("positional.LearnedPositionalEmbedding", "wrong", "dropout on the table only, before the sum", LearnedPositionalEmbedding_w4),
    ("positional.LearnedPositionalEmbedding", "wrong", "assert instead of ValueError", LearnedPositionalEmbedding_w5),
    ("positional.LearnedPositionalEmbedding", "wrong", "parameter stored transposed (d_model, max_len)", LearnedPositionalEmbedding_w6),
    # rnn.width_for_parameter_count
    ("rnn.width_for_parameter_count", "correct", "doubling + bisection, compare the two neighbours", width_for_parameter_count_v1),
    ("rnn.width_for_parameter_count", "correct", "bisect.bisect_right with key, cached counts", width_for_parameter_count_v2),
    ("rnn.width_for_parameter_count", "correct", "quadratic fit guess then downhill walk on |count - target|", width_for_parameter_count_v3),
    ("rnn.width_for_parameter_count", "wrong", "first width with count >= target (not the closest)", width_for_parameter_count_w1),
    ("rnn.width_for_parameter_count", "wrong", "last width with count <= target (not the closest)", width_for_parameter_count_w2),
    ("rnn.width_for_parameter_count", "wrong", "fresh RNNConfig(d_model=w): other fields lost", width_for_parameter_count_w3),
    ("rnn.width_for_parameter_count", "wrong", "hard-coded search range [1, 512]", width_for_parameter_count_w4),
]
