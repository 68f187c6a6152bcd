"""Skip connections and normalization on the page (app.py, gradviz/page/sections): the switches in both languages,
their URL keys, disabled with the registry's reason where they do not act, hidden in the lesson; every remedy
sentence against the numbers it is computed from; the deep networks' theory lines beside the measurement; batch
norm's zero bias gradient never read as a dead network."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from gradviz.experiments.chain import ChainConfig, analyze_chain
from gradviz.experiments.deep import DeepConfig, deep_profile
from gradviz.page import blocks as b
from gradviz.page.i18n import LANGUAGES, Words, t
from gradviz.page.sections import SECTIONS
from gradviz.page.sections.deep import predicted_factor
from gradviz.page.settings import DEFAULTS, SETTINGS, not_here, parse_url
from gradviz.page.state import PageState
from gradviz.training.remedies import REGISTRY, Remedies
from page_support import SMALL, datasets_of, exceptions, open_page, other_language, page, raw_specials

NEW = ("skip", "norm")


def texts(blocks) -> list[str]:
    return [block.markdown if isinstance(block, b.Text) else block.text for block in b.walk(blocks)
            if isinstance(block, (b.Text, b.Caption, b.Notice))]


def rendered(section: str, lang: str = "en", **changes) -> tuple:
    state = PageState.of({**DEFAULTS, **changes})
    results = {name: job() for name, job in SECTIONS[section].jobs(state).items()}
    return SECTIONS[section].render(state, results, Words(lang)), results


def chart(blocks, key: str) -> b.Chart:
    [found] = [block for block in b.walk(blocks) if isinstance(block, b.Chart) and block.key == key]
    return found


def title(block: b.Chart) -> str:
    return block.spec["title"]["text"]


def chart_columns(blocks) -> tuple:
    """The blocks of each case column."""
    [columns] = [block for block in blocks if isinstance(block, b.Columns)]
    return columns.columns


def said(blocks, key: str, lang: str = "en") -> list[str]:
    """The sentences on the page that start as the message `key` does, in page order (vanishing, exploding)."""
    head = t(key, lang).split("{")[0]
    return [text for text in texts(blocks) if text.startswith(head)]


def switch(at, name: str):
    """The widget of a remedy switch: a toggle, or the normalization's choice of three."""
    return at.toggle(key=name) if SETTINGS[name].kind == "bool" else at.button_group(key=name)


# --- the switches ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_new_switches_sit_under_the_articles_four_with_their_names_and_url_keys(lang):
    at = open_page(lang=lang, section="layers", **SMALL)
    assert not exceptions(at)
    assert switch(at, "skip").label == t("remedy.skip", lang) and not switch(at, "skip").disabled
    assert switch(at, "norm").label == t("remedy.norm", lang) and not switch(at, "norm").disabled
    switch(at, "skip").set_value(True).run()
    switch(at, "norm").set_value("layer").run()
    assert not exceptions(at)
    assert at.query_params.get("skip") == "1" and at.query_params.get("norm") == "layer"
    assert "branch_scaling" in [w.key for w in at.sidebar.toggle]  # its own setting, shown once it is on
    at.sidebar.toggle(key="branch_scaling").set_value(True).run()
    assert at.query_params.get("branch_scaling") == "1"
    assert not other_language(at, lang) and not raw_specials(at)
    switch(at, "skip").set_value(False).run()
    assert "skip" not in at.query_params and "branch_scaling" not in [w.key for w in at.sidebar.toggle]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("section, name", [("chain", "norm"), ("time", "skip"), ("theory", "skip"),
                                           ("theory", "norm"), ("deep", "gating"), ("run", "skip")])
def test_a_switch_that_does_not_act_is_disabled_with_the_registrys_reason(section, name, lang):
    at = page(section=section, lang=lang, **SMALL)
    widget = switch(at, name)
    reasons = " ".join(t(key, lang) for key in not_here(name, section))
    assert widget.disabled and widget.help.startswith(t("page.not_here", lang, reason=reasons))


def test_the_chain_says_in_one_sentence_why_one_neuron_cannot_be_normalized():
    assert not_here("norm", "chain") == ("remedy.norm.na.chain",)
    assert "one neuron cannot be normalized" in t("remedy.norm.na.chain", "en")
    assert "单个神经元无法归一化" in t("remedy.norm.na.chain", "zh")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_batch_norm_in_the_rnn_is_said_not_to_apply_and_the_rnn_is_drawn_without_it(lang):
    at = page(section="time", norm="batch", lang=lang)
    notice = t("page.not_applied", lang, remedy=t("remedy.norm", lang), reason=t("remedy.norm.na.recurrent_batch", lang))
    assert [box.value for box in at.info] == [notice]
    plain = datasets_of(page(section="time", lang=lang))
    assert all(plain[name].equals(frame) for name, frame in datasets_of(at).items())


