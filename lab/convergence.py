"""Chapter 2, the classical convergence theorem: learning-rate schedules and the exact
moments of SGD under them.

- :func:`power_schedule`: :math:`\\eta_t = c/t^p`; the finite-horizon schedules people
  use, :func:`step_decay_schedule`, :func:`cosine_schedule` and
  :func:`warmup_linear_schedule`;
- :func:`quadratic_moments`: the exact mean and variance of the error of SGD on a 1-D
  quadratic under any schedule (the recursions the chapter derives);
  :func:`final_errors` sweeps a schedule's peak rate, :func:`optimal_final_error` is
  the least error any schedule can reach, :func:`window_decades` how wide a range of
  peak rates comes close to it;
- the lecture's "rigor police": :func:`saddle_gradient` (a saddle that gradient descent
  converges to), :func:`ring_gradient` (a ring of minima along which SGD under
  η_t = c/√t never settles), :func:`noisy_descent_2d` to run both, and
  :func:`ring_angle_variance` (the predicted spread of the angle).
"""

from __future__ import annotations

import numpy as np
import torch

from lab import _checks

__all__ = [
    "power_schedule",
    "step_decay_schedule",
    "cosine_schedule",
    "warmup_linear_schedule",
    "quadratic_moments",
    "final_errors",
    "optimal_final_error",
    "window_decades",
    "saddle_loss",
    "saddle_gradient",
    "ring_loss",
    "ring_gradient",
    "noisy_descent_2d",
    "ring_angle_variance",
]


def power_schedule(c: float, p: float, steps: int) -> torch.Tensor:
    """η_t = c / t^p for t = 1..steps, shape (steps, 1), float64 (a schedule for SGD).

    p = 0 is a constant rate; p = 1 the classical c/t. Raises ``ValueError`` for c <= 0,
    p < 0, or steps outside [1, 10⁷].
    """
    c = _checks.positive("c", c)
    p = _checks.nonnegative("p", p)
    T = _checks.steps("steps", steps)
    t = torch.arange(1, T + 1, dtype=torch.float64)
    return (c / t**p).reshape(T, 1)


def quadratic_moments(lr, noise_variance: float, e0: float, curvature: float = 1.0):
    """Exact mean and variance of the error δ_t = Φ_t − Φ* of SGD on a 1-D quadratic.

    With curvature h and gradient noise of variance σ²/B per step,
    δ_{t+1} = (1 − h η_t) δ_t + η_t ξ_t gives the recursions
    m_{t+1} = (1 − h η_t) m_t and V_{t+1} = (1 − h η_t)² V_t + η_t² σ²/B, from
    m_0 = δ_0 (``e0``), V_0 = 0. ``lr`` is a 1-D sequence of η_t (or a (steps, 1)
    schedule). Returns two float64 numpy arrays (m_t, V_t) of length steps + 1;
    𝔼 δ_t² = m_t² + V_t. Raises ``ValueError`` for a negative noise variance or
    non-finite rates, more than 10⁷ of them, or moments
    that overflow.
    """

    V = _checks.nonnegative("noise_variance", noise_variance)
    e0 = _checks.real_in("e0", e0)
    h = _checks.positive("curvature", curvature)
    eta = _checks.array("lr", lr, ndim=(0, 1, 2), max_size=_checks.MAX_STEPS)
    eta = eta.reshape(-1)
    m = np.empty(eta.size + 1)
    v = np.empty(eta.size + 1)
    m[0], v[0] = e0, 0.0
    mt, vt = e0, 0.0
    # A plain loop over Python floats: exact recursion, ~0.3 µs a step.
    for t, et in enumerate(eta.tolist()):
        a = 1.0 - h * et
        mt, vt = a * mt, a * a * vt + et * et * V
        m[t + 1], v[t + 1] = mt, vt
    names = "lr, noise_variance, e0, curvature"
    return _checks.finite_result(m, names), _checks.finite_result(v, names)


