"""benchmarks/grading_heldout.py: how it loads the held-out variants and names a false verdict."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


def test_verdicts_and_summary(tmp_path, load_benchmark):
    bench = load_benchmark("grading_heldout")
    assert bench.verdict("correct", 5, 5) == "ok" and bench.verdict("correct", 4, 5) == "false negative"
    assert bench.verdict("wrong", 5, 5) == "false positive" and bench.verdict("wrong", 0, 5) == "ok"
    (tmp_path / "a.py").write_text("VARIANTS = [('x.f', 'correct', 'right', abs), ('x.f', 'wrong', 'off', len),\n"
                                   "            ('x.g', 'wrong', 'caught', min)]\n")
    variants = bench.load_variants(tmp_path)
    assert [v[:3] for v in variants] == [("a.py", "x.f", "correct"), ("a.py", "x.f", "wrong"), ("a.py", "x.g", "wrong")]
    points = {abs: 5, len: 5, min: 1}  # the wrong "off" one gets full marks: a false positive
    rows = bench.grade(variants, lambda i, c, quiet: SimpleNamespace(points=points[c], max_points=5,
                                                                     passed=points[c] == 5, message="m"))
    assert bench.summary(rows) == {"exercises": 2, "correct": 1, "false_negatives": 0, "wrong": 2,
                                   "false_positives": 1}
    (tmp_path / "b.py").write_text("VARIANTS = [('x.f', 'right', 'no such kind', abs)]\n")
    with pytest.raises(ValueError, match="kind='right'"):
        bench.load_variants(tmp_path)


def test_every_held_out_file_loads_and_names_known_exercises(load_benchmark):
    bench = load_benchmark("grading_heldout")
    from course_lib.grading import all_exercises

    variants = bench.load_variants(bench.HERE / "heldout")
    assert {v[1] for v in variants} == set(all_exercises())  # every exercise, no unknown id
    assert len(variants) >= 5 * len(all_exercises())
