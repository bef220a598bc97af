"""The chapter 10 grader checks: correct versions pass, each known mistake fails and is named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.ffn import PositionwiseFFN
from course_lib.grading import check
from course_lib.masks import causal_mask
from course_lib.multihead import MultiHeadAttention
from course_lib.norm import Residual

from grading_helpers import assert_full_marks, assert_mistake_named


# -- learner-style layers: written from course_lib parts, not copied from transformer.py ----------


class _Attend(MultiHeadAttention):
    """Attention as a Residual sub-layer: keys and values default to the queries."""

    def forward(self, x, kv=None, mask=None):
        kv = x if kv is None else kv
        return super().forward(x, kv, kv, mask)


class EncoderOK(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = Residual(d_model, _Attend(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, mask=None):
        out, _ = self.self_attn(x, None, mask)
        return self.ffn(out)


class DecoderOK(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = Residual(d_model, _Attend(d_model, num_heads, dropout), norm_first, dropout)
        self.cross_attn = Residual(d_model, _Attend(d_model, num_heads, dropout), norm_first, dropout)
        self.ffn = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x = self.self_attn(x, None, self_mask)[0]
        x = self.cross_attn(x, memory, cross_mask)[0]
        return self.ffn(x)


# -- wrong encoder layers ------------------------------------------------------------------------


class EncoderNormAfterResidual(EncoderOK):
    """Pre-LN and post-LN confused: every Residual does the other placement."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__(d_model, num_heads, d_ff, dropout, not norm_first)


class EncoderNoMask(EncoderOK):
    def forward(self, x, mask=None):
        return super().forward(x, None)


class EncoderFFNNoResidual(EncoderOK):
    def forward(self, x, mask=None):
        x = self.self_attn(x, None, mask)[0]
        ffn, norm = self.ffn.sublayer, self.ffn.norm
        return ffn(norm(x)) if self.norm_first else norm(ffn(x))


class EncoderReturnsTuple(EncoderOK):
    def forward(self, x, mask=None):
        return super().forward(x, mask), None


