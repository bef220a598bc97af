"""Checks for chapter 8's exercises: sinusoidal_encoding, PositionalEncoding, relative_rotation.

The chapter 12 exercise LearnedPositionalEmbedding is checked here too (its module).
The known wrong tables (sin and cos swapped, a block of sines then a block of cosines,
the exponent i/d instead of 2i/d, one frequency per column instead of per pair) are
listed as ``mistakes`` so that the hint names them.
"""

from __future__ import annotations

import torch

from course_lib.grading.registry import CaseFailed, exercise
from course_lib.i18n import tr
from course_lib.positional import relative_rotation, sinusoidal_encoding


def _table(max_len: int, omega: torch.Tensor, *, layout: str = "interleaved", first: str = "sin") -> torch.Tensor:
    """A table from per-pair frequencies, in a given layout: the source of the mistakes."""
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * omega[None, :]  # (max_len, d/2)
    a, b = (torch.sin(angles), torch.cos(angles)) if first == "sin" else (torch.cos(angles), torch.sin(angles))
    if layout == "halves":
        return torch.cat([a, b], dim=-1)
    return torch.stack([a, b], dim=-1).flatten(1)


def _pe_mistakes(max_len: int, d: int) -> dict[str, torch.Tensor]:
    two_i = torch.arange(0, d, 2, dtype=torch.float64)
    omega = 10000.0 ** (-two_i / d)
    per_column = 10000.0 ** (-torch.arange(d, dtype=torch.float64) / d)  # column j uses j/d
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * per_column[None, :]
    by_column = torch.where(torch.arange(d) % 2 == 0, torch.sin(angles), torch.cos(angles))
    return {
        tr("sin and cos are swapped (sines belong in the even columns 2i, cosines in the odd columns 2i+1)",
           "sin 和 cos 弄反了（正弦应在偶数列 2i，余弦在奇数列 2i+1）"):
            _table(max_len, omega, first="cos"),
        tr("the table is a block of sines followed by a block of cosines; the paper interleaves them, "
           "column 2i = sin and column 2i+1 = cos",
           "表是一块正弦接一块余弦；论文是交错排列的，第 2i 列 = sin，第 2i+1 列 = cos"): _table(max_len, omega, layout="halves"),
        tr("the exponent is i/d_model instead of 2i/d_model (i counts pairs, so the exponent steps by 2/d_model)",
           "指数是 i/d_model 而不是 2i/d_model（i 数的是对，所以指数每次增加 2/d_model）"):
            _table(max_len, 10000.0 ** (-torch.arange(d // 2, dtype=torch.float64) / d)),
        tr("each column has its own frequency (exponent j/d_model for column j); the sin and the cos of a "
           "pair must share one frequency, exponent 2i/d_model for both",
           "每一列都有自己的频率（第 j 列指数为 j/d_model）；一对中的 sin 和 cos 必须共用一个频率，"
           "两者的指数都是 2i/d_model"): by_column,
        tr("positions start at 1 instead of 0 (row 0 should be sin 0 = 0, cos 0 = 1)",
           "位置从 1 而不是 0 开始（第 0 行应为 sin 0 = 0，cos 0 = 1）"):
            _table(max_len + 1, omega)[1:],
    }


@exercise("positional.sinusoidal_encoding", name="sinusoidal_encoding", chapter="08")
def _(candidate, g):
    """sinusoidal_encoding(max_len, d_model) -> (max_len, d_model) sin/cos table."""
    hint = tr("PE[pos, 2i] = sin(pos / 10000^(2i/d_model)) and PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))",
              "应为 PE[pos, 2i] = sin(pos / 10000^(2i/d_model))，PE[pos, "
              "2i+1] = cos(pos / 10000^(2i/d_model))")
    for max_len, d in ((6, 4), (50, 16), (1, 2)):
        with g.case(tr(f"max_len = {max_len}, d_model = {d}: matches the paper's table",
                       f"max_len = {max_len}，d_model = {d}：与论文的表一致")):
            got = candidate(max_len, d)
            g.assert_close(got, sinusoidal_encoding(max_len, d, dtype=torch.float64), hint=hint,
                           mistakes=_pe_mistakes(max_len, d), what=tr("table", "表"), atol=1e-5, rtol=1e-4,
                           check_dtype=False)  # float32 or float64: the task names no dtype
    with g.case(tr("an odd d_model raises ValueError", "奇数的 d_model 抛出 ValueError")):
        g.expect_value_error(lambda: candidate(10, 7),
                            tr("the columns come in (sin, cos) pairs, so an odd d_model has no valid table: "
                               "raise ValueError naming d_model",
                               "各列成 (sin, cos) 对出现，所以奇数的 d_model 没有合法的表：抛出写明 d_model "
                               "的 ValueError"), naming="d_model")


def _holds_table(buffer: torch.Tensor, pe: torch.Tensor) -> bool:
    """Whether ``buffer`` is the table in any layout: (max_len, d), (1, max_len, d) or (max_len, 1, d)."""
    if buffer.dim() < 2 or [n for n in buffer.shape if n != 1] != list(pe.shape):
        return False
    values = buffer.detach().reshape(pe.shape).to(torch.float64)
    return bool(torch.allclose(values, pe.to(torch.float64), atol=1e-5))


@exercise("positional.PositionalEncoding", name="PositionalEncoding", chapter="08")
def _(candidate, g):
    """PositionalEncoding(d_model, max_len, dropout) adds PE[:L] to x of shape (B, L, d_model)."""
    d, max_len = 8, 20
    x = g.randn(3, 6, d, dtype=torch.float32)
    pe = sinusoidal_encoding(max_len, d)
    with g.case(tr("eval mode, x of shape (3, 6, 8): returns x + PE[:6]",
                   "eval 模式，形状为 (3, 6, 8) 的 x：返回 x + PE[:6]"), points=2):
        module = candidate(d, max_len=max_len, dropout=0.0).eval()
        got = module(x.clone())
        g.assert_close(
            got, x + pe[:6], what=tr("output",
                                     "输出"), hint=tr("add row pos of the table to position pos of every sequence",
                                                    "把表的第 pos 行加到每个序列的位置 pos 上"),
            mistakes={
                tr("the positions are read along the batch axis (a sequence-first (L, B, d) layout); "
                   "our tensors are batch-first (B, L, d_model)",
                   "位置是沿批量轴读取的（序列在前的 (L, B, d) 布局）；我们的张量是批量在前的 (B, L, "
                   "d_model)"): x + pe[:3, None, :],
                tr("the input is scaled by sqrt(d_model) here; that scale belongs to the embedding lookup",
                   "这里把输入乘以了 sqrt(d_model)；这个缩放属于嵌入查表"): x * d**0.5 + pe[:6],
                tr("the table is returned without the input", "返回的是表本身，没有加上输入"): pe[:6].expand_as(x),
            },
        )
    with g.case(tr("the table is a buffer, not a trainable parameter", "表是缓冲区（buffer），不是可训练的参数")):
        module = candidate(d, max_len=max_len)
        n_params = sum(p.numel() for p in module.parameters())
        g.expect(n_params == 0, tr(f"the module has {n_params} trainable numbers; the sinusoids are fixed: "
                                   "store the table with register_buffer so that it is never trained",
                                   f"模块有 {n_params} 个可训练的数；正弦曲线是固定的：请用 register_buffer "
                                   f"存储这张表，使它永远不被训练"))
        g.expect(any(_holds_table(b, pe) for b in module.buffers()),
                 tr(f"no buffer holds the ({max_len}, {d}) table (as ({max_len}, {d}), (1, {max_len}, {d}) or "
                    f"({max_len}, 1, {d})): register the table with register_buffer",
                    f"没有缓冲区存放 ({max_len}, {d}) 的表（形状为 ({max_len}, {d})"
                    f"、(1, {max_len}, {d}) 或 ({max_len}, 1, {d})）：请用 register_buffer "
                    f"注册这张表"))
    with g.case(tr("dropout: active in training mode, off in eval mode", "dropout：训练模式下生效，eval 模式下关闭")):
        module = candidate(d, max_len=max_len, dropout=0.5)
        big = torch.ones(4, max_len, d)
        module.train()
        zeros = (module(big) == 0).float().mean().item()
        g.expect(0.3 < zeros < 0.7, tr(f"in training mode with dropout=0.5, {zeros:.0%} of the outputs are 0; "
                                       "apply nn.Dropout to the sum",
                                       f"训练模式下 dropout=0.5 时，{zeros:.0%} 的输出为 0；请对和使用 nn.Dropout"))
        module.eval()
        g.assert_close(module(big), big + pe, hint=tr("in eval mode dropout must do nothing",
                                                      "eval 模式下 dropout 必须什么都不做"))
    with g.case(tr("a sequence longer than max_len raises ValueError", "比 max_len 长的序列抛出 ValueError")):
        module = candidate(d, max_len=5)
        g.expect_value_error(lambda: module(torch.zeros(1, 7, d)),
                            tr("a table of 5 rows cannot encode 7 positions: raise ValueError saying so "
                               "(slicing pe[:7] silently returns only 5 rows)",
                               "5 行的表无法编码 7 个位置：请抛出 ValueError 说明这一点（切片 pe[:7] 会悄悄只返回 "
                               "5 行）"))


@exercise("positional.relative_rotation", name="relative_rotation", chapter="08")
def _(candidate, g):
    """relative_rotation(k, d_model) -> (d_model, d_model) M with PE[pos + k] = M @ PE[pos]."""
    hint = (tr("each (sin, cos) pair turns by the angle k * omega_i: use sin(a+b) and cos(a+b); "
               "the result is block diagonal with one 2 x 2 block per pair",
               "每个 (sin, cos) 对转过角度 k * omega_i：用 sin(a+b) 和 cos(a+b)"
               "；结果是分块对角的，每对一个 2 x 2 块"))
    pe = sinusoidal_encoding(40, 8, dtype=torch.float64)
    for k, d in ((1, 4), (5, 8), (-3, 8)):
        with g.case(f"k = {k}, d_model = {d}"):
            got = candidate(k, d)
            expected = relative_rotation(k, d)
            g.assert_close(got, expected, what=tr("matrix", "矩阵"), hint=hint, mistakes={
                tr("the rotation for -k (the matrix is transposed): it moves back by k positions",
                   "这是 -k 的旋转（矩阵被转置了）：它向后移动 k 个位置"): expected.T,
                tr("the matrix is not block diagonal by pair (cosines and sines are placed as for a "
                   "block-of-sines-then-cosines table)",
                   "矩阵没有按对分块对角（余弦和正弦的位置是按“一块正弦接一块余弦”的表来放的）"): _halves_rotation(k, d),
                tr("the wrong frequencies: exponent i/d_model instead of 2i/d_model (i counts pairs)",
                   "频率错了：指数是 i/d_model 而不是 2i/d_model（i 数的是对）"):
                    _rotation(k, 10000.0 ** (-torch.arange(d // 2, dtype=torch.float64) / d)),
                tr("the wrong frequencies: every pair turned by the angle k itself; pair i turns by k · ω_i",
                   "频率错了：每一对都转过角度 k 本身；第 i 对应转过 k · ω_i"):
                    _rotation(k, torch.ones(d // 2, dtype=torch.float64)),
                tr("the wrong frequencies: ω_i = 10000^(2i/d_model); the exponent is negative",
                   "频率错了：ω_i = 10000^(2i/d_model)；指数是负的"):
                    _rotation(k, 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)),
            })
    with g.case(tr("returns float64, as the task says", "按题目要求返回 float64")):
        got = candidate(2, 6)
        g.assert_close(got, relative_rotation(2, 6), what=tr("matrix", "矩阵"), hint=hint)
    with g.case(tr("the property itself: PE[pos + 5] = M_5 @ PE[pos] for pos = 0..34, d_model = 8",
                   "性质本身：对 pos = 0..34、d_model = 8，PE[pos + 5] = M_5 "
                   "@ PE[pos]")):
        M = candidate(5, 8).to(torch.float64)
        g.assert_close(pe[:35] @ M.T, pe[5:], what="M @ PE[pos]", hint=hint)


def _rotation(k: int, omega: torch.Tensor) -> torch.Tensor:
    """The block-diagonal rotation for per-pair frequencies ``omega``: the source of the frequency mistakes."""
    c, s = torch.cos(k * omega), torch.sin(k * omega)
    blocks = [torch.stack([torch.stack([ci, si]), torch.stack([-si, ci])]) for ci, si in zip(c, s)]
    return torch.block_diag(*blocks)


def _halves_rotation(k: int, d: int) -> torch.Tensor:
    perm = torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)])  # interleaved -> halves
    M = relative_rotation(k, d)
    return M[perm][:, perm]



@exercise("positional.LearnedPositionalEmbedding", name="LearnedPositionalEmbedding", chapter="12")
def _(candidate, g):
    """LearnedPositionalEmbedding(d_model, max_len, dropout) adds a trained row per position."""
    d, max_len = 6, 12
    x = g.randn(3, 5, d, dtype=torch.float32)

    def table(module):
        found = [p for p in module.parameters() if tuple(p.shape) == (max_len, d)]
        if not found:
            shapes = {tuple(p.shape) for p in module.parameters()}
            extra = (tr("; yours has max_len + 1 rows: positions start at 0, so rows 0 .. max_len - 1 "
                        "are all there is",
                        "；你的表有 max_len + 1 行：位置从 0 开始，所以第 0 .. max_len - "
                        "1 行就是全部") if (max_len + 1, d) in shapes else "")
            if any(tuple(b.shape) == (max_len, d) for b in module.buffers()):
                extra = tr("; yours is a buffer, and a buffer is never trained",
                           "；你的表是缓冲区，而缓冲区永远不会被训练")
            raise CaseFailed(tr(f"no trainable parameter of shape ({max_len}, {d}) found: the table is an "
                                f"nn.Parameter with one row per position{extra}",
                                f"没有找到形状为 ({max_len}, {d}) 的可训练参数：这张表是每个位置一行的 nn.Parameter{extra}"))
        return found[0].detach()

    with g.case(tr("the table is a trainable (max_len, d_model) parameter, and the only one",
                   "表是可训练的 (max_len, d_model) 参数，而且是唯一的参数")):
        module = candidate(d, max_len=max_len)
        table(module)
        n_params = sum(p.numel() for p in module.parameters())
        g.expect(n_params == max_len * d, tr(f"the module has {n_params} trainable numbers; expected "
                                             f"max_len x d_model = {max_len * d}",
                                             f"模块有 {n_params} 个可训练的数；应为 max_len x d_model = {max_len * d}"))
    with g.case(tr("eval mode, x of shape (3, 5, 6): returns x + table[:5]",
                   "eval 模式，形状为 (3, 5, 6) 的 x：返回 x + table[:5]"), points=2):
        module = candidate(d, max_len=max_len, dropout=0.0).eval()
        w = table(module)
        g.assert_close(module(x.clone()), x + w[:5], what=tr("output", "输出"),
                       hint=tr("add row t of the table to position t of every sequence",
                               "把表的第 t 行加到每个序列的位置 t 上"), mistakes={
                           tr("the positions are read along the batch axis; our tensors are (B, L, d_model)",
                              "位置是沿批量轴读取的；我们的张量是 (B, L, d_model)"):
                               x + w[:3, None, :],
                           tr("the table is returned without the input",
                              "返回的是表本身，没有加上输入"): w[:5].expand_as(x),
                           tr("the input is scaled by sqrt(d_model); GPT and BERT add the rows as they are",
                              "输入被乘以了 sqrt(d_model)；GPT 和 BERT 是原样加上这些行"):
                               x * d**0.5 + w[:5],
                           tr("positions start at 1: row t + 1 is added to position t; row 0 is position 0",
                              "位置从 1 开始：第 t + 1 行被加到了位置 t 上；第 0 行对应位置 0"):
                               x + w[1:6]})
    with g.case(tr("offset=4: the rows of positions 4..8 (decoding with a cache)",
                   "offset=4：位置 4..8 的行（带缓存的解码）")):
        module = candidate(d, max_len=max_len, dropout=0.0).eval()
        w = table(module)
        g.assert_close(module(x.clone(), offset=4), x + w[4:9], what=tr("output", "输出"),
                       hint=tr("x[:, 0] sits at position offset", "x[:, 0] 位于位置 offset"), mistakes={
                           tr("offset is ignored", "忽略了 offset"): x + w[:5],
                           tr("positions start at offset + 1; x[:, 0] sits at position offset",
                              "位置从 offset + 1 开始了；x[:, 0] 应位于位置 offset"): x + w[5:10]})
    with g.case(tr("dropout: active in training mode, off in eval mode", "dropout：训练模式下生效，eval 模式下关闭")):
        module = candidate(d, max_len=max_len, dropout=0.5)
        big = torch.ones(4, max_len, d)
        zeros = (module.train()(big) == 0).float().mean().item()
        g.expect(0.3 < zeros < 0.7, tr(f"in training mode with dropout=0.5, {zeros:.0%} of the outputs are 0; "
                                       "apply nn.Dropout to the sum",
                                       f"训练模式下 dropout=0.5 时，{zeros:.0%} 的输出为 0；请对和使用 nn.Dropout"))
    with g.case(tr("positions past the table raise ValueError", "超出表的位置抛出 ValueError")):
        module = candidate(d, max_len=5)
        g.expect_value_error(lambda: module(torch.zeros(1, 7, d)),
                             tr("a table of 5 rows has no row for positions 5 and 6: raise ValueError (slicing "
                                "weight[:7] silently returns only 5 rows)",
                                "5 行的表没有位置 5 和 6 的行：请抛出 ValueError（切片 weight[:7] "
                                "会悄悄只返回 5 行）"))
        g.expect_value_error(lambda: module(torch.zeros(1, 3, d), offset=3),
                             tr("offset 3 + 3 positions needs rows 3..5, one past the table: raise ValueError",
                                "offset 3 加 3 个位置需要第 3..5 行，超出表一行：请抛出 ValueError"))
