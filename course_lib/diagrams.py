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

import math
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


def qkv_projection(*, d_model: int = 512, d_k: int = 64, scores: Sequence[float] = (112.0, 96.0),
                   words: Sequence[str] = ("Thinking", "Machines")) -> plt.Figure:
    """Draw the Illustrated Transformer's *Thinking Machines* example (the notes' figures 6-9).

    Top: each embedding ``x_j`` (width ``d_model``) times ``W^Q``, ``W^K``, ``W^V``
    (``d_model x d_k``) gives ``q_j``, ``k_j``, ``v_j`` (width ``d_k``). Bottom: the first
    word's scores ``q_1 . k_j``, divided by ``sqrt(d_k)``, a softmax (computed here with
    :func:`course_lib.attention.softmax`), each value times its weight, and the sum ``z_1``.

    Parameters
    ----------
    d_model, d_k : int
        Widths of an embedding and of a query/key/value vector.
    scores : sequence of two floats
        The scores ``q_1 . k_1`` and ``q_1 . k_2`` (the Illustrated Transformer's 112 and 96).
    words : sequence of two str

    Returns
    -------
    matplotlib Figure
    """
    import torch

    from course_lib.attention import softmax

    if len(scores) != 2 or len(words) != 2:
        raise ValueError(f"scores={tuple(scores)!r}, words={tuple(words)!r}; expected two of each")
    scale = math.sqrt(d_k)
    scaled = [s / scale for s in scores]
    weights = softmax(torch.tensor(scaled, dtype=torch.float64)).tolist()
    fig, ax = canvas(10.4, 7.6)
    kinds = (("q", "query", "$W^Q$"), ("k", "key", "$W^K$"), ("v", "value", "$W^V$"))
    for j, (word, cx) in enumerate(zip(words, (2.6, 7.8)), start=1):
        ax.text(cx, 7.25, word, ha="center", va="center", fontsize=12)
        x = box(ax, (cx, 6.45), f"$x_{j}$: 1 × {d_model}", size=(2.0, 0.6), kind="input")
        for dx, (name, kind, matrix) in zip((-1.45, 0.0, 1.45), kinds):
            b = box(ax, (cx + dx, 4.95), f"${name}_{j}$: 1 × {d_k}", size=(1.3, 0.6), kind=kind,
                    fontsize=9)
            arrow(ax, x.bottom, b.top, text=f"× {matrix}", fontsize=8)
    box(ax, (5.2, 5.75), f"$W^Q, W^K, W^V$\n{d_model} × {d_k} each\n(trained)", size=(1.6, 0.95),
        fontsize=8)
    ax.plot([0.2, 10.2], [4.25, 4.25], color="#bbbbbb", lw=0.8)
    ax.text(5.2, 3.95, f"the output for “{words[0]}”: its query $q_1$ against every key",
            ha="center", va="center", fontsize=10)
    heads = ("score $q_1 \\cdot k_j$", f"÷ $\\sqrt{{{d_k}}}$ = {scale:g}", "softmax",
             "weight × value", "sum")
    cols = (1.3, 3.3, 5.3, 7.3, 9.3)
    for head, cx in zip(heads, cols):
        ax.text(cx, 3.45, head, ha="center", va="center", fontsize=9, color="#333333")
    for j, y in ((1, 2.75), (2, 1.45)):
        cells = [box(ax, (cols[0], y), f"$q_1 \\cdot k_{j}$ = {scores[j - 1]:g}", size=(1.7, 0.6)),
                 box(ax, (cols[1], y), f"{scaled[j - 1]:g}", size=(1.3, 0.6)),
                 box(ax, (cols[2], y), f"{weights[j - 1]:.2f}", size=(1.3, 0.6), kind="weight"),
                 box(ax, (cols[3], y), f"{weights[j - 1]:.2f} $v_{j}$", size=(1.5, 0.6),
                     kind="value")]
        for a, b in zip(cells, cells[1:]):
            arrow(ax, a.right, b.left)
        ax.text(0.2, y, f"j={j}", ha="left", va="center", fontsize=8, color="#666666")
        last = cells[-1]
        z_anchor = (cols[4] - 0.55, 2.1)
        arrow(ax, last.right, z_anchor)
    z = box(ax, (cols[4] + 0.05, 2.1), "$z_1$", size=(1.1, 0.7), kind="output", fontsize=12)
    ax.text(5.2, 0.55, f"$z_1 = {weights[0]:.2f}\\,v_1 + {weights[1]:.2f}\\,v_2$, "
            f"a vector of width {d_k}: the new representation of “{words[0]}”",
            ha="center", va="center", fontsize=10)
    del z
    return fig


def _cards(ax: plt.Axes, xy: tuple[float, float], text: str, *, size: tuple[float, float],
           kind: str, depth: int = 2, fontsize: float = 9) -> Box:
    """A box drawn ``depth`` cards deep (the paper's stacked heads), the front card last."""
    for d in range(depth, 0, -1):
        box(ax, (xy[0] + 0.09 * d, xy[1] + 0.09 * d), "", size=size, kind=kind)
    return box(ax, xy, text, size=size, kind=kind, fontsize=fontsize)


