"""Settings in a URL: parse query parameters against a spec, never trusting them; encode settings back.

Every parameter falls back safely: an out-of-range number to the nearest bound, anything malformed
(depth=abc, eta=nan, seed=<script>) or unknown to the default, each with a plain-text notice that never
repeats the raw value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One setting: its kind ("int", "float", "bool" or "choice"), default, bounds or choices."""

    kind: str
    default: object
    low: float | None = None
    high: float | None = None
    choices: tuple = ()


def _parse(spec: Param, raw: str):
    """(value, problem) where problem is None, 'clamped' or 'invalid'."""
    if spec.kind == "bool":
        word = raw.strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS, None
        return spec.default, "invalid"
    if spec.kind == "choice":
        return (raw, None) if raw in spec.choices else (spec.default, "invalid")
    try:
        number = float(raw)
    except ValueError:
        return spec.default, "invalid"
    if math.isnan(number) or (spec.kind == "int" and math.isinf(number)):
        return spec.default, "invalid"
    clamped = min(max(number, spec.low), spec.high)
    value = int(round(clamped)) if spec.kind == "int" else float(clamped)
    return value, ("clamped" if clamped != number else None)


def parse_params(params: Mapping[str, str], specs: Mapping[str, Param]) -> tuple[dict, list[str]]:
    """Settings from URL parameters: (values for every spec, plain-text notices about what was changed)."""
    values = {name: spec.default for name, spec in specs.items()}
    notices = []
    for name, raw in params.items():
        spec = specs.get(name)
        if spec is None:
            notices.append(f"Ignored the unknown URL parameter “{name[:30]}”." if name.isidentifier()
                           else "Ignored an unknown URL parameter.")
            continue
        value, problem = _parse(spec, str(raw))
        values[name] = value
        if problem == "invalid":
            notices.append(f"The URL's value for “{name}” is not valid; using the default, {spec.default}.")
        elif problem == "clamped":
            notices.append(f"The URL's value for “{name}” is out of range; using the nearest allowed, {value}.")
    return values, notices


def _text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)


def encode_params(values: Mapping[str, object], specs: Mapping[str, Param]) -> dict[str, str]:
    """The settings that differ from their defaults, as URL parameter strings."""
    return {name: _text(value) for name, value in values.items()
            if name in specs and value != specs[name].default}
