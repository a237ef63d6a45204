"""Chapter 8, scaling η, N_μ and N_s with the batch size B.

Three rules of the lecture, each with the code that checks it:

* **η_B = B η_1.** On the noisy quadratic model (:class:`~lab.problems.NoisyQuadratic`)
  the expected loss of SGD is known in closed form (:func:`nqm_expected_loss`), so the
  loss after a budget of examples can be compared across batch sizes instantly; the
  rule breaks when η_B reaches the stability limit 2/h_max, at the batch size
  B_stab = 2/(η_1 h_max) (:func:`stability_batch_size`). McCandlish et al.'s noise scale
  B_noise = tr(HΣ)/(GᵀHG) is a different quantity: at SGD's stationary point it is
  ≈ 2/(η_1 h̄) ≥ B_stab (:func:`nqm_noise_scale`, :func:`nqm_stationary_noise_scale`,
  :func:`noise_weighted_curvature`).
* **Grow the batch instead of decaying η** (Smith et al., 2018): the two schedules of
  :func:`smith_schedules` give nearly the same loss per example
  (:func:`nqm_schedule_loss` exactly, :func:`nqm_schedule_sgd` by simulation), and the
  growing batch takes far fewer updates.
* **N_{μ,B} = N_{μ,1}/B.** A running average over N batches of B examples covers N·B
  gradients (:func:`scaled_momentum_N`, :func:`running_average_memory`).
* **N_s counts examples.** E ĝ_B[i]² = g[i]² + σ[i]²/B depends on B, the mean of the
  per-example squares g_j[i]² does not (:func:`per_example_gradients`,
  :func:`second_moment_estimates`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _checks
from .problems import NoisyQuadratic

__all__ = [
    "nqm_second_moment",
    "nqm_expected_loss",
    "nqm_loss_after_examples",
    "stability_limit",
    "stability_batch_size",
    "nqm_noise_scale",
    "nqm_stationary_noise_scale",
    "noise_weighted_curvature",
    "smith_schedules",
    "nqm_schedule_loss",
    "nqm_schedule_sgd",
    "scaled_momentum_N",
    "running_average_memory",
    "per_example_gradients",
    "second_moment_estimates",
    "hessian_max_eigenvalue",
    "nqm_steps_to_target",
    "nqm_critical_batch",
    "momentum_scaling_runs",
]

#: Exponents above this are clipped: e^700 is finite in float64, e^710 is not.
_MAX_EXPONENT = 700.0
#: The most power iterations of :func:`hessian_max_eigenvalue`.
MAX_ITERS = 10**4
#: The most phases of :func:`smith_schedules`, and the most examples per phase.
MAX_PHASES = 64
MAX_EXAMPLES_PER_PHASE = 10**12
#: Step counts of :func:`nqm_steps_to_target` are exact floats up to 2**53.
MAX_TARGET_STEPS = 2**53
#: The most seeds (initialisations) of :func:`momentum_scaling_runs`.
MAX_SEEDS = 8


def _like(name: str, value, shape) -> np.ndarray:
    """``value`` (finite, a number or 1-D) broadcast to ``shape``, or a ``ValueError``."""
    a = _checks.array(name, value, ndim=(0, 1))
    try:
        return np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(
            f"{name} must be a number or have shape {shape}, got shape {a.shape}"
        ) from None


def _nqm(problem) -> tuple[np.ndarray, np.ndarray]:
    """(h, sigma) of a :class:`~lab.problems.NoisyQuadratic`, as float64 arrays."""
    problem = _checks.instance("problem", problem, NoisyQuadratic)
    h = problem.h.detach().cpu().numpy().astype(np.float64)
    return h, problem.sigma.detach().cpu().numpy().astype(np.float64)


def _batch_sizes(name: str, values) -> list[int]:
    """``values``: a 1-D sequence of batch sizes (integers in [1, 10**12])."""
    a = _checks.array(name, values, ndim=1, max_size=10**6)
    if a.size == 0:
        raise ValueError(f"{name} must not be empty")
    return [_checks.batch_size(name, b) for b in a]


def nqm_second_moment(h, sigma, phi0, lr: float, batch_size: int, steps) -> np.ndarray:
    """E Φ_t[i]² of constant-step SGD on the noisy quadratic model, in closed form.

    Coordinate i follows Φ_{t+1} = a Φ_t + η ξ_t with a = 1 − η h_i and ξ_t ~ (0, σ_i²/B)
    independent, so

        E Φ_t² = a^{2t} Φ_0² + η² σ_i²/B · (1 − a^{2t}) / (1 − a²)

    (t η² σ_i²/B when a² = 1). ``h``, ``sigma``, ``phi0``: length-d sequences (or
    tensors); ``steps``: an integer or array of step counts. Returns an array of shape
    ``(*steps.shape, d)``. A diverging coordinate (``|a| > 1``) grows like a^{2t}; its exponent
    is clipped at 700 so the result stays finite (about 1e304). Raises ``ValueError`` for
    η < 0, B < 1 (or > 10**12), negative steps, non-finite inputs, shapes that do not
    broadcast, more than 10**8 results, or a result that overflows.
    """
    h, sigma, phi0 = _checks.broadcast(
        h=_checks.array("h", h, ndim=(0, 1)),
        sigma=_checks.array("sigma", sigma, ndim=(0, 1)),
        phi0=_checks.array("phi0", phi0, ndim=(0, 1)),
    )
    lr = np.float64(_checks.nonnegative("lr", lr))  # lr**2 may overflow: to inf
    B = _checks.batch_size("batch_size", batch_size)
    t = _checks.array("steps", steps, 0.0)
    _checks.work("steps × len(h)", t.size * h.size, _checks.MAX_ELEMENTS)
    t = t[..., None]
    a2 = (1.0 - lr * h) ** 2
    log_a2 = np.log(np.maximum(a2, 1e-300))
    decay = np.exp(np.minimum(t * log_a2, _MAX_EXPONENT))  # a^{2t}
    noise = lr**2 * sigma**2 / B
    one_minus_a2 = 1.0 - a2
    near_one = np.abs(one_minus_a2) < 1e-12
    # (1 − a^{2t})/(1 − a²) = Σ_{k<t} a^{2k}; its a² → 1 limit is t.
    geometric = np.where(
        near_one, t, (1.0 - decay) / np.where(near_one, 1.0, one_minus_a2)
    )
    moment = decay * phi0**2 + noise * geometric
    return _checks.finite_result(moment, "h, sigma, phi0, lr, steps")


def nqm_expected_loss(
    problem: NoisyQuadratic, phi0, lr: float, batch_size: int, steps
) -> np.ndarray:
    """E f(Φ_t) = ½ Σ_i h_i E Φ_t[i]² for SGD with learning rate η and batch size B.

    Exact for any population whose per-example noise has variance σ_i² (not only
    Gaussian): only the first two moments enter. ``phi0`` is a length-d start (or a
    number). Returns an array shaped like ``steps``. See :func:`nqm_second_moment`.
    """
    h, sigma = _nqm(problem)
    m2 = nqm_second_moment(
        h, sigma, _like("phi0", phi0, h.shape), lr, batch_size, steps
    )
    return _checks.finite_result(0.5 * (m2 * h).sum(-1), "phi0, lr, steps")


def nqm_loss_after_examples(
    problem: NoisyQuadratic, phi0, lr_1: float, batch_sizes, examples
) -> np.ndarray:
    """E f after a budget of examples, with the linear scaling rule η_B = B η_1.

    For each B in ``batch_sizes`` and each budget E in ``examples`` (multiples of B are
    exact; otherwise ⌊E/B⌋ steps are taken), SGD runs ⌊E/B⌋ steps at η_B = B η_1.
    Returns an array of shape (len(batch_sizes), len(examples)). Raises ``ValueError``
    for η_1 ≤ 0, batch sizes that are not integers in [1, 10**12], negative budgets,
    more than 10**8 results, or a loss that overflows.
    """
    h, _ = _nqm(problem)
    _like("phi0", phi0, h.shape)
    lr_1 = _checks.positive("lr_1", lr_1)
    Bs = _batch_sizes("batch_sizes", batch_sizes)
    E = _checks.array("examples", examples, 0.0)
    _checks.work(
        "len(batch_sizes) × examples × len(h)",
        len(Bs) * E.size * h.size,
        _checks.MAX_ELEMENTS,
    )
    rows = []
    for B in Bs:
        lr_B = _checks.finite_result(B * lr_1, "lr_1, batch_sizes")
        try:
            rows.append(nqm_expected_loss(problem, phi0, lr_B, B, np.floor(E / B)))
        except ValueError as err:
            raise ValueError(f"lr_1, batch_sizes, examples: {err}") from None
    return np.array(rows)


def stability_limit(h) -> float:
    """η_max = 2/h_max: constant-step gradient descent on a quadratic diverges beyond it.

    Along the stiffest direction the error is multiplied by 1 − η h_max each step;
    ``|1 − η h_max| < 1`` exactly when 0 < η < 2/h_max. Raises ``ValueError`` for a
    curvature that is not > 0.
    """
    h = _checks.real_array("h", h)
    if h.size == 0 or np.any(h <= 0):
        raise ValueError("h (curvatures) must be > 0")
    return _checks.finite_result(2.0 / float(h.max()), "h")


def stability_batch_size(lr_1: float, h) -> float:
    """B_stab = 2/(η_1 h_max): linear scaling η_B = B η_1 reaches the stability limit there.

    SGD's mean follows gradient descent, so for B ≥ B_stab the scaled learning rate
    makes E Φ_t diverge along the stiffest direction. Not McCandlish et al.'s noise
    scale B_noise (see :func:`nqm_stationary_noise_scale`). Raises ``ValueError`` for
    η_1 ≤ 0 or a curvature that is not > 0.
    """
    lr_1 = _checks.positive("lr_1", lr_1)
    return _checks.finite_result(stability_limit(h) / lr_1, "lr_1, h")


def _curvatures_and_noise(h, sigma):
    h, sigma = _checks.real_array("h", h), _checks.real_array("sigma", sigma)
    if h.size == 0 or np.any(h <= 0):
        raise ValueError("h (curvatures) must be > 0")
    if sigma.shape != h.shape or np.any(sigma < 0) or not np.any(sigma > 0):
        raise ValueError(
            "sigma must have the shape of h, be >= 0 and not all 0, "
            f"got shape {sigma.shape}"
        )
    return h, sigma


def nqm_noise_scale(h, sigma, second_moment) -> np.ndarray:
    """B_noise = tr(HΣ)/E[GᵀHG] on the noisy quadratic, from E Φ[i]².

    McCandlish et al.'s noise scale with H = diag(h_i), the per-example gradient
    covariance Σ = diag(σ_i²) and G = HΦ: tr(HΣ) = Σ h_i σ_i², E GᵀHG = Σ h_i³ E Φ[i]²
    (the ratio of the two expectations). ``second_moment``: E Φ[i]², shape (..., d), e.g.
    from :func:`nqm_second_moment`. Returns an array of shape (...). Raises
    ``ValueError`` for curvatures that are not > 0, negative noise, or a second moment
    of the wrong length.
    """
    h, sigma = _curvatures_and_noise(h, sigma)
    m2 = _checks.real_array("second_moment", second_moment)
    if m2.shape[-1:] != h.shape or np.any(m2 < 0):
        raise ValueError(f"second_moment must be >= 0 with last axis {h.shape[0]}")
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        scale = (h * sigma**2).sum() / (h**3 * m2).sum(-1)
    return _checks.finite_result(
        scale, "h, sigma, second_moment", "E GᵀHG must be > 0 and the ratio finite"
    )


def nqm_stationary_noise_scale(h, sigma, lr: float, batch_size: int) -> float:
    """B_noise at the stationary point of SGD with rate η and batch size B, exactly.

    There E Φ[i]² = ησ_i²/(B h_i (2 − ηh_i)), so

        B_noise = tr(HΣ)/E GᵀHG = (B/η) Σ h_iσ_i² / Σ h_i²σ_i²/(2 − ηh_i),

    which tends to 2B/(η h̄) as η → 0 (h̄ from :func:`noise_weighted_curvature`): with
    η = B η_1, to 2/(η_1 h̄) ≥ B_stab. Raises ``ValueError`` for η ≤ 0, B < 1, or
    η h_max ≥ 2 (no stationary point).
    """
    h, sigma = _curvatures_and_noise(h, sigma)
    lr = _checks.positive("lr", lr)
    B = _checks.batch_size("batch_size", batch_size)
    if lr * h.max() >= 2:
        raise ValueError(
            f"lr must be < 2/max(h) = {2 / h.max():.4g} for a stationary point, "
            f"got {lr}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        m2 = lr * sigma**2 / (B * h * (2 - lr * h))
    try:
        return float(nqm_noise_scale(h, sigma, m2))
    except ValueError:
        raise ValueError(
            "h, sigma, lr, batch_size: the result overflows (not finite)"
        ) from None


def noise_weighted_curvature(h, sigma) -> float:
    """h̄ = Σ h_i²σ_i² / Σ h_iσ_i²: the mean curvature with weights h_iσ_i², ≤ h_max.

    B_noise ≈ 2/(η_1 h̄) at SGD's stationary point under linear scaling, against
    B_stab = 2/(η_1 h_max). Raises ``ValueError`` for curvatures that are not > 0 or
    noise that is negative or all 0.
    """
    h, sigma = _curvatures_and_noise(h, sigma)
    with np.errstate(over="ignore", invalid="ignore"):
        w = h * sigma**2
        return float(_checks.finite_result((h * w).sum() / w.sum(), "h, sigma"))


def scaled_momentum_N(N_1: float, batch_size: int) -> float:
    """N_{μ,B} = N_{μ,1}/B: the averaging time that keeps N_{μ,B}·B = N_{μ,1} gradients.

    Raises ``ValueError`` when N_{μ,1}/B < 1: a running average μ_t = (1 − 1/N)μ_{t−1}
    + (1/N)ĝ_t with N < 1 gives the past a negative weight (and diverges for N ≤ ½);
    there the rule is meaningless and momentum should be switched off (N = 1).
    """
    N_1 = _checks.real_in("N_1", N_1, 1.0)
    B = _checks.batch_size("batch_size", batch_size)
    N_B = N_1 / B
    if N_B < 1:
        raise ValueError(
            f"batch_size must be <= N_1 = {N_1:g} for N_{{mu,B}} = N_1/B >= 1, "
            f"got {B} (N_1/B = {N_B:.3g} < 1: momentum cannot average fewer "
            "than one batch)"
        )
    return N_B


def running_average_memory(N: float, batch_size: int) -> dict:
    """What a running average with time N over batches of B examples remembers.

    The weights (1/N)(1 − 1/N)^n of the batch n steps back sum to 1; their mean age is
    Σ n w_n = N − 1 batches, and the stationary variance of the average of independent
    batch means of variance σ²/B is σ²/(B(2N − 1)). Returns ``examples`` (N·B, the
    number of gradients covered), ``age_batches`` (N − 1), ``age_examples`` ((N − 1)B)
    and ``variance_factor`` (1/(B(2N − 1)), to multiply by σ²).
    """
    N = _checks.real_in("N", N, 1.0)
    B = _checks.batch_size("batch_size", batch_size)
    return {
        "examples": _checks.finite_result(N * B, "N, batch_size"),
        "age_batches": N - 1.0,
        "age_examples": (N - 1.0) * B,
        "variance_factor": 1.0 / (B * (2.0 * N - 1.0)),
    }


def per_example_gradients(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    loss=torch.nn.functional.cross_entropy,
) -> torch.Tensor:
    """The gradient of loss(Φ, x_j, y_j) for every example j, flattened: shape (n, P).

    :func:`lab.distributed.per_example_gradients` (``torch.func``: ``vmap`` over
    examples of ``grad``), with each parameter's gradients flattened and concatenated
    in the model's order. The mean over rows is the batch gradient ĝ. Works on any
    device (that of ``X``). At most ``lab.distributed.MAX_EXAMPLES`` examples; a
    ``ValueError`` naming model and X when a gradient is not finite.
    """
    from lab import distributed

    _checks.function("loss", loss)
    grads = distributed.per_example_gradients(model, loss, X, y)
    flat = torch.cat([g.reshape(X.shape[0], -1) for g in grads.values()], dim=1)
    return _checks.finite_result(flat, "model, X", "a gradient is not finite")


def second_moment_estimates(
    per_example: torch.Tensor, batch_size: int, batches: int, generator: torch.Generator
) -> dict:
    """Two estimates of E g[i]², averaged over ``batches`` batches drawn with replacement.

    ``per_example``: (n, P) per-example gradients g_j (the population is these n rows).
    For each batch of B rows: ``batch_mean_sq`` averages ĝ[i]² with ĝ the batch mean
    (its expectation is g[i]² + σ[i]²/B), ``per_example_sq`` averages the mean over the
    batch of g_j[i]² (expectation g[i]² + σ[i]², independent of B). Also returns the
    population values ``g2`` = g[i]² and ``var`` = σ[i]² (over the n rows, 1/n
    normalisation), the per-coordinate standard errors ``*_se`` of both estimates and
    the standard errors ``*_total_se`` of their sums over coordinates. Bounds:
    ``batches`` in [2, 10**6], batches × batch_size at most 10**9, batches × n and
    batches × P at most 10**8. Raises ``ValueError``/``TypeError`` naming a bad
    argument, or when a result overflows.
    """
    G = _checks.tensor("per_example", per_example, ndim=2)
    n, P = G.shape
    if n < 1 or P < 1:
        raise ValueError(
            f"per_example must have shape (n, P) with n, P >= 1, got {tuple(G.shape)}"
        )
    B = _checks.batch_size("batch_size", batch_size)
    K = _checks.integer_at_least("batches", batches, 2, 10**6)
    generator = _checks.generator("generator", generator)
    _checks.work("batches × batch_size", K * B)
    _checks.work("batches × len(per_example)", K * n, _checks.MAX_ELEMENTS)
    _checks.work("batches × per_example.shape[1]", K * P, _checks.MAX_ELEMENTS)
    idx = torch.randint(n, (K, B), generator=generator, device=generator.device).to(
        G.device
    )
    # Batch k as a row of counts: a (K, n) @ (n, P) product instead of a (K, B, P) gather.
    counts = torch.zeros((K, n), dtype=G.dtype, device=G.device)
    counts.scatter_add_(1, idx, torch.ones_like(idx, dtype=G.dtype))
    ghat_sq = (counts @ G / B) ** 2  # (K, P): ĝ[i]² per batch
    mean_sq = counts @ (G * G) / B  # (K, P): mean over the batch of g_j[i]²
    out = {"g2": G.mean(0) ** 2, "var": G.var(0, unbiased=False)}
    for name, x in (("batch_mean_sq", ghat_sq), ("per_example_sq", mean_sq)):
        out[name] = x.mean(0)
        out[name + "_se"] = x.std(0) / math.sqrt(K)
        out[name + "_total_se"] = float(x.sum(1).std() / math.sqrt(K))
    for value in out.values():
        _checks.finite_result(value, "per_example", "use smaller gradients")
    return out


def hessian_max_eigenvalue(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator,
    iters: int = 100,
    loss=torch.nn.functional.cross_entropy,
) -> float:
    """h_max: the largest Hessian eigenvalue of the mean loss over (X, y), by power iteration.

    Each iteration is one Hessian-vector product (double backward), so the P×P Hessian
    is never formed. The start vector comes from ``generator``. Power iteration finds the
    eigenvalue of largest magnitude; near a minimum that is h_max. Raises ``ValueError``
    for ``iters`` outside [1, 10**4] (``MAX_ITERS``), ``TypeError``/``ValueError``
    naming a bad argument (a model that does not take X, y, ...) and ``ValueError``
    when the eigenvalue overflows.
    """
    model = _checks.instance("model", model, torch.nn.Module)
    _checks.tensor("X", X)
    _checks.tensor("y", y, floating=False)
    if X.dim() < 1 or y.dim() < 1 or X.shape[0] != y.shape[0] or X.shape[0] < 1:
        raise ValueError(
            "X and y must hold the same number (>= 1) of examples, got shapes "
            f"{tuple(X.shape)} and {tuple(y.shape)}"
        )
    generator = _checks.generator("generator", generator)
    n_iter = _checks.integer_at_least("iters", iters, 1, MAX_ITERS)
    loss = _checks.function("loss", loss)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    try:
        grads = torch.autograd.grad(loss(model(X), y), params, create_graph=True)
    except (RuntimeError, IndexError, TypeError, ValueError) as err:
        raise ValueError(f"model, X, y, loss: no gradient of the loss: {err}") from None
    v = [
        torch.randn(
            p.shape, generator=generator, device=generator.device, dtype=p.dtype
        ).to(p.device)
        for p in params
    ]
    lam = 0.0
    for _ in range(n_iter):
        norm = torch.sqrt(sum((u * u).sum() for u in v))
        if not norm > 0:  # H v = 0: v is an eigenvector of eigenvalue 0
            break
        v = [u / norm for u in v]
        Hv = torch.autograd.grad(grads, params, v, retain_graph=True, allow_unused=True)
        Hv = [torch.zeros_like(u) if w is None else w for u, w in zip(v, Hv)]
        lam = float(sum((a * b).sum() for a, b in zip(Hv, v)))
        v = [u.detach() for u in Hv]
    return _checks.finite_result(lam, "model, X, y", "the curvature overflows")


def smith_schedules(
    lr: float, batch_size: int, examples_per_phase: int, factor: int, phases: int
) -> dict:
    """Smith et al. (2018)'s comparison, as phases ``(η, B, steps)`` of constant SGD.

    ``"decay"`` keeps B and divides η by ``factor`` at each new phase; ``"grow"`` keeps η
    and multiplies B by ``factor``. Every phase consumes ``examples_per_phase``
    examples (``steps = examples_per_phase // B``), so both schedules change at the
    same numbers of examples and η/B, the temperature of Chapter 3, follows the same
    path. Raises ``ValueError`` for η ≤ 0, B < 1, factor < 2, phases outside [1, 64],
    ``examples_per_phase`` outside [1, 10**12], or a phase with fewer examples than the
    largest batch.
    """
    lr = _checks.positive("lr", lr)
    B = _checks.batch_size("batch_size", batch_size)
    E = _checks.integer_at_least(
        "examples_per_phase", examples_per_phase, 1, MAX_EXAMPLES_PER_PHASE
    )
    k = _checks.integer_at_least("factor", factor, 2)
    n = _checks.integer_at_least("phases", phases, 1, MAX_PHASES)
    if E < B * k ** (n - 1):
        largest = B * k ** (n - 1)
        shown = str(largest) if largest < 10**15 else f"about 1e{len(str(largest)) - 1}"
        raise ValueError(
            "examples_per_phase must be at least the largest batch, batch_size × "
            f"factor**(phases - 1) = {shown}, got {E}"
        )
    return {
        "decay": [(lr / k**j, B, E // B) for j in range(n)],
        "grow": [(lr, B * k**j, E // (B * k**j)) for j in range(n)],
    }


def _check_schedule(schedule) -> list:
    if not isinstance(schedule, list | tuple):
        raise TypeError(
            f"schedule must be a list of phases (lr, batch_size, steps), got "
            f"{schedule!r:.80}"
        )
    phases = []
    for j, phase in enumerate(schedule):
        try:
            eta, B, steps = phase
        except (TypeError, ValueError):
            raise ValueError(
                f"schedule[{j}] must be (lr, batch_size, steps), got {phase!r}"
            ) from None
        phases.append(
            (
                _checks.positive(f"schedule[{j}] lr", eta),
                _checks.batch_size(f"schedule[{j}] batch_size", B),
                _checks.steps(f"schedule[{j}] steps", steps),
            )
        )
    if not phases:
        raise ValueError("schedule must have at least one phase")
    return phases


def nqm_schedule_loss(h, sigma, phi0, schedule) -> tuple[np.ndarray, np.ndarray]:
    """Exact expected loss of SGD on the noisy quadratic along a piecewise-constant
    schedule of phases ``(η, B, steps)``.

    Within a phase :func:`nqm_second_moment` applies; E Φ² at a phase's end starts the
    next. Returns ``(examples, loss)``: the examples consumed after each step (starting
    at 0) and ½ Σ_i h_i E Φ_i² there. Raises ``ValueError`` for a malformed schedule,
    shapes that do not match, more than 10**8 results (total steps × len(h)), or a
    loss that overflows.
    """
    phases = _check_schedule(schedule)
    h, sigma, phi0 = _checks.broadcast(
        h=_checks.array("h", h, ndim=(0, 1)),
        sigma=_checks.array("sigma", sigma, ndim=(0, 1)),
        phi0=_checks.array("phi0", phi0, ndim=(0, 1)),
    )
    second = phi0**2
    total = sum(steps for _, _, steps in phases)
    _checks.work("schedule steps × len(h)", total * h.size, _checks.MAX_ELEMENTS)
    names = "h, sigma, phi0, schedule"
    examples, losses = [0], [0.5 * float((h * second).sum())]
    try:
        for eta, B, steps in phases:
            t = np.arange(1, steps + 1)
            moments = nqm_second_moment(h, sigma, np.sqrt(second), eta, B, t)
            losses.extend(0.5 * (moments * h).sum(-1))
            examples.extend(examples[-1] + B * t)
            second = moments[-1]
    except ValueError as err:
        raise ValueError(f"{names}: {err}") from None
    return np.asarray(examples), _checks.finite_result(np.asarray(losses), names)


def nqm_schedule_sgd(
    problem: NoisyQuadratic, schedule, chains: int, generator, *, phi0: float = 1.0
) -> dict:
    """Simulate the schedule with :class:`lab.optim.SGD` on ``chains`` runs.

    Each phase is one :func:`lab.simulate.run_nqm` at its η and B, started where the
    previous phase left every run (the first at ``phi0``). Returns numpy arrays
    ``examples`` and ``updates`` (after each step, from 0), ``loss`` (the mean over
    chains of f(Φ_t)) and ``se`` (its standard error). Bounds: chains at most 10**6 and
    total steps × chains × d at most 10**9. Raises ``ValueError`` for a malformed
    schedule (rates above 10**6 included), bad counts, or a run that overflows.
    """
    from .optim import SGD
    from .optim.updates import LR_MAX
    from .simulate import run_nqm

    problem = _checks.instance("problem", problem, NoisyQuadratic)
    phases = _check_schedule(schedule)
    for j, (eta, _, _) in enumerate(phases):
        _checks.real_in(f"schedule[{j}] lr", eta, 0.0, LR_MAX, low_open=True)
    C = _checks.chains("chains", chains)
    generator = _checks.generator("generator", generator)
    phi = _checks.real_in("phi0", phi0)
    total = sum(steps for _, _, steps in phases)
    _checks.work("schedule steps × chains × d", total * C * problem.dim)
    end = {}

    def observe(t, p, optimizer):
        loss = problem.population_loss(p.detach())
        end["phi"] = p.detach()
        se = loss.std() / math.sqrt(C) if C > 1 else torch.zeros(())
        return {"loss": loss.mean(), "se": se}

    examples, losses, ses = [0], [], []
    for j, (eta, B, steps) in enumerate(phases):
        try:
            run = run_nqm(
                problem,
                lambda params, eta=eta: SGD(params, lr=eta),
                steps,
                C,
                generator,
                batch_size=B,
                phi0=phi,
                observe=observe,
            )
        except ValueError as err:
            raise ValueError(f"schedule[{j}], phi0: {err}") from None
        first = 0 if j == 0 else 1  # a later phase's t = 0 is the last one's end
        losses.extend(run["loss"][first:])
        ses.extend(run["se"][first:])
        examples.extend(examples[-1] + B * np.arange(1, steps + 1))
        phi = end["phi"].clone()
    names = "schedule, phi0"
    return {
        "examples": np.asarray(examples),
        "updates": np.arange(len(examples)),
        "loss": _checks.finite_result(np.asarray(losses, dtype=np.float64), names),
        "se": _checks.finite_result(np.asarray(ses, dtype=np.float64), names),
    }


def nqm_steps_to_target(
    h, sigma, phi0, lrs, batch_size, target: float, max_steps: int = 10**9
) -> np.ndarray:
    """S: the fewest SGD steps after which E f(Φ_S) ≤ ``target`` on the noisy quadratic.

    For each η in ``lrs``, with E f(Φ_t) = ½ Σ_i h_i E Φ_t[i]² from
    :func:`nqm_second_moment` at batch size B. ``batch_size=math.inf`` drops the noise:
    gradient descent on the full loss, a lower bound for every finite B (the noise term
    of E Φ_t[i]² is ≥ 0). Found by bisection on t, which is exact because E f(Φ_t)
    decreases with t when every coordinate starts above its stationary value ησ_i²/(B h_i
    (2 − ηh_i)) and η h_max < 2; rates for which that fails, and rates that never reach
    the target within ``max_steps``, give ``inf``. Returns an array shaped like ``lrs``.
    Raises ``ValueError`` for curvatures that are not > 0, rates that are not > 0, B < 1
    (or > 10**12, other than inf), a target that is not > 0, ``max_steps`` outside
    [1, 2**53] or more than 10**8 pairs of rate and coordinate.
    """
    h, sigma = _curvatures_and_noise(h, sigma)
    phi2 = _like("phi0", phi0, h.shape) ** 2
    eta = _checks.real_array("lrs", lrs, 0.0, low_open=True)
    if isinstance(batch_size, float) and batch_size == math.inf:
        noise = np.zeros_like(h)
    else:
        noise = sigma**2 / _checks.batch_size("batch_size", batch_size)
    target = _checks.positive("target", target)
    T = _checks.integer_at_least("max_steps", max_steps, 1, MAX_TARGET_STEPS)
    _checks.work("len(lrs) × len(h)", eta.size * h.size, _checks.MAX_ELEMENTS)
    flat = eta.reshape(-1, 1)
    x = flat * h  # η h_i
    stable = np.all(x < 2, axis=1)
    floor = np.where(x < 2, flat * noise / (h * np.maximum(2 - x, 1e-300)), np.inf)
    start = phi2 - floor  # ≥ 0 for every i: E Φ_t[i]² falls monotonically to floor
    monotone = stable & np.all(start >= 0, axis=1)
    log_a2 = np.log(np.maximum((1 - x) ** 2, 1e-300))
    base = 0.5 * (h * np.where(np.isfinite(floor), floor, 0.0)).sum(1)

    def loss(t):
        # unstable rows (|1 - ηh| > 1) overflow to inf·0 here; `monotone` excludes them
        with np.errstate(over="ignore", invalid="ignore"):
            decay = np.exp(np.maximum(t[:, None] * log_a2, -745.0))
            return base + 0.5 * (h * decay * np.maximum(start, 0.0)).sum(1)

    lo, hi = np.zeros(len(flat)), np.full(len(flat), float(T))
    reach = monotone & (loss(hi) <= target)
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        good = loss(mid) <= target
        hi, lo = np.where(good, mid, hi), np.where(good, lo, mid)
    steps = np.where(loss(lo) <= target, lo, hi)  # lo = 0 when the start is below it
    return np.where(reach, steps, np.inf).reshape(eta.shape)


def nqm_critical_batch(h, sigma, phi0, batch_sizes, lrs, target: float) -> dict:
    """Steps to a target loss against B, each B at its best rate: perfect scaling, then a plateau.

    For each B in ``batch_sizes``, S(B) = min over η in ``lrs`` of
    :func:`nqm_steps_to_target`, and the best η. Also the two asymptotes of
    McCandlish et al. (2018): ``S_min``, the steps of noise-free gradient descent at its
    best rate (B → ∞; no batch size does better), ``E_min`` = min_B S(B)·B, the fewest
    examples, and their ratio, the critical batch ``B_crit`` = E_min/S_min, at which the
    two asymptotes S = E_min/B (perfect scaling) and S = S_min meet. Returns numpy arrays
    ``batch_sizes``, ``steps``, ``lr`` and floats ``S_min``, ``E_min``, ``B_crit``.
    Raises ``ValueError`` as :func:`nqm_steps_to_target`, when the target is out of
    reach at some B or not below the loss at the start.
    """
    h, sigma = _curvatures_and_noise(h, sigma)
    Bs = _batch_sizes("batch_sizes", batch_sizes)
    grid = _checks.real_array("lrs", lrs, 0.0, low_open=True).ravel()
    if grid.size == 0:
        raise ValueError("lrs must not be empty")
    _checks.work("len(batch_sizes) × len(lrs) × len(h)", len(Bs) * grid.size * h.size)
    steps, best = [], []
    for B in Bs:
        S = nqm_steps_to_target(h, sigma, phi0, grid, B, target)
        if not np.isfinite(S.min()):
            raise ValueError(
                f"target {target} is out of reach from phi0 at batch_sizes entry {B} "
                "for every rate in lrs (with these h, sigma)"
            )
        steps.append(S.min())
        best.append(grid[np.argmin(S)])
    S_min = nqm_steps_to_target(h, sigma, phi0, grid, math.inf, target).min()
    if S_min == 0:
        raise ValueError(
            f"target must be below the loss at phi0 (reached in 0 steps), got {target}"
        )
    steps = np.array(steps)
    E_min = float((steps * np.array(Bs)).min())
    return {
        "batch_sizes": np.array(Bs),
        "steps": steps,
        "lr": np.array(best),
        "S_min": float(S_min),
        "E_min": E_min,
        "B_crit": E_min / float(S_min),
    }


def momentum_scaling_runs(
    data,
    lr_effective,
    *,
    batch_small: int = 32,
    batch_large: int = 256,
    N: float = 10.0,
    examples: int = 16384,
    seeds: int = 2,
    hidden: int = 32,
    warmup_steps: int = 0,
) -> dict:
    """Digits MLP with torch-style momentum, batch B_small → B_large = k·B_small: keep or scale N.

    ``lr_effective`` are effective rates η' = Nη at B_small (η is torch's ``lr``, the
    momentum ``m = 1 − 1/N``). Three configurations, each trained for ``examples``
    examples (``examples // B`` steps of :class:`lab.optim.Momentum`) from the same
    ``seeds`` initialisations: ``"small"`` (B_small, N, η), ``"keep"`` (B_large, N, kη:
    η' scaled by k, Goyal et al.) and ``"scale"`` (B_large, N/k, k²η: N_μ,B = N_μ,1/B
    and η' scaled by k, so η_B = B²η_1 up to the factor). With ``warmup_steps`` the
    large-batch rates ramp linearly from 1/warmup_steps of their value. Returns the
    final training losses, arrays of shape (len(lr_effective), seeds) under each key
    (``inf`` where training diverged), with ``lr_effective``, ``k`` and ``N_scaled``.
    Bounds: ``lr_effective`` a number or 1-D, ``seeds`` at most 8 (each seed is three
    training runs per rate), ``hidden`` at most 10**5, ``examples // batch_small``
    steps at most 10**7, 3 × len(lr_effective) × seeds × examples at most 10**9
    examples, every torch ``lr`` at most 10**6. Raises ``ValueError`` for rates that
    are not > 0, B_large not a multiple of B_small, N/k < 1, counts < 1 or these
    bounds.
    """
    from . import generator as make_generator
    from . import train as tr
    from .optim import Momentum
    from .optim.updates import LR_MAX

    data = _checks.instance("data", data, tr.Digits)
    rates = _checks.array("lr_effective", lr_effective, 0.0, low_open=True, ndim=(0, 1))
    if rates.size == 0:
        raise ValueError("lr_effective must not be empty")
    b1 = _checks.batch_size("batch_small", batch_small)
    b2 = _checks.batch_size("batch_large", batch_large)
    if b2 < b1:
        raise ValueError(f"batch_large must be >= batch_small = {b1}, got {b2}")
    if b2 % b1:
        raise ValueError(
            f"batch_large must be a multiple of batch_small={b1}, got {b2}"
        )
    k = b2 // b1
    N = _checks.real_in("N", N, 1.0)
    N_scaled = N / k
    if N_scaled < 1:
        raise ValueError(
            "N/k must be >= 1 to scale N (k = batch_large/batch_small), "
            f"got N={N:g}, k={k}"
        )
    E = _checks.integer_at_least("examples", examples, b2)
    n_seeds = _checks.integer_at_least("seeds", seeds, 1, MAX_SEEDS)
    hidden = _checks.integer_at_least("hidden", hidden, 1, tr.MAX_HIDDEN)
    warm = _checks.steps("warmup_steps", warmup_steps, 0)
    if E // b1 > _checks.MAX_STEPS:
        raise ValueError(
            f"examples // batch_small must be at most {_checks.MAX_STEPS:.0e} steps, "
            f"got {E // b1}"
        )
    _checks.work(
        "3 × len(lr_effective) × seeds × examples", 3 * rates.size * n_seeds * E
    )
    if k * k * float(rates.max()) / N > LR_MAX:
        raise ValueError(
            f"lr_effective, N, batch_large / batch_small: the largest torch lr, "
            f"k² max(lr_effective)/N = {k * k * float(rates.max()) / N:.3g}, must be at "
            f"most {LR_MAX:g}"
        )

    def final_loss(lr, N_run, B, ramp, seed):
        model = tr.make_model(hidden, make_generator(100 + seed))
        opt = Momentum(model.parameters(), lr=lr, N=N_run)
        sched = None
        if ramp:
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda t: min(1.0, (t + 1) / ramp)
            )
        try:
            hist = tr.train(
                model, opt, data, E // B, B, make_generator(seed),
                eval_every=10**9, scheduler=sched,
            )  # fmt: skip
        except FloatingPointError:
            return math.inf
        return hist["train_loss"][-1]

    configs = {
        "small": lambda r: (r / N, N, b1, 0),
        "keep": lambda r: (k * r / N, N, b2, warm),
        "scale": lambda r: (k * r / N_scaled, N_scaled, b2, warm),
    }
    out = {
        name: np.array(
            [[final_loss(*cfg(r), s) for s in range(n_seeds)] for r in rates.ravel()]
        )
        for name, cfg in configs.items()
    }
    out.update(lr_effective=rates.ravel(), k=k, N_scaled=N_scaled)
    return out
