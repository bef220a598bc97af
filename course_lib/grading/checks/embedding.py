"""Checks for chapter 9's exercises: Embeddings, OutputProjection, parameter_count.

Known mistakes named by the hints: the sqrt(d_model) scale missing, divided instead of
multiplied, or moved to the output; the default N(0, 1) initialisation; a copied
(untied) matrix when tying was asked; a tied matrix counted once per module.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.embedding import Embeddings, OutputProjection, build_embeddings, parameter_count
from course_lib.grading.registry import CaseFailed, exercise
from course_lib.i18n import tr
from course_lib.positional import PositionalEncoding


def _weight_of(module, shape: tuple[int, int]) -> torch.Tensor:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise CaseFailed(tr("the module has no attribute `weight`: keep the matrix as an nn.Parameter named weight",
                            "模块没有属性 `weight`：请把矩阵存为名为 weight 的 nn.Parameter"))
    if tuple(weight.shape) != shape:
        raise CaseFailed(tr(f"weight has shape {tuple(weight.shape)}; expected {shape} (one row per word)",
                            f"weight 的形状是 {tuple(weight.shape)}；应为 {shape}（每个词一行）"))
    return weight


@exercise("embedding.Embeddings", name="Embeddings", chapter="09")
def _(candidate, g):
    """Embeddings(vocab_size, d_model): ids (B, L) -> E[ids] * sqrt(d_model), shape (B, L, d_model)."""
    V, d = 12, 16
    table = g.randn(V, d, dtype=torch.float32)
    ids = g.randint(0, V, 3, 5)
    with g.case(tr("ids of shape (3, 5) give E[ids] * sqrt(d_model), shape (3, 5, 16)",
                   "形状为 (3, 5) 的 ids 得到 E[ids] * sqrt(d_model)，形状 (3, "
                   "5, 16)"), points=2):
        module = candidate(V, d)
        with torch.no_grad():
            _weight_of(module, (V, d)).copy_(table)
        g.assert_close(
            module(ids), table[ids] * math.sqrt(d), what="embeddings",
            hint=tr("look up each id's row, then multiply by sqrt(d_model) (section 3.4)",
                    "查出每个 id 对应的行，再乘以 sqrt(d_model)（论文 3.4 节）"),
            mistakes={
                tr("the sqrt(d_model) scale is missing",
                   "漏了 sqrt(d_model) 缩放"): table[ids],
                tr("the rows are divided by sqrt(d_model) instead of multiplied",
                   "各行除以了 sqrt(d_model)，而不是相乘"): table[ids] / math.sqrt(d),
                tr("the rows are multiplied by d_model instead of sqrt(d_model)",
                   "各行乘以了 d_model，而不是 sqrt(d_model)"): table[ids] * d,
                tr("the rows are scaled by sqrt(vocab_size) instead of sqrt(d_model)",
                   "各行按 sqrt(vocab_size) 缩放，而不是 sqrt(d_model)"): table[ids] * math.sqrt(V),
            },
        )
    with g.case(tr("the matrix starts as N(0, 1/d_model) (d_model = 64, 2000 words)",
                   "矩阵初始为 N(0, 1/d_model)（d_model = 64，2000 个词）")):
        torch.manual_seed(0)
        std = _weight_of(candidate(2000, 64), (2000, 64)).detach().std().item()
        if abs(std - 1.0) < 0.05:
            raise CaseFailed(tr(f"the weights have std {std:.3f}: looks like the default nn.Embedding init "
                                "N(0, 1), which the sqrt(d_model) scale then blows up to norm d_model; "
                                "initialise with std = d_model ** -0.5",
                                f"权重的标准差为 {std:.3f}：看起来是 nn.Embedding 默认的 N(0, 1) "
                                f"初始化，乘以 sqrt(d_model) 后范数会膨胀到 d_model；请用 std = d_model "
                                f"** -0.5 初始化"))
        g.expect(abs(std - 64**-0.5) < 0.1 * 64**-0.5,
                 tr(f"the weights have std {std:.3f}; expected about d_model ** -0.5 = {64**-0.5:.3f}",
                    f"权重的标准差为 {std:.3f}；应约为 d_model ** -0.5 = {64 ** (-0.5):.3f}"))
    with g.case(tr("ids out of range or not integers raise ValueError",
                   "超出范围或不是整数的 ids 抛出 ValueError")):
        module = candidate(V, d)
        g.expect_value_error(lambda: module(torch.tensor([[0, V]])), tr(f"id {V} has no row in a table of "
                               f"{V} words: raise ValueError naming ids",
                                                                        f"在 {V} 个词的表中 id {V} 没有对应的行：抛出写明 ids 的 ValueError"), naming="ids")
        g.expect_value_error(lambda: module(torch.tensor([[-1, 0]])), tr("a negative id has no row: raise ValueError naming ids",
                                                                         "负的 id 没有对应的行：抛出写明 ids 的 ValueError"),
                             naming="ids")
        g.expect_value_error(lambda: module(torch.tensor([[0.0, 1.0]])),
                            tr("float ids are not token ids: raise ValueError naming ids and its dtype",
                               "浮点数不是词元 id：抛出写明 ids 及其 dtype 的 ValueError"),
                             naming="ids")


@exercise("embedding.OutputProjection", name="OutputProjection", chapter="09")
def _(candidate, g):
    """OutputProjection(d_model, vocab_size, tied_to=None, bias=False): h -> h @ W^T (+ b)."""
    V, d = 12, 8
    h = g.randn(2, 5, d, dtype=torch.float32)
    table = g.randn(V, d, dtype=torch.float32)
    hint = tr("logits = h @ W^T, one score per word: weight is (vocab_size, d_model)",
              "logits = h @ W^T，每个词一个分数：weight 形状为 (vocab_size, "
              "d_model)")
    with g.case(tr("untied: h of shape (2, 5, 8) gives logits h @ W^T of shape (2, 5, 12)",
                   "不绑定：形状 (2, 5, 8) 的 h 得到形状 (2, 5, 12) 的 logits h "
                   "@ W^T")):
        module = candidate(d, V)
        with torch.no_grad():
            _weight_of(module, (V, d)).copy_(table)
        g.assert_close(module(h), h @ table.T, what="logits", hint=hint, mistakes={
            tr("the logits are scaled by sqrt(d_model); that scale belongs to the embedding lookup only",
               "logits 被 sqrt(d_model) 缩放了；这个缩放只属于嵌入查表"):
                h @ table.T * math.sqrt(d),
            tr("the logits went through a softmax; return raw logits (cross_entropy applies log-softmax itself)",
               "logits 经过了 softmax；请返回原始 logits（cross_entropy 自己会做 "
               "log-softmax）"):
                torch.softmax(h @ table.T, dim=-1),
        })
    with g.case(tr("tied_to=embeddings: the projection uses the embedding's very tensor",
                   "tied_to=embeddings：投影用的正是嵌入的那个张量"), points=2):
        emb = Embeddings(V, d)
        module = candidate(d, V, tied_to=emb)
        weight = _weight_of(module, (V, d))
        with torch.no_grad():
            emb.weight.copy_(table)  # changed after tying: a shared tensor sees it, a copy does not
        got = module(h)
        if weight.data_ptr() != emb.weight.data_ptr():
            raise CaseFailed(tr("looks like an untied projection: weight is a separate copy of the embedding "
                                "matrix, so training one never changes the other. Assign the embedding's "
                                "Parameter itself (self.weight = tied_to.weight), do not clone it",
                                "看起来是没有绑定的投影：weight 是嵌入矩阵的另一份拷贝，训练一个永远不会改变另一个。请直接赋值嵌入的 "
                                "Parameter 本身（self.weight = tied_to.weight），不要克隆"))
        g.assert_close(got, h @ table.T, what="logits", hint=hint)
    with g.case(tr("tied: a gradient step on the projection changes the embedding lookup",
                   "绑定后：对投影做一步梯度更新会改变嵌入查表")):
        emb = Embeddings(V, d)
        module = candidate(d, V, tied_to=emb)
        ids = torch.arange(V)
        before = emb(ids).detach().clone()
        params = list(module.parameters())
        g.expect(any(p is emb.weight for p in params),
                 tr("the embedding's weight is not among the projection's parameters(): an optimizer "
                    "given this module would not train it",
                    "嵌入的 weight 不在投影的 parameters() 中：拿这个模块构造的优化器不会训练它"))
        torch.nn.functional.cross_entropy(module(h[0]), ids[:5]).backward()
        with torch.no_grad():  # one step of plain SGD, lr 1 (torch.optim's first use imports torch._dynamo: 1.5 s)
            for p in params:
                if p.grad is not None:
                    p -= p.grad
        g.expect(not torch.allclose(emb(ids), before), tr("one SGD step on the projection left the embedding "
                                                           "unchanged: the two do not share one matrix",
                                                          "对投影做一步 SGD 后嵌入没有变化：两者没有共享同一个矩阵"))
    with g.case(tr("bias=True adds a learned vector of vocab_size numbers, untied and tied",
                   "bias=True 会加上一个含 vocab_size 个数的可学习向量，不绑定和绑定时都是")):
        for tied_to in (None, Embeddings(V, d)):
            where = tr(" (with tied_to)", "（有 tied_to 时）") if tied_to is not None else ""
            module = candidate(d, V, tied_to=tied_to, bias=True)
            bias = getattr(module, "bias", None)
            if not (isinstance(bias, nn.Parameter) and tuple(bias.shape) == (V,)):
                raise CaseFailed(tr(f"expected a parameter `bias` of shape ({V},){where}",
                                    f"应有形状为 ({V},) 的参数 `bias`{where}"))
            g.expect(torch.all(bias.detach() == 0), tr(f"a fresh bias should start at zero{where}, as the task "
                                                       "says (every word's logit starts from the matrix product alone)",
                                                       f"新建的偏置应从零开始{where}，如题目所说（每个词的 logit "
                                                       "起初只来自矩阵乘积）"))
            with torch.no_grad():
                _weight_of(module, (V, d)).copy_(table)
                bias.copy_(torch.arange(V, dtype=bias.dtype))
            g.assert_close(module(h), h @ table.T + torch.arange(V), what="logits",
                           hint=tr(f"logits = h @ W^T + b{where}", f"应为 logits = h @ W^T + b{where}"))


def _tied_pair(V: int, d: int):
    emb = Embeddings(V, d)
    return emb, OutputProjection(d, V, tied_to=emb)


@exercise("embedding.parameter_count", name="parameter_count", chapter="09")
def _(candidate, g):
    """parameter_count(*modules) -> int, each distinct parameter tensor counted once."""
    with g.case(tr("one nn.Linear(4, 3): 4*3 weights + 3 biases",
                   "一个 nn.Linear(4, 3)：4*3 个权重 + 3 个偏置")):
        got = candidate(nn.Linear(4, 3))
        g.expect(got == 15, tr(f"got {got!r}; expected 15",
                               f"得到 {got!r}；应为 15"))
    with g.case(tr("an embedding and a projection tied to it count the shared matrix once",
                   "嵌入和与之绑定的投影，共享的矩阵只算一次"), points=2):
        emb, proj = _tied_pair(50, 8)
        got = candidate(emb, proj)
        naive = sum(p.numel() for m in (emb, proj) for p in m.parameters())
        if got == naive:
            raise CaseFailed(tr(f"got {got}: the shared matrix is counted once per module that uses it. "
                                "Remember which tensors you have already counted (e.g. by id)",
                                f"得到 {got}：共享的矩阵在用到它的每个模块里都算了一次。请记住已经数过的张量（例如按 id）"))
        g.expect(got == parameter_count(emb, proj), tr(f"got {got!r}; the two modules hold one (50, 8) matrix",
                                                       f"得到 {got!r}；两个模块共有一个 (50, 8) 矩阵"))
    with g.case(tr("the paper's three-way sharing (vocab 64, d_model 16) and no sharing",
                   "论文的三方共享（词表 64，d_model 16）与不共享")):
        shared = build_embeddings(16, src_vocab_size=64, tgt_vocab_size=64, shared_vocab=True)
        separate = build_embeddings(16, src_vocab_size=64, tgt_vocab_size=64, tie_output=False)
        got = candidate(*shared), candidate(*separate)
        g.expect(got == (64 * 16, 3 * 64 * 16), tr(f"got {got}; expected one matrix for the shared layers "
                                                   f"and three for the separate ones",
                                                   f"得到 {got}；共享的各层应算一个矩阵，分开的应算三个"))
    with g.case(tr("buffers are not parameters: a positional encoding's table (0) and a BatchNorm's statistics",
                   "缓冲区不是参数：位置编码的表（0）与 BatchNorm 的统计量")):
        got = candidate(PositionalEncoding(16, max_len=100)), candidate(nn.BatchNorm1d(4))
        g.expect(got == (0, 8), tr(f"got {got!r}; expected (0, 8): buffers are not parameters (a table, running "
                                   "statistics, in the state dict or not): count module.parameters() only",
                                   f"得到 {got!r}；应为 (0, 8)：缓冲区不是参数（表、运行统计量，无论是否存入 "
                                   "state dict）：只数 module.parameters()"))
