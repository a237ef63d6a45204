"""Loss functions and populations the book experiments on.

:class:`Quadratic1D` is the lecture's one-dimensional example,
loss(β, y) = ½(β − y)² with y drawn from a population of mean μ and per-example
standard deviation σ. Everything about it is known in closed form, so the book can
put a simulation next to the exact answer. :class:`DoubleWell1D` is the smallest
non-convex problem with the same kind of gradient noise: two valleys to explore.
:class:`NoisyQuadratic` is the noisy quadratic model of Chapters 5–10, in dimension d;
:func:`scaled_nqm` (Chapter 5) and :func:`hessian_noise_nqm` (Chapter 8) build the two
instances the chapters use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import _checks

__all__ = [
    "Quadratic1D",
    "DoubleWell1D",
    "NoisyQuadratic",
    "scaled_nqm",
    "hessian_noise_nqm",
]


@dataclass(frozen=True)
class Quadratic1D:
    """loss(β, y) = ½(β − y)², y ~ N(μ, σ²) per example.

    Population gradient g(β) = β − μ; batch gradient ĝ(β) = β − ȳ with ȳ the mean of
    a batch of B draws; optimum β* = μ. Raises ``ValueError`` for a non-finite
    ``mean`` or a ``sigma`` that is not > 0.
    """

    mean: float = 0.0
    sigma: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "mean", _checks.real_in("mean", self.mean))
        object.__setattr__(self, "sigma", _checks.positive("sigma", self.sigma))

    @property
    def optimum(self) -> float:
        """β* = μ, where g(β*) = 0."""
        return self.mean

    def loss(self, beta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example loss ½(β − y)² (broadcasts)."""
        return 0.5 * (beta - y) ** 2

    def population_loss(self, beta: torch.Tensor) -> torch.Tensor:
        """E_y loss(β, y) = ½((β − μ)² + σ²)."""
        return 0.5 * ((beta - self.mean) ** 2 + self.sigma**2)

    def gradient(self, beta: torch.Tensor) -> torch.Tensor:
        """g = E_{y∼Pop} ∇_β loss = β − μ."""
        return beta - self.mean

    def sample(
        self, shape, generator: torch.Generator, dtype=torch.float64
    ) -> torch.Tensor:
        """Draws y of the given shape, on ``generator``'s device."""
        y = torch.randn(
            shape, generator=generator, device=generator.device, dtype=dtype
        )
        return self.mean + self.sigma * y

    def batch_gradient(
        self, beta: torch.Tensor, y: torch.Tensor, dim: int = -1
    ) -> torch.Tensor:
        """ĝ = E_{y∼Batch} ∇_β loss = β − mean of ``y`` along ``dim`` (the batch axis)."""
        return beta - y.mean(dim=dim)

    def gradient_variance(self, batch_size: int) -> float:
        """Var ĝ = σ²/B, the same at every β (the noise does not depend on β here)."""
        B = _checks.batch_size("batch_size", batch_size)
        return self.sigma**2 / B

    def sgd_mean(self, beta0: float, lr: float, t: torch.Tensor) -> torch.Tensor:
        """E β_t = μ + (1 − η)^t (β_0 − μ) for constant-step SGD (curvature h = 1)."""
        return self.mean + (1.0 - lr) ** t * (beta0 - self.mean)

    def sgd_variance(self, lr: float, batch_size: int, t: torch.Tensor) -> torch.Tensor:
        """Var β_t = η²σ²/B · (1 − (1 − η)^{2t}) / (1 − (1 − η)²), from a fixed β_0.

        The error e_t = β_t − μ obeys e_{t+1} = (1 − η) e_t + η(ȳ_t − μ), a linear
        recursion driven by independent noise of variance σ²/B.
        """
        lr = _checks.real_in("lr", lr, 0.0, 2.0, low_open=True, high_open=True)
        rho2 = (1.0 - lr) ** 2
        return lr**2 * self.gradient_variance(batch_size) * (1 - rho2**t) / (1 - rho2)

    def stationary_variance(self, lr: float, batch_size: int) -> float:
        """lim_t Var β_t = η σ² / (B (2 − η)), finite for 0 < η < 2.

        For small η this is ≈ η σ²/(2B): the learning rate acts as a temperature.
        Raises ``ValueError`` unless 0 < lr < 2 (outside that range SGD diverges).
        """
        lr = _checks.real_in("lr", lr, 0.0, 2.0, low_open=True, high_open=True)
        return lr * self.gradient_variance(batch_size) / (2.0 - lr)


