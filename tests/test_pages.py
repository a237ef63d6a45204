"""lab.pages: the display helpers every chapter's setup cell imports."""

from __future__ import annotations

import pytest

from lab import pages


def test_table_markdown_has_header_rule_and_rows():
    text = pages.markdown_table(["B", "variance"], [(1, 4.0), (4, "1.0")])
    assert text.splitlines() == [
        "| B | variance |",
        "|---|---|",
        "| 1 | 4.0 |",
        "| 4 | 1.0 |",
    ]


def test_table_markdown_rejects_ragged_rows():
    with pytest.raises(ValueError, match=r"rows\[1\]"):
        pages.markdown_table(["a", "b"], [(1, 2), (3,)])


def test_show_source_displays_the_function_as_python(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    pages.show_source(pages.markdown_table)
    assert shown[0].data.startswith("```python\ndef markdown_table(")


def test_glue_hands_the_value_to_myst_nb_and_returns_it(monkeypatch):
    import sys
    import types

    from lab.pages import glue

    calls = []
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=True: calls.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    assert glue("best_lr", 0.25) == 0.25
    assert calls == [("best_lr", 0.25, False)]
    import numpy as np
    import torch

    for scalar in (np.float64(0.5), torch.tensor(0.5, dtype=torch.float64)):
        calls.clear()
        glue("x", scalar)
        assert calls == [("x", 0.5, False)] and type(calls[0][1]) is float
    with pytest.raises(ValueError, match="name"):
        glue("not an identifier", 1.0)


def test_glue_without_myst_nb_still_returns_the_value(monkeypatch):
    import sys

    from lab.pages import glue

    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, as on Colab
    assert glue("x", 3) == 3
