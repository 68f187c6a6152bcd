"""gradviz.experiments.chain: the article's chain of single neurons, analysed layer by layer.

The report reads every term of the article's product from the chain kernel (the layers' own local factors);
the central test multiplies the factors back together and checks they give backprop's gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradviz import ChainConfig, Remedies, analyze_chain, backprop
from gradviz.engine.activations import sigmoid, sigmoid_prime

pytestmark = pytest.mark.filterwarnings("error")

LOG10_25 = math.log10(25.0)


def config(case="vanishing", depth=4, activation="sigmoid", forget_bias=None, **kw) -> ChainConfig:
    return ChainConfig(case=case, depth=depth, remedies=Remedies(activation=activation, forget_bias=forget_bias), **kw)


@pytest.fixture(scope="module")
def exploding4():
    return analyze_chain(config("exploding"))


@pytest.fixture(scope="module")
def exploding10000():
    return analyze_chain(config("exploding", 10_000))


def test_exploding_depth_4_is_the_articles_construction(exploding4):
    r = exploding4
    assert r.depth == 4 and r.layer.tolist() == [1, 2, 3, 4]
    assert r.w.tolist() == [100.0] * 4
    assert r.b.tolist() == [-100.0, -50.0, -50.0, -50.0]  # b_j = −100·a_{j−1}, a_0 = 1, a_j = σ(0)
    assert r.z.tolist() == [0.0] * 4
    assert r.a.tolist() == [0.5] * 4
    # every factor w_j σ'(z_j) is exactly 100 · 1/4 = 25
    assert (r.factor_log10 == LOG10_25).all()
    assert (r.factor_sign == 1.0).all()
    assert (r.da_db_log10 == math.log10(0.25)).all()
    assert r.f is None and r.i is None and r.overflow_layer is None and not r.dead


def test_exploding_depth_4_gradients(exploding4):
    # ∂C/∂b_1 = σ'(0) · 25³ · (a_4 − y) = 0.25 · 15625 · 0.5 = 3906.25 · 0.5 = 1953.125
    r = exploding4
    assert r.grad_a_L == 0.5 and r.cost == 0.125
    assert r.grad_b_log10[0] == pytest.approx(math.log10(3906.25 * 0.5), abs=1e-12)
    assert r.log10_ratio_first_last == pytest.approx(math.log10(15625.0), abs=1e-12)
    assert r.grad_b_log10[0] - r.grad_b_log10[2] == pytest.approx(math.log10(625.0), abs=1e-12)  # ∂C/∂b_1 / ∂C/∂b_3
    expected = [math.log10(0.125 * 25.0 ** (4 - j)) for j in range(1, 5)]
    np.testing.assert_allclose(r.grad_b_log10, expected, rtol=0, atol=1e-12)
    assert (r.grad_b_sign == 1.0).all()


def test_the_frame_has_one_row_per_layer(exploding4):
    frame = exploding4.frame()
    assert frame.columns.tolist() == ["layer", "w", "b", "z", "a", "factor_log10", "factor_sign", "da_db_log10",
                                      "grad_b_log10", "grad_b_sign"]
    assert frame["layer"].tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(frame["grad_b_log10"], exploding4.grad_b_log10)
    gated = analyze_chain(config(forget_bias=2.0)).frame()
    assert {"f", "i"} <= set(gated.columns)


def test_exploding_depth_10000_holds_25_to_the_9999(exploding10000):
    # 0.125 · 25^9999 = 1.256 × 10^13977, far beyond float64
    r = exploding10000
    expected = 9999 * LOG10_25 + math.log10(0.125)
    assert f"{expected:.3f}" == "13977.099"
    assert r.grad_b_log10[0] == pytest.approx(expected, rel=0, abs=1e-9)
    assert r.log10_ratio_first_last == pytest.approx(9999 * LOG10_25, rel=0, abs=1e-9)
    assert np.isfinite(r.grad_b_log10).all()
    np.testing.assert_allclose(np.diff(r.grad_b_log10), -LOG10_25, rtol=0, atol=1e-10)


def test_vanishing_depth_10000_is_far_below_float64_and_finite():
    r = analyze_chain(config(depth=10_000))
    assert r.grad_b_log10[0] < -9000  # measured: −9977.27
    assert np.isfinite(r.grad_b_log10).all() and not r.dead


@pytest.mark.parametrize("activation, forget_bias, factor", [
    ("relu", None, 100.0),                                                # z* = 1, relu' = 1: factor w = 100
    ("tanh", None, 100.0),                                                # z* = 0, tanh' = 1
    ("sigmoid", 3.0, float(sigmoid(np.array(3.0))) + 0.5 * 100 * 0.25),  # f + i·w·σ'(0)
    ("relu", 3.0, float(sigmoid(np.array(3.0))) + 0.5 * 100 * 1.0),      # f + i·w·relu'(1) = 50.95
])
def test_exploding_variants_factors(activation, forget_bias, factor):
    r = analyze_chain(config("exploding", 5, activation, forget_bias))
    np.testing.assert_allclose(r.factor_log10, math.log10(factor), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(r.z, get_steepest(activation))


def get_steepest(activation):
    return {"sigmoid": 0.0, "tanh": 0.0, "relu": 1.0}[activation]


def test_gated_relu_exploding_chain_sits_at_z_1_with_factor_50_95():
    """The page's ReLU + gating toggles: every z_j = 1 (relu's steepest point), branch gain i·w·relu'(1) =
    0.5 × 100, factor f + 50 = 50.95 (not z = 0 and σ'(0) = 0.5 × 25)."""
    r = analyze_chain(config("exploding", 4, "relu", 3.0))
    assert r.z.tolist() == [1.0] * 4
    assert 10.0 ** r.factor_log10[0] == pytest.approx(50.95257412682243, rel=1e-14)


def _backprop_bias_signs(cfg: ChainConfig) -> np.ndarray:
    net, x = cfg.build()
    grads = backprop(net, x, np.array([[cfg.y]]), cost="quadratic")
    return np.array([float(s.sign().item()) for name, s in zip(grads.names, grads.scaled) if name == "b"])


def _check_product(r) -> None:
    """|∂C/∂b_j| = |∂a_j/∂b_j| · Π_{k>j} |factor_k| · |∂C/∂a_L|, in log10, for every layer j."""
    ln_a_L = math.log10(abs(r.grad_a_L)) if r.grad_a_L else -math.inf
    for j in range(r.depth):
        terms = [r.da_db_log10[j], *r.factor_log10[j + 1:], ln_a_L]
        if any(t == -math.inf for t in terms):
            assert r.grad_b_log10[j] == -math.inf, (j, r.grad_b_log10[j])
            continue
        assert r.grad_b_log10[j] == pytest.approx(math.fsum(terms), rel=1e-10, abs=1e-10), j
    # and the signs multiply the same way
    for j in range(r.depth):
        if np.isfinite(r.grad_b_log10[j]):
            sign = np.prod(r.factor_sign[j + 1:]) * np.sign(r.grad_a_L)  # ∂a_j/∂b_j > 0 (i > 0, act' ≥ 0)
            assert r.grad_b_sign[j] == sign, j


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(1, 60), activation=st.sampled_from(["sigmoid", "tanh", "relu"]),
       forget_bias=st.sampled_from([None, None, -1.0, 0.0, 3.0]), a0=st.floats(-3.0, 3.0), y=st.floats(-1.0, 1.0),
       case=st.sampled_from(["vanishing", "exploding"]))
