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

#: The boxes of :func:`transformer_architecture` that ``names`` may annotate.
ARCHITECTURE_PARTS = ("input_embedding", "output_embedding", "positional_encoding", "self_attention",
                      "masked_self_attention", "cross_attention", "add_norm", "feed_forward",
                      "encoder_layer", "decoder_layer", "linear", "softmax")
#: The places of :func:`transformer_architecture` where ``shapes`` may write a tensor's shape.
ARCHITECTURE_SHAPES = ("inputs", "outputs", "source_vectors", "target_vectors", "memory", "logits",
                       "probabilities")


def _known_keys(name: str, mapping: dict | None, allowed: tuple[str, ...]) -> dict:
    """``mapping`` (or ``{}``) after checking that each key is one of ``allowed``."""
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ValueError(f"{name}={unknown}; expected keys among {list(allowed)}")
    return mapping


def _tower(ax, x: float, parts: list[tuple[str, str, str]], names: dict, *, y0: float, step: float,
           w: float, h: float, residual_side: float) -> list[Box]:
    """Draw one layer's sub-layers bottom-up, joined by arrows, with residual paths into each Add & Norm."""
    boxes = []
    for i, (key, label, kind) in enumerate(parts):
        text = label + (f"\n{names[key]}" if key in names else "")
        y = y0 + i * step + (i // 2) * 0.4  # a wider gap between (sub-layer, Add & Norm) pairs
        boxes.append(box(ax, (x, y), text, size=(w, h), kind=kind, fontsize=8.5))
        if i:
            arrow(ax, boxes[-2].top, boxes[-1].bottom)
    # Each Add & Norm adds the input of the sub-layer below it: a line around that sub-layer.
    side = x + residual_side * (w / 2 + 0.3)
    for sub, norm in zip(boxes[0::2], boxes[1::2]):
        y_from = sub.y - h / 2 - 0.14
        ax.plot([x, side, side], [y_from, y_from, norm.y], color="#888888", lw=1.0)
        arrow(ax, (side, norm.y), norm.right if residual_side > 0 else norm.left, color="#888888")
    return boxes


def transformer_architecture(*, names: dict[str, str] | None = None, shapes: dict[str, str] | None = None,
                             num_layers: str = "N", title: str | None = None,
                             scale: float = 0.75) -> plt.Figure:
    """Draw the encoder-decoder Transformer of the paper's Figure 1 (figures.md item 12).

    Left, the encoder: input embedding + positional encoding under ``num_layers`` x
    (multi-head attention, add & norm, feed forward, add & norm). Right, the decoder:
    output embedding (shifted right) + positional encoding under ``num_layers`` x (masked
    multi-head attention, add & norm, multi-head attention over the encoder output, add &
    norm, feed forward, add & norm), then Linear and Softmax. Post-LN, as in the paper.

    Parameters
    ----------
    names : dict of str to str, optional
        A second line for some boxes, e.g. ``{"encoder_layer": "EncoderLayer"}``; keys among
        :data:`ARCHITECTURE_PARTS` (``add_norm`` annotates every Add & Norm).
    shapes : dict of str to str, optional
        Tensor shapes written beside the data flow, e.g. ``{"inputs": "(B, S)"}``; keys among
        :data:`ARCHITECTURE_SHAPES`.
    num_layers : str, default "N"
        How the stacks' repetition is labelled (``"N"`` gives "N ×").
    title : str, optional
    scale : float, default 0.75
        Inches per diagram unit.

    Returns
    -------
    matplotlib Figure
    """
    names = _known_keys("names", names, ARCHITECTURE_PARTS)
    shapes = _known_keys("shapes", shapes, ARCHITECTURE_SHAPES)
    width = 12.8
    fig, ax = canvas(width, 13.0, scale=scale, title=title)
    w, h, step = 3.2, 0.62 if names else 0.5, 0.85
    enc_x, dec_x, y0 = 3.7, 8.9, 3.5

    def stack_input(x, label, key, shape_key, io_label, io_shape_key, pe_side):
        io = ax.text(x, 0.35, io_label, ha="center", va="center", fontsize=9)
        emb = box(ax, (x, 1.25), label + (f"\n{names[key]}" if key in names else ""), size=(w, h),
                  kind="input", fontsize=8.5)
        arrow(ax, (x, 0.55), emb.bottom, text=shapes.get(io_shape_key), text_offset=(0.75, 0))
        ax.add_patch(plt.Circle((x, 2.2), 0.2, facecolor="white", edgecolor="#444444"))
        ax.text(x, 2.2, "+", ha="center", va="center", fontsize=11)
        arrow(ax, emb.top, (x, 2.0))
        pe = "Positional\nEncoding" + (f"\n{names['positional_encoding']}" if "positional_encoding" in names
                                       else "")
        pe_x = x + pe_side * 1.05
        ax.text(pe_x, 2.2, pe, ha="right" if pe_side < 0 else "left", va="center", fontsize=8.5)
        arrow(ax, (x + pe_side * 0.95, 2.2), (x + pe_side * 0.2, 2.2))
        arrow(ax, (x, 2.4), (x, y0 - h / 2), text=shapes.get(shape_key), text_offset=(0.75, 0.05))
        return io

    stack_input(enc_x, "Input Embedding", "input_embedding", "source_vectors", "Inputs (source tokens)",
                "inputs", -1)
    stack_input(dec_x, "Output Embedding", "output_embedding", "target_vectors",
                "Outputs (shifted right)", "outputs", 1)
    enc = _tower(ax, enc_x, [("self_attention", "Multi-Head Attention", "query"),
                             ("add_norm", "Add & Norm", "op"), ("feed_forward", "Feed Forward", "value"),
                             ("add_norm", "Add & Norm", "op")], names,
                 y0=y0, step=step, w=w, h=h, residual_side=-1)
    dec = _tower(ax, dec_x, [("masked_self_attention", "Masked Multi-Head Attention", "mask"),
                             ("add_norm", "Add & Norm", "op"), ("cross_attention", "Multi-Head Attention", "key"),
                             ("add_norm", "Add & Norm", "op"), ("feed_forward", "Feed Forward", "value"),
                             ("add_norm", "Add & Norm", "op")], names,
                 y0=y0, step=step, w=w, h=h, residual_side=1)
    for x, boxes, key, side in ((enc_x, enc, "encoder_layer", -1), (dec_x, dec, "decoder_layer", 1)):
        bottom, top = boxes[0].y - h / 2 - 0.3, boxes[-1].y + h / 2 + 0.15
        ax.add_patch(FancyBboxPatch((x - w / 2 - 0.5, bottom), w + 1.0, top - bottom,
                                    boxstyle="round,pad=0,rounding_size=0.15", facecolor="none",
                                    edgecolor="#888888", linestyle="--"))
        label = f"{num_layers} ×" + (f"\n{names[key]}" if key in names else "")
        ax.text(x + side * (w / 2 + 0.65), (bottom + top) / 2, label, fontsize=10,
                ha="right" if side < 0 else "left", va="center")
    # The encoder's output (the memory) gives keys and values to every decoder layer's middle attention.
    cross = dec[2]
    y_in = (dec[1].y + cross.y) / 2  # between the Add & Norm below and the cross-attention
    y_mem, x_turn = enc[-1].y + h / 2 + 0.75, (enc_x + dec_x) / 2 + 0.4
    ax.plot([enc_x, enc_x, x_turn, x_turn], [enc[-1].y + h / 2, y_mem, y_mem, y_in],
            color="#444444", lw=1.1)
    ax.text((enc_x + x_turn) / 2, y_mem + 0.2, "memory" + (f" {shapes['memory']}" if "memory" in shapes else ""),
            ha="center", va="bottom", fontsize=8.5)
    ax.plot([x_turn, cross.x - 0.7], [y_in] * 2, color="#444444", lw=1.1)
    arrow(ax, (cross.x - 0.7, y_in), (cross.x - 0.7, cross.y - h / 2))
    ax.text(cross.x - 0.8, y_in + 0.12, "K, V", ha="right", va="bottom", fontsize=7.5)
    ax.text(cross.x + 0.1, y_in, "Q", ha="left", va="center", fontsize=7.5)
    lin = box(ax, (dec_x, dec[-1].y + 1.15), "Linear" + (f"\n{names['linear']}" if "linear" in names else ""),
              size=(w, h), kind="output", fontsize=8.5)
    soft = box(ax, (dec_x, lin.y + step + 0.1),
               "Softmax" + (f"\n{names['softmax']}" if "softmax" in names else ""),
               size=(w, h), kind="output", fontsize=8.5)
    arrow(ax, dec[-1].top, lin.bottom)
    arrow(ax, lin.top, soft.bottom, text=shapes.get("logits"), text_offset=(0.9, 0))
    arrow(ax, soft.top, (dec_x, soft.y + h / 2 + 0.45), text=shapes.get("probabilities"), text_offset=(0.9, 0))
    ax.text(dec_x, soft.y + h / 2 + 0.6, "Output Probabilities", ha="center", va="bottom", fontsize=9)
    height = soft.y + h / 2 + 1.1  # the canvas ends just above the last label
    ax.set_ylim(0, height)
    fig.set_size_inches(width * scale, height * scale)
    return fig


__all__ += ["transformer_architecture"]


# ---------------------------------------------------------------------------------------------
# Chapter 12: encoder-decoder, decoder-only (GPT) and encoder-only (BERT) side by side
# ---------------------------------------------------------------------------------------------
