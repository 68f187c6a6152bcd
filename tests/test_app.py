"""The page (app.py) as a person sees it, headless under streamlit.testing.v1.AppTest.

Each URL opens once per test session (page_support.page), and the results behind it are shared through
the server's stores, so the English and Chinese pages of one setting compute once. The sections that train
on digits open with small settings (page_support.SMALL) unless a test needs their defaults.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradviz.experiments.nielsen import nielsen_per_neuron
from gradviz.engine.initializations import get_scheme
from gradviz.page.i18n import LANGUAGES, t
from gradviz.page.sections.run import load_example
from gradviz.page.settings import SECTIONS, SETTINGS
from page_support import (SMALL, chart_problems, chart_specs, datasets_of, exceptions, number, open_page,
                          other_language, page, raw_specials)

REMEDIES = ("relu", "gating", "clip", "regularize")
# The example run's layers and columns are named as its framework named them (data, not words of the page).
_EXAMPLE = load_example(SETTINGS["example"].default)
RUN_LAYER_NAMES = tuple(_EXAMPLE.history.layer_names) + (_EXAMPLE.statistic_name, _EXAMPLE.loss_name)
# The engine warns on a genuine float64 overflow of the forward pass it then reports (gradviz/engine/backprop.py);
# pytest turns RuntimeWarnings into errors, process-wide, so the job would fail here and not on the server.
OVERFLOW_WARNING = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
CASE_SECTIONS = ("chain", "layers", "time")  # the sections with a vanishing | exploding pair of columns


def en(key: str, **params) -> str:
    return t(key, "en", **params)


def metrics(at, key: str, lang: str = "en") -> list[str]:
    """The values of the metrics labelled by message `key`, in page order (vanishing, then exploding)."""
    return [m.value for m in at.metric if m.label == t(key, lang)]


def checklists(at) -> list[str]:
    """The symptom checklists' Markdown, in page order (vanishing column first)."""
    return [m.value for m in at.markdown if "**Symptom checklist**" in m.value or "**症状清单**" in m.value]


def verdict_line(checklist: str) -> str:
    return checklist.split("\n")[0]


def checklist_states(at, lang: str = "en") -> list[dict[str, str]]:
    """Each checklist table as {symptom: state}, in page order."""
    symptom, state = t("checklist.column.symptom", lang), t("checklist.column.state", lang)
    return [dict(zip(table.value[symptom], table.value[state])) for table in at.table
            if symptom in table.value.columns]


# --- every section, both languages ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("section", SECTIONS)
def test_every_section_renders_whole_in_one_language(section, lang):
    at = page(section=section, lang=lang, **SMALL)
    assert not exceptions(at)
    assert at.title[0].value == t("page.title", lang)
    assert at.header[0].value == t(f"{section}.heading", lang)
    assert not at.error
    assert len(at.get("vega_lite_chart")) >= 2
    if section in CASE_SECTIONS:
        pair = [t("page.case.vanishing", lang), t("page.case.exploding", lang)]
        headings = [s.value for s in at.subheader if s.value.startswith(tuple(pair))]
        assert [next(p for p in pair if h.startswith(p)) for h in headings] == pair  # each names its construction
    assert not other_language(at, lang, allowed=RUN_LAYER_NAMES if section == "run" else ())
    assert not raw_specials(at)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("section", CASE_SECTIONS)
def test_the_training_panel_opens_on_demand_with_a_checklist_per_case(section, lang):
    closed = page(section=section, lang=lang, **SMALL)
    assert not checklists(closed) and [w.key for w in closed.toggle if w.key == "train"]
    at = page(section=section, lang=lang, train="1", **SMALL)
    assert not exceptions(at) and not at.error
    assert len(checklists(at)) == 2
    assert not other_language(at, lang) and not raw_specials(at)


@pytest.mark.parametrize("section", SECTIONS)
def test_every_chart_holds_only_finite_numbers_in_columns_it_draws(section):
    assert not chart_problems(page(section=section, lang="en", **SMALL))


def test_the_page_names_the_article_and_links_nielsens_chapter_in_both_languages():
    for lang in LANGUAGES:
        intro = page(section="chain", lang=lang, **SMALL).markdown[0].value
        assert "梯度消失和梯度爆炸" in intro
        assert "http://neuralnetworksanddeeplearning.com/chap5.html" in intro


