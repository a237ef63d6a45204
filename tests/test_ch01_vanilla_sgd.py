"""Chapter 1: lab.vanilla_sgd (batch gradients against sigma^2/B) and its explorer."""

from __future__ import annotations

import math

import pytest
import torch

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
        ("phi0", float("nan")),
    ],
)
def test_vanilla_state_rejects_out_of_range_values(name, value):
    with pytest.raises(ValueError, match=name):
        widgets.vanilla_sgd_state(**{name: value})


def test_64_times_the_batch_makes_ghat_8_times_sharper():
    p = Quadratic1D(mean=1.5, sigma=2.0)
    n = 20_000
    sd = [
        vanilla_sgd.gradient_estimates(p, p.optimum, B, n, lab.generator(B)).std()
        for B in (1, 64)
    ]
    # log of a Gaussian sample sd has s.e. ≈ 1/√(2(n−1)); the log of a ratio of two
    # independent ones has s.e. 1/√(n−1): 5 s.e. fails w.p. < 1e-6
    assert abs(math.log(sd[0] / sd[1]) - math.log(8)) <= 5 / math.sqrt(n - 1)


def test_one_percent_tolerance_needs_500_001_samples():
    n = 1 + 2 * (5 * 100) ** 2
    assert n == 500_001
    assert simulate.variance_tolerance(1.0, n) == pytest.approx(0.01, rel=1e-12)
    assert simulate.variance_tolerance(1.0, n - 1) > 0.01


def test_mean_error_falls_below_the_stationary_sd_from_step_10():
    # beta_0 = 4, mu = 0, eta = 0.2, B = 2, sigma = 2 (the exercise and explorer default)
    p = Quadratic1D(mean=0.0, sigma=2.0)
    sd = math.sqrt(p.stationary_variance(0.2, 2))
    assert sd == pytest.approx(0.471, abs=5e-4)
    assert math.log(sd / 4) / math.log(0.8) == pytest.approx(9.6, abs=0.05)
    mean_error = abs(p.sgd_mean(4.0, 0.2, torch.arange(30.0)))
    assert int(torch.nonzero(mean_error < sd)[0]) == 10
    # a simulation agrees at step 10: the mean of 4000 chains is within 5 s.e. of
    # 4·0.8^10 < sd, the s.e. being the chains' sd over √4000
    paths = simulate.sgd_quadratic_1d(p, 4.0, 0.2, 2, 10, 4000, lab.generator(10))
    se = paths[-1].std().item() / math.sqrt(4000)
    assert abs(paths[-1].mean().item() - 4 * 0.8**10) <= 5 * se
