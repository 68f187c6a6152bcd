"""What a training run recorded, as preallocated numpy arrays: the record the charts and the checklist read.

A run records at R moments (`times`: epochs of gradviz's own training, or steps of a user's run) and
over U updates. Per-layer series are kept for at most MAX_RECORDED_LAYERS layers, evenly thinned with
the first and the last always kept (`layers`, 1-based, and their names `layer_names`, one per kept layer);
aggregates over every layer are kept in full.

    grad_log10[r, k]      log10 of layer layers[k]'s gradient norm at times[r]: for gradviz's own runs ‖∂C/∂b_l‖
                          (speed "bias", Nielsen's "speed of learning") or ‖∂C/∂W_l‖ (speed "weight": a network
                          whose biases sit right before batch norm, where ∂C/∂b is exactly 0); the layer's whole
                          gradient norm for a user's run
    grad_min_log10[r]     the smallest and largest of those over every layer, thinned or not
    grad_max_log10[r]
    loss[r]               the mean cost over the training set at times[r] (has_loss is False for a user's log
                          without a loss; then loss and update_loss are NaN and mean nothing)
    weight_change[r, k]   ‖W_l − W_l(0)‖ / ‖W_l(0)‖ at times[r] (None when not recorded)
    update_ratio_log10[r, k]  log10 ‖ΔW_l‖ / ‖W_l‖ of the update at times[r] (None when not recorded)
    update_loss[u]        the loss on update u's batch, before the update
    update_grad_log10[u]  log10 of the global gradient norm before clipping, and as applied
    update_applied_log10[u]
    update_weight_step[u] the largest ‖ΔW_l‖ / ‖W_l‖ over layers in update u
    stopped_early         the weights became NaN or infinite, and training stopped there
    speed                 which norm grad_log10 holds for gradviz's own runs: "bias" or "weight"
    update_times[u]       the time (times' unit) of update u, when updates are the recorded moments (a user's
                          run: one update per recorded step); None for gradviz's own runs
    layer_order           "forward" (gradviz's own runs), or how a user's file gave the layers' order: "file",
                          "names", "reversed" (recovered from the names) or "unknown"
    loss_recorded[r]      whether a user's log recorded the loss at times[r] (None: at every moment; a NaN
                          loss where it was recorded is a symptom, where it was not it means nothing)

log10 of an exact zero is −inf; NaN marks a value that is not a number (a symptom, not an error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gradviz.training.diagnostics import Checklist, check_symptoms

MAX_RECORDED_LAYERS = 256
SPEEDS = ("bias", "weight")


def recorded_layers(n_layers: int, limit: int = MAX_RECORDED_LAYERS) -> np.ndarray:
    """1-based layer numbers to record: all of 1..n_layers, or `limit` of them evenly spaced, first and last kept."""
    if n_layers <= limit:
        return np.arange(1, n_layers + 1)
    return np.unique(np.round(np.linspace(1, n_layers, limit)).astype(np.int64))


@dataclass(frozen=True, eq=False)
class History:
    """A run's record (see the module docstring); the network is the trained one, or None for a user's run."""

    time_label: str
    times: np.ndarray
    layers: np.ndarray
    layer_names: tuple
    n_layers: int
    grad_log10: np.ndarray
    grad_min_log10: np.ndarray
    grad_max_log10: np.ndarray
    loss: np.ndarray
    update_loss: np.ndarray
    update_grad_log10: np.ndarray
    update_applied_log10: np.ndarray
    update_weight_step: np.ndarray
    weight_change: np.ndarray | None = None
    update_ratio_log10: np.ndarray | None = None
    stopped_early: bool = False
    network: object = None
    has_loss: bool = True
    speed: str = "bias"
    update_times: np.ndarray | None = None
    layer_order: str = "forward"
    loss_recorded: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Bytes held by the record's arrays (the network not counted)."""
        arrays = [getattr(self, name) for name in self.__dataclass_fields__]
        return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))

    @property
    def speeds(self) -> pd.DataFrame:
        """[<time_label>, layer, speed, speed_log10], one row per recorded time and layer."""
        r, k = self.grad_log10.shape
        with np.errstate(over="ignore"):
            speed = 10.0 ** self.grad_log10.ravel()
        return pd.DataFrame({self.time_label: np.repeat(self.times, k), "layer": np.tile(self.layers, r),
                             "speed": speed, "speed_log10": self.grad_log10.ravel()})

    @property
    def symptoms(self) -> Checklist:
        """The article's symptom checklist for this run (gradviz.training.diagnostics)."""
        return check_symptoms(self)
