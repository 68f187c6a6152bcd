"""Real arrays stored as mantissa · e^scale, so magnitudes like 25^10000 stay exact.

A LogArray holds value = mantissa · exp(scale) with `scale` a natural-log float; float64
alone overflows past 1e308 and underflows below 1e-308, the pair does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LN10 = float(np.log(10.0))
SAFE_EXP = 600.0


@dataclass(frozen=True, eq=False)
class LogArray:
    """value = mantissa · exp(scale); mantissa a moderate float array, scale a float (natural log)."""

    mantissa: np.ndarray
    scale: float

    @property
    def value(self) -> np.ndarray:
        """The plain float64 value: exact where representable, ±inf past 1e308, 0 below 1e-308."""
        if abs(self.scale) < SAFE_EXP:
            return self.mantissa * np.exp(self.scale)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return np.sign(self.mantissa) * np.exp(np.log(np.abs(self.mantissa)) + self.scale)

    @property
    def ln_norm(self) -> float:
        """ln ‖value‖ (Frobenius norm), −inf for an all-zero array."""
        return ln_norm(self.mantissa) + self.scale

    @property
    def log10_norm(self) -> float:
        """log10 ‖value‖."""
        return self.ln_norm / LN10

    def times(self, ln_factor: float) -> LogArray:
        """value · exp(ln_factor), exactly."""
        return LogArray(self.mantissa, self.scale + ln_factor)

    @staticmethod
    def of(value: np.ndarray) -> LogArray:
        """A LogArray holding a plain float array."""
        return LogArray(np.asarray(value, dtype=float), 0.0)


def ln_norm(values: np.ndarray) -> float:
    """ln ‖values‖ (Frobenius), scaled by the largest entry first so no square overflows; −inf for zeros."""
    largest = float(np.max(np.abs(values), initial=0.0))
    if largest == 0.0 or not np.isfinite(largest):
        with np.errstate(divide="ignore"):
            return float(np.log(largest))
    return float(np.log(largest) + np.log(np.linalg.norm(values / largest)))


def finite_shift(scale: np.ndarray | float) -> np.ndarray | float:
    """The scale itself where finite, else 0: subtracting it never turns −inf − (−inf) into nan."""
    return np.where(np.isfinite(scale), scale, 0.0)


def log_sum(terms: list[LogArray]) -> LogArray:
    """Σ terms, exactly: every term is brought to the largest scale before adding."""
    top = max((t.scale for t in terms), default=0.0)
    shift = float(finite_shift(top))
    with np.errstate(invalid="ignore"):
        mantissa = sum(t.mantissa * np.exp(t.scale - shift) for t in terms)
    return LogArray(mantissa, shift if np.isfinite(top) else top)


def ln_global_norm(arrays: list[LogArray]) -> float:
    """ln √(Σ_k ‖g_k‖²) over several LogArrays, computed without squaring a raw value (one vectorized pass)."""
    if not arrays:
        return float("-inf")
    mantissas = np.concatenate([a.mantissa.ravel() for a in arrays])
    scales = np.repeat([a.scale for a in arrays], [a.mantissa.size for a in arrays])
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_abs = np.log(np.abs(mantissas)) + scales
    if np.isnan(ln_abs).any():
        return float("nan")
    top = ln_abs.max(initial=-np.inf)
    if not np.isfinite(top):
        return float(top)
    return float(top + 0.5 * np.log(np.sum(np.exp(2.0 * (ln_abs - top)))))
