"""Grade a whole exercise notebook: run it in a fresh kernel, then grade each exercise in it.

:func:`grade_notebook` is what ``course-grade`` calls. It reads the notebook once, checks it
against the notebook schema, and hands it to a **worker process** of its own
(:mod:`course_lib.grading.worker`), which grades it and dies. Neither imports torch before
the kernel is launched: the kernel imports the grader as it starts (``_PRELOAD``) while the
worker imports the registry and decides which exercises the notebook holds and what each is
worth (:meth:`_Grading.resolve`), so the two imports overlap. For a class
(:func:`forked_workers`), the workers are forks of one server that imported the grader once
instead. Either way the report comes back in a file of the grader's private folder, with a
secret only the grader and its worker know. The worker:

- writes a *copy* of the notebook into a fresh temporary folder (named like the notebook's
  own folder) and starts the kernel there: the learner's files are never the kernel's
  working files, and the graded file is never written (if the notebook deletes its own file
  through an absolute path, :func:`grade_notebook` puts it back and says so);
- is a child subreaper (:mod:`course_lib.grading.sandbox`): after every kernel and at the
  end it kills every process the notebook started, detached or orphaned, before the report
  is written;
- caps the kernel's memory (``RLIMIT_AS``) and the output it keeps of each cell;
- starts the kernel in namespaces of its own where the project checkout (course_lib's source,
  ``solutions/``, ``.git``), the notebook's own folder, the folders given as ``hide`` (a
  class's) and the grader's private folder are empty read-only folders
  (:func:`sandbox.cover_plan`); where the OS forbids that, it grades anyway and reports a
  ``"not-hidden"`` problem.

Inside the worker, the notebook is executed cell by cell with
:class:`nbclient.NotebookClient` in a fresh ``python3`` kernel. Then the kernel forks a
single-threaded **snapshot** of itself (:mod:`course_lib.grading.snapshot`): threads the
cells started do not exist there, and the kernel dying afterwards does not touch it. Each
exercise is graded in a further copy of the snapshot, from a clean state (grad mode on,
float32 default dtype, stdout to ``/dev/null``), which only *serves the candidate*: the
registry's checks, references and maxima run here, in the grader, on a proxy of the
candidate whose calls go over a Unix socket in a private folder (never stdout) to that
copy (:mod:`course_lib.grading.remote`). Whatever the candidate does — ``os._exit``, a
crash, an endless loop, a ``KeyboardInterrupt``, patching the checks in its own process —
ends only that copy, or changes nothing here.

Every step is isolated so that one broken exercise costs only its own points:

- A cell that raises is reported (index and error name) and execution goes on, exactly as
  "Run All" would in Jupyter if it did not stop on errors.
- A cell that runs longer than ``timeout`` seconds is interrupted (``interrupt_on_timeout``)
  and execution goes on; an exercise whose grading runs longer scores 0.
- A cell that prints more than ``output_limit`` bytes is interrupted ("output limit
  exceeded"); a cell that runs out of memory (``memory_limit``) is reported as such.
- ``sys.exit()`` in a cell only raises ``SystemExit`` inside IPython: it is reported and the
  kernel keeps running.
- **Kernel deaths** (``os._exit``, a segfault, ``exit()``, a cell that ignores the interrupt):
  the death is reported, a fresh kernel is started and the notebook's cells are *replayed*
  from the top, skipping every cell that killed the kernel or timed out before (so the
  replay cannot die the same way twice or pay the same timeout twice). A kernel dying while
  the exercises are graded does not matter: the snapshot grades them. After
  ``MAX_RESTARTS`` restarts the runner gives up and the exercises not graded yet score 0
  with a message saying so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from collections.abc import Callable, Sequence
from pathlib import Path

# nbformat validates with jsonschema, which imports rfc3987_syntax where it is installed, for
# the "iri" string format that no notebook schema uses; building that grammar costs 1-3 s of
# CPU in every process that grades (the command and each notebook's worker). Marked absent,
# jsonschema leaves that one format out. (A process that has imported it already keeps it.)
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from course_lib.grading import sandbox
from course_lib.i18n import tr

# The registry (and with it torch) is imported where it is used, not here: the command and
# the worker import this module and start a kernel first, so that the kernel imports torch
# while they do (see _Grading.resolve).

__all__ = ["ExerciseReport", "Problem", "NotebookReport", "NotebookError", "grade_notebook",
           "forked_workers", "read_notebook", "find_exercise_ids"]

#: How many times one notebook may kill its kernel before the runner stops restarting it.
MAX_RESTARTS = 5
#: Seconds a starting kernel may take to answer (a loaded machine), and how many fresh kernels
#: are tried when one dies or stays silent while starting: never the notebook's fault.
STARTUP_TIMEOUT = 120.0
START_ATTEMPTS = 3
#: Extra seconds a timed-out cell gets to answer the interrupt before its kernel is restarted.
INTERRUPT_GRACE = 5.0
#: Default caps per kernel: address space, and output kept per cell (the rest is dropped).
MEMORY_LIMIT = 4 << 30
OUTPUT_LIMIT = 1 << 20

_CHECK_CALL = re.compile(r"""\bcheck\(\s*(['"])([A-Za-z_][\w.]*)\1""")
_CHAPTER = re.compile(r"^(\d\d)_")


class NotebookError(ValueError):
    """The file cannot be graded: missing, not a notebook, or naming an unknown exercise."""


@dataclass
class ExerciseReport:
    """The grade of one exercise of a notebook."""

    id: str
    name: str
    points: float
    max_points: float
    passed: bool
    message: str
    cases: list[tuple[str, bool, str]] = field(default_factory=list)


@dataclass
class Problem:
    """Something that went wrong in the notebook itself, outside any one exercise's checks.

    ``kind`` is one of ``"cell-error"``, ``"sys-exit"``, ``"timeout"``, ``"kernel-died"``,
    ``"memory"``, ``"output-limit"``, ``"gave-up"``, ``"setup"``, ``"file-changed"``,
    ``"not-graded"``, ``"not-hidden"`` (the project could not be hidden from the kernel); ``cell`` is the cell's index in the notebook (0-based, markdown cells
    counted), or ``None`` for a problem during grading.
    """

    kind: str
    message: str
    cell: int | None = None
    exercise_id: str | None = None
    error: str | None = None


@dataclass
class NotebookReport:
    """Everything ``course-grade`` says about one notebook.

    ``graded`` is False when the notebook could not be graded at all (missing, not a valid
    notebook, the grader failed); ``problems`` then says why.
    """

    path: str
    exercises: list[ExerciseReport]
    problems: list[Problem]
    seconds: float = 0.0
    graded: bool = True

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def to_dict(self) -> dict:
        """A JSON-ready dict: the fields above plus the totals."""
        d = asdict(self)
        d["points"], d["max_points"] = self.points, self.max_points
        d["seconds"] = round(self.seconds, 2)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NotebookReport:
        """The report :meth:`to_dict` wrote."""
        exercises = [ExerciseReport(**{**e, "cases": [tuple(c) for c in e["cases"]]}) for e in d["exercises"]]
        problems = [Problem(**p) for p in d["problems"]]
        return cls(d["path"], exercises, problems, d["seconds"], d.get("graded", True))


# -- reading ----------------------------------------------------------------------------------
def _parse(text: str, path: Path) -> nbformat.NotebookNode:
    try:
        with warnings.catch_warnings():  # a missing cell id is fixed on reading; not the learner's problem
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # JSON errors, unknown nbformat versions, bad encodings
        raise NotebookError(tr(f"{path}: not a valid notebook ({type(error).__name__}: {error})",
                               f"{path}：不是有效的笔记本（{type(error).__name__}：{error}）")) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nb)
    except nbformat.ValidationError as error:  # e.g. a cell without "source"
        where = "/".join(str(p) for p in error.absolute_path) or tr("top level", "顶层")
        raise NotebookError(tr(f"{path}: not a valid notebook (schema: {error.message} at {where})",
                               f"{path}：不是有效的笔记本（模式校验：{where} 处 {error.message}）")) from None
    return nb


def _read(path: Path) -> tuple[bytes, nbformat.NotebookNode]:
    if not path.is_file():
        raise NotebookError(tr(f"{path}: no such file", f"{path}：文件不存在"))
    if path.suffix != ".ipynb":
        raise NotebookError(tr(f"{path}: not a notebook (expected a .ipynb file)", f"{path}：不是笔记本（应为 .ipynb 文件）"))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotebookError(tr(f"{path}: not a valid notebook (not UTF-8: {error})",
                               f"{path}：不是有效的笔记本（不是 UTF-8：{error}）")) from None
    return data, _parse(text, path)


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read ``path`` as a notebook, or raise :class:`NotebookError` saying why it is not one.

    The notebook must pass nbformat's schema validation (a cell without ``source`` fails).
    """
    return _read(Path(path))[1]


def find_exercise_ids(nb: nbformat.NotebookNode, path: str | Path = "notebook") -> list[str]:
    """The exercise ids a notebook contains, validated against the registry.

    A notebook named like a chapter (``NN_*.ipynb``) holds that chapter's exercises, as the
    registry lists them: what the notebook says about itself does not count. Any other
    notebook lists them in its metadata ``course.exercises``, or else is searched for
    ``check("<id>", ...)`` calls; repeated ids count once.
    """
    from course_lib.grading.registry import all_exercises, get

    match = _CHAPTER.match(Path(path).name)
    if match:
        ids = [i for i, ex in all_exercises().items() if ex.chapter == match.group(1)]
        if ids:
            return ids
    listed = nb.metadata.get("course", {}).get("exercises")
    if listed is None:
        listed = [m.group(2) for cell in nb.cells if cell.cell_type == "code"
                  for m in _CHECK_CALL.finditer(cell.source)]
        where = "check(...) calls"
    else:
        where = 'metadata["course"]["exercises"]'
    if not isinstance(listed, list) or not all(isinstance(i, str) for i in listed):
        raise NotebookError(tr(f"{path}: {where} must be a list of exercise ids; got {listed!r}",
                               f"{path}：{where} 必须是练习 id 的列表，得到的是 {listed!r}"))
    if not listed:
        raise NotebookError(
            tr(f'{path}: no exercises found (no metadata["course"]["exercises"] and no check("<id>", ...) calls)',
               f'{path}：没有找到练习（既没有 metadata["course"]["exercises"]，也没有 check("<id>", ...) 调用）')
        )
    for exercise_id in listed:
        try:
            get(exercise_id)
        except ValueError as error:
            raise NotebookError(f"{path}: {where}: {error}") from None
    return list(dict.fromkeys(listed))  # each exercise once, however often it is listed


# -- one kernel -------------------------------------------------------------------------------
@dataclass
class _Outcome:
    """What happened to one executed cell."""

    status: str  # "ok" | "error" | "died" | "stuck"
    seconds: float
    timed_out: bool = False  # the runner interrupted it (not a KeyboardInterrupt of its own)
    asked_exit: bool = False  # exit()/quit(): ipykernel shuts itself down shortly after
    ename: str = ""
    evalue: str = ""
    output_exceeded: bool = False

    @property
    def kernel_lost(self) -> bool:
        return self.status in ("died", "stuck") or self.asked_exit

    @property
    def out_of_memory(self) -> bool:
        return any(word in f"{self.ename}: {self.evalue}" for word in sandbox.MEMORY_ERRORS)


def _output_size(msg: dict) -> int:
    content = msg.get("content", {})
    size = len(content.get("text", "")) + sum(len(str(v)) for v in (content.get("data") or {}).values())
    return size + sum(len(line) for line in content.get("traceback", []))


class _Client(NotebookClient):
    """nbclient's client, told when the runner interrupted a cell, keeping at most ``output_limit`` bytes."""

    output_limit = OUTPUT_LIMIT

    def reset_cell_state(self) -> None:
        self.interrupted = False
        self.output_exceeded = False
        self.output_bytes = 0

    async def _async_handle_timeout(self, timeout, cell=None):
        self.interrupted = True
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        # Endless printing must not fill the grader's memory: past the limit, drop and interrupt.
        self.output_bytes += _output_size(msg)
        if self.output_bytes <= self.output_limit:
            return super().output(outs, msg, display_id, cell_index)
        if not self.output_exceeded and self.km is not None:
            self.output_exceeded = True
            asyncio.ensure_future(_settled(self.km.interrupt_kernel()))
        return None


# The kernel imports the grader (and so torch) as it starts, before it first answers; the
# worker imports them meanwhile on the other core (_Kernel.start's ``meanwhile``). exec in a
# dict of its own: nothing lands in the learner's namespace, and nothing is displayed.
_PRELOAD = ("--IPKernelApp.exec_lines="
            "exec('from course_lib.grading import registry, remote; registry.all_exercises()', {})")


class _Kernel:
    """One fresh ``python3`` kernel driven by nbclient, executing one cell at a time."""

    def __init__(self, folder: Path, *, memory_limit: int | None = MEMORY_LIMIT,
                 output_limit: int = OUTPUT_LIMIT, library: Path | None = None,
                 cover: sandbox.Cover | None = None):
        self.folder, self.library, self.cover = folder, library, cover
        self.memory_limit = memory_limit
        self.timeout = 30.0
        self.reply: dict | None = None
        # The client executes a scratch notebook of one cell: the graded notebook is never
        # handed to it, so nothing can write back into it.
        self.client = _Client(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")]),
            kernel_name="python3",
            timeout_func=lambda cell: self.timeout,
            interrupt_on_timeout=True,
            allow_errors=True,
            resources={"metadata": {"path": str(folder)}},
            on_cell_executed=self._keep_reply,
            startup_timeout=STARTUP_TIMEOUT,
            extra_arguments=[_PRELOAD],
        )
        self.client.output_limit = output_limit
        self.client.reset_cell_state()

    def _keep_reply(self, cell, cell_index, execute_reply) -> None:
        self.reply = execute_reply

    def _launch_options(self) -> dict:
        # One thread per kernel: kernels run side by side, and forking a kernel whose
        # OpenMP pool has threads could hang the copy.
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
        if self.library is not None:  # course_lib from its copy, and nothing else of the project's
            env["PYTHONPATH"] = str(self.library)
        # The kernel's own stderr carries only its start-up chatter; cell output arrives on iopub.
        options = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        preexec = sandbox.preexec(memory=self.memory_limit, cover=self.cover)
        if preexec is not None:  # the project out of sight (sandbox.cover_plan), memory capped
            options["preexec_fn"] = preexec
        return options

    async def start(self, meanwhile: Callable[[], None] | None = None) -> None:
        """Start the kernel, starting a fresh one when it dies or stays silent while starting.

        On a loaded machine a kernel can take long to answer, or die before it answers (a port
        taken between being chosen and being bound): that is the machine's fault, never the
        notebook's, so it is waited for (``STARTUP_TIMEOUT``) and retried (``START_ATTEMPTS``).
        ``meanwhile`` is called once, in this thread, after the first kernel process is
        launched and before it is waited for: work that overlaps with the kernel's start-up.
        """
        for attempt in range(1, START_ATTEMPTS + 1):
            self.client.create_kernel_manager()
            error = await _failure(self.client.async_start_new_kernel(**self._launch_options()))
            if error is None and meanwhile is not None:
                meanwhile, call = None, meanwhile
                call()  # outside _failure: what it raises is the caller's, not the kernel's
            if error is None:
                error = await _failure(self.client.async_start_new_kernel_client())
            if error is None:
                return
            await self.stop()
            if attempt == START_ATTEMPTS:
                raise RuntimeError(tr(f"no kernel could be started in {START_ATTEMPTS} attempts: {error}",
                                      f"尝试 {START_ATTEMPTS} 次都无法启动内核：{error}"))

    async def stop(self) -> None:
        """Kill the kernel if it still runs, then release its connection file, ports and channels.

        Uses the kernel manager and client that nbclient exposes (``client.km``, ``client.kc``)
        through jupyter_client's public API, in the order of nbclient's own cleanup. A dead,
        stuck or half-started kernel is cleaned up too; calling it again does nothing.
        """
        km, kc = self.client.km, self.client.kc
        self.client.km = self.client.kc = None
        if km is None:
            return
        try:
            if await _settled(km.is_alive()):
                # now=True: a stuck cell would only delay a polite shutdown request
                await _settled(km.shutdown_kernel(now=True))  # kills the process, then cleans up
                km = None
        except Exception:  # it died meanwhile: the cleanup below is still needed
            pass
        if km is not None:  # a dead or half-started kernel still holds its files, ports, zmq context
            with contextlib.suppress(Exception):
                await _settled(km.cleanup_resources())
        if kc is not None:
            await _settled(kc.stop_channels())

    async def run(self, source: str, timeout: float) -> _Outcome:
        self.timeout, self.reply = timeout, None
        self.client.reset_cell_state()
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells[0] = cell
        start = time.monotonic()
        task = asyncio.ensure_future(self.client.async_execute_cell(cell, 0, store_history=True))
        # nbclient interrupts at `timeout` and waits for the reply; a cell that swallows
        # the KeyboardInterrupt would keep it waiting, so we stop waiting a little later.
        done, _ = await asyncio.wait({task}, timeout=timeout + INTERRUPT_GRACE)
        seconds = time.monotonic() - start
        exceeded = self.client.output_exceeded
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return _Outcome("stuck", seconds, timed_out=True, output_exceeded=exceeded)
        try:
            task.result()
        except DeadKernelError:
            return _Outcome("died", seconds, output_exceeded=exceeded)
        content = (self.reply or {}).get("content", {})
        asked_exit = any(p.get("source") == "ask_exit" and not p.get("keepkernel")
                         for p in content.get("payload", []))
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if content.get("status") == "error" or errors:
            ename = content.get("ename") or (errors[0].ename if errors else "Error")
            evalue = content.get("evalue") or (errors[0].evalue if errors else "")
            # Only an interrupt the runner sent is a timeout; a KeyboardInterrupt the code raised is its own.
            timed_out = ename == "KeyboardInterrupt" and self.client.interrupted
            return _Outcome("error", seconds, timed_out, asked_exit, ename, evalue, exceeded)
        return _Outcome("ok", seconds, asked_exit=asked_exit, output_exceeded=exceeded)


async def _failure(step) -> RuntimeError | None:
    """Await one step of starting a kernel; the RuntimeError it raised, or None if it succeeded."""
    try:
        await step
    except RuntimeError as error:  # "Kernel died before replying", "didn't respond in N seconds"
        return error
    return None


async def _settled(value):
    """Await ``value`` if it is awaitable (jupyter_client's async managers), else return it."""
    return await value if inspect.isawaitable(value) else value


async def _cancel_stray_tasks() -> None:
    # nbclient's per-cell pollers outlive a cancelled or dead cell; drop them with the kernel.
    current = asyncio.current_task()
    stray = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in stray:
        task.cancel()
    await asyncio.gather(*stray, return_exceptions=True)


# -- grading ----------------------------------------------------------------------------------
# Runs in the kernel once its cells have run: forks the single-threaded snapshot that grades
# each exercise in a copy of its own (course_lib.grading.snapshot).
_SNAPSHOT_CELL = '''\
def {fn}():
    import builtins
    from course_lib.grading import snapshot
    if not snapshot.start(builtins.globals(), {path!r}):
        raise RuntimeError("the grading snapshot did not start")
{fn}()
del {fn}
'''


# Grades the reference of each exercise once, in a throwaway namespace, before any learner
# code runs: the lazy imports and set-up of torch that the checks need (sympy, torch._dynamo
# behind torch.optim, ...) happen here, once per kernel, and not in every forked copy. (It
# fails, and says so, where the kernel could not import the grader.)
_WARM_UP = """exec('''
import importlib
from course_lib.grading.registry import check
for exercise_id in {ids!r}:
    module, name = exercise_id.rsplit(".", 1)
    check(exercise_id, getattr(importlib.import_module("course_lib." + module), name), quiet=True)
''', {{}})"""
#: Seconds a fresh kernel may take to import the grader and torch (a loaded machine is slow).
WARM_UP_TIMEOUT = 120.0
#: Seconds the kernel gets, beyond an exercise's timeout, to fork the copy and collect it.
GRADE_GRACE = 10.0


def _first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


def _read_small(path: Path, limit: int = 1 << 22) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return None


def _gigabytes(nbytes: int | None) -> str:
    return f"{nbytes / (1 << 30):g} GB" if nbytes else "no limit"


class _Grading:
    """The state of grading one notebook: its kernel, its problems, the cells to skip."""

    def __init__(self, nb, folder: Path, ids: list[str] | None, timeout: float, *, private: Path,
                 memory_limit: int | None = MEMORY_LIMIT, output_limit: int = OUTPUT_LIMIT, reap: bool = False,
                 library: Path | None = None, cover: sandbox.Cover | None = None, path: Path | None = None):
        self.nb, self.path = nb, path or folder / "notebook.ipynb"
        self.folder, self.ids, self.timeout, self.library = folder, ids, timeout, library
        self.maxima: dict[str, float] | None = None  # set by resolve()
        self.cover = cover
        self.private, self.reap = private, reap
        self.memory_limit, self.output_limit = memory_limit, output_limit
        self.cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
        self.skip: set[int] = set()  # killed the kernel or timed out: not replayed
        self.problems: list[Problem] = []
        self._seen: set[tuple] = set()
        self.restarts = 0
        self.kernel: _Kernel | None = None
        self.channel: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None  # to the snapshot

    def _report(self, problem: Problem) -> None:
        key = (problem.kind, problem.cell, problem.exercise_id)
        if key not in self._seen:  # a replay repeats the errors it already reported
            self._seen.add(key)
            self.problems.append(problem)

    def resolve(self) -> None:
        """Decide, in this process, which exercises the notebook holds and what each is worth.

        Called while the first kernel starts (it imports the registry, and so torch, as the
        kernel does): the ids (:func:`find_exercise_ids`, or the ones given, checked) and the
        maxima come from the registry here, never from the kernel.
        """
        from course_lib.grading import remote  # noqa: F401 (the proxy's module: imported now, not while grading)
        from course_lib.grading.registry import get

        if self.ids is None:
            self.ids = find_exercise_ids(self.nb, self.path)
        else:
            self.ids = list(dict.fromkeys(self.ids))
            for exercise_id in self.ids:
                try:
                    get(exercise_id)
                except ValueError as error:
                    raise NotebookError(f"{self.path}: {error}") from None
        self.maxima = {i: get(i).max_points for i in self.ids}

    async def _start(self) -> None:
        self.kernel = _Kernel(self.folder, memory_limit=self.memory_limit, output_limit=self.output_limit,
                              library=self.library, cover=self.cover)
        await self.kernel.start(meanwhile=self.resolve if self.maxima is None else None)
        # The kernel imported the grader as it started (_PRELOAD); the warm-up grades the references
        # before the notebook runs: a slow first call must not eat the timeout of the learner's first cell.
        outcome = await self.kernel.run(_WARM_UP.format(ids=self.ids), max(self.timeout, WARM_UP_TIMEOUT))
        if outcome.status != "ok":
            self._report(Problem("setup", tr(f"the kernel could not import the grader: {outcome.ename}: "
                                             f"{outcome.evalue}", f"内核无法导入评分程序：{outcome.ename}："
                                             f"{outcome.evalue}"), error=outcome.ename or None))

    async def _stop(self) -> None:
        """Stop the kernel and, in a worker, kill every process the notebook started."""
        await self._close_channel()
        if self.kernel is not None:
            await self.kernel.stop()
        await _cancel_stray_tasks()
        if self.reap:
            sandbox.kill_descendants()

    async def _restart(self) -> bool:
        await self._stop()
        if self.restarts >= MAX_RESTARTS:
            self._report(Problem("gave-up", tr(f"the kernel died {self.restarts + 1} times; stopped restarting it",
                                               f"内核已崩溃 {self.restarts + 1} 次，不再重启")))
            self.kernel = None
            return False
        self.restarts += 1
        await self._start()
        return True

    def _cell_problem(self, index: int, cell, outcome: _Outcome) -> None:
        where = tr(f"cell {index} (`{_first_line(cell.source)}`)", f"第 {index} 个单元格（`{_first_line(cell.source)}`）")
        if outcome.output_exceeded:
            self._report(Problem("output-limit", tr(f"{where}: output limit exceeded (it printed more than "
                                                    f"{self.output_limit} bytes); interrupted it and went on",
                                                    f"{where}：输出超出上限（打印了超过 {self.output_limit} 字节）；"
                                                    f"已中断它并继续"), index))
        elif outcome.status == "died":
            self._report(Problem("kernel-died", tr(f"{where}: the kernel died; restarted it and replayed "
                                                   "the notebook without this cell",
                                                   f"{where}：内核崩溃；已重启内核，并跳过这个单元格重新运行笔记本"), index))
        elif outcome.status == "stuck":
            self._report(Problem("timeout", tr(f"{where}: timed out after {self.timeout:g} s and ignored "
                                               "the interrupt; restarted the kernel without this cell",
                                               f"{where}：{self.timeout:g} 秒后超时，且忽略了中断；"
                                               f"已重启内核并跳过这个单元格"), index))
        elif outcome.asked_exit:
            self._report(Problem("kernel-died", tr(f"{where}: called exit(), which shuts the kernel down; "
                                                   "restarted it and replayed the notebook without this cell",
                                                   f"{where}：调用了 exit()，这会关闭内核；"
                                                   f"已重启内核，并跳过这个单元格重新运行笔记本"), index))
        elif outcome.timed_out:
            self._report(Problem("timeout", tr(f"{where}: timed out after {self.timeout:g} s (an endless "
                                               "loop?); interrupted it and went on",
                                               f"{where}：{self.timeout:g} 秒后超时（死循环？）；已中断它并继续"),
                                 index, error="KeyboardInterrupt"))
        elif outcome.ename == "SystemExit":
            self._report(Problem("sys-exit", tr(f"{where}: called sys.exit(); ignored it and went on",
                                                f"{where}：调用了 sys.exit()；已忽略并继续"),
                                 index, error="SystemExit"))
        elif outcome.out_of_memory:
            self._report(Problem("memory", tr(f"{where}: memory limit exceeded ({_gigabytes(self.memory_limit)} "
                                              f"per notebook): {outcome.ename}",
                                              f"{where}：超出内存上限（每个笔记本 {_gigabytes(self.memory_limit)}）："
                                              f"{outcome.ename}"), index, error=outcome.ename))
        elif outcome.status == "error" and "raises-exception" not in cell.metadata.get("tags", []):
            self._report(Problem("cell-error", tr(f"{where}: raised {outcome.ename}: {outcome.evalue}",
                                                  f"{where}：抛出了 {outcome.ename}：{outcome.evalue}"),
                                 index, error=outcome.ename))

    async def run_cells(self) -> bool:
        """Run the notebook's cells, replaying from the top after each kernel death."""
        position = 0
        while position < len(self.cells):
            index, cell = self.cells[position]
            position += 1
            if index in self.skip:
                continue
            outcome = await self.kernel.run(cell.source, self.timeout)
            self._cell_problem(index, cell, outcome)
            if outcome.timed_out or outcome.kernel_lost or outcome.output_exceeded:
                self.skip.add(index)
            if outcome.kernel_lost:
                if not await self._restart():
                    return False
                position = 0
        return True

    async def _open_snapshot(self) -> bool:
        """Have the kernel fork the grading snapshot and connect to it; False if it did not start."""
        path = self.private / f"{uuid.uuid4().hex[:12]}.sock"
        source = _SNAPSHOT_CELL.format(fn=f"_course_grade_{uuid.uuid4().hex[:8]}", path=str(path))
        outcome = await self.kernel.run(source, max(self.timeout, WARM_UP_TIMEOUT))
        if outcome.status != "ok" or not path.exists():
            if not outcome.kernel_lost:  # e.g. the notebook replaced os.fork: nothing can be graded
                self._report(Problem("setup", tr(f"the grader could not start grading in the kernel: "
                                                 f"{outcome.ename or outcome.status}: {outcome.evalue}",
                                                 f"评分程序无法在内核中开始评分："
                                                 f"{outcome.ename or outcome.status}：{outcome.evalue}"),
                                     error=outcome.ename or None))
            return False
        try:
            self.channel = await asyncio.open_unix_connection(str(path))
        except OSError as error:
            self._report(Problem("setup", tr(f"the grader could not reach the kernel's grading process: {error}",
                                             f"评分程序无法连接内核中的评分进程：{error}")))
            return False
        return True

    async def _ready(self) -> bool:
        """A snapshot to grade from: a new one from the kernel, which is restarted and replayed if it died."""
        while self.kernel is not None:
            alive = await _settled(self.kernel.client.km.is_alive())
            if alive and await self._open_snapshot():
                return True
            if alive and await _settled(self.kernel.client.km.is_alive()):
                return False  # the kernel lives but cannot fork a snapshot: restarting will not help
            self._report(Problem("kernel-died", tr("the kernel died after its cells ran (a thread or process a "
                                                   "cell started?); restarted it and replayed the notebook",
                                                   "内核在单元格运行完之后崩溃（某个单元格启动的线程或进程？）；"
                                                   "已重启内核并重新运行笔记本")))
            if not (await self._restart() and await self.run_cells()):
                return False
        return False

    async def _close_channel(self) -> None:
        if self.channel is not None:
            _, writer = self.channel
            self.channel = None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _ask(self, request: dict) -> str:
        """Send one grading request to the snapshot; its answer, or "" if the snapshot is gone."""
        reader, writer = self.channel
        try:
            writer.write((json.dumps(request) + "\n").encode())
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), request["timeout"] + GRADE_GRACE)
            return str(json.loads(line)["state"]) if line else ""
        except (OSError, asyncio.TimeoutError, ValueError, KeyError, TypeError):
            return ""

    async def grade(self, exercise_id: str, max_points: float) -> ExerciseReport:
        """Run the checks here, on a proxy of the candidate served by a copy of the kernel's snapshot."""
        from course_lib.grading.registry import get

        ex = get(exercise_id)
        report = ExerciseReport(exercise_id, ex.name, 0.0, max_points, False, "")
        path = self.private / f"{uuid.uuid4().hex[:12]}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(1)
        listener.settimeout(self.timeout + GRADE_GRACE)
        asking = asyncio.ensure_future(self._ask({"id": exercise_id, "name": ex.name, "timeout": self.timeout,
                                                  "serve": str(path)}))
        try:
            result, message = await asyncio.to_thread(_check_remotely, listener, exercise_id, ex.name, self.timeout)
        finally:
            listener.close()
        state = await asking
        if not state:
            await self._close_channel()
        if result is not None:
            report.points, report.passed = min(result.points, max_points), result.passed
            report.message, report.cases = result.message, result.cases
            if any(word in report.message for word in sandbox.MEMORY_ERRORS):  # as on the in-kernel path
                report.message = tr(f"memory limit exceeded ({_gigabytes(self.memory_limit)} per notebook) "
                                    f"while grading `{ex.name}`: {report.message}",
                                    f"评分 `{ex.name}` 时超出内存上限（每个笔记本 {_gigabytes(self.memory_limit)}）："
                                    f"{report.message}")
        elif state == "timeout":
            report.message = tr(f"grading `{ex.name}` timed out after {self.timeout:g} s: does it loop forever?",
                                f"评分 `{ex.name}` 在 {self.timeout:g} 秒后超时：是否陷入了死循环？")
            self._report(Problem("timeout", report.message, exercise_id=exercise_id))
        elif message:
            report.message = message
        else:
            report.message = tr(f"the process grading `{ex.name}` ended before it finished ({state or 'no answer'}): "
                                "does it call os._exit, exit() or crash the process?",
                                f"评分 `{ex.name}` 的进程在完成前就结束了（{state or 'no answer'}）："
                                "它是否调用了 os._exit、exit()，或让进程崩溃？")
            self._report(Problem("grading-died", report.message, exercise_id=exercise_id))
        return report

    async def run(self) -> list[ExerciseReport]:
        try:
            await self._start()  # and self.resolve(), while the kernel starts
            alive = await self.run_cells()
            reports = []
            for exercise_id in self.ids:
                if alive and self.channel is None:
                    alive = await self._ready()
                if alive:
                    reports.append(await self.grade(exercise_id, self.maxima[exercise_id]))
                else:
                    from course_lib.grading.registry import get

                    ex = get(exercise_id)
                    reports.append(ExerciseReport(exercise_id, ex.name, 0.0, self.maxima[exercise_id], False,
                                                  tr("not graded: the kernel kept dying or could not grade",
                                                     "未评分：内核反复崩溃或无法评分")))
            return reports
        finally:
            await self._close_channel()
            await self._stop()


