"""Block diagrams of the notes' figures, drawn in code each time a chapter runs.

The study notes embed pictures from other sites (the essence of attention, its lineage, the
three steps of a weighted sum, Thinking/Machines' projections, the paper's Figures 1 and 2);
none is copied here. Each public function draws one of them with matplotlib from the same few
primitives (:func:`canvas`, :func:`box`, :func:`arrow`), so every diagram of the course has one
look, and returns the ``Figure`` so a chapter can show or save it and a test can read its text.

Coordinates are in "diagram units" on an equal-aspect canvas (one unit is about 0.9 inch at
the default scale); a box is placed by its centre. Colours follow one key throughout:
queries blue, keys orange, values green, weights purple, masks red, operations grey.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from course_lib import viz  # noqa: F401  (registers the CJK font: the diagrams carry Chinese labels)

__all__ = ["COLORS", "Box", "canvas", "box", "arrow"]

#: One colour per role, the same in every diagram (and close to the heatmaps' blues).
COLORS = {
    "query": "#c6dbef",
    "key": "#fdd0a2",
    "value": "#c7e9c0",
    "weight": "#dadaeb",
    "mask": "#fcbba1",
    "op": "#eeeeee",
    "input": "#ffffff",
    "output": "#fff2ae",
}


@dataclass(frozen=True)
class Box:
    """Where a drawn box sits: centre ``(x, y)``, width ``w`` and height ``h`` in diagram units."""

    x: float
    y: float
    w: float
    h: float

    @property
    def top(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x, self.y - self.h / 2)

    @property
    def left(self) -> tuple[float, float]:
        return (self.x - self.w / 2, self.y)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)


def canvas(width: float, height: float, *, scale: float = 0.9,
           title: str | None = None) -> tuple[plt.Figure, plt.Axes]:
    """Make an empty diagram: axes without ticks spanning ``[0, width] x [0, height]``, equal aspect.

    Parameters
    ----------
    width, height : float
        Size of the drawing area in diagram units.
    scale : float
        Inches per diagram unit.
    title : str, optional

    Returns
    -------
    (matplotlib Figure, matplotlib Axes)
    """
    fig, ax = plt.subplots(figsize=(width * scale, height * scale))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92 if title else 0.99)
    return fig, ax


def box(ax: plt.Axes, xy: tuple[float, float], text: str, *, size: tuple[float, float] = (1.8, 0.6),
        kind: str = "op", fontsize: float = 10, **text_kwargs) -> Box:
    """Draw a rounded box centred at ``xy`` with ``text`` in it, coloured by its role ``kind``.

    Parameters
    ----------
    ax : matplotlib Axes
        A :func:`canvas`.
    xy : (float, float)
        Centre of the box.
    text : str
        May hold several lines and matplotlib mathtext (``"$W^Q$"``).
    size : (float, float)
        Width and height.
    kind : str
        A key of :data:`COLORS`.
    fontsize : float
    **text_kwargs
        Passed to ``ax.text``.

    Returns
    -------
    Box
        Its position, for the arrows that join it.
    """
    if kind not in COLORS:
        raise ValueError(f"kind={kind!r}; expected one of {sorted(COLORS)}")
    w, h = size
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.08",
                                facecolor=COLORS[kind], edgecolor="#444444", linewidth=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, **text_kwargs)
    return Box(x, y, w, h)


def arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], *, text: str | None = None,
          color: str = "#444444", style: str = "-|>", connection: str = "arc3", fontsize: float = 9,
          text_offset: Sequence[float] = (0.0, 0.0)) -> FancyArrowPatch:
    """Draw an arrow from ``start`` to ``end``, optionally labelled at its middle.

    Parameters
    ----------
    ax : matplotlib Axes
    start, end : (float, float)
        E.g. ``Box.top`` and another box's ``Box.bottom``.
    text : str, optional
        Label written at the midpoint (shifted by ``text_offset``).
    color, style : str
        Arrow colour and matplotlib arrow style (``"-|>"``, ``"-"`` for a plain line).
    connection : str
        Matplotlib connection style, e.g. ``"arc3,rad=0.3"`` for a curved arrow or
        ``"angle,angleA=0,angleB=90"`` for an elbow.
    fontsize : float
    text_offset : (float, float)

    Returns
    -------
    matplotlib FancyArrowPatch
    """
    patch = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color, linewidth=1.1,
                            connectionstyle=connection, shrinkA=0, shrinkB=0)
    ax.add_patch(patch)
    if text:
        mx = (start[0] + end[0]) / 2 + text_offset[0]
        my = (start[1] + end[1]) / 2 + text_offset[1]
        ax.text(mx, my, text, ha="center", va="center", fontsize=fontsize,
                bbox=dict(facecolor="white", edgecolor="none", pad=1.0))
    return patch


# ---------------------------------------------------------------------------------------------
# Chapters 1-2: the essence of attention, the lineage, the three steps of a weighted sum
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Chapters 3-5: Q/K/V projections, scaled dot-product and multi-head attention, masking
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Chapters 10-11: the Transformer (the paper's Figure 1)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Chapter 12: encoder-decoder, decoder-only (GPT) and encoder-only (BERT) side by side
# ---------------------------------------------------------------------------------------------

def three_architectures(*, params: dict[str, int] | None = None, num_layers: str = "N") -> plt.Figure:
    """The encoder–decoder, the decoder-only GPT and the encoder-only BERT side by side.

    What each keeps of the Transformer: GPT drops the encoder and, with it, the decoder's
    cross-attention; BERT drops the decoder and replaces the next-token head with a
    masked-word one. Boxes that exist only in the encoder–decoder are drawn there alone.

    Parameters
    ----------
    params : dict of str to int, optional
        Parameter counts to print under the titles, keyed ``"encoder-decoder"``, ``"GPT"``,
        ``"BERT"`` (e.g. the three models built from one configuration).
    num_layers : str, default "N"
        The repeat label beside each stack (``"N×"``).

    Returns
    -------
    matplotlib Figure
    """
    fig, ax = canvas(13.2, 7.9, scale=0.75)
    size, fs = (2.3, 0.62), 8.5
    columns = {  # title, x of the column's centre
        "encoder-decoder": ("编码器–解码器 encoder–decoder\n(Transformer, ch. 10)", 2.9),
        "GPT": ("仅解码器 decoder-only\n(GPT)", 7.3),
        "BERT": ("仅编码器 encoder-only\n(BERT)", 11.0),
    }
    for key, (title, x) in columns.items():
        ax.text(x, 7.5, title, ha="center", va="center", fontsize=10)
        if params and key in params:
            ax.text(x, 6.9, f"{params[key]:,} parameters", ha="center", va="center", fontsize=9)

    def stack(x, labels, kinds, top_label=None, top_kind="output", bottom="input ids", side=1):
        boxes = [box(ax, (x, 0.55), bottom, size=size, kind="input", fontsize=fs)]
        for i, (label, kind) in enumerate(zip(labels, kinds)):
            boxes.append(box(ax, (x, 1.55 + i * 1.0), label, size=size, kind=kind, fontsize=fs))
        for a, b in zip(boxes, boxes[1:]):
            arrow(ax, a.top, b.bottom)
        n = len(labels) - 1  # the embedding is below the repeated layer
        ax.add_patch(plt.Rectangle((x - 1.35, 2.0), 2.7, n * 1.0 + 0.1, fill=False, ls="--", ec="#888888"))
        ax.text(x + side * 1.45, 2.0 + n * 0.5, f"{num_layers}×", fontsize=9, va="center",
                ha="left" if side > 0 else "right")
        if top_label:
            top = box(ax, (x, 1.55 + len(labels) * 1.0 + 0.15), top_label, size=size, kind=top_kind, fontsize=fs)
            arrow(ax, boxes[-1].top, top.bottom)
        return boxes

    enc = stack(1.6, ["embedding + 位置编码", "self-attention 自注意力", "FFN 前馈网络"],
                ["op", "query", "value"], top_label="memory", bottom="source ids", side=-1)
    dec = stack(4.25, ["embedding + 位置编码", "masked self-attn 掩码", "cross-attn 交叉注意力", "FFN 前馈网络"],
                ["op", "mask", "key", "value"], top_label="next token 下一个词", bottom="target ids")
    arrow(ax, (2.75, 4.7), dec[3].left, connection="arc3,rad=-0.3")  # the memory feeds every cross-attention
    stack(7.3, ["token + learned position", "causal self-attn 掩码", "FFN (GELU, tanh)"],
          ["op", "mask", "value"], top_label="LayerNorm, next token\n自回归", bottom="one sequence")
    ax.text(7.3, 6.45, "dropped: the encoder, cross-attention", ha="center", fontsize=8, color="#b2182b")
    stack(11.0, ["token + position + segment", "self-attention 双向", "FFN (GELU, exact)"],
          ["op", "query", "value"], top_label="masked-word head\n掩码语言模型", bottom="ids with [MASK]")
    ax.text(11.0, 6.45, "dropped: the decoder, the causal mask", ha="center", fontsize=8, color="#b2182b")
    return fig


__all__ += ["three_architectures"]
