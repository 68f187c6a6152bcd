"""gradviz.engine.scaled: numbers as mantissa · 2^exponent, checked against exact fractions and 50-digit decimals.

The promises: rescaling by powers of two is exact (np.ldexp / np.frexp), so in float64's range a Scaled value
is the plain float bit for bit; beyond it nothing overflows or underflows; ln_norm is the log of the Frobenius
norm at any magnitude (−inf for zeros, NaN for NaN).
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradviz.engine.scaled import (HIGH, LIMIT, LOW, Scaled, add, combine_exponents, from_log, ln_global_norm,
                                   ln_norm, ln_segment_norms, normalized, segment_norms, times)

from conftest import exact

pytestmark = pytest.mark.filterwarnings("error")

FEW = settings(max_examples=60, deadline=None)


@st.composite
def spread_rows(draw, max_side=4, spread=600):
    """A matrix whose rows each sit at their own scale 2^s (|s| ≤ 1000) with entries within `spread` binades of
    it, or 0: the values a row-normalized Scaled holds exactly (it can rescale a row by up to ~600 binades
    without pushing an entry below float64's smallest normal number)."""
    rows, cols = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    out = np.zeros((rows, cols))
    for r in range(rows):
        scale = draw(st.integers(-1000, 1000))
        for c in range(cols):
            if draw(st.booleans()) or c == 0:
                significand = draw(st.floats(0.5, 1.0, exclude_max=True)) * draw(st.sampled_from([1.0, -1.0]))
                out[r, c] = math.ldexp(significand, max(-1021, min(1023, scale - draw(st.integers(0, spread)))))
    return out
finite = st.floats(-1e300, 1e300, allow_nan=False, allow_subnormal=False)
exponents = st.integers(-5000, 5000)


def matrices(elements=finite, max_side=4):
    return hnp.arrays(np.float64, st.tuples(st.integers(1, max_side), st.integers(1, max_side)), elements=elements)


def value_of(x: Scaled) -> np.ndarray:
    """Every entry of x as an exact Fraction (an object array), whatever its exponent."""
    e = np.broadcast_to(np.asarray(x.exponent), x.mantissa.shape)
    return np.array([exact(m, k) for m, k in zip(x.mantissa.ravel(), e.ravel())], dtype=object).reshape(x.mantissa.shape)


def decimal_ln_norm(values) -> float:
    """ln √(Σ v²) of exact Fractions, in 50-digit decimals."""
    with localcontext() as ctx:
        ctx.prec = 50
        total = sum((Decimal(v.numerator) / Decimal(v.denominator)) ** 2 for v in values)
        return float(total.ln() / 2) if total else -math.inf


def assert_row_invariant(x: Scaled) -> None:
    """Every row's largest |mantissa| in [2^-LIMIT, 2^LIMIT], or 0, or not finite."""
    m = x.mantissa if x.mantissa.ndim == 2 else x.mantissa.reshape(1, -1)
    for row in m:
        top = float(np.max(np.abs(row), initial=0.0))
        assert top == 0.0 or not math.isfinite(top) or LOW <= top <= HIGH, top


# --- exactness ------------------------------------------------------------------------------------------


@FEW
@given(mantissa=matrices(st.floats(-1e280, 1e280, allow_nan=False)), exponent=st.integers(-60, 60))
def test_value_is_ldexp_exactly(mantissa, exponent):
    """In float64's range (subnormal results included, rounded correctly) the value is mantissa · 2^exponent."""
    x = Scaled(mantissa, exponent)
    expected = np.array([float(Fraction(float(m)) * Fraction(2) ** exponent) for m in mantissa.ravel()])
    np.testing.assert_array_equal(x.value, expected.reshape(mantissa.shape))


@FEW
@given(values=spread_rows())
def test_of_keeps_a_float_array_bit_for_bit(values):
    x = Scaled.of(values)
    assert_row_invariant(x)
    np.testing.assert_array_equal(x.value, values)  # the rescaling, if any, is undone exactly
    assert (value_of(x) == np.vectorize(Fraction, otypes=[object])(values)).all()


def test_in_range_arrays_are_left_alone():
    values = np.array([[25.0, -0.5], [1e-100, 3.0]])
    x = Scaled.of(values)
    assert x.mantissa is values or np.shares_memory(x.mantissa, values)  # a no-op, not a copy
    assert x.exponent == 0


@FEW
@given(mantissa=spread_rows(), row_exponents=st.lists(exponents, min_size=4, max_size=4))
def test_normalized_moves_powers_of_two_only(mantissa, row_exponents):
    e = np.array(row_exponents[:len(mantissa)], dtype=np.int64)[:, None]
    big = Scaled(mantissa, e)
    x = normalized(big)
    assert_row_invariant(x)
    assert (value_of(x) == value_of(big)).all()
    if isinstance(x.exponent, np.ndarray):
        assert x.exponent.dtype == np.int64 and x.exponent.shape == (len(mantissa), 1)


@FEW
@given(mantissa=matrices(st.one_of(st.just(0.0), st.floats(1e-6, 1e6), st.floats(-1e6, -1e-6))),
       spread=st.integers(0, 450))
def test_combine_exponents_is_exact_within_a_row(mantissa, spread):
    """Per-entry exponents brought to one per row: exact while a row's entries lie within ~1000 binades."""
    rng = np.random.default_rng(spread)
    e = rng.integers(-spread, spread + 1, mantissa.shape) + 3000
    x = combine_exponents(mantissa, e)
    assert x.exponent.shape == (len(mantissa), 1)
    per_entry = np.array([exact(m, k) for m, k in zip(mantissa.ravel(), e.ravel())], dtype=object).reshape(e.shape)
    assert (value_of(x) == per_entry).all()


def test_combine_exponents_of_a_vector_gives_one_int():
    x = combine_exponents(np.array([1.0, 3.0, 0.0]), np.array([5, -3, 7]))
    assert isinstance(x.exponent, int)
    assert list(value_of(x)) == [Fraction(32), Fraction(3, 8), Fraction(0)]


@FEW
@given(a=matrices(st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False).filter(lambda v: v == 0 or abs(v) > 1e-200)),
       ea=exponents, eb=exponents)
