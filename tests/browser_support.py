"""Helpers shared by the browser tests, scripts/screenshot.py and the browser timings: run the Streamlit app,
drive Debian's Chromium through Playwright, wait for a settled page and inspect what it drew.

Nothing here needs pytest. The browser is /usr/bin/chromium driven by Playwright's Python package (no
Playwright browser download): launch it with `launch_chromium(playwright)`.

How a chart's drawing is inspected (`page_report`): Streamlit 1.67 draws every st.vega_lite_chart with
vega-embed, as SVG unless a dataset has more than 2,000 rows per datum (then as canvas, and a canvas keeps
no marks in the DOM). Either way the chart's Vega View holds the scenegraph it rendered; Streamlit keeps
the View in a React ref (`useRef`) of the chart component, not on the DOM, so the inspector walks up the
React fiber of the chart's element and takes the first hook whose `.current` is a View (duck-typed by
`scenegraph()` and `runAsync()`, so it does not depend on Streamlit's minified names). From the scenegraph
it counts, per data mark (role "mark": line, area, symbol, rect, …; reference rules and text labels do not
count), the items with finite coordinates inside the plot and not fully transparent. If no View can be
found (a future Streamlit), SVG charts are read from the DOM instead (Vega's `g.role-mark` groups); a
canvas chart without a View is reported as unknown, never as drawn.

Text boxes (tick labels, axis and legend titles, legend labels) come from the DOM for SVG charts
(`getBoundingClientRect`, what the reader sees) and from the scenegraph's bounds for canvas charts; labels
that Vega hid for overlap (opacity 0) are left out.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
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
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 400, "height": 800}
# The app container once the script has finished a run (Streamlit sets "running" while it executes).
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Every st.altair_chart / st.vega_lite_chart; Vega draws into an <svg> or a <canvas> inside it.
CHART = '[data-testid="stVegaLiteChart"]'
# Keyed widgets carry the class st-key-<key> (the key is the setting's URL name in app.py).
SECTION_CONTROL = ".st-key-section"
STEP_CONTROL = ".st-key-step"
REMEDIES = ("relu", "gating", "clip", "regularize")


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


class ServerURL(str):
    """The server's base URL; `.pid` is the server process's id (to watch its CPU time)."""

    pid: int


@contextlib.contextmanager
def streamlit_server(app: str = "app.py", startup_timeout: float = 60.0,
                     extra_args: tuple[str, ...] = ()) -> Iterator[ServerURL]:
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
            served = ServerURL(url)
            served.pid = process.pid
            yield served
        finally:
            _stop(process)


def launch_chromium(playwright, **options):
    """Debian's Chromium through Playwright (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **options)


def query(page) -> dict[str, list[str]]:
    """The page's current URL query as {key: [values]}."""
    return urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query, keep_blank_values=True)


# ---------------------------------------------------------------------------------------------------
# In-page inspection. Everything below is one JS function per question, run with page.evaluate.

_FIND_VIEW = r"""
function gvFindView(chart) {
  // Streamlit keeps the Vega View in a React ref of the chart component: walk up the element's fiber and
  // look through each component's hooks for a ref whose value is a View.
  const key = Object.keys(chart).find(k => k.startsWith('__reactFiber$'));
  let fiber = key ? chart[key] : null;
  for (let depth = 0; fiber && depth < 60; depth++, fiber = fiber.return) {
    let hook = fiber.memoizedState;
    for (let n = 0; hook && typeof hook === 'object' && 'next' in hook && n < 200; n++, hook = hook.next) {
      const value = hook.memoizedState && hook.memoizedState.current;
      if (value && typeof value.scenegraph === 'function' && typeof value.runAsync === 'function') return value;
    }
  }
  return null;
}
"""

