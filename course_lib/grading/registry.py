"""The exercise registry and ``check``: grade one candidate function against the reference.

An exercise re-implements one public course_lib function and its id is that function's
dotted name inside course_lib (``attention.softmax``). Each chapter's checks live in
``course_lib/grading/checks/<module>.py`` and register themselves with :func:`exercise`::

    @exercise("attention.softmax", name="softmax")
    def _(candidate, g):
        x = g.randn(3, 5)
        with g.case("matches the reference on a random (3, 5) input"):
            g.assert_close(candidate(x), softmax(x), hint="normalise along the last axis")

Every ``case`` is worth one point (or ``points=``) and is graded on its own: an exception
in one case costs only that case. A failing case records a hint, never the answer. When
the candidate's output matches a known mistake, the hint names that mistake.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import pkgutil
import sys
import traceback
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from course_lib.i18n import tr

__all__ = ["CheckResult", "Exercise", "Grader", "CaseFailed", "exercise", "all_exercises", "get", "check"]


@dataclass
class CheckResult:
    """The outcome of grading one exercise."""

    exercise_id: str
    passed: bool
    points: float
    max_points: float
    message: str
    cases: list[tuple[str, bool, str]] = field(default_factory=list)

    def verdict(self) -> str:
        """One line: a mark, the id, the points and the hint."""
        mark = tr("PASS", "通过") if self.passed else tr("FAIL", "未通过")
        return tr(f"[{mark}] {self.exercise_id}: {self.points:g}/{self.max_points:g} points. {self.message}",
                  f"[{mark}] {self.exercise_id}：{self.points:g}/{self.max_points:g} 分。{self.message}")

    def _ipython_display_(self) -> None:
        # check() has already printed the verdict; showing the object again would repeat it.
        pass


class CaseFailed(AssertionError):
    """Raised inside a case to fail it with a hint for the learner."""


@dataclass
class Exercise:
    """One registered exercise: its id, the name learners define, and its check function."""

    id: str
    name: str
    run: Callable[[Callable, Grader], None]
    description: str = ""
    chapter: str = ""

    @property
    def max_points(self) -> float:
        g = Grader(dry_run=True)
        self.run(_never_called, g)
        return g.max_points


def _never_called(*args, **kwargs):
    raise CaseFailed(tr("dry run", "试运行"))


class Grader:
    """Records the cases of one exercise; passed to each check function as ``g``."""

    def __init__(self, seed: int = 0, dry_run: bool = False):
        self.generator = torch.Generator().manual_seed(seed)
        self.dry_run = dry_run
        self.cases: list[tuple[str, bool, str, float]] = []
        #: Set by :func:`check` for a candidate served from the learner's kernel (see remote.py).
        self.remote_spying = None

    # -- random inputs ---------------------------------------------------------------------
    def randn(self, *shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """A seeded standard-normal tensor (float64 by default, so tolerances can be tight)."""
        return torch.randn(*shape, generator=self.generator, dtype=dtype)

    def randint(self, low: int, high: int, *shape: int) -> torch.Tensor:
        return torch.randint(low, high, shape, generator=self.generator)

    def rand_mask(self, *shape: int, p: float = 0.7) -> torch.Tensor:
        """A seeded boolean mask, True with probability ``p``."""
        return torch.rand(*shape, generator=self.generator) < p

    # -- cases -----------------------------------------------------------------------------
    @contextmanager
    def case(self, title: str, points: float = 1.0):
        """Grade the body as one case worth ``points``; any exception fails only this case."""
        if self.dry_run:
            self.cases.append((title, False, "", points))
            try:
                yield
            except Exception:
                pass
            return
        try:
            yield
        except CaseFailed as failure:
            self.cases.append((title, False, str(failure), points))
        except NotImplementedError:
            self.cases.append((title, False, tr("not implemented yet: replace `raise NotImplementedError`",
                                                "尚未实现：请替换 `raise NotImplementedError`"), points))
        except Exception as error:  # the learner's code crashed: say where, in the learner's code
            self.cases.append((title, False, _describe_error(error), points))
        else:
            self.cases.append((title, True, "", points))

    @property
    def max_points(self) -> float:
        return sum(c[3] for c in self.cases)

    # -- assertions ------------------------------------------------------------------------
    def expect(self, condition, hint: str) -> None:
        """Fail the current case with ``hint`` unless ``condition`` holds."""
        if not bool(condition):
            raise CaseFailed(hint)

    def expect_value_error(self, call: Callable[[], object], hint: str, *, naming: str | None = None) -> None:
        """Fail the current case unless ``call()`` raises ``ValueError`` (bad input must be refused).

        ``naming``: the argument the task says the message names; it must appear in the message.
        """
        try:
            call()
        except ValueError as error:
            if naming is not None and naming not in str(error):
                raise CaseFailed(tr(f"the ValueError's message ({str(error)[:80]!r}) does not name `{naming}`, "
                                    f"as the task asks. {hint}",
                                    f"ValueError 的消息（{str(error)[:80]!r}）没有按题目要求写出 `{naming}`。"
                                    f"{hint}")) from None
            return
        except NotImplementedError:
            raise
        except Exception as error:  # a crash is not the clear message the learner owes the user
            raise CaseFailed(tr(f"raised {type(error).__name__} instead of ValueError. {hint}",
                                f"抛出的是 {type(error).__name__}，而不是 ValueError。{hint}")) from None
        raise CaseFailed(tr(f"no error was raised (expected a ValueError). {hint}",
                            f"没有抛出任何错误（应抛出 ValueError）。{hint}"))

    @contextmanager
    def spying(self, **targets: tuple[object, str]):
        """Record which of ``targets`` (``label=(owner, attribute)``) the body calls; yields the labels called.

        For the rules of a task such as "do not call torch.softmax here": the originals still
        run, so the candidate's result is unchanged, and they are restored afterwards.
        """
        if self.remote_spying is not None:  # the candidate runs in the learner's kernel: spy there
            with self.remote_spying(targets) as called:
                yield called
            return
        called: list[str] = []
        saved = []
        for label, (owner, attribute) in targets.items():
            original = getattr(owner, attribute)

            def spy(*args, _original=original, _label=label, **kwargs):
                called.append(_label)
                return _original(*args, **kwargs)

            saved.append((owner, attribute, original))
            setattr(owner, attribute, spy)
        try:
            yield called
        finally:
            for owner, attribute, original in reversed(saved):
                setattr(owner, attribute, original)

    def assert_close(
        self,
        got,
        expected: torch.Tensor,
        *,
        hint: str,
        mistakes: Mapping[str, torch.Tensor] | None = None,
        rtol: float = 1e-5,
        atol: float = 1e-6,
        what: str = "output",
        check_dtype: bool = True,
    ) -> None:
        """Fail unless ``got`` equals ``expected`` in shape, dtype and value.

        ``check_dtype=False`` accepts any dtype (where the task does not state one).
        ``mistakes`` maps a description of a known wrong implementation to the output that
        implementation gives; when ``got`` matches one, the hint names that mistake.
        """
        if not isinstance(got, torch.Tensor):
            raise CaseFailed(tr(f"{what} should be a torch.Tensor; got {type(got).__name__}",
                                f"{what} 应是 torch.Tensor，得到的是 {type(got).__name__}"))
        got64, expected64 = got.detach().to(torch.float64), expected.detach().to(torch.float64)

        def name_the_mistake() -> None:
            # A mistake may change the shape too (queries and keys swapped gives (L_k, L_q)).
            for description, wrong in (mistakes or {}).items():
                wrong64 = wrong.detach().to(torch.float64)
                if wrong64.shape == got64.shape and torch.allclose(got64, wrong64, rtol=rtol, atol=atol):
                    raise CaseFailed(tr(f"looks like {description}. {hint}", f"看起来是{description}。{hint}"))

        if tuple(got.shape) != tuple(expected.shape):
            name_the_mistake()
            raise CaseFailed(tr(f"{what} has shape {tuple(got.shape)}; expected {tuple(expected.shape)}",
                                f"{what} 的形状是 {tuple(got.shape)}，应为 {tuple(expected.shape)}"))
        close = torch.allclose(got64, expected64, rtol=rtol, atol=atol, equal_nan=False)
        if check_dtype and got.dtype != expected.dtype:
            if not close:
                name_the_mistake()
            raise CaseFailed(tr(f"{what} has dtype {got.dtype}; expected {expected.dtype}. Keep the dtype of the "
                                f"inputs: build constants as Python numbers (or with dtype=x.dtype), and do not "
                                f"convert with .float() or .double()",
                                f"{what} 的 dtype 是 {got.dtype}，应为 {expected.dtype}。请保持输入的 dtype："
                                f"常数用 Python 数字构造（或指定 dtype=x.dtype），"
                                f"不要用 .float() 或 .double() 转换"))
        if close:
            return
        if torch.isnan(got64).any() and not torch.isnan(expected64).any():
            raise CaseFailed(tr(f"{what} contains NaN where the reference has none. {hint}",
                                f"{what} 含有 NaN，而参考实现没有。{hint}"))
        name_the_mistake()
        err = (got64 - expected64).abs().nan_to_num(float("inf")).max().item()
        raise CaseFailed(tr(f"{what} differs from the reference (max abs error {err:.3g}). {hint}",
                            f"{what} 与参考实现不同（最大绝对误差 {err:.3g}）。{hint}"))

    def result(self, exercise_id: str) -> CheckResult:
        points = sum(p for _, ok, _, p in self.cases if ok)
        max_points = self.max_points
        failures = [(title, msg) for title, ok, msg, _ in self.cases if not ok]
        if not self.cases:
            message = tr("no checks ran", "没有运行任何检查")
        elif not failures:
            message = tr(f"all {len(self.cases)} checks passed.", f"全部 {len(self.cases)} 项检查通过。")
        elif len(failures) > 1 and len({msg for _, msg in failures}) == 1:  # e.g. a stub: one line, not n
            message = tr(f"Failed {len(failures)} of {len(self.cases)} checks, each: {failures[0][1]}",
                         f"{len(self.cases)} 项检查中有 {len(failures)} 项未通过，原因相同：{failures[0][1]}")
        elif len(failures) == 1:
            title, msg = failures[0]
            message = tr(f"Failed: {title}: {msg}", f"未通过：{title}：{msg}")
        else:  # every failing case, each on its own line: one fix may not be the only one needed
            lines = [f"  {n}. {title}: {msg}" for n, (title, msg) in enumerate(failures, start=1)]
            message = tr(f"Failed {len(failures)} of {len(self.cases)} checks:\n",
                         f"{len(self.cases)} 项检查中有 {len(failures)} 项未通过：\n") + "\n".join(lines)
        return CheckResult(
            exercise_id=exercise_id,
            passed=bool(self.cases) and not failures,
            points=points,
            max_points=max_points,
            message=message,
            cases=[(t, ok, m) for t, ok, m, _ in self.cases],
        )


# -- where an error came from -------------------------------------------------------------------
_LIBRARY_DIRS = tuple(os.path.dirname(m.__file__) + os.sep for m in (torch, np, importlib.import_module("course_lib")))
_STDLIB_DIR = os.path.dirname(os.__file__) + os.sep


def _is_library_frame(filename: str) -> bool:
    return filename.startswith(_LIBRARY_DIRS) or filename.startswith(_STDLIB_DIR)


def _describe_error(error: BaseException) -> str:
    """``your code raised X: msg (line N: `source`)``, pointing at the learner's deepest frame."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not _is_library_frame(f.filename)]
    text = tr(f"your code raised {type(error).__name__}: {error}", f"你的代码抛出了 {type(error).__name__}：{error}")
    if not frames:
        return text + tr(" (inside the library, called with what your code passed it or returned)",
                         "（发生在库内部，调用它的参数来自你的代码传入或返回的值）")
    last = frames[-1]
    line = f": `{last.line.strip()}`" if last.line else ""
    return tr(f"{text} (line {last.lineno} of {last.name}{line})", f"{text}（{last.name} 的第 {last.lineno} 行{line}）")


