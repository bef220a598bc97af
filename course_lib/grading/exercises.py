"""Regenerate the exercise notebooks from the solution notebooks (``make exercises``).

Usage::

    python -m course_lib.grading.exercises solutions exercises          # rewrite exercises/
    python -m course_lib.grading.exercises solutions exercises --check  # exit 1 if stale

In each code cell of ``solutions/NN_slug.ipynb``, every block of lines from a line
``### BEGIN SOLUTION`` to a line ``### END SOLUTION`` (markers included) becomes::

    # YOUR CODE HERE
    raise NotImplementedError

at the indentation of the ``### BEGIN SOLUTION`` line. Outputs and execution counts are
cleared; notebook and cell metadata (``course.exercises``, tags, cell ids) are kept, and
every cell gets nbgrader's metadata (schema version 3): solution cells ``solution: true``,
``check(...)`` cells ``grade: true, locked: true`` with the registry's points, markdown
cells ``locked: true``, so a teacher can import the notebooks into an nbgrader course. The
result is written to ``exercises/NN_slug.ipynb``, byte for byte the same on every run.

The Chinese exercises: a solution notebook with a translation table ``solutions/zh/NN_slug.md``
(written and checked with ``tools/i18n.py``, like the book's pages) also gives
``exercises/zh/NN_slug.ipynb``: its text cells in Chinese, its code the English notebook's,
stripped the same way, with the same nbgrader metadata, and one line added to the setup
cell, ``set_language("zh")``, so that ``check`` prints its verdicts in Chinese there
(:mod:`course_lib.grading.language` says why the notebook declares its language).
``course-grade`` grades it exactly as the English one: the registry goes by the file name.
The same table gives the Chinese solution notebook, ``solutions/zh/NN_slug.ipynb`` (the
English solution's code with that one line added, and the Chinese text), for a teacher who
reads Chinese; it is generated, like the exercises, and never edited by hand.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import nbjson

__all__ = ["BEGIN", "END", "strip_solutions", "chinese_solution", "chinese_exercise", "render", "regenerate",
           "main"]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
PLACEHOLDER = ("# YOUR CODE HERE", "raise NotImplementedError")
NBGRADER_SCHEMA = 3  # nbgrader's cell-metadata schema version
ZH = "zh"  # the Chinese edition: tables in solutions/zh/*.md, notebooks in exercises/zh/
SETUP_IMPORT = "from course_lib.grading import check"
SETUP_CHINESE = 'set_language("zh")  # check() 的结论和提示用中文'


def _strip_source(source: str, where: str) -> str:
    lines = source.split("\n")
    out: list[str] = []
    begin_line: int | None = None
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == BEGIN:
            if begin_line is not None:
                raise ValueError(f"{where}: line {number}: {BEGIN!r} inside the block opened on line {begin_line}")
            begin_line = number
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + text for text in PLACEHOLDER]
        elif marker == END:
            if begin_line is None:
                raise ValueError(f"{where}: line {number}: {END!r} without a {BEGIN!r} before it")
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise ValueError(f"{where}: line {begin_line}: {BEGIN!r} is never closed by {END!r}")
    return "\n".join(out)


def strip_solutions(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return a copy of ``nb`` with every solution block replaced by a placeholder.

    Parameters
    ----------
    nb : NotebookNode
        A solution notebook (nbformat 4).
    name : str
        How error messages name the notebook, e.g. its path.

    Returns
    -------
    NotebookNode
        The exercise notebook: solution blocks replaced, outputs and execution counts cleared.

    Raises
    ------
    ValueError
        A marker is unbalanced; the message names the notebook, the cell and the line.
    """
    nb = copy.deepcopy(nb)
    solution_cells = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        stripped = _strip_source(cell.source, f"{name}: cell {index}")
        if stripped != cell.source:
            solution_cells.add(index)
        cell.source = stripped
        cell.outputs = []
        cell.execution_count = None
    _mark_for_nbgrader(nb, solution_cells)
    return nb


_CHECK_CALL = re.compile(r"""^\s*check\(\s*["']([\w.]+)["']""", re.MULTILINE)


def _nbgrader(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
              points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": NBGRADER_SCHEMA,
            "solution": solution}
    if grade:
        meta["points"] = points
    return meta


def _mark_for_nbgrader(nb: nbformat.NotebookNode, solution_cells: set[int]) -> None:
    """Give the cells nbgrader's metadata (schema 3), so a teacher can import the notebook into nbgrader.

    A cell with a solution block is a solution cell; a cell calling ``check("id", ...)`` is an
    autograded test cell, locked, worth the registry's points for ``id``; markdown cells (the
    task texts) are locked; other code cells (imports, "try it") stay free.
    """
    from course_lib.grading.registry import get  # the registry imports torch: only when generating

    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("nbgrader", None)
        checked = _CHECK_CALL.findall(cell.source) if cell.cell_type == "code" else []
        if index in solution_cells:
            following = [_CHECK_CALL.findall(c.source) for c in nb.cells[index + 1:] if c.cell_type == "code"]
            ids = next((found for found in following if found), [])
            label = ids[0].replace(".", "_") if ids else f"cell_{index}"
            cell.metadata["nbgrader"] = _nbgrader(f"{label}_solution", solution=True)
        elif len(checked) == 1:
            exercise_id = checked[0]
            cell.metadata["nbgrader"] = _nbgrader(f"{exercise_id.replace('.', '_')}_check", grade=True,
                                                  locked=True, points=get(exercise_id).max_points)
        elif cell.cell_type == "markdown":
            cell.metadata["nbgrader"] = _nbgrader(f"task_{cell.get('id', index)}", locked=True)


