"""Interactive explorers: a pure compute function (tested) and a thin ipywidgets view.

Each explorer lives in its own module of this package and has three pieces:

* ``<name>_state(**params)``: validates the slider values and computes everything the
  picture shows (numpy arrays). Pure: same arguments, same result.
* ``<name>_figure(fig, state)``, next to the state function, that turns a
  state into a matplotlib figure.
* ``<NAME>_CONTROLS`` (the sliders) and ``<NAME>_GRID`` (the settings a built page
  offers without a kernel: some sliders' values, the others held at their defaults).
* ``<name>_explorer(*, mode=None)``: the view. In a running kernel (JupyterLab, Voilà,
  Binder, Colab) it is :class:`~lab.widgets.Explorer`: a slider change recomputes the
  state and replaces the image. While the book is built (``LAB_EXPLORERS=static``) it is
  :class:`~lab.widgets.StaticExplorer`: every setting of the grid is drawn once, by the
  same two functions, and the sliders switch between those frames in the browser with
  no kernel. ``mode="live"`` or ``"static"`` chooses explicitly.

A module registers its explorer by defining
``REGISTRY = (name, factory, state, controls, grid)``; this package collects them into
``EXPLORERS`` (name → factory, used by benchmarks), ``STATES`` (name → (state function,
slider controls), used by the tests, which sweep every slider extreme) and ``GRIDS``
(name → grid), and re-exports every module's public names.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = [
    "Explorer",
    "StaticExplorer",
    "make_explorer",
    "explorer_mode",
    "grid_settings",
    "EXPLORERS",
    "STATES",
    "GRIDS",
]

EXPLORERS: dict = {}
STATES: dict = {}
GRIDS: dict = {}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    _name, _factory, _state, _controls, _grid = _module.REGISTRY
    if _name in EXPLORERS:
        raise RuntimeError(f"two explorers are called {_name!r}")
    EXPLORERS[_name] = _factory
    STATES[_name] = (_state, _controls)
    GRIDS[_name] = _grid
    for _public in _module.__all__:
        globals()[_public] = getattr(_module, _public)
        __all__.append(_public)


def __getattr__(name):
    # The state and figure functions need no ipywidgets; the view is imported when
    # asked for (a machine without ipywidgets can still run every explorer's maths).
    if name in {
        "Explorer",
        "StaticExplorer",
        "make_explorer",
        "explorer_mode",
        "grid_settings",
    }:
        from . import _explorer

        return getattr(_explorer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
