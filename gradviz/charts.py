"""Altair chart builders: a tidy DataFrame in, a chart out.

Magnitudes that span thousands of decades (25^9999) cannot sit on a float log scale, so every
log-scale chart here plots log10 of the value on a linear axis labelled as powers of ten: the
picture and the ticks are those of a log scale, and tooltips carry the exact value as text.
"""

from __future__ import annotations

import itertools
import math

import altair as alt
import numpy as np
import pandas as pd

from gradviz.formatting import magnitude_text

MAX_POINTS = 1200
HEIGHT = 240
MAX_TICKS = 7
SUPERSCRIPT_DIGITS = {"-": "⁻", "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷",
                      "8": "⁸", "9": "⁹"}


def _superscript_expression(field: str) -> str:
    expression = f"format({field}, 'd')"
    for digit, superscript in SUPERSCRIPT_DIGITS.items():
        expression = f"replace({expression}, regexp('{digit}', 'g'), '{superscript}')"
    return expression


POWER_OF_TEN_LABEL = f"'10' + {_superscript_expression('datum.value')}"


def _nice_step(span: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … decades that splits `span` into at most MAX_TICKS − 1 steps."""
    for power in itertools.count():
        for multiple in (1, 2, 5):
            if span / (multiple * 10**power) <= MAX_TICKS - 1:
                return multiple * 10**power


def decades(log10_values) -> list[int]:
    """Whole powers of ten covering the finite values, at a 1-2-5 step, at most MAX_TICKS of them."""
    values = np.asarray(log10_values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return [0, 1]
    low, high = math.floor(values.min()), math.ceil(values.max())
    if high == low:
        high += 1
    step = _nice_step(high - low)
    low, high = step * math.floor(low / step), step * math.ceil(high / step)
    return list(range(low, high + 1, step))


def log10_axis(field: str, title: str, log10_values) -> alt.Y:
    """A y encoding for a log10 column that reads as a log scale: ticks only at whole powers, labelled 10ᵏ."""
    ticks = decades(log10_values)
    return alt.Y(f"{field}:Q", title=title,
                 axis=alt.Axis(labelExpr=POWER_OF_TEN_LABEL, values=ticks, titlePadding=8),
                 scale=alt.Scale(domain=[ticks[0], ticks[-1]], nice=False, zero=False))


def _layer_axis(layers) -> alt.X:
    return alt.X("layer:Q", title="layer j", axis=alt.Axis(tickMinStep=1, format="d"),
                 scale=alt.Scale(domain=[1, max(int(np.max(layers)), 2)], zero=False, nice=False))


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
        x=_layer_axis(layers["layer"]),
        y=log10_axis("grad_b_log10", "|∂C/∂b_j|", data["grad_b_log10"]),
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
        x=_layer_axis(layers["layer"]),
        y=log10_axis("factor_log10", f"|{factor_title}|", list(data["factor_log10"]) + [math.log10(0.25), 0.0]),
        color=alt.Color("grows:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=["> 1: grows", "< 1: shrinks"], range=["#d62728", "#1f77b4"])),
        tooltip=[alt.Tooltip("layer:Q", title="layer j"), alt.Tooltip("factor_text:N", title=factor_title),
                 alt.Tooltip("w:Q", title="w_j", format=".4g"), alt.Tooltip("z:Q", title="z_j", format=".4g")],
    ).transform_calculate(grows="datum.factor_log10 > 0 ? '> 1: grows' : '< 1: shrinks'")
    lines = _reference_lines({"1/4": 0.25, "1": 1.0})
    return alt.layer(bars, lines).properties(height=HEIGHT)


def _layer_color(title: str) -> alt.Color:
    return alt.Color("layer:O", title=title, scale=alt.Scale(scheme="viridis"),
                     legend=alt.Legend(orient="top", direction="horizontal"))


REFERENCE = "Nielsen's published run"
MAX_LINES = 12
MAX_EPOCHS_DRAWN = 400


def _some_layers(speeds: pd.DataFrame) -> pd.DataFrame:
    """At most MAX_LINES layers (evenly spaced, first and last kept) over at most MAX_EPOCHS_DRAWN epochs."""
    layers = thin(pd.DataFrame({"layer": np.sort(speeds["layer"].unique())}), MAX_LINES)["layer"]
    epochs = thin(pd.DataFrame({"epoch": np.sort(speeds["epoch"].unique())}), MAX_EPOCHS_DRAWN)["epoch"]
    return speeds[speeds["layer"].isin(layers) & speeds["epoch"].isin(epochs)]


def speeds_chart(speeds: pd.DataFrame, reference: pd.DataFrame | None = None, y_title: str = "‖∂C/∂b_l‖",
                 x_title: str = "epoch", layer_title: str = "hidden layer") -> alt.Chart:
    """Each layer's speed of learning over epochs, log scale; reference (same columns) overlaid dashed."""
    frames = [_some_layers(speeds[np.isfinite(speeds["speed_log10"])]).assign(source="this run")]
    if reference is not None:
        frames.append(reference.assign(speed_log10=np.log10(reference["speed"]), source=REFERENCE))
    data = pd.concat(frames, ignore_index=True).assign(
        speed_text=lambda d: [magnitude_text(v) for v in d["speed_log10"]])
    encoding = dict(
        x=alt.X("epoch:Q", title=x_title),
        y=log10_axis("speed_log10", y_title, data["speed_log10"]),
        color=_layer_color(layer_title),
        detail="source:N",
        tooltip=[alt.Tooltip("source:N"), alt.Tooltip("epoch:Q", title=x_title), alt.Tooltip("layer:O"),
                 alt.Tooltip("speed_text:N", title=y_title)],
    )
    if reference is not None:
        encoding["strokeDash"] = alt.StrokeDash("source:N", title=None, legend=alt.Legend(orient="top"),
                                                scale=alt.Scale(domain=["this run", REFERENCE], range=[[1, 0], [4, 3]]))
    return alt.Chart(data).mark_line().encode(**encoding).properties(height=HEIGHT)


def loss_chart(loss: pd.DataFrame, x_title: str = "epoch") -> alt.Chart:
    """The loss over epochs on a log scale (NaN and non-positive values are left out and reported elsewhere)."""
    data = loss[np.isfinite(loss["loss"]) & (loss["loss"] > 0)].assign(
        loss_log10=lambda d: np.log10(d["loss"]), loss_text=lambda d: [magnitude_text(v) for v in d["loss_log10"]])
    return alt.Chart(data).mark_line(color="#444").encode(
        x=alt.X("epoch:Q", title=x_title), y=log10_axis("loss_log10", "loss C", data["loss_log10"]),
        tooltip=[alt.Tooltip("epoch:Q", title=x_title), alt.Tooltip("loss_text:N", title="loss")],
    ).properties(height=HEIGHT * 2 // 3)


CLIP_SERIES = {"grad_norm_log10": "before clipping", "applied_norm_log10": "applied"}


def clipping_chart(steps: pd.DataFrame) -> alt.Chart:
    """The global gradient norm per update, before clipping and as applied."""
    data = steps.melt(id_vars=["step"], value_vars=list(CLIP_SERIES), var_name="which", value_name="norm_log10")
    data = data[np.isfinite(data["norm_log10"])].assign(
        which=lambda d: d["which"].map(CLIP_SERIES), norm_text=lambda d: [magnitude_text(v) for v in d["norm_log10"]])
    return alt.Chart(data).mark_line(point=len(steps) <= 60).encode(
        x=alt.X("step:Q", title="update"), y=log10_axis("norm_log10", "‖g‖, all parameters", data["norm_log10"]),
        color=alt.Color("which:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=list(CLIP_SERIES.values()), range=["#d62728", "#2ca02c"])),
        tooltip=[alt.Tooltip("step:Q", title="update"), alt.Tooltip("which:N"), alt.Tooltip("norm_text:N", title="‖g‖")],
    ).properties(height=HEIGHT * 2 // 3)


def weight_change_chart(weight_change: pd.DataFrame) -> alt.Chart:
    """How far each layer's weights moved from their initial values by the end: ‖W − W₀‖ / ‖W₀‖, one dot a layer."""
    last = thin(weight_change[weight_change["epoch"] == weight_change["epoch"].max()])
    data = last[np.isfinite(last["change"]) & (last["change"] > 0)].assign(
        change_log10=lambda d: np.log10(d["change"]), change_text=lambda d: [f"{100 * v:.3g} %" for v in d["change"]])
    return alt.Chart(data).mark_circle(size=90, color="#444").encode(
        x=alt.X("layer:O", title="layer", axis=alt.Axis(labelAngle=0)),
        y=log10_axis("change_log10", "‖W − W₀‖ / ‖W₀‖", data["change_log10"]),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("change_text:N", title="moved")],
    ).properties(height=HEIGHT * 2 // 3)


def through_time_chart(log10_norms: np.ndarray) -> alt.Chart:
    """log10 ‖∂C/∂h_t‖ against the distance T − t from the loss."""
    steps = len(log10_norms) - 1
    data = pd.DataFrame({"distance": steps - np.arange(steps + 1), "norm_log10": log10_norms})
    data = data[np.isfinite(data["norm_log10"])].assign(norm_text=lambda d: [magnitude_text(v) for v in d["norm_log10"]])
    return alt.Chart(data).mark_line(point=steps <= 60).encode(
        x=alt.X("distance:Q", title="steps back from the loss, T − t"),
        y=log10_axis("norm_log10", "‖∂C/∂h_t‖", data["norm_log10"]),
        tooltip=[alt.Tooltip("distance:Q", title="T − t"), alt.Tooltip("norm_text:N", title="‖∂C/∂h_t‖")],
    ).properties(height=HEIGHT)
