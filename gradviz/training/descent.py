"""Gradient descent with the remedies, recording what the charts and the symptom checklist read.

One update on a batch B of the n training examples (η the learning rate):
    g = ∂C_B/∂θ for every parameter θ (C_B the mean cost over B), clipped by the clipping remedy
    w ← the regularization's rule (w − η g_w, with L2/L1 weight decay);  b ← b − η g_b
batch_size=None is full-batch gradient descent (Nielsen's mini_batch_size = n), else mini-batches of a
fresh permutation each epoch, drawn from np.random.default_rng(seed).

Recorded before each epoch's updates (epoch 0 = at initialization, epoch `epochs` = after training), over
the whole training set: ‖∂C/∂b_l‖ per layer (the "speed of learning"), the loss and ‖W_l − W_l(0)‖/‖W_l(0)‖;
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
from gradviz.engine.network import Network, is_weight
from gradviz.training.history import History, recorded_layers
from gradviz.training.remedies import clipping, regularizing

LOG10_E = 1.0 / math.log(10.0)
MAX_STEPS = 100_000
MAX_UPDATES = 1_000_000
SQUARE_RANGE = (1e-290, 1e290)


@dataclass(frozen=True)
class Training:
    """How an experiment trains: `steps` updates of full-batch gradient descent with learning rate eta
    (for Nielsen's experiment a step is an epoch: his mini-batch is the whole training set)."""

    steps: int = 30
    eta: float = 0.1

    def __post_init__(self):
        whole_number(self.steps, "steps", 1, MAX_STEPS)
        real_number(self.eta, "eta", above=0)


class _Parameters:
    """The working copy training updates in place: the network's blocks, and which are weights.

    A chain's blocks are vectors over its layers, so a layer's norm is an entry's magnitude; any other
    network has one array per layer and parameter, and a layer's norm is the array's norm.
    """

    def __init__(self, net: Network):
        self.net = net.with_blocks([array for _, array in net.blocks()], writeable=True)
        blocks = self.net.blocks()
        self.arrays = [array for _, array in blocks]
        self.weight = [is_weight(name) for name, _ in blocks]
        self.main_weights = [k for k, (name, _) in enumerate(blocks) if name == "w"]
        self.chain = net.chain is not None
        self.sizes = {k: self._size(self.arrays[k]) for k in self.main_weights}

    def _size(self, w: np.ndarray) -> np.ndarray | float:
        """‖W‖ of a weight block (a chain's: |w_l| per layer), kept from one update to the next."""
        return np.abs(w) if self.chain else _norm(w)

    def weight_norms(self, weights: list[np.ndarray]) -> np.ndarray:
        """‖W_l‖ per stored layer, from the main weight blocks (as main() lists them, not the gates')."""
        if self.chain:
            return np.abs(weights[0])
        return np.array([_norm(w) for w in weights])

    def step_ratios(self, moved: np.ndarray, before: np.ndarray | float) -> float:
        """The largest ‖ΔW_l‖ / ‖W_l‖ over the layers of one weight block: `before` is ‖W‖ (a chain: |w_l|
        per layer) before the update; NaN if any is NaN."""
        if not self.chain:
            moved_norm = _norm(moved)
            return moved_norm / before if before > 0 else moved_norm
        moved_norm = np.abs(moved)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(before > 0, moved_norm / np.where(before > 0, before, 1.0), moved_norm)
        return float(np.max(ratio)) if not np.isnan(ratio).any() else math.nan

    def main(self) -> list[np.ndarray]:
        return [self.arrays[k] for k in self.main_weights]


def _ln_norm(grads: Gradients) -> float:
    """ln ‖g‖: √(Σ vdot) in plain floats when every exponent is 0 and the sum is well inside float64."""
    if all(isinstance(b.exponent, int) and b.exponent == 0 for b in grads.blocks):
        square = sum(float(np.vdot(b.mantissa, b.mantissa)) for b in grads.blocks)
        if SQUARE_RANGE[0] < square < SQUARE_RANGE[1]:
            return 0.5 * math.log(square)
    return grads.ln_norm


class _Recorder:
    """Preallocated arrays for at most `epochs + 1` records and `updates` updates."""

    def __init__(self, params: _Parameters, n_layers: int, epochs: int, updates: int):
        self.layers = recorded_layers(n_layers)
        self.stored = self.layers - 1 if params.net.unroll is None else np.zeros(len(self.layers), dtype=np.int64)
        self.initial = [w.copy() for w in params.main()]
        self.initial_norms = params.weight_norms(self.initial)
        self.n_layers = n_layers
        k = len(self.layers)
        self.grad_log10 = np.full((epochs + 1, k), np.nan)
        self.grad_range = np.full((epochs + 1, 2), np.nan)
        self.loss = np.full(epochs + 1, np.nan)
        self.weight_change = np.full((epochs + 1, k), np.nan)
        self.update = np.full((updates, 4), np.nan)
        self.records = 0
        self.updates = 0

    def epoch(self, params: _Parameters, full: Gradients) -> None:
        r = self.records
        speeds = full.log10_bias_norms
        self.grad_log10[r] = speeds[self.layers - 1]
        self.grad_range[r] = (np.min(speeds), np.max(speeds)) if not np.isnan(speeds).any() else (np.nan, np.nan)
        self.loss[r] = full.cost
        self.weight_change[r] = self._moved(params)[self.stored]
        self.records += 1

    def _moved(self, params: _Parameters) -> np.ndarray:
        if params.chain:
            moved = np.abs(params.main()[0] - self.initial[0])
        else:
            moved = np.array([_norm(w - w0) for w, w0 in zip(params.main(), self.initial)])
        size = self.initial_norms
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(size > 0, moved / np.where(size > 0, size, 1.0), moved)

    def step(self, loss: float, ln_before: float, ln_applied: float, weight_step: float) -> None:
        self.update[self.updates] = (loss, ln_before * LOG10_E, ln_applied * LOG10_E, weight_step)
        self.updates += 1

    def history(self, net: Network, stopped_early: bool) -> History:
        r, u = self.records, self.updates
        names = tuple(str(layer) for layer in self.layers)
        return History("epoch", np.arange(r), self.layers, names, self.n_layers, self.grad_log10[:r].copy(),
                       self.grad_range[:r, 0].copy(), self.grad_range[:r, 1].copy(), self.loss[:r].copy(),
                       *(self.update[:u, j].copy() for j in range(4)), weight_change=self.weight_change[:r].copy(),
                       stopped_early=stopped_early, network=net)


def _norm(array: np.ndarray) -> float:
    """‖array‖ (Frobenius): √vdot where the sum of squares is well inside float64 (the usual case, one BLAS
    pass), else scaled by the largest entry first, so huge (1e200) or tiny (1e-200) finite weights keep a
    finite, nonzero norm; NaN if an entry is NaN."""
    square = float(np.vdot(array, array))
    if SQUARE_RANGE[0] < square < SQUARE_RANGE[1]:
        return math.sqrt(square)
    largest = float(np.max(np.abs(array), initial=0.0))
    if largest == 0.0 or not math.isfinite(largest):
        return largest
    scaled = array / largest
    return largest * math.sqrt(float(np.vdot(scaled, scaled)))


def _finite(array: np.ndarray) -> bool:
    """Every entry finite: one BLAS pass (vdot) decides, unless the sum of squares overflowed on huge but
    finite weights (|w| > ~1e154), where the entries themselves are checked."""
    return bool(np.isfinite(np.vdot(array, array))) or bool(np.isfinite(array).all())


def _descend(params: _Parameters, grads: Gradients, eta: float, clip, regularization, n: int):
    """One update in place; returns (ln ‖g‖ before and after clipping, largest ‖ΔW_l‖/‖W_l‖, all finite).
    ‖W_l‖ is measured once after each update and kept for the next one's ratio."""
    ln_before = _ln_norm(grads)
    applied, ln_applied = clip.apply(list(grads.blocks), ln_before)
    finite, weight_steps = True, []
    for k, (array, g) in enumerate(zip(params.arrays, applied)):
        if params.weight[k]:
            moved = regularization.step(array, g, eta, n)
        else:
            array -= eta * g
        if k in params.sizes:
            weight_steps.append(params.step_ratios(moved, params.sizes[k]))
            params.sizes[k] = params._size(array)
            finite = finite and bool(np.isfinite(params.sizes[k]).all())  # ‖W‖ is finite iff every entry is
        else:
            finite = finite and _finite(array)
    return ln_before, ln_applied, float(np.max(weight_steps)), finite


def _batches(n: int, batch_size: int | None, rng: np.random.Generator):
    if batch_size is None or batch_size >= n:
        return [slice(None)]
    order = rng.permutation(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


def train(net: Network, x, y, epochs: int, eta: float, batch_size: int | None = None,
          cost="cross_entropy", clip=None, regularization=None, seed: int = 0,
          progress: Callable[[float], None] | None = None) -> History:
    """Train `net` on (x, y) for `epochs` epochs of gradient descent with learning rate eta (see module doc).

    clip: None, ClipNorm or ClipValue; regularization: None, L2 or L1. progress, if given, is called with
    the fraction done after every epoch. A run whose weights become NaN or infinite stops there and says
    so (History.stopped_early); it never raises for it.
    """
    epochs = whole_number(epochs, "epochs", 1)
    if epochs > MAX_STEPS:
        raise ValueError(f"epochs must be a whole number from 1 to {MAX_STEPS}, not {epochs}")
    seed = whole_number(seed, "seed", 0)
    if batch_size is not None:
        batch_size = whole_number(batch_size, "batch_size", 1)
    eta = real_number(eta, "eta", above=0)
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
    params = _Parameters(net)
    recorder = _Recorder(params, net.depth, epochs, epochs * per_epoch)
    stopped_early = False
    with np.errstate(all="ignore"):
        for epoch in range(epochs + 1):
            full = gradients_of(params.net, x, y, cost, weights=batch_size is None or batch_size >= n, norms="layers",
                                checked=True)
            recorder.epoch(params, full)
            if epoch == epochs or stopped_early:
                break
            for batch in _batches(n, batch_size, rng):
                grads = full if isinstance(batch, slice) else gradients_of(params.net, x[batch], y[batch], cost,
                                                                           norms="none", checked=True)
                ln_before, ln_applied, weight_step, finite = _descend(params, grads, eta, clip, regularization, n)
                recorder.step(grads.cost, ln_before, ln_applied, weight_step)
                if not finite:
                    stopped_early = True
                    break
            if progress is not None:
                progress((epoch + 1) / epochs)
    trained = params.net.with_blocks(params.arrays)
    return recorder.history(trained, stopped_early)
