"""The derivations of Chapter 6, checked with sympy."""

from __future__ import annotations

import functools

import sympy as sp

from lab.derivations.claims import (
    Counterexample,
    Derivation,
    Identity,
    Induction,
    Inequality,
    Limit,
    Series,
    _expression,
    eq,
    identity,
)

# ---------------------------------------------------------------------------------------
# 3. Momentum
# ---------------------------------------------------------------------------------------

__all__ = [
    "momentum_reparameterization",
    "stationary_variance",
    "heavy_ball_tuning",
    "heavy_ball_system",
    "heavy_ball_covariance",
]


@functools.cache
def momentum_reparameterization() -> Derivation:
    """v_t = N η μ_t for all t, for v_t = (1 − 1/N) v_{t−1} + η ĝ_t and
    μ_t = (1 − 1/N) μ_{t−1} + ĝ_t/N with v_0 = μ_0 = 0, so Φ_{t+1} = Φ_t − η' μ_t with
    η' = N η. The induction needs η constant: with a schedule η_t it fails at t = 2.
    """
    N, eta = sp.symbols("N eta", positive=True)
    t = sp.Symbol("t", integer=True, positive=True)
    v, mu = sp.Function("v"), sp.Function(r"\mu")
    ghat = sp.IndexedBase(r"\hat{g}")
    a = 1 - 1 / N
    rec = {
        v: lambda k: a * v(k - 1) + eta * ghat[k],
        mu: lambda k: a * mu(k - 1) + ghat[k] / N,
    }
    claim = Induction(
        v, lambda k: N * eta * mu(k), rec, {v: 0, mu: 0}, t, 0, inputs=(ghat,)
    )
    # with a schedule η_t: v_2 against N η_2 μ_2
    e1, e2, g1, g2 = sp.symbols(r"\eta_1 \eta_2 \hat{g}_1 \hat{g}_2", positive=True)
    v2 = a * (e1 * g1) + e2 * g2
    mu2 = a * (g1 / N) + g2 / N
    claims = {
        "v_equals_N_eta_mu_for_all_t": claim,
        "one_step_identity": eq(
            a * N * eta * sp.Symbol("mu_prev") + eta * sp.Symbol("g"),
            N * eta * (a * sp.Symbol("mu_prev") + sp.Symbol("g") / N),
        ),
        "fails_with_a_learning_rate_schedule": Counterexample(
            v2, N * e2 * mu2, {N: 2, e1: 1, e2: sp.Rational(1, 2), g1: 1, g2: 1}
        ),
    }
    steps = [
        ("momentum", eq(v(t), a * v(t - 1) + eta * ghat[t])),
        ("rewritten", eq(v(t), a * v(t - 1) + (N * eta * ghat[t]) / N)),
        ("running average of $\\hat g$", eq(mu(t), a * mu(t - 1) + ghat[t] / N)),
        ("reparameterization", eq(v(t), N * eta * mu(t))),
    ]
    return Derivation(
        "Momentum as a running average: v_t = N η μ_t",
        {"N": N, "eta": eta, "t": t},
        steps,
        claims,
        label="deriv-momentum",
    )


# ---------------------------------------------------------------------------------------
# 9. Stationary variance
# ---------------------------------------------------------------------------------------


def heavy_ball_system(eta, h, beta):
    """The iteration matrix A and noise input b of momentum, derived from its updates.

    On one coordinate of curvature h with gradient ĝ_t = h δ_t + ξ_t, the updates
    v_t = β v_{t−1} + η ĝ_t and δ_{t+1} = δ_t − v_t are linear in the state
    (δ_t, v_{t−1}) and the kick ξ_t: (δ_{t+1}, v_t) = A (δ_t, v_{t−1}) + b ξ_t. A and b
    are read off as the Jacobians of the two right-hand sides (so nothing is typed in).
    Returns ``(A, b, updates, state, xi)``: the 2×2 and 2×1 sympy matrices, the column of
    right-hand sides (δ_{t+1}, v_t), the state column and the kick symbol.
    ``eta``, ``h``, ``beta`` are sympy expressions or finite real numbers.
    """
    eta, h, beta = _scalars(eta=eta, h=h, beta=beta)
    delta, v_prev, xi = sp.symbols(r"\delta_t v_{t-1} \xi_t")
    v_t = beta * v_prev + eta * (h * delta + xi)
    updates = sp.Matrix([delta - v_t, v_t])  # (δ_{t+1}, v_t)
    state = sp.Matrix([delta, v_prev])
    A = updates.jacobian(state).applyfunc(sp.expand)
    b = updates.jacobian([xi])
    return A, b, updates, state, xi


