"""tools/check_book.py on tiny HTML pages: each kind of problem is caught, a clean page passes."""

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_book", ROOT / "tools" / "check_book.py")
check_book = importlib.util.module_from_spec(spec)
sys.modules["check_book"] = check_book  # dataclasses look the module up
spec.loader.exec_module(check_book)

if check_book.find_chromium() is None:
    pytest.skip("no Chromium (apt-get install chromium)", allow_module_level=True)

# The MathJax the book ships (sphinx-mathjax-offline), to typeset a display equation offline.
MATHJAX = next((Path(p) / "sphinx-mathjax-offline" / "static" / "mathjax" / "tex-chtml.js"
                for p in sys.path if (Path(p) / "sphinx-mathjax-offline").is_dir()), None)
LONG_EQ = r"\[" + " + ".join(f"x_{{{i}}}^2" for i in range(60)) + r"\]"
STYLE = "<style>main{width:800px} pre{overflow-x:auto;font:14px monospace}</style>"


TWIN = '<p><a class="course-twin" href="_static/twin.html" hreflang="zh">中文版</a></p>'


def page(body: str, head: str = "", *, twin: str = TWIN, lang: str = "en") -> str:
    return (f'<!doctype html><html lang="{lang}"><head>{STYLE}{head}</head><body><main>{twin}'
            f"{body}</main></body></html>")


CLEAN = page('<section id="s"><div class="cell"><div class="cell_input"><pre>x = 1</pre></div>'
             '<div class="cell_output"><pre>1</pre></div></div></section>')
TRACEBACK = ('<div class="cell{tag}"><div class="cell_output"><div class="output traceback"><pre>'
             'Traceback (most recent call last)\nAttributeError: no rowspan</pre></div></div></div>')
PAGES = {
    "clean.html": CLEAN,
    "wide_code.html": page('<div class="cell"><div class="cell_input"><pre>'
                           + "y = " + "1 + " * 80 + "1</pre></div></div>"),
    "wide_output.html": page('<div class="cell"><div class="cell_output"><pre>'
                             + "0.5 " * 100 + "</pre></div></div>"),
    "narrow.html": CLEAN.replace("width:800px", "width:500px"),
    "remote.html": page("<p>hi</p>", '<script src="https://cdn.example.org/x.js"></script>'),
    "console.html": page("<p>hi</p><script>console.error('boom')</script>"),
    "traceback.html": page(TRACEBACK.format(tag="")),
    "expected_traceback.html": page(TRACEBACK.format(tag=" tag_raises-exception")),
    "no_twin.html": page("<p>hi</p>", twin=""),
    "dead_twin.html": page("<p>hi</p>", twin=TWIN.replace("_static/twin.html", "gone.html")),
    "search.html": page("<p>Sphinx's search page</p>", twin=""),
}
ZH_PAGES = {"zh/clean.html": page("<p>中文</p>", twin=TWIN.replace("_static", "../_static"),
                                  lang="zh-CN"),
            "zh/no_lang.html": page("<p>中文</p>", twin=TWIN.replace("_static", "../_static")),
            "zh/english.html": page("<p>中文。</p><div class='cell_output'><p>The model "
                                    "scores well on both sets here.</p></div><pre>print('a b c"
                                    " d e f g h')</pre><p>见 Attention Is All You Need。</p>"
                                    "<p>例句 <em>The Law will never be perfect, but its"
                                    " application</em>。</p><table><tr><td>one two three four"
                                    " five six seven</td></tr></table>",
                                    twin=TWIN.replace("_static", "../_static"), lang="zh-CN")}