class EncoderOwnNames(nn.Module):
    """Right maths, but its own attribute names: the grader cannot copy the weights."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.attention = Residual(d_model, _Attend(d_model, num_heads, dropout), norm_first, dropout)
        self.feed_forward = Residual(d_model, PositionwiseFFN(d_model, d_ff, dropout), norm_first, dropout)

    def forward(self, x, mask=None):
        return self.feed_forward(self.attention(x, None, mask)[0])


class EncoderIgnoresDropout(EncoderOK):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__(d_model, num_heads, d_ff, 0.0, norm_first)


# -- wrong decoder layers ------------------------------------------------------------------------


class DecoderNormAfterResidual(DecoderOK):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__(d_model, num_heads, d_ff, dropout, not norm_first)


class DecoderCrossToItself(DecoderOK):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x = self.self_attn(x, None, self_mask)[0]
        x = self.cross_attn(x, None, cross_mask)[0]  # keys and values from the decoder: wrong
        return self.ffn(x)


class DecoderNoSelfMask(DecoderOK):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        return super().forward(x, memory, None, cross_mask)


class DecoderCausalMaskInCross(DecoderOK):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        return super().forward(x, memory, self_mask, self_mask)


class DecoderFFNNoResidual(DecoderOK):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x = self.self_attn(x, None, self_mask)[0]
        x = self.cross_attn(x, memory, cross_mask)[0]
        ffn, norm = self.ffn.sublayer, self.ffn.norm
        return ffn(norm(x)) if self.norm_first else norm(ffn(x))


class DecoderNormalisesMemory(DecoderOK):
    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x = self.self_attn(x, None, self_mask)[0]
        memory = self.cross_attn.norm(memory) if self.norm_first else memory
        x = self.cross_attn(x, memory, cross_mask)[0]
        return self.ffn(x)


# -- greedy decoding -----------------------------------------------------------------------------


def greedy_ok(model, src, max_len, *, bos_id, eos_id, src_mask=None):
    """Written the long way: a Python list per row."""
    mode = model.training
    model.eval()
    if src_mask is None:
        src_mask = (src != model.config.pad_id).unsqueeze(-2)
    rows = [[bos_id] for _ in range(src.shape[0])]
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        for _ in range(max_len):
            ys = torch.tensor(rows)
            logits = model.decode(ys, memory, causal_mask(ys.shape[1]), src_mask)
            best = logits[:, -1, :].argmax(-1).tolist()
            for row, token in zip(rows, best):
                row.append(model.config.pad_id if eos_id in row else token)
            if all(eos_id in row for row in rows):
                break
    model.train(mode)
    return torch.tensor(rows)[:, 1:]


def _greedy(*, causal=True, position=-1, stop_on_any=False, pad_after=True, keep_bos=False, use_mask=True,
            no_grad=True, eval_mode=True, run_to_max=False, restore=True):
    def greedy(model, src, max_len, *, bos_id, eos_id, src_mask=None):
        mode = model.training
        if eval_mode:
            model.eval()
        if src_mask is None and use_mask:
            src_mask = (src != model.config.pad_id).unsqueeze(1)
        mask = src_mask if use_mask else None
        with torch.set_grad_enabled(not no_grad):
            memory = model.encode(src, mask)
            ys = torch.full((src.shape[0], 1), bos_id)
            done = torch.zeros(src.shape[0], dtype=torch.bool)
            for _ in range(max_len):
                tgt_mask = causal_mask(ys.shape[1]) if causal else None
                nxt = model.decode(ys, memory, tgt_mask, mask)[:, position].argmax(-1)
                if pad_after:
                    nxt = nxt.masked_fill(done, model.config.pad_id)
                ys = torch.cat([ys, nxt[:, None]], 1)
                done |= nxt == eos_id
                if not run_to_max and (done.any() if stop_on_any else done.all()):
                    break
        if restore:
            model.train(mode)
        return ys if keep_bos else ys[:, 1:]

    return greedy


# -- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exercise_id,candidate",
    [("transformer.EncoderLayer", EncoderOK), ("transformer.DecoderLayer", DecoderOK),
     ("decoding.greedy_decode", greedy_ok), ("decoding.greedy_decode", _greedy())],
)
def test_correct_versions_score_full_marks(exercise_id, candidate):
    assert_full_marks(exercise_id, candidate)


@pytest.mark.parametrize(
    "exercise_id,candidate,named",
    [
        ("transformer.EncoderLayer", EncoderNormAfterResidual, "pre-LN wiring"),
        ("transformer.EncoderLayer", EncoderNoMask, "mask is not applied"),
        ("transformer.EncoderLayer", EncoderFFNNoResidual, "FFN has no residual"),
        ("transformer.EncoderLayer", EncoderReturnsTuple, "returned a tuple"),
        ("transformer.EncoderLayer", EncoderOwnNames, "self_attn = Residual"),
        ("transformer.EncoderLayer", EncoderIgnoresDropout, "dropout=0.5"),
        ("transformer.DecoderLayer", DecoderNormAfterResidual, "pre-LN wiring"),
        ("transformer.DecoderLayer", DecoderCrossToItself, "decoder's own stream"),
        ("transformer.DecoderLayer", DecoderNoSelfMask, "sees the future"),
        ("transformer.DecoderLayer", DecoderCausalMaskInCross, "(causal) mask instead of the source"),
        ("transformer.DecoderLayer", DecoderFFNNoResidual, "FFN has no residual"),
        ("transformer.DecoderLayer", DecoderNormalisesMemory, "memory is normalised"),
        ("decoding.greedy_decode", _greedy(causal=False), "without a causal mask"),
        ("decoding.greedy_decode", _greedy(position=0), "first position"),
        ("decoding.greedy_decode", _greedy(stop_on_any=True), "as soon as one row"),
        ("decoding.greedy_decode", _greedy(pad_after=False), "keeps generating"),
        ("decoding.greedy_decode", _greedy(keep_bos=True), "starts with <bos>"),
        ("decoding.greedy_decode", _greedy(use_mask=False), "padding mask is not passed"),
        ("decoding.greedy_decode", _greedy(run_to_max=True), "runs to max_len"),
        ("decoding.greedy_decode", _greedy(no_grad=False), "gradients were being recorded"),
        ("decoding.greedy_decode", _greedy(eval_mode=False), "training mode"),
    ],
)
def test_known_mistakes_fail_with_a_named_hint(exercise_id, candidate, named):
    assert_mistake_named(exercise_id, candidate, named)


def test_the_decoder_mistake_is_named_in_each_norm_first_setting():
    result = check("transformer.DecoderLayer", DecoderNormAfterResidual, quiet=True)
    messages = [m for _, ok, m in result.cases if not ok]
    assert any("post-LN wiring" in m for m in messages) and any("pre-LN wiring" in m for m in messages)


def test_a_model_left_in_eval_mode_is_reported():
    result = check("decoding.greedy_decode", _greedy(restore=False), quiet=True)
    assert any("left in eval mode" in m for _, ok, m in result.cases if not ok), result.cases


def test_checks_do_not_touch_the_global_random_state():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    check("decoding.greedy_decode", greedy_ok, quiet=True)
    assert torch.equal(torch.get_rng_state(), before)
