"""The catalogue of words (gradviz/page/text/*.toml): complete in both languages, used keys all present, and
no message left unfilled or in the other language on any rendered page."""

from __future__ import annotations

import ast
import re
from itertools import product
from pathlib import Path

import pytest

from gradviz.engine.initializations import SCHEMES
from gradviz.engine.meanfield import PHASE_NAMES
from gradviz.page.i18n import LANGUAGES, PLACEHOLDER, Words, catalogue, fill, language_of, placeholders, t
from gradviz.page.sections import SECTIONS
from gradviz.page.sections.deep import PRESETS
from gradviz.page.sections.run import EXAMPLES, RECORDERS
from gradviz.page.settings import SECTIONS as SECTION_NAMES
from gradviz.page.lesson import STEPS
from gradviz.page.lesson import SWITCHES as LESSON_SWITCHES
from gradviz.page.settings import SETTINGS, TABLE
from gradviz.page.state import CASES
from gradviz.training.diagnostics import VERDICTS
from gradviz.training.remedies import catalogue_keys
from page_support import SMALL, english_words, leftover_placeholders, page

ROOT = Path(__file__).resolve().parents[1]
CODE = sorted((ROOT / "gradviz" / "page").rglob("*.py")) + [ROOT / "app.py"]
MESSAGES = catalogue()
AREAS = sorted({key.split(".")[0] for key in MESSAGES})
KEY_LIKE = re.compile(rf"^({'|'.join(AREAS)})\.[A-Za-z0-9_.]+$")
DIAGNOSTICS = (ROOT / "gradviz" / "training" / "diagnostics.py").read_text(encoding="utf-8")
SYMPTOMS = tuple(dict.fromkeys(re.findall(r'Symptom\("(\w+)"', DIAGNOSTICS)))
ACTIVATIONS = ("sigmoid", "relu")  # what the ReLU switch makes of the page's neurons (tanh lives in the RNN/deep)
CHOICE_SETTINGS = [s for s in TABLE if s.kind == "choice" and s.name != "section"]
STEP_NAMES = tuple(step.name for step in STEPS)
REMEDY_STEPS = tuple(step.name for step in STEPS if step.remedy)
NORMS = ("batch", "layer")