def render(nb: nbformat.NotebookNode) -> str:
    """The exact text ``nbformat.write`` puts in a file, trailing newline included."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _read(path: Path) -> nbformat.NotebookNode:
    try:
        # Not nbformat.read: it gives random ids to cells without one, and the output must not vary.
        nb = nbjson.reads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not a valid notebook ({error})") from None
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        for index, cell in enumerate(nb.cells):
            cell.setdefault("id", f"cell-{index}")
    return nb


def _i18n():
    """``tools/i18n.py``, the reader of translation tables (a repository tool, loaded when a table exists)."""
    name = "course_i18n_tables"
    if name not in sys.modules:  # registered first: its dataclasses look their module up there
        path = Path(__file__).resolve().parents[2] / "tools" / "i18n.py"
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def chinese_solution(nb: nbformat.NotebookNode, table: Path, name: str = "notebook") -> nbformat.NotebookNode:
    """The Chinese solution notebook: ``nb``'s text cells from ``table``, its code ``nb``'s.

    Parameters
    ----------
    nb : NotebookNode
        A solution notebook.
    table : Path
        Its translation table (``solutions/zh/NN_slug.md``, see ``tools/i18n.py``).
    name : str
        How error messages name the notebook.

    Returns
    -------
    NotebookNode
        The solution in Chinese, with ``metadata.course_language = "zh"`` and a setup cell
        that also calls ``set_language("zh")``; every other code cell is ``nb``'s, unchanged.

    Raises
    ------
    ValueError
        No code cell imports ``check`` as ``from course_lib.grading import check``.
    """
    i18n = _i18n()
    out = nbformat.from_dict(i18n.translate_notebook(nb, i18n.parse_table(table), ZH))
    for cell in out.cells:  # the tool writes a cell's lines as a list; nbformat's own form is one string
        cell.source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
    for cell in out.cells:
        lines = cell.source.split("\n") if cell.cell_type == "code" else []
        if SETUP_IMPORT in lines:
            lines[lines.index(SETUP_IMPORT)] = SETUP_IMPORT + ", set_language"
            cell.source = "\n".join(lines + ["", SETUP_CHINESE])
            return out
    raise ValueError(f"{name}: no code cell has the line {SETUP_IMPORT!r} (the setup cell)")


def chinese_exercise(nb: nbformat.NotebookNode, table: Path, name: str = "notebook") -> nbformat.NotebookNode:
    """The Chinese exercise notebook: :func:`chinese_solution`, then :func:`strip_solutions`.

    Takes the arguments of :func:`chinese_solution` and raises what it raises; returns the
    exercise in Chinese, solutions stripped, with nbgrader's metadata.
    """
    return strip_solutions(chinese_solution(nb, table, name), name)


def _generated(solutions: Path, exercises: Path) -> dict[Path, str]:
    """Every notebook ``solutions`` gives (exercises, Chinese exercises, Chinese solutions), by path: its text."""
    out = {}
    for source in sorted(solutions.glob("*.ipynb")):
        nb = _read(source)
        out[exercises / source.name] = render(strip_solutions(nb, str(source)))
        table = solutions / ZH / (source.stem + ".md")
        if table.is_file():
            out[exercises / ZH / source.name] = render(chinese_exercise(nb, table, str(source)))
            out[solutions / ZH / source.name] = render(chinese_solution(nb, table, str(source)))
    return out


def regenerate(solutions: Path, exercises: Path, *, check: bool = False) -> list[Path]:
    """Write (or, with ``check``, compare) ``exercises/X.ipynb`` for each ``solutions/X.ipynb``.

    With a translation table ``solutions/zh/X.md`` it also writes ``exercises/zh/X.ipynb``
    (:func:`chinese_exercise`) and ``solutions/zh/X.ipynb`` (:func:`chinese_solution`).
    Returns the paths of the generated notebooks that were out of date (written, or with
    ``check``, that would be), including stale ones whose solution or table no longer
    exists (removed: only ``.ipynb`` files in the generated folders, never a table).
    """
    solutions, exercises = Path(solutions), Path(exercises)
    if not solutions.is_dir():
        raise ValueError(f"{solutions}: not a directory of solution notebooks")
    if not check:
        exercises.mkdir(parents=True, exist_ok=True)
    changed = []
    wanted = _generated(solutions, exercises)
    for target, text in wanted.items():
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue  # unchanged: keep its mtime too
        changed.append(target)
        if not check:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text, encoding="utf-8")
    for folder in (exercises, exercises / ZH, solutions / ZH):
        for stale in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
            if stale not in wanted:  # generated from a solution (or a table) that is gone
                changed.append(stale)
                if not check:
                    stale.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading.exercises",
        description="Regenerate exercise notebooks from solution notebooks by stripping the "
                    f"blocks between {BEGIN!r} and {END!r}.",
    )
    parser.add_argument("solutions", type=Path, help="folder of solution notebooks")
    parser.add_argument("exercises", type=Path, help="folder of exercise notebooks to (re)write")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the exercise notebooks differ from a fresh regeneration")
    args = parser.parse_args(argv)
    try:
        changed = regenerate(args.solutions, args.exercises, check=args.check)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        for name in changed:
            print(f"{name} differs from a fresh regeneration of {args.solutions}", file=sys.stderr)
        if changed:
            print("run `make exercises` to regenerate them", file=sys.stderr)
        return 1 if changed else 0
    for name in changed:
        print(f"wrote {name}" if name.exists() else f"removed stale {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
