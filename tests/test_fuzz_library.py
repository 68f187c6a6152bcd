"""Property-based fuzzing of the library over the dashboard's whole input space (hypothesis).

Every config is drawn from the ranges the sidebar allows (app.SETTINGS), so whatever a user can dial
in must analyse, train, diagnose and print without raising and without a raw 'nan' / 'inf' in the
text. pytest turns RuntimeWarning into an error (pyproject.toml), so a stray numpy overflow or
invalid-value warning fails here too.

Cost: depth up to 10000 is drawn rarely, and training keeps a few steps (a 10000-layer chain takes
about a quarter of a second per step); the whole file runs in well under a minute on 2 cores.

Bugs this fuzzing found are pinned as explicit examples and as minimal reproducers:
    test_backprop_norm_of_a_finite_gradient_is_finite       log10 norms overflow to +inf past ~1e154
    test_relative_weight_change_of_huge_finite_weights      weight changes NaN / inf for finite weights
    test_check_symptoms_does_not_overflow_on_a_subnormal_loss   RuntimeWarning from diagnostics
    test_long_gated_relu_chain_keeps_its_gradients          NaN gradients once the forward pass overflows
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from gradviz.chain import CASES, ChainConfig, analyze_chain
from gradviz.diagnostics import check_symptoms
from gradviz.experiments import RecurrentConfig, Training, recurrent_gradients, train_chain, train_recurrent
from gradviz.explain import chain_rule_latex, chain_story
from gradviz.formatting import magnitude_latex, magnitude_text, ratio_text
from gradviz.network import Network, backprop
from gradviz.remedies import L1, L2, ClipNorm, ClipValue
from gradviz.training import train
from gradviz.urlstate import Param, parse_params

RAW_WORD = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)
# Deliberate prose, not a printed number: the two symptom names and the one evidence phrase that
# describes a blow-up in words ("a weight became NaN or infinite at update 3").
PROSE = ("loss becomes NaN", "weights become NaN", "NaN or infinite")
VERDICTS = {"vanishing", "exploding", "healthy"}

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# For examples that take seconds: no shrinking, which could otherwise run for minutes after a failure.
SLOW = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow],
            phases=(Phase.explicit, Phase.reuse, Phase.generate))


def raw_words(text: str) -> list[str]:
    for phrase in PROSE:
        text = text.replace(phrase, "")
    return RAW_WORD.findall(text)


# --- strategies over the sidebar's ranges ----------------------------------------------------------------

# Mostly small chains (where the interesting branches are), sometimes long ones; the longest (up to the
# maximum, 10000) in tests of their own with few examples, since a gated 10000-layer chain takes seconds.
depths = st.one_of(st.integers(1, 8), st.integers(1, 8), st.integers(9, 200), st.integers(201, 1000))
short_depths = st.one_of(st.integers(1, 8), st.integers(1, 8), st.integers(9, 100), st.integers(101, 500))
large_depths = st.one_of(st.integers(1001, 10_000), st.sampled_from([5000, 10_000]))
unit_floats = st.floats(-10.0, 10.0, allow_nan=False)
seeds = st.one_of(st.integers(0, 50), st.integers(0, 2**31 - 1))
forget_biases = st.one_of(st.none(), st.floats(-5.0, 10.0, allow_nan=False))


def chain_configs(depth=depths):
    return st.builds(ChainConfig, case=st.sampled_from(CASES), depth=depth, a0=unit_floats, y=unit_floats,
                     seed=seeds, activation=st.sampled_from(["sigmoid", "relu"]), forget_bias=forget_biases)


def log_uniform(low: float, high: float):
    return st.floats(math.log10(low), math.log10(high)).map(lambda e: min(max(10.0 ** e, low), high))


thresholds = st.one_of(st.sampled_from([1e-3, 1e6]), log_uniform(1e-3, 1e6))
clips = st.one_of(st.none(), st.builds(ClipNorm, thresholds), st.builds(ClipValue, thresholds))
lmbdas = st.one_of(st.sampled_from([0.0, 100.0]), st.floats(0.0, 100.0))
regularizations = st.one_of(st.none(), st.builds(L2, lmbdas), st.builds(L1, lmbdas))
etas = st.one_of(st.sampled_from([1e-4, 100.0]), log_uniform(1e-4, 100.0))


def trainings(epochs):
    return st.builds(Training, epochs=epochs, eta=etas, clip=clips, regularization=regularizations)


# --- the chain, analysed ----------------------------------------------------------------------------------


def check_analysis(config: ChainConfig) -> None:
    report = analyze_chain(config)
    grad_b = report.layers["grad_b_log10"].to_numpy()
    assert len(grad_b) == config.depth
    if report.overflow_layer is not None:
        # the forward pass itself left float64 (a gated ReLU chain grows without bound): the page says so
        # instead of showing the formula, and nothing here may be +inf or NaN before that layer's input
        assert not np.isfinite(report.layers["a"].iloc[report.overflow_layer - 1])
        return
    assert not np.isnan(grad_b).any(), grad_b
    assert not (grad_b == np.inf).any(), grad_b
    latex, story = chain_rule_latex(report), chain_story(report)
    assert not RAW_WORD.search(latex), latex
    assert not RAW_WORD.search(story), story


@FUZZ
@given(chain_configs())
@example(ChainConfig(case="exploding", depth=1, a0=0.0, y=-0.0, activation="relu"))
@example(ChainConfig(case="vanishing", depth=2, a0=-10.0, y=10.0, activation="relu", forget_bias=10.0))
def test_analyze_chain_is_total_and_prints_no_raw_nan_or_inf(config):
    check_analysis(config)


@settings(max_examples=6, **SLOW)
@given(chain_configs(large_depths))
@example(ChainConfig(case="vanishing", depth=10_000, activation="relu"))
@example(ChainConfig(case="exploding", depth=10_000, a0=-10.0, y=10.0, forget_bias=-5.0))
# found by this test (see test_long_gated_relu_chain_keeps_its_gradients): the forward pass overflows
@example(ChainConfig(case="vanishing", depth=4455, a0=2.0, activation="relu", forget_bias=10.0))
def test_analyze_long_chains(config):
    check_analysis(config)


def test_long_gated_relu_chain_reports_its_forward_overflow():
    """The page's ?depth=5000&a0=2&relu=1&gating=1&forget_bias=10: in the gated ReLU chain
    a_j = f·a_{j−1} + ½·relu(w_j a_{j−1} + b_j) with f = σ(10) ≈ 1 grows wherever w_j > 0, reaching 1.2e276 at
    layer 4000 and overflowing float64 at layer 4455 (seed 0). No gradient is computable past an infinite
    activation: the report names the layer, and nothing warns on the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = analyze_chain(ChainConfig(case="vanishing", depth=5000, a0=2.0, activation="relu", forget_bias=10.0))
    assert report.overflow_layer == 4455
    assert np.isfinite(report.layers["a"].iloc[:4454]).all()
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]


