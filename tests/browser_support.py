"""Helpers for the browser tests: find Chromium, serve a folder, watch a page.

The browser is Debian's ``chromium`` driven by the ``playwright`` pip package (never
``playwright install``: it downloads a browser build, which cannot work offline).
Everything here talks to 127.0.0.1 only; requests to any other host are aborted and
recorded, which is how the tests prove the site needs no CDN.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

#: Chromium flags for a headless run as root in a container, without background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    # Chromium >= 14x blocks websockets from a page to loopback ("local network access")
    # unless told otherwise; the live-kernel test needs one to 127.0.0.1.
    "--disable-features=LocalNetworkAccessChecks",
]

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def chromium_path() -> str | None:
    """Path of a Chromium binary: ``$CHROMIUM``, else ``chromium`` / ``chromium-browser``."""
    candidates = [
        os.environ.get("CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, in one plain sentence, or None if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "the 'playwright' Python package is not installed "
            "(pip install -r requirements.txt); browser tests skipped"
        )
    if chromium_path() is None:
        return (
            "no Chromium browser found (apt-get install chromium, or set $CHROMIUM); "
            "browser tests skipped"
        )
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports failures itself
        pass


@contextlib.contextmanager
def serve_directory(root: Path):
    """Serve ``root`` over HTTP on 127.0.0.1 in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def running_process(
    cmd: list[str],
    *,
    url: str,
    cwd: Path,
    timeout: float = 90.0,
    env: dict | None = None,
    log: Path | None = None,
):
    """Start ``cmd``, wait until ``url`` answers, yield the process; stop it afterwards."""
    log_file = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{cmd[0]} exited with {proc.returncode} before serving "
                    f"{url}" + (f"; log: {log}" if log else "")
                )
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{url} did not answer within {timeout:.0f} s"
                    ) from None
                time.sleep(0.3)
        yield proc
    finally:
        # The process leads its own session: stop the whole group (Voilà and its kernel).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if log:
            log_file.close()


def launch_chromium(playwright):
    """A headless Debian Chromium driven by playwright."""
    return playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
    )


@dataclass
class PageWatch:
    """What a page did while loading: errors, failed requests, attempts to leave localhost."""

    errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.errors.clear()
        self.failed_requests.clear()
        self.external_requests.clear()

    def attach(self, page) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", self._on_console)
        page.on("requestfailed", self._on_failed)
        page.on("response", self._on_response)

    def _on_console(self, msg):
        if msg.type == "error":
            where = msg.location.get("url", "") if msg.location else ""
            self.errors.append(
                f"console.error: {msg.text}" + (f" ({where})" if where else "")
            )

    def _on_failed(self, request):
        if request.url in self.external_requests:
            return  # reported as an external request, aborted on purpose
        self.failed_requests.append(f"{request.url}: {request.failure}")

    def _on_response(self, response):
        if response.status >= 400:
            self.failed_requests.append(f"{response.url}: HTTP {response.status}")


def block_external_requests(context, watch: PageWatch) -> None:
    """Abort, and record in ``watch``, every request that would leave 127.0.0.1."""

    def handle(route):
        url = route.request.url
        if (
            urlsplit(url).scheme in {"http", "https", "ws", "wss"}
            and urlsplit(url).hostname not in LOCAL_HOSTS
        ):
            watch.external_requests.append(url)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    context.route("**/*", handle)
