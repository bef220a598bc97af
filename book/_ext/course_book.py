"""Sphinx extension for the course book: the built pages load nothing from the network.

- MyST-NB embeds the saved ipywidgets state of an executed notebook in its page, with
  require.js and the widget manager from CDNs (``nb_ipywidgets_js``, emptied in _config.yml).
  The chapters remove widget outputs (tag ``remove-output``) and show a static equivalent, so
  the state is a dead blob of JSON: it is dropped from every page.
- jupyter-book always loads sphinx-thebe, which adds (twice: a console error) a script naming
  thebe on unpkg.com and a Binder configuration to every page. The book has no launch
  buttons, so both are removed.
"""

from __future__ import annotations

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


def setup(app):
    app.connect("env-updated", drop_widget_state)
    app.connect("html-page-context", drop_thebe_assets, priority=900)
    app.connect("doctree-resolved", drop_thebe_config, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
