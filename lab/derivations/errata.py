"""The errata: where the lecture is wrong as printed, with sympy's verdicts."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from lab import _checks
from lab.derivations.claims import (
    Claim,
    Identity,
    Induction,
    Inequality,
    Limit,
    Series,
    WellTyped,
)
from lab.derivations.rmsprop import rmsprop_second_moment
from lab.derivations.running_averages import ema_closed_form, running_average_symbols

# ---------------------------------------------------------------------------------------
# Errata
# ---------------------------------------------------------------------------------------

__all__ = ["Erratum", "Verdict", "errata", "errata_markdown"]

#: The three kinds of entry the errata page separates (:attr:`Erratum.category`).
CATEGORIES = ("typo", "mathematical error", "caveat")


@dataclass(frozen=True)
class Verdict:
    """sympy's verdict on an erratum: the printed form fails (and why), the fix holds."""

    printed_holds: bool
    reason: str
    corrected_holds: bool

    def __post_init__(self):
        _checks.flag("printed_holds", self.printed_holds)
        _checks.text("reason", self.reason)
        _checks.flag("corrected_holds", self.corrected_holds)

    @property
    def confirmed(self) -> bool:
        return (not self.printed_holds) and self.corrected_holds


@dataclass(frozen=True)
class Erratum:
    """A place where a slide is wrong as printed, or needs a caveat.

    ``printed_tex``/``corrected_tex`` are the slide's and the corrected formula (LaTeX);
    ``printed``/``corrected`` are the claims sympy checks; ``kind`` says in a few words
    what is wrong ("sign error (exponent)", "dropped factor", ...). ``category`` is one
    of ``CATEGORIES``: a ``"typo"`` (the intent is clear, nothing downstream
    depends on it), a ``"mathematical error"``, or a ``"caveat"`` (defensible as
    intended, but false when read literally, or stated with weaker hypotheses than the
    result it cites; its corrected form is the statement in full).
    ``printed_check``/``corrected_check`` say what sympy checks when that is not simply
    "the printed form" (a hypothesis tested on one schedule, say). Raises
    ``ValueError`` for an unknown ``category``.
    """

    key: str
    slide: str
    kind: str
    printed_tex: str
    corrected_tex: str
    printed: Claim
    corrected: Claim
    explanation: str
    category: str = "mathematical error"
    printed_check: str = "the printed form"
    corrected_check: str = "the corrected form"

    def __post_init__(self):
        for name in ("key", "slide", "kind", "printed_tex", "corrected_tex"):
            _checks.text(name, getattr(self, name), empty=False)
        _checks.instance("printed", self.printed, Claim, "a lab.derivations Claim")
        _checks.instance("corrected", self.corrected, Claim, "a lab.derivations Claim")
        for name in ("explanation", "printed_check", "corrected_check"):
            _checks.text(name, getattr(self, name))
        _checks.choice("category", self.category, CATEGORIES)

    @property
    def caveat(self) -> bool:
        """True for a caveat: defensible as intended, false as literally printed."""
        return self.category == "caveat"

    def verdict(self) -> Verdict:
        """Computed once per erratum and process (sympy is slow; the claims do not change)."""
        if id(self) not in _VERDICTS:
            printed_holds = bool(self.printed.check())
            reason = "" if printed_holds else (self.printed.refute() or "does not hold")
            _VERDICTS[id(self)] = (
                self,
                Verdict(printed_holds, reason, bool(self.corrected.check())),
            )
        return _VERDICTS[id(self)][1]

    def markdown(self, number: int) -> str:
        """The entry as the errata page shows it: slide, category, both forms, sympy's
        verdict (computed now) and the explanation. A caveat's corrected form is shown
        as the statement in full."""
        v = self.verdict()
        label = "Stated in full" if self.caveat else "Corrected"
        printed = "holds" if v.printed_holds else "fails: " + v.reason
        corrected = "holds" if v.corrected_holds else "FAILS"
        return (
            f"**{number}. {self.slide}** ({self.category}: {self.kind})\n\n"
            f"Printed:\n\n$$\n{self.printed_tex}\n$$\n\n"
            f"{label}:\n\n$$\n{self.corrected_tex}\n$$\n\n"
            f"sympy: {self.printed_check} {printed}; "
            f"{self.corrected_check} {corrected}.\n\n"
            f"{self.explanation}\n"
        )


