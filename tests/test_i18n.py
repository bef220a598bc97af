"""The Chinese edition's machinery: course_lib.i18n's switch and tools/i18n.py's tables.

The mechanism is tested on a scratch copy of a page (a fake book in tmp_path), so each test
shows one failure the translation checks must catch: a stale cell, a missing one, a glossary
term translated another way, code that would differ between the editions.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
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


# ------------------------------------------------------------------ the real book


def test_every_chinese_page_has_its_english_twins_code(tmp_path):
    tool.build(tmp_path)
    for page in tool.pages():
        if page.suffix != ".ipynb":
            continue
        english = json.loads(page.read_text(encoding="utf-8"))
        chinese = json.loads((tmp_path / page.relative_to(ROOT)).read_text(encoding="utf-8"))
        code = [[(c["id"], c["source"], c["metadata"]) for c in nb["cells"]
                 if c["cell_type"] != "markdown"] for nb in (english, chinese)]
        assert code[0] == code[1], page.name
        assert [c["id"] for c in english["cells"]] == [c["id"] for c in chinese["cells"]]


def test_the_chinese_site_tree_has_the_books_pages_in_chinese(tmp_path):
    import yaml

    tool.site(tmp_path / "src")
    config = yaml.safe_load((tmp_path / "src" / "_config.yml").read_text(encoding="utf-8"))
    toc = yaml.safe_load((tmp_path / "src" / "_toc.yml").read_text(encoding="utf-8"))
    english_toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["language"] == "zh_CN"
    assert config["sphinx"]["config"]["course_edition"] == "zh"
    assert config["title"] == tool.book_text()["title"] != "Attention, from the ground up"
    files = [[c["file"] for p in t["parts"] for c in p["chapters"]] for t in (toc, english_toc)]
    assert files[0] == files[1] and toc["root"] == english_toc["root"]
    assert tool.caption_problems() == []
    assert [p["caption"] for p in toc["parts"]][0] == "注意力"
    for rel in tool.SITE_LINKS:
        assert (tmp_path / "src" / rel).resolve() == ROOT / rel


def test_twin_links_cross_between_the_site_roots():
    spec = importlib.util.spec_from_file_location("course_book", ROOT / "book" / "_ext" /
                                                  "course_book.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    # English _build/html/book/05_masking.html <-> _build/html/zh/book/05_masking.html
    assert ext.twin_href("book/05_masking", "en") == "../zh/book/05_masking.html"
    assert ext.twin_href("book/05_masking", "zh") == "../../book/05_masking.html"
    assert ext.twin_href("index", "en") == "zh/index.html"


# ------------------------------------------------------------------ tr(en, zh) pairs in the code

CJK = re.compile("[\u4e00-\u9fff]")
# Words a Chinese label keeps as they are (function names, the glossary's "softmax").
SAME_IN_CHINESE = {"softmax", "tanh", "relu", "gelu", "einsum", "numpy", "torch"}


def _sources() -> list[tuple[str, str]]:
    """Every code cell of the chapters and every course_lib module: (where, source)."""
    found = []
    for page in tool.pages():
        if page.suffix == ".ipynb":
            nb = json.loads(page.read_text(encoding="utf-8"))
            found += [(f"{page.name} cell {c['id']}", "".join(c["source"]))
                      for c in nb["cells"] if c["cell_type"] == "code"]
    found += [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"))
              for p in sorted((ROOT / "course_lib").rglob("*.py"))]
    return found


def _tr_calls(source: str) -> list[ast.Call]:
    try:
        tree = ast.parse("\n".join(line for line in source.split("\n")
                                   if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return []
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == "tr"]


def _fields(node: ast.AST) -> list[str]:
    """The expressions an f-string formats, sorted (their widths may differ: a Chinese
    character is two columns wide, so a table may pad it otherwise)."""
    return sorted(ast.dump(v.value) for v in ast.walk(node)
                  if isinstance(v, ast.FormattedValue))


def tr_problems(where: str, source: str) -> list[str]:
    """What is wrong with the tr(en, zh) calls of one piece of code."""
    out = []
    for call in _tr_calls(source):
        args = call.args + [k.value for k in call.keywords]
        if len(args) != 2:
            out.append(f"{where} line {call.lineno}: tr needs two texts (en, zh)")
            continue
        if not all(isinstance(a, (ast.Constant, ast.JoinedStr)) for a in args):
            continue  # computed texts (a lookup table) are checked when nbval runs them
        en, zh = args
        if _fields(en) != _fields(zh):
            out.append(f"{where} line {call.lineno}: the English and Chinese texts format"
                       " different fields")
        text = "".join(v.value for v in ast.walk(zh)
                       if isinstance(v, ast.Constant) and isinstance(v.value, str))
        words = set(re.findall(r"[A-Za-z]*[a-z][A-Za-z]*", text)) - SAME_IN_CHINESE
        if not CJK.search(text) and any(len(w) >= 4 for w in words):
            out.append(f"{where} line {call.lineno}: the Chinese text has no Chinese")
    return out


def test_every_tr_pair_formats_the_same_fields_and_the_chinese_is_chinese():
    problems = [p for where, source in _sources() for p in tr_problems(where, source)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("code,expected", [
    ('tr(f"loss {x:.3f}", f"损失 {x:.3f} {y}")', "format different fields"),
    ('tr(f"loss {x}", f"损失 {y}")', "format different fields"),
    ('tr("loss", "loss")', "has no Chinese"),
    ('tr("loss")', "two texts"),
    ('tr("LSTM (ms)", "LSTM loss (ms)")', "has no Chinese"),
])
def test_the_tr_check_catches_a_bad_pair(code, expected):
    (problem,) = tr_problems("x", code)
    assert expected in problem


def test_the_tr_check_passes_a_good_pair():
    assert tr_problems("x", 'print(tr(f"{n} steps", f"{n} 步"))\ntr("Loss", "损失")\n'
                       'tr("LSTM (ms)", "LSTM（ms）")\ntr("softmax", "softmax")') == []


def test_the_nbval_tree_switches_each_kernel_to_chinese_and_changes_nothing_else(tmp_path):
    tool.site(tmp_path / "plain")
    tool.site(tmp_path / "nbval", set_language=True)
    for page in tool.pages():
        if page.suffix == ".ipynb":
            plain, nbval = (json.loads((tmp_path / t / page.relative_to(ROOT))
                                       .read_text(encoding="utf-8")) for t in ("plain", "nbval"))
            first = nbval["cells"].pop(0)
            assert "".join(first["source"]) == 'import os\nos.environ["COURSE_LANG"] = "zh"'
            assert nbval == plain

# ------------------------------------------------------------------ the book's own tables


def _term_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first pipe table after ``heading`` (a ``## ...`` line)."""
    lines = text.split("\n")
    rows = []
    for line in lines[lines.index(heading):]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and not set(cells[0]) <= set("-"):
            rows.append(cells)
        elif rows and not line.startswith("|"):
            break
    return rows[1:]  # without the header row


