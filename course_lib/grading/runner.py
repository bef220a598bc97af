"""Grade a whole exercise notebook: run it in a fresh kernel, then grade each exercise in it.

:func:`grade_notebook` is what ``course-grade`` calls. It never writes to the graded file:
the notebook is read once into memory and executed there, cell by cell, with
:class:`nbclient.NotebookClient` in a fresh ``python3`` kernel whose working directory is
the notebook's folder. Then, for each exercise, it runs one more cell in the same kernel
that calls ``course_lib.grading.check(id, globals().get(name), quiet=True)`` and prints the
result as a JSON line behind a marker no notebook can guess.

Every step is isolated so that one broken exercise costs only its own points:

- A cell that raises is reported (index and error name) and execution goes on, exactly as
  "Run All" would in Jupyter if it did not stop on errors.
- A cell or a grading call that runs longer than ``timeout`` seconds is interrupted
  (``interrupt_on_timeout``) and execution goes on; a grading call that times out scores 0.
- ``sys.exit()`` in a cell only raises ``SystemExit`` inside IPython: it is reported and the
  kernel keeps running.
- **Kernel deaths** (``os._exit``, a segfault, ``exit()``, a cell that ignores the interrupt):
  the death is reported, a fresh kernel is started and the notebook's cells are *replayed*
  from the top, skipping every cell that killed the kernel or timed out before (so the
  replay cannot die the same way twice or pay the same timeout twice). If the kernel dies
  while grading an exercise, that exercise scores 0 and the next one is graded after the
  replay. After ``MAX_RESTARTS`` restarts the runner gives up and the exercises not graded
  yet score 0 with a message saying so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import re
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from course_lib.grading.registry import get

__all__ = ["ExerciseReport", "Problem", "NotebookReport", "NotebookError", "grade_notebook",
           "read_notebook", "find_exercise_ids"]

#: How many times one notebook may kill its kernel before the runner stops restarting it.
MAX_RESTARTS = 5
#: Seconds a starting kernel may take to answer (a loaded machine), and how many fresh kernels
#: are tried when one dies or stays silent while starting: never the notebook's fault.
STARTUP_TIMEOUT = 120.0
START_ATTEMPTS = 3
#: Extra seconds a timed-out cell gets to answer the interrupt before its kernel is restarted.
INTERRUPT_GRACE = 5.0

_CHECK_CALL = re.compile(r"""\bcheck\(\s*(['"])([A-Za-z_][\w.]*)\1""")


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
    ``"gave-up"``, ``"setup"``; ``cell`` is the cell's index in the notebook (0-based, markdown cells
    counted), or ``None`` for a problem during grading.
    """

    kind: str
    message: str
    cell: int | None = None
    exercise_id: str | None = None
    error: str | None = None


@dataclass
class NotebookReport:
    """Everything ``course-grade`` says about one notebook."""

    path: str
    exercises: list[ExerciseReport]
    problems: list[Problem]
    seconds: float = 0.0

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


# -- reading ----------------------------------------------------------------------------------
def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read ``path`` as a notebook, or raise :class:`NotebookError` saying why it is not one."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: no such file")
    if path.suffix != ".ipynb":
        raise NotebookError(f"{path}: not a notebook (expected a .ipynb file)")
    try:
        return nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as error:  # JSON errors, unknown nbformat versions, bad encodings
        raise NotebookError(f"{path}: not a valid notebook ({type(error).__name__}: {error})") from None


def find_exercise_ids(nb: nbformat.NotebookNode, path: str | Path = "notebook") -> list[str]:
    """The exercise ids a notebook contains, validated against the registry.

    The notebook metadata ``course.exercises`` lists them; a notebook without it is searched
    for ``check("<id>", ...)`` calls instead.
    """
    listed = nb.metadata.get("course", {}).get("exercises")
    if listed is None:
        seen: dict[str, None] = {}
        for cell in nb.cells:
            if cell.cell_type == "code":
                for match in _CHECK_CALL.finditer(cell.source):
                    seen.setdefault(match.group(2))
        listed = list(seen)
        where = "check(...) calls"
    else:
        where = 'metadata["course"]["exercises"]'
    if not isinstance(listed, list) or not all(isinstance(i, str) for i in listed):
        raise NotebookError(f"{path}: {where} must be a list of exercise ids; got {listed!r}")
    if not listed:
        raise NotebookError(
            f'{path}: no exercises found (no metadata["course"]["exercises"] and no check("<id>", ...) calls)'
        )
    for exercise_id in listed:
        try:
            get(exercise_id)
        except ValueError as error:
            raise NotebookError(f"{path}: {where}: {error}") from None
    return listed


# -- one kernel -------------------------------------------------------------------------------
@dataclass
class _Outcome:
    """What happened to one executed cell."""

    status: str  # "ok" | "error" | "died" | "stuck"
    seconds: float
    timed_out: bool = False
    asked_exit: bool = False  # exit()/quit(): ipykernel shuts itself down shortly after
    ename: str = ""
    evalue: str = ""
    stdout: str = ""

    @property
    def kernel_lost(self) -> bool:
        return self.status in ("died", "stuck") or self.asked_exit


class _Kernel:
    """One fresh ``python3`` kernel driven by nbclient, executing one cell at a time."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.timeout = 30.0
        self.reply: dict | None = None
        # The client executes a scratch notebook of one cell: the graded notebook is never
        # handed to it, so nothing can write back into it.
        self.client = NotebookClient(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")]),
            kernel_name="python3",
            timeout_func=lambda cell: self.timeout,
            interrupt_on_timeout=True,
            allow_errors=True,
            resources={"metadata": {"path": str(folder)}},
            on_cell_executed=self._keep_reply,
            startup_timeout=STARTUP_TIMEOUT,
        )

    def _keep_reply(self, cell, cell_index, execute_reply) -> None:
        self.reply = execute_reply

    async def start(self) -> None:
        """Start the kernel, starting a fresh one when it dies or stays silent while starting.

        On a loaded machine a kernel can take long to answer, or die before it answers (a port
        taken between being chosen and being bound): that is the machine's fault, never the
        notebook's, so it is waited for (``STARTUP_TIMEOUT``) and retried (``START_ATTEMPTS``).
        """
        for attempt in range(1, START_ATTEMPTS + 1):
            self.client.create_kernel_manager()
            try:
                # The kernel's own stderr carries only its start-up chatter; cell output arrives on iopub.
                await self.client.async_start_new_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await self.client.async_start_new_kernel_client()
                return
            except RuntimeError as error:  # "Kernel died before replying", "didn't respond in N seconds"
                await self.stop()
                if attempt == START_ATTEMPTS:
                    raise RuntimeError(f"no kernel could be started in {START_ATTEMPTS} attempts: {error}") from None

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
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells[0] = cell
        start = time.monotonic()
        task = asyncio.ensure_future(self.client.async_execute_cell(cell, 0, store_history=True))
        # nbclient interrupts at `timeout` and waits for the reply; a cell that swallows
        # the KeyboardInterrupt would keep it waiting, so we stop waiting a little later.
        done, _ = await asyncio.wait({task}, timeout=timeout + INTERRUPT_GRACE)
        seconds = time.monotonic() - start
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return _Outcome("stuck", seconds, timed_out=True)
        try:
            task.result()
        except DeadKernelError:
            return _Outcome("died", seconds)
        stdout = "".join(o.get("text", "") for o in cell.outputs
                         if o.output_type == "stream" and o.name == "stdout")
        content = (self.reply or {}).get("content", {})
        asked_exit = any(p.get("source") == "ask_exit" and not p.get("keepkernel")
                         for p in content.get("payload", []))
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if content.get("status") == "error" or errors:
            ename = content.get("ename") or (errors[0].ename if errors else "Error")
            evalue = content.get("evalue") or (errors[0].evalue if errors else "")
            timed_out = ename == "KeyboardInterrupt" and seconds >= timeout
            return _Outcome("error", seconds, timed_out, asked_exit, ename, evalue, stdout)
        return _Outcome("ok", seconds, asked_exit=asked_exit, stdout=stdout)


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
_GRADE_CELL = '''\
def {fn}():
    import builtins, json, sys
    from course_lib.grading.registry import check, get
    payload = {{"points": 0, "max_points": 0, "passed": False, "cases": []}}
    try:
        payload["max_points"] = get({id!r}).max_points
        namespace = builtins.globals()  # the notebook's namespace, even if it shadows `globals`
        if {name!r} not in namespace:
            payload["message"] = "`{name}` is not defined (did its cell raise?)"
        else:
            r = check({id!r}, namespace.get({name!r}), quiet=True)
            payload.update(points=r.points, max_points=r.max_points, passed=r.passed,
                           message=r.message, cases=r.cases)
    except KeyboardInterrupt:
        payload["interrupted"] = True
        payload["message"] = "interrupted"
    except BaseException as error:  # SystemExit and anything the grader let through
        payload["message"] = f"grading stopped: your code raised {{type(error).__name__}}: {{error}}"
    sys.stdout.write("\\n{marker}" + json.dumps(payload) + "\\n")
    sys.stdout.flush()
{fn}()
del {fn}
'''


_WARM_UP = 'exec("from course_lib.grading.registry import all_exercises; all_exercises()", {})'
#: Seconds a fresh kernel may take to import the grader and torch (a loaded machine is slow).
WARM_UP_TIMEOUT = 120.0


def _first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


class _Grading:
    """The state of grading one notebook: its kernel, its problems, the cells to skip."""

    def __init__(self, nb, path: Path, ids: list[str], timeout: float):
        self.path, self.ids, self.timeout = path, ids, timeout
        self.cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
        self.skip: set[int] = set()  # killed the kernel or timed out: not replayed
        self.problems: list[Problem] = []
        self._seen: set[tuple] = set()
        self.restarts = 0
        self.kernel: _Kernel | None = None
        self.kernel_lost = False  # the last grading call killed or hung the kernel
        self.marker = f"@@course-grade-{uuid.uuid4().hex}@@"

    def _report(self, problem: Problem) -> None:
        key = (problem.kind, problem.cell, problem.exercise_id)
        if key not in self._seen:  # a replay repeats the errors it already reported
            self._seen.add(key)
            self.problems.append(problem)

    async def _start(self) -> None:
        self.kernel = _Kernel(self.path.parent)
        await self.kernel.start()
        # Import the grader (and so torch) before the notebook runs, in a throwaway namespace:
        # a slow first import must not eat the timeout of the learner's first cell.
        outcome = await self.kernel.run(_WARM_UP, max(self.timeout, WARM_UP_TIMEOUT))
        if outcome.status != "ok":
            self._report(Problem("setup", f"the kernel could not import the grader: {outcome.ename}: "
                                 f"{outcome.evalue}", error=outcome.ename or None))

    async def _restart(self) -> bool:
        await self.kernel.stop()
        await _cancel_stray_tasks()
        if self.restarts >= MAX_RESTARTS:
            self._report(Problem("gave-up", f"the kernel died {self.restarts + 1} times; stopped restarting it"))
            self.kernel = None
            return False
        self.restarts += 1
        await self._start()
        return True

    def _cell_problem(self, index: int, cell, outcome: _Outcome) -> None:
        where = f"cell {index} (`{_first_line(cell.source)}`)"
        if outcome.status == "died":
            self._report(Problem("kernel-died", f"{where}: the kernel died; restarted it and replayed "
                                 "the notebook without this cell", index))
        elif outcome.status == "stuck":
            self._report(Problem("timeout", f"{where}: timed out after {self.timeout:g} s and ignored "
                                 "the interrupt; restarted the kernel without this cell", index))
        elif outcome.asked_exit:
            self._report(Problem("kernel-died", f"{where}: called exit(), which shuts the kernel down; "
                                 "restarted it and replayed the notebook without this cell", index))
        elif outcome.timed_out:
            self._report(Problem("timeout", f"{where}: timed out after {self.timeout:g} s (an endless "
                                 "loop?); interrupted it and went on", index, error="KeyboardInterrupt"))
        elif outcome.ename == "SystemExit":
            self._report(Problem("sys-exit", f"{where}: called sys.exit(); ignored it and went on",
                                 index, error="SystemExit"))
        elif outcome.status == "error" and "raises-exception" not in cell.metadata.get("tags", []):
            self._report(Problem("cell-error", f"{where}: raised {outcome.ename}: {outcome.evalue}",
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
            if outcome.timed_out or outcome.kernel_lost:
                self.skip.add(index)
            if outcome.kernel_lost:
                if not await self._restart():
                    return False
                position = 0
        return True

    async def grade(self, exercise_id: str) -> ExerciseReport:
        ex = get(exercise_id)
        report = ExerciseReport(exercise_id, ex.name, 0.0, ex.max_points, False, "")
        source = _GRADE_CELL.format(fn=f"_course_grade_{uuid.uuid4().hex[:8]}", id=exercise_id,
                                    name=ex.name, marker=self.marker)
        outcome = await self.kernel.run(source, self.timeout)
        payload = None
        for line in outcome.stdout.splitlines():
            if line.startswith(self.marker):
                payload = json.loads(line[len(self.marker):])
        if outcome.status == "stuck":
            report.message = (f"grading `{ex.name}` timed out after {self.timeout:g} s and ignored the "
                              "interrupt (does it loop forever?); restarted the kernel")
            self._report(Problem("timeout", report.message, exercise_id=exercise_id))
            self.kernel_lost = True
        elif outcome.kernel_lost:
            report.message = (f"the kernel died while grading `{ex.name}` (does it call os._exit, "
                              "exit() or crash the process?); restarted it")
            self._report(Problem("kernel-died", report.message, exercise_id=exercise_id))
            self.kernel_lost = True
        elif outcome.timed_out or (payload or {}).get("interrupted"):
            report.message = f"grading `{ex.name}` timed out after {self.timeout:g} s: does it loop forever?"
            self._report(Problem("timeout", report.message, exercise_id=exercise_id))
        elif payload is None:
            report.message = (f"the grader printed no result ({outcome.ename or 'no error'}: "
                              f"{outcome.evalue}); does the notebook replace sys.stdout?")
        else:
            report.points, report.passed = float(payload["points"]), bool(payload["passed"])
            report.max_points = float(payload["max_points"] or ex.max_points)
            report.message = payload["message"]
            report.cases = [tuple(c) for c in payload["cases"]]
        return report

    async def run(self) -> list[ExerciseReport]:
        await self._start()
        try:
            alive = await self.run_cells()
            reports = []
            for exercise_id in self.ids:
                if alive and self.kernel_lost:  # the previous exercise took the kernel down
                    self.kernel_lost = False
                    alive = await self._restart() and await self.run_cells()
                if alive:
                    reports.append(await self.grade(exercise_id))
                else:
                    ex = get(exercise_id)
                    reports.append(ExerciseReport(exercise_id, ex.name, 0.0, ex.max_points, False,
                                                  "not graded: the kernel kept dying"))
            return reports
        finally:
            if self.kernel is not None:
                await self.kernel.stop()
            await _cancel_stray_tasks()


def grade_notebook(path: str | Path, *, timeout: float = 30, exercise_ids: list[str] | None = None) -> NotebookReport:
    """Execute a copy of the notebook at ``path`` in a fresh kernel and grade its exercises.

    Parameters
    ----------
    path : str or Path
        The notebook. It is read once and never written to.
    timeout : float, default 30
        Seconds each cell, and each exercise's grading, may run before it is interrupted.
    exercise_ids : list of str, optional
        The exercises to grade; by default the notebook's ``metadata["course"]["exercises"]``,
        or else the ids of the ``check("<id>", ...)`` calls in its code cells.

    Returns
    -------
    NotebookReport
        One :class:`ExerciseReport` per exercise (id, points, max_points, passed, message)
        and the notebook's :class:`Problem` s (cell errors, timeouts, ``sys.exit``, kernel deaths).

    Raises
    ------
    NotebookError
        The file is missing, is not a notebook, or names an unknown exercise id.
    """
    if not timeout > 0:
        raise ValueError(f"timeout={timeout}; expected a positive number of seconds")
    path = Path(path)
    nb = read_notebook(path)
    if exercise_ids is None:
        ids = find_exercise_ids(nb, path)
    else:
        ids = list(exercise_ids)
        for exercise_id in ids:
            get(exercise_id)
    grading = _Grading(nb, path.resolve(), ids, float(timeout))
    start = time.monotonic()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        reports = asyncio.run(grading.run())
    else:  # called from a running event loop (e.g. inside Jupyter): use a loop of our own
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            reports = pool.submit(asyncio.run, grading.run()).result()
    return NotebookReport(str(path), reports, grading.problems, time.monotonic() - start)
