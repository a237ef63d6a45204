"""Chapter 10: B*, η*, the guarantee's failure probability, the expected-value version, SNR runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lab
from lab import optim, simulate
from lab import optimal_batch as ob
from lab.derivations import progress_guarantee
from lab.problems import NoisyQuadratic
from lab.widgets import optimal_batch_state

pos = st.floats(0.05, 20.0)


# ---------------------------------------------------------------------------------------
# Closed forms against sympy and brute force.
# ---------------------------------------------------------------------------------------


@given(B=st.floats(1.0, 1e4), g=pos, s=pos, L=pos)
def test_bound_lr_is_the_sympy_eta_star_where_positive_else_zero(B, g, s, L):
    d = progress_guarantee()
    sym = d.symbols
    eta = d.claims["eta_star_B"].lhs  # sympy's maximiser of the slide's guarantee
    ref = float(eta.subs({sym["B"]: B, sym["ghat"]: g, sym["sighat"]: s, sym["L"]: L}))
    # float64 evaluation of the same three operations: relative 1e-12.
    assert float(ob.bound_lr(B, g, s, L)) == pytest.approx(
        max(ref, 0.0), rel=1e-12, abs=1e-15
    )
    assert float(ob.bound_lr(B, -g, s, L)) == pytest.approx(
        max(ref, 0.0), rel=1e-12, abs=1e-15
    )


@given(B=st.floats(1.0, 1e4), g=pos, s=pos, L=pos)
def test_bound_lr_maximises_the_guarantee_over_a_grid_of_steps(B, g, s, L):
    best = float(ob.bound_lr(B, g, s, L))
    grid = np.linspace(0, 2 / L, 4001)
    values = ob.guaranteed_decrease(grid, B, g, s, L)
    at_best = float(ob.guaranteed_decrease(best, B, g, s, L))
    assert at_best >= values.max() - 1e-12 * (1 + abs(values.max()))
    assert at_best == pytest.approx(L / 2 * best**2 * g**2, rel=1e-10, abs=1e-15)


@given(g=pos, s=pos, L=pos)
def test_B_star_maximises_guaranteed_progress_per_example_on_a_fine_grid(g, s, L):
    B_star = float(ob.bound_batch_size_star(g, s))
    assert B_star == pytest.approx(16 * s * s / (g * g), rel=1e-14)
    B = B_star * np.geomspace(0.05, 20, 20001)
    per_example = ob.guaranteed_decrease(ob.bound_lr(B, g, s, L), B, g, s, L) / B
    # grid ratio step 1.0008: the argmax is within two grid steps of B*
    assert B[per_example.argmax()] / B_star == pytest.approx(1.0, abs=2e-3)
    assert float(ob.bound_lr(B_star, g, s, L)) == pytest.approx(1 / (2 * L), rel=1e-12)
    # the lecture's eta_B is (B/B*) eta*
    assert float(ob.lecture_lr_B(3.0, g, s, L)) == pytest.approx(
        3.0 / B_star / (2 * L), rel=1e-12
    )


@given(B=st.floats(1.0, 1e4), g=pos, s=pos, L=pos)
def test_expected_lr_maximises_expected_decrease_and_matches_closed_form(B, g, s, L):
    eta = float(ob.expected_lr(B, g, s, L))
    grid = np.linspace(0, 2 / L, 4001)
    values = ob.expected_decrease(B, g, s, L, lr=grid)
    best = float(ob.expected_decrease(B, g, s, L))
    assert best >= values.max() - 1e-12 * (1 + values.max())
    B_noise = s * s / (g * g)
    assert float(ob.noise_scale(g, s)) == pytest.approx(B_noise, rel=1e-14)
    assert best == pytest.approx(g * g / (2 * L) * B / (B + B_noise), rel=1e-10)
    assert eta == pytest.approx(B / (L * (B + B_noise)), rel=1e-12)


def test_factors_between_the_lecture_and_the_expected_value_analysis():
    g, s, L = 0.7, 3.0, 2.0
    assert float(ob.bound_batch_size_star(g, s)) / float(
        ob.noise_scale(g, s)
    ) == pytest.approx(16)
    # small-B learning rates: the ratio tends to 32 as B -> 0
    B = 1e-9
    ratio = float(ob.expected_lr(B, g, s, L)) / float(ob.lecture_lr_B(B, g, s, L))
    assert ratio == pytest.approx(32, rel=1e-6)
    B_star = float(ob.bound_batch_size_star(g, s))
    assert float(ob.expected_lr(B_star, g, s, L)) == pytest.approx(
        16 / (17 * L), rel=1e-12
    )
    # per-example expected progress decreases in B: no finite maximiser
    Bs = np.geomspace(1, 1e6, 200)
    assert np.all(np.diff(ob.expected_decrease(Bs, g, s, L) / Bs) < 0)


# ---------------------------------------------------------------------------------------
# What the guarantee guarantees.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("g, B", [(1.0, 16), (0.0, 16), (1.0, 2), (2.0, 4)])
def test_failure_probability_matches_monte_carlo(g, B):
    trials = 20_000
    r = ob.guarantee_trials(g, 1.0, B, 1.0, trials, lab.generator(7))
    exact = ob.guarantee_failure_probability(g, 1.0, B)
    # binomial standard error of the failure fraction; 4 s.e.
    assert abs((1 - r["holds"].mean()) - exact) <= 4 * math.sqrt(
        exact * (1 - exact) / trials
    )


def test_exercise_smallest_batch_with_guarantee_holding_95_percent_is_9():
    p = [ob.guarantee_failure_probability(50.0, 1.0, B) for B in range(2, 12)]
    assert min(B for B, q in zip(range(2, 12), p) if q <= 0.05) == 9
    assert p[8 - 2] == pytest.approx(0.052, abs=5e-4) and p[9 - 2] == pytest.approx(
        0.048, abs=5e-4
    )
    assert all(a > b for a, b in zip(p, p[1:]))


def test_exercise_predict_values_for_ghat_half_sigma_two():
    assert float(ob.bound_batch_size_star(0.5, 2.0)) == pytest.approx(256)
    assert float(ob.noise_scale(0.5, 2.0)) == pytest.approx(16)
    assert float(ob.expected_lr(256, 0.5, 2.0, 1.0)) == pytest.approx(16 / 17)

    # doubling σ̂ quarters the peak guaranteed progress per example ĝ²/(8 L B*)
    def peak(s):
        return optimal_batch_state(sigma_hat=s, B_max=1e7)["per_example_at_B_star"]

    assert peak(2.0) / peak(4.0) == pytest.approx(4)


def test_failure_probability_tends_to_one_sided_two_sigma_for_large_B():
    from scipy.stats import norm

    # t with 10^5 degrees of freedom differs from the normal by O(1/dof) ~ 1e-5
    assert ob.guarantee_failure_probability(1e3, 1.0, 100_000) == pytest.approx(
        norm.sf(2), abs=1e-4
    )


@pytest.mark.parametrize("h", [1.0, 0.5, 0.05])
def test_guarantee_always_holds_when_g_is_inside_the_interval(h):
    r = ob.guarantee_trials(0.4, 1.0, 8, 1.0, 20_000, lab.generator(3), h=h)
    inside = np.abs(r["g_hat"] - 0.4) <= 2 * r["sigma_hat"] / math.sqrt(8)
    assert inside.mean() > 0.8
    assert r["holds"][inside].all()


def test_smaller_curvature_only_adds_slack():
    at_L = ob.guarantee_trials(1.0, 1.0, 16, 1.0, 5000, lab.generator(4))
    below = ob.guarantee_trials(1.0, 1.0, 16, 1.0, 5000, lab.generator(4), h=0.5)
    assert np.all(below["actual"] >= at_L["actual"] - 1e-15)
    assert np.all(below["holds"] >= at_L["holds"])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ob.bound_lr(0.0, 1.0, 1.0, 1.0), "batch_size"),
        (lambda: ob.bound_lr(4.0, 1.0, -1.0, 1.0), "sigma_hat"),
        (lambda: ob.bound_lr(4.0, float("nan"), 1.0, 1.0), "g_hat"),
        (lambda: ob.expected_lr(4.0, 1.0, 1.0, 0.0), "L"),
        (lambda: ob.lecture_lr_B(4.0, 1.0, 0.0, 1.0), "sigma_hat"),
        (
            lambda: ob.guarantee_trials(1.0, 1.0, 1, 1.0, 10, lab.generator(0)),
            "batch_size",
        ),
        (
            lambda: ob.guarantee_trials(1.0, 1.0, 4, 1.0, 10, lab.generator(0), h=2.0),
            "h",
        ),
        (lambda: ob.guarantee_failure_probability(1.0, 0.0, 4), "sigma"),
        (lambda: optimal_batch_state(g_hat=0.0), "g_hat"),
        (lambda: optimal_batch_state(sigma_hat=1e3), "sigma_hat"),
        (lambda: optimal_batch_state(L=-1.0), "L"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------------------------------
# run_nqm with snr_observer against the exact moments of SGD; SNR's schedule in 1-D.
# ---------------------------------------------------------------------------------------


def test_run_nqm_matches_exact_sgd_moments():
    h = np.array([0.1, 1.0])
    sigma = np.array([1.0, 0.5])
    lr, B, T, n = 0.3, 2, 50, 4000
    nqm = NoisyQuadratic(h=h, sigma=sigma)
    out = simulate.run_nqm(
        nqm,
        lambda ps: optim.SGD(ps, lr=lr),
        T,
        n,
        lab.generator(5),
        batch_size=B,
        phi0=1.0,
        observe=ob.snr_observer(nqm, [T]),
    )
    rho = (1 - lr * h) ** 2
    exact = rho**T + lr**2 * sigma**2 / B * (1 - rho**T) / (1 - rho)
    measured = out["sq_error"][-1]
    # Φ_T is Gaussian: Var Φ² = 2v² + 4m²v; 5 standard errors of the mean over n runs.
    m2 = rho**T
    v = exact - m2
    tol = 5 * np.sqrt((2 * v**2 + 4 * m2 * v) / n)
    assert np.all(np.abs(measured.mean(0) - exact) <= tol)
    assert "eta" not in out


def _snr_run(B=1, T=2000, chains=128, mode="batch", seed=0):
    nqm = NoisyQuadratic(h=[1.0], sigma=[1.0])
    lam = ob.snr_lecture_lambda_eta(B, 1.0)

    def make(ps):
        return optim.SNR(
            ps,
            batch_size=B,
            lambda_eta=lam,
            lambda_B=16.0,
            K=10,
            eps=1e-12,
            second_moment=mode,
        )

    observe = ob.snr_observer(nqm, [11, 50, T // 4, T // 2, T])
    return simulate.run_nqm(
        nqm,
        make,
        T,
        chains,
        lab.generator(seed),
        batch_size=B,
        phi0=2.0,
        observe=observe,
        examples=(mode == "examples"),
    ), lam


def test_snr_lr_times_window_is_eta_star_and_schedule_is_c_over_t_below_threshold():
    run, lam = _snr_run()
    eta, Bs, g2 = run["eta"][..., 0], run["B_star"][..., 0], run["g_tilde"][..., 0] ** 2
    # identity η·B*/B = λ_η λ_B/B · g̃²/(g̃²+ε): float64 round-off of a few operations
    assert np.allclose(eta * Bs, lam * 16.0 * g2 / (g2 + 1e-12), rtol=1e-9, atol=0)
    assert lam * 16.0 == pytest.approx(0.5)  # = 1/(2L)
    n, T = eta.shape[1], run["t"][-1]
    # most runs have T·η_T < 1/(2h): binomial, 4 s.e. above 1/2
    assert (T * eta[-1] < 0.5).mean() > 0.5 + 4 * math.sqrt(0.25 / n)
    # Σ η_t diverges like c log t: the increment over (T/2, T] is at least 0.79 of the one
    # over (T/4, T/2] (a summable t^-p, p >= 4/3, gives at most 0.79); mean - 4 s.e.
    S = run["sum_eta"][..., 0]
    ratio = (S[-1] - S[-2]) / (S[-2] - S[-3])
    assert ratio.mean() - 4 * ratio.std() / math.sqrt(n) > 0.79
    # cumulative sums are non-decreasing and η_t → 0 (median falls as t grows)
    assert np.all(np.diff(S, axis=0) >= 0)
    med = np.median(eta, axis=1)
    assert med[-1] < med[-2] < med[-3]


def test_snr_batch_mode_is_absorbed_at_eta_max_when_B_star_falls_below_B():
    run, _ = _snr_run(B=8, T=200, chains=64)
    assert np.all(run["eta"][-1] >= 0.5 * (1 - 1e-12))
    assert np.all(run["sigma2"][-1] == 0)
    run, _ = _snr_run(B=8, T=200, chains=64, mode="examples")
    assert np.all(run["sigma2"][-1] > 0)
    assert np.all(run["eta"][-1] < 0.5)


# ---------------------------------------------------------------------------------------
# The explorer's state.
# ---------------------------------------------------------------------------------------


def test_explorer_state_marks_B_star_where_the_guaranteed_progress_peaks():
    state = optimal_batch_state()
    assert state["B_star"] == pytest.approx(16 * 2.0**2 / 0.5**2)
    assert state["B_noise"] == pytest.approx(state["B_star"] / 16)
    B = state["B"]
    peak = B[state["per_example_bound"].argmax()]
    step = B[1] / B[0]
    assert abs(math.log(peak / state["B_star"])) <= math.log(step)
    assert state["per_example_bound"].max() <= state["per_example_at_B_star"] * (
        1 + 1e-12
    )
    assert np.all(
        (state["lr_scaled"] <= state["lr_star"] + 1e-15) | (B > state["B_star"])
    )
    assert np.all(state["per_example_bound"][B <= state["B_zero"]] == 0)


# ---------------------------------------------------------------------------------------
# The chapter's glued comparisons, each in a small version with its own seeds.
# ---------------------------------------------------------------------------------------


def test_most_steps_beat_their_guarantee_and_misses_fall_short_by_little():
    # g = σ = 1, B = 16: the median step lowers the loss by more than twice its
    # guarantee, and most misses fall short by less than half of theirs (binomial, 4 s.e.)
    r = ob.guarantee_trials(1.0, 1.0, 16, 1.0, 20_000, lab.generator(31))
    taken = r["guaranteed"] > 0
    beat_twice = (r["actual"][taken] > 2 * r["guaranteed"][taken]).mean()
    assert beat_twice > 0.5 + 4 * math.sqrt(0.25 / taken.sum())
    miss = ~r["holds"]
    short = 1 - r["actual"][miss] / r["guaranteed"][miss]
    assert (short < 0.5).mean() > 0.5 + 4 * math.sqrt(0.25 / miss.sum())


def test_snr_B_star_grows_like_t_and_stays_below_16_sigma2_over_E_g2():
    torch.set_num_threads(1)  # tiny tensors: one thread is faster
    run, _ = _snr_run(T=2000, chains=128, seed=9)
    t = list(run["t"])
    Bs = run["B_star"][..., 0]
    g2 = run["sq_error"][..., 0]  # h = 1: g_t² = Φ_t²
    n = Bs.shape[1]
    i = t.index(500)
    # E g² at the upper end of its 4-s.e. interval; most runs below (binomial, 4 s.e.)
    g2_hi = g2[i].mean() + 4 * g2[i].std() / math.sqrt(n)
    assert (Bs[i] < 16 / g2_hi).mean() > 0.5 + 4 * math.sqrt(0.25 / n)
    # "roughly in proportion to t": the median B*(t)/t changes by less than a factor
    # 1.5 from t = 500 to t = 2000 (the chapter shows 1.13 and 1.28 for 500 and 4000)
    per_t = [np.median(Bs[t.index(c)]) / c for c in (500, 2000)]
    assert 1 / 1.5 < per_t[1] / per_t[0] < 1.5


def _nqm_final_losses(configs, runs, seed):
    torch.set_num_threads(1)  # tiny tensors: one thread is faster
    d = 32
    h = np.geomspace(0.01, 1.0, d)
    nqm = NoisyQuadratic(h=h, sigma=np.sqrt(h))
    out = {}
    for key, make in configs.items():
        r = simulate.run_nqm(
            nqm,
            make,
            2000,
            runs,
            lab.generator(seed),
            batch_size=4,
            phi0=np.ones(d),
            observe=ob.snr_observer(nqm, [2000], sum_eta=False),
        )
        out[key] = r["loss"][-1]
    return out, 0.5 * h.sum()


def _nqm_snr(m, lambda_B):
    lam = m * ob.snr_lecture_lambda_eta(4, 1.0)
    return lambda ps: optim.SNR(
        ps, batch_size=4, lambda_eta=lam, lambda_B=lambda_B, K=10, eps=1e-8
    )


def test_nqm_ranking_adam_sgd_snr_and_the_lecture_constants():
    configs = {
        "adam": lambda ps: optim.Adam(ps, lr=0.003),
        "sgd": lambda ps: optim.SGD(ps, lr=0.03),
        "snr_4_64": _nqm_snr(4, 64.0),
        "snr_lecture": _nqm_snr(1, 16.0),
    }
    loss, _ = _nqm_final_losses(configs, 32, seed=7)
    order = ["adam", "sgd", "snr_4_64", "snr_lecture"]
    # each gap more than 4 combined standard errors over 32 runs
    for winner, loser in zip(order, order[1:]):
        a, b = loss[winner], loss[loser]
        se = math.hypot(a.std() / math.sqrt(a.size), b.std() / math.sqrt(b.size))
        assert b.mean() - a.mean() > 4 * se, (winner, loser)


def test_nqm_snr_with_a_short_window_and_large_lambda_eta_diverges_in_some_runs():
    configs = {"snr_4_16": _nqm_snr(4, 16.0), "snr_lecture": _nqm_snr(1, 16.0)}
    loss, start = _nqm_final_losses(configs, 256, seed=8)
    above = {k: (v > start).mean() for k, v in loss.items()}
    # the chapter saw 4 of 32; here more than 4 binomial s.e. (at p = 1/8) above 0
    assert above["snr_4_16"] > 4 * math.sqrt(0.125 * 0.875 / 256)
    assert above["snr_lecture"] == 0


def test_digits_snr_ties_sgd_and_loses_to_adam_over_seeds():
    torch.set_num_threads(1)  # tiny tensors: one thread is faster
    from lab import train

    data = train.load_digits()

    def final_loss(make, seed):
        model = train.make_model(32, generator=lab.generator(seed))
        hist = train.train(
            model,
            make(model.parameters()),
            data,
            400,
            32,
            lab.generator(1000 + seed),
            eval_every=400,
        )
        return hist["train_loss"][-1]

    makes = {
        "snr": lambda ps: optim.SNR(
            ps, batch_size=32, lambda_eta=1.0, lambda_B=16.0, K=10
        ),
        "sgd": lambda ps: optim.SGD(ps, lr=1.0),
        "adam": lambda ps: optim.Adam(ps, lr=0.01),
    }
    seeds = range(20, 28)  # not the chapter's
    loss = {k: np.array([final_loss(m, s) for s in seeds]) for k, m in makes.items()}
    mean = {k: v.mean() for k, v in loss.items()}
    se = {k: v.std(ddof=1) / math.sqrt(v.size) for k, v in loss.items()}
    assert abs(mean["snr"] - mean["sgd"]) < 4 * math.hypot(se["snr"], se["sgd"])
    assert mean["snr"] - mean["adam"] > 4 * math.hypot(se["snr"], se["adam"])
    # the untrained network's loss is about ln 10 (within 10%)
    model = train.make_model(32, generator=lab.generator(0))
    initial = train.full_loss(model, data.X_train, data.y_train)[0]
    assert initial == pytest.approx(math.log(10), rel=0.1)


def test_digits_snr_largest_step_is_a_learning_rate_unstable_at_1_5_diverging_at_2():
    # The chapter's Key results: η_max = λ_ηλ_B/B trains at 0.5, is unstable at 1.5
    # (loss more than 10 times that of η_max = 0.5) and diverges at 2 (loss above
    # ln 10, the untrained network's), on seeds that are not the chapter's.
    torch.set_num_threads(1)  # tiny tensors: one thread is faster
    from lab import train

    data = train.load_digits()

    def final_loss(lambda_eta, lambda_B, seed):
        model = train.make_model(32, generator=lab.generator(seed))
        opt = optim.SNR(
            model.parameters(),
            batch_size=32,
            lambda_eta=lambda_eta,
            lambda_B=lambda_B,
            K=10,
        )
        try:
            hist = train.train(
                model, opt, data, 400, 32, lab.generator(1000 + seed), eval_every=400
            )
        except FloatingPointError:
            return math.inf
        return hist["train_loss"][-1]

    for seed in (20,):
        trains = final_loss(1.0, 16.0, seed)  # η_max = 0.5
        assert trains < 0.1
        assert final_loss(3.0, 16.0, seed) > 10 * trains  # η_max = 1.5
        assert final_loss(1.0, 64.0, seed) > math.log(10)  # η_max = 2
