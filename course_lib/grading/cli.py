"""``course-grade``: run exercise notebooks in a fresh kernel and print their points.

Usage::

    course-grade exercises/01_attention_essence.ipynb            # a table per notebook
    course-grade exercises/*.ipynb --json report.json --timeout 60
    course-grade --submissions class/ --csv grades.csv --jobs 2  # a class: one folder per student
    course-grade --list                                           # every exercise id
    course-grade exercises/zh/05_masking.ipynb --lang zh          # 中文: the table and the hints

Each notebook is graded in a worker process and a kernel of its own, ``--jobs`` at a time.
The exit status is 0 when every notebook was graded, whatever the score, so that scripts
can tell "graded, and failing" from "could not grade"; 1 when some notebook could not be
graded (missing, not a valid notebook, the grader failed: each is reported on its own and
the others are graded); 2 for usage errors, found before anything runs: a bad option, or a
``--json`` / ``--csv`` path that is a graded notebook, lies in the submissions folder or in
a folder that does not exist. Reports are written atomically, after every process the
notebooks started is gone. Nothing is ever written to a graded notebook.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import io
import json
import os
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from course_lib.grading import sandbox
from course_lib.grading.language import grader_language, graded_in
from course_lib.grading.runner import (MEMORY_LIMIT, ExerciseReport, NotebookError, NotebookReport, Problem,
                                       find_exercise_ids, forked_workers, grade_notebook, read_notebook)
from course_lib.i18n import LANGUAGES, tr

__all__ = ["main", "format_report"]

NOT_GRADED = 1
USAGE_ERROR = 2
CSV_COLUMNS = ["student", "notebook", "exercise", "points", "max_points", "status", "message"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course-grade",
        description="Execute exercise notebooks in a fresh kernel and grade every exercise in them. "
                    "The notebooks are never modified.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="exercise notebooks (.ipynb) to grade")
    parser.add_argument("--submissions", metavar="DIR", type=Path,
                        help="a class: DIR holds one folder (or one notebook) per student")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the full report as JSON to FILE")
    parser.add_argument("--csv", metavar="FILE", type=Path,
                        help="write one row per student and exercise, and a total per student, to FILE")
    parser.add_argument("--jobs", metavar="N", type=int, default=1, help="notebooks graded at once (default: 1)")
    parser.add_argument("--list", action="store_true", help="list the exercise ids with their chapter and name")
    parser.add_argument("--timeout", metavar="S", type=float, default=30.0,
                        help="seconds each cell and each exercise's grading may run (default: 30)")
    parser.add_argument("--memory", metavar="GB", type=float, default=MEMORY_LIMIT / (1 << 30),
                        help=f"memory each notebook's kernel may use (default: {MEMORY_LIMIT / (1 << 30):g})")
    parser.add_argument("--lang", choices=LANGUAGES,
                        help="the language of the table and the hints (default: COURSE_LANG, else the locale's: "
                             "zh where LC_ALL, LC_MESSAGES or LANG starts with zh, else en)")
    return parser


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        pads = [" " * (w - _width(c)) for c, w in zip(row, widths)]
        cells = [p + c if i in right else c + p for i, (c, p) in enumerate(zip(row, pads))]
        lines.append("  ".join(cells).rstrip())
    return lines


def _status(report: NotebookReport, e: ExerciseReport) -> str:
    return "ERROR" if not report.graded else "PASS" if e.passed else "FAIL"


def _shown(status: str) -> str:
    """A status as the table shows it, in the grader's language (CSV keeps PASS / FAIL / ERROR)."""
    return {"PASS": tr("PASS", "通过"), "FAIL": tr("FAIL", "未通过"), "ERROR": tr("ERROR", "出错")}[status]


