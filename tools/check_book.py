"""Check the built book the way a reader sees it, in headless Chromium at 1280 px.

Every page of ``_build/html`` is opened with every folded cell expanded; the check fails
(exit status 1) on

- a code cell, a cell output, a display equation or any other box of the article that is
  wider than its scrolling container (``scrollWidth > clientWidth``), measured after MathJax
  has typeset the page, and a page that scrolls sideways;
- any request that is not a local file (``file:``, ``data:``, ``blob:``), and any remote
  ``src``/``href`` of a script, style sheet, font, image or frame in the HTML, even one that
  only loads later;
- any console error or uncaught exception;
- a book page without its link to its twin in the other language (``a.course-twin``, see
  book/_ext/course_book.py), a twin link to a page that was not built, and a Chinese page
  (under ``zh/``) not marked ``<html lang="zh-CN">``;
- on a Chinese page, an English sentence a reader sees (:data:`ENGLISH_RUN` or more English
  words in a row outside code, math and the sidebars, e.g. a printed line or a table header
  left untranslated; quoted or example English, in italics, quotes or table cells, is meant). Pages listed in :data:`ENGLISH_ALLOWED` (the references' titles) are
  exempt.

It saves one full-page screenshot per page (``_build/check-book/01.png`` for chapter 1,
``intro.png`` ...; the Chinese edition's ``zh-01.png`` ...). Run it with ``make check-book`` after ``make book``; it needs
Chromium (Debian: ``apt-get install chromium``, as root) and playwright (requirements.txt).

    python tools/check_book.py [HTML_DIR] [--out DIR] [--width 1280] [--page PATTERN] ...
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

LINE_LENGTH = 79  # the chapters' limit for code and printed output lines
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
INSTALL_HINT = ("Chromium is needed to check the book: on Debian/Ubuntu run, as root, "
                "`apt-get install chromium` (or set CHROMIUM=/path/to/chromium); playwright's "
                "own browser download is not needed.")

# Measured in the page: every box a reader could have to scroll sideways, by kind.
MEASURE_JS = r"""
() => {
  const out = [];
  const kindOf = (el) => {
    if (el.closest('.cell_input, .cell .highlight') && !el.closest('.cell_output')) return 'code';
    if (el.closest('.cell_output')) return 'output';
    if (el.closest('div.math, mjx-container[display="true"], .math-wrapper')) return 'equation';
    if (el.closest('pre, div.highlight')) return 'code';
    return 'other';
  };
  const describe = (el) => {
    const sec = el.closest('section[id]');
    const txt = (el.innerText || el.textContent || '').trim().split('\n')[0].slice(0, 60);
    return {tag: el.tagName.toLowerCase(), cls: (el.className && el.className.baseVal === undefined)
            ? el.className : '', section: sec ? sec.id : '', text: txt};
  };
  const seen = new Set();
  const check = (el) => {
    if (seen.has(el)) return;
    seen.add(el);
    if (!el.getClientRects().length || el.clientWidth === 0) return;
    const over = el.scrollWidth - el.clientWidth;
    if (over > 1) wide.push([el, over]);
  };
  const wide = [];
  const root = document.querySelector('main') || document.body;
  // The boxes that scroll: code and output <pre>, equation containers, tables' wrappers.
  root.querySelectorAll('pre, div.math, mjx-container[display="true"], .cell_output > div, '
                        + '.cell_output .output, table, .table-wrapper, .pst-scrollable-table-container')
      .forEach(check);
  // And anything else in the article that is set to scroll sideways.
  root.querySelectorAll('*').forEach((el) => {
    const ox = getComputedStyle(el).overflowX;
    if (ox === 'auto' || ox === 'scroll') check(el);
  });
  // One problem per box: an overflowing box that holds another one is the same problem.
  wide.filter(([el]) => !wide.some(([o]) => o !== el && el.contains(o)))
      .forEach(([el, over]) => out.push(Object.assign(
          {kind: kindOf(el), over: over, width: el.clientWidth}, describe(el))));
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1)
    out.push({kind: 'page', over: doc.scrollWidth - doc.clientWidth, width: doc.clientWidth,
              tag: 'html', cls: '', section: '', text: 'the whole page scrolls sideways'});
  // Count what was checked, so that a report can say "n of m code cells".
  const count = (sel) => [...root.querySelectorAll(sel)].filter(e => e.getClientRects().length).length;
  return {problems: out,
          totals: {code: count('.cell_input pre, .cell .highlight pre:not(.cell_output pre)'),
                   output: count('.cell_output pre, .cell_output > div'),
                   equation: count('div.math, mjx-container[display="true"]')}};
}
"""

REMOTE_REFS_JS = r"""
() => [...document.querySelectorAll(
    'script[src], link[href], img[src], iframe[src], source[src], video[src], audio[src], embed[src], object[data]')]
  .filter(el => el.tagName !== 'LINK' ||
          /stylesheet|preload|prefetch|icon|modulepreload|font|manifest/.test(el.rel))
  .map(el => el.src || el.href || el.data || '')
  .filter(u => /^(https?:)?\/\//i.test(u))
"""

# Web fonts loaded, and MathJax 3 resolves startup.promise once the page is typeset.
WAIT_MATHJAX_JS = r"""
async () => {
  await document.fonts.ready;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    if (MathJax.typesetPromise) await MathJax.typesetPromise();
  }
  return true;
}
"""

# The chapters wrap code and printed output at 79 characters: such a line must fit the box.
LINE_FITS_JS = r"""
(n) => {
  const out = [];
  for (const [kind, sel] of [['code', '.cell_input pre'], ['output', '.cell_output pre']]) {
    const pre = document.querySelector(sel);
    if (!pre || !pre.getClientRects().length) continue;
    const probe = pre.cloneNode(false);
    probe.textContent = 'x'.repeat(n);
    pre.parentNode.insertBefore(probe, pre);
    const over = probe.scrollWidth - probe.clientWidth, width = probe.clientWidth;
    probe.remove();
    if (over > 1) out.push({kind: kind, over: over, width: width, tag: 'pre', cls: '',
                            section: '', text: `a ${n}-character line does not fit`});
  }
  return out;
}
"""

OPEN_FOLDS_JS = r"""
() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  document.querySelectorAll('button.toggle-button').forEach(b => {
    if (b.classList.contains('toggle-button-hidden')) b.click(); });
}
"""


# An error shown in a cell that is not tagged raises-exception: a figure that failed to draw
# (the display hook prints the traceback and the build goes on) or a cell that broke.
UNEXPECTED_ERRORS_JS = """
() => [...document.querySelectorAll('.cell .cell_output .traceback, .cell .cell_output .output.error')]
  .filter(el => !el.closest('.cell').classList.contains('tag_raises-exception'))
  .map(el => {
    const lines = el.innerText.split('\\n').filter(l => /^[A-Za-z_.]*(Error|Exception)\\b/.test(l));
    return lines.length ? lines[lines.length - 1] : el.innerText.slice(0, 120);
  })
