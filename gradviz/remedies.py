"""Gradient clipping and weight regularization, as small pure functions.

Clipping (PyTorch's definitions):
    ClipNorm(max_norm)     ‖g‖ = √(Σ over every parameter of Σ g²); if max_norm / (‖g‖ + 1e-6) < 1,
                           every gradient is scaled by that coefficient (computed in log space)
    ClipValue(clip_value)  every entry clamped to [−clip_value, clip_value]
Regularization, Nielsen's weight decay over a training set of n examples (biases are not regularized):
    L2(lmbda)  w ← (1 − η·λ/n)·w − η·∇w
    L1(lmbda)  w ← w − (η·λ/n)·sign(w) − η·∇w
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradviz.logspace import LogArray, ln_global_norm

NORM_EPS = 1e-6


@dataclass(frozen=True)
class ClipNorm:
    """Clip by global norm: scale every gradient by max_norm / (‖g‖ + 1e-6) when that is below 1."""

    max_norm: float


@dataclass(frozen=True)
class ClipValue:
    """Clip by value: clamp every gradient entry to [−clip_value, clip_value]."""

    clip_value: float


@dataclass(frozen=True)
class L2:
    """L2 weight decay: w ← (1 − ηλ/n) w − η ∇w."""

    lmbda: float


@dataclass(frozen=True)
class L1:
    """L1 regularization: w ← w − (ηλ/n) sign(w) − η ∇w."""

    lmbda: float


def clip_gradients(grads: list[LogArray], clip: ClipNorm | ClipValue | None,
                   ln_total: float | None = None) -> list[np.ndarray]:
    """The gradients as float arrays after clipping (none, by global norm, or by value).

    Norm clipping happens before leaving log space, so a gradient beyond float64 (25^9999) still clips
    to a finite one of norm max_norm; value clipping clamps ±inf to ±clip_value. NaN stays NaN.
    ln_total: ln ‖g‖ if the caller has it already.
    """
    if isinstance(clip, ClipNorm):
        ln_total = ln_global_norm(grads) if ln_total is None else ln_total
        ln_coef = math.log(clip.max_norm) - np.logaddexp(ln_total, math.log(NORM_EPS))
        if ln_coef < 0 or math.isnan(ln_coef):
            grads = [g.times(ln_coef) for g in grads]
    values = [g.value for g in grads]
    if isinstance(clip, ClipValue):
        values = [np.clip(v, -clip.clip_value, clip.clip_value) for v in values]
    return values


def update(param: np.ndarray, grad: np.ndarray, is_weight: bool, eta: float,
           regularization: L2 | L1 | None, n: int) -> np.ndarray:
    """One gradient-descent step for one parameter array, with weight decay on weights only."""
    step = param - eta * grad
    if not is_weight or regularization is None:
        return step
    decay = eta * regularization.lmbda / n
    if isinstance(regularization, L2):
        return step - decay * param
    return step - decay * np.sign(param)
