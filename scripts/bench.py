"""Same-run speed ratios of gradviz against plain numpy and PyTorch: `python scripts/bench.py [--quick] [--suite]
[--profile]`.

Each row runs gradviz and a plain implementation of the same computation (scripts/baselines.py) in one process:
first one untimed call of each, whose results must agree (asserted once per row, to 1e-12 relative; the notes
under the table say how closely they did), then `repeats` timed samples of each side, interleaved gradviz,
baseline, gradviz, baseline, … so a change of machine load hits both sides (a sample is as many back-to-back calls
as fill about 0.1 s; gc.collect() runs, untimed, before each). The table shows the median times and
ratio = median gradviz / median baseline (in brackets: the range of the ratios of adjacent pairs); the target is
the largest acceptable ratio. BLAS runs on one thread for every side (the *_NUM_THREADS variables below, set
before numpy loads, and threadpoolctl around everything), and PyTorch on one thread (torch.set_num_threads(1)).

--quick skips the slow rows (Nielsen's 200 epochs, the T = 1000 RNNs). --suite adds the wall time of the README's
`python -m pytest -q`, run in the checkout holding the imported gradviz, with the caller's environment.
--profile adds a pyinstrument summary of the gradviz side of every row. The ratios are same-run numbers, so they
mean something on a busy machine too; the absolute times and the suite's time do not (the load is printed).

Which gradviz is measured: PYTHONPATH's, else this repository's (PYTHONPATH=/path/to/checkout python scripts/bench.py).
Only gradviz's public API is used: train, backprop, Network, nielsen_network, seed_exploding, L2, datasets.mnist_1k,
and to check the results: Network.weights/.biases, History.network/.grad_log10/.update_loss and
Gradients.nabla_w/.nabla_b/.log10_bias_norms/.log10_signal_norms. A row is one Row(...) in ROWS.

The page rows (after the ratio table; `--page` runs only them, `--repeats N` sets their samples, 5 by default) are
absolute times and sizes of the page against issue 8's targets: the first view on a cold server (its script over
Streamlit's websocket, its charts in Chromium, AppTest's first run), warm reruns and remedy toggles (AppTest and
Chromium), on-demand training of each section, each section's cold page and the heaviest URLs on a warm server,
server memory over 50 visits (a slow row, skipped by --quick) and the phase diagrams. They start their own
`streamlit run app.py` of the measured checkout on loopback (scripts/load_check.py), need Playwright and
/usr/bin/chromium, take 8-12 minutes, and print the load average with every row; the comment above PAGE_WATCH
says how each is measured.
"""

from __future__ import annotations

import os

CALLER_ENV = dict(os.environ)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parents[1]))  # after PYTHONPATH, so PYTHONPATH chooses the gradviz

import baselines  # noqa: E402  (scripts/baselines.py, next to this file)
import gradviz  # noqa: E402
import load_check  # noqa: E402  (scripts/load_check.py: the server, its /proc readings, the websocket visitor)
from gradviz.datasets import mnist_1k  # noqa: E402

ROOT = Path(gradviz.__file__).resolve().parents[1]  # the checkout measured: its app.py is served

TOLERANCE = 1e-12


@dataclass(frozen=True)
class Sides:
    """The two timed callables of a row, and check(gradviz result, baseline result) -> note, raising if they disagree."""

    gradviz: Callable[[], object]
    baseline: Callable[[], object]
    check: Callable[[object, object], str]


@dataclass(frozen=True)
class Row:
    """One line of the table. prepare() runs untimed and builds the inputs and the two sides."""

    what: str
    settings: str
    baseline: str
    prepare: Callable[[], Sides]
    target: float | None        # the largest acceptable ratio gradviz / baseline; None: measured, no target
    repeats: int = 7
    slow: bool = False          # skipped by --quick


# --- reading what gradviz returns ---------------------------------------------------

def initial(net) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """([W_1, …, W_L], [b_1, …, b_L]) of a gradviz.Network, as plain arrays for a baseline to start from."""
    return [np.array(w) for w in net.weights], [np.array(b) for b in net.biases]


def parameters(net) -> list[np.ndarray]:
    """[W_1, …, W_L, b_1, …, b_L] of a gradviz.Network."""
    return [np.asarray(p) for p in (*net.weights, *net.biases)]


def batch_losses(history) -> np.ndarray:
    """The loss on each update's batch, before the update, recorded by gradviz.train."""
    return history.update_loss


def recorded_speeds(history) -> np.ndarray:
    """log10 ‖∂C/∂b_l‖ recorded by gradviz.train, shape (epochs + 1, layers)."""
    return history.grad_log10


# --- agreement ---------------------------------------------------------------------------------------------

def agree(what: str, ours, theirs, logs: bool = False) -> str:
    """Assert that gradviz's arrays `ours` match the baseline's `theirs`: ‖a − b‖ / ‖b‖ ≤ TOLERANCE for every pair,
    or, for logarithms (logs=True), |a − b| / max(1, |b|) ≤ TOLERANCE entry by entry. Returns the note."""
    worst, exact = 0.0, True
    for a, b in zip(ours, theirs, strict=True):
        a, b = np.asarray(a, float), np.asarray(b, float)
        if a.shape != b.shape:
            raise AssertionError(f"{what}: shapes {a.shape} and {b.shape}")
        exact &= bool(np.array_equal(a, b))
        diff = np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))) if logs else \
            np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(float).tiny)
        worst = max(worst, float(diff))
    if not worst <= TOLERANCE:  # a raise, not an assert: python -O must not skip it
        raise AssertionError(f"{what} disagree: max relative difference {worst:.2e} > {TOLERANCE:g}")
    return f"{what}: {'bit-for-bit equal' if exact else f'max relative difference {worst:.1e}'}"


# --- the rows -------------------------------------------------------------------------------------------------

SGD_SIZES, NIELSEN_SIZES = [784, 30, 30, 30, 10], [784, 30, 30, 30, 30, 10]


