"""The two views of an explorer: live sliders, or a precomputed grid for the static page.

Both draw with the explorer's own ``compute(**values) -> state`` and ``draw(fig,
state)``; they differ in when. :class:`Explorer` recomputes on every slider move (a
kernel is running: JupyterLab, Voilà, Binder, Colab). :class:`StaticExplorer` renders a
grid of settings once, when the book is built, and links its sliders to the frames in
the browser (``jsdlink``), so the built site needs no kernel. :func:`make_explorer`
picks one: the static view where ``LAB_EXPLORERS=static`` is set (the book build sets
it, ``book/_ext/static_explorers.py``), the live view everywhere else.
"""

from __future__ import annotations

import base64
import io
import itertools
import numbers
import os

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import _checks
from ..plots import figure_formats

__all__ = ["Explorer", "StaticExplorer", "make_explorer", "explorer_mode"]

#: Environment variable that selects the view of every explorer.
MODE_VARIABLE = "LAB_EXPLORERS"
MODES = ("live", "static")

#: Colours kept in a precomputed frame (a palette PNG): line plots need few.
FRAME_COLORS = 64

LIVE_NOTE = "Binder, Colab or <code>make lab</code> give continuous sliders."

#: Settings (frames) of one static view: each is computed and drawn once.
MAX_FRAMES = 512
#: Pixels of an explorer's figure (``figsize`` × ``dpi``²).
MAX_PIXELS = 10**7


def explorer_mode(mode: str | None = None) -> str:
    """``mode`` if given, else ``$LAB_EXPLORERS``, else ``"live"``; checked."""
    if mode is None:
        mode = os.environ.get(MODE_VARIABLE, "") or "live"
        if mode not in MODES:
            raise ValueError(
                f"mode (from ${MODE_VARIABLE}) must be one of {MODES}, got {mode!r}"
            )
    return _checks.choice("mode", mode, MODES)


def _controls(controls) -> dict:
    """``controls``, checked: slider name → spec with a ``value`` and either
    ``options`` (holding it) or numbers ``min`` <= ``value`` <= ``max``."""
    if not isinstance(controls, dict) or not controls:
        raise TypeError(
            f"controls must be a non-empty dict of slider specs, got {controls!r:.80}"
        )
    for name, spec in controls.items():
        where = f"controls[{name!r}]"
        if not isinstance(name, str) or not isinstance(spec, dict):
            raise TypeError(
                f"{where} must be a dict keyed by a string, got {spec!r:.80}"
            )
        if "value" not in spec:
            raise ValueError(f"{where} must have a 'value'")
        if "options" in spec:
            options = spec["options"]
            if not isinstance(options, list | tuple) or spec["value"] not in options:
                raise ValueError(
                    f"{where}['options'] must be a list holding the value "
                    f"{spec['value']!r}, got {options!r:.80}"
                )
            continue
        bounds = [spec.get(k) for k in ("min", "value", "max")]
        if (
            not all(_is_real(b) for b in bounds)
            or not bounds[0] <= bounds[1] <= bounds[2]
        ):
            raise ValueError(
                f"{where} must have 'options' or numbers min <= value <= max, "
                f"got {spec!r:.80}"
            )
    return controls


def _is_real(value) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
    )


def _figure_size(figsize, dpi) -> tuple:
    """(figsize, dpi), checked: two sizes in (0, 100] inches, dpi in [10, 600], and
    at most :data:`MAX_PIXELS` pixels."""
    size = _checks.array("figsize", figsize, 0.0, 100.0, low_open=True, ndim=1)
    if size.size != 2:
        raise ValueError(f"figsize must be (width, height) in inches, got {figsize!r}")
    pixels = size[0] * size[1] * _checks.real_in("dpi", dpi, 10.0, 600.0) ** 2
    if pixels > MAX_PIXELS:
        raise ValueError(
            f"figsize, dpi: the figure must have at most {MAX_PIXELS:.0e} pixels, "
            f"got {pixels:.3g}"
        )
    return (float(size[0]), float(size[1])), dpi