"""


# Chinese pages: a run of this many English words outside code is an untranslated sentence.
ENGLISH_RUN = 6
ENGLISH_ALLOWED = {"zh/book/references.html"}  # works are cited by their English titles
ENGLISH_RUNS_JS = r"""
(run) => {
  const root = document.querySelector('main') || document.body;
  // Quoted and example English is the point where it appears: italics and quotes (the
  // notes' example sentence, a paper's words), table cells (the data a chapter prints).
  const skip = 'pre, code, .math, mjx-container, .cell_input, script, style, nav, ' +
               '.headerlink, .bd-sidebar-primary, .bd-sidebar-secondary, .course-twin, ' +
               'em, i, q, cite, blockquote, td';
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = [];
  const pattern = new RegExp('(?:[A-Za-z][A-Za-z\'-]*[\\s,;:]+){' + (run - 1) +
                             ',}[A-Za-z][A-Za-z\'-]*');
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement || node.parentElement.closest(skip)) continue;
    const m = node.textContent.match(pattern);
    if (m) found.push(m[0].slice(0, 80));
  }
  return found;
}
"""


@dataclass
class PageReport:
    """What the check found on one page."""

    page: str
    problems: list = field(default_factory=list)   # boxes wider than their container
    totals: dict = field(default_factory=dict)     # boxes checked, by kind
    requests: list = field(default_factory=list)   # non-local requests and remote references
    console: list = field(default_factory=list)    # console errors and uncaught exceptions
    links: list = field(default_factory=list)      # missing or dead links to the twin page
    english: list = field(default_factory=list)    # English sentences on a Chinese page
    screenshot: str = ""

    @property
    def ok(self) -> bool:
        return not (self.problems or self.requests or self.console or self.links
                    or self.english)

    def counts(self) -> dict:
        """Number of overflowing boxes per kind."""
        out: dict = {}
        for p in self.problems:
            out[p["kind"]] = out.get(p["kind"], 0) + 1
        return out


def find_chromium() -> str | None:
    """Path of a Chromium executable: $CHROMIUM, then the usual names on PATH."""
    env = os.environ.get("CHROMIUM")
    if env and Path(env).exists():
        return env
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def list_pages(html_dir: Path, patterns: list[str] | None = None) -> list[Path]:
    """Every built HTML page under ``html_dir`` (not the theme's static files)."""
    pages = [p for p in sorted(html_dir.rglob("*.html"))
             if not {"_static", "_sources", "_images"} & set(p.relative_to(html_dir).parts)
             and not is_redirect(p)]
    if patterns:
        pages = [p for p in pages if any(fnmatch.fnmatch(str(p.relative_to(html_dir)), pat)
                                         for pat in patterns)]
    return pages


def is_redirect(page: Path) -> bool:
    """jupyter-book's top-level index.html only forwards to the first page."""
    head = page.read_text(encoding="utf-8", errors="replace")[:2000].lower()
    return 'http-equiv="refresh"' in head


def screenshot_name(page: Path, html_dir: Path | None = None) -> str:
    """``01.png`` for ``01_attention_essence.html``, else the page's stem; ``zh-`` in front for
    a page of the Chinese edition (under ``zh/``)."""
    stem = page.stem
    head = stem.split("_", 1)[0]
    zh = html_dir is not None and page.relative_to(html_dir).parts[0] == "zh"
    return ("zh-" if zh else "") + (head if head.isdigit() else stem) + ".png"


TWIN = re.compile(r'<a class="course-twin" href="([^"]+)"')
SPECIAL_PAGES = {"genindex", "search"}  # Sphinx's own pages have no twin link


def twin_problems(page: Path, html_dir: Path) -> list[str]:
    """What is wrong with a page's link to its twin in the other edition (see the docstring)."""
    if page.stem in SPECIAL_PAGES:
        return []
    html = page.read_text(encoding="utf-8", errors="replace")
    found = []
    if page.relative_to(html_dir).parts[0] == "zh" and '<html lang="zh-CN"' not in html:
        found.append('a Chinese page without <html lang="zh-CN">')
    links = TWIN.findall(html)
    if not links:
        found.append("no link to the page in the other language (a.course-twin)")
    for href in links:
        if not (page.parent / href).resolve().is_file():
            found.append(f"the link to the other language points at {href}, which was not built")
    return found


def check_page(context, page_path: Path, html_dir: Path, out_dir: Path | None,
               timeout_ms: int = 60_000) -> PageReport:
    """Open one page in ``context`` and measure it; see the module docstring."""
    report = PageReport(page=str(page_path.relative_to(html_dir)))
    report.links = twin_problems(page_path, html_dir)
    page = context.new_page()

    def on_route(route):
        url = route.request.url
        if url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            report.requests.append(url)
            route.abort()

    def on_console(msg):
        if msg.type == "error":
            report.console.append(msg.text)

    page.route("**/*", on_route)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: report.console.append(f"uncaught: {exc}"))
    try:
        page.goto(page_path.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        page.evaluate(WAIT_MATHJAX_JS)
        page.evaluate(OPEN_FOLDS_JS)
        page.wait_for_timeout(200)  # let layout settle after unfolding
        page.evaluate(WAIT_MATHJAX_JS)
        measured = page.evaluate(MEASURE_JS)
        report.problems, report.totals = measured["problems"], measured["totals"]
        report.problems += page.evaluate(LINE_FITS_JS, LINE_LENGTH)
        for error in page.evaluate(UNEXPECTED_ERRORS_JS):
            report.console.append(f"error output in a cell not tagged raises-exception: {error}")
        if report.page.startswith("zh/") and report.page not in ENGLISH_ALLOWED:
            report.english = page.evaluate(ENGLISH_RUNS_JS, ENGLISH_RUN)
        for url in page.evaluate(REMOTE_REFS_JS):
            if url not in report.requests:
                report.requests.append(url)
        if out_dir is not None:
            shot = out_dir / screenshot_name(page_path, html_dir)
            page.screenshot(path=str(shot), full_page=True)
            report.screenshot = str(shot)
    except Exception as exc:  # a page that cannot be loaded is a failure, not a crash
        report.console.append(f"could not check the page: {exc}")
    finally:
        page.close()
    return report


def check_pages(pages: list[Path], html_dir: Path, *, out_dir: Path | None = None,
                width: int = 1280, height: int = 900, chromium: str | None = None) -> list[PageReport]:
    """Check ``pages`` in one headless Chromium; return one report per page."""
    from playwright.sync_api import sync_playwright

    chromium = chromium or find_chromium()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-gpu",
                                           "--disable-background-networking"])
        context = browser.new_context(viewport={"width": width, "height": height},
                                      device_scale_factor=1)
        try:
            return [check_page(context, p, html_dir, out_dir) for p in pages]
        finally:
            browser.close()


