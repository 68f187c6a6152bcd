"""Closed forms of the activations and their slopes (gradviz.engine.activations), in float64."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest

from gradviz.engine.activations import (ACTIVATIONS, get_activation, log_relu_prime, log_sigmoid_prime, log_tanh_prime,
                                        relu, relu_prime, sigmoid, sigmoid_prime, tanh_prime)
from gradviz.engine.scaled import Scaled

from conftest import decimal_sigmoid_prime

# Any warning (overflow, divide by zero, invalid) is a failure here, whatever the ini file says.
pytestmark = pytest.mark.filterwarnings("error")

# A dense grid with 0 exactly on it: k/4000 for |k| <= 200000 (|z| <= 50, step 2.5e-4).
GRID = np.arange(-200_000, 200_001) / 4000.0


def decimal_ln_tanh_prime(z, prec: int = 60) -> Decimal:
    """ln tanh'(z) = ln(4 e^{2z} / (1 + e^{2z})²), in high-precision decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = prec
        e = (2 * Decimal(z)).exp()
        return (4 * e / (1 + e) ** 2).ln()


# --- values at and near 0 ---------------------------------------------------------------


def test_sigmoid_prime_at_zero_is_exactly_a_quarter_and_the_grid_maximum():
    assert sigmoid_prime(np.array(0.0)) == 0.25
    values = sigmoid_prime(GRID)
    assert values.max() == 0.25
    # The maximum is attained at z = 0 only; σ'(±2.5e-4) = 1/4 − z²/16 + … ≈ 0.25 − 3.9e-9.
    assert np.flatnonzero(values == values.max()).tolist() == [200_000]
    assert np.all(values[GRID != 0] < 0.25)


def test_sigmoid_prime_never_exceeds_a_quarter_near_zero():
    # σ'(z) ≤ 1/4 for every z (the bound behind the article's |w σ'(z)| ≤ |w|/4); a faithfully
    # rounded σ' must never round above it, since 1/4 itself is representable.
    z = np.linspace(-1e-6, 1e-6, 200_001)
    values = sigmoid_prime(z)
    above = z[values > 0.25]
    assert above.size == 0, f"σ'(z) > 1/4 at {above.size} points, e.g. σ'({float(above[0])!r}) = {float(sigmoid_prime(above[:1])[0])!r}"


def test_tanh_prime_at_zero_is_one_and_the_grid_maximum():
    assert tanh_prime(np.array(0.0)) == 1.0
    values = tanh_prime(GRID)
    assert values.max() == 1.0
    assert np.flatnonzero(values == 1.0).tolist() == [200_000]


def test_tanh_prime_never_exceeds_one_near_zero():
    z = np.linspace(-1e-6, 1e-6, 200_001)
    values = tanh_prime(z)
    above = z[values > 1.0]
    assert above.size == 0, f"tanh'(z) > 1 at {above.size} points, e.g. tanh'({float(above[0])!r}) = {float(tanh_prime(above[:1])[0])!r}"