_REPORT = r"""
() => {
  """ + _FIND_VIEW + r"""
  const DATA_MARKS = new Set(['line', 'area', 'trail', 'symbol', 'rect', 'arc', 'shape', 'path', 'image']);
  const TEXT_ROLES = new Set(['axis-label', 'axis-title', 'legend-label', 'legend-title', 'title']);
  const rect = el => { const r = el.getBoundingClientRect();
                       return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height}; };
  const finite = v => typeof v === 'number' && Number.isFinite(v);
  const visible = el => { if (!el) return false; const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
                          return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  // The room Streamlit gave an element: the innermost vertical block holding it (a column, an expander's
  // body, the main area), less its padding.
  const column = el => el.closest('[data-testid="stVerticalBlock"]') || document.body;
  const contentBox = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    const pl = parseFloat(s.paddingLeft) || 0, pr = parseFloat(s.paddingRight) || 0;
    return {left: r.left + pl, right: r.right - pr, top: r.top, bottom: r.bottom, width: r.width - pl - pr}; };

  // The chart's own words: a note (caption) in the element right above it, the nearest heading before it.
  const noteAbove = chart => {
    const container = chart.closest('[data-testid="stElementContainer"]');
    let previous = container && container.previousElementSibling;
    while (previous && previous.offsetHeight === 0 && previous.previousElementSibling) previous = previous.previousElementSibling;
    if (!previous) return null;
    const caption = previous.querySelector('[data-testid="stCaptionContainer"], [data-testid="stAlert"]');
    if (!caption || !visible(caption)) return null;
    const text = caption.innerText.trim();
    return text || null;
  };
  const headingBefore = chart => {
    const all = [...document.querySelectorAll('h1, h2, h3, h4, [data-testid="stVegaLiteChart"]')];
    const i = all.indexOf(chart);
    for (let j = i - 1; j >= 0; j--) if (all[j].matches('h1, h2, h3, h4')) return all[j].innerText.trim();
    return null;
  };

  // Walk a Vega scenegraph: data marks with their drawn items, text items with absolute bounds.
  const walkScene = (view) => {
    const marks = [], texts = [];
    const origin = typeof view.origin === 'function' ? view.origin() : [0, 0];
    const visit = (mark, ox, oy, plot) => {
      if (!mark || !mark.items) return;
      const type = mark.marktype, role = mark.role || '';
      if (type === 'group') {
        for (const group of mark.items) {
          const gx = ox + (group.x || 0), gy = oy + (group.y || 0);
          const inner = finite(group.width) && finite(group.height) && group.width > 0 && group.height > 0
            ? {width: group.width, height: group.height} : plot;
          for (const child of (group.items || [])) visit(child, gx, gy, inner);
        }
        return;
      }
      if (role === 'mark' && DATA_MARKS.has(type)) {
        const shown = mark.items.filter(item => {
          if (item.opacity === 0) return false;
          if (item.defined === false) return false;
          if (!finite(item.x) || !finite(item.y)) return false;
          if (type === 'rect' && !(finite(item.width) && finite(item.height) && Math.abs(item.width) + Math.abs(item.height) > 0)
              && !(finite(item.x2) && finite(item.y2))) return false;
          if (type === 'symbol' && item.size === 0) return false;
          if (plot) {  // inside the plot area, with a pixel of slack (floor markers sit on the bottom edge)
            const slack = 2;
            if (item.x < -slack || item.x > plot.width + slack || item.y < -slack || item.y > plot.height + slack) return false;
          }
          return true;
        }).length;
        const needs = (type === 'line' || type === 'trail' || type === 'area') ? 2 : 1;
        marks.push({name: mark.name || '', type, items: mark.items.length, shown, drawn: shown >= needs});
      } else if (role === 'mark' && type === 'text') {
        for (const item of mark.items) if (item.opacity !== 0 && item.text != null && String(item.text).trim())
          texts.push({role: 'mark-text', text: String(item.text)});
      }
      if (type === 'text' && TEXT_ROLES.has(role)) {
        for (const item of mark.items) {
          if (item.opacity === 0 || item.text == null || !String(item.text).trim() || !item.bounds) continue;
          const b = item.bounds;
          texts.push({role, text: Array.isArray(item.text) ? item.text.join(' ') : String(item.text),
                      scene: {left: origin[0] + ox + b.x1, right: origin[0] + ox + b.x2,
                              top: origin[1] + oy + b.y1, bottom: origin[1] + oy + b.y2}});
        }
      }
    };
    visit(view.scenegraph().root, 0, 0, null);
    return {marks, texts};
  };

  // The same from an SVG's DOM (used only when no View is found).
  const walkSvg = (svg) => {
    const marks = [];
    for (const g of svg.querySelectorAll('g.role-mark')) {
      const type = [...g.classList].find(c => c.startsWith('mark-'))?.slice(5);
      if (!DATA_MARKS.has(type)) continue;
      const children = [...g.children];
      const shown = children.filter(c => { const r = c.getBoundingClientRect();
        return (r.width > 0 || r.height > 0) && c.getAttribute('opacity') !== '0' && (c.getAttribute('d') ?? 'x') !== ''; }).length;
      marks.push({name: [...g.classList].find(c => c.endsWith('_marks')) || '', type, items: children.length, shown, drawn: shown > 0});
    }
    return marks;
  };

  const svgTexts = (svg) => {
    const out = [];
    for (const g of svg.querySelectorAll('g.mark-text')) {
      const role = [...g.classList].find(c => c.startsWith('role-'))?.slice(5);
      if (!TEXT_ROLES.has(role)) continue;
      for (const t of g.querySelectorAll('text')) {
        const hidden = (el) => { for (let e = el; e && e !== svg; e = e.parentElement) if (e.getAttribute('opacity') === '0') return true; return false; };
        if (hidden(t) || !t.textContent.trim()) continue;
        const r = t.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        out.push({role, text: t.textContent, box: {left: r.left, right: r.right, top: r.top, bottom: r.bottom}});
      }
    }
    return out;
  };

  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map((chart, index) => {
    const svg = chart.querySelector('svg.marks') || chart.querySelector('svg');
    const canvas = chart.querySelector('canvas');
    const surface = svg || canvas;
    const view = gvFindView(chart);
    let marks = null, texts = [], source = 'none';
    if (view) {
      const scene = walkScene(view);
      marks = scene.marks; source = 'view';
      if (svg) texts = svgTexts(svg).concat(scene.texts.filter(t => t.role === 'mark-text'));
      else if (canvas) {
        const c = canvas.getBoundingClientRect();
        // the canvas may be drawn at devicePixelRatio; scenegraph bounds are in CSS pixels
        texts = scene.texts.map(t => t.scene ? {role: t.role, text: t.text,
            box: {left: c.left + t.scene.left, right: c.left + t.scene.right, top: c.top + t.scene.top, bottom: c.top + t.scene.bottom}} : t);
      }
    } else if (svg) {
      marks = walkSvg(svg); source = 'svg-dom'; texts = svgTexts(svg);
    }
    const box = rect(chart);
    const col = contentBox(column(chart));
    const shown = chart.checkVisibility ? chart.checkVisibility({visibilityProperty: true, opacityProperty: true})
                                        : box.width > 0;
    const drawn = marks === null ? null : marks.some(m => m.drawn);
    return {
      index, shown, source, renderer: svg ? 'svg' : canvas ? 'canvas' : null,
      surface: surface ? rect(surface) : null,
      box, column: col, marks, drawn,
      texts,
      axisTitles: texts.filter(t => t.role === 'axis-title').map(t => t.text),
      note: noteAbove(chart), heading: headingBefore(chart),
      stale: !!chart.closest('[data-stale="true"]'),
    };
  });
  return charts;
}
"""

