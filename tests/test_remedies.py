"""The remedy registry (gradviz.training.remedies.REMEDIES) and the experiments that fold it: each remedy's settings
rows, what it changes in a network or a training run, where it does not apply (with the catalogue key that says
why), and the experiments' configs with skip connections and normalization."""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np
import pytest

from gradviz.engine.network import Design
from gradviz.experiments.chain import ChainConfig, analyze_chain
from gradviz.experiments.nielsen import NielsenConfig, hidden_layer_factor, initial_speeds, nielsen_setup, train_nielsen
from gradviz.experiments.recurrent import RecurrentConfig, recurrent_gradients, recurrent_setup
from gradviz.training.descent import Training
from gradviz.training.remedies import (EXPERIMENTS, L1, L2, REGISTRY, REMEDIES, ClipNorm, ClipValue, NoClip,
                                       NoRegularization, Remedies, SettingRow, TrainingRules, applicable, catalogue_keys,
                                       network_design, training_rules)

pytestmark = pytest.mark.filterwarnings("error")

ALL_ON = Remedies("relu", 2.0, ClipNorm(1.0), L1(0.5), residual=True, norm="layer", branch_scaling=True)


def test_the_registry_has_one_entry_per_remedy_in_the_page_order():
    assert [remedy.name for remedy in REMEDIES] == ["relu", "gating", "clip", "regularize", "skip", "norm"]
    assert REGISTRY["skip"].label_key == "remedy.skip"
    rows = [row.name for remedy in REMEDIES for row in remedy.rows]
    assert len(rows) == len(set(rows))
    for remedy in REMEDIES:
        assert remedy.rows[0].place == "top" and all(row.place == "remedies" for row in remedy.rows[1:])
        assert all(row.shown_if == remedy.rows[0].name for row in remedy.rows[1:])
        for experiment, reason in remedy.unavailable.items():
            assert experiment in EXPERIMENTS
            keys = reason.values() if isinstance(reason, dict) else [reason]
            assert all(isinstance(key, str) and key.startswith(("remedy.", "settings.")) for key in keys)
        for experiment, keys in remedy.sentences.items():
            assert experiment in EXPERIMENTS and remedy.applies(experiment) and all(isinstance(k, str) for k in keys)


def test_every_sentence_key_fills_from_the_facts_its_experiment_gives():
    """A sentence's placeholders are filled from the facts the page gives its experiment (the page's sections build
    them: gradviz.page.sections): every key's placeholders are among those names, in both languages."""
    from gradviz.page.i18n import catalogue, placeholders

    facts = {"chain": {"case", "dead", "n", "product_log10", "product", "factor", "f", "low", "high", "form", "slope",
                       "ratio", "capped", "updates", "lmbda", "penalty", "first"},
             "nielsen": {"case", "ratio", "predicted", "log10_ratio", "capped", "updates", "base"},
             "recurrent": {"case", "ratio", "f", "log10_ratio", "theory", "measured", "capped", "updates"},
             "deep": {"measured", "predicted", "depth", "blocks", "digit"}}
    messages = catalogue()
    for remedy in REMEDIES:
        for experiment, keys in remedy.sentences.items():
            for key in keys:
                for text in messages[key].values():
                    assert placeholders(text) <= facts[experiment], (key, placeholders(text) - facts[experiment])
        if remedy.theory_key:
            assert all(not placeholders(text) for text in messages[remedy.theory_key].values())


def test_the_page_takes_its_remedy_rows_from_the_registry():
    """The page's settings table holds every registry row field for field (Setting(**asdict(row))), the switches on
    top in the registry's order; the remedies beyond the article mean nothing in the lesson's URL."""
    from gradviz.page.settings import SETTINGS, SWITCHES, TABLE

    for remedy in REMEDIES:
        for row in remedy.rows:
            page = SETTINGS[row.name]
            assert {f.name: getattr(page, f.name) for f in fields(SettingRow)} == \
                {f.name: getattr(row, f.name) for f in fields(SettingRow)}, row.name
            assert page.only == (None if remedy.in_article else "sections")
    assert list(SWITCHES) == [remedy.rows[0].name for remedy in REMEDIES]
    tops = [s.name for s in TABLE if s.place == "top" and s.name in SWITCHES]
    assert tops == list(SWITCHES)
    assert [remedy.name for remedy in REMEDIES if remedy.in_article] == ["relu", "gating", "clip", "regularize"]


