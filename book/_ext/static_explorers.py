"""Sphinx extension: the book's explorers as precomputed, kernel-free views.

The chapters call ``lab.widgets.<name>_explorer()`` as a reader would in a
notebook. That call gives the live explorer unless ``LAB_EXPLORERS=static`` is
set; this extension sets it in the build's environment, which the kernels that
execute the chapters inherit, so the built pages hold
:class:`lab.widgets.StaticExplorer` views whose sliders work in the browser
without a kernel.

The executed notebooks offered for download (``_sources/**/*.ipynb``) keep
their outputs but not the saved widget state: the frames are the page's, and a
reader who runs the downloaded notebook gets the live explorer.
"""

import json
import os
from pathlib import Path


def _drop_print_figures(notebook) -> bool:
    """Drop the figures' PDF copies (the PDF edition's) from ``notebook``'s
    outputs; whether there were any."""
    dropped = False
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("data", {}).pop("application/pdf", None) is not None:
                dropped = True
    return dropped


def _trim_downloads(app, exception):
    """The site's downloadable notebooks (``_sources``) without the widget
    state and the figures' PDF copies."""
    if exception is not None or app.builder.format != "html":
        return
    for path in Path(app.outdir, "_sources").rglob("*.ipynb"):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        dropped_state = (
            notebook.get("metadata", {}).pop("widgets", None) is not None
        )
        if _drop_print_figures(notebook) or dropped_state:
            text = json.dumps(notebook, indent=1, ensure_ascii=False)
            path.write_text(text, encoding="utf-8")


def setup(app):
    os.environ["LAB_EXPLORERS"] = "static"
    # Figures come as PNG (the site) and PDF (the PDF edition, vector): the
    # two builders share one execution cache (lab.plots.figure_formats).
    os.environ["LAB_FIGURE_FORMATS"] = "png,pdf"
    app.connect("build-finished", _trim_downloads)
    return {
        "version": "1",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
