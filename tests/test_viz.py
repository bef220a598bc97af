"""Tests for ``course_lib.viz``: the heatmaps show the right data with the right labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from numpy.testing import assert_allclose  # noqa: E402

from course_lib.viz import attention_grid, attention_heatmap, to_numpy  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def tick_texts(labels):
    return [t.get_text() for t in labels]


def weights(*shape, seed=0):
    w = torch.rand(*shape, generator=torch.Generator().manual_seed(seed))
    return w / w.sum(-1, keepdim=True)


def test_to_numpy_detaches_tensors_with_grad_and_low_precision():
    x = torch.rand(2, 3, requires_grad=True)
    y = (x * 2).to(torch.bfloat16)
    a = to_numpy(y)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    assert_allclose(a, (x.detach() * 2).to(torch.bfloat16).float().numpy())
    assert to_numpy([[1, 2]]).shape == (1, 2)


def test_heatmap_draws_the_weights_with_tick_labels():
    w = weights(3, 4)
    ax = attention_heatmap(w, x_labels=list("abcd"), y_labels=["x", "y", "z"], title="t")
    assert_allclose(ax.images[0].get_array(), w.numpy())
    assert tick_texts(ax.get_xticklabels()) == list("abcd")
    assert tick_texts(ax.get_yticklabels()) == ["x", "y", "z"]
    assert ax.get_title() == "t"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("keys", "queries")
    assert len(ax.figure.axes) == 2  # the heatmap and its colour bar
    assert ax.images[0].get_clim()[0] == 0.0


def test_heatmap_accepts_tensor_with_grad_and_draws_on_given_axes():
    w = torch.softmax(torch.randn(2, 5, requires_grad=True), dim=-1)  # has a grad_fn
    fig, ax = plt.subplots()
    assert attention_heatmap(w, ax=ax, colorbar=False) is ax
    assert len(fig.axes) == 1
    assert_allclose(ax.images[0].get_array(), w.detach().numpy())


def test_heatmap_annotates_small_matrices_only():
    ax = attention_heatmap(weights(3, 3), colorbar=False)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9
    w = weights(3, 3)
    assert texts[1] == f"{w[0, 1].item():.2f}"  # row-major: row 0, column 1
    assert len(attention_heatmap(weights(13, 13), colorbar=False).texts) == 0
    assert len(attention_heatmap(weights(3, 3), colorbar=False, annotate=False).texts) == 0


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4)])
def test_heatmap_wrong_shape_raises(shape):
    with pytest.raises(ValueError, match=r"weights has shape .*expected \(L_q, L_k\)"):
        attention_heatmap(torch.rand(*shape))


def test_heatmap_label_count_mismatch_raises():
    with pytest.raises(ValueError, match="x_labels has 3 entries; expected 4"):
        attention_heatmap(weights(2, 4), x_labels=list("abc"))
    with pytest.raises(ValueError, match="y_labels has 4 entries; expected 2"):
        attention_heatmap(weights(2, 4), y_labels=list("abcd"))


def test_grid_one_panel_per_matrix_with_shared_scale():
    w = weights(3, 2, 4)
    w[1] *= 0.5  # a dimmer panel must look dimmer, so the colour scale is shared
    fig = attention_grid(w, titles=["h0", "h1", "h2"], x_labels=list("abcd"), y_labels=["p", "q"], ncols=2,
                         colorbar=False)
    axes = fig.axes
    assert len(axes) == 4  # 2 x 2 grid for 3 matrices, no colour bars
    assert [ax.axison for ax in axes] == [True, True, True, False]
    assert [ax.get_title() for ax in axes[:3]] == ["h0", "h1", "h2"]
    for i, ax in enumerate(axes[:3]):
        assert_allclose(ax.images[0].get_array(), w[i].numpy())
        assert ax.images[0].get_clim() == (0.0, pytest.approx(w.max().item()))
        assert tick_texts(ax.get_xticklabels()) == list("abcd")
    # Query labels only on the first column.
    assert tick_texts(axes[0].get_yticklabels()) == ["p", "q"]
    assert tick_texts(axes[1].get_yticklabels()) == ["", ""]
    assert tick_texts(axes[2].get_yticklabels()) == ["p", "q"]


def test_grid_has_one_shared_colour_bar_by_default():
    w = weights(3, 2, 4)
    w[2] *= 0.25
    fig = attention_grid(w, ncols=2)
    assert len(fig.axes) == 5  # 4 grid cells (one empty) and one colour bar, not one per panel
    bar = fig.axes[-1]
    assert bar.get_ylabel() == "weight"
    # the bar spans the shared scale: 0 to the largest weight of any panel
    assert bar.get_ylim() == (0.0, pytest.approx(w.max().item()))
    assert [len(ax.images) for ax in fig.axes[:3]] == [1, 1, 1]
    fig = attention_grid(w, colorbar_label="mask (1 = may attend)", vmax=1.0)
    assert fig.axes[-1].get_ylabel() == "mask (1 = may attend)" and fig.axes[-1].get_ylim() == (0.0, 1.0)


def test_grid_accepts_tensor_with_grad():
    w = torch.softmax(torch.randn(2, 3, 3, requires_grad=True), dim=-1)
    fig = attention_grid(w, colorbar=False)
    assert len(fig.axes) == 2


def test_grid_wrong_shape_and_titles_raise():
    with pytest.raises(ValueError, match=r"weights has shape .*expected \(N, L_q, L_k\)"):
        attention_grid(torch.rand(3, 4))
    with pytest.raises(ValueError, match="titles has 1 entries; expected 2"):
        attention_grid(torch.rand(2, 3, 3), titles=["only one"])


def test_chinese_numerals_draw_with_the_bundled_font_and_no_missing_glyph(tmp_path):
    import warnings

    from course_lib.viz import CJK_FONT, use_cjk_font

    assert use_cjk_font().endswith(".otf") and CJK_FONT in plt.rcParams["font.family"]
    fig, ax = plt.subplots()
    ax.set_title("三千零五 万 亿: four thousand and five, −1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        fig.savefig(tmp_path / "cjk.png")
    try:  # the check above can fail: without the fallback font, the same title draws boxes
        plt.rcParams["font.family"] = ["DejaVu Sans"]
        fig, ax = plt.subplots()
        ax.set_title("三千零五 万 亿")
        with pytest.warns(UserWarning, match="Glyph .* missing"):
            fig.savefig(tmp_path / "boxes.png")
    finally:
        use_cjk_font()


def test_a_missing_glyph_inside_mathtext_warns_like_plain_text(tmp_path):
    fig, ax = plt.subplots()
    ax.set_title("$x_{三}$")  # mathtext fonts have no CJK glyphs; matplotlib only logs this
    with pytest.warns(UserWarning, match="Glyph missing from the mathtext font"):
        fig.savefig(tmp_path / "math.png")


# --- infra: a bold Chinese title is drawn in the font's one weight, without a log message


def test_bold_chinese_logs_no_font_weight_warning(caplog):
    import course_lib.viz  # noqa: F401  (registers the font and the filter)
    from matplotlib import font_manager

    # findfont caches its answers (and logs only on a miss): start from an empty cache
    cached = getattr(font_manager.FontManager, "_findfont_cached", None)
    if hasattr(cached, "cache_clear"):
        cached.cache_clear()
    fig, ax = plt.subplots()
    ax.set_title("三万亿", fontweight="bold")
    with caplog.at_level("WARNING", logger="matplotlib.font_manager"):
        fig.canvas.draw()
        font_manager.findfont(font_manager.FontProperties(family="Noto Sans CJK SC", weight="bold"),
                              rebuild_if_missing=False)
    assert not [r for r in caplog.records if "Failed to find font weight" in r.getMessage()]


# --- the Chinese edition (COURSE_LANG=zh): every default label in Chinese, every glyph drawn

import re  # noqa: E402
import warnings  # noqa: E402

from matplotlib.text import Text  # noqa: E402

from course_lib.viz import cjk_math_labels, training_curves  # noqa: E402

_MATH = re.compile(r"\$[^$]*\$")


def english_words(fig) -> list[str]:
    """Words of three or more ASCII letters in the figure's text, math left out."""
    return [w for t in fig.findobj(Text) for w in re.findall(r"[A-Za-z]{3,}", _MATH.sub("", t.get_text()))]


