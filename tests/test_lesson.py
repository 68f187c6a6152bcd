"""The lesson (gradviz/page/lesson.py and its place in app.py): eleven steps, each sentence computed from the
numbers drawn, each remedy step's right answer computed, every switch acting where it is enabled and nowhere
else, and the path walked through the app as a class would (first visit, Next/Back, the URL, the questions)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from gradviz.page import blocks as b
from gradviz.page import lesson
from gradviz.page.formatting import magnitude_text
from gradviz.page.i18n import LANGUAGES, Words, t
from gradviz.page.sections import SECTIONS
from gradviz.page.settings import DEFAULTS, SETTINGS, SWITCHES, not_here, switch_acts
from gradviz.page.state import PageState
from page_support import exceptions, open_page, other_language, raw_specials

SECTION_NAMES = tuple(SECTIONS)
_RESULTS: dict[tuple, dict] = {}


def state_with(**changes) -> PageState:
    return PageState.of({**DEFAULTS, "lesson": True, **changes})


def results(step: lesson.Step, state: PageState) -> dict:
    """The step's job results, computed here once per (step, settings)."""
    key = (step.name, state.values)
    if key not in _RESULTS:
        _RESULTS[key] = {name: job() for name, job in step.jobs(state).items()}
    return _RESULTS[key]


def step_named(name: str) -> lesson.Step:
    return next(step for step in lesson.STEPS if step.name == name)


def texts(blocks) -> list[str]:
    """Every sentence a person reads in the blocks."""
    out = []
    for block in b.walk(blocks):
        if isinstance(block, (b.Text, b.Caption)):
            out.append(getattr(block, "markdown", None) or block.text)
        elif isinstance(block, b.Notice):
            out.append(block.text)
    return out


def rendered(name: str, answer: str | None = None, lang: str = "en", **changes) -> tuple:
    step = step_named(name)
    switched = {step.remedy: True} if step.remedy and answer is not None else {}
    state = state_with(**switched, **changes)
    return lesson.render(step, state, results(step, state), Words(lang), answer)


# --- the path --------------------------------------------------------------------------------------------------


def test_the_path_follows_the_article_in_eleven_steps():
    assert [step.name for step in lesson.STEPS] == ["chain", "slope", "vanishing", "exploding", "fewer", "relu",
                                                     "gating", "clip", "regularize", "nielsen", "rnn"]
    assert [step.remedy for step in lesson.STEPS if step.remedy] == list(lesson.SWITCHES)
    assert SETTINGS["step"].high == lesson.N_STEPS == 11


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("step", lesson.STEPS, ids=lambda step: step.name)
def test_every_step_renders_in_both_languages_for_every_answer(step, lang):
    for answer in step.options or (None,):
        blocks = rendered(step.name, answer, lang)
        charts = [block for block in b.walk(blocks) if isinstance(block, b.Chart)]
        assert charts or step.name in ("vanishing", "exploding")  # those two show a formula beside one chart
        for sentence in texts(blocks):
            assert not re.search(r"\{[a-z_]+\}", sentence), sentence
            assert "nan" not in sentence.lower().split() and "inf" not in sentence.lower().split()


# --- sentences computed from what is drawn ---------------------------------------------------------------------


def test_step_one_says_the_ratios_its_charts_draw():
    step = step_named("chain")
    found = results(step, state_with())
    sentences = texts(rendered("chain"))
    vanishing, exploding = found["report.vanishing"], found["report.exploding"]
    assert exploding.grad_b_log10[0] - exploding.grad_b_log10[-1] == pytest.approx(math.log10(15625))
    assert any("|∂C/∂b₁| = 15625 × |∂C/∂b_4|" in s and "15625× larger" in s for s in sentences)
    ratio = 10 ** (vanishing.grad_b_log10[0] - vanishing.grad_b_log10[-1])
    assert any(f"|∂C/∂b₁| = {ratio:.4g} × |∂C/∂b_4|" in s and f"{1 / ratio:.3g}× slower" in s for s in sentences)