# --- section 1: the article's numbers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_page():
    """Section 1 at the default settings, its training panel open."""
    return page(section="chain", train="1", lang="en")


def test_the_default_exploding_chain_shows_the_articles_ratios(default_page):
    assert not exceptions(default_page)
    assert metrics(default_page, "chain.metric.ratio")[1] == "15625"
    assert metrics(default_page, "chain.metric.b1_b3")[1] == "625"


def test_the_default_vanishing_chain_loses_more_than_16x_in_two_layers(default_page):
    """The article: ∂C/∂b₁ is typically 1/16 of ∂C/∂b₃ or smaller (seed 0 is typical)."""
    vanishing = metrics(default_page, "chain.metric.b1_b3")[0]
    assert 0 < number(vanishing) < 1 / 16
    assert 0 < number(metrics(default_page, "chain.metric.ratio")[0]) < 1


def test_the_product_with_live_numbers(default_page):
    product = [latex.value for latex in default_page.latex if "3906.25" in latex.value]
    assert len(product) == 1
    assert "1953.125" in product[0] and r"0.25 \times 25" in product[0]


def test_the_probability_facts_correct_the_articles_misprint(default_page):
    assert metrics(default_page, "chain.fact.peak.sigmoid") == ["1/4"]
    assert metrics(default_page, "chain.fact.abs_w_below_1") == ["68.3 %"]
    assert metrics(default_page, "chain.fact.abs_w_below_quarter") == ["19.7 %"]


def test_the_chinese_page_shows_the_same_numbers(default_page):
    zh = page(section="chain", train="1", lang="zh")
    same = lambda at: [m.value.replace(" ", "") for m in at.metric]  # noqa: E731 (a percent sign is spaced by language)
    assert same(zh) == same(default_page)
    assert [latex.value for latex in zh.latex if "3906.25" in latex.value]


def test_the_derivation_is_collapsible_with_live_numbers(default_page):
    [derivation] = [e for e in default_page.expander if e.label == en("chain.derivation.title")]
    text = " ".join(m.value for m in derivation.markdown)
    assert r"\Delta a_1" in text and r"\Delta z_2" in text and r"\Delta C" in text


# --- the checklist's verdicts ----------------------------------------------------------------------------------


def test_a_dead_relu_chain_is_dead_never_healthy():
    at = page(depth="50", relu="1", clip="1", train="1", lang="en")
    vanishing = checklists(at)[0]
    assert en("checklist.verdict.dead") in verdict_line(vanishing)
    assert en("checklist.verdict.healthy") not in verdict_line(vanishing).replace("**", " ").split()
    # a loss that starts at 0 is not "does not converge"
    assert checklist_states(at)[0][en("checklist.symptom.not_converging")] == en("checklist.state.absent")
    zh = checklists(page(depth="50", relu="1", clip="1", train="1", lang="zh"))[0]
    assert t("checklist.verdict.dead", "zh") in verdict_line(zh)


def test_the_default_exploding_chain_rests_on_the_gradient_growing_back(default_page):
    line = verdict_line(checklists(default_page)[1])
    assert f"**{en('checklist.verdict.exploding')}**" in line
    assert en("checklist.symptom.grows_back") in line
    assert checklists(default_page)[1].startswith(":red-background[")


def test_clipping_does_not_hide_an_exploding_chain():
    at = page(clip="1", train="1", lang="en")
    line = verdict_line(checklists(at)[1])
    assert en("checklist.verdict.exploding_clipped") in line
    assert en("checklist.symptom.grows_back") in line and en("checklist.symptom.clipped") in line
    assert metrics(at, "chain.metric.ratio")[1] == "15625"


# --- text that follows the activation ----------------------------------------------------------------------


def test_with_relu_the_text_and_formulas_speak_of_relu():
    at = page(relu="1", lang="en")
    labels = [m.label for m in at.metric]
    assert not [label for label in labels if "σ'(0)" in label]
    assert en("chain.fact.peak.relu") in labels
    formulas = [latex.value for latex in at.latex if r"\frac{\partial C}{\partial b_1}" in latex.value]
    assert formulas and all(r"\mathrm{relu}'" in f and r"\sigma'" not in f for f in formulas)
    prose = " ".join(m.value for m in at.markdown)
    assert r"a_j = \sigma(z_j)" not in prose and r"\mathrm{relu}(z_j)" in prose
    titles = [chart.spec["title"]["text"] for chart in chart_specs(at) if chart.key.endswith("-factors")]
    assert len(titles) == 2 and all("relu'" in title and "1/4" not in title for title in titles)
    assert set(datasets_of(at)["chain-exploding-factors-lines"]["label"]) == {"1"}


