"""Screenshot the dashboard's default page for the README.

    .venv/bin/python scripts/screenshot.py                 # docs/screenshot.png: sidebar + top of section 1
    .venv/bin/python scripts/screenshot.py --full /tmp/page.png   # the whole page, every section

Runs the app with Streamlit on a free local port and drives Debian's Chromium (/usr/bin/chromium)
through Playwright; no browser download. Streamlit scrolls the main area inside its own container,
so a "full page" screenshot is taken by growing the viewport to the content's height.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from browser_support import chart_state, launch_chromium, streamlit_server, wait_for_app  # noqa: E402

WIDTH = 1400
HEIGHT = 900
# Streamlit's toolbar as a viewer of a deployed app sees it: no developer "Deploy" button.
SERVER_ARGS = ("--client.toolbarMode", "viewer")


def content_height(page) -> int:
    """The height the page needs to show the main area and the sidebar without inner scrolling."""
    return page.evaluate("""() => Math.max(
        ...['[data-testid="stMain"]', '[data-testid="stSidebarContent"]']
            .map(sel => document.querySelector(sel)).filter(Boolean).map(e => e.scrollHeight))""")


def readme_clip_height(page) -> int:
    """Bottom of section 1's second row of charts (the factor charts), plus a margin, in page pixels.

    Charts come in document order column by column, so the first two are the Vanishing column's
    |∂C/∂b_j| and factor charts; the Exploding column's sit beside them.
    """
    bottom = page.eval_on_selector_all('[data-testid="stVegaLiteChart"]', """charts => {
        const first = charts.slice(0, 2).map(c => c.getBoundingClientRect().bottom);
        return Math.max(...first);
    }""")
    return int(bottom) + 24


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", nargs="?", default=str(REPO / "docs" / "screenshot.png"),
                        help="PNG to write (default: docs/screenshot.png)")
    parser.add_argument("--full", action="store_true", help="the whole page instead of the README's top part")
    args = parser.parse_args(argv)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with streamlit_server(extra_args=SERVER_ARGS) as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1)
            charts = wait_for_app(page, url)
            height = content_height(page) if args.full else readme_clip_height(page)
            page.set_viewport_size({"width": WIDTH, "height": max(height, HEIGHT)})
            page.wait_for_timeout(1500)  # let the layout and Vega respond to the new viewport
            if not all(chart_state(page)):
                raise RuntimeError("a chart lost its drawing after the viewport grew")
            if args.full:
                page.screenshot(path=str(output), full_page=True)
            else:
                page.screenshot(path=str(output), clip={"x": 0, "y": 0, "width": WIDTH, "height": height})
        finally:
            browser.close()
    print(f"{output}: {charts} charts on the page, {output.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