def test_the_exploding_step_gives_the_articles_closed_forms():
    sentences = " ".join(texts(rendered("exploding")))
    assert "Every factor is exactly 25." in sentences
    assert "σ′(z₁) × 25^3 × ∂C/∂a_4 = 3906.25 × ∂C/∂a_4" in sentences
    assert "|∂C/∂b₁| / |∂C/∂b₃| = 625" in sentences
    [metrics] = [block for block in b.walk(rendered("exploding")) if isinstance(block, b.Metrics)]
    assert [metric.value for metric in metrics.items] == ["25", "3906.25", "625"]


def test_the_vanishing_step_compares_two_factors_with_the_articles_sixteenth():
    found = results(step_named("vanishing"), state_with())["report.vanishing"]
    ratio = 10 ** (found.grad_b_log10[0] - found.grad_b_log10[2])
    sentence = texts(rendered("vanishing"))[-1]
    assert f"|∂C/∂b₁| = {ratio:.4g} × |∂C/∂b₃|" in sentence
    assert ratio < 1 / 16 and t("lesson.vanishing.sixteenth.2", "en") in sentence


def test_a_seed_where_the_sixteenth_fails_says_so():
    """The article's 'usually' is not 'always': the step says which, from the numbers."""
    for seed in range(40):
        found = results(step_named("vanishing"), state_with(seed=seed))["report.vanishing"]
        if found.grad_b_log10[0] - found.grad_b_log10[2] > math.log10(1 / 16):
            sentence = texts(rendered("vanishing", seed=seed))[-1]
            assert "not below 1/16" in sentence or "above 1/16" in sentence
            return
    pytest.fail("no seed below 40 breaks the sixteenth")


def test_the_fewer_layers_step_reads_its_chart():
    found = results(step_named("fewer"), state_with())
    sentences = [s for s in texts(rendered("fewer")) if s.startswith("|∂C/∂b₁| / |∂C/∂b_L| at")]
    for case, sentence in zip(("vanishing", "exploding"), sentences, strict=True):
        ratios = found[f"long.{case}"].log10_ratio_by_depth()
        assert len(ratios) == lesson.LONG_CHAIN
        for depth in (2, 4, 10, 30):
            assert f"{depth} layers: " in sentence
        if case == "exploding":
            assert "30 layers: 3.47 × 10⁴⁰" in sentence and np.allclose(np.diff(ratios), math.log10(25))


def test_the_relu_step_answers_from_the_factor_and_says_what_died():
    state = state_with(relu=True)
    found = results(step_named("relu"), state)
    assert lesson.relu_answer(state, found) == "faster"  # 100 per layer against sigmoid's 25
    sentences = " ".join(texts(rendered("relu", "faster")))
    assert "Each factor is now 100 (it was 25 with σ)" in sentences
    assert t("lesson.feedback.right", "en", answer=t("lesson.relu.option.faster", "en")) in sentences
    if found["report.vanishing"].grad_b_log10[0] == -math.inf:  # seed 0: neuron 1 is off
        assert "∂C/∂b₁ is exactly 0" in sentences


def test_the_gating_step_multiplies_the_factors_it_lists():
    state = state_with(gating=True)
    found = results(step_named("gating"), state)
    vanishing = found["report.vanishing"]
    product = float(np.sum(vanishing.factor_log10[1:]))
    assert vanishing.depth == lesson.LONG_CHAIN and abs(product) < lesson.SURVIVES_DECADES
    assert lesson.gating_answer(state, found) == "survives"
    sentence = next(s for s in texts(rendered("gating", "survives")) if s.startswith("The factors are now"))
    assert f"their product over 29 layers is {10 ** product:.4g}" in sentence
    assert "13.45 (it was 25)" in " ".join(texts(rendered("gating", "survives")))


def test_a_forget_gate_far_below_one_brings_vanishing_back():
    state = state_with(gating=True, forget_bias=-5.0)
    assert lesson.gating_answer(state, results(step_named("gating"), state)) == "vanishes"


def test_the_clipping_step_explains_the_one_step_collapse_with_its_numbers():
    state = state_with(clip=True)
    found = results(step_named("clip"), state)
    trained = found["training.exploding"]
    assert lesson.clip_answer(state, found) == "wrecked"
    wall = next(s for s in texts(rendered("clip", "wrecked")) if "Pascanu's wall" in s)
    assert "from 2764 to 1." in wall
    assert f"falls to {magnitude_text(trained.update_grad_log10[1])}" in wall
    assert "from 0.125 to" in wall  # the loss before the step
    never = next(s for s in texts(rendered("clip", "wrecked")) if "acted on none" in s)
    assert never.startswith("Clipping by its norm (at most 1) acted on none of the 30 steps")  # the vanishing chain
    assert "its norm at most 0.162" in never


