"""Figures the chapters share: attention heatmaps and small multiples of them.

Every helper accepts torch tensors or numpy arrays, draws on a given matplotlib ``Axes``
(or makes one), and returns what it drew on, so a chapter can add titles or save it.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.text import Text
import numpy as np

from course_lib.i18n import tr

__all__ = ["to_numpy", "use_cjk_font", "attention_heatmap", "attention_grid"]


def to_numpy(x) -> np.ndarray:
    """Return ``x`` as a numpy array, detaching and moving a torch tensor to the CPU."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


#: The CJK font the course ships (Noto Sans CJK SC, from the ``mplfonts`` wheel that
#: ``make setup`` installs), so figures draw 三, 万 and 亿 on a machine with no system CJK font.
CJK_FONT = "Noto Sans CJK SC"


class _OneWeightFilter(logging.Filter):
    """Drop matplotlib's "Failed to find font weight bold for Noto Sans CJK SC" message.

    The bundled font has one weight, so a bold 三 is drawn in the regular weight: that is
    expected, and the book build treats anything a figure writes to stderr as an error.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (CJK_FONT in message and "Failed to find font weight" in message)


def use_cjk_font() -> str | None:
    """Register the bundled CJK font with matplotlib as the fallback after its default font.

    Latin text keeps matplotlib's default (DejaVu Sans); a character it lacks, such as 万,
    falls back to Noto Sans CJK SC. Called when this module is imported.

    Returns
    -------
    str or None
        The path of the registered font file, or None (with a warning) when ``mplfonts`` is
        not installed; figures then show empty boxes for Chinese characters.
    """
    spec = importlib.util.find_spec("mplfonts")  # its files only: importing it is slow
    path = Path(spec.origin).parent / "fonts" / "NotoSansCJKsc-Regular.otf" if spec else None
    if path is None or not path.is_file():
        warnings.warn("mplfonts is not installed (run `make setup`): Chinese characters in figures "
                      "will be drawn as empty boxes", RuntimeWarning, stacklevel=2)
        return None
    if CJK_FONT not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(path))
    # A list of families makes matplotlib (>= 3.6) fall back glyph by glyph.
    plt.rcParams["font.family"] = ["DejaVu Sans", CJK_FONT]
    fm_logger = logging.getLogger("matplotlib.font_manager")
    if not any(isinstance(f, _OneWeightFilter) for f in fm_logger.filters):
        fm_logger.addFilter(_OneWeightFilter())
    return str(path)


class _MathtextGlyphWarning(logging.Filter):
    """Re-issue mathtext's "does not have a glyph" log record as the warning plain text gives.

    Plain text warns "Glyph ... missing from font(s)"; mathtext (``"$...$"``) only logs, so a
    Chinese character inside a math label would draw as a dummy symbol without a warning,
    and the book build (which turns that warning into an error) would not notice.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if "does not have a glyph" in record.msg:
            warnings.warn(f"Glyph missing from the mathtext font: {record.getMessage()}", UserWarning,
                          stacklevel=2)
        return True


use_cjk_font()
logging.getLogger("matplotlib.mathtext").addFilter(_MathtextGlyphWarning())


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def cjk_math_labels(fig: plt.Figure) -> plt.Figure:
    """Give every text of ``fig`` that mixes Chinese with ``$math$`` the CJK font; return ``fig``.

    Matplotlib draws such a string with mathtext, whose plain (non-math) part uses the
    text's *first* font family only, not the glyph-by-glyph fallback of plain text: the
    Chinese of ``"权重 $a_i$"`` would be missing from DejaVu Sans. With the CJK font first
    for that text alone, its Chinese and Latin letters both draw; the math keeps the
    mathtext font, and every other text keeps the default font.

    Parameters
    ----------
    fig : matplotlib Figure

    Returns
    -------
    matplotlib Figure
        The same figure.
    """
    for text in fig.findobj(Text):
        s = text.get_text()
        if s.count("$") >= 2 and _CJK.search(s):
            text.set_fontfamily([CJK_FONT, "DejaVu Sans"])
    return fig