def test_product_of_the_factors_equals_backprops_gradient(seed, depth, activation, forget_bias, a0, y, case):
    cfg = config(case, depth, activation, forget_bias, a0=a0, y=y, seed=seed)
    r = analyze_chain(cfg)
    _check_product(r)
    # the report's signs agree with backprop's own, where nonzero
    nonzero = np.isfinite(r.grad_b_log10)
    np.testing.assert_array_equal(r.grad_b_sign[nonzero], _backprop_bias_signs(cfg)[nonzero])


@pytest.mark.parametrize("activation, forget_bias", [("sigmoid", None), ("relu", None), ("sigmoid", 3.0), ("relu", 3.0)])
def test_product_holds_on_deep_vanishing_chains(activation, forget_bias):
    _check_product(analyze_chain(config(depth=400, activation=activation, forget_bias=forget_bias, seed=7)))


def test_gated_factor_formula_from_the_trace():
    # f_j + i_j w_j σ'(z_j) (the gate weights are 0, so their terms vanish), recomputed from the report's columns
    r = analyze_chain(config(depth=8, forget_bias=2.0, seed=3))
    expected = r.f + r.i * r.w * sigmoid_prime(r.z)
    np.testing.assert_allclose(10.0 ** r.factor_log10 * r.factor_sign, expected, rtol=1e-13)
    np.testing.assert_allclose(r.da_db_log10, np.log10(r.i * sigmoid_prime(r.z)), rtol=1e-13)
    np.testing.assert_allclose(r.f, float(sigmoid(np.array(2.0))), rtol=1e-15)
    np.testing.assert_allclose(r.i, 0.5, rtol=1e-15)


