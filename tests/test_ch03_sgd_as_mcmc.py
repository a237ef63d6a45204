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


def test_coordinate_temperatures_follow_the_exact_stationary_variances():
    """T_i = h_i Var_∞ Φ_i for SGD on the noisy quadratic, simulated, within 5 s.e."""
    import lab
    from lab import optim, simulate
    from lab.problems import scaled_nqm

    nqm = scaled_nqm(kappa=100, dim=4, power=0.5)
    lr, chains, steps = 0.5, 2000, 2000
    run = simulate.run_nqm(
        nqm,
        lambda params: optim.SGD(params, lr=lr),
        steps,
        chains,
        lab.generator(5, "cpu"),
        observe=simulate.at_steps(
            [steps], lambda t, p, opt: {"phi": p.detach().clone()}
        ),
    )
    h, sigma = nqm.h.numpy(), nqm.sigma.numpy()
    measured = h * run["phi"][-1].var(axis=0)
    exact = sgd_as_mcmc.coordinate_temperatures(lr, h, sigma, 1)
    assert np.all(np.abs(measured / exact - 1) < 5 * np.sqrt(2 / (chains - 1)))
    # anisotropic noise (σ_i² ∝ h_i): the temperatures differ by about the range of h
    assert exact.max() / exact.min() > 0.5 * h.max() / h.min()
    # isotropic noise: one temperature, up to the (2 − η h_i) correction
    same = sgd_as_mcmc.coordinate_temperatures(1e-3, h, np.ones_like(h), 1)
    assert same.max() / same.min() < 1.001


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": 2.5}, "lr"),
        ({"h": [1.0, -1.0]}, "h"),
        ({"sigma": [1.0, -1.0]}, "sigma"),
        ({"sigma": [1.0, 1.0, 1.0]}, "sigma"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_coordinate_temperatures_reject_bad_arguments(kwargs, name):
    args = {"lr": 0.5, "h": [1.0, 0.1], "sigma": [1.0, 0.3], "batch_size": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        sgd_as_mcmc.coordinate_temperatures(**args)


def test_quench_leaves_the_hot_gibbs_mass_in_the_deep_valley():
    """ex-mcmc-quench: after hot-then-cold cycles the deep-valley fraction is the Gibbs
    mass at the hot temperature (within 5 binomial s.e. and the finite-η gap)."""
    import torch

    import lab
    from lab import simulate
    from lab.problems import DoubleWell1D

    well, runs = DoubleWell1D(), 2000
    x = np.linspace(-2.6, 2.6, 2001)
    t_hot = sgd_as_mcmc.temperature(0.06, well.sigma, 1)
    gibbs_hot = well.gibbs_density(x, t_hot)[x < 0].sum() * (x[1] - x[0])
    gen = lab.generator(3, "cpu")
    beta = torch.full((runs,), 1.0, dtype=torch.float64)
    for _ in range(2):
        hot = simulate.sgd_1d(well, beta, 0.06, 1, 1000, runs, gen)[-1]
        beta = simulate.sgd_1d(well, hot, 0.005, 1, 1000, runs, gen)[-1]
    deep = float((beta < 0).double().mean())
    assert abs(deep - gibbs_hot) < 5 * np.sqrt(0.25 / runs) + 0.05
    assert deep < 0.9  # far from the cold Gibbs mass (almost 1)
