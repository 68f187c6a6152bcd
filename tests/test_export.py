"""CSV downloads (gradviz/page/export.py and the sections' Download blocks): plain English snake_case headers
in every language, exact values, and an empty cell wherever a value is not a finite number."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from gradviz.experiments.chain import analyze_chain
from gradviz.page import blocks as b
from gradviz.page.export import chain_table, finite_or_empty, history_table, through_time_table, to_csv
from gradviz.page.i18n import Words
from gradviz.page.sections import SECTIONS
from gradviz.page.settings import DEFAULTS, parse_url
from gradviz.page.state import PageState

HEADER = re.compile(r"^[a-z][a-z0-9_]*$")
# the URL of issue 12 whose chain CSV held inf and -inf
HOSTILE = [("depth", "10000"), ("relu", "1"), ("gating", "1"), ("forget_bias", "10"), ("a0", "10")]
# The engine warns on the genuine float64 overflow of this chain's forward pass (gradviz/engine/backprop.py), and
# pytest makes RuntimeWarnings errors.
OVERFLOW_WARNING = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def cells(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def assert_clean_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """English snake_case headers, and every cell empty, a finite number or a name (never inf or nan)."""
    header, rows = cells(text)
    assert all(HEADER.match(name) for name in header), header
    assert all(len(row) == len(header) for row in rows)
    for row in rows:
        for cell in row:
            assert not re.search(r"inf|nan", cell, re.IGNORECASE), cell
            try:
                assert cell == "" or math.isfinite(float(cell)), cell
            except ValueError:
                assert re.match(r"^[\w.]+$", cell), cell  # a layer's name
    return header, rows


def state_of(pairs) -> PageState:
    return PageState.of(parse_url(pairs).values)


def test_the_articles_exploding_chain_round_trips_exactly():
    report = analyze_chain(replace(state_of([]).chain, case="exploding"))
    text = to_csv(chain_table(report))
    header, _ = assert_clean_csv(text)
    assert header == ["layer", "w", "b", "z", "a", "factor", "factor_abs_log10", "grad_b", "grad_b_abs_log10"]
    back = pd.read_csv(io.StringIO(text))
    assert back["factor"].tolist()[1:] == [25.0] * 3  # exact, though carried as log10
    assert back["grad_b"].tolist() == [1953.125, 78.125, 3.125, 0.125]


@OVERFLOW_WARNING
@pytest.mark.parametrize("case", ["vanishing", "exploding"])
def test_the_hostile_chain_csv_leaves_non_finite_cells_empty(case):
    report = analyze_chain(replace(state_of(HOSTILE).chain, case=case))
    text = to_csv(chain_table(report))
    header, rows = assert_clean_csv(text)
    assert header[:7] == ["layer", "w", "b", "z", "a", "f", "i"]
    assert len(rows) == 10_000
    empty = sum(cell == "" for row in rows for cell in row)
    assert empty > 0  # beyond float64 (or an overflow): left empty, kept exactly in the *_log10 columns
    back = pd.read_csv(io.StringIO(text))
    assert np.isfinite(back["grad_b_abs_log10"].dropna()).all()


def test_finite_or_empty_empties_only_non_finite_numbers():
    table = finite_or_empty(pd.DataFrame({"x": [1.0, np.inf, -np.inf, np.nan], "name": ["a", "b", "c", "d"],
                                          "n": [1, 2, 3, 4]}))
    assert to_csv(table).splitlines() == ["x,name,n", "1,a,1", ",b,2", ",c,3", ",d,4"]


@pytest.fixture(scope="module")
def chain_blocks():
    """The chain section's blocks at the default settings, computed here (no Streamlit), in both languages."""
    state = PageState.of(DEFAULTS)
    section = SECTIONS["chain"]
    results = {key: job() for key, job in {**section.jobs(state), **section.training_jobs(state)}.items()}
    return {lang: section.render(state, results, Words(lang)) + section.render_training(state, results, Words(lang))
            for lang in ("en", "zh")}


def downloads(blocks) -> dict[str, str]:
    return {block.file_name: block.make() for block in b.walk(blocks) if isinstance(block, b.Download)}


def test_the_chain_sections_downloads_are_clean_and_english_in_both_languages(chain_blocks):
    english, chinese = downloads(chain_blocks["en"]), downloads(chain_blocks["zh"])
    assert set(english) == {"gradviz_chain_vanishing.csv", "gradviz_chain_exploding.csv",
                            "gradviz_chain-vanishing.csv", "gradviz_chain-exploding.csv"}
    assert english == chinese  # data, not prose: the same file in every language
    for text in english.values():
        assert_clean_csv(text)
    history_header = cells(english["gradviz_chain-exploding.csv"])[0]
    assert history_header[0] in ("epoch", "step")
    assert history_header[1:5] == ["layer", "layer_name", "grad_norm", "grad_norm_log10"]
    labels = [block.label for block in b.walk(chain_blocks["zh"]) if isinstance(block, b.Download)]
    assert all("CSV" in label for label in labels)


def test_history_and_through_time_tables_have_english_columns():
    state = replace(state_of([("steps", "3"), ("length", "12")]))
    results = {key: job() for key, job in SECTIONS["time"].training_jobs(state).items()}
    header, rows = assert_clean_csv(to_csv(history_table(results["training.exploding"])))
    assert header[0] in ("epoch", "step") and header[1] == "layer" and rows
    norms = results["gradients.vanishing"].log10_activation_grad_norms
    back = pd.read_csv(io.StringIO(to_csv(through_time_table(norms))))
    assert list(back.columns) == ["t", "distance", "grad_h_norm", "grad_h_norm_log10"]
    assert back["t"].tolist() == list(range(len(norms))) and back["distance"].iloc[-1] == 0
