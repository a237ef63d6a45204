"""Chapter 3: lab.sgd_as_mcmc (temperature, the chain's stationary density against
Gibbs) and its explorer."""

from __future__ import annotations

import numpy as np
import pytest

import lab
from lab import sgd_as_mcmc, simulate
from lab.problems import Quadratic1D


def test_stationary_density_of_the_chain_reproduces_the_exact_quadratic_variance():
    # An independent check of the transfer-operator solver against Chapter 1's formula.
    prob = Quadratic1D(mean=0.5, sigma=2.0)
    x = np.linspace(-11.5, 12.5, 2401)
    dx = x[1] - x[0]
    for lr in (0.1, 0.5, 1.0):
        density = sgd_as_mcmc.sgd_stationary_density(prob, lr, 2, x)
        mean = (density * x).sum() * dx
        var = (density * (x - mean) ** 2).sum() * dx
        assert mean == pytest.approx(0.5, abs=1e-9)
        assert var == pytest.approx(prob.stationary_variance(lr, 2), rel=1e-6)


def test_stationary_density_rejects_a_grid_coarser_than_the_noise():
    from lab.problems import DoubleWell1D

    with pytest.raises(ValueError, match="grid"):
        sgd_as_mcmc.sgd_stationary_density(
            DoubleWell1D(), 0.005, 1, np.linspace(-2, 2, 50)
        )


def test_hot_double_well_runs_match_the_exact_stationary_density():
    from lab.problems import DoubleWell1D

    prob, lr, chains = DoubleWell1D(), 0.06, 1500
    final = simulate.sgd_1d(prob, 1.0, lr, 1, 3000, chains, lab.generator(4))[-1]
    x = np.linspace(-2.6, 2.6, 1201)
    exact = sgd_as_mcmc.sgd_stationary_density(prob, lr, 1, x)
    p_exact = exact[x < 0].sum() * (x[1] - x[0])
    # Independent runs: a binomial proportion, 5 standard errors.
    assert (
        abs((final < 0).double().mean().item() - p_exact)
        <= 5 * (p_exact * (1 - p_exact) / chains) ** 0.5
    )


def test_distance_to_gibbs_shrinks_linearly_with_the_learning_rate():
    from lab.problems import DoubleWell1D

    prob = DoubleWell1D()
    x = np.linspace(-2.6, 2.6, 1201)
    dx = x[1] - x[0]

    def tv(lr):
        exact = sgd_as_mcmc.sgd_stationary_density(prob, lr, 1, x)
        return (
            0.5
            * np.abs(
                exact - prob.gibbs_density(x, sgd_as_mcmc.temperature(lr, 4.0, 1))
            ).sum()
            * dx
        )

    # First-order accuracy: halving η halves the distance (within 10%).
    assert tv(0.01) / tv(0.005) == pytest.approx(2.0, rel=0.1)
    assert tv(0.02) / tv(0.01) == pytest.approx(2.0, rel=0.1)


def test_temperature_is_lr_sigma2_over_2B():
    assert sgd_as_mcmc.temperature(0.04, 4.0, 2) == pytest.approx(0.16)
    with pytest.raises(ValueError, match="lr"):
        sgd_as_mcmc.temperature(0.0, 1.0, 1)
