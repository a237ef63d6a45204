"""Height in CSS pixels of each built chapter at a given window width (default 1280).

    python scripts/page_heights.py [--width 1280] [--html _build/html] [--screenshots DIR]

Reads the built site (``make book`` first) through a local server in headless Chromium,
waits for MathJax to typeset, and prints one line per page: its name and its height.
With ``--screenshots`` it also saves a full-page PNG of each chapter there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import launch_chromium, serve_directory  # noqa: E402

CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.md"))


def page_heights(html: Path, width: int = 1280, screenshots: Path | None = None):
    """``{page: height}`` for every chapter of the site in ``html`` at ``width`` px."""
    from playwright.sync_api import sync_playwright

    heights = {}
    with serve_directory(html) as base, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": width, "height": 900})
        for doc in CHAPTERS:
            page.goto(f"{base}book/{doc}.html", wait_until="load")
            page.wait_for_timeout(1500)  # MathJax and the widget manager settle
            heights[doc] = page.evaluate("document.documentElement.scrollHeight")
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshots / f"{doc}.png"), full_page=True)
        browser.close()
    return heights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    for doc, h in page_heights(args.html, args.width, args.screenshots).items():
        print(f"{doc:24s} {h:6d}")


if __name__ == "__main__":
    main()
