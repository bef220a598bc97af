"""``course-grade``: run exercise notebooks in a fresh kernel and print their points.

Usage::

    course-grade exercises/01_attention_essence.ipynb            # a table per notebook
    course-grade exercises/*.ipynb --json report.json --timeout 60
    course-grade --list                                           # every exercise id

The exit status is 0 whenever grading ran, whatever the score, so that scripts can tell
"graded, and failing" from "could not grade". It is 2 for usage errors: a missing file,
a file that is not a notebook, or a notebook naming an unknown exercise id. Nothing is
ever written to a graded notebook.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from course_lib.grading.registry import all_exercises
from course_lib.grading.runner import NotebookError, NotebookReport, find_exercise_ids, grade_notebook, read_notebook

__all__ = ["main", "format_report"]

USAGE_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course-grade",
        description="Execute exercise notebooks in a fresh kernel and grade every exercise in them. "
                    "The notebooks are never modified.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="exercise notebooks (.ipynb) to grade")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the full report as JSON to FILE")
    parser.add_argument("--list", action="store_true", help="list the exercise ids with their chapter and name")
    parser.add_argument("--timeout", metavar="S", type=float, default=30.0,
                        help="seconds each cell and each exercise's grading may run (default: 30)")
    return parser


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_report(report: NotebookReport) -> str:
    """The readable table ``course-grade`` prints for one notebook."""
    rows = [["exercise", "points", "max", "status", "hint"]]
    for e in report.exercises:
        rows.append([e.id, f"{e.points:g}", f"{e.max_points:g}", "PASS" if e.passed else "FAIL", e.message])
    lines = [f"{report.path}  ({report.seconds:.1f} s)"]
    lines += ["  " + line for line in _table(rows, right={1, 2})]
    lines.append(f"  total: {report.points:g} / {report.max_points:g} points")
    if report.problems:
        lines.append("  problems while running the notebook:")
        lines += [f"    - {p.message}" for p in report.problems]
    return "\n".join(lines)


def _list_exercises() -> str:
    rows = [["id", "chapter", "name"]]
    for exercise_id, ex in sorted(all_exercises().items(), key=lambda item: (item[1].chapter, item[0])):
        rows.append([exercise_id, ex.chapter or "-", ex.name])
    return "\n".join(_table(rows, right=set()))


def main(argv: list[str] | None = None) -> int:
    """Run ``course-grade`` with ``argv`` (default: the command line); return the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad option (2): return it, for callers of main()
        return int(exit_.code or 0)
    if args.list:
        print(_list_exercises())
        if not args.paths:
            return 0
    if not args.paths:
        parser.print_usage(sys.stderr)
        print("course-grade: error: give at least one notebook to grade, or --list", file=sys.stderr)
        return USAGE_ERROR
    if not args.timeout > 0:
        print(f"course-grade: error: --timeout {args.timeout:g}; expected a positive number of seconds",
              file=sys.stderr)
        return USAGE_ERROR
    # Check every path before running anything, so a typo fails fast instead of after a run.
    for path in args.paths:
        try:
            find_exercise_ids(read_notebook(path), path)
        except NotebookError as error:
            print(f"course-grade: error: {error}", file=sys.stderr)
            return USAGE_ERROR

    reports = []
    for path in args.paths:
        report = grade_notebook(path, timeout=args.timeout)
        reports.append(report)
        print(format_report(report), end="\n\n", flush=True)
    points, max_points = sum(r.points for r in reports), sum(r.max_points for r in reports)
    if len(reports) > 1:
        print(f"total over {len(reports)} notebooks: {points:g} / {max_points:g} points")
    if args.json is not None:
        document = {"notebooks": [r.to_dict() for r in reports], "points": points, "max_points": max_points}
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
