"""gradviz.chain and the chain's words (gradviz.explain): the article's product of factors, live.

The report takes |∂C/∂b_j| from backprop and the factors from the forward trace; the central test
here multiplies the factors back together and checks they give backprop's numbers.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradviz.activations import sigmoid
from gradviz.chain import ChainConfig, analyze_chain
from gradviz.explain import chain_rule_latex, chain_story
from gradviz.network import backprop

LOG10_25 = math.log10(25.0)
RAW_SPECIAL = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)


def assert_no_raw_special(text: str) -> None:
    assert not RAW_SPECIAL.search(text.replace("NaN", "")), text


@pytest.fixture(scope="module")
def exploding4():
    return analyze_chain(ChainConfig(case="exploding", depth=4))


@pytest.fixture(scope="module")
def exploding10000():
    return analyze_chain(ChainConfig(case="exploding", depth=10_000))


def test_exploding_depth_4_is_the_articles_construction(exploding4):
    layers = exploding4.layers
    assert layers["w"].tolist() == [100.0] * 4
    assert layers["b"].tolist() == [-100.0, -50.0, -50.0, -50.0]  # b_j = −100·a_{j−1}, a_0 = 1, a_j = σ(0)
    assert layers["z"].tolist() == [0.0] * 4
    assert layers["a"].tolist() == [0.5] * 4
    # every factor w_j σ'(z_j) is exactly 100 · 1/4 = 25
    assert (layers["factor_log10"] == LOG10_25).all()
    assert (layers["factor_sign"] == 1.0).all()
    np.testing.assert_allclose(layers["da_db_log10"], math.log10(0.25), rtol=0, atol=1e-15)


def test_exploding_depth_4_gradients(exploding4):
    # ∂C/∂b_1 = σ'(0) · 25³ · (a_4 − y) = 0.25 · 15625 · 0.5 = 3906.25 · 0.5 = 1953.125
    assert exploding4.grad_a_L == 0.5
    assert exploding4.log10_abs_grad_b1 == pytest.approx(math.log10(3906.25 * 0.5), abs=1e-12)
    assert exploding4.sign_grad_b1 == 1.0
    assert exploding4.log10_ratio_first_last == pytest.approx(math.log10(15625.0), abs=1e-12)
    expected = [math.log10(0.125 * 25.0 ** (4 - j)) for j in range(1, 5)]
    np.testing.assert_allclose(exploding4.layers["grad_b_log10"], expected, rtol=0, atol=1e-12)
    assert (exploding4.layers["grad_b_sign"] == 1.0).all()


def test_exploding_depth_4_latex_shows_the_articles_numbers(exploding4):
    latex = chain_rule_latex(exploding4)
    assert "0.25 \\times 25 \\times 25 \\times 25" in latex
    assert "3906.25" in latex
    assert "1953.125" in latex
    assert "0.5" in latex
    assert_no_raw_special(latex)
    story = chain_story(exploding4)
    assert "15625" in story and "25" in story
    assert_no_raw_special(story)


def test_exploding_depth_10000_latex_writes_the_power_of_ten(exploding10000):
    # 0.125 · 25^9999 = 1.256 × 10^13977, far beyond float64
    expected = 9999 * LOG10_25 + math.log10(0.125)
    assert exploding10000.log10_abs_grad_b1 == pytest.approx(expected, abs=1e-6)
    assert exploding10000.log10_ratio_first_last == pytest.approx(9999 * LOG10_25, abs=1e-6)
    latex = chain_rule_latex(exploding10000)
    assert r"1.26 \times 10^{13977}" in latex
    assert "9996" in latex  # the factors left out of the displayed product
    assert_no_raw_special(latex)
    story = chain_story(exploding10000)
    assert "10¹³⁹⁷⁸" in story  # 25^9999 = 9.96 × 10^13977, written 1.00 × 10¹³⁹⁷⁸
    assert_no_raw_special(story)


def test_vanishing_depth_10000_latex_writes_the_negative_power():
    report = analyze_chain(ChainConfig(depth=10_000))
    assert report.log10_abs_grad_b1 < -9000
    latex = chain_rule_latex(report)
    assert re.search(r"\\times 10\^\{-9\d{3}\}", latex), latex
    assert_no_raw_special(latex)
    assert_no_raw_special(chain_story(report))


@pytest.mark.parametrize("activation, forget_bias, factor", [
    ("relu", None, 100.0),                        # z* = 1, relu' = 1: factor w = 100
    ("sigmoid", 3.0, float(sigmoid(np.array(3.0))) + 0.5 * 100 * 0.25),  # f + i·w·σ'(0)
    ("relu", 3.0, float(sigmoid(np.array(3.0))) + 0.5 * 100 * 1.0),      # f + i·w·relu'(1)
])
def test_exploding_variants_factors(activation, forget_bias, factor):
    report = analyze_chain(ChainConfig(case="exploding", depth=5, activation=activation, forget_bias=forget_bias))
    np.testing.assert_allclose(report.layers["factor_log10"], math.log10(factor), rtol=0, atol=1e-12)


def _signed_grad_b(config: ChainConfig) -> list[float]:
    """sign of ∂C/∂b_j straight from backprop's log-space arrays (mantissa signs)."""
    net, x = config.build()
    grads = backprop(net, x, np.array([[config.y]]), cost="quadratic")
    return [float(np.sign(g.mantissa).item()) for name, g in zip(grads.names, grads.log_params) if name == "b"]