def heavy_ball_covariance(eta, h, beta, s2):
    """Stationary covariance Σ of (δ_t, v_{t−1}) for v_t = β v_{t−1} + η(h δ_t + ξ_t),
    δ_{t+1} = δ_t − v_t, Var ξ = s2: the solution of Σ = A Σ Aᵀ + b bᵀ s2, with A and b
    from :func:`heavy_ball_system`. The arguments are sympy expressions or finite real
    numbers; ``ValueError`` naming them when no stationary covariance exists (``h = 0``,
    ``β = 1``: the iteration does not forget its start)."""
    eta, h, beta, s2 = _scalars(eta=eta, h=h, beta=beta, s2=s2)
    A, b, *_ = heavy_ball_system(eta, h, beta)
    p11, p12, p22 = sp.symbols("p_11 p_12 p_22")
    P = sp.Matrix([[p11, p12], [p12, p22]])
    eqs = A * P * A.T + b * b.T * s2 - P
    sol = sp.solve([eqs[0, 0], eqs[0, 1], eqs[1, 1]], [p11, p12, p22], dict=True)
    if not sol or any(
        not sol[0].get(p, p).free_symbols.isdisjoint({p11, p12, p22})
        for p in (p11, p12, p22)
    ):
        raise ValueError(
            "eta, h, beta, s2: no stationary covariance at these values (the "
            "Lyapunov equation has no unique solution)"
        )
    return A, b, P.subs(sol[0]).applyfunc(sp.factor)


def _scalars(**values) -> list:
    """Each value checked by :func:`lab.derivations.claims._expression` (one scalar)."""
    return [sp.sympify(_expression(k, v, matrix=False)) for k, v in values.items()]


