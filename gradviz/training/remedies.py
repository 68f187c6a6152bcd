"""The remedies, as values: activation, gating, clipping, regularization and initialization.

Clipping (PyTorch's definitions), applied to the gradient g of every parameter before the step:
    NoClip                 g as it is
    ClipNorm(max_norm)     ‖g‖ = √(Σ over every parameter of Σ g²); coef = max_norm / (‖g‖ + 1e-6); when
                           coef < 1 every gradient is multiplied by it (in log space, so a gradient of norm
                           10^13977 still clips to a finite one of norm max_norm)
    ClipValue(clip_value)  every entry clamped to [−clip_value, clip_value] (±inf clamps too; NaN stays NaN)
Regularization, Nielsen's weight decay over a training set of n examples (biases are not regularized):
    NoRegularization       w ← w − η ∇w
    L2(lmbda)              w ← (1 − ηλ/n) w − η ∇w
    L1(lmbda)              w ← w − (ηλ/n) sign(w) − η ∇w
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gradviz.engine.activations import ACTIVATIONS
from gradviz.engine.checks import real_number
from gradviz.engine.initializations import SCHEMES
from gradviz.engine.scaled import LN2, Scaled, ln_global_norm

NORM_EPS = 1e-6


def _is_finite_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer)) \
        and math.isfinite(value)


def _positive(value, what: str) -> float:
    return real_number(value, what, above=0)


def _non_negative(value, what: str) -> float:
    return real_number(value, what, at_least=0)


def _values(grads: list[Scaled]) -> list[np.ndarray]:
    return [g.value for g in grads]


def _ln_norm(values: list[np.ndarray]) -> float:
    """ln √(Σ vdot) of float arrays: −inf for zeros (a dead network's), finite where the squares would overflow
    or underflow, inf or NaN as a symptom."""
    return ln_global_norm([Scaled(v, 0) for v in values])


@dataclass(frozen=True)
class NoClip:
    """No clipping: the step uses the gradient as computed."""

    def apply(self, grads: list[Scaled], ln_norm: float) -> tuple[list[np.ndarray], float]:
        """(the gradients as floats, ln of their norm)."""
        return _values(grads), ln_norm


@dataclass(frozen=True)
class ClipNorm:
    """Clip by global norm: scale every gradient by max_norm / (‖g‖ + 1e-6) when that is below 1."""

    max_norm: float

    def __post_init__(self):
        object.__setattr__(self, "max_norm", _positive(self.max_norm, "ClipNorm's max_norm"))

    def apply(self, grads: list[Scaled], ln_norm: float) -> tuple[list[np.ndarray], float]:
        """(the clipped gradients as floats, ln of their norm)."""
        ln_coef = math.log(self.max_norm) - float(np.logaddexp(ln_norm, math.log(NORM_EPS)))
        if not ln_coef < 0:
            return _values(grads), ln_norm
        clipped = [g.mantissa * np.exp(np.asarray(g.exponent) * LN2 + ln_coef) for g in grads]
        return clipped, _ln_norm(clipped)


@dataclass(frozen=True)
class ClipValue:
    """Clip by value: clamp every gradient entry to [−clip_value, clip_value]."""

    clip_value: float

    def __post_init__(self):
        object.__setattr__(self, "clip_value", _positive(self.clip_value, "ClipValue's clip_value"))

    def apply(self, grads: list[Scaled], ln_norm: float) -> tuple[list[np.ndarray], float]:
        """(the clamped gradients, ln of their norm)."""
        clamped = [np.clip(v, -self.clip_value, self.clip_value) for v in _values(grads)]
        return clamped, _ln_norm(clamped)


@dataclass(frozen=True)
class NoRegularization:
    """Plain gradient descent: w ← w − η ∇w."""

    def step(self, w: np.ndarray, grad: np.ndarray, eta: float, n: int) -> np.ndarray:
        """Update w in place; return how far it moved, w_before − w_after."""
        change = eta * grad
        w -= change
        return change


@dataclass(frozen=True)
class L2:
    """L2 weight decay: w ← (1 − ηλ/n) w − η ∇w."""

    lmbda: float

    def __post_init__(self):
        object.__setattr__(self, "lmbda", _non_negative(self.lmbda, "L2's lmbda"))

    def step(self, w: np.ndarray, grad: np.ndarray, eta: float, n: int) -> np.ndarray:
        """Update w in place, rounding as (1 − ηλ/n)·w − η∇w does; return w_before − w_after."""
        decay = eta * self.lmbda / n
        change = eta * grad
        moved = change + decay * w
        w *= 1.0 - decay
        w -= change
        return moved


@dataclass(frozen=True)
class L1:
    """L1 regularization: w ← w − (ηλ/n) sign(w) − η ∇w."""

    lmbda: float

    def __post_init__(self):
        object.__setattr__(self, "lmbda", _non_negative(self.lmbda, "L1's lmbda"))

    def step(self, w: np.ndarray, grad: np.ndarray, eta: float, n: int) -> np.ndarray:
        """Update w in place, rounding as w − (ηλ/n)·sign(w) − η∇w does; return w_before − w_after."""
        shrink = (eta * self.lmbda / n) * np.sign(w)
        change = eta * grad
        w -= shrink
        w -= change
        return shrink + change


CLIPPINGS = (NoClip, ClipNorm, ClipValue)
REGULARIZATIONS = (NoRegularization, L2, L1)


def clipping(clip) -> NoClip | ClipNorm | ClipValue:
    """None as NoClip; a clipping object as it is; anything else a ValueError."""
    if clip is None:
        return NoClip()
    if isinstance(clip, CLIPPINGS):
        return clip
    raise ValueError(f"clip must be None, ClipNorm(max_norm) or ClipValue(clip_value), not {clip!r}")


def regularizing(regularization) -> NoRegularization | L2 | L1:
    """None as NoRegularization; L2/L1 as they are; anything else a ValueError."""
    if regularization is None:
        return NoRegularization()
    if isinstance(regularization, REGULARIZATIONS):
        return regularization
    raise ValueError(f"regularization must be None, L2(lmbda) or L1(lmbda), not {regularization!r}")


@dataclass(frozen=True)
class Remedies:
    """The sidebar's remedies, one value shared by every experiment's config.

    activation: the hidden neurons' ("sigmoid" is the article's; "relu" the ReLU toggle; the RNN uses tanh
    where the article's networks use sigmoid); forget_bias: None, or LSTM-style gating with f = σ(forget_bias);
    clip and regularization act on training; init names the initialization scheme of the networks that
    have one (gradviz.engine.initializations), with init_gain for the orthogonal scheme.
    """

    activation: str = "sigmoid"
    forget_bias: float | None = None
    clip: NoClip | ClipNorm | ClipValue = field(default_factory=NoClip)
    regularization: NoRegularization | L2 | L1 = field(default_factory=NoRegularization)
    init: str = "nielsen"
    init_gain: float = 1.0

    def __post_init__(self):
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {self.activation!r}")
        if self.forget_bias is not None and not _is_finite_number(self.forget_bias):
            raise ValueError(f"forget_bias must be None or a finite number, not {self.forget_bias!r}")
        object.__setattr__(self, "clip", clipping(self.clip))
        object.__setattr__(self, "regularization", regularizing(self.regularization))
        if not isinstance(self.init, str) or self.init not in SCHEMES:
            raise ValueError(f"init must be one of {sorted(SCHEMES)}, not {self.init!r}")
        _positive(self.init_gain, "init_gain")

    @property
    def gated(self) -> bool:
        return self.forget_bias is not None
