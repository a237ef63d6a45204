"""Figures for the book. Each function draws on axes it is given and returns them.

Pages and explorers share these functions, so the static figure a reader sees
without a kernel is drawn by the same code as the live widget.
"""

from __future__ import annotations

import math
import os

import numpy as np

from lab import _checks

__all__ = [
    "COLORS",
    "SERIES",
    "LINESTYLES",
    "series_style",
    "ordered_colors",
    "style",
    "use_style",
    "figure_formats",
    "panels",
    "twin",
    "normal_pdf",
    "gradient_histogram",
    "trajectory_bundle",
]

#: One palette for the book: data, theory, accent (Okabe and Ito's colour-blind-safe
#: colours, of different lightness, so that they stay apart in grey-scale print).
COLORS = {
    "data": "#0072B2",
    "theory": "#D55E00",
    "accent": "#009E73",
    "muted": "#8C8C8C",
}

#: Series with no natural order (methods, schedules): Okabe and Ito's palette without its
#: pale yellow, in an order that alternates dark and light.
SERIES = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#E69F00", "#56B4E9")

#: Line styles paired with :data:`SERIES`, so series differ in print without colour too.
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)))


def series_style(i: int) -> dict:
    """``color`` and ``linestyle`` of the ``i``-th unordered series (cycling)."""
    if isinstance(i, bool) or not isinstance(i, int) or i < 0:
        raise ValueError(f"i must be an integer >= 0, got {i!r}")
    return {
        "color": SERIES[i % len(SERIES)],
        "linestyle": LINESTYLES[i % len(LINESTYLES)],
    }


def ordered_colors(n: int, *, cmap: str = "viridis") -> list:
    """``n`` colours for series with a natural order (a batch size, a rate, a time):
    steps along ``cmap`` from dark to light (stopping short of viridis' pale yellow), so
    the order reads in grey scale too. ``cmap`` names a matplotlib colormap."""
    import matplotlib

    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256:
        raise ValueError(f"n must be an integer in [1, 256], got {n!r}")
    if _checks.text("cmap", cmap) not in matplotlib.colormaps:
        raise ValueError(f"cmap must name a matplotlib colormap, got {cmap!r}")
    colormap = matplotlib.colormaps[cmap]
    if n == 1:
        return [tuple(float(c) for c in colormap(0.0))]
    return [tuple(float(c) for c in colormap(0.85 * k / (n - 1))) for k in range(n)]


def style() -> dict:
    """The book's matplotlib settings (``rcParams``): one house style for every figure.

    Fonts of 10–11 pt; no top and right spines; the :data:`SERIES` colour cycle (pair it
    with :func:`series_style` where series must also differ in grey-scale print). At
    1280 px the page's content column is 688 px wide, so page figures are at most 7
    inches wide at 100 dpi and explorers 6.8 inches: then nothing is shrunk to fit, and
    10 pt reads as 10 pt (``tests/test_book.py`` checks the widths of the built figures).
    """
    from matplotlib import cycler

    return {
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "font.size": 11,
        "axes.titlesize": 11,
        "axes.labelsize": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.fontsize": 10,
        "legend.framealpha": 0.85,
        "axes.spines.top": False,
        "axes.spines.right": False,
        # colours only: a line drawn with its own colour keeps a solid style; series
        # that must differ in print take series_style(i) (colour and line style)
        "axes.prop_cycle": cycler(color=list(SERIES)),
        "figure.constrained_layout.use": False,
    }


#: Environment variable naming the formats a notebook's figures are displayed in, comma
#: separated: the book build sets ``png,pdf`` (``book/_ext/static_explorers.py``), so the
#: site shows the PNG and the PDF edition the vector figure.
FORMATS_VARIABLE = "LAB_FIGURE_FORMATS"
FORMATS = ("png", "pdf")


def figure_formats() -> tuple[str, ...]:
    """The formats in ``$LAB_FIGURE_FORMATS`` (``()`` when unset); each checked to be
    one of ``png`` and ``pdf``."""
    text = os.environ.get(FORMATS_VARIABLE, "")
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    for f in formats:
        _checks.choice(f"a format in ${FORMATS_VARIABLE}", f, FORMATS)
    return formats


def use_style() -> None:
    """Apply :func:`style` to matplotlib (each page's setup cell calls it); in an IPython
    kernel, display figures in :func:`figure_formats` too, where that is set."""
    import matplotlib as mpl

    mpl.rcParams.update(style())
    formats = figure_formats()
    if formats:
        from IPython import get_ipython

        if get_ipython() is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats(*formats)


def normal_pdf(x: np.ndarray, mean: float, variance: float) -> np.ndarray:
    """The N(mean, variance) density at ``x`` (finite numbers; ``variance`` > 0)."""
    x = _checks.array("x", x)
    mean = _checks.real("mean", mean)
    variance = _checks.positive("variance", variance)
    with np.errstate(over="ignore", under="ignore"):
        pdf = np.exp(-((x - mean) ** 2) / (2 * variance)) / math.sqrt(
            2 * math.pi * variance
        )
    return _checks.finite_result(pdf, "x, mean, variance")


#: Most bins of :func:`gradient_histogram` (each is a patch matplotlib draws).
MAX_BINS = 10**4


def _axes(name: str, ax):
    """``ax``, checked to be matplotlib axes."""
    from matplotlib.axes import Axes

    return _checks.instance(name, ax, Axes, "matplotlib axes")