def test_a_threshold_above_every_gradient_never_clips():
    state = state_with(clip=True, clip_threshold=1e6)
    assert lesson.clip_answer(state, results(step_named("clip"), state)) == "nothing"


def test_the_regularization_step_shows_the_collapse_comes_first():
    state = state_with(regularize=True)
    found = results(step_named("regularize"), state)
    assert lesson.regularize_answer(state, found) == "no"
    idea = lesson.idea(step_named("regularize"), state, Words("en"))[0].markdown
    assert "1 − ηλ/n = 0.5" in idea
    vanishing, before = found["training.vanishing"], found["without.vanishing"]
    assert vanishing.grad_log10[-1, 0] < before.grad_log10[-1, 0] - 10  # smaller weights, smaller factors


def test_a_remedy_switched_off_after_the_answer_says_so_and_claims_nothing():
    step = step_named("relu")
    state = state_with()
    blocks = lesson.render(step, state, results(step, state), Words("en"), "faster")
    assert texts(blocks)[0] == t("lesson.remedy_off", "en", remedy=t("remedy.relu", "en"))
    assert not [s for s in texts(blocks) if s.startswith("Each factor is now")]


# --- every switch acts where it is enabled, and nowhere else ------------------------------------------------


def job_keys(jobs: dict) -> set:
    return {job.key for job in jobs.values()}


def switched_on(switch: str) -> list[dict]:
    """The settings that turn a remedy switch on: True, or each of its choices other than off."""
    setting = SETTINGS[switch]
    return [{switch: True}] if setting.kind == "bool" else [{switch: v} for v in setting.choices if v != setting.default]


@pytest.mark.parametrize("switch", lesson.SWITCHES)
@pytest.mark.parametrize("step", lesson.STEPS, ids=lambda step: step.name)
def test_a_switch_is_enabled_on_a_step_exactly_when_it_changes_what_the_step_computes(step, switch):
    off, on = state_with(), state_with(**{switch: True})
    changes = job_keys(step.jobs(off)) != job_keys(step.jobs(on))
    assert changes == switch_acts(switch, "lesson", lesson.STEPS.index(step) + 1)


@pytest.mark.parametrize("switch", [name for name in SWITCHES if name not in lesson.SWITCHES])
def test_the_lesson_is_the_articles_networks_whatever_the_sections_switches_say(switch):
    """Skip connections and normalization came after the article: the lesson hides them and computes without them
    (their values stay for "show everything")."""
    for number, step in enumerate(lesson.STEPS, start=1):
        assert not switch_acts(switch, "lesson", number)
        for changes in switched_on(switch):
            assert job_keys(step.jobs(state_with(**changes))) == job_keys(step.jobs(state_with()))


@pytest.mark.parametrize("switch", SWITCHES)
@pytest.mark.parametrize("section", SECTION_NAMES)
def test_a_switch_is_enabled_in_a_section_exactly_when_it_changes_what_the_section_shows(section, switch):
    """The registry says where a remedy applies (not_here: its why_not for the section's experiments); a switch acts
    exactly there, for some value it can take."""
    if section == "run":
        assert not_here(switch, section) == ("remedy.na.your_run",)  # a recorded run: nothing to switch
        return
    kinds = [SECTIONS[section].jobs] + ([SECTIONS[section].training_jobs] if SECTIONS[section].training_jobs else [])
    off = PageState.of(DEFAULTS)
    changes = any(job_keys(kind(off)) != job_keys(kind(PageState.of({**DEFAULTS, **on})))
                  for on in switched_on(switch) for kind in kinds)
    assert changes == (not not_here(switch, section))


# --- the path through the app -----------------------------------------------------------------------------------


