"""The layers added for skip connections and normalization (gradviz.engine.layers, gradviz.engine.normalization):
forward passes against an independent numpy reference, backward passes against central finite differences of
that reference (float64), the closed forms of the residual chain, batch norm's exact-zero bias gradient, and the
errors a wrong layer raises."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from gradviz import Network, backprop, exploding_chain, forward_trace, vanishing_chain
from gradviz.engine.activations import get_activation, sigmoid_prime
from gradviz.engine.backprop import chain_backprop, gradients_of
from gradviz.engine.layers import Dense, Gate, Gated, PreActivation, Residual
from gradviz.engine.normalization import EPSILON, BatchNorm, LayerNorm
from gradviz.experiments.chain import ChainConfig, analyze_chain
from gradviz.training.remedies import Remedies

pytestmark = pytest.mark.filterwarnings("error")

# --- an independent reference: the equations of the docstrings, in plain numpy -------------------------------------

REF_ACT = {"sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)), "tanh": np.tanh,
           "relu": lambda z: np.where(z > 0, z, 0.0)}


def ref_norm(kind, p, x):
    """layer norm: each row over its units; batch norm: each unit over the rows; then gain ⊙ x̂ + shift."""
    if kind is None:
        return x
    axis = 1 if kind == "layer" else 0
    centred = x - x.mean(axis=axis, keepdims=True)
    return p["gain"] * centred / np.sqrt((centred ** 2).mean(axis=axis, keepdims=True) + EPSILON) + p["shift"]


def ref_layer(spec, p, a):
    """One layer of a spec (see SPECS) on a (rows, n) array, from its parameters by name."""
    act = REF_ACT.get(spec.get("act"))
    kind = spec["kind"]
    if kind in ("layer", "batch"):
        out = ref_norm(kind, p, a)
    elif kind == "dense":
        out = act(ref_norm(spec.get("norm"), p, a @ p["w"].T + p["b"]))
    elif kind == "gated":
        f = REF_ACT["sigmoid"](a @ p["wf"].T + p["bf"])
        i = REF_ACT["sigmoid"](a @ p["wi"].T + p["bi"])
        out = f * a + i * act(ref_norm(spec.get("norm"), p, a @ p["w"].T + p["b"]))
    else:  # "pre"
        out = act(ref_norm(spec.get("norm"), p, a)) @ p["w"].T + p["b"]
    return a + spec["skip"] * out if spec.get("skip") is not None else out


def ref_cost(specs, params, x, y, cost, inject=None):
    """C = mean over rows (quadratic ½‖a_L − y‖² or cross-entropy); inject = (l, array) adds array to a_l."""
    a = x + inject[1] if inject and inject[0] == 0 else x
    for l, (spec, p) in enumerate(zip(specs, params), start=1):
        a = ref_layer(spec, p, a)
        if inject and inject[0] == l:
            a = a + inject[1]
    if cost == "quadratic":
        return float(np.mean(0.5 * np.sum((a - y) ** 2, axis=1)))
    return float(np.mean(-np.sum(y * np.log(a) + (1 - y) * np.log(1 - a), axis=1)))


# --- the networks checked --------------------------------------------------------------------------------------------

SPECS = {
    "dense+layer norm": [dict(kind="dense", act="tanh", norm="layer", n=4), dict(kind="dense", act="sigmoid", n=3)],
    "dense+batch norm": [dict(kind="dense", act="relu", norm="batch", n=4), dict(kind="dense", act="tanh", norm="batch", n=4),
                         dict(kind="dense", act="sigmoid", n=2)],
    "residual dense": [dict(kind="dense", act="tanh", n=4), dict(kind="dense", act="sigmoid", skip=1.0, n=4),
                       dict(kind="dense", act="tanh", skip=0.5, n=4)],
    "residual gated": [dict(kind="gated", act="tanh", skip=1.0, n=3), dict(kind="gated", act="relu", norm="layer", n=3)],
    "pre-activation": [dict(kind="dense", act="tanh", n=4), dict(kind="pre", act="relu", skip=1.0, n=4),
                       dict(kind="pre", act="tanh", norm="layer", skip=0.7, n=4),
                       dict(kind="pre", act="relu", norm="batch", skip=1.0, n=4), dict(kind="dense", act="sigmoid", n=2)],
    "norm layers": [dict(kind="dense", act="tanh", n=4), dict(kind="batch", n=4), dict(kind="layer", n=4),
                    dict(kind="dense", act="sigmoid", n=3)],
    "residual chain": [dict(kind="dense", act="sigmoid", skip=1.0, n=1) for _ in range(5)],
}


def draw(spec, n_in, rng):
    """The spec's parameters by name, drawn so that ReLU's kinks stay away from the finite differences' steps."""
    n = spec["n"]
    p = {}
    if spec["kind"] in ("dense", "gated", "pre"):
        p["w"] = rng.standard_normal((n, n_in)) * 1.2 / math.sqrt(n_in)
        p["b"] = rng.normal(0.0, 0.5, n)
    if spec["kind"] == "gated":
        p.update(wf=rng.standard_normal((n, n)) / math.sqrt(n), bf=rng.normal(1.0, 0.5, n),
                 wi=rng.standard_normal((n, n)) / math.sqrt(n), bi=rng.standard_normal(n))
    if spec.get("norm") or spec["kind"] in ("layer", "batch"):
        p.update(gain=rng.uniform(0.5, 1.5, n_in if spec["kind"] == "pre" else n), shift=rng.normal(0.0, 0.3,
                                                                                                       n_in if spec["kind"] == "pre" else n))
    return p


