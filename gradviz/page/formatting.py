"""Numbers given by their log10, written for people: 3906.25, 4.25 × 10⁻¹⁸, 1.37 × 10¹³⁹⁷⁷, 10^(−3.5 × 10⁶⁶).

Language-neutral: numerals and symbols only. Magnitudes arrive as log10 and are never exponentiated past
float64's range. A value that is not a finite magnitude is written as what it is: an exact 0 as "0", a
NaN as "NaN"; callers that can say more (why a ratio is undefined) say it in words from the catalogue.
"""

from __future__ import annotations

import math

SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
PLAIN_RANGE = (-3, 6)
EXACT_DIGITS = 7
HUGE_EXPONENT = 1e6


def superscript(text: str) -> str:
    """'-12' -> '⁻¹²'."""
    return text.translate(SUPERSCRIPTS)


def _plain_decimal(value: float, digits: int) -> str:
    """A short exact decimal in full (3906.25, 1953.125), else `digits` significant digits, no exponent."""
    exact = f"{value:.12g}"
    if len(exact.replace(".", "").lstrip("0")) <= EXACT_DIGITS:
        return exact
    if value >= 10 ** (digits - 1):
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def _mantissa_exponent(log10_value: float, digits: int) -> tuple[str, int]:
    exponent = math.floor(log10_value)
    mantissa_digits = max(min(digits, 3) - 1, 0)
    mantissa = round(10.0 ** (log10_value - exponent), mantissa_digits)
    if mantissa >= 10.0:
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.{mantissa_digits}f}", exponent


def magnitude_text(log10_value: float, sign: float = 1.0, digits: int = 4) -> str:
    """sign · 10^log10_value as text: plain decimals from 0.001 to 999,999, else 'm × 10ᵏ'."""
    if math.isnan(log10_value):
        return "NaN"
    if log10_value == -math.inf:
        return "0"
    prefix = "−" if sign < 0 else ""
    if log10_value == math.inf:
        return prefix + "∞"
    if abs(log10_value) >= HUGE_EXPONENT:
        return f"{prefix}10^({magnitude_text(math.log10(abs(log10_value)), math.copysign(1.0, log10_value), 2)})"
    if PLAIN_RANGE[0] <= log10_value < PLAIN_RANGE[1]:
        return prefix + _plain_decimal(10.0 ** log10_value, digits)
    mantissa, exponent = _mantissa_exponent(log10_value, digits)
    return f"{prefix}{mantissa} × 10{superscript(str(exponent))}"


def magnitude_latex(log10_value: float, sign: float = 1.0, digits: int = 4) -> str:
    """The same number as LaTeX: 3906.25, -4.25 \\times 10^{-18}."""
    if math.isnan(log10_value):
        return r"\mathrm{NaN}"
    if log10_value == -math.inf:
        return "0"
    prefix = "-" if sign < 0 else ""
    if log10_value == math.inf:
        return prefix + r"\infty"
    if abs(log10_value) >= HUGE_EXPONENT:
        inner = magnitude_latex(math.log10(abs(log10_value)), math.copysign(1.0, log10_value), 2)
        return f"{prefix}10^{{{inner}}}"
    if PLAIN_RANGE[0] <= log10_value < PLAIN_RANGE[1]:
        return prefix + _plain_decimal(10.0 ** log10_value, digits)
    mantissa, exponent = _mantissa_exponent(log10_value, digits)
    return rf"{prefix}{mantissa} \times 10^{{{exponent}}}"


def ratio_log10(log10_numerator: float, log10_denominator: float) -> float | None:
    """log10 |p| / |q| from their log10s; None when it is not a number (both 0, the denominator 0, a NaN)."""
    if math.isnan(log10_numerator) or math.isnan(log10_denominator) or log10_denominator == -math.inf:
        return None
    if log10_numerator == math.inf or log10_denominator == math.inf:
        return None
    return log10_numerator - log10_denominator
