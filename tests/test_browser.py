"""The dashboard in a real browser: Streamlit serves app.py, Debian's Chromium renders it via Playwright.

Skipped where /usr/bin/chromium or the playwright package is missing; CI installs both (.ci/run). One
server for the module. Every view below is checked at 1,400 px and again at a 400 px phone width:

(a) every chart draws marks — a line of at least two points, a dot, a bar, a cell — counted in the Vega
    scenegraph of the chart's own View (browser_support explains how the View is found, for SVG and canvas
    charts alike), unless a visible sentence right above it, or on it, is one of the catalogue's
    "nothing to draw" messages;
(b) no tick label, axis title or legend entry lies outside its chart's box or its column, and no two tick
    labels of a chart overlap;
(c) no formula (KaTeX, display or inline) is wider than its column;
(d) the section and each remedy toggle are in the URL after clicking them, and gone when switched back;
(e) on a phone (the default page opened at 400 px) the sidebar is closed and the step choice and the
    four remedy toggles are near the top; on a 1,400 × 900 screen the first view shows both cases' charts;
(f) no metric value is cut short with an ellipsis ("2.44 × …");
and no view shows a Streamlit exception or logs a page error or console error. Before the checks every
closed expander is opened (the derivation, Nielsen's per-neuron figure, …), so what is inside is checked
too. Each view is checked at the width the previous one ended at, then resized once to the other width.

A link of more than 1,000 parameters (which Streamlit drops whole) leaves a clean address. The views: the
default page (the lesson's first step); every step of the lesson, walked with Next in both languages, each
remedy step's question answered, and each step's link reopening it; each section chosen by clicking it;
each remedy toggled on (and off again) in section 1 with its training panel open; the README's example link
?depth=50&relu=1&clip=1; a depth-10,000 link ?depth=10000.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import (CHROMIUM, DESKTOP, PHONE, REMEDIES, STEP_CONTROL, blank_chart_problems,
                             formula_problems, formula_report, launch_chromium, metric_problems, metric_report,
                             new_page, open_expanders, open_page, page_report, query, remedy_switch, rerun, resize,
                             section_buttons, streamlit_server, tick_label_problems)

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI installs it", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from gradviz.page import lesson  # noqa: E402
from gradviz.page.settings import SECTIONS  # noqa: E402

# Console errors that are not the app's fault. None are known: on this headless, offline setup Streamlit
# 1.67 logs no console error (no external fetches with --browser.gatherUsageStats false). Add a substring
# here only with a note on where it comes from.
BENIGN_CONSOLE_ERRORS: tuple[str, ...] = ()
# (e): the section choice and the remedies must be reachable within this many pixels from the top of the
# page on a 400 × 800 phone, i.e. in the first screen and a half.
PHONE_REACH = 1.5 * PHONE["height"]
README_LINK = "?depth=50&relu=1&clip=1&train=1"
DEEP_LINK = "?depth=10000"
# A first run on a cold cache trains networks; on a busy 2-core machine that can take minutes.
RUN_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = new_page(browser, DESKTOP)
    page.set_default_timeout(60_000)
    yield page
    page.context.close()


def view_problems(page, where: str) -> list[str]:
    """Checks (a), (b), (c), (f) and the page's errors at the current width, then at the other one (1,400 or
    400 px); the viewport is left at the other width, so that the next view starts there and each view costs
    one resize, not two."""
    problems = []
    first = page.viewport_size["width"] == PHONE["width"]
    open_expanders(page)
    for viewport in ((PHONE, DESKTOP) if first else (DESKTOP, PHONE)):
        if page.viewport_size != viewport:
            resize(page, viewport)
        width = f"{where} at {viewport['width']} px"
        exceptions = page.locator('[data-testid="stException"]')
        if exceptions.count():
            problems.append(f"{width}: Streamlit exception: {exceptions.all_inner_texts()}")
        charts = page_report(page)
        problems += [f"{width}: {p}" for p in blank_chart_problems(charts) + tick_label_problems(charts)
                     + formula_problems(formula_report(page)) + metric_problems(metric_report(page))]
    errors = [e for e in page.gv_errors if not any(benign in e for benign in BENIGN_CONSOLE_ERRORS)]
    problems += [f"{where}: {e}" for e in errors]
    page.gv_errors.clear()
    return problems


def assert_no_problems(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def phone_reach_problems(page) -> list[str]:
    """(e) On a 400 px screen: the sidebar is closed, and the section choice and the four remedy toggles
    lie on the screen's width, within PHONE_REACH of the top, not covered by anything."""
    problems = []
    sidebar = page.evaluate("""() => { const s = document.querySelector('[data-testid="stSidebar"]');
        if (!s) return null; const r = s.getBoundingClientRect();
        return {collapsed: s.getAttribute('data-collapsed'), right: r.right, width: r.width}; }""")
    if sidebar and (sidebar["collapsed"] == "false" or (sidebar["right"] > 1 and sidebar["width"] > 1)):
        problems.append(f"at 400 px the sidebar is open over the page ({sidebar})")
    boxes = page.evaluate("""(selectors) => selectors.map(selector => {
        const element = document.querySelector(selector);
        if (!element) return {selector, missing: true};
        const r = element.getBoundingClientRect();
        const main = document.querySelector('[data-testid="stMain"]');
        const top = r.top + (main ? main.scrollTop : 0) + window.scrollY;
        const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1), y = r.top + Math.min(r.height / 2, 10);
        const hit = y >= 0 && y < innerHeight ? document.elementFromPoint(x, y) : null;
        return {selector, top, bottom: top + r.height, left: r.left, right: r.right,
                covered: hit !== null && !element.contains(hit)};
    })""", [STEP_CONTROL] + [f".st-key-{name}" for name in REMEDIES])
    for box in boxes:
        if box.get("missing"):
            problems.append(f"{box['selector']} is not on the page")
            continue
        if box["bottom"] > PHONE_REACH:
            problems.append(f"{box['selector']} ends {box['bottom']:.0f} px from the top (more than {PHONE_REACH:.0f})")
        if box["left"] < -1 or box["right"] > PHONE["width"] + 1:
            problems.append(f"{box['selector']} spans x {box['left']:.0f}–{box['right']:.0f}, beyond the screen")
        if box["covered"]:
            problems.append(f"{box['selector']} is covered by another element")
    return problems


