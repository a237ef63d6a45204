"""Explorers: the compute function at every slider extreme, and a live redraw."""

from __future__ import annotations

import itertools
import inspect

import numpy as np
import pytest

from lab import widgets


def _extremes(controls):
    values = {}
    for name, spec in controls.items():
        values[name] = (spec["options"][0], spec["options"][-1]) if "options" in spec \
            else (spec["min"], spec["max"])
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


@pytest.mark.parametrize("params", _extremes(widgets.VANILLA_SGD_CONTROLS),
                         ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_vanilla_sgd_state_is_finite_at_every_slider_corner(params):
    state = widgets.vanilla_sgd_state(**params, samples=500, chains=4)
    for key in ("ghat", "paths", "mean", "sd", "t"):
        assert np.all(np.isfinite(state[key])), f"{key} not finite at {params}"
    assert np.isfinite(state["stationary_sd"]) and state["stationary_sd"] > 0
    assert state["paths"].shape == (61, 4)


def test_state_defaults_match_slider_defaults():
    signature = inspect.signature(widgets.vanilla_sgd_state)
    for name, spec in widgets.VANILLA_SGD_CONTROLS.items():
        assert signature.parameters[name].default == spec["value"], name


@pytest.mark.parametrize("name, value", [("batch_size", 0), ("lr", 2.0), ("lr", 0.0),
                                         ("sigma", 0.0), ("beta0", float("nan"))])
def test_state_rejects_out_of_range_values(name, value):
    with pytest.raises(ValueError, match=name):
        widgets.vanilla_sgd_state(**{name: value})


@pytest.mark.parametrize("name", sorted(widgets.EXPLORERS))
def test_every_slider_change_redraws(name):
    explorer = widgets.EXPLORERS[name]()
    assert bytes(explorer.image.value).startswith(b"\x89PNG"), "no initial image"
    for slider_name, slider in explorer.sliders.items():
        before_image, before_state = bytes(explorer.image.value), explorer.state
        options = getattr(slider, "options", None)
        slider.value = options[-1] if options else slider.max
        assert explorer.state is not before_state, f"{slider_name}: state not recomputed"
        assert bytes(explorer.image.value) != before_image, f"{slider_name}: image not redrawn"
