"""Timings of gradviz on this machine, as a markdown table: `python scripts/bench.py [--quick]`.

Run from the repository root (the app rows drive app.py through streamlit.testing). Each row is
(what, settings, callable, target, repeats): the callable runs `repeats` times, timed with
time.perf_counter, and the table shows the median. --quick skips the rows at the sliders' maxima and
Nielsen's 500-epoch run. Streamlit and PyTorch are imported only by the rows that need them, so
importing gradviz never imports either; PyTorch is optional (its rows are skipped without it).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradviz  # noqa: E402
import gradviz.chain
import gradviz.experiments
import gradviz.explain
from gradviz.chain import CASES, ChainConfig, analyze_chain
from gradviz.datasets import mnist_1k
from gradviz.experiments import (NielsenConfig, RecurrentConfig, Training, recurrent_gradients, train_chain,
                                 train_nielsen, train_recurrent)

APP = Path(__file__).resolve().parents[1] / "app.py"
SGD_SIZES = [784, 30, 30, 30, 10]
TORCH_ROWS = ("SGD epoch, PyTorch, default threads", "SGD epoch, PyTorch, 1 thread")


@dataclass(frozen=True)
class Relative:
    """A target that is a fraction of the fastest of other rows' medians (gradviz ≤ 0.5 × PyTorch)."""

    rows: tuple[str, ...]
    factor: float


@dataclass(frozen=True)
class Row:
    """One line of the table: run() is timed `repeats` times; setup(), if given, runs untimed before each."""

    what: str
    settings: str
    run: Callable[[], object]
    target: float | Relative | None
    repeats: int
    setup: Callable[[], object] | None = None


def both_cases(compute: Callable[[str], object]) -> Callable[[], None]:
    """A callable computing a section's two columns, vanishing and exploding, as the page does."""
    return lambda: [compute(case) for case in CASES]


def section_rows(maxima: bool) -> list[Row]:
    """The page's four sections (both columns each), at the defaults or at the sliders' maxima."""
    depth, steps, hidden, width, epochs = (10_000, 200, 6, 100, 500) if maxima else (4, 30, 4, 30, 100)
    repeats = 1 if maxima else 5
    train, nielsen_training = Training(steps, 0.1), Training(epochs, 0.1)
    sizes = NielsenConfig(n_hidden=hidden, width=width).sizes
    label = "maxima" if maxima else "defaults"

    def recurrent(case: str):
        cfg = RecurrentConfig(case=case)
        return recurrent_gradients(cfg), train_recurrent(cfg, train)

    return [
        Row("1 · chain analysis", f"{label}: depth {depth}, both cases",
            both_cases(lambda case: analyze_chain(ChainConfig(case=case, depth=depth))), None, repeats),
        Row("1 · chain training", f"{label}: depth {depth}, {steps} steps, η 0.1, both cases",
            both_cases(lambda case: train_chain(ChainConfig(case=case, depth=depth), train)), None, repeats),
        Row("2 · Nielsen training", f"{label}: {sizes}, {epochs} epochs, both cases",
            both_cases(lambda case: train_nielsen(NielsenConfig(case=case, n_hidden=hidden, width=width),
                                                  nielsen_training)), None, repeats),
        Row("3 · RNN gradients + training", f"{label}: T 50, {steps} steps, η 0.1, both cases",
            both_cases(recurrent), None, repeats),
    ]


# The functions whose results app.py caches; counting their calls shows whether a rerun recomputed.
COUNTED = {gradviz.chain: ["analyze_chain"], gradviz.explain: ["weight_probability_facts"],
           gradviz.experiments: ["train_chain", "train_nielsen", "recurrent_gradients", "train_recurrent"]}


@contextmanager
def counting_calls(calls: dict[str, int]):
    """Wrap the computations app.py caches so each call adds 1 to calls[name]; app.py re-imports
    them on every script run, so it picks the wrappers up."""
    originals = [(module, name, getattr(module, name)) for module, names in COUNTED.items() for name in names]

    def counted(name, fn):
        @functools.wraps(fn)  # app.py keys its store by the function's __name__
        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return fn(*args, **kwargs)
        return wrapper

    for module, name, fn in originals:
        setattr(module, name, counted(name, fn))
    try:
        yield calls
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)


