"""Checks for chapter 8's exercises: sinusoidal_encoding, PositionalEncoding, relative_rotation.

The chapter 12 exercise LearnedPositionalEmbedding is checked here too (its module).
The known wrong tables (sin and cos swapped, a block of sines then a block of cosines,
the exponent i/d instead of 2i/d, one frequency per column instead of per pair) are
listed as ``mistakes`` so that the hint names them.
"""

from __future__ import annotations

import torch

from course_lib.grading.registry import CaseFailed, exercise
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
        "sin and cos are swapped (sines belong in the even columns 2i, cosines in the odd columns 2i+1)":
            _table(max_len, omega, first="cos"),
        "the table is a block of sines followed by a block of cosines; the paper interleaves them, "
        "column 2i = sin and column 2i+1 = cos": _table(max_len, omega, layout="halves"),
        "the exponent is i/d_model instead of 2i/d_model (i counts pairs, so the exponent steps by 2/d_model)":
            _table(max_len, 10000.0 ** (-torch.arange(d // 2, dtype=torch.float64) / d)),
        "each column has its own frequency (exponent j/d_model for column j); the sin and the cos of a "
        "pair must share one frequency, exponent 2i/d_model for both": by_column,
        "positions start at 1 instead of 0 (row 0 should be sin 0 = 0, cos 0 = 1)":
            _table(max_len + 1, omega)[1:],
    }


@exercise("positional.sinusoidal_encoding", name="sinusoidal_encoding", chapter="08")
def _(candidate, g):
    """sinusoidal_encoding(max_len, d_model) -> (max_len, d_model) sin/cos table."""
    hint = "PE[pos, 2i] = sin(pos / 10000^(2i/d_model)) and PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))"
    for max_len, d in ((6, 4), (50, 16), (1, 2)):
        with g.case(f"max_len = {max_len}, d_model = {d}: matches the paper's table"):
            got = candidate(max_len, d)
            g.assert_close(got, sinusoidal_encoding(max_len, d, dtype=torch.float64), hint=hint,
                           mistakes=_pe_mistakes(max_len, d), what="table", atol=1e-5, rtol=1e-4,
                           check_dtype=False)  # float32 or float64: the task names no dtype
    with g.case("an odd d_model raises ValueError"):
        g.expect_value_error(lambda: candidate(10, 7),
                            "the columns come in (sin, cos) pairs, so an odd d_model has no valid table: "
                            "raise ValueError naming d_model", naming="d_model")


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
    with g.case("eval mode, x of shape (3, 6, 8): returns x + PE[:6]", points=2):
        module = candidate(d, max_len=max_len, dropout=0.0).eval()
        got = module(x.clone())
        g.assert_close(
            got, x + pe[:6], what="output", hint="add row pos of the table to position pos of every sequence",
            mistakes={
                "the positions are read along the batch axis (a sequence-first (L, B, d) layout); "
                "our tensors are batch-first (B, L, d_model)": x + pe[:3, None, :],
                "the input is scaled by sqrt(d_model) here; that scale belongs to the embedding lookup": x * d**0.5 + pe[:6],
                "the table is returned without the input": pe[:6].expand_as(x),
            },
        )
    with g.case("the table is a buffer, not a trainable parameter"):
        module = candidate(d, max_len=max_len)
        n_params = sum(p.numel() for p in module.parameters())
        g.expect(n_params == 0, f"the module has {n_params} trainable numbers; the sinusoids are fixed: "
                                "store the table with register_buffer so that it is never trained")
        g.expect(any(_holds_table(b, pe) for b in module.buffers()),
                 f"no buffer holds the ({max_len}, {d}) table (as ({max_len}, {d}), (1, {max_len}, {d}) or "
                 f"({max_len}, 1, {d})): register the table with register_buffer")
    with g.case("dropout: active in training mode, off in eval mode"):
        module = candidate(d, max_len=max_len, dropout=0.5)
        big = torch.ones(4, max_len, d)
        module.train()
        zeros = (module(big) == 0).float().mean().item()
        g.expect(0.3 < zeros < 0.7, f"in training mode with dropout=0.5, {zeros:.0%} of the outputs are 0; "
                                    "apply nn.Dropout to the sum")
        module.eval()
        g.assert_close(module(big), big + pe, hint="in eval mode dropout must do nothing")
    with g.case("a sequence longer than max_len raises ValueError"):
        module = candidate(d, max_len=5)
        g.expect_value_error(lambda: module(torch.zeros(1, 7, d)),
                            "a table of 5 rows cannot encode 7 positions: raise ValueError saying so "
                            "(slicing pe[:7] silently returns only 5 rows)")


@exercise("positional.relative_rotation", name="relative_rotation", chapter="08")
def _(candidate, g):
    """relative_rotation(k, d_model) -> (d_model, d_model) M with PE[pos + k] = M @ PE[pos]."""
    hint = ("each (sin, cos) pair turns by the angle k * omega_i: use sin(a+b) and cos(a+b); "
            "the result is block diagonal with one 2 x 2 block per pair")
    pe = sinusoidal_encoding(40, 8, dtype=torch.float64)
    for k, d in ((1, 4), (5, 8), (-3, 8)):
        with g.case(f"k = {k}, d_model = {d}"):
            got = candidate(k, d)
            expected = relative_rotation(k, d)
            g.assert_close(got, expected, what="matrix", hint=hint, mistakes={
                "the rotation for -k (the matrix is transposed): it moves back by k positions": expected.T,
                "the matrix is not block diagonal by pair (cosines and sines are placed as for a "
                "block-of-sines-then-cosines table)": _halves_rotation(k, d),
                "the wrong frequencies: exponent i/d_model instead of 2i/d_model (i counts pairs)":
                    _rotation(k, 10000.0 ** (-torch.arange(d // 2, dtype=torch.float64) / d)),
                "the wrong frequencies: every pair turned by the angle k itself; pair i turns by k · ω_i":
                    _rotation(k, torch.ones(d // 2, dtype=torch.float64)),
                "the wrong frequencies: ω_i = 10000^(2i/d_model); the exponent is negative":
                    _rotation(k, 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)),
            })
    with g.case("returns float64, as the task says"):
        got = candidate(2, 6)
        g.assert_close(got, relative_rotation(2, 6), what="matrix", hint=hint)
    with g.case("the property itself: PE[pos + 5] = M_5 @ PE[pos] for pos = 0..34, d_model = 8"):
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
            extra = ("; yours has max_len + 1 rows: positions start at 0, so rows 0 .. max_len - 1 "
                     "are all there is" if (max_len + 1, d) in shapes else "")
            if any(tuple(b.shape) == (max_len, d) for b in module.buffers()):
                extra = "; yours is a buffer, and a buffer is never trained"
            raise CaseFailed(f"no trainable parameter of shape ({max_len}, {d}) found: the table is an "
                             f"nn.Parameter with one row per position{extra}")
        return found[0].detach()

    with g.case("the table is a trainable (max_len, d_model) parameter, and the only one"):
        module = candidate(d, max_len=max_len)
        table(module)
        n_params = sum(p.numel() for p in module.parameters())
        g.expect(n_params == max_len * d, f"the module has {n_params} trainable numbers; expected "
                                          f"max_len x d_model = {max_len * d}")
    with g.case("eval mode, x of shape (3, 5, 6): returns x + table[:5]", points=2):
        module = candidate(d, max_len=max_len, dropout=0.0).eval()
        w = table(module)
        g.assert_close(module(x.clone()), x + w[:5], what="output",
                       hint="add row t of the table to position t of every sequence", mistakes={
                           "the positions are read along the batch axis; our tensors are (B, L, d_model)":
                               x + w[:3, None, :],
                           "the table is returned without the input": w[:5].expand_as(x),
                           "the input is scaled by sqrt(d_model); GPT and BERT add the rows as they are":
                               x * d**0.5 + w[:5],
                           "positions start at 1: row t + 1 is added to position t; row 0 is position 0":
                               x + w[1:6]})
    with g.case("offset=4: the rows of positions 4..8 (decoding with a cache)"):
        module = candidate(d, max_len=max_len, dropout=0.0).eval()
        w = table(module)
        g.assert_close(module(x.clone(), offset=4), x + w[4:9], what="output",
                       hint="x[:, 0] sits at position offset", mistakes={
                           "offset is ignored": x + w[:5],
                           "positions start at offset + 1; x[:, 0] sits at position offset": x + w[5:10]})
    with g.case("dropout: active in training mode, off in eval mode"):
        module = candidate(d, max_len=max_len, dropout=0.5)
        big = torch.ones(4, max_len, d)
        zeros = (module.train()(big) == 0).float().mean().item()
        g.expect(0.3 < zeros < 0.7, f"in training mode with dropout=0.5, {zeros:.0%} of the outputs are 0; "
                                    "apply nn.Dropout to the sum")
    with g.case("positions past the table raise ValueError"):
        module = candidate(d, max_len=5)
        g.expect_value_error(lambda: module(torch.zeros(1, 7, d)),
                             "a table of 5 rows has no row for positions 5 and 6: raise ValueError (slicing "
                             "weight[:7] silently returns only 5 rows)")
        g.expect_value_error(lambda: module(torch.zeros(1, 3, d), offset=3),
                             "offset 3 + 3 positions needs rows 3..5, one past the table: raise ValueError")