def test_times_folds_exponents_exactly(a, ea, eb):
    """Exact while a row's entries lie within 2^1000 of each other (one exponent per row: see the limit below)."""
    factor = np.full(a.shape, 0.75)
    x = times(Scaled(a, ea), factor)
    assert x.exponent == ea and (value_of(x) == value_of(Scaled(a * 0.75, ea))).all()
    y = times(Scaled(a, ea), Scaled(np.full(a.shape, 0.5), np.full(a.shape, eb)))  # a per-entry Scaled factor
    assert (value_of(y) == value_of(Scaled(a, ea + eb - 1))).all()


def test_times_by_a_scaled_slope_far_below_float64():
    """∂C/∂a ⊙ σ'(z) with σ'(z) = e^-1000 ≈ 10^-434.3 in one row and e^-2 in the other: no float64 holds the
    first, yet the product keeps it (one exponent per row)."""
    slope = from_log(np.ones(2), np.array([-1000.0, -2.0]))
    grad = Scaled(np.array([[3.0], [-4.0]]), np.array([[10], [10]]))
    out = times(grad, Scaled(slope.mantissa[:, None], slope.exponent[:, None]))
    np.testing.assert_allclose(out.log10_abs()[:, 0], [math.log10(3.0 * 1024) - 1000 / math.log(10),
                                                       math.log10(4.0 * 1024) - 2 / math.log(10)], rtol=1e-14)
    np.testing.assert_array_equal(out.sign(), [[1.0], [-1.0]])


def test_an_entry_far_below_its_rows_largest_is_lost_as_in_a_float_sum():
    """The limit of one exponent per row (documented in combine_exponents): an entry more than ~2^1074 below
    the largest of its row rounds to 0 against it; the row's norm is unaffected."""
    out = combine_exponents(np.array([[1.0, 1.0]]), np.array([[0, -1200]]))
    np.testing.assert_array_equal(out.value, [[1.0, 0.0]])
    assert out.ln_norm == 0.0


# --- add -----------------------------------------------------------------------------------


