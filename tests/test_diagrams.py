"""Tests for ``course_lib.diagrams``: every diagram draws, carries the text it promises, and
needs no missing glyph (Chinese labels use the bundled CJK font)."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")  # headless: no display needed

import matplotlib.pyplot as plt  # noqa: E402
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


# -- Chapter 12: the three architectures -----------------------------------------------------------

def test_three_architectures_names_what_each_keeps_and_prints_the_counts(tmp_path):
    fig = diagrams.three_architectures(params={"encoder-decoder": 237_056, "GPT": 238_976, "BERT": 1_234},
                                       num_layers="4")
    drawn = texts(fig)
    assert {"237,056 parameters", "238,976 parameters", "1,234 parameters"} <= set(drawn)
    assert sum("cross-attn" in t for t in drawn) == 1  # only the encoder–decoder has cross-attention
    assert any("仅解码器" in t for t in drawn) and any("仅编码器" in t for t in drawn)
    assert any("掩码语言模型" in t for t in drawn) and any("causal" in t for t in drawn)
    assert drawn.count("4×") == 4  # encoder, decoder, GPT, BERT stacks
    render(fig, tmp_path)
    assert not any("parameters" in t for t in texts(diagrams.three_architectures()))
