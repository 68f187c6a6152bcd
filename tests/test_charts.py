"""Chart builders (gradviz/page/charts.py) and their payloads (gradviz/page/views.py).

Every builder's spec is valid Vega-Lite; a log axis ticks at whole decades, at most MAX_TICKS of them; values
far below the rest sit on a floor marked ▼ and said in the note; datasets carry only finite numbers in the
columns the spec reads. The specs of every chart on every section's page are validated too.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit import dataframe_util

from conftest import chart_payloads
from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.charts import MAX_DECADES, MAX_TICKS, POWER_OF_TEN_LABEL, decades, floor_of, thin
from gradviz.page.settings import SECTIONS
from gradviz.page.views import arrow_bytes, prepare
from page_support import SMALL, non_finite_cells, page, spec_fields

LAYERS = np.arange(1, 9)
WILD = np.array([0.5, -1.0, np.nan, -np.inf, 3.0, np.inf, -2.5, 1.0])  # every kind of value a record can hold
HUGE = np.array([13977.1, 13000.0, 12500.0, -150000.0, -3.5e66, -np.inf, 13500.0, 12000.0])  # beyond MAX_DECADES
VALUES = {"plain": np.linspace(-3, 2, 8), "nan-and-inf": WILD, "huge-span": HUGE, "all-zero": np.full(8, -np.inf)}
BUILDERS = ("per_layer", "factor", "slope", "lines", "series", "dots", "bars", "heatmap", "xy", "surface",
            "layer_heatmap")
_BUILT: dict[str, dict] = {}


def validate(spec: dict) -> None:
    alt.TopLevelSpec.validate(spec)


def problems(chart: b.Chart) -> list[str]:
    used = spec_fields(chart.spec)
    out = []
    for name, frame in chart.datasets.items():
        if non_finite_cells(frame):
            out.append(f"{name}: non-finite {non_finite_cells(frame)}")
        if set(frame.columns) - used:
            out.append(f"{name}: not drawn {sorted(set(frame.columns) - used)}")
    return out


def log_axes(spec) -> list[dict]:
    """Every axis that labels powers of ten, with its scale."""
    found = []
    if isinstance(spec, dict):
        axis = spec.get("axis")
        if isinstance(axis, dict) and POWER_OF_TEN_LABEL in str(axis.get("labelExpr")):
            found.append(spec)
        for value in spec.values():
            found += log_axes(value)
    elif isinstance(spec, list):
        for value in spec:
            found += log_axes(value)
    return found


def assert_decade_ticks(spec) -> None:
    """Whole decades at a 1-2-5 step; where exact zeros are drawn, one more tick a step below, labelled 0."""
    for encoding in log_axes(spec):
        ticks = encoding["axis"]["values"]
        has_strip = encoding["axis"]["labelExpr"] != POWER_OF_TEN_LABEL
        if has_strip:
            assert encoding["axis"]["labelExpr"].startswith(f"datum.value == {ticks[0]} ? '0' : ")
        powers = ticks[1:] if has_strip else ticks
        assert all(isinstance(tick, int) for tick in ticks) and 2 <= len(powers) <= MAX_TICKS
        steps = set(np.diff(ticks))
        assert len(steps) == 1 and str(steps.pop()).rstrip("0") in {"1", "2", "5"}
        assert encoding["scale"]["domain"] == [ticks[0], ticks[-1]]


def over_time(values) -> pd.DataFrame:
    return pd.DataFrame({"time": np.repeat(np.arange(4), 2), "series": np.tile([1, 2], 4), "log10": values})


def series(values) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(len(values)), "series": "loss", "log10": values})


def builders(values: np.ndarray) -> dict[str, b.Chart]:
    """Every builder, fed `values` (8 of them) where it takes magnitudes."""
    t = dict(x_title="x", y_title="y", value_title="v")
    texts = [f"{v}" for v in values]
    grid = pd.DataFrame({"x": np.repeat([0.5, 1.0], 4), "y": np.tile([0.0, 0.5, 1.0, 1.5], 2),
                         "log10": np.clip(np.nan_to_num(values, posinf=3, neginf=-3), -3, 3)})
    grid = grid.assign(text=[f"{v:.2f}" for v in grid["log10"]])
    return {
        "per_layer": charts.per_layer_chart("a", LAYERS, values, np.where(LAYERS == 4, -1.0, 1.0), **t, color="red",
                                            notes=[], theory_log10=values - 1, theory_title="theory",
                                            band=(values - 1, values + 1), floor_note="{count} below"),
        "factor": charts.factor_chart("b", LAYERS, values, np.ones(8), **t, grows="grows", shrinks="shrinks",
                                      lines={"1/4": 0.25, "1": 1.0}, notes=[]),
        "slope": charts.slope_curve_chart("c", np.linspace(-8, 8, 17), np.linspace(0, 0.25, 17), values, values / 10,
                                          x_title="z", y_title="s", curve_title="s", live_title="z_j",
                                          peak_label="1/4", peak=0.25, notes=[], outside_note="{count} outside"),
        "lines": charts.lines_over_time_chart("d", over_time(values), **t, series_title="layer", notes=[],
                                              reference=over_time(np.zeros(8)), source_titles=("ours", "his"),
                                              floor_note="{count} below", rules={"rule": 1e-3}),
        "series": charts.series_chart("e", series(values), **t, colors={"loss": "#444"}, notes=[],
                                      rules={"10⁻³": 1e-3}, floor_note="{count} below"),
        "dots": charts.dots_per_layer_chart("f", LAYERS, values, texts, **t, notes=[]),
        "bars": charts.grouped_bars_chart("g", pd.DataFrame({"neuron": np.tile(np.arange(1, 5), 2),
                                                             "layer": np.repeat(["L1", "L2"], 4),
                                                             "source": "ours", "value": values}),
                                          x_title="n", y_title="v", group_title="layer", colors={"ours": "#111"}),
        "heatmap": charts.heatmap_chart("h", grid, **t, point=(0.5, 1.0), point_title="here",
                                        critical=pd.DataFrame({"x": [0.5, 1.0], "y": [0.0, 0.5]}),
                                        contour=pd.DataFrame({"x": [1.0], "y": [1.5]}), contour_title="depth",
                                        critical_title="critical", legend_title="log10"),
        "xy": charts.xy_chart("i", pd.DataFrame({"x": np.arange(8.0), "series": "gradient", "y": values}), **t,
                              log_y=True, colors={"gradient": "#d00"}, notes=[], rules_x={"wall": 3.0}),
        "surface": charts.path_on_surface_chart(
            "j", grid[["x", "y", "log10"]], pd.DataFrame({"x": [0.5, 1.0], "y": [0.0, 0.5], "step": [0, 1],
                                                          "series": "free"}),
            x_title="w", y_title="b", value_title="E", legend_title="log10 E", colors={"free": "#0a0"}),
        "layer_heatmap": charts.layer_heatmap_chart("k", layer_cells(values), **t, legend_title="‖∇‖", notes=[],
                                                    row_order=["embed", "layers.0", "head"]),
    }


def layer_cells(values) -> pd.DataFrame:
    """A heatmap's cells: 3 rows (layers) × 8 columns of steps, the values repeated down the rows."""
    return pd.DataFrame({"row": np.repeat(["embed", "layers.0", "head"], 8), "x0": np.tile(np.arange(0, 80, 10), 3),
                         "x1": np.tile(np.arange(10, 90, 10), 3), "log10": np.tile(values, 3),
                         "text": [f"{v}" for v in np.tile(values, 3)], "steps": "0–9"})