# --- the chain, trained -----------------------------------------------------------------------------------


def assert_history_is_sane(history) -> None:
    loss = np.concatenate([history.loss["loss"].to_numpy(), history.steps["loss"].to_numpy()])
    checklist = check_symptoms(history)
    if not np.isfinite(loss).all():
        assert checklist.present("loss becomes NaN") or history.stopped_early, history.loss
    # log10 ‖∂C/∂b_l‖ is computed in log space, so it is never +inf while the forward pass is finite. Where
    # the forward pass itself overflowed (finite weights, a_L = inf, so the loss at that epoch is inf and
    # "loss becomes NaN" says so), the float64 forward pass cannot carry the gradient and +inf is tolerated.
    speeds = history.speeds.merge(history.loss, on="epoch")
    infinite = speeds[speeds["speed_log10"] == np.inf]
    assert np.isfinite(infinite["loss"]).sum() == 0, infinite
    if not history.stopped_early:
        # every weight stayed finite, so how far they moved is a number, and nothing may claim otherwise
        assert not history.weight_change["change"].isna().any(), history.weight_change
        assert not history.steps["weight_step"].isna().any(), history.steps
        jump = next(s for s in checklist if s.name == "weights change a lot")
        assert "NaN or infinite" not in jump.evidence, (jump.evidence, "yet", "every weight stayed finite")
    assert checklist.verdict in VERDICTS
    for symptom in checklist:
        assert isinstance(symptom.present, bool)
        assert not raw_words(symptom.evidence), (symptom.name, symptom.evidence)


