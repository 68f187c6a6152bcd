"""Gradient descent with the remedies, recording what the article's symptom checklist needs.

One update on a batch B of the n training examples (η the learning rate):
    g = ∂C_B/∂θ for every parameter θ (C_B the mean cost over B), clipped as remedies.clip_gradients says
    w ← w − η·g_w, with L2/L1 weight decay on weights (remedies.update); b ← b − η·g_b
batch_size=None is full-batch gradient descent (Nielsen's mini_batch_size = n), else mini-batches
of a fresh permutation each epoch, drawn from np.random.default_rng(seed).

Recorded before each epoch's updates (epoch 0 = at initialization, epoch `epochs` = after training),
over the whole training set: ‖∂C/∂b_l‖ per layer (the "speed of learning") and the loss;
per update: the loss on its batch, the gradient's global norm before and after clipping, and how
much each layer's weights moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from gradviz.diagnostics import Checklist, check_symptoms
from gradviz.logspace import LN10, LogArray, ln_global_norm
from gradviz.network import WEIGHT_NAMES, Gradients, Network, backprop
from gradviz.remedies import ClipNorm, ClipValue, L1, L2, clip_gradients, update


LN_FLOAT_MAX = float(np.log(np.finfo(float).max))


@dataclass(frozen=True, eq=False)
class History:
    """What a training run recorded.

    speeds: [epoch, layer, speed, speed_log10]  ‖∂C/∂b_l‖ over the training set before that epoch's
            updates; layers 1..L, L the output (speed overflows to inf where speed_log10 is finite)
    loss:   [epoch, loss]  the mean cost over the training set at the same moments
    steps:  [step, epoch, loss, grad_norm_log10, applied_norm_log10, weight_step]  per update: the batch's
            loss before it, log10 of the global gradient norm before and after clipping, and the largest
            relative weight change ‖ΔW_l‖/‖W_l‖ over layers
    weight_change: [epoch, layer, change]  ‖W_l − W_l(0)‖ / ‖W_l(0)‖
    network: the trained Network; stopped_early: True when the weights became NaN or infinite
    """

    speeds: pd.DataFrame
    loss: pd.DataFrame
    steps: pd.DataFrame
    weight_change: pd.DataFrame
    network: Network
    stopped_early: bool

    @property
    def symptoms(self) -> Checklist:
        """The article's symptom checklist for this run, with the evidence and a verdict."""
        return check_symptoms(self)


def _weights(net: Network) -> list[np.ndarray]:
    return [w for name, w in net.named_parameters() if name == "w"]


def _segment_norms(arrays: list[np.ndarray]) -> np.ndarray:
    """‖a_k‖ for every array, in one pass, each scaled by its largest entry so no square overflows."""
    offsets = np.cumsum([0] + [a.size for a in arrays[:-1]])
    flat = np.concatenate([a.ravel() for a in arrays])
    largest = np.maximum.reduceat(np.abs(flat), offsets)
    scale = np.where((largest > 0) & np.isfinite(largest), largest, 1.0)
    return np.sqrt(np.add.reduceat((flat / np.repeat(scale, [a.size for a in arrays])) ** 2, offsets)) * scale


def _relative_changes(new: list[np.ndarray], old: list[np.ndarray]) -> np.ndarray:
    """‖new_k − old_k‖ / ‖old_k‖ for every pair (the plain ‖new_k − old_k‖ where old_k = 0)."""
    moved = _segment_norms([n - o for n, o in zip(new, old)])
    size = _segment_norms(old)
    return np.where(size > 0, moved / np.where(size > 0, size, 1.0), moved)


