"""Forward pass, backprop and log-space magnitudes of gradviz.network, against independent references."""

from __future__ import annotations

import math
import subprocess
import sys
import zlib
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

import gradviz
from gradviz import Gate, Network, backprop, forward, forward_trace, seed_exploding, seed_vanishing
from gradviz.activations import sigmoid_prime

from conftest import (central_difference, central_difference_one, complex_step_activation_grads, complex_step_step_grads, decimal_sigmoid_prime,
                      lift, ln_sigmoid_prime_ref, ref_cost, ref_forward, steps_of, tie)

# Any warning (numpy overflow/invalid/divide included) is a failure here, whatever the ini file says.
pytestmark = pytest.mark.filterwarnings("error")

LOG10_25 = math.log10(25.0)
EPS = np.finfo(float).eps


def as_gated(net):
    """The same width-1 chain with gates f = σ(−1000) = 0, i = σ(1000) = 1 (exactly, in float64): the
    forward pass is bit-identical, but backprop takes the general (gated, layer-by-layer) path
    instead of the width-1 chain kernel."""
    return Network(net.weights, net.biases, net.activation, (Gate.constant(1, -1000.0, 1000.0),) * len(net.weights),
                   net.unroll)


# =========================================================================================
# 1. Closed forms: the article's exploding and vanishing chains
# =========================================================================================


def test_exploding_chain_puts_every_z_at_zero_and_every_factor_at_25():
    net, x = seed_exploding(4)
    np.testing.assert_array_equal(x, [[1.0]])
    trace = forward_trace(net, x)
    assert len(trace) == 4
    for layer, w in zip(trace, net.weights):
        assert layer.z.shape == (1, 1)
        assert layer.z[0, 0] == 0.0
        assert layer.a[0, 0] == 0.5
        assert w[0, 0] * sigmoid_prime(layer.z)[0, 0] == 25.0


def test_exploding_chain_depth_4_gradients_exactly():
    net, x = seed_exploding(4)
    y = np.zeros((1, 1))
    g = backprop(net, x, y)
    a4 = forward_trace(net, x)[-1].a
    dC_da4 = (a4 - y)[0, 0]  # quadratic cost, one row
    assert dC_da4 == 0.5
    b = [v[0] for v in g.nabla_b]
    # ∂C/∂b_1 = σ'(z_1) · Π_{j=2..4} w_j σ'(z_j) · ∂C/∂a_4 = ¼ · 25³ · ∂C/∂a_4; all exactly representable.
    assert b[0] == 3906.25 * dC_da4, f"∂C/∂b_1 = {b[0]!r}, expected {3906.25 * dC_da4!r}"
    assert b[0] / b[2] == 625.0, f"∂C/∂b_1 / ∂C/∂b_3 = {b[0] / b[2]!r}"
    assert b == [1953.125, 78.125, 3.125, 0.125]


def test_exploding_chain_depth_4_gradients_to_rounding():
    # The same facts to a few ulps (the exact test above pins the bit-exact contract).
    net, x = seed_exploding(4)
    g = backprop(net, x, np.zeros((1, 1)))
    np.testing.assert_allclose([v[0] for v in g.nabla_b], [1953.125, 78.125, 3.125, 0.125], rtol=8 * EPS, atol=0)
    np.testing.assert_allclose([v[0, 0] for v in g.nabla_w], [1953.125, 39.0625, 1.5625, 0.0625], rtol=8 * EPS, atol=0)
    assert math.isclose(g.cost, 0.125, rel_tol=1e-15)
    np.testing.assert_allclose(g.log10_activation_grad_norms, np.log10(0.5) + LOG10_25 * np.arange(4, -1, -1), rtol=1e-14)


def test_exploding_ratio_is_25_to_the_depth_minus_1_exactly():
    mismatches = []
    for depth in range(1, 13):
        net, x = seed_exploding(depth)
        b = backprop(net, x, np.zeros((1, 1))).nabla_b
        ratio = b[0][0] / b[-1][0]
        if ratio != 25.0 ** (depth - 1) or b[-1][0] != 0.125:
            mismatches.append((depth, b[0][0], b[-1][0], ratio, 25.0 ** (depth - 1)))
    # 25^11 = 5^22 < 2^53 and 0.125·25^11 are exact in float64, so float backprop gives these bit for bit.
    assert not mismatches, "depth, ∂C/∂b_1, ∂C/∂b_L, ratio, 25^(L-1):\n" + "\n".join(map(repr, mismatches))


def test_two_parallel_exploding_chains_match_to_rounding():
    # W_j = 100·I (width 2), b_j = −100·a_{j−1}: two independent copies of the exploding chain. Each
    # unit's gradient is the width-1 chain's, ¼·25^(4−j)·½, and every one of those is a float64.
    # (This network takes backprop's general path, not the width-1 chain kernel.)
    net = Network([100.0 * np.eye(2)] * 4, [np.full(2, -100.0)] + [np.full(2, -50.0)] * 3, "sigmoid")
    g = backprop(net, np.ones((1, 2)), np.zeros((1, 2)))
    expected = [[1953.125] * 2, [78.125] * 2, [3.125] * 2, [0.125] * 2]
    np.testing.assert_allclose(np.array([v for v in g.nabla_b]), np.array(expected), rtol=1e-13)