NORMS = {"layer": LayerNorm, "batch": BatchNorm}


def gradviz_layer(spec, p):
    """The same layer as gradviz builds it."""
    kind, act = spec["kind"], spec.get("act")
    norm = NORMS[spec["norm"]](p["gain"], p["shift"]) if spec.get("norm") else None
    if kind in NORMS:
        layer = NORMS[kind](p["gain"], p["shift"])
    elif kind == "dense":
        layer = Dense(p["w"], p["b"], act, norm)
    elif kind == "gated":
        layer = Gated(p["w"], p["b"], act, Gate(p["wf"], p["bf"], p["wi"], p["bi"]), norm)
    else:
        layer = PreActivation(p["w"], p["b"], act, norm)
    return Residual(layer, spec["skip"]) if spec.get("skip") is not None else layer


def case(name, rows, cost):
    rng = np.random.default_rng(zlib.crc32(f"{name}/{rows}/{cost}".encode()))
    specs = SPECS[name]
    n_in = specs[0]["n"] if specs[0]["kind"] == "gated" or specs[0].get("skip") is not None else 3
    params, width = [], n_in
    for spec in specs:
        params.append(draw(spec, width, rng))
        width = spec["n"]
    net = Network.of([gradviz_layer(spec, p) for spec, p in zip(specs, params)])
    x = rng.standard_normal((rows, n_in))
    y = rng.uniform(0.1, 0.9, (rows, width)) if cost == "cross_entropy" else rng.normal(0.0, 0.5, (rows, width))
    return specs, params, net, x, y


def central(f, array, h=1e-6) -> np.ndarray:
    """(f(θ + h e_k) − f(θ − h e_k)) / 2h for every entry of `array`, moved in place and put back."""
    out = np.zeros(array.shape)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + h
        up = f()
        array[idx] = old - h
        down = f()
        array[idx] = old
        out[idx] = (up - down) / (2 * h)
    return out


CASES = [pytest.param(name, rows, cost, id=f"{name}-B{rows}-{cost}") for name in SPECS for rows in (1, 4)
         for cost in ("quadratic", "cross_entropy")
         if not (cost == "cross_entropy" and SPECS[name][-1] != dict(kind="dense", act="sigmoid", n=SPECS[name][-1]["n"]))
         and not (rows == 1 and any(s.get("norm") == "batch" or s["kind"] == "batch" for s in SPECS[name]))]


@pytest.mark.parametrize("name, rows, cost", CASES)
def test_every_layer_against_its_reference_and_central_differences(name, rows, cost):
    specs, params, net, x, y = case(name, rows, cost)
    # the forward pass
    a = x
    for spec, p, cache in zip(specs, params, forward_trace(net, x), strict=True):
        a = ref_layer(spec, p, a)
        np.testing.assert_allclose(cache.a, a, rtol=1e-12, atol=1e-13)
    g = gradients_of(net, x, y, cost, kernel=False)
    assert g.cost == pytest.approx(ref_cost(specs, params, x, y, cost), rel=1e-12, abs=1e-15)
    # every parameter, by name, against central differences of the reference cost (h = 1e-6: ~1e-10 of noise)
    names = [(l, name) for l, p in enumerate(params) for name in p]
    assert [name for _, name in names] == list(g.names)
    scale = max(float(np.max(np.abs(v))) for v in g.params)
    for (l, name), got in zip(names, g.params, strict=True):
        expected = central(lambda: ref_cost(specs, params, x, y, cost), params[l][name])
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8 * (1 + scale), err_msg=f"layer {l + 1} {name}")
    # ‖∂C/∂a_l‖ over the batch, the signal, at every layer
    widths = [x.shape[1]] + [spec["n"] for spec in specs]
    for l, n in enumerate(widths):
        bump = np.zeros((rows, n))
        grad_a = central(lambda: ref_cost(specs, params, x, y, cost, (l, bump)), bump)
        expected = math.log10(np.linalg.norm(grad_a)) if np.any(grad_a) else -math.inf
        assert g.log10_signal_norms[l] == pytest.approx(expected, abs=1e-7), l
    # the chain kernel runs width-1 stacks from the same layers and agrees with the loop
    if net.chain_runs is not None:
        kernel = backprop(net, x, y, cost)
        for p, q in zip(kernel.params, g.params, strict=True):
            np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-300)