def test_the_chinese_glossary_has_exactly_the_english_glossarys_terms():
    english = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    (page,) = tool.parse_table(ROOT / "book" / "zh" / "glossary.md")
    en_rows = [(r[0], r[1]) for r in _term_rows(english, "## Terms")]
    zh_rows = [(r[1], r[0]) for r in _term_rows(page.text, "## 术语")]
    assert len(en_rows) > 90
    assert zh_rows == en_rows  # 中文 | English, the same Chinese for the same term, same order


def test_readme_zh_is_translated_from_the_current_readme():
    """README.zh.md is a whole-file twin: its first line records the English text's hash."""
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    chinese = (ROOT / "README.zh.md").read_text(encoding="utf-8")
    recorded = re.match(r"<!-- en:([0-9a-f]{12}) -->\n", chinese)
    assert recorded, "README.zh.md must start with <!-- en:<text_sha of README.md> -->"
    assert recorded[1] == tool.text_sha(english), (
        "README.md changed after README.zh.md was translated: update the translation, then"
        f" its first line to <!-- en:{tool.text_sha(english)} -->")
    assert "[README.zh.md](README.zh.md)" in english.split("\n\n", 2)[1]
    assert "[README.md](README.md)" in chinese.split("\n\n", 2)[1]
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", english):
        assert f"]({image})" in chinese


def test_the_chinese_edition_is_complete_and_current():
    """Every text cell of every page translated, none stale, the glossary's terms used."""
    problems = [line for page in tool.pages() for line in tool.problems(page)]
    problems += tool.caption_problems()
    assert not problems, "python tools/i18n.py status:\n" + "\n".join(problems)


def test_every_exercise_notebook_has_a_current_chinese_twin():
    """Each solutions/ notebook has its table (so exercises/zh/ has its twin), current."""
    solutions = sorted((ROOT / "solutions").glob("*.ipynb"))
    problems = [line for page in solutions for line in tool.problems(page)]
    assert not problems, "\n".join(problems)
    assert sorted(p.name for p in (ROOT / "exercises" / "zh").glob("*.ipynb")) == \
        [p.name for p in solutions]