def test_the_lesson_keeps_the_articles_four_switches_and_ignores_the_others():
    at = open_page(lesson="1", step="1", skip="1", norm="batch", lang="en")
    assert not exceptions(at)
    assert [w.key for w in at.toggle] == ["relu", "gating", "clip", "regularize"]
    assert not [g for g in at.button_group if g.key == "norm"]
    assert "skip" not in at.query_params and "norm" not in at.query_params
    plain = datasets_of(open_page(lesson="1", step="1", lang="en"))
    assert all(plain[name].equals(frame) for name, frame in datasets_of(at).items())
    at.button_group(key="lesson").set_value(False).run()  # show everything: the sections' switches come back on
    assert at.toggle(key="skip").value and at.query_params.get("skip") == "1"


# --- sentences computed from the numbers shown ------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_exploding_chain_with_skips_says_its_factor_is_26_and_that_it_still_explodes(lang):
    blocks, results = rendered("chain", lang, skip=True)
    report = results["report.exploding"]
    assert 10 ** report.factor_log10[-1] == pytest.approx(26.0, rel=1e-12)
    assert 10 ** (report.grad_b_log10[0] - report.grad_b_log10[-1]) == pytest.approx(26.0 ** 3, rel=1e-12)
    [sentence] = said(blocks, "remedy.skip.chain.exploding", lang)
    assert "26" in sentence and "17576" in sentence
    assert ("still explodes" if lang == "en" else "依然梯度爆炸") in sentence


def test_the_vanishing_chain_with_skips_multiplies_the_factors_it_shows():
    blocks, results = rendered("chain", skip=True, depth=30)
    report = results["report.vanishing"]
    factors = 10 ** report.factor_log10[1:] * report.factor_sign[1:]
    sigma = 1 / (1 + np.exp(-report.z[1:]))
    np.testing.assert_allclose(factors, 1 + report.w[1:] * sigma * (1 - sigma), rtol=1e-12)  # 1 + w_j σ'(z_j)
    [sentence] = said(blocks, "remedy.skip.chain.vanishing")
    numbers = [float(n) for n in re.findall(r"(?<![\w.])\d+\.\d+", sentence)]
    low, high, product = numbers[:3]
    assert low == pytest.approx(factors.min(), rel=1e-3) and high == pytest.approx(factors.max(), rel=1e-3)
    assert product == pytest.approx(np.prod(factors), rel=1e-3)
    assert "1 + w_j σ'(z_j):" in sentence  # the unscaled form, said as it is


def test_a_scaled_skip_names_its_scale_and_the_factor_it_gives():
    blocks, results = rendered("chain", skip=True, branch_scaling=True)
    assert 10 ** results["report.exploding"].factor_log10[-1] == pytest.approx(1 + 25 / 2, rel=1e-12)
    assert "(s = 1/√4 = 0.5)" in said(blocks, "remedy.skip.chain.vanishing")[0]
    assert "13.5" in said(blocks, "remedy.skip.chain.exploding")[0]


@pytest.mark.parametrize("clip_by", ["norm", "value"])
def test_the_trained_chain_says_what_clipping_did(clip_by):
    """The training panel's clipping sentence, from the trained run's own count of capped steps."""
    state = PageState.of({**DEFAULTS, "clip": True, "clip_by": clip_by})
    panel = SECTIONS["chain"]
    results = {name: job() for name, job in panel.training_jobs(state).items()}
    blocks = panel.render_training(state, results, Words("en"))
    sentences = said(blocks, f"remedy.clip.chain.{clip_by}")
    for case, sentence in zip(("vanishing", "exploding"), sentences, strict=True):
        history = results[f"training.{case}"]
        assert f"{history.symptoms['clipped'].evidence['capped']} of {len(history.update_grad_log10)} steps" in sentence


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_nielsens_network_says_its_ratio_and_what_the_charts_measure(norm):
    blocks, results = rendered("layers", norm=norm, hidden=2, epochs=1)
    for case, sentence in zip(("vanishing", "exploding"), said(blocks, f"remedy.norm.nielsen.{norm}"), strict=True):
        median = np.median(results[f"speeds.{case}"][:, :2], axis=0)
        assert f"= {10 ** (median[0] - median[-1]):.4g} " in sentence
    bias_zero = [text for text in texts(blocks) if text.startswith(t("remedy.norm.bias_zero", "en")[:20])]
    assert len(bias_zero) == (2 if norm == "batch" else 0)  # one per case column
    axis = "‖∂C/∂W_l‖" if norm == "batch" else "‖∂C/∂b_l‖"
    for case in ("vanishing", "exploding"):
        assert title(chart(blocks, f"layers-{case}-initial")) == t("page.chart_title", "en",
                                                                   case=t(f"page.case.{case}", "en"), what=axis)


def test_a_batch_normalized_network_trains_without_being_called_dead():
    state = PageState.of({**DEFAULTS, "section": "layers", "norm": "batch", "hidden": 2, "epochs": 3})
    panel = SECTIONS["layers"]
    results = {name: job() for name, job in panel.training_jobs(state).items()}
    for case in ("vanishing", "exploding"):
        history = results[f"training.{case}"]
        assert history.speed == "weight" and np.isfinite(history.grad_log10).all()
        assert history.symptoms.verdict != "dead"
    blocks = panel.render_training(state, results, Words("en"))
    verdicts = [block.verdict for block in b.walk(blocks) if isinstance(block, b.Checklist)]
    assert len(verdicts) == 2 and t("checklist.verdict.dead", "en") not in verdicts


