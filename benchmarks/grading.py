"""How long ``course-grade`` takes: each solution notebook on its own, and a class of 30.

Grades every notebook of ``solutions/`` with the ``course-grade`` command, one at a time, as
a learner would, and records the wall time of the whole command (start-up, the kernel, the
notebook's cells, the grading on the proxy, the report) next to the time the report gives
for the notebook itself. Then it grades a class: ``--class-size`` copies of one solution
notebook, one folder per student, with ``course-grade --submissions DIR --csv FILE --jobs
N``. Every notebook must score full marks, or the script stops: a fast wrong grade is not a
result.

Usage::

    python benchmarks/grading.py                     # every chapter, then a class of 30 (minutes)
    python benchmarks/grading.py --quick             # one notebook and a class of 2 (a smoke run)
    python benchmarks/grading.py --class-notebook 10_transformer.ipynb --jobs 2

The targets (issue 11): one notebook under 10 s, a class of 30 under 3 minutes on 2 cores.
Record figures from a quiet machine: the header gives the load average.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:  # benchmarks/ is a folder of scripts, not a package: find _common
    sys.path.insert(0, str(HERE))
from _common import header_lines  # noqa: E402

TARGET_ONE_S, TARGET_CLASS_S = 10.0, 180.0  # issue 11's speed targets


def course_grade(args: list[str], cwd: Path) -> float:
    """Run ``course-grade ARGS`` in ``cwd`` and return its wall time; raise on a non-zero exit."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "course_lib.grading.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, "COURSE_LANG": "en"})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"course-grade {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return wall


def grade_one(path: Path, work: Path, run: Callable[[list[str], Path], float] = course_grade) -> dict:
    """Grade one notebook; its wall time, the report's own time, and its points (must be full)."""
    report = work / f"{path.stem}.json"
    wall = run([str(path), "--json", str(report)], work)
    (notebook,) = json.loads(report.read_text(encoding="utf-8"))["notebooks"]
    if notebook["points"] != notebook["max_points"]:
        raise RuntimeError(f"{path.name}: {notebook['points']} / {notebook['max_points']}, not full marks")
    return {"notebook": path.name, "wall_s": round(wall, 2), "report_s": notebook["seconds"],
            "points": notebook["points"], "exercises": len(notebook["exercises"])}


def grade_class(path: Path, size: int, jobs: int, work: Path,
                run: Callable[[list[str], Path], float] = course_grade) -> dict:
    """Grade ``size`` students who each handed in a copy of ``path``, ``jobs`` at a time."""
    submissions = work / "class"
    for n in range(1, size + 1):
        folder = submissions / f"student{n:02d}"
        folder.mkdir(parents=True)
        shutil.copy(path, folder / path.name)
    grades = work / "grades.csv"
    wall = run(["--submissions", str(submissions), "--csv", str(grades), "--jobs", str(jobs)], work)
    with grades.open(encoding="utf-8") as handle:
        totals = [row for row in csv.DictReader(handle) if row["exercise"] == "TOTAL"]
    if len(totals) != size or any(float(r["points"]) != float(r["max_points"]) for r in totals):
        raise RuntimeError(f"the class of {size} did not all get full marks: {totals}")
    return {"notebook": path.name, "students": size, "jobs": jobs, "wall_s": round(wall, 2),
            "per_student_s": round(wall / size, 2)}


def table(singles: list[dict], klass: dict) -> list[str]:
    """Markdown: one row per notebook, then the class."""
    rows = ["| notebook | exercises | course-grade wall (s) | report's time (s) | under 10 s |",
            "|---|---:|---:|---:|:---:|"]
    for r in singles:
        rows.append(f"| `{r['notebook']}` | {r['exercises']} | {r['wall_s']:.1f} | {r['report_s']:.1f} "
                    f"| {'yes' if r['wall_s'] < TARGET_ONE_S else '**no**'} |")
    rows += ["", "| class | students | jobs | wall (s) | per student (s) | under 3 min |",
             "|---|---:|---:|---:|---:|:---:|",
             f"| `{klass['notebook']}` | {klass['students']} | {klass['jobs']} | {klass['wall_s']:.1f} "
             f"| {klass['per_student_s']:.1f} | {'yes' if klass['wall_s'] < TARGET_CLASS_S else '**no**'} |"]
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one notebook and a class of 2: a smoke run")
    parser.add_argument("--class-notebook", default="10_transformer.ipynb",
                        help="the solution notebook every student of the class hands in")
    parser.add_argument("--class-size", type=int, default=30, help="students in the class")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="course-grade --jobs for the class")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.class_size < 1 or args.jobs < 1:
        parser.error(f"--class-size and --jobs must be at least 1, got {args.class_size} and {args.jobs}")
    notebooks = sorted((ROOT / "solutions").glob("*.ipynb"))
    by_name = {p.name: p for p in notebooks}
    if args.class_notebook not in by_name:
        parser.error(f"--class-notebook: no solutions/{args.class_notebook}; one of {', '.join(by_name)}")
    if args.quick:
        notebooks, args.class_size = notebooks[:1], min(args.class_size, 2)
    print("\n".join(header_lines()))
    singles = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        for i, path in enumerate(notebooks, 1):
            singles.append(grade_one(path, Path(tmp)))
            print(f"[{i}/{len(notebooks)}] {path.name}: {singles[-1]['wall_s']:.1f} s", file=sys.stderr)
        klass = grade_class(by_name[args.class_notebook], args.class_size, args.jobs, Path(tmp))
    print("\n".join(table(singles, klass)))
    result = {"environment": header_lines(), "notebooks": singles, "class": klass}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