# Every key the code builds from an f-string, with the values its parts take. A new f-string key in the page
# code fails test_every_f_string_key_is_enumerated until it is added here.
TEMPLATES: dict[str, dict[str, tuple] | tuple] = {
    "chain.slope.peak.{activation}": {"activation": ACTIVATIONS},
    "chain.slope.axis.{activation}": {"activation": ACTIVATIONS},
    "chain.slope.title.{act.name}": {"act.name": ACTIVATIONS},
    "chain.neurons.{r.activation}": {"r.activation": ACTIVATIONS},
    "chain.intro.{r.activation}": {"r.activation": ACTIVATIONS},
    "chain.story.exploding.{kind}": {"kind": ("skip", "gated") + ACTIVATIONS},
    "chain.fact.peak.{activation}": {"activation": ACTIVATIONS},
    "chain.fact.peak.{activation}.help": {"activation": ACTIVATIONS},
    "chain.fact.abs_w_below_1.{activation}.help": {"activation": ACTIVATIONS},
    "page.case.{case}": {"case": CASES},
    "page.section.{v}": {"v": SECTION_NAMES},
    # grows_back and early_stuck are told by checklist.evidence.flow.* (page/checklist.py _flow)
    "checklist.evidence.{symptom.key}": {"symptom.key": tuple(s for s in SYMPTOMS
                                                              if s not in ("grows_back", "early_stuck"))},
    "checklist.evidence.flow.{which}": {"which": ("spike", "spike_clipped", "grows", "stuck")},
    "checklist.symptom.{key}": {"key": SYMPTOMS},
    "checklist.symptom.{s.key}": {"s.key": SYMPTOMS},
    "checklist.when.{unit}": {"unit": ("step", "epoch", "update")},
    "checklist.verdict.{checklist.verdict}": {"checklist.verdict": VERDICTS},
    "common.time.{history.time_label}": {"history.time_label": ("epoch", "step")},
    "settings.init.{config.scheme}": {"config.scheme": tuple(SCHEMES)},
    "settings.init.{r.init}": {"r.init": tuple(SCHEMES)},
    "settings.group.{group}": {"group": tuple(dict.fromkeys(s.place for s in TABLE if s.place not in ("top", "panel")))},
    "deep.preset.{name}": {"name": tuple(PRESETS)},
    "deep.column.{name}": {"name": ("chosen", "compared", "plain")},
    "deep.structure.inside.{config.norm or 'none'}": tuple(f"deep.structure.inside.{n}" for n in ("none",) + NORMS),
    "deep.structure.after.{config.norm}": {"config.norm": NORMS},
    "remedy.norm.{config.norm}": {"config.norm": NORMS},
    "layers.network.norm.{design.norm}": {"design.norm": NORMS},
    "layers.metric.predicted.help.{kind}": {"kind": ("plain", "skip") + NORMS},
    "remedy.clip_by.{state.value('clip_by')}": tuple(SETTINGS["clip_by"].choice_key(v) for v in SETTINGS["clip_by"].choices),
    "remedy.clip_by.{values['clip_by']}.rule": tuple(f"{SETTINGS['clip_by'].choice_key(v)}.rule"
                                                     for v in SETTINGS["clip_by"].choices),
    "layers.phase.{theory.phase}": {"theory.phase": tuple(PHASE_NAMES.values())},
    "layers.setup.{case}": {"case": CASES},
    "theory.phase.intro.{diagram.activation}": {"diagram.activation": ACTIVATIONS},
    "run.advice.{checklist.verdict}": {"checklist.verdict": VERDICTS},
    "run.format.{run.file_format}": {"run.file_format": ("csv", "json", "json_lines", "events")},
    "run.layout.{run.layout}": {"run.layout": ("long", "wide", "tags", "bare", "events")},
    "run.order.{history.layer_order}": {"history.layer_order": ("file", "names", "reversed", "unknown")},
    "run.statistic.{run.statistic}": {"run.statistic": ("norm", "rms", "mean_abs", "histogram", "buckets")},
    "run.unit.{history.time_label}": {"history.time_label": ("step", "epoch")},
    "run.source.{source}": {"source": ("upload", "example")},
    "run.recorder.{name}": {"name": tuple(RECORDERS)},
    "chain.case.{case}": {"case": CASES},
    "layers.case.{case}": {"case": CASES},
    "time.case.{case}": {"case": CASES},
    "chain.story.vanishing.{r.activation}": {"r.activation": ACTIVATIONS},
    "lesson.slope.idea.{act.name}": {"act.name": ACTIVATIONS},
    "lesson.vanishing.sixteenth.{below}": {"below": ("0", "1", "2")},
    "lesson.vanishing.not_sixteenth.{below}": {"below": ("0", "1", "2")},
    "lesson.{lesson.step_of(k).name}.title": {"lesson.step_of(k).name": STEP_NAMES},
    "lesson.{step.name}.title": {"step.name": STEP_NAMES},
    "lesson.{step.name}.idea": {"step.name": tuple(name for name in REMEDY_STEPS if name != "regularize")},
    "lesson.{step.name}.question": {"step.name": REMEDY_STEPS},
    "lesson.{step.name}.option.{option}": tuple(f"lesson.{s.name}.option.{o}" for s in STEPS for o in s.options),
    "lesson.{step.name}.option.{right}": tuple(f"lesson.{s.name}.option.{o}" for s in STEPS for o in s.options),
    "lesson.name.{switch}": {"switch": LESSON_SWITCHES},
    "checklist.note.{case}.{family}": tuple(f"checklist.note.{case}.{family}" for case in CASES
                                             for family in ("vanishing", "exploding", "dead", "healthy") if family != case),
}
# Keys built by concatenation: "chain.story.vanishing." + ….
PREFIXED = {"chain.story.vanishing.": ("gated", "skip") + ACTIVATIONS, "lesson.regularize.idea.": SETTINGS["penalty"].choices}
# f"{key}.none" and friends, key = f"checklist.evidence.{symptom.key}" (page/checklist.py evidence).
EVIDENCE_SUFFIXES = {"none": ("loss_nan", "weights_nan", "dead", "clipped"), "end": ("loss_nan",),
                     "blew_up": ("weights_jump",), "chance": ("not_converging",), "broke": ("not_converging",)}


def _template(node: ast.JoinedStr) -> str:
    return "".join(part.value if isinstance(part, ast.Constant) else "{" + ast.unparse(part.value) + "}"
                   for part in node.values)


def scan_code():
    """(literal keys, f-string templates) in the page code: every string constant that looks like a message id
    (outside f-strings), and every f-string whose text before its first {…} starts with an area."""
    literals, templates = [], []
    for path in CODE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inside = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = _template(node)
                head = text.split("{")[0]
                if head.split(".")[0] in AREAS and "." in head:
                    templates.append((path.name, node.lineno, text))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside \
                    and KEY_LIKE.match(node.value):
                literals.append((path.name, node.lineno, node.value))
    return literals, templates


LITERALS, FOUND_TEMPLATES = scan_code()


# --- the catalogue itself --------------------------------------------------------------------------------------


def test_the_catalogue_is_not_empty_and_every_area_is_a_file():
    assert len(MESSAGES) > 300
    assert set(AREAS) == {p.stem for p in (ROOT / "gradviz" / "page" / "text").glob("*.toml")}


