"""The Chinese edition's machinery: course_lib.i18n's switch and tools/i18n.py's tables.

The mechanism is tested on a scratch copy of a page (a fake book in tmp_path), so each test
shows one failure the translation checks must catch: a stale cell, a missing one, a glossary
term translated another way, code that would differ between the editions.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from course_lib import i18n

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "tools" / "i18n.py")
tool = importlib.util.module_from_spec(_spec)
sys.modules["i18n_tool"] = tool  # dataclasses look their module up there
_spec.loader.exec_module(tool)


# ------------------------------------------------------------------ course_lib.i18n


@pytest.mark.parametrize("value,expected", [(None, "en"), ("", "en"), ("en", "en"), ("zh", "zh"),
                                            ("zh_CN.UTF-8", "zh"), ("ZH-hans", "zh"),
                                            ("en_GB", "en")])
def test_language_reads_course_lang(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("COURSE_LANG", raising=False)
    else:
        monkeypatch.setenv("COURSE_LANG", value)
    assert i18n.language() == expected


def test_an_unknown_language_is_refused_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("COURSE_LANG", "fr")
    with pytest.raises(ValueError, match=r"COURSE_LANG='fr'; expected one of en, zh"):
        i18n.language()


def test_tr_returns_the_current_languages_text(monkeypatch):
    monkeypatch.setenv("COURSE_LANG", "zh")
    assert i18n.tr("weight", "权重") == "权重"
    monkeypatch.setenv("COURSE_LANG", "en")
    assert i18n.tr("weight", "权重") == "weight"


# ------------------------------------------------------------------ tools/i18n.py on a scratch page


def _notebook(cells: list[tuple[str, str, str]]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"id": i, "cell_type": kind, "metadata": {}, "source": src,
                       **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                      for i, kind, src in cells]}


@pytest.fixture()
def page(tmp_path, monkeypatch) -> Path:
    """A one-page book: a notebook with two text cells and a code cell."""
    book = tmp_path / "book"
    book.mkdir()
    nb = _notebook([("aaaa0001", "markdown", "# Masking\n\nA *padding mask* hides padding."),
                    ("aaaa0002", "code", "print(tr('Hello', '你好'))"),
                    ("aaaa0003", "markdown", "The weights of a fully masked row are zeros.")])
    path = book / "05_masking.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    monkeypatch.setattr(tool, "glossary_terms", lambda *a: {"padding mask": ["填充掩码"],
                                                            "mask": ["掩码"]})
    return path


def _translate(path: Path, texts: dict[str, str]) -> None:
    table = tool.table_path(path)
    entries = tool.parse_table(table)
    for e in entries:
        e.text = texts.get(e.id, e.text)
    table.write_text(tool.format_table(path, entries), encoding="utf-8")


GOOD = {"aaaa0001": "# 掩码\n\n**填充掩码**遮住填充符。", "aaaa0003": "完全被掩码的一行，权重全为零。"}


def test_a_stub_asks_for_every_text_cell_and_nothing_else(page):
    assert tool.stub(page) == ["aaaa0001", "aaaa0003"]
    assert tool.problems(page) == [f"book/05_masking.ipynb: cell {i} is not translated yet"
                                   for i in ("aaaa0001", "aaaa0003")]


def test_a_missing_table_and_a_missing_cell_are_reported(page):
    assert "no translation table" in tool.problems(page)[0]
    tool.stub(page)
    _translate(page, GOOD)
    tool.mark(page, [])
    table = tool.table_path(page)
    entries = [e for e in tool.parse_table(table) if e.id != "aaaa0003"]
    table.write_text(tool.format_table(page, entries), encoding="utf-8")
    assert tool.problems(page) == ["book/05_masking.ipynb: cell aaaa0003 has no translation"
                                   " (python tools/i18n.py stub book/05_masking.ipynb)"]


def test_a_translated_page_is_clean_and_round_trips(page):
    tool.stub(page)
    _translate(page, GOOD)
    assert tool.mark(page, []) == ["aaaa0001", "aaaa0003"]
    assert tool.problems(page) == []
    entries = tool.parse_table(tool.table_path(page))
    assert {e.id: e.text for e in entries} == GOOD


def test_marking_refuses_an_untouched_english_stub(page):
    tool.stub(page)
    assert tool.mark(page, []) == []  # the English text is still there: nothing to record


def test_an_english_edit_after_translation_makes_it_stale(page):
    tool.stub(page)
    _translate(page, GOOD)
    tool.mark(page, [])
    nb = json.loads(page.read_text(encoding="utf-8"))
    nb["cells"][2]["source"] = "The weights of a fully masked row are exactly zero."
    page.write_text(json.dumps(nb), encoding="utf-8")
    (problem,) = tool.problems(page)
    assert "cell aaaa0003 is stale" in problem and "mark book/05_masking.ipynb aaaa0003" in problem
    tool.stub(page)  # stub keeps a stale translation as it is
    assert len(tool.problems(page)) == 1
    tool.mark(page, ["aaaa0003"])
    assert tool.problems(page) == []


def test_a_glossary_term_translated_another_way_is_caught(page):
    tool.stub(page)
    _translate(page, {**GOOD, "aaaa0001": "# 掩码\n\n**补齐遮罩**遮住填充符。"})
    tool.mark(page, [])
    (problem,) = tool.problems(page)
    assert "cell aaaa0001" in problem and "'padding mask'" in problem and "填充掩码" in problem


def test_a_forbidden_rendering_is_caught(page):
    tool.stub(page)
    _translate(page, {**GOOD, "aaaa0003": "变压器里完全被掩码的一行，权重全为零。"})
    tool.mark(page, [])
    assert "变压器" in tool.problems(page)[0]


def test_a_translation_of_a_removed_cell_is_kept_and_reported(page):
    tool.stub(page)
    _translate(page, GOOD)
    tool.mark(page, [])
    nb = json.loads(page.read_text(encoding="utf-8"))
    del nb["cells"][2]
    page.write_text(json.dumps(nb), encoding="utf-8")
    tool.stub(page)
    assert "aaaa0003" in tool.table_path(page).read_text(encoding="utf-8")
    assert tool.problems(page) == ["book/05_masking.ipynb: cell aaaa0003 is translated but"
                                   " the English page has no such cell"]


def test_the_chinese_notebook_has_the_english_code_and_the_chinese_text(page):
    tool.stub(page)
    _translate(page, GOOD)
    tool.mark(page, [])
    english = json.loads(page.read_text(encoding="utf-8"))
    chinese = tool.translate_notebook(english, tool.parse_table(tool.table_path(page)))
    assert [c["source"] for c in chinese["cells"] if c["cell_type"] == "code"] == \
        [c["source"] for c in english["cells"] if c["cell_type"] == "code"]
    assert "".join(chinese["cells"][0]["source"]) == GOOD["aaaa0001"]
    assert chinese["metadata"]["course_language"] == "zh"


def test_the_glossary_parser_reads_the_books_terms():
    terms = tool.glossary_terms()
    assert terms["attention pooling"] == ["注意力汇聚"]
    assert terms["attention weight"] == ["权重", "注意力权重"]
    assert terms["causal mask"] == ["因果掩码", "序列掩码"]
    assert terms["token"] == ["词元"]


def test_heading_links_follow_the_translated_headings(page):
    tool.stub(page)
    _translate(page, {**GOOD, "aaaa0003": "见[上面](#masking)。完全被掩码的一行，权重全为零。"})
    tool.mark(page, [])
    entries = tool.parse_table(tool.table_path(page))
    anchors = {page.name: tool.anchor_map(page, entries)}
    assert anchors == {"05_masking.ipynb": {"masking": "掩码"}}
    english = json.loads(page.read_text(encoding="utf-8"))
    chinese = tool.translate_notebook(english, entries, page=page.name, anchors=anchors)
    assert "[上面](#掩码)" in "".join(chinese["cells"][2]["source"])
    assert tool.relink("[第 5 章](05_masking.ipynb#masking)", "x.ipynb", anchors) == \
        "[第 5 章](05_masking.ipynb#掩码)"


def test_a_translation_that_drops_a_heading_is_reported(page):
    tool.stub(page)
    _translate(page, {**GOOD, "aaaa0001": "掩码：**填充掩码**遮住填充符。"})
    tool.mark(page, [])
    (problem,) = tool.problems(page)
    assert "1 headings in English and 0 in the translation" in problem


def test_slugs_are_mysts():
    assert tool.slug("5.3 A fully masked row: zeros, never NaN") == \
        "53-a-fully-masked-row-zeros-never-nan"
    assert tool.slug("5.3 完全被掩码的一行：全是零，不是 NaN") == "53-完全被掩码的一行全是零不是-nan"
    assert tool.slug("The `Residual` wrapper and $x + f(x)$") == "the-residual-wrapper-and-"