@FUZZ
@given(chain_configs(short_depths), trainings(st.integers(1, 4)))
@example(ChainConfig(case="exploding", depth=50), Training(3, 100.0))
@example(ChainConfig(case="exploding", depth=50, activation="relu"), Training(3, 100.0, regularization=L1(100.0)))
@example(ChainConfig(case="vanishing", depth=3, a0=10.0, y=-10.0, activation="relu"), Training(4, 100.0))
# found by fuzzing (see test_relative_weight_change_of_huge_finite_weights): with η = 100 and L2 λ = 100 every
# step multiplies w by 1 − ηλ/n = −9999, so after 40 steps w ≈ 1.25e159, finite, yet the recorded weight
# changes are inf / NaN and the checklist says an update made the weights "NaN or infinite"
@example(ChainConfig(depth=1, a0=0.0), Training(40, 100.0, regularization=L2(100.0)))
# found by fuzzing (see test_check_symptoms_does_not_overflow_on_a_subnormal_loss): the loss passes through
# 5.8e-320, and check_symptoms' "loss unstable" test divides by it with only divide/invalid silenced
@example(ChainConfig(depth=1, y=3.404635031016174e-160), Training(3, 100.0, regularization=L2(100.0)))
def test_train_chain_never_raises_and_reports_blow_ups(config, training):
    assert_history_is_sane(train_chain(config, training))


def test_relative_weight_change_of_huge_finite_weights():
    """Minimal reproducer: one sigmoid neuron with w = 1e200, one step of L2 weight decay that halves it
    (η = 0.5, λ = 1, n = 1). The weight ends at 5e199, finite, having moved 50 % of its norm. But
    training._relative_changes squares the raw entries (1e200² overflows), so weight_change and weight_step
    come out NaN (inf / inf), "weights change a lot" claims an update made the weights NaN or infinite
    while "weights become NaN" says every weight stayed finite, and the verdict is "exploding"."""
    history = train(Network([np.array([[1e200]])], [np.zeros(1)], "sigmoid"), [[1.0]], [[0.0]], epochs=1, eta=0.5,
                    cost="quadratic", regularization=L2(1.0))
    assert not history.stopped_early and history.network.weights[0][0, 0] == 5e199
    assert history.steps["weight_step"].tolist() == [0.5], history.steps
    assert history.weight_change["change"].tolist() == [0.0, 0.5], history.weight_change
    jump = next(s for s in history.symptoms if s.name == "weights change a lot")
    assert "NaN or infinite" not in jump.evidence, jump.evidence