def _slider(name: str, spec: dict, options=None):
    spec = dict(spec)
    description = spec.pop("description", name)
    common = {
        "description": description,
        "continuous_update": False,
        "style": {"description_width": "initial"},
    }
    if options is not None:
        return widgets.SelectionSlider(
            options=[(_label(v), v) for v in options],
            value=spec["value"],
            **common,
        )
    cls = widgets.SelectionSlider if "options" in spec else widgets.FloatSlider
    return cls(**common, **spec)


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _render(figure, *, fast: bool) -> bytes:
    """The figure as PNG bytes, at the figure's own dpi (the renderer and its text
    layouts are then reused between redraws): fast zlib for live redraws, a small
    palette PNG for frames that are stored in the page."""
    if fast:
        buffer = io.BytesIO()
        figure.savefig(
            buffer, format="png", dpi="figure", pil_kwargs={"compress_level": 1}
        )
        return buffer.getvalue()
    from PIL import Image

    figure.canvas.draw()
    rgb = Image.frombuffer(
        "RGBA", figure.canvas.get_width_height(), figure.canvas.buffer_rgba()
    ).convert("RGB")
    buffer = io.BytesIO()
    rgb.quantize(colors=FRAME_COLORS).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _render_pdf(figure) -> bytes:
    """The figure as vector PDF bytes (for print)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf")
    return buffer.getvalue()


class Explorer(widgets.VBox):
    """Sliders that re-render a matplotlib figure into an ``ipywidgets.Image``.

    ``compute(**values) -> state`` and ``draw(fig, state)`` do the work; ``controls``
    maps each parameter name to the keyword arguments of its slider (``options`` gives
    a ``SelectionSlider``, otherwise a ``FloatSlider``). Attributes: ``sliders`` (name →
    slider), ``image`` (the PNG widget), ``state`` (the last computed state), ``figure``.
    Raises ``TypeError``/``ValueError`` for a ``compute`` or ``draw`` that is not
    callable, malformed ``controls``, a ``figsize`` outside (0, 100] inches, a ``dpi``
    outside [10, 600] or a figure over 10⁷ pixels.
    """

    def __init__(
        self,
        compute,
        draw,
        controls: dict,
        *,
        figsize=(6.8, 3.1),
        dpi: int = 100,
        **fixed,
    ):
        compute = _checks.function("compute", compute)
        draw = _checks.function("draw", draw)
        controls = _controls(controls)
        figsize, dpi = _figure_size(figsize, dpi)
        self._compute, self._draw, self._fixed = compute, draw, fixed
        self.sliders = {name: _slider(name, spec) for name, spec in controls.items()}
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.image = widgets.Image(format="png")
        self.state = None
        for slider in self.sliders.values():
            slider.observe(self.update, names="value")
        self.update()
        controls_box = widgets.HBox(
            list(self.sliders.values()), layout=widgets.Layout(flex_flow="row wrap")
        )
        super().__init__([controls_box, self.image])

    def values(self) -> dict:
        """The current slider values, by parameter name."""
        return {name: slider.value for name, slider in self.sliders.items()}

    def update(self, change=None) -> None:
        """Recompute the state from the sliders and re-render the image."""
        self.state = self._compute(**self.values(), **self._fixed)
        self._draw(self.figure, self.state)
        self.image.value = _render(self.figure, fast=True)


def grid_settings(controls: dict, grid: dict) -> list[dict]:
    """Every setting of a static grid, in the order of its frames.

    ``grid`` maps some of ``controls``' names to the values the page offers; the other
    controls stay at their default ``value``. The product runs over ``grid`` in
    ``controls`` order, the last name varying fastest. Raises ``ValueError`` for a name
    that is not a control, a grid without the control's default, a value outside
    the control's options or range, or more than 512 settings (each is a frame
    computed and drawn when the page is built).
    """
    controls = _controls(controls)
    if not isinstance(grid, dict):
        raise TypeError(f"grid must be a dict of slider values, got {grid!r:.80}")
    unknown = set(grid) - set(controls)
    if unknown:
        raise ValueError(f"grid names {sorted(unknown)} are not controls")
    for name, values in grid.items():
        spec = controls[name]
        if not isinstance(values, list | tuple):
            raise TypeError(
                f"grid[{name!r}] must be a list of values, got {values!r:.80}"
            )
        if spec["value"] not in values:
            raise ValueError(
                f"grid[{name!r}] must contain the default {spec['value']!r}"
            )
        for v in values:
            if "options" in spec:
                if v not in spec["options"]:
                    raise ValueError(f"grid[{name!r}]: {v!r} is not an option")
            elif not (_is_real(v) and spec["min"] <= v <= spec["max"]):
                raise ValueError(
                    f"grid[{name!r}]: {v!r} is outside [{spec['min']}, {spec['max']}]"
                )
    frames = int(np.prod([len(v) for v in grid.values()]))
    if frames > MAX_FRAMES:
        raise ValueError(
            f"grid must give at most {MAX_FRAMES} settings (frames), got {frames}"
        )
    names = [n for n in controls if n in grid]
    defaults = {n: spec["value"] for n, spec in controls.items()}
    return [
        {**defaults, **dict(zip(names, combo))}
        for combo in itertools.product(*(grid[n] for n in names))
    ]


class StaticExplorer(widgets.VBox):
    """An explorer for a page without a kernel: precomputed frames, linked in the browser.

    Renders ``draw(fig, compute(**setting))`` for every setting of ``grid`` (see
    :func:`grid_settings`) into small palette PNGs, nests them in ``ipywidgets.Stack``
    widgets (one level per slider) and links each slider's ``index`` to the
    ``selected_index`` of its level with ``jsdlink``: the widget state that a built page
    embeds holds the frames and the links, so the sliders switch frames in a plain
    browser. Attributes: ``sliders``, ``frames`` (PNG bytes, one per setting),
    ``settings``, ``stack`` (the outer ``Stack``), ``note`` (the line under the figure).
    Raises as :class:`Explorer` and :func:`grid_settings` do (at most 512 frames).
    """

    def __init__(
        self,
        compute,
        draw,
        controls: dict,
        grid: dict,
        *,
        figsize=(6.8, 3.1),
        dpi: int = 100,
        **fixed,
    ):
        compute = _checks.function("compute", compute)
        draw = _checks.function("draw", draw)
        self.settings = grid_settings(controls, grid)
        figsize, dpi = _figure_size(figsize, dpi)
        names = [n for n in controls if n in grid]
        figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(figure)
        default = {n: controls[n]["value"] for n in controls}
        self.frames = []
        self._default_pdf = None
        for setting in self.settings:
            draw(figure, compute(**setting, **fixed))
            self.frames.append(_render(figure, fast=False))
            if setting == default and "pdf" in figure_formats():
                self._default_pdf = _render_pdf(figure)
        self.sliders = {n: _slider(n, controls[n], grid[n]) for n in names}
        images = [widgets.Image(value=f, format="png") for f in self.frames]
        self._links = []
        self.stack = self._nest(images, names, [len(grid[n]) for n in names])
        held = [
            f"{controls[n].get('description', n)} = {_label(controls[n]['value'])}"
            for n in controls
            if n not in grid
        ]
        held_text = f" ({', '.join(held)} fixed)" if held else ""
        self.note = widgets.HTML(
            f"<small>{len(self.frames)} precomputed settings on this page"
            f"{held_text}. {LIVE_NOTE}</small>"
        )
        self._default_frame = self.frames[self.settings.index(default)]
        controls_box = widgets.HBox(
            list(self.sliders.values()), layout=widgets.Layout(flex_flow="row wrap")
        )
        super().__init__([controls_box, self.stack, self.note])

    def _nest(self, leaves, names, sizes):
        """Stacks of ``leaves`` (last name fastest), each level linked to its slider."""
        if not names:
            return leaves[0]
        block = len(leaves) // sizes[0]
        children = [
            self._nest(leaves[i * block : (i + 1) * block], names[1:], sizes[1:])
            for i in range(sizes[0])
        ]
        slider = self.sliders[names[0]]
        stack = widgets.Stack(children, selected_index=slider.index)
        self._links.append(
            widgets.jsdlink((slider, "index"), (stack, "selected_index"))
        )
        return stack

    def values(self) -> dict:
        """The current slider values, by parameter name."""
        return {name: slider.value for name, slider in self.sliders.items()}

    def _repr_mimebundle_(self, **kwargs):
        # The default frame rides along: notebooks viewed without widgets, and builders
        # that cannot run JavaScript (LaTeX), show it instead of a blank area.
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            data, metadata = bundle
        else:
            data, metadata = bundle, {}
        data = dict(data)
        data["image/png"] = base64.b64encode(self._default_frame).decode("ascii")
        if self._default_pdf is not None:
            # the PDF edition prints the default setting as a vector figure
            data["application/pdf"] = base64.b64encode(self._default_pdf).decode(
                "ascii"
            )
        return data, metadata


def make_explorer(
    compute,
    draw,
    controls: dict,
    grid: dict,
    *,
    mode: str | None = None,
    **fixed,
):
    """The explorer's view: :class:`Explorer` (live) or :class:`StaticExplorer`.

    ``mode`` ``"live"`` or ``"static"``; ``None`` reads ``$LAB_EXPLORERS`` (set to
    ``static`` while the book is built) and falls back to ``"live"``. The arguments are
    checked as :class:`StaticExplorer` checks them, in either mode.
    """
    mode = explorer_mode(mode)
    _checks.function("compute", compute)
    _checks.function("draw", draw)
    grid_settings(controls, grid)
    if mode == "static":
        return StaticExplorer(compute, draw, controls, grid, **fixed)
    return Explorer(compute, draw, controls, **fixed)


def frame_sizes(frames) -> np.ndarray:
    """Bytes of each frame as stored in a page (base64 inflates by 4/3)."""
    if not isinstance(frames, list | tuple) or not all(
        isinstance(f, bytes | bytearray) for f in frames
    ):
        raise TypeError(f"frames must be a list of PNG bytes, got {frames!r:.80}")
    return np.array([4 * ((len(f) + 2) // 3) for f in frames])