class AppFlipper:
    """app.py under streamlit.testing.v1.AppTest, flipping one sidebar toggle per rerun.

    Every flip records which cached computations ran again: after a cold_from() setup all of them
    must (else the clear missed a cache); once warm() has cached both states, none may. "Cold" means
    Streamlit's caches are empty; the Python process stays warm (imports, gradviz's lru_cached MNIST),
    as on a running Streamlit server.
    """

    def __init__(self, toggle: str = "relu"):
        self.toggle = toggle
        self.app = None
        self.cold = False
        self.warmed = False
        self.cold_calls: list[dict[str, int]] = []
        self.warm_calls: list[dict[str, int]] = []

    def _run(self) -> dict[str, int]:
        calls: dict[str, int] = {}
        with counting_calls(calls):
            self.app.run()
        if self.app.exception:
            raise RuntimeError(f"app.py raised: {[e.value for e in self.app.exception]}")
        return calls

    def _start(self) -> None:
        if self.app is None:
            from streamlit.testing.v1 import AppTest
            self.app = AppTest.from_file(str(APP), default_timeout=3600)
            self._run()

    def cold_from(self, start: bool) -> Callable[[], None]:
        """A setup: put the toggle at `start` (an untimed rerun if it is not there), then
        st.cache_data.clear() and st.cache_resource.clear() (the latter drops app.py's store of training runs)."""
        def setup():
            import streamlit as st
            self._start()
            if self.app.toggle(key=self.toggle).value != start:
                self.flip()
            st.cache_data.clear()
            st.cache_resource.clear()
            self.cold = True
        return setup

    def warm(self) -> None:
        """Flip there and back once (first call only), so both states of the toggle are cached."""
        self._start()
        if not self.warmed:
            self.flip()
            self.flip()
            self.warmed = True

    def flip(self) -> None:
        """Flip the toggle and rerun the script, recording which cached computations ran again."""
        self._start()
        widget = self.app.toggle(key=self.toggle)
        widget.set_value(not widget.value)
        calls = self._run()
        if self.cold:
            self.cold_calls.append(calls)
        elif self.warmed:
            self.warm_calls.append(calls)
        self.cold = False

    def notes(self) -> list[str]:
        """What the counted calls say about the caches: cleared completely (cold), hit (warm)."""
        expected = {name for names in COUNTED.values() for name in names}
        notes = []
        for calls in self.cold_calls:
            missed = sorted(expected - set(calls))
            notes.append(f"cold flip recomputed {dict(sorted(calls.items()))}"
                         + (f"; NOT recomputed (a cache survived the clear): {missed}" if missed else
                            ": every cached computation, so the clear emptied every cache app.py uses"))
        for calls in self.warm_calls:
            notes.append(f"warm flip recomputed {calls}: NOT served from the cache" if calls else
                         "warm flip recomputed nothing: every result came from the cache")
        return sorted(set(notes))


def app_rows(flipper: AppFlipper) -> list[Row]:
    """Rerun time of app.py after flipping the flipper's toggle, with cleared and with warm caches."""
    if not APP.exists():
        return []
    settings = f"AppTest, page at defaults, toggle {flipper.toggle!r}"
    cleared = "; st.cache_data and st.cache_resource cleared first"
    return [
        Row("app rerun after a toggle, cold cache", f"{settings} off → on{cleared}",
            flipper.flip, 0.150, 3, setup=flipper.cold_from(False)),
        Row("app rerun after a toggle, cold cache", f"{settings} on → off (back to defaults){cleared}",
            flipper.flip, 0.150, 3, setup=flipper.cold_from(True)),
        Row("app rerun after a toggle, warm cache", f"{settings} flipped both ways; both states cached",
            flipper.flip, 0.050, 6, setup=flipper.warm),
    ]


def sgd_epoch_gradviz() -> Callable[[], object]:
    """One epoch of gradviz.train: mini-batches of 10, η 0.1, cross-entropy, on mnist_1k()."""
    x, y = mnist_1k()
    net = gradviz.nielsen_network(SGD_SIZES, seed=0)
    return lambda: gradviz.train(net, x, y, epochs=1, eta=0.1, batch_size=10, cost="cross_entropy")


def sgd_epoch_torch(threads: int | None = None) -> Callable[[], object] | None:
    """The same epoch in idiomatic PyTorch on the CPU (float32, autograd, optim.SGD), or None without torch.

    threads: torch.set_num_threads for the epoch (restored after it); None keeps torch's default.
    """
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    x, y = (torch.tensor(np.asarray(a), dtype=torch.float32) for a in mnist_1k())
    torch.manual_seed(0)
    layers = []
    for n_in, n_out in zip(SGD_SIZES[:-1], SGD_SIZES[1:]):
        layers += [nn.Linear(n_in, n_out), nn.Sigmoid()]
    model = nn.Sequential(*layers[:-1])  # logits out; the sigmoid is inside the loss
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")  # Σ over outputs and rows; / batch below

    def epoch():
        default = torch.get_num_threads()
        torch.set_num_threads(threads or default)
        for batch in torch.randperm(len(x)).split(10):
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch]) / len(batch)
            loss.backward()
            optimizer.step()
        torch.set_num_threads(default)

    return epoch