def _plane(name: str, phi) -> torch.Tensor:
    """Points of the plane: a finite floating tensor whose last axis has size 2, with
    coordinates below 10¹⁵⁰ (so that the quartic losses stay finite)."""
    phi = _checks.tensor(name, phi)
    if phi.dim() == 0 or phi.shape[-1] != 2:
        raise ValueError(
            f"{name} must have a last axis of size 2, got {tuple(phi.shape)}"
        )
    if bool((phi.abs() > 1e75).any()):
        raise ValueError(f"{name} must have coordinates in [-1e75, 1e75]")
    return phi


def _horizon(lr: float, steps: int) -> tuple[float, np.ndarray]:
    lr = _checks.positive("lr", lr)
    S = _checks.steps("steps", steps)
    return lr, np.arange(1, S + 1, dtype=np.float64)


def _as_schedule(eta: np.ndarray) -> torch.Tensor:
    _checks.finite_result(eta, "lr", "the rates overflow: lower lr")
    return torch.as_tensor(eta, dtype=torch.float64).reshape(-1, 1)


def step_decay_schedule(
    lr: float, steps: int, milestones=(0.5, 0.75), gamma: float = 0.1
) -> torch.Tensor:
    """Step decay over S = ``steps`` steps: η_t = lr · γ^k after the k-th milestone.

    ``milestones`` are fractions of S (torch's ``MultiStepLR`` with milestones at
    those steps): the default drops the rate tenfold at S/2 and again at 3S/4. Returns
    a (steps, 1) float64 schedule for t = 1..S. Raises ``ValueError`` for lr <= 0,
    steps outside [1, 10⁷], γ outside (0, 1], milestones outside (0, 1) or more
    than 1000 of them.
    """
    lr, t = _horizon(lr, steps)
    gamma = _checks.real_in("gamma", gamma, 0.0, 1.0, low_open=True)
    fractions = (
        _checks.array(
            "milestones",
            milestones,
            0.0,
            1.0,
            low_open=True,
            high_open=True,
            ndim=(0, 1),
            max_size=1000,
        )
        .reshape(-1)
        .tolist()
    )
    drops = sum((t > m * t.size).astype(np.float64) for m in fractions)
    return _as_schedule(lr * gamma**drops)


def cosine_schedule(lr: float, steps: int, warmup: int = 0) -> torch.Tensor:
    """Cosine decay to zero over S = ``steps`` steps, after an optional linear warm-up.

    η_t = lr · t/W for t ≤ W (``warmup``), then
    η_t = lr · (1 + cos(π (t − W − 1)/(S − W)))/2: lr at the first step after the
    warm-up, falling to nearly 0 at t = S (torch's ``CosineAnnealingLR`` with
    T_max = S − W). Returns a (steps, 1) float64 schedule. Raises ``ValueError`` for
    lr <= 0, steps outside [1, 10⁷] or a warm-up outside 0..steps − 1.
    """
    lr, t = _horizon(lr, steps)
    W = _checks.integer_at_least("warmup", warmup, 0, t.size - 1)
    # (1 + cos)/2 first: the same number (halving is exact) and no overflow
    decay = lr * ((1 + np.cos(np.pi * (t - W - 1) / (t.size - W))) / 2)
    return _as_schedule(np.where(t <= W, lr * t / max(W, 1), decay))


def warmup_linear_schedule(lr: float, steps: int, warmup: int = 0) -> torch.Tensor:
    """Linear warm-up to ``lr`` over W steps, then linear decay to zero at S = ``steps``.

    η_t = lr · min(t/W, (S − t + 1)/(S − W)): the schedule of most transformer
    training recipes (warm-up, then linear decay). The last step has η_S = lr/(S − W).
    Returns a (steps, 1) float64 schedule. Raises ``ValueError`` for lr <= 0,
    steps outside [1, 10⁷] or a warm-up outside 0..steps − 1.
    """
    lr, t = _horizon(lr, steps)
    W = _checks.integer_at_least("warmup", warmup, 0, t.size - 1)
    up = t / W if W > 0 else np.full_like(t, np.inf)
    return _as_schedule(lr * np.minimum(up, (t.size - t + 1) / (t.size - W)))