def sgd_epoch(baseline: str) -> Sides:
    """One epoch (100 updates) of gradviz.train against the same updates in plain numpy or PyTorch."""
    x, y = mnist_1k()
    net = gradviz.nielsen_network(SGD_SIZES, seed=0)
    weights, biases = initial(net)
    order = np.random.default_rng(0).permutation(len(x))  # train's first-epoch batches with seed=0
    run = partial(gradviz.train, net, x, y, epochs=1, eta=0.1, batch_size=10, cost="cross_entropy", seed=0)
    if baseline == "numpy":
        return Sides(run, partial(baselines.sgd_epoch, weights, biases, x, y, order, 0.1, 10),
                     lambda h, wb: agree("W, b after the epoch", parameters(h.network), [*wb[0], *wb[1]]))

    def check(history, result):
        params, losses = result
        return "; ".join([agree("W, b after the epoch", parameters(history.network), [*params[::2], *params[1::2]]),
                          agree("the 100 batch losses", [batch_losses(history)], [losses])])
    return Sides(run, baselines.torch_sgd_epoch(weights, biases, x, y, order, 0.1, 10), check)


def full_set_gradient() -> Sides:
    """The record gradviz.train adds to every epoch: ‖∂C/∂b_l‖ over the 1,000 digits (one full-set backprop)."""
    x, y = mnist_1k()
    net = gradviz.nielsen_network(SGD_SIZES, seed=0)
    return Sides(partial(gradviz.backprop, net, x, y, "cross_entropy"),
                 partial(baselines.full_set_bias_norms, *initial(net), x, y),
                 lambda g, norms: agree("log10 ‖∂C/∂b_l‖", [g.log10_bias_norms], [np.log10(norms)], logs=True))


def nielsen_full_batch(epochs: int = 200) -> Sides:
    """Nielsen's learning-speed run: full batch, η 0.1, L2 λ 5.0, recording ‖∂C/∂b_l‖ every epoch."""
    x, y = mnist_1k()
    net = gradviz.nielsen_network(NIELSEN_SIZES, seed=0)

    def check(history, result):
        weights, biases, norms = result
        return "; ".join([agree(f"W, b after {epochs} epochs", parameters(history.network), [*weights, *biases]),
                          agree(f"log10 ‖∂C/∂b_l‖ at epochs 0..{epochs}", [recorded_speeds(history)],
                                [np.log10(norms)], logs=True)])
    return Sides(partial(gradviz.train, net, x, y, epochs=epochs, eta=0.1, cost="cross_entropy",
                         regularization=gradviz.L2(5.0)),
                 partial(baselines.full_batch_l2, *initial(net), x, y, epochs, 0.1, 5.0), check)


def exploding_chain(depth: int = 10_000) -> Sides:
    """The article's chain, w_j = 100 and b_j = −100·a_{j−1} (every z_j = 0), backprop of C = ½(a_L − 0)²."""
    net, x = gradviz.seed_exploding(depth)
    w, b, a = [100.0] * depth, [], 1.0  # the baseline builds the chain from the article's recipe, not from net
    for _ in range(depth):
        b.append(-100.0 * a)
        a = 1.0 / (1.0 + math.exp(-(100.0 * a + b[-1])))
    return Sides(partial(gradviz.backprop, net, x, [[0.0]]),
                 partial(baselines.chain_log10_bias_grads, w, b, 1.0, 0.0),
                 lambda g, logs: agree("log10 |∂C/∂b_j|", [g.log10_bias_norms], [logs], logs=True))


def rnn_bptt(steps: int, width: int, scale: float, batch: int = 8, seed: int = 0) -> Sides:
    """h_t = tanh(W h_{t−1} + b), W = scale·N(0, 1/n), b ~ N(0, 0.1²), h_0 ~ N(0, 1), y ~ U(−½, ½) (the page's setup)."""
    rng = np.random.default_rng(seed)
    w = scale * rng.standard_normal((width, width)) / np.sqrt(width)
    b = 0.1 * rng.standard_normal(width)
    h0, y = rng.standard_normal((batch, width)), rng.uniform(-0.5, 0.5, (batch, width))
    net = gradviz.Network([w], [b], "tanh", unroll=steps)

    def check(g, result):
        grad_w, grad_b, norms = result
        # np.linalg.norm squares the entries: norms below ~1e-154 come out 0 (or inexact), above ~1e154 inf
        kept = (norms > 1e-150) & (norms < 1e150)
        lost = f"; the baseline's ‖∂C/∂h_t‖ is lost (0 or inf) for {np.sum(~kept)} of {steps + 1} steps" \
            if not kept.all() else ""
        return "; ".join([agree("∂C/∂W, ∂C/∂b", [g.nabla_w[0], g.nabla_b[0]], [grad_w, grad_b]),
                          agree("log10 ‖∂C/∂h_t‖", [np.asarray(g.log10_signal_norms)[kept]],
                                [np.log10(norms[kept])], logs=True)]) + lost
    return Sides(partial(gradviz.backprop, net, h0, y, "quadratic"),
                 partial(baselines.bptt, w, b, h0, y, steps), check)


NUMPY, TORCH = "plain numpy", "PyTorch float64, 1 thread"
ROWS = [
    Row("SGD epoch", f"{SGD_SIZES}, batch 10, η 0.1, cross-entropy, mnist_1k; gradviz.train(epochs=1) with its "
        "records vs the 100 updates alone", NUMPY, partial(sgd_epoch, "numpy"), 2.5),
    Row("SGD epoch", f"{SGD_SIZES}, batch 10, η 0.1, cross-entropy, mnist_1k; gradviz.train(epochs=1) with its "
        "records vs the 100 updates alone", TORCH, partial(sgd_epoch, "torch"), 0.5),
    Row("full-set gradient", f"{SGD_SIZES}, 1,000 digits: the ‖∂C/∂b_l‖ record gradviz.train takes before each "
        "epoch and after the last", NUMPY, full_set_gradient, None),
    Row("Nielsen full batch", f"{NIELSEN_SIZES}, 200 epochs, η 0.1, L2 λ 5.0, cross-entropy, recording "
        "‖∂C/∂b_l‖ per epoch", NUMPY, nielsen_full_batch, 1.2, repeats=3, slow=True),
    Row("exploding chain backprop", "seed_exploding(10000), y = 0, quadratic cost", NUMPY, exploding_chain, 3.0),
    *[Row("RNN backprop through time", f"T {steps}, width {width}, scale {scale} "
          f"({'vanishing' if scale < 1 else 'exploding'}), batch 8, tanh, quadratic",
          NUMPY, partial(rnn_bptt, steps, width, scale), 2.0, repeats=7 if steps < 1000 else 5, slow=steps >= 1000)
      for steps in (50, 1000) for width in (16, 32) for scale in (0.5, 3.0)],
]


