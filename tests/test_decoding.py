"""Tests of incremental decoding (the key/value cache) and beam search (chapter 11).

References: full recomputation of the decoder over the whole prefix (the cache must give the
same logits), teacher-forced log-probabilities of whole sequences (beam search's scores),
brute-force enumeration of every sequence of a tiny model (the exact optimum a wide enough
beam must find), greedy decoding (beam size 1), and hand-computed numbers on a stub model
whose next-token distributions are written out in the test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from course_lib.decoding import beam_search, beam_step, gnmt_length_penalty, greedy_decode
from course_lib.masks import causal_mask
from course_lib.multihead import AttentionCache, MultiHeadAttention
from course_lib.transformer import KVCache, Transformer, TransformerConfig

PAD, BOS, EOS = 0, 1, 2
DT = torch.float64


def _model(seed: int = 0, *, vocab_size: int = 11, norm_first: bool = False, fast: bool = False,
           num_layers: int = 2) -> Transformer:
    """A small random float64 model. Untied embeddings: a tied random model mostly repeats its input."""
    torch.manual_seed(seed)
    config = TransformerConfig(vocab_size=vocab_size, d_model=16, num_heads=2, d_ff=32, num_layers=num_layers,
                               dropout=0.0, norm_first=norm_first, tie_embeddings=False, fast=fast, max_len=24)
    return Transformer(config).to(DT).eval()


def _sources(seed: int = 0, lengths=(5, 3, 4, 1), vocab_size: int = 11) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, vocab_size, (len(lengths), max(lengths)), generator=g)
    for b, n in enumerate(lengths):
        src[b, n:] = PAD
    return src


def _log_prob(model: Transformer, src: torch.Tensor, ids: list[int]) -> float:
    """log P(ids | src) by one teacher-forced pass: the sum of each token's log-probability."""
    src = src[None]
    with torch.no_grad():
        return _teacher_forced(model, src, ids)


def _teacher_forced(model: Transformer, src: torch.Tensor, ids: list[int]) -> float:
    tgt_in = torch.tensor([[BOS] + ids[:-1]])
    logits = model(src, tgt_in, (src != PAD)[:, None], causal_mask(len(ids)))  # (1, T, V)
    return float(logits.log_softmax(-1)[0, torch.arange(len(ids)), torch.tensor(ids)].sum())


def _tokens(row: torch.Tensor) -> list[int]:
    """A decoded row up to and including <eos> (padding after it dropped)."""
    ids = row.tolist()
    return ids[: ids.index(EOS) + 1] if EOS in ids else ids


# -- the key/value cache -------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [False, True], ids=["explicit", "fast"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_cached_step_by_step_logits_equal_full_recomputation(norm_first, fast):
    model = _model(1, norm_first=norm_first, fast=fast)
    src = _sources(2)
    src_mask = (src != PAD)[:, None]
    memory = model.encode(src, src_mask)
    tgt = torch.randint(3, 11, (4, 7), generator=torch.Generator().manual_seed(3))
    full = model.decode(tgt, memory, causal_mask(7), src_mask)  # (B, 7, V)

    cache = KVCache(model.config.num_layers)
    steps = []
    for t in range(7):
        assert cache.length == t  # the position the next token is placed at
        steps.append(model.decode(tgt[:, t:t + 1], memory, None, src_mask, cache=cache))
    assert_close(torch.cat(steps, 1), full)
    for layer in cache.layers:
        assert layer.self_attn.k.shape == (4, 2, 7, 8)  # (B, H, t, d_head): one key per position
        assert layer.cross_attn.k.shape == (4, 2, 5, 8)  # (B, H, S, d_head): the memory, once

    # Several positions per call: a prefix of 3, then 2 more, then 2 more; a chunk needs the
    # rows of the causal mask for its own positions, over every key so far.
    cache = KVCache(model.config.num_layers)
    chunks = [model.decode(tgt[:, :3], memory, causal_mask(3), src_mask, cache=cache)]
    chunks.append(model.decode(tgt[:, 3:5], memory, causal_mask(5)[3:], src_mask, cache=cache))
    chunks.append(model.decode(tgt[:, 5:], memory, causal_mask(7)[5:], src_mask, cache=cache))
    assert_close(torch.cat(chunks, 1), full)


