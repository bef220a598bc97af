"""Tests for ``course_lib.diagrams``: every diagram draws, carries the text it promises, and
needs no missing glyph (Chinese labels use the bundled CJK font)."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")  # headless: no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
import pytest  # noqa: E402

from course_lib import diagrams  # noqa: E402
from course_lib.diagrams import Box, arrow, box, canvas  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts(fig) -> list[str]:
    """Every string drawn on the figure (box labels, arrow labels, titles)."""
    return [t.get_text() for ax in fig.axes for t in ax.texts + [ax.title]] + [
        t.get_text() for t in fig.texts]


def render(fig, tmp_path):
    """Draw the figure to a PNG, failing on any warning (a missing glyph among them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(tmp_path / "diagram.png")


def test_box_anchors_and_arrow_label(tmp_path):
    fig, ax = canvas(4, 2, title="注意力 attention")
    b = box(ax, (1, 1), "$W^Q$", size=(1.0, 0.5), kind="query")
    assert b == Box(1, 1, 1.0, 0.5)
    assert (b.top, b.bottom, b.left, b.right) == ((1, 1.25), (1, 0.75), (0.5, 1), (1.5, 1))
    c = box(ax, (3, 1), "键 key", kind="key")
    arrow(ax, b.right, c.left, text="×")
    assert ax.get_xlim() == (0, 4) and ax.get_ylim() == (0, 2)
    assert {"$W^Q$", "键 key", "×", "注意力 attention"} <= set(texts(fig))
    assert len(ax.patches) == 3
    render(fig, tmp_path)


def test_box_rejects_an_unknown_kind():
    _, ax = canvas(2, 2)
    with pytest.raises(ValueError, match=r"kind='querry'; expected one of"):
        box(ax, (1, 1), "q", kind="querry")


def test_every_public_diagram_draws_without_missing_glyphs(tmp_path):
    primitives = {"COLORS", "Box", "canvas", "box", "arrow"}
    for name in sorted(set(diagrams.__all__) - primitives):
        fig = getattr(diagrams, name)()
        assert isinstance(fig, plt.Figure), name
        render(fig, tmp_path)
        plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Chapters 3-5: Q/K/V projections, scaled dot-product and multi-head attention, masking
# ---------------------------------------------------------------------------------------------


def test_qkv_projection_computes_the_illustrated_transformers_numbers(tmp_path):
    strings = texts(diagrams.qkv_projection())
    joined = " ".join(strings)
    # 112 and 96 divided by sqrt(64) = 8 are 14 and 12; softmax([14, 12]) = (0.88, 0.12)
    assert {"14", "12", "0.88", "0.12"} <= set(strings)
    assert "$q_1 \\cdot k_1$ = 112" in strings and "$q_1 \\cdot k_2$ = 96" in strings
    assert "÷ $\\sqrt{64}$ = 8" in strings
    assert "$x_1$: 1 × 512" in strings and "$v_2$: 1 × 64" in strings
    assert "$z_1 = 0.88\\,v_1 + 0.12\\,v_2$" in joined
    # other numbers give other text: nothing is typed in
    other = set(texts(diagrams.qkv_projection(d_k=16, scores=(8.0, 0.0))))
    assert {"2", "0", "0.88", "0.12"} <= other and "÷ $\\sqrt{16}$ = 4" in other
    other = set(texts(diagrams.qkv_projection(scores=(8.0, 8.0))))
    assert "0.50" in other and "0.88" not in other
    with pytest.raises(ValueError, match="expected two of each"):
        diagrams.qkv_projection(scores=(1.0, 2.0, 3.0))


def test_scaled_dot_product_block_has_the_five_steps_and_the_shapes():
    strings = texts(diagrams.scaled_dot_product_block())
    joined = " ".join(strings)
    for step in ("MatMul  $QK^\\top$", "Scale  ÷ $\\sqrt{64}$ = 8", "Mask (opt.)\nFalse → −∞",
                 "SoftMax over keys", "MatMul  (weights) V"):
        assert step in strings
    assert "$(B, L_q, L_k)$ scores" in strings and "$(B, L_q, 64)$ output" in strings
    with_heads = texts(diagrams.scaled_dot_product_block(d_k=32, num_heads=4))
    assert "$(B, 4, L_q, L_k)$ weights" in with_heads and "Scale  ÷ $\\sqrt{32}$ = 5.65685" in with_heads
    assert "True" in joined  # the mask convention is stated


def test_multi_head_block_computes_d_head_and_writes_the_shapes():
    strings = texts(diagrams.multi_head_block())
    assert "$d_{model}$ = 512, h = 8, $d_{head}$ = 512 / 8 = 64" in strings
    assert strings.count("$(B, 8, L, 64)$") == 3 and strings.count("$(B, L, 512)$") == 3
    assert "Concat (merge_heads)" in strings and "Linear $W^O$: 512 × 512" in strings
    assert "$(B, L_q, 512)$ (8 × 64)" in strings
    small = texts(diagrams.multi_head_block(d_model=12, num_heads=3))
    assert "$(B, 3, L, 4)$" in small
    with pytest.raises(ValueError, match="d_model=10 is not divisible by num_heads=3"):
        diagrams.multi_head_block(d_model=10, num_heads=3)


def test_decoder_masking_draws_causal_and_padding_and_their_and():
    tokens = ("<bos>", "a", "b", "c", "<pad>")
    fig = diagrams.decoder_masking(tokens=tokens, length=3)
    strings = texts(fig)
    n, length = len(tokens), 3
    causal = [[j <= i for j in range(n)] for i in range(n)]
    pad = [j < length for j in range(n)]
    both = [[causal[i][j] and pad[j] for j in range(n)] for i in range(n)]
    true_cells = sum(map(sum, causal)) + sum(pad) + sum(map(sum, both))
    assert strings.count("T") == true_cells
    assert strings.count("F") == 2 * n * n + n - true_cells
    assert f"combined ({n}, {n}): {sum(map(sum, both))} pairs may attend" in strings
    assert "causal_mask(5): key j ≤ query i" in strings
    assert any("True = may attend" in s for s in strings)
    # the combined grid (drawn last, row by row) is green where True and red where masked
    patches = fig.axes[0].patches
    assert len(patches) == 2 * n * n + n
    green, red = (to_rgba(diagrams.COLORS[k]) for k in ("value", "mask"))
    drawn = [p.get_facecolor() for p in patches[-n * n:]]
    assert drawn == [green if ok else red for row in both for ok in row]


def test_chapters_3_5_diagrams_need_no_font_fallback(caplog, tmp_path):
    """A weight the CJK font lacks (bold) makes matplotlib log a findfont line, which a
    notebook shows as output; these diagrams must not ask for one."""
    import logging

    names = ("qkv_projection", "scaled_dot_product_block", "multi_head_block", "decoder_masking")
    with caplog.at_level(logging.INFO, logger="matplotlib.font_manager"):
        for name in names:
            getattr(diagrams, name)().savefig(tmp_path / f"{name}.png")
    assert not [r.getMessage() for r in caplog.records if "findfont" in r.getMessage()]
