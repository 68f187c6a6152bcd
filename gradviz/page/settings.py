"""The page's settings: one table (like TensorFlow Playground's PROPS) drives the controls, the URL and the configs.

Each row gives a setting's URL name, kind, default, range or choices, the widget that shows it, where it
sits, and when it is shown; its label and help are catalogue messages "settings.<name>" and
"settings.<name>.help". parse_url reads a query string against the table, never trusting it: an
out-of-range number falls to the nearest bound, anything else malformed to the default, an unknown or
repeated key is dropped; the notices are counts, never the keys or values themselves. encode_url writes
back only what differs from the defaults, so a link reopens exactly that view.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Mapping

from gradviz.engine.initializations import SCHEMES
from gradviz.experiments.chain import MAX_DEPTH
from gradviz.page.lesson import N_STEPS, STEPS
from gradviz.training.remedies import REMEDIES, SettingRow

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
SECTIONS = ("chain", "layers", "time", "deep", "theory", "run")
MAX_URL_VALUE_LENGTH = 64


@dataclass(frozen=True)
class Setting(SettingRow):
    """One row of the table: a remedy's SettingRow's fields (gradviz.training.remedies), and the page's own.

    kind: "int", "float", "bool" or "choice"; widget: "number", "slider", "toggle", "radio", "select",
    "segmented", "mode" (the lesson or every section) or "step" (the lesson's step picker); place: "top"
    (above the sections), "panel" (at the end of a section, opening its training panel), or the sidebar
    group it sits in; shown_if: the bool setting that must be on (or
    "name=value" for a choice) for the control to show; step and fmt for number inputs; only: "lesson" or
    "sections" for a setting that means something in that view alone (it is left out of the other's URL);
    names_view: the setting that says which step or section is shown, written in every link of its view; area: the
    catalogue area of its words (a remedy's rows: "remedy").
    """

    area: str = "settings"
    in_url: bool = True
    only: str | None = None
    names_view: bool = False

    @property
    def label_key(self) -> str:
        return f"{self.area}.{self.name}"

    @property
    def help_key(self) -> str:
        return f"{self.area}.{self.name}.help"

    def choice_key(self, choice) -> str:
        """The catalogue key of one of its choices' label."""
        return f"{self.area}.{self.name}.{choice}"

    def parse(self, raw: str) -> tuple[object, str | None]:
        """(value, problem): problem None, "clamped" or "invalid"."""
        raw = raw.strip()
        if len(raw) > MAX_URL_VALUE_LENGTH:
            return self.default, "invalid"
        if self.kind == "bool":
            word = raw.lower()
            if word in TRUE_WORDS | FALSE_WORDS:
                return word in TRUE_WORDS, None
            return self.default, "invalid"
        if self.kind == "choice":
            return (raw, None) if raw in self.choices else (self.default, "invalid")
        try:
            number = float(raw)
        except ValueError:
            return self.default, "invalid"
        if math.isnan(number) or (self.kind == "int" and math.isinf(number)):
            return self.default, "invalid"
        clamped = min(max(number, self.low), self.high)
        value = int(round(clamped)) if self.kind == "int" else float(clamped)
        return value, ("clamped" if clamped != number else None)

    def text(self, value) -> str:
        """The value as it is written in the URL."""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, float):
            return f"{value:.12g}"
        return str(value)


INIT_SCHEMES = tuple(SCHEMES)
# Every remedy's rows from the registry (gradviz.training.remedies.REMEDIES): the switches on top, then their own
# settings. The lesson teaches the article's remedies; the others mean something in the sections alone.
REMEDY_SETTINGS = tuple(Setting(**asdict(row), only=None if remedy.in_article else "sections")
                        for top in (True, False) for remedy in REMEDIES for row in remedy.rows
                        if (row.place == "top") == top)
TABLE: tuple[Setting, ...] = (
    Setting("lesson", "bool", False, "mode", "top"),
    Setting("step", "int", 1, "step", "top", 1, N_STEPS, only="lesson", names_view=True),
    Setting("section", "choice", "chain", "segmented", "top", choices=SECTIONS, only="sections", names_view=True),
    *REMEDY_SETTINGS,
    Setting("init", "choice", "nielsen", "select", "init", choices=INIT_SCHEMES),
    Setting("gain", "float", 1.0, "slider", "init", 0.1, 4.0, shown_if="init=orthogonal", step=0.05),
    Setting("depth", "int", 4, "number", "chain", 1, MAX_DEPTH, step=1),
    Setting("a0", "float", 1.0, "number", "chain", -10.0, 10.0, step=0.1),
    Setting("y", "float", 0.0, "number", "chain", -10.0, 10.0, step=0.1),
    Setting("steps", "int", 30, "slider", "training", 1, 200),
    Setting("eta", "float", 0.1, "number", "training", 1e-4, 100.0, fmt="%.4g"),
    Setting("seed", "int", 0, "number", "training", 0, 2**31 - 1, step=1),
    Setting("hidden", "int", 4, "slider", "layers", 1, 6),
    Setting("width", "int", 30, "slider", "layers", 5, 100),
    Setting("epochs", "int", 100, "slider", "layers", 1, 500),
    Setting("overlay", "bool", True, "toggle", "layers"),
    Setting("length", "int", 50, "slider", "time", 2, 1000),
    Setting("deep_depth", "int", 30, "slider", "deep", 2, 100),
    Setting("deep_width", "int", 256, "slider", "deep", 16, 512, step=16),
    Setting("seeds", "int", 5, "slider", "deep", 1, 20),
    Setting("example", "choice", "vanishing", "segmented", "run", choices=("vanishing", "exploding_clipped", "healthy")),
    Setting("train", "bool", False, "toggle", "panel", only="sections"),
)
SETTINGS: dict[str, Setting] = {s.name: s for s in TABLE}
# The sidebar shows a group only on the sections it acts on (a remedy's own settings: where its switch acts).
GROUP_SECTIONS = {
    "init": ("layers", "time", "deep", "theory"),
    "chain": ("chain",),
    "training": ("chain", "layers", "time"),
    "layers": ("layers",),
    "time": ("time",),
    "deep": ("deep", "theory"),
    "run": ("run",),
}
DEFAULTS: dict[str, object] = {s.name: s.default for s in TABLE}
LANGUAGE_KEY = "lang"
# Each remedy's switch, by its URL name. A switch acts on a section when its remedy applies to one of the section's
# experiments (the registry's why_not); elsewhere it is shown disabled, and its help gives the registry's reasons.
# A lesson step names the switches that act on it (gradviz.page.lesson).
SWITCHES: dict[str, object] = {remedy.rows[0].name: remedy for remedy in REMEDIES}
SECTION_EXPERIMENTS = {"chain": ("chain",), "layers": ("nielsen",), "time": ("recurrent",), "deep": ("deep",),
                       "theory": ("phase", "cliff"), "run": ("your_run",)}


@dataclass(frozen=True)
class UrlReading:
    """What a query string said: the values, the language if it named one, and counts of what was not used."""

    values: dict
    lang: str | None
    unknown: int
    repeated: int
    invalid: int
    clamped: int

    @property
    def problems(self) -> int:
        return self.unknown + self.repeated + self.invalid + self.clamped


def parse_url(pairs: list[tuple[str, str]]) -> UrlReading:
    """Settings from a query string's (key, value) pairs, in order. A key given twice is a problem and its
    first value is used; the language key (lang=en|zh) is read apart from the table. A first visit — a URL
    that names no setting — opens the lesson; any other link opens the view it names (a link from before the
    lesson existed opens its section)."""
    values = dict(DEFAULTS)
    values["lesson"] = not any(key in SETTINGS for key, _ in pairs)
    counts = Counter(key for key, _ in pairs)
    seen: set[str] = set()
    unknown = invalid = clamped = 0
    lang = None
    for key, raw in pairs:
        if key in seen:
            continue
        seen.add(key)
        if key == LANGUAGE_KEY:
            lang = raw if raw in ("en", "zh") else None
            invalid += lang is None
            continue
        setting = SETTINGS.get(key)
        if setting is None or not setting.in_url:
            unknown += 1
            continue
        value, problem = setting.parse(str(raw))
        values[key] = value
        invalid += problem == "invalid"
        clamped += problem == "clamped"
    repeated = sum(n - 1 for n in counts.values() if n > 1)
    return UrlReading(values, lang, unknown, repeated, invalid, clamped)


def written(setting: Setting, value, view: str) -> bool:
    """Whether a link writes the setting: what names the view shown (the lesson's step, or the section) always,
    so that the link reopens that view; what means nothing in it never; anything else where it differs from
    its default as written (0.1 + 2⁻⁵⁶ is written 0.1, the default)."""
    if setting.only not in (None, view):
        return False
    return setting.names_view or (setting.name == "lesson" and view == "lesson") or \
        setting.text(value) != setting.text(setting.default)


def encode_url(values: Mapping[str, object], lang: str | None = None) -> dict[str, str]:
    """The settings a link needs to reopen this view (see `written`), as URL parameter strings (and lang if
    given)."""
    view = "lesson" if values.get("lesson") else "sections"
    encoded = {name: SETTINGS[name].text(value) for name, value in values.items()
               if name in SETTINGS and SETTINGS[name].in_url and written(SETTINGS[name], value, view)}
    if lang is not None:
        encoded[LANGUAGE_KEY] = lang
    return encoded


def not_here(switch: str, section: str, remedies=None) -> tuple[str, ...]:
    """The catalogue keys of the reasons a remedy switch does not act on `section` (one per experiment of the
    section, each once), or () where it acts: on some experiment of the section, for some value of the remedy (or
    the one `remedies` holds, if given)."""
    remedy = SWITCHES[switch]
    reasons = [remedy.why_not(experiment, remedies) for experiment in SECTION_EXPERIMENTS[section]]
    return () if None in reasons else tuple(dict.fromkeys(reasons))


def not_applied(remedies, section: str) -> list[tuple[str, tuple[str, ...]]]:
    """(switch, the reasons' catalogue keys) for every remedy on in `remedies` whose switch acts on `section` but
    whose chosen value does not (batch norm in the RNN, where layer norm applies): the section is drawn without it,
    and says so."""
    return [(switch, not_here(switch, section, remedies)) for switch, remedy in SWITCHES.items()
            if remedy.is_on(remedies) and not not_here(switch, section) and not_here(switch, section, remedies)]


def _switch_of(setting: Setting) -> str | None:
    """The remedy switch a setting belongs to: the switch itself, or the one its own setting is shown for."""
    name = setting.name if setting.name in SWITCHES else (setting.shown_if or "").partition("=")[0]
    return name if name in SWITCHES else None


def acts_on(setting: Setting, section: str) -> bool:
    """Whether a setting can change what `section` shows (a remedy's: where its switch acts)."""
    switch = _switch_of(setting)
    if switch is not None:
        return not not_here(switch, section)
    if setting.place == "top":
        return setting.name == "section"
    return section in GROUP_SECTIONS.get(setting.place, ())


def switch_acts(switch: str, view: str, step: int) -> bool:
    """Whether a remedy switch acts on the view shown: the lesson's step `step`, or the section `view`."""
    if view == "lesson":
        return STEPS[step - 1].acts_on(switch)
    return not not_here(switch, view)


def view_key(section: str, values: Mapping[str, object], lang: str) -> tuple:
    """What a drawn section depends on: its own settings and the language (so ?section=run&seed=5 and
    ?section=run&seed=6 share one view)."""
    return section, lang, tuple((s.name, values[s.name]) for s in TABLE if acts_on(s, section))


def step_view_key(number: int, values: Mapping[str, object], lang: str, answer: str | None) -> tuple:
    """What a drawn lesson step depends on: its section's settings, the language and the student's answer."""
    step = STEPS[number - 1]
    return "lesson", step.name, answer, view_key(step.section, values, lang)


def shown_section(values: Mapping[str, object]) -> str:
    """The section whose settings the view shown reads: the section, or the lesson step's."""
    return STEPS[int(values["step"]) - 1].section if values["lesson"] else str(values["section"])


def shown(setting: Setting, values: Mapping[str, object]) -> bool:
    """Whether a sidebar control is on the page for these values: its group acts on the view shown, and a
    remedy's own setting shows when the remedy is on and acts there."""
    section = shown_section(values)
    if setting.place in GROUP_SECTIONS and section not in GROUP_SECTIONS[setting.place]:
        return False
    if setting.shown_if is None:
        return True
    name, _, wanted = setting.shown_if.partition("=")
    if name in SWITCHES and not switch_acts(name, "lesson" if values["lesson"] else section, int(values["step"])):
        return False
    return values[name] == wanted if wanted else bool(values[name])