def _check_remotely(listener: socket.socket, exercise_id: str, name: str, timeout: float):
    """(CheckResult or None, message): the checks of ``exercise_id`` on the candidate the kernel serves."""
    from course_lib.grading import remote
    from course_lib.grading.registry import check

    try:
        connection, _ = listener.accept()
    except OSError:
        return None, tr(f"the kernel did not serve `{name}`", f"内核没有提供 `{name}`")
    with connection:
        connection.settimeout(timeout)
        channel = remote.Channel(connection)
        try:
            if not channel.receive().get("defined"):
                return None, tr(f"`{name}` is not defined (did its cell raise?)",
                                f"`{name}` 没有定义（它的单元格出错了吗？）")
            candidate = remote.RemoteCandidate(channel, 0)
            result = check(exercise_id, candidate, quiet=True)
        except KeyboardInterrupt:
            return None, tr(f"your code raised KeyboardInterrupt while `{name}` was graded",
                            f"评分 `{name}` 时你的代码引发了 KeyboardInterrupt")
        except (OSError, remote.ChannelLost):  # timed out or died: the snapshot's state says which
            return None, ""
    tripped = [m for _, ok, m in result.cases if not ok and "ReferenceCalled" in m]
    if tripped:  # it called the very function it re-implements: nothing of it counts
        result.points, result.passed = 0.0, False
        result.message = tripped[0].split("ReferenceCalled: ", 1)[-1].split(" (inside the library", 1)[0]
    return result, ""