def format_report(report: NotebookReport) -> str:
    """The readable table ``course-grade`` prints for one notebook."""
    lines = [f"{report.path}  ({report.seconds:.1f} s)" + ("" if report.graded else tr("  NOT GRADED", "  未评分"))]
    if report.exercises:
        rows = [[tr("exercise", "练习"), tr("points", "得分"), tr("max", "满分"), tr("status", "状态"),
                 tr("hint", "提示")]]
        for e in report.exercises:
            rows.append([e.id, f"{e.points:g}", f"{e.max_points:g}", _shown(_status(report, e)), e.message])
        lines += ["  " + line for line in _table(rows, right={1, 2})]
    lines.append(tr(f"  total: {report.points:g} / {report.max_points:g} points",
                    f"  总分：{report.points:g} / {report.max_points:g} 分"))
    if report.problems:
        lines.append(tr("  problems while running the notebook:", "  运行笔记本时的问题：") if report.graded
                     else tr("  why:", "  原因："))
        lines += [f"    - {p.message}" for p in report.problems]
    return "\n".join(lines)


def _list_exercises() -> str:
    from course_lib.grading.registry import all_exercises  # here: grading starts without importing torch

    rows = [["id", tr("chapter", "章"), tr("name", "名称")]]
    for exercise_id, ex in sorted(all_exercises().items(), key=lambda item: (item[1].chapter, item[0])):
        rows.append([exercise_id, ex.chapter or "-", ex.name])
    return "\n".join(_table(rows, right=set()))


# -- what to grade ------------------------------------------------------------------------------
@dataclass
class _Job:
    """One notebook to grade, and whose it is (the student; empty outside ``--submissions``)."""

    student: str
    path: Path


def _students(folder: Path) -> list[_Job]:
    """One job per notebook of each student: a sub-folder (its notebooks) or a notebook of ``folder``."""
    jobs = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            notebooks = sorted(p for p in entry.rglob("*.ipynb")
                               if not any(part.startswith(".") for part in p.relative_to(entry).parts))
            # A student without a notebook still gets a row: a missing path is reported as such.
            jobs += [_Job(entry.name, p) for p in notebooks] or [_Job(entry.name, entry / "(no notebook)")]
        elif entry.suffix == ".ipynb":
            jobs.append(_Job(entry.stem, entry))
    return jobs


def _output_problem(target: Path, inputs: list[Path], submissions: Path | None) -> str | None:
    """Why ``target`` may not receive a report, or None: checked before anything is graded."""
    resolved = target.resolve()
    if target.suffix == ".ipynb" or any(resolved == p.resolve() for p in inputs):
        return tr(f"{target} is a notebook; a report must not overwrite one", f"{target} 是笔记本；报告不得覆盖笔记本")
    if submissions is not None and resolved.is_relative_to(submissions.resolve()):
        return tr(f"{target} lies inside the submissions folder {submissions}",
                  f"{target} 位于提交文件夹 {submissions} 之内")
    if resolved.is_dir():
        return tr(f"{target} is a folder; expected a file name", f"{target} 是文件夹；应为文件名")
    if not resolved.parent.is_dir():
        return tr(f"the folder {target.parent} does not exist", f"文件夹 {target.parent} 不存在")
    return None


