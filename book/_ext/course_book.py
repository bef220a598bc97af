"""Sphinx extension for the course book: the built pages load nothing from the network.

MyST-NB embeds the saved ipywidgets state of an executed notebook in its page, together with
require.js and the widget manager from CDNs (``nb_ipywidgets_js``, emptied in _config.yml).
The chapters remove widget outputs (tag ``remove-output``) and show a static equivalent, so
the state only adds a dead blob of JSON: this extension drops it from every page.
"""

from __future__ import annotations

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


def setup(app):
    app.connect("env-updated", drop_widget_state)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
