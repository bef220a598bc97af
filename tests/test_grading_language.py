"""The grader in Chinese: every text a learner or teacher reads has both languages, and the
language reaches ``check`` and ``course-grade`` (course_lib/grading/language.py).

Static part: every string literal of the checks (hints, case titles, mistake names) and of the
message sites of registry.py / runner.py / cli.py is a ``tr("English", "中文")`` pair (that each
pair formats the same fields, and that its Chinese is Chinese, is tests/test_i18n.py's check of
every ``tr`` in course_lib). Dynamic part: ``check`` in each language, the English default
unchanged, and ``course-grade`` run on a wrong notebook and on a Chinese exercise notebook.
"""

from __future__ import annotations

import ast
import concurrent.futures
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from course_lib.grading import all_exercises, check, exercises, get, set_language
from course_lib.grading.cli import format_report
from course_lib.grading.language import grader_language, graded_in
from course_lib.grading.runner import NotebookReport

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "course_lib" / "grading"
CHECKS = sorted((GRADING / "checks").glob("[a-z]*.py"))
CJK = re.compile("[\u4e00-\u9fff]")
WORD = re.compile(r"^[A-Za-z]{2,}$")

# Strings of the checks that are code, not text: argument values, names of the returned
# tensors (``what=``), switches of the reference's wrong variants. Everything else a check
# writes that holds an English word must be a tr(...) pair.
CODE = {"weights", "out", "ids", "beam", "token", "score", "(beam, token, score)", "embeddings", "logits",
        "rnn", "lstm", "gru", "transformer", "kind", "recurrent", "convolutional", "tanh", "activation", "relu",
        "gelu", "mean", "loss", "mask", "lengths", "ok", "none", "gamma", "beta", "weight", "bias",
        "interleaved", "sin", "cos", "halves", "rates", "memory", "sca", "decoder", "queries from memory",
        "FFN", "normalised memory", "meta"}


def _english(text: str) -> bool:
    """Does the text hold an English word (outside f-string fields and `code`)?"""
    text = re.sub(r"\{[^{}]*(\{[^{}]*\}[^{}]*)*\}", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    for token in text.split():
        token = token.strip("()[],.;:'\"!?<>")
        if WORD.match(token.removesuffix("'s")):
            return True
    return False


def _text(node: ast.AST) -> str:
    return node.value if isinstance(node, ast.Constant) else ast.unparse(node)[2:-1]


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def untranslated_literals(source: str) -> list[tuple[int, str]]:
    """The string literals of a checks module that a learner may read and that are not in tr().

    Left out: docstrings, the arguments of ``exercise(...)`` (registry metadata), of ``tr``
    itself, of ``isinstance`` / ``getattr`` / ``spying`` / ``dict``, indices that read
    (``x["w_q"]``), comparisons, and the parts of an f-string.
    """
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and body and \
                isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        inner = []
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in ("exercise", "tr", "getattr", "setattr", "hasattr", "isinstance", "spying", "dict"):
                inner = [node]
            inner += [kw.value for kw in node.keywords if kw.arg in ("dtype", "approximate", "reduction")]
        elif isinstance(node, ast.JoinedStr):
            inner = node.values
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Store):
            inner = [node.slice]
        elif isinstance(node, ast.Compare):
            inner = [node]
        for part in inner:
            skip.update(id(sub) for sub in ast.walk(part))
    return [(n.lineno, _text(n)) for n in ast.walk(tree)
            if id(n) not in skip and _is_str(n) and _english(_text(n)) and _text(n) not in CODE]


@pytest.mark.parametrize("path", CHECKS, ids=[p.name for p in CHECKS])
def test_every_hint_case_and_mistake_of_the_checks_is_a_tr_pair(path):
    found = untranslated_literals(path.read_text(encoding="utf-8"))
    assert not found, "\n".join(f"{path.name} line {n}: {text!r} is not in tr(en, zh)" for n, text in found)


