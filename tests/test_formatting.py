"""gradviz.formatting: numbers given by their log10, written for people (never 'nan' or 'inf')."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradviz.formatting import magnitude_latex, magnitude_text, ratio_text

RAW_SPECIAL = re.compile(r"nan|inf", re.IGNORECASE)  # as substrings: a finite number has no business with either
PLAIN_DIGITS = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
POWER_TEXT = re.compile(r"^(−?)(\d)(?:\.(\d+))? × 10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)$")


@pytest.mark.parametrize("value, text", [
    (3906.25, "3906.25"),
    (1953.125, "1953.125"),
    (625.0, "625"),
    (25.0, "25"),
    (15625.0, "15625"),
    (0.25, "0.25"),
    (0.5, "0.5"),
    (1.0, "1"),
    (0.001, "0.001"),     # the bottom of the plain range
    (999999.0, "999999"),  # the top of the plain range
])
def test_short_exact_decimals_print_in_full(value, text):
    log10 = math.log10(value)
    assert magnitude_text(log10) == text
    assert magnitude_latex(log10) == text


def test_plain_decimals_are_cut_to_the_requested_significant_digits():
    assert magnitude_text(math.log10(math.pi)) == "3.142"
    assert magnitude_text(math.log10(math.pi), digits=7) == "3.141593"
    assert magnitude_text(math.log10(123456.789)) == "123457"  # >= 10^(digits−1): no decimals, no exponent
    assert magnitude_text(math.log10(0.00123456789)) == "0.001235"


def test_negative_sign_is_a_true_minus_in_text_and_a_hyphen_in_latex():
    assert magnitude_text(math.log10(3906.25), -1.0) == "−3906.25"
    assert magnitude_latex(math.log10(3906.25), -1.0) == "-3906.25"
    assert magnitude_text(-9978.0, -1.0) == "−1.00 × 10⁻⁹⁹⁷⁸"


def test_magnitudes_beyond_float64():
    # 0.125 · 25^9999 = 1.256… × 10^13977, the article's exploding chain at depth 10000
    log10 = 9999 * math.log10(25) + math.log10(0.125)
    assert magnitude_text(log10) == "1.26 × 10¹³⁹⁷⁷"
    assert magnitude_latex(log10) == r"1.26 \times 10^{13977}"
    assert magnitude_text(13977 + math.log10(1.26)) == "1.26 × 10¹³⁹⁷⁷"
    assert magnitude_text(-9978.0) == "1.00 × 10⁻⁹⁹⁷⁸"
    assert magnitude_latex(-9978.0) == r"1.00 \times 10^{-9978}"
    assert magnitude_text(6.0) == "1.00 × 10⁶"          # just past the plain range
    assert magnitude_text(math.log10(0.000999)) == "9.99 × 10⁻⁴"  # just below it


def test_mantissa_that_rounds_to_ten_carries_into_the_exponent():
    assert magnitude_text(math.log10(9.999e20)) == "1.00 × 10²¹"
    assert magnitude_latex(math.log10(9.999e-20)) == r"1.00 \times 10^{-19}"


def test_special_values():
    assert magnitude_text(math.nan) == "NaN"
    assert magnitude_latex(math.nan) == r"\text{NaN}"
    assert magnitude_text(-math.inf) == "0"  # log10 of exactly zero
    assert magnitude_latex(-math.inf) == "0"
    assert magnitude_text(math.inf) == "∞"
    assert magnitude_latex(math.inf) == r"\infty"


def _text_to_latex(text: str) -> str:
    match = POWER_TEXT.match(text)
    if match:
        sign, lead, decimals, exponent = match.groups()
        mantissa = f"{lead}.{decimals}" if decimals else lead
        return f"{'-' if sign else ''}{mantissa} \\times 10^{{{exponent.translate(PLAIN_DIGITS)}}}"
    return text.replace("−", "-")


@settings(max_examples=200, deadline=None)
@given(log10=st.floats(min_value=-1e7, max_value=1e7, allow_nan=False, allow_infinity=False),
       sign=st.sampled_from([1.0, -1.0]), digits=st.integers(min_value=1, max_value=8))
def test_finite_input_reads_back_to_the_number_and_never_says_nan_or_inf(log10, sign, digits):
    text = magnitude_text(log10, sign, digits)
    latex = magnitude_latex(log10, sign, digits)
    assert not RAW_SPECIAL.search(text) and not RAW_SPECIAL.search(latex), (text, latex)
    assert text.startswith("−") == (sign < 0)
    assert latex == _text_to_latex(text)
    match = POWER_TEXT.match(text)
    if -3 <= log10 < 6:
        assert match is None, text
        shown = float(text.lstrip("−"))
        # the exact short form, `digits` significant digits, or no decimals for numbers >= 10^(digits−1)
        assert shown == pytest.approx(10.0 ** log10, rel=0.5 * 10.0 ** (1 - digits) + 1e-12)
    else:
        assert match is not None, text
        _, lead, decimals, exponent = match.groups()
        mantissa = float(f"{lead}.{decimals}" if decimals else lead)
        assert 1.0 <= mantissa < 10.0
        assert len(decimals or "") == min(digits, 3) - 1
        # m × 10^k is 10^log10 to the mantissa's precision
        error = abs(math.log10(mantissa) + (int(exponent.translate(PLAIN_DIGITS)) - math.floor(log10)) - (log10 - math.floor(log10)))
        assert error <= math.log10(1 + 0.5 * 10.0 ** (1 - min(digits, 3))) + 1e-9


def test_ratio_text():
    assert ratio_text(math.log10(15625.0) + 2.0, 2.0) == "15625"
    assert ratio_text(-math.inf, 1.0) == "0"  # 0 / q
    for words in (ratio_text(math.nan, 0.0), ratio_text(0.0, math.nan), ratio_text(-math.inf, -math.inf),
                  ratio_text(1.0, -math.inf)):
        assert not re.search(r"\b(nan|inf|infinity)\b", words.replace("NaN", ""), re.IGNORECASE), words
        assert words and words[0].isalpha()  # said in words, not a number
    assert "0" in ratio_text(-math.inf, -math.inf)
