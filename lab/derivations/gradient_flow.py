"""The derivations of Chapter 9, checked with sympy."""

from __future__ import annotations

import functools

import sympy as sp

from lab.derivations.claims import Derivation, Identity, Inequality, Limit, eq, identity

# ---------------------------------------------------------------------------------------
# 6. Gradient flow
# ---------------------------------------------------------------------------------------

__all__ = ["gradient_flow_limits", "fokker_planck"]


@functools.cache
def gradient_flow_limits() -> Derivation:
    """Along dΦ/dt = −η ∇ℓ(Φ): dℓ/dt = −η ‖∇ℓ‖² ≤ 0 (a generic ℓ in two dimensions and
    an explicit quadratic), Euler steps of η/N converge to the flow, and the noise of
    N t batch steps of η/N has variance ≤ η² t σ²/(N B) → 0.
    """
    t = sp.Symbol("t", real=True)
    eta = sp.Symbol("eta", positive=True)
    p1, p2 = sp.Function("phi_1")(t), sp.Function("phi_2")(t)
    ell = sp.Function(r"\ell")(p1, p2)
    grad = [sp.diff(ell, p1), sp.diff(ell, p2)]
    dldt = sp.diff(ell, t)
    flow = {sp.Derivative(p1, t): -eta * grad[0], sp.Derivative(p2, t): -eta * grad[1]}
    dldt_flow = dldt.subs(flow)
    norm2 = grad[0] ** 2 + grad[1] ** 2

    h1, h2, c1, c2 = sp.symbols("h_1 h_2 c_1 c_2", positive=True)
    x1, x2 = c1 * sp.exp(-eta * h1 * t), c2 * sp.exp(-eta * h2 * t)  # solves the flow
    quad = (h1 * x1**2 + h2 * x2**2) / 2
    N = sp.Symbol("N", positive=True)
    h, sigma, B, tt = sp.symbols("h sigma B t", positive=True)
    claims = {
        "chain_rule_along_flow": eq(dldt_flow, -eta * norm2),
        "quadratic_flow_solves_ode": identity(
            sp.diff(x1, t),
            -eta * h1 * x1,
            r"\frac{d}{dt}\,c_1 e^{-\eta h_1 t} = -\eta h_1\, c_1 e^{-\eta h_1 t}",
        ),
        "quadratic_loss_derivative": eq(
            sp.diff(quad, t), -eta * ((h1 * x1) ** 2 + (h2 * x2) ** 2)
        ),
        "loss_nonincreasing": Inequality(
            -eta
            * norm2.subs(
                {
                    grad[0]: sp.Symbol("d_1", real=True),
                    grad[1]: sp.Symbol("d_2", real=True),
                }
            ),
            "<=",
        ),
        "euler_steps_converge_to_flow": Limit(
            (1 - eta * h / N) ** (N * tt), N, sp.oo, sp.exp(-eta * h * tt)
        ),
        "batch_noise_vanishes": Limit(
            N * tt * (eta / N) ** 2 * sigma**2 / B, N, sp.oo, 0
        ),
    }
    steps = [
        ("chain rule", eq(sp.Derivative(ell, t), dldt)),
        (
            "along $d\\Phi/dt = -\\eta\\nabla\\ell$",
            eq(sp.Derivative(ell, t), dldt_flow),
        ),
        ("so", eq(sp.Derivative(ell, t), -eta * norm2)),
    ]
    return Derivation(
        "Gradient flow: dℓ/dt = −η‖∇ℓ‖²",
        {"t": t, "eta": eta},
        steps,
        claims,
        label="deriv-gradient-flow",
    )