@pytest.mark.parametrize("code", [
    'with g.case("a random input"):\n    pass',
    'g.assert_close(a, b, hint="normalise along the last axis")',
    'g.assert_close(a, b, hint=tr("x y", "甲"), mistakes={"the wrong axis": w})',
    'found["the mask inverted"] = w',
    'def mistake() -> str:\n    return "scores not scaled"',
    'g.expect(ok, f"got {n} rows")',
    'hint = tr("a b", "甲") + "; keep the query axis"',
])
def test_an_english_hint_outside_tr_is_caught(code):
    assert untranslated_literals(code)


def test_pairs_and_code_strings_pass():
    code = ('with g.case(tr("a random input", "随机输入")):\n'
            '    g.assert_close(a, b, what="weights", hint=tr(f"got {n} rows", f"得到 {n} 行"),\n'
            '                   mistakes={tr("the wrong axis", "错误的轴"): w})\n'
            'x = y[\"w_q\"]\nif mistake == "halves": pass\n'
            '@exercise("masks.causal_mask", name="causal_mask", description="causal_mask(L) -> mask")\n'
            'def _(candidate, g):\n    """The docstring is for developers."""\n')
    assert untranslated_literals(code) == []


# -- registry.py, runner.py, cli.py: the messages a learner or teacher reads ---------------------
_RAISED = {"CaseFailed", "NotebookError", "RuntimeError"}
_RETURNS_TEXT = {"_describe_error", "_output_problem", "_usage_error", "_shown", "verdict"}


def message_site_problems(source: str) -> list[tuple[int, str]]:
    """English literals at the message sites of the grading loop that are not in tr().

    Sites: the text of ``CaseFailed`` / ``NotebookError`` / ``RuntimeError`` and of
    ``Problem(kind, text)``, ``print(...)``, ``bar.write(...)``, assignments to ``message``
    (a name or an attribute), ``lines.append(...)``, the case tuples appended to ``cases``, and
    what the functions that make text return.
    """
    tree = ast.parse(source)
    sites: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in _RAISED | {"print", "write"}:
                sites += node.args[:1]
            elif name == "Problem":
                sites += node.args[1:2]
            elif name == "append" and node.args:
                sites += node.args[0].elts if isinstance(node.args[0], ast.Tuple) else node.args[:1]
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", getattr(t, "attr", "")) in ("message", "text")
                                                  for t in node.targets):
            sites.append(node.value)
        elif isinstance(node, ast.FunctionDef) and node.name in _RETURNS_TEXT:
            sites += [r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None]
    found = []
    for site in sites:
        stack = [site]
        while stack:  # the literal parts of "+" and "a if c else b"; a tr(...) call is fine
            node = stack.pop()
            if isinstance(node, ast.BinOp):
                stack += [node.left, node.right]
            elif isinstance(node, ast.IfExp):
                stack += [node.body, node.orelse]
            elif isinstance(node, ast.Dict):
                stack += node.values
            elif _is_str(node) and _english(_text(node)):
                found.append((node.lineno, _text(node)))
    return found


@pytest.mark.parametrize("name", ["registry.py", "runner.py", "cli.py"])
def test_the_grading_loops_messages_are_tr_pairs(name):
    found = message_site_problems((GRADING / name).read_text(encoding="utf-8"))
    assert not found, "\n".join(f"{name} line {n}: {text!r} is not in tr(en, zh)" for n, text in found)


def test_an_english_message_outside_tr_is_caught():
    code = ('raise CaseFailed(f"{what} has shape {s}")\n'
            'report.message = "not graded"\n'
            'problems.append(Problem("timeout", tr("timed out", "超时") + " and ignored"))\n')
    assert sorted(n for n, _ in message_site_problems(code)) == [1, 2, 3]


