"""Tests for ``course_lib.diagrams``: every diagram draws, carries the text it promises, and
needs no missing glyph (Chinese labels use the bundled CJK font)."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")  # headless: no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
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


# ---------------------------------------------------------------------------------------------
# Chapters 1-2: essence, lineage, three_steps
# ---------------------------------------------------------------------------------------------

import logging  # noqa: E402

import torch  # noqa: E402

from course_lib.attention import scaled_dot_product_attention  # noqa: E402

CHAPTER1_QUERY = [1, 0, 1, 0]
CHAPTER1_KEYS = [[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0], [1, 0, 2, 1]]
CHAPTER1_VALUES = [[1, 0], [0, 1], [1, 1], [3, -1]]


def reference(query, keys, values):
    """Scores q.k/sqrt(d_k) (computed here by hand), weights and output from course_lib."""
    scores = [sum(a * b for a, b in zip(query, k)) / len(query) ** 0.5 for k in keys]
    out, weights = scaled_dot_product_attention(
        torch.tensor([query], dtype=torch.float64), torch.tensor(keys, dtype=torch.float64),
        torch.tensor(values, dtype=torch.float64))
    return scores, weights[0].tolist(), out[0].tolist()


def render_without_missing_glyphs(fig, tmp_path, caplog):
    """matplotlib 3.11 logs (does not warn) a glyph it lacks, e.g. CJK inside mathtext."""
    with caplog.at_level(logging.WARNING, logger="matplotlib"):
        render(fig, tmp_path)
    assert not [r for r in caplog.records if "glyph" in r.getMessage()], caplog.text


@pytest.mark.parametrize("example", [
    dict(query=CHAPTER1_QUERY, keys=CHAPTER1_KEYS, values=CHAPTER1_VALUES),
    dict(query=[0.5, -1.0], keys=[[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]],
         values=[[2.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, -3.0]]),
])
def test_three_steps_draws_the_numbers_course_lib_computes(example, tmp_path, caplog):
    scores, weights, output = reference(**example)
    fig = diagrams.three_steps(**example)
    drawn = texts(fig)
    for j, (s, a) in enumerate(zip(scores, weights), start=1):
        assert f"$s_{j}$ = {s:.2f}" in drawn
        assert f"$a_{j}$ = {a:.4f}" in drawn
    joined = " ".join(drawn)
    assert f"Key {len(scores)}" in joined and f"Key {len(scores) + 1}" not in joined
    total = [t for t in drawn if t.startswith("Attention Value")]
    assert len(total) == 1 and total[0].endswith(
        "[" + ", ".join(f"{x:.2f}" for x in output) + "]")
    render_without_missing_glyphs(fig, tmp_path, caplog)


def test_three_steps_defaults_to_chapter_1s_worked_example():
    expected = texts(diagrams.three_steps(query=CHAPTER1_QUERY, keys=CHAPTER1_KEYS,
                                          values=CHAPTER1_VALUES))
    assert texts(diagrams.three_steps()) == expected
    # the worked example's weights, as chapter 1's table prints them
    assert "$a_4$ = 0.4551" in expected and "$s_4$ = 1.50" in expected
    assert {"第一步 step 1", "第二步 step 2", "第三步 step 3"} <= set(expected)


def test_essence_draws_real_weights_most_of_them_on_a_few_pairs(tmp_path, caplog):
    query, keys = [0.0, 2.0], [[0.0, 2.0], [2.0, 0.0], [0.0, 1.5], [-1.0, 0.0]]
    values = [[1.0], [2.0], [3.0], [4.0]]
    _, weights, output = reference(query, keys, values)
    fig = diagrams.essence(query=query, keys=keys, values=values)
    drawn = texts(fig)
    assert [f"{w:.2f}" for w in weights] == [t for t in drawn if t.startswith("0.")]
    assert any(t.endswith(f"[{output[0]:.2f}]") for t in drawn)
    assert f"carry {sum(sorted(weights)[-2:]):.0%} of the total" in " ".join(drawn)
    render_without_missing_glyphs(fig, tmp_path, caplog)
    # the default Source: a query that resembles two of eight keys
    default = " ".join(texts(diagrams.essence()))
    share = float(default.split("carry ")[1].split("%")[0]) / 100
    assert "Key 8" in default and share > 0.8


def test_essence_and_three_steps_reject_a_single_key():
    with pytest.raises(ValueError, match=r"len\(keys\)=1; expected 2 to"):
        diagrams.essence(query=[1.0], keys=[[1.0]], values=[[1.0]])
    with pytest.raises(ValueError, match=r"len\(keys\)=7; expected 2 to 6"):
        diagrams.three_steps(query=[1.0], keys=[[1.0]] * 7, values=[[1.0]] * 7)


def test_lineage_names_the_four_stages_and_the_two_descendants(tmp_path, caplog):
    fig = diagrams.lineage()
    drawn = " ".join(texts(fig))
    order = [drawn.index(s) for s in ("死记硬背", "提纲挈领", "融会贯通", "多任务大规模学习")]
    assert order == sorted(order)
    assert "融汇贯通" not in drawn  # the notes' typo
    assert "BERT\nencoder-only" in drawn and "GPT\ndecoder-only" in drawn
    render_without_missing_glyphs(fig, tmp_path, caplog)


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


# Chapters 3-5: Q/K/V projections, scaled dot-product and multi-head attention, masking
# ---------------------------------------------------------------------------------------------


def test_qkv_projection_computes_the_illustrated_transformers_numbers(tmp_path):
    strings = texts(diagrams.qkv_projection())
    joined = " ".join(strings)
    # 112 and 96 divided by sqrt(64) = 8 are 14 and 12; softmax([14, 12]) = (0.88, 0.12)
    assert {"14", "12", "0.88", "0.12"} <= set(strings)
    assert "$q_1 \\cdot k_1$ = 112" in strings and "$q_1 \\cdot k_2$ = 96" in strings
    assert "÷ $\\sqrt{64}$ = 8" in strings
    assert "$x_1$: 1 × 512" in strings and "$v_2$: 1 × 64" in strings
    assert "$z_1 = 0.88\\,v_1 + 0.12\\,v_2$" in joined
    # other numbers give other text: nothing is typed in
    other = set(texts(diagrams.qkv_projection(d_k=16, scores=(8.0, 0.0))))
    assert {"2", "0", "0.88", "0.12"} <= other and "÷ $\\sqrt{16}$ = 4" in other
    other = set(texts(diagrams.qkv_projection(scores=(8.0, 8.0))))
    assert "0.50" in other and "0.88" not in other
    with pytest.raises(ValueError, match="expected two of each"):
        diagrams.qkv_projection(scores=(1.0, 2.0, 3.0))


def test_scaled_dot_product_block_has_the_five_steps_and_the_shapes():
    strings = texts(diagrams.scaled_dot_product_block())
    joined = " ".join(strings)
    for step in ("MatMul  $QK^\\top$", "Scale  ÷ $\\sqrt{64}$ = 8", "Mask (opt.)\nFalse → −∞",
                 "SoftMax over keys", "MatMul  (weights) V"):
        assert step in strings
    assert "$(B, L_q, L_k)$ scores" in strings and "$(B, L_q, 64)$ output" in strings
    with_heads = texts(diagrams.scaled_dot_product_block(d_k=32, num_heads=4))
    assert "$(B, 4, L_q, L_k)$ weights" in with_heads and "Scale  ÷ $\\sqrt{32}$ = 5.65685" in with_heads
    assert "True" in joined  # the mask convention is stated


def test_multi_head_block_computes_d_head_and_writes_the_shapes():
    strings = texts(diagrams.multi_head_block())
    assert "$d_{model}$ = 512, h = 8, $d_{head}$ = 512 / 8 = 64" in strings
    assert strings.count("$(B, 8, L, 64)$") == 3 and strings.count("$(B, L, 512)$") == 3
    assert "Concat (merge_heads)" in strings and "Linear $W^O$: 512 × 512" in strings
    assert "$(B, L_q, 512)$ (8 × 64)" in strings
    small = texts(diagrams.multi_head_block(d_model=12, num_heads=3))
    assert "$(B, 3, L, 4)$" in small
    with pytest.raises(ValueError, match="d_model=10 is not divisible by num_heads=3"):
        diagrams.multi_head_block(d_model=10, num_heads=3)


def test_decoder_masking_draws_causal_and_padding_and_their_and():
    tokens = ("<bos>", "a", "b", "c", "<pad>")
    fig = diagrams.decoder_masking(tokens=tokens, length=3)
    strings = texts(fig)
    n, length = len(tokens), 3
    causal = [[j <= i for j in range(n)] for i in range(n)]
    pad = [j < length for j in range(n)]
    both = [[causal[i][j] and pad[j] for j in range(n)] for i in range(n)]
    true_cells = sum(map(sum, causal)) + sum(pad) + sum(map(sum, both))
    assert strings.count("T") == true_cells
    assert strings.count("F") == 2 * n * n + n - true_cells
    assert f"combined ({n}, {n}): {sum(map(sum, both))} pairs may attend" in strings
    assert "causal_mask(5): key j ≤ query i" in strings
    assert any("True = may attend" in s for s in strings)
    # the combined grid (drawn last, row by row) is green where True and red where masked
    patches = fig.axes[0].patches
    assert len(patches) == 2 * n * n + n
    green, red = (to_rgba(diagrams.COLORS[k]) for k in ("value", "mask"))
    drawn = [p.get_facecolor() for p in patches[-n * n:]]
    assert drawn == [green if ok else red for row in both for ok in row]


def test_chapters_3_5_diagrams_need_no_font_fallback(caplog, tmp_path):
    """A weight the CJK font lacks (bold) makes matplotlib log a findfont line, which a
    notebook shows as output; these diagrams must not ask for one."""
    import logging

    names = ("qkv_projection", "scaled_dot_product_block", "multi_head_block", "decoder_masking")
    with caplog.at_level(logging.INFO, logger="matplotlib.font_manager"):
        for name in names:
            getattr(diagrams, name)().savefig(tmp_path / f"{name}.png")
    assert not [r.getMessage() for r in caplog.records if "findfont" in r.getMessage()]


# ---------------------------------------------------------------------------------------------
# The Chinese edition (COURSE_LANG=zh): every label Chinese, but code names, math, tokens
# ---------------------------------------------------------------------------------------------

import re  # noqa: E402

from matplotlib.text import Text  # noqa: E402

#: ASCII words a Chinese diagram keeps: abbreviations and model names, code names
#: (course_lib functions, Python booleans, special tokens) and the example's own words.
ALLOWED = {"RNN", "GPT", "BERT", "Transformer", "FFN", "GELU", "tanh", "LayerNorm", "SoftMax",
           "Softmax", "softmax", "True", "False", "MASK", "bos", "pad", "causal_mask",
           "padding_mask", "merge_heads", "Thinking", "Machines"}
ZH_CALLS = {  # every public diagram, plus the arguments that add text
    **{name: {} for name in sorted(set(diagrams.__all__) - {"COLORS", "Box", "canvas", "box", "arrow"})},
    "three_architectures(params)": {"params": {"encoder-decoder": 237_056, "GPT": 238_976, "BERT": 1_234}},
    "scaled_dot_product_block(num_heads)": {"num_heads": 4},
}


def english_words(fig) -> list[str]:
    """Identifiers and words of 3+ ASCII letters in the figure's text (math left out) that
    a Chinese diagram should not show."""
    found = []
    for t in fig.findobj(Text):
        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"\$[^$]*\$", "", t.get_text())):
            if re.search(r"[A-Za-z]{3,}", word) and word not in ALLOWED:
                found.append(word)
    return found


@pytest.mark.parametrize("call", sorted(ZH_CALLS))
def test_in_chinese_every_diagram_label_is_chinese_and_every_glyph_draws(call, monkeypatch, tmp_path,
                                                                         caplog):
    draw = getattr(diagrams, call.split("(")[0])
    english = texts(draw(**ZH_CALLS[call]))
    assert english_words(draw(**ZH_CALLS[call]))  # the English diagram fails the check
    monkeypatch.setenv("COURSE_LANG", "zh")  # read when the diagram is drawn, not at import
    fig = draw(**ZH_CALLS[call])
    assert english_words(fig) == []
    assert texts(fig) != english
    render_without_missing_glyphs(fig, tmp_path, caplog)


def test_in_chinese_the_numbers_are_the_same_computed_ones(monkeypatch):
    monkeypatch.setenv("COURSE_LANG", "zh")
    drawn = texts(diagrams.three_steps())
    scores, weights, output = reference(CHAPTER1_QUERY, CHAPTER1_KEYS, CHAPTER1_VALUES)
    assert all(f"$a_{j}$ = {a:.4f}" in drawn for j, a in enumerate(weights, start=1))
    assert "注意力值 = $\\sum_i\\, a_i \\cdot$ 值$_i$ = " + "[" + ", ".join(
        f"{x:.2f}" for x in output) + "]" in drawn
    drawn = texts(diagrams.decoder_masking(tokens=("<bos>", "a", "b", "<pad>"), length=3))
    pairs = sum(min(i + 1, 3) for i in range(4))  # key j <= query i, and j among the 3 real tokens
    assert f"两者合并 (4, 4)：{pairs} 对可以关注" in drawn and "causal_mask(4)：键 j ≤ 查询 i" in drawn
    drawn = texts(diagrams.transformer_architecture())
    assert drawn.count("残差连接 + 层归一化") == 5 and drawn.count("多头注意力") == 2
    assert {"237,056 个参数", "1,234 个参数"} <= set(texts(diagrams.three_architectures(
        params={"encoder-decoder": 237_056, "BERT": 1_234})))