# --- measuring --------------------------------------------------------------------------------------------------

def timed(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of fn, over `number` back-to-back calls."""
    gc.collect()  # the garbage of one side is not collected on the other's clock
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(row: Row, sample: float = 0.1) -> tuple[str, list[float], list[float]]:
    """(agreement note, gradviz times, baseline times): one untimed call of each, whose results are checked, then
    `repeats` interleaved samples of each side, a sample being enough back-to-back calls to last about `sample` s."""
    sides = row.prepare()
    note = sides.check(sides.gradviz(), sides.baseline())  # also the warm-up
    numbers = [max(1, round(sample / timed(fn, 1))) for fn in (sides.gradviz, sides.baseline)]
    ours, theirs = [], []
    for _ in range(row.repeats):
        ours.append(timed(sides.gradviz, numbers[0]))
        theirs.append(timed(sides.baseline, numbers[1]))
    return note, ours, theirs


def profile(row: Row, seconds: float = 1.0, top: int = 8) -> str:
    """Where the gradviz side spends its time (pyinstrument, called until `seconds` have passed): the functions
    with the most time inside them and the most time in their own code, as percentages of the whole."""
    from pyinstrument import Profiler
    fn, calls = row.prepare().gradviz, 0
    profiler = Profiler(interval=0.0005)
    with profiler:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            calls += 1
    root = profiler.last_session.root_frame()
    inside, own = Counter(), Counter()

    def walk(frame, stack: frozenset) -> None:
        name = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
        own[name] += frame.total_self_time
        inside[name] += 0.0 if name in stack else frame.time  # recursion counted once
        for child in frame.children:
            if not child.is_synthetic:
                walk(child, stack | {name})
    walk(root, frozenset())
    names = {n for n, _ in inside.most_common(top) + own.most_common(top) if "bench.py:" not in n}
    return "\n".join([f"{calls} calls, {seconds_text(root.time / calls)} each; % of the time: inside | own code"] +
                      [f"  {100 * inside[n] / root.time:5.1f} | {100 * own[n] / root.time:5.1f}  {n}"
                       for n in sorted(names, key=lambda n: -inside[n])])


def seconds_text(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def table_line(row: Row, ours: list[float], theirs: list[float]) -> str:
    mine, base = statistics.median(ours), statistics.median(theirs)
    ratio, pairs = mine / base, [a / b for a, b in zip(ours, theirs)]
    target, met = ("—", "—") if row.target is None else (f"≤ {row.target:g}×", "yes" if ratio <= row.target else "**no**")
    return (f"| {row.what} | {row.settings} | {seconds_text(mine)} | {seconds_text(base)} ({row.baseline}) | "
            f"{ratio:.2f}× ({min(pairs):.2f}–{max(pairs):.2f}; median of {row.repeats}) | {target} | {met} |")


def suite_line(target: float = 150.0) -> str:
    """The README's test command, timed once in the checkout holding the imported gradviz."""
    root = Path(gradviz.__file__).resolve().parents[1]
    env = {**CALLER_ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), CALLER_ENV.get("PYTHONPATH")]))}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
    return (f"| test suite | `python -m pytest -q` in {root} ({summary}; exit {done.returncode}) | {seconds_text(wall)} | — | — "
            f"| ≤ {target:g} s (idle machine) | {'yes' if wall <= target and done.returncode == 0 else '**no**'} |")


def records_note(medians: dict[tuple[str, str], tuple[float, float]]) -> str | None:
    """How much of gradviz's SGD epoch its two full-set records take (from two rows, so only roughly)."""
    if ("SGD epoch", NUMPY) not in medians or ("full-set gradient", NUMPY) not in medians:
        return None
    (epoch, updates), record = medians[("SGD epoch", NUMPY)], medians[("full-set gradient", NUMPY)][0]
    return (f"SGD epoch: gradviz.train(epochs=1) also runs two full-set backprops for its ‖∂C/∂b_l‖ record (before the "
            f"epoch and after it; {seconds_text(record)} each in the full-set row). The ratio above keeps them, as the page "
            f"pays them; without them the 100 updates (with their per-update records) take ≈ {seconds_text(epoch - 2 * record)},"
            f" ≈ {(epoch - 2 * record) / updates:.1f}× plain numpy (rows measured seconds apart, so roughly). "
            "A run of many epochs pays one full-set backprop per epoch.")


# --- the page rows ------------------------------------------------------------------------------------------------
# Absolute times and sizes of the page against issue 8's targets, measured on a real `streamlit run app.py` (started
# from the checkout of the imported gradviz, with the caller's environment), in headless Chromium, under AppTest and
# on the library calls the page makes. Unlike the ratios above they depend on the machine's load: every sample
# records the 1-minute load average, and the table gives their range. Run only these rows with --page.
#
# How each figure is taken, and why it is fair:
# - script time of a real server: a browser-less session on Streamlit's websocket (scripts/load_check.py) sends the
#   browser's first message (rerun_script with the query string) and reads the server's answer; the script runs from
#   the `new_session` message (sent as the script starts) to `script_finished`. That is the run a browser's visit
#   causes, on the same server, without a browser's CPU on the same two cores; the table also gives the time from
#   the request, which adds the session's creation.
# - Chromium: /usr/bin/chromium through Playwright; a script injected before the page loads watches the DOM and
#   records (performance.now(), from the navigation's start) the first moment the app is idle and every chart has a
#   drawn svg/canvas, and the time of every DOM change, so a settled time is the last change before 1 s of quiet.
# - AppTest: in a fresh process (a child of this one), as tests/ use it; the warm-up thread is joined before timing.
#   AppTest compiles app.py again on every run (a new ScriptCache each time, ~25-30 ms here) and sends nothing over a
#   socket, so its times differ from a real server's both ways; the rows say which they are.
# - library calls: in a fresh child process with BLAS on one thread, as on the server.

