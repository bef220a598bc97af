"""Checks for the decoding exercises: greedy_decode (chapter 10) and beam_step (chapter 11).

Two kinds of model are used. A *scripted* model, whose row ``b`` writes ``<eos>`` at a
step chosen by the grader, tests the bookkeeping: stop when every row has finished, pad
after ``<eos>``, drop ``<bos>``, respect ``max_len``, eval mode and no gradients. A small
random :class:`~course_lib.transformer.Transformer` tests the step itself against the
reference; the known wrong steps (the logits of the first position instead of the last,
the decoder run without its causal mask, the source padding ignored) are computed and
named as ``mistakes``.

``beam_step`` is a pure function of tensors: the grader compares ``(beam, token, score)``
with its own implementation, and re-runs that implementation with one switch flipped to
name the known mistakes (best tokens taken per beam instead of across beams, scores not
accumulated, finished beams extended, the length penalty left out or applied to the wrong
length).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import Tensor, nn

from course_lib.decoding import greedy_decode
from course_lib.grading.registry import CaseFailed, exercise
from course_lib.masks import causal_mask
from course_lib.transformer import Transformer, TransformerConfig

BOS, EOS, PAD, VOCAB = 1, 2, 0, 20


class _Scripted(nn.Module):
    """Row ``b`` writes 5, 6, 7, ... and ``<eos>`` at step ``script[b]``; records how it is called."""

    def __init__(self, script: list[int]):
        super().__init__()
        self.script = script
        self.config = SimpleNamespace(pad_id=PAD)
        self.decode_calls = 0
        self.saw_training = self.saw_grad = False

    def _note(self) -> None:
        self.saw_training |= self.training
        self.saw_grad |= torch.is_grad_enabled()

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        self._note()
        return torch.zeros(src.shape[0], src.shape[1], 4)

    def decode(self, tgt_in: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None) -> Tensor:
        self._note()
        self.decode_calls += 1
        step = tgt_in.shape[1] - 1  # tokens written so far
        logits = torch.zeros(tgt_in.shape[0], tgt_in.shape[1], VOCAB)
        logits[:, :-1, 3] = 1.0  # earlier positions point elsewhere: only the last one counts
        for b, eos_at in enumerate(self.script):
            logits[b, -1, EOS if step == eos_at else 5 + step] = 1.0
        return logits

    def forward(self, src, tgt_in, src_mask=None, tgt_mask=None):
        return self.decode(tgt_in, self.encode(src, src_mask), tgt_mask, src_mask)


def _scripted_rows(script: list[int], max_len: int, *, pad_after_eos: bool = True) -> list[list[int]]:
    rows = []
    for eos_at in script:
        row = [EOS if t == eos_at else 5 + t for t in range(max_len)]
        if pad_after_eos:
            row = [PAD if t > eos_at else tok for t, tok in enumerate(row)]
        rows.append(row)
    return rows


def _as_tensor(got) -> Tensor:
    if not isinstance(got, Tensor):
        raise CaseFailed(f"greedy_decode should return a torch.Tensor of ids; got {type(got).__name__}")
    if got.dim() != 2:
        raise CaseFailed(f"the output has shape {tuple(got.shape)}; expected (B, L) token ids")
    return got.long()


def _variant(model: nn.Module, src: Tensor, max_len: int, src_mask: Tensor | None, *,
             position: int = -1, causal: bool = True) -> Tensor:
    """A greedy decoder with one wrong step, for naming the learner's mistake."""
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        ys = torch.full((src.shape[0], 1), BOS)
        done = torch.zeros(src.shape[0], dtype=torch.bool)
        for _ in range(max_len):
            mask = causal_mask(ys.shape[1]) if causal else None
            nxt = model.decode(ys, memory, mask, src_mask)[:, position].argmax(-1).masked_fill(done, PAD)
            ys = torch.cat([ys, nxt[:, None]], 1)
            done |= nxt == EOS
            if done.all():
                break
    return ys[:, 1:]


