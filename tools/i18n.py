"""The Chinese edition's text: translation tables beside the English sources, checked and built.

One source of code: a Chinese page is *generated* from its English twin, so its code cells are
the English ones, byte for byte. Only text is translated, in one table per page:
``book/zh/<page stem>.md``. A table is Markdown between marker lines, one per text cell::

    <!-- cell 3f2a1b4c en:1a2b3c4d5e6f -->
    中文的这一格 ...

``3f2a1b4c`` is the English notebook cell's id; ``1a2b3c4d5e6f`` is the hash of the English
text the translation was made from (:func:`text_sha`). A page written in Markdown
(``intro.md``) has one marker for the whole page, ``<!-- page en:... -->``. When the English
cell changes its hash changes, and :func:`problems` reports the translation as stale until a
translator updates it and records the new hash (``mark``). ``en:TODO`` marks a cell not yet
translated (``stub`` writes the English text there for the translator to replace).

Commands (``python tools/i18n.py ...``)::

    status [PAGE ...]        every problem (missing, todo, stale, orphan, glossary), exit 1 if any
    status --solutions       the same for the exercise notebooks' tables, solutions/zh/*.md
    stub PAGE ...            add the cells a table lacks (en:TODO + the English text to translate)
    mark PAGE [CELL_ID ...]  record the current English hash: the listed cells, or every en:TODO
                             cell whose text is no longer the English one
    build OUT                write the Chinese pages (book/*.ipynb, book/*.md) under OUT
    site OUT                 the Chinese edition's Jupyter Book source tree (pages, _config.yml,
                             _toc.yml, links to book/_static and the rest): `make book` builds it;
                             with --set-language each notebook's first cell sets COURSE_LANG, so
                             `make test` runs the Chinese pages under nbval

PAGE is an English source, ``book/01_attention_essence.ipynb`` or ``book/intro.md``, or a
solution notebook, ``solutions/05_masking.ipynb``: its table is ``solutions/zh/05_masking.md``,
and ``make exercises`` (course_lib/grading/exercises.py) writes ``exercises/zh/05_masking.ipynb``
from it.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
LANG = "zh"
MARKER = re.compile(r"^<!-- (cell|page) ?([0-9A-Za-z_-]*) en:([0-9a-f]{12}|TODO) -->$")
# Words a translation must not use for a course term (the term it must use instead).
FORBIDDEN = {"变压器": "Transformer", "令牌": "词元 (token)", "注意力池化": "注意力汇聚"}


@dataclass
class Entry:
    """One translated unit: a notebook text cell (``kind="cell"``) or a whole Markdown page."""

    kind: str
    id: str
    sha: str  # the English text's hash when translated, or "TODO"
    text: str


def text_sha(text: str) -> str:
    """The hash that ties a translation to the English text it was made from (12 hex digits)."""
    return hashlib.sha256(text.rstrip().encode("utf-8")).hexdigest()[:12]


def table_path(page: Path, lang: str = LANG) -> Path:
    """Where the translation table of an English page lives: ``book/<lang>/<stem>.md``."""
    return page.parent / lang / (page.stem + ".md")


def english_units(page: Path) -> list[Entry]:
    """The English page's text units, in order: its markdown cells, or the whole .md page."""
    if page.suffix == ".md":
        text = page.read_text(encoding="utf-8")
        return [Entry("page", "", text_sha(text), text)]
    nb = json.loads(page.read_text(encoding="utf-8"))
    return [Entry("cell", c["id"], text_sha(src := "".join(c["source"])), src)
            for c in nb["cells"] if c["cell_type"] == "markdown"]


def parse_table(path: Path) -> list[Entry]:
    """Read a translation table (see the module docstring); text before the first marker is
    a comment for translators and is ignored."""
    entries: list[Entry] = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        m = MARKER.match(line)
        if m:
            entries.append(Entry(m[1], m[2], m[3], ""))
        elif entries:
            entries[-1].text += line + "\n"
    for e in entries:
        e.text = e.text.strip("\n")
    return entries


def format_table(page: Path, entries: list[Entry]) -> str:
    """The text of a translation table (the inverse of :func:`parse_table`)."""
    head = (f"<!-- Chinese text of {page.relative_to(ROOT).as_posix()}: see tools/i18n.py."
            " Edit the text under each marker; keep the markers. -->\n\n")
    blocks = [(f"<!-- cell {e.id} en:{e.sha} -->" if e.kind == "cell"
               else f"<!-- page en:{e.sha} -->") + "\n" + e.text.strip("\n") + "\n"
              for e in entries]
    return head + "\n".join(blocks)