def test_a_first_visit_opens_step_one_with_both_cases_and_the_url_names_the_step():
    at = open_page(lang="en")
    assert not exceptions(at)
    assert at.header[0].value == "1 · " + t("lesson.chain.title", "en")
    assert at.query_params.get("lesson") == "1" and at.query_params.get("step") == "1"
    assert len(at.get("vega_lite_chart")) == 2
    assert {w.key: w.disabled for w in at.toggle} == {"relu": False, "gating": False, "clip": True, "regularize": True}
    help_text = next(w for w in at.toggle if w.key == "clip").help
    assert help_text.startswith(t("lesson.not_here", "en", reason=t("lesson.not_here.training", "en")))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_next_and_back_walk_the_whole_path_and_the_url_follows(lang):
    at = open_page(lang=lang)
    for number in range(2, lesson.N_STEPS + 1):
        at.button(key="next").click().run()
        assert not exceptions(at), number
        assert at.query_params.get("step") == str(number)
        step = lesson.step_of(number)
        assert at.header[0].value == f"{number} · " + t(f"lesson.{step.name}.title", lang)
        if step.remedy:
            assert not at.get("vega_lite_chart")  # the question comes before the answer is drawn
            question = next(r for r in at.radio if r.key == f"answer_{step.name}")
            question.set_value(step.options[0]).run()
            assert not exceptions(at), number
            assert at.toggle(key=step.remedy).value and at.query_params.get(step.remedy) == "1"
        assert at.get("vega_lite_chart"), number
        assert not other_language(at, lang) and not raw_specials(at)
    assert at.button(key="next").disabled
    at.button(key="back").click().run()
    assert at.query_params.get("step") == str(lesson.N_STEPS - 1) and not at.toggle(key="clip").value


def test_a_link_reopens_its_step_and_asks_its_question_again():
    at = open_page(lesson="1", step="8", clip="1", lang="zh")
    assert not exceptions(at)
    assert at.header[0].value == "8 · " + t("lesson.clip.title", "zh")
    assert at.toggle(key="clip").value and not at.get("vega_lite_chart")
    assert [r for r in at.radio if r.key == "answer_clip"][0].value is None


def test_the_step_picker_jumps_and_starts_the_step_from_the_articles_chains():
    at = open_page(lesson="1", step="2", relu="1", lang="en")
    at.selectbox(key="step").set_value(5).run()
    assert not exceptions(at)
    assert at.query_params.get("step") == "5" and not at.toggle(key="relu").value


def test_show_everything_opens_the_sections_and_the_lesson_comes_back():
    at = open_page(lang="en")
    at.button_group(key="lesson").set_value(False).run()
    assert not exceptions(at)
    assert at.header[0].value == t("chain.heading", "en") and at.query_params.get("section") == "chain"
    assert "lesson" not in at.query_params and "step" not in at.query_params
    at.button_group(key="lesson").set_value(True).run()
    assert at.header[0].value.startswith("1 · ")


# --- a verdict that differs from its panel's heading says why ---------------------------------------------------


@pytest.mark.parametrize("section, changes", [("layers", {}), ("layers", {"init": "standard_normal"}),
                                              ("chain", {}), ("chain", {"gating": True}),
                                              ("chain", {"depth": 50, "relu": True, "clip": True}), ("time", {})],
                         ids=["layers", "layers-standard-normal", "chain", "chain-gating", "chain-dead", "time"])
def test_a_training_verdict_agrees_with_its_case_or_one_line_says_why(section, changes):
    from gradviz.page.checklist import FAMILY, VERDICT_COLOR
    verdict_of = {color: verdict for verdict, color in VERDICT_COLOR.items()}
    values = {**DEFAULTS, "hidden": 2, "epochs": 5, **changes}
    state = PageState.of(values)
    panel = SECTIONS[section]
    found = {name: job() for name, job in panel.training_jobs(state).items()}
    for lang in LANGUAGES:
        [columns] = [block for block in panel.render_training(state, found, Words(lang)) if isinstance(block, b.Columns)]
        for case, column in zip(("vanishing", "exploding"), columns.columns, strict=True):
            [checklist] = [block for block in column if isinstance(block, b.Checklist)]
            verdict = verdict_of[checklist.verdict_color]  # the verdict drawn (the layers' panel: hidden layers)
            assert t(f"checklist.verdict.{verdict}", lang) in checklist.verdict
            notes = [block.text for block in column if isinstance(block, b.Caption)
                     and block.text.startswith(t(f"checklist.note.{case}.healthy", lang)[:4])]
            assert bool(notes) != (FAMILY[verdict] == case), (case, verdict, notes)