@exercise("decoding.greedy_decode", name="greedy_decode", chapter="10")
def _(candidate, g):
    """greedy_decode(model, src, max_len, *, bos_id, eos_id, src_mask=None) -> (B, <= max_len) ids."""
    src = torch.full((3, 4), 7)
    script = [1, 3, 0]
    with g.case("rows finish at different steps: <eos> kept, padding after it, stop when all have finished",
                points=2):
        model = _Scripted(script)
        got = _as_tensor(candidate(model, src, 10, bos_id=BOS, eos_id=EOS))
        expected = torch.tensor(_scripted_rows(script, 4))
        g.assert_close(got, expected, what="ids", hint="each step appends the argmax of the last position's "
                       "logits; after a row writes <eos> it gets the pad id; stop once every row has written <eos>",
                       mistakes={
                           "the output starts with <bos>; return only the generated tokens":
                               torch.cat([torch.full((3, 1), BOS), expected], 1),
                           "a finished row keeps generating; fill it with model.config.pad_id after <eos>":
                               torch.tensor(_scripted_rows(script, 4, pad_after_eos=False)),
                           "decoding stops as soon as one row has finished; wait for every row":
                               expected[:, :1],
                           "decoding runs to max_len although every row has finished":
                               torch.tensor(_scripted_rows(script, 10)),
                           "the logits of the first position are used; the next token comes from the last one":
                               _variant(_Scripted(script), src, 10, None, position=0),
                       })
        g.expect(model.decode_calls <= 4, f"the model was run {model.decode_calls} times for 4 steps; stop "
                 "decoding as soon as every row has written <eos>")
    with g.case("at most max_len tokens when a row never writes <eos>"):
        got = _as_tensor(candidate(_Scripted([1, 8]), src[:2], 3, bos_id=BOS, eos_id=EOS))
        g.assert_close(got, torch.tensor([[5, 2, 0], [5, 6, 7]]), what="ids",
                       hint="generate at most max_len tokens per row (<eos> included)")
    with g.case("runs in eval mode without gradients and restores the model's mode"):
        model = _Scripted(script).train()
        got = _as_tensor(candidate(model, src, 6, bos_id=BOS, eos_id=EOS))
        g.expect(not model.saw_training, "the model was in training mode while decoding (dropout on); call "
                 "model.eval() first")
        g.expect(not model.saw_grad, "gradients were being recorded; decode inside torch.no_grad()")
        g.expect(model.training, "the model was left in eval mode; put it back in the mode it was in")

    config = TransformerConfig(vocab_size=VOCAB, d_model=16, num_heads=2, d_ff=32, num_layers=2, dropout=0.0,
                               max_len=32)
    with torch.random.fork_rng(devices=[]):  # seeded, without touching the learner's random state
        torch.manual_seed(int(g.randint(0, 10_000, 1)))
        model = Transformer(config).eval()
    lengths = [6, 3, 5, 1]
    src = g.randint(4, VOCAB, 4, 6)
    for b, n in enumerate(lengths):
        src[b, n:] = PAD
    src_mask = (src != PAD)[:, None, :]
    with g.case("a random Transformer, batch of 4 padded sources: matches the reference token by token", points=2):
        expected = greedy_decode(model, src, 8, bos_id=BOS, eos_id=EOS, src_mask=src_mask)
        got = _as_tensor(candidate(model, src.clone(), 8, bos_id=BOS, eos_id=EOS, src_mask=src_mask.clone()))
        g.assert_close(got, expected, what="ids", hint="encode once, then at each step decode the tokens so far "
                       "with a causal mask and the source mask, and take the argmax of the last position",
                       mistakes={
                           "the decoder runs without a causal mask":
                               _variant(model, src, 8, src_mask, causal=False),
                           "the source padding mask is not passed to the encoder and the decoder":
                               _variant(model, src, 8, None),
                           "the logits of the first position are used; the next token comes from the last one":
                               _variant(model, src, 8, src_mask, position=0),
                       })
    with g.case("src_mask defaults to the non-padding source tokens"):
        got = _as_tensor(candidate(model, src.clone(), 8, bos_id=BOS, eos_id=EOS))
        g.assert_close(got, expected, what="ids", hint="without src_mask, hide the positions where src == "
                       "model.config.pad_id", mistakes={"the padding is not masked when src_mask is None":
                                                        _variant(model, src, 8, None)})