_FORMULAS = r"""
() => [...document.querySelectorAll('.katex')].filter(k => !k.parentElement.closest('.katex')).map((katex, index) => {
  const html = katex.querySelector('.katex-html') || katex;
  const range = document.createRange(); range.selectNodeContents(html);
  const content = range.getBoundingClientRect();
  const col = katex.closest('[data-testid="stVerticalBlock"]') || document.body;
  const r = col.getBoundingClientRect(); const s = getComputedStyle(col);
  const left = r.left + (parseFloat(s.paddingLeft) || 0), right = r.right - (parseFloat(s.paddingRight) || 0);
  const display = katex.closest('.katex-display');
  const scroller = display || katex;
  const annotation = katex.querySelector('annotation');
  return {index, tex: annotation ? annotation.textContent : katex.innerText.slice(0, 80),
          display: !!display, contentLeft: content.left, contentRight: content.right, contentWidth: content.width,
          scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth,
          columnLeft: left, columnRight: right, columnWidth: right - left,
          shown: content.width > 0 && content.height > 0
                 && (!katex.checkVisibility || katex.checkVisibility({visibilityProperty: true, opacityProperty: true}))};
})
"""

_SIGNATURE = r"""
() => {
  """ + _FIND_VIEW + r"""
  const app = document.querySelector('[data-testid="stApp"]');
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return {
    state: app ? app.getAttribute('data-test-script-state') : null,
    stale: document.querySelectorAll('[data-stale="true"]').length,
    // Streamlit shows a skeleton while an element's code (Vega, KaTeX) is still being fetched
    loading: document.querySelectorAll('[data-testid="stMain"] [data-testid="stSkeleton"], [data-testid="stMain"] [data-testid="stSpinner"]').length,
    charts: charts.map(c => {
      const s = c.querySelector('svg, canvas'); const r = s ? s.getBoundingClientRect() : null;
      return {ready: !!(s && r.width > 0 && r.height > 0 && gvFindView(c)), w: r ? Math.round(r.width) : 0, h: r ? Math.round(r.height) : 0};
    }),
  };
}
"""