def glossary_terms(glossary: Path = BOOK / "glossary.md") -> dict[str, list[str]]:
    """The bilingual glossary's terms: English (lower case) -> the Chinese forms it allows.

    ``权重 (注意力权重)`` allows either form, ``因果掩码 / 序列掩码`` either name. Rows whose
    English holds a slash pair two terms at once and are left to their single-term rows.
    """
    terms: dict[str, list[str]] = {}
    lines = glossary.read_text(encoding="utf-8").split("\n")
    start = lines.index("## Terms")
    for line in lines[start:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] in ("English", "") or set(cells[0]) <= set("-"):
            continue
        en = re.sub(r"\s*\(.*?\)", "", cells[0]).strip().lower()
        if "/" in en or "+" in en:
            continue
        forms = [f.strip() for part in cells[1].split(" / ")
                 for f in re.split(r"[()]", part) if f.strip()]
        terms[en] = forms
    return terms


def _prose(markdown: str) -> str:
    """Markdown without code, math, link targets and HTML: what a term check should read."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$|`[^`\n]*`", " ", text, flags=re.S)
    text = re.sub(r"\]\([^)]*\)|<[^>]+>", " ", text)
    return text


def glossary_problems(en: str, zh: str, terms: dict[str, list[str]]) -> list[str]:
    """Glossary terms the English text uses whose Chinese form the translation lacks.

    Only terms of two or more words (or hyphenated) are checked: a single English word such
    as "value" or "split" is often used in its everyday sense, where the glossary's term
    would be wrong.
    """
    prose = _prose(en).lower()
    out = []
    for term, forms in terms.items():
        if " " not in term and "-" not in term:
            continue
        if re.search(r"(?<![\w-])" + re.escape(term) + r"(?:s|es)?(?![\w-])", prose):
            if not any(f.lower() in zh.lower() for f in forms):
                out.append(f"uses '{term}' but not its glossary term {' / '.join(forms)}")
    for word, right in FORBIDDEN.items():
        if word in zh:
            out.append(f"writes {word}: the course's term is {right}")
    return out


def _looks_untranslated(en: str, zh: str) -> bool:
    """True when a translation is the English text itself, and that text has English words."""
    return zh.strip() == en.strip() and len(re.findall(r"[A-Za-z]{3,}", _prose(en))) >= 3


_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^(#{1,3})\s+(.*?)\s*#*\s*$")


def headings(markdown: str) -> list[str]:
    """The text of the markdown's headings of levels 1-3 (those that get anchors), in order."""
    found, fenced = [], False
    for line in markdown.split("\n"):
        if _FENCE.match(line.strip()):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(line)):
            found.append(m[2])
    return found


def slug(heading: str) -> str:
    """The anchor MyST gives a heading (``myst_heading_anchors``), e.g. ``5.3 完全被掩码的一行``."""
    from myst_parser.mdit_to_docutils.base import default_slugify

    # MyST slugs the heading's text and code, not its math or emphasis markers
    return default_slugify(re.sub(r"\$[^$]*\$|[*`]", "", heading))


def problems(page: Path, lang: str = LANG) -> list[str]:
    """Everything wrong with a page's translation, one line each (empty: complete, current)."""
    name = page.relative_to(ROOT).as_posix()
    path = table_path(page, lang)
    units = english_units(page)
    if not path.exists():
        return [f"{name}: no translation table {path.relative_to(ROOT)}"
                f" (python tools/i18n.py stub {name})"]
    entries = parse_table(path)
    by_id: dict[str, Entry] = {}
    out = []
    for e in entries:
        if e.id in by_id:
            out.append(f"{name}: cell {e.id} translated twice")
        by_id[e.id] = e
    terms = glossary_terms() if lang == "zh" else {}
    for u in units:
        e = by_id.get(u.id)
        where = f"{name}: " + (f"cell {u.id}" if u.kind == "cell" else "the page")
        if e is None or e.kind != u.kind:
            out.append(f"{where} has no translation (python tools/i18n.py stub {name})")
        elif e.sha == "TODO" or _looks_untranslated(u.text, e.text):
            out.append(f"{where} is not translated yet")
        elif e.sha != u.sha:
            out.append(f"{where} is stale: its English text changed after the translation"
                       f" (update the translation, then python tools/i18n.py mark {name} {u.id})")
        else:
            out += [f"{where} {p}" for p in glossary_problems(u.text, e.text, terms)]
            if len(headings(u.text)) != len(headings(e.text)):
                out.append(f"{where} has {len(headings(u.text))} headings in English and"
                           f" {len(headings(e.text))} in the translation (links to them need"
                           " one for one)")
    ids = {u.id for u in units}
    out += [f"{name}: cell {e.id} is translated but the English page has no such cell"
            for e in entries if e.id not in ids]
    return out


