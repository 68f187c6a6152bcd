"""Activation functions with their slopes and the facts the page states about them, one registry.

    sigmoid  σ(z) = 1 / (1 + e^-z)
             σ'(z) = σ(z)(1 − σ(z)) = 1 / (4 cosh²(z/2))     largest at z = 0: σ'(0) = 1/4
             ln σ'(z) = −|z| − 2·ln(1 + e^-|z|)               (σ'(40) ≈ 4.2e-18, σ'(1000) = e^-1000)
    tanh     tanh'(z) = 1 − tanh²(z) = 1 / cosh²(z)            largest at z = 0: tanh'(0) = 1
             ln tanh'(z) = ln 4 − 2|z| − 2·ln(1 + e^-2|z|)
    relu     relu(z) = max(z, 0),  relu'(z) = 1 where z > 0, else 0 (PyTorch's convention at 0)

The slopes use forms without cancellation, so a saturated neuron keeps its tiny true slope instead of 0;
where even that underflows float64, `slope` returns it as a mantissa and a binary exponent.

Adding an activation is one entry in ACTIVATIONS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from gradviz.engine.scaled import Scaled, from_log

Array = np.ndarray
# Below this a plain float slope may have lost digits to underflow (σ'(z) < 2^-1000 means |z| > ~690).
SMALLEST_PLAIN_SLOPE = 2.0**-1000


def sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^-z): 0 or 1 at the extremes, never a warning (e^-z may overflow to inf: σ = 0)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def sigmoid_complement(z: Array) -> Array:
    """1 − σ(z) = σ(−z), without the cancellation of 1 − σ(z) where σ(z) rounds to 1."""
    return sigmoid(-z)


def sigmoid_prime(z: Array) -> Array:
    """σ'(z) = 1 / (4 cosh²(z/2)), equal to σ(z)(1 − σ(z)) without its cancellation, never above 1/4."""
    with np.errstate(over="ignore"):
        c = np.cosh(0.5 * np.asarray(z, dtype=float))
        return 0.25 / (c * c)


def log_sigmoid_prime(z: Array) -> Array:
    """ln σ'(z) = −|z| − 2·ln(1 + e^-|z|), finite for every finite z."""
    abs_z = np.abs(z)
    return -abs_z - 2.0 * np.log1p(np.exp(-abs_z))


def tanh_prime(z: Array) -> Array:
    """tanh'(z) = 1 / cosh²(z), equal to 1 − tanh²(z) without its cancellation, never above 1."""
    with np.errstate(over="ignore"):
        c = np.cosh(np.asarray(z, dtype=float))
        return 1.0 / (c * c)


def log_tanh_prime(z: Array) -> Array:
    """ln tanh'(z) = ln 4 − 2|z| − 2·ln(1 + e^-2|z|)."""
    abs_z = np.abs(z)
    return math.log(4.0) - 2.0 * abs_z - 2.0 * np.log1p(np.exp(-2.0 * abs_z))


def relu(z: Array) -> Array:
    """relu(z) = max(z, 0)."""
    return np.maximum(z, 0.0)


def relu_prime(z: Array) -> Array:
    """relu'(z) = 1 where z > 0, else 0."""
    return (z > 0).astype(float)


def log_relu_prime(z: Array) -> Array:
    """ln relu'(z) = 0 where z > 0, else −inf."""
    return np.where(z > 0, 0.0, -np.inf)


def sigmoid_scalar(z: float) -> float:
    """σ(z) for one Python float, by the same formula as sigmoid() (NaN stays NaN: a chain whose weights
    became NaN must not come back finite)."""
    return 0.0 if z <= -709.0 else 1.0 / (1.0 + math.exp(-z))


def relu_scalar(z: float) -> float:
    """relu(z) for one Python float (NaN stays NaN)."""
    return z if z > 0 or math.isnan(z) else 0.0


@dataclass(frozen=True)
class Activation:
    """An activation a(z), its slope a'(z) and ln a'(z), and the facts the page shows about it.

    steepest_z: a z where the slope is largest (the exploding chain puts every neuron there);
    max_slope: that largest slope; symbol / prime_symbol: LaTeX for a(z) and a'(z); prime_text: a'(z)'s name
    in plain text (chart titles);
    complement: 1 − a(z) computed without cancellation, where that is meaningful (sigmoid).
    """

    name: str
    fn: Callable[[Array], Array]
    prime: Callable[[Array], Array]
    log_prime: Callable[[Array], Array]
    scalar: Callable[[float], float]
    steepest_z: float
    max_slope: float
    symbol: str
    prime_symbol: str
    prime_text: str
    saturates: bool
    complement: Callable[[Array], Array] | None = None

    def slope(self, z: Array) -> Array | Scaled:
        """a'(z) as plain floats, or as a Scaled number with a per-entry exponent where a smooth activation's
        slope is too small for float64 (ReLU's 0 is exact and stays a float)."""
        plain = self.prime(z)
        if not self.saturates or plain.size == 0 or plain.min() >= SMALLEST_PLAIN_SLOPE:
            return plain
        tiny = plain < SMALLEST_PLAIN_SLOPE
        log_form = from_log(np.ones_like(plain), self.log_prime(z))
        return Scaled(np.where(tiny, log_form.mantissa, plain), np.where(tiny, log_form.exponent, 0))


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_prime, log_sigmoid_prime, sigmoid_scalar, 0.0, 0.25,
                          r"\sigma", r"\sigma'", "σ'", True, sigmoid_complement),
    "tanh": Activation("tanh", np.tanh, tanh_prime, log_tanh_prime, math.tanh, 0.0, 1.0,
                       r"\tanh", r"\tanh'", "tanh'", True),
    "relu": Activation("relu", relu, relu_prime, log_relu_prime, relu_scalar, 1.0, 1.0,
                       r"\mathrm{relu}", r"\mathrm{relu}'", "relu'", False),
}


def get_activation(name: str) -> Activation:
    """The registered activation called `name`."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {name!r}") from None
