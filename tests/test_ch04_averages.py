"""Chapter 4's claims about running averages, small and fast, and its explorer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lab
from lab import averages, simulate
from lab.widgets.averages import averages_state, schedule_moments


def _schedule(N, T, correction):
    return [averages.running_average_weight(t, N, correction) for t in range(1, T + 1)]


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 60), T=st.integers(1, 80), sigma=st.floats(0.0, 3.0),
       correction=st.sampled_from(averages.CORRECTIONS))
def test_schedule_moments_mean_is_the_average_of_the_mean_signal(N, T, sigma, correction):
    # independent reference: lab.averages' tensor implementation applied to m_t
    rng = np.random.default_rng(N * 1000 + T)
    m, x = rng.normal(size=T), rng.normal(size=T)
    w = _schedule(N, T, correction)
    mean, var, realised = schedule_moments(w, m, sigma, x)
    np.testing.assert_allclose(mean, averages.weighted_running_average(m, w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(realised, averages.weighted_running_average(x, w), rtol=1e-12, atol=1e-12)
    # variance = σ² Σ_s c_{t,s}², the squared unrolled weights (computed by averaging unit vectors)
    coeffs = averages.weighted_running_average(np.eye(T), w)  # row t: weights of x_1..x_T in μ̂_t
    np.testing.assert_allclose(var, sigma**2 * (coeffs**2).sum(1), rtol=1e-10, atol=1e-14)


def test_running_average_lags_by_N_minus_1_and_has_variance_sigma2_over_2N_minus_1():
    N, T, chains, v, sigma = 10, 150, 4000, 0.02, 1.0
    gen = lab.generator(11)
    t = torch.arange(1, T + 1, dtype=torch.float64)
    x = (v * t)[:, None] + sigma * torch.randn(T, chains, generator=gen, dtype=torch.float64)
    for est, lag, var in [(averages.running_average(x, N)[-1], (N - 1) * v, sigma**2 / (2 * N - 1)),
                          (averages.window_average(x, N)[-1], (N - 1) / 2 * v, sigma**2 / N)]:
        # 5 standard errors of a mean, and of a Gaussian sample variance, over independent chains
        assert abs(v * T - est.mean().item() - lag) <= 5 * math.sqrt(var / chains)
        assert abs(est.var().item() - var) <= simulate.variance_tolerance(var, chains)


def test_matched_running_average_has_the_window_averages_lag_and_variance():
    for N in [3, 5, 21, 101]:
        Np = (N + 1) / 2
        lag_ema = sum(k * averages.ema_weights(Np, 4000)[::-1][k] for k in range(4000))
        assert lag_ema == pytest.approx((N - 1) / 2, rel=1e-9)  # tail (1-1/N')^4000 negligible
        assert 1 / (2 * Np - 1) == pytest.approx(1 / N, rel=1e-15)


def test_running_average_starts_biased_toward_zero_as_predicted():
    N, mu, chains = 30, 2.0, 20_000
    x = mu + torch.randn(60, chains, generator=lab.generator(12), dtype=torch.float64)
    path = averages.running_average(x, N)
    for t in [1, 3, 10, 30, 60]:
        sd = math.sqrt(averages.running_average_variance(1.0, N, t))
        exact = averages.expected_running_average(mu, N, t)
        assert abs(path[t - 1].mean().item() - exact) <= 5 * sd / math.sqrt(chains)
    assert averages.expected_running_average(mu, N, 1) == pytest.approx(mu / N)


def test_t_over_N_approximation_has_relative_error_about_t_minus_1_over_2N():
    N = 10_000
    for t in [2, 10, 100]:
        ratio = (t / N) / (1 - (1 - 1 / N) ** t)
        # next term of the expansion is O((t/N)^2)
        assert ratio - 1 == pytest.approx((t - 1) / (2 * N), abs=(t / N) ** 2)


def _ratios(N):
    t = np.arange(1, 10 * N + 1)
    w = {c: _schedule(N, len(t), c) for c in ("min", "adam")}
    V = {c: schedule_moments(w[c], np.zeros(len(t)), 1.0)[1] for c in w}
    return t, np.array(w["adam"]) / np.array(w["min"]), V["adam"] / V["min"], V["adam"]


def _R_max():
    tau = np.linspace(1e-6, 10, 1_000_001)
    R = np.where(tau <= 1, tau / 2 / np.tanh(tau / 2),
                 (1 + np.exp(-tau)) / ((1 - np.exp(-tau)) * (1 + np.exp(-2 * (tau - 1)))))
    return R.max(), tau[R.argmax()]


@pytest.mark.parametrize("N", [10, 100])
def test_adam_weights_exceed_min_weights_by_at_most_e_over_e_minus_1(N):
    t, w_ratio, v_ratio, V_adam = _ratios(N)
    assert w_ratio.min() >= 1 - 1e-12
    assert abs(w_ratio.max() - math.e / (math.e - 1)) <= 1 / N  # O(1/N) from (1-1/N)^N vs 1/e
    assert t[w_ratio.argmax()] == N
    beta = 1 - 1 / N
    np.testing.assert_allclose(V_adam, (1 - beta) * (1 + beta**t) / ((1 + beta) * (1 - beta**t)),
                               rtol=1e-10)


@pytest.mark.parametrize("N", [10, 100])
def test_adam_variance_exceeds_min_variance_by_at_most_16_percent(N):
    t, _, v_ratio, _ = _ratios(N)
    R_max, tau_max = _R_max()
    assert R_max == pytest.approx(1.1616, abs=1e-4)
    assert abs(v_ratio.max() - R_max) <= 1 / N  # large-N limit, O(1/N) corrections
    # t/N moves in steps of 1/N, and the finite-N curve differs by O(1/N)
    assert abs(t[v_ratio.argmax()] / N - tau_max) <= 2 / N


def test_cumulative_average_lag_grows_like_t_minus_1_over_2():
    state = averages_state(N=20, sigma=0.0, drift=1.0, correction="cumulative")
    v = 0.01
    lag = state["m"] - state["mean"]["cumulative"]
    np.testing.assert_allclose(lag, v * (state["t"] - 1) / 2, atol=1e-12)


def test_explorer_steady_state_error_matches_the_proposition():
    s = averages_state(N=20, sigma=0.5, drift=0.5, correction="none", steps=600)
    v, N = 0.005, 20
    assert s["m"][-1] - s["mean"]["none"][-1] == pytest.approx((N - 1) * v, rel=1e-6)
    assert s["sd"]["none"][-1] == pytest.approx(0.5 / math.sqrt(2 * N - 1), rel=1e-6)
    for c in ("min", "adam"):  # corrected schedules: unbiased at t = 1 (the first value itself)
        assert s["mean"][c][0] == pytest.approx(s["m"][0])


@pytest.mark.parametrize("name, value", [("N", 0), ("N", 2.5), ("sigma", -0.1), ("sigma", 6.0),
                                         ("drift", 9.0), ("correction", "bogus")])
def test_averages_state_rejects_out_of_range_values(name, value):
    with pytest.raises(ValueError, match=name):
        averages_state(**{name: value})