def built(values: str) -> dict[str, b.Chart]:
    """builders(VALUES[values]), built once."""
    if values not in _BUILT:
        _BUILT[values] = builders(VALUES[values])
    return _BUILT[values]


def test_every_builder_is_tested():
    assert set(built("plain")) == set(BUILDERS)
    assert {name.removesuffix("_chart") for name in dir(charts) if name.endswith("_chart")} == {
        "per_layer", "factor", "slope_curve", "lines_over_time", "series", "dots_per_layer", "grouped_bars",
        "heatmap", "xy", "path_on_surface", "layer_heatmap"}


@pytest.mark.parametrize("values", VALUES)
@pytest.mark.parametrize("name", BUILDERS)
def test_every_builder_gives_a_valid_spec_with_finite_drawn_data(name, values):
    chart = built(values)[name]
    validate(chart.spec)
    assert not problems(chart)
    assert_decade_ticks(chart.spec)


def test_values_far_below_the_rest_sit_on_a_marked_floor():
    chart = built("huge-span")["per_layer"]
    drawn = chart.datasets["a-values"]
    floor = 13977.1 + 1 - MAX_DECADES  # the largest value drawn is the band's top, one decade above
    assert drawn.loc[~drawn["zero"], "log10"].min() == pytest.approx(floor)
    assert drawn["below"].sum() == 2  # −150,000 and −3.5 × 10⁶⁶
    zero = drawn[drawn["zero"]]  # the exact zero (−inf) sits on the strip labelled 0, under the lowest tick
    assert list(zero["text"]) == ["0"] and (zero["log10"] < floor).all()
    assert "2 below" in chart.note
    assert '"shape": "triangle-down"' in str(chart.spec).replace("'", '"')
    ticks = log_axes(chart.spec)[0]["axis"]["values"]
    assert ticks[0] <= floor and ticks[-1] >= 13977.1 and len(ticks) <= MAX_TICKS + 1
    texts = set(drawn["text"])
    # the tooltip keeps the true value, with its sign (layer 4 holds a negative gradient)
    assert {"10^(−3.5 × 10⁶⁶)", "1.26 × 10¹³⁹⁷⁷", "−1.00 × 10⁻¹⁵⁰⁰⁰⁰"} <= texts