def final_errors(
    make_schedule,
    peaks,
    steps: int,
    noise_variance: float,
    e0: float,
    curvature: float = 1.0,
) -> np.ndarray:
    """𝔼 δ_S² after S = ``steps`` steps of each schedule ``make_schedule(peak, steps)``.

    The exact final mean squared error of SGD on the 1-D quadratic (curvature h, noise
    σ²/B per step, start δ_0 = ``e0``; :func:`quadratic_moments`) for every peak rate
    (or constant c) in ``peaks``: a sweep of one schedule over its one knob. Returns a
    float64 array shaped like ``peaks``. Raises ``ValueError`` for an empty or
    non-positive ``peaks``, ``steps`` outside [1, 10⁷], len(peaks) × steps over 10⁸,
    a schedule whose length is not ``steps`` or whose rates are not finite numbers,
    the errors of :func:`quadratic_moments`, or errors that overflow.
    """
    make_schedule = _checks.function("make_schedule", make_schedule)
    S = _checks.steps("steps", steps)
    peaks = _checks.real_array("peaks", peaks, 0.0, low_open=True)
    if peaks.size == 0:
        raise ValueError("peaks must hold at least one rate")
    _checks.work("len(peaks) × steps", peaks.size * S, _checks.MAX_ELEMENTS)
    _checks.nonnegative("noise_variance", noise_variance)
    _checks.real_in("e0", e0)
    _checks.positive("curvature", curvature)
    names = "peaks, noise_variance, e0, curvature"
    out = np.empty(peaks.shape)
    for i, peak in np.ndenumerate(peaks):
        eta = _checks.array(
            "make_schedule(peak, steps)", make_schedule(float(peak), S)
        ).reshape(-1)
        if eta.size != S:
            raise ValueError(
                f"make_schedule must return {S} rates (steps), got {eta.size}"
            )
        try:
            m, v = quadratic_moments(eta, noise_variance, e0, curvature)
        except ValueError as err:  # the inputs are checked: only overflow is left
            raise ValueError(f"{names}: {err}") from None
        with np.errstate(over="ignore"):
            out[i] = m[-1] ** 2 + v[-1]
    return _checks.finite_result(out, names)


def optimal_final_error(steps: int, noise_variance: float, e0: float) -> float:
    """The least 𝔼 δ_S² any schedule reaches in S steps: 1/(1/δ_0² + S B/σ²).

    On the quadratic of curvature 1, δ_S = a_0 δ_0 + Σ_t a_t ξ_t with weights that
    add up to one whatever the rates (a telescoping product), so
    𝔼 δ_S² = a_0² δ_0² + (σ²/B) Σ a_t² is least for equal a_t and
    a_0 = a_t σ²/(B δ_0²): a running mean that counts the start as σ²/(B δ_0²)
    examples, η_t = 1/(t + σ²/(B δ_0²)). About σ²/(BS) for large S
    (the c/t schedule with c = 1 gives σ²/(BS) exactly). Raises ``ValueError`` for
    steps outside [1, 10¹⁵] (a closed form: no work grows with it), a noise variance
    <= 0 or δ_0 = 0.
    """
    S = _checks.steps("steps", steps, 1, 10**15)
    V = _checks.positive("noise_variance", noise_variance)
    e0 = _checks.real_in("e0", e0)
    if e0 == 0:
        raise ValueError("e0 must be nonzero (from the optimum, no step can help)")
    e0_sq = e0 * e0  # e0**2, but inf (not OverflowError) past the floats
    if e0_sq == 0.0:
        return 0.0  # δ_0² underflows: the bound, about δ_0², is 0 in floats
    return float(_checks.finite_result(1.0 / (1.0 / e0_sq + S / V), "noise_variance"))


