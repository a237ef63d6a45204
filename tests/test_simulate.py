"""lab.simulate: the experiments of Chapter 1 in small versions, with derived tolerances."""

from __future__ import annotations

import pytest
import torch

import lab
from lab import simulate, vanilla_sgd
from lab.problems import Quadratic1D


def test_variance_tolerance_would_catch_a_wrong_variance():
    # Guard against a tolerance too loose to fail: σ² (B = 1) is far outside σ²/4's band.
    p = Quadratic1D(sigma=2.0)
    n = 20_000
    ghat = vanilla_sgd.gradient_estimates(p, 0.0, 4, n, lab.generator(0))
    assert abs(ghat.var().item() - p.sigma**2) > simulate.variance_tolerance(
        p.sigma**2, n
    )


@pytest.mark.parametrize("lr, B", [(0.1, 1), (0.5, 4), (1.0, 2), (1.6, 1)])
def test_sgd_stationary_variance_matches_closed_form(lr, B):
    p = Quadratic1D(mean=-1.0, sigma=1.5)
    chains = 4000
    steps = int(30 / min(lr, 2 - lr)) + 1
    paths = simulate.sgd_quadratic_1d(
        p, p.optimum, lr, B, steps, chains, lab.generator(5)
    )
    exact = p.sgd_variance(lr, B, torch.tensor(float(steps))).item()
    # β_T across chains: independent Gaussians (linear in Gaussian draws).
    assert abs(paths[-1].var().item() - exact) <= simulate.variance_tolerance(
        exact, chains
    )


def test_sgd_mean_follows_geometric_decay():
    p = Quadratic1D(mean=0.5, sigma=1.0)
    chains, lr, B = 4000, 0.3, 2
    paths = simulate.sgd_quadratic_1d(p, 4.0, lr, B, 12, chains, lab.generator(9))
    t = torch.arange(13, dtype=torch.float64)
    mean, var = p.sgd_mean(4.0, lr, t), p.sgd_variance(lr, B, t)
    # s.e. of a mean of `chains` values is sd/√chains; allow 5 s.e. (plus round-off at t=0).
    assert torch.all((paths.mean(1) - mean).abs() <= 5 * (var / chains).sqrt() + 1e-12)


def test_sgd_runs_several_learning_rates_side_by_side():
    p = Quadratic1D()
    lrs = torch.tensor([0.1, 0.5, 1.0, 1.5], dtype=torch.float64)
    paths = simulate.sgd_quadratic_1d(p, 2.0, lrs, 1, 5, 4, lab.generator(0))
    assert paths.shape == (6, 4)
    assert torch.all(paths[0] == 2.0)


def test_same_seed_same_paths():
    p = Quadratic1D()
    a = simulate.sgd_quadratic_1d(p, 1.0, 0.2, 3, 10, 5, lab.generator(11))
    b = simulate.sgd_quadratic_1d(p, 1.0, 0.2, 3, 10, 5, lab.generator(11))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"steps": 0}, "steps"),
        ({"chains": 0}, "chains"),
        ({"lr": -0.1}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"beta0": float("inf")}, "beta0"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, name):
    args = {"beta0": 0.0, "lr": 0.1, "batch_size": 1, "steps": 3, "chains": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        simulate.sgd_quadratic_1d(Quadratic1D(), generator=lab.generator(0), **args)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_simulation_runs_on_cuda_and_agrees_in_distribution():
    p = Quadratic1D(sigma=2.0)
    n = 20_000
    ghat = vanilla_sgd.gradient_estimates(p, 0.0, 8, n, lab.generator(0, "cuda"))
    assert ghat.device.type == "cuda"
    assert abs(ghat.var().item() - 0.5) <= simulate.variance_tolerance(0.5, n)


# ------------------------------------------------ Chapter 2: decaying learning rates


# ---------------------------------------------------- Chapter 3: SGD as MCMC


def test_sgd_1d_on_the_quadratic_matches_the_stationary_variance():
    prob, lr, chains = Quadratic1D(sigma=1.5), 0.3, 4000
    final = simulate.sgd_1d(prob, 0.0, lr, 2, 200, chains, lab.generator(8))[-1]
    exact = prob.stationary_variance(lr, 2)
    assert abs(final.var().item() - exact) <= simulate.variance_tolerance(exact, chains)


def test_sgd_1d_reports_divergence_instead_of_returning_nan():
    from lab.problems import DoubleWell1D

    with pytest.raises(FloatingPointError, match="diverged"):
        simulate.sgd_1d(DoubleWell1D(), 3.0, 0.5, 1, 50, 4, lab.generator(0))