@pytest.mark.parametrize("name", ["lines", "series"])
def test_charts_over_time_mark_their_floor_too(name):
    chart = built("huge-span")[name]
    assert "below" in chart.note and "triangle-down" in str(chart.spec)


def test_a_chart_without_floor_values_carries_no_floor_column():
    chart = built("plain")["per_layer"]
    assert "below" not in chart.datasets["a-values"] and chart.note is None


finite = st.floats(min_value=-20_000, max_value=20_000, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(finite, min_size=1, max_size=20))
def test_decades_are_whole_evenly_spaced_few_and_cover_the_data(values):
    ticks = decades(values)
    assert all(isinstance(tick, int) for tick in ticks) and 2 <= len(ticks) <= MAX_TICKS
    assert ticks[0] <= min(values) and max(values) <= ticks[-1]
    steps = set(np.diff(ticks))
    assert len(steps) == 1 and str(steps.pop()).rstrip("0") in {"1", "2", "5"}


def test_decades_of_an_awkward_span_stay_within_the_limit():
    assert decades([1, 13]) == [0, 5, 10, 15]
    assert decades([-math.inf, 0.3, math.nan]) == [0, 1] and decades([]) == [0, 1]


def test_the_floor_is_max_decades_below_the_largest():
    assert floor_of([0.0, -1.0]) == -1.0
    assert floor_of([13977.0, -3.5e66, -math.inf]) == 13977.0 - MAX_DECADES
    assert floor_of([math.nan]) == -math.inf


def test_thin_keeps_the_ends_and_at_most_the_limit():
    frame = pd.DataFrame({"layer": np.arange(1, 10_001)})
    kept = thin(frame, 400)
    assert len(kept) <= 400 and kept["layer"].iloc[0] == 1 and kept["layer"].iloc[-1] == 10_000
    assert np.ptp(np.diff(kept["layer"])) <= 1  # evenly spaced
    assert thin(frame.head(50), 400).equals(frame.head(50))


def test_arrow_payloads_round_trip_and_nest():
    frame = pd.DataFrame({"layer": [1, 2], "log10": [0.5, -1.0], "text": ["3.162", "0.1"]})
    assert dataframe_util.convert_arrow_bytes_to_pandas_df(arrow_bytes(frame)).equals(frame)
    chart = built("plain")["per_layer"]
    [prepared] = prepare((b.Columns(((b.Expander("x", (chart,)),), ())),))[0].columns[0][0].blocks
    assert set(prepared.spec["datasets"]) == set(chart.datasets)
    assert all(isinstance(v, bytes) for v in prepared.spec["datasets"].values())
    assert "datasets" not in chart.spec  # the block itself is left as it was


@pytest.mark.parametrize("section", SECTIONS)
def test_every_chart_on_every_section_is_valid_vega_lite_with_decade_ticks(section):
    payloads = chart_payloads(page(section=section, lang="en", **SMALL))
    assert payloads
    for spec, _ in payloads:
        validate(spec)
        assert_decade_ticks(spec)


def test_a_layer_heatmap_keeps_every_row_and_a_colour_scale_a_spike_cannot_take():
    steps = np.arange(100)
    cells = pd.DataFrame({"row": np.repeat(["embed", "layers.0", "head"], 100), "x0": np.tile(steps, 3),
                          "x1": np.tile(steps + 1, 3), "log10": np.tile(np.linspace(-4.0, -2.0, 100), 3),
                          "text": "v", "steps": "s"})
    cells.loc[0, "log10"] = 9.0  # one early spike, 11 decades above the rest
    chart = charts.layer_heatmap_chart("k", cells, x_title="step", y_title="layer", value_title="v",
                                       legend_title="‖∇‖", notes=[], row_order=["embed", "layers.0", "head"])
    scale = chart.spec["encoding"]["color"]["scale"]
    low, high = charts.heat_domain(cells["log10"])
    assert scale["clamp"] is True and scale["domain"] == [low, high] and high < -2.0 + 1e-9 and low > -4.0
    drawn = chart.datasets["k-values"]
    assert sorted(set(drawn["row"])) == ["embed", "head", "layers.0"] and len(drawn) == 300
    assert drawn["log10"].max() == high  # the spike is drawn, in the end colour
    assert chart.spec["encoding"]["y"]["sort"] == ["embed", "layers.0", "head"]


def test_a_heat_domain_is_at_least_a_decade_and_survives_no_finite_cell():
    assert charts.heat_domain([2.0, 2.0, 2.0]) == (1.5, 2.5)
    assert charts.heat_domain([np.nan, -np.inf]) == (0.0, 1.0)
