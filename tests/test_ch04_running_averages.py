"""Chapter 4: lab.running_averages against closed forms (exact means, unrolled weights,
expected bias), the chapter's claims, small and fast, and its explorer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lab
from lab import running_averages, simulate
from lab.widgets.running_averages import running_averages_state, schedule_moments


def _schedule(N, T, correction):
    return [
        running_averages.running_average_weight(t, N, correction)
        for t in range(1, T + 1)
    ]


@settings(max_examples=30, deadline=None)
@given(
    N=st.integers(1, 60),
    T=st.integers(1, 80),
    sigma=st.floats(0.0, 3.0),
    correction=st.sampled_from(running_averages.CORRECTIONS),
)
def test_schedule_moments_mean_is_the_average_of_the_mean_signal(
    N, T, sigma, correction
):
    # independent reference: lab.running_averages' tensor implementation applied to m_t
    rng = np.random.default_rng(N * 1000 + T)
    m, x = rng.normal(size=T), rng.normal(size=T)
    w = _schedule(N, T, correction)
    mean, var, realised = schedule_moments(w, m, sigma, x)
    np.testing.assert_allclose(
        mean, running_averages.weighted_running_average(m, w), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        realised,
        running_averages.weighted_running_average(x, w),
        rtol=1e-12,
        atol=1e-12,
    )
    # variance = σ² Σ_s c_{t,s}², the squared unrolled weights (computed by averaging unit vectors)
    coeffs = running_averages.weighted_running_average(
        np.eye(T), w
    )  # row t: weights of x_1..x_T in μ̂_t
    np.testing.assert_allclose(
        var, sigma**2 * (coeffs**2).sum(1), rtol=1e-10, atol=1e-14
    )


def test_running_average_lags_by_N_minus_1_and_has_variance_sigma2_over_2N_minus_1():
    N, T, chains, v, sigma = 10, 150, 4000, 0.02, 1.0
    gen = lab.generator(11)
    t = torch.arange(1, T + 1, dtype=torch.float64)
    x = (v * t)[:, None] + sigma * torch.randn(
        T, chains, generator=gen, dtype=torch.float64
    )
    for est, lag, var in [
        (
            running_averages.running_average(x, N)[-1],
            (N - 1) * v,
            sigma**2 / (2 * N - 1),
        ),
        (running_averages.window_average(x, N)[-1], (N - 1) / 2 * v, sigma**2 / N),
    ]:
        # 5 standard errors of a mean, and of a Gaussian sample variance, over independent chains
        assert abs(v * T - est.mean().item() - lag) <= 5 * math.sqrt(var / chains)
        assert abs(est.var().item() - var) <= simulate.variance_tolerance(var, chains)


def test_matched_running_average_has_the_window_averages_lag_and_variance():
    for N in [3, 5, 21, 101]:
        Np = (N + 1) / 2
        lag_ema = sum(
            k * running_averages.ema_weights(Np, 4000)[::-1][k] for k in range(4000)
        )
        assert lag_ema == pytest.approx(
            (N - 1) / 2, rel=1e-9
        )  # tail (1-1/N')^4000 negligible
        assert 1 / (2 * Np - 1) == pytest.approx(1 / N, rel=1e-15)


def test_running_average_starts_biased_toward_zero_as_predicted():
    N, mu, chains = 30, 2.0, 20_000
    x = mu + torch.randn(60, chains, generator=lab.generator(12), dtype=torch.float64)
    path = running_averages.running_average(x, N)
    for t in [1, 3, 10, 30, 60]:
        sd = math.sqrt(running_averages.running_average_variance(1.0, N, t))
        exact = running_averages.expected_running_average(mu, N, t)
        assert abs(path[t - 1].mean().item() - exact) <= 5 * sd / math.sqrt(chains)
    assert running_averages.expected_running_average(mu, N, 1) == pytest.approx(mu / N)


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
    R = np.where(
        tau <= 1,
        tau / 2 / np.tanh(tau / 2),
        (1 + np.exp(-tau)) / ((1 - np.exp(-tau)) * (1 + np.exp(-2 * (tau - 1)))),
    )
    return R.max(), tau[R.argmax()]


@pytest.mark.parametrize("N", [10, 100])
def test_adam_weights_exceed_min_weights_by_at_most_e_over_e_minus_1(N):
    t, w_ratio, v_ratio, V_adam = _ratios(N)
    assert w_ratio.min() >= 1 - 1e-12
    assert (
        abs(w_ratio.max() - math.e / (math.e - 1)) <= 1 / N
    )  # O(1/N) from (1-1/N)^N vs 1/e
    assert t[w_ratio.argmax()] == N
    beta = 1 - 1 / N
    np.testing.assert_allclose(
        V_adam, (1 - beta) * (1 + beta**t) / ((1 + beta) * (1 - beta**t)), rtol=1e-10
    )


@pytest.mark.parametrize("N", [10, 100])
def test_adam_variance_exceeds_min_variance_by_at_most_16_percent(N):
    t, _, v_ratio, _ = _ratios(N)
    R_max, tau_max = _R_max()
    assert R_max == pytest.approx(1.1616, abs=1e-4)
    assert abs(v_ratio.max() - R_max) <= 1 / N  # large-N limit, O(1/N) corrections
    # t/N moves in steps of 1/N, and the finite-N curve differs by O(1/N)
    assert abs(t[v_ratio.argmax()] / N - tau_max) <= 2 / N


def test_cumulative_average_lag_grows_like_t_minus_1_over_2():
    state = running_averages_state(N=20, sigma=0.0, drift=1.0, correction="cumulative")
    v = 0.01
    lag = state["m"] - state["mean"]["cumulative"]
    np.testing.assert_allclose(lag, v * (state["t"] - 1) / 2, atol=1e-12)


def test_explorer_steady_state_error_matches_the_proposition():
    s = running_averages_state(N=20, sigma=0.5, drift=0.5, correction="none", steps=600)
    v, N = 0.005, 20
    assert s["m"][-1] - s["mean"]["none"][-1] == pytest.approx((N - 1) * v, rel=1e-6)
    assert s["sd"]["none"][-1] == pytest.approx(0.5 / math.sqrt(2 * N - 1), rel=1e-6)
    for c in (
        "min",
        "adam",
    ):  # corrected schedules: unbiased at t = 1 (the first value itself)
        assert s["mean"][c][0] == pytest.approx(s["m"][0])


@pytest.mark.parametrize(
    "name, value",
    [
        ("N", 0),
        ("N", 2.5),
        ("sigma", -0.1),
        ("sigma", 6.0),
        ("drift", 9.0),
        ("correction", "bogus"),
    ],
)
def test_averages_state_rejects_out_of_range_values(name, value):
    with pytest.raises(ValueError, match=name):
        running_averages_state(**{name: value})


# float64 round-off of a length-T recursion with weights in [0, 1]: a few ulp per step.
ROUNDOFF = 1e-13


def _seq(T, shape=(), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, *shape))


@given(N=st.integers(1, 30), T=st.integers(1, 40), seed=st.integers(0, 10_000))
def test_min_correction_is_exact_mean_for_t_le_N(N, T, seed):
    x = _seq(T, (3,), seed)
    got = running_averages.corrected_average(x, N)
    t = np.arange(1, T + 1)[:, None]
    mean = np.cumsum(x, axis=0) / t
    k = min(N, T)
    np.testing.assert_allclose(got[:k], mean[:k], rtol=0, atol=ROUNDOFF * max(T, 1))


@given(T=st.integers(1, 40), seed=st.integers(0, 10_000))
def test_cumulative_average_is_the_mean_so_far(T, seed):
    x = _seq(T, (2,), seed)
    mean = np.cumsum(x, axis=0) / np.arange(1, T + 1)[:, None]
    np.testing.assert_allclose(
        running_averages.cumulative_average(x), mean, rtol=0, atol=ROUNDOFF * T
    )


@given(N=st.floats(1, 50), t=st.integers(1, 60), seed=st.integers(0, 10_000))
def test_running_average_unrolls_to_ema_weights(N, t, seed):
    x = _seq(t, (), seed)
    got = running_averages.running_average(x, N)[-1]
    want = float(running_averages.ema_weights(N, t) @ x)
    assert got == pytest.approx(want, abs=ROUNDOFF * t)


@given(N=st.floats(1, 50), t=st.integers(1, 60))
def test_ema_weights_are_one_over_N_times_decay(N, t):
    w = running_averages.ema_weights(N, t)
    s = np.arange(1, t + 1)
    np.testing.assert_allclose(w, (1 / N) * (1 - 1 / N) ** (t - s), rtol=1e-15)
    # An impulse at s gives back exactly the weight of s.
    for s0 in {1, t}:
        x = np.zeros(t)
        x[s0 - 1] = 1.0
        assert running_averages.running_average(x, N)[-1] == pytest.approx(
            w[s0 - 1], rel=ROUNDOFF * t, abs=0
        )
    assert w.sum() == pytest.approx(1 - (1 - 1 / N) ** t, abs=ROUNDOFF * t)


@given(N=st.floats(1, 100), mu=st.floats(-10, 10), T=st.integers(1, 80))
def test_running_average_of_a_constant_is_its_expectation(N, mu, T):
    # E mu_hat_t is linear in the values, so a constant sequence shows it exactly.
    got = running_averages.running_average(np.full(T, mu), N)
    want = running_averages.expected_running_average(mu, N, np.arange(1, T + 1))
    np.testing.assert_allclose(got, want, rtol=0, atol=ROUNDOFF * T * (1 + abs(mu)))


def test_expected_running_average_matches_monte_carlo():
    N, T, chains, mu, sigma = 20, 30, 20_000, 1.5, 2.0
    g = torch.Generator().manual_seed(1)
    x = mu + sigma * torch.randn(T, chains, generator=g, dtype=torch.float64)
    mean = running_averages.running_average(x, N).mean(dim=1).numpy()
    t = np.arange(1, T + 1)
    # Monte Carlo standard error of the mean over chains, from the exact variance: 5 sigma.
    se = np.sqrt(running_averages.running_average_variance(sigma**2, N, t) / chains)
    assert np.all(
        np.abs(mean - running_averages.expected_running_average(mu, N, t)) < 5 * se
    )


def test_running_average_variance_matches_monte_carlo():
    N, T, chains, sigma = 8, 200, 20_000, 1.0
    g = torch.Generator().manual_seed(2)
    x = sigma * torch.randn(T, chains, generator=g, dtype=torch.float64)
    var = running_averages.running_average(x, N)[-1].var().item()
    want = float(running_averages.running_average_variance(sigma**2, N))
    # Sample variance of normals has relative standard error sqrt(2/(chains-1)): 5 of them.
    assert abs(var / want - 1) < 5 * math.sqrt(2 / (chains - 1))


@given(N=st.floats(1, 1000), T=st.integers(1, 50), seed=st.integers(0, 10_000))
def test_adam_average_is_published_debiased_ema(N, T, seed):
    x = _seq(T, (2,), seed)
    beta = 1 - 1 / N
    m = np.zeros(2)
    want = []
    for t in range(1, T + 1):
        m = beta * m + (1 - beta) * x[t - 1]
        want.append(m / (1 - beta**t))
    # Dividing by 1 - beta**t amplifies round-off by up to N/t: relative tolerance.
    np.testing.assert_allclose(
        running_averages.adam_average(x, N), np.array(want), rtol=1e-9, atol=1e-12
    )


def test_adam_weights_reach_one_over_N_and_start_at_one():
    N = 10
    assert running_averages.running_average_weight(1, N, "adam") == pytest.approx(
        1.0, rel=1e-15
    )
    assert running_averages.running_average_weight(10_000, N, "adam") == pytest.approx(
        1 / N, rel=1e-15
    )
    assert running_averages.running_average_weight(1, 1, "adam") == 1.0


def test_min_and_adam_corrections_remove_the_initial_bias():
    x = np.full(5, 3.0)
    for avg in (
        running_averages.corrected_average(x, 100),
        running_averages.adam_average(x, 100),
    ):
        np.testing.assert_allclose(avg, 3.0, rtol=1e-13)
    assert running_averages.running_average(x, 100)[0] == pytest.approx(0.03)


@given(N=st.integers(1, 10), T=st.integers(1, 30), seed=st.integers(0, 10_000))
def test_window_average_is_mean_of_last_N(N, T, seed):
    x = _seq(T, (2,), seed)
    got = running_averages.window_average(x, N)
    for t in range(1, T + 1):
        np.testing.assert_allclose(
            got[t - 1], x[max(0, t - N) : t].mean(axis=0), atol=1e-13
        )


def test_running_average_lags_a_ramp_by_N_minus_1_and_the_window_by_half_that():
    # On x_t = a t the running average trails by N - 1 steps and the window average by
    # (N - 1)/2, once the start-up term a N (1 - 1/N)^t (< 1e-10 here) has died out.
    a, N = 1e-3, 50
    t = np.arange(1, 2001, dtype=float)
    run, win = (
        running_averages.running_average(a * t, N),
        running_averages.window_average(a * t, N),
    )
    np.testing.assert_allclose(run[1000:], a * (t[1000:] - (N - 1)), rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        win[1000:], a * (t[1000:] - (N - 1) / 2), rtol=0, atol=1e-12
    )


def test_torch_numpy_dim_and_shape_agree():
    x = _seq(12, (2, 3), 3)
    ref = running_averages.corrected_average(x, 4)
    xt = torch.from_numpy(x).permute(1, 0, 2)  # non-contiguous, sequence along dim 1
    got = running_averages.corrected_average(xt, 4, dim=1)
    assert isinstance(got, torch.Tensor) and got.shape == xt.shape
    np.testing.assert_array_equal(got.permute(1, 0, 2).numpy(), ref)
    np.testing.assert_array_equal(
        running_averages.window_average(xt, 3, dim=-2).permute(1, 0, 2).numpy(),
        running_averages.window_average(x, 3),
    )
    x32 = torch.from_numpy(x).float()
    assert running_averages.running_average(x32, 3).dtype == torch.float32
    assert running_averages.running_average(np.arange(4), 2).dtype == np.float64


@given(
    N=st.floats(1, 20),
    correction=st.sampled_from(running_averages.CORRECTIONS),
    T=st.integers(1, 25),
)
def test_streaming_equals_whole_sequence(N, correction, T):
    x = torch.from_numpy(_seq(T, (3,), 5))
    ra = running_averages.RunningAverage(N, correction)
    stream = torch.stack([ra.update(x[t]).clone() for t in range(T)])
    weights = [
        running_averages.running_average_weight(t, N, correction)
        for t in range(1, T + 1)
    ]
    torch.testing.assert_close(
        stream, running_averages.weighted_running_average(x, weights), rtol=0, atol=0
    )
    assert ra.t == T


def test_update_average_accepts_per_coordinate_weights():
    avg = torch.tensor([1.0, 1.0, 1.0])
    running_averages.update_average_(
        avg, torch.tensor([3.0, 3.0, 3.0]), torch.tensor([0.0, 0.5, 1.0])
    )
    assert avg.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: running_averages.running_average(np.ones(3), 0.5),
            r"N must be in \[1.0, inf\], got 0.5",
        ),
        (
            lambda: running_averages.corrected_average(np.ones(3), -1),
            r"N must be in \[1.0, inf\]",
        ),
        (
            lambda: running_averages.window_average(np.ones(3), 1.5),
            "N must be an integer >= 1",
        ),
        (
            lambda: running_averages.running_average(np.ones(3), 2, dim=1),
            "dim must be in",
        ),
        (
            lambda: running_averages.running_average(np.float64(1.0), 2),
            "at least one dimension",
        ),
        (
            lambda: running_averages.weighted_running_average(np.ones(3), [0.5, 0.5]),
            "one entry per step",
        ),
        (
            lambda: running_averages.weighted_running_average(np.ones(2), [0.5, 1.5]),
            r"in \[0, 1\]",
        ),
        (
            lambda: running_averages.running_average_weight(0, 2),
            r"t must be an integer in \[1, 10000000\]",
        ),
        (
            lambda: running_averages.RunningAverage(2, "median"),
            "correction must be one of",
        ),
        (
            lambda: running_averages.drift_tracking_mse(0.5, 0.01, 1.0),
            r"N must be in \[1.0, inf\]",
        ),
        (lambda: running_averages.best_memory(0.0, 1.0), "r must be nonzero"),
        (lambda: running_averages.best_memory(0.01, -1.0), "sigma2 must be >= 0"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x = torch.from_numpy(_seq(20, (4,), 7))
    for f in (
        lambda y: running_averages.corrected_average(y, 5),
        lambda y: running_averages.window_average(y, 5),
    ):
        got = f(x.cuda())
        assert got.is_cuda
        torch.testing.assert_close(got.cpu(), f(x), rtol=1e-12, atol=1e-12)


def test_adam_weight_is_exactly_one_at_the_first_step_for_every_N():
    # (1 − β)/(1 − β¹) = 1; round-off once made it 1 + 2⁻⁵² for N = 32, which the
    # weighted average then rejected as a weight outside [0, 1].
    from lab.running_averages import running_average_weight

    assert all(running_average_weight(1, N, "adam") == 1.0 for N in range(1, 2000))


def test_the_last_N_values_carry_1_minus_1_minus_1_over_N_to_the_N_of_the_weight():
    # the chapter's figure: N = 20 at t = 100, 64% (1 - 1/e = 63% only as N grows)
    mass = running_averages.ema_weights(20, 100)[-20:].sum()
    assert mass == pytest.approx(1 - 0.95**20, rel=1e-12)
    assert round(100 * mass) == 64
    assert round(100 * (1 - 1 / math.e)) == 63


def test_bias_of_N_1000_falls_below_one_percent_at_step_4603():
    assert (1 - 1 / 1000) ** 4602 > 0.01 >= (1 - 1 / 1000) ** 4603


def test_adam_sd_exceeds_min_sd_by_at_most_8_percent():
    R_max, tau_max = _R_max()
    assert round(100 * (math.sqrt(R_max) - 1)) == 8
    assert tau_max == pytest.approx(1.78, abs=0.005)


def test_best_memory_solves_the_stationarity_condition_symbolically():
    sympy = pytest.importorskip("sympy")
    N, v, s2 = sympy.symbols("N v sigma2", positive=True)
    mse = (N - 1) ** 2 * v**2 + s2 / (2 * N - 1)
    # d mse / dN = 0  <=>  (N - 1)(2N - 1)^2 = sigma^2 / v^2 (multiply by (2N-1)^2/2v^2)
    condition = sympy.diff(mse, N) * (2 * N - 1) ** 2 / (2 * v**2)
    assert sympy.simplify(condition - ((N - 1) * (2 * N - 1) ** 2 - s2 / v**2)) == 0
    # and the closed form in lab is the same expression
    f = sympy.lambdify((N, v, s2), mse)
    for args in [(3.0, 0.01, 1.0), (14.2, 0.005, 0.25), (1.0, 0.1, 2.0)]:
        assert running_averages.drift_tracking_mse(*args) == pytest.approx(f(*args))


@pytest.mark.parametrize("v, sigma2", [(0.005, 0.25), (0.01, 1.0), (1e-4, 1.0)])
def test_best_memory_minimises_the_drift_tracking_error(v, sigma2):
    n_star = running_averages.best_memory(v, sigma2)
    # bisection to float64 resolution
    assert (n_star - 1) * (2 * n_star - 1) ** 2 == pytest.approx(
        sigma2 / v**2, rel=1e-9
    )
    mse = running_averages.drift_tracking_mse
    assert mse(n_star, v, sigma2) < mse(n_star * 0.99, v, sigma2)
    assert mse(n_star, v, sigma2) < mse(n_star * 1.01, v, sigma2)
    # slow drift: N* -> (sigma^2/4v^2)^(1/3), up to O(1) (the next term is 1)
    assert abs(n_star - (sigma2 / (4 * v**2)) ** (1 / 3)) <= 1.0


def test_best_memory_at_the_explorer_default_is_about_14():
    assert running_averages.best_memory(0.005, 0.25) == pytest.approx(14.24, abs=0.01)


def test_N_10_edges_out_N_20_among_the_sliders_at_the_default_drift():
    # the explorer's default: sigma = 0.5, drift 0.5 per 100 steps (v = 0.005); at
    # t = 2000 the exact errors are the steady state (t a^t < 1e-14 for N <= 50)
    options = [2, 5, 10, 20, 50]
    states = {N: running_averages_state(N=N, drift=0.5, steps=2000) for N in options}
    err = {N: state["rmse"]["none"][-1] for N, state in states.items()}
    for N in options:
        closed = math.sqrt(running_averages.drift_tracking_mse(N, 0.005, 0.25))
        assert err[N] == pytest.approx(closed, rel=1e-9)
    assert min(err, key=err.get) == 10
    assert err[10] < err[20] < 1.01 * err[10]
    # N = 100 and 200 lag by more than 0.45 and 0.99: far worse
    for N in (100, 200):
        assert math.sqrt(running_averages.drift_tracking_mse(N, 0.005, 0.25)) > 0.45


def test_drift_tracking_mse_matches_monte_carlo():
    N, v, sigma, T, chains = 10, 0.005, 0.5, 300, 4000
    gen = lab.generator(seed=14)
    t = torch.arange(1, T + 1, dtype=torch.float64)
    x = v * t[:, None] + sigma * torch.randn(
        T, chains, generator=gen, dtype=torch.float64
    )
    err = running_averages.running_average(x, N)[-1] - v * T
    lag, var = (N - 1) * v, sigma**2 / (2 * N - 1)
    # squared Gaussian error of mean -lag, variance var: Var(e^2) = 2 var^2 + 4 lag^2 var;
    # 5 standard errors of the mean over independent chains
    tol = 5 * math.sqrt((2 * var**2 + 4 * lag**2 * var) / chains)
    mse = running_averages.drift_tracking_mse(N, v, sigma**2)
    assert abs((err**2).mean().item() - mse) <= tol


def test_predict_exercise_cumulative_wins_without_drift_and_loses_with_it():
    still = running_averages_state(drift=0.0)
    moving = running_averages_state(drift=1.0)
    at_end = {c: still["rmse"][c][-1] for c in running_averages.CORRECTIONS}
    assert min(at_end, key=at_end.get) == "cumulative"
    assert at_end["cumulative"] == pytest.approx(0.5 / math.sqrt(300), rel=1e-9)
    at_end = {c: moving["rmse"][c][-1] for c in running_averages.CORRECTIONS}
    assert max(at_end, key=at_end.get) == "cumulative"
    assert moving["m"][-1] - moving["mean"]["cumulative"][-1] == pytest.approx(
        299 * 0.01 / 2
    )
    # the three others are close to their steady state at t = 300 = 15 N: the lag's
    # transient decays like t a^t = 300 * 0.95^300 < 1e-4
    closed = math.sqrt(running_averages.drift_tracking_mse(20, 0.01, 0.25))
    for c in ("none", "min", "adam"):
        assert at_end[c] == pytest.approx(closed, rel=1e-4)


@pytest.mark.parametrize("N", [2, 5, 20, 100, 1000, 10**6])
def test_half_life_halves_the_weight_and_is_about_0_69_N(N):
    k = running_averages.half_life(N)
    # float64: beta**k loses a relative N·eps at most
    assert (1 - 1 / N) ** k == pytest.approx(0.5, rel=1e-12 * N)
    # N ln 2 − ln 2 / 2, with the next term −ln 2/(12 N) (and smaller ones)
    assert abs(k - (N * math.log(2) - math.log(2) / 2)) <= math.log(2) / (6 * N)


def test_half_life_rejects_N_at_most_1():
    for N in (1, 0.5):
        with pytest.raises(ValueError, match="N"):
            running_averages.half_life(N)