def test_add_with_different_whole_array_exponents_is_the_rounded_sum():
    a, b = Scaled(np.array([1.0, 2.0]), 1000), Scaled(np.array([3.0, -8.0]), 998)
    total = add([a, b])
    assert isinstance(total.exponent, int)  # one Python int, as the type promises, not a 0-d array
    assert list(value_of(total)) == [Fraction(7, 4) * 2**1000, Fraction(0)]


def test_add_per_row_exponents():
    a = Scaled(np.array([[1.0, 2.0], [1.0, 1.0]]), np.array([[3], [0]]))
    b = Scaled(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([[0], [3]]))
    total = add([a, b])
    np.testing.assert_array_equal(total.value, [[9.0, 17.0], [9.0, 9.0]])
    assert total.exponent.shape == (2, 1)


@FEW
@given(values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=6), shift=st.integers(-3000, 3000))
def test_add_is_float_addition_at_any_scale(values, shift):
    """Σ of terms scaled by 2^shift rounds exactly as the plain float sum (the binades are only relabelled)."""
    terms = [Scaled(np.array([v]), shift) for v in values]
    total = add(terms) if len(terms) > 1 else terms[0]
    plain = values[0]
    for v in values[1:]:
        plain = plain + v
    assert value_of(total)[0] == Fraction(plain) * Fraction(2) ** shift


# --- ln_norm ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values, exponent, expected", [
    (np.full(10, 1e300), 0, math.log(1e300) + 0.5 * math.log(10)),     # Σ v² overflows float64
    (np.full(10, 1e-300), 0, math.log(1e-300) + 0.5 * math.log(10)),   # Σ v² underflows
    (np.array([5e-324]), 0, math.log(5e-324)),                          # a subnormal
    (np.array([3.0, 4.0]), 5000, math.log(5.0) + 5000 * math.log(2)),  # far beyond float64
    (np.array([3.0, 4.0]), -5000, math.log(5.0) - 5000 * math.log(2)),
    (np.zeros(5), 0, -math.inf),
    (np.zeros(5), 5000, -math.inf),
    (np.zeros(0), 0, -math.inf),
    (np.array([1.0, np.inf]), 0, math.inf),
])
def test_ln_norm_of_huge_tiny_zero_and_infinite_arrays(values, exponent, expected):
    got = ln_norm(Scaled(values, exponent))
    if math.isinf(expected):
        assert got == expected
    else:
        assert got == pytest.approx(expected, rel=1e-15, abs=1e-12)


@pytest.mark.parametrize("values", [np.array([1.0, np.nan]), np.array([np.nan, np.inf]), np.array([-np.inf, np.nan])])
@pytest.mark.parametrize("exponent", [0, 5000, np.array([[1]])])
def test_ln_norm_of_nan_is_nan(values, exponent):
    m = values if np.ndim(exponent) == 0 else values[None, :]
    assert math.isnan(ln_norm(Scaled(m, exponent)))


@FEW
@given(mantissa=matrices(st.floats(-1e300, 1e300, allow_nan=False)), row_exponents=st.lists(exponents, min_size=4, max_size=4))
def test_ln_norm_against_50_digits(mantissa, row_exponents):
    e = np.array(row_exponents[:len(mantissa)], dtype=np.int64)[:, None]
    for x in (Scaled(mantissa, e), Scaled(mantissa, int(e[0, 0]))):
        expected = decimal_ln_norm(value_of(x).ravel())
        got = x.ln_norm
        if expected == -math.inf:
            assert got == -math.inf
        else:
            assert got == pytest.approx(expected, rel=4e-15, abs=1e-12)
        assert x.log10_norm == pytest.approx(got / math.log(10), rel=1e-15, abs=1e-15)


@FEW
@given(values=hnp.arrays(np.float64, st.integers(1, 120), elements=st.one_of(
           st.just(0.0), st.floats(1e-320, 1e-150), st.floats(-1e300, 1e300, allow_nan=False))),
       cuts=st.lists(st.integers(0, 119), min_size=1, max_size=80))
