"""The built site in a real browser, offline: every page, then one live widget.

Headless Debian Chromium (driven by playwright) opens each page of ``_build/html``,
served on 127.0.0.1, with every request to another host aborted: so a page that
typesets its math and draws its widgets here does so without any CDN. Then Voilà runs
Chapter 1 with a real kernel, the browser moves a slider, and the figure must change.

Skipped, with the reason printed in pytest's summary, only when Chromium or the
playwright package is missing (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from browser_support import (
    PageWatch,
    block_external_requests,
    browser_unavailable_reason,
    free_port,
    launch_chromium,
    running_process,
    serve_directory,
)
from conftest import ROOT, chapter_files, toc_files

pytestmark = [pytest.mark.book, pytest.mark.browser]

#: Pages Sphinx writes besides the table of contents.
GENERATED_PAGES = ["genindex", "search"]

#: Console errors from third-party code that the book cannot fix, each with its cause.
#: Matched at the start of the message; anything else fails the test.
KNOWN_THIRD_PARTY_ERRORS = {
    # sphinx-thebe 0.3.1 adds its inline config <script> twice under Sphinx 7.4; the
    # second copy fails to redeclare the same constants, the first already defined them.
    "uncaught: Identifier 'THEBE_JS_URL' has already been declared",
    # pydata-sphinx-theme on a reader's first visit (no colour mode stored yet) logs
    # this and falls back to "auto", which is what it would pick anyway.
    "console.error: Got invalid theme mode: . Resetting to auto.",
}

SCREENSHOTS = ROOT / "_build" / "screenshots"

# The page's own checks, run in the browser once it has loaded.
PAGE_REPORT_JS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const report = {};
  const maths = [...document.querySelectorAll('.math')];
  report.math_nodes = maths.length;
  report.untypeset = maths.filter(m => !m.querySelector('mjx-container'))
                          .map(m => m.textContent.trim().slice(0, 80));
  // TeX MathJax could not read: errors, and macros it does not know (shown in red).
  report.math_errors = [];
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {
    for (const item of MathJax.startup.document.math) {
      const mml = MathJax.startup.toMML(item.root);
      if (mml.includes('<merror') || mml.includes('mathcolor="red"')) {
        report.math_errors.push(item.math.slice(0, 80));
      }
    }
  }
  // Raw TeX delimiters left in the visible text (code and math excluded).
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  report.raw_tex = [];
  const skip = 'script, style, pre, code, mjx-container, .math, .highlight, textarea';
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const t = n.textContent;
    if ((t.includes('$$') || t.includes('\\\\(') || t.includes('\\\\[') ||
         /\\$\\\\[A-Za-z]/.test(t)) && !n.parentElement.closest(skip)) {
      report.raw_tex.push(t.trim().slice(0, 80));
    }
  }
  report.images = [...document.images].map(i => ({
    src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
  report.widget_views = [...document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]')].map(s => {
    const area = s.previousElementSibling;
    const rendered = !!(area && area.classList.contains('widget-subarea') &&
                        area.querySelector('.jupyter-widgets'));
    return {rendered, height: rendered ? area.getBoundingClientRect().height : 0,
            images: rendered ? area.querySelectorAll('img').length : 0};
  });
  // Explorers: widget areas with sliders, and the natural widths of their figures.
  report.explorers = [...document.querySelectorAll('.widget-subarea')]
      .filter(a => a.querySelector('.widget-slider'))
      .map(a => [...a.querySelectorAll('img')].map(i => i.naturalWidth));
  report.links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  return report;
}
"""

WIDGETS_RENDERED_JS = """
() => [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
      .every(s => s.previousElementSibling &&
                  s.previousElementSibling.querySelector('.jupyter-widgets'))
"""

IMAGES_SETTLED_JS = "() => [...document.images].every(i => i.complete)"