@pytest.mark.parametrize("gated_as_plain", [False, True], ids=["chain", "stack"])
@pytest.mark.parametrize("depth", [1, 2, 5, 12, 40, 150])
def test_exploding_ratio_to_rounding(depth, gated_as_plain):
    net, x = seed_exploding(depth)
    if gated_as_plain:
        net = as_gated(net)
    b = backprop(net, x, np.zeros((1, 1))).nabla_b
    exact = Fraction(1, 8) * 25 ** (depth - 1)
    assert math.isclose(b[-1][0], 0.125, rel_tol=4 * EPS)
    # A log-space carry (e^(sum of logs)) costs about ulp(ln|g|) per layer, and the partial sums grow
    # with depth: O(L²·eps) in the worst case (measured with the log-space chain kernel: 8e-15 at
    # L = 12, 1.3e-12 at L = 150). This bounds both paths, whatever exactness the chain adds on top.
    assert math.isclose(b[0][0], float(exact), rel_tol=max(4, depth**2) * EPS)
    assert math.isclose(b[0][0] / b[-1][0], 25.0 ** (depth - 1), rel_tol=max(4, depth**2) * EPS)


@pytest.mark.parametrize("activation, z_star, factor", [("tanh", 0.0, 100.0), ("relu", 1.0, 100.0)])
def test_exploding_chain_other_activations(activation, z_star, factor):
    net, x = seed_exploding(6, activation=activation)
    for layer in forward_trace(net, x):
        assert layer.z[0, 0] == z_star
    b = backprop(net, x, np.full((1, 1), 2.0)).nabla_b  # a_L = tanh(0) = 0 or relu(1) = 1: y = 2 keeps ∂C/∂a_L ≠ 0
    assert all(v[0] != 0 for v in b)
    np.testing.assert_allclose([b[j][0] / b[j + 1][0] for j in range(5)], factor, rtol=1e-14)


def test_vanishing_chain_is_deterministic():
    net1, x1 = seed_vanishing(30, seed=11)
    net2, x2 = seed_vanishing(30, seed=11)
    np.testing.assert_array_equal(x1, [[1.0]])
    np.testing.assert_array_equal(x1, x2)
    for p, q in zip(net1.parameters(), net2.parameters(), strict=True):
        assert np.array_equal(p, q)
    g1, g2 = backprop(net1, x1, np.zeros((1, 1))), backprop(net2, x2, np.zeros((1, 1)))
    for p, q in zip(g1.params, g2.params, strict=True):
        assert np.array_equal(p, q)
    for name in ("log10_bias_norms", "log10_weight_norms", "log10_activation_grad_norms"):
        assert np.array_equal(getattr(g1, name), getattr(g2, name))
    assert g1.cost == g2.cost
    other, _ = seed_vanishing(30, seed=12)
    assert not np.array_equal(other.weights[0], net1.weights[0])


def test_vanishing_chain_deeper_keeps_the_first_layers():
    short, _ = seed_vanishing(5, seed=7)
    deep, _ = seed_vanishing(12, seed=7)
    assert short.depth == 5 and deep.depth == 12
    for j in range(5):
        assert np.array_equal(short.weights[j], deep.weights[j])
        assert np.array_equal(short.biases[j], deep.biases[j])
    # and the parameters are the article's N(0, 1) draws, row j = (w_j, b_j)
    draws = np.random.default_rng(7).standard_normal((12, 2))
    np.testing.assert_array_equal([w[0, 0] for w in deep.weights], draws[:, 0])
    np.testing.assert_array_equal([b[0] for b in deep.biases], draws[:, 1])


def test_vanishing_chain_usually_shrinks_the_gradient():
    # ∂C/∂b_1 / ∂C/∂b_3 = σ'(z_1) σ'(z_2) · w_2 w_3, and σ'σ' ≤ 1/16, so the ratio is below 1/16
    # whenever |w_2 w_3| < 1 (P ≈ 0.79 for two N(0, 1) weights; P(|w| < 1) ≈ 0.68 for one) and
    # often otherwise, since σ'(z) < 1/4 off z = 0. Measured over seeds 0..199: 0.915
    # (0.918 over 0..1999); the bound sits a bit below, and well above the |w_2 w_3| < 1 floor.
    hits = 0
    for seed in range(200):
        net, x = seed_vanishing(4, seed)
        b = backprop(net, x, np.zeros((1, 1))).nabla_b
        hits += abs(b[0][0]) < abs(b[2][0]) / 16
    assert hits / 200 >= 0.88


# =========================================================================================
# 2. Gradient checks on random networks (complex step and central differences)
# =========================================================================================

ARCHS = {
    # name: (sizes of a plain stack) or ("rnn", width, T)
    "sizes3-4-4-2": [3, 4, 4, 2],
    "width1-depth5": [1] * 6,
    "width5-depth3": [5] * 4,
    "width3-depth8": [3] * 9,
    "width1-depth8": [1] * 9,
    "rnn-width1-T1": ("rnn", 1, 1),
    "rnn-width1-T8": ("rnn", 1, 8),
    "rnn-width4-T5": ("rnn", 4, 5),
    "rnn-width3-T8": ("rnn", 3, 8),
}
GAINS = {"sigmoid": 3.0, "tanh": 1.3, "relu": 1.3}


def _valid(arch, activation, cost, gated):
    if cost == "cross_entropy" and isinstance(ARCHS[arch], tuple):
        # the single shared layer is the output layer: it must be a plain sigmoid
        return activation == "sigmoid" and not gated
    return True


