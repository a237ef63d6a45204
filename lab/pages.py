"""Small display helpers shared by the book's pages (their first, setup cell imports them)."""

from __future__ import annotations

import inspect

__all__ = [
    "markdown_table",
    "show_table",
    "show_source",
    "source_excerpt",
    "documented_name",
    "check",
    "glue",
    "reading_minutes",
]


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


def documented_name(obj) -> str:
    """The dotted name under which the API appendix documents ``obj``.

    The shortest ``lab.*`` module path that exports ``obj`` (``lab.optim.momentum_update``
    rather than ``lab.optim.updates.momentum_update``); for a method, its class's.
    """
    import sys

    _named("obj", obj)
    # a method is linked through its class (the appendix documents classes, not
    # every method)
    name = obj.__qualname__.split(".")[0]
    owner = getattr(sys.modules.get(obj.__module__), name, None)
    owners = [
        mod_name
        for mod_name, mod in list(sys.modules.items())
        if mod_name.split(".")[0] == "lab"
        and mod is not None
        and getattr(mod, name, None) is owner
    ]
    if not owners:
        return f"{obj.__module__}.{name}"
    best = min(owners, key=lambda m: (m.count("."), len(m)))
    return f"{best}.{name}"


def _named(name: str, obj):
    """``obj``, checked to be a function, method, class or module (what has a name),
    possibly wrapped (``functools.cache``, ``functools.wraps``)."""
    inner = inspect.unwrap(obj)
    if not (
        inspect.isfunction(inner)
        or inspect.ismethod(inner)
        or inspect.isclass(inner)
        or inspect.ismodule(inner)
    ):
        raise TypeError(
            f"{name} must be a function, method, class or module, got {obj!r:.80}"
        )
    return obj


def _source(name: str, obj) -> str:
    """The source of ``obj``; an error naming ``name`` when it has none."""
    _named(name, obj)
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        raise ValueError(
            f"{name} has no Python source to show, got {obj!r:.80}"
        ) from None


def _lines(value) -> tuple[int, int] | None:
    """``value``: None, or a ``(first, last)`` pair of integers."""
    if value is None:
        return None
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
    ):
        raise TypeError(
            f"lines must be None or a (first, last) pair of integers, got {value!r:.80}"
        )
    return int(value[0]), int(value[1])


def source_excerpt(
    obj, *, lines=None, start=None, stop=None, docstring: bool = False
) -> str:
    """The source of ``obj`` as a string, shortened for the page.

    Without its docstring (unless ``docstring``); with ``lines`` a ``(first, last)`` pair of
    1-based line numbers of the remaining text, only those lines (an elided line ``...``
    marks what was cut). ``start`` and ``stop`` pick the same way by text, which survives
    edits above the excerpt: from the first line that begins (after its indent) with
    ``start`` to the first line from there that begins with ``stop``. Raises
    ``ValueError`` for lines outside the source or a ``start``/``stop`` not found, and an
    error naming the argument for an ``obj`` without source or a ``lines`` that is not a
    pair.
    """
    import ast
    import textwrap

    from lab import _checks

    text = textwrap.dedent(_source("obj", obj))
    lines = _lines(lines)
    docstring = _checks.flag("docstring", docstring)
    if not docstring:
        tree = ast.parse(text)
        node = tree.body[0]
        body = getattr(node, "body", [])
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            src = text.splitlines()
            first, last = body[0].lineno - 1, body[0].end_lineno
            rest = src[last:]
            if rest and not rest[0].strip():  # the blank line that followed it
                rest = rest[1:]
            text = "\n".join(src[:first] + rest) + "\n"
    if (start is None) != (stop is None):
        raise ValueError("start and stop must be given together")
    if start is not None:
        if lines is not None:
            raise ValueError("give lines, or start and stop, not both")
        start, stop = _checks.text("start", start), _checks.text("stop", stop)
        src = text.splitlines()
        firsts = [k for k, line in enumerate(src, 1) if line.strip().startswith(start)]
        if not firsts:
            raise ValueError(f"start: no line of the source begins with {start!r}")
        lasts = [
            k
            for k, line in enumerate(src, 1)
            if k >= firsts[0] and line.strip().startswith(stop)
        ]
        if not lasts:
            raise ValueError(f"stop: no line from start on begins with {stop!r}")
        lines = (firsts[0], lasts[0])
    if lines is not None:
        src = text.splitlines()
        first, last = lines
        if not (1 <= first <= last <= len(src)):
            raise ValueError(
                f"lines must satisfy 1 <= first <= last <= {len(src)}, got {lines!r}"
            )
        indent = " " * (len(src[first - 1]) - len(src[first - 1].lstrip()))
        kept = src[first - 1 : last]
        if first > 1:  # keep the signature line, and mark a gap after it
            kept = [src[0]] + ([indent + "..."] if first > 2 else []) + kept
        if last < len(src):
            kept.append(indent + "...")
        text = "\n".join(kept) + "\n"
    return text


