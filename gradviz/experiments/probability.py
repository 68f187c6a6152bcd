"""Closed forms the article leans on, computed rather than asserted.

    P(|w| < t) for w ~ N(0, 1)           = erf(t / √2)
    P(|w σ'(w a + b)| < c), w, b ~ N(0, 1), input a fixed:
        σ'(z) ≤ 1/4, so |w| < 4c is enough; for |w| ≥ 4c it needs σ'(z) < c/|w|, and as
        σ'(z) = 1 / (4 cosh²(z/2)) that is |z| > t(w) = 2·arccosh(√(|w| / (4c))).
        With z = w a + b, b ~ N(0, 1): P_b(|z| > t) = Φ(−t − w a) + Φ(−t + w a).
        The outer integral over w ~ N(0, 1) is a trapezoid rule on a fine grid.
"""

from __future__ import annotations

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) = ½ (1 + erf(x / √2))."""
    return 0.5 * (1.0 + _erf(np.asarray(x, dtype=float) / math.sqrt(2.0)).astype(float))


def prob_abs_normal_below(t: float) -> float:
    """P(|w| < t) for w ~ N(0, 1) = erf(t / √2)."""
    return math.erf(t / math.sqrt(2.0))


def prob_factor_below(c: float = 0.25, a: float = 0.5, grid: int = 40_001, w_max: float = 12.0) -> float:
    """P(|w σ'(w a + b)| < c) for w, b ~ N(0, 1) and a neuron input a (c ≤ 1/4)."""
    w = np.linspace(-w_max, w_max, grid)
    density = np.exp(-0.5 * w * w) / math.sqrt(2.0 * math.pi)
    abs_w = np.abs(w)
    always = abs_w < 4.0 * c
    t = 2.0 * np.arccosh(np.sqrt(np.maximum(abs_w / (4.0 * c), 1.0)))
    p_b = normal_cdf(-t - w * a) + normal_cdf(-t + w * a)
    inner = np.where(always, 1.0, p_b)
    return float(np.trapezoid(density * inner, w))


def standard_normal_input_facts(activation: str, a: float = 0.5) -> dict[str, float]:
    """The probabilities the chain section states for w, b ~ N(0, 1) and a neuron input a.

    sigmoid: P(|w| < 1) (Nielsen's condition for |w σ'(z)| < 1/4), P(|w| < 1/4) (the article's misprint) and
    P(|w σ'(w a + b)| < 1/4); relu: P(|w| < 1) (a factor below 1 where the neuron is on) and
    P(z ≤ 0) = 1/2 for z = w a + b symmetric about 0 (the neuron is off: its factor is exactly 0).
    """
    if activation == "relu":
        return {"abs_w_below_1": prob_abs_normal_below(1.0), "neuron_off": 0.5}
    return {"abs_w_below_1": prob_abs_normal_below(1.0), "abs_w_below_quarter": prob_abs_normal_below(0.25),
            "factor_below_quarter": prob_factor_below(0.25, a)}