# -- which language ------------------------------------------------------------------------------
@pytest.mark.parametrize("option,environ,expected", [
    ("zh", {"LANG": "en_US.UTF-8"}, "zh"),
    ("en", {"COURSE_LANG": "zh", "LANG": "zh_CN.UTF-8"}, "en"),
    (None, {}, "en"),
    (None, {"LANG": "C.UTF-8"}, "en"),
    (None, {"LANG": "zh_CN.UTF-8"}, "zh"),
    (None, {"LANG": "en_GB.UTF-8", "LC_MESSAGES": "zh_TW.UTF-8"}, "zh"),
    (None, {"LANG": "zh_CN.UTF-8", "LC_ALL": "en_US.UTF-8"}, "en"),  # LC_ALL decides first
    (None, {"LANG": "zh_CN.UTF-8", "LC_ALL": ""}, "zh"),  # empty counts as unset
    (None, {"COURSE_LANG": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),  # the course's switch first
    (None, {"COURSE_LANG": "en", "LC_ALL": "zh_CN.UTF-8"}, "en"),
])
def test_course_grade_chooses_its_language(option, environ, expected):
    assert grader_language(option, environ) == expected


def test_a_bad_language_is_refused_naming_it():
    with pytest.raises(ValueError, match="lang"):
        grader_language("fr", {})
    with pytest.raises(ValueError, match="COURSE_LANG"):
        grader_language(None, {"COURSE_LANG": "fr"})
    with pytest.raises(ValueError, match="lang"):
        set_language("chinese")


def test_graded_in_exports_the_language_and_restores_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_LANG", "en")
    monkeypatch.delenv("COURSE_GRADE_LANG", raising=False)
    with graded_in("zh"):
        assert os.environ["COURSE_LANG"] == os.environ["COURSE_GRADE_LANG"] == "zh"
        assert set_language("en") == "zh"  # course-grade chose: the notebook's call does nothing
    assert os.environ["COURSE_LANG"] == "en" and "COURSE_GRADE_LANG" not in os.environ


# -- check() in each language ----------------------------------------------------------------
def _softmax_over_queries(x, dim=-1):
    return torch.softmax(x, dim=0)


def _causal_without_diagonal(L):
    return torch.ones(L, L).tril(-1).bool()


def test_check_speaks_the_language_set_and_names_the_mistake_in_it(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_GRADE_LANG", raising=False)
    monkeypatch.delenv("COURSE_LANG", raising=False)
    assert set_language("zh") == "zh"
    result = check("masks.causal_mask", _causal_without_diagonal)
    printed = capsys.readouterr().out
    assert printed.startswith("[未通过] masks.causal_mask：") and "分。" in printed
    assert "差一错误：排除了对角线" in printed  # the mistake, named in Chinese
    assert all(CJK.search(title) for title, _, _ in result.cases)
    assert not re.search(r"\b(looks like|the mask|expected|Failed)\b", printed)
    set_language("en")
    english = check("masks.causal_mask", _causal_without_diagonal, quiet=True)
    assert "an off-by-one: the diagonal is excluded" in english.message and not CJK.search(english.verdict())


def test_the_english_default_is_unchanged(monkeypatch):
    monkeypatch.delenv("COURSE_LANG", raising=False)
    result = check("attention.softmax", _softmax_over_queries, quiet=True)
    # The verdict as the grader printed it before it was bilingual, byte for byte.
    assert result.verdict() == (
        "[FAIL] attention.softmax: 1/9 points. Failed 8 of 9 checks:\n"
        "  1. a random (4, 7) input, normalised along the last axis: looks like normalising "
        "over the wrong axis (dim=0). each row should become positive weights summing to one\n"
        "  2. extra leading batch dimensions, shape (2, 3, 5): looks like normalising over "
        "the wrong axis (dim=0). only the last axis is normalised; the others are batch axes\n"
        "  3. the `dim` argument: shape (2, 5, 3) with dim=1: looks like normalising over "
        "the wrong axis (dim=0). normalise along the axis `dim` names\n"
        "  4. logits of about ±1e4 neither overflow nor give NaN: output differs from the "
        "reference (max abs error 1). looks like exp() overflowing or underflowing for scores "
        "of about ±1e4 (no max-subtraction?): a softmax is unchanged when every score of one "
        "query is shifted by the same amount\n"
        "  5. -inf logits get exactly zero weight and the rest still sum to one: output differs "
        "from the reference (max abs error 0.592). exp(-inf) is 0: a -inf logit should simply "
        "drop out\n"
        "  6. a slice of only -inf (a query with every key masked) gives zeros, not NaN: output "
        "differs from the reference (max abs error 0.747). every exp() in that slice is 0, "
        "so the sum is 0 and 0 / 0 is NaN: such a slice must come out as zeros, and the other "
        "slices as usual\n"
        "  7. written without PyTorch's own softmax (the task's rule for this exercise): your "
        "softmax calls PyTorch's own softmax; this exercise asks you to write it from exp() "
        "and a sum (from exercise 3 on, the built-in one is allowed)\n"
        "  8. float32 in, float32 out (and float64 in, float64 out: every other case): output "
        "differs from the reference (max abs error 0.847). keep the input's dtype")


# -- course-grade end to end: one wrong notebook, graded in three ways at once ---------------------
WRONG_CELLS = ["import torch\n\nfrom course_lib.grading import check",
               "def causal_mask(L):\n    return torch.ones(L, L).tril(-1).bool()  # the diagonal left out",
               'check("masks.causal_mask", causal_mask)']
CLI_RUNS = {"--lang zh": (["--lang", "zh"], {"LANG": "en_US.UTF-8"}),
            "default": ([], {"LANG": "C.UTF-8"}),
            "zh locale": ([], {"LANG": "zh_CN.UTF-8"})}


def _environment(**variables: str) -> dict[str, str]:
    """This process's environment without any language setting, plus ``variables``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("COURSE_LANG", "COURSE_GRADE_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")}
    return {**env, "PYTHONPATH": str(ROOT), **variables}


def _course_grade(args: list[str], env: dict[str, str], report: Path) -> tuple[str, list[dict]]:
    done = subprocess.run([sys.executable, "-m", "course_lib.grading.cli", *args, "--json", str(report)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(report.read_text(encoding="utf-8"))["notebooks"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Three course-grade runs and one learner's run, at once; each run grades the wrong notebook.

    The Chinese exercise rides along with ``--lang zh`` and the Chinese solution with the
    Chinese locale (one command, two notebooks: fewer processes to start).
    """
    folder = tmp_path_factory.mktemp("language")
    notebook = folder / "wrong.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in WRONG_CELLS]), notebook)
    riders = {}  # run: (name, the second notebook it grades)
    if CHINESE:
        riders = {"--lang zh": ("zh exercise", CHINESE[0]),
                  "zh locale": ("zh solution", ZH_SOLUTIONS / CHINESE[0].name)}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(CLI_RUNS) + 1) as pool:
        futures = {}
        for n, (name, (args, env)) in enumerate(CLI_RUNS.items()):
            paths = [str(notebook)] + ([str(riders[name][1])] if name in riders else [])
            futures[name] = pool.submit(_course_grade, [*paths, *args], _environment(**env), folder / f"{n}.json")
        if CHINESE:  # the Chinese exercise run as a learner runs it
            learner = pool.submit(_run_as_a_learner, CHINESE[0], folder / "ran.ipynb")
        out = {}
        for name, future in futures.items():
            stdout, reports = future.result()
            out[name] = (stdout, reports[0])
            if name in riders:  # its own part of the printed text: after its path
                rider, path = riders[name]
                out[rider] = (stdout.split(str(path), 1)[1], reports[1])
        if CHINESE:
            out["zh notebook"] = learner.result()
        return out


def _run_as_a_learner(path: Path, out: Path) -> nbformat.NotebookNode:
    """Execute the notebook in Jupyter's way, in an English environment: its cells' outputs."""
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                           "--allow-errors", str(path), "--output", str(out)],
                          capture_output=True, text=True, env=_environment(LANG="C.UTF-8"), cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    return nbformat.read(out, as_version=4)