def _usage_error(args, parser) -> str | None:
    if not args.paths and args.submissions is None:
        parser.print_usage(sys.stderr)
        return tr("give at least one notebook to grade, --submissions DIR, or --list",
                  "请至少给出一个要评分的笔记本、--submissions DIR 或 --list")
    if args.paths and args.submissions is not None:
        return tr("give notebooks or --submissions DIR, not both", "请给出笔记本或 --submissions DIR，不要同时给出")
    if args.submissions is not None and not args.submissions.is_dir():
        return tr(f"--submissions {args.submissions}: no such folder", f"--submissions {args.submissions}：文件夹不存在")
    if args.submissions is not None and args.csv is None:
        return tr("--submissions needs --csv FILE (one row per student and exercise)",
                  "--submissions 需要 --csv FILE（每个学生的每道练习一行）")
    if not args.timeout > 0:
        return tr(f"--timeout {args.timeout:g}; expected a positive number of seconds",
                  f"--timeout {args.timeout:g}；应为正的秒数")
    if not args.jobs >= 1:
        return tr(f"--jobs {args.jobs}; expected a positive number", f"--jobs {args.jobs}；应为正数")
    if not args.memory > 0:
        return tr(f"--memory {args.memory:g}; expected a positive number of GB", f"--memory {args.memory:g}；应为正的 GB 数")
    if args.json is not None and args.csv is not None and args.json.resolve() == args.csv.resolve():
        return tr("--json and --csv name the same file", "--json 和 --csv 指向同一个文件")
    inputs = [Path(p) for p in args.paths]
    for option, target in (("--json", args.json), ("--csv", args.csv)):
        problem = target and _output_problem(target, inputs, args.submissions)
        if problem:
            return f"{option}: {problem}"
    return None


# -- grading ------------------------------------------------------------------------------------
def _expected_exercises(path: Path) -> list[ExerciseReport]:
    """The exercises a notebook named like a chapter holds, at 0 points: its row when it cannot be graded."""
    from course_lib.grading.registry import all_exercises, get

    try:
        ids = find_exercise_ids(read_notebook(path), path)
    except Exception:  # unreadable: its name may still say which chapter it is
        from course_lib.grading.runner import _CHAPTER

        match = _CHAPTER.match(path.name)
        ids = [i for i, ex in all_exercises().items() if match and ex.chapter == match.group(1)]
    return [ExerciseReport(i, get(i).name, 0.0, get(i).max_points, False, tr("not graded", "未评分")) for i in ids]


def _grade(job: _Job, args, hide: list[str]) -> NotebookReport:
    """Grade one notebook; whatever goes wrong costs only this notebook's report."""
    try:
        # Every notebook of the run is out of the kernel's sight: nobody copies a classmate's work.
        return grade_notebook(job.path, timeout=args.timeout, memory_limit=int(args.memory * (1 << 30)),
                              hide=hide)
    except Exception as error:  # NotebookError (a bad file), RuntimeError (the grader failed), anything
        message = str(error) if isinstance(error, (NotebookError, RuntimeError)) else f"{type(error).__name__}: {error}"
        return NotebookReport(str(job.path), _expected_exercises(job.path),
                              [Problem("not-graded", message)], graded=False)


def _grade_all(jobs: list[_Job], args, *, show) -> list[NotebookReport]:
    """Grade every job, ``args.jobs`` at a time, with a progress bar; reports in the order of ``jobs``."""
    reports: list[NotebookReport | None] = [None] * len(jobs)
    bar = tqdm(total=len(jobs), unit="notebook", desc="grading", file=sys.stderr,
               disable=len(jobs) < 2 and not sys.stderr.isatty())
    # More than one notebook: the workers are forked from one process that imported the grader once.
    shared = forked_workers() if len(jobs) > 1 else contextlib.nullcontext()
    folders = [job.path.parent for job in jobs] + ([args.submissions] if args.submissions is not None else [])
    hide = sorted({str(folder.resolve()) for folder in folders})
    with shared, concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(_grade, job, args, hide): n for n, job in enumerate(jobs)}
        for future in concurrent.futures.as_completed(futures):
            n = futures[future]
            reports[n] = future.result()
            show(jobs[n], reports[n], bar)
            bar.update()
    bar.close()
    return reports