def stub(page: Path, lang: str = LANG) -> list[str]:
    """Add every text unit the table lacks (``en:TODO`` + the English text), in page order.

    Existing translations are kept as they are (a stale one stays stale); cells the English
    page no longer has are kept at the end, so no translation is ever lost. Returns the ids
    added.
    """
    path = table_path(page, lang)
    old = {e.id: e for e in parse_table(path)} if path.exists() else {}
    units = english_units(page)
    added = [u.id for u in units if u.id not in old]
    entries = [old.get(u.id) or Entry(u.kind, u.id, "TODO", u.text) for u in units]
    entries += [e for i, e in old.items() if i not in {u.id for u in units}]
    path.parent.mkdir(exist_ok=True)
    path.write_text(format_table(page, entries), encoding="utf-8")
    return added


def mark(page: Path, ids: list[str], lang: str = LANG) -> list[str]:
    """Record the current English hash for ``ids`` (or every translated en:TODO cell)."""
    path = table_path(page, lang)
    entries = parse_table(path)
    units = {u.id: u for u in english_units(page)}
    marked = []
    for e in entries:
        u = units.get(e.id)
        chosen = e.id in ids if ids else (e.sha == "TODO" and u is not None
                                          and not _looks_untranslated(u.text, e.text)
                                          and e.text.strip() != u.text.strip())
        if chosen and u is not None:
            e.sha = u.sha
            marked.append(e.id or "page")
    path.write_text(format_table(page, entries), encoding="utf-8")
    return marked


def anchor_map(page: Path, entries: list[Entry]) -> dict[str, str]:
    """English heading anchors of a page -> the anchors of their translations (paired in order
    within each text unit)."""
    by_id = {e.id: e for e in entries if e.sha != "TODO"}
    mapping = {}
    for u in english_units(page):
        e = by_id.get(u.id)
        if e is not None:
            mapping.update({slug(a): slug(b) for a, b in zip(headings(u.text), headings(e.text))})
    return mapping


_LINK = re.compile(r"\]\(([\w./-]*?)#([^)\s]+)\)")


def relink(text: str, page: str, anchors: dict[str, dict[str, str]]) -> str:
    """Point the ``#anchor`` links of a translated text at the translated headings.

    ``page`` is the file name the text belongs to (for ``](#local)`` links); ``anchors`` maps
    a page's file name to its :func:`anchor_map`. A link whose target is unknown is left as
    written, for the build to report.
    """
    def swap(m: re.Match) -> str:
        target = Path(m[1]).name if m[1] else page
        new = anchors.get(target, {}).get(m[2], m[2])
        return f"]({m[1]}#{new})"

    return _LINK.sub(swap, text)


