"""Altair chart builders: tidy data in, a Chart block out (a Vega-Lite spec and its named datasets).

Magnitudes that span thousands of decades (25^9999) have no float64 value, so every log-scale chart plots
log10 of the value on a linear axis labelled as powers of ten: the picture and the ticks are those of a
log scale, the tooltips carry the exact value as text. An axis labels at most MAX_TICKS whole powers of
ten at a 1-2-5 step of decades; values more than MAX_DECADES below the largest are drawn at the bottom
edge as ▼ and the chart's note says how many (a value like 10^(−3.5 × 10⁶⁶) would otherwise squash the
rest to a line). Datasets carry only the columns a chart draws or shows in its tooltip, and only finite
numbers; the words (titles, legends, notes) come from the caller, in the page's language.
"""

from __future__ import annotations

import itertools
import math

import altair as alt
import numpy as np
import pandas as pd

from gradviz.page.blocks import Chart
from gradviz.page.formatting import magnitude_text

MAX_POINTS = 400
MAX_LINES = 12
MAX_TICKS = 7
SMALL_TICKS = 5
MAX_DECADES = 100_000  # a depth-10,000 chain spans up to 20,000 (ReLU, w = 100): drawn whole
HEIGHT = 240
LEGEND_ROW_CHARACTERS = 36  # a top legend's labels, in characters, that fit one row of a 400 px phone's chart
SMALL_HEIGHT = 170
COLORS = {"vanishing": "#1f77b4", "exploding": "#d62728", "theory": "#555555", "reference": "#7f7f7f",
          "before": "#d62728", "applied": "#2ca02c", "floor": "#9467bd"}


def _superscript_expression(field: str) -> str:
    """A Vega expression writing an integer field with superscript digits (d3-format writes its minus as
    U+2212, an ASCII hyphen appears in other locales: both become ⁻)."""
    expression = f"format({field}, 'd')"
    for digit, raised in zip("−-0123456789", "⁻⁻⁰¹²³⁴⁵⁶⁷⁸⁹"):
        expression = f"replace({expression}, regexp('{digit}', 'g'), '{raised}')"
    return expression


POWER_OF_TEN_LABEL = f"'10' + {_superscript_expression('datum.value')}"


def _nice_ticks(low: int, high: int, most: int) -> list[int]:
    """Multiples of the smallest of 1, 2, 5, 10, 20, 50, … decades whose ticks cover [low, high] in at most
    `most` (aligning the ends to the step can add a step at each end, so the count is taken after it)."""
    for power in itertools.count():
        for multiple in (1, 2, 5):
            step = multiple * 10**power
            first, last = step * math.floor(low / step), step * math.ceil(high / step)
            if (last - first) // step + 1 <= most:
                return list(range(first, last + 1, step))