def gradient_histogram(
    ax, samples: np.ndarray, variance: float, *, label: str = "", bins: int = 50
):
    """Histogram of ĝ samples (a non-empty 1-D array of finite numbers) against the
    N(0, variance) density, in ``bins`` bins (an integer in [1, 10⁴])."""
    _axes("ax", ax)
    samples = _checks.array("samples", samples, ndim=1)
    if samples.size == 0:
        raise ValueError("samples must hold at least one value, got none")
    variance = _checks.positive("variance", variance)
    label = _checks.text("label", label)
    bins = _checks.integer_between("bins", bins, 1, MAX_BINS)
    sd = math.sqrt(variance)
    try:
        edges = np.histogram_bin_edges(samples, bins=bins)
    except ValueError:  # one value so large that its unit-wide range has no bins
        raise ValueError(
            f"samples, bins: cannot make {bins} bins of the samples' range "
            f"(the values are too large for their spread)"
        ) from None
    ax.hist(
        samples,
        bins=edges,
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
    ax.set_xlabel(r"$\hat g$ at $\Phi^*$")
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
    """SGD paths Φ_t (thin), their exact mean (thick) and a ±2 sd band around it.

    ``t``: the steps (1-D); ``paths``: one row per step (1-D or 2-D, a column per
    run); ``mean``, ``sd`` (>= 0): one value per step; ``stationary_sd``: None, a
    number >= 0 (dotted lines at ±2 of it around ``optimum``) or ``inf`` (none). All
    finite, else an error naming the argument.
    """
    _axes("ax", ax)
    t = _checks.array("t", t, ndim=1)
    paths = _checks.array("paths", paths, ndim=(1, 2))
    mean = _checks.array("mean", mean, ndim=1)
    sd = _checks.array("sd", sd, 0.0, ndim=1)
    for name, value in (("paths", paths), ("mean", mean), ("sd", sd)):
        if len(value) != len(t):
            raise ValueError(
                f"{name} must have one row per step (len(t) = {len(t)}), "
                f"got shape {value.shape}"
            )
    optimum = _checks.real("optimum", optimum)
    if stationary_sd is not None and not (
        isinstance(stationary_sd, float) and stationary_sd == math.inf
    ):
        stationary_sd = _checks.nonnegative("stationary_sd", stationary_sd)
    ax.plot(t, paths, color=COLORS["data"], lw=0.6, alpha=0.35)
    ax.fill_between(
        t,
        mean - 2 * sd,
        mean + 2 * sd,
        color=COLORS["theory"],
        alpha=0.15,
        label=r"exact $\mathbb{E}\,\Phi_t \pm 2\,\mathrm{sd}$",
    )
    ax.plot(t, mean, color=COLORS["theory"], lw=2, label=r"exact $\mathbb{E}\,\Phi_t$")
    ax.axhline(optimum, color="black", lw=1, ls="--", label=r"$\Phi^*=\mathbb{E}\,y$")
    if stationary_sd is not None and math.isfinite(stationary_sd):
        for sign in (-2, 2):
            ax.axhline(
                optimum + sign * stationary_sd, color=COLORS["accent"], lw=1, ls=":"
            )
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$\Phi_t$")
    return ax


def _clear_artists(ax) -> None:
    """Remove what was drawn on ``ax`` but keep the axes and their tick objects."""
    for artist in [
        *ax.lines,
        *ax.collections,
        *ax.patches,
        *ax.texts,
        *ax.images,
        *ax.artists,
    ]:
        artist.remove()
    if ax.legend_ is not None:
        ax.legend_.remove()
    for loc in ("center", "left", "right"):
        ax.set_title("", loc=loc)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_xscale("linear")
    ax.set_yscale("linear")
    ax.relim()
    ax.autoscale(True)
    ax.set_prop_cycle(None)


def panels(fig, *, width_ratios=(1.0, 1.0), **adjust):
    """Two axes side by side on ``fig``, with ``fig.subplots_adjust(**adjust)``.

    An explorer redraws the same figure on every slider move. Building new axes costs
    more than half of a redraw (each axis makes its tick artists anew), so when ``fig``
    already holds the panels of the same layout, they are kept and only what was drawn
    on them is removed (lines, patches, collections, texts, legends, titles, labels,
    scales and limits). Returns the two axes. ``width_ratios`` are two positive numbers.
    """
    from matplotlib.figure import Figure

    _checks.instance("fig", fig, Figure, "a matplotlib Figure")
    ratios = _checks.array("width_ratios", width_ratios, 0.0, low_open=True, ndim=1)
    if ratios.size != 2:
        raise ValueError(f"width_ratios must be two numbers, got {width_ratios!r:.80}")
    key = (tuple(width_ratios), tuple(sorted(adjust.items())))
    kept = getattr(fig, "_lab_panels", None)
    if kept is not None and kept[0] == key and all(a.figure is fig for a in fig.axes):
        for ax in fig.axes:
            _clear_artists(ax)
        return kept[1]
    fig.clf()
    axes = tuple(fig.subplots(1, 2, gridspec_kw={"width_ratios": list(width_ratios)}))
    fig.subplots_adjust(**adjust)
    fig._lab_panels = (key, axes)
    return axes


def twin(ax):
    """``ax.twinx()``, kept with ``ax`` between redraws (see :func:`panels`)."""
    _axes("ax", ax)
    existing = getattr(ax, "_lab_twin", None)
    if existing is not None and existing in ax.figure.axes:
        return existing
    ax._lab_twin = ax.twinx()
    return ax._lab_twin
