"""Chapter 9: gradient flow and Langevin dynamics (lab.gradient_flow and its explorer)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lab
from lab import derivations, gradient_flow, simulate
from lab.problems import DoubleWell1D, Quadratic1D
from lab.widgets.gradient_flow import gradient_flow_state


def test_gradient_flow_derivation_claims_hold_symbolically():
    # dℓ/dt = −η‖∇ℓ‖² (the lecture drops η), Euler and batch limits
    assert all(derivations.gradient_flow_limits().check().values())


def test_flow_path_matches_the_quadratic_closed_form():
    t = np.linspace(0, 5, 11)
    got = gradient_flow.flow_path(Quadratic1D(mean=0.0), 2.0, 0.7, t)
    np.testing.assert_allclose(
        got, 2.0 * np.exp(-0.7 * t), rtol=1e-9
    )  # DOP853 at rtol 1e-11


@pytest.mark.parametrize("N", [10, 100, 1000])
def test_euler_error_is_first_order_with_the_predicted_constant(N):
    lr, h, t, Phi0 = 1.0, 1.0, 2.0, 1.0
    e = gradient_flow.euler_error_quadratic(Phi0, lr, h, N, t)
    steps = gradient_flow.euler_path(Quadratic1D(mean=0.0), Phi0, lr, N, t)[-1]
    assert steps - Phi0 * math.exp(-lr * h * t) == pytest.approx(e["error"], rel=1e-9)
    # the next term of the expansion is O(1/N²): relative size ≈ (ηh)²t/N·const
    assert e["error"] == pytest.approx(e["leading"], rel=5.0 / N)


def test_euler_steps_on_the_double_well_converge_like_one_over_N():
    p = DoubleWell1D()
    ref = gradient_flow.flow_path(p, 0.3, 0.1, [10.0])[0]
    err = {
        N: abs(gradient_flow.euler_path(p, 0.3, 0.1, N, 10.0)[-1] - ref)
        for N in (4, 8, 16, 32)
    }
    for N in (4, 8, 16):
        assert err[2 * N] / err[N] == pytest.approx(
            0.5, abs=0.05
        )  # O(1/N), next term O(1/N²)


@pytest.mark.parametrize("limit", ["flow", "langevin"])
def test_sgd_deviation_variance_matches_the_exact_formula(limit):
    problem = Quadratic1D(mean=0.0, sigma=2.0)
    lr, N, t, B, chains = 0.5, 8, 3.0, 4, 4000
    _, paths = gradient_flow.sgd_paths(
        problem, 1.0, lr, N, t, B, chains, lab.generator(3), limit=limit
    )
    v = gradient_flow.quadratic_deviation_variance(lr, 1.0, 2.0, B, N, t, limit=limit)
    assert abs(paths[-1].var() - v["variance"]) <= simulate.variance_tolerance(
        v["variance"], chains
    )
    euler = gradient_flow.euler_path(problem, 1.0, lr, N, t)[-1]
    se = math.sqrt(v["variance"] / chains)
    assert abs(paths[-1].mean() - euler) <= 5 * se  # the noise has mean zero


def test_flow_limit_variance_vanishes_like_one_over_N_below_the_bound():
    for N in [1, 10, 100, 1000]:
        v = gradient_flow.quadratic_deviation_variance(0.5, 1.0, 2.0, 4, N, 3.0)
        assert v["variance"] <= v["bound"]
    v1 = gradient_flow.quadratic_deviation_variance(0.5, 1.0, 2.0, 4, 1000, 3.0)[
        "variance"
    ]
    v2 = gradient_flow.quadratic_deviation_variance(0.5, 1.0, 2.0, 4, 2000, 3.0)[
        "variance"
    ]
    assert v2 / v1 == pytest.approx(0.5, rel=1e-3)  # exactly 1/N up to O(1/N²)
    # flat direction (h → 0): the bound η²tσ²/(NB) is attained
    flat = gradient_flow.quadratic_deviation_variance(0.5, 1e-9, 2.0, 4, 100, 3.0)
    assert flat["variance"] == pytest.approx(flat["bound"], rel=1e-6)


def test_langevin_limit_variance_converges_to_ornstein_uhlenbeck():
    errs = []
    for N in [100, 200]:
        v = gradient_flow.quadratic_deviation_variance(
            0.5, 1.0, 2.0, 4, N, 3.0, limit="langevin"
        )
        errs.append(abs(v["variance"] - v["ou"]))
    assert errs[1] / errs[0] == pytest.approx(0.5, rel=0.02)  # first order in 1/N
    assert errs[1] <= 0.01 * v["ou"]


def test_langevin_generator_has_the_gibbs_density_as_its_stationary_vector():
    p = DoubleWell1D()
    grid = np.linspace(-2.5, 2.5, 301)
    Q = gradient_flow.langevin_generator(p, 0.3, grid)
    gibbs = p.gibbs_density(grid, 0.3)
    assert np.allclose(Q.sum(1), 0.0, atol=1e-9)
    assert np.abs(gibbs @ Q).max() <= 1e-9 * np.abs(Q).max() * gibbs.max()  # round-off


def test_langevin_density_on_the_quadratic_has_the_ornstein_uhlenbeck_variance():
    grid = np.linspace(-4, 4, 801)
    d = gradient_flow.langevin_density(Quadratic1D(mean=0.0), 0.3, 0.0, 0.7, grid)
    var = (d * grid**2).sum() * (grid[1] - grid[0])
    # grid error O(Δ²) with Δ = 0.01, and the start smeared over one cell
    assert var == pytest.approx(gradient_flow.ou_variance(1.0, 0.3, 0.7), rel=1e-3)


def test_exp_loss_flow_loss_converges_while_Phi_does_not():
    out = gradient_flow.exp_loss_flow(0.0, 1.0, [1e2, 1e4, 1e6])
    assert np.all(np.diff(out["loss"]) < 0) and out["loss"][-1] < 1e-5
    assert np.all(np.diff(out["Phi"]) > 4)  # grows by log(100) per factor 100 in t
    # and it is the flow: Euler steps with a small step land on it
    euler = gradient_flow.euler_path(
        type("ExpLoss", (), {"gradient": staticmethod(lambda b: -np.exp(-b))})(),
        0.0,
        1.0,
        100,
        50.0,
    )[-1]
    assert euler == pytest.approx(
        gradient_flow.exp_loss_flow(0.0, 1.0, 50.0)["Phi"], rel=1e-3
    )


def test_explorer_state_two_limits_and_bad_input():
    hot = gradient_flow_state(N=64, limit="langevin")
    cold = gradient_flow_state(N=64, limit="flow")
    # flow limit: every run follows the flow into the shallow valley; Langevin: about the
    # Langevin mass crosses (binomial 5 s.e. over 400 runs)
    assert cold["left"] == 0.0
    tol = 5 * math.sqrt(hot["density_left"] * (1 - hot["density_left"]) / 400)
    assert abs(hot["left"] - hot["density_left"]) <= tol
    for kw in [{"N": 0}, {"batch_size": 0}, {"limit": "heat"}]:
        with pytest.raises(ValueError, match=next(iter(kw))):
            gradient_flow_state(**kw)


def test_stationarity_check_rejects_the_wrong_temperature():
    # The same claim with the density at temperature 2T instead of T must fail.
    import sympy as sp

    from lab.derivations import Identity

    x, T = sp.Symbol("Phi", real=True), sp.Symbol("T", positive=True)
    f = sp.Function("f")
    p = sp.exp(-f(x) / (2 * T))
    wrong = Identity(sp.Derivative(f(x), x) * p + T * sp.Derivative(p, x), 0)
    assert not wrong.check()


def test_fourfold_N_divides_the_exact_flow_variance_by_a_bit_more_than_four():
    """Chapter's quadratic (η = 0.5, h = 1, σ = 2, B = 4, t = 3): the ratios of
    eq-flow-noise between N and 4N exceed 4 and decrease toward it (exact)."""
    var = [
        gradient_flow.quadratic_deviation_variance(0.5, 1.0, 2.0, 4, N, 3.0)["variance"]
        for N in (1, 4, 16, 64, 256)
    ]
    ratios = np.array(var[:-1]) / np.array(var[1:])
    assert np.all(ratios > 4) and np.all(np.diff(ratios) < 0)
    assert ratios[0] == pytest.approx(5.13, abs=0.005)
    assert ratios[-1] == pytest.approx(4, rel=0.02)


def test_barrier_crossings_vanish_with_B_fixed_and_stay_with_T_fixed():
    """The double-well experiment, 2000 runs: with B fixed no run crosses at N = 16;
    with T fixed the fraction at N = 4 and 16 lies within 5 binomial s.e. of the
    Fokker–Planck mass."""
    well = DoubleWell1D()
    grid = np.linspace(-2.2, 2.2, 221)
    density = gradient_flow.langevin_density(well, 0.2, 0.3, 1.0, grid)
    p_left = density[grid < 0].sum() * (grid[1] - grid[0])
    chains = 2000
    tol = 5 * math.sqrt(p_left * (1 - p_left) / chains)
    for N, limit in [(16, "flow"), (4, "langevin"), (16, "langevin")]:
        _, paths = gradient_flow.sgd_paths(
            well,
            0.3,
            0.1,
            N,
            10.0,
            4,
            chains,
            lab.generator(N),
            limit=limit,
            record_every=N * 10,
        )
        left = (paths[-1] < 0).mean()
        if limit == "flow":
            assert left == 0.0
        else:
            assert abs(left - p_left) <= tol, (N, left, p_left)


def test_exercise_colder_langevin_crosses_less_and_the_runs_follow_the_density():
    """ex-flow-predict-crossing: the Fokker–Planck mass left of 0 falls from T = 0.2 to
    0.05 by more than a factor 5 and is negligible at T = 1/80; at B = 16 the fraction
    of 2000 runs agrees with it within 5 binomial s.e."""
    dens = {
        B: gradient_flow_state(N=64, batch_size=B, limit="langevin", chains=20)[
            "density_left"
        ]
        for B in (4, 16, 64)
    }
    assert dens[4] > 5 * dens[16] and dens[64] < 1e-3
    state = gradient_flow_state(N=64, batch_size=16, limit="langevin", chains=2000)
    p = state["density_left"]
    assert abs(state["left"] - p) <= 5 * math.sqrt(p * (1 - p) / 2000)
