"""Explorers: the compute function at every slider extreme, and a live redraw."""

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
    explorer = widgets.EXPLORERS[name]()
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
