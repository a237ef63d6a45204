"""Chapter 2: lab.convergence (schedules, exact moments against simulated SGD) and its explorer."""

from __future__ import annotations

import numpy as np
import pytest

import lab
from lab import convergence, simulate, widgets
from lab.problems import Quadratic1D


def test_quadratic_moments_match_a_plain_transcription_of_the_recursions():
    eta = [0.5, 1.2, 0.1, 1.0, 0.3]
    m, v = convergence.quadratic_moments(eta, noise_variance=0.7, e0=2.0, curvature=1.0)
    mm, vv = 2.0, 0.0
    for t, e in enumerate(eta):
        mm, vv = (1 - e) * mm, (1 - e) ** 2 * vv + e**2 * 0.7
        assert m[t + 1] == pytest.approx(mm, abs=1e-15) and v[t + 1] == pytest.approx(
            vv, abs=1e-15
        )


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 1.5])
def test_simulated_mse_under_a_schedule_matches_the_exact_recursion(p):
    prob = Quadratic1D(sigma=1.0)
    steps, chains, c = 300, 3000, 0.8
    schedule = convergence.power_schedule(c, p, steps)
    m, v = convergence.quadratic_moments(schedule, prob.gradient_variance(2), 4.0)
    for sample_batches in (True, False):
        paths = simulate.sgd_quadratic_1d(
            prob,
            4.0,
            schedule,
            2,
            steps,
            chains,
            lab.generator(int(10 * p)),
            sample_batches=sample_batches,
        )
        for t in (10, 300):
            mse = (paths[t] ** 2).mean().item()
            # e_t ~ N(m, v): Var e² = 2v² + 4m²v; 5 standard errors of a mean over chains.
            tol = 5 * ((2 * v[t] ** 2 + 4 * m[t] ** 2 * v[t]) / chains) ** 0.5
            assert abs(mse - (m[t] ** 2 + v[t])) <= tol


def test_c_over_t_error_times_t_tends_to_c2_sigma2_over_B_2c_minus_1():
    # Chapter 2, eq-c-over-t-limit: t·E e_t² → c²σ²/(B(2c − 1)) for c > 1/2.
    T = 100_000
    for c, noise in [(0.8, 1.0), (1.5, 0.25)]:
        m, v = convergence.quadratic_moments(
            convergence.power_schedule(c, 1.0, T), noise, 4.0
        )
        assert T * (m[-1] ** 2 + v[-1]) == pytest.approx(
            c**2 * noise / (2 * c - 1), rel=2e-3
        )


def test_c_below_one_half_decays_like_t_to_the_minus_2c():
    c, T = 0.25, 100_000
    m, v = convergence.quadratic_moments(
        convergence.power_schedule(c, 1.0, T), 1.0, 4.0
    )
    mse = m**2 + v
    # The local slope of log error against log t tends to −2c.
    slope = (np.log(mse[T]) - np.log(mse[T // 10])) / np.log(10)
    assert slope == pytest.approx(-2 * c, abs=0.02)


@pytest.mark.parametrize("p, rel", [(0.5, 0.01), (0.75, 0.05)])
def test_slow_schedules_track_the_local_noise_floor(p, rel):
    # For p < 1: E e_t² ≈ η_t σ²/(2B) (the stationary variance at the current rate).
    c, T = 0.8, 100_000
    m, v = convergence.quadratic_moments(convergence.power_schedule(c, p, T), 1.0, 4.0)
    assert (m[-1] ** 2 + v[-1]) / (c / T**p / 2) == pytest.approx(1.0, rel=rel)


def test_summable_schedule_freezes_the_bias_at_the_infinite_product():
    # p = 2: Π(1 − x²/t²) = sin(πx)/(πx) with x² = c, so E β_t → 4 sin(πx)/(πx) ≠ 0.
    m, _ = convergence.quadratic_moments(
        convergence.power_schedule(0.8, 2.0, 100_000), 1.0, 4.0
    )
    x = 0.8**0.5
    assert m[-1] == pytest.approx(4 * np.sin(np.pi * x) / (np.pi * x), rel=1e-4)


@pytest.mark.parametrize(
    "kwargs, name", [({"c": 0}, "c"), ({"p": -1}, "p"), ({"steps": 0}, "steps")]
)
def test_power_schedule_rejects_bad_arguments(kwargs, name):
    args = {"c": 1.0, "p": 1.0, "steps": 5} | kwargs
    with pytest.raises(ValueError, match=name):
        convergence.power_schedule(**args)


def test_schedule_of_wrong_length_is_rejected():
    with pytest.raises(ValueError, match="schedule"):
        simulate.sgd_quadratic_1d(
            Quadratic1D(),
            0.0,
            convergence.power_schedule(1, 1, 5),
            1,
            6,
            2,
            lab.generator(0),
        )


def test_schedule_state_verdicts_follow_the_power():
    assert widgets.convergence_state(p=1.0)["sum_verdict"] == "= ∞"
    assert widgets.convergence_state(p=1.2)["sum_verdict"] == "< ∞"
    assert widgets.convergence_state(p=0.5)["sum_sq_verdict"] == "= ∞"
    assert widgets.convergence_state(p=0.6)["sum_sq_verdict"] == "< ∞"


@pytest.mark.parametrize(
    "name, value", [("c", 0.0), ("c", 2.0), ("p", -0.1), ("batch_size", 0)]
)
def test_schedule_state_rejects_out_of_range_values(name, value):
    with pytest.raises(ValueError, match=name):
        widgets.convergence_state(**{name: value})