def test_case_list_covers_every_new_layer():
    ids = [p.id for p in CASES]
    assert {"dense+batch norm-B4-cross_entropy", "pre-activation-B4-quadratic", "residual gated-B1-quadratic",
            "norm layers-B4-cross_entropy", "residual chain-B4-quadratic"} <= set(ids)
    kinds = {(s["kind"], s.get("norm"), s.get("skip") is not None) for specs in SPECS.values() for s in specs}
    assert {("dense", "layer", False), ("dense", "batch", False), ("dense", None, True), ("gated", None, True),
            ("gated", "layer", False), ("pre", None, True), ("pre", "layer", True), ("pre", "batch", True),
            ("layer", None, False), ("batch", None, False)} <= kinds


def test_an_unrolled_layer_normalized_rnn_is_the_same_layer_stacked():
    rng = np.random.default_rng(8)
    n, T = 4, 6
    w, b = rng.standard_normal((n, n)), rng.standard_normal(n)
    gain, shift = rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n)
    rnn = Network.of([Dense(w, b, "tanh", LayerNorm(gain, shift))], unroll=T)
    stacked = Network.of([Dense(w, b, "tanh", LayerNorm(gain, shift)) for _ in range(T)])
    x, y = rng.standard_normal((3, n)), rng.standard_normal((3, n))
    g_rnn, g_stack = backprop(rnn, x, y), backprop(stacked, x, y)
    np.testing.assert_allclose(g_rnn.log10_signal_norms, g_stack.log10_signal_norms, rtol=1e-13)
    for k in range(4):  # w, b, gain, shift: the shared parameter's gradient is the sum over the steps
        np.testing.assert_allclose(g_rnn.params[k], sum(g_stack.params[4 * t + k] for t in range(T)), rtol=1e-11,
                                   atol=1e-15)


# --- batch norm: the bias before it cancels ---------------------------------------------------------------------------


def test_a_bias_right_before_batch_norm_has_an_exactly_zero_gradient():
    """∂C/∂b = mean_r δz_r and batch norm's δz sums to 0 over the batch: exactly 0 (not rounding noise of 1e-17),
    so a per-layer chart of ‖∂C/∂b_l‖ would read "dead"; the weights and the signal still carry the gradient."""
    specs, params, net, x, y = case("dense+batch norm", 4, "quadratic")
    g = backprop(net, x, y)
    for layer in (0, 1):
        assert not g.nabla_b[layer].any()
        assert g.log10_bias_norms[layer] == -math.inf
        assert np.isfinite(g.log10_weight_norms[layer]) and np.isfinite(g.log10_signal_norms[layer])
    assert g.nabla_b[2].any()  # the output layer's bias is not followed by batch norm
    np.testing.assert_array_equal(g.log10_norms("weight"), g.log10_weight_norms)
    np.testing.assert_array_equal(g.log10_norms("signal"), g.log10_signal_norms[1:])
    with pytest.raises(ValueError, match="measure"):
        g.log10_norms("speed")


def test_layer_norm_keeps_its_bias_gradient():
    specs, params, net, x, y = case("dense+layer norm", 4, "quadratic")
    assert backprop(net, x, y).nabla_b[0].any()


# --- the residual chain's closed forms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["kernel", "loop"])
def test_residual_exploding_chain_factor_is_exactly_26(path):
    """a_j = a_{j−1} + σ(100 a_{j−1} + b_j) with every z_j = 0: a_j = 1 + j/2, each factor 1 + 100·σ'(0) = 26 exactly,
    so ∂C/∂b_1 / ∂C/∂b_3 = 26² = 676 — it still explodes. With a_4 = 3 and y = 0: ∂C/∂b_4 = 3·¼ = 0.75,
    ∂C/∂b_j = 0.75 · 26^(4−j), all exact in float64."""
    net, x = exploding_chain(4, residual=True)
    assert all(layer.z[0, 0] == 0.0 for layer in forward_trace(net, x))
    assert [layer.a[0, 0] for layer in forward_trace(net, x)] == [1.5, 2.0, 2.5, 3.0]
    g = gradients_of(net, x, [[0.0]], kernel=path == "kernel")
    b = [float(v[0]) for v in g.nabla_b]
    assert b == [0.75 * 26.0 ** 3, 0.75 * 26.0 ** 2, 0.75 * 26.0, 0.75]
    assert b[0] / b[2] == 676.0
    assert [float(v[0, 0]) for v in g.nabla_w] == [b[0] * 1.0, b[1] * 1.5, b[2] * 2.0, b[3] * 2.5]


