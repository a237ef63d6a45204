"""Interactive explorers: a pure compute function (tested) and a thin ipywidgets view.

Each explorer lives in its own module of this package and has three pieces:

* ``<name>_state(**params)``: validates the slider values and computes everything the
  picture shows (numpy arrays). Pure: same arguments, same result.
* ``<name>_figure(fig, state)``, next to the state function, that turns a
  state into a matplotlib figure.
* :class:`~lab.widgets.Explorer`: sliders plus an ``ipywidgets.Image`` holding the rendered PNG.
  A slider change recomputes the state and replaces the image bytes, so the view works
  in JupyterLab, Voilà, Binder and Colab, and its default image embeds in static HTML.

A module registers its explorer by defining ``REGISTRY = (name, factory, state, controls)``;
this package collects them into ``EXPLORERS`` (name → factory, used by benchmarks) and
``STATES`` (name → (state function, slider controls), used by the tests, which sweep every
slider extreme), and re-exports every module's public names.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["Explorer", "EXPLORERS", "STATES"]

EXPLORERS: dict = {}
STATES: dict = {}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    _name, _factory, _state, _controls = _module.REGISTRY
    if _name in EXPLORERS:
        raise RuntimeError(f"two explorers are called {_name!r}")
    EXPLORERS[_name] = _factory
    STATES[_name] = (_state, _controls)
    for _public in _module.__all__:
        globals()[_public] = getattr(_module, _public)
        __all__.append(_public)


def __getattr__(name):
    # The state and figure functions need no ipywidgets; the view is imported when
    # asked for (a machine without ipywidgets can still run every explorer's maths).
    if name == "Explorer":
        from ._explorer import Explorer

        return Explorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
