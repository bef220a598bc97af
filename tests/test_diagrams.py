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


# --- Chapters 10-11: the Transformer (the paper's Figure 1) ------------------------------------


def test_transformer_architecture_has_every_box_of_figure_1(tmp_path):
    fig = diagrams.transformer_architecture()
    drawn = texts(fig)
    # Figure 1: three attentions, three + two Add & Norm, two feed-forwards, both inputs.
    assert drawn.count("Multi-Head Attention") == 2 and drawn.count("Masked Multi-Head Attention") == 1
    assert drawn.count("Add & Norm") == 5 and drawn.count("Feed Forward") == 2
    assert drawn.count("Positional\nEncoding") == 2 and drawn.count("N ×") == 2
    assert {"Input Embedding", "Output Embedding", "Outputs (shifted right)", "Linear", "Softmax",
            "Output Probabilities", "memory"} <= set(drawn)
    render(fig, tmp_path)


def test_transformer_architecture_annotations():
    fig = diagrams.transformer_architecture(
        names={"encoder_layer": "EncoderLayer", "add_norm": "Residual", "linear": "OutputProjection"},
        shapes={"inputs": "(B, S)", "memory": "(B, S, d_model)", "logits": "(B, T, vocab)"}, num_layers="6")
    drawn = texts(fig)
    assert "6 ×\nEncoderLayer" in drawn and "6 ×" in drawn  # the decoder's label has no name given
    assert drawn.count("Add & Norm\nResidual") == 5 and "Linear\nOutputProjection" in drawn
    assert {"(B, S)", "memory (B, S, d_model)", "(B, T, vocab)"} <= set(drawn)


def test_transformer_architecture_rejects_an_unknown_part():
    with pytest.raises(ValueError, match=r"names=\['encoder'\]; expected keys among"):
        diagrams.transformer_architecture(names={"encoder": "Encoder"})
    with pytest.raises(ValueError, match=r"shapes=\['src'\]; expected keys among"):
        diagrams.transformer_architecture(shapes={"src": "(B, S)"})