def window_decades(peaks, errors, limit: float) -> float:
    """How many decades of peak rate keep the error within ``limit``: log10(max/min)
    of the ``peaks`` whose ``errors`` are at most ``limit`` (0 if one or none).

    The peaks must be increasing. Raises ``ValueError`` for shapes that differ, peaks
    that are not positive and increasing, or a non-positive limit.
    """
    peaks = _checks.real_array("peaks", peaks, 0.0, low_open=True)
    errors = _checks.real_array("errors", errors)
    limit = _checks.positive("limit", limit)
    if peaks.shape != errors.shape or peaks.ndim != 1:
        raise ValueError(
            f"peaks and errors must be 1-D of one length, got {peaks.shape} "
            f"and {errors.shape}"
        )
    if np.any(np.diff(peaks) <= 0):
        raise ValueError("peaks must be increasing")
    inside = peaks[errors <= limit]
    if inside.size <= 1:
        return 0.0
    ratio = inside.max() / inside.min()
    if not np.isfinite(ratio):  # the ratio overflows; its logarithm does not
        return float(np.log10(inside.max()) - np.log10(inside.min()))
    return float(np.log10(ratio))


def saddle_loss(phi: torch.Tensor) -> torch.Tensor:
    """f(x, y) = x²/2 + y⁴/4 − y²/2 over the last axis of ``phi``: a saddle at the
    origin (f = 0, curvatures +1 and −1) between two minima at (0, ±1) (f = −1/4)."""
    phi = _plane("phi", phi)
    x, y = phi[..., 0], phi[..., 1]
    return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2


def saddle_gradient(phi: torch.Tensor) -> torch.Tensor:
    """∇f of :func:`saddle_loss`: (x, y³ − y). The x axis (y = 0) is the saddle's
    stable manifold: gradient descent started on it stays on it."""
    phi = _plane("phi", phi)
    x, y = phi[..., 0], phi[..., 1]
    return torch.stack([x, y**3 - y], dim=-1)


def ring_loss(phi: torch.Tensor) -> torch.Tensor:
    """f(Φ) = (‖Φ‖ − 1)²/2 over the last axis of ``phi``: zero on the unit circle, a
    ring of minima."""
    phi = _plane("phi", phi)
    return 0.5 * (phi.norm(dim=-1) - 1.0) ** 2


def ring_gradient(phi: torch.Tensor) -> torch.Tensor:
    """∇f of :func:`ring_loss`: (1 − 1/‖Φ‖)Φ, radial, with curvature 1 across the ring
    (so SGD with η < 2 cannot diverge; the origin, where f has a kink, is taken as
    ‖Φ‖ = 1e-300)."""
    phi = _plane("phi", phi)
    r = phi.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return (1.0 - 1.0 / r) * phi


