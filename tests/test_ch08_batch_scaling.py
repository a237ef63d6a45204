"""Chapter 8: scaling η, N_μ and N_s with the batch size (lab.batch_scaling and its explorer)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lab
from lab import batch_scaling, derivations, optim, running_averages, simulate, train
from lab.problems import NoisyQuadratic
from lab.widgets.batch_scaling import batch_scaling_state, hessian_noise_nqm

torch.set_num_threads(1)


# --- η_B = B η_1 ---------------------------------------------------------------------


def test_batch_scaling_derivation_claims_hold():
    assert all(derivations.batch_scaling_rules().check().values())


def test_two_steps_minus_one_double_step_is_eta_squared_hessian_times_first_gradient():
    # Independent of sympy: two explicit steps on quadratics loss_j = ½(Φ−y_j)ᵀH(Φ−y_j).
    g = torch.Generator().manual_seed(0)
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    H = A @ A.T
    Phi, y1, y2 = (torch.randn(3, generator=g, dtype=torch.float64) for _ in range(3))
    lr = 0.01
    grad = lambda P, y: H @ (P - y)  # noqa: E731
    two = Phi - lr * grad(Phi, y1)
    two = two - lr * grad(two, y2)
    one = Phi - 2 * lr * (grad(Phi, y1) + grad(Phi, y2)) / 2
    assert torch.allclose(two - one, lr**2 * H @ grad(Phi, y1), atol=1e-15, rtol=1e-12)


@pytest.mark.parametrize("lr, B", [(0.3, 1), (1.5, 4), (2.5, 2), (0.0, 3)])
def test_closed_form_second_moment_equals_the_iterated_recursion(lr, B):
    h, sigma, phi0 = (
        np.array([0.1, 1.0, 0.8]),
        np.array([0.5, 2.0, 1.0]),
        np.array([1.0, -2.0, 0.5]),
    )
    m2, out = phi0**2, [phi0**2]
    for _ in range(30):  # E Φ² ← (1 − ηh)² E Φ² + η²σ²/B, one step at a time
        m2 = (1 - lr * h) ** 2 * m2 + lr**2 * sigma**2 / B
        out.append(m2)
    closed = batch_scaling.nqm_second_moment(h, sigma, phi0, lr, B, np.arange(31))
    np.testing.assert_allclose(closed, np.array(out), rtol=1e-10)  # float64 round-off


def test_expected_loss_matches_monte_carlo_with_lab_optim_sgd():
    problem = hessian_noise_nqm()
    chains, steps = 2000, 30
    record = [0, 10, 30]
    for lr, B in [(0.5, 1), (1.6, 16)]:
        sim = simulate.run_nqm(
            problem,
            lambda ps, lr=lr: optim.SGD(ps, lr=lr),
            steps,
            chains,
            lab.generator(5),
            batch_size=B,
            phi0=1.0,
            observe=simulate.at_steps(record, simulate.record_loss(problem)),
        )
        exact = batch_scaling.nqm_expected_loss(
            problem, np.ones(problem.dim), lr, B, record
        )
        mean, se = simulate.mean_and_se(sim["loss"])
        # 5 Monte Carlo standard errors (plus round-off at t = 0, where the spread is 0)
        assert np.all(np.abs(mean - exact) <= 5 * se + 1e-12), (lr, B)


def test_linear_scaling_curves_agree_within_half_eta_B_h_max():
    # The chapter's claim: for η_B h_max <= 1, E f after E examples at batch B is within
    # a relative η_B h_max / 2 of the value at B = 1, at every budget that is a multiple of B.
    problem = hessian_noise_nqm()
    phi0 = np.ones(problem.dim)
    for lr_1 in [0.002, 0.0005]:
        for B in [2, 16, 128, 500]:
            x = lr_1 * B * 1.0  # h_max = 1
            if x > 1:
                continue
            steps = np.unique(np.geomspace(1, 1e6 / B, 200).round())
            L1 = batch_scaling.nqm_expected_loss(problem, phi0, lr_1, 1, steps * B)
            LB = batch_scaling.nqm_expected_loss(problem, phi0, lr_1 * B, B, steps)
            assert np.max(np.abs(LB / L1 - 1)) <= x / 2, (lr_1, B)


def test_noise_floor_ratio_is_two_minus_eta1_h_over_two_minus_etaB_h():
    problem = NoisyQuadratic([0.7], [1.3])
    lr_1, B = 0.01, 100
    L1 = batch_scaling.nqm_expected_loss(problem, [1.0], lr_1, 1, [1e7])[0]
    LB = batch_scaling.nqm_expected_loss(problem, [1.0], lr_1 * B, B, [1e5])[0]
    assert LB / L1 == pytest.approx((2 - lr_1 * 0.7) / (2 - lr_1 * B * 0.7), rel=1e-9)


def test_linear_scaling_diverges_exactly_beyond_the_stability_batch_size():
    problem = hessian_noise_nqm()
    phi0 = np.ones(problem.dim)
    lr_1 = 0.002
    b_stab = batch_scaling.stability_batch_size(lr_1, problem.h.numpy())
    assert b_stab == pytest.approx(1000.0)
    steps = [1, 100, 10_000]
    below = batch_scaling.nqm_expected_loss(problem, phi0, 999 * lr_1, 999, steps)
    above = batch_scaling.nqm_expected_loss(problem, phi0, 1001 * lr_1, 1001, steps)
    assert below[2] < below[1] < below[0]
    assert above[2] > 1e3 * above[0] and above[2] > 1e3 * below[2]

    # Monte Carlo agrees: SGD at B = 1024 > B_stab blows up, at B = 512 it does not
    def final_loss(B):
        run = simulate.run_nqm(
            problem,
            lambda ps: optim.SGD(ps, lr=lr_1 * B),
            100,
            200,
            lab.generator(1),
            batch_size=B,
            phi0=phi0,
            observe=simulate.at_steps([100], simulate.record_loss(problem)),
        )
        return run["loss"][-1].mean()

    sim = {B: final_loss(B) for B in (512, 1024)}
    assert sim[512] < 1.0 < 1e3 < sim[1024]


def test_stability_batch_size_rejects_bad_input():
    with pytest.raises(ValueError, match="lr_1"):
        batch_scaling.stability_batch_size(0.0, [1.0])
    with pytest.raises(ValueError, match="h"):
        batch_scaling.stability_limit([1.0, -1.0])


def test_noise_scale_derivation_claims_hold():
    d = derivations.batch_scaling.noise_scale_at_stationarity()
    assert all(d.check().values())
    assert all(d.check_numerically(trials=3, seed=1).values())


def test_stationary_noise_scale_equals_the_long_run_closed_form():
    # B_noise from E Φ² after many steps of the closed form equals the stationary formula.
    problem = hessian_noise_nqm()
    h, sigma = problem.h.numpy(), problem.sigma.numpy()
    for lr, B in [(0.002, 1), (0.128, 64), (1.0, 500)]:
        m2 = batch_scaling.nqm_second_moment(h, sigma, np.ones(50), lr, B, [1e9])[0]
        assert batch_scaling.nqm_noise_scale(h, sigma, m2) == pytest.approx(
            batch_scaling.nqm_stationary_noise_scale(h, sigma, lr, B), rel=1e-9
        )  # a^{2t} < e^{-4000} for every i: only float64 round-off remains


@pytest.mark.parametrize("lr_1", [0.0005, 0.002, 0.008])
def test_stationary_noise_scale_is_about_two_over_eta1_hbar_and_at_least_b_stab(lr_1):
    # The chapter's relation: with η_B = Bη_1, B_noise lies in
    # [(1 − η_B h_max/2)·2/(η_1 h̄), 2/(η_1 h̄)], and 2/(η_1 h̄) ≥ B_stab.
    problem = hessian_noise_nqm()
    h, sigma = problem.h.numpy(), problem.sigma.numpy()
    h_bar = batch_scaling.noise_weighted_curvature(h, sigma)
    assert h_bar <= h.max()
    limit = 2 / (lr_1 * h_bar)
    b_stab = batch_scaling.stability_batch_size(lr_1, h)
    assert limit >= b_stab
    for B in [1, 8, 64, int(0.9 * b_stab)]:
        x = B * lr_1 * h.max()
        b_noise = batch_scaling.nqm_stationary_noise_scale(h, sigma, B * lr_1, B)
        assert (1 - x / 2) * limit * (1 - 1e-12) <= b_noise <= limit * (1 + 1e-12)


def test_noise_scale_grows_from_one_over_hbar_at_the_start_to_its_stationary_value():
    # The chapter's figure: from Φ_0 = 1 (σ_i² = h_i) B_noise = Σh²/Σh³ = 1/h̄; along
    # E Φ_t² of SGD at B = 1 it never decreases and reaches the stationary value.
    problem = hessian_noise_nqm()
    h, sigma = problem.h.numpy(), problem.sigma.numpy()
    lr_1 = 0.002
    steps = np.concatenate([[0], np.geomspace(1, 1e8, 400)])
    m2 = batch_scaling.nqm_second_moment(h, sigma, np.ones(50), lr_1, 1, steps)
    b_noise = batch_scaling.nqm_noise_scale(h, sigma, m2)
    h_bar = batch_scaling.noise_weighted_curvature(h, sigma)
    assert b_noise[0] == pytest.approx(1 / h_bar, rel=1e-12)
    assert np.all(np.diff(b_noise) >= -1e-9 * b_noise[1:])  # float64 round-off
    assert b_noise[-1] == pytest.approx(
        batch_scaling.nqm_stationary_noise_scale(h, sigma, lr_1, 1), rel=1e-9
    )


def test_stationary_noise_scale_matches_monte_carlo_sgd():
    # Small NQM that mixes in a few hundred steps; E GᵀHG estimated from 2000 chains
    # after 1500 steps (a^{2t} = (1 − 0.05·0.1)^{3000} < 1e-6) and compared within 5 s.e.
    problem = NoisyQuadratic([0.1, 0.4, 1.0], [0.5, 1.0, 2.0])
    h, sigma = problem.h.numpy(), problem.sigma.numpy()
    lr, B, chains, steps = 0.05, 4, 2000, 1500

    def ghg(t, p, optimizer):
        return {"ghg": ((problem.h**3) * p.detach() ** 2).sum(-1)}

    sim = simulate.run_nqm(
        problem,
        lambda ps: optim.SGD(ps, lr=lr),
        steps,
        chains,
        lab.generator(11),
        batch_size=B,
        phi0=0.0,
        observe=simulate.at_steps([steps], ghg),
    )
    mean, se = simulate.mean_and_se(sim["ghg"])
    tr_HS = float((h * sigma**2).sum())
    exact = tr_HS / batch_scaling.nqm_stationary_noise_scale(h, sigma, lr, B)
    assert abs(mean[-1] - exact) <= 5 * se[-1], (mean[-1], exact, se[-1])


def test_noise_scale_functions_reject_bad_input():
    with pytest.raises(ValueError, match="lr"):
        batch_scaling.nqm_stationary_noise_scale([1.0], [1.0], 2.0, 1)
    with pytest.raises(ValueError, match="sigma"):
        batch_scaling.noise_weighted_curvature([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="h"):
        batch_scaling.noise_weighted_curvature([0.0], [1.0])
    with pytest.raises(ValueError, match="second_moment"):
        batch_scaling.nqm_noise_scale([1.0, 2.0], [1.0, 1.0], [1.0])


def test_digits_linear_scaling_holds_below_and_fails_beyond_the_stability_limit():
    # Small version of the chapter's experiment: an MLP, η_1 = 0.02, 256 examples. The
    # chapter's claim, as on the NQM: the loss *reduction* after E examples at batch B is
    # within a relative η_B h_max / 2 of that at B = 1 while η_B h_max <= 1 (here
    # h_max ≈ 0.7 at initialisation), and the run diverges for η_B well beyond 2/h_max.
    data = train.load_digits()
    h_max = batch_scaling.hessian_max_eigenvalue(
        train.make_model(32, lab.generator(100)),
        data.X_train,
        data.y_train,
        lab.generator(0),
    )
    initial, final = [], {}
    for B in (1, 8, 256):
        runs = []
        for seed in range(2):
            model = train.make_model(32, lab.generator(100 + seed))
            steps = 256 // B if B < 256 else 8
            h = train.train(
                model,
                optim.SGD(model.parameters(), lr=0.02 * B),
                data,
                steps,
                B,
                lab.generator(seed),
                eval_every=10**6,
            )
            runs.append(h["train_loss"][-1])
            initial.append(h["train_loss"][0])
        final[B] = np.array(runs)
    L0 = np.mean(initial)
    ratio = (L0 - final[8].mean()) / (L0 - final[1].mean())
    assert abs(ratio - 1) <= 0.02 * 8 * h_max / 2, (ratio, h_max)
    assert 0.02 * 256 * h_max > 2 and final[256].min() > math.log(10)  # diverged


def test_hessian_max_eigenvalue_matches_the_full_hessian():
    data = train.load_digits(dtype=torch.float64)
    X, y = data.X_train[:200, :8], data.y_train[:200]
    model = torch.nn.Linear(8, 10).double()
    params = tuple(model.parameters())

    def loss(w, b):
        return torch.nn.functional.cross_entropy(X @ w.T + b, y)

    H = torch.autograd.functional.hessian(loss, params)
    n_w, n_b = params[0].numel(), params[1].numel()
    full = torch.cat(
        [
            torch.cat([H[0][0].reshape(n_w, n_w), H[0][1].reshape(n_w, n_b)], 1),
            torch.cat([H[1][0].reshape(n_b, n_w), H[1][1].reshape(n_b, n_b)], 1),
        ],
        0,
    )
    top = torch.linalg.eigvalsh(full)[-1].item()
    lam = batch_scaling.hessian_max_eigenvalue(model, X, y, lab.generator(0), iters=300)
    assert lam == pytest.approx(top, rel=1e-6)


# --- N_μ -----------------------------------------------------------------------------


def test_scaled_momentum_N_keeps_N_times_B_and_refuses_N_below_one():
    assert batch_scaling.scaled_momentum_N(100, 4) * 4 == 100
    assert batch_scaling.scaled_momentum_N(100, 100) == 1
    with pytest.raises(ValueError, match="batch_size"):
        batch_scaling.scaled_momentum_N(100, 101)


@pytest.mark.parametrize("B", [1, 4, 16])
def test_running_average_of_batch_means_with_N1_over_B_has_variance_sigma2_over_2N1_minus_B(
    B,
):
    N_1, sigma, chains, steps = 32, 2.0, 2000, 400
    N_B = batch_scaling.scaled_momentum_N(N_1, B)
    ghat = sigma * torch.randn(
        (steps, chains, B), generator=lab.generator(B), dtype=torch.float64
    ).mean(-1)
    mu = running_averages.running_average(ghat, N_B)[-1]
    predicted = sigma**2 / (2 * N_1 - B)
    assert predicted == pytest.approx(
        sigma**2 * batch_scaling.running_average_memory(N_B, B)["variance_factor"]
    )
    # After 400 steps (1 − 1/N_B)^{800} < 1e-10: stationary; 5 s.e. of a sample variance.
    assert abs(mu.var().item() - predicted) <= lab.simulate.variance_tolerance(
        predicted, chains
    )


# --- N_s -----------------------------------------------------------------------------


def test_per_example_gradients_equal_the_softmax_regression_formula():
    data = train.load_digits(dtype=torch.float64)
    X, y = data.X_train[:50], data.y_train[:50]
    model = train.make_model(0, lab.generator(3), dtype=torch.float64)
    G = batch_scaling.per_example_gradients(model, X, y)
    W, b = model[0].weight, model[0].bias
    p = torch.softmax(X @ W.T + b, dim=1)
    r = p - torch.nn.functional.one_hot(y, 10).double()  # ∂loss/∂logits
    by_hand = torch.cat([(r[:, :, None] * X[:, None, :]).reshape(50, -1), r], dim=1)
    torch.testing.assert_close(G, by_hand, rtol=1e-12, atol=1e-14)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(X), y).backward()
    torch.testing.assert_close(
        G.mean(0), torch.cat([W.grad.reshape(-1), b.grad]), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("B", [1, 8, 64])
def test_batch_mean_squares_estimate_g2_plus_var_over_B_per_example_squares_g2_plus_var(
    B,
):
    gen = torch.Generator().manual_seed(7)
    G = 0.3 + torch.randn(
        (500, 20), generator=gen, dtype=torch.float64
    ) * torch.linspace(0.5, 2, 20)
    est = batch_scaling.second_moment_estimates(G, B, 4000, lab.generator(B))
    g2, var = est["g2"], est["var"]
    # 5 Monte Carlo standard errors of the mean over 4000 batches, per coordinate
    assert torch.all(
        (est["batch_mean_sq"] - (g2 + var / B)).abs() <= 5 * est["batch_mean_sq_se"]
    )
    assert torch.all(
        (est["per_example_sq"] - (g2 + var)).abs() <= 5 * est["per_example_sq_se"]
    )


def test_explorer_state_matches_the_closed_form_and_rejects_bad_rates():
    state = batch_scaling_state()
    assert state["b_stab"] == pytest.approx(1000.0)
    problem = hessian_noise_nqm()
    h, sigma = problem.h.numpy(), problem.sigma.numpy()
    assert state["b_noise"] == pytest.approx(
        batch_scaling.nqm_stationary_noise_scale(h, sigma, 0.002, 1)
    )
    assert state["b_noise"] > state["b_stab"]
    # the noise slider multiplies Σ and E GᵀHG alike: B_noise does not move
    assert batch_scaling_state(noise=3.0)["b_noise"] == pytest.approx(state["b_noise"])
    assert state["ratio"][0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="lr_1"):
        batch_scaling_state(lr_1=0.0)
    with pytest.raises(ValueError, match="noise"):
        batch_scaling_state(noise=0.0)
    with pytest.raises(ValueError, match="examples"):
        batch_scaling_state(examples=0)


# ------------------------------------- Smith et al.: decay the rate or grow the batch


def test_smith_schedules_change_at_the_same_examples_with_the_same_temperature():
    sch = batch_scaling.smith_schedules(0.1, 8, 4000, 5, 3)
    for name in ("decay", "grow"):
        assert [B * steps for _, B, steps in sch[name]] == [4000] * 3
    assert [eta / B for eta, B, _ in sch["decay"]] == pytest.approx(
        [eta / B for eta, B, _ in sch["grow"]]
    )
    updates = {k: sum(s for *_, s in v) for k, v in sch.items()}
    assert updates == {"decay": 1500, "grow": 500 + 100 + 20}


def test_growing_the_batch_matches_decaying_the_rate_per_example_within_the_bound():
    """At each phase's end the exact losses differ by at most max_i ηh_i/(2 − ηh_i),
    the ratio of the two schedules' stationary losses (same η/B, different η)."""
    from lab.problems import hessian_noise_nqm

    nqm = hessian_noise_nqm()
    h, sigma = nqm.h.numpy(), nqm.sigma.numpy()
    for lr in (0.05, 0.1, 0.3):
        sch = batch_scaling.smith_schedules(lr, 8, 40_000, 5, 3)
        ends = 40_000 * np.arange(1, 4)
        at = {
            k: np.interp(ends, *batch_scaling.nqm_schedule_loss(h, sigma, 1.0, v))
            for k, v in sch.items()
        }
        gap = np.abs(at["grow"] / at["decay"] - 1)
        bound = np.max(lr * h / (2 - lr * h))
        assert np.all(gap <= bound)
        assert gap[0] == 0.0  # the first phase is the same run
        assert gap[-1] > 0.0  # later ones differ: same η/B is not the same run