# Installed before any navigation (context.add_init_script): counts the app's script runs (each switch of
# stApp's data-test-script-state to "running"), and records, in performance.now() milliseconds since the
# navigation started, the last DOM change inside the main area, the last run's end and the last mousedown.
WATCH = r"""
(() => {
  window.__gv = {runs: 0, lastMutation: 0, lastRunEnd: 0, lastPress: 0};
  const seen = new WeakSet();
  const observer = new MutationObserver(records => {
    const now = performance.now();
    for (const r of records) {
      const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (r.type === 'attributes' && r.attributeName === 'data-test-script-state' && t && t.matches('[data-testid="stApp"]')) {
        const state = t.getAttribute('data-test-script-state');
        if (state === 'running') window.__gv.runs += 1;
        else if (state === 'notRunning') window.__gv.lastRunEnd = now;
        continue;
      }
      if (t && t.closest && t.closest('[data-testid="stMain"]')) window.__gv.lastMutation = now;
    }
  });
  const start = () => observer.observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
  if (document.documentElement) start(); else document.addEventListener('readystatechange', start, {once: true});
  document.addEventListener('mousedown', () => { window.__gv.lastPress = performance.now(); }, true);
})();
"""


def new_page(browser, viewport: dict = DESKTOP, **options):
    """A page in a fresh browser context with the WATCH script installed; errors in the page are collected
    in page.gv_errors (uncaught exceptions and console errors)."""
    context = browser.new_context(viewport=viewport, **options)
    context.add_init_script(WATCH)
    page = context.new_page()
    page.gv_errors = []
    page.on("pageerror", lambda error: page.gv_errors.append(f"page error: {error}"))
    page.on("console", lambda message: page.gv_errors.append(f"console error: {message.text} at {message.location}")
            if message.type == "error" else None)
    return page


def watch(page) -> dict:
    """The WATCH counters: runs, lastMutation, lastRunEnd, lastPress (ms since navigation start), now."""
    return page.evaluate("() => ({...window.__gv, now: performance.now()})")


def page_report(page) -> list[dict]:
    """One dict per chart: whether it is shown (not in a closed expander), its renderer, the data marks and
    how many items each drew, its text boxes, its box and its column's content box, the note right above it
    and the nearest heading."""
    return page.evaluate(_REPORT)


def formula_report(page) -> list[dict]:
    """One dict per KaTeX formula (st.latex and inline $…$): its content's extent and its column's."""
    return page.evaluate(_FORMULAS)