def test_the_factor_chart_counts_the_factors_the_formula_multiplies(default_page):
    data = datasets_of(default_page)
    for case in ("vanishing", "exploding"):
        assert list(data[f"chain-{case}-factors-values"]["layer"]) == [2, 3, 4]
    assert np.allclose(data["chain-exploding-factors-values"]["log10"], math.log10(25))


def test_the_regularization_switch_at_its_defaults_is_nielsens_own_setting():
    at = page(section="layers", regularize="1", train="1", lang="en", **SMALL)
    prose = " ".join(m.value for m in at.markdown)
    assert en("layers.regularization.same") in prose
    assert en("layers.remedy.regularize.same") in prose


# --- the new charts and their data ---------------------------------------------------------------------------


def test_the_slope_curve_peaks_at_a_quarter_with_the_live_z(default_page):
    data = datasets_of(default_page)
    curve, live = data["chain-slope-curve"], data["chain-slope-live"]
    peak = curve.loc[curve["slope"].idxmax()]
    assert peak["slope"] == pytest.approx(0.25) and peak["z"] == pytest.approx(0.0)
    assert len(live) == 8  # z_1..z_4 of both chains
    assert (live["slope"] <= 0.25 + 1e-12).all() and (live["slope"] > 0).all()
    assert (np.isclose(live["shown_z"], 0.0) & np.isclose(live["slope"], 0.25)).sum() >= 4  # the exploding chain
    assert data["chain-slope-peak"]["slope"].tolist() == [0.25]


def test_fewer_layers_shows_the_ratio_growing_with_depth(default_page):
    fewer = datasets_of(default_page)["chain-exploding-fewer-values"]
    assert fewer["layer"].tolist() == list(range(1, 31))
    assert np.allclose(fewer["log10"], (fewer["layer"] - 1) * math.log10(25))


def test_nielsens_per_neuron_figure_beside_ours():
    at = page(section="layers", lang="en", **SMALL)
    bars = datasets_of(at)["layers-per-neuron-values"]
    published, ours = (bars[bars["source"] == en(key)] for key in ("layers.published", "common.this_run"))
    his = nielsen_per_neuron()
    assert len(published) == his.size == len(ours)
    assert np.allclose(published["value"].to_numpy(), his.ravel())
    assert np.isfinite(ours["value"]).all() and (ours["value"] != 0).any()


@pytest.mark.parametrize("section, name, hidden", [
    ("layers", "layers-vanishing-initial", 2), ("time", "time-vanishing", None), ("deep", "deep-chosen-gradient", 5)])
def test_theory_draws_a_dashed_line_beside_the_measurement(section, name, hidden):
    data = datasets_of(page(section=section, lang="en", **SMALL))
    theory, values = data[f"{name}-theory"], data[f"{name}-values"]
    assert len(theory) >= 2 and np.isfinite(theory["log10"]).all()
    if hidden is not None:
        assert sorted(theory["layer"]) == list(range(1, hidden + 1)) == sorted(values["layer"])
    if section == "layers":  # the theory is anchored at the last hidden layer's median
        last = values["layer"].max()
        assert theory.loc[theory["layer"] == last, "log10"].item() == pytest.approx(
            values.loc[values["layer"] == last, "log10"].item())


def test_the_phase_diagram_marks_the_current_initialization():
    data = datasets_of(page(section="theory", lang="en", **SMALL))
    grid, point = data["theory-phase-grid"], data["theory-phase-point"]
    assert len(grid) == 60 * 60 and (grid["log10"] < 0).any() and (grid["log10"] > 0).any()
    sigma_w2, sigma_b2 = get_scheme("nielsen").variances(32, 32, 1.0)
    # quantitative axes: the point sits at the initialization's own variances, inside the grid's range
    assert (point["x"].item(), point["y"].item()) == (sigma_w2, sigma_b2)
    assert grid["x0"].min() <= sigma_w2 <= grid["x1"].max() and grid["y0"].min() <= sigma_b2 <= grid["y1"].max()
    critical = data["theory-phase-critical"]
    assert len(critical) > 0 and critical["x"].between(grid["x0"].min(), grid["x1"].max()).all()


