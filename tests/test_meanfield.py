"""Mean-field theory (gradviz.engine.meanfield): closed forms, independent quadrature, wide random networks.

Independent references: scipy.integrate.quad on the direct formulas (sigmoid as 1/(1 + e^-x), not through
gradviz's tanh reduction; relu across its kink with a break point at 0), and a fine two-dimensional
trapezoid rule for the correlation map (not Mehler's series).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import gradviz
from gradviz.engine.initializations import SCHEMES, initialize
from gradviz.engine.meanfield import critical_weight_variance, mean_field, moments, phase_grid

PHI = {
    "sigmoid": (lambda x: 1.0 / (1.0 + math.exp(-x)), lambda x: math.exp(-abs(x)) / (1.0 + math.exp(-abs(x))) ** 2),
    "tanh": (math.tanh, lambda x: 1.0 / math.cosh(x) ** 2 if abs(x) < 300 else 0.0),
    "relu": (lambda x: max(x, 0.0), lambda x: 1.0 if x > 0 else 0.0),
}
PHI_ARRAY = {
    "sigmoid": (lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)), lambda x: 0.25 / np.cosh(0.5 * np.clip(x, -700, 700)) ** 2),
    "tanh": (np.tanh, lambda x: 1.0 / np.cosh(np.clip(x, -350, 350)) ** 2),
}


def gaussian_quad(f) -> float:
    """E[f(z)], z ~ N(0, 1), by adaptive quadrature with a break point at 0."""
    density = lambda z: f(z) * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return sum(integrate.quad(density, a, b, epsabs=0.0, epsrel=1e-12, limit=400)[0]
               for a, b in ((-14.0, -3.0), (-3.0, 0.0), (0.0, 3.0), (3.0, 14.0)))


def pair_trapezoid(f, g, q: float, c: float, step: float = 0.01, end: float = 9.0) -> float:
    """E[f(u1) g(u2)], u1 = √q z1, u2 = √q (c z1 + √(1 − c²) z2), by the trapezoid rule on a fine grid."""
    z = np.arange(-end, end + step / 2, step)
    density = np.exp(-0.5 * z * z) * step / math.sqrt(2.0 * math.pi)
    z1, z2 = z[:, None], z[None, :]
    u1, u2 = math.sqrt(q) * z1, math.sqrt(q) * (c * z1 + math.sqrt(1.0 - c * c) * z2)
    return float(density @ (f(u1) * g(u2)) @ density)


# --- closed forms ------------------------------------------------------------------------------


@pytest.mark.parametrize("sw2, sb2", [(0.5, 0.0), (1.0, 1.0), (1.9, 0.01), (0.3, 2.0)])
def test_relu_closed_forms_below_two(sw2, sb2):
    m = mean_field("relu", sw2, sb2)
    assert m.chi_1 == sw2 / 2
    assert m.gradient_factor == math.sqrt(sw2 / 2)
    assert m.q_star == pytest.approx(sb2 / (1 - sw2 / 2), rel=1e-15, abs=0.0)
    assert m.phase == "ordered"


def test_relu_has_no_finite_fixed_point_from_two_on():
    assert math.isinf(mean_field("relu", 2.5, 0.1).q_star)
    assert math.isinf(mean_field("relu", 2.5, 0.0).q_star)
    assert math.isinf(mean_field("relu", 2.0, 0.1).q_star)  # q grows by σ_b² every layer
    assert math.isnan(mean_field("relu", 2.0, 0.0).q_star)  # every q is a fixed point
    assert mean_field("relu", 2.5, 0.1).phase == "chaotic"
    assert mean_field("relu", 2.0, 0.1).phase == "critical"
    assert mean_field("relu", 2.5, 0.1).depth_scale == math.inf


def test_relu_ordered_depth_scale_is_the_papers_formula():
    m = mean_field("relu", 1.0, 1.0)
    assert m.c_star == 1.0
    assert m.depth_scale == pytest.approx(-1.0 / math.log(0.5), rel=1e-15)


def test_critical_weight_variance_closed_forms():
    assert critical_weight_variance("relu", 0.0) == 2.0
    assert critical_weight_variance("relu", 0.7) == 2.0
    assert critical_weight_variance("tanh", 0.0) == 1.0


def test_tanh_without_bias_is_critical_at_one():
    m = mean_field("tanh", 1.0, 0.0)
    assert (m.q_star, m.chi_1, m.phase, m.depth_scale) == (0.0, 1.0, "critical", math.inf)
    below = mean_field("tanh", 0.8, 0.0)
    assert (below.q_star, below.chi_1, below.phase) == (0.0, 0.8, "ordered")  # tanh is linear at q = 0
    above = mean_field("tanh", 1.2, 0.0)
    assert above.phase == "chaotic" and above.q_star > 0 and above.c_star == 0.0  # odd φ, no bias: c* = 0


def test_tanh_just_above_one_matches_the_small_q_expansion():
    """σ_b² = 0, σ_w² = 1 + ε: E[tanh²] = q − 2q² + 17/3 q³ and E[sech⁴] = 1 − 2q + 7q² give q* ≈ ε/2,
    χ₁ − 1 ≈ (4/3) σ_w² q*² ≈ ε²/3 = 3.3e-9: a check of the small-q accuracy (E[tanh²] taken as
    1 − E[sech²] loses digits here)."""
    eps = 1e-4
    m = mean_field("tanh", 1.0 + eps, 0.0)
    assert m.q_star == pytest.approx(eps / 2, rel=2e-4)
    assert m.chi_1 - 1.0 == pytest.approx(eps * eps / 3, rel=2e-3)


# --- independent quadrature ----------------------------------------------------------------------


CASES = [("tanh", 0.5, 0.1), ("tanh", 2.5, 0.05), ("tanh", 30.0, 2.0), ("tanh", 3000.0, 20.0),
         ("sigmoid", 1.0, 1.0), ("sigmoid", 30.0, 0.2), ("sigmoid", 200.0, 0.0),
         ("relu", 1.0, 1.0), ("relu", 1.9, 0.01)]


@pytest.mark.parametrize("activation, sw2, sb2", CASES)
def test_fixed_point_and_slope_agree_with_adaptive_quadrature(activation, sw2, sb2):
    phi, phi_prime = PHI[activation]
    m = mean_field(activation, sw2, sb2)
    root = math.sqrt(m.q_star)
    assert sw2 * gaussian_quad(lambda z: phi(root * z) ** 2) + sb2 == pytest.approx(m.q_star, rel=1e-9)
    assert sw2 * gaussian_quad(lambda z: phi_prime(root * z) ** 2) == pytest.approx(m.chi_1, rel=1e-9)


@pytest.mark.parametrize("activation, sw2, sb2", [("tanh", 2.5, 0.05), ("tanh", 4.0, 1.0), ("tanh", 1.8, 0.05),
                                                  ("sigmoid", 120.0, 1.0), ("sigmoid", 104.0, 0.0)])
def test_chaotic_correlation_fixed_point_agrees_with_a_two_dimensional_rule(activation, sw2, sb2):
    phi, phi_prime = PHI_ARRAY[activation]
    m = mean_field(activation, sw2, sb2)
    assert m.phase == "chaotic" and 0.0 < m.c_star < 1.0
    mapped = (sw2 * pair_trapezoid(phi, phi, m.q_star, m.c_star) + sb2) / m.q_star
    assert mapped == pytest.approx(m.c_star, rel=1e-7)
    assert sw2 * pair_trapezoid(phi_prime, phi_prime, m.q_star, m.c_star) == pytest.approx(m.chi_c, rel=1e-6)
    assert m.depth_scale == pytest.approx(-1.0 / math.log(m.chi_c), rel=1e-12)


def test_sigmoid_ordered_phase_correlations_rise_to_one():
    """With the papers' uncentred correlation c = q_12/q*, sigmoid's non-zero mean raises c from any start:
    the map stays above the diagonal below 1, so c* = 1 (no fixed point below 1 in the ordered phase)."""
    phi, _ = PHI_ARRAY["sigmoid"]
    m = mean_field("sigmoid", 1.0, 1.0)
    for c in (0.0, 0.5, 0.9, 0.99):
        assert (1.0 * pair_trapezoid(phi, phi, m.q_star, c) + 1.0) / m.q_star > c
    assert m.c_star == 1.0 and m.chi_c == m.chi_1


@pytest.mark.parametrize("activation, sb2", [("tanh", 0.05), ("tanh", 1.0), ("sigmoid", 0.0), ("sigmoid", 1.0)])
def test_critical_weight_variance_puts_chi_1_at_one(activation, sb2):
    sw2 = critical_weight_variance(activation, sb2)
    phi, phi_prime = PHI[activation]
    q = mean_field(activation, sw2, sb2).q_star
    assert sw2 * gaussian_quad(lambda z: phi_prime(math.sqrt(q) * z) ** 2) == pytest.approx(1.0, rel=1e-9)
    assert mean_field(activation, sw2 * 0.99, sb2).phase == "ordered"
    assert mean_field(activation, sw2 * 1.01, sb2).phase == "chaotic"


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_moments_agree_with_adaptive_quadrature(activation):
    phi, phi_prime = PHI[activation]
    q = np.array([0.0, 0.01, 0.7, 1.0, 6.0, 400.0])
    m = moments(activation, q)
    for k, q_k in enumerate(q[1:], start=1):
        root = math.sqrt(q_k)
        assert m.mean[k] == pytest.approx(gaussian_quad(lambda z: phi(root * z)), rel=1e-9, abs=1e-15)
        assert m.second[k] == pytest.approx(gaussian_quad(lambda z: phi(root * z) ** 2), rel=1e-9)
        assert m.slope_second[k] == pytest.approx(gaussian_quad(lambda z: phi_prime(root * z) ** 2), rel=1e-9)
    assert m.second[0] == phi(0.0) ** 2


# --- the phase grid ----------------------------------------------------------------------------


def test_phase_grid_matches_mean_field_pointwise():
    weights, biases = np.linspace(0.2, 4.0, 12), np.linspace(0.0, 1.0, 7)
    grid = phase_grid("tanh", weights, biases)
    assert grid.log10_gradient_factor.shape == grid.depth_scale.shape == (7, 12)
    for i, j in [(0, 0), (0, 11), (3, 5), (6, 2), (6, 11)]:
        m = mean_field("tanh", weights[j], biases[i])
        assert grid.log10_gradient_factor[i, j] == pytest.approx(math.log10(m.gradient_factor), rel=1e-9, abs=1e-12)
        assert grid.depth_scale[i, j] == pytest.approx(m.depth_scale, rel=1e-6)


def test_phase_grid_changes_sign_at_the_critical_line():
    weights, biases = np.linspace(1.0, 3.0, 41), np.array([0.05, 0.3, 1.0])
    grid = phase_grid("tanh", weights, biases)
    for i, sb2 in enumerate(biases):
        critical = critical_weight_variance("tanh", sb2)
        assert np.all((grid.log10_gradient_factor[i] > 0) == (weights > critical))


def test_relu_phase_grid_is_closed_form():
    weights = np.array([0.5, 1.0, 2.0, 3.0])
    grid = phase_grid("relu", weights, [0.0, 0.5])
    assert np.array_equal(grid.log10_gradient_factor, np.tile(0.5 * np.log10(weights / 2), (2, 1)))


@pytest.mark.parametrize("call, match", [
    (lambda: mean_field("softplus", 1.0, 0.0), "activation"),
    (lambda: mean_field("tanh", 0.0, 0.0), "weight_variance"),
    (lambda: mean_field("tanh", 1.0, -0.1), "bias_variance"),
    (lambda: mean_field("tanh", float("nan"), 0.0), "weight_variance"),
    (lambda: mean_field("tanh", "one", 0.0), "weight_variance"),
    (lambda: mean_field("tanh", [1.0, 2.0], 0.0), "single number"),
    (lambda: mean_field("tanh", 2e4, 0.0), "10000"),
    (lambda: phase_grid("tanh", [[1.0]], [0.0]), "1-D"),
    (lambda: phase_grid("tanh", [], [0.0]), "weight_variances"),
    (lambda: critical_weight_variance("tanh", math.inf), "bias_variance"),
    (lambda: moments("tanh", [-1.0]), "q must"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- a wide random network ---------------------------------------------------------------------


WIDTH, DEPTH, SEEDS = 256, 20, 5


def measured_gradient_factor(activation: str, scheme: str, seed: int) -> float:
    """(‖∂C/∂b_3‖ / ‖∂C/∂b_{L−3}‖)^(1/(L−6)) for one input with z_1 of variance q*: layers away from
    both ends, where q_l sits at q* and the output layer is far."""
    sw2, sb2 = SCHEMES[scheme].variances(WIDTH, WIDTH)
    q_star = mean_field(activation, sw2, sb2).q_star
    q_in = q_star if 0.0 < q_star < math.inf else 1.0
    rng = np.random.default_rng(1000 + seed)
    x = rng.standard_normal((1, WIDTH)) * math.sqrt(max(q_in - sb2, 1e-3) / sw2)
    net = initialize([WIDTH] * (DEPTH + 1) + [10], scheme, seed=seed, activation=activation)
    log10_norms = np.asarray(gradviz.backprop(net, x, np.eye(10)[[seed % 10]], "cross_entropy").log10_bias_norms)
    first, last = 2, DEPTH - 4
    return 10.0 ** ((log10_norms[first] - log10_norms[last]) / (last - first))


@pytest.mark.parametrize("activation, scheme", [("tanh", "he"), ("relu", "nielsen")])
def test_wide_network_gradient_ratio_follows_the_gradient_factor(activation, scheme):
    predicted = mean_field(activation, *SCHEMES[scheme].variances(WIDTH, WIDTH)).gradient_factor
    measured = np.median([measured_gradient_factor(activation, scheme, seed) for seed in range(SEEDS)])
    assert measured == pytest.approx(predicted, rel=0.03)