def test_segment_norms_against_exact_sums(values, cuts):
    """‖segment‖ of any entries, huge, tiny, subnormal or 0, with gaps between the segments; few segments take the
    loop of dot products, many the reduceat, both the careful path where a sum of squares leaves float64's range."""
    bounds = sorted({c for c in cuts if c < len(values)} | {0, len(values)})
    starts, stops = np.array(bounds[:-1])[::2], np.array(bounds[1:])[::2]  # every other piece: gaps between
    norms = segment_norms(values, starts, stops)
    logs = ln_segment_norms(values, starts, stops, np.full(len(starts), 7))
    for k, (a, b) in enumerate(zip(starts, stops)):
        exact_norm = decimal_ln_norm([Fraction(float(v)) for v in values[a:b]])
        if exact_norm == -math.inf:
            assert norms[k] == 0.0 and logs[k] == -math.inf
        else:
            if exact_norm > math.log(2.3e-308):
                assert math.log(norms[k]) == pytest.approx(exact_norm, rel=1e-14, abs=1e-13)
            else:  # a subnormal norm keeps only the digits float64 has for it
                assert norms[k] == pytest.approx(math.exp(exact_norm), rel=1e-12, abs=1e-322)
            assert logs[k] == pytest.approx(exact_norm + 7 * math.log(2), rel=1e-14, abs=1e-13)


def test_segment_norms_of_special_values():
    values = np.array([0.0, 0.0, np.inf, 1.0, np.nan, 2.0, 3e200, 4e200, 1e-200])
    starts, stops = np.array([0, 2, 4, 6, 8]), np.array([2, 4, 6, 8, 9])
    for many in (False, True):  # the loop of dot products, and the reduceat of many segments
        s0, s1 = (np.tile(starts, 10) + np.repeat(np.arange(10) * 9, 5), np.tile(stops, 10) + np.repeat(np.arange(10) * 9, 5)) \
            if many else (starts, stops)
        got = segment_norms(np.tile(values, 10) if many else values, s0, s1)[:5]
        assert got[0] == 0.0 and got[1] == np.inf and np.isnan(got[2])
        assert got[3] == pytest.approx(5e200, rel=1e-15) and got[4] == 1e-200


def test_ln_global_norm_over_parts_of_every_magnitude():
    parts = [Scaled(np.array([3.0]), 3000), Scaled(np.array([[4.0]]), np.array([[3000]])), Scaled(np.zeros(3), 0)]
    assert ln_global_norm(parts) == pytest.approx(math.log(5.0) + 3000 * math.log(2), rel=1e-15)
    assert ln_global_norm([Scaled(np.zeros(2), 0)]) == -math.inf
    assert math.isnan(ln_global_norm(parts + [Scaled(np.array([np.nan]), 0)]))


# --- from_log and log10_abs ---------------------------------------------------------------------------------


def test_from_log_and_log10_abs_at_any_magnitude():
    ln = np.array([-1000.0, 1000.0, 0.0, 3.5, -np.inf])
    x = from_log(np.array([1.0, -1.0, 1.0, -1.0, 1.0]), ln)
    assert x.exponent.dtype == np.int64 and x.exponent.shape == ln.shape
    np.testing.assert_allclose(x.log10_abs()[:4], ln[:4] / math.log(10), rtol=1e-15, atol=1e-15)
    assert x.log10_abs()[4] == -math.inf and x.value[4] == 0.0
    np.testing.assert_array_equal(x.sign(), [1.0, -1.0, 1.0, -1.0, 0.0])
    np.testing.assert_allclose(x.value[2:4], [1.0, -math.exp(3.5)], rtol=4e-16)
    assert np.all((np.abs(x.mantissa[:4]) >= 1.0) & (np.abs(x.mantissa[:4]) < 2.0))
    with np.errstate(over="ignore", under="ignore"):  # the plain values: ±inf and 0 beyond float64, never NaN
        assert x.value[0] == 0.0 and x.value[1] == -np.inf


def test_values_beyond_float64_become_inf_or_zero_without_a_warning():
    x = Scaled(np.array([1.0, -1.0, 0.0]), 5000)
    np.testing.assert_array_equal(x.value, [np.inf, -np.inf, 0.0])
    np.testing.assert_array_equal(Scaled(np.array([1.0, -1.0]), -5000).value, [0.0, -0.0])
    assert LIMIT == 400  # HIGH/LOW keep squares of mantissas (2^±800) inside float64 (2^±1022)
