"""The symptom checklist on the page: the verdict (with the symptoms it rests on), a compact table of the symptoms
that can occur in the run (symptom, yes/no), each answer's evidence on demand, and a line naming the checks the
run could not make. gradviz.training.diagnostics computes the numbers; the command line prints the same words.

Names from a user's run (its layers) reach the evidence through `name`, which the page sets to
gradviz.page.i18n.plain (the text is Markdown there) and the command line leaves as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from gradviz.page import blocks as b
from gradviz.page.formatting import magnitude_text
from gradviz.page.i18n import Words, plain
from gradviz.training.diagnostics import Checklist, Symptom

VERDICT_COLOR = {"dead": "gray", "exploding": "red", "exploding_clipped": "orange", "vanishing": "blue",
                 "healthy": "green"}
KIND_COLOR = {"exploding": "red", "vanishing": "blue", "dead": "gray", "clipping": "orange"}


@dataclass(frozen=True)
class Line:
    """One listed symptom in words: its name, whether it is present, and its evidence."""

    key: str
    kind: str
    name: str
    present: bool
    evidence: str


def listed(checklist: Checklist) -> list[Symptom]:
    """The symptoms the run can show and recorded what they need, the present ones first."""
    shown = [s for s in checklist if s.applicable and s.available]
    return sorted(shown, key=lambda s: not s.present)


def unchecked(checklist: Checklist) -> list[Symptom]:
    """The symptoms that could occur but that the run did not record what they need for."""
    return [s for s in checklist if s.applicable and not s.available]


def lines(checklist: Checklist, words: Words, name=str) -> list[Line]:
    """The listed symptoms in words; name(text) shows a name from the run."""
    return [Line(s.key, s.kind, words(f"checklist.symptom.{s.key}"), s.present,
                 evidence(s, words, checklist.time_label, name)) for s in listed(checklist)]


def verdict_text(checklist: Checklist, words: Words) -> tuple[str, str]:
    """(the verdict's words, the words of the symptoms it rests on — "" when none)."""
    because = words("common.separator").join(words(f"checklist.symptom.{key}") for key in checklist.because)
    return words(f"checklist.verdict.{checklist.verdict}"), because


def checklist_block(checklist: Checklist, words: Words) -> b.Checklist:
    """The checklist as a block: the verdict line, the table, the evidence and the checks not made."""
    verdict, because = verdict_text(checklist, words)
    head = words("checklist.head", verdict=verdict) + (words("checklist.because", symptoms=because) if because else "")
    rows = lines(checklist, words, plain)
    states = [f":{KIND_COLOR[line.kind]}[**{words('checklist.state.present')}**]" if line.present
              else words("checklist.state.absent") for line in rows]
    table = pd.DataFrame({words("checklist.column.symptom"): [line.name for line in rows],
                          words("checklist.column.state"): states})
    evidence_lines = tuple(words("checklist.evidence_line", name=line.name, evidence=line.evidence) for line in rows)
    missing = unchecked(checklist)
    note = words("checklist.unchecked", symptoms=words("common.separator").join(
        words(f"checklist.symptom.{s.key}") for s in missing)) if missing else None
    return b.Checklist(head, VERDICT_COLOR[checklist.verdict], table, words("checklist.evidence_label"),
                       evidence_lines, note)


# --- evidence ----------------------------------------------------------------------------------------------------


def _when(words: Words, unit: str, at) -> str:
    return words(f"checklist.when.{unit}", at=at)


def _moment(words: Words, e: dict, time_label: str) -> str:
    """When an update-indexed symptom happened: the file's own step, or gradviz's update count."""
    if e.get("at") is not None:
        return _when(words, time_label, e["at"])
    return _when(words, "update", e["update"] + 1)


def evidence(symptom: Symptom, words: Words, time_label: str, name=str) -> str:
    """The numbers behind one symptom, in words."""
    e, key = symptom.evidence, f"checklist.evidence.{symptom.key}"
    if symptom.key == "not_converging":
        return _not_converging(e, words, time_label)
    if symptom.key == "unstable":
        return words(key, rises=e["rises"], updates=e["updates"])
    if symptom.key == "loss_nan":
        if not symptom.present:
            return words(f"{key}.none")
        return words(key, when=_moment(words, e, time_label)) if e["update"] is not None else words(f"{key}.end")
    if symptom.key == "weights_jump":
        if not math.isfinite(e["largest"]):
            return words(f"{key}.blew_up")
        return words(key, percent=_percent_number(e["largest"]), when=_moment(words, e, time_label))
    if symptom.key == "weights_nan":
        return words(key, when=_moment(words, e, time_label)) if symptom.present else words(f"{key}.none")
    if symptom.key == "above_one":
        return words(key, median=magnitude_text(e["median_log10"]), when=_when(words, time_label, e["late_from"]),
                     count=e["count"], of=e["of"])
    if symptom.key in ("grows_back", "early_stuck"):
        return _flow(symptom, words, time_label, name)
    if symptom.key == "dead":
        return words(key) if symptom.present else words(f"{key}.none")
    if symptom.key == "clipped":
        if not symptom.present:
            return words(f"{key}.none")
        return words(key, capped=e["capped"], updates=e["updates"], when=_moment(words, e, time_label),
                     factor=magnitude_text(e["largest_log10"]))
    raise KeyError(symptom.key)


def _not_converging(e: dict, words: Words, time_label: str) -> str:
    key = "checklist.evidence.not_converging"
    if not math.isfinite(e["last"]):
        return words(f"{key}.broke")
    last = _number(e["last"], words)
    text = words(key, first=_number(e["first"], words), last=last, when=_when(words, time_label, e["from"]))
    if e["chance"] is not None:
        text += words(f"{key}.chance", last=last, k=e["chance"], chance=f"{math.log(e['chance']):.4g}")
    return text


def _layers(pair: tuple, words: Words, name) -> str:
    first, last = (name(layer) for layer in pair)
    return words("checklist.layers.one", name=first) if pair[0] == pair[1] else \
        words("checklist.layers.range", first=first, last=last)


def _flow(symptom: Symptom, words: Words, time_label: str, name) -> str:
    e = symptom.evidence
    if "decades" not in e:
        return words("checklist.evidence.flow.none")
    decades = e["decades"] if symptom.key == "grows_back" else -e["decades"]
    groups = {"first": _layers(e["first_layers"], words, name), "last": _layers(e["last_layers"], words, name)}
    if not symptom.present:
        return words("checklist.evidence.flow.typical", factor=_factor(decades, words), **groups)
    which = {"jump": "spike", "clip": "spike_clipped"}.get(e.get("spike"), "grows" if symptom.key == "grows_back"
                                                                  else "stuck")
    text = words(f"checklist.evidence.flow.{which}", when=_when(words, time_label, e["from"]), count=e["count"],
                 of=e["of"], factor=_factor(decades, words), **groups)
    if "moved_first" in e:
        text += words("checklist.evidence.flow.moved", first=_percent(e["moved_first"], words),
                      last=_percent(e["moved_last"], words))
    return text


def _factor(log10: float, words: Words) -> str:
    if math.isnan(log10):
        return words("common.not_a_number")
    if log10 == -math.inf:
        return "0"
    if log10 == math.inf:
        return words("common.overflowed")
    return magnitude_text(log10)


def _number(value: float, words: Words) -> str:
    if math.isnan(value):
        return words("common.not_a_number")
    if math.isinf(value):
        return words("common.overflowed")
    return magnitude_text(math.log10(abs(value)) if value else -math.inf, math.copysign(1.0, value))


def _percent_number(fraction: float) -> str:
    return magnitude_text(math.log10(100 * fraction)) if fraction > 0 else "0"


def _percent(fraction: float, words: Words) -> str:
    if not math.isfinite(fraction):
        return words("common.not_a_number") if math.isnan(fraction) else words("common.overflowed")
    return words("common.percent", value=_percent_number(fraction))


# --- a verdict against the panel's heading --------------------------------------------------------------------

FAMILY = {"exploding": "exploding", "exploding_clipped": "exploding", "vanishing": "vanishing", "dead": "dead",
          "healthy": "healthy"}


def verdict_note(case: str, checklist: Checklist, words: Words) -> str | None:
    """One line where a run built as `case` ("vanishing" or "exploding") gets another verdict: what its numbers
    show instead (the flow gap late in the run, against the rule's thresholds). None where the verdict agrees."""
    family = FAMILY[checklist.verdict]
    if family == case:
        return None
    flow = checklist["grows_back"] if case == "exploding" else checklist["early_stuck"]
    if family == "dead" or not (flow.applicable and flow.available):
        return words(f"checklist.note.{case}.{family}")
    gap = flow.evidence["decades"] if case == "exploding" else -flow.evidence["decades"]
    return words(f"checklist.note.{case}.{family}", ratio=magnitude_text(gap) if math.isfinite(gap) else "—")
