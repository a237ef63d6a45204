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


def test_show_source_drops_the_docstring_and_links_the_appendix(monkeypatch):
    from lab import optim

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    pages.show_source(optim.momentum_update)
    (text,) = shown
    assert "def momentum_update" in text and '"""' not in text
    assert "{py:obj}`lab.optim.momentum_update`" in text


def test_source_excerpt_keeps_the_signature_and_marks_the_cut():
    from lab import optim

    full = pages.source_excerpt(optim.Adam).splitlines()
    part = pages.source_excerpt(optim.Adam, lines=(4, 6)).splitlines()
    assert part[0] == full[0] and part[1].strip() == "..."
    assert part[2:5] == full[3:6] and part[-1].strip() == "..."
    with pytest.raises(ValueError, match="lines"):
        pages.source_excerpt(optim.Adam, lines=(0, 3))


def test_check_shows_a_verdict_or_stops_the_build(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    assert pages.check(True, "matches σ²/B") is None
    assert shown == ["✓ matches σ²/B"]
    with pytest.raises(AssertionError, match="matches σ²/B.*got 3"):
        pages.check(False, "matches σ²/B", "got 3")
    with pytest.raises(ValueError, match="claim"):
        pages.check(True, "")


def test_house_style_series_differ_in_colour_and_line_style():
    from lab import plots

    styles = [plots.series_style(i) for i in range(len(plots.SERIES))]
    assert len({s["color"] for s in styles}) == len(styles)
    assert len({str(s["linestyle"]) for s in styles}) == len(styles)
    assert plots.style()["font.size"] >= 10
    colors = plots.ordered_colors(5)
    grey = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b, _ in colors]
    assert grey == sorted(grey)  # the order reads in grey scale
    with pytest.raises(ValueError, match="n must"):
        plots.ordered_colors(0)


def test_figure_formats_come_from_the_environment_and_are_checked(monkeypatch):
    from lab import plots

    monkeypatch.delenv("LAB_FIGURE_FORMATS", raising=False)
    assert plots.figure_formats() == ()
    monkeypatch.setenv("LAB_FIGURE_FORMATS", "png, pdf")
    assert plots.figure_formats() == ("png", "pdf")
    monkeypatch.setenv("LAB_FIGURE_FORMATS", "png,svg")
    with pytest.raises(ValueError, match="LAB_FIGURE_FORMATS"):
        plots.figure_formats()


def test_use_style_displays_figures_in_the_formats_asked_for_in_a_kernel(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    from lab import plots

    shell = InteractiveShell.instance()
    try:
        formatters = shell.display_formatter.formatters
        monkeypatch.setenv("LAB_FIGURE_FORMATS", "png,pdf")
        plots.use_style()
        from matplotlib.figure import Figure

        assert Figure in formatters["application/pdf"].type_printers
        assert Figure in formatters["image/png"].type_printers
    finally:
        InteractiveShell.clear_instance()


def test_reading_minutes_grows_with_prose_equations_and_cells(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# T\n\n" + "word " * 890 + "\n## Exercises\n" + "more " * 5000)
    assert pages.reading_minutes(page) == 5  # 891 words at 180/min; exercises not read
    page.write_text(
        "# T\n\n"
        + "word " * 890
        + "\n$$x$$\n" * 3
        + "```{code-cell} ipython3\nx\n```\n"
    )
    assert pages.reading_minutes(page) == 10  # 5 + 3 equations + 1 cell, rounded up
    with pytest.raises(ValueError, match="words_per_minute"):
        pages.reading_minutes(page, words_per_minute=0)


def test_check_and_the_figures_name_a_bad_argument():
    import numpy as np
    from matplotlib.figure import Figure

    from lab import plots
    from lab.derivations import running_average

    for bad in (None, "yes", 1.0, np.array([True, False])):
        with pytest.raises(TypeError, match="passed"):
            pages.check(bad, "holds")
    pages.check(np.array([True]), "a one-element verdict is one truth value")
    with pytest.raises(ValueError, match="page"):
        pages.reading_minutes("no/such/page.md")
    with pytest.raises(ValueError, match="obj"):
        pages.source_excerpt(int)  # a built-in: no Python source
    # a builder under functools.cache still shows its source
    assert "def running_average" in pages.source_excerpt(running_average)
    ax = Figure().subplots()
    with pytest.raises(ValueError, match="variance"):
        plots.gradient_histogram(ax, np.zeros(4), float("nan"))
    with pytest.raises(ValueError, match="cmap"):
        plots.ordered_colors(3, cmap="no-such-map")
    t, three = np.arange(3.0), np.zeros(3)
    with pytest.raises(ValueError, match="paths"):
        plots.trajectory_bundle(ax, t, np.zeros(4), three, three, 0.0)


def test_source_excerpt_picks_lines_by_their_text():
    from lab import convergence

    part = pages.source_excerpt(
        convergence.quadratic_moments, start="for t, et in", stop="m[t + 1]"
    ).splitlines()
    assert part[0].startswith("def quadratic_moments(") and part[1].strip() == "..."
    assert part[2].strip().startswith("for t, et in") and part[-1].strip() == "..."
    assert part[-2].strip().startswith("m[t + 1]")
    with pytest.raises(ValueError, match="start"):
        pages.source_excerpt(convergence.quadratic_moments, start="nowhere", stop="x")
    with pytest.raises(ValueError, match="together"):
        pages.source_excerpt(convergence.quadratic_moments, start="for t")