def signature(page) -> dict:
    return page.evaluate(_SIGNATURE)


def wait_settled(page, timeout: float = 120.0, quiet: float = 0.5, min_charts: int = 0) -> dict:
    """Wait until the script is idle, no element is stale or still a loading skeleton, every chart has its
    Vega View and a drawn svg/canvas, and neither that nor the main area's DOM has changed for `quiet`
    seconds. Returns the last signature."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        sig = signature(page)
        mutation = page.evaluate("() => window.__gv ? window.__gv.lastMutation : 0")
        key = (sig["state"], sig["stale"], sig["loading"], mutation, tuple((c["ready"], c["w"], c["h"]) for c in sig["charts"]))
        now = time.monotonic()
        if key != last:
            last, since = key, now
        elif (sig["state"] == "notRunning" and sig["stale"] == 0 and sig["loading"] == 0 and len(sig["charts"]) >= min_charts
              and all(c["ready"] for c in sig["charts"]) and now - since >= quiet):
            return sig
        if now > deadline:
            raise TimeoutError(f"page not settled after {timeout:g} s: {sig}")
        page.wait_for_timeout(100)


def open_page(page, url: str, timeout: float = 180.0, quiet: float = 0.5) -> dict:
    """Open `url`, wait for the first script run to finish and the page to settle; returns the signature."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    page.wait_for_selector(APP_IDLE, timeout=timeout * 1000)
    return wait_settled(page, timeout, quiet)


def rerun(page, action, timeout: float = 180.0, quiet: float = 0.5) -> dict:
    """Do `action()` (a click), wait for the script run it starts, then for the page to settle.

    The run is seen as stApp's script state turning "running", or as the URL changing (a very short run's
    two state changes can reach the DOM in one React render, so the state alone may never show it)."""
    runs, url = watch(page)["runs"], page.url
    action()
    deadline = time.monotonic() + 30
    while watch(page)["runs"] <= runs and page.url == url:
        if time.monotonic() > deadline:
            raise TimeoutError("the click started no script run within 30 s")
        page.wait_for_timeout(20)
    return wait_settled(page, timeout, quiet)


def resize(page, viewport: dict, timeout: float = 60.0) -> dict:
    """Set the viewport and wait for the layout and the charts to follow."""
    page.set_viewport_size(viewport)
    page.wait_for_timeout(150)
    return wait_settled(page, timeout, quiet=0.5)


def open_expanders(page, timeout: float = 60.0) -> int:
    """Open every closed expander (a click on its summary, as a reader would), so that the checks see what
    is inside; waits for the page to settle when one was opened. Returns how many were opened."""
    closed = page.locator('[data-testid="stExpander"] details:not([open]) > summary')
    count = closed.count()
    for _ in range(count):
        closed.first.click()
    if count:
        wait_settled(page, timeout, quiet=0.5)
    return count


def section_buttons(page):
    """The section control's buttons, in the order of gradviz.page.settings.SECTIONS."""
    return page.locator(f"{SECTION_CONTROL} button[role=\"radio\"]")


def remedy_switch(page, name: str):
    """The clickable label of a remedy's toggle (clicking the hidden input itself is refused)."""
    return page.locator(f".st-key-{name} label").first


# ---------------------------------------------------------------------------------------------------
# The checks, as functions returning a list of problems (empty when all is well), so that the test and the
# screenshot script say the same things.

# A catalogue message says why a chart draws nothing (or less than everything) when it says one of these.
WHY_NOTHING_DRAWN = re.compile(r"to draw|no line|no point|cannot draw|no dot|nothing to|stops where|exactly 0|\bNaN\b", re.I)


def _normalized(text: str) -> str:
    """Text without whitespace and markdown marks, so a caption's rendered text compares with its source."""
    return re.sub(r"[\s*_`]+", "", text)