_VERDICTS: dict[int, tuple[Erratum, Verdict]] = {}


@functools.cache
def errata() -> tuple[Erratum, ...]:
    """Every erratum of the lecture found so far, each with checkable printed/corrected forms."""
    N, M, t, s, n, x, mu_hat = running_average_symbols()
    a = 1 - 1 / N
    ema = {mu_hat: lambda k: a * mu_hat(k - 1) + x[k] / N}
    out = []

    out.append(
        Erratum(
            "unrolled-exponent",
            "Running Averages",
            "sign error (exponent)",
            r"\hat\mu_t = \frac1N \sum_{1 \le s \le t} \left(1 - \frac1N\right)^{-(t-s)} x_s",
            r"\hat\mu_t = \frac1N \sum_{1 \le s \le t} \left(1 - \frac1N\right)^{t-s} x_s",
            Induction(
                mu_hat,
                lambda k: ema_closed_form(k, N, x, s, sign=-1),
                ema,
                {mu_hat: 0},
                t,
                0,
                inputs=(x,),
            ),
            Induction(
                mu_hat,
                lambda k: ema_closed_form(k, N, x, s),
                ema,
                {mu_hat: 0},
                t,
                0,
                inputs=(x,),
            ),
            "Each step multiplies the old average by $1 - 1/N < 1$, so older values get *smaller* "
            "weights. The printed exponent gives the oldest value the largest weight.",
        )
    )
    out.append(
        Erratum(
            "geometric-series-exponent",
            "Running Averages",
            "sign error (exponent)",
            r"\sum_{n \ge 0} \left(1 - \frac1N\right)^{-n} = N",
            r"\sum_{n \ge 0} \left(1 - \frac1N\right)^{n} = N",
            Series(a ** (-n), n, 0, N, where={N: 1 + M}),
            Series(a**n, n, 0, N, where={N: 1 + M}),
            "The same sign as in the unrolled form: with a negative exponent every term is at least 1 "  # noqa: E501
            "and the sum diverges. Written with $N = 1 + M$, $M > 0$ (so that $N > 1$).",
        )
    )
    tp = sp.Symbol("t", positive=True)
    c, p = sp.symbols("c p", positive=True)
    out.append(
        Erratum(
            "physicist-limit",
            "Physicist's Proof of the Convergence Theorem",
            "t → 0 for t → ∞",
            r"\lim_{t \to 0} \eta_t = 0",
            r"\lim_{t \to \infty} \eta_t = 0",
            Limit(c / tp**p, tp, 0, 0),
            Limit(c / tp**p, tp, sp.oo, 0),
            "The theorem's hypothesis, two slides earlier, reads $t \\to \\infty$; "
            "for $\\eta_t = c/t^p$ the limit at $0$ is infinite.",
            category="typo",
        )
    )
    eta, h, c0 = sp.symbols("eta h c_0", positive=True)
    tt = sp.Symbol("t", real=True)
    phi = c0 * sp.exp(-eta * h * tt)  # solves dΦ/dt = −η h Φ, the flow of ℓ = ½hΦ²
    ell = h * phi**2 / 2
    out.append(
        Erratum(
            "gradient-flow-eta",
            "Gradient Flow Guarantees Progress",
            "dropped factor",
            r"\frac{d\ell}{dt} = -\|\nabla_\Phi \ell(\Phi)\|^2",
            r"\frac{d\ell}{dt} = -\eta\,\|\nabla_\Phi \ell(\Phi)\|^2",
            Identity(
                sp.diff(ell, tt),
                -((h * phi) ** 2),
                witness={eta: 2, h: 1, c0: 1, tt: 0},
            ),
            Identity(sp.diff(ell, tt), -eta * (h * phi) ** 2),
            "With $d\\Phi/dt = -\\eta g$ (the slide's own definition) the chain rule keeps the "
            "$\\eta$. The conclusion $d\\ell/dt \\le 0$ is unaffected. Checked on "
            "$\\ell = \\tfrac12 h\\Phi^2$, whose flow is $\\Phi(t) = c_0 e^{-\\eta h t}$; "
            "the general case is in {ref}`deriv-gradient-flow`.",
        )
    )
    phi_vec = sp.Matrix(sp.symbols("Phi_t[1] Phi_t[2]", real=True))
    step = sp.Symbol(r"\frac{\eta\,\mu_t[1]}{\sqrt{s_t[1]}+\epsilon}", real=True)
    out.append(
        Erratum(
            "adam-index",
            "Adam (simplified)",
            "missing index [i]",
            r"\Phi_{t+1}[i] = \Phi_t - \frac{\eta}{\sqrt{s_t[i]} + \epsilon}\,\mu_t[i]",
            r"\Phi_{t+1}[i] = \Phi_t[i] - \frac{\eta}{\sqrt{s_t[i]} + \epsilon}\,\mu_t[i]",
            WellTyped(
                lambda: phi_vec[0],
                lambda: phi_vec - step,
                r"\Phi_{t+1}[1] = \Phi_t - \tfrac{\eta\,\mu_t[1]}{\sqrt{s_t[1]}+\epsilon}",
            ),
            WellTyped(
                lambda: phi_vec[0],
                lambda: phi_vec[0] - step,
                r"\Phi_{t+1}[1] = \Phi_t[1] - \tfrac{\eta\,\mu_t[1]}{\sqrt{s_t[1]}+\epsilon}",
            ),
            "The left side is one coordinate, the right side subtracts a number from the whole vector. "  # noqa: E501
            "The RMSProp slide has the index. (Adam's $\\sqrt{s} + \\epsilon$ against RMSProp's "
            "$\\sqrt{s + \\epsilon}$ is a convention, not an error: both are in use.)",
            category="typo",
        )
    )
    g = sp.Symbol("g", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    B = sp.Symbol("B", integer=True, positive=True)
    E_sq = (
        rmsprop_second_moment().claims["second_moment_is_g2_plus_variance"].lhs
    )  # g² + σ²/B
    out.append(
        Erratum(
            "rmsprop-variance",
            "RMSProp",
            "ambiguous variance (off by B)",
            r"s[i] \approx \E\,\ghat[i]^2 = g[i]^2 + \sigma[i]^2",
            r"s[i] \approx \E\,\ghat[i]^2 = g[i]^2 + \frac{\sigma[i]^2}{B}"
            r"\quad(\sigma[i]\text{ per example})",
            Identity(E_sq, g**2 + sigma**2, witness={B: 2, g: 0, sigma: 1}),
            Identity(E_sq, g**2 + sigma**2 / B),
            "Correct if $\\sigma[i]$ is the standard deviation of the *batch* gradient "
            "$\\ghat[i]$; the slide does not say. Everywhere else the lecture's $\\sigma$ and "
            "$\\sighat$ are per example (the $2\\sighat/\\sqrt{B}$ bound, the $N_s$ slide), and "
            "with that reading the variance term needs $1/B$. The difference is what the "
            '"Scaling $N_s$" slide is about. That slide names its target $\\E\\,g[i]^2$; '
            "$g$ is not random, so read literally that is $g[i]^2$, but the slide means the "
            "second moment of a *per-example* gradient, $g[i]^2 + \\sigma[i]^2$, which is "
            "what averaging per-example squares estimates, for every $B$. "
            "See {ref}`deriv-rmsprop`.",
        )
    )
    L, gt, sh = sp.symbols(r"L \tilde{g} \hat{\sigma}", positive=True)
    sig_tilde_sq = sh**2 / B  # what s̃ − g̃² estimates: Var ĝ of a batch of B
    out.append(
        Erratum(
            "complete-calculation-B",
            "A Complete Calculation of η (in One Dimension)",
            "variance off by B (inconsistent pair)",
            r"B^*(t) = \frac{16(\sigtil^t)^2}{(\gtil^t)^2 + \epsilon}"
            r"\ \text{ and }\ \eta^t = \frac{(\gtil^t)^2}{32(\sigtil^t)^2 L}",
            r"B^*(t) = \frac{16\,B\,(\sigtil^t)^2}{(\gtil^t)^2 + \epsilon}"
            r"\ \text{ and }\ \eta^t = \frac{(\gtil^t)^2}{32(\sigtil^t)^2 L}",
            Identity(
                16 * sig_tilde_sq / gt**2,
                16 * sh**2 / gt**2,
                witness={B: 2, sh: 1, gt: 1},
            ),
            Identity(16 * B * sig_tilde_sq / gt**2, 16 * sh**2 / gt**2),
            "$\\stil$ averages squared *batch* gradients, so $\\stil - \\gtil^2$ estimates "
            "$\\Var\\,\\ghat = \\sighat^2/B$, not the per-example $\\sighat^2$ that "
            "$B^* = 16\\sighat^2/\\ghat^2$ needs. With that reading $\\eta^t = "
            "\\gtil^2/(32\\sigtil^2 L) = B\\ghat^2/(32\\sighat^2 L) = \\eta_B$ is right, and "
            "$B^*(t)$ comes out $B$ times too small, so the averaging weight $B/B^*(t)$ is $B$ times "  # noqa: E501
            "too large. With the other reading ($\\sigtil$ per example) $B^*(t)$ is right and "
            "$\\eta^t$ is $\\eta_1$, missing the factor $B$. Either way the pair is inconsistent "
            "for $B > 1$; the fix shown keeps $\\stil$ and multiplies $B^*(t)$ by $B$ (or average "
            'per-example squares, as the "Scaling $N_s$" slide recommends, and multiply $\\eta^t$ '
            'by $B$). In the "Complete Algorithm" the constant $\\lambda_B$ can absorb the factor '
            "only while $B$ is fixed.",
        )
    )
    # Caveats: defensible as intended, false as literally printed (or citing a result
    # whose hypotheses are stronger than the slide's)
    tt_int = sp.Symbol("t", integer=True, positive=True)
    out.append(
        Erratum(
            "robbins-monro",
            "The Classical Convergence Theorem",
            "the cited theorem assumes Σ η_t² < ∞",
            r"\eta_t > 0,\ \lim_{t\to\infty}\eta_t = 0,\ \sum_t \eta_t = \infty",
            r"\eta_t > 0,\ \sum_t \eta_t = \infty,\ \sum_t \eta_t^2 < \infty",
            Series((1 / sp.sqrt(tt_int)) ** 2, tt_int, 1, None),
            Series((1 / tt_int ** sp.Rational(3, 4)) ** 2, tt_int, 1, None),
            "The stochastic-gradient result the slide cites assumes $\\sum_t \\eta_t^2 < \\infty$ "
            "as well {cite}`bertsekas1996neuro,bertsekas2000gradient,robbins1951stochastic`. "
            "The slide's conditions do not imply it: $\\eta_t = 1/\\sqrt t$ meets them and "
            "$\\sum_t \\eta_t^2$ diverges (the check above, which is about that one schedule "
            "and the cited hypotheses, not about the slide's conclusion). Nothing shows the "
            "slide's statement false: on the quadratic, {prf:ref}`prop-quadratic-convergence` "
            "shows the slide's conditions enough for the mean squared error to vanish; "
            "for $\\eta_t = 1/\\sqrt t$ the variance decays like $\\eta_t\\sigma^2/(2hB)$ "
            "({ref}`the conditions for the power schedules <deriv-convergence>`). "
            "The caveat: "
            "the cited proof covers only the schedules with $\\sum_t \\eta_t^2 < \\infty$, "
            "such as $\\eta_t = t^{-3/4}$; for a general smooth, non-negative loss under "
            "the slide's conditions alone the reference proves nothing.",
            category="caveat",
            printed_check=(
                "the cited theorem's $\\sum_t \\eta_t^2 < \\infty$ for "
                "$\\eta_t = 1/\\sqrt t$, which meets the slide's conditions,"
            ),
            corrected_check="the same hypothesis for $\\eta_t = t^{-3/4}$",
        )
    )
    v, u, eta_, cc, theta = sp.symbols("v u eta c theta", positive=True)
    gr = sp.Symbol(r"\hat{g}", real=True)
    th = 1 / (1 + u)  # θ ∈ (0, 1]: g = ĝ − c + 2cθ covers |ĝ − g| ≤ c
    g_of = lambda gh: gh - cc + 2 * cc * th  # noqa: E731
    printed_gap = (-eta_ * (gr - cc) * gr) - (-eta_ * g_of(gr) * gr)
    fixed_gap = (-eta_ * (v - cc) * v) - (
        -eta_ * g_of(-v) * (-v)
    )  # ĝ = −v < 0, |ĝ| = v
    out.append(
        Erratum(
            "progress-sign",
            "A Progress Guarantee",
            "assumes ĝ > 0",
            r"-\eta(\ghat - (\ghat - g))\ghat \le -\eta\left(\ghat - \frac{2\sighat}{\sqrt B}\right)\ghat",  # noqa: E501
            r"-\eta(\ghat - (\ghat - g))\ghat \le -\eta\left(|\ghat| - \frac{2\sighat}{\sqrt B}\right)|\ghat|",  # noqa: E501
            Inequality(printed_gap, ">=", witness={gr: -1, u: 1, cc: 1, eta_: 1}),
            Inequality(fixed_gap, ">="),
            "Writing $c = 2\\sighat/\\sqrt B$ and $|\\ghat - g| \\le c$: the printed step holds "
            "for $\\ghat > 0$ and fails for $\\ghat < 0$. In one dimension one may take "
            "$\\ghat > 0$ without loss of generality (flip the sign of $\\beta$), so the slide is "
            "defensible; with $|\\ghat|$ the bound holds for both signs (the corrected check is the "  # noqa: E501
            "case $\\ghat = -v < 0$; the case $\\ghat > 0$ is in {ref}`the progress "
            "guarantee, η*(B) and B* <deriv-progress>`). $B^*$ and "
            "$\\eta_B$ depend on $\\ghat^2$ only, $\\eta^*(B)$ needs $|\\ghat|$.",
            category="caveat",
        )
    )
    Lp, gh, shp, w = sp.symbols(r"L \hat{g} \hat{\sigma} w", positive=True)
    aa = 2 * shp / gh
    per_example_w = ((1 - aa / (aa * w)) / Lp) ** 2 / (
        aa**2 * w**2
    )  # η*(B)²/B at B = a²w²
    out.append(
        Erratum(
            "B-star-domain",
            "Optimizing B",
            "maximise over η*(B) ≥ 0",
            r"B^* = \arg\max_{B > 0} \frac{\eta^*(B)^2}{B}",
            r"B^* = \arg\max_{B \ge 4\sighat^2/\ghat^2} \frac{\eta^*(B)^2}{B}",
            Inequality(
                per_example_w.subs(w, 2) - per_example_w,
                ">=",
                witness={w: sp.Rational(1, 2)},
            ),
            Inequality(
                per_example_w.subs(w, 2) - per_example_w, ">=", where={w: 1 + u}
            ),
            "Write $B = (2\\sighat/\\ghat)^2 w^2$, so $B^*$ is $w = 2$. For $w < 1$ "
            "($B < 4\\sighat^2/\\ghat^2$) the optimal $\\eta^*(B)$ is negative, the guarantee "
            "promises no progress, and $\\eta^*(B)^2/B$ grows without bound as $B \\to 0$. The "
            "squared objective must be restricted to $\\eta^*(B) \\ge 0$ (or written "
            "$\\max(\\eta^*(B), 0)^2/B$); there $B^*$ is the maximum.",
            category="caveat",
        )
    )
    return tuple(out)


def errata_markdown(items=None) -> str:
    """A markdown table of the errata with sympy's verdicts, computed now.

    One short row per erratum, narrow enough for a page; the printed and corrected forms
    and sympy's reason are in each entry's full record (:meth:`Erratum.verdict`).
    ``items``: a tuple or list of :class:`Erratum` (default: :func:`errata`).
    """
    items = errata() if items is None else items
    if not isinstance(items, tuple | list):
        raise TypeError(f"items must be a tuple or list of Errata, got {items!r:.80}")
    for item in items:
        _checks.instance(
            "items", item, Erratum, "a sequence of lab.derivations.Erratum"
        )
    rows = [
        "| # | slide | category | what | printed form | corrected form |",
        "|---|---|---|---|---|---|",
    ]
    for i, e in enumerate(items, 1):
        v = e.verdict()
        printed = "holds" if v.printed_holds else "fails ✗"
        fixed = "holds ✓" if v.corrected_holds else "FAILS ✗"
        rows.append(
            f"| {i} | {e.slide} | {e.category} | {e.kind} | {printed} | {fixed} |"
        )
    return "\n".join(rows)