@pytest.mark.parametrize("fast", [False, True], ids=["explicit", "fast"])
def test_cached_multihead_self_attention_equals_causal_attention(fast):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, fast=fast).to(DT)
    x = torch.randn(2, 6, 16, dtype=DT)
    full, full_w = mha(x, x, x, causal_mask(6))
    cache = AttentionCache()
    outs = []
    for t in range(6):
        out, w = mha(x[:, t:t + 1], x[:, t:t + 1], x[:, t:t + 1], cache=cache)
        outs.append(out)
        if not fast:  # one query over the t + 1 keys so far: the causal row, without its zeros
            assert_close(w, full_w[:, :, t:t + 1, : t + 1])
    assert_close(torch.cat(outs, 1), full)


def test_static_cache_projects_the_memory_once():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).to(DT)
    memory = torch.randn(2, 5, 16, dtype=DT)
    cache = AttentionCache(static=True)
    q1, q2 = torch.randn(2, 1, 16, dtype=DT), torch.randn(2, 1, 16, dtype=DT)
    mha(q1, memory, memory, cache=cache)
    keys = cache.k
    out, _ = mha(q2, memory, memory, cache=cache)
    assert cache.k is keys and cache.length == 5  # not re-projected, not grown
    assert_close(out, mha(q2, memory, memory)[0])


def test_reordered_cache_equals_decoding_the_reordered_batch():
    """Beam search reorders rows: after reorder(index) row i must continue old row index[i]."""
    model = _model(5)
    src = _sources(6)
    src_mask = (src != PAD)[:, None]
    memory = model.encode(src, src_mask)
    tgt = torch.randint(3, 11, (4, 5), generator=torch.Generator().manual_seed(7))
    cache = KVCache(model.config.num_layers)
    for t in range(3):
        model.decode(tgt[:, t:t + 1], memory, None, src_mask, cache=cache)
    index = torch.tensor([2, 0, 0, 3, 1])  # rows may repeat and the batch may grow
    cache.reorder(index)
    nxt = torch.randint(3, 11, (5, 2), generator=torch.Generator().manual_seed(8))
    got = torch.cat([model.decode(nxt[:, i:i + 1], memory[index], None, src_mask[index], cache=cache)
                     for i in range(2)], 1)
    prefix = torch.cat([tgt[index, :3], nxt], 1)  # (5, 5)
    expected = model.decode(prefix, memory[index], causal_mask(5), src_mask[index])[:, 3:]
    assert_close(got, expected)


def test_cache_rejects_mismatches():
    model = _model(0)
    src = _sources(0)
    memory = model.encode(src)
    cache = KVCache(model.config.num_layers)
    model.decode(torch.full((4, 1), BOS), memory, cache=cache)
    with pytest.raises(ValueError, match="batch size 3"):  # rows changed without cache.reorder
        model.decode(torch.full((3, 1), 5), memory[:3], cache=cache)
    with pytest.raises(ValueError, match="layers"):
        model.decode(torch.full((4, 1), BOS), memory, cache=KVCache(3))
    with pytest.raises(ValueError, match="num_layers"):
        KVCache(0)
    full = KVCache(model.config.num_layers)
    model.decode(torch.full((4, 24), 5), memory, causal_mask(24), cache=full)
    with pytest.raises(ValueError, match="max_len=24"):  # position 24 does not exist
        model.decode(torch.full((4, 1), 5), memory, cache=full)


# -- greedy decoding with the cache --------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_greedy_with_cache_equals_greedy_without(norm_first):
    for seed in range(3):
        model = _model(seed, norm_first=norm_first)
        src = _sources(seed)
        cached = greedy_decode(model, src, 12, bos_id=BOS, eos_id=EOS)
        recomputed = greedy_decode(model, src, 12, bos_id=BOS, eos_id=EOS, use_cache=False)
        assert torch.equal(cached, recomputed)


# -- beam search ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_size_one_is_greedy(alpha):
    for seed in range(3):
        model = _model(seed, norm_first=bool(seed % 2))
        src = _sources(seed)
        greedy = greedy_decode(model, src, 10, bos_id=BOS, eos_id=EOS)
        for use_cache in (True, False) if seed == 0 else (True,):
            beam = beam_search(model, src, 1, 10, alpha, bos_id=BOS, eos_id=EOS, use_cache=use_cache)
            assert torch.equal(beam, greedy)