def _settle(page, timeout_ms: int = 30_000) -> None:
    """Wait for widgets to render and images to finish loading; what never does is
    reported by the assertions that follow, with the page named."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for condition in (WIDGETS_RENDERED_JS, IMAGES_SETTLED_JS):
        try:
            page.wait_for_function(condition, timeout=timeout_ms)
        except PlaywrightTimeout:
            pass


def site_pages() -> list[str]:
    return toc_files() + GENERATED_PAGES


@pytest.fixture(scope="module")
def browser():
    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(built_book, browser):
    """The built site on 127.0.0.1, and a browser context that cannot leave it."""
    watch = PageWatch()
    with serve_directory(built_book) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        block_external_requests(context, watch)
        yield base, context, watch
        context.close()


class _HtmlIds:
    """The ``id``/``name`` anchors of the built HTML files, read once per file."""

    def __init__(self, root: Path):
        self.root, self._cache = root, {}

    def __call__(self, path: Path) -> set[str]:
        if path not in self._cache:
            text = path.read_text(encoding="utf-8", errors="replace")
            self._cache[path] = set(re.findall(r'\b(?:id|name)="([^"]+)"', text))
        return self._cache[path]


def _broken_internal_links(
    links: list[str], base: str, root: Path, ids: _HtmlIds
) -> list[str]:
    origin = urlsplit(base).netloc
    broken = []
    for link in sorted(set(links)):
        url = urlsplit(link)
        if url.scheme not in {"http", "https"} or url.netloc != origin:
            continue  # external or javascript:/mailto: links: not ours to resolve offline
        rel = unquote(url.path).lstrip("/")
        target = root / rel
        if not rel or rel.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{link} (no file {target.relative_to(root)})")
        elif (
            url.fragment
            and target.suffix == ".html"
            and unquote(url.fragment) not in ids(target)
        ):
            broken.append(
                f"{link} (no #{unquote(url.fragment)} in {target.relative_to(root)})"
            )
    return broken


# No pytest-timeout here: it would count the book build in the first test's setup.
# Playwright's own timeouts (below) bound every page.
@pytest.mark.parametrize("doc", site_pages())
def test_page_works_offline_in_chromium(site, built_book, doc):
    """No JS error, all math typeset (macros too), images loaded, links resolve, widgets
    drawn, and each explorer showing its default figure from the embedded state."""
    base, context, watch = site
    watch.reset()
    page = context.new_page()
    watch.attach(page)
    try:
        page.goto(f"{base}{doc}.html", wait_until="load", timeout=60_000)
        _settle(page)
        report = page.evaluate(PAGE_REPORT_JS)
        if doc in toc_files():
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(SCREENSHOTS / f"{doc.replace('/', '__')}.png"), full_page=True
            )
    finally:
        page.close()

    # Failed loads are reported once, as failed or external requests, not again here.
    errors = [
        e
        for e in watch.errors
        if not e.startswith(tuple(KNOWN_THIRD_PARTY_ERRORS))
        and "Failed to load resource" not in e
    ]
    assert not errors, f"{doc}: JavaScript errors:\n" + "\n".join(errors)
    assert not watch.external_requests, (
        f"{doc}: the page needs the network (a CDN?):\n"
        + "\n".join(watch.external_requests)
    )
    assert not watch.failed_requests, f"{doc}: failed requests:\n" + "\n".join(
        watch.failed_requests
    )

    assert not report["untypeset"], (
        f"{doc}: math MathJax did not typeset: {report['untypeset']}"
    )
    assert not report["math_errors"], (
        f"{doc}: TeX errors or unknown macros (check mathjax3_config): {report['math_errors']}"
    )
    assert not report["raw_tex"], f"{doc}: raw TeX on the page: {report['raw_tex']}"
    if doc in toc_files() and "$" in (ROOT / f"{doc}.md").read_text(encoding="utf-8"):
        assert report["math_nodes"], f"{doc}: the source has math, the page none"

    unloaded = [i["src"][:120] for i in report["images"] if not i["ok"]]
    assert not unloaded, f"{doc}: images that did not load: {unloaded}"

    for i, view in enumerate(report["widget_views"]):
        assert view["rendered"] and view["height"] > 0, (
            f"{doc}: widget area {i} is empty"
        )
    if doc in toc_files() and re.search(
        r"^\w+_explorer\(\)$", (ROOT / f"{doc}.md").read_text(encoding="utf-8"), re.M
    ):
        assert report["explorers"], f"{doc}: no explorer (sliders) rendered"
    for i, widths in enumerate(report["explorers"]):
        assert widths and all(w > 0 for w in widths), (
            f"{doc}: explorer {i} shows no figure"
        )

    broken = _broken_internal_links(
        report["links"], base, built_book, _HtmlIds(built_book)
    )
    assert not broken, f"{doc}: broken internal links:\n" + "\n".join(broken)


SLIDER_POSITION_JS = """
(handle) => [Number(handle.getAttribute('aria-valuenow')),
             Number(handle.getAttribute('aria-valuemin')),
             Number(handle.getAttribute('aria-valuemax'))]