def format_report(reports: list[PageReport], width: int) -> str:
    """Human-readable list of every problem, then one summary line per page."""
    lines = []
    for r in reports:
        for p in r.problems:
            where = f"#{p['section']}" if p["section"] else ""
            lines.append(f"{r.page}{where}: {p['kind']} <{p['tag']}> is {p['over']} px too wide "
                         f"for its {p['width']} px box: {p['text']!r}")
        for url in r.requests:
            lines.append(f"{r.page}: network request {url}")
        for msg in r.console:
            lines.append(f"{r.page}: console error: {msg}")
        for msg in r.links:
            lines.append(f"{r.page}: {msg}")
        for text in r.english:
            lines.append(f"{r.page}: English on a Chinese page: {text!r}")
    lines.append("")
    lines.append(f"{'page':<44} {'code':>9} {'output':>9} {'equation':>9} {'other':>6} "
                 f"{'net':>4} {'errors':>6} {'twin':>5}")
    for r in reports:
        c, t = r.counts(), r.totals
        cells = [f"{c.get(k, 0)}/{t.get(k, 0)}" for k in ("code", "output", "equation")]
        other = c.get("other", 0) + c.get("page", 0)
        lines.append(f"{r.page:<44} {cells[0]:>9} {cells[1]:>9} {cells[2]:>9} {other:>6} "
                     f"{len(r.requests):>4} {len(r.console):>6} {'ok' if not r.links else 'NO':>5}")
    bad = [r for r in reports if not r.ok]
    lines.append(f"{len(reports) - len(bad)} of {len(reports)} pages pass at {width} px"
                 + ("" if not bad else f"; failing: {', '.join(r.page for r in bad)}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: check the built book, print the report, exit 1 on any problem."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html_dir", nargs="?", default="_build/html", type=Path)
    ap.add_argument("--out", default="_build/check-book", type=Path,
                    help="folder for the screenshots and report.json")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--page", action="append", help="only pages matching this glob (repeatable)")
    args = ap.parse_args(argv)

    chromium = find_chromium()
    if chromium is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("playwright is missing: make setup (requirements.txt) installs it", file=sys.stderr)
        return 2
    pages = list_pages(args.html_dir, args.page)
    if not pages:
        print(f"no HTML pages under {args.html_dir}: run `make book` first", file=sys.stderr)
        return 2
    start = time.perf_counter()
    reports = check_pages(pages, args.html_dir, out_dir=args.out, width=args.width,
                          chromium=chromium)
    print(format_report(reports, args.width))
    print(f"checked in {time.perf_counter() - start:.0f} s; screenshots in {args.out}")
    (args.out / "report.json").write_text(json.dumps([r.__dict__ for r in reports], indent=1,
                                                     ensure_ascii=False))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