@functools.lru_cache(maxsize=1)
def why_nothing_drawn() -> tuple[re.Pattern, ...]:
    """Patterns of the catalogue's sentences (both languages) that explain a chart without marks: every
    message whose English says there is nothing to draw, no line or point, a value exactly 0 or NaN;
    placeholders match anything."""
    from gradviz.page.i18n import PLACEHOLDER, catalogue

    patterns = []
    for message in catalogue().values():
        if not WHY_NOTHING_DRAWN.search(message.get("en", "")):
            continue
        for text in message.values():
            parts = PLACEHOLDER.split(_normalized(text))
            regex = ".+?".join(re.escape(part) for part in parts[::2])
            patterns.append(re.compile(regex))
    return tuple(patterns)


def explains_nothing_drawn(sentence: str | None) -> bool:
    return bool(sentence) and any(p.search(_normalized(sentence)) for p in why_nothing_drawn())


def blank_chart_problems(charts: list[dict]) -> list[str]:
    """(a) A chart with no drawn data mark needs a visible sentence saying why: a note right above it (a
    caption or a notice) or a sentence on the chart that is one of the catalogue's "nothing to draw"
    messages (why_nothing_drawn). A caption that says something else does not count."""
    problems = []
    for chart in charts:
        if not chart["shown"]:
            continue
        what = f"chart {chart['index']} ({' / '.join(chart['axisTitles']) or 'no axis titles'}; under '{chart['heading']}')"
        if chart["drawn"] is None:
            problems.append(f"{what}: cannot inspect its marks ({chart['renderer']} without a Vega View)")
            continue
        if chart["drawn"]:
            continue
        sentences = [chart["note"]] + [t["text"] for t in chart["texts"] if t["role"] == "mark-text"]
        if any(explains_nothing_drawn(s) for s in sentences):
            continue
        marks = ", ".join(f"{m['type']} {m['name']}: {m['shown']} of {m['items']} items shown" for m in chart["marks"])
        problems.append(f"{what}: no drawn marks ({marks or 'no data marks'}) and no sentence saying why"
                        + (f" (the note above says {chart['note']!r})" if chart["note"] else ""))
    return problems


def tick_label_problems(charts: list[dict], slack: float = 3.0, slack_y: float = 5.0, overlap: float = 0.25) -> list[str]:
    """(b) Every visible tick label (and axis title, legend label, legend title) lies within the chart's
    box and its column; no two tick labels of a chart overlap.

    Boxes are the text's em boxes (ascent to descent), a few pixels taller than the ink: a box may stick
    out by `slack` pixels sideways and `slack_y` up or down (a legend title's box 4 px above the chart's top
    shows whole), and two labels overlap when their boxes share more than `overlap` of the smaller one's
    height and width — then the glyphs themselves collide."""
    problems = []
    for chart in charts:
        if not chart["shown"]:
            continue
        box, column = chart["box"], chart["column"]
        left, right = max(box["left"], column["left"]), min(box["right"], column["right"])
        what = f"chart {chart['index']} ({' / '.join(chart['axisTitles']) or 'no axis titles'}; under '{chart['heading']}')"
        for text in chart["texts"]:
            b = text.get("box")
            if b is None:
                continue
            if b["left"] < left - slack or b["right"] > right + slack or b["top"] < box["top"] - slack_y \
                    or b["bottom"] > box["bottom"] + slack_y:
                problems.append(f"{what}: {text['role']} {text['text']!r} at x {b['left']:.0f}–{b['right']:.0f}, "
                                f"y {b['top']:.0f}–{b['bottom']:.0f} outside the chart's x {left:.0f}–{right:.0f}, "
                                f"y {box['top']:.0f}–{box['bottom']:.0f}")
        labels = [t for t in chart["texts"] if t["role"] == "axis-label" and t.get("box")]
        for i, a in enumerate(labels):
            for other in labels[i + 1:]:
                ba, bb = a["box"], other["box"]
                overlap_x = min(ba["right"], bb["right"]) - max(ba["left"], bb["left"])
                overlap_y = min(ba["bottom"], bb["bottom"]) - max(ba["top"], bb["top"])
                height = min(ba["bottom"] - ba["top"], bb["bottom"] - bb["top"])
                width = min(ba["right"] - ba["left"], bb["right"] - bb["left"])
                if overlap_x > 1 and overlap_y > 1 and (overlap_y > overlap * height and overlap_x > overlap * width):
                    problems.append(f"{what}: tick labels {a['text']!r} and {other['text']!r} overlap "
                                    f"({overlap_x:.0f} × {overlap_y:.0f} px)")
    return problems