def translate_notebook(nb: dict, entries: list[Entry], lang: str = LANG, *, page: str = "",
                       anchors: dict[str, dict[str, str]] | None = None) -> dict:
    """The notebook in ``lang``: every text cell replaced by its translation, code untouched.

    A cell without a current translation keeps its English text (``build`` reports it).
    ``anchors`` (see :func:`relink`) repoints heading links at the translated headings.
    """
    out = copy.deepcopy(nb)
    by_id = {e.id: e for e in entries if e.kind == "cell" and e.sha != "TODO"}
    for cell in out["cells"]:
        e = by_id.get(cell.get("id"))
        if cell["cell_type"] == "markdown" and e is not None:
            lines = relink(e.text, page, anchors or {}).split("\n")
            cell["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]
    out["metadata"]["course_language"] = lang
    return out


def pages() -> list[Path]:
    """The English pages of the book, in table-of-contents order."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    found = []
    for stem in re.findall(r"(?:root|file):\s*(\S+)", toc):
        for suffix in (".ipynb", ".md"):
            if (ROOT / (stem + suffix)).exists():
                found.append(ROOT / (stem + suffix))
                break
    return found


def solution_pages() -> list[Path]:
    """The solution notebooks that have a translation table (``solutions/zh/<stem>.md``)."""
    return [p for p in sorted((ROOT / "solutions").glob("*.ipynb")) if table_path(p).exists()]


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it: an unchanged page keeps its time stamp,
    so a cached rebuild of the edition re-reads nothing."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def language_cell(lang: str = LANG) -> dict:
    """A first code cell that switches a kernel to ``lang``: for running the edition under
    nbval, whose kernels inherit the English environment of ``make test``."""
    return {"id": "course-language", "cell_type": "code", "execution_count": None,
            "metadata": {}, "outputs": [],
            "source": ["import os\n", f"os.environ[\"COURSE_LANG\"] = \"{lang}\""]}


def build(out: Path, lang: str = LANG, *, set_language: bool = False) -> list[str]:
    """Write every page of the ``lang`` edition under ``out`` (same relative paths).

    Returns the problems found; a page with no table at all is written in English.
    ``set_language`` puts :func:`language_cell` first in every notebook (for nbval).
    """
    reported = []
    tables = {}
    for page in pages():
        path = table_path(page, lang)
        tables[page] = parse_table(path) if path.exists() else []
    anchors = {page.name: anchor_map(page, entries) for page, entries in tables.items()}
    for page, entries in tables.items():
        target = out / page.relative_to(ROOT)
        reported += problems(page, lang)
        if page.suffix == ".md":
            text = next((e.text + "\n" for e in entries if e.kind == "page" and e.sha != "TODO"),
                        None)
            text = relink(text, page.name, anchors) if text else None
            write_if_changed(target, text or page.read_text(encoding="utf-8"))
        else:
            nb = json.loads(page.read_text(encoding="utf-8"))
            nb = translate_notebook(nb, entries, lang, page=page.name, anchors=anchors)
            if set_language:
                nb["cells"].insert(0, language_cell(lang))
            write_if_changed(target, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return reported


# What the edition's pages use from the repository, linked into its source tree.
SITE_LINKS = ("book/_ext", "book/_static", "book/images", "exercises", "solutions", "benchmarks")
SPHINX_LANGUAGE = {"zh": "zh_CN"}


def book_text(lang: str = LANG) -> dict:
    """The edition's title and part captions: ``book/<lang>/_book.yml``."""
    import yaml

    return yaml.safe_load((BOOK / lang / "_book.yml").read_text(encoding="utf-8"))


def caption_problems(lang: str = LANG) -> list[str]:
    """Part captions of _toc.yml that ``book/<lang>/_book.yml`` does not translate."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    known = book_text(lang).get("captions", {})
    return [f"_toc.yml: the caption {p['caption']!r} has no translation in"
            f" book/{lang}/_book.yml" for p in toc.get("parts", []) if p["caption"] not in known]


def site(out: Path, lang: str = LANG, *, set_language: bool = False) -> list[str]:
    """Write the ``lang`` edition's Jupyter Book source tree under ``out``; return problems.

    ``out`` gets the translated pages (:func:`build`), a ``_config.yml`` and ``_toc.yml``
    made from the English ones (title, captions and Sphinx's language in ``lang``; the config
    value ``course_edition`` tells book/_ext/course_book.py which edition it builds) and links
    to what the pages use (:data:`SITE_LINKS`).
    """
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    reported = build(out, lang, set_language=set_language) + caption_problems(lang)
    text = book_text(lang)
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["title"] = text["title"]
    sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx.update(language=SPHINX_LANGUAGE.get(lang, lang), course_edition=lang)
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    for part in toc.get("parts", []):
        part["caption"] = text["captions"].get(part["caption"], part["caption"])
    for name, data in (("_config.yml", config), ("_toc.yml", toc)):
        write_if_changed(out / name, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    for rel in SITE_LINKS:
        link = out / rel
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(ROOT / rel)
    return reported


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status")
    status.add_argument("page", nargs="*", type=Path)
    status.add_argument("--solutions", action="store_true",
                        help="the solution notebooks' tables (solutions/zh/*.md) instead of the book's")
    sub.add_parser("stub").add_argument("page", nargs="+", type=Path)
    m = sub.add_parser("mark")
    m.add_argument("page", type=Path)
    m.add_argument("ids", nargs="*")
    sub.add_parser("build").add_argument("out", type=Path)
    site_parser = sub.add_parser("site")
    site_parser.add_argument("out", type=Path)
    site_parser.add_argument("--set-language", action="store_true",
                             help="first cell of each notebook sets COURSE_LANG (for nbval)")
    args = parser.parse_args(argv)
    if args.command in ("build", "site"):
        found = (build(args.out.resolve()) if args.command == "build" else
                 site(args.out.resolve(), set_language=args.set_language))
        print("\n".join(f"warning: {line}" for line in found)
              or "every page translated and current")
        return 0
    if args.command == "mark":
        print("marked:", " ".join(mark(args.page.resolve(), args.ids)) or "nothing")
        return 0
    chosen = [p.resolve() for p in getattr(args, "page", [])] or (
        solution_pages() if getattr(args, "solutions", False) else pages())
    if args.command == "stub":
        for p in chosen:
            print(p.name, "added", len(stub(p)), "cells")
        return 0
    found = [line for p in chosen for line in problems(p)]
    found += caption_problems() if not (getattr(args, "page", []) or getattr(args, "solutions", False)) else []
    print("\n".join(found) or f"{len(chosen)} pages: every text translated and current")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
