"""Numbers given by their log10, written for people (gradviz/page/formatting.py), and ratios in words
(gradviz/page/sections/common.py ratio_text): exact short decimals, m × 10ᵏ beyond float64, 10^(…) beyond
that, and never 'nan', 'inf' or 'undefined' for a finite number."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradviz.page.formatting import magnitude_latex, magnitude_text, ratio_log10, superscript
from gradviz.page.i18n import Words
from gradviz.page.sections.common import ratio_text

RAW_SPECIAL = re.compile(r"nan|inf|∞|undefined", re.IGNORECASE)
PLAIN_DIGITS = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
POWER_TEXT = re.compile(r"^(−?)(\d)(?:\.(\d+))? × 10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)$")
LOG25 = math.log10(25)


@pytest.mark.parametrize("value, text", [
    (3906.25, "3906.25"), (1953.125, "1953.125"), (15625.0, "15625"), (625.0, "625"), (0.25, "0.25"),
    (1.0, "1"), (0.001, "0.001"), (999999.0, "999999"),
])
def test_short_exact_decimals_print_in_full(value, text):
    assert magnitude_text(math.log10(value)) == text
    assert magnitude_latex(math.log10(value)) == text


def test_plain_decimals_are_cut_to_significant_digits():
    assert magnitude_text(math.log10(math.pi)) == "3.142"
    assert magnitude_text(math.log10(math.pi), digits=7) == "3.141593"
    assert magnitude_text(math.log10(0.0066821345)) == "0.006682"
    assert magnitude_text(math.log10(0.00668213)) == "0.00668213"  # seven digits or fewer: exact


def test_the_articles_chain_at_depth_10000():
    # 25^9999 = 1.005 × 10^13978; ∂C/∂b₁ = σ'(0) · 25^9999 · ∂C/∂a_L = 1/4 · 25^9999 · 1/2 = 1.256 × 10^13977
    assert magnitude_text(9999 * LOG25) == "1.00 × 10¹³⁹⁷⁸"
    assert magnitude_text(9999 * LOG25 + math.log10(0.125)) == "1.26 × 10¹³⁹⁷⁷"
    assert magnitude_latex(9999 * LOG25 + math.log10(0.125)) == r"1.26 \times 10^{13977}"


def test_an_exponent_beyond_a_million_is_written_as_a_power_of_its_own():
    assert magnitude_text(-3.5e66) == "10^(−3.5 × 10⁶⁶)"
    assert magnitude_latex(-3.5e66) == r"10^{-3.5 \times 10^{66}}"
    assert magnitude_text(2e6) == "10^(2.0 × 10⁶)"
    assert magnitude_text(-3.5e66, -1.0) == "−10^(−3.5 × 10⁶⁶)"


def test_signs_mantissas_and_specials():
    assert magnitude_text(math.log10(3906.25), -1.0) == "−3906.25"  # a true minus in text
    assert magnitude_latex(math.log10(3906.25), -1.0) == "-3906.25"
    assert magnitude_text(math.log10(9.999e20)) == "1.00 × 10²¹"  # a mantissa that rounds to 10 carries
    assert magnitude_text(math.nan) == "NaN" and magnitude_latex(math.nan) == r"\mathrm{NaN}"
    assert magnitude_text(-math.inf) == "0" and magnitude_latex(-math.inf) == "0"  # log10 of an exact zero
    assert superscript("-12") == "⁻¹²"


def _text_to_latex(text: str) -> str:
    match = POWER_TEXT.match(text)
    if match:
        sign, lead, decimals, exponent = match.groups()
        mantissa = f"{lead}.{decimals}" if decimals else lead
        return f"{'-' if sign else ''}{mantissa} \\times 10^{{{exponent.translate(PLAIN_DIGITS)}}}"
    return text.replace("−", "-")


@settings(max_examples=200, deadline=None)
@given(log10=st.floats(min_value=-1e5, max_value=1e5, allow_nan=False), sign=st.sampled_from([1.0, -1.0]),
       digits=st.integers(min_value=1, max_value=8))
def test_a_finite_magnitude_reads_back_to_the_number(log10, sign, digits):
    text, latex = magnitude_text(log10, sign, digits), magnitude_latex(log10, sign, digits)
    assert not RAW_SPECIAL.search(text) and not RAW_SPECIAL.search(latex), (text, latex)
    assert text.startswith("−") == (sign < 0) and latex == _text_to_latex(text)
    match = POWER_TEXT.match(text)
    if -3 <= log10 < 6:
        assert match is None, text
        assert float(text.lstrip("−")) == pytest.approx(10.0 ** log10, rel=0.5 * 10.0 ** (1 - digits) + 1e-12)
    else:
        assert match is not None, text
        _, lead, decimals, exponent = match.groups()
        mantissa = float(f"{lead}.{decimals}" if decimals else lead)
        assert 1.0 <= mantissa < 10.0
        shown = math.log10(mantissa) + int(exponent.translate(PLAIN_DIGITS))
        assert abs(shown - log10) <= math.log10(1 + 0.5 * 10.0 ** (1 - min(digits, 3))) + 1e-9


@given(st.floats(min_value=1e6, max_value=1e300) | st.floats(min_value=-1e300, max_value=-1e6))
def test_huge_exponents_never_overflow(log10):
    text = magnitude_text(log10)
    assert text.startswith("10^(") and not RAW_SPECIAL.search(text)


def test_ratio_log10_is_none_where_no_number_exists():
    assert ratio_log10(math.log10(15625) + 2, 2.0) == pytest.approx(math.log10(15625))
    assert ratio_log10(-math.inf, 1.0) == -math.inf  # 0 / q = 0
    for numerator, denominator in ((math.nan, 0.0), (0.0, math.nan), (-math.inf, -math.inf), (1.0, -math.inf),
                                   (math.inf, 1.0)):
        assert ratio_log10(numerator, denominator) is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_ratio_that_is_not_a_number_is_said_in_words(lang):
    words = Words(lang)
    assert ratio_text(words, math.log10(15625) + 2, 2.0) == "15625"
    assert ratio_text(words, -math.inf, 1.0) == "0"
    said = [ratio_text(words, n, d) for n, d in ((math.nan, 0.0), (-math.inf, -math.inf), (1.0, -math.inf),
                                                  (math.inf, 0.0))]
    assert len(set(said)) == 4
    for text in said:
        assert not re.search(r"\b(nan|inf|Inf|infinity|undefined)\b|∞", text), text  # "NaN" is the word for a NaN
        assert not re.fullmatch(r"[\d.\s×⁻⁰¹²³⁴⁵⁶⁷⁸⁹−]+", text)  # words, not a number