# -- inputs must survive the candidate ------------------------------------------------------------
def _snapshot(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)) and any(isinstance(v, (torch.Tensor, np.ndarray)) for v in value):
        return [_snapshot(v) for v in value]
    return None


def _unchanged(value, before) -> bool:
    if isinstance(value, torch.Tensor):
        return (value.shape == before.shape and value.dtype == before.dtype
                and torch.equal(value.detach(), before))
    if isinstance(value, np.ndarray):
        return value.shape == before.shape and np.array_equal(value, before, equal_nan=True)
    return len(value) == len(before) and all(b is None or _unchanged(v, b) for v, b in zip(value, before))


def _restore(value, before) -> None:
    try:
        if isinstance(value, torch.Tensor):
            with torch.no_grad():
                value.resize_(before.shape).copy_(before)
        elif isinstance(value, np.ndarray):
            value[...] = before
        elif isinstance(value, list):
            for v, b in zip(value, before):
                if b is not None:
                    _restore(v, b)
    except Exception:  # a tensor that cannot be written back (a view of a leaf): the case fails anyway
        pass


def _argument_names(fn, args: tuple, kwargs: dict) -> list[tuple[str, object]]:
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
        named = []
        for name, value in bound.arguments.items():
            kind = inspect.signature(fn).parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                named += [(f"{name}[{i}]", v) for i, v in enumerate(value)]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                named += list(value.items())
            else:
                named.append((name, value))
        return named
    except (TypeError, ValueError):
        return [(f"argument {i + 1}", v) for i, v in enumerate(args)] + list(kwargs.items())


