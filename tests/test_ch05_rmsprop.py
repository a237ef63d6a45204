"""Chapter 5's claims about RMSProp, small and fast; lab.rmsprop against independent references."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

import lab
from lab import optim, problems, rmsprop, running_averages, simulate
from lab.problems import NoisyQuadratic
from lab.widgets.rmsprop import rmsprop_state


def test_run_nqm_with_rmsprop_equals_a_plain_loop_on_the_same_draws():
    problem = problems.scaled_nqm(100, dim=5, sigma=0.7, power=0.5)
    run = simulate.run_nqm(
        problem,
        lambda ps: optim.RMSProp(ps, lr=0.02, N_s=30, eps=1e-8),
        40,
        6,
        lab.generator(5),
        batch_size=4,
        phi0=1.0,
        observe=rmsprop.rmsprop_moments,
    )
    run = {k: run[k].mean(1) for k in ("phi_sq", "s")}
    Phi = torch.ones(6, 5, dtype=torch.float64)
    opt = optim.RMSProp([Phi], lr=0.02, N_s=30, eps=1e-8, impl="reference")
    gen = lab.generator(5)
    for _ in range(40):
        Phi.grad = problem.stochastic_gradient(Phi, 4, gen)
        opt.step()
    np.testing.assert_allclose(run["phi_sq"][-1], (Phi**2).mean(0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        run["s"][-1], opt.state[Phi]["s"].mean(0).numpy(), rtol=1e-12
    )


def test_sgd_nqm_second_moments_match_a_direct_recursion():
    problem = problems.scaled_nqm(50, dim=4, sigma=2.0)
    h, v = problem.h.numpy(), problem.gradient_variance(3).numpy()
    exact = rmsprop.sgd_nqm_second_moments(problem, [0.3, 1.0], 3, 1.5, 25)
    for k, lr in enumerate([0.3, 1.0]):
        m = np.full(4, 1.5**2)
        for t in range(26):
            np.testing.assert_allclose(exact[k, t], m, rtol=1e-12)
            m = (1 - lr * h) ** 2 * m + lr**2 * v
    times = [0, 7, 25]
    np.testing.assert_allclose(
        rmsprop.sgd_nqm_second_moments(problem, 0.3, 3, 1.5, 0, times=times),
        exact[0, times],
        rtol=1e-12,
    )


def test_sgd_nqm_second_moments_matches_simulated_sgd():
    problem = problems.scaled_nqm(10, dim=3, sigma=1.0)
    chains, lr, B, T = 4000, 0.5, 2, 30
    Phi = torch.ones(chains, 3, dtype=torch.float64)
    opt, gen = optim.SGD([Phi], lr=lr), lab.generator(2)
    for _ in range(T):
        Phi.grad = problem.stochastic_gradient(Phi, B, gen)
        opt.step()
    exact = rmsprop.sgd_nqm_second_moments(problem, lr, B, 1.0, T)[
        -1
    ]  # E Φ² = m² + var
    m_t = (1 - lr * problem.h.numpy()) ** T
    var = exact - m_t**2
    # Φ_T Gaussian: Var Φ² = 2 var² + 4 m² var; 5 standard errors of a mean over chains
    tol = 5 * np.sqrt((2 * var**2 + 4 * m_t**2 * var) / chains)
    assert np.all(np.abs((Phi**2).mean(0).numpy() - exact) <= tol)


@pytest.mark.parametrize("B", [1, 16])
def test_s_tracks_g2_plus_sigma2_over_B(B):
    h, sigma, phi0, N_s, T, chains = 1.0, 2.0, 0.5, 50, 300, 1000
    problem = NoisyQuadratic([h], [sigma])
    Phi = torch.full((chains, 1), phi0, dtype=torch.float64)
    opt, gen = optim.RMSProp([Phi], lr=0.0, N_s=N_s), lab.generator(B)
    for _ in range(T):
        Phi.grad = problem.stochastic_gradient(Phi, B, gen)
        opt.step()
    g = h * phi0
    exact = running_averages.expected_running_average(
        rmsprop.second_moment(g, sigma, B), N_s, T
    )
    sd = math.sqrt(
        running_averages.running_average_variance(
            rmsprop.second_moment_variance(g, sigma, B), N_s, T
        )
    )
    measured = opt.state[Phi]["s"].mean().item()
    assert abs(measured - exact) <= 5 * sd / math.sqrt(
        chains
    )  # 5 s.e. over independent chains
    if B > 1:  # the lecture's g² + σ² is far outside the tolerance
        assert abs(measured - (g**2 + sigma**2)) > 50 * sd / math.sqrt(chains)


def test_second_moment_variance_is_that_of_a_squared_gaussian():
    z = torch.randn(400_000, generator=lab.generator(9), dtype=torch.float64)
    g, sigma, B = 0.7, 1.3, 2
    x = (g + sigma / math.sqrt(B) * z) ** 2
    exact = rmsprop.second_moment_variance(g, sigma, B)
    # the sample variance of ĝ² has relative s.e. ≈ √(κ₄/n); κ₄ (kurtosis of ĝ²) < 20 here
    assert x.var().item() == pytest.approx(exact, rel=5 * math.sqrt(20 / 400_000))
    assert x.mean().item() == pytest.approx(
        rmsprop.second_moment(g, sigma, B), abs=5 * math.sqrt(exact / 400_000)
    )


def test_signal_to_noise_at_sgd_stationarity_is_eta_h_over_2_minus_eta_h():
    hs = np.array([1.0, 0.1, 0.01])
    problem = NoisyQuadratic(hs, np.ones(3))
    lr, B, chains = 0.5, 4, 4000
    Phi = torch.zeros(chains, 3, dtype=torch.float64)
    opt, gen = optim.SGD([Phi], lr=lr), lab.generator(7)
    for _ in range(int(10 / (lr * hs.min()))):
        Phi.grad = problem.stochastic_gradient(Phi, B, gen)
        opt.step()
    measured = (problem.gradient(Phi) ** 2).mean(0).numpy() / problem.gradient_variance(
        B
    ).numpy()
    predicted = rmsprop.sgd_stationary_snr(lr, hs)
    assert np.all(np.abs(measured - predicted) <= 5 * math.sqrt(2 / chains) * predicted)


def test_sgd_stationary_snr_rejects_unstable_rates():
    with pytest.raises(ValueError, match="lr"):
        rmsprop.sgd_stationary_snr(2.5, 1.0)


def test_first_rmsprop_step_has_length_eta_sqrt_N_s():
    Phi = torch.tensor([1.0, -3.0, 1e-4], dtype=torch.float64)
    opt = optim.RMSProp([Phi], lr=0.02, N_s=400, eps=0.0)
    Phi.grad = torch.tensor([0.2, -50.0, 1e-6], dtype=torch.float64)
    before = Phi.clone()
    opt.step()
    np.testing.assert_allclose((before - Phi).abs().numpy(), 0.02 * 20, rtol=1e-12)


def test_rmsprop_is_invariant_to_per_coordinate_gradient_scale_and_sgd_is_not():
    base = NoisyQuadratic(np.ones(6), np.ones(6))
    scaled = problems.scaled_nqm(1000, dim=6, sigma=1.0, power=1.0)
    runs = {}
    for name, problem in [("base", base), ("scaled", scaled)]:
        out = simulate.run_nqm(
            problem,
            lambda ps: optim.RMSProp(ps, lr=0.01, N_s=100, eps=0.0),
            100,
            3,
            lab.generator(3),
            phi0=1.0,
            observe=rmsprop.rmsprop_moments,
        )
        runs[name] = out["phi_sq"].mean(1)
    np.testing.assert_allclose(
        runs["base"], runs["scaled"], rtol=1e-10
    )  # float64 round-off
    sgd = [
        rmsprop.sgd_nqm_second_moments(p, 0.01, 1, 1.0, 100)[-1] for p in (base, scaled)
    ]
    assert np.abs(sgd[0] - sgd[1]).max() > 0.1


def test_speedup_on_units_nqm_grows_in_proportion_to_kappa():
    target, B = 0.01, 1
    times = np.unique(np.geomspace(1, 200_000, 2000).astype(int))
    lrs = np.geomspace(1e-3, 1.99, 120)
    per_kappa = []
    for kappa in [10, 100]:
        worst = rmsprop.sgd_nqm_second_moments(
            problems.scaled_nqm(kappa), lrs, B, 1.0, 0, times=times
        ).max(-1)
        per_kappa.append(
            min(rmsprop.steps_to_reach(c, target, times) for c in worst) / kappa
        )
    assert per_kappa[1] / per_kappa[0] == pytest.approx(1.0, abs=0.05)  # time ∝ κ
    r = simulate.run_nqm(
        problems.scaled_nqm(10),
        lambda ps: optim.RMSProp(ps, lr=0.01, N_s=100, eps=0.0),
        600,
        100,
        lab.generator(0),
        batch_size=B,
        phi0=1.0,
        observe=rmsprop.rmsprop_moments,
    )
    c, se = simulate.mean_and_se(r["phi_sq"])
    T_hi = rmsprop.steps_to_reach((c + 5 * se).max(-1), target)  # 5 s.e. upper bracket
    assert T_hi < 600
    # RMSProp's time does not depend on κ (invariance), SGD's is ≈ 118 κ: speed-up ≥ 0.2 κ
    assert per_kappa[1] * 100 / T_hi >= 0.2 * 100


def test_rmsprop_beats_sgd_on_badly_scaled_digits():
    from lab.train import load_digits, make_model, train

    torch.set_num_threads(1)
    data = load_digits()
    c = torch.logspace(-1, 1, 64)[
        torch.randperm(64, generator=torch.Generator().manual_seed(0))
    ]
    bad = dataclasses.replace(data, X_train=data.X_train * c, X_test=data.X_test * c)

    def best(make, lrs, seed):
        out = []
        for lr in lrs:
            model = make_model(0, lab.generator(seed))
            try:
                out.append(
                    train(
                        model,
                        make(model.parameters(), lr),
                        bad,
                        150,
                        16,
                        lab.generator(200 + seed),
                        eval_every=150,
                    )["train_loss"][-1]
                )
            except FloatingPointError:
                out.append(math.inf)
        return min(out)

    seed = 5  # a seed the book does not use
    sgd = best(lambda ps, lr: optim.SGD(ps, lr=lr), [0.01, 0.1, 0.3], seed)
    rms = best(lambda ps, lr: optim.RMSProp(ps, lr=lr, N_s=100), [0.003, 0.01], seed)
    assert rms < sgd


def test_rmsprop_state_matches_closed_forms_and_validates():
    s = rmsprop_state(kappa=1, steps=50, chains=8)
    assert s["sgd_worst"][0] == pytest.approx(1.0)
    assert s["rms_worst"].shape == s["t"].shape == (51,)
    for name, value in [
        ("lr", 1.0),
        ("N_s", 0.5),
        ("batch_size", 0),
        ("kappa", 0.5),
        ("power", 3.0),
    ]:
        with pytest.raises(ValueError, match=name):
            rmsprop_state(**{name: value})


def test_rmsprop_nqm_error_draws_the_explorers_runs_and_validates():
    problem = problems.scaled_nqm(100, 6, 1.0, power=0.5)
    r = rmsprop.rmsprop_nqm_error(problem, 0.03, 100, 1, 50, 8, lab.generator(4))
    s = rmsprop_state(lr=0.03, power=0.5, steps=50, chains=8, seed=4)
    np.testing.assert_array_equal(r["worst"], s["rms_worst"])  # the same draws
    assert r["error"].shape == r["error_se"].shape == (51, 6)
    assert r["worst"][0] == 1.0 and r["worst_se"][0] == 0.0  # every run starts at Φ_0
    for name, kwargs in [("chains", {"chains": 1}), ("lr", {"lr": -0.1})]:
        args = {"lr": 0.01, "chains": 4} | kwargs
        with pytest.raises(ValueError, match=name):
            rmsprop.rmsprop_nqm_error(
                problem, args["lr"], 100, 1, 5, args["chains"], lab.generator(0)
            )
    with pytest.raises(ValueError, match="phi0"):
        rmsprop.rmsprop_nqm_error(problem, 0.01, 100, 1, 5, 4, lab.generator(0), phi0=0)


def _tuned_sgd_worst(power):
    # exact, at the explorer's best SGD rate (the RMSProp part of the state is unused)
    return rmsprop_state(power=power, chains=2)["sgd_worst"][-1]


def test_with_noise_like_curvature_rmsprop_at_its_best_lr_only_ties_tuned_sgd():
    # Chapter 5, ex-rms-predict-power: κ = 100, p = 1/2, B = 1, N_s = 100, 300 steps
    problem, runs = problems.scaled_nqm(100, 6, 1.0, power=0.5), 2000
    sgd = _tuned_sgd_worst(0.5)
    out = {}
    for lr in (0.01, 0.03, 0.1):
        r = rmsprop.rmsprop_nqm_error(problem, lr, 100, 1, 300, runs, lab.generator(11))
        assert r["error"][-1].argmax() == 5  # the flattest coordinate is the worst
        out[lr] = (r["worst"][-1], r["worst_se"][-1])
    # 5 standard errors of a mean over independent runs; SGD's value is exact
    (m1, se1), (m3, se3), (m10, se10) = out[0.01], out[0.03], out[0.1]
    assert m1 - 5 * se1 > sgd
    assert abs(m3 - sgd) <= 5 * se3  # the tie
    assert m10 - 5 * se10 > sgd
    floor = 0.1 / (2 * math.sqrt(0.01))  # η/(2√h) of the flattest coordinate, h = 1/κ
    assert abs(m10 - floor) <= 0.1 * floor + 5 * se10  # O(ηh) corrections: 10%


def test_batch_of_4_reaches_the_target_about_twice_as_fast_and_settles_lower():
    # Chapter 5, ex-rms-batch: κ = 100, p = 1, η = 0.01, N_s = 100, 300 steps
    problem, runs = problems.scaled_nqm(100, 6, 1.0, power=1.0), 2000
    r = {
        B: rmsprop.rmsprop_nqm_error(
            problem, 0.01, 100, B, 300, runs, lab.generator(12)
        )
        for B in (1, 4)
    }

    def reach(run, k):  # steps to 0.1, the curve shifted by k standard errors
        return rmsprop.steps_to_reach(run["worst"] + k * run["worst_se"], 0.1)

    # the 5 s.e. brackets of both times give a bracket of their ratio
    assert 1.5 <= reach(r[1], -5) / reach(r[4], 5)
    assert reach(r[1], 5) / reach(r[4], -5) <= 2.5
    (f1, s1), (f4, s4) = [(r[B]["worst"][-1], r[B]["worst_se"][-1]) for B in (1, 4)]
    assert f4 + 5 * s4 < f1 - 5 * s1
    assert f1 + 5 * s1 < _tuned_sgd_worst(1.0)  # p = 1: RMSProp wins by a wide margin


@pytest.mark.parametrize("B", [1, 16])
def test_s_at_fixed_phi_settles_at_g2_plus_sigma2_over_B_and_never_moves_phi(B):
    g, sigma, N_s, T, chains = 0.5, 2.0, 50, 300, 1000
    r = rmsprop.s_at_fixed_phi(g, sigma, B, N_s, T, chains, lab.generator(B))
    exact = running_averages.expected_running_average(
        rmsprop.second_moment(g, sigma, B), N_s, T
    )
    sd = math.sqrt(
        running_averages.running_average_variance(
            rmsprop.second_moment_variance(g, sigma, B), N_s, T
        )
    )
    # 5 standard errors of a mean over independent chains
    assert abs(r["s_final"].mean() - exact) <= 5 * sd / math.sqrt(chains)
    assert r["s_mean"][-1] == pytest.approx(r["s_final"].mean(), rel=1e-12)
    assert r["s_mean"][0] == 0 and r["t"][-1] == T and len(r["ghat_sq"]) == T
    # chain 0's s_t is the running average of its own ĝ_t² (float64 round-off)
    s = 0.0
    for x in r["ghat_sq"]:
        s += (x - s) / N_s
    assert r["s_chain"][-1] == pytest.approx(s, rel=1e-12)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("sigma", {"sigma": -1.0}),
        ("batch_size", {"batch_size": 0}),
        ("N_s", {"N_s": 0.5}),
        ("steps", {"steps": 0}),
        ("chains", {"chains": 1}),
    ],
)
def test_s_at_fixed_phi_rejects_bad_arguments(name, kwargs):
    args = dict(g=0.5, sigma=2.0, batch_size=1, N_s=10, steps=5, chains=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        rmsprop.s_at_fixed_phi(**args, generator=lab.generator(0))