def test_from_settings_reads_every_remedy():
    from gradviz.page.settings import DEFAULTS

    values = {**DEFAULTS, "relu": True, "gating": True, "clip": True, "clip_by": "value", "regularize": True,
              "penalty": "L1"}
    assert Remedies.from_settings(values) == Remedies("relu", 3.0, ClipValue(1.0), L1(5.0))
    values = {**DEFAULTS, "skip": True, "branch_scaling": True, "norm": "batch"}
    assert Remedies.from_settings(values) == Remedies(residual=True, branch_scaling=True, norm="batch")
    assert Remedies.from_settings(DEFAULTS) == Remedies()


def test_each_remedy_changes_the_design_or_the_rules_and_nothing_else():
    base = Design()
    assert network_design(Remedies(), "nielsen", base) == base
    assert training_rules(Remedies()) == TrainingRules()
    design = network_design(ALL_ON, "nielsen", base, blocks=4)
    assert design == Design("relu", 2.0, "layer", "post", 0.5)
    assert network_design(Remedies(residual=True), "deep", base, blocks=49).residual == "pre"
    assert network_design(Remedies(activation="tanh"), "recurrent", Design("relu")).activation == "tanh"
    assert network_design(Remedies(), "recurrent", Design("tanh")).activation == "tanh"  # the article's sigmoid → tanh
    assert training_rules(ALL_ON) == TrainingRules(ClipNorm(1.0), L1(0.5))
    nielsen = TrainingRules(regularization=L2(5.0))
    assert training_rules(Remedies(), nielsen) == nielsen  # Nielsen's own L2 stays unless the remedy replaces it
    assert training_rules(Remedies(regularization=L1(1.0)), nielsen).regularization == L1(1.0)


@pytest.mark.parametrize("experiment, off", [
    ("chain", {"norm"}), ("nielsen", set()), ("recurrent", {"skip"}), ("deep", {"gating", "clip", "regularize"}),
    ("phase", {"gating", "clip", "regularize", "skip", "norm"}), ("cliff", {"relu", "gating", "regularize", "skip", "norm"}),
    ("your_run", {name for name in REGISTRY})])
def test_applicable_turns_off_what_does_not_apply_and_says_why(experiment, off):
    kept = applicable(ALL_ON, experiment)
    for remedy in REMEDIES:
        assert remedy.is_on(kept) == (remedy.name not in off), remedy.name
        reason = remedy.why_not(experiment, ALL_ON)
        assert (reason is None) == (remedy.name not in off)
    assert kept.init == ALL_ON.init and kept.init_gain == ALL_ON.init_gain


def test_normalization_applies_to_the_rnn_as_layer_norm_only():
    norm = REGISTRY["norm"]
    assert norm.why_not("recurrent", Remedies(norm="layer")) is None
    assert norm.why_not("recurrent", Remedies(norm="batch")) == "remedy.norm.na.recurrent_batch"
    assert norm.why_not("chain", Remedies(norm="layer")) == "remedy.norm.na.chain"
    assert applicable(Remedies(norm="batch"), "recurrent").norm is None
    with pytest.raises(ValueError, match="experiment"):
        norm.why_not("theory")


def test_theory_lines_come_with_the_remedies():
    assert REGISTRY["skip"].theory("relu", 2.0) == pytest.approx(math.sqrt(2.0), rel=1e-15)
    assert REGISTRY["skip"].theory("relu", 2.0, 1.0 / math.sqrt(50)) == pytest.approx(math.sqrt(1.02), rel=1e-15)
    assert REGISTRY["norm"].theory("batch", "relu") == pytest.approx(1.2111739, rel=1e-7)
    assert REGISTRY["norm"].theory("batch", "tanh") is None
    assert REGISTRY["norm"].theory("layer", "relu", 2.0, 0.0) == pytest.approx(1.0, rel=1e-12)
    assert REGISTRY["clip"].theory is None