class _InputGuard:
    """Snapshots the tensor and array arguments of one call and fails the case if the call changed one."""

    def __init__(self, fn, args: tuple, kwargs: dict, what: str):
        self.what = what
        self.saved = [(name, value, _snapshot(value)) for name, value in _argument_names(fn, args, kwargs)]
        self.saved = [(n, v, b) for n, v, b in self.saved if b is not None]

    def verify(self) -> None:
        changed = [name for name, value, before in self.saved if not _unchanged(value, before)]
        for name, value, before in self.saved:
            if name in changed:
                _restore(value, before)  # later cases and the reference see the original again
        if changed:
            names = ", ".join(f"`{n}`" for n in changed)
            raise CaseFailed(tr(f"{self.what} changed its input {names}: an in-place operation on it "
                                f"(an augmented assignment such as -=, an assignment into a slice, or a method "
                                f"whose name ends in an underscore). Compute a new tensor and leave the inputs "
                                f"as they were given",
                                f"{self.what}修改了它的输入 {names}：对输入做了原地操作（如 -= 这样的增强赋值、"
                                f"对切片赋值，或名字以下划线结尾的方法）。请计算一个新张量，"
                                f"让输入保持传入时的样子"))


def _guard_module(module: torch.nn.Module, what: str) -> None:
    """Hooks on ``module`` that fail the case when its forward changes its inputs."""
    pending: list[_InputGuard] = []

    def before(mod, args, kwargs):
        pending.append(_InputGuard(mod.forward, args, kwargs, what))

    def after(mod, args, kwargs, output):
        if pending:
            pending.pop().verify()

    module.register_forward_pre_hook(before, with_kwargs=True)
    module.register_forward_hook(after, with_kwargs=True, always_call=True)


