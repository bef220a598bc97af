"""benchmarks/grading.py: its bookkeeping, with a stand-in for course-grade (no kernel started).

The real command is timed by the benchmark itself (results in benchmarks/RESULTS.md); here a
fake ``run`` writes the report course-grade would, so that the test checks what the script
promises: it refuses a notebook without full marks, builds one folder per student, reads the
class's CSV and tables the targets.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest


def _fake_course_grade(points: float = 5.0, wall: float = 3.0):
    calls = []

    def run(args: list[str], cwd: Path) -> float:
        calls.append(args)
        if args[0] == "--submissions":
            students = sorted(p.name for p in Path(args[1]).iterdir())
            with open(args[args.index("--csv") + 1], "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["student", "notebook", "exercise", "points", "max_points", "status", "message"])
                for s in students:
                    writer.writerow([s, "x.ipynb", "masks.causal_mask", points, 5, "PASS", ""])
                    writer.writerow([s, "", "TOTAL", points, 5, "", ""])
        else:
            report = {"notebooks": [{"points": points, "max_points": 5.0, "seconds": wall / 2,
                                     "exercises": [{}, {}]}]}
            Path(args[args.index("--json") + 1]).write_text(json.dumps(report), encoding="utf-8")
        return wall
    return run, calls


def test_one_notebook_is_timed_and_must_score_full_marks(tmp_path, load_benchmark):
    bench = load_benchmark("grading")
    run, calls = _fake_course_grade()
    row = bench.grade_one(Path("solutions/05_masking.ipynb"), tmp_path, run)
    assert row == {"notebook": "05_masking.ipynb", "wall_s": 3.0, "report_s": 1.5, "points": 5.0, "exercises": 2}
    assert calls[0][0] == "solutions/05_masking.ipynb" and "--json" in calls[0]
    with pytest.raises(RuntimeError, match="not full marks"):
        bench.grade_one(Path("05_masking.ipynb"), tmp_path, _fake_course_grade(points=4.0)[0])


def test_a_class_is_one_folder_per_student_and_all_must_pass(tmp_path, load_benchmark):
    bench = load_benchmark("grading")
    notebook = tmp_path / "10_transformer.ipynb"
    notebook.write_text("{}", encoding="utf-8")
    run, calls = _fake_course_grade(wall=60.0)
    row = bench.grade_class(notebook, 30, 2, tmp_path / "a", run)
    assert row == {"notebook": "10_transformer.ipynb", "students": 30, "jobs": 2, "wall_s": 60.0,
                   "per_student_s": 2.0}
    folders = sorted((tmp_path / "a" / "class").iterdir())
    assert len(folders) == 30 and all((f / notebook.name).read_text() == "{}" for f in folders)
    assert calls[0][-2:] == ["--jobs", "2"]
    with pytest.raises(RuntimeError, match="full marks"):
        bench.grade_class(notebook, 3, 1, tmp_path / "b", _fake_course_grade(points=0.0)[0])


def test_the_table_marks_a_missed_target(load_benchmark):
    bench = load_benchmark("grading")
    singles = [{"notebook": "a.ipynb", "exercises": 3, "wall_s": 4.0, "report_s": 2.0},
               {"notebook": "b.ipynb", "exercises": 1, "wall_s": 12.5, "report_s": 9.0}]
    klass = {"notebook": "a.ipynb", "students": 30, "jobs": 2, "wall_s": 200.0, "per_student_s": 6.7}
    rows = bench.table(singles, klass)
    assert "| `a.ipynb` | 3 | 4.0 | 2.0 | yes |" in rows
    assert "| `b.ipynb` | 1 | 12.5 | 9.0 | **no** |" in rows
    assert rows[-1] == "| `a.ipynb` | 30 | 2 | 200.0 | 6.7 | **no** |"


def test_bad_arguments_are_refused_before_any_grading(load_benchmark, capsys):
    bench = load_benchmark("grading")
    with pytest.raises(SystemExit):
        bench.main(["--class-notebook", "99_nothing.ipynb"])
    assert "no solutions/99_nothing.ipynb" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--jobs", "0"])
