"""Numbers given by their log10, written for people: 3906.25, 4.25e-18, 1.37 × 10^13977.

Nothing here returns 'nan' or 'inf' for a true finite value: magnitudes arrive as log10 and are
never exponentiated past float64's range.
"""

from __future__ import annotations

import math

SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
PLAIN_RANGE = (-3, 6)
EXACT_DIGITS = 7
SPECIAL_TEXT = {"nan": "NaN", "-inf": "0", "inf": "∞"}
SPECIAL_LATEX = {"nan": r"\text{NaN}", "-inf": "0", "inf": r"\infty"}


def _plain_decimal(value: float, digits: int) -> str:
    """A short exact decimal in full (3906.25, 1953.125), else `digits` significant digits, no exponent."""
    exact = f"{value:.12g}"
    if len(exact.replace(".", "").lstrip("0")) <= EXACT_DIGITS:
        return exact
    if value >= 10 ** (digits - 1):
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def _decimal_or_power(log10_value: float, digits: int) -> str | tuple[str, int]:
    """A plain decimal string from 0.001 to 999,999, else (mantissa, exponent) of m × 10^k."""
    if PLAIN_RANGE[0] <= log10_value < PLAIN_RANGE[1]:
        return _plain_decimal(10.0 ** log10_value, digits)
    exponent = math.floor(log10_value)
    mantissa_digits = min(digits, 3) - 1
    mantissa = round(10.0 ** (log10_value - exponent), mantissa_digits)
    if mantissa >= 10.0:
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.{mantissa_digits}f}", exponent


def _render(log10_value: float, sign: float, digits: int, minus: str, special: dict, power: str) -> str:
    if not math.isfinite(log10_value):
        return special[str(log10_value)]
    prefix = minus if sign < 0 else ""
    parts = _decimal_or_power(log10_value, digits)
    if isinstance(parts, str):
        return prefix + parts
    return prefix + power.format(m=parts[0], k=parts[1])


def superscript(text: str) -> str:
    """'-12' -> '⁻¹²'."""
    return text.translate(SUPERSCRIPTS)


def magnitude_text(log10_value: float, sign: float = 1.0, digits: int = 4) -> str:
    """sign · 10^log10_value as text: plain decimals (digits significant) from 0.001 to 999,999, else 'm × 10ᵏ'."""
    text = _render(log10_value, sign, digits, "−", SPECIAL_TEXT, "{m} × 10^{k}")
    head, _, exponent = text.partition("^")
    return head + superscript(exponent) if exponent else text


def magnitude_latex(log10_value: float, sign: float = 1.0, digits: int = 4) -> str:
    """The same number as LaTeX: 3906.25, -4.25 \\times 10^{-18}."""
    return _render(log10_value, sign, digits, "-", SPECIAL_LATEX, r"{m} \times 10^{{{k}}}")


def ratio_text(log10_numerator: float, log10_denominator: float) -> str:
    """|p| / |q| from their log10s, saying so when either is exactly 0 or not a number."""
    if math.isnan(log10_numerator) or math.isnan(log10_denominator):
        return "not a number (a NaN upstream)"
    if log10_numerator == -math.inf and log10_denominator == -math.inf:
        return "undefined (both are 0)"
    if log10_denominator == -math.inf:
        return "unbounded (the denominator is 0)"
    return magnitude_text(log10_numerator - log10_denominator)
