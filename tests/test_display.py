"""Tests for ``course_lib.display``: tables render as markdown, printed source fits the column."""

from __future__ import annotations

from course_lib import display, norm
from course_lib.display import WIDTH, markdown_table, print_source


def test_markdown_table_has_a_header_a_rule_and_one_line_per_row():
    assert markdown_table(["n", "中文"], [[3, "三"], [10_000, "一万"]]).splitlines() == [
        "| n | 中文 |", "|---|---|", "| 3 | 三 |", "| 10000 | 一万 |"]


def test_print_source_wraps_every_line_and_keeps_the_code(capsys):
    def long_one(x):
        y = x + 1  # a trailing comment far too long to share its line with the code beside it, by design
        return y
    print_source(long_one)
    out = capsys.readouterr().out.splitlines()
    assert max(map(len, out)) <= WIDTH
    code = [i for i, line in enumerate(out) if line.strip() == "y = x + 1"]
    assert len(code) == 1  # the code kept whole, its comment moved above it
    assert out[code[0] - 2].strip().startswith("# a trailing comment")


def test_print_source_can_leave_the_docstring_out(capsys):
    print_source(norm.Residual.forward, strip_docstring=True)
    out = capsys.readouterr().out
    assert "def forward" in out and '"""' not in out
    print_source(norm.Residual.forward)
    assert '"""' in capsys.readouterr().out


def test_module_names():
    assert set(display.__all__) == {"WIDTH", "markdown_table", "show_table", "print_source"}
