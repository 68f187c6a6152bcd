"""Chart builders: log axes tick only at whole powers covering the data; charts carry tooltips; thinning."""

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from gradviz.chain import ChainConfig, analyze_chain
from gradviz.charts import MAX_TICKS, chain_factor_chart, chain_gradient_chart, decades, thin

finite = st.floats(min_value=-20_000, max_value=20_000, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(finite, min_size=1, max_size=20))
def test_decades_are_whole_evenly_spaced_and_cover_the_data(values):
    ticks = decades(values)
    assert all(isinstance(t, int) for t in ticks)
    assert ticks[0] <= min(values) and max(values) <= ticks[-1]
    steps = set(np.diff(ticks))
    assert len(steps) == 1 and str(steps.pop()).rstrip("0") in {"1", "2", "5"}
    assert len(ticks) <= MAX_TICKS + 2


def test_decades_ignore_non_finite_values():
    assert decades([-math.inf, 0.3, math.nan]) == [0, 1]
    assert decades([]) == [0, 1]


def _y(spec):
    layer = spec["layer"][0] if "layer" in spec else spec
    return layer["encoding"]["y"]


def test_gradient_chart_of_the_depth_10000_chain_has_power_of_ten_ticks_and_exact_tooltips():
    report = analyze_chain(ChainConfig(case="exploding", depth=10_000))
    spec = chain_gradient_chart(report.layers).to_dict()
    y = _y(spec)
    assert y["axis"]["values"][-1] >= 13977 and y["axis"]["values"][0] <= 0
    assert "'10' +" in y["axis"]["labelExpr"]
    data = next(iter(spec["datasets"].values()))
    assert len(data) <= 1200 and data[0]["layer"] == 1 and data[-1]["layer"] == 10_000
    assert data[0]["grad_b_text"] == "1.26 × 10¹³⁹⁷⁷"


def test_factor_chart_domain_includes_the_quarter_and_one_lines():
    report = analyze_chain(ChainConfig(case="exploding", depth=4))
    ticks = chain_factor_chart(report.layers, "w σ'(z)").to_dict()["layer"][0]["encoding"]["y"]["axis"]["values"]
    assert ticks[0] <= math.log10(0.25) and ticks[-1] >= math.log10(25)


def test_thin_keeps_the_ends_and_at_most_the_limit():
    frame = pd.DataFrame({"layer": np.arange(1, 10_001)})
    kept = thin(frame, 100)
    assert len(kept) <= 100 and kept["layer"].iloc[0] == 1 and kept["layer"].iloc[-1] == 10_000
    assert thin(frame.head(50), 100).equals(frame.head(50))