def test_the_cliff_shows_a_wall_and_the_descent_that_leaves_the_map():
    data = datasets_of(page(section="theory", lang="en", **SMALL))
    line = data["theory-cliff-line-values"]
    gradient = line[line["series"] == en("theory.cliff.gradient")]["y"]
    assert gradient.max() - gradient.min() > 3  # the wall: |∂E/∂b| jumps by decades
    assert len(data["theory-cliff-line-rules"]) == 1
    paths = data["theory-cliff-surface-paths"]
    # without clipping the descent is thrown off the map: its legend says at which step, a triangle marks where
    assert paths["series"].nunique() == 1 and paths["left"].sum() == 1
    assert paths["series"].iloc[0].startswith(en("theory.cliff.free") + " (")
    assert len(data["theory-cliff-surface-surface"]) > 100


def test_the_clipping_switch_adds_the_clipped_descent_to_the_cliff():
    paths = datasets_of(page(section="theory", clip="1", lang="en", **SMALL))["theory-cliff-surface-paths"]
    rule = en("theory.cliff.rule", mode=en("remedy.clip_by.norm"), threshold="1")
    clipped = paths[paths["series"] == en("theory.cliff.clipped", rule=rule)]
    assert paths["series"].nunique() == 2 and len(clipped) > 2 and not clipped["left"].any()


# --- edges: nothing reads nan, inf, ∞ or undefined ---------------------------------------------------------------


@pytest.mark.parametrize("query", [
    pytest.param({"depth": "10000", "relu": "1", "gating": "1", "forget_bias": "10", "a0": "10", "steps": "1"},
                 marks=OVERFLOW_WARNING),
    {"depth": "50", "relu": "1", "clip": "1"},
    {"eta": "100", "steps": "50"},
    {"depth": "1"},
    {"section": "time", "relu": "1"},
], ids=["depth10000-all", "dead-relu", "eta100", "depth1", "rnn-relu"])
def test_edge_settings_show_no_raw_special_values(query):
    at = page(lang="en", train="1", **query)
    assert not exceptions(at)
    assert not at.error and not [w.value for w in at.warning if w.value == en("page.failed")]
    assert not raw_specials(at)
    assert not chart_problems(at)


# --- the controls ------------------------------------------------------------------------------------------


OWN_SETTINGS = {"relu": set(), "gating": {"forget_bias"}, "clip": {"clip_by", "clip_threshold"},
                "regularize": {"penalty", "lmbda"}}


def sidebar_keys(at) -> set[str]:
    return {w.key for kind in ("slider", "number_input", "radio", "selectbox") for w in at.sidebar.get(kind)}


def test_each_remedy_toggles_from_section_one_with_its_own_settings_and_the_url_follows():
    at = open_page(lang="en", section="chain")
    own = set().union(*OWN_SETTINGS.values())
    assert not sidebar_keys(at) & own
    for remedy in REMEDIES:
        at.toggle(key=remedy).set_value(True).run()
        assert not exceptions(at), remedy
        assert at.query_params.get(remedy) == "1"
        assert at.header[0].value == en("chain.heading")
        assert sidebar_keys(at) & own == OWN_SETTINGS[remedy]
        at.toggle(key=remedy).set_value(False).run()
        assert not exceptions(at), remedy
        assert remedy not in at.query_params and not sidebar_keys(at) & own


def test_the_section_and_language_switches_change_the_page_and_the_url():
    at = open_page(lang="en", section="run")
    at.button_group(key="section").set_value("theory").run()
    assert not exceptions(at)
    assert at.header[0].value == en("theory.heading") and at.query_params.get("section") == "theory"
    at.button_group(key="lang").set_value("zh").run()
    assert not exceptions(at)
    assert at.title[0].value == t("page.title", "zh") and at.header[0].value == t("theory.heading", "zh")
    assert at.query_params.get("lang") == "zh"
    assert not other_language(at, "zh")