def formula_problems(formulas: list[dict], slack: float = 1.0) -> list[str]:
    """(c) No formula wider than its column: the extent of its content (a DOM Range over KaTeX's HTML, which
    counts what overflows or is scrolled away) lies within the column's content box."""
    problems = []
    for f in formulas:
        if not f["shown"]:
            continue
        if f["contentRight"] > f["columnRight"] + slack or f["contentLeft"] < f["columnLeft"] - slack:
            problems.append(f"formula {f['index']} {f['tex'][:100]!r}: content {f['contentWidth']:.0f} px wide "
                            f"(x {f['contentLeft']:.0f}–{f['contentRight']:.0f}), column {f['columnWidth']:.0f} px "
                            f"(x {f['columnLeft']:.0f}–{f['columnRight']:.0f})")
    return problems


_METRICS = r"""
() => [...document.querySelectorAll('[data-testid="stMetricValue"], [data-testid="stMetricLabel"]')].map(metric => {
  // Streamlit ellipsizes a metric that does not fit its column (text-overflow: ellipsis on an inner div).
  const cut = [metric, ...metric.querySelectorAll('*')].some(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1);
  const shown = !metric.checkVisibility || metric.checkVisibility({visibilityProperty: true, opacityProperty: true});
  return {shown, kind: metric.dataset.testid === 'stMetricValue' ? 'value' : 'label', text: metric.innerText.trim(), cut};
})
"""


def metric_report(page) -> list[dict]:
    """One dict per metric value and label: its text and whether Streamlit cut it short with an ellipsis."""
    return page.evaluate(_METRICS)


def metric_problems(metrics: list[dict], kinds: tuple[str, ...] = ("value",)) -> list[str]:
    """(f) No metric value cut short: '2.44 × …' tells a reader nothing (labels have their help text)."""
    return [f"metric {m['kind']} {m['text']!r} is cut short (an ellipsis)" for m in metrics if m["shown"] and m["cut"] and m["kind"] in kinds]


# ---------------------------------------------------------------------------------------------------
# Timings in the browser (for scripts/bench.py). Times are taken from the page's own clock
# (performance.now(), milliseconds since the navigation started), so Playwright's round trips do not count.

def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_server_idle(pid: int, busy_below: float = 0.05, window: float = 2.0, timeout: float = 300.0) -> float:
    """Wait until the server used less than `busy_below` of a core over `window` seconds (its background
    warm-up, if any, is done); returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        before = process_cpu_seconds(pid)
        time.sleep(window)
        if (process_cpu_seconds(pid) - before) / window < busy_below:
            break
    return time.monotonic() - start


def time_navigation(page, url: str, timeout: float = 300.0) -> dict:
    """Open `url` in `page` (a new_page) and time it: `script_done`, when the script run ended, and
    `settled`, the last change in the main area before every chart was drawn and the page settled; seconds
    after the navigation started."""
    open_page(page, url, timeout)
    w = watch(page)
    return {"script_done": w["lastRunEnd"] / 1000, "settled": w["lastMutation"] / 1000,
            "charts": page.locator(CHART).count(), "load": load_average()}


def time_click(page, locator, timeout: float = 300.0) -> dict:
    """Click `locator` on a settled page and time it from the mouse press: `script_done`, when the run it
    started ended, and `settled`, the last change in the main area before the page settled (charts redrawn)."""
    rerun(page, locator.click, timeout)
    w = watch(page)
    done = w["lastRunEnd"] - w["lastPress"]
    return {"script_done": done / 1000 if done > 0 else None, "settled": (w["lastMutation"] - w["lastPress"]) / 1000,
            "charts": page.locator(CHART).count(), "load": load_average()}
