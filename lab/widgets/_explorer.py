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
import os

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["Explorer", "StaticExplorer", "make_explorer", "explorer_mode"]

#: Environment variable that selects the view of every explorer.
MODE_VARIABLE = "LAB_EXPLORERS"
MODES = ("live", "static")

#: Colours kept in a precomputed frame (a palette PNG): line plots need few.
FRAME_COLORS = 64

LIVE_NOTE = "Binder, Colab or <code>make lab</code> give continuous sliders."


def explorer_mode(mode: str | None = None) -> str:
    """``mode`` if given, else ``$LAB_EXPLORERS``, else ``"live"``; checked."""
    if mode is None:
        mode = os.environ.get(MODE_VARIABLE, "") or "live"
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


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


class Explorer(widgets.VBox):
    """Sliders that re-render a matplotlib figure into an ``ipywidgets.Image``.

    ``compute(**values) -> state`` and ``draw(fig, state)`` do the work; ``controls``
    maps each parameter name to the keyword arguments of its slider (``options`` gives
    a ``SelectionSlider``, otherwise a ``FloatSlider``). Attributes: ``sliders`` (name →
    slider), ``image`` (the PNG widget), ``state`` (the last computed state), ``figure``.
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
    that is not a control, a grid without the control's default, or a value outside
    the control's options or range.
    """
    unknown = set(grid) - set(controls)
    if unknown:
        raise ValueError(f"grid names {sorted(unknown)} are not controls")
    for name, values in grid.items():
        spec = controls[name]
        if spec["value"] not in values:
            raise ValueError(
                f"grid[{name!r}] must contain the default {spec['value']!r}"
            )
        for v in values:
            if "options" in spec:
                if v not in spec["options"]:
                    raise ValueError(f"grid[{name!r}]: {v!r} is not an option")
            elif not spec["min"] <= v <= spec["max"]:
                raise ValueError(
                    f"grid[{name!r}]: {v!r} is outside [{spec['min']}, {spec['max']}]"
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
        self.settings = grid_settings(controls, grid)
        names = [n for n in controls if n in grid]
        figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(figure)
        self.frames = []
        for setting in self.settings:
            draw(figure, compute(**setting, **fixed))
            self.frames.append(_render(figure, fast=False))
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
        default = {n: controls[n]["value"] for n in controls}
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
    ``static`` while the book is built) and falls back to ``"live"``.
    """
    if explorer_mode(mode) == "static":
        return StaticExplorer(compute, draw, controls, grid, **fixed)
    return Explorer(compute, draw, controls, **fixed)


def frame_sizes(frames) -> np.ndarray:
    """Bytes of each frame as stored in a page (base64 inflates by 4/3)."""
    return np.array([4 * ((len(f) + 2) // 3) for f in frames])