def test_check_symptoms_does_not_overflow_on_a_subnormal_loss():
    """Minimal reproducer (reachable from the URL: ?depth=1&y=3.404635031016174e-160&regularize=1&lmbda=100&eta=100
    &steps=3): the per-update losses are [0.124, 5.8e-320, 0.5]; diagnostics._unstable computes
    (after − before) / |before| under np.errstate(invalid=, divide="ignore") but not over=, so dividing by the
    subnormal 5.8e-320 emits "RuntimeWarning: overflow encountered in divide" (an error under this project's
    pytest settings, a logged warning in the app)."""
    history = train_chain(ChainConfig(depth=1, y=3.404635031016174e-160), Training(3, 100.0, regularization=L2(100.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        checklist = check_symptoms(history)
    assert checklist.present("loss unstable between updates")


@settings(max_examples=3, **SLOW)
@given(st.sampled_from(CASES), st.sampled_from(["sigmoid", "relu"]), clips, etas)
def test_train_chain_at_the_maximum_depth(case, activation, clip, eta):
    """One step at depth 10000, ungated (a gated 10000-layer chain takes about 7 s per step)."""
    config = ChainConfig(case=case, depth=10_000, activation=activation)
    assert_history_is_sane(train_chain(config, Training(1, eta, clip)))


# --- the RNN ----------------------------------------------------------------------------------------------


@FEW
@given(st.builds(RecurrentConfig, case=st.sampled_from(CASES), seed=seeds, activation=st.sampled_from(["tanh", "relu"]),
                 forget_bias=forget_biases),
       trainings(st.integers(1, 5)))
@example(RecurrentConfig(case="exploding", activation="relu"), Training(5, 100.0))
# found by this test: one step makes the weights ~50, the forward pass stays finite (loss 5.09e154), yet
# log10 ‖∂C/∂b_1‖ at epoch 1 is +inf (see test_backprop_norm_of_a_finite_gradient_is_finite)
@example(RecurrentConfig(case="vanishing", seed=0, activation="relu"), Training(1, 100.0, regularization=L2(10.0)))
def test_train_recurrent_never_raises(config, training):
    norms = recurrent_gradients(config).log10_activation_grad_norms
    assert not np.isnan(norms).any() and not (np.asarray(norms) == np.inf).any(), norms
    assert_history_is_sane(train_recurrent(config, training))


def test_backprop_norm_of_a_finite_gradient_is_finite():
    """Minimal reproducer of the bug behind the RNN failure above. Two plain ReLU layers of width 2,
    W_1 = 1e-160·I, W_2 = 1e160·I, x = [1, 1], y = 0: a_2 = x, the cost is 1 and ∂C/∂b_1 = [1e160, 1e160],
    finite and well inside the plain-float path's trusted range (≤ 1e250). But that path takes
    np.linalg.norm of it, which squares 1e160 and overflows, so log10 ‖∂C/∂b_1‖ comes out +inf instead of
    160.15 (what the log-space path gives); ‖∂C/∂W_1‖ and ‖∂C/∂a_1‖ likewise."""
    net = Network([1e-160 * np.eye(2), 1e160 * np.eye(2)], [np.zeros(2), np.zeros(2)], "relu")
    gradients = backprop(net, np.array([[1.0, 1.0]]), np.zeros((1, 2)), "quadratic")
    assert gradients.cost == 1.0
    assert np.isfinite(gradients.nabla_b[0]).all()
    assert np.allclose(gradients.log10_bias_norms, [160 + math.log10(math.sqrt(2)), math.log10(math.sqrt(2))])
    assert np.isfinite(gradients.log10_weight_norms).all(), gradients.log10_weight_norms
    assert np.isfinite(gradients.log10_activation_grad_norms).all(), gradients.log10_activation_grad_norms


# --- URL parameters ---------------------------------------------------------------------------------------

# A copy of part of app.SETTINGS (importing app.py would run the page).
SPECS = {
    "depth": Param("int", 4, 1, 10_000),
    "a0": Param("float", 1.0, -10.0, 10.0),
    "seed": Param("int", 0, 0, 2**31 - 1),
    "relu": Param("bool", False),
    "clip_by": Param("choice", "global norm", choices=("global norm", "value")),
    "clip_threshold": Param("float", 1.0, 1e-3, 1e6),
    "lmbda": Param("float", 5.0, 0.0, 100.0),
    "eta": Param("float", 0.1, 1e-4, 100.0),
}

numberish = st.one_of(
    st.floats().map(repr), st.floats().map(lambda v: f"{v:.3e}"), st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "1e-400", " 5 ", "0x10",
                     "1_000", "٣", "１.５", "", " ", "true", "Yes", "value", "global norm", "L2", "<script>alert(1)</script>",
                     "9" * 5000, "0." + "0" * 400 + "1"]),
)
values_text = st.one_of(st.text(), numberish)
keys = st.one_of(st.sampled_from(list(SPECS)), st.text(max_size=40))


def _kind_ok(spec: Param, value) -> bool:
    if spec.kind == "bool":
        return isinstance(value, bool)
    if spec.kind == "choice":
        return value in spec.choices
    if spec.kind == "int":
        return type(value) is int and spec.low <= value <= spec.high
    return type(value) is float and spec.low <= value <= spec.high


def _allowed_notices(name: str, spec: Param) -> set[str]:
    """Every notice a parameter of this spec may produce: none repeats what the URL said."""
    bounds = [spec.low, spec.high] if spec.kind in ("int", "float") else []
    shown = {int(round(b)) if spec.kind == "int" else float(b) for b in bounds}
    return ({f"The URL's value for “{name}” is not valid; using the default, {spec.default}."}
            | {f"The URL's value for “{name}” is out of range; using the nearest allowed, {v}." for v in shown})


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(keys, values_text, max_size=8))
@example({"depth": "-5", "eta": "nan", "seed": "<script>alert(1)</script>", "relu": "maybe", "clip_by": "evil",
          "unknown": "1", "<b>": "x", "a0": "-inf"})
