"""The Streamlit page (app.py), driven headless by streamlit.testing.v1.AppTest.

The default page trains Nielsen's network twice for 100 epochs (about 15 s on 2 cores), so it runs
once per module. The other tests start from the URL with few epochs and steps (?epochs=2&steps=3):
those settings do not change what they check. Streamlit's caches are process-wide, so runs with
the same settings reuse results across AppTest instances.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import screen_texts

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120
QUICK = {"epochs": "2", "steps": "3"}
RAW_SPECIAL = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)
RATIO_LABEL = "|∂C/∂b₁| / |∂C/∂b_L|"
# Charts per column: chain 6 (|∂C/∂b_j|, factors, speeds over steps, loss, clipping, weights moved),
# Nielsen 4 (speeds, loss, clipping, weights moved), RNN 3 (through time, loss, clipping); two columns each.
CHARTS_ON_DEFAULT_PAGE = 2 * (6 + 4 + 3)


def run_app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in query.items():
        at.query_params[name] = str(value)
    at.run()
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def assert_no_raw_nan_or_inf(at: AppTest) -> None:
    """NaN is spelled 'NaN' on purpose; any other nan / inf / infinity as a whole word is a leak."""
    bad = [(where, text) for where, text in screen_texts(at) if RAW_SPECIAL.search(text.replace("NaN", ""))]
    assert not bad, bad[:5]


def chain_latex(at: AppTest) -> list[str]:
    return [latex.value for latex in at.latex if r"\begin{aligned}" in latex.value]


def ratio_metrics(at: AppTest) -> list[str]:
    return [metric.value for metric in at.metric if metric.label == RATIO_LABEL]


@pytest.fixture(scope="module")
def default_app() -> AppTest:
    return run_app()


# --- the default page ------------------------------------------------------------------------------------


def test_default_page_runs_without_exception(default_app):
    assert_no_exception(default_app)
    assert default_app.title[0].value == "Vanishing and exploding gradients"


def test_default_page_has_three_sections(default_app):
    headers = [header.value for header in default_app.main.header]
    assert len(headers) == 3
    assert [h[:4] for h in headers] == ["1 · ", "2 · ", "3 · "]
    assert "chain" in headers[0] and "Nielsen" in headers[1] and "recurrent" in headers[2]


def test_each_section_has_a_vanishing_and_an_exploding_column(default_app):
    column_titles = [column.subheader[0].value for column in default_app.columns if len(column.subheader)]
    assert column_titles == ["Vanishing", "Exploding"] * 3
    assert [s.value for s in default_app.main.subheader] == ["Vanishing", "Exploding"] * 3


def test_chain_section_shows_the_articles_numbers(default_app):
    # depth 4, exploding: |∂C/∂b₁| / |∂C/∂b₄| = 25³ = 15625
    ratios = ratio_metrics(default_app)
    assert len(ratios) == 2
    assert ratios[1] == "15625"
    latex = chain_latex(default_app)
    assert len(latex) == 2
    assert "3906.25" in latex[1] and "1953.125" in latex[1] and "25" in latex[1] and "0.25" in latex[1]


def test_facts_metrics(default_app):
    facts = {metric.label: metric.value for metric in default_app.metric}
    assert facts["P(|w| < 1), w ~ N(0, 1)"] == "68.3 %"
    assert facts["P(|w| < 1/4), the article's misprint"] == "19.7 %"
    assert facts["σ'(0), the largest slope"] == "1/4"


def test_default_page_chart_count(default_app):
    assert len(default_app.get("vega_lite_chart")) == CHARTS_ON_DEFAULT_PAGE


def test_default_page_never_prints_raw_nan_or_inf(default_app):
    assert_no_raw_nan_or_inf(default_app)


def test_default_nielsen_and_rnn_metrics(default_app):
    values = {}
    for metric in default_app.metric:
        values.setdefault(metric.label, []).append(metric.value)
    # the vanishing case's first hidden layer learns slower than the last (a ratio below 1), the exploding faster
    nielsen = values["Layer 1 / last hidden, epoch 0"]
    assert len(nielsen) == 2
    assert float(nielsen[0]) < 1 < float(nielsen[1])
    rnn = values["‖∂C/∂h₀‖ / ‖∂C/∂h_T‖ at initialization"]
    assert len(rnn) == 2
    assert "× 10⁻" in rnn[0]  # 2.44 × 10⁻¹²: the gradient does not survive 50 steps
    assert float(rnn[1].replace(" ", "")) > 100


# --- the sidebar's remedies ----------------------------------------------------------------------------------

TOGGLES = {
    "relu": "ReLU instead of sigmoid",
    "gating": "LSTM-style gating",
    "clip": "Gradient clipping",
    "regularize": "Weight regularization",
}


def _effect(at: AppTest, key: str) -> bool:
    """Whether the page shows the remedy `key` as switched on."""
    if key == "relu":
        return any(r"\mathrm{relu}'" in latex for latex in chain_latex(at))
    if key == "gating":
        return (any(s.label == "Forget-gate bias b_f" for s in at.sidebar.slider)
                and any("f_{2}" in latex for latex in chain_latex(at)))
    if key == "clip":
        return any(r.label == "Clip by" for r in at.sidebar.radio)
    if key == "regularize":
        return (any(r.label == "Penalty" for r in at.sidebar.radio)
                and not any("Nielsen’s setting" in m.value for m in at.markdown))
    raise KeyError(key)


@pytest.mark.parametrize("key", list(TOGGLES))
def test_each_remedy_toggles_on_and_off(key):
    at = run_app(**QUICK)
    assert_no_exception(at)
    assert not _effect(at, key)
    toggle = at.sidebar.toggle(key=key)
    assert toggle.label == TOGGLES[key]
    toggle.set_value(True).run()
    assert_no_exception(at)
    assert _effect(at, key)
    assert len(at.main.subheader) == 6
    assert_no_raw_nan_or_inf(at)
    at.sidebar.toggle(key=key).set_value(False).run()
    assert_no_exception(at)
    assert not _effect(at, key)


def test_relu_page_does_not_describe_sigmoid_neurons():
    """With ReLU on, the chains are ReLU chains (the exploding one sits at z_j = 1, where relu' = 1) and
    Nielsen's hidden layers are ReLU: the captions and the section text must not say otherwise."""
    at = run_app(**QUICK, relu=1)
    assert_no_exception(at)
    captions = [caption.value for caption in at.caption]
    chain_captions = captions[:2]
    assert not any("sigmoid neurons" in c for c in chain_captions), chain_captions
    assert not any("every z_j = 0" in c for c in chain_captions), chain_captions
    assert not any(m.value.startswith("A sigmoid network") for m in at.markdown)


def test_all_remedies_at_once():
    at = run_app(**QUICK, relu=1, gating=1, clip=1, regularize=1)
    assert_no_exception(at)
    assert all(_effect(at, key) for key in TOGGLES)
    assert_no_raw_nan_or_inf(at)


# --- extreme depths ------------------------------------------------------------------------------------------


def test_depth_1():
    at = run_app(**QUICK)
    at.sidebar.number_input(key="depth").set_value(1).run()
    assert_no_exception(at)
    # one layer: ∂C/∂b₁ is ∂C/∂b_L, a ratio of exactly 1 in both columns
    assert ratio_metrics(at) == ["1", "1"]
    assert len(chain_latex(at)) == 2
    assert_no_raw_nan_or_inf(at)


def test_depth_10000():
    """At depth 10000 the gradients leave float64: 0.125 · 25^9999 = 1.26 × 10^13977.

    With the default 30 training steps this rerun takes about 23 s (measured on 2 busy cores; training
    the vanishing chain costs most of a second per step at this depth), so the test trains one step;
    the numbers checked do not depend on the step count."""
    at = run_app(**{**QUICK, "depth": 10_000, "steps": 1})
    assert_no_exception(at)
    vanishing, exploding = chain_latex(at)
    assert r"10^{13977}" in exploding
    assert re.search(r"10\^\{-9\d{3}\}", vanishing), vanishing
    assert ratio_metrics(at)[1] == "1.00 × 10¹³⁹⁷⁸"  # 25^9999
    assert "10⁻⁹⁹" in ratio_metrics(at)[0]
    assert_no_raw_nan_or_inf(at)


def test_every_panel_offers_its_data_as_csv(default_app):
    buttons = default_app.get("download_button")
    # chain: per-layer table + training, Nielsen: history, RNN: per-step norms + training; two columns each
    keys = sorted(button.proto.id.rsplit("-", 1)[-1] for button in buttons)
    expected = [f"gradviz_{panel}.csv".format(case=case) for case in ("vanishing", "exploding")
                for panel in ("chain_{case}", "chain_{case}_training", "nielsen_{case}", "rnn_{case}",
                              "rnn_{case}_training")]
    assert keys == sorted(expected)
    assert all(button.proto.ignore_rerun for button in buttons)  # downloading does not rerun the page