REMEDIES = ("relu", "gating", "clip", "regularize")
DESKTOP = {"width": 1400, "height": 900}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VISIT_TIMEOUT = 180.0
# Watches the page from before it loads: the first time the app is idle with every chart drawn (drawnAt), the last
# DOM change, the last click, and when the script state changed (running / notRunning).
PAGE_WATCH = r"""
(() => {
  const gv = window.__gv = {drawnAt: null, lastMutation: 0, clickAt: null, runningAt: null, idleAt: null, charts: 0};
  const drawn = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    if (document.querySelector('[data-stale="true"]')) return false;
    const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
    if (!charts.length) return false;
    gv.charts = charts.length;
    return charts.every(c => { const s = c.querySelector('svg, canvas'); if (!s) return false;
                               const r = s.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
  };
  let state = null;
  const observer = new MutationObserver(() => {
    const now = performance.now();
    gv.lastMutation = now;
    const app = document.querySelector('[data-testid="stApp"]');
    const current = app && app.getAttribute('data-test-script-state');
    if (current !== state) {
      if (current === 'running' && gv.runningAt === null) gv.runningAt = now;
      if (current === 'notRunning' && state === 'running') gv.idleAt = now;
      state = current;
    }
    if (gv.drawnAt === null && drawn()) gv.drawnAt = now;
  });
  const start = () => observer.observe(document.documentElement,
                                       {subtree: true, childList: true, attributes: true, characterData: true});
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
  document.addEventListener('click', () => { gv.clickAt = performance.now(); }, true);
  window.__gvDrawn = drawn;
})();
"""


@dataclass
class Measured:
    """One line of the page table: samples of a time (s) or a size (MB), each with the 1-minute load average."""

    what: str
    how: str
    target: float | None
    unit: str = "s"
    samples: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    condition: bool = True      # a requirement besides the number (e.g. the "run" offer shown)
    failed: str = ""

    def add(self, value: float, load: float | None = None) -> None:
        self.samples.append(float(value))
        self.loads.append(os.getloadavg()[0] if load is None else load)

    def value_text(self, x: float) -> str:
        if self.unit == "×":
            return f"{x:.2f}×"
        return f"{x:.0f} MB" if self.unit == "MB" else seconds_text(x)

    def line(self) -> str:
        target = "—" if self.target is None else f"≤ {self.value_text(self.target)}"
        if self.failed or not self.samples:
            reason = (self.failed or "no samples").replace("|", "\\|").replace("\n", " ")[:400]
            return f"| {self.what} | {self.how} | failed: {reason} | — | {target} | **no** | {load_text()} |"
        mid = statistics.median(self.samples)
        spread = "" if len(self.samples) == 1 else \
            f" ({self.value_text(min(self.samples))}–{self.value_text(max(self.samples))}; median of {len(self.samples)})"
        met = "—" if self.target is None else ("yes" if mid <= self.target and self.condition else "**no**")
        loads = f"{min(self.loads):.2f}–{max(self.loads):.2f}" if len(self.loads) > 1 else f"{self.loads[0]:.2f}"
        return f"| {self.what} | {self.how} | {self.value_text(mid)}{spread} | {target} | {met} | {loads} |"

    @property
    def missed(self) -> bool:
        return bool(self.failed or not self.samples) or (
            self.target is not None and not (statistics.median(self.samples) <= self.target and self.condition))


def page_server():
    """The app of the measured checkout on a free loopback port, with the caller's environment."""
    return load_check.Server(env=CALLER_ENV)


def run_worker(name: str, *args: str, timeout: float = 900.0) -> dict:
    """Run `bench.py --worker name args` in a fresh process (caller's environment); its last stdout line is JSON."""
    done = subprocess.run([sys.executable, __file__, "--worker", name, *args], env=CALLER_ENV, capture_output=True,
                          text=True, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker {name} failed (exit {done.returncode}): {done.stderr.strip()[-600:]}")
    return json.loads(lines[-1])


@contextlib.contextmanager
def chromium():
    """Debian's Chromium through Playwright, never a downloaded one."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watched_page(browser):
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(PAGE_WATCH)
    return context, context.new_page()


def median_text(values: list[float], unit: str = "s") -> str:
    if not values:
        return "—"
    mid = statistics.median(values)
    return f"{mid:.2f} {unit}" if unit != "ms" else f"{mid * 1e3:.0f} ms"


def group_cold_view(repeats: int, notes: list[str]) -> list[Measured]:
    """Interleaved: a fresh server visited once over the websocket; AppTest's first run in a fresh process."""
    script = Measured("first view, cold server: script", "websocket, fresh server: new_session → script_finished of "
                      "the first visit", 1.0)
    request = Measured("first view, cold server: request → complete page", "websocket, fresh server: rerun_script "
                       "sent → script_finished (adds the session's creation)", None)
    apptest = Measured("first view, cold: AppTest's first run", "AppTest.from_file(app.py).run() in a fresh process: "
                       "imports included, but no message is serialized, hashed or sent (a lower bound)", None)
    for _ in range(repeats):
        with page_server() as server:
            visit = load_check.visit(server, "", VISIT_TIMEOUT)
            if visit.errors:
                raise RuntimeError(f"first visit failed: {'; '.join(visit.problems())[:300]}")
            script.add(visit.script_seconds)
            request.add(visit.finished)
        result = run_worker("first-run")
        apptest.add(result["seconds"], result["load"])
    return [script, request, apptest]


def worker_first_run() -> dict:
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=VISIT_TIMEOUT)
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"first run raised: {at.exception[0].value}")
    return {"seconds": seconds, "load": os.getloadavg()[0]}


def join_warm_up(timeout: float = 120.0) -> float:
    """Wait for app.py's warm-up thread (threading.Thread(target=warm_views) is named "Thread-N (warm_views)")."""
    start = time.perf_counter()
    for thread in threading.enumerate():
        if "warm_views" in thread.name:
            thread.join(timeout)
    return time.perf_counter() - start


