"""Small display helpers shared by the book's pages (their first, setup cell imports them)."""

from __future__ import annotations

import inspect

__all__ = ["markdown_table", "show_table", "show_source"]


def markdown_table(header, rows) -> str:
    """A markdown table with the given header and rows (each cell formatted with ``str``).

    Raises ``ValueError`` when a row's length differs from the header's.
    """
    header = [str(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        row = [str(x) for x in row]
        if len(row) != len(header):
            raise ValueError(
                f"rows[{i}] has {len(row)} cells, the header has {len(header)}"
            )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def show_table(header, rows) -> None:
    """Display :func:`markdown_table` of ``header`` and ``rows`` in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(header, rows)))


def show_source(obj) -> None:
    """Display the source of a ``lab`` function or class as a Python code block."""
    from IPython.display import Markdown, display

    display(Markdown(f"```python\n{inspect.getsource(obj)}```"))
