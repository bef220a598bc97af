"""Sphinx extension for the course book: the built pages load nothing from the network.

- MyST-NB embeds the saved ipywidgets state of an executed notebook in its page, with
  require.js and the widget manager from CDNs (``nb_ipywidgets_js``, emptied in _config.yml).
  The chapters remove widget outputs (tag ``remove-output``) and show a static equivalent, so
  the state is a dead blob of JSON: it is dropped from every page.
- jupyter-book always loads sphinx-thebe, which adds (twice: a console error) a script naming
  thebe on unpkg.com and a Binder configuration to every page. The book has no launch
  buttons, so both are removed.
- The pages' Chinese is drawn with the font the figures use (Noto Sans CJK SC, from
  ``mplfonts``), cut down to the characters the book contains and shipped in
  ``_static/fonts/course-cjk.otf`` (course.css: ``@font-face``), so a reader, a printout and
  ``make check-book`` see 注意力 without a system CJK font or a web font service.
- Two editions, one site: the English book at the root, the Chinese one (built from
  ``tools/i18n.py site``, config value ``course_edition = "zh"``) under ``zh/`` with the same
  file names. Every page links to its twin at the top of the article (``a.course-twin``) and
  names it in ``<link rel="alternate" hreflang>``.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)


def drop_widget_state(app, env) -> None:
    """Remove MyST-NB's per-page ipywidgets scripts (state and loaders) before pages are written."""
    dropped = 0
    for data in getattr(env, "nb_metadata", {}).values():
        js_files = data.get("js_files", {})
        for key in [k for k in js_files if k.startswith("ipywidgets")]:
            del js_files[key]
            dropped += 1
    if dropped:
        logger.info(f"course_book: dropped {dropped} ipywidgets script(s) from the pages")


def is_thebe(asset) -> bool:
    """A script or style sheet that sphinx-thebe added."""
    name = str(getattr(asset, "filename", asset) or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "sphinx-thebe" in name or "THEBE_JS_URL" in body


def drop_thebe_assets(app, pagename, templatename, context, doctree) -> None:
    """Take sphinx-thebe's scripts and style sheet out of the page."""
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not is_thebe(a)]


def drop_thebe_config(app, doctree, docname) -> None:
    """Remove the ``text/x-thebe-config`` block (a Binder repository) from the page."""
    for node in list(doctree.findall(nodes.raw)):
        text = node.astext()
        if "text/x-thebe-config" in text or text.startswith("<script>kernelName ="):
            node.parent.remove(node)


# CJK punctuation, ideographs and full-width forms: what the system fonts may lack.
CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")


def ship_cjk_font(app, exc) -> None:
    """Write ``_static/fonts/course-cjk.otf``: the CJK font subset to the book's characters."""
    if exc is not None or app.builder.format != "html":
        return
    try:
        import mplfonts
        from fontTools import subset
    except ImportError:
        logger.info("course_book: mplfonts or fontTools missing; Chinese uses the system font")
        return
    out = Path(app.outdir)
    chars = set()
    for page in out.rglob("*.html"):
        chars.update(CJK.findall(page.read_text(encoding="utf-8", errors="ignore")))
    source = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    target = out / "_static" / "fonts" / "course-cjk.otf"
    target.parent.mkdir(parents=True, exist_ok=True)
    options = subset.Options()
    options.layout_features = ["*"]
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(chars)) or "\u6ce8")
    subsetter.subset(font)
    subset.save_font(font, str(target), options)
    logger.info(f"course_book: {len(chars)} CJK characters -> {target.name} "
                f"({target.stat().st_size // 1024} KiB)")


# Each edition's twin: (its language, the link's text, the path from one site root to the other).
TWINS = {"en": ("zh", "中文版", "zh/"), "zh": ("en", "English", "../")}


def twin_href(pagename: str, edition: str) -> str:
    """The relative URL of a page's twin in the other edition (same file name)."""
    up = "../" * pagename.count("/")
    return up + TWINS[edition][2] + pagename + ".html"


def link_twin(app, pagename, templatename, context, doctree) -> None:
    """Put the link to the page's twin at the top of a book page (not on search or the index)."""
    if doctree is None or "body" not in context:
        return
    edition = app.config.course_edition
    lang, text, _ = TWINS[edition]
    href = twin_href(pagename, edition)
    context["body"] = (f'<p class="course-twin"><a class="course-twin" href="{href}" '
                       f'hreflang="{lang}" lang="{lang}">{text}</a></p>\n' + context["body"])
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="alternate" hreflang="{lang}" href="{href}" />')


def setup(app):
    app.add_config_value("course_edition", "en", "html")
    app.connect("html-page-context", link_twin)
    app.connect("build-finished", ship_cjk_font)
    app.connect("env-updated", drop_widget_state)
    app.connect("html-page-context", drop_thebe_assets, priority=900)
    app.connect("doctree-resolved", drop_thebe_config, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