def test_simulated_schedules_follow_the_exact_expected_loss():
    from lab.problems import hessian_noise_nqm

    nqm = hessian_noise_nqm(dim=8)
    h, sigma = nqm.h.numpy(), nqm.sigma.numpy()
    sch = batch_scaling.smith_schedules(0.1, 4, 2000, 4, 3)
    for k, (name, phases) in enumerate(sch.items()):
        sim = batch_scaling.nqm_schedule_sgd(nqm, phases, 400, lab.generator(k, "cpu"))
        ex, loss = batch_scaling.nqm_schedule_loss(h, sigma, 1.0, phases)
        assert np.array_equal(sim["examples"], ex)
        for i in (len(ex) // 3, 2 * len(ex) // 3, len(ex) - 1):
            assert abs(sim["loss"][i] - loss[i]) < 5 * sim["se"][i], (name, i)


@pytest.mark.parametrize(
    "args, name",
    [
        ((0.0, 8, 100, 2, 2), "lr"),
        ((0.1, 0, 100, 2, 2), "batch_size"),
        ((0.1, 8, 100, 1, 2), "factor"),
        ((0.1, 8, 100, 2, 0), "phases"),
        ((0.1, 8, 10, 2, 2), "examples_per_phase"),
    ],
)
def test_smith_schedules_reject_bad_arguments(args, name):
    with pytest.raises(ValueError, match=name):
        batch_scaling.smith_schedules(*args)


def test_schedule_functions_reject_a_malformed_schedule():
    with pytest.raises(ValueError, match="schedule"):
        batch_scaling.nqm_schedule_loss([1.0], [1.0], 1.0, [(0.1, 8)])
    with pytest.raises(ValueError, match="lr"):
        batch_scaling.nqm_schedule_loss([1.0], [1.0], 1.0, [(-0.1, 8, 10)])
    with pytest.raises(ValueError, match="schedule"):
        batch_scaling.nqm_schedule_loss([1.0], [1.0], 1.0, [])


# --- steps to a target against B --------------------------------------------------


def test_steps_to_target_is_the_first_step_below_the_target():
    problem = hessian_noise_nqm(dim=10)
    h, sigma = problem.h.numpy(), problem.sigma.numpy()
    lrs = np.array([0.05, 0.3, 0.6])
    S = batch_scaling.nqm_steps_to_target(h, sigma, 1.0, lrs, 4, 0.2)
    assert np.all(np.isfinite(S))
    for lr, s in zip(lrs, S):
        loss = batch_scaling.nqm_expected_loss(problem, np.ones(10), lr, 4, [s - 1, s])
        assert loss[1] <= 0.2 < loss[0], (lr, s)
    # beyond the stability limit, or a target below the noise floor (at η = 1.2 the
    # floor is 0.27): never reached
    for lr in (2.5, 1.2):
        assert np.isinf(batch_scaling.nqm_steps_to_target(h, sigma, 1.0, [lr], 4, 0.2))
    # without noise (B = ∞) never more steps than at any finite B
    inf_S = batch_scaling.nqm_steps_to_target(h, sigma, 1.0, lrs, math.inf, 0.2)
    assert np.all(inf_S <= S)


def test_steps_against_B_scale_perfectly_then_plateau_as_mccandlish_predicts():
    # The chapter's claims, on a coarser grid: S(B) = S_min (1 + B_crit/B) within 10%
    # (integer steps: S_min ≈ 19, so rounding alone is up to 5%), the best rate grows
    # like B well below B_crit, and past B_crit no rate makes up for the lost steps.
    problem = hessian_noise_nqm()
    h, sigma = problem.h.numpy(), problem.sigma.numpy()
    lrs = np.geomspace(1e-3, 1.999, 200)
    r = batch_scaling.nqm_critical_batch(h, sigma, 1.0, 4 ** np.arange(7), lrs, 0.05)
    B, S = r["batch_sizes"], r["steps"]
    assert np.all(np.abs(S / (r["S_min"] * (1 + r["B_crit"] / B)) - 1) <= 0.10)
    small = B <= r["B_crit"] / 16
    per_B = r["lr"][small] / B[small]
    assert per_B.max() / per_B.min() <= 1.10
    # B = 4 B_crit or more: perfect scaling from B = 4 would need fewer steps than
    # noise-free gradient descent at its best rate, a lower bound for every rate and B
    big = B >= 4 * r["B_crit"]
    perfect = S[B == 4][0] * 4 / B[big]
    assert np.all(perfect < r["S_min"]) and np.all(S[big] >= r["S_min"])


def test_steps_functions_reject_bad_input():
    with pytest.raises(ValueError, match="target"):
        batch_scaling.nqm_steps_to_target([1.0], [1.0], 1.0, [0.1], 1, 0.0)
    with pytest.raises(ValueError, match="lrs"):
        batch_scaling.nqm_steps_to_target([1.0], [1.0], 1.0, [0.0], 1, 0.1)
    with pytest.raises(ValueError, match="batch_size"):
        batch_scaling.nqm_steps_to_target([1.0], [1.0], 1.0, [0.1], 0, 0.1)
    with pytest.raises(ValueError, match="out of reach"):
        batch_scaling.nqm_critical_batch([1.0], [1.0], 1.0, [1], [0.1], 1e-6)


# --- N_μ in a training run ---------------------------------------------------------


def test_momentum_keep_or_scale_N_agree_when_stable_and_scaled_N_diverges_first():
    # Small version of the chapter's run (its batches 32 → 256 and 16384 examples, one
    # seed, two rates): at a small effective rate both rules reach the small-batch loss
    # within 25%; at a larger one the scaled N (1.25, whose stability limit
    # 2(2N − 1)/h_max is 13 times below that of N = 10) diverges (loss above ln 10,
    # worse than a uniform guess) while keeping N still trains. (A smaller version,
    # batch 8 → 64 on 4096 examples at 0.32, sat at the edge: its scaled run ended at
    # a loss of 1.0 or 1.4 depending on torch's thread count, neither trained nor
    # diverged; at these two rates the outcome is the same with one thread or two.)
    data = train.load_digits()
    r = batch_scaling.momentum_scaling_runs(
        data, [0.04, 0.64], batch_small=32, batch_large=256, examples=16384, seeds=1
    )
    assert r["k"] == 8 and r["N_scaled"] == 1.25
    for name in ("keep", "scale"):
        assert abs(r[name][0, 0] / r["small"][0, 0] - 1) <= 0.25, name
    assert r["scale"][1, 0] > math.log(10) > r["keep"][1, 0]


def test_momentum_scaling_runs_reject_bad_arguments():
    data = train.load_digits()
    with pytest.raises(ValueError, match="batch_large"):
        batch_scaling.momentum_scaling_runs(data, [0.1], batch_small=32, batch_large=48)
    with pytest.raises(ValueError, match="N/k"):
        batch_scaling.momentum_scaling_runs(data, [0.1], N=4.0)
    with pytest.raises(ValueError, match="lr_effective"):
        batch_scaling.momentum_scaling_runs(data, [0.0])
