"""Chapter 6 explorer: momentum on the noisy quadratic model, in closed form.

Two ways to hold the learning rate while N moves: fix η (the classical form
v_t = (1 − 1/N) v_{t−1} + η ĝ_t, Φ −= v_t) or fix η' = Nη (the lecture's form
Φ −= η' μ_t with μ_t the running average of ĝ). Everything drawn is exact: the
per-curvature contraction factor (:func:`lab.momentum.heavy_ball_rate`) and the
expected loss (:func:`lab.momentum.momentum_nqm_loss`), so a slider move costs a few
milliseconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _checks
from ..momentum import heavy_ball_rate, momentum_nqm_loss, momentum_stationary_variance
from ..plots import COLORS, panels
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = [
    "MOMENTUM_CONTROLS",
    "MOMENTUM_GRID",
    "momentum_state",
    "momentum_figure",
    "momentum_explorer",
]

_HOLD = ("η' = Nη", "η")

#: Slider ranges of the Chapter 6 explorer.
MOMENTUM_CONTROLS = {
    "N": {
        "options": [1, 2, 3, 5, 10, 20, 30, 50, 100],
        "value": 10,
        "description": "N",
    },
    "lr": {
        "options": [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0],
        "value": 0.5,
        "description": "learning rate",
    },
    "hold": {
        "options": list(_HOLD),
        "value": _HOLD[0],
        "description": "the slider sets",
    },
    "noise": {
        "options": [0.0, 0.001, 0.01, 0.1],
        "value": 0.01,
        "description": "noise σ²/(Bh)",
    },
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
MOMENTUM_GRID = {
    "N": [1, 3, 10, 30, 100],
    "lr": [0.05, 0.2, 0.5, 1.0, 2.0],
    "hold": list(_HOLD),
}


def momentum_state(
    N: float = 10,
    lr: float = 0.5,
    hold: str = _HOLD[0],
    noise: float = 0.01,
    *,
    h_min: float = 0.01,
    h_max: float = 1.0,
    dim: int = 24,
    steps: int = 300,
) -> dict:
    """Everything the Chapter 6 explorer shows, for momentum with (N, η) on a noisy quadratic.

    The problem: ``dim`` curvatures :math:`h_i` log-spaced in :math:`[h_{\\min}, h_{\\max}]`,
    gradient noise variance :math:`\\sigma_i^2/B = \\text{noise}\\cdot h_i`, start
    :math:`\\Phi_0 = 1`. ``hold`` says what ``lr`` is: :math:`\\eta'` (then
    :math:`\\eta = \\eta'/N`) or :math:`\\eta` (then :math:`\\eta' = N\\eta`).

    * ``h``, ``rate``, ``rate_sgd``: the contraction factor :math:`\\rho(h)` of momentum and
      of plain SGD with learning rate :math:`\\eta'` over a grid of curvatures;
    * ``t``, ``loss``, ``loss_sgd``: the exact :math:`\\E f(\\Phi_t)` of both;
    * ``floor``: the stationary expected loss of momentum,
      :math:`\\tfrac12\\sum_i h_i \\Var_{\\infty,i}`
      (0 when unstable, with ``unstable`` True).

    Raises ``ValueError`` for N < 1, lr <= 0, an unknown ``hold``, a negative noise,
    curvatures outside [1e-6, 1e6] or ``h_min`` > ``h_max``, ``dim`` outside
    [1, 1000], steps outside [1, 10⁴] or steps × dim over 10⁷.
    """
    N = _checks.real_in("N", N, 1.0)
    lr = _checks.positive("lr", lr)
    hold = _checks.choice("hold", hold, _HOLD)
    noise = _checks.nonnegative("noise", noise)
    h_min = _checks.real_in("h_min", h_min, 1e-6, 1e6)
    h_max = _checks.real_in("h_max", h_max, 1e-6, 1e6)
    if h_min > h_max:
        raise ValueError(f"h_min must be <= h_max, got {h_min:g} > {h_max:g}")
    dim = _args.dim(dim)
    steps = _args.steps(steps)
    _args.draws("steps × dim", steps * dim)
    eta = lr / N if hold == _HOLD[0] else lr
    eta_prime = N * eta
    h = np.geomspace(h_min, h_max, dim)
    loss, div = momentum_nqm_loss(
        np.array([eta, eta_prime]), np.array([N, 1.0]), h, noise * h, 1.0, steps
    )
    grid = np.geomspace(h_min / 3, 4 * h_max, 160)
    beta = 1 - 1 / N
    unstable = bool(eta * h_max >= 2 * (1 + beta))
    floor = (
        0.0
        if unstable
        else float(0.5 * (h * momentum_stationary_variance(eta, N, h, noise * h)).sum())
    )
    return {
        "params": {"N": N, "lr": lr, "hold": hold, "noise": noise},
        "eta": eta,
        "eta_prime": eta_prime,
        "h": grid,
        "h_band": (h_min, h_max),
        "rate": heavy_ball_rate(eta, N, grid),
        "rate_sgd": heavy_ball_rate(eta_prime, 1.0, grid),
        "t": np.arange(steps + 1, dtype=np.float64),
        "loss": loss[0],
        "loss_sgd": loss[1],
        "diverged": bool(div[0]),
        "diverged_sgd": bool(div[1]),
        "floor": floor,
        "unstable": unstable,
    }


#: What momentum_figure reads from a state.
_MOMENTUM_KEYS = (
    "diverged eta eta_prime floor h h_band loss loss_sgd rate rate_sgd t".split()
)


def momentum_figure(fig, state: dict):
    """Left: contraction factor ρ(h) per curvature; right: the exact expected loss over t."""
    _args.figure(fig)
    _args.state(state, _MOMENTUM_KEYS, "momentum_state")
    ax_r, ax_l = panels(
        fig, left=0.106, right=0.980, bottom=0.165, top=0.868, wspace=0.405
    )
    N, eta, etap = state["params"]["N"], state["eta"], state["eta_prime"]
    lo, hi = state["h_band"]
    ax_r.axvspan(lo, hi, color=COLORS["muted"], alpha=0.12, lw=0)
    ax_r.semilogx(
        state["h"],
        np.minimum(state["rate"], 1.5),
        color=COLORS["theory"],
        lw=2,
        label=f"momentum N = {N:g}, η = {eta:.3g}",
    )
    ax_r.semilogx(
        state["h"],
        np.minimum(state["rate_sgd"], 1.5),
        color=COLORS["data"],
        lw=1.5,
        ls="--",
        label=f"SGD with η = η' = {etap:.3g}",
    )
    ax_r.axhline(1.0, color="black", lw=0.8)
    # headroom above the cap at 1.5 keeps the legend off the curves
    ax_r.set_ylim(0, 2.0)
    ax_r.set_yticks([0.0, 0.5, 1.0, 1.5])
    ax_r.set_xlabel("curvature $h$ (band: the problem's)")
    ax_r.set_ylabel(r"contraction per step $\rho$")
    ax_r.set_title("ρ < 1 converges; ρ ≥ 1 diverges", fontsize=10)
    ax_r.legend(fontsize=10, loc="upper left")
    t = state["t"]
    ax_l.semilogy(t, state["loss"], color=COLORS["theory"], lw=2, label="momentum")
    ax_l.semilogy(
        t, state["loss_sgd"], color=COLORS["data"], lw=1.5, ls="--", label="SGD, η = η'"
    )
    if state["floor"] > 0:
        ax_l.axhline(
            state["floor"],
            color=COLORS["accent"],
            lw=1,
            ls=":",
            label="momentum's noise floor",
        )
    top = max(state["loss"][0], state["loss_sgd"][0]) * 30
    bottom = max(1e-12, min(state["loss"].min(), state["loss_sgd"].min()) / 3)
    ax_l.set_ylim(bottom, top)
    ax_l.set_xlabel("step $t$")
    ax_l.set_ylabel(r"exact $\mathbb{E}\,f(\Phi_t)$")
    status = "diverges" if state["diverged"] else f"final {state['loss'][-1]:.2g}"
    ax_l.set_title(f"η' = Nη = {etap:.3g}: momentum {status}", fontsize=10)
    ax_l.legend(fontsize=10, loc="best")
    for ax in (ax_r, ax_l):
        ax.minorticks_off()
    return ax_r, ax_l


def momentum_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 6 explorer: sliders N, the learning rate, which one it sets, and the noise."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        momentum_state,
        momentum_figure,
        MOMENTUM_CONTROLS,
        MOMENTUM_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = (
    "momentum",
    momentum_explorer,
    momentum_state,
    MOMENTUM_CONTROLS,
    MOMENTUM_GRID,
)