def decades(log10_values, most: int = MAX_TICKS) -> list[int]:
    """Whole powers of ten covering the finite values, at a 1-2-5 step, at most `most` of them."""
    values = np.asarray(log10_values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return [0, 1]
    low, high = math.floor(values.min()), math.ceil(values.max())
    if high == low:
        high += 1
    return _nice_ticks(low, high, most)


def floor_of(log10_values) -> float:
    """The lowest log10 an axis shows: MAX_DECADES below the largest finite value, or the smallest value."""
    finite = np.asarray(log10_values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return -math.inf
    return max(float(finite.min()), float(finite.max()) - MAX_DECADES)


def clip_to_floor(frame: pd.DataFrame, column: str, floor: float) -> tuple[pd.DataFrame, int]:
    """frame with `column` raised to the floor where below it (a `below` flag marks those rows); the count."""
    below = frame[column] < floor
    return frame.assign(**{column: frame[column].where(~below, floor), "below": below}), int(below.sum())


def zero_level(ticks: list[int]) -> int:
    """Where exact zeros are drawn: a strip one tick step below the lowest tick, labelled 0 (a log axis has
    no 0, but a gradient that is exactly 0 — a dead ReLU neuron's — must be seen, not left out)."""
    return ticks[0] - (ticks[1] - ticks[0])


def log10_axis(field: str, title: str, log10_values, extra=(), most: int = MAX_TICKS, zeros: bool = False) -> alt.Y:
    """A y encoding for a log10 column that reads as a log scale: ticks only at whole powers, labelled 10ᵏ
    (at most `most`: fewer on a short chart, so the labels never touch); zeros: a strip labelled 0 under
    the lowest tick, where the caller draws exact zeros at zero_level(ticks)."""
    ticks = decades(list(np.asarray(log10_values, dtype=float)) + list(extra), most)
    if not zeros:
        return alt.Y(f"{field}:Q", title=title,
                     axis=alt.Axis(labelExpr=POWER_OF_TEN_LABEL, values=ticks, titlePadding=6, labelOverlap=True),
                     scale=alt.Scale(domain=[ticks[0], ticks[-1]], nice=False, zero=False))
    strip = zero_level(ticks)
    return alt.Y(f"{field}:Q", title=title,
                 axis=alt.Axis(labelExpr=f"datum.value == {strip} ? '0' : {POWER_OF_TEN_LABEL}",
                               values=[strip] + ticks, titlePadding=6, labelOverlap=True),
                 scale=alt.Scale(domain=[strip, ticks[-1]], nice=False, zero=False))


def axis_ticks(log10_values, extra=(), most: int = MAX_TICKS) -> list[int]:
    """The ticks log10_axis draws for these values."""
    return decades(list(np.asarray(log10_values, dtype=float)) + list(extra), most)


def thin(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """At most max_points rows, evenly spaced and keeping the first and last, for drawing."""
    if len(frame) <= max_points:
        return frame
    keep = np.unique(np.round(np.linspace(0, len(frame) - 1, max_points)).astype(int))
    return frame.iloc[keep]


def thinned_values(values: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` of the values, evenly spaced, first and last kept."""
    values = np.asarray(values)
    if len(values) <= limit:
        return values
    return values[np.unique(np.round(np.linspace(0, len(values) - 1, limit)).astype(int))]


def _spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec, not validated (tests validate every builder's spec once)."""
    return chart.to_dict(validate=False)


def _text_column(log10_values, signs=None, digits: int = 4) -> list[str]:
    signs = np.ones(len(log10_values)) if signs is None else signs
    return [magnitude_text(v, s, digits) for v, s in zip(log10_values, signs)]


def _integer_axis(field: str, title: str, low: int, high: int) -> alt.X:
    return alt.X(f"{field}:Q", title=title, axis=alt.Axis(tickMinStep=1, format="d", labelOverlap=True),
                 scale=alt.Scale(domain=[low, max(high, low + 1)], zero=False, nice=False))


def _flag(below: int) -> list[str]:
    """The `below` column, kept in a dataset only when the ▼ marks that read it are drawn."""
    return ["below"] if below else []


def _floor_marks(data: str, x: alt.X, field: str) -> alt.Chart:
    """▼ at the bottom edge for values below the axis floor."""
    return alt.Chart(alt.Data(name=data)).transform_filter("datum.below").mark_point(
        shape="triangle-down", filled=True, size=60, color=COLORS["floor"]).encode(x=x, y=f"{field}:Q")


def _titled(chart, title: str | None):
    """The chart with its title at the top left (a case's name travels with its chart on a phone)."""
    if not title:
        return chart
    return chart.properties(title=alt.TitleParams(title, anchor="start", fontSize=13, fontWeight="bold", offset=8))


def _zero_marks(data: str, x: alt.X, field: str, color, tooltip: list) -> alt.Chart:
    """Exact zeros as open circles on the strip labelled 0 (the caller has put them at the strip's level)."""
    encoding = dict(x=x, y=f"{field}:Q", tooltip=tooltip)
    if isinstance(color, str):
        mark = alt.Chart(alt.Data(name=data)).transform_filter("datum.zero").mark_point(
            shape="circle", filled=False, size=55, strokeWidth=1.5, color=color)
    else:
        mark = alt.Chart(alt.Data(name=data)).transform_filter("datum.zero").mark_point(
            shape="circle", filled=False, size=55, strokeWidth=1.5)
        encoding["color"] = color
    return mark.encode(**encoding)


def _with_zeros(drawn: pd.DataFrame, zeros: pd.DataFrame, ticks: list[int], field: str = "log10") -> pd.DataFrame:
    """The finite rows and the exact zeros (drawn at the strip's level, flagged `zero`)."""
    if not len(zeros):
        return drawn
    level = zero_level(ticks)
    return pd.concat([drawn.assign(zero=False), zeros.assign(**{field: float(level), "zero": True})], ignore_index=True)


def per_layer_chart(key: str, layer: np.ndarray, log10_values: np.ndarray, signs: np.ndarray | None, *,
                    x_title: str, y_title: str, value_title: str, color: str, notes: list[str],
                    theory_log10: np.ndarray | None = None, theory_title: str = "", band: tuple | None = None,
                    floor_note: str = "{count}", title: str | None = None, reference: np.ndarray | None = None,
                    reference_title: str = "") -> Chart:
    """A value per layer on a log scale (|∂C/∂b_j|, ‖∂C/∂b_l‖): a line with points, thinned evenly to
    MAX_POINTS, exact zeros as open circles on a strip labelled 0, an optional dashed theory line, a shaded
    band (10th–90th percentile over seeds) and a dotted grey reference line (the same chain without a
    remedy)."""
    frame = thin(pd.DataFrame({"layer": layer, "log10": log10_values,
                               "sign": signs if signs is not None else np.ones(len(layer))}))
    finite = frame[np.isfinite(frame["log10"])]
    zeros = frame[frame["log10"] == -np.inf].assign(text="0")[["layer", "log10", "text"]]
    extra = [] if theory_log10 is None else list(theory_log10[np.isfinite(theory_log10)])
    if band is not None:
        extra += [v for v in np.concatenate(band) if np.isfinite(v)]
    ref = None
    if reference is not None:
        ref = thin(pd.DataFrame({"layer": layer, "log10": reference}))
        ref = ref[np.isfinite(ref["log10"])]
        extra += list(ref["log10"])
    floor = floor_of(list(finite["log10"]) + extra)
    drawn, below = clip_to_floor(finite, "log10", floor)
    drawn = drawn.assign(text=_text_column(finite["log10"].to_numpy(), finite["sign"].to_numpy()))[
        ["layer", "log10", "text"] + _flag(below)]
    extra = [max(v, floor) for v in extra]
    has_zeros = bool(len(zeros))
    y = log10_axis("log10", y_title, drawn["log10"], extra, zeros=has_zeros)
    drawn = _with_zeros(drawn, zeros, axis_ticks(drawn["log10"], extra))
    low, high = int(np.min(layer)), int(np.max(layer))
    x = _integer_axis("layer", x_title, low, high)
    tooltip = [alt.Tooltip("layer:Q", title=x_title), alt.Tooltip("text:N", title=value_title)]
    datasets = {f"{key}-values": drawn}
    line = alt.Chart(alt.Data(name=f"{key}-values"))
    if has_zeros:
        line = line.transform_filter("!datum.zero")
    layers = [line.mark_line(
        color=color, point=alt.OverlayMarkDef(color=color, filled=True) if len(drawn) <= 60 else False).encode(
        x=x, y=y, tooltip=tooltip)]
    if has_zeros:
        layers.append(_zero_marks(f"{key}-values", x, "log10", color, tooltip))
    if band is not None:
        band_frame = pd.DataFrame({"layer": layer, "low": band[0], "high": band[1]})
        band_frame = band_frame[np.isfinite(band_frame["low"]) & np.isfinite(band_frame["high"])]
        datasets[f"{key}-band"] = band_frame.assign(low=band_frame["low"].clip(lower=floor),
                                                    high=band_frame["high"].clip(lower=floor))
        layers.insert(0, alt.Chart(alt.Data(name=f"{key}-band")).mark_area(opacity=0.18, color=color).encode(
            x=x, y=alt.Y("low:Q"), y2="high:Q"))
    if theory_log10 is not None:
        theory = pd.DataFrame({"layer": layer, "log10": theory_log10})
        theory = theory[np.isfinite(theory["log10"]) & (theory["log10"] >= floor)]
        datasets[f"{key}-theory"] = theory.assign(text=_text_column(theory["log10"].to_numpy()))
        layers.append(alt.Chart(alt.Data(name=f"{key}-theory")).mark_line(
            color=COLORS["theory"], strokeDash=[5, 4]).encode(
            x=x, y="log10:Q", tooltip=[alt.Tooltip("layer:Q", title=x_title), alt.Tooltip("text:N", title=theory_title)]))
    if ref is not None and len(ref):
        ref = ref[ref["log10"] >= floor]
        datasets[f"{key}-reference"] = ref.assign(text=_text_column(ref["log10"].to_numpy()))[["layer", "log10", "text"]]
        layers.insert(0, alt.Chart(alt.Data(name=f"{key}-reference")).mark_line(
            color=COLORS["reference"], strokeDash=[2, 3], point=alt.OverlayMarkDef(color=COLORS["reference"], size=20)
            if len(ref) <= 60 else False).encode(
            x=x, y="log10:Q",
            tooltip=[alt.Tooltip("layer:Q", title=x_title), alt.Tooltip("text:N", title=reference_title)]))
    if below:
        layers.append(_floor_marks(f"{key}-values", x, "log10"))
        notes.append(floor_note.format(count=below))
    chart = _titled(alt.layer(*layers).properties(height=HEIGHT), title)
    return Chart(key, _spec(chart), datasets, " ".join(notes) or None)


def factor_chart(key: str, layer: np.ndarray, log10_factor: np.ndarray, sign: np.ndarray, *, x_title: str,
                 y_title: str, value_title: str, grows: str, shrinks: str, lines: dict[str, float],
                 notes: list[str], title: str | None = None) -> Chart:
    """Each layer's factor ∂a_j/∂a_{j−1} as a dot, coloured by whether it grows (> 1) or shrinks the gradient,
    against reference lines (1/4 and 1 for sigmoid); exact zeros (a ReLU neuron off) on the strip labelled 0."""
    frame = thin(pd.DataFrame({"layer": layer, "log10": log10_factor, "sign": sign}))
    finite = frame[np.isfinite(frame["log10"])]
    zeros = frame[frame["log10"] == -np.inf].assign(text="0", kind=shrinks)[["layer", "log10", "text", "kind"]]
    reference = [math.log10(v) for v in lines.values()]
    floor = floor_of(list(finite["log10"]) + reference)
    drawn, below = clip_to_floor(finite, "log10", floor)
    drawn = drawn.assign(text=_text_column(finite["log10"].to_numpy(), finite["sign"].to_numpy(), 4),
                         kind=np.where(finite["log10"] > 0, grows, shrinks))[["layer", "log10", "text", "kind"] + _flag(below)]
    ticks = axis_ticks(drawn["log10"], reference)
    has_zeros = bool(len(zeros))
    y = log10_axis("log10", y_title, drawn["log10"], reference, zeros=has_zeros)
    drawn = _with_zeros(drawn, zeros, ticks)
    x = _integer_axis("layer", x_title, int(np.min(layer)), int(np.max(layer)))
    color = alt.Color("kind:N", title=None, legend=alt.Legend(orient="top"),
                      scale=alt.Scale(domain=[grows, shrinks], range=[COLORS["exploding"], COLORS["vanishing"]]))
    tooltip = [alt.Tooltip("layer:Q", title=x_title), alt.Tooltip("text:N", title=value_title)]
    dots = alt.Chart(alt.Data(name=f"{key}-values"))
    if has_zeros:
        dots = dots.transform_filter("!datum.zero")
    dots = dots.mark_circle(size=55 if len(drawn) <= 60 else 10).encode(x=x, y=y, color=color, tooltip=tooltip)
    rules = pd.DataFrame({"label": list(lines), "log10": reference})
    rule_base = alt.Chart(alt.Data(name=f"{key}-lines")).encode(y="log10:Q")
    layers = [dots, rule_base.mark_rule(strokeDash=[4, 4], color="gray"),
              rule_base.mark_text(align="left", dx=4, dy=-6, color="gray").encode(x=alt.value(0), text="label:N")]
    if has_zeros:
        layers.append(_zero_marks(f"{key}-values", x, "log10", color, tooltip))
    if below:
        layers.append(_floor_marks(f"{key}-values", x, "log10"))
    chart = _titled(alt.layer(*layers).properties(height=HEIGHT), title)
    return Chart(key, _spec(chart), {f"{key}-values": drawn, f"{key}-lines": rules}, " ".join(notes) or None)


def slope_curve_chart(key: str, z_grid: np.ndarray, slope: np.ndarray, live_z: np.ndarray, live_slope: np.ndarray, *,
                      x_title: str, y_title: str, curve_title: str, live_title: str, peak_label: str, peak: float,
                      notes: list[str], outside_note: str = "{count}") -> Chart:
    """The activation's slope a'(z) (the article's figure of σ'(z), peak 1/4 at z = 0) with the live z_j of
    the current chain on it; z outside the plotted range is drawn at the edge."""
    low, high = float(z_grid.min()), float(z_grid.max())
    curve = pd.DataFrame({"z": z_grid, "slope": slope})
    live = pd.DataFrame({"z": live_z, "slope": live_slope})
    live = live[np.isfinite(live["z"]) & np.isfinite(live["slope"])]
    outside = int(((live["z"] < low) | (live["z"] > high)).sum())
    live = thin(live.assign(shown_z=live["z"].clip(low, high), text=[f"{v:.4g}" for v in live["z"]],
                            slope_text=[f"{v:.4g}" for v in live["slope"]]), 200)[["shown_z", "slope", "text", "slope_text"]]
    x = alt.X("z:Q", title=x_title, scale=alt.Scale(domain=[low, high]))
    line = alt.Chart(alt.Data(name=f"{key}-curve")).mark_line(color="#444").encode(
        x=x, y=alt.Y("slope:Q", title=y_title), tooltip=[alt.Tooltip("z:Q", format=".3g"),
                                                         alt.Tooltip("slope:Q", title=curve_title, format=".4g")])
    points = alt.Chart(alt.Data(name=f"{key}-live")).mark_circle(size=70, color=COLORS["exploding"], opacity=0.8).encode(
        x=alt.X("shown_z:Q"), y="slope:Q",
        tooltip=[alt.Tooltip("text:N", title=live_title), alt.Tooltip("slope_text:N", title=curve_title)])
    peak_frame = pd.DataFrame({"z": [0.0], "slope": [peak], "label": [peak_label]})
    peak_mark = alt.Chart(alt.Data(name=f"{key}-peak")).mark_text(dy=-10, color="gray").encode(
        x="z:Q", y="slope:Q", text="label:N")
    if outside:
        notes.append(outside_note.format(count=outside))
    chart = alt.layer(line, points, peak_mark).properties(height=SMALL_HEIGHT + 30)
    return Chart(key, _spec(chart), {f"{key}-curve": curve, f"{key}-live": live, f"{key}-peak": peak_frame},
                 " ".join(notes) or None)


def _time_axis(field: str, title: str, times) -> alt.X:
    """An x axis over the recorded times, its domain their range (one recorded time still gets ticks)."""
    times = np.asarray(times, dtype=float)
    low, high = (float(times.min()), float(times.max())) if len(times) else (0.0, 1.0)
    whole = bool(len(times)) and np.all(times == np.round(times))
    if high == low:
        high = low + 1
    return alt.X(f"{field}:Q", title=title, scale=alt.Scale(domain=[low, high], nice=False, zero=False),
                 axis=alt.Axis(labelOverlap=True, **({"format": "d", "tickMinStep": 1} if whole else {})))


def lines_over_time_chart(key: str, frame: pd.DataFrame, *, x_title: str, y_title: str, series_title: str,
                          value_title: str, notes: list[str], reference: pd.DataFrame | None = None,
                          source_titles: tuple[str, str] = ("", ""), floor_note: str = "{count}",
                          rules: dict[str, float] | None = None, series_order: list | None = None,
                          title: str | None = None) -> Chart:
    """One line per series (a layer) over time (epochs or steps), log scale: columns time, series, log10.
    At most MAX_LINES series (the caller thins and says so) and MAX_POINTS times each; exact zeros as open
    circles on the strip labelled 0; reference (same columns) overlaid dashed (Nielsen's published curves);
    rules: dashed lines {label: value}."""
    times = thinned_values(np.sort(frame["time"].unique()), MAX_POINTS)
    kept = frame[frame["time"].isin(times)]
    data = kept[np.isfinite(kept["log10"])].assign(source=source_titles[0])
    zeros = kept[kept["log10"] == -np.inf].assign(source=source_titles[0], text="0")
    if reference is not None:
        data = pd.concat([data, reference.assign(source=source_titles[1])], ignore_index=True)
    floor = floor_of(data["log10"])
    shown_data, below = clip_to_floor(data, "log10", floor)
    shown_data = shown_data.assign(text=_text_column(data["log10"].to_numpy()))[
        ["time", "series", "log10", "text", "source"] + _flag(below)]
    extra = [math.log10(v) for v in (rules or {}).values()]
    ticks = axis_ticks(shown_data["log10"], extra)
    has_zeros = bool(len(zeros))
    x = _time_axis("time", x_title, frame["time"])
    encoding = dict(
        x=x,
        y=log10_axis("log10", y_title, shown_data["log10"], extra, zeros=has_zeros),
        color=alt.Color("series:O", title=series_title,
                        scale=alt.Scale(scheme="viridis", domain=series_order) if series_order is not None
                        else alt.Scale(scheme="viridis"),
                        legend=alt.Legend(orient="top", direction="horizontal", columns=4, labelLimit=120)),
        detail="source:N",
        tooltip=[alt.Tooltip("time:Q", title=x_title), alt.Tooltip("series:O", title=series_title),
                 alt.Tooltip("text:N", title=value_title)],
    )
    shown_data = _with_zeros(shown_data, zeros[["time", "series", "log10", "text", "source"]], ticks)
    if reference is not None:
        encoding["strokeDash"] = alt.StrokeDash("source:N", title=None,
                                                legend=alt.Legend(orient="top", columns=1, labelLimit=220),
                                                scale=alt.Scale(domain=list(source_titles), range=[[1, 0], [4, 3]]))
        encoding["tooltip"] = encoding["tooltip"] + [alt.Tooltip("source:N", title=" ")]
    base = alt.Chart(alt.Data(name=f"{key}-values"))
    if has_zeros:
        base = base.transform_filter("!datum.zero")
    layers = [base.mark_line(point=len(times) == 1).encode(**encoding)]
    if has_zeros:
        layers.append(_zero_marks(f"{key}-values", x, "log10", encoding["color"], encoding["tooltip"][:3]))
    if below:
        notes.append(floor_note.format(count=below))
        layers.append(_floor_marks(f"{key}-values", x, "log10"))
    datasets = {f"{key}-values": shown_data}
    if rules:
        datasets[f"{key}-rules"] = pd.DataFrame({"label": list(rules), "log10": extra})
        rule_base = alt.Chart(alt.Data(name=f"{key}-rules")).encode(y="log10:Q")
        layers += [rule_base.mark_rule(strokeDash=[4, 4], color="gray"),
                   rule_base.mark_text(align="right", dx=-4, dy=-6, color="gray").encode(
                       x=alt.value({"expr": "width"}), text="label:N")]
    chart = alt.layer(*layers).properties(height=HEIGHT) if len(layers) > 1 else layers[0].properties(height=HEIGHT)
    return Chart(key, _spec(_titled(chart, title)), datasets, " ".join(notes) or None)


def series_chart(key: str, frame: pd.DataFrame, *, x_title: str, y_title: str, value_title: str,
                 colors: dict[str, str], notes: list[str], height: int = SMALL_HEIGHT,
                 rules: dict[str, float] | None = None, floor_note: str = "{count}", title: str | None = None,
                 dashed: tuple = ()) -> Chart:
    """A few named series over x on a log scale (the loss; the gradient norm before clipping and applied):
    columns x, series, log10; exact zeros as open circles on the strip labelled 0. rules: dashed reference
    lines {label: value} (e.g. the 10⁻³ rule of thumb); dashed: the series drawn dashed (a run without the
    remedy, for comparison)."""
    data = frame[np.isfinite(frame["log10"])]
    zeros = frame[frame["log10"] == -np.inf].assign(text="0")[["x", "series", "log10", "text"]]
    data = pd.concat([thin(group) for _, group in data.groupby("series", sort=False)], ignore_index=True) \
        if len(data) else data
    extra = [math.log10(v) for v in (rules or {}).values()]
    floor = floor_of(list(data["log10"]) + extra)
    drawn, below = clip_to_floor(data, "log10", floor)
    drawn = drawn.assign(text=_text_column(data["log10"].to_numpy()))[["x", "series", "log10", "text"] + _flag(below)]
    most = SMALL_TICKS if height <= SMALL_HEIGHT else MAX_TICKS
    ticks = axis_ticks(drawn["log10"], extra, most)
    has_zeros = bool(len(zeros))
    x = _time_axis("x", x_title, frame["x"])
    y = log10_axis("log10", y_title, drawn["log10"], extra, most, zeros=has_zeros)
    drawn = _with_zeros(drawn, zeros, ticks)
    wide = sum(len(name) for name in colors) > LEGEND_ROW_CHARACTERS  # would not fit one row on a phone
    color = alt.Color("series:N", title=None, legend=alt.Legend(orient="top", columns=1 if wide else 0, labelLimit=300),
                      scale=alt.Scale(domain=list(colors), range=list(colors.values())))
    tooltip = [alt.Tooltip("x:Q", title=x_title), alt.Tooltip("series:N", title=" "),
               alt.Tooltip("text:N", title=value_title)]
    encoding = dict(x=x, y=y, color=color, tooltip=tooltip)
    if dashed:
        encoding["strokeDash"] = alt.StrokeDash("series:N", legend=None, scale=alt.Scale(
            domain=list(colors), range=[[4, 3] if name in dashed else [1, 0] for name in colors]))
    base = alt.Chart(alt.Data(name=f"{key}-values"))
    if has_zeros:
        base = base.transform_filter("!datum.zero")
    layers = [base.mark_line(point=len(drawn) <= 60).encode(**encoding)]
    if has_zeros:
        layers.append(_zero_marks(f"{key}-values", x, "log10", color, tooltip))
    datasets = {f"{key}-values": drawn}
    if rules:
        datasets[f"{key}-rules"] = pd.DataFrame({"label": list(rules), "log10": extra})
        rule_base = alt.Chart(alt.Data(name=f"{key}-rules")).encode(y="log10:Q")
        layers += [rule_base.mark_rule(strokeDash=[4, 4], color="gray"),
                   rule_base.mark_text(align="left", dx=4, dy=-6, color="gray").encode(x=alt.value(0), text="label:N")]
    if below:
        notes.append(floor_note.format(count=below))
        layers.append(_floor_marks(f"{key}-values", x, "log10"))
    chart = _titled(alt.layer(*layers).properties(height=height), title)
    return Chart(key, _spec(chart), datasets, " ".join(notes) or None)


def dots_per_layer_chart(key: str, layer: np.ndarray, log10_values: np.ndarray, texts: list[str], *,
                         x_title: str, y_title: str, value_title: str, notes: list[str], title: str | None = None) -> Chart:
    """One dot per layer on a log scale (how far each layer's weights moved)."""
    frame = thin(pd.DataFrame({"layer": layer, "log10": log10_values, "text": texts}), 200)
    data = frame[np.isfinite(frame["log10"])]
    chart = alt.Chart(alt.Data(name=f"{key}-values")).mark_circle(size=70, color="#444").encode(
        x=_integer_axis("layer", x_title, int(np.min(layer)), int(np.max(layer))),
        y=log10_axis("log10", y_title, data["log10"]),
        tooltip=[alt.Tooltip("layer:Q", title=x_title), alt.Tooltip("text:N", title=value_title)])
    return Chart(key, _spec(_titled(chart.properties(height=SMALL_HEIGHT), title)), {f"{key}-values": data},
                 " ".join(notes) or None)


def grouped_bars_chart(key: str, frame: pd.DataFrame, *, x_title: str, y_title: str, group_title: str,
                       colors: dict[str, str]) -> Chart:
    """Signed values as bars (Nielsen's per-neuron gradients, his and ours): columns neuron, layer (a number),
    source, value. One chart whose x is "layer·neuron", so it stretches to its column, a phone's too."""
    data = frame[np.isfinite(frame["value"])]
    slots = [f"{layer}·{neuron}" for layer, neuron in zip(data["layer"], data["neuron"])]
    data = data.assign(slot=slots, text=[f"{v:.3g}" for v in data["value"]])
    order = list(dict.fromkeys(slots))
    chart = alt.Chart(alt.Data(name=f"{key}-values")).mark_bar().encode(
        x=alt.X("slot:N", title=x_title, sort=order, axis=alt.Axis(labelAngle=0, labelOverlap="greedy")),
        xOffset=alt.XOffset("source:N", scale=alt.Scale(domain=list(colors))),
        y=alt.Y("value:Q", title=y_title),
        color=alt.Color("source:N", title=None, legend=alt.Legend(orient="top", columns=1, labelLimit=220),
                        scale=alt.Scale(domain=list(colors), range=list(colors.values()))),
        tooltip=[alt.Tooltip("layer:O", title=group_title), alt.Tooltip("slot:N", title=x_title),
                 alt.Tooltip("source:N", title=" "), alt.Tooltip("text:N", title=y_title)],
    ).properties(height=SMALL_HEIGHT + 40)
    return Chart(key, _spec(chart), {f"{key}-values": data[["slot", "layer", "source", "value", "text"]]},
                 None)


def heatmap_chart(key: str, frame: pd.DataFrame, *, x_title: str, y_title: str, value_title: str,
                  point: tuple[float, float], point_title: str, critical: pd.DataFrame,
                  contour: pd.DataFrame, contour_title: str, critical_title: str, legend_title: str) -> Chart:
    """The phase diagram: log10 of the per-layer gradient factor over (σ_w², σ_b²), diverging around 0
    (ordered = vanishing, blue; chaotic = exploding, red), the critical line χ₁ = 1, the trainable-depth
    edge as dots (it can have two branches), and the current initialization as a point. frame: columns
    x, y (the cell centres of a grid even in log10 x and in y), log10, text; x is drawn on a log axis."""
    limit = float(np.nanmax(np.abs(frame["log10"][np.isfinite(frame["log10"])]))) if len(frame) else 1.0
    xs, ys = np.unique(frame["x"]), np.unique(frame["y"])
    log_xs = np.log10(xs)
    half = float(log_xs[1] - log_xs[0]) / 2 if len(xs) > 1 else 0.5  # the x grid is even on a log scale
    dy = float(ys[1] - ys[0]) / 2 if len(ys) > 1 else 0.5
    grid = frame.assign(x0=frame["x"] * 10 ** -half, x1=frame["x"] * 10 ** half, y0=frame["y"] - dy,
                        y1=frame["y"] + dy)
    x_scale = alt.Scale(type="log", domain=[float(xs[0] * 10 ** -half), float(xs[-1] * 10 ** half)], nice=False)
    y_scale = alt.Scale(domain=[float(ys[0] - dy), float(ys[-1] + dy)], nice=False, zero=False)
    heat = alt.Chart(alt.Data(name=f"{key}-grid")).mark_rect().encode(
        x=alt.X("x0:Q", title=x_title, scale=x_scale, axis=alt.Axis(labelOverlap=True, format="~g")), x2="x1:Q",
        y=alt.Y("y0:Q", title=y_title, scale=y_scale, axis=alt.Axis(tickCount=5, labelOverlap=True)), y2="y1:Q",
        color=alt.Color("log10:Q", title=legend_title,
                        scale=alt.Scale(scheme="redblue", reverse=True, domain=[-limit, limit], domainMid=0)),
        tooltip=[alt.Tooltip("x:Q", title=x_title, format=".3g"), alt.Tooltip("y:Q", title=y_title, format=".3g"),
                 alt.Tooltip("text:N", title=value_title)])
    datasets = {f"{key}-grid": grid[["x0", "x1", "y0", "y1", "x", "y", "log10", "text"]]}
    overlays = []
    if len(critical):
        datasets[f"{key}-critical"] = critical[["x", "y"]].assign(what=critical_title)
        overlays.append(alt.Chart(alt.Data(name=f"{key}-critical")).mark_line(color="black").encode(
            x=alt.X("x:Q", scale=x_scale), y=alt.Y("y:Q", scale=y_scale), order="y:Q",
            tooltip=[alt.Tooltip("what:N", title=" ")]))
    if len(contour):
        datasets[f"{key}-contour"] = contour[["x", "y"]].assign(what=contour_title)
        overlays.append(alt.Chart(alt.Data(name=f"{key}-contour")).mark_circle(size=10, color="black").encode(
            x=alt.X("x:Q", scale=x_scale), y=alt.Y("y:Q", scale=y_scale), tooltip=[alt.Tooltip("what:N", title=" ")]))
    datasets[f"{key}-point"] = pd.DataFrame({"x": [point[0]], "y": [point[1]], "what": [point_title]})
    overlays.append(alt.Chart(alt.Data(name=f"{key}-point")).mark_point(
        shape="diamond", size=160, filled=True, color="gold", stroke="black").encode(
        x=alt.X("x:Q", scale=x_scale), y=alt.Y("y:Q", scale=y_scale), tooltip=[alt.Tooltip("what:N", title=" ")]))
    chart = alt.layer(heat, *overlays).properties(height=320)
    return Chart(key, _spec(chart), datasets, None)


def xy_chart(key: str, frame: pd.DataFrame, *, x_title: str, y_title: str, value_title: str, log_y: bool,
             colors: dict[str, str], notes: list[str], height: int = SMALL_HEIGHT, rules_x: dict[str, float] | None = None) -> Chart:
    """Series over a continuous x (the cliff's loss and gradient along b): columns x, series, y (log10 if
    log_y). rules_x: dashed vertical lines {label: x} (the wall)."""
    data = frame[np.isfinite(frame["y"])]
    text = _text_column(data["y"].to_numpy()) if log_y else [f"{v:.4g}" for v in data["y"]]
    data = data.assign(text=text)[["x", "series", "y", "text"]]
    y = log10_axis("y", y_title, data["y"]) if log_y else alt.Y("y:Q", title=y_title)
    lines = alt.Chart(alt.Data(name=f"{key}-values")).mark_line().encode(
        x=alt.X("x:Q", title=x_title), y=y,
        color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=list(colors), range=list(colors.values()))),
        tooltip=[alt.Tooltip("x:Q", title=x_title, format=".4g"), alt.Tooltip("text:N", title=value_title)])
    datasets = {f"{key}-values": data}
    layers = [lines]
    if rules_x:
        datasets[f"{key}-rules"] = pd.DataFrame({"label": list(rules_x), "x": list(rules_x.values())})
        base = alt.Chart(alt.Data(name=f"{key}-rules")).encode(x="x:Q")
        layers += [base.mark_rule(strokeDash=[4, 4], color="gray"),
                   base.mark_text(align="left", dx=4, y=8, color="gray").encode(text="label:N")]
    return Chart(key, _spec(alt.layer(*layers).properties(height=height)), datasets, " ".join(notes) or None)


def path_on_surface_chart(key: str, surface: pd.DataFrame, paths: pd.DataFrame, *, x_title: str, y_title: str,
                          value_title: str, legend_title: str, colors: dict[str, str]) -> Chart:
    """A loss surface over (w, b) as a heatmap of log10 E, with gradient-descent paths drawn on it:
    surface columns x, y, log10, text; paths columns x, y, step, series."""
    heat = alt.Chart(alt.Data(name=f"{key}-surface")).mark_rect().encode(
        x=alt.X("x:Q", title=x_title, bin=alt.Bin(maxbins=len(surface["x"].unique()))),
        y=alt.Y("y:Q", title=y_title, bin=alt.Bin(maxbins=len(surface["y"].unique()))),
        color=alt.Color("mean(log10):Q", title=legend_title, scale=alt.Scale(scheme="greys", reverse=True)),
        tooltip=[alt.Tooltip("mean(log10):Q", title=value_title, format=".2f")])
    color = alt.Color("series:N", title=None, legend=alt.Legend(orient="top", columns=1, labelLimit=300),
                      scale=alt.Scale(domain=list(colors), range=list(colors.values())))
    tooltip = [alt.Tooltip("series:N", title=" "), alt.Tooltip("step:Q"), alt.Tooltip("x:Q", format=".3g"),
               alt.Tooltip("y:Q", format=".3g")]
    path = alt.Chart(alt.Data(name=f"{key}-paths")).mark_line(point=True, strokeWidth=2).encode(
        x="x:Q", y="y:Q", order="step:Q", color=color, tooltip=tooltip)
    exits = alt.Chart(alt.Data(name=f"{key}-paths")).transform_filter("datum.left").mark_point(
        shape="triangle", size=160, filled=True, stroke="black").encode(
        x="x:Q", y="y:Q", color=alt.Color("series:N", legend=None, scale=alt.Scale(domain=list(colors),
                                                                                    range=list(colors.values()))),
        tooltip=tooltip)
    chart = alt.layer(heat, path, exits).properties(height=300)
    return Chart(key, _spec(chart), {f"{key}-surface": surface[["x", "y", "log10"]], f"{key}-paths": paths}, None)



HEAT_QUANTILES = (0.02, 0.98)


def heat_domain(log10_values) -> tuple[float, float]:
    """The colour domain of a heatmap: the 2nd to 98th percentile of its finite cells, so that a few early
    spikes (or exact zeros) do not take the whole scale; at least one decade wide."""
    finite = np.asarray(log10_values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return 0.0, 1.0
    low, high = (float(q) for q in np.quantile(finite, HEAT_QUANTILES))
    if high - low < 1.0:
        middle = (low + high) / 2
        low, high = middle - 0.5, middle + 0.5
    return low, high


def layer_heatmap_chart(key: str, frame: pd.DataFrame, *, x_title: str, y_title: str, value_title: str,
                        legend_title: str, notes: list[str], row_order: list[str]) -> Chart:
    """log10 ‖∇‖ per layer × step as coloured cells, one row per layer (or run of layers), rows in forward order
    from the top, the answer to hundreds of separate lines: frame columns row, x0, x1 (the steps a cell covers,
    x1 excluded), log10 and text (the tooltip's value). Colours on a log scale clamped to heat_domain (cells
    beyond take the end colours); exact zeros (−inf) are drawn at the low end, their tooltip says 0."""
    low, high = heat_domain(frame["log10"])
    drawn = frame[~np.isnan(frame["log10"])]
    drawn = drawn.assign(log10=drawn["log10"].clip(low, high))[["row", "x0", "x1", "log10", "text", "steps"]]
    ticks = [tick for tick in _nice_ticks(math.floor(low), math.ceil(high), SMALL_TICKS) if low <= tick <= high]
    colour = alt.Scale(scheme="viridis", domain=[low, high], clamp=True)
    # each cell one pixel wider, so neighbours overlap instead of leaving anti-aliased hairlines between them
    chart = alt.Chart(alt.Data(name=f"{key}-values")).mark_rect(x2Offset=1, y2Offset=1).encode(
        x=alt.X("x0:Q", title=x_title, axis=alt.Axis(labelOverlap=True, tickCount=6, format="d", grid=False),
                scale=alt.Scale(domain=[float(frame["x0"].min()), float(frame["x1"].max())], nice=False, zero=False)),
        x2="x1:Q",
        y=alt.Y("row:N", title=y_title, sort=row_order,
                axis=alt.Axis(labelOverlap="greedy", labelLimit=110, ticks=False, grid=False)),
        color=alt.Color("log10:Q", title=legend_title, scale=colour,
                        legend=alt.Legend(type="gradient", orient="top", values=ticks or [low, high],
                                          labelExpr=POWER_OF_TEN_LABEL, gradientLength=160)),
        tooltip=[alt.Tooltip("row:N", title=y_title), alt.Tooltip("steps:N", title=x_title),
                 alt.Tooltip("text:N", title=value_title)])
    height = int(min(480, max(HEIGHT, 12 * len(row_order))))
    return Chart(key, _spec(chart.properties(height=height)), {f"{key}-values": drawn}, " ".join(notes) or None)