def _check_product(report) -> None:
    layers = report.layers
    ln_a_L = math.log10(abs(report.grad_a_L)) if report.grad_a_L else -math.inf
    da_db = layers["da_db_log10"].to_numpy()
    factor = layers["factor_log10"].to_numpy()
    grad_b = layers["grad_b_log10"].to_numpy()
    for j in range(len(layers)):
        # |∂C/∂b_j| = |∂a_j/∂b_j| · Π_{k>j} |factor_k| · |∂C/∂a_L|, in log10
        terms = [da_db[j], *factor[j + 1:], ln_a_L]
        if any(t == -math.inf for t in terms):
            assert grad_b[j] == -math.inf, (j, grad_b[j])
            continue
        product = math.fsum(terms)
        assert grad_b[j] == pytest.approx(product, rel=1e-10, abs=1e-10), j


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(1, 60),
       activation=st.sampled_from(["sigmoid", "tanh", "relu"]),
       forget_bias=st.sampled_from([None, None, -1.0, 0.0, 3.0]),
       a0=st.floats(-3.0, 3.0), y=st.floats(-1.0, 1.0))
def test_product_of_the_traced_factors_equals_backprops_gradient(seed, depth, activation, forget_bias, a0, y):
    config = ChainConfig(depth=depth, seed=seed, activation=activation, forget_bias=forget_bias, a0=a0, y=y)
    report = analyze_chain(config)
    _check_product(report)
    assert report.log10_abs_grad_b1 == report.layers["grad_b_log10"].iloc[0]
    # the report's signs (from the factors' signs) agree with backprop's own signs, where nonzero
    nonzero = np.isfinite(report.layers["grad_b_log10"].to_numpy())
    backprop_signs = np.array(_signed_grad_b(config))
    np.testing.assert_array_equal(report.layers["grad_b_sign"].to_numpy()[nonzero], backprop_signs[nonzero])
    assert_no_raw_special(chain_rule_latex(report))
    assert_no_raw_special(chain_story(report))


@pytest.mark.parametrize("activation, forget_bias", [("sigmoid", None), ("relu", None), ("sigmoid", 3.0),
                                                      ("relu", 3.0)])
def test_product_holds_on_deep_vanishing_chains(activation, forget_bias):
    report = analyze_chain(ChainConfig(depth=400, seed=7, activation=activation, forget_bias=forget_bias))
    _check_product(report)


def test_gated_factor_formula_from_the_trace():
    # f_j + i_j w_j σ'(z_j) (the gate weights are 0, so their terms vanish), recomputed from the trace's columns
    report = analyze_chain(ChainConfig(depth=8, seed=3, forget_bias=2.0))
    layers = report.layers
    s = sigmoid(layers["z"].to_numpy())
    expected = layers["f"] + layers["i"] * layers["w"] * s * (1 - s)
    np.testing.assert_allclose(10.0 ** layers["factor_log10"] * layers["factor_sign"], expected, rtol=1e-12)
    np.testing.assert_allclose(layers["f"], float(sigmoid(np.array(2.0))), rtol=1e-15)
    np.testing.assert_allclose(layers["i"], 0.5, rtol=1e-15)


def test_dead_relu_and_zero_residual_print_zero_not_nan():
    dead = analyze_chain(ChainConfig(depth=4, seed=0, activation="relu"))  # z_1 < 0: layer 1 is off
    assert dead.layers["z"].iloc[0] < 0
    assert dead.log10_abs_grad_b1 == -math.inf
    assert chain_rule_latex(dead).endswith(r"&= 0 \end{aligned}")
    fitted = analyze_chain(ChainConfig(case="exploding", depth=4, y=0.5))  # a_4 = y: ∂C/∂a_4 = 0
    assert fitted.grad_a_L == 0.0
    assert (fitted.layers["grad_b_log10"] == -math.inf).all()
    for report in (dead, fitted):
        assert_no_raw_special(chain_rule_latex(report))
        assert_no_raw_special(chain_story(report))


def test_gated_relu_exploding_story_describes_the_chain_actually_built():
    """The gated ReLU chain (app: ReLU + gating toggles) sits at z = 1 with branch gain
    i·w·relu'(1) = 0.5 × 100, factor f + 50 = 50.95; the story must not claim z = 0 and σ'(0) = 0.5 × 25."""
    report = analyze_chain(ChainConfig(case="exploding", depth=4, activation="relu", forget_bias=3.0))
    assert report.layers["z"].tolist() == [1.0] * 4
    story = chain_story(report)
    assert "50.95" in story
    assert "σ'(0) = 0.5 × 25" not in story, story
    assert "every z_j = 0" not in story, story


def test_tanh_exploding_story_does_not_claim_sigmoids_quarter():
    """tanh at z = 0 has slope 1, so each factor is 100 · 1 = 100, not '100 × 1/4'."""
    report = analyze_chain(ChainConfig(case="exploding", depth=4, activation="tanh"))
    np.testing.assert_allclose(report.layers["factor_log10"], 2.0, rtol=0, atol=1e-12)
    story = chain_story(report)
    assert "100 × 1/4 = 100" not in story, story
    assert "σ' peaks at 1/4" not in story, story