def worker_apptest(repeats: int) -> dict:
    """Section 1, its warm-up joined; then warm reruns and each remedy switched on (timed) and off again."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=VISIT_TIMEOUT)
    at.query_params["section"] = "chain"
    at.run()
    waited = join_warm_up()
    out = {"warm_up_wait": waited, "warm": [], "toggles": {name: [] for name in REMEDIES}, "back": []}
    at.run()  # the first rerun after the warm-up, untimed
    for _ in range(repeats):
        for name in REMEDIES:
            start = time.perf_counter()
            at.run()
            out["warm"].append((time.perf_counter() - start, os.getloadavg()[0]))
            start = time.perf_counter()
            at.toggle(key=name).set_value(True).run()
            out["toggles"][name].append((time.perf_counter() - start, os.getloadavg()[0]))
            start = time.perf_counter()
            at.toggle(key=name).set_value(False).run()
            out["back"].append(time.perf_counter() - start)
            if at.exception:
                raise RuntimeError(f"{name}: {at.exception[0].value}")
    return out


def group_apptest(repeats: int, notes: list[str]) -> list[Measured]:
    result = run_worker("apptest", str(repeats))
    warm = Measured("warm rerun (AppTest)", "the default page rerun with nothing changed, after the warm-up", 0.05)
    for seconds, load in result["warm"]:
        warm.add(seconds, load)
    rows = [warm]
    for name in REMEDIES:
        row = Measured(f"remedy toggle (AppTest): {name}", f"`at.toggle(key=\"{name}\").set_value(True).run()` from the "
                       "default view, after the warm-up", 0.15)
        for seconds, load in result["toggles"][name]:
            row.add(seconds, load)
        rows.append(row)
    notes.append(f"AppTest: the warm-up thread finished {result['warm_up_wait']:.1f} s after the first run; switching a "
                 f"remedy back off took {median_text(result['back'], 'ms')} (median).")
    return rows


ONE_CHART_APP = "scripts/one_chart_app.py"  # the floor: a one-chart Streamlit page, served and timed the same way
# (switch, the lesson step where it acts and is timed: 1 for the two that change the chains, their own remedy steps
# for the two that act on training, where the step's question is answered first)
LESSON_TOGGLES = (("relu", 1), ("gating", 1), ("clip", 8), ("regularize", 9))


def first_view_seconds(browser, url: str) -> tuple[float, int]:
    """(seconds from navigation until the app is idle with every chart drawn, charts) in a fresh context."""
    context, page = watched_page(browser)
    try:
        page.goto(url, wait_until="commit", timeout=VISIT_TIMEOUT * 1000)
        page.wait_for_function("() => window.__gv && window.__gv.drawnAt !== null", timeout=VISIT_TIMEOUT * 1000,
                               polling=50)
        info = page.evaluate("() => window.__gv")
        return info["drawnAt"] / 1000, info["charts"]
    finally:
        context.close()


def group_first_view_against_one_chart(repeats: int, notes: list[str]) -> list[Measured]:
    """Interleaved, each on a fresh server and browser context: the page's first view (the lesson's first step, as a
    first visit gets it) and the one-chart page's, every chart drawn; the ratio of each pair."""
    ours = Measured("first view in Chromium: the lesson's first step", "fresh server, fresh context: navigation → app "
                    "idle, every chart's svg/canvas drawn", 2.5)
    floor = Measured("first view in Chromium: a one-chart Streamlit page", f"{ONE_CHART_APP}, the same way", None)
    ratio = Measured("first view against the one-chart page", "ratio of each interleaved pair", 1.5, unit="×")
    charts = []
    with chromium() as browser:
        for _ in range(repeats):
            with page_server() as server:
                seconds, count = first_view_seconds(browser, f"{server.url}/")
                ours.add(seconds)
                charts.append(count)
            with load_check.Server(app=ONE_CHART_APP, env=CALLER_ENV) as server:
                floor.add(first_view_seconds(browser, f"{server.url}/")[0])
            ratio.add(ours.samples[-1] / floor.samples[-1])
    notes.append(f"The lesson's first view draws {statistics.median(charts):.0f} charts; the one-chart page 1.")
    return [ours, floor, ratio]


def settle_after_click(page, locator, url_condition: str = "true") -> float:
    """Click, then wait until the app is idle, every chart drawn, the URL condition holds and nothing has changed for
    1 s; the seconds from the click to the last change."""
    page.evaluate("() => { window.__gv.clickAt = null; }")
    locator.click()
    page.wait_for_function("() => window.__gv.clickAt !== null && window.__gvDrawn() && performance.now() - "
                           f"window.__gv.lastMutation > 1000 && ({url_condition})", timeout=VISIT_TIMEOUT * 1000,
                           polling=50)
    info = page.evaluate("() => window.__gv")
    return (info["lastMutation"] - info["clickAt"]) / 1000


def open_settled(page, url: str) -> None:
    """Open the URL and wait until the app is idle and nothing has changed for 1 s (a step whose question is not
    answered yet draws no chart)."""
    page.goto(url, wait_until="commit", timeout=VISIT_TIMEOUT * 1000)
    page.wait_for_function("() => { const app = document.querySelector('[data-testid=\"stApp\"]'); return window.__gv "
                           "&& app && app.getAttribute('data-test-script-state') === 'notRunning' && "
                           "performance.now() - window.__gv.lastMutation > 1000; }", timeout=VISIT_TIMEOUT * 1000,
                           polling=50)


