"""Figures the chapters share: attention heatmaps and small multiples of them.

Every helper accepts torch tensors or numpy arrays, draws on a given matplotlib ``Axes``
(or makes one), and returns what it drew on, so a chapter can add titles or save it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["to_numpy", "attention_heatmap", "attention_grid"]


def to_numpy(x) -> np.ndarray:
    """Return ``x`` as a numpy array, detaching and moving a torch tensor to the CPU."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def attention_heatmap(
    weights,
    *,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    ax: plt.Axes | None = None,
    title: str | None = None,
    xlabel: str = "keys",
    ylabel: str = "queries",
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
    title, xlabel, ylabel : str
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
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
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
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="weight")
    return ax


def attention_grid(
    weights,
    *,
    titles: Sequence[str] | None = None,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    ncols: int = 4,
    suptitle: str | None = None,
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
    **heatmap_kwargs
        Passed to :func:`attention_heatmap`.

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
    heatmap_kwargs.setdefault("colorbar", False)
    for idx, ax in enumerate(axes.flat):
        if idx >= n:
            ax.axis("off")
            continue
        attention_heatmap(
            w[idx], ax=ax, title=titles[idx] if titles is not None else None,
            x_labels=x_labels, y_labels=y_labels if idx % ncols == 0 else None, **heatmap_kwargs,
        )
        if idx % ncols:
            ax.set_ylabel("")
            if y_labels is not None:
                ax.set_yticks(range(w.shape[1]), labels=[""] * w.shape[1])
    if suptitle:
        fig.suptitle(suptitle)
    return fig
