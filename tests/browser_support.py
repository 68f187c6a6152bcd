"""Helpers shared by the browser tests and scripts/screenshot.py: run the Streamlit app, wait for the page.

Nothing here needs pytest. The browser is Debian's Chromium driven by Playwright's Python package
(no Playwright browser download): launch it with `launch_chromium(playwright)`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The app container once the script has finished a run (Streamlit sets "running" while it executes).
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Every st.altair_chart / st.vega_lite_chart; Vega draws into an <svg> or a <canvas> inside it.
CHART = '[data-testid="stVegaLiteChart"]'


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Terminate the server by its PID; kill it if it does not exit within `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


@contextlib.contextmanager
def streamlit_server(app: str = "app.py", startup_timeout: float = 60.0,
                     extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Run `streamlit run app` from the repo root on a free port; yield its base URL; stop it afterwards.

    `extra_args` go after the standard options (e.g. ("--client.toolbarMode", "viewer")). The server's
    output goes to a temporary file, shown in the error if it does not come up in time.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", app,
               "--server.headless", "true",
               "--server.address", "127.0.0.1",
               "--server.port", str(port),
               "--browser.gatherUsageStats", "false",
               *extra_args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env)
        try:
            deadline = time.monotonic() + startup_timeout
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    state = (f"exited with code {process.returncode}" if process.poll() is not None
                             else f"not healthy after {startup_timeout:g} s")
                    raise RuntimeError(f"streamlit server {state}; its output:\n{log.read()}")
                time.sleep(0.25)
            yield url
        finally:
            _stop(process)


def launch_chromium(playwright, **options):
    """Debian's Chromium through Playwright (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **options)


def chart_state(page) -> list[bool]:
    """For each chart on the page, whether it holds a drawn <svg> or <canvas> with a non-zero size."""
    return page.eval_on_selector_all(CHART, """charts => charts.map(chart => {
        const drawn = chart.querySelector('svg, canvas');
        if (!drawn) return false;
        const box = drawn.getBoundingClientRect();
        return box.width > 0 && box.height > 0;
    })""")


def wait_for_run(page, url: str, run_timeout: float = 120.0) -> None:
    """Open `url` and wait until the app's first script run has finished (`run_timeout` in seconds).

    Before the first run the app container says "initial", while running "running", then "notRunning".
    """
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(APP_IDLE, timeout=run_timeout * 1000)


def wait_for_charts(page, stable_for: float = 1.5, chart_timeout: float = 30.0) -> int:
    """Wait until the number of charts has not changed for `stable_for` seconds and each holds a drawn
    svg/canvas, with the script still idle; return the number of charts."""
    deadline = time.monotonic() + chart_timeout
    last, since = None, time.monotonic()
    while True:
        state = chart_state(page)
        now = time.monotonic()
        if state != last:
            last, since = state, now
        elif all(state) and now - since >= stable_for and page.locator(APP_IDLE).count() == 1:
            return len(state)
        if now > deadline:
            raise TimeoutError(f"charts not settled after {chart_timeout:g} s: drawn per chart = {state}")
        page.wait_for_timeout(250)


def wait_for_app(page, url: str, run_timeout: float = 120.0, stable_for: float = 1.5,
                 chart_timeout: float = 30.0) -> int:
    """Open `url`, wait for the script run to finish and every chart to be drawn; return the chart count.

    The first run of the default page trains several small networks (about 10 s on two idle cores,
    several times that on a busy machine), hence the long `run_timeout` (seconds).
    """
    wait_for_run(page, url, run_timeout)
    return wait_for_charts(page, stable_for, chart_timeout)