def group_chromium_toggles(repeats: int, notes: list[str]) -> list[Measured]:
    """Each remedy switched on and off again in the lesson, where it acts (the warm-up done), against the one-chart
    page's toggle; the ratio of medians."""
    rows = {name: Measured(f"remedy toggle in Chromium: {name} (lesson step {number})", "click on the switch → app "
                           "idle, every chart drawn, URL updated; the last DOM change before 1 s of quiet", 0.5)
            for name, number in LESSON_TOGGLES}
    floor = Measured("toggle in Chromium: the one-chart page", f"{ONE_CHART_APP}'s toggle, the same way", None)
    with page_server() as server, chromium() as browser:
        context, page = watched_page(browser)
        open_settled(page, f"{server.url}/")
        server.wait_idle()  # the warm-up has drawn the neighbours' views
        for name, number in LESSON_TOGGLES:
            open_settled(page, f"{server.url}/?lesson=1&step={number}")
            if page.locator('[data-testid="stRadio"]').count():
                settle_after_click(page, page.locator('[data-testid="stRadio"] [role="radiogroup"] label').first,
                                   f"new URLSearchParams(location.search).get('{name}') === '1'")
            switch = page.locator(f".st-key-{name} label").first
            on = page.evaluate(f"() => new URLSearchParams(location.search).get('{name}') === '1'")
            for _ in range(repeats):
                for wanted in (("null", "'1'") if on else ("'1'", "null")):
                    seconds = settle_after_click(page, switch, f"new URLSearchParams(location.search).get('{name}') "
                                                               f"=== {wanted}")
                    if wanted == "'1'":
                        rows[name].add(seconds)
        context.close()
    with load_check.Server(app=ONE_CHART_APP, env=CALLER_ENV) as server, chromium() as browser:
        context, page = watched_page(browser)
        open_settled(page, f"{server.url}/")
        for _ in range(repeats):
            for _ in range(2):
                floor.add(settle_after_click(page, page.locator(".st-key-steep label").first))
        context.close()
    ratios = []
    for name, _ in LESSON_TOGGLES:
        ratio = Measured(f"toggle against the one-chart page: {name}", "ratio of the medians", 2.0, unit="×")
        ratio.add(statistics.median(rows[name].samples) / statistics.median(floor.samples))
        ratios.append(ratio)
    return list(rows.values()) + [floor] + ratios


def on_demand_variants(section: str, k: int) -> dict:
    """The k-th setting of default sizes whose section results are not shipped (a new seed, a new initialization or
    a new clipping threshold)."""
    if section == "deep":  # no seed: the chosen initialization's profile is new, the compared one is shipped
        init, gain = [("standard_normal", 1.0), ("pytorch", 1.0), ("he", 1.0), ("orthogonal", 1.0),
                      ("orthogonal", 1.5), ("orthogonal", 2.0), ("orthogonal", 0.5), ("orthogonal", 2.5)][k % 8]
        return {"section": "deep", "init": init, "gain": gain}
    if section == "theory":  # the phase diagrams are shipped; the cliff's descent depends on the threshold
        return {"section": "theory", "clip": True, "clip_threshold": 2.0 + k}
    return {"section": section, "seed": 1 + k}


def query_of(values: dict) -> str:
    return "&".join(f"{key}={int(value) if isinstance(value, bool) else value}" for key, value in values.items())


ON_DEMAND = ("chain", "layers", "time", "deep", "theory")


def worker_on_demand(repeats: int) -> dict:
    """Each section's jobs that are not shipped, run one after the other (as the page's one worker does)."""
    from gradviz.page.precomputed import load_precomputed
    from gradviz.page.sections import SECTIONS
    from gradviz.page.settings import DEFAULTS
    from gradviz.page.state import PageState

    shipped = load_precomputed()
    out = {"shipped": len(shipped), "first": {}, "runs": {name: [] for name in ON_DEMAND}}
    with threadpool_limits(limits=1):
        for name in ON_DEMAND:  # once, untimed: the data files and the quadrature rules a server loads once
            start = time.perf_counter()
            for job in SECTIONS[name].jobs(PageState.of({**DEFAULTS, **on_demand_variants(name, 97)})).values():
                job()
            out["first"][name] = time.perf_counter() - start
        for k in range(repeats):
            for name in ON_DEMAND:
                jobs = SECTIONS[name].jobs(PageState.of({**DEFAULTS, **on_demand_variants(name, k)}))
                todo = {key: job for key, job in jobs.items() if job.key not in shipped}
                times = {}
                for key, job in todo.items():
                    start = time.perf_counter()
                    job()
                    times[key] = time.perf_counter() - start
                out["runs"][name].append({"seconds": sum(times.values()), "load": os.getloadavg()[0], "jobs": times,
                                          "estimate": sum(job.cost for job in todo.values())})
    return out


def group_on_demand(repeats: int, notes: list[str]) -> list[Measured]:
    result = run_worker("on-demand", str(repeats))
    rows = []
    for name in ON_DEMAND:
        example = query_of(on_demand_variants(name, 0))
        row = Measured(f"on-demand training, cold: {name}", f"the section's unshipped jobs in a row, BLAS on one thread "
                       f"(e.g. `?{example}`)", 0.6)
        per_job: dict[str, list[float]] = {}
        estimates = []
        for run in result["runs"][name]:
            row.add(run["seconds"], run["load"])
            estimates.append(run["estimate"])
            for key, seconds in run["jobs"].items():
                per_job.setdefault(key, []).append(seconds)
        rows.append(row)
        notes.append(f"On-demand {name}: per job (median) " + ", ".join(
            f"{key} {median_text(values)}" for key, values in per_job.items()) +
            f"; the page's estimate {median_text(estimates)}; first run in the process {result['first'][name]:.2f} s.")
    if not result["shipped"]:
        notes.append("**The shipped results did not load** (gradviz/data/precomputed.pkl.gz missing or from other code): "
                     "every job above ran, as on the server.")
    return rows