@pytest.mark.parametrize("run", ["--lang zh", "zh locale"])
def test_course_grade_prints_the_table_verdicts_and_hints_in_chinese(graded, run):
    stdout, report = graded[run]
    assert re.search(r"练习\s+得分\s+满分\s+状态\s+提示", stdout)
    assert "未通过" in stdout and "总分：" in stdout and "FAIL" not in stdout
    (exercise,) = report["exercises"]
    assert "差一错误：排除了对角线" in exercise["message"]  # the mistake, named in Chinese
    assert all(CJK.search(title) for title, _, _ in exercise["cases"])


def test_course_grade_stays_english_by_default(graded, monkeypatch):
    stdout, report = graded["default"]
    assert not CJK.search(stdout)
    assert format_report(NotebookReport.from_dict(report)) in stdout
    monkeypatch.delenv("COURSE_LANG", raising=False)
    # The hint is the English check's, byte for byte (tests/test_grading*.py pin the English texts).
    assert report["exercises"][0]["message"] == check("masks.causal_mask", _causal_without_diagonal,
                                                      quiet=True).message


# -- the Chinese exercise notebooks (exercises/zh/, from solutions/zh/*.md) ---------------------------
_spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "tools" / "i18n.py")
tool = importlib.util.module_from_spec(_spec)
sys.modules["i18n_tool"] = tool  # dataclasses look their module up there
_spec.loader.exec_module(tool)