def test_beam_search_with_cache_equals_without():
    """The cache must be reordered with the beams; a stale or misaligned cache changes the result."""
    for seed, K in [(0, 3), (1, 4), (2, 5)]:
        model = _model(seed)
        src = _sources(seed)
        cached = beam_search(model, src, K, 10, bos_id=BOS, eos_id=EOS, return_scores=True)
        recomputed = beam_search(model, src, K, 10, bos_id=BOS, eos_id=EOS, use_cache=False, return_scores=True)
        assert torch.equal(cached[0], recomputed[0])
        assert_close(cached[1], recomputed[1])


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_beam_scores_are_length_normalised_log_probabilities_at_least_greedys(alpha):
    """The returned score is log P(Y|X) / lp(|Y|), recomputed by teacher forcing. On this seeded
    model a wider beam never does worse than greedy (beam search does not guarantee that in
    general; here it also must do strictly better somewhere, or the test would prove nothing)."""
    gains = []
    for seed in range(2):
        model = _model(seed)
        src = _sources(seed)
        greedy = greedy_decode(model, src, 10, bos_id=BOS, eos_id=EOS)
        ids, scores = beam_search(model, src, 4, 10, alpha, bos_id=BOS, eos_id=EOS, return_scores=True)
        for b in range(src.shape[0]):
            n = int((src[b] != PAD).sum())
            beam_lp, greedy_lp = (_log_prob(model, src[b, :n], ys) / ((5 + len(ys)) / 6) ** alpha
                                  for ys in (_tokens(ids[b]), _tokens(greedy[b])))
            assert math.isclose(float(scores[b]), beam_lp, rel_tol=1e-9)
            assert beam_lp >= greedy_lp - 1e-12
            gains.append(beam_lp - greedy_lp)
    assert max(gains) > 0.1


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_a_wide_enough_beam_finds_the_exact_optimum(alpha):
    """With room for every hypothesis, beam search is exhaustive: it must return the best of all
    sequences (each ending in <eos>, or cut at max_len), ranked by log P / lp, found by brute force."""
    V, max_len = 5, 3
    model = _model(11, vocab_size=V)
    src = torch.tensor([3, 4, 3, 4])
    candidates = []
    for n in range(1, max_len + 1):
        for ys in itertools.product(range(V), repeat=n):
            if EOS in ys[:-1] or (n < max_len and ys[-1] != EOS):
                continue
            candidates.append((_log_prob(model, src, list(ys)) / ((5 + n) / 6) ** alpha, list(ys)))
    best_score, best_ys = max(candidates)
    ids, score = beam_search(model, src[None], V ** max_len, max_len, alpha, bos_id=BOS, eos_id=EOS,
                             return_scores=True)
    assert _tokens(ids[0]) == best_ys
    assert math.isclose(float(score[0]), best_score, rel_tol=1e-9)


def test_batched_beam_search_equals_one_by_one():
    model = _model(3, norm_first=True)
    src = _sources(4, lengths=(5, 2, 4))
    ids, scores = beam_search(model, src, 3, 9, bos_id=BOS, eos_id=EOS, return_scores=True)
    for b in range(3):
        n = int((src[b] != PAD).sum())
        one, score = beam_search(model, src[b:b + 1, :n], 3, 9, bos_id=BOS, eos_id=EOS, return_scores=True)
        width = one.shape[1]
        assert torch.equal(ids[b, :width], one[0])
        assert (ids[b, width:] == PAD).all()
        assert_close(scores[b], score[0])


# -- beam search on a model whose distributions are written out ---------------------------------


class _Table(nn.Module):
    """A fake model: the next-token distribution is looked up from the prefix written so far.

    ``table[prefix]`` gives some probabilities; the rest of the mass is spread evenly over the
    other tokens. A prefix not in the table writes <eos> with probability ``p_end``.
    """

    V = 8

    def __init__(self, table: dict[tuple, dict[int, float]], p_end: float = 0.9):
        super().__init__()
        self.table, self.p_end = table, p_end
        self.config = TransformerConfig(vocab_size=self.V, d_model=8, num_heads=2, d_ff=8, num_layers=1)
        self.calls = 0

    def encode(self, src, src_mask=None):
        assert not torch.is_grad_enabled() and not self.training
        return torch.zeros(src.shape[0], src.shape[1], 8, dtype=DT)

    def distribution(self, prefix: tuple) -> torch.Tensor:
        given = self.table.get(prefix, {EOS: self.p_end})
        rest = (1.0 - sum(given.values())) / (self.V - len(given))
        p = torch.full((self.V,), rest, dtype=DT)
        for token, q in given.items():
            p[token] = q
        return p

    def decode(self, tgt_in, memory, tgt_mask=None, memory_mask=None):
        self.calls += 1
        assert tgt_in.shape[0] == memory.shape[0]
        last = torch.stack([self.distribution(tuple(row[1:].tolist())) for row in tgt_in]).log()  # (N, V)
        logits = torch.zeros(*tgt_in.shape, self.V, dtype=DT)
        logits[:, -1] = last
        return logits


