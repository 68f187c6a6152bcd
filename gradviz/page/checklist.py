"""The symptom checklist on the page: the verdict, the symptoms it rests on, and each symptom's evidence in words
(gradviz.training.diagnostics computes the numbers)."""

from __future__ import annotations

import math

from gradviz.page import blocks as b
from gradviz.page.formatting import magnitude_text
from gradviz.page.i18n import Words
from gradviz.training.diagnostics import Checklist

VERDICT_COLOR = {"dead": "gray", "exploding": "red", "exploding_clipped": "orange", "vanishing": "blue",
                "healthy": "green"}


def _evidence(symptom, words: Words) -> str:
    """The numbers behind one symptom, in words."""
    e = symptom.evidence
    key = f"checklist.evidence.{symptom.key}"
    if not symptom.available:
        return words("checklist.not_recorded")
    if symptom.key == "not_converging":
        return words(key, first=_number(e["first"], words), last=_number(e["last"], words))
    if symptom.key == "unstable":
        return words(key, rises=e["rises"], updates=e["updates"])
    if symptom.key == "loss_nan":
        if not symptom.present:
            return words(f"{key}.none")
        return words(key, update=e["first_update"]) if e["first_update"] is not None else words(f"{key}.end")
    if symptom.key == "weights_jump":
        if not math.isfinite(e["largest"]):
            return words(f"{key}.blew_up")
        return words(key, percent=magnitude_text(math.log10(100 * e["largest"])) if e["largest"] > 0 else "0")
    if symptom.key == "weights_nan":
        return words(key, update=e["update"]) if symptom.present else words(f"{key}.none")
    if symptom.key == "above_one":
        return words(key, smallest=magnitude_text(e["smallest_log10"]))
    if symptom.key in ("grows_back", "early_stuck"):
        return _flow_evidence(symptom, words)
    if symptom.key == "dead":
        return words(key) if symptom.present else words(f"{key}.none")
    if symptom.key == "clipped":
        if not symptom.present:
            return words(f"{key}.none")
        return words(key, capped=e["capped"], updates=e["updates"], factor=magnitude_text(e["largest_log10"]))
    raise KeyError(symptom.key)


def _number(value: float, words: Words) -> str:
    if math.isnan(value):
        return words("common.not_a_number")
    if math.isinf(value):
        return words("common.overflowed")
    return magnitude_text(math.log10(abs(value)) if value else -math.inf, math.copysign(1.0, value))


def _flow_evidence(symptom, words: Words) -> str:
    e = symptom.evidence
    if "lowest_log10" not in e:
        return words("checklist.evidence.flow.none")
    low, high = e["lowest_log10"], e["highest_log10"]
    text = words("checklist.evidence.flow", low=_ratio_number(low, words), high=_ratio_number(high, words))
    if "moved_first" in e:
        text += words("checklist.evidence.flow.moved", first=_percent(e["moved_first"], words),
                      last=_percent(e["moved_last"], words))
    return text


def _ratio_number(log10: float, words: Words) -> str:
    if log10 == -math.inf:
        return words("checklist.evidence.flow.first_zero")
    if log10 == math.inf:
        return words("checklist.evidence.flow.last_zero")
    return magnitude_text(log10)


def _percent(fraction: float, words: Words) -> str:
    if not math.isfinite(fraction):
        return words("common.not_a_number") if math.isnan(fraction) else words("common.overflowed")
    return words("common.percent", value=magnitude_text(math.log10(100 * fraction)) if fraction > 0 else "0")


def checklist_block(checklist: Checklist, words: Words) -> b.Checklist:
    """The verdict (with the symptoms it rests on) and one line per symptom, with its evidence."""
    because = words("common.separator").join(words(f"checklist.symptom.{key}") for key in checklist.because)
    verdict = words(f"checklist.verdict.{checklist.verdict}")
    head = words("checklist.head", verdict=verdict) + (words("checklist.because", symptoms=because) if because else "")
    lines = []
    for symptom in checklist:
        state = "present" if symptom.present else ("absent" if symptom.available else "unknown")
        lines.append(words("checklist.line", name=words(f"checklist.symptom.{symptom.key}"),
                           state=words(f"checklist.state.{state}"), evidence=_evidence(symptom, words)))
    return b.Checklist(head, VERDICT_COLOR[checklist.verdict], tuple(lines))