CHINESE = sorted((ROOT / "exercises" / "zh").glob("*.ipynb"))
ZH_SOLUTIONS = ROOT / "solutions" / "zh"  # the tables, and the Chinese solution notebooks made from them


def _each_chinese():
    if not CHINESE:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no Chinese exercise notebooks yet"))]
    return [pytest.param(p, id=p.name) for p in CHINESE]


def test_every_solution_table_is_translated_and_current():
    tables = sorted((ROOT / "solutions" / "zh").glob("*.md"))
    assert [p.stem for p in tables] == [p.stem for p in CHINESE]  # each table gives its notebook
    problems = [line for page in tool.solution_pages() for line in tool.problems(page)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", _each_chinese())
def test_a_chinese_exercise_is_the_english_one_with_chinese_text(path):
    zh, en = (nbformat.read(p, as_version=4) for p in (path, ROOT / "exercises" / path.name))
    assert zh.metadata["course_language"] == "zh" and zh.metadata["course"] == en.metadata["course"]
    assert [c.id for c in zh.cells] == [c.id for c in en.cells]
    for a, b in zip(zh.cells, en.cells):
        assert a.metadata == b.metadata  # nbgrader's ids, points, locks
        if a.cell_type == "code" and a.source != b.source:  # only the setup cell says its language
            assert a.source == b.source.replace(exercises.SETUP_IMPORT, exercises.SETUP_IMPORT + ", set_language") \
                + "\n\n" + exercises.SETUP_CHINESE
        elif a.cell_type == "markdown":
            assert CJK.search(a.source)
    first = next(c for c in zh.cells if c.cell_type == "markdown")
    assert re.search(rf"course-grade exercises/zh/{re.escape(path.name)} --lang zh(`|\n)", first.source)


@pytest.mark.parametrize("path", _each_chinese())
def test_a_chinese_solution_is_the_english_one_with_the_chinese_exercises_text(path):
    zh, en, exercise = (nbformat.read(p, as_version=4) for p in
                        (ZH_SOLUTIONS / path.name, ROOT / "solutions" / path.name, path))
    assert zh.metadata["course_language"] == "zh" and zh.metadata["course"] == en.metadata["course"]
    assert [c.id for c in zh.cells] == [c.id for c in en.cells] == [c.id for c in exercise.cells]
    setup = [a for a, b in zip(zh.cells, en.cells) if a.cell_type == "code" and a.source != b.source]
    assert len(setup) == 1 and setup[0].source.endswith("\n\n" + exercises.SETUP_CHINESE)
    assert any(exercises.BEGIN in c.source for c in zh.cells)  # the solutions are there
    for a, b in zip(zh.cells, exercise.cells):  # the text is the Chinese exercise's
        assert a.cell_type == b.cell_type and (a.cell_type == "code" or a.source == b.source)
    assert exercises.render(exercises.strip_solutions(zh, path.name)) == path.read_text(encoding="utf-8")


def test_course_grade_gives_a_chinese_solution_full_marks_in_chinese(graded):
    if not CHINESE:
        pytest.skip("no Chinese exercise notebooks yet")
    stdout, report = graded["zh solution"]
    assert report["graded"] and report["points"] == report["max_points"] > 0, report
    assert all(e["passed"] for e in report["exercises"]) and not report["problems"]
    assert "通过" in stdout and "未通过" not in stdout and "PASS" not in stdout


def _solution_and_table(folder: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Task", id="aaaa0001"),
        nbformat.v4.new_code_cell(exercises.SETUP_IMPORT, id="aaaa0002"),
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                  id="aaaa0003")])
    (folder / "zh").mkdir(parents=True)
    nbformat.write(nb, folder / "01_a.ipynb")
    (folder / "zh" / "01_a.md").write_text(f"<!-- cell aaaa0001 en:{tool.text_sha('# Task')} -->\n# 任务\n",
                                           encoding="utf-8")