A, B_, C, D_ = 3, 4, 5, 6
SRC = torch.full((1, 2), 7)


def test_beam_search_finds_what_greedy_misses():
    # Greedy takes A (0.5), then at best 0.3: P = 0.5 * 0.3 * 0.9 = 0.135. B (0.4) then <eos> (0.9) is 0.36.
    table = {(): {A: 0.5, B_: 0.4, EOS: 0.05},
             (A,): {C: 0.3, D_: 0.29, EOS: 0.01},
             (B_,): {EOS: 0.9}}
    greedy = greedy_decode(_Table(table), SRC, 6, bos_id=BOS, eos_id=EOS)
    assert greedy.tolist() == [[A, C, EOS]]
    for alpha in (0.0, 0.6):
        model = _Table(table)
        ids, score = beam_search(model, SRC, 2, 6, alpha, bos_id=BOS, eos_id=EOS, return_scores=True)
        assert ids.tolist() == [[B_, EOS]]
        assert math.isclose(float(score[0]), math.log(0.4 * 0.9) / (7 / 6) ** alpha, rel_tol=1e-12)
        # Stops once both beams have written <eos> ([B, <eos>] at step 2, [A, C, <eos>] at step 3).
        assert model.calls == 3


def test_length_penalty_decides_between_a_short_and_a_long_output():
    # [<eos>]: log 0.4 = -0.916 at length 1.  [A, B, <eos>]: log(0.6 * 0.7 * 0.9) = -0.973 at length 3.
    # alpha = 0 prefers the short one; alpha = 1 divides the long one by 8/6: -0.730 beats -0.916.
    table = {(): {A: 0.6, EOS: 0.4}, (A,): {B_: 0.7, EOS: 0.01}}
    short = beam_search(_Table(table), SRC, 2, 5, 0.0, bos_id=BOS, eos_id=EOS, return_scores=True)
    long = beam_search(_Table(table), SRC, 2, 5, 1.0, bos_id=BOS, eos_id=EOS, return_scores=True)
    assert short[0].tolist() == [[EOS]] and math.isclose(float(short[1][0]), math.log(0.4))
    assert long[0].tolist() == [[A, B_, EOS]]
    assert math.isclose(float(long[1][0]), math.log(0.6 * 0.7 * 0.9) / (8 / 6))


def test_a_finished_hypothesis_pushed_out_of_the_beam_is_still_returned():
    # alpha = 3. Step 1: [<eos>] scores log 0.4 = -0.916. Step 2: [A, C] and [A, D] score
    # log 0.3 / (7/6)^3 = -0.758 each, so they take both places and [<eos>] leaves the beam.
    # Step 3 ends them badly: log(0.3 * 0.05) / (8/6)^3 = -1.77. The best is still [<eos>].
    table = {(): {A: 0.6, EOS: 0.4}, (A,): {C: 0.3, D_: 0.3, EOS: 1e-4},
             (A, C): {EOS: 0.05}, (A, D_): {EOS: 0.05}}
    ids, score = beam_search(_Table(table, p_end=0.05), SRC, 2, 3, 3.0, bos_id=BOS, eos_id=EOS,
                             return_scores=True)
    assert ids.tolist() == [[EOS]]
    assert math.isclose(float(score[0]), math.log(0.4))


def test_beam_search_stops_at_max_len_and_restores_the_mode():
    table = {(): {A: 0.9}, (A,): {A: 0.9}, (A, A): {A: 0.9}}  # never writes <eos> within 3 steps
    model = _Table(table, p_end=0.01).train()
    ids = beam_search(model, SRC, 3, 3, bos_id=BOS, eos_id=EOS)
    assert ids.tolist() == [[A, A, A]]  # cut off at max_len, no <eos>
    assert model.calls == 3 and model.training


def test_beam_search_rejects_bad_arguments():
    model = _model(0)
    src = _sources(0)
    for beam_size in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="beam_size"):
            beam_search(model, src, beam_size, 5, bos_id=BOS, eos_id=EOS)
    with pytest.raises(ValueError, match="max_len"):
        beam_search(model, src, 2, 0, bos_id=BOS, eos_id=EOS)
    for alpha in (-0.5, True, "0.6", float("nan")):
        with pytest.raises(ValueError, match="length_penalty"):
            beam_search(model, src, 2, 5, alpha, bos_id=BOS, eos_id=EOS)
    with pytest.raises(ValueError, match="src has shape"):
        beam_search(model, src[0], 2, 5, bos_id=BOS, eos_id=EOS)
    # Integer-likes are sizes: a numpy int or a 0-d tensor decodes as the int would.
    assert torch.equal(beam_search(model, src, np.int64(2), torch.tensor(5), bos_id=BOS, eos_id=EOS),
                       beam_search(model, src, 2, 5, bos_id=BOS, eos_id=EOS))


