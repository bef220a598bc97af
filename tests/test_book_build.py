"""The book build (the repository's _config.yml) fails on a figure with a missing glyph.

matplotlib warns "Glyph ... missing from font(s)" when a figure would show an empty box; in
the kernel that jupyter-book starts the warning lands in the cell's stderr, and the book's
``nb_output_stderr: warn`` makes it a build warning, which ``make book`` (-W) turns into an
error. One tiny book with two pages: one draws a private-use character no font has (it must
be reported), the other draws Chinese through course_lib.viz's bundled font (it must not).
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"

pytestmark = pytest.mark.skipif(not JUPYTER_BOOK.exists(), reason="jupyter-book not installed")


def notebook(title: str, code: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}"), nbformat.v4.new_code_cell(code)]
    return nb


def tiny_book(path: Path) -> None:
    """A two-page book configured exactly like the course book (paths made absolute)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config.pop("exclude_patterns", None)
    sphinx = config["sphinx"]
    sphinx["local_extensions"] = {k: str(ROOT / v) for k, v in sphinx.get("local_extensions", {}).items()}
    sphinx["config"]["html_static_path"] = [str(ROOT / p) for p in
                                           sphinx["config"].get("html_static_path", [])]
    (path / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    (path / "_toc.yml").write_text("format: jb-book\nroot: chinese\nchapters:\n  - file: box\n")
    draw = textwrap.dedent("""\
        import course_lib.viz  # registers Noto Sans CJK SC
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.set_title({!r})
        plt.show()
        """)
    nbformat.write(notebook("Chinese", draw.format("三万亿")), path / "chinese.ipynb")
    nbformat.write(notebook("Box", draw.format("\ue000")), path / "box.ipynb")


def test_missing_glyph_fails_the_book_build_and_chinese_does_not(tmp_path):
    tiny_book(tmp_path)
    env = {"PYTHONPATH": str(ROOT), "PATH": str(JUPYTER_BOOK.parent) + ":/usr/bin:/bin",
           "HOME": str(tmp_path), "MPLBACKEND": ""}
    env.pop("MPLBACKEND")
    run = subprocess.run([str(JUPYTER_BOOK), "build", str(tmp_path), "--warningiserror",
                          "--keep-going"], capture_output=True, text=True, env=env, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode != 0, log[-3000:]
    warnings = [line for line in log.splitlines() if "stderr was found" in line]
    assert any("box.ipynb" in w for w in warnings), log[-3000:]
    assert not any("chinese.ipynb" in w for w in warnings), warnings
    executed = (tmp_path / "_build" / "html" / "box.html").read_text()
    assert "Glyph 57344" in executed  # the reader would see the warning, not a silent box


def test_pages_ship_the_cjk_font_cut_to_the_book_s_characters(tmp_path):
    """book/_ext/course_book.py writes _static/fonts/course-cjk.otf with the pages' Chinese."""
    from fontTools.ttLib import TTFont

    (tmp_path / "_config.yml").write_text(yaml.safe_dump({
        "title": "t", "execute": {"execute_notebooks": "off"},
        "sphinx": {"local_extensions": {"course_book": str(ROOT / "book" / "_ext")}}}))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    (tmp_path / "page.md").write_text("# Page\n\nattention (注意力), 三万亿\n")
    run = subprocess.run([str(JUPYTER_BOOK), "build", str(tmp_path)], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    font = tmp_path / "_build" / "html" / "_static" / "fonts" / "course-cjk.otf"
    cmap = TTFont(font).getBestCmap()
    assert all(ord(c) in cmap for c in "注意力三万亿")
    assert ord("猫") not in cmap  # cut down to what the pages use
    assert font.stat().st_size < 200_000
