"""The shipped results of the default view and its neighbours (gradviz/data/precomputed.pkl.gz): made by the
current code, complete, and equal to a fresh computation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from gradviz.page.precomputed import load_precomputed, neighbour_jobs, neighbour_values
from gradviz.page.sections import SECTIONS
from gradviz.page.state import PageState
from gradviz.training.history import History


@pytest.fixture(scope="module")
def shipped():
    return load_precomputed()


def equal(a, b) -> bool:
    """Deep equality of results: arrays bit for bit (NaN equal to NaN), dataclasses field by field."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.asarray(a).shape == np.asarray(b).shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return type(a) is type(b) and equal(vars(a), vars(b))
    return a == b


def test_the_shipped_file_was_made_by_this_code_and_holds_every_neighbour_job(shipped):
    """A change to the engine, training or experiments needs `python scripts/precompute.py`."""
    assert shipped, "gradviz/data/precomputed.pkl.gz is missing or stale: run python scripts/precompute.py"
    assert set(neighbour_jobs()) == set(shipped)


def test_there_are_six_neighbours_the_default_and_each_switch_alone_and_all_four():
    switches = [tuple(name for name in ("relu", "gating", "clip", "regularize") if values[name])
                for values in neighbour_values()]
    assert switches == [(), ("relu",), ("gating",), ("clip",), ("regularize",), ("relu", "gating", "clip", "regularize")]


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_the_default_views_results_equal_a_fresh_computation(shipped, section):
    with threadpool_limits(1):
        for name, job in SECTIONS[section].jobs(PageState.of(neighbour_values()[0])).items():
            fresh = job()
            if isinstance(fresh, History):
                fresh = dataclasses.replace(fresh, network=None)
            assert equal(fresh, shipped[job.key]), f"{section}: {name} differs from the shipped result"
