"""The page under faults (issue 12): a bad data file, and settings whose work exceeds the budget.

The data file is never touched: gradviz.datasets reads `files("gradviz") / "data" / "mnist_1k.npz"`, and the
tests point that at a copy in a temporary folder, damaged in ten ways, with the loader's caches cleared
before and after. The jobs run in the job board's worker processes, so the page's server is started anew with
workers that read the damaged copy too (the board's initializer), and once more afterwards. Each fault opens the
pages with settings no other test uses, so every job runs against the damaged file instead of answering from
the server's store.
"""

from __future__ import annotations

import functools
import io
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import streamlit as st

import gradviz.datasets as datasets
import gradviz.page.jobboard as jobboard
import gradviz.page.jobs as jobs
from gradviz.datasets import DataUnavailable
from gradviz.page.i18n import t
from gradviz.page.sections import SECTIONS
from gradviz.page.settings import parse_url
from gradviz.page.state import PageState
from page_support import SMALL, datasets_of, exceptions, open_page, page_texts

REAL = (files("gradviz") / "data" / "mnist_1k.npz").read_bytes()
SERVER_LEAKS = ("Traceback", 'File "', "/work/", "site-packages", "gradviz/", "mnist_1k", ".npz", "SHA-256",
                "Error", "errno")


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


