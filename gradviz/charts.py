"""Altair chart builders: a tidy DataFrame in, a chart out.

Magnitudes that span thousands of decades (25^9999) cannot sit on a float log scale, so every
log-scale chart here plots log10 of the value on a linear axis labelled as powers of ten: the
picture and the ticks are those of a log scale, and tooltips carry the exact value as text.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from gradviz.formatting import magnitude_text

MAX_POINTS = 1200
HEIGHT = 240
SUPERSCRIPTS = {"-": "⁻", "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹"}


def _superscript_expression(field: str) -> str:
    expression = f"format({field}, 'd')"
    for digit, superscript in SUPERSCRIPTS.items():
        expression = f"replace({expression}, regexp('{digit}', 'g'), '{superscript}')"
    return expression


POWER_OF_TEN_LABEL = f"'10' + {_superscript_expression('datum.value')}"


def log10_axis(field: str, title: str) -> alt.Y:
    """A y encoding for a log10 column that reads as a log scale: ticks at whole powers, labelled 10ᵏ."""
    return alt.Y(f"{field}:Q", title=title,
                 axis=alt.Axis(labelExpr=POWER_OF_TEN_LABEL, tickMinStep=1, format="d"),
                 scale=alt.Scale(zero=False, nice=True))


def thin(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """At most max_points rows, evenly spaced and keeping the first and last, for drawing."""
    if len(frame) <= max_points:
        return frame
    keep = np.unique(np.round(np.linspace(0, len(frame) - 1, max_points)).astype(int))
    return frame.iloc[keep]


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame[np.isfinite(frame[column])]


def chain_gradient_chart(layers: pd.DataFrame) -> alt.Chart:
    """|∂C/∂b_j| against layer j, log scale; tooltip with the signed exact value."""
    data = _finite(thin(layers), "grad_b_log10").assign(
        grad_b_text=lambda d: [magnitude_text(v, s) for v, s in zip(d["grad_b_log10"], d["grad_b_sign"])])
    base = alt.Chart(data).encode(
        x=alt.X("layer:Q", title="layer j", axis=alt.Axis(tickMinStep=1, format="d")),
        y=log10_axis("grad_b_log10", "|∂C/∂b_j|"),
        tooltip=[alt.Tooltip("layer:Q", title="layer j"), alt.Tooltip("grad_b_text:N", title="∂C/∂b_j"),
                 alt.Tooltip("grad_b_log10:Q", title="log10 |∂C/∂b_j|", format=".3f")])
    points = base.mark_point(filled=True, size=40) if len(data) <= 60 else base.mark_point(size=0, opacity=0)
    return (base.mark_line() + points).properties(height=HEIGHT)


def _reference_lines(levels: dict[str, float]) -> alt.Chart:
    rules = pd.DataFrame({"label": list(levels), "level_log10": [math.log10(v) for v in levels.values()]})
    base = alt.Chart(rules).encode(y="level_log10:Q")
    return (base.mark_rule(strokeDash=[4, 4], color="gray")
            + base.mark_text(align="left", dx=4, dy=-6, color="gray").encode(x=alt.value(0), text="label:N"))


def chain_factor_chart(layers: pd.DataFrame, factor_title: str) -> alt.Chart:
    """|∂a_j/∂a_{j−1}| (the article's w_j σ'(z_j)) per layer, against the lines at 1/4 and 1."""
    data = _finite(thin(layers), "factor_log10").assign(
        factor_text=lambda d: [magnitude_text(v, s, 4) for v, s in zip(d["factor_log10"], d["factor_sign"])])
    bars = alt.Chart(data).mark_circle(size=50 if len(data) <= 60 else 8).encode(
        x=alt.X("layer:Q", title="layer j", axis=alt.Axis(tickMinStep=1, format="d")),
        y=log10_axis("factor_log10", f"|{factor_title}|"),
        color=alt.Color("grows:N", title=None, scale=alt.Scale(domain=["> 1: grows", "< 1: shrinks"], range=["#d62728", "#1f77b4"])),
        tooltip=[alt.Tooltip("layer:Q", title="layer j"), alt.Tooltip("factor_text:N", title=factor_title),
                 alt.Tooltip("w:Q", title="w_j", format=".4g"), alt.Tooltip("z:Q", title="z_j", format=".4g")],
    ).transform_calculate(grows="datum.factor_log10 > 0 ? '> 1: grows' : '< 1: shrinks'")
    lines = _reference_lines({"1/4": 0.25, "1": 1.0})
    return alt.layer(bars, lines).properties(height=HEIGHT)