def _shape(*dims) -> str:
    """A tensor shape as mathtext, e.g. ``$(B, 8, L_q, 64)$``."""
    return "$(" + ", ".join(str(d) for d in dims) + ")$"


def _side(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], text: str) -> None:
    """Draw a vertical arrow with its label just to the right of its middle."""
    arrow(ax, start, end)
    ax.text(start[0] + 0.12, (start[1] + end[1]) / 2, text, ha="left", va="center", fontsize=8)


def scaled_dot_product_block(*, d_k: int = 64, num_heads: int | None = None) -> plt.Figure:
    """Draw scaled dot-product attention, the left half of the paper's Figure 2, with shapes.

    MatMul of Q and K, Scale by ``1/sqrt(d_k)``, Mask (optional, True = may attend),
    SoftMax over the keys, MatMul with V; the shape of the tensor on every arrow.

    Parameters
    ----------
    d_k : int
        Width of a query/key (and here value) vector: the shapes and the scale use it.
    num_heads : int, optional
        When given, every shape carries a head axis ``H`` of this size after the batch
        axis, as inside :class:`course_lib.multihead.MultiHeadAttention`.

    Returns
    -------
    matplotlib Figure
    """
    lead = ("B",) if num_heads is None else ("B", num_heads)
    fig, ax = canvas(6.0, 8.0)
    cx = 2.6
    q = box(ax, (1.6, 0.5), "Q", size=(0.9, 0.5), kind="query")
    k = box(ax, (3.6, 0.5), "K", size=(0.9, 0.5), kind="key")
    v = box(ax, (4.9, 0.5), "V", size=(0.9, 0.5), kind="value")
    m1 = box(ax, (cx, 1.9), "MatMul  $QK^\\top$", size=(1.9, 0.55))
    sc = box(ax, (cx, 3.0), f"Scale  ÷ $\\sqrt{{{d_k}}}$ = {math.sqrt(d_k):g}", size=(1.9, 0.55))
    mk = box(ax, (cx, 4.1), "Mask (opt.)\nFalse → −∞", size=(1.9, 0.7), kind="mask")
    sm = box(ax, (cx, 5.3), "SoftMax over keys", size=(1.9, 0.55), kind="weight")
    m2 = box(ax, (cx, 6.5), "MatMul  (weights) V", size=(2.2, 0.55))
    arrow(ax, q.top, (m1.x - 0.5, m1.bottom[1]), text=_shape(*lead, "L_q", d_k),
          text_offset=(-0.95, -0.05), fontsize=8)
    arrow(ax, k.top, (m1.x + 0.5, m1.bottom[1]), text=_shape(*lead, "L_k", d_k),
          text_offset=(0.95, -0.05), fontsize=8)
    _side(ax, m1.top, sc.bottom, _shape(*lead, "L_q", "L_k") + " scores")
    _side(ax, sc.top, mk.bottom, _shape(*lead, "L_q", "L_k"))
    _side(ax, mk.top, sm.bottom, _shape(*lead, "L_q", "L_k"))
    _side(ax, sm.top, (sm.x, m2.bottom[1]), _shape(*lead, "L_q", "L_k") + " weights")
    arrow(ax, v.top, (v.x, m2.y), style="-")
    arrow(ax, (v.x, m2.y), m2.right)
    ax.text(v.x + 0.1, 3.5, _shape(*lead, "L_k", d_k), ha="left", va="center", fontsize=8,
            rotation=90)
    _side(ax, m2.top, (m2.x, 7.55), _shape(*lead, "L_q", d_k) + " output")
    ax.text(0.1, 4.1, "mask: True =\nmay attend", ha="left", va="center", fontsize=8, color="#a50f15")
    return fig


