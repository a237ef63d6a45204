"""Explorers: the compute function at every slider extreme, a live redraw, and the
precomputed view of the built page (its grid, its frames, its links)."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest

from lab import widgets


def _extremes(controls):
    values = {}
    for name, spec in controls.items():
        values[name] = (
            (spec["options"][0], spec["options"][-1])
            if "options" in spec
            else (spec["min"], spec["max"])
        )
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


CORNERS = [
    (name, params)
    for name, (_, controls) in sorted(widgets.STATES.items())
    for params in _extremes(controls)
]


@pytest.mark.parametrize(
    "name, params",
    CORNERS,
    ids=[f"{n}:" + "-".join(f"{k}={v}" for k, v in p.items()) for n, p in CORNERS],
)
def test_explorer_state_is_finite_at_every_slider_corner(name, params):
    compute, _ = widgets.STATES[name]
    state = compute(**params)
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    assert arrays, "the state holds no arrays"
    for key, value in arrays.items():
        assert np.all(np.isfinite(value)), f"{key} not finite at {params}"


def test_every_explorer_has_a_state_function():
    assert set(widgets.STATES) == set(widgets.EXPLORERS)


@pytest.mark.parametrize("name", sorted(widgets.STATES))
def test_state_defaults_match_slider_defaults(name):
    compute, controls = widgets.STATES[name]
    signature = inspect.signature(compute)
    for param, spec in controls.items():
        assert signature.parameters[param].default == spec["value"], param


@pytest.mark.parametrize("name", sorted(widgets.EXPLORERS))
def test_every_slider_change_redraws(name):
    explorer = widgets.EXPLORERS[name](mode="live")
    assert bytes(explorer.image.value).startswith(b"\x89PNG"), "no initial image"
    for slider_name, slider in explorer.sliders.items():
        before_image, before_state = bytes(explorer.image.value), explorer.state
        options = getattr(slider, "options", None)
        slider.value = options[-1] if options else slider.max
        assert explorer.state is not before_state, (
            f"{slider_name}: state not recomputed"
        )
        assert bytes(explorer.image.value) != before_image, (
            f"{slider_name}: image not redrawn"
        )


# ------------------------------------------------------------ the page's static view


@pytest.mark.parametrize("name", sorted(widgets.GRIDS))
def test_static_grid_contains_the_default_state(name):
    _, controls = widgets.STATES[name]
    settings = widgets.grid_settings(controls, widgets.GRIDS[name])
    defaults = {n: spec["value"] for n, spec in controls.items()}
    assert defaults in settings
    assert len(settings) == len({tuple(s.values()) for s in settings}), "duplicates"


@pytest.mark.parametrize("name", sorted(widgets.GRIDS))
def test_static_grid_moves_at_least_two_sliders_within_the_page_budget(name):
    grid = widgets.GRIDS[name]
    assert len(grid) >= 2
    assert all(len(values) >= 2 for values in grid.values())
    assert int(np.prod([len(v) for v in grid.values()])) <= 64


def test_grid_settings_rejects_a_grid_without_the_default():
    _, controls = widgets.STATES["momentum"]
    with pytest.raises(ValueError, match="default"):
        widgets.grid_settings(controls, {"N": [1, 2]})
    with pytest.raises(ValueError, match="not an option"):
        widgets.grid_settings(controls, {"N": [10, 7]})
    with pytest.raises(ValueError, match="not controls"):
        widgets.grid_settings(controls, {"bogus": [1]})
    _, float_controls = widgets.STATES["optimal_batch"]
    with pytest.raises(ValueError, match="outside"):
        widgets.grid_settings(float_controls, {"L": [1.0, 99.0]})


def _small_static(**grid):
    from lab.widgets import momentum as m

    return widgets.StaticExplorer(
        m.momentum_state, m.momentum_figure, m.MOMENTUM_CONTROLS, grid, steps=40
    )


def _shown_frame(explorer) -> bytes:
    """The frame the nested stacks show for the sliders' current indices (what the
    browser's links select)."""
    node = explorer.stack
    for slider in explorer.sliders.values():
        node = node.children[slider.index]
    return bytes(node.value)


def test_static_view_shows_the_frame_of_each_setting():
    from lab.widgets import momentum as m

    explorer = _small_static(N=[3, 10], lr=[0.2, 0.5, 2.0])
    assert list(explorer.sliders) == ["N", "lr"]
    assert len(explorer.frames) == 6 and len(set(explorer.frames)) == 6
    # the default setting is what the page opens on
    assert explorer.values() == {"N": 10, "lr": 0.5}
    # each combination of slider positions shows the frame drawn for that setting,
    # by the same state and figure functions as the live view
    live = widgets.Explorer(
        m.momentum_state, m.momentum_figure, m.MOMENTUM_CONTROLS, steps=40
    )
    for N, lr in itertools.product([3, 10], [0.2, 0.5, 2.0]):
        explorer.sliders["N"].value, explorer.sliders["lr"].value = N, lr
        i = explorer.settings.index({**explorer.settings[0], "N": N, "lr": lr})
        assert _shown_frame(explorer) == explorer.frames[i]
        live.sliders["N"].value, live.sliders["lr"].value = N, lr
        assert live.state["eta_prime"] == m.momentum_state(N=N, lr=lr)["eta_prime"]