CASES = [
    pytest.param(arch, activation, cost, gated, batch, id=f"{arch}-{activation}-{cost}-{'gated' if gated else 'plain'}-B{batch}")
    for arch in ARCHS
    for activation in ("sigmoid", "tanh", "relu")
    for cost in ("quadratic", "cross_entropy")
    for gated in (False, True)
    for batch in (1, 3)
    if _valid(arch, activation, cost, gated)
]


def _random_gate(rng, n):
    gate = Gate(rng.standard_normal((n, n)) / math.sqrt(n), rng.normal(1.0, 0.5, n),
                rng.standard_normal((n, n)) / math.sqrt(n), rng.standard_normal(n))
    assert np.all(gate.wf != 0) and np.all(gate.wi != 0)
    return gate


def _build(rng, arch, activation, cost, gated, batch):
    spec = ARCHS[arch]
    if isinstance(spec, tuple):
        _, n, T = spec
        shapes, unroll = [(n, n)], T
    else:
        shapes, unroll = list(zip(spec[1:], spec[:-1])), None
    n_layers = len(shapes)
    weights = [rng.standard_normal(s) * GAINS[activation] / math.sqrt(s[1]) for s in shapes]
    biases = [rng.normal(0.0, 0.5, s[0]) for s in shapes]
    if cost == "cross_entropy":
        names = (activation,) * (n_layers - 1) + ("sigmoid",)
    else:
        names = activation
    gates = None
    if gated:
        gates = tuple(_random_gate(rng, s[0]) if s[0] == s[1] and not (cost == "cross_entropy" and l == n_layers - 1)
                      else None for l, s in enumerate(shapes))
        assert any(g is not None for g in gates)
    net = Network(weights, biases, names, gates, unroll)
    x = rng.standard_normal((batch, net.sizes[0]))
    if cost == "cross_entropy":
        y = rng.uniform(0.05, 0.95, (batch, net.sizes[-1]))
    else:
        y = rng.normal(0.0, 0.5, (batch, net.sizes[-1]))
    return net, x, y


def _relu_ok(net, x):
    """Every z away from the kink (so ±h moves never cross it) and each layer alive in every row."""
    trace = ref_forward(lift(steps_of(net), 1), x)
    for step, layer in zip(steps_of(net), trace):
        z = layer["z"][0]
        if np.min(np.abs(z)) <= 1e-3:
            return False
        if step["act"] == "relu" and "wf" not in step["params"] and not np.all(np.any(z > 0, axis=1)):
            return False
    return True


def make_case(arch, activation, cost, gated, batch):
    seed = zlib.crc32(f"{arch}/{activation}/{cost}/{gated}/{batch}".encode())
    for attempt in range(1000):
        net, x, y = _build(np.random.default_rng([seed, attempt]), arch, activation, cost, gated, batch)
        if activation != "relu" or _relu_ok(net, x):
            return net, x, y
    raise AssertionError("no seed kept relu's z away from 0")


def _ln10_norm(array):
    norm = float(np.linalg.norm(array))
    return math.log10(norm) if norm > 0 else -math.inf


def _assert_log10_close(got, expected, tol, what):
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, what
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected), err_msg=what)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=tol, err_msg=what)


@pytest.mark.parametrize("arch, activation, cost, gated, batch", CASES)
def test_gradients_of_random_networks(arch, activation, cost, gated, batch):
    net, x, y = make_case(arch, activation, cost, gated, batch)
    g = backprop(net, x, y, cost)
    steps = steps_of(net)
    assert net.depth == len(steps)

    # forward pass against the reference
    ref_trace = ref_forward(lift(steps, 1), x)
    trace = forward_trace(net, x)
    assert len(trace) == len(ref_trace)
    for mine, theirs in zip(ref_trace, trace):
        for key in ("z", "a", "zf", "f", "zi", "i"):
            if key in mine:
                np.testing.assert_allclose(getattr(theirs, key), mine[key][0], rtol=1e-12, atol=1e-14, err_msg=key)
            else:
                assert getattr(theirs, key, None) is None
    np.testing.assert_array_equal(forward(net, x), trace[-1].a)

    # the cost
    assert math.isclose(g.cost, ref_cost(net, x, y, cost), rel_tol=1e-13, abs_tol=1e-15)

    # every parameter array: the complex-step reference (accurate to rounding)
    step_grads = complex_step_step_grads(steps, x, y, cost)
    expected = tie(step_grads, net)
    params = [np.asarray(p) for p in g.params]
    assert [p.shape for p in params] == [p.shape for p in net.parameters()]
    assert list(g.names) == [name for name, _ in net.named_parameters()]
    scale = max(float(np.max(np.abs(e))) for e in expected)
    assert scale > 0
    for k, (got, exp) in enumerate(zip(params, expected, strict=True)):
        np.testing.assert_allclose(got, exp, rtol=1e-9, atol=1e-13 * scale, err_msg=f"parameter array {k} ({g.names[k]})")
    for name, attr in (("w", "nabla_w"), ("b", "nabla_b")):
        picked = [e for e, n in zip(expected, g.names) if n == name]
        for got, exp in zip(getattr(g, attr), picked, strict=True):
            np.testing.assert_allclose(got, exp, rtol=1e-9, atol=1e-13 * scale)

    # ... and central differences (h = 1e-6): rounding in C(θ ± h) is ~1e-16·|C|, so the quotient
    # carries ~1e-10·|C| of noise (atol), and the O(h²) truncation sits below rtol.
    numeric = central_difference(net, x, y, cost, h=1e-6)
    atol = 1e-8 * (abs(g.cost) + scale)
    for k, (got, exp) in enumerate(zip(params, numeric, strict=True)):
        np.testing.assert_allclose(got, exp, rtol=1e-6, atol=atol, err_msg=f"parameter array {k} ({g.names[k]})")
        # one entry per array (its largest) moved through net.parameters() / net.with_parameters()
        idx = np.unravel_index(np.argmax(np.abs(exp)), exp.shape)
        one = central_difference_one(net, x, y, cost, k, idx, h=1e-6)
        assert math.isclose(one, exp[idx], rel_tol=1e-6, abs_tol=atol)
        assert math.isclose(got[idx], one, rel_tol=1e-6, abs_tol=atol)

    # per-layer magnitudes (for an unrolled net: each step's own share)
    assert g.log10_bias_norms.shape == (net.depth,)
    _assert_log10_close(g.log10_bias_norms, [_ln10_norm(s["b"]) for s in step_grads], 1e-9, "log10_bias_norms")
    _assert_log10_close(g.log10_weight_norms, [_ln10_norm(s["w"]) for s in step_grads], 1e-9, "log10_weight_norms")
    act_grads = complex_step_activation_grads(steps, x, y, cost)
    _assert_log10_close(g.log10_activation_grad_norms, [_ln10_norm(a) for a in act_grads], 1e-9,
                        "log10_activation_grad_norms")


