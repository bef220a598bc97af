"""Tests of the grading loop: the notebook runner, ``course-grade``, ``check()``, ``make exercises``.

The chapter-1 checks themselves are tested in test_grading_attention.py, like every other
chapter's checks in its test_grading_<module>.py.

The expensive part is starting kernels (a few seconds each), so every notebook run starts at
once in the module-scoped ``runs`` fixture (threads for :func:`grade_notebook`, a subprocess
for the CLI) and the tests read their results. The fixture notebooks in ``tests/notebooks``
are hand-made: ``complete`` solves every chapter-1 exercise in its own way, ``broken`` has a
syntax error, ``sys.exit()``, an endless cell and an endless exercise, ``dies`` kills its
kernel in a cell and while an exercise is graded, ``stubborn`` calls ``exit()`` and has a cell
that swallows the interrupt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import all_exercises, check
from course_lib.grading import cli, exercises
from course_lib.grading import runner
from course_lib.grading.runner import (NotebookError, _cancel_stray_tasks, _Kernel, find_exercise_ids, forked_workers,
                                       grade_notebook)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "notebooks"
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
FAST = 5  # seconds per cell for the fixtures: their endless loops cost this much each
CHAPTER_1 = ["attention.softmax", "attention.dot_product_scores", "attention.scaled_dot_product_attention",
             "attention.nadaraya_watson", "attention.additive_attention"]


def _each(paths: list[Path], what: str):
    """Parametrize over a glob, or one skipped case while the folder is still empty."""
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no {what} notebooks yet"))]
    return [pytest.param(p, id=p.name) for p in paths]


def _stamp(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


# -- every notebook graded once, six kernels at a time -------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    json_path = tmp_path_factory.mktemp("cli") / "report.json"
    graded = [FIXTURES / "complete.ipynb", FIXTURES / "broken.ipynb", FIXTURES / "dies.ipynb",
              FIXTURES / "stubborn.ipynb", *SOLUTIONS, *EXERCISES]
    before = {p: _stamp(p) for p in graded}
    cli_run = subprocess.Popen(
        [sys.executable, "-m", "course_lib.grading.cli", str(FIXTURES / "complete.ipynb"),
         str(FIXTURES / "broken.ipynb"), "--timeout", str(FAST), "--json", str(json_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    # A few kernels at a time: two dozen starting at once on two cores starve each other. The
    # workers are forked from one server, as course-grade does for a class.
    with forked_workers(), concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        reports = {path: pool.submit(grade_notebook, path, timeout=FAST)
                   for path in (FIXTURES / "dies.ipynb", FIXTURES / "stubborn.ipynb")}
        for path in SOLUTIONS:
            reports[path] = pool.submit(grade_notebook, path, timeout=120)
        for path in EXERCISES:
            reports[path] = pool.submit(grade_notebook, path, timeout=60)
        stdout, stderr = cli_run.communicate(timeout=300)
        # An error grading one notebook fails only the tests that read that notebook's report.
        results = {path: future.exception() or future.result() for path, future in reports.items()}
    report_json = json.loads(json_path.read_text()) if json_path.exists() else None
    return {"reports": results, "before": before,
            "cli": (cli_run.returncode, stdout, stderr, report_json)}


def _report(runs, path: Path):
    report = runs["reports"][path]
    if isinstance(report, BaseException):
        raise report
    return report


def _cli_notebook(runs, name: str) -> dict:
    rc, stdout, stderr, document = runs["cli"]
    assert rc == 0, stderr
    return next(nb for nb in document["notebooks"] if Path(nb["path"]).name == name)


@pytest.mark.parametrize("path", _each(SOLUTIONS, "solution"))
def test_solution_notebook_scores_full_marks(runs, path):
    report = _report(runs, path)
    assert report.exercises, f"{path.name} lists no exercises"
    for e in report.exercises:
        assert e.passed and e.points == e.max_points > 0, (e.id, e.message)
    assert report.problems == [], [p.message for p in report.problems]


@pytest.mark.parametrize("path", _each(EXERCISES, "exercise"))
def test_exercise_notebook_scores_zero_without_crashing(runs, path):
    report = _report(runs, path)
    assert report.exercises, f"{path.name} lists no exercises"
    for e in report.exercises:
        assert e.points == 0 and not e.passed and e.max_points > 0, (e.id, e.message)
        assert "not implemented" in e.message or "not defined" in e.message, e.message
    assert not [p for p in report.problems if p.kind in ("kernel-died", "timeout", "gave-up", "setup")]


@pytest.mark.parametrize("path", _each(SOLUTIONS, "solution"))
def test_solution_notebooks_list_their_exercises_in_metadata(path):
    ids = nbformat.read(path, as_version=4).metadata["course"]["exercises"]
    assert ids and all(i in all_exercises() for i in ids)


def test_complete_notebook_gets_full_marks_through_the_cli(runs):
    rc, stdout, _, document = runs["cli"]
    assert rc == 0
    nb = _cli_notebook(runs, "complete.ipynb")
    assert [e["id"] for e in nb["exercises"]] == CHAPTER_1
    assert all(e["passed"] and e["points"] == e["max_points"] > 0 for e in nb["exercises"])
    assert nb["points"] == nb["max_points"] == sum(all_exercises()[i].max_points for i in CHAPTER_1)
    assert nb["problems"] == []
    # The printed table: a header, one row per exercise, a total per notebook and overall.
    assert "exercise" in stdout and "points" in stdout and "hint" in stdout
    assert f"total: {nb['points']:g} / {nb['max_points']:g} points" in stdout
    broken = _cli_notebook(runs, "broken.ipynb")
    assert document["points"] == nb["points"] + broken["points"]
    assert document["max_points"] == nb["max_points"] + broken["max_points"]
    assert "total over 2 notebooks" in stdout


def test_broken_notebook_reports_each_problem_and_grades_the_rest(runs):
    nb = _cli_notebook(runs, "broken.ipynb")  # graded with exit status 0 although it fails
    by_id = {e["id"]: e for e in nb["exercises"]}
    # Defined before and after the syntax error, sys.exit() and the endless cell: full marks.
    for ok in ("attention.softmax", "attention.scaled_dot_product_attention"):
        assert by_id[ok]["passed"] and by_id[ok]["points"] == by_id[ok]["max_points"], by_id[ok]
    assert by_id["attention.dot_product_scores"]["points"] == 0
    assert by_id["attention.dot_product_scores"]["message"] == "`dot_product_scores` is not defined (did its cell raise?)"
    assert by_id["attention.nadaraya_watson"]["points"] == 0
    assert "timed out" in by_id["attention.nadaraya_watson"]["message"]
    problems = {(p["kind"], p["cell"], p["exercise_id"]): p for p in nb["problems"]}
    assert problems[("cell-error", 3, None)]["error"] == "SyntaxError"
    assert ("sys-exit", 4, None) in problems
    assert ("timeout", 5, None) in problems
    assert ("timeout", None, "attention.nadaraya_watson") in problems
    assert len(problems) == 4, nb["problems"]


def test_kernel_deaths_are_reported_and_the_other_exercises_still_graded(runs):
    report = _report(runs, FIXTURES / "dies.ipynb")
    by_id = {e.id: e for e in report.exercises}
    # softmax before the death, dot_product_scores after it, sdpa after an exercise that
    # ends its process while graded (only its own forked copy ends: no restart is needed).
    for ok in ("attention.softmax", "attention.dot_product_scores", "attention.scaled_dot_product_attention"):
        assert by_id[ok].passed and by_id[ok].points == by_id[ok].max_points, by_id[ok]
    assert by_id["attention.additive_attention"].points == 0
    assert "ended before it finished (exit 3)" in by_id["attention.additive_attention"].message
    kinds = {(p.kind, p.cell, p.exercise_id) for p in report.problems}
    assert kinds == {("kernel-died", 3, None), ("grading-died", None, "attention.additive_attention")}


def test_exit_and_a_cell_ignoring_the_interrupt_cost_only_a_restart(runs):
    report = _report(runs, FIXTURES / "stubborn.ipynb")
    assert all(e.passed for e in report.exercises), [e.message for e in report.exercises]
    assert {(p.kind, p.cell) for p in report.problems} == {("kernel-died", 2), ("timeout", 4)}
    assert "exit()" in report.problems[0].message and "ignored the interrupt" in report.problems[1].message


def test_stopping_a_kernel_kills_it_and_removes_its_files(tmp_path):
    # The cleanup after a timeout or a death: a kernel still running is killed, a dead one's
    # connection file goes too, and stopping twice is harmless.
    async def scenario():
        live, dead = _Kernel(tmp_path), _Kernel(tmp_path)
        await asyncio.gather(live.start(), dead.start())
        assert (await dead.run("import os; os._exit(1)", 30)).status == "died"
        kernels = [(k.client.km.connection_file, k.client.kc, k.client.km.provisioner.process) for k in (live, dead)]
        assert all(Path(connection).exists() for connection, _, _ in kernels)
        for kernel in (live, dead):
            await kernel.stop()
            await kernel.stop()
        await _cancel_stray_tasks()
        return kernels

    for connection, client, process in asyncio.run(scenario()):
        assert process.poll() is not None, "the kernel process still runs"
        assert not Path(connection).exists() and not client.channels_running


@pytest.mark.parametrize("failures, graded", [(1, True), (2, True), (3, False)])
def test_a_kernel_that_fails_to_start_is_replaced_not_counted(tmp_path, monkeypatch, failures, graded):
    # A kernel that dies or stays silent while starting (a loaded machine) is the machine's
    # fault: a fresh one is started, up to START_ATTEMPTS, and the grade is unaffected.
    from nbclient import NotebookClient

    from course_lib.grading import runner

    real = NotebookClient.async_start_new_kernel_client
    calls = []

    async def flaky(self):
        calls.append(self.km)
        if len(calls) <= failures:
            await real(self)  # a real kernel, then a failure as jupyter_client reports it
            raise RuntimeError("Kernel died before replying to kernel_info")
        return await real(self)

    monkeypatch.setattr(NotebookClient, "async_start_new_kernel_client", flaky)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from course_lib.grading import check\n"
        "def causal_mask(L):\n    import torch\n    return torch.ones(L, L, dtype=torch.bool).tril()\n"
        "check('masks.causal_mask', causal_mask)")])
    path = tmp_path / "one.ipynb"
    nbformat.write(nb, path)
    # In this process (runner._grade_here, what the worker process runs), so that the patch applies.
    if graded:
        report = runner._grade_here(path, path.read_text(), ["masks.causal_mask"], 60)
        assert report.exercises[0].points == report.exercises[0].max_points > 0
        assert not report.problems
    else:
        with pytest.raises(RuntimeError, match=f"no kernel could be started in {runner.START_ATTEMPTS} attempts"):
            runner._grade_here(path, path.read_text(), ["masks.causal_mask"], 60)
    assert len(calls) == min(failures + 1, runner.START_ATTEMPTS)
    assert len({id(km) for km in calls}) == len(calls), "each attempt must start a fresh kernel"


def test_graded_notebooks_are_never_modified(runs):
    for path, stamp in runs["before"].items():
        assert _stamp(path) == stamp, f"{path} was modified by grading"


# -- usage errors, --list, exercise ids (no kernel) ----------------------------------------------
def _notebook(tmp_path, name="nb.ipynb", *, ids=None, code=("x = 1",)):
    metadata = {} if ids is None else {"course": {"exercises": ids}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code], metadata=metadata)
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_cli_usage_errors_exit_2_before_anything_runs(tmp_path, capsys):
    complete = str(FIXTURES / "complete.ipynb")
    assert cli.main([]) == 2
    assert cli.main(["--no-such-option"]) == 2
    assert cli.main([complete, "--timeout", "0"]) == 2
    assert cli.main([complete, "--jobs", "0"]) == 2
    capsys.readouterr()
    # A report never overwrites a notebook, nor goes to a folder that does not exist.
    assert cli.main([complete, "--json", complete]) == 2
    assert "is a notebook" in capsys.readouterr().err
    assert cli.main([complete, "--csv", str(tmp_path / "grades.ipynb")]) == 2
    assert cli.main([complete, "--json", str(tmp_path / "no" / "such" / "r.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main([complete, "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert cli.main(["--submissions", str(tmp_path / "missing"), "--csv", str(tmp_path / "g.csv")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert cli.main(["--submissions", str(tmp_path), "--csv", str(tmp_path / "g.csv")]) == 2
    assert "inside the submissions folder" in capsys.readouterr().err
    assert cli.main(["--submissions", str(tmp_path)]) == 2
    assert "--csv" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_reports_each_bad_file_on_its_own_and_exits_1(tmp_path, capsys):
    # Each is refused (on reading, or by the worker: the unknown id), reported, and costs only itself.
    (tmp_path / "notes.txt").write_text("not a notebook")
    (tmp_path / "bad.ipynb").write_text("{ this is not json")
    unknown = _notebook(tmp_path, ids=["attention.softmax", "attention.no_such_thing"])
    no_source = _notebook(tmp_path, "01_no_source.ipynb")
    document = json.loads(no_source.read_text())
    del document["cells"][0]["source"]  # schema-invalid: a code cell without "source"
    no_source.write_text(json.dumps(document))
    paths = [tmp_path / "missing.ipynb", tmp_path / "notes.txt", tmp_path / "bad.ipynb", unknown, no_source]
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    assert cli.main([str(p) for p in paths] + ["--json", str(report)]) == 1
    out, err = capsys.readouterr()
    for expected in ("no such file", "not a notebook", "not a valid notebook", "attention.no_such_thing",
                     "'source' is a required property"):
        assert expected in out, expected
    assert "5 notebook(s) could not be graded" in err
    notebooks = json.loads(report.read_text())["notebooks"]
    assert [nb["graded"] for nb in notebooks] == [False] * 5
    # The chapter-named one still lists its chapter's exercises, at 0 of their points.
    chapter_1 = notebooks[-1]["exercises"]
    assert [e["id"] for e in chapter_1] == CHAPTER_1 and all(e["points"] == 0 < e["max_points"] for e in chapter_1)
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.json"]  # written atomically


def test_cli_list_names_every_exercise_with_chapter_and_name(capsys):
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in out[1:]}
    assert set(rows) == set(all_exercises())
    for exercise_id in CHAPTER_1:
        assert rows[exercise_id] == ["01", exercise_id.split(".")[1]]


def test_exercise_ids_come_from_metadata_else_from_check_calls(tmp_path):
    listed = _notebook(tmp_path, "a.ipynb", ids=["attention.nadaraya_watson"], code=['check("attention.softmax", f)'])
    assert find_exercise_ids(nbformat.read(listed, 4)) == ["attention.nadaraya_watson"]
    found = _notebook(tmp_path, "b.ipynb", code=['check("attention.softmax", softmax)',
                                                "check( 'attention.dot_product_scores', f)\ncheck(\"attention.softmax\", g)"])
    assert find_exercise_ids(nbformat.read(found, 4)) == ["attention.softmax", "attention.dot_product_scores"]
    with pytest.raises(NotebookError, match="no exercises"):
        find_exercise_ids(nbformat.read(_notebook(tmp_path, "c.ipynb"), 4))
    with pytest.raises(NotebookError, match="attention.nope"):
        find_exercise_ids(nbformat.read(_notebook(tmp_path, "d.ipynb", ids=["attention.nope"]), 4))
    # An exercise listed ten times is graded once.
    ten = _notebook(tmp_path, "e.ipynb", ids=["masks.causal_mask"] * 10 + ["attention.softmax"])
    assert find_exercise_ids(nbformat.read(ten, 4)) == ["masks.causal_mask", "attention.softmax"]


def test_a_chapter_notebook_holds_its_chapter_whatever_its_metadata_says(tmp_path):
    # The registry decides, by the notebook's name: listing an easy exercise ten times, or
    # none at all, changes nothing.
    path = _notebook(tmp_path, "05_masking.ipynb", ids=["masks.causal_mask"] * 10)
    expected = [i for i, ex in all_exercises().items() if ex.chapter == "05"]
    assert len(expected) == 3 and find_exercise_ids(nbformat.read(path, 4), path) == expected
    assert find_exercise_ids(nbformat.read(_notebook(tmp_path, "05_x.ipynb"), 4), tmp_path / "05_x.ipynb") == expected


def test_the_worker_decides_the_exercises_and_refuses_unknown_ones(tmp_path):
    # The command never imports the registry: the worker finds the ids and raises what
    # find_exercise_ids raises ("no exercises" too: test_exercise_ids_come_from_metadata...),
    # as a NotebookError of this process.
    with pytest.raises(NotebookError, match="attention.nope"):
        grade_notebook(_notebook(tmp_path, "d.ipynb", ids=["attention.nope"]), timeout=FAST)
    with pytest.raises(NotebookError, match="masks.nope"):
        grade_notebook(_notebook(tmp_path, "e.ipynb", ids=["attention.softmax"]), timeout=FAST,
                       exercise_ids=["masks.nope"])
    with pytest.raises(ValueError, match="exercise_ids='masks.causal_mask'; expected a list"):
        grade_notebook(_notebook(tmp_path, "f.ipynb", ids=["attention.softmax"]), exercise_ids="masks.causal_mask")


def test_the_command_and_its_worker_start_without_importing_torch():
    # torch takes 2-3 s to import: the command and the worker import it only once the kernel
    # is launched (the worker) or never (the command), and the package's names still load.
    code = ("import sys\n"
            "from course_lib.grading import cli, runner, worker, sandbox\n"
            "assert 'torch' not in sys.modules, 'torch imported before a kernel is launched'\n"
            "from course_lib.grading import check, set_language\n"
            "import course_lib.grading as g\n"
            "assert callable(check) and g.get('masks.causal_mask').name == 'causal_mask'\n"
            "assert 'torch' in sys.modules and 'check' in dir(g)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import course_lib.grading as grading

        grading.nope  # noqa: B018


def test_the_kernel_imports_the_grader_as_it_starts_and_leaves_the_namespace_alone(tmp_path):
    # _PRELOAD runs before the kernel first answers, in a namespace of its own: the learner's
    # kernel has the same names and history as a kernel started without it.
    probe = "import sys as _s; print(sorted(globals()), len(In), 'course_lib.grading.registry' in _s.modules)"

    async def names(kernel: _Kernel) -> str:
        await kernel.start()
        try:
            await kernel.run(probe, 60)
            return "".join(o.get("text", "") for o in kernel.client.nb.cells[0].outputs)
        finally:
            await kernel.stop()
            await _cancel_stray_tasks()

    plain = _Kernel(tmp_path)
    plain.client.extra_arguments = []
    graded, bare = asyncio.run(names(_Kernel(tmp_path))), asyncio.run(names(plain))
    assert graded.strip().endswith("True") and bare.strip().endswith("False"), (graded, bare)
    assert graded.rsplit(" ", 1)[0] == bare.rsplit(" ", 1)[0]


# -- check() on a candidate it cannot call ------------------------------------------------
def test_check_reports_a_candidate_that_is_not_callable():
    result = check("attention.softmax", 3, quiet=True)
    assert not result.passed and result.points == 0 and result.max_points > 0


# -- exercise notebooks: generated from solutions ---------------------------------------------
SOLUTION_CELL = """\
def f(x):
    \"\"\"Doc.\"\"\"
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION

