"""Section 6 in a real browser (Chromium through Playwright): names from an upload are drawn as the text they are,
never as bold, a link, an image, LaTeX or a coloured directive (issue 19 §3). Skipped without /usr/bin/chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import APP_IDLE, CHROMIUM, CHROMIUM_ARGS, streamlit_server

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI installs it", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

NAMES = ["**x**", "$x$", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>", ":red[x]", "a`b`c"]
RENDERED = ("<strong", "<em", "<a ", "<img", "katex", "<code", "color:")


def test_hostile_column_names_are_drawn_as_plain_text():
    with streamlit_server() as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/?section=run")
        page.wait_for_selector(APP_IDLE, timeout=120_000)
        for name in NAMES:
            data = f"step,grad_norm/{name},grad_norm/b\n0,1,1\n10,oops,1\n".encode()
            page.set_input_files('[data-testid="stFileUploaderDropzoneInput"]',
                                 files=[{"name": "run.csv", "mimeType": "text/csv", "buffer": data}])
            alert = page.locator('[data-testid="stAlertContentError"]', has_text=f"grad_norm/{name}").first
            alert.wait_for(timeout=60_000)
            assert not [tag for tag in RENDERED if tag in alert.inner_html()], name
        browser.close()
