"""The engine (gradviz.engine): forward pass, backprop (the layer loop and the width-1 chain kernel) and the
scaled magnitudes, against independent references: the article's closed forms, exact fractions, 50-digit
decimals, complex-step and central-difference derivatives, and a plain numpy backprop."""

from __future__ import annotations

import math
import subprocess
import sys
import zlib
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

from gradviz import Gate, Network, backprop, exploding_chain, forward, forward_trace, vanishing_chain
from gradviz.engine.backprop import chain_backprop, gradients_of
from gradviz.datasets import mnist_1k
from gradviz.engine.activations import sigmoid_prime

from conftest import (central_difference, central_difference_one, complex_step_activation_grads,
                      complex_step_step_grads, decimal_sigmoid_prime, exact, float_product_without_range, lift,
                      ln_sigmoid_prime_ref, plain_backprop, ref_cost, ref_forward, steps_of, tie)

# Any warning (numpy overflow/invalid/divide included) is a failure here, whatever the ini file says.
pytestmark = pytest.mark.filterwarnings("error")

LOG10_25 = math.log10(25.0)
EPS = np.finfo(float).eps
BOTH_PATHS = pytest.mark.parametrize("path", ["kernel", "loop"])


def backprop_on(path: str, net: Network, x, y, cost="quadratic"):
    """backprop through the width-1 chain kernel ("kernel", where the network is a width-1 stack) or through the
    general layer loop ("loop") for the same network."""
    return gradients_of(net, x, y, cost, kernel=path == "kernel")


def bias_values(g) -> list[float]:
    return [float(v[0]) for v in g.nabla_b]


# =========================================================================================
# 1. Closed forms: the article's exploding and vanishing chains
# =========================================================================================


def test_exploding_chain_puts_every_z_at_zero_and_every_factor_at_25():
    net, x = exploding_chain(4)
    assert net.chain_runs is not None  # a width-1 stack: backprop takes the chain kernel
    np.testing.assert_array_equal(x, [[1.0]])
    trace = forward_trace(net, x)
    assert len(trace) == 4
    for layer, w in zip(trace, net.weights):
        assert layer.z.shape == (1, 1)
        assert layer.z[0, 0] == 0.0
        assert layer.a[0, 0] == 0.5
        assert sigmoid_prime(layer.z)[0, 0] == 0.25
        assert w[0, 0] * sigmoid_prime(layer.z)[0, 0] == 25.0


@BOTH_PATHS
def test_exploding_chain_depth_4_gradients_exactly(path):
    net, x = exploding_chain(4)
    g = backprop_on(path, net, x, np.zeros((1, 1)))
    dC_da4 = forward(net, x)[0, 0] - 0.0  # quadratic cost, one row
    assert dC_da4 == 0.5
    b = bias_values(g)
    # ∂C/∂b_1 = σ'(z_1) · Π_{j=2..4} w_j σ'(z_j) · ∂C/∂a_4 = ¼ · 25³ · ∂C/∂a_4; all exactly representable.
    assert b[0] == 3906.25 * dC_da4, f"∂C/∂b_1 = {b[0]!r}, expected {3906.25 * dC_da4!r}"
    assert b[0] / b[2] == 625.0, f"∂C/∂b_1 / ∂C/∂b_3 = {b[0] / b[2]!r}"
    assert b == [1953.125, 78.125, 3.125, 0.125]
    # ∂C/∂w_j = ∂C/∂b_j · a_{j−1} with a_0 = 1, a_j = ½
    assert [float(v[0, 0]) for v in g.nabla_w] == [1953.125, 39.0625, 1.5625, 0.0625]
    assert g.cost == 0.125
    np.testing.assert_allclose(g.log10_activation_grad_norms, np.log10(0.5) + LOG10_25 * np.arange(4, -1, -1),
                               rtol=1e-14)


@BOTH_PATHS
def test_exploding_ratio_is_25_to_the_depth_minus_1_exactly(path):
    mismatches = []
    for depth in range(1, 13):
        net, x = exploding_chain(depth)
        b = backprop_on(path, net, x, np.zeros((1, 1))).nabla_b
        ratio = b[0][0] / b[-1][0]
        if ratio != 25.0 ** (depth - 1) or b[-1][0] != 0.125:
            mismatches.append((depth, b[0][0], b[-1][0], ratio, 25.0 ** (depth - 1)))
    # 25^11 = 5^22 < 2^53 and 0.125·25^11 are exact in float64, so the gradients are these bit for bit.
    assert not mismatches, "depth, ∂C/∂b_1, ∂C/∂b_L, ratio, 25^(L-1):\n" + "\n".join(map(repr, mismatches))


