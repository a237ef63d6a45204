"""Tests for lab.derivations: every claim holds symbolically and numerically, every
erratum's printed form fails and its corrected form holds, and independent numerical
computations (plain loops in float64, no sympy) agree with the closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lab import derivations as D

LABELS = list(D.DERIVATIONS)


@pytest.mark.parametrize("label", LABELS)
def test_every_claim_of_the_derivation_holds_symbolically(label):
    verdicts = D.DERIVATIONS[label]().check()
    assert verdicts and all(verdicts.values()), {
        k: v for k, v in verdicts.items() if not v
    }


@pytest.mark.parametrize("label", LABELS)
def test_every_claim_of_the_derivation_holds_at_random_values(label):
    verdicts = D.DERIVATIONS[label]().check_numerically(trials=3, seed=1)
    assert all(verdicts.values()), {k: v for k, v in verdicts.items() if not v}


def test_derivations_carry_the_book_labels():
    assert {label: build().label for label, build in D.DERIVATIONS.items()} == {
        label: label for label in LABELS
    }


def test_one_dim_example_keeps_the_chapter_api():
    d = D.one_dim_example()
    assert d.steps and all(isinstance(text, str) for text, _ in d.steps)
    claim = d.claims["var_ghat_is_sigma2_over_B"]
    assert (
        isinstance(claim, (sp.Equality, D.Identity))
        and D.claims._as_claim(claim).check()
    )
    assert (
        r"\Var" in D.claims._as_claim(claim).latex()
    )  # shown as what it computes, not x = x
    assert "Var" in d._repr_markdown_() or "mathrm{Var}" in d._repr_markdown_()
    assert set(d.check()) == set(d.check_numerically()) == set(d.claims)
    assert {f"exact_gaussian_B{b}_variance" for b in (1, 2, 3, 4)} <= set(d.claims)


def test_a_false_identity_is_caught_symbolically_and_numerically():
    x = sp.Symbol("x", positive=True)
    wrong = D.Derivation(
        "wrong", {"x": x}, claims={"bad": D.claims.eq((x + 1) ** 2, x**2 + 1)}
    )
    assert wrong.check() == {"bad": False}
    assert wrong.check_numerically() == {"bad": False}


def test_a_false_series_limit_and_induction_are_caught():
    n = sp.Symbol("n", integer=True, nonnegative=True)
    t = sp.Symbol("t", positive=True)
    assert not D.Series(sp.Rational(1, 2) ** n, n, 0, 3).check()
    assert not D.Series(1 / (n + 1), n, 0, None).check()
    assert not D.Limit(1 / t, t, sp.oo, 1).check()
    assert D.errata()[0].printed.check() is False  # the printed unrolled form


@pytest.mark.parametrize("erratum", D.errata(), ids=lambda e: e.key)
def test_erratum_printed_form_fails_and_corrected_form_holds(erratum):
    verdict = erratum.verdict()
    assert not verdict.printed_holds and verdict.reason
    assert verdict.corrected_holds
    assert verdict.confirmed


def test_errata_table_has_one_row_per_erratum():
    table = D.errata_markdown()
    assert table.count("\n") == len(D.errata()) + 1
    assert "FAILS" not in table
    assert "| category |" in table.splitlines()[0]


def test_every_erratum_has_a_known_category_and_a_unique_key():
    from lab.derivations.errata import CATEGORIES

    keys = [e.key for e in D.errata()]
    assert len(keys) == len(set(keys))
    assert {e.category for e in D.errata()} == set(CATEGORIES)


def test_missing_square_summability_is_a_caveat_not_an_error():
    # Chapter 2 proves the slide's two conditions enough on the quadratic; only the
    # cited theorem needs Σ η_t² < ∞, so the entry is a caveat.
    e = {e.key: e for e in D.errata()}["robbins-monro"]
    assert e.category == "caveat" and e.caveat
    assert "cited theorem" in e.kind
    assert "1/\\sqrt t" in e.printed_check  # the verdict is about one schedule
    text = e.markdown(8)
    assert "(caveat:" in text and "Stated in full:" in text and "Corrected:" not in text
    assert e.printed_check in text and "prop-quadratic-convergence" in text


def test_N_s_notation_is_folded_into_the_rmsprop_variance_entry():
    errata = {e.key: e for e in D.errata()}
    assert "N_s-notation" not in errata
    assert "Scaling $N_s$" in errata["rmsprop-variance"].explanation
    assert "g[i]^2 + \\sigma[i]^2" in errata["rmsprop-variance"].explanation


def test_erratum_rejects_an_unknown_category():
    e = D.errata()[0]
    with pytest.raises(ValueError, match="category"):
        D.Erratum(
            e.key,
            e.slide,
            e.kind,
            e.printed_tex,
            e.corrected_tex,
            e.printed,
            e.corrected,
            e.explanation,
            category="slip",
        )


def test_an_error_entry_is_rendered_with_its_corrected_form():
    e = D.errata()[0]
    text = e.markdown(1)
    assert text.startswith("**1. Running Averages** (mathematical error:")
    assert "Corrected:" in text and "the printed form fails: " in text


# ---- independent numerical guards (float64 loops, no sympy) ---------------------------


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 50), xs=st.lists(st.floats(-10, 10), min_size=1, max_size=60))
def test_running_average_loop_equals_unrolled_weights(N, xs):
    mu = 0.0
    for x in xs:
        mu = (1 - 1 / N) * mu + x / N
    t = len(xs)
    unrolled = sum((1 - 1 / N) ** (t - s) * x for s, x in enumerate(xs, 1)) / N
    assert mu == pytest.approx(unrolled, abs=1e-9)  # float64 round-off over ≤ 60 steps


@settings(max_examples=25, deadline=None)
@given(N=st.integers(2, 40), xs=st.lists(st.floats(-10, 10), min_size=1, max_size=80))
def test_adam_correction_equals_its_weight_schedule(N, xs):
    beta = 1 - 1 / N
    m, m_hat_sched = 0.0, 0.0
    for t, x in enumerate(xs, 1):
        m = beta * m + (1 - beta) * x
        alpha = (1 - beta) / (1 - beta**t)
        m_hat_sched = (1 - alpha) * m_hat_sched + alpha * x
    assert m / (1 - beta ** len(xs)) == pytest.approx(m_hat_sched, abs=1e-8)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 20), xs=st.lists(st.floats(-10, 10), min_size=1, max_size=50))
def test_min_correction_is_exact_mean_for_t_le_N(N, xs):
    mu = 0.0
    for t, x in enumerate(xs, 1):
        k = min(N, t)
        mu = (1 - 1 / k) * mu + x / k
        if t <= N:
            assert mu == pytest.approx(float(np.mean(xs[:t])), abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(
    eta_h=st.floats(0.05, 1.9),
    h=st.floats(0.2, 5),
    sigma=st.floats(0.1, 3),
    B=st.integers(1, 64),
)
def test_stationary_variance_matches_iterated_recursion(eta_h, h, sigma, B):
    eta = eta_h / h
    v = 0.0
    for _ in range(20000):
        v = (1 - eta * h) ** 2 * v + eta**2 * sigma**2 / B
    closed = eta * sigma**2 / (B * h * (2 - eta * h))
    assert v == pytest.approx(
        closed, rel=1e-6
    )  # contraction (1-ηh)² ≤ 0.9 per step: converged


@settings(max_examples=20, deadline=None)
@given(
    eta_h=st.floats(0.05, 1.5),
    N=st.integers(1, 10),
    h=st.floats(0.2, 5),
    sigma=st.floats(0.1, 3),
    B=st.integers(1, 16),
)
def test_momentum_stationary_variance_matches_iterated_covariance(
    eta_h, N, h, sigma, B
):
    eta, beta = eta_h / h, 1 - 1 / N
    if 2 * (1 + beta) - eta * h <= 0.2:  # outside (or at the edge of) the stable region
        return
    A = np.array([[1 - eta * h, -beta], [eta * h, beta]])
    b = np.array([[-eta], [eta]])
    if max(abs(np.linalg.eigvals(A))) > 0.995:  # too slow to converge in the loop below
        return
    P = np.zeros((2, 2))
    for _ in range(5000):
        P = A @ P @ A.T + b @ b.T * sigma**2 / B
    closed = (
        eta * sigma**2 * (1 + beta) / (B * h * (1 - beta) * (2 * (1 + beta) - eta * h))
    )
    assert P[0, 0] == pytest.approx(closed, rel=1e-4)


def test_two_small_steps_differ_from_one_double_step_by_eta_squared_hessian_gradient():
    phi, a = 0.3, 1.7  # first example's gradient a; second example's gradient f = sin
    for eta in (1e-2, 1e-3):
        two = phi - eta * a - eta * math.sin(phi - eta * a)
        one = phi - eta * (a + math.sin(phi))
        remainder = eta**2 * a * math.cos(phi)
        # the next term is −η³ a² f''/2: |f''| ≤ 1, so the error is at most η³ a²/2
        assert abs((two - one) - remainder) <= eta**3 * a**2 / 2 + 1e-15


def test_variance_tends_to_zero_with_eta_one_over_sqrt_t_despite_infinite_noise_budget():
    h, s2, T = 1.0, 1.0, 200_000
    v = 0.0
    for t in range(1, T + 1):
        eta = 1 / math.sqrt(t)
        v = (1 - eta * h) ** 2 * v + eta**2 * s2
    eta_T = 1 / math.sqrt(T)
    # v_t ≈ η_t s²/(2h)(1 + O(η_t)): at T = 2·10^5, η_T ≈ 0.002, so 2% is generous
    assert v / eta_T == pytest.approx(s2 / (2 * h), rel=0.02)
    assert sum(1 / t for t in range(1, T + 1)) > math.log(T)  # Σ η_t² keeps growing


def test_expected_progress_per_example_decreases_and_lecture_B_star_maximises_its_bound():
    g, sigma, L = 0.3, 2.0, 1.5
    B = np.arange(1, 2000, dtype=float)
    per_example = g**4 / (2 * L * (B * g**2 + sigma**2))
    assert np.all(np.diff(per_example) < 0)
    sighat, ghat = 2.0, 0.3
    eta_star = np.maximum(0, (1 - 2 * sighat / (ghat * np.sqrt(B))) / L)
    best = B[np.argmax(eta_star**2 / B)]
    assert (
        abs(best - 16 * sighat**2 / ghat**2) <= 1
    )  # 711.1: the grid's nearest integers


def test_no_claim_is_displayed_as_x_equals_x():
    # sympy evaluates a computed left side (an expectation, a sum) on construction; such
    # a claim must carry a display form, or the page would show "σ²/B = σ²/B".
    for d in D.all_derivations().values():
        for name, claim in d.claims.items():
            c = D.claims._as_claim(claim)
            if isinstance(c, D.Identity) and not c.tex:
                assert sp.latex(c.lhs) != sp.latex(c.rhs), (d.title, name)


# ---- bad input: an error naming the argument (issue 15) --------------------------------


def test_the_engine_rejects_bad_input_by_name():
    from lab.derivations.claims import eq, expect_iid
    from lab.derivations.momentum import heavy_ball_covariance
    from lab.derivations.running_averages import ema_closed_form

    x, y = sp.symbols("x y", real=True)
    with pytest.raises(TypeError, match="lhs"):
        eq(None, x)
    with pytest.raises(ValueError, match="rhs"):
        eq(x, math.nan)
    with pytest.raises(ValueError, match="family"):
        expect_iid(x**2, (x,), "cauchy")  # was silently Bernoulli
    with pytest.raises(ValueError, match="expr"):
        expect_iid(x**5, (x,), "normal")  # degree > 4: work grows fast
    with pytest.raises(ValueError, match="draws"):
        expect_iid(x, sp.symbols("y_0:17"), "normal")
    with pytest.raises(ValueError, match="trials"):
        D.claims_markdown(D.running_average(), trials=10**18)
    with pytest.raises(ValueError, match="exact_batch_sizes"):
        D.one_dim_example((1, 17))
    assert D.one_dim_example([1, 2, 3, 4]) is D.one_dim_example()  # cached as before
    with pytest.raises(ValueError, match="eta, h, beta, s2"):
        heavy_ball_covariance(sp.Symbol("eta"), 0, sp.Symbol("beta"), 1)
    with pytest.raises(ValueError, match="N"):
        ema_closed_form(3, 0, sp.IndexedBase("x"), sp.Symbol("s"))
    with pytest.raises(ValueError, match="sense"):
        D.Inequality(x**2, sense=">")
    with pytest.raises(TypeError, match="items"):
        D.errata_markdown("bogus")