def test_make_exercises_writes_checks_and_removes_the_chinese_notebooks(tmp_path, capsys):
    solutions, generated = tmp_path / "solutions", tmp_path / "exercises"
    _solution_and_table(solutions)
    assert exercises.main([str(solutions), str(generated)]) == 0
    zh, solution = generated / "zh" / "01_a.ipynb", solutions / "zh" / "01_a.ipynb"
    text = zh.read_text(encoding="utf-8")
    assert "# 任务" in text and "raise NotImplementedError" in text and "return 1" not in text
    assert 'set_language(\\"zh\\")' in text
    solved = solution.read_text(encoding="utf-8")
    assert "# 任务" in solved and "return 1" in solved and 'set_language(\\"zh\\")' in solved
    assert exercises.main([str(solutions), str(generated), "--check"]) == 0
    zh.write_text(text.replace("任务", "改过"), encoding="utf-8")
    assert exercises.main([str(solutions), str(generated), "--check"]) == 1
    assert "zh/01_a.ipynb" in capsys.readouterr().err
    (solutions / "zh" / "01_a.md").unlink()  # no table: its Chinese notebook is stale
    assert exercises.main([str(solutions), str(generated)]) == 0
    assert not zh.exists() and not solution.exists() and (generated / "01_a.ipynb").exists()
    assert (solutions / "01_a.ipynb").exists()  # the source itself is never touched


def test_a_solution_without_the_setup_import_cannot_get_a_chinese_twin(tmp_path):
    _solution_and_table(tmp_path)
    nb = nbformat.read(tmp_path / "01_a.ipynb", as_version=4)
    nb.cells[1].source = "import course_lib.grading"
    with pytest.raises(ValueError, match="setup cell"):
        exercises.chinese_exercise(nb, tmp_path / "zh" / "01_a.md", "01_a.ipynb")


def test_course_grade_grades_a_chinese_exercise_as_the_english_one_in_chinese(graded):
    if not CHINESE:
        pytest.skip("no Chinese exercise notebooks yet")
    stdout, report = graded["zh exercise"]
    chapter = [i for i, ex in all_exercises().items() if ex.chapter == CHINESE[0].name[:2]]
    assert [e["id"] for e in report["exercises"]] == chapter  # the registry, by the file name
    assert [e["max_points"] for e in report["exercises"]] == [get(i).max_points for i in chapter]
    assert all(e["points"] == 0 and "尚未实现" in e["message"] for e in report["exercises"])
    assert report["graded"] and "总分：0 /" in stdout
    # The cells that call the unfinished functions fail as in English, reported in Chinese.
    assert all(p["kind"] == "cell-error" and CJK.search(p["message"]) for p in report["problems"])


def test_check_in_a_chinese_notebook_speaks_chinese_without_being_told(graded):
    if not CHINESE:
        pytest.skip("no Chinese exercise notebooks yet")
    ran = graded["zh notebook"]
    # A cell's whole output: a kernel may split one printed line over two stream messages.
    verdicts = ["".join(o.get("text", "") for o in c.outputs) for c in ran.cells if c.cell_type == "code"
                and c.source.startswith("check(")]
    assert verdicts and all(v.startswith("[未通过] ") and "尚未实现" in v for v in verdicts), verdicts


def test_the_table_lines_up_chinese_text_by_its_width_in_a_terminal():
    from course_lib.grading.cli import _table, _width

    rows = [["练习", "得分", "状态", "提示"], ["masks.causal_mask", "0", "未通过", "甲"], ["x", "3", "通过", "乙"]]
    lines = _table(rows, right={1})
    # the last column starts at the same terminal column on every line (a CJK character is 2 wide)
    assert len({_width(line) - _width(row[-1]) for line, row in zip(lines, rows)}) == 1
    assert _table([["id", "name"], ["masks.causal_mask", "x"]], right=set()) == ["id                 name",
                                                                               "masks.causal_mask  x"]
