"""Exercises and grading: ``check`` in a notebook, ``course-grade`` on the command line.

- :func:`check` grades one candidate against the hidden reference and prints a verdict;
  :func:`set_language` makes it speak Chinese (``set_language("zh")``, in the setup cell of
  a Chinese exercise notebook; :mod:`course_lib.grading.language`).
- ``course-grade PATH...`` runs whole notebooks in a fresh kernel and grades every exercise
  they contain (:mod:`course_lib.grading.runner`, :mod:`course_lib.grading.cli`).
- ``python -m course_lib.grading.exercises solutions exercises`` regenerates the exercise
  notebooks from the solutions (``make exercises``).

The names below are loaded on first use (PEP 562): ``course-grade`` imports this package and
starts its worker without importing torch, which the registry needs (2-3 s of a grading).
"""

from __future__ import annotations

import importlib

__all__ = ["CheckResult", "all_exercises", "check", "get", "set_language"]

_HOME = {"CheckResult": "registry", "all_exercises": "registry", "check": "registry", "get": "registry",
         "set_language": "language"}


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
        globals()[name] = value  # found once; later lookups do not come here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
