"""Checks for the decoding exercises: greedy_decode (chapter 10).

Two kinds of model are used. A *scripted* model, whose row ``b`` writes ``<eos>`` at a
step chosen by the grader, tests the bookkeeping: stop when every row has finished, pad
after ``<eos>``, drop ``<bos>``, respect ``max_len``, eval mode and no gradients. A small
random :class:`~course_lib.transformer.Transformer` tests the step itself against the
reference; the known wrong steps (the logits of the first position instead of the last,
the decoder run without its causal mask, the source padding ignored) are computed and
named as ``mistakes``.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import Tensor, nn

from course_lib.decode import greedy_decode
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


@exercise("decode.greedy_decode", name="greedy_decode", chapter="10")
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