def test_case_list_covers_the_brief():
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids))
    for needle in ("rnn-width3-T8-relu-quadratic-gated-B3", "width3-depth8-tanh-cross_entropy-gated-B1",
                   "rnn-width1-T8-sigmoid-cross_entropy-plain-B3", "sizes3-4-4-2-relu-quadratic-plain-B1"):
        assert needle in ids


def test_unrolled_network_equals_the_same_layer_stacked():
    rng = np.random.default_rng(5)
    n, T = 3, 6
    w, b, gate = rng.standard_normal((n, n)), rng.standard_normal(n), _random_gate(rng, n)
    rnn = Network([w], [b], "tanh", (gate,), unroll=T)
    stacked = Network([w] * T, [b] * T, "tanh", (gate,) * T)
    x, y = rng.standard_normal((2, n)), rng.standard_normal((2, n))
    assert rnn.depth == T and rnn.sizes == [n] * (T + 1)
    g_rnn, g_stack = backprop(rnn, x, y), backprop(stacked, x, y)
    for name in ("log10_bias_norms", "log10_weight_norms", "log10_activation_grad_norms"):
        np.testing.assert_allclose(getattr(g_rnn, name), getattr(g_stack, name), rtol=1e-13)
    assert g_rnn.cost == g_stack.cost
    for k in range(6):
        np.testing.assert_allclose(g_rnn.params[k], sum(g_stack.params[6 * t + k] for t in range(T)), rtol=1e-12, atol=1e-15)


def test_batch_gradient_is_the_mean_of_row_gradients():
    net, x, y = make_case("width5-depth3", "tanh", "quadratic", True, 3)
    whole = backprop(net, x, y)
    rows = [backprop(net, x[r], y[r]) for r in range(3)]
    for k, p in enumerate(whole.params):
        np.testing.assert_allclose(p, sum(r.params[k] for r in rows) / 3, rtol=1e-12, atol=1e-16)
    assert math.isclose(whole.cost, sum(r.cost for r in rows) / 3, rel_tol=1e-14)
    repeated = backprop(net, np.repeat(x[:1], 4, axis=0), np.repeat(y[:1], 4, axis=0))
    for p, q in zip(repeated.params, rows[0].params):
        np.testing.assert_allclose(p, q, rtol=1e-14, atol=0)
    np.testing.assert_allclose(repeated.log10_bias_norms, rows[0].log10_bias_norms, rtol=1e-14)


def test_with_parameters_round_trip():
    net, x, y = make_case("sizes3-4-4-2", "tanh", "quadratic", True, 3)
    again = net.with_parameters(net.parameters())
    assert again.sizes == net.sizes and again.unroll == net.unroll and again.activation == net.activation
    for p, q in zip(net.parameters(), again.parameters(), strict=True):
        assert np.array_equal(p, q)
    assert [p.shape for p in net.parameters()] == [(4, 3), (4,), (4, 4), (4,), (4, 4), (4,), (4, 4), (4,), (2, 4), (2,)]
    for p, q in zip(backprop(net, x, y).params, backprop(again, x, y).params):
        assert np.array_equal(p, q)
    moved = net.with_parameters([p + 1.0 for p in net.parameters()])
    assert np.array_equal(moved.weights[0], net.weights[0] + 1.0)
    assert np.array_equal(moved.gates[1].bi, net.gates[1].bi + 1.0)


