"""The exercise notebooks carry nbgrader's cell metadata, valid by nbgrader's own validator.

``course_lib.grading.exercises`` writes the metadata when it generates exercises/ from
solutions/ (the drift test in test_grading.py checks that exercises/ is up to date).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import get
from course_lib.grading.exercises import NBGRADER_SCHEMA, strip_solutions

nbgraderformat = pytest.importorskip("nbgrader.nbgraderformat")

ROOT = Path(__file__).resolve().parents[1]
# The Chinese ones (exercises/zh/, generated from solutions/zh/*.md) carry the same metadata.
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb")) + sorted((ROOT / "exercises" / "zh").glob("*.ipynb"))
CHECK = re.compile(r"""^\s*check\(\s*["']([\w.]+)["']""", re.MULTILINE)


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("path", EXERCISES, ids=[p.relative_to(ROOT / "exercises").as_posix() for p in EXERCISES])
def test_nbgrader_validates_the_exercise_notebook(path):
    nb = nbformat.read(path, as_version=4)
    nbgraderformat.MetadataValidator().validate_nb(nb)  # raises ValidationError on a bad cell
    graded = {}
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type == "markdown":
            assert meta.get("locked") and not meta.get("solution") and not meta.get("grade"), cell.source[:60]
        if cell.cell_type == "code" and "YOUR CODE HERE" in cell.source:
            assert meta.get("solution") and not meta.get("locked") and not meta.get("grade"), cell.source[:60]
        ids = CHECK.findall(cell.source) if cell.cell_type == "code" else []
        if ids:
            assert meta["grade"] and meta["locked"] and not meta["solution"]
            graded[ids[0]] = meta["points"]
        if meta:
            assert meta["schema_version"] == NBGRADER_SCHEMA == 3
    assert graded == {i: get(i).max_points for i in nb.metadata["course"]["exercises"]}


def test_the_metadata_is_regenerated_not_kept():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## task", metadata={"nbgrader": {"grade": True}}),
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell('check("masks.causal_mask", f)'),
        nbformat.v4.new_code_cell("print(f())"),
    ])
    out = strip_solutions(nb)
    task, solution, check, free = (_meta(c) for c in out.cells)
    assert task == {"grade": False, "grade_id": f"task_{nb.cells[0].id}", "locked": True,
                    "schema_version": 3, "solution": False}
    assert solution["solution"] and solution["grade_id"] == "masks_causal_mask_solution"
    assert check["grade"] and check["points"] == get("masks.causal_mask").max_points
    assert free == {}
    nbgraderformat.MetadataValidator().validate_nb(out)
