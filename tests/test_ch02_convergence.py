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


# ------------------------------------------------- the rigor police: saddle and ring


def test_gradient_descent_started_on_the_stable_manifold_converges_to_the_saddle():
    import torch

    gen = lab.generator(0, "cpu")
    lr = convergence.power_schedule(0.8, 1.0, 3000)
    phi, _ = convergence.noisy_descent_2d(
        convergence.saddle_gradient, [1.0, 0.0], lr, 0.0, 1, [300, 3000], gen
    )
    x, y = phi[:, 0, 0].numpy(), phi[:, 0, 1].numpy()
    assert np.all(y == 0.0)  # the x axis is invariant: y never moves
    # x_t = prod_k (1 - 0.8/k) x_0, which decays like t^-0.8
    exact = [np.prod(1 - 0.8 / np.arange(1, t + 1)) for t in (300, 3000)]
    assert np.allclose(x, exact, rtol=1e-10)
    assert x[1] < 1e-3 and abs(np.log(x[0] / x[1]) / np.log(10) - 0.8) < 0.01
    # and the limit is a saddle: the Hessian at the origin has eigenvalues -1 and +1
    hessian = torch.autograd.functional.hessian(
        convergence.saddle_loss, torch.zeros(2, dtype=torch.float64)
    )
    assert torch.allclose(
        torch.linalg.eigvalsh(hessian), torch.tensor([-1.0, 1.0], dtype=torch.float64)
    )


def test_sgd_noise_leaves_the_saddle_for_the_minima_on_both_sides():
    gen = lab.generator(1, "cpu")
    runs = 1000
    lr = convergence.power_schedule(0.8, 1.0, 3000)
    phi, _ = convergence.noisy_descent_2d(
        convergence.saddle_gradient, [1.0, 0.0], lr, 0.1, runs, [100, 3000], gen
    )
    y = phi[:, :, 1]
    escaped = (y.abs() > 0.5).double().mean(1)
    # measured 98.7% of 2000 runs by t = 3000: at least 96% here (5 binomial SEs)
    assert escaped[1] >= 0.96 and escaped[1] > escaped[0]
    up = float((y[1] > 0).double().mean())
    assert abs(up - 0.5) < 5 * np.sqrt(0.25 / runs)  # the two minima, by symmetry
    loss = convergence.saddle_loss(phi[1])
    assert abs(float(loss.mean()) + 0.25) < 0.015


@pytest.mark.parametrize("p", [0.5, 1.0])
def test_ring_angle_spreads_by_the_summed_squared_rates(p):
    """Var(θ_{t2} − θ_{t1}) = σ² Σ η_k² within 5 standard errors of a sample variance."""
    gen = lab.generator(2, "cpu")
    runs, T, t1 = 2000, 4000, 500
    lr = convergence.power_schedule(0.5, p, T)
    _, angle = convergence.noisy_descent_2d(
        convergence.ring_gradient, [1.0, 0.0], lr, 1.0, runs, [t1, T], gen
    )
    measured = float((angle[1] - angle[0]).var())
    spread = convergence.ring_angle_variance(lr, 1.0)
    predicted = spread[T] - spread[t1]
    assert abs(measured / predicted - 1) < 5 * np.sqrt(2 / (runs - 1))


def test_ring_loss_converges_under_both_schedules_but_only_c_over_t_pins_the_angle():
    lr_sqrt = convergence.power_schedule(0.5, 0.5, 10**6)
    lr_inv = convergence.power_schedule(0.5, 1.0, 10**6)
    spread_sqrt = convergence.ring_angle_variance(lr_sqrt, 1.0)
    spread_inv = convergence.ring_angle_variance(lr_inv, 1.0)
    # across each doubling of t: σ²c² ln 2 under c/√t, σ²c²/(2t) → 0 under c/t
    for t in (10**3, 10**4, 10**5):
        doubling = spread_sqrt[2 * t] - spread_sqrt[t]
        assert abs(doubling - 0.25 * np.log(2)) < 1e-3
        assert spread_inv[2 * t] - spread_inv[t] < 0.25 / t
    # the total spread grows without bound under c/√t (like ln t), not under c/t
    assert spread_sqrt[10**6] > spread_sqrt[10**3] + 1.5
    assert spread_inv[10**6] < 0.25 * np.pi**2 / 6
    gen = lab.generator(3, "cpu")
    for lr in (lr_sqrt[:4000], lr_inv[:4000]):
        phi, _ = convergence.noisy_descent_2d(
            convergence.ring_gradient, [1.0, 0.0], lr, 1.0, 500, [400, 4000], gen
        )
        loss = convergence.ring_loss(phi).mean(1)
        assert loss[1] < loss[0] / 2 and loss[1] < 0.003