def multi_head_block(*, d_model: int = 512, num_heads: int = 8) -> plt.Figure:
    """Draw multi-head attention, the right half of the paper's Figure 2, with shapes.

    V, K and Q each pass through ``h`` linear layers (one per head, drawn as stacked
    cards, split into ``(B, H, L, d_head)``), ``h`` scaled dot-product attentions run in
    parallel, Concat merges the heads and a last Linear ``W^O`` mixes them.

    Parameters
    ----------
    d_model : int
        Model width; every head has ``d_head = d_model / num_heads``.
    num_heads : int
        Number of heads ``h`` (``H``).

    Returns
    -------
    matplotlib Figure
    """
    if d_model % num_heads:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    d_head = d_model // num_heads
    fig, ax = canvas(7.6, 8.0)
    inputs = []
    for x, name, kind in ((1.3, "V", "value"), (3.5, "K", "key"), (5.7, "Q", "query")):
        inp = box(ax, (x, 0.45), name, size=(0.8, 0.5), kind=kind)
        lin = _cards(ax, (x, 1.75), "Linear", size=(1.3, 0.5), kind=kind)
        _side(ax, inp.top, lin.bottom, _shape("B", "L", d_model))
        inputs.append(lin)
    att = _cards(ax, (3.5, 3.55), "Scaled Dot-Product Attention\n"
                 f"h = {num_heads} heads in parallel, each of width {d_head}", size=(5.6, 0.8),
                 kind="weight", depth=2, fontsize=9)
    for lin in inputs:
        _side(ax, lin.top, (lin.x, att.bottom[1]), _shape("B", num_heads, "L", d_head))
    cat = box(ax, (3.5, 5.05), "Concat (merge_heads)", size=(2.6, 0.5))
    _side(ax, att.top, cat.bottom, _shape("B", num_heads, "L_q", d_head))
    out = box(ax, (3.5, 6.3), f"Linear $W^O$: {d_model} × {d_model}", size=(2.6, 0.5))
    _side(ax, cat.top, out.bottom, _shape("B", "L_q", num_heads * d_head)
          + f" ({num_heads} × {d_head})")
    _side(ax, out.top, (3.5, 7.3), _shape("B", "L_q", d_model) + " output")
    ax.text(3.5, 7.75, f"$d_{{model}}$ = {d_model}, h = {num_heads}, "
            f"$d_{{head}}$ = {d_model} / {num_heads} = {d_head}", ha="center", va="center",
            fontsize=10)
    return fig


def decoder_masking(*, tokens: Sequence[str] = ("<bos>", "四", "千", "零", "五", "<pad>", "<pad>"),
                    length: int = 5) -> plt.Figure:
    """Draw which target positions each decoder position may attend to: causal AND padding.

    Three grids computed with :mod:`course_lib.masks`: ``causal_mask(L)``, the padding mask
    of one sentence of ``length`` real tokens, and their AND (True = may attend, drawn T).

    Parameters
    ----------
    tokens : sequence of str
        The target sentence as the decoder reads it, padded to ``L = len(tokens)``.
    length : int
        Number of real tokens (the rest is padding).

    Returns
    -------
    matplotlib Figure
    """
    from course_lib.masks import causal_mask, combine_masks, padding_mask

    n = len(tokens)
    causal = causal_mask(n)
    pad = padding_mask([length], n)  # (1, 1, L)
    both = combine_masks(causal, pad)[0]  # (L, L)
    cell = 0.42
    fig, ax = canvas(3 * n * cell + 4.2, n * cell + 1.75, scale=0.85)
    top = n * cell + 1.0

    def grid(x0: float, mask, rows: Sequence[str] | None, title: str, y0: float = top) -> None:
        for i in range(mask.shape[0]):
            for j in range(mask.shape[1]):
                ok = bool(mask[i, j])
                box(ax, (x0 + (j + 0.5) * cell, y0 - (i + 0.5) * cell), "T" if ok else "F",
                    size=(cell * 0.92, cell * 0.92), kind="value" if ok else "mask", fontsize=7)
        for j, t in enumerate(tokens):
            ax.text(x0 + (j + 0.5) * cell, y0 + 0.08, t, ha="center", va="bottom", fontsize=8,
                    rotation=90 if len(t) > 1 else 0)
        if rows is not None:
            for i, t in enumerate(rows):
                ax.text(x0 - 0.06, y0 - (i + 0.5) * cell, t, ha="right", va="center", fontsize=8)
        ax.text(x0 + mask.shape[1] * cell / 2, y0 - mask.shape[0] * cell - 0.12, title,
                ha="center", va="top", fontsize=8)

    x_causal, x_pad = 0.9, 0.9 + n * cell + 0.9
    x_both = x_pad + n * cell + 1.5
    grid(x_causal, causal, tokens, f"causal_mask({n}): key j ≤ query i")
    grid(x_pad, pad[0], None, f"padding_mask([{length}], {n})\n(1, 1, {n}): broadcasts over queries",
         y0=top - (n - 1) * cell / 2)
    grid(x_both, both, tokens, f"combined ({n}, {n}): {int(both.sum())} pairs may attend")
    mid = top - n * cell / 2
    ax.text(x_pad - 0.45, mid, "AND", ha="center", va="center", fontsize=10)
    ax.text(x_both - 0.75, mid, "=", ha="center", va="center", fontsize=14)
    ax.text(0.1, 0.25, "rows: queries (target positions); columns: keys.  T = True = may attend, "
            "F = masked (score set to −∞)", ha="left", va="center", fontsize=8)
    return fig


__all__ += ["qkv_projection", "scaled_dot_product_block", "multi_head_block", "decoder_masking"]


# ---------------------------------------------------------------------------------------------
# Chapters 10-11: the Transformer (the paper's Figure 1)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Chapter 12: encoder-decoder, decoder-only (GPT) and encoder-only (BERT) side by side
# ---------------------------------------------------------------------------------------------
