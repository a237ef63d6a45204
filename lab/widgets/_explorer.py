"""The view shared by every explorer: sliders that re-render a figure into an image."""

from __future__ import annotations

import io

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["Explorer"]


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
        figsize=(9.0, 3.4),
        dpi: int = 90,
        **fixed,
    ):
        self._compute, self._draw, self._fixed, self._dpi = compute, draw, fixed, dpi
        self.sliders = {}
        for name, spec in controls.items():
            spec = dict(spec)
            description = spec.pop("description", name)
            cls = widgets.SelectionSlider if "options" in spec else widgets.FloatSlider
            self.sliders[name] = cls(
                description=description,
                continuous_update=False,
                style={"description_width": "initial"},
                **spec,
            )
        self.figure = Figure(figsize=figsize)
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
        buffer = io.BytesIO()
        # Fast PNG compression: the image is re-sent on every slider move.
        self.figure.savefig(
            buffer, format="png", dpi=self._dpi, pil_kwargs={"compress_level": 1}
        )
        self.image.value = buffer.getvalue()
