"""Block diagrams of the notes' figures, drawn in code each time a chapter runs.

The study notes embed pictures from other sites (the essence of attention, its lineage, the
three steps of a weighted sum, Thinking/Machines' projections, the paper's Figures 1 and 2);
none is copied here. Each public function draws one of them with matplotlib from the same few
primitives (:func:`canvas`, :func:`box`, :func:`arrow`), so every diagram of the course has one
look, and returns the ``Figure`` so a chapter can show or save it and a test can read its text.

Coordinates are in "diagram units" on an equal-aspect canvas (one unit is about 0.9 inch at
the default scale); a box is placed by its centre. Colours follow one key throughout:
queries blue, keys orange, values green, weights purple, masks red, operations grey.

The labels are in the course's language (:func:`course_lib.i18n.tr`, read when a diagram is
drawn): the English diagrams name the notes' Chinese terms beside the English ones, the
Chinese ones are Chinese throughout, except code names, math and abbreviations (FFN, GPT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from course_lib import viz  # registers the CJK font on import: the diagrams carry Chinese labels
from course_lib.i18n import tr

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

#: Chapter 1's worked example: one query, four keys, four two-dimensional values.
_WORKED_QUERY = (1, 0, 1, 0)
_WORKED_KEYS = ((1, 0, 1, 0), (0, 1, 0, 1), (1, 1, 0, 0), (1, 0, 2, 1))
_WORKED_VALUES = ((1, 0), (0, 1), (1, 1), (3, -1))

#: The essence diagram's Source: eight pairs, and a query that resembles keys 2 and 6.
_ESSENCE_QUERY = (3, 0, 3, 0)
_ESSENCE_KEYS = ((0, 1, 0, 1), (2, 0, 1, 0), (0, 0, 1, 1), (1, 1, 0, 0),
                (0, 1, 1, 0), (1, 0, 2, 0), (0, 2, 0, 0), (1, 0, 0, 1))
_ESSENCE_VALUES = ((0, 1), (2, 0), (1, 1), (0, 0), (1, 0), (2, 1), (0, 2), (1, 2))


def _vector(x: Sequence[float]) -> str:
    """``[1, 0]`` for whole numbers, ``[1.39, 0.19]`` otherwise."""
    items = [float(v) for v in x]
    if all(v == round(v) for v in items):
        return "[" + ", ".join(str(int(v)) for v in items) + "]"
    return "[" + ", ".join(f"{v:.2f}" for v in items) + "]"


def _attention_numbers(query, keys, values) -> tuple[list[float], list[float], list[float]]:
    """Scaled scores, weights and output of one query, computed by ``course_lib.attention``."""
    import torch  # here, not at the top: drawing a primitive needs no torch

    from course_lib.attention import dot_product_scores, scaled_dot_product_attention

    q = torch.tensor([list(query)], dtype=torch.float64)  # (1, d_k)
    k = torch.tensor([list(r) for r in keys], dtype=torch.float64)  # (L_k, d_k)
    v = torch.tensor([list(r) for r in values], dtype=torch.float64)  # (L_k, d_v)
    out, weights = scaled_dot_product_attention(q, k, v)
    scores = dot_product_scores(q, k) / q.shape[-1] ** 0.5
    return scores[0].tolist(), weights[0].tolist(), out[0].tolist()


def _check_pairs(keys: Sequence, most: int) -> int:
    n = len(keys)
    if not 2 <= n <= most:
        raise ValueError(f"len(keys)={n}; expected 2 to {most} keys (one per row or column)")
    return n


def essence(*, query: Sequence[float] = _ESSENCE_QUERY,
            keys: Sequence[Sequence[float]] = _ESSENCE_KEYS,
            values: Sequence[Sequence[float]] = _ESSENCE_VALUES) -> plt.Figure:
    """Draw the essence of attention (注意力的本质): a Query addressing ⟨Key, Value⟩ pairs.

    The Query's similarity with each Key gives a weight (the real softmax weights of scaled
    dot-product attention, computed by ``course_lib.attention``); the line from the Query to a
    Key is as thick as its weight and a bar beside the pair as long as it, so most of the
    weight visibly falls on a few pairs; the weighted sum of the Values is the attention value.

    Parameters
    ----------
    query : sequence of float, shape (d_k,)
    keys : sequence of sequences, shape (L_k, d_k), 2 <= L_k <= 10
    values : sequence of sequences, shape (L_k, d_v)

    Returns
    -------
    matplotlib Figure
    """
    n = _check_pairs(keys, 10)
    _, weights, output = _attention_numbers(query, keys, values)
    ys = [0.95 + 0.62 * (n - 1 - i) for i in range(n)]
    mid, height = (ys[0] + ys[-1]) / 2, ys[0] + 1.35
    fig, ax = canvas(11.6, height, scale=0.8)
    ax.text(5.8, height - 0.3, tr("注意力的本质: 从关注全部到关注重点 (soft addressing, 软寻址)",
                                  "注意力的本质：从关注全部到关注重点（软寻址）"),
            ha="center", va="center", fontsize=12)
    ax.add_patch(FancyBboxPatch((2.6, ys[-1] - 0.42), 3.2, ys[0] - ys[-1] + 0.84,
                                boxstyle="round,pad=0,rounding_size=0.1", facecolor="none",
                                edgecolor="#888888", linestyle="--"))
    ax.text(4.2, ys[0] + 0.6, tr("Source 源: ⟨Key, Value⟩ pairs", "源：⟨键, 值⟩ 对"), ha="center",
            fontsize=10)
    ax.text(7.1, ys[0] + 0.6, tr("weight 权重", "权重"), ha="center", fontsize=10)
    q = box(ax, (1.0, mid), tr("Query 查询\n", "查询\n") + _vector(query), size=(1.7, 0.8),
            kind="query", fontsize=9)
    ax.text(1.0, mid - 0.6, tr("similarity\nwith each Key\n→ weight", "与每个键的\n相似度\n→ 权重"),
            ha="center", va="top", fontsize=9, color="#3b6ea5")
    for i, (y, w) in enumerate(zip(ys, weights)):
        k = box(ax, (3.4, y), tr(f"Key {i + 1}", f"键 {i + 1}"), size=(1.3, 0.44), kind="key",
                fontsize=9)
        box(ax, (5.0, y), tr(f"Value {i + 1}", f"值 {i + 1}"), size=(1.3, 0.44), kind="value",
            fontsize=9)
        arrow(ax, q.right, k.left, style="-", color="#3b6ea5").set_linewidth(0.3 + 6 * w)
        # bars scaled to the largest weight, so that the small ones stay visible
        length = 1.7 * w / max(weights)
        ax.add_patch(plt.Rectangle((6.2, y - 0.16), length, 0.32, facecolor=COLORS["weight"],
                                   edgecolor="#555588"))
        ax.text(6.3 + length, y, f"{w:.2f}", va="center", fontsize=9)
    s = box(ax, (10.3, mid + 0.6), tr("$\\sum_i\\, a_i \\cdot \\mathrm{Value}_i$",
                                      "$\\sum_i\\, a_i \\cdot$ 值$_i$"), size=(1.6, 0.6))
    o = box(ax, (10.3, mid - 0.7), tr("Attention Value\n注意力值 ", "注意力值\n") + _vector(output),
            size=(2.2, 0.8), kind="output", fontsize=9)
    for y, w in zip(ys, weights):  # each pair enters the sum in proportion to its weight
        arrow(ax, (8.6, y), s.left, style="-", color="#2b7a2b").set_linewidth(0.3 + 6 * w)
    arrow(ax, s.bottom, o.top)
    top2 = sum(sorted(weights)[-2:])
    ax.text(5.8, 0.25, tr(f"the two largest weights carry {top2:.0%} of the total (the "
                          f"weights sum to {sum(weights):.0f})",
                          f"最大的两个权重占总和的 {top2:.0%}（权重之和为 {sum(weights):.0f}）"),
            ha="center", fontsize=9, color="#555555")
    return viz.cjk_math_labels(fig)


def _step_label(ax: plt.Axes, y: float, title: str, what: str) -> None:
    ax.text(0.15, y, title, ha="left", va="bottom", fontsize=10)
    ax.text(0.15, y - 0.05, what, ha="left", va="top", fontsize=9)


def three_steps(*, query: Sequence[float] = _WORKED_QUERY,
                keys: Sequence[Sequence[float]] = _WORKED_KEYS,
                values: Sequence[Sequence[float]] = _WORKED_VALUES) -> plt.Figure:
    """Draw the three steps of attention's weighted sum (原理—带权求和) with real numbers.

    Step 1: F(Q, K_i), here the scaled dot product, gives the scores s_i; step 2: a SoftMax
    turns them into weights a_i; step 3: the sum of a_i · Value_i is the attention value. The
    scores, weights and output written in the boxes are computed by ``course_lib.attention``
    from the arguments (by default chapter 1's worked example).

    Parameters
    ----------
    query : sequence of float, shape (d_k,)
    keys : sequence of sequences, shape (L_k, d_k), 2 <= L_k <= 6
    values : sequence of sequences, shape (L_k, d_v)

    Returns
    -------
    matplotlib Figure
    """
    n = _check_pairs(keys, 6)
    scores, weights, output = _attention_numbers(query, keys, values)
    xs = [3.4 + 2.1 * j for j in range(n)]
    mid = (xs[0] + xs[-1]) / 2
    fig, ax = canvas(xs[-1] + 1.15, 8.6, scale=0.72)
    q = box(ax, (1.15, 7.8), tr("Query\n", "查询\n") + _vector(query), size=(1.8, 0.75),
            kind="query")
    # the Query runs to every F box (drawn behind them)
    ax.plot([q.x, q.x, xs[-1]], [q.bottom[1], 6.6, 6.6], color="#3b6ea5", lw=1.1, zorder=0)
    _step_label(ax, 6.1, tr("第一步 step 1", "第一步"),
                tr("similarity F(Q, Key$_i$)\n= Q·Key$_i$ / $\\sqrt{d_k}$\n→ scores $s_i$",
                   "相似度 F(Q, 键$_i$)\n= Q·键$_i$ / $\\sqrt{d_k}$\n→ 分数 $s_i$"))
    _step_label(ax, 3.95, tr("第二步 step 2", "第二步"),
                tr("SoftMax\n→ weights $a_i$\n(sum to 1)", "SoftMax\n→ 权重 $a_i$\n（和为 1）"))
    _step_label(ax, 1.6, tr("第三步 step 3", "第三步"), tr("weighted sum\n带权求和", "带权求和"))
    key, value = tr("Key", "键"), tr("Value", "值")
    for j, x in enumerate(xs):
        k = box(ax, (x, 7.8), f"{key} {j + 1}\n{_vector(keys[j])}", size=(1.8, 0.75), kind="key")
        f = box(ax, (x, 6.6), f"F(Q, {key} {j + 1})", size=(1.7, 0.5))
        s = box(ax, (x, 5.5), f"$s_{j + 1}$ = {scores[j]:.2f}", size=(1.5, 0.5), kind="input")
        a = box(ax, (x, 3.3), f"$a_{j + 1}$ = {weights[j]:.4f}", size=(1.7, 0.5), kind="weight")
        v = box(ax, (x, 2.2), f"{value} {j + 1}\n{_vector(values[j])}", size=(1.7, 0.62),
                kind="value")
        arrow(ax, k.bottom, f.top)
        arrow(ax, f.bottom, s.top)
        arrow(ax, s.bottom, (x, 4.6))
        arrow(ax, (x, 4.0), a.top)
        arrow(ax, a.bottom, v.top, text="×", fontsize=11)
        arrow(ax, v.bottom, (mid + 2.4 * (j / (n - 1) - 0.5), 0.95), color="#2b7a2b")
    box(ax, (mid, 4.3), "SoftMax:  $a_i = e^{s_i}\\,/\\,\\sum_j e^{s_j}$",
        size=(xs[-1] - xs[0] + 1.8, 0.6), fontsize=11)
    box(ax, (mid, 0.6), tr("Attention Value = $\\sum_i\\, a_i \\cdot \\mathrm{Value}_i$ = ",
                           "注意力值 = $\\sum_i\\, a_i \\cdot$ 值$_i$ = ")
        + _vector(output), size=(5.2, 0.7), kind="output", fontsize=11)
    return viz.cjk_math_labels(fig)


def _stages() -> tuple[tuple[str, str, str], ...]:
    """The lineage's four stages: (label, colour key, what changed), in the course's language."""
    return (
        (tr("RNN 时代 (1990–2014)\n死记硬背\nrote memorisation", "RNN 时代 (1990–2014)\n死记硬背"),
         "input", tr("reads one token at a time\nand squeezes the sentence\ninto one state vector",
                     "一次读一个词元，\n把整个句子压缩进\n一个状态向量")),
        (tr("attention (2015)\n提纲挈领\ngrasping the outline", "注意力 (2015)\n提纲挈领"),
         "weight", tr("the decoder looks back at\nevery encoder state and\ntakes a weighted sum",
                      "解码器回看编码器的\n每一个状态，\n再求加权和")),
        (tr("Transformer (2017)\n融会贯通\nfull understanding", "Transformer (2017)\n融会贯通"),
         "query", tr("no recurrence: attention\nand feed-forward layers,\nall positions at once",
                     "没有循环：只有注意力\n和前馈层，所有位置\n同时计算")),
        (tr("GPT / BERT (2018–)\n多任务大规模学习\nlarge-scale multi-task",
            "GPT / BERT (2018–)\n多任务大规模学习"),
         "output", tr("pre-train a Transformer on\nhuge unlabelled text, then\nadapt it to many tasks",
                      "在海量无标注文本上\n预训练 Transformer，\n再迁移到许多任务")),
    )


def lineage() -> plt.Figure:
    """Draw where attention sits (注意力的位置) and its lineage (发展脉络).

    Top: the notes' four stages, RNN (死记硬背) → attention (提纲挈领) → Transformer
    (融会贯通; the notes write 融汇贯通) → GPT / BERT (多任务大规模学习), each with what it
    changed. Bottom: attention is the mechanism the Transformer is built from; BERT keeps
    its encoder only, GPT its decoder only.

    Returns
    -------
    matplotlib Figure
    """
    fig, ax = canvas(12.0, 7.0, scale=0.75)
    ax.text(0.2, 6.75, tr("发展脉络 the lineage", "发展脉络"), fontsize=12, va="center")
    xs = [1.5 + 3.0 * i for i in range(4)]
    boxes = []
    for x, (label, kind, change) in zip(xs, _stages()):
        boxes.append(box(ax, (x, 5.6), label, size=(2.6, 1.1), kind=kind))
        ax.text(x, 4.9, change, ha="center", va="top", fontsize=8.5, color="#333333")
    for left, right in zip(boxes, boxes[1:]):
        arrow(ax, left.right, right.left)
    ax.plot([0.2, 11.8], [3.55, 3.55], color="#bbbbbb", lw=0.8)
    ax.text(0.2, 3.2, tr("注意力的位置 where attention sits", "注意力的位置"), fontsize=12,
            va="center")
    att = box(ax, (1.6, 1.55), tr("attention 注意力\nthe mechanism", "注意力\n（机制本身）"),
              size=(2.4, 0.9), kind="weight")
    ax.add_patch(FancyBboxPatch((3.8, 0.35), 4.4, 2.5, boxstyle="round,pad=0,rounding_size=0.1",
                                facecolor="#f6f6f6", edgecolor="#666666", linestyle="--"))
    ax.text(6.0, 2.6, tr("Transformer, built from attention", "Transformer：由注意力构成"),
            ha="center", va="center", fontsize=10)
    enc = box(ax, (6.0, 1.95), tr("encoder 编码器\nself-attention + feed-forward (FFN)",
                                  "编码器\n自注意力 + 前馈网络 (FFN)"),
              size=(3.8, 0.7), kind="query")
    dec = box(ax, (6.0, 0.95), tr("decoder 解码器: masked self-attention\n"
                                  "+ attention to the encoder + FFN",
                                  "解码器：掩码自注意力\n+ 对编码器的注意力 + FFN"),
              size=(3.8, 0.75), kind="query", fontsize=9)
    arrow(ax, att.right, (3.8, 1.55), text=tr("构成\nbuilds", "构成"), text_offset=(0, 0.38))
    bert = box(ax, (10.5, 1.95), tr("BERT\nencoder-only 仅编码器", "BERT\n仅编码器"),
               size=(2.4, 0.75), kind="output")
    gpt = box(ax, (10.5, 0.95), tr("GPT\ndecoder-only 仅解码器", "GPT\n仅解码器"),
              size=(2.4, 0.75), kind="output")
    arrow(ax, enc.right, bert.left)
    arrow(ax, dec.right, gpt.left)
    return viz.cjk_math_labels(fig)


__all__ += ["essence", "lineage", "three_steps"]


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
    box(ax, (5.2, 5.75), tr(f"$W^Q, W^K, W^V$\n{d_model} × {d_k} each\n(trained)",
                            f"$W^Q, W^K, W^V$\n各为 {d_model} × {d_k}\n（训练得到）"),
        size=(1.6, 0.95), fontsize=8)
    ax.plot([0.2, 10.2], [4.25, 4.25], color="#bbbbbb", lw=0.8)
    ax.text(5.2, 3.95, tr(f"the output for “{words[0]}”: its query $q_1$ against every key",
                          f"“{words[0]}”的输出：用它的查询 $q_1$ 与每个键比较"),
            ha="center", va="center", fontsize=10)
    heads = (tr("score", "分数") + " $q_1 \\cdot k_j$", f"÷ $\\sqrt{{{d_k}}}$ = {scale:g}",
             "softmax", tr("weight × value", "权重 × 值"), tr("sum", "求和"))
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
    ax.text(5.2, 0.55, f"$z_1 = {weights[0]:.2f}\\,v_1 + {weights[1]:.2f}\\,v_2$"
            + tr(f", a vector of width {d_k}: the new representation of “{words[0]}”",
                 f"，宽度为 {d_k} 的向量：“{words[0]}”的新表示"),
            ha="center", va="center", fontsize=10)
    del z
    return viz.cjk_math_labels(fig)


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
    m1 = box(ax, (cx, 1.9), tr("MatMul", "矩阵乘法") + "  $QK^\\top$", size=(1.9, 0.55))
    sc = box(ax, (cx, 3.0), tr("Scale", "缩放") + f"  ÷ $\\sqrt{{{d_k}}}$ = {math.sqrt(d_k):g}",
             size=(1.9, 0.55))
    mk = box(ax, (cx, 4.1), tr("Mask (opt.)\nFalse → −∞", "掩码（可选）\nFalse → −∞"), size=(1.9, 0.7),
             kind="mask")
    sm = box(ax, (cx, 5.3), tr("SoftMax over keys", "在键上做 SoftMax"), size=(1.9, 0.55),
             kind="weight")
    m2 = box(ax, (cx, 6.5), tr("MatMul  (weights) V", "矩阵乘法  (权重) V"), size=(2.2, 0.55))
    arrow(ax, q.top, (m1.x - 0.5, m1.bottom[1]), text=_shape(*lead, "L_q", d_k),
          text_offset=(-0.95, -0.05), fontsize=8)
    arrow(ax, k.top, (m1.x + 0.5, m1.bottom[1]), text=_shape(*lead, "L_k", d_k),
          text_offset=(0.95, -0.05), fontsize=8)
    _side(ax, m1.top, sc.bottom, _shape(*lead, "L_q", "L_k") + tr(" scores", " 分数"))
    _side(ax, sc.top, mk.bottom, _shape(*lead, "L_q", "L_k"))
    _side(ax, mk.top, sm.bottom, _shape(*lead, "L_q", "L_k"))
    _side(ax, sm.top, (sm.x, m2.bottom[1]), _shape(*lead, "L_q", "L_k") + tr(" weights", " 权重"))
    arrow(ax, v.top, (v.x, m2.y), style="-")
    arrow(ax, (v.x, m2.y), m2.right)
    ax.text(v.x + 0.1, 3.5, _shape(*lead, "L_k", d_k), ha="left", va="center", fontsize=8,
            rotation=90)
    _side(ax, m2.top, (m2.x, 7.55), _shape(*lead, "L_q", d_k) + tr(" output", " 输出"))
    ax.text(0.1, 4.1, tr("mask: True =\nmay attend", "掩码：True =\n可以关注"), ha="left",
            va="center", fontsize=8, color="#a50f15")
    return viz.cjk_math_labels(fig)


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
        lin = _cards(ax, (x, 1.75), tr("Linear", "线性层"), size=(1.3, 0.5), kind=kind)
        _side(ax, inp.top, lin.bottom, _shape("B", "L", d_model))
        inputs.append(lin)
    att = _cards(ax, (3.5, 3.55), tr("Scaled Dot-Product Attention\n"
                                     f"h = {num_heads} heads in parallel, each of width {d_head}",
                                     f"缩放点积注意力\nh = {num_heads} 个头并行，每个头宽 {d_head}"),
                 size=(5.6, 0.8), kind="weight", depth=2, fontsize=9)
    for lin in inputs:
        _side(ax, lin.top, (lin.x, att.bottom[1]), _shape("B", num_heads, "L", d_head))
    cat = box(ax, (3.5, 5.05), tr("Concat (merge_heads)", "拼接 (merge_heads)"), size=(2.6, 0.5))
    _side(ax, att.top, cat.bottom, _shape("B", num_heads, "L_q", d_head))
    out = box(ax, (3.5, 6.3), tr(f"Linear $W^O$: {d_model} × {d_model}",
                                 f"线性层 $W^O$：{d_model} × {d_model}"), size=(2.6, 0.5))
    _side(ax, cat.top, out.bottom, _shape("B", "L_q", num_heads * d_head)
          + f" ({num_heads} × {d_head})")
    _side(ax, out.top, (3.5, 7.3), _shape("B", "L_q", d_model) + tr(" output", " 输出"))
    ax.text(3.5, 7.75, f"$d_{{model}}$ = {d_model}, h = {num_heads}, "
            f"$d_{{head}}$ = {d_model} / {num_heads} = {d_head}", ha="center", va="center",
            fontsize=10)
    return viz.cjk_math_labels(fig)


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
    grid(x_causal, causal, tokens, tr(f"causal_mask({n}): key j ≤ query i",
                                      f"causal_mask({n})：键 j ≤ 查询 i"))
    grid(x_pad, pad[0], None, tr(f"padding_mask([{length}], {n})\n(1, 1, {n}): broadcasts over queries",
                                 f"padding_mask([{length}], {n})\n(1, 1, {n})：沿查询方向广播"),
         y0=top - (n - 1) * cell / 2)
    grid(x_both, both, tokens, tr(f"combined ({n}, {n}): {int(both.sum())} pairs may attend",
                                  f"两者合并 ({n}, {n})：{int(both.sum())} 对可以关注"))
    mid = top - n * cell / 2
    ax.text(x_pad - 0.45, mid, tr("AND", "与"), ha="center", va="center", fontsize=10)
    ax.text(x_both - 0.75, mid, "=", ha="center", va="center", fontsize=14)
    ax.text(0.1, 0.25, tr("rows: queries (target positions); columns: keys.  T = True = may attend, "
                          "F = masked (score set to −∞)",
                          "行：查询（目标位置）；列：键。T = True = 可以关注，"
                          "F = 被掩码（分数设为 −∞）"), ha="left", va="center", fontsize=8)
    return viz.cjk_math_labels(fig)


__all__ += ["qkv_projection", "scaled_dot_product_block", "multi_head_block", "decoder_masking"]


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
        pe = tr("Positional\nEncoding", "位置\n编码") + (
            f"\n{names['positional_encoding']}" if "positional_encoding" in names else "")
        pe_x = x + pe_side * 1.05
        ax.text(pe_x, 2.2, pe, ha="right" if pe_side < 0 else "left", va="center", fontsize=8.5)
        arrow(ax, (x + pe_side * 0.95, 2.2), (x + pe_side * 0.2, 2.2))
        arrow(ax, (x, 2.4), (x, y0 - h / 2), text=shapes.get(shape_key), text_offset=(0.75, 0.05))
        return io

    stack_input(enc_x, tr("Input Embedding", "输入嵌入"), "input_embedding", "source_vectors",
                tr("Inputs (source tokens)", "输入（源序列的词元）"), "inputs", -1)
    stack_input(dec_x, tr("Output Embedding", "输出嵌入"), "output_embedding", "target_vectors",
                tr("Outputs (shifted right)", "输出（右移一位）"), "outputs", 1)
    mha, add_norm = tr("Multi-Head Attention", "多头注意力"), tr("Add & Norm", "残差连接 + 层归一化")
    ffn = tr("Feed Forward", "前馈网络")
    enc = _tower(ax, enc_x, [("self_attention", mha, "query"),
                             ("add_norm", add_norm, "op"), ("feed_forward", ffn, "value"),
                             ("add_norm", add_norm, "op")], names,
                 y0=y0, step=step, w=w, h=h, residual_side=-1)
    dec = _tower(ax, dec_x, [("masked_self_attention", tr("Masked Multi-Head Attention", "掩码多头注意力"),
                              "mask"),
                             ("add_norm", add_norm, "op"), ("cross_attention", mha, "key"),
                             ("add_norm", add_norm, "op"), ("feed_forward", ffn, "value"),
                             ("add_norm", add_norm, "op")], names,
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
    ax.text((enc_x + x_turn) / 2, y_mem + 0.2,
            tr("memory", "记忆") + (f" {shapes['memory']}" if "memory" in shapes else ""),
            ha="center", va="bottom", fontsize=8.5)
    ax.plot([x_turn, cross.x - 0.7], [y_in] * 2, color="#444444", lw=1.1)
    arrow(ax, (cross.x - 0.7, y_in), (cross.x - 0.7, cross.y - h / 2))
    ax.text(cross.x - 0.8, y_in + 0.12, "K, V", ha="right", va="bottom", fontsize=7.5)
    ax.text(cross.x + 0.1, y_in, "Q", ha="left", va="center", fontsize=7.5)
    lin = box(ax, (dec_x, dec[-1].y + 1.15),
              tr("Linear", "线性层") + (f"\n{names['linear']}" if "linear" in names else ""),
              size=(w, h), kind="output", fontsize=8.5)
    soft = box(ax, (dec_x, lin.y + step + 0.1),
               "Softmax" + (f"\n{names['softmax']}" if "softmax" in names else ""),
               size=(w, h), kind="output", fontsize=8.5)
    arrow(ax, dec[-1].top, lin.bottom)
    arrow(ax, lin.top, soft.bottom, text=shapes.get("logits"), text_offset=(0.9, 0))
    arrow(ax, soft.top, (dec_x, soft.y + h / 2 + 0.45), text=shapes.get("probabilities"), text_offset=(0.9, 0))
    ax.text(dec_x, soft.y + h / 2 + 0.6, tr("Output Probabilities", "输出概率"), ha="center", va="bottom",
            fontsize=9)
    height = soft.y + h / 2 + 1.1  # the canvas ends just above the last label
    ax.set_ylim(0, height)
    fig.set_size_inches(width * scale, height * scale)
    return viz.cjk_math_labels(fig)


__all__ += ["transformer_architecture"]


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
        "encoder-decoder": (tr("编码器–解码器 encoder–decoder\n(Transformer, ch. 10)",
                               "编码器–解码器\n(Transformer，第 10 章)"), 2.9),
        "GPT": (tr("仅解码器 decoder-only\n(GPT)", "仅解码器\n(GPT)"), 7.3),
        "BERT": (tr("仅编码器 encoder-only\n(BERT)", "仅编码器\n(BERT)"), 11.0),
    }
    for key, (title, x) in columns.items():
        ax.text(x, 7.5, title, ha="center", va="center", fontsize=10)
        if params and key in params:
            ax.text(x, 6.9, tr(f"{params[key]:,} parameters", f"{params[key]:,} 个参数"), ha="center",
                    va="center", fontsize=9)

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

    embedding = tr("embedding + 位置编码", "嵌入 + 位置编码")
    enc = stack(1.6, [embedding, tr("self-attention 自注意力", "自注意力"), "FFN 前馈网络"],
                ["op", "query", "value"], top_label=tr("memory", "记忆"),
                bottom=tr("source ids", "源序列的词元编号"), side=-1)
    dec = stack(4.25, [embedding, tr("masked self-attn 掩码", "掩码自注意力"),
                       tr("cross-attn 交叉注意力", "交叉注意力"), "FFN 前馈网络"],
                ["op", "mask", "key", "value"], top_label=tr("next token 下一个词", "下一个词元"),
                bottom=tr("target ids", "目标序列的词元编号"))
    arrow(ax, (2.75, 4.7), dec[3].left, connection="arc3,rad=-0.3")  # the memory feeds every cross-attention
    stack(7.3, [tr("token + learned position", "词元 + 可学习的位置"),
                tr("causal self-attn 掩码", "因果自注意力（掩码）"), tr("FFN (GELU, tanh)", "FFN (GELU，tanh 近似)")],
          ["op", "mask", "value"], top_label=tr("LayerNorm, next token\n自回归", "LayerNorm，下一个词元\n自回归"),
          bottom=tr("one sequence", "一个序列"))
    ax.text(7.3, 6.45, tr("dropped: the encoder, cross-attention", "去掉了：编码器、交叉注意力"), ha="center",
            fontsize=8, color="#b2182b")
    stack(11.0, [tr("token + position + segment", "词元 + 位置 + 片段"), tr("self-attention 双向", "双向自注意力"),
                 tr("FFN (GELU, exact)", "FFN (GELU，精确形式)")],
          ["op", "query", "value"], top_label=tr("masked-word head\n掩码语言模型", "掩码词预测头\n掩码语言模型"),
          bottom=tr("ids with [MASK]", "含 [MASK] 的词元编号"))
    ax.text(11.0, 6.45, tr("dropped: the decoder, the causal mask", "去掉了：解码器、因果掩码"), ha="center",
            fontsize=8, color="#b2182b")
    return viz.cjk_math_labels(fig)


__all__ += ["three_architectures"]
