"""Exercises and grading: ``check`` in a notebook, ``course-grade`` on the command line.

- :func:`check` grades one candidate against the hidden reference and prints a verdict;
  :func:`set_language` makes it speak Chinese (``set_language("zh")``, in the setup cell of
  a Chinese exercise notebook; :mod:`course_lib.grading.language`).
- ``course-grade PATH...`` runs whole notebooks in a fresh kernel and grades every exercise
  they contain (:mod:`course_lib.grading.runner`, :mod:`course_lib.grading.cli`).
- ``python -m course_lib.grading.exercises solutions exercises`` regenerates the exercise
  notebooks from the solutions (``make exercises``).
"""

from course_lib.grading.language import set_language
from course_lib.grading.registry import CheckResult, all_exercises, check, get

__all__ = ["CheckResult", "all_exercises", "check", "get", "set_language"]
