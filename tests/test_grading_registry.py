"""The Grader's hint machinery: changed inputs, the learner's own line, every failing case."""

from __future__ import annotations

import torch
from torch import nn

from course_lib.attention import softmax
from course_lib.grading import check


def test_a_changed_input_is_named_and_does_not_poison_the_reference():
    def softmax_in_place(x, dim=-1):
        x -= x.amax(dim=dim, keepdim=True)  # the reference, computed after this call, would see it
        return softmax(x, dim)

    result = check("attention.softmax", softmax_in_place, quiet=True)
    failing = [message for _, ok, message in result.cases if not ok]
    assert failing and all("changed its input `x`" in m for m in failing)
    assert not any("overflow" in m or "differs" in m for m in failing)


def test_a_module_whose_forward_changes_its_input_is_caught():
    from course_lib.ffn import PositionwiseFFN

    class InPlaceFFN(PositionwiseFFN):
        def forward(self, x):
            out = super().forward(x)
            x.mul_(2)
            return out

    result = check("ffn.PositionwiseFFN", InPlaceFFN, quiet=True)
    assert not result.passed
    assert any("forward changed its input `x`" in m for _, ok, m in result.cases if not ok)


def test_a_crash_points_at_the_learners_line_not_into_torch():
    def scores(q, k):
        return torch.matmul(q, k)  # k not transposed: torch raises inside matmul

    result = check("attention.dot_product_scores", scores, quiet=True)
    message = next(m for _, ok, m in result.cases if not ok)
    assert "your code raised RuntimeError" in message
    assert "of scores: `return torch.matmul(q, k)" in message
    assert "torch/" not in message and "site-packages" not in message


def test_every_failing_case_is_in_the_message():
    def no_max(x, dim=-1):
        e = x.exp()
        return e / e.sum(dim, keepdim=True)

    result = check("attention.softmax", no_max, quiet=True)
    failing = [title for title, ok, _ in result.cases if not ok]
    assert len(failing) >= 2
    assert result.message.startswith(f"Failed {len(failing)} of {len(result.cases)} checks:")
    assert all(title in result.message for title in failing)


def test_the_dtype_is_part_of_the_verdict():
    result = check("ffn.gelu", lambda x: torch.nn.functional.gelu(x.float()), quiet=True)
    assert not result.passed
    assert any("dtype torch.float32; expected torch.float64" in m for _, ok, m in result.cases if not ok)


def test_a_guarded_class_keeps_its_name_and_builds_modules():
    from course_lib.grading.registry import guarded

    class Tiny(nn.Module):
        def forward(self, x):
            return x + 1

    build = guarded(Tiny, "Tiny")
    assert build.__name__ == "Tiny"
    assert torch.equal(build()(torch.zeros(2)), torch.ones(2))


def test_grading_every_reference_needs_neither_sympy_nor_torch_dynamo():
    # Each kernel and each worker pays a first use once: torch.optim and normal_ / randn /
    # broadcast_shapes on meta tensors import torch._dynamo and sympy (2-3 s). The checks, their
    # maxima and the references avoid them, so no grading pays it.
    import subprocess
    import sys

    code = ("import importlib, sys\n"
            "from course_lib.grading.registry import all_exercises, check\n"
            "for exercise_id, ex in all_exercises().items():\n"
            "    module, name = exercise_id.rsplit('.', 1)\n"
            "    ex.max_points\n"
            "    result = check(exercise_id, getattr(importlib.import_module('course_lib.' + module), name), quiet=True)\n"
            "    assert result.passed or exercise_id == 'attention.softmax', exercise_id  # it calls torch.softmax\n"
            "    late = [m for m in ('torch._dynamo', 'sympy') if m in sys.modules]\n"
            "    assert not late, f'{exercise_id} imported {late}'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