def _run_async(coroutine):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # called from a running event loop (e.g. inside Jupyter): use a loop of our own
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _library_copy(folder: Path) -> Path:
    """A read-only copy of this course_lib in ``folder``: what the kernel imports.

    The kernel never sees the project's own folder (nor ``solutions/``): a notebook that edits
    course_lib on disk edits its own copy, thrown away after it, never the grader's.
    """
    import course_lib

    shutil.copytree(Path(course_lib.__file__).parent, folder / "course_lib")
    for path in [folder / "course_lib", *(folder / "course_lib").rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return folder


def _private_root() -> Path | None:
    """This user's folder for the grader's own files (reports), hidden from every kernel; None if unsafe."""
    root = Path(tempfile.gettempdir()) / f"course-grade-private-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None  # not a folder of ours alone (planted by someone?): use a fresh one in the open
    return root


def _hidden(project: list[Path], extra: list[str], writable: list[Path]) -> list[Path]:
    """The folders to hide: the project's, then each extra one the kernel does not need, none inside another."""
    private = _private_root()
    wanted = [p.resolve() for p in writable]
    folders = list(project)
    for name in [*extra, *([private] if private else [])]:
        folder = Path(name).resolve()
        # One holding a folder the kernel writes to (home, the temporary folder) cannot be hidden.
        if folder.is_dir() and not any(w.is_relative_to(folder) for w in wanted):
            folders.append(folder)
    return [f for f in folders if not any(f != g and f.is_relative_to(g) for g in folders)]


def _cover(scratch: Path, folder: Path, library: Path, extra: list[str] = ()) -> tuple[sandbox.Cover | None,
                                                                                        Problem | None]:
    """How the kernel's namespaces hide the project and the ``extra`` folders, or why they cannot."""
    import course_lib
    from jupyter_core.paths import jupyter_runtime_dir

    package = Path(course_lib.__file__).resolve().parent
    project = sandbox.project_root(package)
    runtime = Path(jupyter_runtime_dir())  # the connection file: the kernel reads it from there
    runtime.mkdir(parents=True, exist_ok=True)
    writable = [scratch, Path(tempfile.gettempdir()), runtime, Path.home()]
    # An installed course_lib is only read-only; a checkout's is hidden with the rest of it.
    readonly = [Path(sys.prefix), Path(sys.base_prefix), library, *([] if project else [package])]
    hide = project
    try:
        hide = _hidden(project, list(extra), writable)
        cover = sandbox.cover_plan(hide, writable=writable, readonly=readonly, cwd=folder)
        why = sandbox.cover_failure(cover)
    except (OSError, ValueError) as error:
        why = f"{type(error).__name__}: {error}"
    if why is None:
        return cover, None
    where = ", ".join(map(str, project)) or str(package)
    return None, Problem("not-hidden", tr(
        f"the project ({where}) could not be hidden from the kernel ({why}): a notebook could read or change "
        "it by absolute path; graded anyway",
        f"无法对内核隐藏项目（{where}）（{why}）：笔记本可以通过绝对路径读取或修改它；仍然照常评分"))


def _writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        with contextlib.suppress(OSError):
            path.chmod(0o755 if path.is_dir() else 0o644)


def _grade_here(path: Path, text: str, ids: list[str] | None, timeout: float, *,
                memory_limit: int | None = MEMORY_LIMIT, output_limit: int = OUTPUT_LIMIT,
                reap: bool = False, hide: list[str] = ()) -> NotebookReport:
    """Grade the notebook ``text`` (read from ``path``) in this process, in a copy in a temporary folder.

    ``ids``: the exercises to grade, or None for :func:`find_exercise_ids`'s (an unknown id
    or a notebook without exercises raises :class:`NotebookError`). The worker calls this
    with ``reap=True`` (it is the subreaper of the notebook's processes). ``hide``: folders
    the kernel must not see, besides the project and the grader's private folder.
    """
    nb = _parse(text, path)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-grade-") as scratch:
        # The kernel works in a copy of the notebook, in a folder named like the notebook's own.
        folder = Path(scratch) / "work" / (path.parent.name or "notebook")
        folder.mkdir(parents=True)
        (folder / path.name).write_text(text, encoding="utf-8")
        private = Path(scratch) / "results"
        private.mkdir(mode=0o700)
        library = _library_copy(Path(scratch) / "lib")
        cover, problem = _cover(Path(scratch), folder, library, hide)
        grading = _Grading(nb, folder, ids, float(timeout), private=private, memory_limit=memory_limit,
                           output_limit=output_limit, reap=reap, library=library, cover=cover, path=path)
        if problem is not None:
            grading._report(problem)
        try:
            reports = _run_async(grading.run())
        finally:
            _writable(library)  # so that the folder can be removed
    return NotebookReport(str(path), reports, grading.problems, time.monotonic() - start)


def _exercise_bound(nb, exercise_ids: list[str] | None) -> int:
    """At most how many exercises the worker will grade, for its deadline (it decides which)."""
    if exercise_ids is not None:
        return len(exercise_ids)
    listed = nb.metadata.get("course", {}).get("exercises")
    calls = {m.group(2) for cell in nb.cells if cell.cell_type == "code" for m in _CHECK_CALL.finditer(cell.source)}
    return max(len(listed) if isinstance(listed, list) else 0, len(calls), 8)  # 8: more than any chapter has


class _WorkerServer:
    """A ``worker --serve`` process that forks every notebook's worker (see :func:`forked_workers`)."""

    def __init__(self):
        # A socket pair, not an address: a kernel (same user) finds nothing to connect to.
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.lock = threading.Lock()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "course_lib.grading.worker", "--serve", str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=[theirs.fileno()], start_new_session=True)

    def close(self) -> None:
        """Close the control socket (the server kills whatever is left and exits), then wait for it."""
        self.control.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def run(self, request: dict, stderr, deadline: float) -> str | None:
        """Grade ``request`` in a forked worker; None if none could be forked (then spawn one)."""
        end = time.monotonic() + deadline
        connection, theirs = socket.socketpair()
        with connection:
            try:
                with theirs, self.lock:
                    socket.send_fds(self.control, [b"w"], [theirs.fileno(), stderr.fileno()])
                connection.settimeout(min(STARTUP_TIMEOUT, deadline))  # the server may still be importing
                connection.sendall(json.dumps(request).encode() + b"\n")
                answer = b""
                while not answer.endswith(b"\n"):
                    chunk = connection.recv(64)
                    if not chunk:
                        return None
                    answer += chunk
                pid = int(answer)
            except (OSError, ValueError):  # the server is gone, could not fork, or is stuck
                return None
            done = False
            try:
                done = _closed(connection, max(end - time.monotonic(), 0.001))
                if not done:  # SIGTERM: the worker kills the notebook's processes, then exits
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                    done = _closed(connection, 15)
                    raise _Overdue
            finally:
                if not done:  # interrupted (Ctrl-C), or deaf to SIGTERM: take the worker down
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        return tr("the worker exited without a report", "工作进程退出，没有留下报告")


