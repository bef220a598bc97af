"""Assertions shared by the tests of the grader's check modules (tests/test_grading_*.py)."""

from __future__ import annotations

from course_lib.grading import CheckResult, check, get


def assert_full_marks(exercise_id: str, candidate) -> CheckResult:
    """A correct candidate passes every case and gets the exercise's full points."""
    result = check(exercise_id, candidate, quiet=True)
    assert result.passed, result.message
    assert result.points == result.max_points == get(exercise_id).max_points > 0
    return result


def assert_mistake_named(exercise_id: str, candidate, named: str) -> CheckResult:
    """A known wrong candidate fails, and the hint of one of its failing cases names the mistake."""
    result = check(exercise_id, candidate, quiet=True)
    assert not result.passed
    assert result.points < result.max_points
    assert any(named in message for _, ok, message in result.cases if not ok), result.cases
    return result


def assert_stub_scores_zero(exercise_id: str, chapter: str) -> CheckResult:
    """An exercise left as generated (``raise NotImplementedError``) scores 0 without crashing."""

    def todo(*args, **kwargs):
        raise NotImplementedError

    result = check(exercise_id, todo, quiet=True)
    assert result.points == 0 and not result.passed
    assert "not implemented" in result.message
    assert get(exercise_id).chapter == chapter
    return result


def alive(pid: int) -> bool:
    """Whether the process ``pid`` runs (a zombie, waiting to be reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