def first_screen_problems(page) -> list[str]:
    """(e) On a 1,400 × 900 screen the first view shows the vanishing and the exploding case's charts whole."""
    boxes = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
        .map(e => { const r = e.getBoundingClientRect(); return {left: r.left, bottom: r.bottom}; })""")
    if len(boxes) != 2:
        return [f"the first view draws {len(boxes)} charts, not the two cases' two"]
    if boxes[0]["left"] >= boxes[1]["left"]:
        return ["the two cases are not side by side"]
    return [f"a case's chart ends {box['bottom']:.0f} px down, below the first screen ({DESKTOP['height']} px)"
            for box in boxes if box["bottom"] > DESKTOP["height"]]


def test_default_page(server, browser, subtests):
    """Opened on a phone (the sidebar's state is decided at load), then checked at both widths."""
    page = new_page(browser, PHONE)
    try:
        open_page(page, server, RUN_TIMEOUT)
        with subtests.test("step and remedies near the top at 400 px"):
            assert_no_problems(phone_reach_problems(page))
        assert query(page) == {"lesson": ["1"], "step": ["1"]}, f"a first visit opens the lesson: {page.url}"
        assert_no_problems(view_problems(page, "default page"))
        if page.viewport_size != DESKTOP:
            resize(page, DESKTOP)
        assert_no_problems(first_screen_problems(page))
    finally:
        page.context.close()


def answer_question(page) -> None:
    """At a remedy step, pick the first answer (the chart is drawn once the student has answered)."""
    options = page.locator('[data-testid="stRadio"] [role="radiogroup"] label')
    if options.count():
        rerun(page, options.first.click, RUN_TIMEOUT)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_lesson_walked_step_by_step(server, page, lang, subtests):
    open_page(page, f"{server}/?lesson=1&lang={lang}", RUN_TIMEOUT)
    for number in range(1, lesson.N_STEPS + 1):
        step = lesson.step_of(number)
        with subtests.test(step=number):
            if number > 1:
                rerun(page, page.locator(".st-key-next button").click, RUN_TIMEOUT)
            assert query(page).get("step") == [str(number)], f"at step {number} the URL is {page.url}"
            if step.remedy:
                assert page.locator('[data-testid="stVegaLiteChart"]').count() == 0, "the answer is drawn first"
                answer_question(page)
                assert query(page).get(step.remedy) == ["1"], f"the answer switches {step.remedy} on: {page.url}"
            assert page.locator('[data-testid="stVegaLiteChart"]').count() > 0, f"step {number} draws no chart"
            assert_no_problems(view_problems(page, f"lesson step {number} ({lang})"))


def test_a_steps_link_reopens_it(server, page):
    for number in (3, 6, 11):
        step = lesson.step_of(number)
        open_page(page, f"{server}/?lesson=1&step={number}", RUN_TIMEOUT)
        assert query(page).get("step") == [str(number)]
        heading = page.locator("h2").first.inner_text()
        assert heading.startswith(f"{number} · "), heading
        if step.remedy:
            assert page.locator('[data-testid="stRadio"]').count() == 1


def test_each_section(server, page, subtests):
    open_page(page, f"{server}/?section=chain", RUN_TIMEOUT)
    for name in SECTIONS[1:] + SECTIONS[:1]:
        with subtests.test(section=name):
            rerun(page, lambda: section_buttons(page).nth(SECTIONS.index(name)).click(), RUN_TIMEOUT)
            assert query(page).get("section") == [name], f"after choosing {name!r} the URL is {page.url}"
            assert_no_problems(view_problems(page, f"section {name!r} (?section={name})"))


def test_each_remedy(server, page, subtests):
    open_page(page, f"{server}/?section=chain&train=1", RUN_TIMEOUT)
    for name in REMEDIES:
        with subtests.test(remedy=name):
            switch = remedy_switch(page, name)
            rerun(page, switch.click, RUN_TIMEOUT)
            assert query(page).get(name) == ["1"], f"after switching {name!r} on the URL is {page.url}"
            problems = view_problems(page, f"remedy {name!r} on (?{name}=1)")
            rerun(page, switch.click, RUN_TIMEOUT)
            assert name not in query(page), f"after switching {name!r} off the URL is {page.url}"
            assert_no_problems(problems)


def test_a_query_string_streamlit_dropped_leaves_the_address(server, page):
    """Past 1,000 fields Streamlit hands the script no parameters at all; the page shows the defaults and
    writes a clean address instead of keeping depth=abc and the rest."""
    open_page(page, f"{server}/?depth=abc&" + "&".join(f"zz{k}=1" for k in range(1001)), RUN_TIMEOUT)
    assert query(page) == {"lesson": ["1"], "step": ["1"]}, page.url[:200]
    assert "abc" not in page.locator('[data-testid="stMain"]').inner_text()


@pytest.mark.parametrize("link", [README_LINK, DEEP_LINK], ids=["readme-example", "depth-10000"])
def test_shared_link(server, page, link):
    open_page(page, f"{server}/{link}", RUN_TIMEOUT)
    run = page.locator(".st-key-run button")
    if run.count():  # over the work budget: the page offers to run it; a visitor would click
        rerun(page, run.click, RUN_TIMEOUT)
    wanted = {"section": "chain", **dict(pair.split("=") for pair in link[1:].split("&"))}
    assert {key: values[0] for key, values in query(page).items()} == wanted, f"{link} became {page.url}"
    assert page.locator('[data-testid="stVegaLiteChart"]').count() > 0, f"{link} draws no chart"
    assert_no_problems(view_problems(page, link))