def group_warm_server(repeats: int, notes: list[str]) -> list[Measured]:
    """On one warm server (default page visited, warm-up done): each section's cold page and the heaviest URLs, over
    the websocket, interleaved."""
    from gradviz.page.jobs import BUDGET_SECONDS, section_cost
    from gradviz.page.sections import SECTIONS
    from gradviz.page.settings import parse_url
    from gradviz.page.state import PageState

    pages = {name: Measured(f"on-demand page, cold: {name}", "websocket, warm server: request → script_finished of a "
                            "new session at an unshipped setting of default sizes (jobs, drawing, sending)", None)
             for name in ON_DEMAND}
    heavy = {}
    for query in load_check.HEAVIEST[:4]:
        values = parse_url([tuple(pair.split("=")) for pair in query.split("&")]).values
        section = values["section"]
        estimate = section_cost(SECTIONS[section].jobs(PageState.of(values)))
        heavy[query] = Measured(f"heaviest URL: `?{query}`", f"websocket, warm server: request → script_finished; "
                                f"estimate {estimate:.0f} s ({'over' if estimate > BUDGET_SECONDS else 'within'} the "
                                f"{BUDGET_SECONDS:g} s budget)", 2.0)
    offers, cpu = {query: [] for query in heavy}, {query: [] for query in heavy}
    with page_server() as server:
        load_check.visit(server, "", VISIT_TIMEOUT)
        server.wait_idle()
        for k in range(repeats):
            for name in ON_DEMAND:
                visit = load_check.visit(server, query_of(on_demand_variants(name, 100 + k)), VISIT_TIMEOUT)
                if not visit.errors:
                    pages[name].add(visit.finished)
                else:
                    pages[name].failed = "; ".join(visit.problems())[:300]
                server.wait_idle()
            for query, row in heavy.items():
                cpu0 = server.cpu_seconds()
                visit = load_check.visit(server, f"{query}&seed={200 + k}", VISIT_TIMEOUT)  # a new seed: never cached
                server.wait_idle()
                cpu[query].append(server.cpu_seconds() - cpu0)
                if not visit.errors:
                    row.add(visit.finished)
                    offers[query].append(visit.offers_run())
                else:
                    row.failed = "; ".join(visit.problems())[:300]
    for query, row in heavy.items():  # answered within the target either way: computed, or the cost and a button
        row.how += "; the cost and a run button" if offers[query] and all(offers[query]) else "; computed (the " \
            "view at initialization; its training panel opens on demand)"
    notes.append("Heaviest URLs, server CPU-seconds per visit until idle (median): " + "; ".join(
        f"`?{query}` {median_text(values)}" for query, values in cpu.items()) + ".")
    return [*pages.values(), *heavy.values()]