rng = np.random.default_rng(12)
FAULTS = {
    "missing": None,
    "empty": b"",
    "truncated": REAL[: len(REAL) // 2],
    "one byte flipped": _flipped(REAL),
    "random bytes": rng.bytes(len(REAL)),
    "text": b"pixels,labels\n0,0\n",
    "wrong arrays": _npz(a=np.zeros(3), b=np.ones(3)),
    "other digits": _npz(pixels=rng.integers(0, 256, (1000, 784), dtype=np.uint8),
                         labels=np.repeat(np.arange(10, dtype=np.uint8), 100)),
    "wrong shapes": _npz(pixels=np.zeros((10, 10), np.uint8), labels=np.zeros(3, np.uint8)),
    "a folder": "folder",
}


def read_data_from(root: str) -> None:
    """gradviz.datasets reads its files from the folder `root` (in this process, or run in a worker)."""
    datasets._mnist_1k_raw.cache_clear()
    datasets.mnist_1k.cache_clear()
    datasets.files = lambda package: Path(root)


@pytest.fixture
def damaged(monkeypatch, tmp_path):
    """damaged(name): gradviz.datasets now reads the fault `name` in place of the shipped file, here and in the
    workers of a page server started for the test (app.server() is cached: clearing it ends the old board)."""
    def clear():
        datasets._mnist_1k_raw.cache_clear()
        datasets.mnist_1k.cache_clear()
        st.cache_resource.clear()

    def use(name: str) -> None:
        clear()
        root = tmp_path / name.replace(" ", "_")
        (root / "data").mkdir(parents=True)
        target = root / "data" / "mnist_1k.npz"
        fault = FAULTS[name]
        if fault == "folder":
            target.mkdir()
        elif fault is not None:
            target.write_bytes(fault)
        monkeypatch.setattr(datasets, "files", lambda package: root)
        monkeypatch.setattr(jobboard, "JobBoard", functools.partial(jobboard.JobBoard, initializer=read_data_from,
                                                                    initargs=(str(root),)))

    yield use
    monkeypatch.undo()
    clear()


def test_the_shipped_file_passes_its_checksum():
    pixels, labels = datasets._mnist_1k_raw()
    assert pixels.shape == (1000, 784) and labels.shape == (1000,)


@pytest.mark.parametrize("name", FAULTS)
def test_the_loader_names_a_bad_file_in_one_plain_error(name, damaged):
    damaged(name)
    with pytest.raises(DataUnavailable, match="mnist_1k.npz is (missing|damaged)"):
        datasets.mnist_1k()


def assert_one_plain_sentence(at, lang: str = "en") -> None:
    """No traceback and no server path: one warning that says the digits could not be read, and nothing else."""
    assert not exceptions(at)
    assert [w.value for w in at.warning] == [t("page.data.unavailable", lang)]
    assert not at.error and not at.get("vega_lite_chart")
    shown = " ".join(text for _, text in page_texts(at))
    assert not [leak for leak in SERVER_LEAKS if leak in shown]


@pytest.mark.parametrize("number, name", list(enumerate(FAULTS)))
def test_a_bad_data_file_gives_one_sentence_and_the_rnn_still_runs(number, name, damaged):
    damaged(name)
    # settings no other test uses, so the jobs run now, against the damaged file
    assert_one_plain_sentence(open_page(section="layers", **{**SMALL, "seed": str(1000 + number)}))
    # the recurrent network needs no digits: it computes and draws (a short run, its own seed)
    at = open_page(section="time", seed=str(1000 + number), length="4", steps="1")
    assert not exceptions(at) and not at.warning and not at.error
    assert at.header[0].value == t("time.heading", "en") and "time-vanishing-values" in datasets_of(at)


@pytest.mark.parametrize("number, name", [(0, "missing"), (2, "truncated"), (9, "a folder")])
def test_the_deep_networks_say_it_too(number, name, damaged):
    damaged(name)
    # the deep networks' jobs do not depend on the seed: a depth no other test uses makes them run now
    assert_one_plain_sentence(open_page(section="deep", deep_depth=str(50 + number), deep_width="16", seeds="1"))


def test_the_chinese_page_says_it_in_chinese(damaged):
    damaged("missing")
    at = open_page(section="layers", lang="zh", **{**SMALL, "seed": "999"})
    assert [w.value for w in at.warning] == [t("page.data.unavailable", "zh")]


# --- the work budget --------------------------------------------------------------------------------------------

# Work beyond the budget: Nielsen's training panel at its largest, and the deep networks at theirs.
HEAVY = [{"section": "layers", "hidden": "6", "width": "100", "epochs": "500", "train": "1"},
         {"section": "deep", "deep_depth": "100", "deep_width": "512", "seeds": "20"},
         {"section": "layers", "hidden": "6", "width": "100", "epochs": "500", "gating": "1", "clip": "1",
          "regularize": "1", "penalty": "L1", "train": "1"}]


@pytest.fixture
def requested(monkeypatch):
    """The keys of every job the page asks the job board for, while the test runs."""
    keys = []
    request = jobboard.JobBoard.request

    def spy(self, job):
        keys.append(job.key)
        return request(self, job)

    monkeypatch.setattr(jobboard.JobBoard, "request", spy)
    return keys


@pytest.mark.parametrize("query", HEAVY, ids=["layers", "deep", "layers-all-remedies"])
def test_work_beyond_the_budget_waits_for_a_click(query, requested):
    state = PageState.of(parse_url(list(query.items())).values)
    section = SECTIONS[query["section"]]
    work = section.training_jobs(state) if query.get("train") else section.jobs(state)
    assert jobs.section_cost(work) > jobs.BUDGET_SECONDS
    at = open_page(**query)
    assert not exceptions(at)
    [offer] = at.info
    assert offer.value.startswith(t("page.budget.offer", "en").split("{")[0])
    assert t("page.budget.seconds", "en", value="10") in offer.value
    assert at.button(key="run").label == t("page.budget.run", "en")
    assert all(job.key not in requested for job in work.values())
    if not query.get("train"):
        assert not at.get("vega_lite_chart")


def test_the_heaviest_chain_fits_the_budget_and_runs_by_itself():
    """One section at a time: the chain at depth 10,000 and 200 steps, every remedy on, is estimated within the
    budget (the estimate is about twice the time it takes), so it runs without asking."""
    for extra in ({}, {"relu": "1", "gating": "1", "clip": "1", "regularize": "1", "penalty": "L1"}):
        values = parse_url([("depth", "10000"), ("steps", "200"), *extra.items()]).values
        assert jobs.section_cost(SECTIONS["chain"].jobs(PageState.of(values))) <= jobs.BUDGET_SECONDS


def test_the_run_button_computes_the_section(monkeypatch):
    monkeypatch.setattr(jobs, "BUDGET_SECONDS", 1e-9)  # app.py reads it at every run
    at = open_page(section="chain", seed="4242")
    assert at.info and not at.get("vega_lite_chart")
    at.button(key="run").click().run()
    assert not exceptions(at) and not at.info
    assert at.header[0].value == t("chain.heading", "en") and len(at.get("vega_lite_chart")) > 6