def noisy_descent_2d(gradient, start, lr, noise: float, chains: int, at, generator):
    """SGD in the plane: Φ_{t+1} = Φ_t − η_t (∇f(Φ_t) + σ ξ_t), ξ_t ~ N(0, I₂).

    ``gradient`` maps (chains, 2) to (chains, 2); ``start`` is Φ₀ (two numbers, shared
    by all chains); ``lr`` the schedule η_1..η_T (a 1-D sequence or a (T, 1) tensor, as
    :func:`power_schedule` returns); ``noise`` σ (0 gives gradient descent); ``at`` the
    steps t (0..T) to record. Returns ``(phi, angle)``: Φ_t at those steps, shape
    (len(at), chains, 2), and the angle of Φ_t about the origin, unwrapped (it counts
    whole turns), shape (len(at), chains). float64, on ``generator``'s device. Raises
    ``ValueError`` for a negative σ, chains outside [1, 10⁶], more than 10⁷ rates,
    T × chains over 10⁹, a step outside 0..T or non-finite rates, and ``ValueError``
    (also a ``FloatingPointError``) if a run leaves the finite numbers.
    """
    gradient = _checks.function("gradient", gradient)
    noise = _checks.nonnegative("noise", noise)
    chains = _checks.chains("chains", chains)
    generator = _checks.generator("generator", generator)
    device = generator.device
    lr = _checks.array("lr", lr, ndim=(1, 2), max_size=_checks.MAX_STEPS)
    if lr.size == 0:
        raise ValueError("lr must hold at least one rate η_t, got an empty schedule")
    eta = lr.reshape(-1).tolist()
    T = len(eta)
    _checks.work("len(lr) × chains", T * chains)
    at = _checks.array("at", at, ndim=1)
    if np.any((at < 0) | (at > T)):
        raise ValueError(
            f"at must hold steps in [0, T] with T = len(lr) = {T}, got {at.tolist()!r:.80}"
        )
    at = [_checks.integer_at_least("at", t, 0, T) for t in at.tolist()]
    start = _checks.real_array("start", start)
    if start.shape != (2,):
        raise ValueError(f"start must hold two numbers, got shape {start.shape}")
    phi = torch.tensor(start, dtype=torch.float64, device=device).repeat(chains, 1)
    angle = torch.atan2(phi[:, 1], phi[:, 0])
    wanted = {t: i for i, t in enumerate(at)}
    out_phi = torch.empty(len(at), chains, 2, dtype=torch.float64, device=device)
    out_angle = torch.empty(len(at), chains, dtype=torch.float64, device=device)
    for t in range(T + 1):
        if t in wanted:
            out_phi[wanted[t]], out_angle[wanted[t]] = phi, angle
        if t == T:
            break
        g = _gradient_at(gradient, phi, t)
        if noise > 0:
            g = g + noise * torch.randn(
                phi.shape, dtype=torch.float64, device=device, generator=generator
            )
        new = phi - eta[t] * g
        if not bool(torch.isfinite(new).all()):
            raise _checks.Diverged("lr, start, noise: a run diverged: lower them")
        # the turn from Φ_t to Φ_{t+1}, in (−π, π]: summed, it unwraps the angle
        cross = phi[:, 0] * new[:, 1] - phi[:, 1] * new[:, 0]
        angle = angle + torch.atan2(cross, (phi * new).sum(-1))
        phi = new
    if not (torch.isfinite(out_phi).all() and torch.isfinite(out_angle).all()):
        raise _checks.Diverged("lr, start: a run diverged: lower the learning rate")
    return out_phi, out_angle


def _gradient_at(gradient, phi: torch.Tensor, t: int) -> torch.Tensor:
    """``gradient(phi)``, checked to be a tensor shaped like ``phi``; an error it raises
    at Φ_t names the arguments that brought the run there."""
    try:
        g = gradient(phi)
    except ValueError as err:
        raise ValueError(
            f"start, lr, noise: gradient rejected Φ_t at step {t} ({err})"
        ) from err
    if not isinstance(g, torch.Tensor) or g.shape != phi.shape:
        raise TypeError(
            f"gradient must map a (chains, 2) tensor to one of that shape, got {g!r:.80}"
        )
    return g


def ring_angle_variance(lr, noise: float) -> np.ndarray:
    """Predicted Var θ_t of SGD's angle along the ring of :func:`ring_loss`: σ² Σ_{k≤t} η_k².

    On the ring the gradient is radial, so the angle moves only by the noise's
    tangential part, η_k σ ξ_k per step (to first order in η, with ‖Φ‖ ≈ 1): a random
    walk whose variance is the running sum of η_k² σ². It stays bounded when
    Σ η_t² < ∞ (the angle converges) and grows without bound otherwise (the run
    circles the ring forever, while the loss tends to 0). Returns the values for
    t = 0..T (length T + 1). Raises ``ValueError`` for σ < 0, non-finite rates, more
    than 10⁷ of them, or a variance that overflows.
    """
    noise = _checks.nonnegative("noise", noise)
    eta = _checks.array("lr", lr, ndim=(0, 1, 2), max_size=_checks.MAX_STEPS).reshape(
        -1
    )
    out = noise * noise * np.concatenate([[0.0], np.cumsum(eta**2)])
    return _checks.finite_result(out, "lr, noise")