def test_layer_norm_in_the_rnn_gives_its_measured_and_predicted_factor_per_step():
    blocks, results = rendered("time", norm="layer")
    for case, sentence in zip(("vanishing", "exploding"),
                              [s for s in texts(blocks) if s.startswith(t("remedy.norm.recurrent.layer", "en")[:20])]):
        norms = results[f"gradients.{case}"].log10_activation_grad_norms
        measured = 10 ** ((norms[0] - norms[-1]) / (len(norms) - 1))
        assert f"by {measured:.3g} per step" in sentence
    for case in ("vanishing", "exploding"):
        assert title(chart(blocks, f"time-{case}")).startswith(t(f"page.case.{case}", "en") + " · ")
    assert sum("LN(W hₜ₋₁ + b)" in text for text in texts(blocks)) >= 2  # each case's setup says so


# --- the deep networks: theory beside the measurement ----------------------------------------------------------


DEEP = {"deep_depth": 30, "deep_width": 256, "seeds": 3, "relu": True, "init": "he"}


@pytest.mark.parametrize("changes, theory", [
    ({"norm": "batch"}, math.sqrt(math.pi / (math.pi - 1))), ({"norm": "layer"}, 1.0),
    ({"skip": True}, math.sqrt(2.0)), ({"skip": True, "branch_scaling": True}, math.sqrt(1 + 1 / 29))])
def test_the_deep_section_draws_the_theory_beside_the_measurement_and_says_both(changes, theory):
    blocks, results = rendered("deep", **DEEP, **changes)
    profile = results["profile.chosen"]
    assert predicted_factor(profile) == pytest.approx(theory, rel=0.02)
    assert profile.signal_factor() == pytest.approx(theory, rel=0.04)
    frame = chart(blocks, "deep-chosen-per-digit").datasets["deep-chosen-per-digit-theory"].sort_values("layer")
    assert len(frame) == 30  # the dashed line, drawn at every layer
    assert -np.median(np.diff(frame["log10"])) == pytest.approx(math.log10(theory), abs=0.01)
    [metrics] = [{m.label: m.value for m in block.items} for block in chart_columns(blocks)[0]
                 if isinstance(block, b.Metrics)]
    assert metrics[t("deep.metric.measured", "en")] == f"{profile.signal_factor():.3g}"
    assert metrics[t("deep.metric.predicted", "en")] == f"{predicted_factor(profile):.3g}"
    sentences = " ".join(texts(blocks))
    assert f"{profile.signal_factor():.3g} per" in sentences
    keys = [REGISTRY[name].theory_key for name in ("skip", "norm") if REGISTRY[name].is_on(
        Remedies.from_settings({**DEFAULTS, **DEEP, **changes}))]
    assert all(t(key, "en") in texts(blocks) for key in keys)


def test_batch_norm_in_the_deep_networks_measures_the_weights_and_compares_with_the_plain_network():
    blocks, results = rendered("deep", **DEEP, norm="batch")
    assert set(results) == {"profile.chosen", "profile.plain"}
    chosen, plain = results["profile.chosen"], results["profile.plain"]
    assert chosen.config.speed == "weight" and plain.config == DeepConfig(30, 256, "relu", "he", 3, 256)
    assert np.isfinite(chosen.log10_grad).all()  # ‖∂C/∂W_l‖: never the bias gradient's exact zeros
    headings = [block.text for block in b.walk(blocks) if isinstance(block, b.Heading) and block.level == 3]
    assert headings[1] == t("deep.column.plain", "en", scheme=t("settings.init.he", "en"))
    assert title(chart(blocks, "deep-chosen-gradient")).endswith("‖∂C/∂W_l‖")
    assert title(chart(blocks, "deep-plain-gradient")).endswith("‖∂C/∂b_l‖")


def test_the_papers_links_reproduce_he_2016_and_yang_2019():
    from gradviz.page.sections.deep import PRESETS
    expected = {"he2016": Remedies("relu", init="he", residual=True), "yang2019": Remedies("relu", init="he", norm="batch")}
    for name, remedies in expected.items():
        reading = parse_url([(key, str(value)) for key, value in PRESETS[name].items()])
        assert reading.problems == 0 and Remedies.from_settings(reading.values) == remedies
        assert reading.values["section"] == "deep" and reading.values["deep_depth"] == 50


def test_the_registrys_theory_is_the_deep_networks():
    """The page's theory line comes from the same formulas as the registry's theory (gradviz.engine.meanfield)."""
    profile = deep_profile(DeepConfig(12, 64, "relu", "he", 1, 64, norm="batch"))
    assert np.nanmedian(profile.theory_signal_factor) == pytest.approx(REGISTRY["norm"].theory("batch", "relu"))