"""


def _figure_shot(explorer) -> bytes:
    """A screenshot of the figure under the sliders (the one frame the stacks show)."""
    image = explorer.locator("img.widget-image")
    image.wait_for(state="visible", timeout=10_000)
    image.evaluate("(img) => img.complete ? null : new Promise(r => img.onload = r)")
    return image.screenshot()


@pytest.mark.parametrize("doc", chapter_files())
def test_every_slider_moves_its_figure_on_the_static_page(site, doc):
    """No kernel, no network: each slider of the page's explorer, moved with the
    keyboard one step from where it is, changes the figure below the sliders."""
    base, context, watch = site
    watch.reset()
    page = context.new_page()
    watch.attach(page)
    moved, unchanged = [], []
    try:
        page.goto(f"{base}{doc}.html", wait_until="load", timeout=60_000)
        _settle(page)
        explorers = page.locator(
            ".widget-vbox", has=page.locator(".widget-slider")
        ).filter(has=page.locator("img.widget-image"))
        assert explorers.count() >= 1, f"{doc}: no explorer on the page"
        for e in range(explorers.count()):
            explorer = explorers.nth(e)
            explorer.scroll_into_view_if_needed()
            sliders = explorer.locator(".widget-slider")
            assert sliders.count() >= 2, f"{doc}: explorer {e} has fewer than 2 sliders"
            for s in range(sliders.count()):
                slider = sliders.nth(s)
                label = slider.locator(".widget-label").first.inner_text()
                handle = slider.locator(".noUi-handle")
                now, low, high = handle.evaluate(SLIDER_POSITION_JS)
                before = _figure_shot(explorer)
                handle.focus()
                handle.press("ArrowRight" if now < high else "ArrowLeft")
                deadline = time.monotonic() + 10
                after = before
                while after == before and time.monotonic() < deadline:
                    page.wait_for_timeout(100)
                    after = _figure_shot(explorer)
                now_after = handle.evaluate(SLIDER_POSITION_JS)[0]
                assert now_after != now, f"{doc}: slider {label!r} did not move"
                (moved if after != before else unchanged).append(label)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        explorers.first.screenshot(
            path=str(SCREENSHOTS / f"static_explorer_{doc.replace('/', '__')}.png")
        )
    finally:
        page.close()
    assert not unchanged, f"{doc}: sliders that leave the figure as it was: {unchanged}"
    assert not watch.external_requests and not watch.failed_requests
    print(f"{doc}: {len(moved)} sliders move the figure: {moved}")


def test_site_loads_nothing_from_a_cdn(built_book):
    """No page refers to a script or stylesheet on another host (Thebe loads on click)."""
    offenders = set()
    for page in built_book.rglob("*.html"):
        text = page.read_text(encoding="utf-8", errors="replace")
        for tag in re.findall(r"<script\b[^>]*>|<link\b[^>]*>", text):
            loads = tag.startswith("<script") or re.search(
                r'rel="(?:stylesheet|preload)"', tag
            )
            if loads and re.search(r'\b(?:src|href)="(?:https?:)?//', tag):
                offenders.add(f"{page.relative_to(built_book)}: {tag[:160]}")
    assert not offenders, "CDN assets on the site:\n" + "\n".join(
        sorted(offenders)[:20]
    )


# ------------------------------------------------------------------ live kernel (Voilà)

FIGURE_HASH_JS = """
async (img) => {
  const bytes = await (await fetch(img.src)).arrayBuffer();
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join('');
}
"""

LIVE_CHAPTER = "book/01_vanilla_sgd"


@pytest.fixture(scope="module")
def voila_chapter(browser, tmp_path_factory):
    """Voilà serving Chapter 1's notebook on 127.0.0.1 with a real kernel."""
    notebook = ROOT / f"{LIVE_CHAPTER}.ipynb"
    assert notebook.exists(), f"{notebook} missing: run scripts/sync_notebooks.py"
    voila = Path(sys.executable).parent / "voila"
    if not voila.exists():
        pytest.fail(
            "voila is not installed in this environment (pip install -r requirements.txt)"
        )
    workdir = tmp_path_factory.mktemp("voila")
    (workdir / notebook.name).write_bytes(notebook.read_bytes())
    port = free_port()
    log = ROOT / "_build" / "voila.log"
    log.parent.mkdir(exist_ok=True)
    cmd = [
        str(voila),
        notebook.name,
        f"--port={port}",
        "--no-browser",
        "--Voila.ip=127.0.0.1",
    ]
    env = {**os.environ, "MPLBACKEND": "agg"}
    with running_process(
        cmd,
        url=f"http://127.0.0.1:{port}/voila/static/voila.js",
        cwd=workdir,
        env=env,
        log=log,
        timeout=90,
    ):
        yield f"http://127.0.0.1:{port}/"


