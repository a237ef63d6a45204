"""Chapter 1: lab.vanilla_sgd (batch gradients against sigma^2/B) and its explorer."""

from __future__ import annotations

import pytest

import lab
from lab import simulate, vanilla_sgd, widgets
from lab.problems import Quadratic1D


@pytest.mark.parametrize("B", [1, 3, 16, 100])
def test_gradient_variance_at_optimum_is_sigma2_over_B(B):
    p = Quadratic1D(mean=1.5, sigma=2.0)
    n = 20_000
    ghat = vanilla_sgd.gradient_estimates(p, p.optimum, B, n, lab.generator(B))
    exact = p.gradient_variance(B)
    # Sample variance of n Gaussian values: s.e. = v·√(2/(n−1)); 5 s.e. fails w.p. < 1e-6.
    assert abs(ghat.var().item() - exact) <= simulate.variance_tolerance(exact, n)
    # Mean zero: s.e. of the sample mean is √(v/n).
    assert abs(ghat.mean().item()) <= 5 * (exact / n) ** 0.5


def test_vanilla_state_shapes_and_stationary_band():
    state = widgets.vanilla_sgd_state(samples=500, chains=4)
    assert state["paths"].shape == (61, 4)
    assert state["stationary_sd"] == pytest.approx((0.2 * 4 / (2 * 1.8)) ** 0.5)


@pytest.mark.parametrize(
    "name, value",
    [
        ("batch_size", 0),
        ("lr", 2.0),
        ("lr", 0.0),
        ("sigma", 0.0),
        ("beta0", float("nan")),
    ],
)
def test_vanilla_state_rejects_out_of_range_values(name, value):
    with pytest.raises(ValueError, match=name):
        widgets.vanilla_sgd_state(**{name: value})
