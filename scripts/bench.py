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
Gradients.nabla_w/.nabla_b/.log10_bias_norms/.log10_activation_grad_norms. A row is one Row(...) in ROWS.
"""

from __future__ import annotations

import os

CALLER_ENV = dict(os.environ)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parents[1]))  # after PYTHONPATH, so PYTHONPATH chooses the gradviz

import baselines  # noqa: E402  (scripts/baselines.py, next to this file)
import gradviz  # noqa: E402
from gradviz.datasets import mnist_1k  # noqa: E402

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
                          agree("log10 ‖∂C/∂h_t‖", [np.asarray(g.log10_activation_grad_norms)[kept]],
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
    args = parser.parse_args(argv)
    root = Path(gradviz.__file__).resolve().parents[1]
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
