"""A real headless browser for checking and timing static pages (``sleep-snn bench report``).

:class:`HeadlessChromium` drives Debian's ``chromium`` through its ``chromedriver`` with the
W3C WebDriver protocol (plain JSON over HTTP on 127.0.0.1, spoken with the standard library:
the four calls needed here, open a page, run a script, take a screenshot, close, do not
justify the dozen packages a WebDriver client library would add to the pins).
:func:`check_page` opens a page and reports what a reader would see: how long it took to
load, whether every image loaded (``naturalWidth > 0``), the text of its tables and whether
a screenshot of it is blank. :func:`bench_page` times repeated opens.

Install the browser with ``apt-get install chromium chromium-driver`` (``.ci/run`` does).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BrowserUnavailable", "find_browser", "HeadlessChromium", "PageCheck", "check_page", "bench_page",
           "blank_fraction"]

#: Names of the browser and its driver, in the order tried (Debian's packages first).
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)


class BrowserUnavailable(RuntimeError):
    """No headless Chromium (and chromedriver) could be found or started; the message says why."""


def find_browser() -> tuple[str, str]:
    """Paths of ``chromium`` and ``chromedriver``.

    ``$SLEEP_SNN_CHROMIUM`` and ``$SLEEP_SNN_CHROMEDRIVER`` override the search of ``PATH``.

    Raises
    ------
    BrowserUnavailable
        When either is missing (the message names the packages to install).
    """
    browser = os.environ.get("SLEEP_SNN_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("SLEEP_SNN_CHROMEDRIVER") or next(filter(None, map(shutil.which, DRIVERS)), None)
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path]
    if missing:
        raise BrowserUnavailable(f"{' and '.join(missing)} not found on PATH; install them with "
                                 "`apt-get install chromium chromium-driver`")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HeadlessChromium:
    """Headless Chromium under chromedriver, as a context manager.

    Parameters
    ----------
    width, height : int
        Window size in CSS pixels (the screenshot's size).
    timeout : float
        Seconds to wait for the driver to start and for each command.
    """

    def __init__(self, width: int = 1280, height: int = 1600, timeout: float = 60.0) -> None:
        self.width, self.height, self.timeout = int(width), int(height), float(timeout)
        self._proc: subprocess.Popen | None = None
        self._session: str | None = None
        self._profile: tempfile.TemporaryDirectory | None = None
        self.version = ""

    # -- the protocol ---------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self._base}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            payload = json.loads(exc.read() or b"{}")
            value = payload.get("value", {})
            raise BrowserUnavailable(f"WebDriver {method} {path}: {value.get('error')}: "
                                     f"{str(value.get('message', '')).splitlines()[0]}") from None
        return payload.get("value")

    def __enter__(self) -> "HeadlessChromium":
        browser, driver = find_browser()
        port = _free_port()
        self._base = f"http://127.0.0.1:{port}"
        self._proc = subprocess.Popen([driver, f"--port={port}", "--allowed-ips=127.0.0.1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if (self._call("GET", "/status") or {}).get("ready"):
                    break
            except (urllib.error.URLError, ConnectionError, BrowserUnavailable, json.JSONDecodeError):
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise BrowserUnavailable(f"{driver} did not start (exit status {self._proc.poll()})")
            time.sleep(0.05)
        self._profile = tempfile.TemporaryDirectory(prefix="sleep-snn-chromium-")
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1",
                f"--window-size={self.width},{self.height}", f"--user-data-dir={self._profile.name}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "pageLoadStrategy": "normal",
                                                 "goog:chromeOptions": {"binary": browser, "args": args}}}}
        try:
            value = self._call("POST", "/session", caps)
        except BrowserUnavailable:
            self.close()
            raise
        self._session = value["sessionId"]
        self.version = value.get("capabilities", {}).get("browserVersion", "")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the browser session and stop the driver."""
        if self._session is not None:
            try:
                self._call("DELETE", f"/session/{self._session}")
            except (urllib.error.URLError, ConnectionError, BrowserUnavailable):
                pass
            self._session = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    # -- what a page shows ------------------------------------------------------------
    def open(self, url: str) -> float:
        """Load ``url`` and wait until it has loaded (images included); returns the seconds taken."""
        t0 = time.perf_counter()
        self._call("POST", f"/session/{self._session}/url", {"url": url})
        return time.perf_counter() - t0

    def execute(self, script: str, *args: Any) -> Any:
        """Run JavaScript in the page (``return ...`` gives the result)."""
        return self._call("POST", f"/session/{self._session}/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self) -> bytes:
        """A PNG of the visible part of the page."""
        return base64.b64decode(self._call("GET", f"/session/{self._session}/screenshot"))


@dataclass(frozen=True)
class PageCheck:
    """What :func:`check_page` saw.

    Parameters
    ----------
    open_seconds : float
        Wall-clock seconds of the load (navigation until the load event, images included).
    load_event_ms : float
        The page's own ``loadEventEnd`` (ms after navigation start).
    images : list of tuple
        ``(src, naturalWidth, naturalHeight)`` of every ``<img>``.
    tables : dict
        ``id`` of each table -> its rows as lists of ``(text, data-value or None)``.
    blank_fraction : float
        Fraction of the screenshot's pixels equal to its most common colour (1 = blank).
    screenshot : bytes
        The PNG.
    browser : str
        The browser version.
    """

    open_seconds: float
    load_event_ms: float
    images: list
    tables: dict
    blank_fraction: float
    screenshot: bytes
    browser: str

    @property
    def broken_images(self) -> list[str]:
        """Sources of the images that did not load (natural width 0)."""
        return [src for src, w, _ in self.images if not w]


_PAGE_STATE = """
const nav = performance.getEntriesByType('navigation')[0];
const imgs = Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight]);
const tables = {};
for (const t of document.querySelectorAll('table[id]')) {
  tables[t.id] = Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(
      c => [c.innerText.trim(), c.hasAttribute('data-value') ? c.getAttribute('data-value') : null]));
}
return {load: nav ? nav.loadEventEnd : -1, images: imgs, tables: tables, ready: document.readyState};
"""


def blank_fraction(png: bytes) -> float:
    """Fraction of the pixels of a PNG that have its most common colour (1.0 for a blank image)."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    _, counts = np.unique(arr, axis=0, return_counts=True)
    return float(counts.max() / arr.shape[0])


def check_page(path: str | Path, browser: HeadlessChromium | None = None) -> PageCheck:
    """Open a page from disk in headless Chromium and report what it shows.

    Parameters
    ----------
    path : path-like
        An HTML file (opened as a ``file://`` URL: no server).
    browser : HeadlessChromium, optional
        A started browser (default: one is started and closed for this page).

    Returns
    -------
    PageCheck

    Raises
    ------
    BrowserUnavailable
        No browser, or it could not open the page.
    """
    if browser is None:
        with HeadlessChromium() as b:
            return check_page(path, b)
    url = Path(path).resolve().as_uri()
    seconds = browser.open(url)
    state = browser.execute(_PAGE_STATE)
    png = browser.screenshot()
    tables = {k: [[(text, None if v is None else float(v)) for text, v in row] for row in rows]
              for k, rows in state["tables"].items()}
    return PageCheck(open_seconds=seconds, load_event_ms=float(state["load"]), images=state["images"],
                     tables=tables, blank_fraction=blank_fraction(png), screenshot=png, browser=browser.version)


def bench_page(path: str | Path, repeats: int = 5) -> dict:
    """Time ``repeats`` opens of a page in one headless Chromium (the first one cold).

    Parameters
    ----------
    path : path-like
        An HTML file.
    repeats : int
        Number of opens (>= 1).

    Returns
    -------
    dict
        ``open_seconds`` (each open, wall clock until the load event), ``load_event_ms``
        (the page's own measure of each), their maximum, the number of images and broken
        images, the page size in bytes and the browser version.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    path = Path(path)
    opens, loads, check = [], [], None
    with HeadlessChromium() as b:
        for _ in range(repeats):
            b.open("about:blank")
            check = check_page(path, b)
            opens.append(check.open_seconds)
            loads.append(check.load_event_ms)
    return {"page": str(path), "page_bytes": path.stat().st_size, "repeats": repeats,
            "open_seconds": opens, "open_seconds_max": max(opens), "load_event_ms": loads,
            "load_event_ms_max": max(loads), "images": len(check.images), "broken_images": check.broken_images,
            "blank_fraction": check.blank_fraction, "browser": check.browser}