if MATHJAX is not None:
    PAGES["wide_equation.html"] = page(f'<div class="math">{LONG_EQ}</div>',
                                       f'<script defer src="{MATHJAX.as_uri()}"></script>')


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    html = tmp_path_factory.mktemp("html")
    (html / "zh").mkdir()
    for name, text in {**PAGES, **ZH_PAGES}.items():
        (html / name).write_text(text)
    (html / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=clean.html" />')
    (html / "_static").mkdir()
    (html / "_static" / "skip.html").write_text(CLEAN)
    (html / "_static" / "twin.html").write_text(CLEAN)
    pages = check_book.list_pages(html)
    out = tmp_path_factory.mktemp("shots")
    return {r.page: r for r in check_book.check_pages(pages, html, out_dir=out)}


def test_static_files_and_redirects_are_not_pages(reports):
    assert sorted(reports) == sorted({**PAGES, **ZH_PAGES})


def test_clean_page_passes(reports):
    r = reports["clean.html"]
    assert r.ok, check_book.format_report([r], 1280)
    assert r.totals["code"] == 1 and Path(r.screenshot).name == "clean.png"
    assert Path(r.screenshot).stat().st_size > 0


def test_overflowing_code_cell_is_reported_with_its_excess(reports):
    r = reports["wide_code.html"]
    assert not r.ok and r.counts() == {"code": 1}
    over = r.problems[0]["over"]
    assert 1500 < over < 3000, over  # ~325 monospace characters in a 600 px box
    assert "too wide" in check_book.format_report([r], 1280)


def test_a_box_too_narrow_for_a_79_character_line_fails(reports):
    r = reports["narrow.html"]
    assert r.counts() == {"code": 1, "output": 1}, r.problems
    assert all("79-character line" in p["text"] for p in r.problems)
    assert all(p["width"] > 400 for p in r.problems)


def test_overflowing_output_is_an_output_not_code(reports):
    assert reports["wide_output.html"].counts() == {"output": 1}


@pytest.mark.skipif(MATHJAX is None, reason="sphinx-mathjax-offline not installed")
def test_display_equation_is_measured_after_mathjax_typesets_it(reports):
    r = reports["wide_equation.html"]
    assert r.counts().get("equation", 0) >= 1, r.problems
    assert not r.requests and not r.console


def test_remote_script_is_a_network_request(reports):
    r = reports["remote.html"]
    assert r.requests == ["https://cdn.example.org/x.js"] and not r.problems


def test_console_error_fails(reports):
    r = reports["console.html"]
    assert any("boom" in m for m in r.console) and not r.ok


def test_main_exits_non_zero_without_chromium(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(check_book, "find_chromium", lambda: None)
    assert check_book.main([str(tmp_path)]) != 0
    assert "apt-get install chromium" in capsys.readouterr().err


def test_main_fails_on_a_bad_page_and_passes_a_clean_one(tmp_path):
    (tmp_path / "a.html").write_text(CLEAN)
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "twin.html").write_text(CLEAN)
    assert check_book.main([str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    (tmp_path / "b.html").write_text(PAGES["wide_code.html"])
    assert check_book.main([str(tmp_path), "--out", str(tmp_path / "o")]) == 1


def test_an_error_output_fails_unless_the_cell_expects_it(reports):
    assert reports["expected_traceback.html"].ok
    bad = reports["traceback.html"]
    assert not bad.ok and any("AttributeError: no rowspan" in m for m in bad.console), bad.console


def test_every_book_page_links_to_a_built_twin(reports):
    assert not reports["no_twin.html"].ok
    assert reports["no_twin.html"].links == [
        "no link to the page in the other language (a.course-twin)"]
    assert reports["dead_twin.html"].links == [
        "the link to the other language points at gone.html, which was not built"]
    assert reports["search.html"].ok  # Sphinx's own pages have no twin


def test_a_chinese_page_must_say_it_is_chinese(reports):
    assert reports["zh/clean.html"].ok, reports["zh/clean.html"].links
    assert Path(reports["zh/clean.html"].screenshot).name == "zh-clean.png"
    assert reports["zh/no_lang.html"].links == ['a Chinese page without <html lang="zh-CN">']


def test_an_english_sentence_on_a_chinese_page_fails(reports):
    r = reports["zh/english.html"]
    assert r.english == ["The model scores well on both sets here"], r.english  # not code, not 5
    assert not r.ok and "English on a Chinese page" in check_book.format_report([r], 1280)
