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
import os
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
(settleInfo) => {
  """ + _FIND_VIEW + r"""
  const DATA_MARKS = new Set(['line', 'area', 'trail', 'symbol', 'rect', 'arc', 'shape', 'path', 'image']);
  const TEXT_ROLES = new Set(['axis-label', 'axis-title', 'legend-label', 'legend-title', 'title']);
  const rect = el => { const r = el.getBoundingClientRect();
                       return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height}; };
  const finite = v => typeof v === 'number' && Number.isFinite(v);
  const visible = el => { if (!el) return false; const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
                          return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const column = el => el.closest('[data-testid="stColumn"]') || el.closest('[data-testid="stMainBlockContainer"]')
                        || el.closest('[data-testid="stSidebarUserContent"]') || document.body;
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
    const drawn = marks === null ? null : marks.some(m => m.drawn);
    return {
      index, source, renderer: svg ? 'svg' : canvas ? 'canvas' : null,
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
  const col = katex.closest('[data-testid="stColumn"]') || katex.closest('[data-testid="stMainBlockContainer"]')
              || katex.closest('[data-testid="stSidebarUserContent"]') || document.body;
  const r = col.getBoundingClientRect(); const s = getComputedStyle(col);
  const left = r.left + (parseFloat(s.paddingLeft) || 0), right = r.right - (parseFloat(s.paddingRight) || 0);
  const display = katex.closest('.katex-display');
  const scroller = display || katex;
  const annotation = katex.querySelector('annotation');
  return {index, tex: annotation ? annotation.textContent : katex.innerText.slice(0, 80),
          display: !!display, contentLeft: content.left, contentRight: content.right, contentWidth: content.width,
          scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth,
          columnLeft: left, columnRight: right, columnWidth: right - left,
          shown: content.width > 0 && content.height > 0};
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
    charts: charts.map(c => {
      const s = c.querySelector('svg, canvas'); const r = s ? s.getBoundingClientRect() : null;
      return {ready: !!(s && r.width > 0 && r.height > 0 && gvFindView(c)), w: r ? Math.round(r.width) : 0, h: r ? Math.round(r.height) : 0};
    }),
    lastMutation: window.__gvLastMutation || 0,
    now: performance.now(),
  };
}
"""

# Records the time of the last DOM change in the main area (set up before navigation with add_init_script).
MUTATION_WATCH = r"""
(() => {
  window.__gvLastMutation = 0;
  const start = () => {
    const target = document.querySelector('[data-testid="stMain"]') || document.body;
    new MutationObserver(() => { window.__gvLastMutation = performance.now(); })
      .observe(target, {subtree: true, childList: true, attributes: true, characterData: true});
    window.__gvWatching = target !== document.body ? 'main' : 'body';
  };
  const wait = () => { if (document.querySelector('[data-testid="stMain"]')) start(); else setTimeout(wait, 20); };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', wait); else wait();
})();
"""


def page_report(page) -> list[dict]:
    """One dict per chart: its renderer, the data marks and how many items each drew, its text boxes, its
    box and its column's content box, the note right above it and the nearest heading."""
    return page.evaluate(_REPORT, None)


def formula_report(page) -> list[dict]:
    """One dict per KaTeX formula (st.latex and inline $…$): its content's extent and its column's."""
    return page.evaluate(_FORMULAS)


def signature(page) -> dict:
    return page.evaluate(_SIGNATURE)


def wait_settled(page, timeout: float = 120.0, quiet: float = 0.8, min_charts: int = 0) -> dict:
    """Wait until the script is idle, nothing is stale, every chart has its View and a drawn svg/canvas,
    and the chart count and sizes have not changed for `quiet` seconds. Returns the last signature."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        sig = signature(page)
        key = (sig["state"], sig["stale"], tuple((c["ready"], c["w"], c["h"]) for c in sig["charts"]))
        now = time.monotonic()
        if key != last:
            last, since = key, now
        elif (sig["state"] == "notRunning" and sig["stale"] == 0 and len(sig["charts"]) >= min_charts
              and all(c["ready"] for c in sig["charts"]) and now - since >= quiet):
            return sig
        if now > deadline:
            raise TimeoutError(f"page not settled after {timeout:g} s: {sig}")
        page.wait_for_timeout(100)


def open_page(page, url: str, timeout: float = 180.0) -> dict:
    """Open `url` and wait for the first run to finish and the page to settle."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    page.wait_for_selector(APP_IDLE, timeout=timeout * 1000)
    return wait_settled(page, timeout)


