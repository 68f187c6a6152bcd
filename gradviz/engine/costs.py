"""Costs as objects, the way Nielsen's network2.py has them: a value, and the output layer's δ.

C is the mean over the rows r of a batch:
    quadratic      C = mean_r ½‖a_L − y‖²                                 ∂C/∂a_L = a_L − y (per row)
    cross_entropy  C = mean_r Σ_j −[y ln a_L + (1 − y) ln(1 − a_L)]       needs a plain sigmoid output layer;
                   its δ_L = ∂C/∂z_L = a_L − y: the σ'(z_L) of ∂C/∂a_L cancels, so a saturated output still learns

Backprop asks the cost once, for the output layer's δ (output_delta); output_gradient gives ∂C/∂a_L for
reporting its norm. The residual a_L − y of a sigmoid output is (1 − y)·σ(z) − y·σ(−z), exact where a_L
rounds to 0 or 1. Adding a cost is one class and one entry in COSTS.
"""

from __future__ import annotations

import numpy as np

from gradviz.engine.layers import Dense
from gradviz.engine.scaled import Scaled, combine_exponents, from_log


def residual(layer, cache, y: np.ndarray) -> np.ndarray:
    """a_L − y, without cancellation where a Dense layer's activation has a stable complement 1 − a (sigmoid)."""
    complement = layer.activation.complement if isinstance(layer, Dense) else None
    if complement is None:
        return cache.a - y
    return (1.0 - y) * cache.a - y * complement(cache.u)


def softplus(z: np.ndarray) -> np.ndarray:
    """ln(1 + e^z) = max(z, 0) + ln(1 + e^−|z|), without overflow (and a few times faster than np.logaddexp)."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


class QuadraticCost:
    """C = mean_r ½‖a_L − y‖²."""

    name = "quadratic"

    def check(self, output_layer) -> None:
        """Any output layer will do."""

    def check_targets(self, y: np.ndarray) -> None:
        """Any finite target will do."""

    def value(self, layer, cache, y: np.ndarray) -> float:
        r = residual(layer, cache, y)
        return 0.5 * float(np.vdot(r, r)) / len(r)

    def output_gradient(self, layer, cache, y: np.ndarray) -> Scaled:
        """∂C/∂a_L per row (before the mean's 1/B) = a_L − y."""
        return Scaled(residual(layer, cache, y), 0)

    def output_delta(self, layer, cache, y: np.ndarray):
        """The output layer's δ from ∂C/∂a_L = a_L − y."""
        return layer.delta(self.output_gradient(layer, cache, y), cache)


class CrossEntropyCost:
    """C = mean_r Σ_j −[y ln a_L + (1 − y) ln(1 − a_L)] on a sigmoid output layer."""

    name = "cross_entropy"

    def check(self, output_layer) -> None:
        if not isinstance(output_layer, Dense) or output_layer.activation.name != "sigmoid" or output_layer.norm is not None:
            raise ValueError("cost 'cross_entropy' needs a plain (not gated, residual or normalized) sigmoid output layer")

    def check_targets(self, y: np.ndarray) -> None:
        """Targets are probabilities: outside [0, 1] the formula is no cross-entropy (target 5 gives C < 0)."""
        if y.min() < 0.0 or y.max() > 1.0:
            raise ValueError("y must lie in [0, 1] for cost 'cross_entropy' (targets are probabilities)")

    def value(self, layer, cache, y: np.ndarray) -> float:
        """From z_L: −ln a = softplus(−z), −ln(1 − a) = softplus(z), finite where a rounds to 0 or 1; both share
        ln(1 + e^−|z|): y·softplus(−z) + (1 − y)·softplus(z) = ln(1 + e^−|z|) + y·max(−z, 0) + (1 − y)·max(z, 0)."""
        z = cache.u
        per_unit = np.log1p(np.exp(-np.abs(z))) + y * np.maximum(-z, 0.0) + (1.0 - y) * np.maximum(z, 0.0)
        return float(np.sum(per_unit)) / len(z)

    def output_gradient(self, layer, cache, y: np.ndarray) -> Scaled:
        """∂C/∂a_L = (a_L − y) / (a_L (1 − a_L)), in logs: ln|a − y| + softplus(−z) + softplus(z)."""
        r = residual(layer, cache, y)
        with np.errstate(divide="ignore"):
            ln_magnitude = np.log(np.abs(r)) + softplus(-cache.u) + softplus(cache.u)
        entries = from_log(np.sign(r), ln_magnitude)
        return combine_exponents(entries.mantissa, entries.exponent)

    def output_delta(self, layer, cache, y: np.ndarray) -> Scaled:
        """δ_L = a_L − y."""
        return Scaled(residual(layer, cache, y), 0)


COSTS = {cost.name: cost for cost in (QuadraticCost(), CrossEntropyCost())}


def get_cost(cost) -> QuadraticCost | CrossEntropyCost:
    """The cost object for a name ("quadratic", "cross_entropy") or a cost object itself."""
    if isinstance(cost, str) and cost in COSTS:
        return COSTS[cost]
    if any(cost is known for known in COSTS.values()):
        return cost
    raise ValueError(f"cost must be one of {sorted(COSTS)}, not {cost!r}")