@functools.cache
def stationary_variance() -> Derivation:
    """Constant-step SGD on loss = ½h(Φ − Φ*)² with per-example gradient variance σ²:
    δ_{t+1} = (1 − ηh) δ_t − η ξ̄_t, Var ξ̄ = σ²/B. Var δ_t = a^t Var_0 + (1 − a^t) Var_∞
    with a = (1 − ηh)², Var_∞ = ησ²/(Bh(2 − ηh)) ≈ ησ²/(2hB): the temperature
    T = h Var_∞ ≈ ησ²/(2B) and E[loss − loss*] = h Var_∞/2 ≈ ησ²/(4B) = T/2.

    Momentum (β = 1 − 1/N): one kick ξ moves Φ eventually by Σ_k η β^k ξ = Nη ξ = η'ξ
    (before the curvature pulls it back); the Lyapunov equation Σ = A Σ Aᵀ + b bᵀ σ²/B
    (A, b from :func:`heavy_ball_system`) gives
    Var_∞ = ησ²(1 + β)/(Bh(1 − β)(2(1 + β) − ηh)) ≈ N ησ²/(2hB); in the form Φ −= η'μ,
    Var_∞ = η'σ²/(Bh(2 − η'h/(2N − 1))): to first order the floor depends on η' only.
    """
    eta, h, sigma, B, N = sp.symbols("eta h sigma B N", positive=True)
    etap = sp.Symbol(r"\eta'", positive=True)
    t = sp.Symbol("t", integer=True, positive=True)
    v = sp.Function(r"\Var")  # Var δ_t (v_t is momentum's velocity)
    v0, u = sp.symbols(r"\Var_0 u", positive=True)
    k = sp.Symbol("k", integer=True, nonnegative=True)
    s2 = sigma**2 / B
    a = (1 - eta * h) ** 2
    v_inf = sp.simplify(eta**2 * s2 / (1 - a))
    rec = {v: lambda k: a * v(k - 1) + eta**2 * s2}
    closed = Induction(v, lambda k: a**k * v0 + (1 - a**k) * v_inf, rec, {v: v0}, t, 0)
    beta = 1 - 1 / N
    A, b, P = heavy_ball_covariance(eta, h, beta, s2)
    var_hb = sp.factor(P[0, 0])
    var_hb_prime = sp.factor(var_hb.subs(eta, etap / N))
    claims = {
        "fixed_point": eq(a * v_inf + eta**2 * s2, v_inf),
        "closed_form": eq(v_inf, eta * sigma**2 / (B * h * (2 - eta * h))),
        "variance_for_all_t": closed,
        "stable_iff_eta_h_below_2": Inequality(
            1 - a, ">=", where={eta: 2 * (1 - 1 / (1 + u)) / h}
        ),
        "small_eta_limit": Limit(v_inf / eta, eta, 0, sigma**2 / (2 * h * B)),
        "temperature": Limit(h * v_inf / eta, eta, 0, sigma**2 / (2 * B)),
        "excess_loss_small_eta": Limit(
            (h * v_inf / 2) / (eta * sigma**2 / (4 * B)), eta, 0, 1
        ),
        # a kick ξ at step t adds η β^k ξ to v_{t+k}, and Φ moves by minus their sum
        "one_kick_moves_phi_by_eta_prime": Series(
            eta * beta**k, k, 0, N * eta, where={N: 1 + u}
        ),
        "momentum_lyapunov_solution": Identity(
            A * P * A.T + b * b.T * s2 - P,
            sp.zeros(2, 2),
            tex=r"A\Sigma A^\top + b b^\top \sigma^2/B - \Sigma = 0,\ "
            r"A = \begin{pmatrix}1-\eta h & -\beta\\ \eta h & \beta\end{pmatrix},\ "
            r"b = \begin{pmatrix}-\eta\\ \eta\end{pmatrix}",
        ),
        "momentum_variance": eq(
            var_hb,
            eta
            * sigma**2
            * (1 + beta)
            / (B * h * (1 - beta) * (2 * (1 + beta) - eta * h)),
        ),
        "momentum_small_eta": Limit(var_hb / eta, eta, 0, N * sigma**2 / (2 * h * B)),
        "momentum_no_momentum_is_sgd": identity(
            var_hb.subs(N, 1),
            v_inf,
            r"\Var_\infty\big\vert_{N = 1} = \frac{\eta\sigma^2}{B h (2 - \eta h)}"
            r"\quad\text{(SGD's)}",
        ),
        "momentum_eta_prime_form": eq(
            var_hb_prime, etap * sigma**2 / (B * h * (2 - etap * h / (2 * N - 1)))
        ),
        "momentum_eta_prime_small_limit": Limit(
            var_hb_prime / etap, etap, 0, sigma**2 / (2 * h * B)
        ),
        "momentum_eta_prime_large_N": Limit(
            var_hb_prime, N, sp.oo, etap * sigma**2 / (2 * h * B)
        ),
    }
    steps = [
        (
            "error recursion",
            eq(
                sp.Symbol(r"\delta_{t+1}"),
                (1 - eta * h) * sp.Symbol(r"\delta_t")
                - eta * sp.Symbol(r"\bar{\xi}_t"),
            ),
        ),
        ("variance recursion", eq(v(t), rec[v](t))),
        ("stationary variance", eq(sp.Symbol(r"\Var_\infty"), v_inf)),
        ("temperature", eq(sp.Symbol("T"), sp.Symbol(r"h \Var_\infty"))),
        (
            "momentum: one kick's total displacement",
            eq(sp.Sum(eta * beta**k, (k, 0, sp.oo)), N * eta),
        ),
        ("momentum (form 1)", eq(sp.Symbol(r"\Var_\infty^{\mathrm{mom}}"), var_hb)),
        (
            "momentum (form 2, $\\eta = \\eta'/N$)",
            eq(sp.Symbol(r"\Var_\infty^{\mathrm{mom}}"), var_hb_prime),
        ),
    ]
    return Derivation(
        "Stationary variance of constant-step SGD: learning rate as temperature",
        {"eta": eta, "h": h, "sigma": sigma, "B": B, "N": N, "eta_prime": etap},
        steps,
        claims,
        label="deriv-stationary",
    )