def test_a_constant_step_of_two_over_h_cycles_between_two_points():
    import torch

    lr = [2.0] * 6  # η = 2/h with h = 1
    gen = lab.generator(0, "cpu")
    phi, _ = convergence.noisy_descent_2d(
        lambda phi: phi * torch.tensor([1.0, 0.0]), [0.7, 0], lr, 0.0, 1, range(7), gen
    )
    assert np.allclose(phi[:, 0, 0].numpy(), 0.7 * (-1.0) ** np.arange(7))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"noise": -1.0}, "noise"),
        ({"chains": 0}, "chains"),
        ({"at": [5]}, "at"),
        ({"start": [1.0]}, "start"),
        ({"lr": [float("nan")]}, "lr"),
    ],
)
def test_noisy_descent_2d_rejects_bad_arguments(kwargs, name):
    args = {
        "gradient": convergence.ring_gradient,
        "start": [1.0, 0.0],
        "lr": [0.1, 0.1],
        "noise": 0.1,
        "chains": 2,
        "at": [0, 2],
        "generator": lab.generator(0, "cpu"),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        convergence.noisy_descent_2d(**args)


def test_exercise_c_too_small_costs_orders_of_magnitude_in_steps():
    """ex-conv-predict-c: with σ²/B = 1 and e₀ = 4, c = 1.5 reaches E e² < 0.01 near the
    asymptotic t ≈ c²/((2c − 1)·0.01); c = 0.25 needs four orders of magnitude more."""
    first = {}
    for c in (0.25, 1.5):
        m, v = convergence.quadratic_moments(
            convergence.power_schedule(c, 1.0, 2 * 10**6), 1.0, 4.0
        )
        below = m**2 + v < 1e-2
        assert below.any()
        first[c] = int(np.argmax(below))
    assert abs(first[1.5] / (1.5**2 / 2.0 / 1e-2) - 1) < 0.05
    assert np.log10(first[0.25] / first[1.5]) > 3.9


# ------------------------------------- c > 1/(2h), and the schedules people use


def test_c_over_t_derivation_claims_hold_symbolically():
    from lab.derivations import convergence_conditions

    verdicts = convergence_conditions().check()
    derived = {k: v for k, v in verdicts.items() if k.startswith("c_over_t")}
    assert len(derived) == 4 and all(derived.values()), derived


@pytest.mark.parametrize("h, c", [(2.0, 0.5), (0.5, 1.5)])
def test_c_over_t_limit_holds_at_curvature_h(h, c):
    # t·E δ_t² → c²σ²/(B(2hc − 1)) for c > 1/(2h); σ²/B = 1, float64 recursion
    S = 100_000
    m, v = convergence.quadratic_moments(
        convergence.power_schedule(c, 1.0, S), 1.0, 4.0, curvature=h
    )
    assert S * (m[-1] ** 2 + v[-1]) == pytest.approx(c**2 / (2 * h * c - 1), rel=5e-3)


def test_c_below_one_over_2h_decays_like_t_to_the_minus_2hc():
    h, c, S = 2.0, 0.1, 100_000  # hc = 0.2 < 1/2
    m, v = convergence.quadratic_moments(
        convergence.power_schedule(c, 1.0, S), 1.0, 4.0, curvature=h
    )
    mse = m**2 + v
    slope = (np.log(mse[S]) - np.log(mse[S // 10])) / np.log(10)
    assert slope == pytest.approx(-2 * h * c, abs=0.02)


def test_budget_schedules_have_the_documented_shapes():
    step = convergence.step_decay_schedule(1.0, 8).numpy().ravel()
    assert np.allclose(step, [1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01])
    cos = convergence.cosine_schedule(2.0, 100).numpy().ravel()
    assert cos[0] == 2.0 and np.all(np.diff(cos) < 0) and cos[-1] < 2.0 * 1e-3
    warm = convergence.cosine_schedule(1.0, 100, warmup=10).numpy().ravel()
    assert np.allclose(warm[:10], np.arange(1, 11) / 10) and warm[10] == 1.0
    lin = convergence.warmup_linear_schedule(1.0, 100, 10).numpy().ravel()
    assert np.allclose(lin[:10], np.arange(1, 11) / 10)
    assert np.allclose(lin[10:], (100 - np.arange(11, 101) + 1) / 90) and lin[9] == 1
    for schedule in (step, cos, warm, lin):
        assert schedule.shape in ((8,), (100,)) and np.all(schedule > 0)


@pytest.mark.parametrize(
    "make, kwargs, name",
    [
        (convergence.step_decay_schedule, {"gamma": 0.0}, "gamma"),
        (convergence.step_decay_schedule, {"milestones": (1.0,)}, "milestones"),
        (convergence.cosine_schedule, {"warmup": 10}, "warmup"),
        (convergence.warmup_linear_schedule, {"warmup": -1}, "warmup"),
        (convergence.cosine_schedule, {"lr": 0.0}, "lr"),
        (convergence.warmup_linear_schedule, {"steps": 0}, "steps"),
    ],
)
def test_budget_schedules_reject_bad_arguments(make, kwargs, name):
    args = {"lr": 1.0, "steps": 10} | kwargs
    with pytest.raises(ValueError, match=name):
        make(**args)


def test_no_schedule_beats_the_optimal_final_error_and_the_running_mean_reaches_it():
    S, V, e0 = 500, 2.0, 4.0
    best = convergence.optimal_final_error(S, V, e0)
    t = np.arange(1, S + 1)
    m, v = convergence.quadratic_moments(1 / (t + V / e0**2), V, e0)
    assert m[-1] ** 2 + v[-1] == pytest.approx(best, rel=1e-10)
    rng = np.random.default_rng(0)
    for _ in range(200):  # random schedules, some past 1 (the weights still add to 1)
        eta = rng.uniform(0, 1.9, S) * rng.uniform(0, 1)
        m, v = convergence.quadratic_moments(eta, V, e0)
        assert m[-1] ** 2 + v[-1] >= best * (1 - 1e-12)


def test_budget_schedules_trade_a_little_error_for_a_wide_window_of_peak_rates():
    """The chapter's claim at S = 1000 (the page runs S = 10 000): tuned c/t is the
    optimum; every schedule's best peak is within a factor 4 of it; cosine and step
    decay stay within 10× over 1.5 decades more of peak rate than c/t."""
    S, V, e0 = 1000, 1.0, 4.0
    peaks = np.geomspace(1e-4, 1.9, 49)
    best = convergence.optimal_final_error(S, V, e0)
    makes = {
        "ct": lambda c, S: convergence.power_schedule(c, 1.0, S),
        "sqrt": lambda c, S: convergence.power_schedule(c, 0.5, S),
        "step": lambda lr, S: convergence.step_decay_schedule(lr, S),
        "cos": lambda lr, S: convergence.cosine_schedule(lr, S),
        "lin": lambda lr, S: convergence.warmup_linear_schedule(lr, S, S // 10),
    }
    rel = {
        k: convergence.final_errors(f, peaks, S, V, e0) / best for k, f in makes.items()
    }
    dec = {k: convergence.window_decades(peaks, r, 10.0) for k, r in rel.items()}
    assert rel["ct"].min() < 1.01
    assert all(r.min() < 4 for r in rel.values())
    assert min(dec["cos"], dec["step"]) > dec["ct"] + 1.5


def test_step_decay_repeated_forever_freezes_the_bias():
    # ÷10 every K steps: Σ η_t ≤ Kη₀/0.9 < ∞, so the mean stops short of Φ*:
    # 1 − η ≥ exp(−η − η²) for η ≤ 1/2 bounds the frozen bias from below
    K, lr = 5, 0.1
    eta = lr * 0.1 ** (np.arange(200) // K)
    m, _ = convergence.quadratic_moments(eta, 0.0, 4.0)
    assert m[-1] == pytest.approx(m[5 * K], rel=1e-3)
    assert m[-1] >= 4 * np.exp(-eta.sum() - (eta**2).sum()) > 2


def test_window_decades_and_final_errors_reject_bad_input():
    with pytest.raises(ValueError, match="peaks"):
        convergence.window_decades([1.0, 0.5], [1.0, 1.0], 2.0)
    with pytest.raises(ValueError, match="limit"):
        convergence.window_decades([0.5, 1.0], [1.0, 1.0], 0.0)
    assert convergence.window_decades([0.1, 1.0, 10.0], [1.0, 1.0, 50.0], 2.0) == 1.0
    with pytest.raises(ValueError, match="steps"):
        convergence.final_errors(lambda lr, S: [lr] * (S + 1), [0.1], 5, 1.0, 1.0)
    with pytest.raises(ValueError, match="peaks"):
        convergence.final_errors(convergence.cosine_schedule, [], 5, 1.0, 1.0)
    with pytest.raises(ValueError, match="e0"):
        convergence.optimal_final_error(10, 1.0, 0.0)