def _batches(n: int, batch_size: int | None, rng: np.random.Generator):
    if batch_size is None or batch_size >= n:
        return [slice(None)]
    order = rng.permutation(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


class _Recorder:
    def __init__(self, initial: Network):
        self.initial_weights = _weights(initial)
        self.speeds, self.loss, self.steps, self.weight_change = [], [], [], []

    def epoch(self, epoch: int, net: Network, full: Gradients) -> None:
        for layer, log10_speed in enumerate(full.log10_bias_norms, start=1):
            self.speeds.append((epoch, layer, log10_speed))
        self.loss.append((epoch, full.cost))
        changes = _relative_changes(_weights(net), self.initial_weights)
        self.weight_change += [(epoch, layer, change) for layer, change in enumerate(changes, start=1)]

    def step(self, epoch: int, grads: Gradients, ln_norms: tuple[float, float], before: Network, after: Network) -> None:
        moved = float(np.max(_relative_changes(_weights(after), _weights(before))))
        ln_before, ln_applied = ln_norms
        self.steps.append((len(self.steps) + 1, epoch, grads.cost, ln_before / LN10, ln_applied / LN10, moved))

    def history(self, net: Network, stopped_early: bool) -> History:
        speeds = pd.DataFrame(self.speeds, columns=["epoch", "layer", "speed_log10"])
        with np.errstate(over="ignore"):
            speeds.insert(2, "speed", 10.0 ** speeds["speed_log10"])
        return History(
            speeds=speeds,
            loss=pd.DataFrame(self.loss, columns=["epoch", "loss"]),
            steps=pd.DataFrame(self.steps, columns=["step", "epoch", "loss", "grad_norm_log10",
                                                    "applied_norm_log10", "weight_step"]),
            weight_change=pd.DataFrame(self.weight_change, columns=["epoch", "layer", "change"]),
            network=net,
            stopped_early=stopped_early,
        )


def _descend(net: Network, grads: Gradients, eta: float, clip, regularization, n: int):
    """One update; returns the new network and ln ‖g‖ before and after clipping."""
    ln_before = ln_global_norm(list(grads.log_params))
    applied = clip_gradients(list(grads.log_params), clip, ln_before)
    # unclipped and inside float64, the applied gradient is the gradient; otherwise measure what was applied
    unchanged = clip is None and ln_before < LN_FLOAT_MAX
    ln_applied = ln_before if unchanged else ln_global_norm([LogArray.of(g) for g in applied])
    names = [name for name, _ in net.named_parameters()]
    new = [update(p, g, name in WEIGHT_NAMES, eta, regularization, n)
           for name, p, g in zip(names, net.parameters(), applied)]
    return net.with_parameters(new), (ln_before, ln_applied)


def _finite(net: Network) -> bool:
    return all(np.isfinite(p).all() for p in net.parameters())


def train(net: Network, x, y, epochs: int, eta: float, batch_size: int | None = None,
          cost: str = "cross_entropy", clip: ClipNorm | ClipValue | None = None,
          regularization: L2 | L1 | None = None, seed: int = 0,
          progress: Callable[[float], None] | None = None) -> History:
    """Train `net` on (x, y) for `epochs` epochs of gradient descent with learning rate eta (see module doc).

    progress, if given, is called with the fraction done after every epoch. A run whose weights
    become NaN or infinite stops there and says so (History.stopped_early); it never raises for it.
    """
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    n = len(x)
    rng = np.random.default_rng(seed)
    recorder = _Recorder(net)
    stopped_early = False
    with np.errstate(all="ignore"):
        for epoch in range(epochs + 1):
            full = backprop(net, x, y, cost)
            recorder.epoch(epoch, net, full)
            if epoch == epochs or stopped_early:
                break
            for batch in _batches(n, batch_size, rng):
                grads = full if isinstance(batch, slice) else backprop(net, x[batch], y[batch], cost)
                new_net, ln_norms = _descend(net, grads, eta, clip, regularization, n)
                recorder.step(epoch, grads, ln_norms, net, new_net)
                net = new_net
                if not _finite(net):
                    stopped_early = True
                    break
            if progress is not None:
                progress((epoch + 1) / epochs)
    return recorder.history(net, stopped_early)