def _metrics():
    return [{"step": s, "loss": 3.0 / s, **{f"{k}/{m}": 0.1 * s for k in ("uniform", "zero_heavy")
                                          for m in ("loss", "token_accuracy", "exact_match")}}
            for s in (1, 2, 3)]


FIGURES = {
    "attention_heatmap": lambda: attention_heatmap(weights(3, 4), title="注意力").figure,
    "attention_grid": lambda: attention_grid(weights(2, 3, 4), titles=["头 0", "头 1"],
                                             suptitle="每个头"),
    "training_curves": lambda: training_curves(_metrics()),
    "training_curves(losses)": lambda: training_curves(_metrics(), losses=[3.0, 2.0, 1.5, 1.0]),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_in_chinese_every_default_label_is_chinese_and_every_glyph_draws(name, monkeypatch, tmp_path):
    english = english_words(FIGURES[name]())
    assert english  # the same figure in English has English labels: the check can fail
    monkeypatch.setenv("COURSE_LANG", "zh")  # read when the figure is drawn, not at import
    fig = FIGURES[name]()
    assert english_words(fig) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing" (plain text or mathtext)
        fig.savefig(tmp_path / "zh.png")


def test_in_chinese_the_defaults_are_the_course_terms_and_given_labels_win(monkeypatch):
    monkeypatch.setenv("COURSE_LANG", "zh")
    ax = attention_heatmap(weights(2, 2))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("键", "查询")
    assert ax.figure.axes[-1].get_ylabel() == "权重"  # the colour bar
    ax = attention_heatmap(weights(2, 2), xlabel="keys", ylabel="", colorbar=False)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("keys", "")
    fig = attention_grid(weights(2, 2, 2), colorbar_label="注意力权重")
    assert fig.axes[-1].get_ylabel() == "注意力权重"
    labels = [line.get_label() for line in training_curves(_metrics()).axes[1].get_lines()]
    assert "多零集：完全匹配率（贪心解码）" in labels and "均匀集：词元准确率" in labels


def test_cjk_math_labels_makes_chinese_beside_math_draw(tmp_path):
    fig, ax = plt.subplots()
    ax.set_title("权重 $a_i$")  # mathtext draws the plain part with the first font only
    plain = ax.set_xlabel("权重")
    with pytest.warns(UserWarning, match="Glyph missing"):
        fig.savefig(tmp_path / "before.png")
    assert cjk_math_labels(fig) is fig
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(tmp_path / "after.png")
    assert plain.get_fontfamily() == plt.rcParams["font.family"]  # other text keeps the default
