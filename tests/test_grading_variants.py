"""The learner-variant corpus (tests/grading_variants): no false verdicts.

Every correct variant (another valid style) gets full marks; every wrong one loses points,
and the hint of one of its failing cases names its mistake, not only "output differs".
"""

from __future__ import annotations

import re

import pytest

from course_lib.grading import all_exercises, check
from grading_variants import all_variants

VARIANTS = all_variants()


@pytest.mark.parametrize("variant", VARIANTS, ids=[f"{v.exercise_id}:{v.name}" for v in VARIANTS])
def test_variant_gets_the_right_verdict(variant):
    result = check(variant.exercise_id, variant.candidate, quiet=True)
    if variant.correct:
        assert result.passed and result.points == result.max_points, result.message
        return
    assert result.points < result.max_points, f"a wrong solution got full marks: {variant.name}"
    failing = [message for _, ok, message in result.cases if not ok]
    assert any(re.search(variant.hint, message) for message in failing), result.message


def test_every_exercise_has_two_correct_and_three_wrong_variants():
    counts = {i: [0, 0] for i in all_exercises()}
    for v in VARIANTS:
        counts[v.exercise_id][0 if v.correct else 1] += 1
    thin = {i: c for i, c in counts.items() if c[0] < 2 or c[1] < 3}
    assert not thin, thin
