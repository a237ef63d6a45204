"""Chapter 7 (Adam): bias corrections, step sizes, epsilon, and the explorer's simulator,
each against lab.optim.Adam or a closed form, with derived tolerances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lab
from lab import adam, optim, running_averages, train
from lab.widgets import adam_state


@pytest.mark.parametrize("correction", ["none", "min", "adam"])
@pytest.mark.parametrize("N_g, N_s", [(10, 1000), (100, 1000), (3, 50)])
def test_constant_gradient_steps_of_lab_optim_adam_match_the_closed_form(
    correction, N_g, N_s
):
    Phi = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = optim.Adam(
        [Phi], lr=1.0, N_g=N_g, N_s=N_s, eps=0.0, bias_correction=correction
    )
    steps = []
    for _ in range(300):
        before = Phi.item()
        Phi.grad = torch.full_like(Phi, -2.5)
        opt.step()
        steps.append(Phi.item() - before)
    predicted = adam.adam_constant_gradient_step(
        np.arange(1, 301), N_g, N_s, correction
    )
    assert np.allclose(steps, predicted, rtol=1e-9, atol=1e-9)  # float64 round-off


def test_uncorrected_first_step_is_sqrt_Ns_over_Ng_for_any_gradient():
    g = torch.randn(1000, generator=lab.generator(0), dtype=torch.float64) * 10
    Phi = torch.zeros(1000, dtype=torch.float64, requires_grad=True)
    opt = optim.Adam([Phi], lr=0.01, N_g=10, N_s=1000, eps=0.0, bias_correction="none")
    Phi.grad = g
    opt.step()
    assert torch.allclose(
        -Phi.detach(), 0.01 * np.sqrt(1000) / 10 * torch.sign(g), rtol=1e-12
    )


def test_largest_uncorrected_step_with_default_betas_is_about_6_5_eta_at_t_12():
    s = adam.adam_constant_gradient_step(np.arange(1, 5000), 10, 1000)
    assert s[0] == pytest.approx(np.sqrt(10))
    assert s.max() == pytest.approx(6.57, abs=0.01) and s.argmax() + 1 == 12


@pytest.mark.parametrize("N", [2, 10, 100, 1000])
def test_adam_and_min_weights_differ_by_at_most_one_over_one_minus_beta_to_N_at_t_N(N):
    t = np.arange(1, 8 * N)
    ratio = np.array(
        [
            running_averages.running_average_weight(int(k), N, "adam")
            / running_averages.running_average_weight(int(k), N, "min")
            for k in t
        ]
    )
    assert ratio.max() == pytest.approx(1 / (1 - (1 - 1 / N) ** N), rel=1e-12)
    assert t[ratio.argmax()] == N
    assert ratio.min() >= 1 - 1e-12
    assert 1 / (1 - (1 - 1 / N) ** N) <= 1 / (1 - np.exp(-1)) + 1e-12


def test_adam_nqm_simulator_equals_lab_optim_adam():
    rng = np.random.default_rng(0)
    T, C, d = 40, 3, 4
    h = np.array([0.01, 0.1, 1.0, 0.0])
    sd = np.array([0.1, 0.3, 1.0, 0.5])
    z = rng.standard_normal((T, C, d))
    r = adam.adam_nqm(h, sd, 1.0, z, 0.05, 10, 100, 1e-8)
    for k, correction in enumerate(["min", "adam", "none"]):
        P = torch.ones(C, d, dtype=torch.float64, requires_grad=True)
        opt = optim.Adam(
            [P],
            lr=0.05,
            N_g=10,
            N_s=100,
            eps=1e-8,
            bias_correction=correction,
            impl="reference",
        )
        for t in range(T):
            P.grad = torch.as_tensor(h * P.detach().numpy() - sd * z[t])
            opt.step()
        loss = 0.5 * (h * P.detach().numpy() ** 2).sum(-1).mean()
        assert r["loss"][k, -1] == pytest.approx(loss, rel=1e-10)


def test_stationary_step_is_eta_g_over_root_g2_plus_sigma2():
    g_values = np.array([0.1, 1.0, 10.0])
    chains, N_g, N_s, T = 2000, 10, 50, 150
    gen = lab.generator(7)
    Phi = torch.zeros(chains, 3, dtype=torch.float64, requires_grad=True)
    opt = optim.Adam([Phi], lr=1.0, N_g=N_g, N_s=N_s, eps=0.0)
    gt = torch.as_tensor(g_values)
    for _ in range(T):
        before = Phi.detach().clone()
        Phi.grad = gt + torch.randn(chains, 3, generator=gen, dtype=torch.float64)
        opt.step()
    step = (before - Phi.detach()).numpy()
    mean, se = step.mean(0), step.std(0, ddof=1) / np.sqrt(chains)
    Es = g_values**2 + 1
    var_s = (2 + 4 * g_values**2) / (2 * N_s - 1)
    cov = 2 * g_values / (N_g * N_s) / (1 - (1 - 1 / N_g) * (1 - 1 / N_s))
    second = np.abs(0.5 * cov / Es**1.5) + np.abs(0.375 * g_values * var_s / Es**2.5)
    # 5 standard errors (independent runs) plus the dropped second-order terms
    assert np.all(
        np.abs(mean - adam.adam_stationary_step(1.0, g_values, 1.0)) <= 5 * se + second
    )


def test_eps_turns_tiny_gradients_into_sgd_steps():
    eps = 1e-8
    g = np.array([1e-12, 1e-9, 1e-8, 1e-6])
    Phi = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = optim.Adam([Phi], lr=1.0, eps=eps)
    Phi.grad = torch.as_tensor(g)
    opt.step()
    assert np.allclose(-Phi.detach().numpy(), g / (g + eps), rtol=1e-12)
    assert np.allclose(adam.adam_stationary_step(1.0, g, 0.0, eps), g / (g + eps))


def test_adaptive_methods_beat_sgd_and_momentum_on_the_digits_mlp():
    """Small version of the chapter's comparison: one seed, four learning rates each."""
    torch.set_num_threads(1)
    data = train.load_digits()
    grids = {
        "SGD": np.geomspace(0.1, 1.0, 4),
        "AveragedMomentum": np.geomspace(0.1, 1.0, 4),
        "RMSProp": np.geomspace(3e-3, 0.03, 4),
        "Adam": np.geomspace(3e-3, 0.03, 4),
    }
    extra = {
        "SGD": {},
        "AveragedMomentum": {"N": 10.0},
        "RMSProp": {"N_s": 100.0},
        "Adam": {"N_g": 10.0, "N_s": 100.0},
    }
    configs = [
        dict(optimizer=k, lr=float(x), **extra[k]) for k, g in grids.items() for x in g
    ]
    r = train.digits_sweep(configs, data, steps=200, batch_size=32, hidden=32, seed=0)
    best = (
        np.where(np.isfinite(r["final_loss"]), r["final_loss"], np.inf)
        .reshape(4, 4)
        .min(1)
    )
    assert min(best[2], best[3]) * 1.5 <= min(best[0], best[1]), best


@pytest.mark.parametrize(
    "name, value", [("N_g", 0.5), ("N_s", 0.0), ("lr", 0.0), ("bias_correction", "max")]
)
def test_adam_state_rejects_out_of_range_values(name, value):
    with pytest.raises(ValueError, match=name):
        adam_state(**{name: value})


def test_adam_state_first_step_of_uncorrected_run_is_predicted():
    # eps = 0 makes the first step exact: |ΔΦ₁| = η√N_s/N_g (float64 round-off only)
    s = adam_state(N_g=10, N_s=1000, bias_correction="none", eps=0.0)
    assert np.allclose(s["step"][0], np.sqrt(1000) / 10, rtol=1e-12)
    s = adam_state(bias_correction="min", eps=0.0)
    assert np.allclose(s["step"][0], 1.0, rtol=1e-12)


def test_adam_constant_gradient_step_rejects_bad_input():
    with pytest.raises(ValueError, match="t must"):
        adam.adam_constant_gradient_step(np.array([0]), 10, 100)
    with pytest.raises(ValueError, match="bias_correction"):
        adam.adam_constant_gradient_step(np.array([1]), 10, 100, "max")