def guarded(candidate: Callable, exercise_name: str) -> Callable:
    """``candidate`` wrapped so that a call that changes its inputs fails the case that made it.

    A function's tensor and array arguments are copied before the call and compared after it;
    a class's instances get the same check on every ``forward`` (through module hooks). The
    grader's references are computed after the candidate on the same tensors, so a changed
    input is caught before it can poison them, and is restored for the later cases.
    """
    if isinstance(candidate, type):
        if not issubclass(candidate, torch.nn.Module):
            return candidate

        @functools.wraps(candidate, updated=())
        def build(*args, **kwargs):
            module = candidate(*args, **kwargs)
            if isinstance(module, torch.nn.Module):
                _guard_module(module, tr(f"your {exercise_name}'s forward", f"你的 {exercise_name} 的 forward "))
            return module

        return build

    @functools.wraps(candidate)
    def call(*args, **kwargs):
        guard = _InputGuard(candidate, args, kwargs, tr(f"your function {exercise_name}", f"你的函数 {exercise_name} "))
        result = candidate(*args, **kwargs)
        guard.verify()
        return result

    return call


_REGISTRY: dict[str, Exercise] = {}
_loaded = False


def exercise(exercise_id: str, *, name: str, description: str = "", chapter: str = ""):
    """Register the decorated ``fn(candidate, g)`` as the checks of ``exercise_id``.

    ``name`` is what the learner's notebook defines (a function or class name).
    """

    def register(fn: Callable[[Callable, Grader], None]):
        if exercise_id in _REGISTRY:
            raise ValueError(f"exercise id {exercise_id!r} is registered twice")
        _REGISTRY[exercise_id] = Exercise(exercise_id, name, fn, description or (fn.__doc__ or "").strip(), chapter)
        return fn

    return register


