"""The language a chapter prints and draws in: English by default, Chinese for the 中文版.

The book's code is one source for both editions: a chapter's code cell is the same in the
English and the Chinese page, and a string the reader sees (a figure's title, a printed
sentence, a table's header) is written in both languages where it is made,
``tr("Attention weight", "注意力权重")``. Which one comes back is read from the
``COURSE_LANG`` environment variable, which the Chinese build sets to ``zh``.
"""

from __future__ import annotations

import os

__all__ = ["LANGUAGES", "language", "tr"]

LANGUAGES = ("en", "zh")
"""The course's languages: ``"en"`` (the default) and ``"zh"`` (简体中文)."""

_ENV = "COURSE_LANG"


def language() -> str:
    """Return the language the course prints in: the ``COURSE_LANG`` variable, ``"en"`` unset.

    Returns
    -------
    str
        ``"en"`` or ``"zh"``. A region suffix is accepted (``zh_CN.UTF-8`` reads as ``"zh"``),
        so a locale string can be passed through.
    """
    raw = os.environ.get(_ENV, "").strip()
    if not raw:
        return "en"
    code = raw.split(".")[0].split("_")[0].split("-")[0].lower()
    if code not in LANGUAGES:
        from course_lib._validate import fail  # here, not at the top: course-grade starts without torch

        raise fail(_ENV, raw, f"one of {', '.join(LANGUAGES)} (unset means en)")
    return code


def tr(en: str, zh: str) -> str:
    """Return the text in the course's current language: ``en`` or its Chinese twin ``zh``.

    Parameters
    ----------
    en : str
        The English text.
    zh : str
        The same text in Chinese. Both are written where the text is made, so neither edition
        can miss a string and a test can check every pair (same ``{fields}`` in both).

    Returns
    -------
    str
        ``zh`` when :func:`language` is ``"zh"``, else ``en``.
    """
    for name, value in (("en", en), ("zh", zh)):
        if not isinstance(value, str):
            from course_lib._validate import fail

            raise fail(name, value, "a str")
    return zh if language() == "zh" else en
