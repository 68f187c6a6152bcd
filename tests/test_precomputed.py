"""The shipped results of the default view and its neighbours (gradviz/data/precomputed.pkl.gz): made by the
current code, complete, and, in the numerical environment they were computed in, equal to a fresh computation
bit for bit. Elsewhere (another numpy or BLAS build, other CPU kernels) they are not used: no tolerance would do,
because the chaotic runs (an exploding RNN trained) turn last-bit differences into visible ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import gradviz.page.precomputed as precomputed
from gradviz.page.precomputed import (code_version, load_precomputed, neighbour_jobs, neighbour_values,
                                      numerical_environment, shipped_payload)
from gradviz.page.sections import SECTIONS
from gradviz.page.settings import DEFAULTS, SWITCHES
from gradviz.page.state import PageState
from gradviz.training.history import History


@pytest.fixture(scope="module")
def payload():
    return shipped_payload()


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


def test_the_shipped_file_was_made_by_this_code_and_holds_every_neighbour_job(payload):
    """A change to the engine, training or experiments needs `python scripts/precompute.py`."""
    assert payload.get("version") == code_version(), \
        "gradviz/data/precomputed.pkl.gz is missing or stale: run python scripts/precompute.py"
    assert set(neighbour_jobs()) == set(payload["results"])


def test_the_neighbours_are_the_default_each_switch_alone_and_all_of_them():
    on = [tuple(f"{name}={values[name]}" for name in SWITCHES if values[name] != DEFAULTS[name])
          for values in neighbour_values()]
    assert on == [(), ("relu=True",), ("gating=True",), ("clip=True",), ("regularize=True",), ("skip=True",),
                  ("norm=batch",), ("norm=layer",),
                  ("relu=True", "gating=True", "clip=True", "regularize=True", "skip=True", "norm=layer")]


def test_results_are_used_only_in_the_numerical_environment_they_were_computed_in(monkeypatch):
    here = numerical_environment()
    assert here == numerical_environment() and here["numpy"] == np.__version__
    results = {("a", "job"): 1.0}
    for environment, used in [(here, True), ({**here, "numpy": "0.0.0"}, False), ({**here, "blas": []}, False),
                              ({**here, "numpy kernels": "another CPU"}, False)]:
        monkeypatch.setattr(precomputed, "shipped_payload",
                            lambda: {"version": code_version(), "environment": environment, "results": results})
        assert load_precomputed() == (results if used else {})


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_the_default_views_results_equal_a_fresh_computation_where_they_are_used(payload, section):
    """Bit for bit in the environment the file was computed in; in any other, the page does not use them."""
    if payload["environment"] != numerical_environment():
        assert load_precomputed() == {}
        return
    shipped = load_precomputed()
    with threadpool_limits(1):
        for name, job in SECTIONS[section].jobs(PageState.of(neighbour_values()[0])).items():
            fresh = job()
            if isinstance(fresh, History):
                fresh = dataclasses.replace(fresh, network=None)
            assert equal(fresh, shipped[job.key]), f"{section}: {name} differs from the shipped result"
