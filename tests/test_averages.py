"""lab.averages against closed forms: exact means, unrolled weights, expected bias."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lab import averages as A

# float64 round-off of a length-T recursion with weights in [0, 1]: a few ulp per step.
ROUNDOFF = 1e-13

settings.register_profile("lab", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("lab")


def _seq(T, shape=(), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, *shape))


@given(N=st.integers(1, 30), T=st.integers(1, 40), seed=st.integers(0, 10_000))
def test_min_correction_is_exact_mean_for_t_le_N(N, T, seed):
    x = _seq(T, (3,), seed)
    got = A.corrected_average(x, N)
    t = np.arange(1, T + 1)[:, None]
    mean = np.cumsum(x, axis=0) / t
    k = min(N, T)
    np.testing.assert_allclose(got[:k], mean[:k], rtol=0, atol=ROUNDOFF * max(T, 1))


@given(T=st.integers(1, 40), seed=st.integers(0, 10_000))
def test_cumulative_average_is_the_mean_so_far(T, seed):
    x = _seq(T, (2,), seed)
    mean = np.cumsum(x, axis=0) / np.arange(1, T + 1)[:, None]
    np.testing.assert_allclose(A.cumulative_average(x), mean, rtol=0, atol=ROUNDOFF * T)


@given(N=st.floats(1, 50), t=st.integers(1, 60), seed=st.integers(0, 10_000))
def test_running_average_unrolls_to_ema_weights(N, t, seed):
    x = _seq(t, (), seed)
    got = A.running_average(x, N)[-1]
    want = float(A.ema_weights(N, t) @ x)
    assert got == pytest.approx(want, abs=ROUNDOFF * t)


@given(N=st.floats(1, 50), t=st.integers(1, 60))
def test_ema_weights_are_one_over_N_times_decay(N, t):
    w = A.ema_weights(N, t)
    s = np.arange(1, t + 1)
    np.testing.assert_allclose(w, (1 / N) * (1 - 1 / N) ** (t - s), rtol=1e-15)
    # An impulse at s gives back exactly the weight of s.
    for s0 in {1, t}:
        x = np.zeros(t)
        x[s0 - 1] = 1.0
        assert A.running_average(x, N)[-1] == pytest.approx(w[s0 - 1], rel=ROUNDOFF * t, abs=0)
    assert w.sum() == pytest.approx(1 - (1 - 1 / N) ** t, abs=ROUNDOFF * t)


@given(N=st.floats(1, 100), mu=st.floats(-10, 10), T=st.integers(1, 80))
def test_running_average_of_a_constant_is_its_expectation(N, mu, T):
    # E mu_hat_t is linear in the values, so a constant sequence shows it exactly.
    got = A.running_average(np.full(T, mu), N)
    want = A.expected_running_average(mu, N, np.arange(1, T + 1))
    np.testing.assert_allclose(got, want, rtol=0, atol=ROUNDOFF * T * (1 + abs(mu)))


def test_expected_running_average_matches_monte_carlo():
    N, T, chains, mu, sigma = 20, 30, 20_000, 1.5, 2.0
    g = torch.Generator().manual_seed(1)
    x = mu + sigma * torch.randn(T, chains, generator=g, dtype=torch.float64)
    mean = A.running_average(x, N).mean(dim=1).numpy()
    t = np.arange(1, T + 1)
    # Monte Carlo standard error of the mean over chains, from the exact variance: 5 sigma.
    se = np.sqrt(A.running_average_variance(sigma**2, N, t) / chains)
    assert np.all(np.abs(mean - A.expected_running_average(mu, N, t)) < 5 * se)


def test_running_average_variance_matches_monte_carlo():
    N, T, chains, sigma = 8, 200, 20_000, 1.0
    g = torch.Generator().manual_seed(2)
    x = sigma * torch.randn(T, chains, generator=g, dtype=torch.float64)
    var = A.running_average(x, N)[-1].var().item()
    want = float(A.running_average_variance(sigma**2, N))
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
    np.testing.assert_allclose(A.adam_average(x, N), np.array(want), rtol=1e-9, atol=1e-12)


def test_adam_weights_reach_one_over_N_and_start_at_one():
    N = 10
    assert A.running_average_weight(1, N, "adam") == pytest.approx(1.0, rel=1e-15)
    assert A.running_average_weight(10_000, N, "adam") == pytest.approx(1 / N, rel=1e-15)
    assert A.running_average_weight(1, 1, "adam") == 1.0


def test_min_and_adam_corrections_remove_the_initial_bias():
    x = np.full(5, 3.0)
    for avg in (A.corrected_average(x, 100), A.adam_average(x, 100)):
        np.testing.assert_allclose(avg, 3.0, rtol=1e-13)
    assert A.running_average(x, 100)[0] == pytest.approx(0.03)


@given(N=st.integers(1, 10), T=st.integers(1, 30), seed=st.integers(0, 10_000))
def test_window_average_is_mean_of_last_N(N, T, seed):
    x = _seq(T, (2,), seed)
    got = A.window_average(x, N)
    for t in range(1, T + 1):
        np.testing.assert_allclose(got[t - 1], x[max(0, t - N):t].mean(axis=0), atol=1e-13)


def test_running_average_lags_a_ramp_by_N_minus_1_and_the_window_by_half_that():
    # On x_t = a t the running average trails by N - 1 steps and the window average by
    # (N - 1)/2, once the start-up term a N (1 - 1/N)^t (< 1e-10 here) has died out.
    a, N = 1e-3, 50
    t = np.arange(1, 2001, dtype=float)
    run, win = A.running_average(a * t, N), A.window_average(a * t, N)
    np.testing.assert_allclose(run[1000:], a * (t[1000:] - (N - 1)), rtol=0, atol=1e-10)
    np.testing.assert_allclose(win[1000:], a * (t[1000:] - (N - 1) / 2), rtol=0, atol=1e-12)


def test_torch_numpy_dim_and_shape_agree():
    x = _seq(12, (2, 3), 3)
    ref = A.corrected_average(x, 4)
    xt = torch.from_numpy(x).permute(1, 0, 2)  # non-contiguous, sequence along dim 1
    got = A.corrected_average(xt, 4, dim=1)
    assert isinstance(got, torch.Tensor) and got.shape == xt.shape
    np.testing.assert_array_equal(got.permute(1, 0, 2).numpy(), ref)
    np.testing.assert_array_equal(A.window_average(xt, 3, dim=-2).permute(1, 0, 2).numpy(),
                                  A.window_average(x, 3))
    x32 = torch.from_numpy(x).float()
    assert A.running_average(x32, 3).dtype == torch.float32
    assert A.running_average(np.arange(4), 2).dtype == np.float64


@given(N=st.floats(1, 20), correction=st.sampled_from(A.CORRECTIONS), T=st.integers(1, 25))
def test_streaming_equals_whole_sequence(N, correction, T):
    x = torch.from_numpy(_seq(T, (3,), 5))
    ra = A.RunningAverage(N, correction)
    stream = torch.stack([ra.update(x[t]).clone() for t in range(T)])
    weights = [A.running_average_weight(t, N, correction) for t in range(1, T + 1)]
    torch.testing.assert_close(stream, A.weighted_running_average(x, weights), rtol=0, atol=0)
    assert ra.t == T


def test_update_average_accepts_per_coordinate_weights():
    avg = torch.tensor([1.0, 1.0, 1.0])
    A.update_average_(avg, torch.tensor([3.0, 3.0, 3.0]), torch.tensor([0.0, 0.5, 1.0]))
    assert avg.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("call, match", [
    (lambda: A.running_average(np.ones(3), 0.5), r"N must be in \[1.0, inf\], got 0.5"),
    (lambda: A.corrected_average(np.ones(3), -1), r"N must be in \[1.0, inf\]"),
    (lambda: A.window_average(np.ones(3), 1.5), "N must be an integer >= 1"),
    (lambda: A.running_average(np.ones(3), 2, dim=1), "dim must be in"),
    (lambda: A.running_average(np.float64(1.0), 2), "at least one dimension"),
    (lambda: A.weighted_running_average(np.ones(3), [0.5, 0.5]), "one entry per step"),
    (lambda: A.weighted_running_average(np.ones(2), [0.5, 1.5]), r"in \[0, 1\]"),
    (lambda: A.running_average_weight(0, 2), "t must be an integer >= 1"),
    (lambda: A.RunningAverage(2, "median"), "correction must be one of"),
])
def test_bad_arguments_raise_value_error_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x = torch.from_numpy(_seq(20, (4,), 7))
    for f in (lambda y: A.corrected_average(y, 5), lambda y: A.window_average(y, 5)):
        got = f(x.cuda())
        assert got.is_cuda
        torch.testing.assert_close(got.cpu(), f(x), rtol=1e-12, atol=1e-12)


def test_adam_weight_is_exactly_one_at_the_first_step_for_every_N():
    # (1 − β)/(1 − β¹) = 1; round-off once made it 1 + 2⁻⁵² for N = 32, which the
    # weighted average then rejected as a weight outside [0, 1].
    from lab.averages import running_average_weight

    assert all(running_average_weight(1, N, "adam") == 1.0 for N in range(1, 2000))