class C:
    def g(self):
        ### BEGIN SOLUTION
        return 2
        ### END SOLUTION"""


def _solution_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"course": {"exercises": ["attention.softmax"]},
                                            "kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    cell = nbformat.v4.new_code_cell(SOLUTION_CELL, id="sol", metadata={"tags": ["keep-me"]})
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("### BEGIN SOLUTION stays in markdown", id="md"), cell]
    return nb


def test_strip_solutions_replaces_blocks_at_their_indentation_and_clears_outputs():
    nb = _solution_notebook()
    stripped = exercises.strip_solutions(nb)
    cell = stripped.cells[1]
    assert cell.source == ('def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError\n\n'
                           "class C:\n    def g(self):\n        # YOUR CODE HERE\n        raise NotImplementedError")
    assert cell.outputs == [] and cell.execution_count is None
    assert cell.metadata["tags"] == ["keep-me"] and cell.id == "sol"
    assert cell.metadata["nbgrader"]["solution"]  # nbgrader's metadata: test_grading_exercises.py
    assert stripped.metadata == nb.metadata and stripped.cells[0].source == nb.cells[0].source
    assert nb.cells[1].source == SOLUTION_CELL  # the solution itself is untouched
    text = exercises.render(stripped)
    assert text.endswith("}\n") and text == exercises.render(exercises.strip_solutions(_solution_notebook()))


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside the block"),
])
def test_unbalanced_markers_name_the_notebook_and_cell(source, problem):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("x"), nbformat.v4.new_code_cell(source)])
    with pytest.raises(ValueError, match=problem) as error:
        exercises.strip_solutions(nb, "solutions/07_x.ipynb")
    assert "solutions/07_x.ipynb: cell 1" in str(error.value)