@functools.cache
def fokker_planck() -> Derivation:
    """The derivation behind Langevin dynamics, as a :class:`lab.derivations.Derivation`.

    Claims: the Gibbs density exp(−f/T) has zero probability flux f′p + T p′ for a generic
    f (1-D) and makes the 2-D Fokker–Planck right-hand side ∇·(p∇f) + TΔp vanish; the
    Ornstein–Uhlenbeck variance solves dV/dτ = −2hV + 2T; SGD's step noise η²σ²/B equals
    the Langevin step noise 2Tη at T = ησ²/(2B); and on ℓ = e^{−Φ} the flow
    Φ = log(e^{Φ0} + ηt) solves dΦ/dt = −η ℓ′, with ℓ → 0 while Φ − log(ηt) → 0 (so Φ → ∞).
    """
    x, y, T = (
        sp.Symbol("Phi", real=True),
        sp.Symbol("Phi_2", real=True),
        sp.Symbol("T", positive=True),
    )
    D = sp.Derivative  # unevaluated: sympy has to do the calculus inside the check
    f = sp.Function("f")
    p = sp.exp(-f(x) / T)
    flux = D(f(x), x) * p + T * D(p, x)
    F2 = sp.Function("f")(x, y)
    p2 = sp.exp(-F2 / T)
    fp2 = D(p2 * D(F2, x), x) + D(p2 * D(F2, y), y) + T * (D(p2, x, 2) + D(p2, y, 2))
    h, tau, eta, sigma, B = sp.symbols("h tau eta sigma B", positive=True)
    V = T / h * (1 - sp.exp(-2 * h * tau))
    t, phi0 = sp.Symbol("t", positive=True), sp.Symbol("Phi_0", real=True)
    Phi_t = sp.log(sp.exp(phi0) + eta * t)
    ell = lambda z: sp.exp(-z)  # noqa: E731
    claims = {
        "gibbs_flux_vanishes_1d": Identity(
            flux, 0, tex=r"f'(\Phi)\,e^{-f/T} + T\,\partial_\Phi e^{-f/T} = 0"
        ),
        "gibbs_is_stationary_2d": Identity(
            fp2.doit(),
            0,
            tex=r"\nabla\cdot\big(e^{-f/T}\nabla f\big) + T\,\Delta e^{-f/T} = 0"
            r"\quad(\Phi \in \mathbb{R}^2)",
        ),
        "ou_variance_solves_moment_ode": sp.Eq(
            sp.diff(V, tau), -2 * h * V + 2 * T, evaluate=False
        ),
        "sgd_noise_matches_langevin_at_T": Identity(
            2 * (eta * sigma**2 / (2 * B)) * eta,
            eta**2 * sigma**2 / B,
            tex=r"2\,T\,\eta\,\big\vert_{T = \eta\sigma^2/(2B)} = \frac{\eta^2\sigma^2}{B}",
        ),
        "exp_flow_solves_ode": Identity(
            sp.diff(Phi_t, t),
            -eta * sp.diff(ell(x), x).subs(x, Phi_t),
            tex=r"\frac{d}{dt}\log\left(e^{\Phi_0} + \eta t\right) = -\eta\,\ell'(\Phi_t),"
            r"\quad \ell(\Phi) = e^{-\Phi}",
        ),
        "exp_flow_loss_to_zero": Limit(ell(Phi_t), t, sp.oo, 0),
        "exp_flow_Phi_grows_like_log_eta_t": Limit(
            Phi_t - sp.log(eta * t), t, sp.oo, 0
        ),
    }
    # Symbol names without "_" or "^" are typeset verbatim by sympy.latex.
    steps = [
        (
            "Fokker–Planck equation",
            sp.Eq(
                sp.Symbol(r"\frac{\partial p}{\partial \tau}"),
                sp.Symbol(r"\nabla\cdot(p\nabla f) + T\Delta p"),
                evaluate=False,
            ),
        ),
        ("Gibbs density", sp.Eq(sp.Symbol("p"), p, evaluate=False)),
        (
            "its probability flux",
            sp.Eq(sp.Symbol(r"p\nabla f + T\nabla p"), flux.doit(), evaluate=False),
        ),
    ]
    return Derivation(
        "Langevin dynamics: exp(−f/T) is stationary",
        {"Phi": x, "T": T},
        steps,
        claims,
        label="deriv-fokker-planck",
    )