@pytest.mark.parametrize("make, match", [
    (lambda: ChainConfig(remedies=Remedies(norm="layer")), "norm"),
    (lambda: RecurrentConfig(remedies=Remedies(norm="batch")), "norm"),
    (lambda: RecurrentConfig(remedies=Remedies(residual=True)), "skip"),
    (lambda: RecurrentConfig(width=1, remedies=Remedies(norm="layer")), "width"),
    (lambda: NielsenConfig(width=1, remedies=Remedies(norm="layer")), "width"),
    (lambda: Remedies(norm="group"), "norm"), (lambda: Remedies(residual="yes"), "residual"),
    (lambda: Remedies(branch_scaling=1), "branch_scaling"), (lambda: NielsenConfig(remedies="relu"), "remedies"),
])
def test_configs_refuse_what_does_not_apply(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_defaults_reproduce_the_results_without_the_new_remedies():
    assert Remedies() == Remedies("sigmoid", None, NoClip(), NoRegularization(), "nielsen", 1.0, False, None, False)
    assert NielsenConfig().rules == TrainingRules(NoClip(), L2(5.0)) and NielsenConfig().speed == "bias"


# --- the experiments with the new remedies ------------------------------------------------------------------------


def test_nielsen_with_residual_hidden_layers():
    cfg = NielsenConfig(n_hidden=3, remedies=Remedies(residual=True))
    net, x, y = nielsen_setup(cfg)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Dense", "Residual", "Residual", "Dense"]
    speeds = initial_speeds(cfg, 2)
    plain = initial_speeds(replace(cfg, remedies=Remedies()), 2)
    # the skip path carries the gradient down: the first hidden layer learns far faster than without it
    assert np.median(speeds[:, 2] - speeds[:, 0]) < np.median(plain[:, 2] - plain[:, 0]) - 0.3
    assert hidden_layer_factor(cfg) is None


def test_nielsen_with_batch_norm_records_the_weights_and_is_not_dead():
    cfg = NielsenConfig(n_hidden=2, remedies=Remedies(norm="batch"))
    assert cfg.speed == "weight"
    history = train_nielsen(cfg, Training(3))
    assert history.speed == "weight" and np.isfinite(history.grad_log10).all()
    assert history.symptoms.verdict != "dead"
    assert np.isfinite(initial_speeds(cfg, 1)).all()
    assert hidden_layer_factor(replace(cfg, remedies=Remedies("relu", norm="batch"))) == pytest.approx(1.2111739)


def test_the_exploding_nielsen_network_is_centred_through_its_skip_connections():
    """b_l = −W_l·mean(a_{l−1}) with a_{l−1} what the layers below really output: every z is 0 on the mean digit."""
    net, x, _ = nielsen_setup(NielsenConfig("exploding", n_hidden=3, remedies=Remedies(residual=True, forget_bias=1.0)))
    a = x
    for layer in net.layers:
        cache = layer.forward(a)
        np.testing.assert_allclose(cache.z.mean(axis=0), 0.0, atol=1e-9)
        a = cache.a


def test_a_layer_normalized_rnn():
    cfg = RecurrentConfig(steps=30, remedies=Remedies(norm="layer"))
    net, _, _ = recurrent_setup(cfg)
    assert net.unroll == 30 and type(net.layers[0].norm).__name__ == "LayerNorm"
    norms = recurrent_gradients(cfg).log10_signal_norms
    assert np.isfinite(norms).all() and norms.shape == (31,)


def test_the_chain_report_with_every_applicable_remedy():
    """ReLU, gates and a skip scaled by 1/√L together: each factor is 1 + s·(f + i w relu'(z)), read from the
    report's own columns; a neuron that is off has an exactly-zero bias gradient, never NaN."""
    report = analyze_chain(ChainConfig("vanishing", 20, remedies=applicable(ALL_ON, "chain")))
    expected = 1.0 + (report.f + report.i * report.w * (report.z > 0)) / math.sqrt(20)
    np.testing.assert_allclose(10.0 ** report.factor_log10 * report.factor_sign, expected, rtol=1e-13)
    assert not np.isnan(report.grad_b_log10).any() and np.isfinite(report.grad_b_log10).any()