def show_source(
    obj,
    *,
    lines=None,
    start=None,
    stop=None,
    docstring: bool = False,
    link: bool = True,
) -> None:
    """Display the source of a ``lab`` function or class as a Python code block.

    The page shows the lines that teach: the docstring is left out (the API appendix
    renders it) unless ``docstring``; ``start="for t in"``, ``stop="return"`` (or
    ``lines=(first, last)``) keep only those lines of what remains (see
    :func:`source_excerpt`). With ``link`` a line under the code links
    to the full entry in the API appendix, whose ``[source]`` link shows every line.
    """
    from IPython.display import Markdown, display

    from lab import _checks

    link = _checks.flag("link", link)
    excerpt = source_excerpt(
        obj, lines=lines, start=start, stop=stop, docstring=docstring
    )
    text = f"```python\n{excerpt}```"
    if link:
        name = documented_name(obj)
        text += f"\n\nFull source and documentation: {{py:obj}}`{name}`."
    display(Markdown(text))


def check(passed, claim: str, detail: str = "") -> None:
    """Show a one-line verdict for a check the page ran, or stop the build.

    ``passed`` is the outcome of the check (a bool, or numpy bool); ``claim`` says what
    was checked, in words a reader can act on ("matches σ²/B within 5 standard errors at
    every B"). When it holds the page shows "✓ claim"; when it does not, an
    ``AssertionError`` with ``claim`` and ``detail`` stops the build, so a page can never
    show a verdict its numbers do not support. Put the check's cell under
    ``:tags: [hide-input]``: the reader sees the verdict, and the code on request.
    Returns None, so that a cell may end with it without printing a value. Any other
    ``passed`` (None, a number, a string, an array of several values) is a
    ``TypeError``: a verdict is one truth value.
    """
    from IPython.display import Markdown, display

    passed = _truth("passed", passed)
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"claim must be a non-empty string, got {claim!r}")
    if not passed:
        raise AssertionError(
            f"check failed: {claim}" + (f" ({detail})" if detail else "")
        )
    display(Markdown(f"✓ {claim}"))


def _truth(name: str, value) -> bool:
    """``value`` as a bool: a bool, a numpy bool, or a one-element boolean array or
    tensor (what ``np.all``, ``torch.all`` and comparisons return)."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray) and value.dtype == bool and value.size == 1:
        return bool(value.reshape(-1)[0])
    if hasattr(value, "detach") and str(value.dtype) == "torch.bool":
        if value.numel() == 1:  # a torch tensor holding one truth value
            return bool(value.reshape(-1)[0])
    raise TypeError(f"{name} must be True or False, got {value!r:.80}")


def glue(name: str, value, *, display: bool = False):
    """Hand ``value`` to the page's text under ``name``, and return it.

    In the book build this is ``myst_nb.glue``: the prose then shows the number the cell
    computed, with ``{glue:text}`name:.2f``` (or ``{glue:}`name```), in exercise
    solutions too. Where myst-nb is not installed (a notebook on Colab) it only shows
    ``value`` when ``display`` is true. A number that reports a result is glued, never
    typed into the prose.
    """
    from lab import _checks

    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    display = _checks.flag("display", display)
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


def reading_minutes(page, *, words_per_minute: float = 180.0) -> int:
    """Minutes a student needs to read a MyST chapter carefully, rounded up to 5.

    Prose at ``words_per_minute`` (180: a textbook with mathematics, not a novel), plus
    one minute per display equation and per code cell the page shows (a reader stops at
    each: a figure, an explorer, a verdict). ``page`` is the path of the ``.md`` source.
    The exercises are not included (a reading plan budgets them on their own).
    Raises ``TypeError``/``ValueError`` naming ``page`` when it is not the path of a
    file, and naming ``words_per_minute`` unless it is a positive number.
    """
    import math
    import os
    import re
    from pathlib import Path

    from lab import _checks

    words_per_minute = _checks.positive("words_per_minute", words_per_minute)
    if isinstance(page, bool) or not isinstance(page, str | os.PathLike):
        raise TypeError(f"page must be a path (a string or a Path), got {page!r:.80}")
    if not Path(page).is_file():
        raise ValueError(f"page must be the path of an existing file, got {page!r:.80}")
    text = Path(page).read_text()
    text = text.split("\n## Exercises", 1)[0]
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, flags=re.S)
    visible = sum(
        1 for c in cells if "remove-cell" not in c and "remove-input" not in c
    )
    prose = re.sub(r"```.*?```", " ", text, flags=re.S)
    equations = len(re.findall(r"\$\$", prose)) // 2
    prose = re.sub(r"\$\$.*?\$\$", " ", prose, flags=re.S)
    words = len(re.findall(r"[A-Za-z][A-Za-z'-]*", prose))
    minutes = words / words_per_minute + equations + visible
    _checks.finite_result(minutes, "words_per_minute", "use a larger rate")
    return int(5 * math.ceil(minutes / 5))
