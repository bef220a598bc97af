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
from course_lib.i18n import tr
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
        raise CaseFailed(tr(f"greedy_decode should return a torch.Tensor of ids; got {type(got).__name__}",
                            f"greedy_decode 应返回由 id 组成的 torch.Tensor；得到的是 {type(got).__name__}"))
    if got.dim() != 2:
        raise CaseFailed(tr(f"the output has shape {tuple(got.shape)}; expected (B, L) token ids",
                            f"输出的形状是 {tuple(got.shape)}；应为 (B, L) 的词元 id"))
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
    with g.case(tr("rows finish at different steps: <eos> kept, padding after it, stop when all have finished",
                   "各行在不同步结束：保留 <eos>，其后填充，全部结束时停止"),
                points=2):
        model = _Scripted(script)
        got = _as_tensor(candidate(model, src, 10, bos_id=BOS, eos_id=EOS))
        expected = torch.tensor(_scripted_rows(script, 4))
        g.assert_close(got, expected, what="ids", hint=tr("each step appends the argmax of the last position's "
                          "logits; after a row writes <eos> it gets the pad id; stop once every row has written <eos>",
                                                          "每一步追加最后一个位置 logits 的 argmax；某行写出 <eos> 后只再得到填充 id；"
                                                          "每行都写出 <eos> 时停止"),
                       mistakes={
                           tr("the output starts with <bos>; return only the generated tokens",
                              "输出以 <bos> 开头；只返回生成的词元"):
                               torch.cat([torch.full((3, 1), BOS), expected], 1),
                           tr("a finished row keeps generating; fill it with model.config.pad_id after <eos>",
                              "已结束的行还在继续生成；<eos> 之后请用 model.config.pad_id 填充"):
                               torch.tensor(_scripted_rows(script, 4, pad_after_eos=False)),
                           tr("decoding stops as soon as one row has finished; wait for every row",
                              "有一行结束就停止了解码；要等每一行都结束"):
                               expected[:, :1],
                           tr("decoding runs to max_len although every row has finished",
                              "每一行都已结束，解码却仍运行到 max_len"):
                               torch.tensor(_scripted_rows(script, 10)),
                           tr("the logits of the first position are used; the next token comes from the last one",
                              "用的是第一个位置的 logits；下一个词元来自最后一个位置"):
                               _variant(_Scripted(script), src, 10, None, position=0),
                       })
        g.expect(model.decode_calls <= 4, tr(f"the model was run {model.decode_calls} times for 4 steps; stop "
                    "decoding as soon as every row has written <eos>",
                                             f"4 步解码调用了模型 {model.decode_calls} 次；每行都写出 <eos> 后应立即停止解码"))
    with g.case(tr("at most max_len tokens when a row never writes <eos>",
                   "某行始终不写 <eos> 时最多 max_len 个词元")):
        got = _as_tensor(candidate(_Scripted([1, 8]), src[:2], 3, bos_id=BOS, eos_id=EOS))
        g.assert_close(got, torch.tensor([[5, 2, 0], [5, 6, 7]]), what="ids",
                       hint=tr("generate at most max_len tokens per row (<eos> included)",
                               "每行最多生成 max_len 个词元（含 <eos>）"))
    with g.case(tr("runs in eval mode without gradients and restores the model's mode",
                   "在 eval 模式下、不计算梯度地运行，并恢复模型原来的模式")):
        model = _Scripted(script).train()
        got = _as_tensor(candidate(model, src, 6, bos_id=BOS, eos_id=EOS))
        g.expect(not model.saw_training, tr("the model was in training mode while decoding (dropout on); call "
                    "model.eval() first",
                                            "解码时模型处于训练模式（dropout 开着）；请先调用 model.eval()"))
        g.expect(not model.saw_grad, tr("gradients were being recorded; decode inside torch.no_grad()",
                                        "解码时在记录梯度；请在 torch.no_grad() 内解码"))
        g.expect(model.training, tr("the model was left in eval mode; put it back in the mode it was in",
                                    "模型被留在了 eval 模式；请把它恢复到原来的模式"))

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
    with g.case(tr("a random Transformer, batch of 4 padded sources: matches the reference token by token",
                   "随机初始化的 Transformer，4 个带填充的源序列：逐个词元与参考实现一致"), points=2):
        expected = greedy_decode(model, src, 8, bos_id=BOS, eos_id=EOS, src_mask=src_mask)
        got = _as_tensor(candidate(model, src.clone(), 8, bos_id=BOS, eos_id=EOS, src_mask=src_mask.clone()))
        g.assert_close(got, expected, what="ids", hint=tr("encode once, then at each step decode the tokens so far "
                          "with a causal mask and the source mask, and take the argmax of the last position",
                                                          "只编码一次，然后每一步用因果掩码和源掩码解码到目前为止的词元，取最后一个位置的 argmax"),
                       mistakes={
                           tr("the decoder runs without a causal mask",
                              "解码器运行时没有因果掩码"):
                               _variant(model, src, 8, src_mask, causal=False),
                           tr("the source padding mask is not passed to the encoder and the decoder",
                              "源序列的填充掩码没有传给编码器和解码器"):
                               _variant(model, src, 8, None),
                           tr("the logits of the first position are used; the next token comes from the last one",
                              "用的是第一个位置的 logits；下一个词元来自最后一个位置"):
                               _variant(model, src, 8, src_mask, position=0),
                       })
    with g.case(tr("src_mask defaults to the non-padding source tokens",
                   "src_mask 默认为源序列中的非填充词元")):
        got = _as_tensor(candidate(model, src.clone(), 8, bos_id=BOS, eos_id=EOS))
        g.assert_close(got, expected, what="ids", hint=tr("without src_mask, hide the positions where src == "
                          "model.config.pad_id",
                                                          "没有 src_mask 时，要遮住 src == model.config.pad_id 的位置"), mistakes={tr("the padding is not masked when src_mask is None",
                                                           "src_mask 为 None 时没有掩蔽填充"):
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
        raise CaseFailed(tr(f"beam_step should return three tensors (beam, token, score); got {type(got).__name__}",
                            f"beam_step 应返回三个张量 (beam, token, score)；得到的是 {type(got).__name__}"))
    for name, x in zip(("beam", "token", "score"), got):
        if not isinstance(x, Tensor):
            raise CaseFailed(tr(f"{name} should be a torch.Tensor; got {type(x).__name__}",
                                f"{name} 应是 torch.Tensor；得到的是 {type(x).__name__}"))
    beam, token, score = got
    if not beam.shape == token.shape == score.shape:
        raise CaseFailed(tr(f"beam, token and score have shapes {tuple(beam.shape)}, {tuple(token.shape)}, "
                            f"{tuple(score.shape)}; expected the same (B, K') for all three",
                            f"beam、token 和 score 的形状分别是 {tuple(beam.shape)}、{tuple(token.shape)}、"
                            f"{tuple(score.shape)}；三者都应为相同的 (B, K')"))
    return torch.stack([beam.double(), token.double(), score.double()], dim=-1)  # (B, K', 3)


def _hint() -> str:
    return (tr("re-read the task's rules one at a time: what a candidate's score is, which candidates a finished "
               "beam proposes, over which candidates the ranking runs and by what, how many are kept, and "
               "what the three returned tensors hold",
               "逐条重读题目的规则：候选的分数是什么，已结束的束提出哪些候选，在哪些候选中按什么排序，保留多少个，"
               "以及返回的三个张量各是什么"))


@exercise("decoding.beam_step", name="beam_step", chapter="11")
def _(candidate, g):
    """beam_step(log_probs, scores, finished, lengths, beam_size, *, pad_id, length_penalty=0.0)
    -> (beam, token, score), each (B, K'), best first."""
    def run(log_probs, scores, finished, lengths, beam_size, pad_id, alpha):
        args = (log_probs.clone(), scores.clone(), finished.clone(), lengths.clone(), beam_size)
        got = _as_step(candidate(*args, pad_id=pad_id, length_penalty=alpha))
        g.expect(torch.equal(args[0], log_probs) and torch.equal(args[1], scores),
                 tr("log_probs or scores was modified in place; compute new tensors instead",
                    "log_probs 或 scores 被原地修改了；请改为计算新的张量"))
        return got

    def inputs(B, K, V, *, p_finished=0.0):
        log_probs = g.randn(B, K, V).log_softmax(-1)
        scores = -g.randn(B, K).abs() * 3  # log-probabilities so far: negative
        finished = g.rand_mask(B, K, p=p_finished)
        lengths = g.randint(2, 6, B, K)
        return log_probs, scores, finished, lengths

    with g.case(tr("open beams, no length penalty: the best candidates across all beams",
                   "未结束的束，无长度惩罚：在所有束中选最好的候选"), points=2):
        args = inputs(3, 4, 7)
        expected = _beam_step_variant(*args, 4, 0)
        got = run(*args, 4, 0, 0.0)
        g.assert_close(got, expected, what="(beam, token, score)", hint=_hint(), mistakes={
            tr("the best tokens are taken per beam; rank the K·V candidates of a source together",
               "按每个束分别取了最好的词元；应把同一源序列的 K·V 个候选放在一起排序"):
                _beam_step_variant(*args, 4, 0, per_beam=True),
            tr("the scores are not accumulated; add each beam's score to its tokens' log-probabilities",
               "分数没有累加；要把每个束的分数加到它的词元的对数概率上"):
                _beam_step_variant(*args, 4, 0, accumulate=False),
            tr("the flat candidate index is split with K; candidate i is beam i // V, token i % V",
               "扁平的候选下标用 K 来拆分了；候选 i 属于束 i // V、词元 i % V"):
                _beam_step_variant(*args, 4, 0, split_by_k=True),
        })
    with g.case(tr("the first step: one beam, and fewer candidates than beam_size",
                   "第一步：一个束，候选数少于 beam_size")):
        args = inputs(2, 1, 6)
        g.assert_close(run(*args, 3, 0, 0.0), _beam_step_variant(*args, 3, 0), what="(beam, token, score)",
                       hint=_hint())
        args = inputs(2, 1, 3)
        g.assert_close(run(*args, 5, 0, 0.0), _beam_step_variant(*args, 5, 0), what="(beam, token, score)",
                       hint=tr("one beam over V = 3 tokens has only 3 candidates: keep min(beam_size, K·V)",
                               "一个束在 V = 3 个词元上只有 3 个候选：保留 min(beam_size, K·V) 个"))
    with g.case(tr("finished beams continue with padding only, at no cost",
                   "已结束的束只用填充继续，不付代价"), points=2):
        args = inputs(3, 4, 6, p_finished=0.5)
        args[2][0, 0], args[2][1, 1] = True, False  # at least one finished and one open beam
        pad = int(g.randint(0, 6, 1))
        g.assert_close(run(*args, 4, pad, 0.0), _beam_step_variant(*args, 4, pad), what="(beam, token, score)",
                       hint=_hint(), mistakes={
                           tr("finished beams are extended like open ones; a finished beam's only candidate is "
                              "itself followed by pad_id",
                              "已结束的束像未结束的一样被扩展；已结束的束唯一的候选是它自己后接 pad_id"): _beam_step_variant(*args, 4, pad, extend_finished=True),
                           tr("a finished beam pays the log-probability of its padding token; padding costs nothing",
                              "已结束的束付出了填充词元的对数概率；填充不计代价"):
                               _beam_step_variant(*args, 4, pad, pad_costs=True),
                       })
    with g.case(tr("length penalty: finished and open beams of different lengths",
                   "长度惩罚：长度不同的已结束束和未结束束"), points=2):
        args = inputs(4, 4, 5, p_finished=0.5)
        alpha = 1.5
        expected = _beam_step_variant(*args, 4, 0, alpha)
        g.assert_close(run(*args, 4, 0, alpha), expected, what="(beam, token, score)", hint=_hint(), mistakes={
            tr("the candidates are ranked by raw score; divide by the GNMT length penalty",
               "候选按原始分数排序；应除以 GNMT 长度惩罚"):
                _beam_step_variant(*args, 4, 0, alpha, penalty=False),
            tr("the penalty uses the beam's length before the new token; an open beam's candidate is one longer",
               "惩罚用的是加入新词元之前的束长度；未结束束的候选要长一个"):
                _beam_step_variant(*args, 4, 0, alpha, old_length=True),
            tr("finished beams grow by one every step; a finished beam keeps its length",
               "已结束的束每步都在变长；已结束的束长度保持不变"):
                _beam_step_variant(*args, 4, 0, alpha, finished_grows=True),
            tr("the score is multiplied by the length penalty; divide (a negative log-probability over a "
               "larger penalty is closer to zero)",
               "分数乘以了长度惩罚；应当相除（负的对数概率除以更大的惩罚会更接近零）"): _beam_step_variant(*args, 4, 0, alpha, multiply=True),
            tr("the returned score is the penalised one; return the raw cumulative log-probability (the "
               "penalty is only for ranking)",
               "返回的分数是惩罚后的；应返回原始的累计对数概率（惩罚只用于排序）"): _beam_step_variant(*args, 4, 0, alpha, normalised_score=True),
        })
