"""Checks for the library's public inputs: each raises a ValueError whose message names the argument."""

from __future__ import annotations

import math

import numpy as np


def as_numbers(value, name: str) -> np.ndarray:
    """value as a float64 array, or a ValueError naming `name`: real numbers only (no booleans, strings,
    objects, complex values or ragged lists). NaN and ±inf are numbers here; callers that need finite
    values check that themselves."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, not {type(value).__name__}") from None
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be an array of real numbers, not {array.dtype.name} values")
    return array.astype(float, copy=False)


def whole_number(value, name: str, low: int = 1, high: int | None = None) -> int:
    """value as an int in [low, high] (an int or a numpy integer, not a bool), or a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name} must be a whole number {allowed}, not {value!r}")
    return int(value)


def real_number(value, name: str, *, above: float | None = None, at_least: float | None = None) -> float:
    """value as a finite float (an int, float or numpy number, not a bool), optionally > above or >= at_least,
    or a ValueError naming `name`."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
        and math.isfinite(value) and (above is None or value > above) and (at_least is None or value >= at_least)
    if not ok:
        bound = f" > {above:g}" if above is not None else f" >= {at_least:g}" if at_least is not None else ""
        raise ValueError(f"{name} must be a finite number{bound}, not {value!r}")
    return float(value)