def memory_queries(n: int) -> list[str]:
    """n distinct settings of modest size over the sections."""
    out = []
    for k in range(n):
        kind = k % 7
        if kind == 0:
            out.append(f"section=chain&depth={(4, 30, 300, 1000)[k // 7 % 4]}&seed={k}")
        elif kind == 1:
            out.append(f"section=layers&seed={k}&epochs={(20, 50, 100)[k // 7 % 3]}")
        elif kind == 2:
            out.append(f"section=time&seed={k}&length={(50, 100, 200)[k // 7 % 3]}")
        elif kind == 3:
            values = on_demand_variants("deep", k // 7)
            out.append(query_of({**values, "seeds": 3 + k // 7 % 3}))
        elif kind == 4:
            out.append(f"section=theory&clip=1&clip_threshold={0.5 + k}")
        elif kind == 5:
            out.append(f"section=chain&relu=1&clip=1&seed={k}")
        else:
            out.append(f"section=run&example={('vanishing', 'exploding_clipped', 'healthy')[k // 7 % 3]}&seed={k}&lang="
                       f"{('en', 'zh')[k // 7 % 2]}")
    assert len(set(out)) == n
    return out


def group_memory(visits: int, notes: list[str]) -> list[Measured]:
    after = Measured(f"server RSS after {visits} visits", f"a fresh server, {visits} sessions one after another over the "
                     "websocket, each a different setting of modest size (all sections)", 400.0, "MB")
    growth = Measured(f"server RSS trend over the last {visits - 10} visits", f"least-squares slope of RSS over visits "
                      f"11–{visits} × {visits - 10} (flat: ≤ 20 MB, 5 % of the 400 MB budget; the readings are in the "
                      "notes)", 20.0, "MB")
    readings, failures = [], []
    with page_server() as server:
        start_rss = server.rss_mb()
        for query in memory_queries(visits):
            visit = load_check.visit(server, query, VISIT_TIMEOUT)
            if visit.errors:
                failures.append(f"`?{query}`: {'; '.join(visit.problems())[:200]}")
            readings.append(server.rss_mb())
        server.wait_idle()
        settled = server.rss_mb()
    tail = np.arange(10, visits)
    slope = float(np.polyfit(tail, np.asarray(readings[10:]), 1)[0])
    after.add(readings[-1])
    growth.add(slope * (visits - 10))
    top = int(np.argmax(readings))
    notes.append(f"RSS over the {visits} visits (MB): start {start_rss:.0f}, after visit 1 {readings[0]:.0f}, 10 "
                 f"{readings[9]:.0f}, 20 {readings[19]:.0f}, 30 {readings[29]:.0f}, 40 {readings[39]:.0f}, {visits} "
                 f"{readings[-1]:.0f} (max {readings[top]:.0f} after visit {top + 1}, `?{memory_queries(visits)[top]}`); "
                 f"from visit 10 to {visits}: {readings[-1] - readings[9]:+.0f} MB; trend over the last {visits - 10}: "
                 f"{slope:+.2f} MB a visit; "
                 f"{settled:.0f} MB when idle." + (f" Failed visits: {'; '.join(failures[:3])}" if failures else ""))
    if failures:
        after.how += f"; **{len(failures)} of the visits failed** (see the notes)"
    return [after, growth]


def worker_phase(order: str) -> dict:
    """phase_diagram(activation) for each activation in `order`: the first call in this fresh process, then 5 more."""
    from gradviz.page.sections.theory import phase_diagram
    out = {}
    with threadpool_limits(limits=1):
        for activation in order.split(","):
            start = time.perf_counter()
            phase_diagram(activation)
            first = time.perf_counter() - start
            again = []
            for _ in range(5):
                start = time.perf_counter()
                phase_diagram(activation)
                again.append(time.perf_counter() - start)
            out[activation] = {"first": first, "again": again, "load": os.getloadavg()[0]}
    return out


def group_phase(repeats: int, notes: list[str]) -> list[Measured]:
    activations = ["sigmoid", "tanh", "relu"]
    rows = {a: Measured(f"phase diagram 60×60: {a}", "`phase_diagram(activation)`, first call in a fresh process "
                        "(each process another order of the three)", 0.2) for a in activations}
    again = {a: [] for a in activations}
    for k in range(repeats):
        order = activations[k % 3:] + activations[:k % 3]
        result = run_worker("phase", ",".join(order))
        for a in activations:
            rows[a].add(result[a]["first"], result[a]["load"])
            again[a].extend(result[a]["again"])
    notes.append("Phase diagram, later calls in the same process (median): " + ", ".join(
        f"{a} {median_text(again[a], 'ms')}" for a in activations) + " (the page keeps each result, so a visitor pays "
        "the first call once per server).")
    return list(rows.values())


PAGE_GROUPS = [  # (name, function(repeats or visits, notes), slow)
    ("first view on a cold server", group_cold_view, False),
    ("first view in Chromium against a one-chart page", group_first_view_against_one_chart, False),
    ("AppTest reruns and toggles", group_apptest, False),
    ("remedy toggles in Chromium", group_chromium_toggles, False),
    ("on-demand training", group_on_demand, False),
    ("pages on a warm server", group_warm_server, False),
    ("memory over 50 visits", group_memory, True),
    ("phase diagram", group_phase, False),
]
WORKERS = {"first-run": lambda args: worker_first_run(), "apptest": lambda args: worker_apptest(int(args[0])),
           "on-demand": lambda args: worker_on_demand(int(args[0])), "phase": lambda args: worker_phase(args[0])}


def page_status() -> str:
    return load_check.shipped_status()


def page_rows(repeats: int, quick: bool) -> tuple[list[str], list[str], bool]:
    """(table lines, notes, any target missed or row failed)."""
    lines = ["| what | how | median (range; samples) | target | met? | load average (1 min) |",
             "| --- | --- | --- | --- | --- | --- |"]
    notes, missed = [], False
    for name, group, slow in PAGE_GROUPS:
        if quick and slow:
            continue
        print(f"measuring the page: {name} (load average {load_text()}) …", file=sys.stderr, flush=True)
        try:
            rows = group(50 if group is group_memory else repeats, notes)
        except Exception as error:  # a failed group must not lose the others
            rows = [Measured(name, "—", None, failed=f"{type(error).__name__}: {error}")]
        for row in rows:
            lines.append(row.line())
            missed |= row.missed
            print(lines[-1], file=sys.stderr, flush=True)
    return lines, notes, missed


def load_text() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def git_version(root: Path) -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown commit"
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the slow rows")
    parser.add_argument("--suite", action="store_true", help="also time the test suite (minutes)")
    parser.add_argument("--profile", action="store_true", help="profile the gradviz side of every row")
    parser.add_argument("--page", action="store_true", help="only the page rows (absolute times against issue 8's targets)")
    parser.add_argument("--repeats", type=int, default=5, help="samples per page row (default 5)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)  # a page measurement in a fresh process
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker[0]](args.worker[1:])))
        return 0
    root = ROOT
    failed = False
    if not args.page:
        failed = engine_rows(args, root)
    if True:  # the page rows: always (after the engine rows unless --page)
        print(f"\n## The page\n\ngradviz at {root} ({git_version(root)}); {platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}; {page_status()}\nload average (1, 5, 15 min) at the start of the "
              f"page rows: {load_text()}\n", flush=True)
        lines, notes, missed = page_rows(args.repeats, args.quick)
        print("\n".join(lines))
        print(f"\nload average (1, 5, 15 min) at the end: {load_text()}\n")
        print("\n".join(f"- {note}" for note in notes))
        failed |= missed
    return 1 if failed else 0


def engine_rows(args, root: Path) -> bool:
    """The ratio rows (and the suite): print their table; True if a row failed."""
    try:
        import torch
    except ImportError:  # PyTorch is not a dependency: its row then fails, the others run
        torch = None
    else:
        torch.set_num_threads(1)
    lines = ["| what | settings | gradviz | baseline | ratio | target | met? |", "| --- | --- | --- | --- | --- | --- | --- |"]
    notes, profiles, failed, medians = [], [], False, {}
    with threadpool_limits(limits=1):
        pools = ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info())
        print(f"gradviz at {root} ({git_version(root)}); {platform.machine()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__ if torch else 'missing'}"
              f"\nthreads: {pools} (threadpoolctl), torch {torch.get_num_threads() if torch else '-'}"
              f"\nload average (1, 5, 15 min) at the start: {load_text()}\n")
        for row in [r for r in ROWS if not (args.quick and r.slow)]:
            print(f"measuring {row.what} ({row.settings}) vs {row.baseline} …", file=sys.stderr, flush=True)
            try:
                note, ours, theirs = measure(row)
            except Exception as error:  # a broken or disagreeing row must not lose the others
                failed = True
                reason = f"{type(error).__name__}: {error}".replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {row.what} | {row.settings} | failed: {reason} | "
                             f"({row.baseline}) | — | {'—' if row.target is None else f'≤ {row.target:g}×'} | **no** |")
            else:
                lines.append(table_line(row, ours, theirs))
                medians[(row.what, row.baseline)] = (statistics.median(ours), statistics.median(theirs))
                notes.append(f"{row.what} ({row.settings.split(';')[0]}) vs {row.baseline}: {note}")
                if args.profile and not any(text.startswith(f"{row.what} ({row.settings.split(';')[0]})")
                                            for text in profiles):
                    profiles.append(f"{row.what} ({row.settings.split(';')[0]}):\n{profile(row)}")
            print(lines[-1], file=sys.stderr, flush=True)
    if args.suite:
        print("running the test suite …", file=sys.stderr, flush=True)
        lines.append(suite_line())
    print("\n".join(lines))
    print(f"\nload average (1, 5, 15 min) at the end: {load_text()}\n\nAgreement, checked once per row before timing:")
    print("\n".join(f"- {note}" for note in notes))
    if records_note(medians):
        print(f"\nNote. {records_note(medians)}")
    if profiles:
        print("\nWhere the gradviz side spends its time (pyinstrument; its per-call hook inflates code that makes many "
              "small Python calls):\n\n" + "\n\n".join(profiles))
    return failed


if __name__ == "__main__":
    sys.exit(main())