def test_parse_params_is_total_bounded_and_never_echoes_values(params):
    values, notices = parse_params(params, SPECS)
    assert set(values) == set(SPECS)
    for name, spec in SPECS.items():
        assert _kind_ok(spec, values[name]), (name, params.get(name), values[name])
    allowed = set().union(*(_allowed_notices(name, spec) for name, spec in SPECS.items()))
    unknown = [key for key in params if key not in SPECS]
    allowed |= {"Ignored an unknown URL parameter."}
    allowed |= {f"Ignored the unknown URL parameter “{key[:30]}”." for key in unknown if key.isidentifier()}
    for notice in notices:
        assert notice in allowed, notice
        assert "<" not in notice and ">" not in notice
    assert len(notices) <= len(params)
    assert len([n for n in notices if n.startswith("Ignored")]) == len(unknown)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(list(SPECS)), values_text)
def test_a_parsed_value_is_its_own_fixed_point(name, raw):
    """What the app writes back to the URL (the parsed value) parses to itself, without a notice."""
    values, _ = parse_params({name: raw}, SPECS)
    value = values[name]
    text = ("1" if value else "0") if isinstance(value, bool) else (f"{value:.12g}" if isinstance(value, float) else str(value))
    again, notices = parse_params({name: text}, SPECS)
    assert notices == []
    assert again[name] == value or math.isclose(again[name], value, rel_tol=1e-11)


# --- number formatting ------------------------------------------------------------------------------------

any_floats = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5.999999999999,
                                                      -3.0000000001, 1e16 + 0.5, 5e-324]))
finite_floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.floats(-400.0, 400.0))
signs = st.sampled_from([1.0, -1.0, 0.0, -0.0])


@settings(max_examples=300, deadline=None)
@given(any_floats, signs, st.integers(1, 10))
def test_magnitude_text_and_latex_are_total(log10_value, sign, digits):
    text = magnitude_text(log10_value, sign, digits)
    latex = magnitude_latex(log10_value, sign, digits)
    assert isinstance(text, str) and text and isinstance(latex, str) and latex
    assert not RAW_WORD.search(text.replace("NaN", "")), text
    assert not RAW_WORD.search(latex.replace(r"\text{NaN}", "")), latex


@settings(max_examples=300, deadline=None)
@given(finite_floats, signs, st.integers(1, 10))
def test_magnitude_of_a_finite_log10_never_says_nan_or_inf(log10_value, sign, digits):
    for text in (magnitude_text(log10_value, sign, digits), magnitude_latex(log10_value, sign, digits)):
        lowered = text.lower()
        assert "nan" not in lowered and "inf" not in lowered and "∞" not in text, (log10_value, text)


@settings(max_examples=300, deadline=None)
@given(any_floats, any_floats)
def test_ratio_text_is_total(p, q):
    text = ratio_text(p, q)
    assert isinstance(text, str) and text
    assert not RAW_WORD.search(text.replace("NaN", "")), text
    if math.isfinite(p) and math.isfinite(q):
        assert "nan" not in text.lower() and "inf" not in text.lower(), (p, q, text)
