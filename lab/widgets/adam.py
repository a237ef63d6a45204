"""Chapter 7 explorer: Adam's first steps under the three bias corrections, on a noisy quadratic."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _checks
from ..adam import adam_constant_gradient_step, adam_nqm
from ..plots import COLORS, ordered_colors, panels, series_style
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = ["ADAM_CONTROLS", "ADAM_GRID", "adam_state", "adam_figure", "adam_explorer"]

_CORRECTIONS = ("min", "adam", "none")

#: Slider ranges of the Chapter 7 explorer.
ADAM_CONTROLS = {
    "N_g": {"options": [1, 3, 10, 30, 100], "value": 10, "description": "N_μ"},
    "N_s": {"options": [10, 100, 1000, 10000], "value": 1000, "description": "N_s"},
    "lr": {
        "options": [0.001, 0.003, 0.01, 0.03, 0.1],
        "value": 0.01,
        "description": "η",
    },
    # the default first: a slider test moves each slider to its last option
    "bias_correction": {
        "options": ["none", "min", "adam"],
        "value": "none",
        "description": "bias correction",
    },
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
ADAM_GRID = {
    "N_g": [1, 3, 10, 30, 100],
    "N_s": [10, 100, 1000, 10000],
    "bias_correction": ["none", "min", "adam"],
}


def adam_state(
    N_g: float = 10,
    N_s: float = 1000,
    lr: float = 0.01,
    bias_correction: str = "none",
    *,
    eps: float = 1e-8,
    h_min: float = 0.01,
    h_max: float = 1.0,
    dim: int = 6,
    noise: float = 0.01,
    steps: int = 200,
    chains: int = 16,
    seed: int = 0,
) -> dict:
    """Everything the Chapter 7 explorer shows: Adam on a noisy quadratic, three corrections.

    The problem: ``dim`` curvatures log-spaced in :math:`[h_{\\min}, h_{\\max}]`, gradient
    noise standard deviation :math:`\\sqrt{\\text{noise}\\cdot h_i}`, start
    :math:`\\Phi_0 = 1`; ``chains`` runs per correction share the same noise draws
    (:func:`lab.adam.adam_nqm`).

    * ``step``: :math:`|\\Delta\\Phi_t|/\\eta` per coordinate for the selected correction,
      ``(steps, dim)``, and ``predicted``: the constant-gradient step
      (:func:`lab.adam.adam_constant_gradient_step`);
    * ``loss``: the population loss for each of ``corrections`` (``(3, steps + 1)``).

    Raises ``ValueError`` for N_g, N_s < 1, lr <= 0, an unknown correction, a
    negative eps, curvatures outside [1e-6, 1e6] or ``h_min`` > ``h_max``, noise
    outside [0, 10⁶], ``dim`` outside [1, 1000], steps outside [1, 10⁴], chains outside
    [1, 10⁴], steps × chains × dim over 10⁷ or a negative seed.
    """
    N_g = _checks.real_in("N_g", N_g, 1.0)
    N_s = _checks.real_in("N_s", N_s, 1.0)
    lr = _checks.positive("lr", lr)
    bias_correction = _checks.choice("bias_correction", bias_correction, _CORRECTIONS)
    eps = _checks.nonnegative("eps", eps)
    h_min = _checks.real_in("h_min", h_min, 1e-6, 1e6)
    h_max = _checks.real_in("h_max", h_max, 1e-6, 1e6)
    if h_min > h_max:
        raise ValueError(f"h_min must be <= h_max, got {h_min:g} > {h_max:g}")
    noise = _checks.real_in("noise", noise, 0.0, 1e6)
    dim = _args.dim(dim)
    steps, chains = _args.steps(steps), _args.chains(chains)
    _args.draws("steps × chains × dim", steps * chains * dim)
    seed = _args.seed(seed)
    h = np.geomspace(h_min, h_max, dim)
    z = np.random.default_rng(seed).standard_normal((steps, chains, dim))
    run = adam_nqm(h, np.sqrt(noise * h), 1.0, z, lr, N_g, N_s, eps, _CORRECTIONS)
    k = _CORRECTIONS.index(bias_correction)
    t = np.arange(1, steps + 1)
    return {
        "params": {
            "N_g": N_g,
            "N_s": N_s,
            "lr": lr,
            "bias_correction": bias_correction,
        },
        "corrections": _CORRECTIONS,
        "selected": k,
        "h": h,
        "t": t.astype(np.float64),
        "step": run["step"][k] / lr,
        "predicted": adam_constant_gradient_step(t, N_g, N_s, bias_correction),
        "loss": run["loss"],
    }


#: What adam_figure reads from a state.
_ADAM_KEYS = "corrections h loss predicted selected step t".split()


def adam_figure(fig, state: dict):
    """Left: step sizes :math:`|\\Delta\\Phi_t|/\\eta` per coordinate; right: the loss under
    the three corrections."""
    _args.figure(fig)
    _args.state(state, _ADAM_KEYS, "adam_state")
    ax_s, ax_l = panels(
        fig, left=0.106, right=0.828, bottom=0.165, top=0.868, wspace=0.466
    )
    p, t = state["params"], state["t"]
    h = state["h"]
    for j, (hj, color) in enumerate(zip(h, ordered_colors(len(h)))):
        ax_s.loglog(
            t,
            np.maximum(state["step"][:, j], 1e-6),
            color=color,
            lw=1,
            ls="-",
            label=f"h = {hj:.2g}" if j in (0, len(h) - 1) else None,
        )
    ax_s.loglog(t, state["predicted"], color="black", lw=2, ls="--", label="constant ĝ")
    ax_s.axhline(1.0, color=COLORS["muted"], lw=0.8)
    ax_s.set_ylim(1e-2, 1000)
    ax_s.set_xlabel("step $t$")
    ax_s.set_ylabel(r"$|\Delta\Phi_t|/\eta$")
    ax_s.set_title(
        f"'{p['bias_correction']}', N_μ = {p['N_g']:g}, N_s = {p['N_s']:g}",
        fontsize=10,
    )
    ax_s.legend(loc="upper center", ncols=2, handlelength=1.2, columnspacing=0.8)
    for k, name in enumerate(state["corrections"]):
        bold = k == state["selected"]
        ax_l.semilogy(
            np.arange(len(state["loss"][k])),
            state["loss"][k],
            lw=2.2 if bold else 1.2,
            alpha=1 if bold else 0.7,
            label=f"'{name}'",
            **series_style(k),
        )
    ax_l.set_ylim(max(1e-6, state["loss"].min() / 3), state["loss"].max() * 3)
    ax_l.set_xlabel("step $t$")
    ax_l.set_ylabel(r"$f(\Phi_t)$, mean of runs")
    ax_l.set_title(f"loss, η = {p['lr']:g}", fontsize=10)
    ax_l.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), handlelength=1.5)
    for ax in (ax_s, ax_l):
        ax.minorticks_off()
    return ax_s, ax_l


def adam_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 7 explorer: sliders N_g, N_s, η and the bias correction."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        adam_state,
        adam_figure,
        ADAM_CONTROLS,
        ADAM_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = ("adam", adam_explorer, adam_state, ADAM_CONTROLS, ADAM_GRID)