def test_every_message_has_both_languages_non_empty_with_the_same_placeholders():
    languages = [key for key, texts in MESSAGES.items() if set(texts) != set(LANGUAGES)]
    empty = [key for key, texts in MESSAGES.items() if not all(texts.get(lang, "").strip() for lang in LANGUAGES)]
    differ = [key for key, texts in MESSAGES.items()
              if placeholders(texts.get("en", "")) != placeholders(texts.get("zh", ""))]
    assert (languages, empty, differ) == ([], [], [])


def _letters(text: str) -> str:
    """The English of a message without its placeholders, math, URLs and names."""
    text = PLACEHOLDER.sub(" ", text)
    return " ".join(english_words(text))


def test_zh_is_chinese_wherever_en_has_words():
    cjk = re.compile(r"[\u4e00-\u9fff]")
    untranslated = [key for key, texts in MESSAGES.items() if _letters(texts["en"]) and not cjk.search(texts["zh"])]
    assert not untranslated, untranslated


def test_zh_is_not_a_copy_of_en():
    copied = [key for key, texts in MESSAGES.items() if texts["en"] == texts["zh"] and _letters(texts["en"])]
    assert not copied, copied


HTML = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>|&[a-z]+;|&#\d+;")


def test_no_message_holds_raw_html():
    found = [(key, lang) for key, texts in MESSAGES.items() for lang, text in texts.items() if HTML.search(text)]
    assert not found, found


def test_fill_replaces_named_placeholders_and_keeps_every_other_brace():
    assert fill("a_{j-1} = {value} {other}", {"value": 3}) == "a_{j-1} = 3 {other}"
    assert t("page.budget.seconds", "zh", value=5) == "5 秒"


def test_language_follows_the_locale_and_rejects_others():
    assert language_of("zh-CN") == "zh" and language_of("zh-Hant-TW") == "zh"
    assert language_of("en-US") == "en" and language_of("fr-FR") == "en" and language_of(None) == "en"
    with pytest.raises(ValueError, match="lang"):
        Words("fr")


# --- every key the code uses exists ---------------------------------------------------------------------------


def test_the_scan_finds_the_code_keys():
    """The scan itself works: it sees known literal keys and f-string keys."""
    assert any(key == "page.title" for _, _, key in LITERALS)
    assert any(text == "page.case.{case}" for _, _, text in FOUND_TEMPLATES)


def test_every_literal_key_exists():
    missing = [(f, line, key) for f, line, key in LITERALS
               if (key not in MESSAGES if not key.endswith(".") else not any(k.startswith(key) for k in MESSAGES))]
    assert not missing, missing


def test_every_f_string_key_is_enumerated():
    unknown = sorted({text for _, _, text in FOUND_TEMPLATES} - set(TEMPLATES))
    assert not unknown, f"add these keys' variants to TEMPLATES: {unknown}"


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_variant_of_an_f_string_key_exists(template):
    parts = TEMPLATES[template]
    if isinstance(parts, tuple):
        assert not [key for key in parts if key not in MESSAGES]
        return
    missing = []
    for values in product(*parts.values()):
        key = template
        for name, value in zip(parts, values):
            key = key.replace("{" + name + "}", str(value))
        if key not in MESSAGES:
            missing.append(key)
    assert not missing, missing


def test_concatenated_and_evidence_keys_exist():
    wanted = [prefix + end for prefix, ends in PREFIXED.items() for end in ends]
    wanted += [f"checklist.evidence.{symptom}.{suffix}" for suffix, symptoms in EVIDENCE_SUFFIXES.items()
               for symptom in symptoms]
    assert not [key for key in wanted if key not in MESSAGES]


def test_every_setting_has_a_label_help_and_option_names():
    wanted = [s.label_key for s in TABLE] + [s.help_key for s in TABLE]
    wanted += [s.choice_key(choice) for s in CHOICE_SETTINGS for choice in s.choices]
    wanted += [f"page.section.{name}" for name in SECTION_NAMES]
    assert not [key for key in wanted if key not in MESSAGES]


def test_every_key_the_remedy_registry_names_exists():
    """The registry (gradviz.training.remedies) owns its remedies' words: its settings, their choices, why a remedy
    does not apply, its sentences and its theory are all in the catalogue."""
    assert not sorted(catalogue_keys() - set(MESSAGES))


def test_every_section_names_its_work():
    assert set(SECTIONS) == set(SECTION_NAMES)
    assert all(section.what in MESSAGES for section in SECTIONS.values())
    assert set(EXAMPLES) == set(SETTINGS["example"].choices)


# --- rendered pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("section", SECTION_NAMES)
def test_no_placeholder_is_left_unfilled_on_a_page(section, lang):
    at = page(section=section, lang=lang, **SMALL)
    assert not leftover_placeholders(at)