# --------------------------------------------------------------------------- beam_step (chapter 11)


def _beam_step_variant(log_probs: Tensor, scores: Tensor, finished: Tensor, lengths: Tensor, beam_size: int,
                       pad_id: int, alpha: float = 0.0, *, per_beam: bool = False, accumulate: bool = True,
                       extend_finished: bool = False, pad_costs: bool = False, penalty: bool = True,
                       old_length: bool = False, finished_grows: bool = False, multiply: bool = False,
                       split_by_k: bool = False, normalised_score: bool = False) -> Tensor:
    """The grader's own beam step, with switches for the mistakes; returns (B, K', 3): beam, token, score."""
    B, K, V = log_probs.shape
    base = scores[..., None] if accumulate else torch.zeros_like(scores)[..., None]
    total = base + log_probs  # (B, K, V)
    if not extend_finished:
        keep = torch.full_like(total, float("-inf"))
        keep[..., pad_id] = base[..., 0] + (log_probs[..., pad_id] if pad_costs else 0.0)
        total = torch.where(finished[..., None], keep, total)
    grows = torch.ones_like(lengths) if finished_grows else (~finished).long()
    length = (lengths if old_length else lengths + grows).double()[..., None]  # (B, K, 1)
    lp = ((5 + length) / 6) ** alpha if penalty else torch.ones_like(length)
    rank = total * lp if multiply else total / lp
    k = min(beam_size, K * V)
    if per_beam:  # each beam's own best tokens, then the best of those
        per = max(1, k // K)
        top = rank.topk(per, dim=-1).indices + torch.arange(K)[None, :, None] * V  # (B, K, per)
        flat = top.flatten(1)
        order = rank.flatten(1).gather(1, flat).argsort(dim=1, descending=True)
        best = flat.gather(1, order)[:, :k]
    else:
        best = rank.flatten(1).topk(k, dim=1).indices  # (B, K')
    beam, token = (best % K, best // K) if split_by_k else (best // V, best % V)
    score = (rank if normalised_score else total).flatten(1).gather(1, best)
    return torch.stack([beam.double(), token.double(), score.double()], dim=-1)


def _as_step(got) -> Tensor:
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CaseFailed(f"beam_step should return three tensors (beam, token, score); got {type(got).__name__}")
    for name, x in zip(("beam", "token", "score"), got):
        if not isinstance(x, Tensor):
            raise CaseFailed(f"{name} should be a torch.Tensor; got {type(x).__name__}")
    beam, token, score = got
    if not beam.shape == token.shape == score.shape:
        raise CaseFailed(f"beam, token and score have shapes {tuple(beam.shape)}, {tuple(token.shape)}, "
                         f"{tuple(score.shape)}; expected the same (B, K') for all three")
    return torch.stack([beam.double(), token.double(), score.double()], dim=-1)  # (B, K', 3)


_HINT = ("re-read the task's rules one at a time: what a candidate's score is, which candidates a finished "
         "beam proposes, over which candidates the ranking runs and by what, how many are kept, and "
         "what the three returned tensors hold")


@exercise("decoding.beam_step", name="beam_step", chapter="11")
def _(candidate, g):
    """beam_step(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0)
    -> (beam, token, score), each (B, K'), best first."""
    def run(log_probs, scores, finished, lengths, beam_size, pad_id, alpha):
        args = (log_probs.clone(), scores.clone(), finished.clone(), lengths.clone(), beam_size)
        got = _as_step(candidate(*args, pad_id=pad_id, length_penalty=alpha))
        g.expect(torch.equal(args[0], log_probs) and torch.equal(args[1], scores),
                 "log_probs or scores was modified in place; compute new tensors instead")
        return got

    def inputs(B, K, V, *, p_finished=0.0):
        log_probs = g.randn(B, K, V).log_softmax(-1)
        scores = -g.randn(B, K).abs() * 3  # log-probabilities so far: negative
        finished = g.rand_mask(B, K, p=p_finished)
        lengths = g.randint(2, 6, B, K)
        return log_probs, scores, finished, lengths

    with g.case("open beams, no length penalty: the best candidates across all beams", points=2):
        args = inputs(3, 4, 7)
        expected = _beam_step_variant(*args, 4, 0)
        got = run(*args, 4, 0, 0.0)
        g.assert_close(got, expected, what="(beam, token, score)", hint=_HINT, mistakes={
            "the best tokens are taken per beam; rank the K·V candidates of a source together":
                _beam_step_variant(*args, 4, 0, per_beam=True),
            "the scores are not accumulated; add each beam's score to its tokens' log-probabilities":
                _beam_step_variant(*args, 4, 0, accumulate=False),
            "the flat candidate index is split with K; candidate i is beam i // V, token i % V":
                _beam_step_variant(*args, 4, 0, split_by_k=True),
        })
    with g.case("the first step: one beam, and fewer candidates than beam_size"):
        args = inputs(2, 1, 6)
        g.assert_close(run(*args, 3, 0, 0.0), _beam_step_variant(*args, 3, 0), what="(beam, token, score)",
                       hint=_HINT)
        args = inputs(2, 1, 3)
        g.assert_close(run(*args, 5, 0, 0.0), _beam_step_variant(*args, 5, 0), what="(beam, token, score)",
                       hint="one beam over V = 3 tokens has only 3 candidates: keep min(beam_size, K·V)")
    with g.case("finished beams continue with padding only, at no cost", points=2):
        args = inputs(3, 4, 6, p_finished=0.5)
        args[2][0, 0], args[2][1, 1] = True, False  # at least one finished and one open beam
        pad = int(g.randint(0, 6, 1))
        g.assert_close(run(*args, 4, pad, 0.0), _beam_step_variant(*args, 4, pad), what="(beam, token, score)",
                       hint=_HINT, mistakes={
                           "finished beams are extended like open ones; a finished beam's only candidate is "
                           "itself followed by pad_id": _beam_step_variant(*args, 4, pad, extend_finished=True),
                           "a finished beam pays the log-probability of its padding token; padding costs nothing":
                               _beam_step_variant(*args, 4, pad, pad_costs=True),
                       })
    with g.case("length penalty: finished and open beams of different lengths", points=2):
        args = inputs(4, 4, 5, p_finished=0.5)
        alpha = 1.5
        expected = _beam_step_variant(*args, 4, 0, alpha)
        g.assert_close(run(*args, 4, 0, alpha), expected, what="(beam, token, score)", hint=_HINT, mistakes={
            "the candidates are ranked by raw score; divide by the GNMT length penalty":
                _beam_step_variant(*args, 4, 0, alpha, penalty=False),
            "the penalty uses the beam's length before the new token; an open beam's candidate is one longer":
                _beam_step_variant(*args, 4, 0, alpha, old_length=True),
            "finished beams grow by one every step; a finished beam keeps its length":
                _beam_step_variant(*args, 4, 0, alpha, finished_grows=True),
            "the score is multiplied by the length penalty; divide (a negative log-probability over a "
            "larger penalty is closer to zero)": _beam_step_variant(*args, 4, 0, alpha, multiply=True),
            "the returned score is the penalised one; return the raw cumulative log-probability (the "
            "penalty is only for ranking)": _beam_step_variant(*args, 4, 0, alpha, normalised_score=True),
        })
