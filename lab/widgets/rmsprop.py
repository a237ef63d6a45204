"""Chapter 5 explorer: SGD against RMSProp on an ill-conditioned noisy quadratic."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import _checks
from .. import generator as make_generator
from ..plots import COLORS, panels
from ..problems import scaled_nqm
from ..rmsprop import rmsprop_nqm_error, sgd_best_lr, sgd_nqm_second_moments
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = [
    "RMSPROP_CONTROLS",
    "RMSPROP_GRID",
    "rmsprop_state",
    "rmsprop_figure",
    "rmsprop_explorer",
]

#: Slider ranges of the Chapter 5 explorer (the tests sweep every extreme).
RMSPROP_CONTROLS = {
    "lr": {
        "options": [0.001, 0.003, 0.01, 0.03, 0.1],
        "value": 0.01,
        "description": "RMSProp η",
    },
    "N_s": {"options": [10, 30, 100, 300, 1000], "value": 100, "description": "N_s"},
    "batch_size": {
        "options": [1, 4, 16, 64],
        "value": 1,
        "description": "batch size B",
    },
    "kappa": {
        "options": [1, 10, 100, 1000],
        "value": 100,
        "description": "condition κ",
    },
    "power": {"options": [1.0, 0.5], "value": 1.0, "description": "noise σᵢ ∝ hᵢ^p, p"},
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
RMSPROP_GRID = {
    "lr": [0.001, 0.003, 0.01, 0.03, 0.1],
    "batch_size": [1, 4],
    "kappa": [10, 100, 1000],
    "power": [1.0, 0.5],
}

#: SGD's learning rates searched for its best run (exact, so the search is cheap).
SGD_LRS = np.geomspace(1e-3, 1.99, 80)


def rmsprop_state(
    lr: float = 0.01,
    N_s: float = 100,
    batch_size: int = 1,
    kappa: float = 100,
    power: float = 1.0,
    *,
    dim: int = 6,
    sigma: float = 1.0,
    steps: int = 300,
    chains: int = 32,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict:
    """Everything the Chapter 5 explorer shows, on :func:`lab.problems.scaled_nqm`.

    Curvatures :math:`h_i` log-spaced from 1 to :math:`1/\\kappa`, noise
    :math:`\\sigma_i = \\sigma h_i^p`, every coordinate started at :math:`\\Phi_0 = 1`. The
    objective is the worst coordinate's relative error
    :math:`\\max_i E\\Phi_t[i]^2/\\Phi_0^2`. SGD runs at the constant learning rate of
    ``SGD_LRS`` that is best at step ``steps`` (``sgd_lr``), exactly
    (:func:`lab.rmsprop.sgd_nqm_second_moments`); RMSProp at ``lr`` is simulated with
    ``chains`` runs. Arrays: ``t``, ``sgd_worst``, ``rms_worst``, ``h``, and at the last
    step ``sgd_final``, ``rms_final`` (per coordinate), ``rms_lr_eff``
    (:math:`\\eta/\\sqrt{s_T[i]}`, chain mean of :math:`s`). Raises ``ValueError`` for a
    learning rate outside [1e-4, 0.3], :math:`N_s < 1`, :math:`B < 1`,
    :math:`\\kappa` outside [1, 10¹²], :math:`p` outside [0, 2], σ outside [0.001, 100],
    ``dim`` outside [1, 1000], steps outside [1, 10⁴], chains outside [1, 10⁴],
    steps × chains × dim over 10⁷, a negative seed or a device this machine lacks.
    """
    lr = _checks.real_in("lr", lr, 1e-4, 0.3)
    N_s = _checks.real_in("N_s", N_s, 1.0)
    B = _checks.batch_size("batch_size", batch_size)
    dim = _args.dim(dim)
    sigma = _checks.real_in("sigma", sigma, 1e-3, 100.0)
    steps, chains = _args.steps(steps), _args.chains(chains)
    _args.draws("steps × chains × dim", steps * chains * dim)
    gen = make_generator(_args.seed(seed), device)  # it checks device
    problem = scaled_nqm(kappa, dim, sigma, power)
    sgd_lr, sgd_worst = sgd_best_lr(problem, B, 1.0, steps, SGD_LRS)
    sgd_final = sgd_nqm_second_moments(problem, sgd_lr, B, 1.0, steps)[-1]
    run = rmsprop_nqm_error(problem, lr, N_s, B, steps, chains, gen)
    return {
        "params": {
            "lr": lr,
            "N_s": N_s,
            "batch_size": B,
            "kappa": float(kappa),
            "power": float(power),
        },
        "t": run["t"].astype(float),
        "h": problem.h.numpy(),
        "sgd_lr": sgd_lr,
        "sgd_worst": sgd_worst,
        "rms_worst": run["worst"],
        "sgd_final": sgd_final,
        "rms_final": run["error"][-1],
        "rms_lr_eff": lr / np.sqrt(run["s"][-1]),
    }


#: What rmsprop_figure reads from a state.
_RMSPROP_KEYS = "h rms_final rms_worst sgd_final sgd_worst t".split()


def rmsprop_figure(fig, state: dict):
    """Left: worst-coordinate error over time. Right: every coordinate's error at the
    end, against its curvature. One legend for both, above them."""
    _args.figure(fig)
    _args.state(state, _RMSPROP_KEYS, "rmsprop_state")
    ax, ax_h = panels(
        fig, left=0.132, right=0.974, bottom=0.165, top=0.781, wspace=0.472
    )
    for old in list(fig.legends):  # panels() keeps the axes, not a figure legend
        old.remove()
    p, t = state["params"], state["t"]
    sgd = {"color": COLORS["theory"], "lw": 2, "ls": "--"}
    rms = {"color": COLORS["data"], "lw": 2, "ls": "-"}
    ax.plot(t, state["sgd_worst"], **sgd)
    ax.plot(t, state["rms_worst"], **rms)
    ax.set_yscale("log")
    ax.minorticks_off()
    ax.set_ylim(1e-3, 3)
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"worst $\mathbb{E}\,\Phi_t[i]^2/\Phi_0^2$")
    h = state["h"]
    ax_h.loglog(h, state["sgd_final"], marker="o", **sgd)
    ax_h.loglog(h, state["rms_final"], marker="s", **rms)
    ax_h.minorticks_off()
    ax_h.set_ylim(1e-3, 3)
    ax_h.set_xlim(min(h.min(), 0.5) / 2, 2)
    ax_h.set_xlabel("curvature $h_i$")
    ax_h.set_ylabel(f"error at $t$ = {int(t[-1])}")
    fig.legend(
        ax_h.lines,
        [
            f"SGD, best η = {state['sgd_lr']:.3g} (exact)",
            f"RMSProp, η = {p['lr']:g} (mean of runs)",
        ],
        loc="upper center",
        ncols=2,
        frameon=False,
    )
    return fig


def rmsprop_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 5 explorer: sliders for η, N_s, B, κ and the noise model over
    :func:`rmsprop_state`."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        rmsprop_state,
        rmsprop_figure,
        RMSPROP_CONTROLS,
        RMSPROP_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = ("rmsprop", rmsprop_explorer, rmsprop_state, RMSPROP_CONTROLS, RMSPROP_GRID)
