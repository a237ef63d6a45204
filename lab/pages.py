"""Small display helpers shared by the book's pages (their first, setup cell imports them)."""

from __future__ import annotations

import inspect

__all__ = ["markdown_table", "show_table", "show_source", "glue"]


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


def glue(name: str, value, *, display: bool = False):
    """Hand ``value`` to the page's text under ``name``, and return it.

    In the book build this is ``myst_nb.glue``: the prose then shows the number the cell
    computed, with ``{glue:text}`name:.2f``` (or ``{glue:}`name```), in exercise
    solutions too. Where myst-nb is not installed (a notebook on Colab) it only shows
    ``value`` when ``display`` is true. A number that reports a result is glued, never
    typed into the prose.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        # numpy and torch scalars: their repr ("np.float64(0.5)") is not a number
        # that {glue:text}`name:.2f` can format; a Python number is.
        value = value.item()
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return value
    myst_glue(name, value, display=display)
    return value