def engine_rows(quick: bool) -> list[Row]:
    """SGD against PyTorch, Nielsen's 500-epoch run and the 10,000-deep exploding chain."""
    rows = []
    if sgd_epoch_torch() is not None:
        import torch
        settings = f"{SGD_SIZES}, batch 10, η 0.1, BCE-with-logits, float32, torch {torch.__version__}"
        rows += [Row(TORCH_ROWS[0], f"{settings}, {torch.get_num_threads()} threads (torch default)", sgd_epoch_torch(),
                     None, 7),
                 Row(TORCH_ROWS[1], f"{settings}, 1 thread (steadier on a busy machine)", sgd_epoch_torch(threads=1),
                     None, 7)]
    rows.append(Row("SGD epoch, gradviz.train", f"{SGD_SIZES}, batch 10, η 0.1, cross-entropy, mnist_1k",
                    sgd_epoch_gradviz(), Relative(TORCH_ROWS, 0.5), 7))
    if not quick:
        rows.append(Row("Nielsen 500 epochs", "NielsenConfig() (vanishing, [784, 30×4, 10]), Training(epochs=500)",
                        lambda: train_nielsen(NielsenConfig(), Training(epochs=500)), 3.0, 1))
    rows.append(Row("exploding chain backprop", "backprop(*seed_exploding(10000), [[0.0]])",
                    lambda: gradviz.backprop(*gradviz.seed_exploding(10_000), [[0.0]]), 0.100, 7))
    return rows


def all_rows(quick: bool, flipper: AppFlipper) -> list[Row]:
    """Every row of the table, in order; --quick drops the maxima rows and the 500-epoch run."""
    return section_rows(False) + ([] if quick else section_rows(True)) + app_rows(flipper) + engine_rows(quick)


def measure(row: Row) -> float:
    """Median seconds of row.run() over row.repeats runs (setup untimed)."""
    times = []
    for _ in range(row.repeats):
        if row.setup is not None:
            row.setup()
        start = time.perf_counter()
        row.run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def seconds_text(seconds: float) -> str:
    """1.23 ms, 45.6 ms, 1.23 s: three significant digits."""
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def target_text(row: Row, median: float, medians: dict[str, float]) -> tuple[str, str, str]:
    """(target, met?, ratio note) of a row measured at `median`, given the medians of the rows before it."""
    if row.target is None:
        return "—", "—", ""
    if isinstance(row.target, Relative):
        target = f"≤ {row.target.factor:g} × PyTorch (its faster row)"
        ratios = {name: median / medians[name] for name in row.target.rows if name in medians}
        if not ratios:
            return target, "— (no torch)", ""
        listed = ", ".join(f"{ratio:.2f} vs {name.removeprefix('SGD epoch, ')}" for name, ratio in ratios.items())
        return target, "yes" if max(ratios.values()) <= row.target.factor else "**no**", f"; gradviz/torch {listed}"
    return f"≤ {seconds_text(row.target)}", "yes" if median <= row.target else "**no**", ""


def git_version() -> str:
    """`git describe --always --dirty` of the checkout holding gradviz, or "unknown commit"."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=APP.parent, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"


def main(argv: list[str] | None = None) -> None:
    """Measure every row and print the machine, the markdown table and any notes."""
    parser = argparse.ArgumentParser(prog="python scripts/bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the maxima rows and Nielsen's 500-epoch run")
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"gradviz bench{' --quick' if args.quick else ''} at {git_version()}: {platform.machine()}, "
          f"{os.cpu_count()} CPUs (load average {load} at start), Python {platform.python_version()}, "
          f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}\n")
    lines = ["| what | settings | median time | target | met? |", "| --- | --- | --- | --- | --- |"]
    medians: dict[str, float] = {}
    flipper = AppFlipper("relu")
    for row in all_rows(args.quick, flipper):
        print(f"measuring {row.what} ({row.settings}) ×{row.repeats} …", file=sys.stderr, flush=True)
        try:
            medians[row.what] = median = measure(row)
        except Exception as error:  # one broken row must not lose the others
            lines.append(f"| {row.what} | {row.settings} | failed: {type(error).__name__}: {error} | — | — |")
        else:
            target, met, extra = target_text(row, median, medians)
            runs = "1 run" if row.repeats == 1 else f"median of {row.repeats}"
            lines.append(f"| {row.what} | {row.settings} | {seconds_text(median)} ({runs}{extra}) | {target} | {met} |")
        print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    for note in flipper.notes():
        print(f"- {note}")


if __name__ == "__main__":
    main()
