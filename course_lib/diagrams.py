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