def test_static_view_links_every_stack_to_its_slider_in_the_browser():
    import ipywidgets

    explorer = _small_static(N=[3, 10], lr=[0.2, 0.5, 2.0], hold=["η' = Nη", "η"])
    stacks, queue = [], [explorer.stack]
    while queue:
        node = queue.pop()
        if isinstance(node, ipywidgets.Stack):
            stacks.append(node)
            queue.extend(node.children)
    assert len(stacks) == 1 + 2 + 2 * 3
    links = {(id(link.source[0]), id(link.target[0])) for link in explorer._links}
    assert len(links) == len(stacks)
    slider_ids = {id(s) for s in explorer.sliders.values()}
    for link in explorer._links:
        assert isinstance(link, ipywidgets.widgets.widget_link.DirectionalLink)
        assert id(link.source[0]) in slider_ids and link.source[1] == "index"
        assert link.target[1] == "selected_index"
    assert "12 precomputed settings" in explorer.note.value
    assert "(noise σ²/(Bh) = 0.01 fixed)" in explorer.note.value


def test_static_view_carries_its_default_figure_for_builders_without_javascript():
    explorer = _small_static(N=[3, 10], lr=[0.5, 2.0])
    data, _ = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    import base64

    png = base64.b64decode(data["image/png"])
    assert png.startswith(b"\x89PNG")
    assert (
        png
        == explorer.frames[
            explorer.settings.index({**explorer.settings[0], "N": 10, "lr": 0.5})
        ]
    )


def test_static_view_carries_a_vector_default_figure_for_print_only_when_asked(
    monkeypatch,
):
    import base64

    monkeypatch.delenv("LAB_FIGURE_FORMATS", raising=False)
    data, _ = _small_static(N=[3, 10], lr=[0.5, 2.0])._repr_mimebundle_()
    assert "application/pdf" not in data  # a notebook on Binder stays small
    monkeypatch.setenv("LAB_FIGURE_FORMATS", "png,pdf")
    explorer = _small_static(N=[3, 10], lr=[0.5, 2.0])
    data, _ = explorer._repr_mimebundle_()
    pdf = base64.b64decode(data["application/pdf"])
    assert pdf.startswith(b"%PDF")
    # the default setting's figure: the PNG that rides along is its frame
    default = explorer.settings.index({**explorer.settings[0], "N": 10, "lr": 0.5})
    assert base64.b64decode(data["image/png"]) == explorer.frames[default]


def test_mode_comes_from_the_environment_unless_given(monkeypatch):
    monkeypatch.delenv("LAB_EXPLORERS", raising=False)
    assert widgets.explorer_mode() == "live"
    monkeypatch.setenv("LAB_EXPLORERS", "static")
    assert widgets.explorer_mode() == "static"
    assert widgets.explorer_mode("live") == "live"
    assert isinstance(
        widgets.EXPLORERS["momentum"](steps=20, mode="live"), widgets.Explorer
    )
    monkeypatch.setenv("LAB_EXPLORERS", "bogus")
    with pytest.raises(ValueError, match="mode"):
        widgets.explorer_mode()


@pytest.mark.parametrize("name", sorted(widgets.STATES))
def test_redrawing_a_kept_figure_gives_the_pixels_of_a_fresh_one(name):
    """Explorers keep their axes between redraws (lab.plots.panels): after drawing one
    setting, drawing another must look exactly as if the figure were new."""
    import importlib

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    compute, controls = widgets.STATES[name]
    draw = getattr(importlib.import_module(f"lab.widgets.{name}"), f"{name}_figure")
    settings = widgets.grid_settings(controls, widgets.GRIDS[name])
    kept = Figure(figsize=(9, 3.4))
    FigureCanvasAgg(kept)
    draw(kept, compute(**settings[-1]))
    state = compute(**settings[0])
    fresh = Figure(figsize=(9, 3.4))
    FigureCanvasAgg(fresh)
    draw(fresh, state)
    draw(kept, state)
    pixels = []
    for fig in (fresh, kept):
        fig.canvas.draw()
        pixels.append(np.asarray(fig.canvas.buffer_rgba()).copy())
    assert np.array_equal(pixels[0], pixels[1])
