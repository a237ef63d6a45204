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


def _drop_widget_state(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for path in Path(app.outdir, "_sources").rglob("*.ipynb"):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if notebook.get("metadata", {}).pop("widgets", None) is not None:
            text = json.dumps(notebook, indent=1, ensure_ascii=False)
            path.write_text(text, encoding="utf-8")


def setup(app):
    os.environ["LAB_EXPLORERS"] = "static"
    app.connect("build-finished", _drop_widget_state)
    return {
        "version": "1",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
