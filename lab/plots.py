"""Figures for the book. Each function draws on axes it is given and returns them.

Pages and explorers share these functions, so the static figure a reader sees
without a kernel is drawn by the same code as the live widget.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["normal_pdf", "gradient_histogram", "trajectory_bundle", "vanilla_sgd_figure"]

#: One palette for the book: data, theory, accent.
COLORS = {"data": "#4C72B0", "theory": "#C44E52", "accent": "#55A868", "muted": "#8C8C8C"}


def normal_pdf(x: np.ndarray, mean: float, variance: float) -> np.ndarray:
    """The N(mean, variance) density at ``x``."""
    return np.exp(-((x - mean) ** 2) / (2 * variance)) / math.sqrt(2 * math.pi * variance)


def gradient_histogram(ax, samples: np.ndarray, variance: float, *, label: str = "",
                       bins: int = 50):
    """Histogram of ĝ samples against the N(0, variance) density."""
    samples = np.asarray(samples)
    sd = math.sqrt(variance)
    ax.hist(samples, bins=bins, density=True, color=COLORS["data"], alpha=0.55,
            label=f"simulated ĝ{label}")
    x = np.linspace(-4.5 * sd, 4.5 * sd, 300)
    ax.plot(x, normal_pdf(x, 0.0, variance), color=COLORS["theory"], lw=2,
            label=r"$N(0,\sigma^2/B)$")
    ax.axvline(0.0, color=COLORS["muted"], lw=1, ls=":")
    ax.set_xlim(-4.5 * sd, 4.5 * sd)
    ax.set_xlabel(r"$\hat g$ at $\beta^*$")
    ax.set_ylabel("density")
    return ax


def trajectory_bundle(ax, t: np.ndarray, paths: np.ndarray, mean: np.ndarray, sd: np.ndarray,
                      optimum: float, stationary_sd: float | None = None):
    """SGD paths β_t (thin), the exact mean E β_t (thick) and a ±2 sd band around it."""
    ax.plot(t, paths, color=COLORS["data"], lw=0.6, alpha=0.35)
    ax.fill_between(t, mean - 2 * sd, mean + 2 * sd, color=COLORS["theory"], alpha=0.15,
                    label=r"exact $E\beta_t \pm 2\,\mathrm{sd}$")
    ax.plot(t, mean, color=COLORS["theory"], lw=2, label=r"exact $E\beta_t$")
    ax.axhline(optimum, color="black", lw=1, ls="--", label=r"$\beta^*=E\,y$")
    if stationary_sd is not None and math.isfinite(stationary_sd):
        for sign in (-2, 2):
            ax.axhline(optimum + sign * stationary_sd, color=COLORS["accent"], lw=1, ls=":")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$\beta_t$")
    return ax


def vanilla_sgd_figure(fig, state: dict):
    """The Chapter 1 explorer's picture of ``state`` (from ``lab.widgets.vanilla_sgd_state``).

    Left: the distribution of ĝ at the optimum for the chosen B and σ. Right: a bundle
    of SGD trajectories with the exact mean and spread. Returns the two axes.
    """
    fig.clf()
    # A fixed layout instead of tight_layout: it halves the time a slider update takes.
    ax_hist, ax_path = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    fig.subplots_adjust(left=0.07, right=0.985, bottom=0.15, top=0.9, wspace=0.22)
    p = state["params"]
    gradient_histogram(ax_hist, state["ghat"], state["ghat_variance"])
    ax_hist.set_title(
        f"B = {p['batch_size']}, σ = {p['sigma']:.2g}: Var ĝ = {state['ghat_variance']:.3g}"
        f" (sampled {state['ghat_sample_variance']:.3g})", fontsize=9)
    ax_hist.legend(fontsize=8, loc="upper left")
    trajectory_bundle(ax_path, state["t"], state["paths"], state["mean"], state["sd"],
                      state["optimum"], state["stationary_sd"])
    ax_path.set_title(f"SGD from β₀ = {p['beta0']:.2g} with η = {p['lr']:.2g}", fontsize=9)
    ax_path.legend(fontsize=8, loc="upper right")
    return ax_hist, ax_path


def schedule_mse_figure(fig, state: dict):
    """The Chapter 2 explorer: E e_t² under η_t = c/t^p (log-log) and a few SGD paths.

    ``state`` comes from ``lab.widgets.schedule_state``. Returns the two axes.
    """
    fig.clf()
    ax_mse, ax_path = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.08, right=0.985, bottom=0.15, top=0.9, wspace=0.25)
    p, t = state["params"], state["t"]
    ax_mse.loglog(t[1:], state["mse"][1:], color=COLORS["theory"], lw=2,
                  label=r"exact $E\,e_t^2$")
    ax_mse.loglog(t[1:], state["sim_mse"][1:], ".", color=COLORS["data"], ms=2, alpha=0.6,
                  label=f"mean over {state['paths'].shape[1]} runs")
    ax_mse.loglog(t[1:], state["bias2"][1:] + 1e-300, color=COLORS["muted"], lw=1, ls="--",
                  label=r"bias$^2$ $(E\,e_t)^2$")
    ax_mse.set_ylim(max(1e-8, state["mse"][1:].min() / 5), state["mse"].max() * 5)
    ax_mse.set_xlabel("step $t$")
    ax_mse.set_ylabel(r"$E(\beta_t-\beta^*)^2$")
    ax_mse.set_title(f"η_t = {p['c']:.2g}/t^{p['p']:.2g}, B = {p['batch_size']}: "
                     f"Σ η_t {state['sum_verdict']}, Σ η_t² {state['sum_sq_verdict']}",
                     fontsize=9)
    ax_mse.legend(fontsize=8, loc="lower left")
    ax_path.semilogx(t[1:], state["paths"][1:, :8], color=COLORS["data"], lw=0.6, alpha=0.5)
    ax_path.semilogx(t[1:], state["mean"][1:] + state["optimum"], color=COLORS["theory"], lw=2,
                     label=r"exact $E\beta_t$")
    ax_path.axhline(state["optimum"], color="black", lw=1, ls="--", label=r"$\beta^*$")
    ax_path.set_xlabel("step $t$")
    ax_path.set_ylabel(r"$\beta_t$")
    ax_path.set_title("eight SGD runs", fontsize=9)
    ax_path.legend(fontsize=8, loc="upper right")
    # Log axes build hundreds of minor-tick artists per draw: skip them to keep updates fast.
    for ax in (ax_mse, ax_path):
        ax.minorticks_off()
    return ax_mse, ax_path


def temperature_figure(fig, state: dict):
    """The Chapter 3 explorer: Gibbs density, SGD histogram, and occupancy of the deep valley.

    ``state`` comes from ``lab.widgets.temperature_state``. Returns the two axes.
    """
    fig.clf()
    ax_den, ax_occ = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.985, bottom=0.15, top=0.9, wspace=0.25)
    p, x = state["params"], state["grid"]
    ax_den.hist(state["final"], bins=60, range=(x[0], x[-1]), density=True,
                color=COLORS["data"], alpha=0.5, label=f"SGD after {state['steps']} steps")
    ax_den.plot(x, state["gibbs"], color=COLORS["theory"], lw=2,
                label=r"Gibbs $\propto e^{-f/T}$")
    loss_ax = ax_den.twinx()
    loss_ax.plot(x, state["loss"], color=COLORS["muted"], lw=1, ls="--")
    loss_ax.set_ylim(state["loss"].min() - 0.2, state["loss"].min() + 3)
    loss_ax.set_yticks([])
    ax_den.set_xlabel(r"$\beta$ (dashed: the loss $f$)")
    ax_den.set_ylabel("density")
    ax_den.set_title(f"η = {p['lr']:.3g}, B = {p['batch_size']}: T = ησ²/2B = "
                     f"{state['temperature']:.3g}", fontsize=9)
    ax_den.legend(fontsize=8, loc="upper right")
    ax_occ.plot(state["t"], state["left_fraction"], color=COLORS["data"], lw=2,
                label="SGD runs left of the barrier")
    ax_occ.axhline(state["gibbs_left"], color=COLORS["theory"], ls="--",
                   label=f"Gibbs: {state['gibbs_left']:.2f}")
    ax_occ.set_ylim(-0.02, 1.02)
    ax_occ.set_xlabel("step $t$")
    ax_occ.set_ylabel(r"fraction with $\beta_t < 0$")
    ax_occ.set_title("runs start in the shallow valley (β₀ = 1)", fontsize=9)
    ax_occ.legend(fontsize=8, loc="lower right")
    return ax_den, ax_occ
