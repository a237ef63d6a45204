"""lab.problems.Quadratic1D against its closed forms."""

from __future__ import annotations

import pytest
import torch

import lab
from lab.problems import Quadratic1D


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": -1}, "sigma"),
        ({"mean": float("inf")}, "mean"),
    ],
)
def test_bad_parameters_raise_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Quadratic1D(**kwargs)


def test_batch_gradient_is_beta_minus_batch_mean_and_matches_autograd():
    p = Quadratic1D(mean=1.0, sigma=2.0)
    y = p.sample((7,), lab.generator(0))
    beta = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    p.loss(beta, y).mean().backward()
    assert torch.allclose(
        beta.grad, p.batch_gradient(beta.detach(), y), rtol=0, atol=1e-15
    )
    assert p.gradient(torch.tensor(p.optimum)) == 0


def test_population_loss_is_mean_of_per_example_losses():
    p = Quadratic1D(mean=-0.5, sigma=1.5)
    y = p.sample((400_000,), lab.generator(1))
    beta = torch.tensor(0.7, dtype=torch.float64)
    empirical = p.loss(beta, y).mean().item()
    # loss values are ½(β − y)²; their sd is below 2 here, so 5 s.e. ≈ 5·2/√n.
    assert abs(empirical - p.population_loss(beta).item()) < 5 * 2 / 400_000**0.5


def test_sgd_variance_tends_to_stationary_variance():
    p = Quadratic1D(sigma=3.0)
    t = torch.tensor([0.0, 1.0, 10_000.0], dtype=torch.float64)
    v = p.sgd_variance(0.3, 4, t)
    assert v[0] == 0
    assert torch.isclose(v[1], torch.tensor(0.3**2 * 9 / 4, dtype=torch.float64))
    assert abs(v[2].item() - p.stationary_variance(0.3, 4)) < 1e-12


@pytest.mark.parametrize("lr", [0.0, 2.0, -0.1, 3.0])
def test_stationary_variance_rejects_divergent_learning_rates(lr):
    with pytest.raises(ValueError, match="lr"):
        Quadratic1D().stationary_variance(lr, 1)


def test_stationary_variance_at_lr_one_is_batch_mean_variance():
    # At η = 1, β_{t+1} = ȳ_t exactly, so the variance is σ²/B.
    p = Quadratic1D(sigma=2.0)
    assert p.stationary_variance(1.0, 8) == pytest.approx(4.0 / 8, rel=1e-15)


@pytest.mark.parametrize("n, B", [(6, 1), (6, 2), (6, 4), (6, 6), (7, 3)])
def test_without_replacement_variance_of_exercise_1_2(n, B):
    # Exact enumeration of every batch drawn without replacement from n fixed values.
    import itertools
    from fractions import Fraction

    values = [Fraction(v) for v in (3, -1, 4, 1, -5, 9, 2)[:n]]
    mu = sum(values) / n
    sigma2 = sum((v - mu) ** 2 for v in values) / n  # population variance (divide by n)
    means = [sum(c) / B for c in itertools.combinations(values, B)]
    var = sum((m - mu) ** 2 for m in means) / len(means)
    assert var == sigma2 / B * Fraction(n - B, n - 1)


def test_double_well_gradient_matches_autograd_and_noise_is_additive():
    from lab.problems import DoubleWell1D

    p = DoubleWell1D(a=1.3, tilt=0.2, sigma=2.0)
    beta = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    p.population_loss(beta).sum().backward()
    assert torch.allclose(beta.grad, p.gradient(beta.detach()), atol=1e-12)
    y = p.sample((9, 5), lab.generator(0))
    assert torch.allclose(
        p.batch_gradient(beta.detach(), y), p.gradient(beta.detach()) - y.mean(-1)
    )
    # loss(β, y) = f(β) − yβ, so E_y loss = f (E y = 0).
    assert torch.allclose(
        p.loss(beta.detach(), torch.zeros(9, dtype=torch.float64)),
        p.population_loss(beta.detach()),
    )


def test_gibbs_density_is_normalised_and_favours_the_deep_valley():
    import numpy as np

    from lab.problems import DoubleWell1D

    p = DoubleWell1D()
    x = np.linspace(-2.6, 2.6, 2001)
    dx = x[1] - x[0]
    cold, hot = p.gibbs_density(x, 0.1), p.gibbs_density(x, 2.0)
    assert cold.sum() * dx == pytest.approx(1.0, abs=1e-12)
    assert cold[x < 0].sum() * dx > hot[x < 0].sum() * dx > 0.5
    with pytest.raises(ValueError, match="temperature"):
        p.gibbs_density(x, 0.0)


def test_noisy_quadratic_gradients_are_unbiased_with_variance_sigma2_over_B():
    from lab.problems import NoisyQuadratic
    from lab.simulate import variance_tolerance

    p = NoisyQuadratic(h=[1.0, 10.0, 100.0], sigma=[1.0, 0.5, 2.0])
    Phi = torch.tensor([0.3, -0.2, 0.01], dtype=torch.float64).expand(20_000, 3)
    g = lab.generator(0)
    for ghat in (
        p.stochastic_gradient(Phi, 4, g),
        p.batch_gradient(Phi, p.sample((20_000, 4), g), dim=-2),
    ):
        exact = p.gradient_variance(4)
        for i in range(3):
            assert abs(ghat[:, i].var().item() - exact[i].item()) <= variance_tolerance(
                exact[i].item(), 20_000
            )
            assert (
                abs(ghat[:, i].mean().item() - p.gradient(Phi[0])[i].item())
                <= 5 * (exact[i].item() / 20_000) ** 0.5
            )


def test_noisy_quadratic_population_loss_gradient_matches_autograd_and_rejects_bad_h():
    from lab.problems import NoisyQuadratic

    p = NoisyQuadratic(h=2.0, sigma=1.0, dim=4)
    Phi = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    p.population_loss(Phi).sum().backward()
    assert torch.allclose(Phi.grad, p.gradient(Phi.detach()))
    with pytest.raises(ValueError, match="h"):
        NoisyQuadratic(h=[1.0, 0.0], sigma=1.0)
    with pytest.raises(ValueError, match="sigma"):
        NoisyQuadratic(h=1.0, sigma=-1.0, dim=2)