def _closed(connection: socket.socket, timeout: float) -> bool:
    """Wait until the worker at the other end exits (its end closes); False after ``timeout`` s."""
    connection.settimeout(timeout)
    try:
        while connection.recv(4096):
            pass
    except TimeoutError:
        return False
    return True


class _Overdue(Exception):
    """The worker ran past the notebook's deadline and was stopped."""


_SERVER: _WorkerServer | None = None


@contextlib.contextmanager
def forked_workers():
    """Within this block, every notebook's worker is forked from one server that imported the grader.

    A worker imports the grader, and so torch, which costs 2-3 s of CPU: for a class this is
    paid once instead of once per notebook (``course-grade`` uses it for more than one
    notebook). Each forked worker does what a spawned one does (its own session, subreaper,
    deadline, atomic report); where none can be forked, a worker is spawned as usual. The
    server inherits the environment as it is when the block starts. Blocks may nest.
    """
    global _SERVER
    if _SERVER is not None:
        yield
        return
    try:
        _SERVER = _WorkerServer()
    except OSError:  # no such socket pair here (macOS has no SOCK_SEQPACKET): spawn every worker
        yield
        return
    try:
        yield
    finally:
        server, _SERVER = _SERVER, None
        server.close()


def _spawned(request: dict, stderr, deadline: float) -> str:
    """Grade ``request`` in a worker started as ``python -m course_lib.grading.worker``."""
    worker = subprocess.Popen([sys.executable, "-m", "course_lib.grading.worker"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    try:
        worker.communicate(json.dumps(request).encode(), timeout=deadline)
    except subprocess.TimeoutExpired:  # SIGTERM: the worker kills the notebook's processes, then exits
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        raise _Overdue from None
    finally:
        if worker.poll() is None:  # interrupted (Ctrl-C): take the worker down with us
            worker.kill()
            worker.wait()
    return tr(f"exit status {worker.returncode}", f"退出状态 {worker.returncode}")


def _worker(path: Path, text: str, ids: list[str] | None, timeout: float, memory_limit, output_limit,
            deadline: float, hide: list[str]) -> NotebookReport:
    """Grade in a worker process of its own; raise NotebookError or RuntimeError if it gives no report."""
    with tempfile.TemporaryDirectory(prefix="course-grade-worker-", dir=_private_root()) as private:
        result, errors = Path(private) / "report.json", Path(private) / "stderr.txt"
        token = secrets.token_hex(16)  # known to this process and the worker only: never in a file
        request = {"path": str(path), "text": text, "ids": ids, "timeout": timeout, "result": str(result),
                   "memory_limit": memory_limit, "output_limit": output_limit, "token": token, "hide": hide}
        server, start = _SERVER, time.monotonic()
        try:
            with open(errors, "wb") as stderr:
                status = server.run(request, stderr, deadline) if server is not None else None
                if status is None:
                    status = _spawned(request, stderr, max(deadline - (time.monotonic() - start), 1.0))
        except _Overdue:
            raise RuntimeError(tr(f"{path}: grading took longer than {deadline:g} s; stopped it",
                                  f"{path}：评分超过 {deadline:g} 秒；已停止")) from None
        try:
            document = json.loads(_read_small(result) or "null")
        except ValueError:
            document = None
        if not (isinstance(document, dict) and document.get("token") == token):  # none, or not the worker's
            document = None
        if isinstance(document, dict) and "notebook_error" in document:  # it holds no (known) exercises
            raise NotebookError(str(document["notebook_error"]))
        if not isinstance(document, dict) or "report" not in document:
            why = (document or {}).get("error") if isinstance(document, dict) else None
            tail = (_read_small(errors) or "").strip().splitlines()[-3:]
            raise RuntimeError(tr(f"{path}: the grader failed: {why or ' / '.join(tail) or status}",
                                  f"{path}：评分程序出错：{why or ' / '.join(tail) or status}"))
        return NotebookReport.from_dict(document["report"])


def grade_notebook(path: str | Path, *, timeout: float = 30, exercise_ids: list[str] | None = None,
                   memory_limit: int | None = MEMORY_LIMIT, output_limit: int = OUTPUT_LIMIT,
                   notebook_timeout: float | None = None, hide: Sequence[str | Path] = ()) -> NotebookReport:
    """Execute a copy of the notebook at ``path`` in a fresh kernel and grade its exercises.

    Parameters
    ----------
    path : str or Path
        The notebook. It is read once and never written to (unless the notebook deletes it
        while graded: then the version read is put back).
    timeout : float, default 30
        Seconds each cell, and each exercise's grading, may run before it is interrupted.
    exercise_ids : list of str, optional
        The exercises to grade; by default those of :func:`find_exercise_ids`.
    memory_limit : int or None, default ``MEMORY_LIMIT``
        Bytes of address space the kernel may use (``None``: no limit).
    output_limit : int, default ``OUTPUT_LIMIT``
        Bytes of output kept per cell; a cell printing more is interrupted.
    notebook_timeout : float, optional
        Seconds the whole notebook may take (default: generous, from ``timeout`` and its size).
    hide : sequence of str or Path, default ()
        Folders the kernel must not see, besides the project checkout, the notebook's own
        folder and the grader's private folder (which are always hidden): for a class, the
        folder of every student's work. A folder that holds one the kernel writes to (the
        home or temporary folder) cannot be hidden and is left visible.

    Returns
    -------
    NotebookReport
        One :class:`ExerciseReport` per exercise (id, points, max_points, passed, message)
        and the notebook's :class:`Problem` s (cell errors, timeouts, ``sys.exit``, kernel deaths).

    Raises
    ------
    NotebookError
        The file is missing, is not a valid notebook, or names an unknown exercise id.
    RuntimeError
        The grader itself failed (no kernel could be started, the notebook ran past
        ``notebook_timeout``).
    """
    if not timeout > 0:
        raise ValueError(f"timeout={timeout}; expected a positive number of seconds")
    path = Path(path)
    data, nb = _read(path)
    if exercise_ids is not None and not (isinstance(exercise_ids, list) and all(isinstance(i, str) for i in exercise_ids)):
        raise ValueError(f"exercise_ids={exercise_ids!r}; expected a list of exercise ids (str) or None")
    if isinstance(hide, (str, Path)) or not all(isinstance(h, (str, Path)) for h in hide):
        raise ValueError(f"hide={hide!r}; expected a list of folders (str or Path)")
    cells = sum(c.cell_type == "code" for c in nb.cells)
    deadline = notebook_timeout or 300 + 2 * timeout * (cells + _exercise_bound(nb, exercise_ids))
    # The worker decides which exercises the notebook holds (find_exercise_ids, in its process):
    # this one never imports the registry, so the worker starts at once.
    # The notebook's own folder too: other notebooks (a classmate's work) lie next to it.
    hidden = [str(path.resolve().parent), *map(str, hide)]
    report = _worker(path, data.decode("utf-8"), exercise_ids, float(timeout), memory_limit, output_limit, deadline,
                     hidden)
    report.path = str(path)
    if not path.exists():  # deleted through an absolute path: nothing of the learner's is lost
        path.write_bytes(data)
        report.problems.append(Problem("file-changed", tr(f"{path}: the notebook deleted its own file while "
                                                          "graded; put the graded version back",
                                                          f"{path}：笔记本在评分时删除了自己的文件；已放回评分的版本")))
    elif path.read_bytes() != data:
        report.problems.append(Problem("file-changed", tr(f"{path}: the file changed while it was graded (by "
                                                          "the notebook, or saved from an editor); graded the "
                                                          "version read first",
                                                          f"{path}：文件在评分期间被改动（被笔记本本身，或从编辑器保存）；"
                                                          f"评的是最先读到的版本")))
    return report