@functools.cache
def heavy_ball_tuning() -> Derivation:
    """The heavy-ball facts used in Chapter 6, as a :class:`lab.derivations.Derivation`.

    Claims: the iteration matrix :math:`A` and noise input :math:`b` that the two update
    equations give (:func:`heavy_ball_system`) are those of
    :func:`lab.momentum.heavy_ball_matrix` and of the chapter's equation; the
    characteristic polynomial of :math:`A`;
    complex roots have modulus :math:`\\sqrt\\beta` (their product is
    :math:`\\det A = \\beta`); with Polyak's
    :math:`\\eta^*, \\beta^*` both ends of :math:`[h_{\\min}, h_{\\max}]` sit exactly on the
    boundary :math:`a^2 = 4\\beta` (so every curvature between is in the complex region,
    rate :math:`\\sqrt{\\beta^*}`); :math:`\\eta'^* = 1/\\sqrt{h_{\\min}h_{\\max}}`;
    :math:`N^* \\sim \\sqrt\\kappa/4`; and the stability limit :math:`\\eta h < 2(1+\\beta)`
    is where an eigenvalue reaches :math:`-1`.
    """
    lam, eta, h, beta = sp.symbols("lambda eta h beta", positive=True)
    m, M, kappa, u = sp.symbols("h_min h_max kappa u", positive=True)
    A, b, updates, state, xi = heavy_ball_system(eta, h, beta)
    A_stated = sp.Matrix([[1 - eta * h, -beta], [eta * h, beta]])
    charpoly = sp.expand((lam * sp.eye(2) - A).det())
    a = 1 + beta - eta * h
    # optimal parameters, written with r = sqrt(h)
    beta_star = ((sp.sqrt(M) - sp.sqrt(m)) / (sp.sqrt(M) + sp.sqrt(m))) ** 2
    eta_star = 4 / (sp.sqrt(M) + sp.sqrt(m)) ** 2
    N_star = 1 / (1 - beta_star)
    root_beta = (sp.sqrt(M) - sp.sqrt(m)) / (sp.sqrt(M) + sp.sqrt(m))
    claims = {
        "updates_are_linear_in_the_state": Identity(
            updates,
            A * state + b * xi,
            tex=r"\begin{pmatrix}\delta_t - v_t\\ v_t\end{pmatrix} = A"
            r"\begin{pmatrix}\delta_t\\ v_{t-1}\end{pmatrix} + b\,\xi_t,\ "
            r"v_t = \beta v_{t-1} + \eta(h\delta_t + \xi_t)",
        ),
        "iteration_matrix_from_the_updates": Identity(
            A,
            A_stated,
            tex=r"A = \frac{\partial(\delta_{t+1}, v_t)}{\partial(\delta_t, v_{t-1})}"
            r" = \begin{pmatrix}1-\eta h & -\beta\\ \eta h & \beta\end{pmatrix}",
        ),
        "noise_input_from_the_updates": Identity(
            b,
            sp.Matrix([-eta, eta]),
            tex=r"b = \frac{\partial(\delta_{t+1}, v_t)}{\partial\xi_t}"
            r" = \begin{pmatrix}-\eta\\ \eta\end{pmatrix}",
        ),
        "characteristic_polynomial": Identity(charpoly, lam**2 - a * lam + beta),
        "boundary_at_h_min": Identity(1 + beta_star - eta_star * m, 2 * root_beta),
        "boundary_at_h_max": Identity(1 + beta_star - eta_star * M, -2 * root_beta),
        # h_max = h_min (1 + u)^2 with u > 0 encodes h_max > h_min
        "optimal_rate": Identity(
            sp.sqrt(beta_star),
            (sp.sqrt(M) - sp.sqrt(m)) / (sp.sqrt(M) + sp.sqrt(m)),
            where={M: m * (1 + u) ** 2},
        ),
        "optimal_lr_prime": Identity(N_star * eta_star, 1 / sp.sqrt(m * M)),
        "optimal_N_grows_like_sqrt_kappa_over_4": Limit(
            N_star.subs(M, kappa * m) / sp.sqrt(kappa), kappa, sp.oo, sp.Rational(1, 4)
        ),
        # the characteristic polynomial at lambda = -1 is 2(1 + beta) - eta h: an
        # eigenvalue reaches -1 exactly at eta h = 2(1 + beta)
        "stability_edge_is_eigenvalue_minus_one": Identity(
            charpoly.subs(lam, -1),
            2 * (1 + beta) - eta * h,
            tex=r"\det(-I - A) = 2(1 + \beta) - \eta h",
        ),
    }
    steps = [
        ("velocity", sp.Eq(sp.Symbol("v_t"), updates[1])),
        ("error", sp.Eq(sp.Symbol(r"\delta_{t+1}"), updates[0])),
        ("iteration matrix", eq(sp.Symbol("A"), A)),
        (
            "characteristic polynomial",
            sp.Eq(sp.Symbol(r"\det(\lambda I - A)"), charpoly),
        ),
        ("Polyak's learning rate", sp.Eq(sp.Symbol(r"\eta^*"), eta_star)),
        ("Polyak's momentum", sp.Eq(sp.Symbol(r"\beta^*"), beta_star)),
        (
            "in the lecture's form",
            sp.Eq(sp.Symbol(r"N^{*}\,\eta^{*}"), 1 / sp.sqrt(m * M)),
        ),
    ]
    return Derivation(
        "Heavy ball on a quadratic: eigenvalues, stability, Polyak's optimum",
        {"lambda": lam, "eta": eta, "h": h, "beta": beta, "h_min": m, "h_max": M},
        steps,
        claims,
        label="deriv-heavy-ball",
    )
