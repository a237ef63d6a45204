"""Figures for the book. Each function draws on axes it is given and returns them.

Pages and explorers share these functions, so the static figure a reader sees
without a kernel is drawn by the same code as the live widget.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "normal_pdf",
    "gradient_histogram",
    "trajectory_bundle",
]

#: One palette for the book: data, theory, accent.
COLORS = {
    "data": "#4C72B0",
    "theory": "#C44E52",
    "accent": "#55A868",
    "muted": "#8C8C8C",
}


def normal_pdf(x: np.ndarray, mean: float, variance: float) -> np.ndarray:
    """The N(mean, variance) density at ``x``."""
    return np.exp(-((x - mean) ** 2) / (2 * variance)) / math.sqrt(
        2 * math.pi * variance
    )


def gradient_histogram(
    ax, samples: np.ndarray, variance: float, *, label: str = "", bins: int = 50
):
    """Histogram of ĝ samples against the N(0, variance) density."""
    samples = np.asarray(samples)
    sd = math.sqrt(variance)
    ax.hist(
        samples,
        bins=bins,
        density=True,
        color=COLORS["data"],
        alpha=0.55,
        label=f"simulated ĝ{label}",
    )
    x = np.linspace(-4.5 * sd, 4.5 * sd, 300)
    ax.plot(
        x,
        normal_pdf(x, 0.0, variance),
        color=COLORS["theory"],
        lw=2,
        label=r"$N(0,\sigma^2/B)$",
    )
    ax.axvline(0.0, color=COLORS["muted"], lw=1, ls=":")
    ax.set_xlim(-4.5 * sd, 4.5 * sd)
    ax.set_xlabel(r"$\hat g$ at $\beta^*$")
    ax.set_ylabel("density")
    return ax


def trajectory_bundle(
    ax,
    t: np.ndarray,
    paths: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    optimum: float,
    stationary_sd: float | None = None,
):
    """SGD paths β_t (thin), the exact mean E β_t (thick) and a ±2 sd band around it."""
    ax.plot(t, paths, color=COLORS["data"], lw=0.6, alpha=0.35)
    ax.fill_between(
        t,
        mean - 2 * sd,
        mean + 2 * sd,
        color=COLORS["theory"],
        alpha=0.15,
        label=r"exact $E\beta_t \pm 2\,\mathrm{sd}$",
    )
    ax.plot(t, mean, color=COLORS["theory"], lw=2, label=r"exact $E\beta_t$")
    ax.axhline(optimum, color="black", lw=1, ls="--", label=r"$\beta^*=E\,y$")
    if stationary_sd is not None and math.isfinite(stationary_sd):
        for sign in (-2, 2):
            ax.axhline(
                optimum + sign * stationary_sd, color=COLORS["accent"], lw=1, ls=":"
            )
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$\beta_t$")
    return ax