def test_residual_exploding_chain_report():
    r = analyze_chain(ChainConfig("exploding", 4, remedies=Remedies(residual=True)))
    assert (10.0 ** r.factor_log10 == 26.0).all() and (r.factor_sign == 1.0).all()
    assert (r.da_db_log10 == math.log10(0.25)).all()
    assert r.grad_b_log10[0] - r.grad_b_log10[2] == pytest.approx(math.log10(676.0), abs=1e-12)
    deep = analyze_chain(ChainConfig("exploding", 10_000, remedies=Remedies(residual=True)))
    assert deep.log10_ratio_first_last == pytest.approx(9999 * math.log10(26.0), abs=1e-8)  # 10^14148: explodes


def test_residual_vanishing_chain_factor_is_one_plus_w_sigma_prime_per_link():
    r = analyze_chain(ChainConfig("vanishing", 30, seed=5, remedies=Remedies(residual=True)))
    np.testing.assert_allclose(10.0 ** r.factor_log10 * r.factor_sign, 1.0 + r.w * sigmoid_prime(r.z), rtol=1e-13)
    np.testing.assert_allclose(10.0 ** r.da_db_log10, sigmoid_prime(r.z), rtol=1e-13)
    a_prev = np.concatenate([[1.0], r.a[:-1]])
    np.testing.assert_allclose(r.a, a_prev + get_activation("sigmoid").fn(r.z), rtol=1e-14)
    # each factor 1 + w σ'(z) lies in 1 ± |w|/4: no vanishing through 30 layers here
    plain = analyze_chain(ChainConfig("vanishing", 30, seed=5))
    assert r.log10_ratio_first_last > plain.log10_ratio_first_last + 5


def test_branch_scaling_divides_the_chain_factor_s_term():
    """s = 1/√L: each factor 1 + w σ'(z)/√L; the exploding chain's 1 + 25/2 = 13.5 at depth 4."""
    r = analyze_chain(ChainConfig("exploding", 4, remedies=Remedies(residual=True, branch_scaling=True)))
    np.testing.assert_allclose(10.0 ** r.factor_log10, 13.5, rtol=1e-14)


@pytest.mark.parametrize("forget_bias", [None, 2.0])
def test_a_deep_residual_chain_agrees_between_kernel_and_loop(forget_bias):
    net, _ = vanishing_chain(800, seed=2, forget_bias=forget_bias, residual=True, branch_scale=0.3)
    x, y = np.array([[-1.0], [0.5]]), np.array([[0.2], [-0.3]])
    kernel, loop = backprop(net, x, y), gradients_of(net, x, y, kernel=False)
    for field in ("log10_bias_norms", "log10_weight_norms", "log10_signal_norms"):
        np.testing.assert_allclose(getattr(kernel, field), getattr(loop, field), rtol=1e-9, atol=1e-9)
    assert chain_backprop(net, x, y).cost == pytest.approx(loop.cost, rel=1e-14)


# --- wrong layers ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, match", [
    (lambda: Network.of([Dense(np.ones((1, 1)), np.zeros(1), "tanh", LayerNorm.identity(1))]), "one neuron"),
    (lambda: Network.of([Residual(Dense(np.ones((2, 3)), np.zeros(2), "tanh"))]), "equal widths"),
    (lambda: Network.of([Dense(np.ones((2, 3)), np.zeros(2), "tanh", BatchNorm.identity(3))]), "units"),
    (lambda: Network.of([BatchNorm(np.ones(2), np.zeros(3))]), "gain and shift"),
    (lambda: Network.of([Dense(np.ones((2, 3)), np.zeros(3), "tanh")]), "matrix w"),
    (lambda: Network.of([Dense(np.ones((2, 2)), np.zeros(2), "swish")]), "activation"),
    (lambda: Network.of([Dense(np.ones((2, 3)), np.zeros(2), "tanh"), Dense(np.ones((2, 3)), np.zeros(2), "tanh")]),
     "outputs"),
    (lambda: Network.of(["dense"]), "layer"),
    (lambda: Network.of([]), "at least one layer"),
    (lambda: Network.of([Dense([["a"]], [0.0], "tanh")]), "numbers"),
    (lambda: Network.of([Gated(np.ones((2, 2)), np.zeros(2), "tanh", "open")]), "Gate"),
    (lambda: Network.of([Dense(np.ones((2, 3)), np.zeros(2), "tanh")], unroll=3), "unroll"),
])
def test_wrong_layers_raise_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
