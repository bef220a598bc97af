"""docs/DESIGN.md is the contract: its module table names only what course_lib has, and
every course_lib module has a row."""

import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import course_lib

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "DESIGN.md"


def _module_rows() -> dict[str, str]:
    text = DESIGN.read_text(encoding="utf-8")
    table = text[text.index("## course_lib: one module per concept"):]
    table = table[:table.index("\n\n", table.index("| module |"))]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"\| `(\w+)`(?: \(\w+\))? \| [^|]* \| (.*) \|$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


ROWS = _module_rows()


def test_every_module_has_a_row():
    modules = {m.name for m in pkgutil.iter_modules(course_lib.__path__)}
    assert modules - set(ROWS) == set(), "modules missing from docs/DESIGN.md"
    assert set(ROWS) - modules == set(), "docs/DESIGN.md lists modules course_lib does not have"


def _named(cell: str) -> list[str]:
    """The public names a row promises: `name(...)`, `name`, `pkg.sub` (`sub` a submodule)."""
    names = []
    for code in re.findall(r"`([^`]+)`", cell):
        m = re.match(r"([A-Za-z_][\w.]*)", code)
        if m and (code == m.group(1) or code[len(m.group(1))] in "( "):
            names.append(m.group(1))
    return names


def _source(module: str) -> str:
    path = Path(course_lib.__file__).parent / module
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


@pytest.mark.parametrize("module", sorted(ROWS))
def test_every_name_in_the_table_exists(module):
    """A name is a module attribute, a submodule, or a method / attribute / field defined in it."""
    mod = importlib.import_module(f"course_lib.{module}")
    source = _source(module)
    missing = []
    for name in _named(ROWS[module]):
        head = name.split(".")[-1] if name.startswith(module + ".") else name.split(".")[0]
        if hasattr(mod, head) or (hasattr(mod, "__path__") and importlib.util.find_spec(f"{mod.__name__}.{head}")):
            continue
        if re.search(rf"def {head}\(|class {head}\b|self\.{head} =|^    {head}: ", source, re.M):
            continue
        missing.append(name)
    assert not missing, f"docs/DESIGN.md names {missing} that course_lib.{module} does not define"


def test_a_stale_name_would_be_found():
    assert _named("`greedy_decode`, `beam_search(model, src)`, `Vocab` with `to_ids(text)`") == [
        "greedy_decode", "beam_search", "Vocab", "to_ids"]