@dataclass(frozen=True)
class DoubleWell1D:
    """A non-convex 1-D problem: two valleys, the left one deeper (for tilt > 0).

    loss(β, y) = a(β² − 1)² + tilt·β − yβ with y ~ N(0, σ²) per example, so the
    population loss is f(β) = a(β² − 1)² + tilt·β, g(β) = f′(β) = 4aβ(β² − 1) + tilt,
    and ĝ = g(β) − ȳ: the gradient noise is additive with variance σ²/B, as in
    :class:`Quadratic1D`. Raises ``ValueError`` for a ≤ 0, σ ≤ 0 or a non-finite tilt.
    """

    a: float = 1.0
    tilt: float = 0.25
    sigma: float = 4.0

    def __post_init__(self):
        object.__setattr__(self, "a", _checks.positive("a", self.a))
        object.__setattr__(self, "tilt", _checks.real_in("tilt", self.tilt))
        object.__setattr__(self, "sigma", _checks.positive("sigma", self.sigma))

    @property
    def mean(self) -> float:
        """E y = 0: the population the examples come from is centred."""
        return 0.0

    def loss(self, beta, y):
        """Per-example loss a(β² − 1)² + tilt·β − yβ (broadcasts)."""
        return self.population_loss(beta) - y * beta

    def population_loss(self, beta):
        """f(β) = E_y loss(β, y) = a(β² − 1)² + tilt·β (tensors or numpy arrays)."""
        return self.a * (beta * beta - 1) ** 2 + self.tilt * beta

    def gradient(self, beta):
        """g = f′(β) = 4aβ(β² − 1) + tilt."""
        return 4 * self.a * beta * (beta * beta - 1) + self.tilt

    def sample(
        self, shape, generator: torch.Generator, dtype=torch.float64
    ) -> torch.Tensor:
        """Draws y ~ N(0, σ²) of the given shape, on ``generator``'s device."""
        return self.sigma * torch.randn(
            shape, generator=generator, device=generator.device, dtype=dtype
        )

    def batch_gradient(self, beta, y, dim: int = -1):
        """ĝ = g(β) − ȳ with ȳ the batch mean of ``y`` along ``dim``."""
        return self.gradient(beta) - y.mean(dim=dim)

    def gradient_variance(self, batch_size: int) -> float:
        """Var ĝ = σ²/B at every β."""
        return self.sigma**2 / _checks.batch_size("batch_size", batch_size)

    def gibbs_density(self, grid, temperature: float):
        """The Gibbs density exp(−f(β)/T)/Z on an evenly spaced numpy ``grid``.

        Z is computed numerically on the grid (trapezoid-free Riemann sum, as the grid is
        fine). Raises ``ValueError`` for T ≤ 0.
        """
        import numpy as np

        T = _checks.positive("temperature", temperature)
        grid = np.asarray(grid, dtype=np.float64)
        f = self.population_loss(grid)
        q = np.exp(-(f - f.min()) / T)
        return q / (q.sum() * (grid[1] - grid[0]))


