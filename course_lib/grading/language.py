"""The grader's language: which of English and Chinese ``check`` and ``course-grade`` speak.

Every verdict, hint, case title and mistake name of the grader is written in both languages,
``tr("English", "中文")`` (:mod:`course_lib.i18n`), and ``tr`` reads the ``COURSE_LANG``
environment variable each time it is called. So the one thing to get right is that variable,
in the process where the text is made:

- **course-grade** chooses the language before it starts anything (:func:`grader_language`:
  ``--lang``, else ``COURSE_LANG``, else the locale, ``LC_ALL`` / ``LC_MESSAGES`` / ``LANG``,
  Chinese where it starts with ``zh``; English otherwise) and exports it while it grades
  (:func:`graded_in`). Its workers and their kernels inherit the environment, so the table
  (made in the command), the runner's messages (the worker) and the hints (made by
  ``check`` in a copy of the kernel) all come out in that one language. It also exports
  ``COURSE_GRADE_LANG``, which tells a notebook that the command has chosen.
- **In a notebook**, ``check`` follows the notebook's language because the notebook says it:
  the setup cell of a Chinese exercise notebook (``exercises/zh/``, generated) calls
  ``set_language("zh")``, which sets ``COURSE_LANG`` in the kernel; an English notebook says
  nothing and gets the default, English. We chose an explicit call over the alternatives
  because a kernel does not know which notebook it runs (Jupyter, VS Code and nbclient each
  tell it differently, or not at all), so it cannot read the notebook's metadata; and the
  learner's own environment (a Chinese locale with an English notebook, say) should not
  decide the language of a notebook written in the other one. The call also makes the
  library's other printed text (figure titles, tables) Chinese in that notebook.
- When ``course-grade`` grades a Chinese notebook, its choice wins: ``set_language`` does
  nothing while ``COURSE_GRADE_LANG`` is set, so ``course-grade --lang en`` on a Chinese
  notebook prints English hints under English headers, never a mix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from course_lib.i18n import LANGUAGES, language

__all__ = ["set_language", "grader_language", "graded_in"]

_COURSE = "COURSE_LANG"
_CHOSEN = "COURSE_GRADE_LANG"  # set while course-grade grades: the command's choice wins
_LOCALE = ("LC_ALL", "LC_MESSAGES", "LANG")  # POSIX order: the first one set decides


def _checked(lang: str, name: str) -> str:
    if lang not in LANGUAGES:
        from course_lib._validate import fail  # here, not at the top: course-grade starts without torch

        raise fail(name, lang, f"one of {', '.join(LANGUAGES)}")
    return lang


def set_language(lang: str) -> str:
    """Make ``check`` (and the course's other text) speak ``lang`` in this process.

    Parameters
    ----------
    lang : str
        ``"en"`` or ``"zh"``.

    Returns
    -------
    str
        The language now in force: ``lang``, or the one ``course-grade`` chose when this
        runs in a notebook that the command is grading.
    """
    _checked(lang, "lang")
    if not os.environ.get(_CHOSEN):
        os.environ[_COURSE] = lang
    return language()


def grader_language(option: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Return the language ``course-grade`` prints in: ``option``, else ``COURSE_LANG``, else the locale.

    Parameters
    ----------
    option : str or None
        The ``--lang`` option (``"en"`` or ``"zh"``), or None when it was not given.
    environ : mapping or None
        The environment to read (default: ``os.environ``).

    Returns
    -------
    str
        ``"en"`` or ``"zh"``: Chinese where the locale (``LC_ALL``, else ``LC_MESSAGES``, else
        ``LANG``) starts with ``zh``, English for any other locale and when none is set.
    """
    env = os.environ if environ is None else environ
    if option is not None:
        return _checked(option, "lang")
    raw = env.get(_COURSE, "").strip()
    if raw:  # the course's own switch, read as course_lib.i18n reads it (zh_CN.UTF-8 is zh)
        return _checked(raw.split(".")[0].split("_")[0].split("-")[0].lower(), _COURSE)
    for variable in _LOCALE:
        value = env.get(variable, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


@contextmanager
def graded_in(lang: str) -> Iterator[None]:
    """Export ``lang`` (``COURSE_LANG`` and ``COURSE_GRADE_LANG``) for the body, then restore both.

    Parameters
    ----------
    lang : str
        ``"en"`` or ``"zh"``; the processes the body starts inherit it.
    """
    _checked(lang, "lang")
    saved = {name: os.environ.get(name) for name in (_COURSE, _CHOSEN)}
    os.environ[_COURSE] = os.environ[_CHOSEN] = lang
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