def test_relu_prime_convention_at_zero():
    z = np.array([-1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 1e300])
    np.testing.assert_array_equal(relu_prime(z), [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(log_relu_prime(z), [-np.inf, -np.inf, -np.inf, -np.inf, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(relu(z), [0.0, 0.0, 0.0, 0.0, 5e-324, 1.0, 1e300])


# --- agreement with independent formulas --------------------------------------------------


def test_sigmoid_matches_the_definition_and_is_symmetric():
    z = np.linspace(-30.0, 30.0, 6001)
    reference = np.array([1.0 / (1.0 + math.exp(-v)) for v in z])
    np.testing.assert_allclose(sigmoid(z), reference, rtol=1e-15, atol=0)
    # σ(−z) = 1 − σ(z): 1 − σ(z) cancels for large z, so the comparison is absolute (a few ulps of 1).
    np.testing.assert_allclose(sigmoid(-z), 1.0 - sigmoid(z), rtol=0, atol=2.3e-16)
    # ... and relatively exact (to a few ulps) where nothing cancels.
    moderate = np.linspace(-1.0, 1.0, 2001)
    np.testing.assert_allclose(sigmoid(-moderate), 1.0 - sigmoid(moderate), rtol=1e-15, atol=0)


def test_slopes_match_independent_formulas():
    z = np.linspace(-30.0, 30.0, 6001)
    s = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731 (fine for |t| <= 30)
    np.testing.assert_allclose(sigmoid_prime(z), s(z) * s(-z), rtol=2e-15, atol=0)
    np.testing.assert_allclose(tanh_prime(z), 4.0 / (np.exp(z) + np.exp(-z)) ** 2, rtol=2e-15, atol=0)
    np.testing.assert_allclose(log_sigmoid_prime(z), np.log(s(z) * s(-z)), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(log_tanh_prime(z), np.log(4.0 / (np.exp(z) + np.exp(-z)) ** 2), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_prime_is_the_derivative_of_fn(name):
    act = get_activation(name)
    z = np.linspace(-6.0, 6.0, 241) + 0.013  # avoids relu's kink at 0
    h = 1e-6
    numeric = (act.fn(z + h) - act.fn(z - h)) / ((z + h) - (z - h))
    np.testing.assert_allclose(act.prime(z), numeric, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_log_prime_is_the_log_of_prime(name):
    act = get_activation(name)
    z = np.linspace(-300.0, 300.0, 6001) + 0.013
    positive = act.prime(z) > 0
    np.testing.assert_allclose(act.log_prime(z)[positive], np.log(act.prime(z)[positive]), rtol=1e-13, atol=1e-14)
    assert np.all(np.isneginf(act.log_prime(z)[~positive]))
    if name != "relu":
        assert positive[np.abs(z) < 300].all()


def test_unknown_activation_is_a_value_error():
    with pytest.raises(ValueError, match="softsign"):
        get_activation("softsign")


def test_shapes_are_kept():
    z = np.arange(24.0).reshape(2, 3, 4) - 12.0
    for act in ACTIVATIONS.values():
        for fn in (act.fn, act.prime, act.log_prime):
            assert fn(z).shape == z.shape


# --- saturated neurons --------------------------------------------------------------------


def test_sigmoid_prime_40_against_two_independent_references():
    expected = 4.248354255291589e-18
    by_math = math.exp(-40.0) / (1.0 + math.exp(-40.0)) ** 2
    by_decimal = float(decimal_sigmoid_prime(40))
    assert math.isclose(by_math, expected, rel_tol=1e-14)
    assert math.isclose(by_decimal, expected, rel_tol=1e-15)
    assert math.isclose(float(sigmoid_prime(np.array(40.0))), by_decimal, rel_tol=1e-12)
    assert math.isclose(float(sigmoid_prime(np.array(-40.0))), by_decimal, rel_tol=1e-12)


@pytest.mark.parametrize("z", [-1000.0, -745.0, -100.0, -40.0, -1.5, 0.0, 0.7, 40.0, 700.0, 1000.0, 1e5])
def test_log_sigmoid_prime_against_decimal(z):
    with localcontext() as ctx:
        ctx.prec = 60
        reference = float(decimal_sigmoid_prime(z).ln()) if abs(z) < 1e4 else -abs(z)
    got = float(log_sigmoid_prime(np.array(z)))
    assert math.isfinite(got)
    assert math.isclose(got, reference, rel_tol=1e-15, abs_tol=1e-15)


def test_log_sigmoid_prime_1000_is_finite():
    got = log_sigmoid_prime(np.array([1000.0, -1000.0]))
    expected = -1000.0 - 2.0 * math.log1p(math.exp(-1000.0))
    np.testing.assert_array_equal(got, [expected, expected])
    assert expected == -1000.0
    # ... while the plain slope underflows to 0 (gracefully).
    np.testing.assert_array_equal(sigmoid_prime(np.array([1000.0, -1000.0])), [0.0, 0.0])


@pytest.mark.parametrize("z", [-1000.0, -40.0, -0.3, 0.0, 2.0, 40.0, 400.0, 1000.0])
def test_log_tanh_prime_against_decimal(z):
    got = float(log_tanh_prime(np.array(z)))
    assert math.isfinite(got)
    assert math.isclose(got, float(decimal_ln_tanh_prime(z)), rel_tol=1e-15, abs_tol=1e-15)


def test_log_tanh_prime_1000():
    assert float(log_tanh_prime(np.array(1000.0))) == math.log(4.0) - 2000.0 - 2.0 * math.log1p(math.exp(-2000.0))
    assert float(tanh_prime(np.array(1000.0))) == 0.0


def test_extreme_inputs_give_no_warnings_and_no_nan():
    z = np.array([-np.inf, -1e300, -800.0, -745.0, 745.0, 800.0, 1e300, np.inf])
    for act in ACTIVATIONS.values():
        for fn in (act.fn, act.prime, act.log_prime):
            assert not np.isnan(fn(z)).any(), (act.name, fn.__name__)
    assert sigmoid(np.array(-800.0)) >= 0.0  # e^-800 underflows to 0 in float64, which is fine
    np.testing.assert_array_equal(sigmoid(np.array([-np.inf, np.inf, 800.0])), [0.0, 1.0, 1.0])
    # σ(−z) for large z keeps its tiny true value where float64 can hold it (no 1 − σ(z) cancellation).
    assert math.isclose(float(sigmoid(np.array(-700.0))), math.exp(-700.0), rel_tol=1e-14)
    assert np.all(np.isneginf(log_sigmoid_prime(np.array([np.inf, -np.inf]))))


def test_nan_propagates_without_warnings():
    z = np.array([np.nan, 0.0])
    for name in ("sigmoid", "tanh"):
        act = ACTIVATIONS[name]
        for fn in (act.fn, act.prime, act.log_prime):
            assert np.isnan(fn(z)[0]), (name, fn.__name__)
    assert np.isnan(relu(z)[0])
    assert relu_prime(z)[0] == 0.0  # "1 where z > 0, else 0": NaN > 0 is False


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_scalar_forms_agree_with_the_array_forms(name):
    act = get_activation(name)
    z = np.concatenate([np.linspace(-50, 50, 2001), [0.0, -0.0, 1e-300, -1e-300, 800.0, -800.0, np.inf, -np.inf]])
    # numpy's exp and the C library's may differ in the last place: at most one ulp apart
    np.testing.assert_allclose([act.scalar(v) for v in z.tolist()], act.fn(z), rtol=4.5e-16, atol=0)
    assert math.isnan(act.scalar(math.nan))


# --- the registry's facts and the slope the engine uses ----------------------------------------------------------


@pytest.mark.parametrize("name, steepest_z, max_slope", [("sigmoid", 0.0, 0.25), ("tanh", 0.0, 1.0), ("relu", 1.0, 1.0)])
def test_each_activation_knows_its_steepest_point(name, steepest_z, max_slope):
    act = get_activation(name)
    assert act.name == name and ACTIVATIONS[name] is act
    assert act.steepest_z == steepest_z and act.max_slope == max_slope
    assert float(act.prime(np.array(steepest_z))) == max_slope
    z = np.linspace(-10.0, 10.0, 4001) + 0.0013
    assert act.prime(z).max() <= max_slope
    assert act.symbol and act.prime_symbol and act.prime_symbol != act.symbol
    assert act.saturates is (name != "relu")


def test_sigmoid_alone_has_a_cancellation_free_complement():
    act = get_activation("sigmoid")
    z = np.array([-30.0, 0.0, 40.0, 700.0])
    np.testing.assert_array_equal(act.complement(z), sigmoid(-z))
    assert act.complement(np.array(40.0)) > 0.0 and 1.0 - sigmoid(np.array(40.0)) == 0.0
    assert get_activation("tanh").complement is None and get_activation("relu").complement is None


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_slope_is_the_plain_prime_wherever_float64_holds_it(name):
    act = get_activation(name)
    z = np.linspace(-300.0, 300.0, 6000).reshape(3, -1)
    slope = act.slope(z)
    assert isinstance(slope, np.ndarray)
    np.testing.assert_array_equal(slope, act.prime(z))


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_a_saturated_slope_comes_as_a_mantissa_and_an_exponent(name):
    act = get_activation(name)
    z = np.array([[0.0, 1000.0], [-745.0, 2.0], [1e5, -40.0]])
    slope = act.slope(z)
    assert isinstance(slope, Scaled)
    assert slope.exponent.shape == z.shape and slope.exponent.dtype == np.int64
    plain = act.prime(z) >= 2.0**-1000
    np.testing.assert_array_equal(slope.mantissa[plain], act.prime(z)[plain])  # untouched where it is a float
    assert (slope.exponent[plain] == 0).all()
    reference = decimal_sigmoid_prime if name == "sigmoid" else lambda v: decimal_ln_tanh_prime(v).exp()
    for v, got in zip(z.ravel(), slope.log10_abs().ravel()):
        # past |z| = 1e4 the decimal exponential is needless: ln σ'(z) = −|z|, ln tanh'(z) = ln 4 − 2|z| to rounding
        asymptote = -abs(v) if name == "sigmoid" else math.log(4.0) - 2.0 * abs(v)
        want = float(reference(v).log10()) if abs(v) < 1e4 else asymptote / math.log(10)
        assert math.isfinite(got) and got == pytest.approx(want, rel=1e-14, abs=1e-15), (v, got, want)


def test_relu_slope_stays_plain_and_exactly_zero_below_the_kink():
    slope = get_activation("relu").slope(np.array([-1e300, -1.0, 0.0, 1e-300, 5.0]))
    assert isinstance(slope, np.ndarray)
    np.testing.assert_array_equal(slope, [0.0, 0.0, 0.0, 1.0, 1.0])


def test_slope_of_nan_is_nan_and_of_an_empty_array_empty():
    for act in ACTIVATIONS.values():
        assert act.slope(np.zeros((2, 0))).shape == (2, 0)
    slope = get_activation("sigmoid").slope(np.array([np.nan, 2000.0]))
    assert np.isnan(slope.mantissa[0]) and math.isfinite(slope.log10_abs()[1])


@pytest.mark.parametrize("bad", ["softsign", None, 3, ["sigmoid"], True])
def test_unknown_activations_are_value_errors_naming_the_choices(bad):
    with pytest.raises(ValueError, match="activation must be one of"):
        get_activation(bad)