class NoisyQuadratic:
    """The noisy quadratic model: d independent coordinates with their own curvature and noise.

    Per-example loss ½ Σ_i h_i Φ_i² − Σ_i y_i Φ_i with y_i ~ N(0, σ_i²) independent, so the
    population loss is f(Φ) = ½ Σ_i h_i Φ_i² (optimum Φ* = 0), g_i = h_i Φ_i, and a batch
    of B examples gives ĝ_i = h_i Φ_i − ȳ_i with Var ĝ_i = σ_i²/B. Curvatures that span
    orders of magnitude make it the standard test bed for momentum, RMSProp and Adam
    and for batch-size scaling. ``Phi`` may carry leading dimensions (chains or
    configurations) before the last one, of size d. ``h`` and ``sigma`` are sequences of
    length d (or scalars with ``dim``, at most 10⁷). Raises ``ValueError`` for
    non-positive curvatures, negative noise or non-finite entries.
    """

    def __init__(
        self, h, sigma, dim: int | None = None, dtype=torch.float64, device="cpu"
    ):
        dtype = _checks.dtype("dtype", dtype)
        device = _checks.device("device", device)
        h = _checks.array("h", h, 0.0, low_open=True, ndim=(0, 1), max_size=10**7)
        sigma = _checks.array("sigma", sigma, 0.0, ndim=(0, 1), max_size=10**7)
        h, sigma = (torch.as_tensor(v, dtype=dtype).to(device) for v in (h, sigma))
        if dim is not None:
            d = _checks.size("dim", dim, 1, 10**7)
            if h.numel() not in (1, d) or sigma.numel() not in (1, d):
                raise ValueError(
                    f"h and sigma must be scalars or have dim = {d} entries"
                )
            h, sigma = h.expand(d).clone(), sigma.expand(d).clone()
        h, sigma = _checks.broadcast(h=h.reshape(-1), sigma=sigma.reshape(-1))
        if not (torch.isfinite(h).all() and (h > 0).all()):
            raise ValueError("h (curvatures) must be finite and > 0")
        if not (torch.isfinite(sigma).all() and (sigma >= 0).all()):
            raise ValueError("sigma must be finite and >= 0")
        self.h, self.sigma = h.clone(), sigma.clone()

    @property
    def dim(self) -> int:
        return self.h.numel()

    def population_loss(self, Phi: torch.Tensor) -> torch.Tensor:
        """f(Φ) = ½ Σ_i h_i Φ_i² (summed over the last dimension)."""
        return 0.5 * (self.h * Phi * Phi).sum(-1)

    def gradient(self, Phi: torch.Tensor) -> torch.Tensor:
        """g = h ⊙ Φ."""
        return self.h * Phi

    def sample(self, shape, generator: torch.Generator) -> torch.Tensor:
        """Examples y of shape ``(*shape, d)``, y_i ~ N(0, σ_i²), on the generator's device."""
        z = torch.randn(
            (*shape, self.dim),
            generator=generator,
            device=generator.device,
            dtype=self.h.dtype,
        )
        return self.sigma * z

    def batch_gradient(
        self, Phi: torch.Tensor, y: torch.Tensor, dim: int = -2
    ) -> torch.Tensor:
        """ĝ = h ⊙ Φ − ȳ with ȳ the mean of ``y`` over its batch axis ``dim``."""
        return self.gradient(Phi) - y.mean(dim=dim)

    def stochastic_gradient(
        self, Phi: torch.Tensor, batch_size: int, generator: torch.Generator
    ) -> torch.Tensor:
        """ĝ for a fresh batch of B examples, with ȳ drawn directly as N(0, σ²/B).

        Exactly the distribution of :meth:`batch_gradient` for this Gaussian population,
        at the cost of one draw per coordinate instead of B. Use it to set ``p.grad``
        before ``optimizer.step()``.
        """
        B = _checks.batch_size("batch_size", batch_size)
        z = torch.randn(
            Phi.shape, generator=generator, device=generator.device, dtype=Phi.dtype
        )
        return self.gradient(Phi) - (self.sigma / B**0.5).to(Phi.dtype) * z

    def gradient_variance(self, batch_size: int) -> torch.Tensor:
        """Var ĝ_i = σ_i²/B, per coordinate."""
        return self.sigma**2 / _checks.batch_size("batch_size", batch_size)


def scaled_nqm(
    kappa: float,
    dim: int = 8,
    sigma: float = 1.0,
    power: float = 1.0,
    dtype=torch.float64,
    device="cpu",
) -> NoisyQuadratic:
    """A :class:`~lab.problems.NoisyQuadratic` with curvatures :math:`h_i` log-spaced
    from 1 down to :math:`1/\\kappa`.

    The per-example noise is :math:`\\sigma_i = \\sigma\\,h_i^{p}` with ``power`` :math:`p`.
    :math:`p = 1`: coordinate :math:`i` is one and the same problem with its loss
    multiplied by :math:`h_i` (different *units* per coordinate). :math:`p = 1/2`: the
    gradient noise covariance is proportional to the Hessian (the Fisher ≈ Hessian
    picture of a well-specified model). Raises ``ValueError`` for :math:`\\kappa` outside
    [1, 10¹²], ``dim`` outside [1, 10⁷], :math:`\\sigma \\le 0` or :math:`p` outside [0, 2].
    """
    kappa = _checks.real_in("kappa", kappa, 1.0, 1e12)
    d = _checks.size("dim", dim, 1, 10**7)
    sigma = _checks.positive("sigma", sigma)
    power = _checks.real_in("power", power, 0.0, 2.0)
    h = np.logspace(0.0, -math.log10(kappa), d) if d > 1 else np.ones(1)
    return NoisyQuadratic(h, sigma * h**power, dtype=dtype, device=device)


def hessian_noise_nqm(noise: float = 1.0, dim: int = 50) -> NoisyQuadratic:
    """The chapter's noisy quadratic: h_i log-spaced in [10⁻³, 1], σ_i = noise·√h_i.

    Noise proportional to curvature (σ_i² ∝ h_i) is the setting of Zhang et al. (2019),
    where the gradient covariance equals the Hessian. Start from Φ_0 = (1, …, 1).
    Raises ``ValueError`` for noise ≤ 0 or ``dim`` outside [2, 10⁷].
    """
    noise = _checks.positive("noise", noise)
    d = _checks.size("dim", dim, 2, 10**7)
    h = np.logspace(-3, 0, d)
    return NoisyQuadratic(h, noise * np.sqrt(h))
