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
def streamlit_server(app: str = "app.py", startup_timeout: float = 60.0) -> Iterator[str]:
    """Run `streamlit run app` from the repo root on a free port; yield its base URL; stop it afterwards.

    The server's output goes to a temporary file, shown in the error if it does not come up in time.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", app,
               "--server.headless", "true",
               "--server.address", "127.0.0.1",
               "--server.port", str(port),
               "--browser.gatherUsageStats", "false"]
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


def wait_for_app(page, url: str, run_timeout: float = 120.0, stable_for: float = 1.5,
                 chart_timeout: float = 30.0) -> int:
    """Open `url`, wait for the script run to finish and every chart to be drawn; return the chart count.

    The first run of the default page trains several small networks (5-10 s on two cores), hence the
    long `run_timeout` (seconds). Charts are counted as settled once their number has not changed for
    `stable_for` seconds and each holds a drawn svg/canvas.
    """
    page.goto(url, wait_until="domcontentloaded")
    # The attribute exists from the first render on; "notRunning" before the first run has even
    # started would end the wait too early, so also require some rendered content.
    page.wait_for_selector(APP_IDLE, timeout=run_timeout * 1000)
    page.wait_for_selector('[data-testid="stMain"] [data-testid="stElementContainer"]', timeout=run_timeout * 1000)
    page.wait_for_selector(APP_IDLE, timeout=run_timeout * 1000)
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
