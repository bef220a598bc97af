"""The book's reference matter keeps up with the chapters.

- every term of every chapter's term table is in book/glossary.md, linked to the first
  chapter whose table has it;
- every chapter's ``## Exercises`` section states the exercises of its solutions notebook,
  in the same order and with the same numbers;
- every work book/references.md lists has its own label, and every ``[text](ref-...)``
  link in a chapter points at one.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
MATH = re.compile(r"\$[^$]*\$")
PAREN = re.compile(r"\s*\([^)]*\)")


def markdown(nb_path: Path) -> list[str]:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def table_rows(lines: list[str], start: int) -> list[list[str]]:
    """The body rows of the pipe table whose header is ``lines[start]``."""
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def chapter_terms(nb_path: Path) -> list[str]:
    """The English column of the chapter's term table (the first table headed "English")."""
    for text in markdown(nb_path):
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if re.match(r"\|\s*English\s*\|", line):
                return [row[0] for row in table_rows(lines, i)]
    return []


def normalise(term: str) -> str:
    """Compare terms without case, math, code marks or parenthetical asides."""
    term = PAREN.sub("", MATH.sub("", term.replace("`", "")))
    return re.sub(r"\s+", " ", term).strip().lower()


def parts(term: str) -> list[str]:
    """``"query / key / value"`` and ``"similarity, score"`` name several terms."""
    return [p for p in (normalise(x) for x in re.split(r"\s*/\s*|,\s*", PAREN.sub("", term))) if p]


def glossary_rows() -> dict[str, str]:
    """Glossary term (normalised) -> the chapter file its "first met" cell links to ('' if none)."""
    lines = (BOOK / "glossary.md").read_text(encoding="utf-8").split("\n")
    start = next(i for i, line in enumerate(lines) if re.match(r"\|\s*English\s*\|", line))
    out = {}
    for row in table_rows(lines, start):
        link = re.search(r"\]\(([^)#]+\.ipynb)", row[-1])
        out[normalise(row[0])] = link.group(1) if link else ""
    return out


def covered(term: str, glossary: dict) -> list[str]:
    """The glossary rows that cover ``term``: itself, or each of its parts; [] when missing."""
    if normalise(term) in glossary:
        return [normalise(term)]
    names = parts(term)
    return names if names and all(n in glossary for n in names) else []


def test_there_are_chapters_with_term_tables():
    assert len(CHAPTERS) >= 11
    for nb in CHAPTERS:
        assert len(chapter_terms(nb)) >= 3, f"{nb.name}: no term table (| English | 中文 | ...)"


def test_every_chapter_term_is_in_the_glossary():
    glossary = glossary_rows()
    missing = [f"{nb.name}: {t!r}" for nb in CHAPTERS for t in chapter_terms(nb)
               if not covered(t, glossary)]
    assert not missing, "terms missing from book/glossary.md:\n" + "\n".join(missing)


def test_glossary_links_each_term_to_the_first_chapter_that_lists_it():
    glossary = glossary_rows()
    first: dict[str, str] = {}
    for nb in CHAPTERS:  # in chapter order
        for term in chapter_terms(nb):
            for name in covered(term, glossary):
                first.setdefault(name, nb.name)
    wrong = [f"{name!r}: links to {glossary[name] or 'nothing'}, first listed in {chapter}"
             for name, chapter in first.items() if glossary[name] != chapter]
    assert not wrong, "glossary 'first met' links:\n" + "\n".join(wrong)
    dead = [f"{name!r} -> {link}" for name, link in glossary.items()
            if link and not (BOOK / link).exists()]
    assert not dead


def book_exercises(nb_path: Path) -> list[str]:
    """The text of each ``{exercise}`` block under the chapter's ``## Exercises`` heading."""
    text = "\n".join(markdown(nb_path))
    match = re.search(r"^## Exercises\b", text, re.M)
    assert match, f"{nb_path.name}: no '## Exercises' section"
    blocks = re.split(r"^(?::{3,}|`{3,})\{exercise\}", text[match.start():], flags=re.M)
    return blocks[1:]


def solution_exercises(nb_path: Path) -> tuple[list[str], list[int]]:
    """The exercise ids of a solutions notebook and the numbers of its exercise headings."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    ids = nb["metadata"]["course"]["exercises"]
    numbers = []
    for text in markdown(nb_path):
        m = re.match(r"## (?:Exercise )?(\d+)[.:]", text)
        if m:
            numbers.append(int(m.group(1)))
    return ids, numbers


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem[:2])
def test_exercises_match_the_solutions_notebook(chapter):
    solutions = ROOT / "solutions" / chapter.name
    assert solutions.exists(), f"no solutions/{chapter.name}"
    ids, numbers = solution_exercises(solutions)
    blocks = book_exercises(chapter)
    assert numbers == list(range(1, len(ids) + 1)), (
        f"solutions/{chapter.name} numbers its exercise headings {numbers} for {len(ids)} exercises")
    assert len(blocks) == len(ids), (
        f"book/{chapter.name} states {len(blocks)} exercises, solutions/{chapter.name} has {len(ids)}")
    for k, (block, ex_id) in enumerate(zip(blocks, ids), start=1):
        name = ex_id.split(".")[-1]
        assert re.search(rf"\b{re.escape(name)}\b", block), (
            f"book/{chapter.name}: exercise {k} does not name `{name}`, exercise {k} of the solutions")


def reference_labels() -> list[str]:
    return re.findall(r"^\((ref-[a-z0-9-]+)\)=$", (BOOK / "references.md").read_text(), re.M)


def test_every_reference_has_a_unique_label():
    text = (BOOK / "references.md").read_text(encoding="utf-8")
    labels = reference_labels()
    entries = re.findall(r"^\((ref-[a-z0-9-]+)\)=\n(.+)", text, re.M)
    assert len(labels) == len(set(labels)) >= 20
    assert len(entries) == len(labels), "a label must sit directly above its entry"
    for must in ("vaswani-2017", "bahdanau-2015", "luong-2015", "he-2016", "ba-2016",
                 "ioffe-2015", "xiong-2020", "liu-2020", "press-2017", "wu-2016", "szegedy-2016",
                 "loshchilov-2019", "cheng-2016", "parikh-2016", "lin-2017", "alammar-2018",
                 "rush-2018", "radford-2018", "radford-2019", "devlin-2019", "nadaraya-1964",
                 "watson-1964"):
        assert f"ref-{must}" in labels


def test_chapter_links_to_references_use_existing_labels():
    """``[Ba et al., 2016](ref-ba-2016)`` links to an entry; the label must exist."""
    labels = set(reference_labels())
    bad = []
    for nb in CHAPTERS + [BOOK / "intro.md", BOOK / "glossary.md"]:
        text = "\n".join(markdown(nb)) if nb.suffix == ".ipynb" else nb.read_text()
        bad += [f"{nb.name}: ({a}) has no entry" for a in re.findall(r"\]\(#?(ref-[\w-]+)\)", text)
                if a not in labels]
        bad += [f"{nb.name}: references.md#{a}: write [text]({a}) (a label is not a heading)"
                for a in re.findall(r"references\.md#([\w-]+)", text)]
    assert not bad, "links to the references:\n" + "\n".join(bad)