def test_regeneration_writes_checks_and_removes_stale_notebooks(tmp_path, capsys):
    solutions, generated = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(_solution_notebook(), solutions / "01_a.ipynb")
    assert exercises.main([str(solutions), str(generated), "--check"]) == 1  # nothing generated yet
    assert exercises.main([str(solutions), str(generated)]) == 0
    first = (generated / "01_a.ipynb").read_bytes()
    assert b"raise NotImplementedError" in first and b"y = x + 1" not in first
    assert exercises.main([str(solutions), str(generated), "--check"]) == 0
    assert exercises.main([str(solutions), str(generated)]) == 0
    assert (generated / "01_a.ipynb").read_bytes() == first  # same bytes every time
    (generated / "01_a.ipynb").write_bytes(first.replace(b"YOUR CODE HERE", b"edited by hand"))
    (generated / "99_stale.ipynb").write_bytes(first)
    assert exercises.main([str(solutions), str(generated), "--check"]) == 1
    assert "01_a.ipynb" in capsys.readouterr().err
    assert exercises.main([str(solutions), str(generated)]) == 0
    assert sorted(p.name for p in generated.iterdir()) == ["01_a.ipynb"]
    assert (generated / "01_a.ipynb").read_bytes() == first
    (solutions / "02_b.ipynb").write_text(json.dumps(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("### END SOLUTION")])))
    assert exercises.main([str(solutions), str(generated)]) == 2
    assert "02_b.ipynb: cell 0" in capsys.readouterr().err


def test_exercises_folder_equals_a_fresh_regeneration_of_solutions():
    stale = exercises.regenerate(ROOT / "solutions", ROOT / "exercises", check=True)
    assert stale == [], f"run `make exercises`: {stale} differ from a fresh regeneration"