# -- reports ------------------------------------------------------------------------------------
def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename it."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _csv_text(jobs: list[_Job], reports: list[NotebookReport]) -> str:
    """One row per student and exercise, then a TOTAL row per student."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    totals: dict[str, list[float]] = {}
    for job, report in zip(jobs, reports):
        notebook = job.path.name
        for e in report.exercises:
            writer.writerow([job.student, notebook, e.id, f"{e.points:g}", f"{e.max_points:g}",
                             _status(report, e), e.message])
        if not report.exercises:
            writer.writerow([job.student, notebook, "", "0", "0", "ERROR", "; ".join(p.message for p in report.problems)])
        total = totals.setdefault(job.student, [0.0, 0.0])
        total[0] += report.points
        total[1] += report.max_points
    for student, (points, max_points) in totals.items():
        writer.writerow([student, "", "TOTAL", f"{points:g}", f"{max_points:g}", "", ""])
    return out.getvalue()


def _json_text(jobs: list[_Job], reports: list[NotebookReport], by_student: bool) -> str:
    document: dict = {"notebooks": [], "points": sum(r.points for r in reports),
                      "max_points": sum(r.max_points for r in reports)}
    for job, report in zip(jobs, reports):
        d = report.to_dict()
        if by_student:
            d["student"] = job.student
        document["notebooks"].append(d)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run ``course-grade`` with ``argv`` (default: the command line); return the exit status.

    From the command line (``argv`` None) the command is also the subreaper of its workers'
    processes and kills any left before it writes a report.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad option (2): return it, for callers of main()
        return int(exit_.code or 0)
    try:
        lang = grader_language(args.lang)
    except ValueError as error:  # COURSE_LANG set to a language the course does not have
        print(tr(f"course-grade: error: {error}", f"course-grade：错误：{error}"), file=sys.stderr)
        return USAGE_ERROR
    with graded_in(lang):  # the workers and kernels inherit it: one language from table to hint
        return _main(args, parser, argv)


def _main(args, parser, argv: list[str] | None) -> int:
    """``main`` once the options are parsed and the language is exported."""
    if args.list:
        print(_list_exercises())
        if not args.paths and args.submissions is None:
            return 0
    problem = _usage_error(args, parser)
    if problem:
        print(tr(f"course-grade: error: {problem}", f"course-grade：错误：{problem}"), file=sys.stderr)
        return USAGE_ERROR
    reap = argv is None and sandbox.become_subreaper()
    by_student = args.submissions is not None
    jobs = _students(args.submissions) if by_student else [_Job("", Path(p)) for p in args.paths]

    def show(job: _Job, report: NotebookReport, bar) -> None:
        if by_student:
            bar.write(tr(f"{job.student}: {job.path.name}: {report.points:g} / {report.max_points:g} points",
                         f"{job.student}：{job.path.name}：{report.points:g} / {report.max_points:g} 分")
                      + ("" if report.graded else tr(" (NOT GRADED)", "（未评分）")), file=sys.stdout)
        else:
            bar.write(format_report(report) + "\n", file=sys.stdout)

    reports = _grade_all(jobs, args, show=show)
    if reap:  # a worker killed at its deadline may have left orphans with us
        sandbox.kill_descendants()
    points, max_points = sum(r.points for r in reports), sum(r.max_points for r in reports)
    if len(reports) > 1:
        print(tr(f"total over {len(reports)} notebooks: {points:g} / {max_points:g} points",
                 f"{len(reports)} 个笔记本合计：{points:g} / {max_points:g} 分"))
    unhidden = next((p for r in reports for p in r.problems if p.kind == "not-hidden"), None)
    if unhidden is not None:  # once, not once per notebook: it is the machine's, not a learner's
        print(tr(f"course-grade: warning: {unhidden.message}", f"course-grade：警告：{unhidden.message}"),
              file=sys.stderr)
    failed = [r.path for r in reports if not r.graded]
    if failed:
        print(tr(f"course-grade: {len(failed)} notebook(s) could not be graded: {', '.join(failed)}",
                 f"course-grade：{len(failed)} 个笔记本无法评分：{', '.join(failed)}"), file=sys.stderr)
    if args.csv is not None:
        _write_atomically(args.csv, _csv_text(jobs, reports))
    if args.json is not None:
        _write_atomically(args.json, _json_text(jobs, reports, by_student))
    return NOT_GRADED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
