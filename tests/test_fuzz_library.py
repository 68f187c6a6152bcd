"""Property-based fuzzing of the library (hypothesis): strict inputs, and total functions over the page's range.

1. Strict inputs (issue 12): every public library function, driven with one bad argument at a time, gives a
   result or a ValueError whose message names that argument — never another exception, a warning, or a
   silent garbage answer for the cases the issue lists (a y of the wrong width must not broadcast, a chain
   does not take a 2-column x, cross-entropy targets lie in [0, 1]).
2. Totality: whatever the page can dial in analyses and trains without raising, and reports a blow-up as a
   symptom (NaN, inf) rather than an exception. pytest turns RuntimeWarning into an error (pyproject.toml),
   so a stray numpy overflow or invalid-value warning fails here too.

Bugs fuzzing found are pinned as explicit examples and minimal reproducers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from gradviz import (L1, L2, ChainConfig, ClipNorm, ClipValue, Gate, Network, Remedies, Training, analyze_chain,
                     backprop, exploding_chain, forward, train, vanishing_chain)
from gradviz.engine.backprop import gradients_of
from gradviz.engine.initializations import initialize
from gradviz.engine.layers import Dense, Residual
from gradviz.engine.normalization import BatchNorm, LayerNorm
from gradviz.experiments.chain import CASES, train_chain
from gradviz.training.diagnostics import VERDICTS, check_symptoms

pytestmark = pytest.mark.filterwarnings("error")

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# For examples that take a while: no shrinking, which could otherwise run for minutes after a failure.
SLOW = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=(Phase.explicit, Phase.reuse, Phase.generate))


# =========================================================================================
# 1. Strict inputs
# =========================================================================================

NET = Network([np.ones((2, 3)) * 0.3, np.ones((1, 2)) * 0.2], [np.zeros(2), np.zeros(1)])
CHAIN, CHAIN_X = exploding_chain(3)
X, Y = np.ones((2, 3)), np.full((2, 1), 0.5)


@dataclass(frozen=True)
class Call:
    """A public function and valid arguments for it; the test replaces one argument by a bad value."""

    name: str
    fn: Callable
    args: dict
    arrays: tuple = ()  # which arguments are arrays (they get array-shaped bad values too)


CALLS = [
    Call("Network", Network, dict(weights=[np.ones((2, 3)), np.ones((1, 2))], biases=[np.zeros(2), np.zeros(1)],
                                  activation="sigmoid", gates=None, unroll=None), ("weights", "biases", "gates")),
    Call("Network(unrolled)", Network, dict(weights=[np.eye(2)], biases=[np.zeros(2)], activation="tanh",
                                            gates=(Gate.constant(2, 1.0),), unroll=4), ("weights", "biases", "gates")),
    Call("Network.chain_of", Network.chain_of, dict(w=[1.0, 2.0], b=[0.0, 0.5], activation="sigmoid",
                                                    gates=([0.0] * 2, [1.0] * 2, [0.0] * 2, [0.0] * 2), unroll=None),
         ("w", "b", "gates")),
    Call("backprop", backprop, dict(net=NET, x=X, y=Y, cost="cross_entropy"), ("x", "y")),
    Call("backprop(chain)", backprop, dict(net=CHAIN, x=CHAIN_X, y=[[0.0]], cost="quadratic"), ("x", "y")),
    Call("forward", forward, dict(net=NET, x=X), ("x",)),
    Call("train", train, dict(net=NET, x=X, y=Y, epochs=2, eta=0.1, batch_size=None, cost="cross_entropy",
                              clip=None, regularization=None, seed=0, progress=None), ("x", "y")),
    Call("Training", Training, dict(steps=3, eta=0.1)),
    Call("ClipNorm", ClipNorm, dict(max_norm=1.0)),
    Call("ClipValue", ClipValue, dict(clip_value=1.0)),
    Call("L1", L1, dict(lmbda=1.0)),
    Call("L2", L2, dict(lmbda=1.0)),
    Call("Remedies", Remedies, dict(activation="sigmoid", forget_bias=None, clip=None, regularization=None,
                                    init="nielsen", init_gain=1.0)),
    Call("ChainConfig", ChainConfig, dict(case="exploding", depth=4, a0=1.0, y=0.0, seed=0, remedies=Remedies())),
    Call("vanishing_chain", vanishing_chain, dict(depth=4, seed=0, a0=1.0, activation="sigmoid", forget_bias=None)),
    Call("exploding_chain", exploding_chain, dict(depth=4, a0=1.0, activation="sigmoid", forget_bias=None)),
    Call("analyze_chain", analyze_chain, dict(config=ChainConfig(depth=3))),
    Call("train_chain", train_chain, dict(config=ChainConfig(depth=3), training=Training(2))),
    Call("Gate", Gate, dict(wf=np.eye(2), bf=np.zeros(2), wi=np.eye(2), bi=np.zeros(2)), ("wf", "bf", "wi", "bi")),
    Call("Gate.constant", Gate.constant, dict(width=2, forget_bias=1.0, input_bias=0.0)),
    Call("Network.of", Network.of, dict(layers=[Residual(Dense(np.eye(2), np.zeros(2), "tanh", LayerNorm.identity(2))),
                                                Dense(np.ones((1, 2)), np.zeros(1), "sigmoid", BatchNorm.identity(1))],
                                        unroll=None), ("layers",)),
    Call("initialize", initialize, dict(sizes=[3, 4, 4, 2], scheme="he", seed=0, activation="relu",
                                        output_activation="sigmoid", gain=1.0, residual=True, norm="batch",
                                        branch_scale=0.5, forget_bias=None), ("sizes",)),
    Call("Remedies(new)", Remedies, dict(activation="relu", forget_bias=None, clip=None, regularization=None,
                                         init="he", init_gain=1.0, residual=True, norm="layer", branch_scaling=True)),
    Call("exploding_chain(residual)", exploding_chain, dict(depth=4, a0=1.0, activation="sigmoid", forget_bias=2.0,
                                                            residual=True, branch_scale=0.5)),
]

BAD_SCALARS = [math.nan, math.inf, -math.inf, -1, 0, -0.5, 2.5, 1e308, -1e308, 10**30, True, False, "1", "abc", "",
               None, [1], (), {}, object(), 1j, np.float64("nan"), np.int64(-3), "bogus", "Sigmoid"]
BAD_ARRAYS = [None, "abc", 3, True, [], [[1.0, 2.0], [3.0]], np.full((2, 3), np.nan), np.full((1, 1), np.inf),
              np.ones((2, 2)), np.ones((5,)), np.ones((1, 1, 3)), np.array([[True, False]]), np.ones((2, 3)) * 1j,
              np.array([["a", "b", "c"]]), [[None]], np.zeros((0, 3)), np.ones((3, 3)), [np.ones(2)] * 5, {"w": 1}]


@st.composite
def bad_calls(draw):
    call = draw(st.sampled_from(CALLS))
    arg = draw(st.sampled_from(sorted(call.args)))
    pool = BAD_SCALARS + (BAD_ARRAYS if arg in call.arrays else [])
    return call, arg, draw(st.sampled_from(pool))


def _names(arg: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(arg)}\b")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_calls())
@example((CALLS[3], "y", np.full((2, 2), 0.5)))        # backprop: a y of the wrong width must not broadcast
@example((CALLS[4], "x", np.ones((1, 2))))              # a chain given a 2-column x
@example((CALLS[3], "y", np.full((2, 1), 5.0)))          # cross-entropy target 5
@example((CALLS[13], "case", "bogus"))
@example((CALLS[9], "clip_value", -1))
@example((CALLS[11], "lmbda", -5))
@example((CALLS[12], "clip", "yes"))
@example((CALLS[0], "unroll", 2.5))
@example((CALLS[1], "unroll", 10**30))             # an RNN unrolled 10^30 steps would never finish
@example((CALLS[6], "epochs", 0))
@example((CALLS[6], "epochs", -5))
@example((CALLS[6], "epochs", 10**30))
@example((CALLS[8], "max_norm", 0))
@example((CALLS[12], "activation", "bogus"))
@example((CALLS[6], "progress", 5))
def test_every_public_function_gives_a_result_or_a_value_error_naming_the_argument(bad_call):
    call, arg, value = bad_call
    kwargs = dict(call.args, **{arg: value})
    try:
        call.fn(**kwargs)
    except ValueError as error:
        assert _names(arg).search(str(error)), f"{call.name}({arg}={value!r}): {error}"


@pytest.mark.parametrize("what, thunk, argument", [
    ("y of the wrong width", lambda: backprop(NET, X, np.full((2, 2), 0.5)), "y"),
    ("y 1-D where the batch has 2 rows", lambda: backprop(NET, X, [0.5, 0.5]), "y"),
    ("y with one row for two rows of x", lambda: backprop(NET, X, [[0.5]]), "y"),
    ("a 2-column x for a chain", lambda: backprop(CHAIN, [[1.0, 2.0]], [[0.0]]), "x"),
    ("a 2-column y for a chain", lambda: backprop(CHAIN, [[1.0]], [[0.0, 0.0]]), "y"),
    ("cross-entropy target 5", lambda: backprop(NET, X, np.full((2, 1), 5.0), "cross_entropy"), "y"),
    ("cross-entropy target −0.5", lambda: backprop(NET, X, np.full((2, 1), -0.5), "cross_entropy"), "y"),
    ("train, cross-entropy target 5", lambda: train(NET, X, np.full((2, 1), 5.0), 1, 0.1), "y"),
    ("train, y of the wrong width", lambda: train(NET, X, np.full((2, 2), 0.5), 1, 0.1), "y"),
    ("NaN in x", lambda: backprop(NET, np.full((2, 3), np.nan), Y), "x"),
    ("inf in y", lambda: train(NET, X, np.full((2, 1), np.inf), 1, 0.1, cost="quadratic"), "y"),
    ("boolean x", lambda: forward(NET, np.ones((2, 3), dtype=bool)), "x"),
    ("string x", lambda: forward(NET, [["1", "2", "3"]]), "x"),
    ("ChainConfig(case='bogus')", lambda: ChainConfig(case="bogus"), "case"),
    ("ClipValue(-1)", lambda: ClipValue(-1), "clip_value"),
    ("L2(-5)", lambda: L2(-5), "lmbda"),
    ("clip='yes'", lambda: Remedies(clip="yes"), "clip"),
    ("unroll=2.5", lambda: Network([np.eye(2)], [np.zeros(2)], unroll=2.5), "unroll"),
    ("unroll=True", lambda: Network.chain_of([1.0], [0.0], unroll=True), "unroll"),
    ("epochs=0", lambda: train(NET, X, Y, epochs=0, eta=0.1), "epochs"),
    ("epochs=-5", lambda: train(NET, X, Y, epochs=-5, eta=0.1), "epochs"),
    ("ClipNorm(0)", lambda: ClipNorm(0), "max_norm"),
    ("an unknown case", lambda: ChainConfig(case="imploding"), "case"),
    ("an unknown activation", lambda: Network([np.eye(2)], [np.zeros(2)], "softsign"), "activation"),
    ("an unknown cost", lambda: backprop(NET, X, Y, "hinge"), "cost"),
    ("an unknown initialization", lambda: Remedies(init="lecun"), "init"),
    ("a NaN forget bias", lambda: vanishing_chain(3, forget_bias=math.nan), "forget_bias"),
    ("a string forget bias", lambda: exploding_chain(3, forget_bias="3"), "forget_bias"),
    ("an exploding chain whose b_1 would lose z*", lambda: exploding_chain(3, a0=1e300), "a0"),
    ("a negative seed", lambda: ChainConfig(seed=-1), "seed"),
    ("a chain's 2-D w", lambda: Network.chain_of(np.ones((2, 2)), np.zeros(4)), "w"),
    ("three gate vectors for a chain", lambda: Network.chain_of([1.0], [0.0], gates=([0.0], [1.0], [0.0])), "gates"),
    ("not a network", lambda: forward("net", X), "net"),
    ("not a config", lambda: analyze_chain({"depth": 4}), "config"),
])
def test_the_issues_bad_inputs_are_value_errors(what, thunk, argument):
    with pytest.raises(ValueError) as caught:
        thunk()
    assert _names(argument).search(str(caught.value)), (what, str(caught.value))


def test_valid_edge_inputs_still_work():
    """What the checks must not refuse: a vector x as one row, integer arrays, targets at 0 and 1, numpy
    integers for whole numbers, a NaN weight (a network that blew up is still a network)."""
    assert forward(NET, [1, 2, 3]).shape == (1, 1)
    assert backprop(NET, np.ones((2, 3), dtype=np.int64), [[0], [1]], "cross_entropy").cost > 0
    assert train(NET, X, Y, epochs=np.int64(2), eta=np.float32(0.1), seed=np.int64(3)).loss.shape == (3,)
    assert Network.chain_of(2.0, 0.5).depth == 1
    assert Network.chain_of([1.0], [0.0], unroll=np.int64(3)).depth == 3
    assert math.isnan(backprop(Network([[[np.nan]]], [[0.0]]), [[1.0]], [[0.0]]).cost)
    assert Remedies(forget_bias=np.float64(2.0)).gated and Remedies(init="he").init == "he"


# =========================================================================================
# 2. Totality over the page's range
# =========================================================================================

# Mostly small chains (where the interesting branches are), sometimes long ones; the longest (up to the
# maximum, 10000) in tests of their own with few examples.
depths = st.one_of(st.integers(1, 8), st.integers(1, 8), st.integers(9, 200), st.integers(201, 1000))
short_depths = st.one_of(st.integers(1, 8), st.integers(1, 8), st.integers(9, 100), st.integers(101, 500))
large_depths = st.one_of(st.integers(1001, 10_000), st.sampled_from([5000, 10_000]))
unit_floats = st.floats(-10.0, 10.0, allow_nan=False)
seeds = st.one_of(st.integers(0, 50), st.integers(0, 2**31 - 1))
forget_biases = st.one_of(st.none(), st.floats(-5.0, 10.0, allow_nan=False))


def log_uniform(low: float, high: float):
    return st.floats(math.log10(low), math.log10(high)).map(lambda e: min(max(10.0 ** e, low), high))


thresholds = st.one_of(st.sampled_from([1e-3, 1e6]), log_uniform(1e-3, 1e6))
clips = st.one_of(st.none(), st.builds(ClipNorm, thresholds), st.builds(ClipValue, thresholds))
lmbdas = st.one_of(st.sampled_from([0.0, 100.0]), st.floats(0.0, 100.0))
regularizations = st.one_of(st.none(), st.builds(L2, lmbdas), st.builds(L1, lmbdas))
etas = st.one_of(st.sampled_from([1e-4, 100.0]), log_uniform(1e-4, 100.0))
remedies = st.builds(Remedies, activation=st.sampled_from(["sigmoid", "relu"]), forget_bias=forget_biases,
                     clip=clips, regularization=regularizations, residual=st.booleans(), branch_scaling=st.booleans())


def chain_configs(depth=depths):
    return st.builds(ChainConfig, case=st.sampled_from(CASES), depth=depth, a0=unit_floats, y=unit_floats,
                     seed=seeds, remedies=remedies)


def check_analysis(config: ChainConfig) -> None:
    report = analyze_chain(config)
    assert report.depth == config.depth
    if report.overflow_layer is not None:
        # the forward pass itself left float64 (a gated ReLU chain grows without bound): no gradient exists
        assert not np.isfinite(report.a[report.overflow_layer - 1])
        assert np.isfinite(report.a[:report.overflow_layer - 1]).all()
        return
    assert not np.isnan(report.grad_b_log10).any(), report.grad_b_log10
    assert not (report.grad_b_log10 == np.inf).any(), report.grad_b_log10
    assert not np.isnan(report.factor_log10).any() and not np.isnan(report.da_db_log10).any()


@FUZZ
@given(chain_configs())
@example(ChainConfig(case="exploding", depth=1, a0=0.0, y=-0.0, remedies=Remedies(activation="relu")))
@example(ChainConfig(case="vanishing", depth=2, a0=-10.0, y=10.0, remedies=Remedies(activation="relu", forget_bias=10.0)))
def test_analyze_chain_is_total(config):
    check_analysis(config)


@settings(max_examples=5, **SLOW)
@given(chain_configs(large_depths))
@example(ChainConfig(case="vanishing", depth=10_000, remedies=Remedies(activation="relu")))
@example(ChainConfig(case="exploding", depth=10_000, a0=-10.0, y=10.0, remedies=Remedies(forget_bias=-5.0)))
@example(ChainConfig(case="vanishing", depth=4455, a0=2.0, remedies=Remedies(activation="relu", forget_bias=10.0)))
def test_analyze_long_chains(config):
    check_analysis(config)


def assert_history_is_sane(history) -> None:
    checklist = check_symptoms(history)
    loss = np.concatenate([history.loss, history.update_loss])
    if not np.isfinite(loss).all():
        assert checklist.present("loss_nan") or history.stopped_early, history.loss
    # log10 ‖∂C/∂b_l‖ is carried as a scaled number, so it is never +inf while the forward pass is finite:
    # +inf appears only at a moment whose loss is not finite (the forward pass itself overflowed)
    infinite = (history.grad_max_log10 == np.inf)
    assert not np.isfinite(history.loss[infinite]).any(), (history.grad_max_log10, history.loss)
    if not history.stopped_early:
        # every weight stayed finite, so how far they moved is a number
        assert not np.isnan(history.weight_change).any(), history.weight_change
        assert not np.isnan(history.update_weight_step).any(), history.update_weight_step
        assert all(np.isfinite(p).all() for p in history.network.parameters())
    assert checklist.verdict in VERDICTS
    assert set(checklist.because) <= {s.key for s in checklist if s.present}
    if checklist.verdict == "healthy":
        assert not checklist.present("dead") and not checklist.present("grows_back")


@FUZZ
@given(chain_configs(short_depths), st.builds(Training, steps=st.integers(1, 4), eta=etas))
@example(ChainConfig(case="exploding", depth=50), Training(3, 100.0))
@example(ChainConfig(case="exploding", depth=50, remedies=Remedies(activation="relu", regularization=L1(100.0))),
         Training(3, 100.0))
@example(ChainConfig(case="vanishing", depth=3, a0=10.0, y=-10.0, remedies=Remedies(activation="relu")),
         Training(4, 100.0))
# η = 100 and L2 λ = 100 multiply w by 1 − ηλ/n = −9999 each step: after 40 steps w ≈ 1.25e159, finite
@example(ChainConfig(depth=1, a0=0.0, remedies=Remedies(regularization=L2(100.0))), Training(40, 100.0))
# the loss passes through 5.8e-320 (a subnormal): no overflow warning from the checklist
@example(ChainConfig(depth=1, y=3.404635031016174e-160, remedies=Remedies(regularization=L2(100.0))), Training(3, 100.0))
# a dead chain with clipping by value: the clipped gradient's norm is 0 (it raised "math domain error")
@example(ChainConfig(depth=50, remedies=Remedies(activation="relu", clip=ClipValue(1.0))), Training(3, 0.1))
def test_train_chain_never_raises_and_reports_blow_ups(config, training):
    assert_history_is_sane(train_chain(config, training))


@settings(max_examples=3, **SLOW)
@given(st.sampled_from(CASES), st.sampled_from(["sigmoid", "relu"]), clips, etas)
def test_train_chain_at_the_maximum_depth(case, activation, clip, eta):
    config = ChainConfig(case=case, depth=10_000, remedies=Remedies(activation=activation, clip=clip))
    assert_history_is_sane(train_chain(config, Training(1, eta)))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CASES), seeds, st.sampled_from(["tanh", "relu"]), forget_biases, clips, regularizations,
       st.builds(Training, steps=st.integers(1, 4), eta=etas), st.sampled_from([None, "layer"]))
@example("exploding", 0, "relu", None, None, None, Training(5, 100.0), None)
# one step makes the weights ~50; the forward pass stays finite (loss 5.09e154) and so must every log10 norm
@example("vanishing", 0, "relu", None, None, L2(10.0), Training(1, 100.0), None)
@example("exploding", 0, "relu", 3.0, None, None, Training(3, 100.0), "layer")
def test_train_recurrent_never_raises(case, seed, activation, forget_bias, clip, regularization, training, norm):
    from gradviz.experiments.recurrent import RecurrentConfig, recurrent_gradients, train_recurrent

    config = RecurrentConfig(case=case, seed=seed, remedies=Remedies(activation=activation, forget_bias=forget_bias,
                                                                     clip=clip, regularization=regularization,
                                                                     norm=norm))
    norms = recurrent_gradients(config).log10_activation_grad_norms
    assert not np.isnan(norms).any() and not (norms == np.inf).any(), norms
    assert_history_is_sane(train_recurrent(config, training))


# --- minimal reproducers of bugs fuzzing found -----------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 2], ids=["chain", "layers"])
def test_relative_weight_change_of_huge_finite_weights(width):
    """w = 1e200 (finite), one step of L2 decay that halves it (η = 0.5, λ = 1, n = 1): the weights moved 50 %
    of their norm, and the record says 0.5 — not NaN from squaring 1e200, and not "the weights became NaN"
    (the finiteness check squared them too). σ'(1e200) = e^-1e200 is below even a scaled number's range
    (2^-(2^44)): it underflows to an exact 0, without an overflowing exponent."""
    net = Network([np.full((width, 1), 1e200)], [np.zeros(width)], "sigmoid")
    history = train(net, [[1.0]], np.zeros((1, width)), epochs=1, eta=0.5, cost="quadratic", regularization=L2(1.0))
    assert not history.stopped_early and (history.network.weights[0] == 5e199).all()
    assert history.update_weight_step.tolist() == [0.5]
    assert history.weight_change[:, 0].tolist() == [0.0, 0.5]
    assert not history.symptoms.present("weights_nan")
    tiny = train(Network([np.full((width, 1), 1e-200)], [np.zeros(width)], "sigmoid"), [[1.0]], np.zeros((1, width)),
                 epochs=1, eta=0.5, cost="quadratic")
    assert np.isfinite(tiny.update_weight_step).all() and tiny.update_weight_step[0] > 1e190  # moved far beyond 1e-200


@pytest.mark.parametrize("path", ["kernel", "loop"])
def test_a_slope_far_below_any_scale_is_an_exact_zero_not_a_wrapped_exponent(path):
    """z = 1e200: σ'(z) = e^-1e200, whose binary exponent (−1.4e200) no int64 holds. It underflows to 0 (the
    gradient is exactly 0, log10 −inf) instead of wrapping to a huge positive exponent; at z = 1e12 the slope
    e^-1e12 is still carried exactly."""
    for z, expected in ((1e200, -math.inf), (1e12, -1e12 / math.log(10) + math.log10(0.5 * 1.0))):
        net = Network.chain_of([z, 1.0], [0.0, -1.0])  # a_1 = σ(z) = 1, z_2 = 0, a_2 = ½: ∂C/∂a_2 = ½, σ'(0) = ¼
        g = gradients_of(net, [[1.0]], [[0.0]], kernel=path == "kernel")
        want = expected + math.log10(0.25) if math.isfinite(expected) else expected
        assert g.log10_bias_norms[0] == pytest.approx(want, rel=1e-14), z


def test_backprop_norm_of_a_finite_gradient_is_finite():
    """Two plain ReLU layers of width 2, W_1 = 1e-160·I, W_2 = 1e160·I, x = [1, 1], y = 0: a_2 = x, the cost is
    1 and ∂C/∂b_1 = [1e160, 1e160]; its norm's square overflows float64, its log10 norm must not."""
    net = Network([1e-160 * np.eye(2), 1e160 * np.eye(2)], [np.zeros(2), np.zeros(2)], "relu")
    gradients = backprop(net, np.array([[1.0, 1.0]]), np.zeros((1, 2)), "quadratic")
    assert gradients.cost == 1.0
    assert np.isfinite(gradients.nabla_b[0]).all()
    assert np.allclose(gradients.log10_bias_norms, [160 + math.log10(math.sqrt(2)), math.log10(math.sqrt(2))])
    assert np.isfinite(gradients.log10_weight_norms).all(), gradients.log10_weight_norms
    assert np.isfinite(gradients.log10_activation_grad_norms).all(), gradients.log10_activation_grad_norms
    # ‖g‖² = ‖∂C/∂b_1‖² + ‖∂C/∂W_1‖² + … = 2e320 + 4e320 + (2 + 4e-320): the global norm is √6 · 1e160
    assert gradients.ln_norm == pytest.approx(0.5 * math.log(6.0) + 160 * math.log(10.0), rel=1e-14)


def test_a_partly_gated_chain_gives_no_gate_gradient_to_its_plain_layers():
    """A width-1 chain gated in some layers only: the plain layers have no gate parameters at all (so training's
    global norm and clipping count only real parameters; an older chain stored zeros there and gave them
    σ'(0)-weighted phantom gradients), and the kernel, running it as runs of one kind of layer, agrees with the loop."""
    gates = (Gate.constant(1, 1.0), None, Gate.constant(1, -1.0))
    net = Network([[[0.5]], [[2.0]], [[-1.5]]], [[0.1], [0.2], [0.3]], "tanh", gates)
    g = backprop(net, [[0.7]], [[0.2]])
    stack = gradients_of(net, [[0.7]], [[0.2]], kernel=False)
    assert g.ln_norm == pytest.approx(stack.ln_norm, rel=1e-13)
    assert [name for name in g.names if name in ("wf", "bf", "wi", "bi")] == ["wf", "bf", "wi", "bi"] * 2
    for p, q in zip(g.params, stack.params, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-13)
