"""Screenshots of the dashboard for the README, into docs/:

    docs/screenshot.png          the default page (the lesson's first step) in English, 1,400 px wide, from the
                                 top to the end of the first row of two charts side by side (vanishing | exploding)
    docs/screenshot-zh.png       the same in Chinese (?lang=zh)
    docs/lesson-<k>.png          each step of the lesson (?lesson=1&step=k), whole; at a remedy step the question
                                 answered with the answer the numbers give
    docs/section-<name>.png      each section (?section=<name>), to its first row of two charts
    docs/readme-link.png         the README's example link ?depth=50&relu=1&clip=1&train=1 (a dead ReLU chain)
    docs/remedies.png            every remedy on in section 1 (?section=chain&relu=1&gating=1&clip=1&regularize=1)
    docs/depth-10000.png         the chain at depth 10,000 (?depth=10000)
    docs/phone.png               the default page on a 400 px phone, whole (drawn at 2× for sharpness)

    .venv/bin/python scripts/screenshot.py                  # all of the above
    .venv/bin/python scripts/screenshot.py --only phone     # some of them: screenshot, screenshot-zh,
                                                            # section-<name>, readme-link,
                                                            # remedies, depth-10000, phone
    .venv/bin/python scripts/screenshot.py --full /tmp/shots   # whole pages instead, for reviewing

Runs the app with Streamlit on a free local port and drives Debian's Chromium (/usr/bin/chromium) through
Playwright; no browser download. Streamlit scrolls the main area inside its own container, so a tall shot is
taken by growing the viewport to the height wanted. Chinese text needs a CJK font in the system
(Debian: fonts-noto-cjk); without one every Chinese character is drawn as a box, and this script stops.
Each shot is taken only once the page has settled (browser_support.wait_settled) and is checked as the
browser test checks a view; problems are printed, not fatal.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from browser_support import (DESKTOP, PHONE, blank_chart_problems, formula_problems, formula_report,  # noqa: E402
                             launch_chromium, metric_problems, metric_report, new_page, open_page, page_report, rerun,
                             streamlit_server, tick_label_problems, wait_settled)
from gradviz.page import lesson  # noqa: E402
from gradviz.page.settings import DEFAULTS, SECTIONS  # noqa: E402
from gradviz.page.state import PageState  # noqa: E402

# Streamlit's toolbar as a viewer of a deployed app sees it: no developer "Deploy" button.
SERVER_ARGS = ("--client.toolbarMode", "viewer")
MAX_HEIGHT = 2200  # a README image taller than this is a scroll, not a picture


def has_cjk_font() -> bool:
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return True  # no fontconfig tools to ask: let the picture show it
    return bool(out.strip())


def content_height(page) -> int:
    """The height the page needs to show the main area and the sidebar without inner scrolling."""
    return page.evaluate("""() => Math.max(
        ...['[data-testid="stMain"]', '[data-testid="stMainBlockContainer"]', '[data-testid="stSidebarContent"]']
            .map(sel => document.querySelector(sel)).filter(Boolean).map(e => e.scrollHeight))""")


def first_row_bottom(page, after: str | None = None) -> float | None:
    """The bottom of the first row of two side-by-side charts (below the element `after`, if given)."""
    return page.evaluate("""(after) => {
        const start = after ? document.querySelector(after) : null;
        const top = start ? start.getBoundingClientRect().top : -Infinity;
        const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
            .map(c => c.getBoundingClientRect()).filter(r => r.top > top && r.height > 0);
        for (const a of charts) {
            const pair = charts.find(b => b !== a && Math.abs(b.top - a.top) < 40 && Math.abs(b.left - a.left) > 100);
            if (pair) return Math.max(a.bottom, pair.bottom);
        }
        return charts.length ? charts[0].bottom : null;
    }""", after)


def review(page, name: str) -> list[str]:
    charts = page_report(page)
    return [f"{name}: {p}" for p in blank_chart_problems(charts) + tick_label_problems(charts)
            + formula_problems(formula_report(page)) + metric_problems(metric_report(page), ("value", "label"))]


def not_through_text(page, bottom: float) -> float:
    """`bottom` moved down past any element it would cut through (a paragraph beside a chart)."""
    return page.evaluate("""(bottom) => {
        const leaves = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"]')]
            .filter(e => !e.querySelector('[data-testid="stElementContainer"]')).map(e => e.getBoundingClientRect())
            .filter(r => r.height > 0);
        for (let i = 0; i < 10; i++) {
            const cut = leaves.filter(r => r.top < bottom - 2 && r.bottom > bottom + 2);
            if (!cut.length) break;
            bottom = Math.max(...cut.map(r => r.bottom)) + 8;
        }
        return bottom;
    }""", bottom)


def shoot(page, path: Path, top: float, bottom: float, width: int) -> None:
    """Grow the viewport to hold `bottom`, let the page settle, and save the band top…bottom (moved down so
    as not to cut through a paragraph)."""
    bottom = min(not_through_text(page, bottom), top + MAX_HEIGHT)
    page.set_viewport_size({"width": width, "height": int(max(bottom, page.viewport_size["height"])) + 1})
    wait_settled(page, 120)
    page.screenshot(path=str(path), clip={"x": 0, "y": max(0, top), "width": width, "height": bottom - max(0, top)})


def right_answer(number: int) -> str | None:
    """The answer a remedy step's numbers give at the default settings with its remedy on (computed here)."""
    step = lesson.step_of(number)
    if step.remedy is None:
        return None
    state = PageState.of({**DEFAULTS, "lesson": True, "step": number, step.remedy: True})
    return step.answer(state, {name: job() for name, job in step.jobs(state).items()})


