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

import importlib
import pkgutil
import traceback
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

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
        mark = "PASS" if self.passed else "FAIL"
        return f"[{mark}] {self.exercise_id}: {self.points:g}/{self.max_points:g} points. {self.message}"

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
    raise CaseFailed("dry run")


class Grader:
    """Records the cases of one exercise; passed to each check function as ``g``."""

    def __init__(self, seed: int = 0, dry_run: bool = False):
        self.generator = torch.Generator().manual_seed(seed)
        self.dry_run = dry_run
        self.cases: list[tuple[str, bool, str, float]] = []

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
            self.cases.append((title, False, "not implemented yet: replace `raise NotImplementedError`", points))
        except Exception as error:  # the learner's code crashed: say where, briefly
            last = traceback.extract_tb(error.__traceback__)[-1]
            self.cases.append(
                (title, False, f"your code raised {type(error).__name__}: {error} (line {last.lineno})", points)
            )
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

    def expect_value_error(self, call: Callable[[], object], hint: str) -> None:
        """Fail the current case unless ``call()`` raises ``ValueError`` (bad input must be refused)."""
        try:
            call()
        except ValueError:
            return
        except NotImplementedError:
            raise
        except Exception as error:  # a crash is not the clear message the learner owes the user
            raise CaseFailed(f"raised {type(error).__name__} instead of ValueError. {hint}") from None
        raise CaseFailed(f"no error was raised. {hint}")

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
    ) -> None:
        """Fail unless ``got`` equals ``expected`` in shape and value.

        ``mistakes`` maps a description of a known wrong implementation to the output that
        implementation gives; when ``got`` matches one, the hint names that mistake.
        """
        if not isinstance(got, torch.Tensor):
            raise CaseFailed(f"{what} should be a torch.Tensor; got {type(got).__name__}")
        got64, expected64 = got.detach().to(torch.float64), expected.detach().to(torch.float64)

        def name_the_mistake() -> None:
            # A mistake may change the shape too (queries and keys swapped gives (L_k, L_q)).
            for description, wrong in (mistakes or {}).items():
                wrong64 = wrong.detach().to(torch.float64)
                if wrong64.shape == got64.shape and torch.allclose(got64, wrong64, rtol=rtol, atol=atol):
                    raise CaseFailed(f"looks like {description}. {hint}")

        if tuple(got.shape) != tuple(expected.shape):
            name_the_mistake()
            raise CaseFailed(f"{what} has shape {tuple(got.shape)}; expected {tuple(expected.shape)}")
        if torch.allclose(got64, expected64, rtol=rtol, atol=atol, equal_nan=False):
            return
        if torch.isnan(got64).any() and not torch.isnan(expected64).any():
            raise CaseFailed(f"{what} contains NaN where the reference has none. {hint}")
        name_the_mistake()
        err = (got64 - expected64).abs().nan_to_num(float("inf")).max().item()
        raise CaseFailed(f"{what} differs from the reference (max abs error {err:.3g}). {hint}")

    def result(self, exercise_id: str) -> CheckResult:
        points = sum(p for _, ok, _, p in self.cases if ok)
        max_points = self.max_points
        failures = [(title, msg) for title, ok, msg, _ in self.cases if not ok]
        if not self.cases:
            message = "no checks ran"
        elif not failures:
            message = f"all {len(self.cases)} checks passed."
        else:
            title, msg = failures[0]
            more = f" ({len(failures) - 1} more failing)" if len(failures) > 1 else ""
            message = f"Failed: {title}: {msg}{more}"
        return CheckResult(
            exercise_id=exercise_id,
            passed=bool(self.cases) and not failures,
            points=points,
            max_points=max_points,
            message=message,
            cases=[(t, ok, m) for t, ok, m, _ in self.cases],
        )


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
        g.cases.append(("the candidate is callable", False, f"expected a function or class; got {type(candidate).__name__}", ex.max_points))
    else:
        ex.run(candidate, g)
    result = g.result(exercise_id)
    if not quiet:
        print(result.verdict())
    return result