def test_plain_factor_formula_from_the_trace():
    r = analyze_chain(config(depth=30, seed=5))
    z = r.w * np.concatenate([[1.0], r.a[:-1]]) + r.b
    np.testing.assert_allclose(r.z, z, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(10.0 ** r.factor_log10 * r.factor_sign, r.w * sigmoid_prime(r.z), rtol=1e-13)


def test_ratio_by_depth_is_the_ratio_of_each_shorter_chain():
    """'Fewer layers': a deeper chain keeps a shallower one's layers, so its first L layers are the chain of
    depth L, and log10 |∂C/∂b_1| / |∂C/∂b_L| of that chain comes from the same factors."""
    for case in ("vanishing", "exploding"):
        deep = analyze_chain(config(case, 12, seed=4))
        by_depth = deep.log10_ratio_by_depth()
        assert by_depth.shape == (12,) and by_depth[0] == 0.0
        for L in (1, 2, 5, 12):
            assert by_depth[L - 1] == pytest.approx(analyze_chain(config(case, L, seed=4)).log10_ratio_first_last,
                                                    abs=1e-12)
    np.testing.assert_allclose(analyze_chain(config("exploding", 6)).log10_ratio_by_depth(), LOG10_25 * np.arange(6),
                               rtol=0, atol=1e-12)


def test_dead_relu_and_zero_residual_give_exact_zeros_not_nan():
    dead = analyze_chain(config(depth=4, activation="relu", seed=0))  # z_1 < 0: layer 1 is off
    assert dead.z[0] < 0
    assert dead.grad_b_log10[0] == -math.inf
    all_dead = analyze_chain(config(depth=50, activation="relu", seed=0))
    assert all_dead.dead and np.isneginf(all_dead.grad_b_log10).all()
    fitted = analyze_chain(config("exploding", 4, y=0.5))  # a_4 = y: ∂C/∂a_4 = 0
    assert fitted.grad_a_L == 0.0 and fitted.dead
    assert math.isnan(fitted.log10_ratio_first_last)  # 0/0: no ratio, and the report says so with NaN, not a number
    for r in (dead, all_dead, fitted):
        assert not np.isnan(r.grad_b_log10).any()


def test_a_forward_overflow_is_reported_at_its_layer():
    """?depth=5000&a0=2&relu=1&gating=1&forget_bias=10: in the gated ReLU chain a_j = f·a_{j−1} + ½·relu(z_j)
    with f = σ(10) ≈ 1 grows wherever w_j > 0 and overflows float64 at layer 4455 (seed 0). No gradient is
    computable past an infinite activation: the report names the layer, and nothing warns on the way."""
    r = analyze_chain(config(depth=5000, activation="relu", forget_bias=10.0, a0=2.0))
    assert r.overflow_layer == 4455
    assert np.isfinite(r.a[:4454]).all() and not np.isfinite(r.a[4454])


def test_analysis_is_deterministic_and_a_config_is_a_cache_key():
    a, b = config(depth=30, seed=9), config(depth=30, seed=9)
    assert a == b and hash(a) == hash(b) and a != config(depth=30, seed=10)
    ra, rb = analyze_chain(a), analyze_chain(b)
    for name in ("z", "a", "factor_log10", "da_db_log10", "grad_b_log10", "grad_b_sign"):
        np.testing.assert_array_equal(getattr(ra, name), getattr(rb, name))
    with pytest.raises(Exception):  # frozen
        a.depth = 5
