"""Is the server's memory flat across many reruns with different settings? (a one-off measurement)

    .venv/bin/python scripts/memory_check.py [--visits 50]

Starts the app, opens it in headless Chromium with a different setting each time (seed, depth, remedies;
short training so one visit takes seconds), and prints the server's resident memory after each visit.
The caches are bounded (st.cache_data max_entries, a 96-entry training store), so memory should level off.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser_support import launch_chromium, streamlit_server, wait_for_app  # noqa: E402


def server_rss_mb(port: str) -> float:
    """Resident memory of the process whose command line names this port, in MB (Linux /proc)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, PermissionError):
            continue
        if b"streamlit" in b" ".join(cmdline) and port.encode() in cmdline:
            status = (proc / "status").read_text()
            return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024
    raise RuntimeError("server process not found")


def settings(rng: random.Random, visit: int) -> str:
    """A query string: a new seed every visit, random depth and remedies, short training."""
    params = {"seed": visit, "depth": rng.choice([1, 4, 30, 300, 3000]), "steps": 3, "epochs": 2,
              "relu": rng.choice([0, 1]), "gating": rng.choice([0, 1]), "clip": rng.choice([0, 1]),
              "regularize": rng.choice([0, 1])}
    return "&".join(f"{key}={value}" for key, value in params.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=50)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rng = random.Random(0)
    with streamlit_server() as url, sync_playwright() as playwright:
        port = url.rsplit(":", 1)[1]
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        readings = []
        for visit in range(args.visits):
            wait_for_app(page, f"{url}/?{settings(rng, visit)}")
            readings.append(server_rss_mb(port))
            print(f"visit {visit + 1:3d}: server RSS {readings[-1]:7.1f} MB", flush=True)
        browser.close()
    print(f"first {readings[0]:.1f} MB, after 10 {readings[9]:.1f} MB, last {readings[-1]:.1f} MB, "
          f"growth over the last 40 visits {readings[-1] - readings[9]:+.1f} MB")


if __name__ == "__main__":
    main()