# -- one step, by hand ---------------------------------------------------------------------------


def test_gnmt_length_penalty():
    lengths = torch.tensor([1, 2, 7])
    assert_close(gnmt_length_penalty(lengths, 0.0), torch.ones(3, dtype=DT))
    assert_close(gnmt_length_penalty(lengths, 0.6), torch.tensor([1.0, (7 / 6) ** 0.6, 2.0 ** 0.6], dtype=DT))


def test_beam_step_by_hand():
    # Two beams, V = 4 (token 0 is padding). Beam 0 has log-prob -1, beam 1 has -2.
    log_probs = torch.log(torch.tensor([[[0.1, 0.2, 0.3, 0.4],
                                         [0.05, 0.05, 0.1, 0.8]]], dtype=DT))
    scores = torch.tensor([[-1.0, -2.0]], dtype=DT)
    lengths = torch.tensor([[2, 2]])
    open_ = torch.tensor([[False, False]])
    step = beam_step(log_probs, scores, open_, lengths, 3, pad_id=0)
    # Across both beams: -1 + log .4, -1 + log .3, -2 + log .8 (= -2.22) beats -1 + log .2 (= -2.61).
    assert step.beam.tolist() == [[0, 0, 1]] and step.token.tolist() == [[3, 2, 3]]
    assert_close(step.score, torch.tensor([[-1 + math.log(0.4), -1 + math.log(0.3), -2 + math.log(0.8)]],
                                          dtype=DT))

    # Beam 0 finished: its only continuation is padding at no cost, and it keeps its length 2.
    finished = torch.tensor([[True, False]])
    step = beam_step(log_probs, scores, finished, lengths, 3, pad_id=0)
    assert step.beam.tolist() == [[0, 1, 1]] and step.token.tolist() == [[0, 3, 2]]
    assert_close(step.score, torch.tensor([[-1.0, -2 + math.log(0.8), -2 + math.log(0.1)]], dtype=DT))

    # alpha = 2: the open beam's candidates (length 3) are divided by (8/6)^2 = 1.78, the finished
    # one (length 2, it does not grow) by (7/6)^2 = 1.36: -1 / 1.36 = -0.73 still leads -2.22 / 1.78.
    step = beam_step(log_probs, scores, finished, lengths, 2, pad_id=0, length_penalty=2.0)
    assert step.beam.tolist() == [[0, 1]] and step.token.tolist() == [[0, 3]]
    # A strong penalty puts the longer open hypothesis first: -0.5 raw for the finished beam at
    # length 2 vs -2.22 at length 3 under alpha = 12: -0.5 / 6.35 = -0.079 < -2.22 / 31.6 = -0.070.
    step = beam_step(log_probs, torch.tensor([[-0.5, -2.0]], dtype=DT), finished, lengths, 2, pad_id=0,
                     length_penalty=12.0)
    assert step.beam.tolist() == [[1, 0]] and step.token.tolist() == [[3, 0]]


def test_beam_step_keeps_at_most_k_times_v_and_checks_shapes():
    log_probs = torch.log_softmax(torch.randn(2, 1, 3, dtype=DT), -1)
    step = beam_step(log_probs, torch.zeros(2, 1, dtype=DT), torch.zeros(2, 1, dtype=torch.bool),
                     torch.zeros(2, 1, dtype=torch.long), 5, pad_id=0)
    assert step.beam.shape == (2, 3)  # one beam of 3 tokens has only 3 extensions
    assert torch.equal(step.token, log_probs[:, 0].argsort(-1, descending=True))
    with pytest.raises(ValueError, match="expected \\(B, K\\)"):
        beam_step(log_probs, torch.zeros(2, 2, dtype=DT), torch.zeros(2, 1, dtype=torch.bool),
                  torch.zeros(2, 1, dtype=torch.long), 2, pad_id=0)
    with pytest.raises(ValueError, match="beam_size"):
        beam_step(log_probs, torch.zeros(2, 1, dtype=DT), torch.zeros(2, 1, dtype=torch.bool),
                  torch.zeros(2, 1, dtype=torch.long), 0, pad_id=0)