@BOTH_PATHS
@pytest.mark.parametrize("depth", [13, 40, 150, 300, 2000])
def test_exploding_chain_is_the_float_product_bit_for_bit_at_any_depth(depth, path):
    """Past 25^11 the product rounds; each ∂C/∂b_j is the plain float product 0.125·100·¼·100·¼…, in the order
    backprop takes it, bit for bit, also where float64's range ends (0.125·25^299 ≈ 10^417): the mantissas are
    rescaled by powers of two only, which never changes a rounding."""
    net, x = exploding_chain(depth)
    g = backprop_on(path, net, x, np.zeros((1, 1)))
    for j in sorted({1, 2, depth // 2, depth - 1, depth} - {0}):
        m, e = float_product_without_range([0.125] + [100.0, 0.25] * (depth - j))
        s = g.scaled[2 * (j - 1) + 1]
        assert exact(s.mantissa.item(), np.asarray(s.exponent).item()) == exact(m, e), (depth, j)
    # and to rounding of the exact 0.125·25^(L−1): ~√L·eps relative, far inside L·eps
    s = g.scaled[1]
    got = exact(s.mantissa.item(), np.asarray(s.exponent).item())
    truth = Fraction(1, 8) * 25 ** (depth - 1)
    assert abs(float((got - truth) / truth)) <= depth * EPS


def test_kernel_and_loop_agree_bit_for_bit_on_the_exploding_chain():
    net, x = exploding_chain(1000)
    kernel, loop = backprop(net, x, np.zeros((1, 1))), backprop_on("loop", net, x, np.zeros((1, 1)))
    assert kernel.names == loop.names
    for p, q in zip(kernel.scaled, loop.scaled, strict=True):
        assert exact(p.mantissa.item(), np.asarray(p.exponent).item()) == exact(q.mantissa.item(),
                                                                                  np.asarray(q.exponent).item())
    for p, q in zip(kernel.params, loop.params, strict=True):
        np.testing.assert_array_equal(p, q)
    assert kernel.cost == loop.cost


def test_two_parallel_exploding_chains_match_exactly():
    # W_j = 100·I (width 2), b_j = −100·a_{j−1}: two independent copies of the exploding chain, on the general
    # loop (width 2). Each unit's gradient is the width-1 chain's, ¼·25^(4−j)·½, every one a float64.
    net = Network([100.0 * np.eye(2)] * 4, [np.full(2, -100.0)] + [np.full(2, -50.0)] * 3, "sigmoid")
    assert net.chain_runs is None
    g = backprop(net, np.ones((1, 2)), np.zeros((1, 2)))
    np.testing.assert_array_equal(np.array(g.nabla_b), [[1953.125] * 2, [78.125] * 2, [3.125] * 2, [0.125] * 2])


@pytest.mark.parametrize("activation, z_star, factor", [("tanh", 0.0, 100.0), ("relu", 1.0, 100.0)])
def test_exploding_chain_other_activations(activation, z_star, factor):
    net, x = exploding_chain(6, activation=activation)
    for layer in forward_trace(net, x):
        assert layer.z[0, 0] == z_star
    b = backprop(net, x, np.full((1, 1), 2.0)).nabla_b  # a_L = tanh(0) = 0 or relu(1) = 1: y = 2 keeps ∂C/∂a_L ≠ 0
    assert all(v[0] != 0 for v in b)
    np.testing.assert_allclose([b[j][0] / b[j + 1][0] for j in range(5)], factor, rtol=1e-14)


def test_vanishing_chain_is_deterministic():
    net1, x1 = vanishing_chain(30, seed=11)
    net2, x2 = vanishing_chain(30, seed=11)
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
    other, _ = vanishing_chain(30, seed=12)
    assert not np.array_equal(other.weights[0], net1.weights[0])


def test_vanishing_chain_deeper_keeps_the_first_layers():
    short, _ = vanishing_chain(5, seed=7)
    deep, _ = vanishing_chain(12, seed=7)
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
        net, x = vanishing_chain(4, seed)
        b = backprop(net, x, np.zeros((1, 1))).nabla_b
        hits += abs(b[0][0]) < abs(b[2][0]) / 16
    assert hits / 200 >= 0.88


# =========================================================================================
# 2. Plain float64 where it holds: the scaled mantissas are the plain computation, bit for bit
# =========================================================================================


@pytest.fixture(scope="module")
def nielsen_batch():
    """Nielsen's [784, 30, 30, 30, 30, 10] (weights N(0, 1/n_in), biases N(0, 1)) on the 1,000 shipped digits."""
    x, y = mnist_1k()
    sizes = [784, 30, 30, 30, 30, 10]
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((n_out, n_in)) / math.sqrt(n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(n) for n in sizes[1:]]
    return Network(weights, biases, "sigmoid"), weights, biases, x, y


@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
def test_nielsens_batch_gradients_are_the_plain_numpy_backprop_bit_for_bit(nielsen_batch, cost):
    net, weights, biases, x, y = nielsen_batch
    g = backprop(net, x, y, cost)
    nabla_w, nabla_b = plain_backprop(weights, biases, x, y, cost)
    assert all(np.asarray(s.exponent).max() == 0 for s in g.scaled)  # nothing needed rescaling
    for got, want in zip(g.nabla_w, nabla_w, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(g.nabla_b, nabla_b, strict=True):
        np.testing.assert_array_equal(got, want)
    # the learning speeds are the norms of those arrays
    np.testing.assert_allclose(g.log10_bias_norms, [math.log10(np.linalg.norm(b)) for b in nabla_b], rtol=1e-14)


# =========================================================================================
# 3. Gradient checks on random networks (complex step and central differences)
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
    pytest.param(arch, activation, cost, gated, batch,
                 id=f"{arch}-{activation}-{cost}-{'gated' if gated else 'plain'}-B{batch}")
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
    # width-1 stacks take the chain kernel; the rest the layer loop
    assert (net.chain_runs is not None) == (ARCHS[arch] in ([1] * 6, [1] * 9, ("rnn", 1, 1), ("rnn", 1, 8)))
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
    # ... and the global norm: √(Σ every entry²)
    assert math.isclose(g.ln_norm, math.log(math.sqrt(math.fsum(float(np.sum(e * e)) for e in expected))),
                        rel_tol=1e-9, abs_tol=1e-9)


def test_case_list_covers_the_brief():
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids))
    for needle in ("rnn-width3-T8-relu-quadratic-gated-B3", "width3-depth8-tanh-cross_entropy-gated-B1",
                   "rnn-width1-T8-sigmoid-cross_entropy-plain-B3", "sizes3-4-4-2-relu-quadratic-plain-B1",
                   "width1-depth8-relu-quadratic-gated-B3"):
        assert needle in ids


# =========================================================================================
# 4. The width-1 chain kernel against the general loop (gradients_of(…, kernel=False))
# =========================================================================================


def _random_chain(rng, depth, activation, gated, unroll):
    if unroll:
        gates = tuple(rng.standard_normal(4)) if gated else None
        return Network.chain_of(rng.standard_normal(1), rng.standard_normal(1), activation, gates, unroll=depth)
    gates = tuple(rng.standard_normal((4, depth))) if gated else None
    return Network.chain_of(2.0 * rng.standard_normal(depth), rng.standard_normal(depth), activation, gates)


@pytest.mark.parametrize("unroll", [False, True], ids=["layers", "unrolled"])
@pytest.mark.parametrize("gated", [False, True], ids=["plain", "gated"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_chain_kernel_agrees_with_the_layer_loop(activation, gated, unroll):
    rng = np.random.default_rng(zlib.crc32(f"{activation}{gated}{unroll}".encode()))
    for depth in (1, 2, 3, 7, 12):
        for rows in (1, 3):
            net = _random_chain(rng, depth, activation, gated, unroll)
            assert net.chain_runs is not None
            x, y = rng.standard_normal((rows, 1)), rng.standard_normal((rows, 1))
            kernel, loop = backprop(net, x, y), backprop_on("loop", net, x, y)
            assert kernel.names == loop.names
            for p, q in zip(kernel.params, loop.params, strict=True):
                np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-300)
            for field in ("log10_bias_norms", "log10_weight_norms", "log10_activation_grad_norms"):
                _assert_log10_close(getattr(kernel, field), getattr(loop, field), 1e-12, field)
            assert kernel.cost == pytest.approx(loop.cost, rel=1e-14)
            # the kernel's forward pass runs on Python floats (math.exp may differ from numpy's by one ulp)
            mine = chain_backprop(net, x, y).quantities
            theirs = forward_trace(net, x)
            np.testing.assert_allclose(mine["a"], np.array([c.a[:, 0] for c in theirs]), rtol=1e-13, atol=1e-300)
            np.testing.assert_allclose(mine["z"], np.array([c.z[:, 0] for c in theirs]), rtol=1e-13, atol=1e-14)


def test_chain_kernel_with_a_cross_entropy_output_agrees_with_the_loop():
    rng = np.random.default_rng(4)
    net = _random_chain(rng, 9, "sigmoid", False, False)
    x, y = rng.standard_normal((3, 1)), rng.uniform(0, 1, (3, 1))
    kernel, loop = backprop(net, x, y, "cross_entropy"), backprop_on("loop", net, x, y, "cross_entropy")
    for p, q in zip(kernel.params, loop.params, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=0)
    np.testing.assert_allclose(kernel.log10_activation_grad_norms, loop.log10_activation_grad_norms, rtol=1e-13)
    assert kernel.cost == pytest.approx(loop.cost, rel=1e-14)


@pytest.mark.parametrize("activation, forget_bias", [("sigmoid", None), ("tanh", None), ("relu", None),
                                                     ("sigmoid", 2.0), ("relu", 2.0)])
def test_deep_chain_kernel_agrees_with_the_loop_across_rows(activation, forget_bias):
    """1,500 layers, 3 rows whose gradients differ by hundreds of decades (each row keeps its own exponent)."""
    net, _ = vanishing_chain(1500, seed=5, activation=activation, forget_bias=forget_bias)
    x, y = np.array([[-1.0], [0.3], [2.0]]), np.array([[0.2], [-0.4], [0.9]])
    kernel, loop = backprop(net, x, y), backprop_on("loop", net, x, y)
    for field in ("log10_bias_norms", "log10_weight_norms", "log10_activation_grad_norms"):
        _assert_log10_close(getattr(kernel, field), getattr(loop, field), 1e-9, field)
    for p, q in zip(kernel.scaled[:8], loop.scaled[:8]):
        _assert_log10_close(p.log10_abs(), q.log10_abs(), 1e-9, "first layers' gradients")
        np.testing.assert_array_equal(p.sign(), q.sign())


# =========================================================================================
# 5. Depth 10,000, saturation, NaN, no warnings
# =========================================================================================

# The kernel takes the chains at the page's largest depth; the general loop the same chains at a smaller depth,
# since it is slower.
DEEP = {"kernel": 10_000, "loop": 3_000}


def _decimal_log10(value) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 50
        return Decimal(value).log10()


@pytest.fixture(scope="module", params=["kernel", "loop"])
def exploding_deep(request):
    net, x = exploding_chain(DEEP[request.param])
    return net, x, forward_trace(net, x), backprop_on(request.param, net, x, np.zeros((1, 1)))


@pytest.fixture(scope="module", params=["kernel", "loop"])
def vanishing_deep(request):
    net, x = vanishing_chain(DEEP[request.param], seed=0)
    return net, x, forward_trace(net, x), backprop_on(request.param, net, x, np.zeros((1, 1)))


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
        assert f"{bias_ref[1]:.6f}" == "13977.099057"  # 0.125 · 25^9999 = 1.256 × 10^13977
        assert math.isclose(bias_ref[1], math.log10(0.25) + 9999 * LOG10_25 + math.log10(0.5), rel_tol=1e-13)
    for j, ref in bias_ref.items():
        assert math.isclose(g.log10_bias_norms[j - 1], ref, rel_tol=1e-15, abs_tol=4e-12), (j, g.log10_bias_norms[j - 1], ref)
    # ∂C/∂w_j = ∂C/∂b_j · a_{j−1}: a_0 = 1, a_j = 1/2 after
    assert math.isclose(g.log10_weight_norms[0], bias_ref[1], rel_tol=1e-15, abs_tol=4e-12)
    assert math.isclose(g.log10_weight_norms[L // 2 - 1], bias_ref[L // 2] + math.log10(0.5), rel_tol=1e-15, abs_tol=4e-12)
    np.testing.assert_allclose(g.log10_activation_grad_norms, act_ref, rtol=1e-15, atol=4e-12)
    # whole curve: a straight line of slope −log10(25) per layer
    np.testing.assert_allclose(np.diff(g.log10_bias_norms), -LOG10_25, rtol=0, atol=1e-11)


def test_exploding_depth_10000_is_at_least_as_close_to_50_digits_as_a_sum_of_logs():
    """∂C/∂b_1 = 0.125 · 25^9999 against a 50-digit reference: the kernel's mantissa and exponent (read
    exactly, in Decimal) against the plain numpy way, a cumulative sum of the logs of the factors."""
    L = 10_000
    net, x = exploding_chain(L)
    g = backprop(net, x, np.zeros((1, 1)))
    s = g.scaled[1]
    m, e = float(s.mantissa.item()), int(np.asarray(s.exponent).item())
    with localcontext() as ctx:
        ctx.prec = 50
        truth = Decimal("0.125").log10() + (L - 1) * Decimal(25).log10()
        ours = Decimal(m).log10() + e * Decimal(2).log10()
        # plain numpy: log10|δ_1| = log10|∂C/∂a_L| + Σ_j log10 σ'(z_j) + Σ_{j≥2} log10|w_j|
        factors = np.concatenate([[math.log10(0.5), math.log10(0.25)], np.tile([2.0, math.log10(0.25)], L - 1)])
        by_logs = Decimal(float(np.cumsum(factors)[-1]))
        our_error, logs_error = abs(ours - truth), abs(by_logs - truth)
    assert our_error <= logs_error, (our_error, logs_error)
    assert our_error < Decimal("1e-13")  # ~√L rounding errors of 1e-16 each, relative (in log10: /ln 10)
    assert f"{float(truth):.3f}" == "13977.099"
    assert g.log10_bias_norms[0] == pytest.approx(float(truth), rel=0, abs=4e-12)  # float64 holds 13977.099… to 2e-12


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
    # the float product rounds once per layer: √221·eps ≈ 3e-15, well within 221·eps = 5e-14
    np.testing.assert_allclose(finite, expected, rtol=k_last * EPS)
    assert np.isposinf(g.nabla_w[0][0, 0]) and g.nabla_w[-1][0, 0] == 0.0625


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
    # the scaled values hold what the floats cannot: every layer's gradient, to rounding
    np.testing.assert_allclose([s.log10_abs().item() for s in g.scaled[1::2]], bias_ref, rtol=1e-12, atol=1e-11)


def _saturated_chain(z1):
    """x = 1 → layer 1 (w = 1, b = z1 − 1) → z_1 = z1; layer 2 (w = 1, b = −1) → z_2 = σ(z1) − 1."""
    return Network([[[1.0]], [[1.0]]], [[z1 - 1.0], [-1.0]], "sigmoid"), np.array([[1.0]])


@BOTH_PATHS
@pytest.mark.parametrize("z1", [40.0, 100.0, 1000.0, -40.0, -1000.0])
def test_saturated_neuron_keeps_its_true_log_magnitude(z1, path):
    net, x = _saturated_chain(z1)
    y = np.zeros((1, 1))
    g = backprop_on(path, net, x, y)
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
    assert math.isclose(g.scaled[1].log10_abs().item(), ref, rel_tol=1e-13)
    # the float gradient: exact where float64 holds it, else it underflows gracefully to 0
    nabla = g.nabla_b[0][0]
    assert not math.isnan(nabla)
    if ref > -300:
        assert math.isclose(nabla, 10.0 ** ref, rel_tol=1e-12)
    else:
        assert nabla == 0.0


@BOTH_PATHS
def test_saturated_slopes_neither_overflow_nor_underflow(path):
    """Every z_j = 1000 along 60 layers: σ'(1000) = e^-1000 enters as a mantissa and an exponent, and
    ∂C/∂b_1 = (a_L − y)·σ'(1000)^60·1^59 ≈ 10^-26058 comes out to rounding, with numpy set to raise on any
    overflow, underflow or invalid operation inside gradviz's own guards."""
    depth, z = 60, 1000.0
    # a_0 = 1, then a_j = σ(1000) = 1.0 in float64; w_j = 1, b_j = z − a_{j−1}
    net = Network([[[1.0]]] * depth, [[z - 1.0]] * depth, "sigmoid")
    with np.errstate(over="raise", under="raise", invalid="raise", divide="raise"):
        g = backprop_on(path, net, [[1.0]], [[0.0]])
    log10_slope = float(decimal_sigmoid_prime(1000).log10())
    expected = np.log10(1.0) + log10_slope * np.arange(depth, 0, -1)  # a_L − y = σ(1000) − 0 = 1
    np.testing.assert_allclose(g.log10_bias_norms, expected, rtol=1e-13)
    assert np.isfinite(g.log10_activation_grad_norms).all()
    assert all(np.isfinite(s.mantissa).all() and s.mantissa.item() != 0 for s in g.scaled)
    assert all(v[0] == 0.0 for v in g.nabla_b)  # as floats they underflow, quietly


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


@BOTH_PATHS
def test_chain_with_a_subnormal_intermediate_gradient(path):
    # Every z_j = 0 (b_j = −w_j·a_{j−1}, all exact), so each factor w_j σ'(z_j) is w_j/4. Going back from
    # the output, ∂C/∂a_l passes through ½·¼·(1e-40)² ≈ 1e-81 in the first chain (harmless) and through
    # ½·¼·(1e-160)² ≈ 1e-321 in the second, a subnormal float with ~3 significant digits, before the
    # 1e100 factors lift it back to ~1e-222. The exact answer is a product of the (float) factors; a
    # scaled carry gets it to rounding, a plain float product through the subnormal does not.
    for ws in ([4e25, 4e25, 4e-40, 4e-40, 1.0], [4e100, 4e100, 4e-160, 4e-160, 1.0]):
        a, biases = 1.0, []
        for w in ws:
            biases.append([-w * a])
            a = 0.5
        net = Network([[[w]] for w in ws], biases, "sigmoid")
        assert all(layer.z[0, 0] == 0.0 for layer in forward_trace(net, [[1.0]]))
        truth = Fraction(1, 2) * Fraction(1, 4)  # ∂C/∂a_5 · σ'(z_1)
        for w in ws[1:]:
            truth *= Fraction(w) / 4
        g = backprop_on(path, net, [[1.0]], [[0.0]])
        assert math.isclose(g.nabla_b[0][0], float(truth), rel_tol=1e-12), (ws, g.nabla_b[0][0], float(truth))
        log10_truth = math.log10(truth.numerator) - math.log10(truth.denominator)
        assert math.isclose(g.log10_bias_norms[0], log10_truth, rel_tol=1e-14), (ws, g.log10_bias_norms[0])


def test_backprop_raises_no_floating_point_errors_on_extreme_networks():
    # numpy would raise FloatingPointError for any overflow/divide/invalid outside gradviz's own errstate.
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 3))
    cases = [
        (*exploding_chain(300), np.zeros((1, 1)), "quadratic"),             # floats overflow to inf
        (*vanishing_chain(2000, 1), np.zeros((1, 1)), "quadratic"),         # floats underflow to 0
        (*_saturated_chain(1000.0), np.zeros((1, 1)), "quadratic"),
        (Network([w * 1e3, w * 1e3], [np.zeros(3)] * 2, ("tanh", "sigmoid")), rng.standard_normal((2, 3)),
         np.full((2, 3), 0.5), "cross_entropy"),                            # saturated sigmoid output
        (Network([w], [np.full(3, -10.0)], "relu", (Gate.constant(3, 2.0),), unroll=5), rng.standard_normal((2, 3)),
         np.ones((2, 3)), "quadratic"),                                     # dead relu inside gates
        (*exploding_chain(50, forget_bias=3.0), np.zeros((1, 1)), "quadratic"),
    ]
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        for net, x, y, cost in cases:
            for path in ("kernel", "loop"):
                g = backprop_on(path, net, x, y, cost)
                for arr in (*g.params, *g.nabla_w, *g.nabla_b, g.log10_bias_norms, g.log10_weight_norms,
                            g.log10_activation_grad_norms):
                    assert not np.isnan(arr).any()
                assert math.isfinite(g.cost)
                assert not math.isnan(g.ln_norm)


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
    assert g.ln_norm == -math.inf


@BOTH_PATHS
def test_exact_fit_gives_zero_gradients(path):
    net, x = exploding_chain(5)
    g = backprop_on(path, net, x, [[0.5]])  # a_L = 1/2 exactly
    assert g.cost == 0.0
    for p in g.params:
        assert np.array_equal(p, np.zeros_like(p))
    assert np.isneginf(g.log10_bias_norms).all() and np.isneginf(g.log10_activation_grad_norms).all()


@pytest.mark.parametrize("where", ["weight", "gate"])
def test_nan_parameters_propagate_to_the_log_norms_without_an_exception(where):
    """A network whose weights became NaN (a blown-up training run) is still a network: its gradients are NaN,
    reported, never raised. (NaN in the data x, y is an input error instead: see test_fuzz_library.)"""
    rng = np.random.default_rng(9)
    weights = [rng.standard_normal((3, 3)) for _ in range(3)]
    gates = (None, _random_gate(rng, 3), None)
    x = rng.standard_normal((2, 3))
    if where == "weight":
        weights[1][0, 2] = np.nan
    else:
        gates = (None, Gate(np.full((3, 3), np.nan), np.zeros(3), np.eye(3), np.zeros(3)), None)
    net = Network(weights, [np.zeros(3)] * 3, "tanh", gates)
    g = backprop(net, x, np.zeros((2, 3)))
    assert math.isnan(g.cost)
    assert np.isnan(g.log10_bias_norms).all()
    assert np.isnan(g.log10_weight_norms).all()
    assert np.isnan(g.log10_activation_grad_norms).all()
    assert all(np.isnan(p).any() for p in g.params)
    assert math.isnan(g.ln_norm)


@BOTH_PATHS
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_a_chain_with_a_nan_weight_stays_nan_downstream(activation, path):
    """The chain kernel's forward pass runs on Python floats: a NaN must not come back finite there either
    (σ(NaN) is NaN, not 0), so a blown-up chain reports a NaN loss."""
    net = Network.chain_of([1.0, np.nan, 2.0], [0.5, 0.0, 0.0], activation)
    a = chain_backprop(net, [[1.0]], [[0.0]]).quantities["a"][:, 0] if path == "kernel" else \
        np.array([c.a[0, 0] for c in forward_trace(net, [[1.0]])])
    assert np.isfinite(a[0]) and np.isnan(a[1]) and np.isnan(a[2])
    g = backprop_on(path, net, [[1.0]], [[0.0]])
    assert math.isnan(g.cost) and math.isnan(g.ln_norm)


# =========================================================================================
# 6. The network's own API
# =========================================================================================


def test_unrolled_network_equals_the_same_layer_stacked():
    rng = np.random.default_rng(5)
    n, T = 3, 6
    w, b, gate = rng.standard_normal((n, n)), rng.standard_normal(n), _random_gate(rng, n)
    rnn = Network([w], [b], "tanh", (gate,), unroll=T)
    stacked = Network([w] * T, [b] * T, "tanh", (gate,) * T)
    x, y = rng.standard_normal((2, n)), rng.standard_normal((2, n))
    assert rnn.depth == T and rnn.stored_layers == 1 and rnn.sizes == [n] * (T + 1)
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


def test_a_network_holds_its_parameters_in_one_read_only_vector():
    """Every layer's arrays are views of net.theta, in the order of named_parameters(); a chain is a stack of
    width-1 layers like any other network."""
    net, _ = vanishing_chain(6, seed=2, forget_bias=1.5)
    assert net.sizes == [1] * 7 and len(net.layers) == 6
    assert [name for name, _ in net.named_parameters()] == ["w", "b", "wf", "bf", "wi", "bi"] * 6
    np.testing.assert_array_equal(net.theta, np.concatenate([p.ravel() for p in net.parameters()]))
    assert all(np.shares_memory(p, net.theta) for p in net.parameters())
    with pytest.raises(ValueError):  # parameters are read-only: a network is a value
        net.theta[0] = 1.0
    with pytest.raises(ValueError):
        net.weights[0][0, 0] = 1.0
    work = net.copy(writeable=True)
    assert work.architecture is net.architecture and work.chain_runs is net.chain_runs  # structure is shared
    work.theta[0] = 5.0
    assert work.weights[0][0, 0] == 5.0 and net.weights[0][0, 0] != 5.0
    moved = net.with_parameters([p * 2.0 for p in net.parameters()])
    np.testing.assert_array_equal(moved.theta, 2.0 * net.theta)
    with pytest.raises(ValueError, match="shapes"):
        net.with_parameters(net.parameters()[:-1])


def test_invalid_costs_and_outputs_are_value_errors():
    w, b = np.ones((2, 2)), np.zeros(2)
    x, y = np.ones((1, 2)), np.full((1, 2), 0.5)
    with pytest.raises(ValueError, match="cost"):
        backprop(Network([w], [b], "sigmoid"), x, y, "hinge")
    with pytest.raises(ValueError, match="sigmoid"):
        backprop(Network([w, w], [b, b], ("sigmoid", "tanh")), x, y, "cross_entropy")
    with pytest.raises(ValueError, match="sigmoid"):
        backprop(Network([w], [b], "sigmoid", (Gate.constant(2, 1.0),)), x, y, "cross_entropy")
    with pytest.raises(ValueError, match="sigmoid"):
        backprop(Network.chain_of([1.0, 2.0], [0.0, 0.0], "tanh"), [[1.0]], [[0.5]], "cross_entropy")
    with pytest.raises(ValueError, match="sigmoid"):
        backprop(Network.chain_of([1.0, 2.0], [0.0, 0.0], "sigmoid", skip=1.0), [[1.0]], [[0.5]], "cross_entropy")
    with pytest.raises(ValueError, match="unroll"):
        Network([w, w], [b, b], "sigmoid", unroll=3)
    with pytest.raises(ValueError, match="gates"):
        Network([np.ones((2, 3))], [np.zeros(2)], "sigmoid", (Gate.constant(2, 1.0),))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]"):
        backprop(Network([w], [b], "sigmoid"), x, [[5.0, 0.5]], "cross_entropy")


# =========================================================================================
# 7. Layering: the library never loads Streamlit
# =========================================================================================


def test_importing_gradviz_and_every_submodule_does_not_load_streamlit():
    script = (
        "import importlib, pkgutil, sys\n"
        "import gradviz\n"
        "assert 'streamlit' not in sys.modules, 'import gradviz loaded streamlit'\n"
        "names = [m.name for m in pkgutil.walk_packages(gradviz.__path__, 'gradviz.')]\n"
        "assert 'gradviz.engine.backprop' in names and 'gradviz.training.descent' in names, names\n"
        "library = ('gradviz.engine', 'gradviz.training', 'gradviz.experiments')\n"
        "broken = []\n"
        "for name in names:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as error:\n"
        "        if name.startswith(library):\n"
        "            broken.append(f'{name}: {error}')\n"
        "    assert 'streamlit' not in sys.modules, name + ' loaded streamlit'\n"
        "assert not broken, broken\n"
        "print(len(names))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 15


LAYERS = ("engine", "training", "experiments", "page")


def _imported_packages(path) -> set[str]:
    """The gradviz layers a module imports ("gradviz" for the package root itself, `import gradviz` or `from gradviz
    import …`), read from its source; gradviz.datasets, a leaf module of data, is no layer."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        for name in names:
            parts = name.split(".")
            if name == "gradviz" or (parts[0] == "gradviz" and parts[1] in LAYERS):
                found.add(parts[1] if len(parts) > 1 else "gradviz")
    return found


def test_imports_point_down_only():
    """engine ← training ← experiments ← page: no module imports a layer above its own, nor the package root
    (whose __init__ imports every layer); packages inside a layer (experiments/your_run) included."""
    from pathlib import Path

    import gradviz

    root = Path(gradviz.__file__).parent
    wrong = []
    for rank, layer in enumerate(LAYERS[:3]):
        for path in sorted((root / layer).rglob("*.py")):
            above = _imported_packages(path) & (set(LAYERS[rank + 1:]) | {"gradviz"})
            wrong += [f"{path.relative_to(root)} imports {name}" for name in sorted(above)]
    assert not wrong, wrong
    assert _imported_packages(root / "engine" / "backprop.py") == {"engine"}
