"""Chapter 4 explorer: running averages of a noisy, drifting signal, and their corrections."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from .. import _checks
from ..plots import COLORS, panels, series_style
from ..running_averages import CORRECTIONS, running_average_weight
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = [
    "RUNNING_AVERAGES_CONTROLS",
    "RUNNING_AVERAGES_GRID",
    "running_averages_state",
    "running_averages_figure",
    "running_averages_explorer",
    "schedule_moments",
]

#: Slider ranges of the Chapter 4 explorer (the tests sweep every extreme).
RUNNING_AVERAGES_CONTROLS = {
    "N": {"options": [2, 5, 10, 20, 50, 100, 200], "value": 20, "description": "N"},
    "sigma": {
        "min": 0.0,
        "max": 2.0,
        "step": 0.1,
        "value": 0.5,
        "description": "noise σ",
    },
    "drift": {
        "min": -1.0,
        "max": 1.0,
        "step": 0.1,
        "value": 0.5,
        "description": "drift (per 100 steps)",
    },
    "correction": {
        "options": list(CORRECTIONS),
        "value": "min",
        "description": "weights",
    },
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
RUNNING_AVERAGES_GRID = {
    "N": [5, 10, 20, 50, 100],
    "drift": [0.0, 0.5, 1.0],
    "correction": ["none", "cumulative", "min", "adam"],
}

_LABELS = {
    "none": "1/N (uncorrected)",
    "cumulative": "1/t (cumulative)",
    "min": "1/min(N, t)",
    "adam": "Adam",
}
#: One colour and line style per schedule, the same as in the chapter's figures.
_STYLES = {name: series_style(i) for i, name in enumerate(CORRECTIONS)}


@functools.lru_cache(maxsize=64)
def _weights(N: int, S: int, correction: str) -> tuple[float, ...]:
    return tuple(running_average_weight(t, N, correction) for t in range(1, S + 1))


def schedule_moments(weights, mean_signal, sigma: float, x=None):
    """Exact mean and variance of :math:`\\hat\\mu_t = (1-w_t)\\hat\\mu_{t-1} + w_t x_t`
    for independent :math:`x_t \\sim (\\mu_t, \\sigma^2)`.

    By linearity :math:`\\E\\hat\\mu_t` is the same average applied to :math:`\\mu_t`; the
    variance obeys :math:`V_t = (1-w_t)^2 V_{t-1} + w_t^2\\sigma^2`, :math:`V_0 = 0`. Returns
    float64 arrays of length :math:`S`: the mean, the variance and, if a realisation
    ``x`` is given, its average (else None). Plain floats in one loop: for S in the
    hundreds this is faster than any tensor code. Raises ``ValueError`` for weights
    outside [0, 1], more than 10⁷ of them, a ``mean_signal`` or ``x`` of another
    length, non-finite values, a negative σ, or moments that overflow.
    """
    w = _checks.array("weights", weights, 0.0, 1.0, ndim=1, max_size=_args.MAX_DRAWS)
    m = _checks.array("mean_signal", mean_signal, ndim=1, max_size=_args.MAX_DRAWS)
    if m.size != w.size:
        raise ValueError(
            f"weights, mean_signal must have the same length, got {w.size}, {m.size}"
        )
    sigma = _checks.nonnegative("sigma", sigma)
    xs = None
    if x is not None:
        xs = _checks.array("x", x, ndim=1, max_size=_args.MAX_DRAWS)
        if xs.size != w.size:
            raise ValueError(
                f"weights, x must have the same length, got {w.size}, {xs.size}"
            )
        xs = xs.tolist()
    w, m = w.tolist(), m.tolist()
    mean, var, real = [], [], []
    mu, V, r, s2 = 0.0, 0.0, 0.0, sigma * sigma
    for t, wt in enumerate(w):
        mu = (1 - wt) * mu + wt * m[t]
        V = (1 - wt) ** 2 * V + wt * wt * s2
        mean.append(mu)
        var.append(V)
        if xs is not None:
            r = (1 - wt) * r + wt * xs[t]
            real.append(r)
    names = "weights, mean_signal, sigma" + ("" if xs is None else ", x")
    mean, var = np.array(mean), np.array(var)
    _checks.finite_result(mean, names), _checks.finite_result(var, names)
    if xs is None:
        return mean, var, None
    return mean, var, _checks.finite_result(np.array(real), names)


def running_averages_state(
    N: int = 20,
    sigma: float = 0.5,
    drift: float = 0.5,
    correction: str = "min",
    *,
    steps: int = 300,
    start: float = 1.0,
    seed: int = 0,
) -> dict:
    """Everything the Chapter 4 explorer shows.

    The signal is :math:`x_t = \\mu_t + \\sigma z_t`, :math:`z_t \\sim N(0, 1)` independent,
    with the drifting mean :math:`\\mu_t = \\text{start} + \\text{drift}\\cdot t/100`,
    :math:`t = 1..S` (:math:`S` = ``steps``). For every weight schedule of
    :data:`lab.running_averages.CORRECTIONS`
    (``none``: 1/N, ``cumulative``: 1/t, ``min``: 1/min(N, t), ``adam``) the state
    holds the average of this realisation (``realised``), and, in closed form, its
    expectation (``mean``), standard deviation (``sd``) and root-mean-square error
    :math:`\\sqrt{(\\E\\hat\\mu_t - \\mu_t)^2 + \\Var\\,\\hat\\mu_t}` (``rmse``), each a dict
    by schedule. ``correction`` picks the schedule drawn in front. Raises
    ``ValueError`` for an integer ``N`` outside [1, 10⁶], σ outside [0, 5], a drift
    outside [−5, 5], an unknown ``correction``, steps outside [2, 10⁴], a start outside
    [−1000, 1000] or a negative seed.
    """
    N = _checks.integer_at_least("N", N, 1, 10**6)
    sigma = _checks.real_in("sigma", sigma, 0.0, 5.0)
    drift = _checks.real_in("drift", drift, -5.0, 5.0)
    correction = _checks.choice("correction", correction, CORRECTIONS)
    S = _args.steps(steps, low=2)
    start = _checks.real_in("start", start, -1000.0, 1000.0)
    seed = _args.seed(seed)
    t = np.arange(1, S + 1)
    m = start + drift * t / 100.0
    x = m + sigma * np.random.default_rng(seed).standard_normal(S)
    realised, mean, sd, rmse = {}, {}, {}, {}
    for name in CORRECTIONS:
        mean[name], var, realised[name] = schedule_moments(
            _weights(N, S, name), m, sigma, x
        )
        sd[name] = np.sqrt(var)
        rmse[name] = np.sqrt((mean[name] - m) ** 2 + var)
    return {
        "params": {"N": N, "sigma": sigma, "drift": drift, "correction": correction},
        "t": t.astype(float),
        "x": x,
        "m": m,  # the mean μ_t
        "realised": realised,
        "mean": mean,
        "sd": sd,
        "rmse": rmse,
        "lag": float(N - 1),
        "stationary_sd": float(sigma / np.sqrt(2 * N - 1)),
    }


#: What running_averages_figure reads from a state.
_RUNNING_AVERAGES_KEYS = "m mean realised rmse sd stationary_sd t x".split()


def running_averages_figure(fig, state: dict):
    """Left: the signal, one realised average and its exact mean ± 2 sd. Right: RMS
    error of every schedule."""
    _args.figure(fig)
    _args.state(state, _RUNNING_AVERAGES_KEYS, "running_averages_state")
    ax, ax_err = panels(
        fig, left=0.093, right=0.974, bottom=0.165, top=0.890, wspace=0.313
    )
    p, t, name = state["params"], state["t"], state["params"]["correction"]
    color = _STYLES[name]["color"]
    ax.plot(t, state["x"], ".", ms=2.5, color=COLORS["muted"], alpha=0.6, label="$x_t$")
    ax.plot(t, state["m"], "--", color="black", lw=1, label="mean $\\mu_t$")
    lo = state["mean"][name] - 2 * state["sd"][name]
    hi = state["mean"][name] + 2 * state["sd"][name]
    ax.fill_between(
        t, lo, hi, color=color, alpha=0.2, lw=0, label=r"$\mathbb{E}\hat\mu_t\pm2$ sd"
    )
    ax.plot(t, state["realised"][name], color=color, lw=1.8, label=r"$\hat\mu_t$")
    spread = 3 * max(p["sigma"], 0.05)
    bottom, top = state["m"].min() - spread, state["m"].max() + spread
    # room for the legend on the side the mean drifts away from
    room = 0.45 * (top - bottom)
    if p["drift"] >= 0:
        ax.set_ylim(bottom - room, top)
    else:
        ax.set_ylim(bottom, top + room)
    ax.set_xlabel("step $t$")
    ax.set_title(f"weights {_LABELS[name]}, N = {p['N']}")
    ax.legend(loc="lower right" if p["drift"] >= 0 else "upper right", ncol=2)
    # the chosen schedule last, on top of the others
    for other in [c for c in CORRECTIONS if c != name] + [name]:
        ax_err.plot(
            t,
            state["rmse"][other],
            lw=2.6 if other == name else 1.3,
            label=_LABELS[other],
            **_STYLES[other],
        )
    ax_err.axhline(
        state["stationary_sd"],
        color="black",
        lw=0.8,
        ls=":",
        label=r"$\sigma/\sqrt{2N-1}$",
    )
    top = max(0.05, max(float(state["rmse"][c].max()) for c in CORRECTIONS))
    ax_err.set_ylim(0, 2.2 * top)  # the legend sits in the top part
    ax_err.set_xlabel("step $t$")
    ax_err.set_title(r"exact RMS error $\sqrt{\mathbb{E}(\hat\mu_t - \mu_t)^2}$")
    handles, labels = ax_err.get_legend_handles_labels()
    order = [labels.index(_LABELS[c]) for c in CORRECTIONS] + [len(labels) - 1]
    ax_err.legend(
        [handles[i] for i in order],
        [labels[i].split(" (")[0] for i in order],  # the left panel names them
        loc="upper center",
        ncol=2,
        fontsize=10,
        columnspacing=0.8,
        handlelength=1.4,
    )
    return fig


def running_averages_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 4 explorer: sliders for N, σ, the drift and the weight schedule over
    :func:`running_averages_state`."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        running_averages_state,
        running_averages_figure,
        RUNNING_AVERAGES_CONTROLS,
        RUNNING_AVERAGES_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = (
    "running_averages",
    running_averages_explorer,
    running_averages_state,
    RUNNING_AVERAGES_CONTROLS,
    RUNNING_AVERAGES_GRID,
)