__all__ += ["cjk_math_labels"]


def attention_heatmap(
    weights,
    *,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    ax: plt.Axes | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    cmap: str = "Blues",
    annotate: bool | None = None,
    colorbar: bool = True,
    vmin: float | None = 0.0,
    vmax: float | None = None,
) -> plt.Axes:
    """Draw one attention matrix: a row per query, a column per key, colour = weight.

    Parameters
    ----------
    weights : array or Tensor, shape (L_q, L_k)
    x_labels, y_labels : sequence of str, optional
        Names of the keys (columns) and queries (rows), e.g. tokens.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted.
    title : str, optional
    xlabel, ylabel : str, optional
        Axis labels; by default "keys" and "queries" in the course's language
        (:func:`course_lib.i18n.tr`, read when the figure is drawn).
    cmap : str
    annotate : bool, optional
        Write each weight in its cell; by default only when the matrix is at most 12 × 12.
    colorbar : bool
        Add a colour bar keyed to the weights.
    vmin, vmax : float, optional
        Colour limits; ``vmin`` defaults to 0 so that equal colours mean equal weights.

    Returns
    -------
    matplotlib Axes
    """
    w = to_numpy(weights)
    if w.ndim != 2:
        raise ValueError(f"weights has shape {w.shape}; expected (L_q, L_k)")
    for name, labels, size in (("x_labels", x_labels, w.shape[1]), ("y_labels", y_labels, w.shape[0])):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{name} has {len(labels)} entries; expected {size} to match weights {w.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.45 * w.shape[1], 0.8 + 0.4 * w.shape[0]))
    image = ax.imshow(w, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    if x_labels is not None:
        ax.set_xticks(range(w.shape[1]), labels=list(x_labels), rotation=45, ha="right")
    if y_labels is not None:
        ax.set_yticks(range(w.shape[0]), labels=list(y_labels))
    ax.set_xlabel(tr("keys", "键") if xlabel is None else xlabel)
    ax.set_ylabel(tr("queries", "查询") if ylabel is None else ylabel)
    if title:
        ax.set_title(title)
    if annotate is None:
        annotate = max(w.shape) <= 12
    if annotate:
        top = np.nanmax(w) if w.size else 1.0
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                colour = "white" if w[i, j] > 0.6 * top else "black"
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=8, color=colour)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04,
                            label=tr("weight", "权重"))
    return ax


