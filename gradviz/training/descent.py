"""Gradient descent with the remedies, recording what the charts and the symptom checklist read.

One update on a batch B of the n training examples (η the learning rate):
    g = ∂C_B/∂θ for every parameter θ (C_B the mean cost over B), clipped by the clipping remedy
    w ← the regularization's rule (w − η g_w, with L2/L1 weight decay);  b ← b − η g_b
batch_size=None is full-batch gradient descent (Nielsen's mini_batch_size = n), else mini-batches of a
fresh permutation each epoch, drawn from np.random.default_rng(seed). The update is a few operations on the
network's whole parameter vector (gradviz.engine.network), whatever its number of layers.

Recorded before each epoch's updates (epoch 0 = at initialization, epoch `epochs` = after training), over
the whole training set: ‖∂C/∂b_l‖ per layer (the "speed of learning"; ‖∂C/∂W_l‖ with speed="weight", for a network
whose biases sit right before batch norm and have a gradient of exactly 0), the loss and ‖W_l − W_l(0)‖/‖W_l(0)‖;
per update: the loss on its batch, the gradient's global norm before and after clipping, and the largest
‖ΔW_l‖/‖W_l‖ over layers (gradviz.training.history says what each array holds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from gradviz.engine.backprop import Gradients, checked_inputs, gradients_of
from gradviz.engine.checks import real_number, whole_number
from gradviz.engine.costs import get_cost
from gradviz.engine.network import Network
from gradviz.engine.scaled import segment_norms
from gradviz.training.history import SPEEDS, History, recorded_layers
from gradviz.training.remedies import clipping, regularizing

LOG10_E = 1.0 / math.log(10.0)
MAX_STEPS = 100_000
MAX_UPDATES = 1_000_000


@dataclass(frozen=True)
class Training:
    """How an experiment trains: `steps` updates of full-batch gradient descent with learning rate eta
    (for Nielsen's experiment a step is an epoch: his mini-batch is the whole training set)."""

    steps: int = 30
    eta: float = 0.1

    def __post_init__(self):
        whole_number(self.steps, "steps", 1, MAX_STEPS)
        real_number(self.eta, "eta", above=0)


class _Working:
    """The copy training updates in place: a network whose parameter vector θ is writeable, which of θ's entries are
    weights, where each stored layer's weight matrix W_l sits in θ, and ‖W_l‖ kept from one update to the next."""

    def __init__(self, net: Network):
        self.net = net.copy(writeable=True)
        self.theta = self.net.theta
        layout = self.net.layout
        self.weights = layout.weight_mask
        main = layout.main_weights
        self.has_weights = main >= 0
        self.starts, self.stops = layout.offsets[main[self.has_weights]], layout.offsets[main[self.has_weights] + 1]
        self.sizes = self.weight_norms(self.theta)

    def weight_norms(self, values: np.ndarray) -> np.ndarray:
        """‖values restricted to W_l‖ for each stored layer that has a weight matrix (a vector laid out as θ)."""
        return segment_norms(values, self.starts, self.stops)

    def step_ratio(self, moved: np.ndarray) -> float:
        """The largest ‖ΔW_l‖ / ‖W_l‖ over the layers (‖ΔW_l‖ where ‖W_l‖ = 0), ‖W_l‖ as it was before the update;
        NaN if any is NaN. Keeps ‖W_l‖ after the update for the next one."""
        moved_norms = self.weight_norms(moved)
        before = self.sizes
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(before > 0, moved_norms / np.where(before > 0, before, 1.0), moved_norms)
        self.sizes = self.weight_norms(self.theta)
        return float(np.max(ratio, initial=0.0))

    def finite(self) -> bool:
        """Every parameter finite: one BLAS pass (vdot) decides, unless the sum of squares overflowed on huge but
        finite weights (|w| > ~1e154), where the entries themselves are checked."""
        theta = self.theta
        return bool(np.isfinite(np.vdot(theta, theta))) or bool(np.isfinite(theta).all())


class _Recorder:
    """Preallocated arrays for at most `epochs + 1` records and `updates` updates."""

    def __init__(self, work: _Working, n_layers: int, epochs: int, updates: int, speed: str):
        self.layers = recorded_layers(n_layers)
        self.stored = self.layers - 1 if work.net.unroll is None else np.zeros(len(self.layers), dtype=np.int64)
        self.work = work
        self.initial = work.theta.copy()
        self.initial_norms = work.sizes.copy()
        self.n_layers = n_layers
        self.speed = speed
        k = len(self.layers)
        self.grad_log10 = np.full((epochs + 1, k), np.nan)
        self.grad_range = np.full((epochs + 1, 2), np.nan)
        self.loss = np.full(epochs + 1, np.nan)
        self.weight_change = np.full((epochs + 1, k), np.nan)
        self.update = np.full((updates, 4), np.nan)
        self.records = 0
        self.updates = 0

    def epoch(self, full: Gradients) -> None:
        r = self.records
        speeds = full.log10_norms(self.speed)
        self.grad_log10[r] = speeds[self.layers - 1]
        self.grad_range[r] = (np.min(speeds), np.max(speeds)) if not np.isnan(speeds).any() else (np.nan, np.nan)
        self.loss[r] = full.cost
        self.weight_change[r] = self._moved()[self.stored]
        self.records += 1

    def _moved(self) -> np.ndarray:
        """‖W_l − W_l(0)‖ / ‖W_l(0)‖ per stored layer (‖W_l − W_l(0)‖ where W_l(0) = 0; NaN for a layer without W)."""
        work = self.work
        moved = work.weight_norms(work.theta - self.initial)
        size = self.initial_norms
        out = np.full(len(work.has_weights), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[work.has_weights] = np.where(size > 0, moved / np.where(size > 0, size, 1.0), moved)
        return out

    def step(self, loss: float, ln_before: float, ln_applied: float, weight_step: float) -> None:
        self.update[self.updates] = (loss, ln_before * LOG10_E, ln_applied * LOG10_E, weight_step)
        self.updates += 1

    def history(self, net: Network, stopped_early: bool) -> History:
        r, u = self.records, self.updates
        names = tuple(str(layer) for layer in self.layers)
        return History("epoch", np.arange(r), self.layers, names, self.n_layers, self.grad_log10[:r].copy(),
                       self.grad_range[:r, 0].copy(), self.grad_range[:r, 1].copy(), self.loss[:r].copy(),
                       *(self.update[:u, j].copy() for j in range(4)), weight_change=self.weight_change[:r].copy(),
                       stopped_early=stopped_early, network=net, speed=self.speed)


def _descend(work: _Working, grads: Gradients, eta: float, clip, regularization, n: int):
    """One update in place; returns (ln ‖g‖ before and after clipping, largest ‖ΔW_l‖/‖W_l‖, all finite)."""
    ln_before = grads.ln_norm
    applied, ln_applied = clip.apply(grads.flat, ln_before, work.net)
    moved = regularization.step(work.theta, applied, eta, n, work.weights)
    return ln_before, ln_applied, work.step_ratio(moved), work.finite()


def _batches(n: int, batch_size: int | None, rng: np.random.Generator):
    if batch_size is None or batch_size >= n:
        return [slice(None)]
    order = rng.permutation(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


def train(net: Network, x, y, epochs: int, eta: float, batch_size: int | None = None,
          cost="cross_entropy", clip=None, regularization=None, seed: int = 0,
          progress: Callable[[float], None] | None = None, speed: str = "bias") -> History:
    """Train `net` on (x, y) for `epochs` epochs of gradient descent with learning rate eta (see module doc).

    clip: None or a clipping rule (gradviz.training.remedies: ClipNorm, ClipValue, …); regularization: None, L2 or
    L1. progress, if given, is called with the fraction done after every epoch. speed: the per-layer norm recorded,
    "bias" (‖∂C/∂b_l‖, Nielsen's) or "weight" (‖∂C/∂W_l‖). A run whose weights become NaN or infinite stops there and
    says so (History.stopped_early); it never raises for it.
    """
    epochs = whole_number(epochs, "epochs", 1)
    if epochs > MAX_STEPS:
        raise ValueError(f"epochs must be a whole number from 1 to {MAX_STEPS}, not {epochs}")
    seed = whole_number(seed, "seed", 0)
    if batch_size is not None:
        batch_size = whole_number(batch_size, "batch_size", 1)
    eta = real_number(eta, "eta", above=0)
    if speed not in SPEEDS:
        raise ValueError(f"speed must be one of {SPEEDS}, not {speed!r}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be None or a function of the fraction done, not {progress!r}")
    cost, clip, regularization = get_cost(cost), clipping(clip), regularizing(regularization)
    x, y = checked_inputs(net, x, y, cost)
    n = len(x)
    rng = np.random.default_rng(seed)
    per_epoch = 1 if batch_size is None or batch_size >= n else -(-n // batch_size)
    if epochs * per_epoch > MAX_UPDATES:
        raise ValueError(f"epochs × updates per epoch must be at most {MAX_UPDATES:,}, not {epochs} × {per_epoch} "
                         "(fewer epochs or a larger batch_size)")
    work = _Working(net)
    recorder = _Recorder(work, net.depth, epochs, epochs * per_epoch, speed)
    full_batch = batch_size is None or batch_size >= n
    stopped_early = False
    with np.errstate(all="ignore"):
        for epoch in range(epochs + 1):
            full = gradients_of(work.net, x, y, cost, weights=full_batch or speed == "weight", norms="layers",
                                checked=True)
            recorder.epoch(full)
            if epoch == epochs or stopped_early:
                break
            for batch in _batches(n, batch_size, rng):
                grads = full if isinstance(batch, slice) else gradients_of(work.net, x[batch], y[batch], cost,
                                                                           norms="none", checked=True)
                ln_before, ln_applied, weight_step, finite = _descend(work, grads, eta, clip, regularization, n)
                recorder.step(grads.cost, ln_before, ln_applied, weight_step)
                if not finite:
                    stopped_early = True
                    break
            if progress is not None:
                progress((epoch + 1) / epochs)
    return recorder.history(work.net.copy(), stopped_early)