def answer(page, number: int) -> None:
    """Answer the step's question as its numbers do (the chart is drawn after the answer)."""
    wanted = right_answer(number)
    if wanted is None:
        return
    options = page.locator('[data-testid="stRadio"] [role="radiogroup"] label')
    rerun(page, options.nth(lesson.step_of(number).options.index(wanted)).click, 300)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "docs"), help="folder to write into (default: docs/)")
    parser.add_argument("--only", nargs="*", help="names of the shots to take (default: all)")
    parser.add_argument("--full", metavar="FOLDER", help="whole pages into FOLDER instead of the README's bands")
    args = parser.parse_args(argv)
    out = Path(args.full or args.out)
    out.mkdir(parents=True, exist_ok=True)

    # name -> (query, viewport, scale)
    shots = {"screenshot": ("", DESKTOP, 1), "screenshot-zh": ("?lang=zh", DESKTOP, 1)}
    shots |= {f"lesson-{k}": (f"?lesson=1&step={k}", DESKTOP, 1) for k in range(1, lesson.N_STEPS + 1)}
    shots |= {f"section-{name}": (f"?section={name}", DESKTOP, 1) for name in SECTIONS}
    shots["readme-link"] = ("?depth=50&relu=1&clip=1&train=1", DESKTOP, 1)
    shots["remedies"] = ("?section=chain&relu=1&gating=1&clip=1&regularize=1", DESKTOP, 1)
    shots["depth-10000"] = ("?depth=10000", DESKTOP, 1)
    shots["phone"] = ("", PHONE, 2)
    wanted = args.only or list(shots)
    unknown = [name for name in wanted if name not in shots]
    if unknown:
        parser.error(f"unknown shots {unknown}; known: {list(shots)}")
    if any("zh" in shots[name][0] for name in wanted) and not has_cjk_font():
        print("no CJK font: Chinese would be drawn as boxes; install one (Debian: apt-get install fonts-noto-cjk)",
              file=sys.stderr)
        return 1

    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with streamlit_server(extra_args=SERVER_ARGS) as url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for name in wanted:
                query, viewport, scale = shots[name]
                page = new_page(browser, viewport, device_scale_factor=scale)
                try:
                    open_page(page, f"{url}/{query}", timeout=300)
                    if name.startswith("lesson-"):
                        answer(page, int(name.split("-")[1]))
                    problems += review(page, name)
                    path = out / f"{name}.png"
                    width = viewport["width"]
                    if args.full or name.startswith("lesson-") or name == "phone":
                        shoot(page, path, 0, content_height(page), width)
                    else:  # down to the first row of two charts side by side
                        bottom = first_row_bottom(page, "h2") or viewport["height"]
                        shoot(page, path, 0, bottom + 8, width)
                    problems += [f"{name}: {e}" for e in page.gv_errors]
                    print(f"{path}: {path.stat().st_size / 1024:.0f} KB", flush=True)
                finally:
                    page.context.close()
        finally:
            browser.close()
    for problem in problems:
        print("problem:", problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