def attention_grid(
    weights,
    *,
    titles: Sequence[str] | None = None,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    ncols: int = 4,
    suptitle: str | None = None,
    colorbar: bool = True,
    colorbar_label: str | None = None,
    **heatmap_kwargs,
) -> plt.Figure:
    """Draw several attention matrices side by side (small multiples), one shared scale.

    Parameters
    ----------
    weights : array or Tensor, shape (N, L_q, L_k)
        E.g. one matrix per head, or per setting of a parameter.
    titles : sequence of str, optional
        One title per matrix.
    x_labels, y_labels : sequence of str, optional
    ncols : int
        Matrices per row.
    suptitle : str, optional
    colorbar : bool
        Add one colour bar for the whole grid (the panels share one scale, so one bar
        keys them all); it is the figure's last axes.
    colorbar_label : str, optional
        The colour bar's label; by default "weight" in the course's language.
    **heatmap_kwargs
        Passed to :func:`attention_heatmap` (its own per-panel ``colorbar`` is off).

    Returns
    -------
    matplotlib Figure
    """
    w = to_numpy(weights)
    if w.ndim != 3:
        raise ValueError(f"weights has shape {w.shape}; expected (N, L_q, L_k)")
    if titles is not None and len(titles) != w.shape[0]:
        raise ValueError(f"titles has {len(titles)} entries; expected {w.shape[0]}")
    n = w.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(0.6 + (0.35 * w.shape[2] + 0.8) * ncols, (0.35 * w.shape[1] + 0.9) * nrows),
        squeeze=False, constrained_layout=True,
    )
    heatmap_kwargs.setdefault("vmax", float(np.nanmax(w)) if w.size else 1.0)
    for idx, ax in enumerate(axes.flat):
        if idx >= n:
            ax.axis("off")
            continue
        attention_heatmap(
            w[idx], ax=ax, title=titles[idx] if titles is not None else None, colorbar=False,
            x_labels=x_labels, y_labels=y_labels if idx % ncols == 0 else None, **heatmap_kwargs,
        )
        if idx % ncols:
            ax.set_ylabel("")
            if y_labels is not None:
                ax.set_yticks(range(w.shape[1]), labels=[""] * w.shape[1])
    if colorbar and n:
        fig.colorbar(axes.flat[0].images[0], ax=axes, shrink=0.9,
                     label=tr("weight", "权重") if colorbar_label is None else colorbar_label)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def training_curves(
    metrics: Sequence[dict],
    *,
    losses: Sequence[float] | None = None,
    smooth: int = 20,
    title: str | None = None,
) -> plt.Figure:
    """Plot a training run: the loss, and token accuracy and exact match on each held-out set.

    Parameters
    ----------
    metrics : sequence of dict
        One record per evaluation, as :func:`course_lib.train.train` returns them (or the
        lines of its ``metrics.jsonl``): ``step``, ``loss`` and, for ``s`` in ``uniform``
        and ``zero_heavy``, ``s/loss``, ``s/token_accuracy`` and ``s/exact_match``.
    losses : sequence of float, optional
        The training loss of every step; drawn faintly, with a running mean over
        ``smooth`` steps, instead of the per-evaluation averages.
    smooth : int
        Window of that running mean.
    title : str, optional

    Returns
    -------
    matplotlib Figure
        Two panels: losses (log scale) on the left, accuracies (0-1) on the right.
    """
    if not metrics:
        raise ValueError("metrics is empty; expected at least one evaluation record")
    steps = [m["step"] for m in metrics]
    sets = [s for s in ("uniform", "zero_heavy") if f"{s}/exact_match" in metrics[0]]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    if losses is not None and len(losses):
        x = np.arange(1, len(losses) + 1)
        ax_loss.plot(x, losses, color="tab:gray", alpha=0.3, lw=0.8)
        k = max(1, min(smooth, len(losses)))
        running = np.convolve(np.asarray(losses, dtype=float), np.ones(k) / k, mode="valid")
        ax_loss.plot(x[k - 1:], running, color="black",
                     label=tr(f"training (label-smoothed, mean of {k} steps)",
                              f"训练（标签平滑，{k} 步滑动平均）"))
    else:
        ax_loss.plot(steps, [m["loss"] for m in metrics], "o-", color="black",
                     label=tr("training (label-smoothed)", "训练（标签平滑）"))
    colours = {"uniform": "tab:blue", "zero_heavy": "tab:orange"}
    for s in sets:
        name = tr("uniform", "均匀集") if s == "uniform" else tr("zero-heavy", "多零集")
        ax_loss.plot(steps, [m[f"{s}/loss"] for m in metrics], "o--", color=colours[s], ms=3,
                     label=tr(f"held-out {name} (cross-entropy)",
                              f"留出集：{name}（交叉熵）"))
        ax_acc.plot(steps, [m[f"{s}/token_accuracy"] for m in metrics], "o--", color=colours[s], ms=3,
                    label=tr(f"{name}: token accuracy", f"{name}：词元准确率"))
        ax_acc.plot(steps, [m[f"{s}/exact_match"] for m in metrics], "o-", color=colours[s], ms=3,
                    label=tr(f"{name}: exact match (greedy)",
                             f"{name}：完全匹配率（贪心解码）"))
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel(tr("step", "步数"))
    ax_loss.set_ylabel(tr("loss (nats per token)", "损失（每个词元的奈特数）"))
    ax_loss.legend(fontsize=8)
    ax_acc.set_ylim(0, 1.02)
    ax_acc.set_xlabel(tr("step", "步数"))
    ax_acc.set_ylabel(tr("fraction correct", "正确的比例"))
    ax_acc.axhline(0.99, color="gray", lw=0.8, ls=":")
    ax_acc.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    return fig


__all__ += ["training_curves"]
