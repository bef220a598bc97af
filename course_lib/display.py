"""What the chapters print: computed tables as rendered markdown, library source that fits the page.

The book's column holds 79 characters of code or output (``make check-book`` checks it), so a
table is rendered rather than padded with spaces, and library source the chapters show is
wrapped at that width.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Sequence

__all__ = ["WIDTH", "markdown_table", "show_table", "print_source"]

#: Characters of code or output a line of the book may hold.
WIDTH = 79


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Return ``rows`` under ``header`` as a markdown pipe table (each cell via ``str``)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def show_table(header: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Display rows of computed values as a rendered markdown table in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(header, rows)))


def print_source(obj, strip_docstring: bool = False, width: int = WIDTH) -> None:
    """Print the source of ``obj`` with every line wrapped at ``width`` characters.

    A trailing comment that would not fit goes on a line of its own above its code;
    ``strip_docstring`` leaves the docstring out.
    """
    source = inspect.getsource(obj)
    if strip_docstring:
        head, _, rest = source.partition('"""')
        source = head.rstrip(" ") + rest.partition('"""')[2].lstrip("\n")
    for line in source.splitlines():
        body = line.lstrip()
        indent = line[:len(line) - len(body)]
        code, _, comment = body.partition("  # ")
        if comment and len(line) > width:
            print(textwrap.fill(comment, width, initial_indent=indent + "# ",
                                subsequent_indent=indent + "# "))
            line, body = indent + code, code
        more = indent + ("# " if body.startswith("#") else "    ")
        print(textwrap.fill(line, width, subsequent_indent=more) if body else "")
