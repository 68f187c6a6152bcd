"""Activation functions with their slopes, one registry.

Each activation gives a(z), a'(z) and ln|a'(z)|. The slopes use forms without
cancellation, so a saturated neuron keeps its tiny true slope instead of 0:

    sigmoid  σ(z) = 1 / (1 + e^-z)
             σ'(z) = σ(z)(1 − σ(z)) = 1 / (4 cosh²(z/2))
             ln σ'(z) = −|z| − 2·ln(1 + e^-|z|)            (σ'(40) ≈ 4.2e-18, σ'(1000) = e^-1000)
    tanh     tanh'(z) = 1 − tanh²(z) = 1 / cosh²(z)
             ln tanh'(z) = ln 4 − 2|z| − 2·ln(1 + e^-2|z|)
    relu     relu(z) = max(z, 0),  relu'(z) = 1 where z > 0, else 0  (ln = −inf)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

Array = np.ndarray


def sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^-z), evaluated without overflow for either sign of z."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_prime(z: Array) -> Array:
    """σ'(z) = 1 / (4 cosh²(z/2)), equal to σ(z)(1 − σ(z)) without its cancellation, and never above 1/4."""
    with np.errstate(over="ignore"):
        return 0.25 / np.cosh(0.5 * np.asarray(z, dtype=float)) ** 2


def log_sigmoid_prime(z: Array) -> Array:
    """ln σ'(z) = −|z| − 2·ln(1 + e^-|z|), finite for every finite z."""
    abs_z = np.abs(z)
    return -abs_z - 2.0 * np.log1p(np.exp(-abs_z))


def tanh_prime(z: Array) -> Array:
    """tanh'(z) = 1 / cosh²(z), equal to 1 − tanh²(z) without its cancellation, and never above 1."""
    with np.errstate(over="ignore"):
        return 1.0 / np.cosh(np.asarray(z, dtype=float)) ** 2


def log_tanh_prime(z: Array) -> Array:
    """ln tanh'(z) = ln 4 − 2|z| − 2·ln(1 + e^-2|z|)."""
    abs_z = np.abs(z)
    return np.log(4.0) - 2.0 * abs_z - 2.0 * np.log1p(np.exp(-2.0 * abs_z))


def sigmoid_scalar(z: float) -> float:
    """σ(z) for one Python float, by the same formula as sigmoid()."""
    e = math.exp(-abs(z))
    return 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)


def relu_scalar(z: float) -> float:
    """relu(z) for one Python float (NaN stays NaN)."""
    return z if z > 0 or math.isnan(z) else 0.0


def relu(z: Array) -> Array:
    """relu(z) = max(z, 0)."""
    return np.maximum(z, 0.0)


def relu_prime(z: Array) -> Array:
    """relu'(z) = 1 where z > 0, else 0 (the convention at z = 0 is PyTorch's)."""
    return (z > 0).astype(float)


def log_relu_prime(z: Array) -> Array:
    """ln relu'(z) = 0 where z > 0, else −inf."""
    return np.where(z > 0, 0.0, -np.inf)


@dataclass(frozen=True)
class Activation:
    """An activation a(z) with its slope a'(z) and the slope's natural log."""

    name: str
    fn: Callable[[Array], Array]
    prime: Callable[[Array], Array]
    log_prime: Callable[[Array], Array]
    scalar: Callable[[float], float]


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_prime, log_sigmoid_prime, sigmoid_scalar),
    "tanh": Activation("tanh", np.tanh, tanh_prime, log_tanh_prime, math.tanh),
    "relu": Activation("relu", relu, relu_prime, log_relu_prime, relu_scalar),
}


def get_activation(name: str) -> Activation:
    """The registered activation called `name` (sigmoid, tanh or relu)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}") from None