@pytest.mark.timeout(300)  # Voilà start + running Chapter 1 + one round trip
def test_live_slider_redraws_the_figure_in_voila(browser, voila_chapter):
    """Move the learning-rate slider with the keyboard: the kernel sends a new figure."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch = PageWatch()
    block_external_requests(context, watch)  # Voilà's own CDN fonts: not needed
    page = context.new_page()
    watch.attach(page)
    try:
        # Voilà runs the whole chapter before it answers (about 15 s here).
        page.goto(voila_chapter, wait_until="load", timeout=180_000)
        explorer = page.locator(".widget-vbox", has=page.locator(".widget-slider")).last
        image = explorer.locator("img.widget-image")
        image.wait_for(state="visible", timeout=120_000)
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0",
            arg=image.element_handle(),
            timeout=60_000,
        )
        before, src_before = image.evaluate(FIGURE_HASH_JS), image.get_attribute("src")
        slider = explorer.locator(".widget-slider", has_text="learning rate")
        readout_before = slider.locator(".widget-readout").inner_text()
        handle = slider.locator(".noUi-handle")
        handle.focus()
        started = time.monotonic()
        handle.press("ArrowRight")
        page.wait_for_function(
            "([img, src]) => img.src !== src && img.complete && img.naturalWidth > 0",
            arg=[image.element_handle(), src_before],
            timeout=60_000,
        )
        round_trip = time.monotonic() - started
        after = image.evaluate(FIGURE_HASH_JS)
        readout_after = slider.locator(".widget-readout").inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        explorer.screenshot(path=str(SCREENSHOTS / "live_voila_explorer.png"))
    finally:
        context.close()
    assert readout_after != readout_before, "the slider did not move"
    assert after != before, "the kernel answered but the figure is the same"
    print(
        f"live slider round trip: {round_trip * 1000:.0f} ms "
        f"(lr {readout_before} -> {readout_after})"
    )


#: The tallest a chapter may be at 1280 px (issue 14: a chapter reads in one sitting).
MAX_CHAPTER_HEIGHT = 14_000


@pytest.mark.parametrize("doc", chapter_files())
def test_chapter_fits_the_reading_budget_at_1280px(site, doc):
    """Each chapter is at most MAX_CHAPTER_HEIGHT px tall in a 1280 px window, once
    MathJax has typeset; a full-page screenshot is kept for the figure pass by eye."""
    base, context, watch = site
    page = context.new_page()
    try:
        page.goto(f"{base}{doc}.html", wait_until="load", timeout=60_000)
        _settle(page)
        page.evaluate(
            "async () => { if (window.MathJax && MathJax.startup)"
            " await MathJax.startup.promise; }"
        )
        height = page.evaluate("document.documentElement.scrollHeight")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(SCREENSHOTS / f"page_{Path(doc).name}.png"), full_page=True
        )
    finally:
        page.close()
    print(f"{doc}: {height} px at 1280 px")
    assert height <= MAX_CHAPTER_HEIGHT, (
        f"{doc} is {height} px tall at 1280 px; the budget is {MAX_CHAPTER_HEIGHT}"
    )