def section_buttons(page):
    """The section control's buttons, in the order of gradviz.page.settings.SECTIONS."""
    return page.locator(f"{SECTION_CONTROL} button")


def remedy_switch(page, name: str):
    """The clickable label of a remedy's toggle (clicking the hidden input itself is refused)."""
    return page.locator(f".st-key-{name} label").first


# ---------------------------------------------------------------------------------------------------
# The checks, as functions returning a list of problems (empty when all is well), so that the test and the
# screenshot script say the same things.

def blank_chart_problems(charts: list[dict]) -> list[str]:
    """(a) A chart with no drawn data mark needs a visible sentence saying why: a note right above it (a
    caption or a notice) or a sentence drawn on the chart."""
    problems = []
    for chart in charts:
        what = f"chart {chart['index']} ({' / '.join(chart['axisTitles']) or 'no axis titles'}; under '{chart['heading']}')"
        if chart["drawn"] is None:
            problems.append(f"{what}: cannot inspect its marks ({chart['renderer']} without a Vega View)")
            continue
        if chart["drawn"]:
            continue
        on_chart = [t["text"] for t in chart["texts"] if t["role"] == "mark-text" and len(t["text"]) >= 20]
        if chart["note"] or on_chart:
            continue
        problems.append(f"{what}: no drawn marks ({chart['marks']}) and no sentence above or on it")
    return problems


def tick_label_problems(charts: list[dict], slack: float = 1.0) -> list[str]:
    """(b) Every visible tick label (and axis title, legend label, legend title) lies within the chart's
    box, and within its column; tick labels of one chart do not overlap one another."""
    problems = []
    for chart in charts:
        box, column = chart["box"], chart["column"]
        left, right = max(box["left"], column["left"]), min(box["right"], column["right"])
        what = f"chart {chart['index']} ({' / '.join(chart['axisTitles']) or 'no axis titles'}; under '{chart['heading']}')"
        for text in chart["texts"]:
            b = text.get("box")
            if b is None:
                continue
            if b["left"] < left - slack or b["right"] > right + slack or b["top"] < box["top"] - slack \
                    or b["bottom"] > box["bottom"] + slack:
                problems.append(f"{what}: {text['role']} {text['text']!r} at x {b['left']:.0f}–{b['right']:.0f}, "
                                f"y {b['top']:.0f}–{b['bottom']:.0f} outside the chart's x {left:.0f}–{right:.0f}, "
                                f"y {box['top']:.0f}–{box['bottom']:.0f}")
        labels = [t for t in chart["texts"] if t["role"] == "axis-label" and t.get("box")]
        for i, a in enumerate(labels):
            for other in labels[i + 1:]:
                ba, bb = a["box"], other["box"]
                overlap_x = min(ba["right"], bb["right"]) - max(ba["left"], bb["left"])
                overlap_y = min(ba["bottom"], bb["bottom"]) - max(ba["top"], bb["top"])
                if overlap_x > 1 and overlap_y > 1:
                    problems.append(f"{what}: tick labels {a['text']!r} and {other['text']!r} overlap")
    return problems


def formula_problems(formulas: list[dict], slack: float = 1.0) -> list[str]:
    """(c) No formula wider than its column: its content lies within the column and is not scrolled or cut."""
    problems = []
    for f in formulas:
        if not f["shown"]:
            continue
        cut = f["scrollWidth"] > f["clientWidth"] + slack
        outside = f["contentRight"] > f["columnRight"] + slack or f["contentLeft"] < f["columnLeft"] - slack
        if cut or outside:
            problems.append(f"formula {f['index']} {f['tex'][:90]!r}: content {f['contentWidth']:.0f} px wide "
                            f"(x {f['contentLeft']:.0f}–{f['contentRight']:.0f}), column x "
                            f"{f['columnLeft']:.0f}–{f['columnRight']:.0f}"
                            + (f", scrolls {f['scrollWidth']} > {f['clientWidth']} px" if cut else ""))
    return problems


# ---------------------------------------------------------------------------------------------------
# Kept for scripts/memory_check.py, which opens many URLs and only needs each page drawn.

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
    """Open `url` and wait until the page has settled (see `open_page`); return the number of charts."""
    page.goto(url, wait_until="domcontentloaded", timeout=run_timeout * 1000)
    page.wait_for_selector(APP_IDLE, timeout=run_timeout * 1000)
    return len(wait_settled(page, chart_timeout, quiet=stable_for)["charts"])
