"""False verdicts on learner-style solutions the grader was not written against.

``benchmarks/heldout/*.py`` each define ``VARIANTS``, a list of ``(exercise_id, "correct" |
"wrong", what it does, candidate)``. They were written from the exercise notebooks' task texts
alone, without reading ``solutions/``, the checks or ``tests/grading_variants/`` (issue 11).
Every variant is graded with ``check`` in this process:

- a correct one that loses a point is a **false negative**;
- a wrong one that gets full marks is a **false positive**.

Usage::

    python benchmarks/grading_heldout.py --out benchmarks/results/grading_heldout.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

HERE = Path(__file__).resolve().parent


def load_variants(folder: Path) -> list[tuple[str, str, str, str, object]]:
    """Every ``(file, exercise_id, kind, description, candidate)`` of the ``*.py`` files in ``folder``."""
    found = []
    for path in sorted(folder.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"heldout_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for exercise_id, kind, description, candidate in module.VARIANTS:
            if kind not in ("correct", "wrong"):
                raise ValueError(f"{path.name}: {exercise_id}: kind={kind!r}; expected 'correct' or 'wrong'")
            found.append((path.name, exercise_id, kind, description, candidate))
    return found


def verdict(kind: str, points: float, max_points: float) -> str:
    """"ok", "false negative" (a correct one lost points) or "false positive" (a wrong one got all)."""
    if kind == "correct":
        return "ok" if points == max_points else "false negative"
    return "false positive" if points == max_points else "ok"


def grade(variants, check) -> list[dict]:
    """Grade each variant with ``check(exercise_id, candidate, quiet=True)``; one row per variant."""
    rows = []
    for file, exercise_id, kind, description, candidate in tqdm(variants, unit="variant", file=sys.stderr):
        result = check(exercise_id, candidate, quiet=True)
        rows.append({"file": file, "exercise": exercise_id, "kind": kind, "variant": description,
                     "points": result.points, "max_points": result.max_points,
                     "verdict": verdict(kind, result.points, result.max_points),
                     "message": result.message if not result.passed else ""})
    return rows


def summary(rows: list[dict]) -> dict:
    counts = Counter((r["kind"], r["verdict"]) for r in rows)
    return {"exercises": len({r["exercise"] for r in rows}),
            "correct": sum(v for (k, _), v in counts.items() if k == "correct"),
            "false_negatives": counts[("correct", "false negative")],
            "wrong": sum(v for (k, _), v in counts.items() if k == "wrong"),
            "false_positives": counts[("wrong", "false positive")]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=Path, default=HERE / "heldout", help="folder of variant files")
    parser.add_argument("--out", type=Path, help="write the rows and the summary here (JSON)")
    args = parser.parse_args(argv)
    from course_lib.grading import check

    rows = grade(load_variants(args.variants), check)
    result = {"summary": summary(rows), "false": [r for r in rows if r["verdict"] != "ok"], "rows": rows}
    print(json.dumps(result["summary"]))
    for row in result["false"]:
        print(f"{row['verdict']}: {row['exercise']} ({row['variant']}): {row['points']:g}/{row['max_points']:g}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
