"""Decoding: turning a trained Transformer's next-token logits into an output sentence (chapters 10-11).

At training time the decoder sees the whole reference target at once (teacher forcing). At
inference there is no reference: the model writes its output one token at a time, each step
feeding back everything written so far (自回归, autoregressive decoding):

1. encode the source once: ``memory = model.encode(src, src_mask)``;
2. start every row with ``<bos>``;
3. run the decoder on the tokens so far and take the logits of the *last* position;
4. choose the next token from them, append it, and repeat until every row has written
   ``<eos>`` or ``max_len`` tokens.

:func:`greedy_decode` chooses the most likely token at every step (贪心解码). It can be
wrong: a likely first word may only lead to unlikely sentences. :func:`beam_search`
(束搜索) keeps the ``beam_size`` best partial sentences instead, and ranks the finished ones
by log-probability divided by a length penalty (长度惩罚) so that short sentences are not
favoured just for having fewer factors below one (:func:`gnmt_length_penalty`);
:func:`beam_step` is one of its steps.

Both decoders use a key/value cache (键值缓存, :class:`course_lib.transformer.KVCache`) by
default: step ``t`` feeds only the newest token, whose query attends to the keys and values
the earlier steps left in the cache, instead of rerunning the decoder over all ``t``
tokens. The logits are the same (the tests prove it); the work per step drops from
``O(t)`` positions to one (``benchmarks/decoding.py`` measures the gain).

``model`` is anything with the :class:`course_lib.transformer.Transformer` interface:
``encode(src, src_mask) -> memory``, ``decode(tgt_in, memory, tgt_mask, memory_mask) ->
logits`` and ``config.pad_id``. The cache is used when ``decode`` also takes a ``cache``
keyword (then ``config.num_layers`` is needed too); a model without one, such as a test's
stub, is decoded by full recomputation.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import torch
from torch import Tensor, nn

from course_lib._validate import boolean, floating, integer, positive_int, real, shape_error, tensor
from course_lib.masks import causal_mask
from course_lib.transformer import KVCache

__all__ = ["greedy_decode", "gnmt_length_penalty", "BeamStep", "beam_step", "beam_search"]


def _source_mask(model: nn.Module, src: Tensor, src_mask: Tensor | None) -> Tensor:
    """The given mask, or one hiding the padding ids of ``src``: (B, 1, S)."""
    if src_mask is not None:
        return src_mask
    return (src != model.config.pad_id).unsqueeze(1)  # (B, 1, S)


def _next_token_logits(model: nn.Module, ys: Tensor, memory: Tensor, src_mask: Tensor,
                       cache: KVCache | None = None) -> Tensor:
    """Logits of the token after ``ys`` (B, t): the decoder's output at the last position, (B, V).

    Without a cache the decoder is rerun over the whole prefix under a causal mask (cost
    grows as ``t²`` over a sentence). With one, only the newest token is fed: the cache
    holds the keys and values of the ``t - 1`` before it, and a single query needs no
    causal mask (every cached key is in its past).
    """
    if cache is not None:
        return model.decode(ys[:, -1:], memory, None, src_mask, cache=cache)[:, -1]  # (B, V)
    tgt_mask = causal_mask(ys.shape[1], device=ys.device)  # (t, t)
    return model.decode(ys, memory, tgt_mask, src_mask)[:, -1]  # (B, V)


def _new_cache(model: nn.Module, use_cache: bool | None) -> KVCache | None:
    """A fresh cache if asked for; by default (None) if ``model.decode`` takes a ``cache`` keyword."""
    if use_cache is None:
        use_cache = "cache" in inspect.signature(model.decode).parameters
    return KVCache(model.config.num_layers) if use_cache else None


def _check_src(src: Tensor) -> Tensor:
    if tensor("src", src, shape="(B, S)").dim() != 2:
        raise shape_error("src", src, "(B, S) token ids")
    if src.dtype.is_floating_point or src.dtype.is_complex or src.dtype == torch.bool:
        raise ValueError(f"src has dtype {src.dtype}; expected an integer tensor of token ids")
    return src


def _check_ids(model: nn.Module, **ids: int) -> tuple[int, ...]:
    """Each id as an int in ``[0, config.vocab_size)`` (or ``>= 0`` for a model without one)."""
    vocab = getattr(model.config, "vocab_size", None)
    top = None if vocab is None else vocab - 1
    what = "a token id >= 0" if top is None else f"a token id in [0, vocab_size={vocab})"
    return tuple(integer(name, value, minimum=0, maximum=top, expected=what) for name, value in ids.items())


def _check_use_cache(use_cache: bool | None) -> bool | None:
    return None if use_cache is None else boolean("use_cache", use_cache)


def greedy_decode(
    model: nn.Module,
    src: Tensor,
    max_len: int,
    *,
    bos_id: int,
    eos_id: int,
    src_mask: Tensor | None = None,
    use_cache: bool | None = None,
) -> Tensor:
    """Translate a batch of sources by taking the most likely next token at every step.

    The model is put in eval mode (no dropout) and run without gradients; its train/eval
    mode is restored afterwards. Rows are decoded together; a row that has written
    ``<eos>`` gets the padding id (``model.config.pad_id``) from then on, and decoding
    stops as soon as every row has finished, or after ``max_len`` tokens.

    Parameters
    ----------
    model : Transformer
        With ``encode``, ``decode`` and ``config.pad_id``.
    src : Tensor of int, shape (B, S)
        Source ids, padded with ``config.pad_id``.
    max_len : int
        Most tokens to generate per row (``<eos>`` included), at least 1.
    bos_id, eos_id : int
        Ids of ``<bos>`` (fed first, not returned) and ``<eos>`` (returned, then padding),
        in ``[0, config.vocab_size)``.
    src_mask : Tensor of bool, shape (B, 1, S), optional
        True on real source tokens. Default: ``src != config.pad_id``.
    use_cache : bool, optional
        True: decode incrementally with a :class:`~course_lib.transformer.KVCache` (one
        token fed per step). False: rerun the decoder over the whole prefix at every step.
        The result is the same. Default: True when ``model.decode`` takes a ``cache``
        keyword (a :class:`~course_lib.transformer.Transformer` does).

    Returns
    -------
    Tensor of long, shape (B, L) with ``1 <= L <= max_len``
        The generated ids, without ``<bos>``: each row is its tokens, ``<eos>``, then
        padding; a row that never wrote ``<eos>`` has ``max_len`` tokens.
        ``Vocab.to_text`` turns a row back into text.
    """
    _check_src(src)
    max_len = positive_int("max_len", max_len)
    bos_id, eos_id = _check_ids(model, bos_id=bos_id, eos_id=eos_id)
    use_cache = _check_use_cache(use_cache)
    pad_id = model.config.pad_id
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            src_mask = _source_mask(model, src, src_mask)
            memory = model.encode(src, src_mask)  # (B, S, d_model), computed once
            cache = _new_cache(model, use_cache)
            B = src.shape[0]
            ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)  # (B, 1)
            finished = torch.zeros(B, dtype=torch.bool, device=src.device)
            for _ in range(max_len):
                next_id = _next_token_logits(model, ys, memory, src_mask, cache).argmax(dim=-1)  # (B,)
                next_id = next_id.masked_fill(finished, pad_id)
                ys = torch.cat([ys, next_id[:, None]], dim=1)
                finished |= next_id == eos_id
                if bool(finished.all()):
                    break
    finally:
        model.train(was_training)
    return ys[:, 1:]  # drop <bos>


# --------------------------------------------------------------------------- beam search


def gnmt_length_penalty(length: Tensor, alpha: float) -> Tensor:
    """Return the length penalty of Wu et al. (2016, GNMT, eq. 14): ``((5 + |Y|) / 6) ** alpha``.

    Beam search ranks a hypothesis ``Y`` by ``log P(Y | X) / lp(Y)``. A log-probability
    is a sum of one negative term per token, so without the division longer sentences
    always look worse; dividing by a penalty that grows with the length compensates.
    ``alpha = 0`` gives ``lp = 1`` (raw log-probabilities); ``alpha = 1`` is close to
    dividing by the length; Vaswani et al. (2017, section 6.1) used ``alpha = 0.6``. The
    constant 5 damps the effect on very short sentences, and ``lp = 1`` for one token.

    Parameters
    ----------
    length : Tensor of int or float, any shape
        ``|Y|``: tokens written, ``<eos>`` included and ``<bos>`` not; each at least 1.
    alpha : float
        The strength, finite and ``>= 0``.

    Returns
    -------
    Tensor of float, the shape of ``length``
    """
    alpha = real("alpha", alpha, low=0.0, expected="a finite alpha >= 0")
    if tensor("length", length, shape="any shape, positive lengths").dtype == torch.bool:
        raise ValueError("length has dtype torch.bool; expected an int or float tensor of lengths >= 1")
    if length.numel() and not bool((length >= 1).all()):  # 5 + |Y| <= 0 would make lp NaN or 0
        raise ValueError(f"length has values down to {length.min().item()}; expected lengths >= 1 "
                         "(tokens written, <eos> included)")
    return _penalty(length, alpha)


def _penalty(length: Tensor, alpha: float) -> Tensor:
    # unchecked, for the decoders' inner loop: checking the lengths there would wait for the device
    return ((5.0 + length.double()) / 6.0) ** alpha


class BeamStep(NamedTuple):
    """The result of :func:`beam_step`, each (B, K'), best first along the beam axis."""

    beam: Tensor  #: long: the old beam each new hypothesis extends, in ``[0, K)``
    token: Tensor  #: long: the token it appends, in ``[0, V)``
    score: Tensor  #: float: its cumulative log-probability (no length penalty)


def beam_step(
    log_probs: Tensor,
    scores: Tensor,
    finished: Tensor,
    lengths: Tensor,
    beam_size: int,
    *,
    pad_id: int,
    length_penalty: float = 0.0,
) -> BeamStep:
    """Choose, for every source, the ``beam_size`` best one-token extensions of its beams.

    Every beam ``k`` of a source proposes ``V`` candidates, "beam ``k`` followed by token
    ``w``", scored ``scores[k] + log_probs[k, w]`` (log-probabilities add up along a
    sentence). A finished beam (it has written ``<eos>``) proposes one candidate only:
    itself followed by ``pad_id``, at no cost and without growing, so it keeps competing
    for a place with its final score. The ``K · V`` candidates of a source are ranked
    *together* (not ``beam_size`` per beam), by ``score / gnmt_length_penalty(length,
    length_penalty)``, where ``length`` counts the candidate's tokens.

    Parameters
    ----------
    log_probs : Tensor of float, shape (B, K, V)
        ``log p(w | source b, beam k)`` for the next token.
    scores : Tensor of float, shape (B, K)
        Cumulative log-probability of each beam so far.
    finished : Tensor of bool, shape (B, K)
        Beams that have written ``<eos>``.
    lengths : Tensor of int, shape (B, K)
        Tokens each beam has written (``<eos>`` included, ``<bos>`` not).
    beam_size : int
        How many candidates to keep per source; ``K' = min(beam_size, K · V)``.
    pad_id : int
        The token a finished beam is extended with.
    length_penalty : float, default 0.0
        ``alpha`` of :func:`gnmt_length_penalty`; 0 ranks by raw log-probability.

    Returns
    -------
    BeamStep
        ``(beam, token, score)``, each (B, K'), sorted best first: new hypothesis ``j``
        of source ``b`` is old beam ``beam[b, j]`` followed by ``token[b, j]``, with
        cumulative log-probability ``score[b, j]``.
    """
    if floating("log_probs", log_probs).dim() != 3:
        raise shape_error("log_probs", log_probs, "(B, K, V): a log-probability per source, beam and token")
    for name, x in (("scores", scores), ("finished", finished), ("lengths", lengths)):
        tensor(name, x, shape="(B, K)")
    if finished.dtype != torch.bool:
        raise ValueError(f"finished has dtype {finished.dtype}; expected a boolean tensor")
    B, K, V = log_probs.shape
    pad_id = integer("pad_id", pad_id, minimum=0, maximum=V - 1, expected=f"a token id in [0, V={V})")
    length_penalty = real("length_penalty", length_penalty, low=0.0, expected="a finite alpha >= 0")
    if scores.shape != (B, K) or finished.shape != (B, K) or lengths.shape != (B, K):
        raise ValueError(f"scores, finished and lengths have shapes {tuple(scores.shape)}, "
                         f"{tuple(finished.shape)}, {tuple(lengths.shape)}; expected (B, K) = {(B, K)} "
                         f"to match log_probs {tuple(log_probs.shape)}")
    beam_size = positive_int("beam_size", beam_size)
    # A finished beam may only be followed by padding, which costs nothing.
    only_pad = torch.full((V,), float("-inf"), dtype=log_probs.dtype, device=log_probs.device)
    only_pad[pad_id] = 0.0
    step = torch.where(finished[..., None], only_pad, log_probs)  # (B, K, V)
    total = scores[..., None] + step  # (B, K, V) cumulative log-probability of each candidate
    new_length = lengths + (~finished).long()  # (B, K): a finished beam does not grow
    rank = total / _penalty(new_length, length_penalty).to(total.dtype)[..., None]
    k = min(beam_size, K * V)
    best = rank.flatten(1).topk(k, dim=1).indices  # (B, K'): across all beams at once
    return BeamStep(beam=best // V, token=best % V, score=total.flatten(1).gather(1, best))


def beam_search(
    model: nn.Module,
    src: Tensor,
    beam_size: int,
    max_len: int,
    length_penalty: float = 0.6,
    *,
    bos_id: int,
    eos_id: int,
    src_mask: Tensor | None = None,
    use_cache: bool | None = None,
    return_scores: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Translate a batch of sources by beam search: keep the ``beam_size`` best partial sentences.

    Each step extends every beam by every token and keeps the ``beam_size`` best candidates
    of each source (:func:`beam_step`). A beam that writes ``<eos>`` is complete: it stays
    in the beam with its final score (padded from then on), and it is remembered if it is
    the best complete hypothesis of its source so far, ranked by the GNMT score
    ``log P(Y | X) / ((5 + |Y|) / 6) ** length_penalty`` (:func:`gnmt_length_penalty`).
    Beams still open after ``max_len`` tokens count as complete at that length. Search
    stops when every beam of every source is complete, or after ``max_len`` steps.

    The beams of all sources are decoded as one batch of ``B · beam_size`` rows (row
    ``b · K + k`` is beam ``k`` of source ``b``); when the beams are re-ranked, the rows
    and their key/value cache are reordered with them. With ``beam_size=1`` this is
    exactly :func:`greedy_decode`.

    Parameters
    ----------
    model : Transformer
        With ``encode``, ``decode`` and ``config.pad_id`` (and ``config.num_layers`` for
        the cache). Put in eval mode and run without gradients; its mode is restored.
    src : Tensor of int, shape (B, S)
        Source ids, padded with ``config.pad_id``.
    beam_size : int
        Hypotheses kept per source, at least 1 (Vaswani et al. 2017 used 4).
    max_len : int
        Most tokens per hypothesis (``<eos>`` included), at least 1.
    length_penalty : float, default 0.6
        ``alpha >= 0`` of the GNMT length penalty; 0.6 is Vaswani et al.'s setting, 0
        ranks by raw log-probability (which favours short outputs).
    bos_id, eos_id : int
        Ids of ``<bos>`` (fed first, not returned) and ``<eos>`` (returned, then padding).
    src_mask : Tensor of bool, shape (B, 1, S), optional
        True on real source tokens. Default: ``src != config.pad_id``.
    use_cache : bool, optional
        Decode incrementally with a :class:`~course_lib.transformer.KVCache`, reordered
        with the beams; False reruns the decoder over each whole prefix. The result is
        the same. Default: True when ``model.decode`` takes a ``cache`` keyword.
    return_scores : bool, default False
        Also return each output's length-normalised score.

    Returns
    -------
    ids : Tensor of long, shape (B, L) with ``1 <= L <= max_len``
        The best hypothesis of each source, without ``<bos>``: its tokens, ``<eos>``, then
        padding (no ``<eos>`` if it was cut off at ``max_len``).
    scores : Tensor of float, shape (B,)
        Only with ``return_scores``: ``log P(ids | src) / gnmt_length_penalty(|ids|)``.
    """
    _check_src(src)
    beam_size, max_len = positive_int("beam_size", beam_size), positive_int("max_len", max_len)
    length_penalty = real("length_penalty", length_penalty, low=0.0, expected="a finite alpha >= 0")
    bos_id, eos_id = _check_ids(model, bos_id=bos_id, eos_id=eos_id)
    use_cache, return_scores = _check_use_cache(use_cache), boolean("return_scores", return_scores)
    pad_id = model.config.pad_id
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = _beam_search(model, src, beam_size, max_len, length_penalty, bos_id=bos_id, eos_id=eos_id,
                               pad_id=pad_id, src_mask=_source_mask(model, src, src_mask), use_cache=use_cache)
    finally:
        model.train(was_training)
    return out if return_scores else out[0]


def _beam_search(model, src, beam_size, max_len, alpha, *, bos_id, eos_id, pad_id, src_mask, use_cache):
    B, device = src.shape[0], src.device
    memory = model.encode(src, src_mask)  # (B, S, d_model), computed once
    cache = _new_cache(model, use_cache)
    # One beam per source to begin with (<bos>, score 0); it grows to beam_size at step 1.
    ys = torch.full((B, 1, 1), bos_id, dtype=torch.long, device=device)  # (B, K, 1 + t)
    scores = torch.zeros(B, 1, dtype=memory.dtype, device=device)  # (B, K) log P(beam)
    finished = torch.zeros(B, 1, dtype=torch.bool, device=device)
    lengths = torch.zeros(B, 1, dtype=torch.long, device=device)
    best = torch.full((B, max_len), pad_id, dtype=torch.long, device=device)  # best complete hypothesis
    best_score = torch.full((B,), float("-inf"), dtype=torch.float64, device=device)
    best_len = torch.zeros(B, dtype=torch.long, device=device)
    sources = torch.arange(B, device=device)
    beam_memory, beam_mask = memory, src_mask
    for t in range(1, max_len + 1):
        K = ys.shape[1]
        if beam_memory.shape[0] != B * K:  # the beam has grown: row b·K + k reads source b
            rows = sources.repeat_interleave(K)  # (B·K,)
            beam_memory = memory.index_select(0, rows)
            beam_mask = src_mask.index_select(0, rows) if src_mask.shape[0] == B else src_mask
        logits = _next_token_logits(model, ys.view(B * K, -1), beam_memory, beam_mask, cache)  # (B·K, V)
        log_probs = logits.log_softmax(dim=-1).view(B, K, -1)  # (B, K, V)
        beam, token, scores = beam_step(log_probs, scores, finished, lengths, beam_size,
                                        pad_id=pad_id, length_penalty=alpha)  # each (B, K')
        # Every new hypothesis continues an old beam: take over that beam's tokens and state.
        parent_finished = finished.gather(1, beam)
        lengths = lengths.gather(1, beam) + (~parent_finished).long()
        finished = parent_finished | (token == eos_id)
        ys = torch.cat([ys.gather(1, beam[..., None].expand(-1, -1, ys.shape[2])), token[..., None]], dim=2)
        if cache is not None:
            cache.reorder((sources[:, None] * K + beam).flatten())  # old flat row of each new beam
        # Hypotheses complete at this step: just wrote <eos>, or ran out of room.
        complete = ~parent_finished if t == max_len else finished & ~parent_finished  # (B, K')
        normalised = scores.double() / _penalty(lengths, alpha)
        candidate = normalised.masked_fill(~complete, float("-inf")).max(dim=1)  # best per source
        better = candidate.values > best_score  # (B,)
        if bool(better.any()):
            best[better, :t] = ys[sources, candidate.indices, 1:][better]  # a newly complete one has t tokens
            best_score = torch.where(better, candidate.values, best_score)
            best_len = torch.where(better, torch.full_like(best_len, t), best_len)
        if bool(finished.all()):
            break
    return best[:, : int(best_len.max())], best_score.to(memory.dtype)