def test_invalid_costs_and_outputs_are_value_errors():
    w, b = np.ones((2, 2)), np.zeros(2)
    x, y = np.ones((1, 2)), np.full((1, 2), 0.5)
    with pytest.raises(ValueError):
        backprop(Network([w], [b], "sigmoid"), x, y, "hinge")
    with pytest.raises(ValueError, match="sigmoid"):
        backprop(Network([w, w], [b, b], ("sigmoid", "tanh")), x, y, "cross_entropy")
    with pytest.raises(ValueError, match="sigmoid"):
        backprop(Network([w], [b], "sigmoid", (Gate.constant(2, 1.0),)), x, y, "cross_entropy")
    with pytest.raises(ValueError):
        Network([w, w], [b, b], "sigmoid", unroll=3)
    with pytest.raises(ValueError):
        Network([np.ones((2, 3))], [np.zeros(2)], "sigmoid", (Gate.constant(2, 1.0),))


# =========================================================================================
# 3. Log space: depth 10,000, saturation, NaN, no warnings
# =========================================================================================

# The width-1 chains take backprop's chain kernel; the same chains with pass-through gates
# (as_gated) take the general layer-by-layer path, which is slower, hence the smaller depth.
DEEP = {"chain": 10_000, "stack": 3_000}


def _decimal_log10(value) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 50
        return Decimal(value).log10()


@pytest.fixture(scope="module", params=["chain", "stack"])
def exploding_deep(request):
    net, x = seed_exploding(DEEP[request.param])
    if request.param == "stack":
        net = as_gated(net)
    return net, x, forward_trace(net, x), backprop(net, x, np.zeros((1, 1)))


@pytest.fixture(scope="module", params=["chain", "stack"])
def vanishing_deep(request):
    net, x = seed_vanishing(DEEP[request.param], seed=0)
    if request.param == "stack":
        net = as_gated(net)
    return net, x, forward_trace(net, x), backprop(net, x, np.zeros((1, 1)))