def all_exercises() -> dict[str, Exercise]:
    """Every registered exercise, by id (imports every module in ``grading/checks``)."""
    global _loaded
    if not _loaded:
        from course_lib.grading import checks

        for info in pkgutil.iter_modules(checks.__path__):
            importlib.import_module(f"{checks.__name__}.{info.name}")
        _loaded = True
    return _REGISTRY


def get(exercise_id: str) -> Exercise:
    """The exercise with this id; ``ValueError`` listing the known ids otherwise."""
    exercises = all_exercises()
    if exercise_id not in exercises:
        known = ", ".join(sorted(exercises))
        raise ValueError(f"unknown exercise id {exercise_id!r}; known ids: {known}")
    return exercises[exercise_id]


def check(exercise_id: str, candidate: Callable, *, seed: int = 0, quiet: bool = False) -> CheckResult:
    """Grade ``candidate`` as exercise ``exercise_id`` and print a one-line verdict.

    Parameters
    ----------
    exercise_id : str
        The dotted course_lib name the candidate re-implements, e.g. ``"attention.softmax"``.
    candidate : callable
        The learner's function or class.
    seed : int
        Seed of the random test inputs.
    quiet : bool
        Do not print the verdict (the ``course-grade`` command collects results itself).

    Returns
    -------
    CheckResult
        ``passed``, ``points``, ``max_points`` and ``message`` (a hint, never the answer).
    """
    ex = get(exercise_id)
    g = Grader(seed=seed)
    if not callable(candidate):
        g.cases.append((tr("the candidate is callable", "被检查的对象可以调用"), False,
                        tr(f"expected a function or class; got {type(candidate).__name__}",
                           f"应是函数或类，得到的是 {type(candidate).__name__}"), ex.max_points))
    else:
        remote_spying = getattr(type(candidate), "remote_spying", None)  # on the type: no remote lookup
        if remote_spying is not None:
            g.remote_spying = functools.partial(remote_spying, candidate)
        ex.run(guarded(candidate, ex.name), g)
    result = g.result(exercise_id)
    if not quiet:  # one write: print() writes the line and its newline apart, and a kernel may send them apart
        sys.stdout.write(result.verdict() + "\n")
    return result
