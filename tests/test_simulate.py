"""lab.simulate: the experiments of Chapter 1 in small versions, with derived tolerances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lab
from lab import simulate
from lab.problems import Quadratic1D


@pytest.mark.parametrize("B", [1, 3, 16, 100])
def test_gradient_variance_at_optimum_is_sigma2_over_B(B):
    p = Quadratic1D(mean=1.5, sigma=2.0)
    n = 20_000
    ghat = simulate.gradient_estimates(p, p.optimum, B, n, lab.generator(B))
    exact = p.gradient_variance(B)
    # Sample variance of n Gaussian values: s.e. = v·√(2/(n−1)); 5 s.e. fails w.p. < 1e-6.
    assert abs(ghat.var().item() - exact) <= simulate.variance_tolerance(exact, n)
    # Mean zero: s.e. of the sample mean is √(v/n).
    assert abs(ghat.mean().item()) <= 5 * (exact / n) ** 0.5


def test_variance_tolerance_would_catch_a_wrong_variance():
    # Guard against a tolerance too loose to fail: σ² (B = 1) is far outside σ²/4's band.
    p = Quadratic1D(sigma=2.0)
    n = 20_000
    ghat = simulate.gradient_estimates(p, 0.0, 4, n, lab.generator(0))
    assert abs(ghat.var().item() - p.sigma**2) > simulate.variance_tolerance(p.sigma**2, n)


@pytest.mark.parametrize("lr, B", [(0.1, 1), (0.5, 4), (1.0, 2), (1.6, 1)])
def test_sgd_stationary_variance_matches_closed_form(lr, B):
    p = Quadratic1D(mean=-1.0, sigma=1.5)
    chains = 4000
    steps = int(30 / min(lr, 2 - lr)) + 1
    paths = simulate.sgd_quadratic_1d(p, p.optimum, lr, B, steps, chains, lab.generator(5))
    exact = p.sgd_variance(lr, B, torch.tensor(float(steps))).item()
    # β_T across chains: independent Gaussians (linear in Gaussian draws).
    assert abs(paths[-1].var().item() - exact) <= simulate.variance_tolerance(exact, chains)


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


@pytest.mark.parametrize("kwargs, name", [
    ({"batch_size": 0}, "batch_size"), ({"steps": 0}, "steps"), ({"chains": 0}, "chains"),
    ({"lr": -0.1}, "lr"), ({"lr": float("nan")}, "lr"), ({"beta0": float("inf")}, "beta0"),
])
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
    ghat = simulate.gradient_estimates(p, 0.0, 8, n, lab.generator(0, "cuda"))
    assert ghat.device.type == "cuda"
    assert abs(ghat.var().item() - 0.5) <= simulate.variance_tolerance(0.5, n)


# ------------------------------------------------ Chapter 2: decaying learning rates

def test_quadratic_moments_match_a_plain_transcription_of_the_recursions():
    eta = [0.5, 1.2, 0.1, 1.0, 0.3]
    m, v = simulate.quadratic_moments(eta, noise_variance=0.7, e0=2.0, curvature=1.0)
    mm, vv = 2.0, 0.0
    for t, e in enumerate(eta):
        mm, vv = (1 - e) * mm, (1 - e) ** 2 * vv + e**2 * 0.7
        assert m[t + 1] == pytest.approx(mm, abs=1e-15) and v[t + 1] == pytest.approx(vv, abs=1e-15)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 1.5])
def test_simulated_mse_under_a_schedule_matches_the_exact_recursion(p):
    prob = Quadratic1D(sigma=1.0)
    steps, chains, c = 300, 3000, 0.8
    schedule = simulate.power_schedule(c, p, steps)
    m, v = simulate.quadratic_moments(schedule, prob.gradient_variance(2), 4.0)
    for sample_batches in (True, False):
        paths = simulate.sgd_quadratic_1d(prob, 4.0, schedule, 2, steps, chains,
                                          lab.generator(int(10 * p)), sample_batches=sample_batches)
        for t in (10, 300):
            mse = (paths[t] ** 2).mean().item()
            # e_t ~ N(m, v): Var e² = 2v² + 4m²v; 5 standard errors of a mean over chains.
            tol = 5 * ((2 * v[t] ** 2 + 4 * m[t] ** 2 * v[t]) / chains) ** 0.5
            assert abs(mse - (m[t] ** 2 + v[t])) <= tol


def test_c_over_t_error_times_t_tends_to_c2_sigma2_over_B_2c_minus_1():
    # Chapter 2, eq-c-over-t-limit: t·E e_t² → c²σ²/(B(2c − 1)) for c > 1/2.
    T = 100_000
    for c, noise in [(0.8, 1.0), (1.5, 0.25)]:
        m, v = simulate.quadratic_moments(simulate.power_schedule(c, 1.0, T), noise, 4.0)
        assert T * (m[-1] ** 2 + v[-1]) == pytest.approx(c**2 * noise / (2 * c - 1), rel=2e-3)


def test_c_below_one_half_decays_like_t_to_the_minus_2c():
    c, T = 0.25, 100_000
    m, v = simulate.quadratic_moments(simulate.power_schedule(c, 1.0, T), 1.0, 4.0)
    mse = m**2 + v
    # The local slope of log error against log t tends to −2c.
    slope = (np.log(mse[T]) - np.log(mse[T // 10])) / np.log(10)
    assert slope == pytest.approx(-2 * c, abs=0.02)


@pytest.mark.parametrize("p, rel", [(0.5, 0.01), (0.75, 0.05)])
def test_slow_schedules_track_the_local_noise_floor(p, rel):
    # For p < 1: E e_t² ≈ η_t σ²/(2B) (the stationary variance at the current rate).
    c, T = 0.8, 100_000
    m, v = simulate.quadratic_moments(simulate.power_schedule(c, p, T), 1.0, 4.0)
    assert (m[-1] ** 2 + v[-1]) / (c / T**p / 2) == pytest.approx(1.0, rel=rel)


def test_summable_schedule_freezes_the_bias_at_the_infinite_product():
    # p = 2: Π(1 − x²/t²) = sin(πx)/(πx) with x² = c, so E β_t → 4 sin(πx)/(πx) ≠ 0.
    m, _ = simulate.quadratic_moments(simulate.power_schedule(0.8, 2.0, 100_000), 1.0, 4.0)
    x = 0.8**0.5
    assert m[-1] == pytest.approx(4 * np.sin(np.pi * x) / (np.pi * x), rel=1e-4)


@pytest.mark.parametrize("kwargs, name", [({"c": 0}, "c"), ({"p": -1}, "p"), ({"steps": 0}, "steps")])
def test_power_schedule_rejects_bad_arguments(kwargs, name):
    args = {"c": 1.0, "p": 1.0, "steps": 5} | kwargs
    with pytest.raises(ValueError, match=name):
        simulate.power_schedule(**args)


def test_schedule_of_wrong_length_is_rejected():
    with pytest.raises(ValueError, match="schedule"):
        simulate.sgd_quadratic_1d(Quadratic1D(), 0.0, simulate.power_schedule(1, 1, 5), 1, 6, 2,
                                  lab.generator(0))


# ---------------------------------------------------- Chapter 3: SGD as MCMC

def test_stationary_density_of_the_chain_reproduces_the_exact_quadratic_variance():
    # An independent check of the transfer-operator solver against Chapter 1's formula.
    prob = Quadratic1D(mean=0.5, sigma=2.0)
    x = np.linspace(-11.5, 12.5, 2401)
    dx = x[1] - x[0]
    for lr in (0.1, 0.5, 1.0):
        density = simulate.sgd_stationary_density(prob, lr, 2, x)
        mean = (density * x).sum() * dx
        var = (density * (x - mean) ** 2).sum() * dx
        assert mean == pytest.approx(0.5, abs=1e-9)
        assert var == pytest.approx(prob.stationary_variance(lr, 2), rel=1e-6)


def test_stationary_density_rejects_a_grid_coarser_than_the_noise():
    from lab.problems import DoubleWell1D

    with pytest.raises(ValueError, match="grid"):
        simulate.sgd_stationary_density(DoubleWell1D(), 0.005, 1, np.linspace(-2, 2, 50))


def test_hot_double_well_runs_match_the_exact_stationary_density():
    from lab.problems import DoubleWell1D

    prob, lr, chains = DoubleWell1D(), 0.06, 1500
    final = simulate.sgd_1d(prob, 1.0, lr, 1, 3000, chains, lab.generator(4))[-1]
    x = np.linspace(-2.6, 2.6, 1201)
    exact = simulate.sgd_stationary_density(prob, lr, 1, x)
    p_exact = exact[x < 0].sum() * (x[1] - x[0])
    # Independent runs: a binomial proportion, 5 standard errors.
    assert abs((final < 0).double().mean().item() - p_exact) <= 5 * (p_exact * (1 - p_exact) / chains) ** 0.5


def test_distance_to_gibbs_shrinks_linearly_with_the_learning_rate():
    from lab.problems import DoubleWell1D

    prob = DoubleWell1D()
    x = np.linspace(-2.6, 2.6, 1201)
    dx = x[1] - x[0]

    def tv(lr):
        exact = simulate.sgd_stationary_density(prob, lr, 1, x)
        return 0.5 * np.abs(exact - prob.gibbs_density(x, simulate.temperature(lr, 4.0, 1))).sum() * dx

    # First-order accuracy: halving η halves the distance (within 10%).
    assert tv(0.01) / tv(0.005) == pytest.approx(2.0, rel=0.1)
    assert tv(0.02) / tv(0.01) == pytest.approx(2.0, rel=0.1)


def test_temperature_is_lr_sigma2_over_2B():
    assert simulate.temperature(0.04, 4.0, 2) == pytest.approx(0.16)
    with pytest.raises(ValueError, match="lr"):
        simulate.temperature(0.0, 1.0, 1)


def test_sgd_1d_on_the_quadratic_matches_the_stationary_variance():
    prob, lr, chains = Quadratic1D(sigma=1.5), 0.3, 4000
    final = simulate.sgd_1d(prob, 0.0, lr, 2, 200, chains, lab.generator(8))[-1]
    exact = prob.stationary_variance(lr, 2)
    assert abs(final.var().item() - exact) <= simulate.variance_tolerance(exact, chains)


def test_sgd_1d_reports_divergence_instead_of_returning_nan():
    from lab.problems import DoubleWell1D

    with pytest.raises(FloatingPointError, match="diverged"):
        simulate.sgd_1d(DoubleWell1D(), 3.0, 0.5, 1, 50, 4, lab.generator(0))
