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


CORNERS = [(name, params) for name, (_, controls) in sorted(widgets.STATES.items())
           for params in _extremes(controls)]


@pytest.mark.parametrize("name, params", CORNERS,
                         ids=[f"{n}:" + "-".join(f"{k}={v}" for k, v in p.items()) for n, p in CORNERS])
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


def test_vanilla_state_shapes_and_stationary_band():
    state = widgets.vanilla_sgd_state(samples=500, chains=4)
    assert state["paths"].shape == (61, 4)
    assert state["stationary_sd"] == pytest.approx((0.2 * 4 / (2 * 1.8)) ** 0.5)


def test_schedule_state_verdicts_follow_the_power():
    assert widgets.schedule_state(p=1.0)["sum_verdict"] == "= ∞"
    assert widgets.schedule_state(p=1.2)["sum_verdict"] == "< ∞"
    assert widgets.schedule_state(p=0.5)["sum_sq_verdict"] == "= ∞"
    assert widgets.schedule_state(p=0.6)["sum_sq_verdict"] == "< ∞"


@pytest.mark.parametrize("name, value", [("c", 0.0), ("c", 2.0), ("p", -0.1), ("batch_size", 0)])
def test_schedule_state_rejects_out_of_range_values(name, value):
    with pytest.raises(ValueError, match=name):
        widgets.schedule_state(**{name: value})


@pytest.mark.parametrize("name, value", [("batch_size", 0), ("lr", 2.0), ("lr", 0.0),
                                         ("sigma", 0.0), ("beta0", float("nan"))])
def test_vanilla_state_rejects_out_of_range_values(name, value):
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