def test_exploding_deep_log10_magnitudes(exploding_deep):
    net, x, trace, g = exploding_deep
    L = net.depth
    assert all(layer.z[0, 0] == 0.0 for layer in trace)  # the chain is exact all the way down
    dC_daL = trace[-1].a[0, 0] - 0.0
    assert dC_daL == 0.5
    with localcontext() as ctx:
        ctx.prec = 50
        log10_25, log10_quarter, log10_half = _decimal_log10(25), _decimal_log10(Decimal("0.25")), _decimal_log10(Decimal("0.5"))
        # log10|∂C/∂b_j| = log10(1/4) + (L − j)·log10(25) + log10|∂C/∂a_L|
        bias_ref = {j: float(log10_quarter + (L - j) * log10_25 + log10_half) for j in (1, 2, 3, 100, L // 2, L - 221, L - 1, L)}
        # log10 ‖∂C/∂a_l‖ = log10|∂C/∂a_L| + (L − l)·log10(25), l = 0..L
        act_ref = np.array([float(log10_half + (L - l) * log10_25) for l in range(L + 1)])
    if L == 10_000:
        assert math.isclose(bias_ref[1], math.log10(0.25) + 9999 * LOG10_25 + math.log10(0.5), rel_tol=1e-13)
    for j, ref in bias_ref.items():
        assert math.isclose(g.log10_bias_norms[j - 1], ref, rel_tol=1e-12), (j, g.log10_bias_norms[j - 1], ref)
    # ∂C/∂w_j = ∂C/∂b_j · a_{j−1}: a_0 = 1, a_j = 1/2 after
    assert math.isclose(g.log10_weight_norms[0], bias_ref[1], rel_tol=1e-12)
    assert math.isclose(g.log10_weight_norms[L // 2 - 1], bias_ref[L // 2] + math.log10(0.5), rel_tol=1e-12)
    np.testing.assert_allclose(g.log10_activation_grad_norms, act_ref, rtol=1e-12)
    # whole curve: a straight line of slope −log10(25) per layer
    np.testing.assert_allclose(np.diff(g.log10_bias_norms), -LOG10_25, rtol=0, atol=1e-9)


def test_exploding_deep_float_gradients_overflow_to_inf_exactly_where_float64_ends(exploding_deep):
    net, x, trace, g = exploding_deep
    L = net.depth
    b = np.array([v[0] for v in g.nabla_b])
    assert not np.isnan(b).any()
    # 0.125·25^k ≤ max float64 (1.797e308) iff k ≤ 221: layer j = L − k.
    k_last = max(k for k in range(300) if math.log10(0.125) + k * LOG10_25 < math.log10(sys.float_info.max))
    assert k_last == 221
    assert np.isposinf(b[: L - k_last - 1]).all()
    finite = b[L - k_last - 1:]
    assert np.isfinite(finite).all()
    expected = np.array([float(Fraction(25**k, 8)) for k in range(k_last, -1, -1)])
    # near 1e308, ln|g| ≈ 709 and one ulp of it is 1.1e-13 relative: measured up to 3.1e-12 here
    np.testing.assert_allclose(finite, expected, rtol=1e-11)
    assert np.isposinf(g.nabla_w[0][0, 0]) and math.isclose(g.nabla_w[-1][0, 0], 0.0625, rel_tol=1e-14)


def _vanishing_reference(net, x, y):
    """By hand: my own forward pass, the per-layer factors and exact (Decimal) sums of their logs."""
    w = [float(v[0, 0]) for v in net.weights]
    b = [float(v[0]) for v in net.biases]
    a = [float(x[0, 0])]
    z = []
    for wj, bj in zip(w, b):
        zj = wj * a[-1] + bj
        z.append(zj)
        a.append(1.0 / (1.0 + math.exp(-zj)) if zj >= 0 else math.exp(zj) / (1.0 + math.exp(zj)))
    L = len(w)
    ln10 = math.log(10.0)
    with localcontext() as ctx:
        ctx.prec = 50
        total = Decimal(math.log10(abs(a[L] - y)))  # log10|∂C/∂a_L|
        act = [None] * (L + 1)
        bias = [None] * L
        act[L] = float(total)
        for j in range(L, 0, -1):  # layer j (1-based)
            total += Decimal(ln_sigmoid_prime_ref(z[j - 1]) / ln10)
            bias[j - 1] = float(total)  # log10|∂C/∂b_j| = log10|∂C/∂a_L| + Σ_{k≥j} log10 σ'(z_k) + Σ_{k>j} log10|w_k|
            total += Decimal(math.log10(abs(w[j - 1])))
            act[j - 1] = float(total)
    weight = [bias[j] + math.log10(abs(a[j])) for j in range(L)]
    return np.array(z), np.array(bias), np.array(weight), np.array(act)


def test_vanishing_deep_every_layer_against_a_hand_computed_product(vanishing_deep):
    net, x, trace, g = vanishing_deep
    z, bias_ref, weight_ref, act_ref = _vanishing_reference(net, x, 0.0)
    np.testing.assert_allclose(np.concatenate([layer.z[0] for layer in trace]), z, rtol=1e-12, atol=1e-13)
    assert bias_ref[0] < -2000  # it does vanish, far below float64's 1e-308
    assert np.isfinite(g.log10_bias_norms).all()
    np.testing.assert_allclose(g.log10_bias_norms, bias_ref, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(g.log10_weight_norms, weight_ref, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(g.log10_activation_grad_norms, act_ref, rtol=1e-12, atol=1e-11)
    b = np.array([v[0] for v in g.nabla_b])
    assert not np.isnan(b).any()
    representable = bias_ref > -300
    assert representable.sum() > 10 and (~representable).sum() > 2000
    np.testing.assert_allclose(np.log10(np.abs(b[representable])), bias_ref[representable], rtol=0, atol=1e-11)
    assert np.all(np.abs(b[bias_ref < -330]) == 0.0)


def _saturated_chain(z1):
    """x = 1 → layer 1 (w = 1, b = z1 − 1) → z_1 = z1; layer 2 (w = 1, b = −1) → z_2 = σ(z1) − 1."""
    return Network([[[1.0]], [[1.0]]], [[z1 - 1.0], [-1.0]], "sigmoid"), np.array([[1.0]])


@pytest.mark.parametrize("z1", [40.0, 100.0, 1000.0, -40.0, -1000.0])
def test_saturated_neuron_keeps_its_true_log_magnitude(z1):
    net, x = _saturated_chain(z1)
    y = np.zeros((1, 1))
    g = backprop(net, x, y)
    # my own forward pass
    a1 = 1.0 / (1.0 + math.exp(-z1)) if z1 >= 0 else math.exp(z1) / (1.0 + math.exp(z1))
    z2 = a1 - 1.0
    a2 = 1.0 / (1.0 + math.exp(-z2))
    assert forward_trace(net, x)[0].z[0, 0] == z1
    with localcontext() as ctx:
        ctx.prec = 60
        # ∂C/∂b_1 = (a_2 − y) · σ'(z_2) · w_2 · σ'(z_1)
        delta1 = Decimal(a2) * decimal_sigmoid_prime(z2) * decimal_sigmoid_prime(z1)
        ref = float(delta1.log10())
        ref_x = ref  # ∂C/∂x = w_1 ∂C/∂b_1 = ∂C/∂b_1
        ref_b2 = float((Decimal(a2) * decimal_sigmoid_prime(z2)).log10())
    if z1 == 40:
        assert abs(ref - (math.log10(a2 * 0.25) - 17.371779)) < 1e-3  # σ'(40) ≈ 4.2e-18 → log10 ≈ −17.37
    assert math.isfinite(g.log10_bias_norms[0])
    assert math.isclose(g.log10_bias_norms[0], ref, rel_tol=1e-13)
    assert math.isclose(g.log10_weight_norms[0], ref, rel_tol=1e-13)
    assert math.isclose(g.log10_activation_grad_norms[0], ref_x, rel_tol=1e-13)
    assert math.isclose(g.log10_bias_norms[1], ref_b2, rel_tol=1e-13)
    # the float gradient: exact where float64 holds it, else it underflows gracefully to 0
    nabla = g.nabla_b[0][0]
    assert not math.isnan(nabla)
    if ref > -300:
        assert math.isclose(nabla, 10.0 ** ref, rel_tol=1e-12)
    else:
        assert nabla == 0.0


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
@pytest.mark.parametrize("z", [30.0, 40.0, 100.0])
def test_saturated_sigmoid_output_with_target_one(z, cost):
    # One sigmoid layer, y = 1, z = 40: a_L = σ(40) rounds to 1.0, but 1 − a_L = σ(−z) ≈ 4.25e-18,
    # the costs and ∂C/∂b are ordinary floats:
    #   quadratic      C = ½σ(−z)²,          ∂C/∂b = (a − 1)·σ'(z) = −σ(−z)·σ'(z)
    #   cross-entropy  C = ln(1 + e^-z),     ∂C/∂b = a − 1 = −σ(−z)
    net = Network([[[1.0]]], [[z - 1.0]], "sigmoid")
    g = backprop(net, [[1.0]], [[1.0]], cost)
    with localcontext() as ctx:
        ctx.prec = 60
        e = Decimal(-z).exp()
        s_minus = e / (1 + e)  # σ(−z)
        if cost == "quadratic":
            true_cost, true_grad = s_minus * s_minus / 2, -s_minus * decimal_sigmoid_prime(z)
        else:
            true_cost, true_grad = (1 + e).ln(), -s_minus
        true_cost, true_grad = float(true_cost), float(true_grad)
    assert math.isclose(g.nabla_b[0][0], true_grad, rel_tol=1e-12), (g.nabla_b[0][0], true_grad)
    assert math.isclose(g.log10_bias_norms[0], math.log10(-true_grad), rel_tol=1e-13)
    assert math.isclose(g.cost, true_cost, rel_tol=1e-12), (g.cost, true_cost)


def test_chain_with_a_subnormal_intermediate_gradient():
    # Every z_j = 0 (b_j = −w_j·a_{j−1}, all exact), so each factor w_j σ'(z_j) is w_j/4. Going back from
    # the output, ∂C/∂a_l passes through ½·¼·(1e-40)² ≈ 1e-81 in the first chain (harmless) and through
    # ½·¼·(1e-160)² ≈ 1e-321 in the second, a subnormal float with ~3 significant digits, before the
    # 1e100 factors lift it back to ~1e-222. The exact answer is a product of the (float) factors; a
    # log-space carry gets it to rounding, a plain float product through the subnormal does not.
    for ws in ([4e25, 4e25, 4e-40, 4e-40, 1.0], [4e100, 4e100, 4e-160, 4e-160, 1.0]):
        a, biases = 1.0, []
        for w in ws:
            biases.append([-w * a])
            a = 0.5
        net = Network([[[w]] for w in ws], biases, "sigmoid")
        assert all(layer.z[0, 0] == 0.0 for layer in forward_trace(net, [[1.0]]))
        exact = Fraction(1, 2) * Fraction(1, 4)  # ∂C/∂a_5 · σ'(z_1)
        for w in ws[1:]:
            exact *= Fraction(w) / 4
        for candidate in (net, as_gated(net)):
            g = backprop(candidate, [[1.0]], [[0.0]])
            assert math.isclose(g.nabla_b[0][0], float(exact), rel_tol=1e-12), (ws, g.nabla_b[0][0], float(exact))
            log10_exact = math.log10(exact.numerator) - math.log10(exact.denominator)
            assert math.isclose(g.log10_bias_norms[0], log10_exact, rel_tol=1e-14), (ws, g.log10_bias_norms[0])


def test_backprop_raises_no_floating_point_errors_on_extreme_networks():
    # numpy would raise FloatingPointError for any overflow/divide/invalid outside gradviz's own errstate.
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 3))
    cases = [
        (*seed_exploding(300), np.zeros((1, 1)), "quadratic"),             # floats overflow to inf
        (*seed_vanishing(2000, 1), np.zeros((1, 1)), "quadratic"),         # floats underflow to 0
        (*_saturated_chain(1000.0), np.zeros((1, 1)), "quadratic"),
        (Network([w * 1e3, w * 1e3], [np.zeros(3)] * 2, ("tanh", "sigmoid")), rng.standard_normal((2, 3)),
         np.full((2, 3), 0.5), "cross_entropy"),                            # saturated sigmoid output
        (Network([w], [np.full(3, -10.0)], "relu", (Gate.constant(3, 2.0),), unroll=5), rng.standard_normal((2, 3)),
         np.ones((2, 3)), "quadratic"),                                     # dead relu inside gates
        (*seed_exploding(50, forget_bias=3.0), np.zeros((1, 1)), "quadratic"),
    ]
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        for net, x, y, cost in cases:
            g = backprop(net, x, y, cost)
            for arr in (*g.params, *g.nabla_w, *g.nabla_b, g.log10_bias_norms, g.log10_weight_norms,
                        g.log10_activation_grad_norms):
                assert not np.isnan(arr).any()
            assert math.isfinite(g.cost)


def test_dead_relu_network_gives_zero_gradients_and_minus_inf_logs():
    net = Network([np.ones((2, 2)), np.ones((2, 2))], [np.full(2, -10.0), np.full(2, -10.0)], "relu")
    x, y = np.ones((1, 2)), np.ones((1, 2))
    g = backprop(net, x, y)
    for p in g.params:
        assert np.array_equal(p, np.zeros_like(p))
    assert np.isneginf(g.log10_bias_norms).all() and np.isneginf(g.log10_weight_norms).all()
    # ∂C/∂a_2 = a_2 − y = −1 per unit is still there; nothing passes the dead layer below it.
    assert math.isclose(g.log10_activation_grad_norms[2], math.log10(math.sqrt(2.0)), rel_tol=1e-14)
    assert np.isneginf(g.log10_activation_grad_norms[:2]).all()
    assert g.cost == 1.0


def test_exact_fit_gives_zero_gradients():
    net, x = seed_exploding(5)
    g = backprop(net, x, [[0.5]])  # a_L = 1/2 exactly
    assert g.cost == 0.0
    for p in g.params:
        assert np.array_equal(p, np.zeros_like(p))
    assert np.isneginf(g.log10_bias_norms).all() and np.isneginf(g.log10_activation_grad_norms).all()


@pytest.mark.parametrize("where", ["weight", "gate", "input"])
def test_nan_propagates_to_the_log_norms_without_an_exception(where):
    rng = np.random.default_rng(9)
    weights = [rng.standard_normal((3, 3)) for _ in range(3)]
    gates = (None, _random_gate(rng, 3), None)
    x = rng.standard_normal((2, 3))
    if where == "weight":
        weights[1][0, 2] = np.nan
    elif where == "gate":
        gates = (None, Gate(np.full((3, 3), np.nan), np.zeros(3), np.eye(3), np.zeros(3)), None)
    else:
        x[1, 0] = np.nan
    net = Network(weights, [np.zeros(3)] * 3, "tanh", gates)
    g = backprop(net, x, np.zeros((2, 3)))
    assert math.isnan(g.cost)
    assert np.isnan(g.log10_bias_norms).all()
    assert np.isnan(g.log10_weight_norms).all()
    assert np.isnan(g.log10_activation_grad_norms).all()
    assert all(np.isnan(p).any() for p in g.params)


# =========================================================================================
# 4. Layering: the library never loads Streamlit
# =========================================================================================


def test_importing_gradviz_and_every_submodule_does_not_load_streamlit():
    script = (
        "import importlib, pkgutil, sys\n"
        "import gradviz\n"
        "assert 'streamlit' not in sys.modules, 'import gradviz loaded streamlit'\n"
        "names = [m.name for m in pkgutil.walk_packages(gradviz.__path__, 'gradviz.')]\n"
        "assert 'gradviz.network' in names and 'gradviz.activations' in names, names\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "    assert 'streamlit' not in sys.modules, name + ' loaded streamlit'\n"
        "print(len(names))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 5


# --- the two paths of backprop for plain stacks agree ---------------------------------------------------------


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("sizes", [[3, 4, 4, 2], [6, 5, 5, 5, 3], [2, 7, 2]])
def test_plain_float_path_agrees_with_the_log_space_path(sizes, activation, cost):
    from gradviz.network import _plain_backprop, _stack_backprop

    rng = np.random.default_rng(len(sizes) * 7 + len(activation))
    weights = [rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(n) for n in sizes[1:]]
    net = Network(weights, biases, (activation,) * (len(sizes) - 2) + ("sigmoid",))
    x, y = rng.standard_normal((4, sizes[0])), rng.uniform(0, 1, (4, sizes[-1]))
    trace = forward_trace(net, x)
    plain = _plain_backprop(net, trace, x, y, cost)
    logged = _stack_backprop(net, trace, x, y, cost)
    assert plain is not None
    for p, q in zip(plain.params, logged.params):
        np.testing.assert_allclose(p, q, rtol=1e-11, atol=1e-300)
    for field in ("log10_bias_norms", "log10_weight_norms", "log10_activation_grad_norms"):
        np.testing.assert_allclose(getattr(plain, field), getattr(logged, field), rtol=1e-11, atol=1e-12)
    assert plain.cost == pytest.approx(logged.cost, rel=1e-14)


def test_plain_float_path_declines_where_a_slope_underflows():
    from gradviz.network import _plain_backprop

    # z_1 = 2000: σ'(z_1) = e^-2000 underflows to 0 in float64, so only the log-space path is exact
    net = Network([np.array([[1.0]]), np.array([[1.0], [2.0]])], [np.array([1999.0]), np.array([0.0, 0.0])],
                  "sigmoid")
    x, y = np.ones((1, 1)), np.zeros((1, 2))
    assert _plain_backprop(net, forward_trace(net, x), x, y, "quadratic") is None
    assert np.isfinite(backprop(net, x, y).log10_bias_norms).all()


@pytest.mark.parametrize("unroll", [False, True], ids=["layers", "unrolled"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("depth", [1, 3, 7])
def test_width_one_chain_kernel_agrees_with_the_layer_loop(depth, activation, unroll):
    """The chain kernel (cumulative sums of logs) against the general layer-by-layer loop, gated layers mixed in."""
    from gradviz.network import _chain_backprop, _stack_backprop

    rng = np.random.default_rng(depth * 10 + len(activation))

    def gate():
        return Gate(rng.standard_normal((1, 1)), rng.standard_normal(1), rng.standard_normal((1, 1)), rng.standard_normal(1))

    if unroll:
        net = Network([rng.standard_normal((1, 1))], [rng.standard_normal(1)], activation, (gate(),), unroll=depth)
    else:
        gates = tuple(gate() if k % 3 != 1 else None for k in range(depth))
        net = Network([rng.standard_normal((1, 1)) for _ in range(depth)], [rng.standard_normal(1) for _ in range(depth)],
                      activation, gates)
    x, y = rng.standard_normal((4, 1)), rng.uniform(0, 1, (4, 1))
    kernel = _chain_backprop(net, x, y, "quadratic")
    loop = _stack_backprop(net, forward_trace(net, x), x, y, "quadratic")
    for p, q in zip(kernel.params, loop.params):
        np.testing.assert_allclose(p, q, rtol=1e-9, atol=1e-300)
    for field in ("log10_bias_norms", "log10_weight_norms", "log10_activation_grad_norms"):
        np.testing.assert_allclose(getattr(kernel, field), getattr(loop, field), rtol=1e-9, atol=1e-11)
    assert kernel.cost == pytest.approx(loop.cost, rel=1e-12)
