"""Fuzzing the Streamlit page (app.py) through its URL, headless with streamlit.testing.v1.AppTest.

Two parts:
- seeded random combinations of every sidebar setting (app.SETTINGS ranges), written into the URL: the page
  must run without an exception, show every value the URL asked for, raise no URL notice, and print no raw
  nan / inf anywhere (markdown, metrics, LaTeX, captions, notices, chart tooltips);
- hostile URLs (out of range, malformed, NaN / ±inf, markup, unknown names, very long, unicode): no
  exception, one visible notice per bad value that never repeats it, the widgets at the fallback values,
  and a rewritten URL without the bad values.

Cost: the Nielsen section trains on MNIST and the chain trains `steps` steps, so the random combinations
keep epochs ≤ 5, width ≤ 30, and pair long chains with few steps (a gated 10000-layer chain would take
seconds per step). A combination runs in about 1–4 s on 2 cores; every URL runs once (module fixtures).
"""

from __future__ import annotations

import math
import random
import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import screen_texts
from gradviz.settings import PAGE_SETTINGS
from gradviz.urlstate import parse_params

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 180
N_RANDOM = 40
QUICK = {"epochs": "2", "steps": "3"}
URL_ICON = "🔗"
RAW_WORD = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)
# Deliberate wording that contains "NaN": the two symptom names, and the phrase the evidence and the
# early-stop warning use for a blow-up ("a weight became NaN or infinite at update 3").
PROSE = ("loss becomes NaN", "weights become NaN", "NaN or infinite")

SETTINGS = PAGE_SETTINGS


def run_app(query: dict[str, str]) -> tuple[AppTest, float]:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in query.items():
        at.query_params[name] = value
    start = time.perf_counter()
    at.run()
    return at, time.perf_counter() - start


def raw_nan_or_inf(at: AppTest) -> list[tuple[str, str]]:
    bad = []
    for where, text in screen_texts(at):
        stripped = text
        for phrase in PROSE:
            stripped = stripped.replace(phrase, "")
        if RAW_WORD.search(stripped):
            bad.append((where, text))
    return bad


def url_notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.proto.icon == URL_ICON]


def checklist_contradictions(at: AppTest) -> list[str]:
    """Checklists that say both that every weight stayed finite and that an update made them NaN or infinite."""
    lists = [m.value for m in at.markdown if m.value.startswith("**Symptom checklist**")]
    return [c for c in lists if "every weight stayed finite" in c and "made a layer's weights NaN or infinite" in c]


def assert_page_complete(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value[:4] for h in at.main.header] == ["1 · ", "2 · ", "3 · "]
    assert [s.value for s in at.main.subheader] == ["Vanishing", "Exploding"] * 3


# --- seeded random combinations ----------------------------------------------------------------------------


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return min(max(10.0 ** rng.uniform(math.log10(low), math.log10(high)), low), high)


def _edge_or(rng: random.Random, edges: list[float], draw) -> float:
    return rng.choice(edges) if rng.random() < 0.15 else draw()


def random_settings(seed: int) -> dict[str, object]:
    """One combination over app.SETTINGS' ranges, cheap enough to run in a few seconds."""
    rng = random.Random(seed)
    roll = rng.random()
    if roll < 0.5:
        depth, steps = rng.randint(1, 8), rng.randint(1, 200)
    elif roll < 0.8:
        depth, steps = rng.randint(9, 100), rng.randint(1, 100)
    elif roll < 0.92:
        depth, steps = rng.randint(101, 1000), rng.randint(1, 10)
    else:
        depth, steps = rng.choice([5000, 10_000]), 1
    gating = rng.random() < 0.5 and depth <= 1000  # a gated chain of 10000 layers takes ~4 s per pass
    if gating and depth > 100:
        steps = min(steps, 3)  # a gated chain of 1000 layers trains at ~0.7 s per step
    values = {
        "depth": depth,
        "steps": steps,
        "gating": gating,
        "a0": _edge_or(rng, [-10.0, 0.0, 10.0], lambda: rng.uniform(-10, 10)),
        "y": _edge_or(rng, [-10.0, 0.0, 10.0], lambda: rng.uniform(-10, 10)),
        "seed": rng.choice([rng.randint(0, 20), rng.randint(0, 2**31 - 1), 2**31 - 1]),
        "relu": rng.random() < 0.5,
        "forget_bias": _edge_or(rng, [-5.0, 10.0], lambda: rng.choice([rng.uniform(-5, 10), rng.randint(-10, 20) / 2])),
        "clip": rng.random() < 0.5,
        "clip_by": rng.choice(["global norm", "value"]),
        "clip_threshold": _edge_or(rng, [1e-3, 1e6], lambda: _log_uniform(rng, 1e-3, 1e6)),
        "regularize": rng.random() < 0.5,
        "penalty": rng.choice(["L2", "L1"]),
        "lmbda": _edge_or(rng, [0.0, 100.0], lambda: rng.choice([rng.uniform(0, 100), _log_uniform(rng, 1e-3, 100)])),
        "eta": _edge_or(rng, [1e-4, 100.0], lambda: _log_uniform(rng, 1e-4, 100.0)),
        "hidden": rng.randint(1, 6),
        "width": rng.choice([rng.randint(5, 30), 30]),
        "epochs": rng.randint(1, 5),
        "overlay": rng.random() < 0.5,
    }
    # leave some settings at their defaults (absent from the URL), never the costly epochs
    for name in rng.sample([n for n in values if n != "epochs"], rng.randint(0, 5)):
        values[name] = SETTINGS[name].default
    return values


def to_url(values: dict[str, object]) -> dict[str, str]:
    text = {}
    for name, value in values.items():
        if value == SETTINGS[name].default and name != "epochs":
            continue
        text[name] = ("1" if value else "0") if isinstance(value, bool) else repr(value) if isinstance(value, float) else str(value)
    return text


RANDOM_RUN_SECONDS: list[float] = []


@pytest.fixture(scope="module", params=range(N_RANDOM), ids=lambda seed: f"seed{seed}")
def random_page(request):
    values = random_settings(request.param)
    query = to_url(values)
    at, seconds = run_app(query)
    RANDOM_RUN_SECONDS.append(seconds)
    print(f"\n[seed {request.param}: {seconds:.2f} s]", end="")
    return values, query, at, seconds


def test_random_settings_run_cleanly(random_page):
    values, query, at, seconds = random_page
    assert_page_complete(at)
    assert url_notices(at) == [], (query, url_notices(at))
    bad = raw_nan_or_inf(at)
    assert not bad, (query, bad[:5])


def test_random_settings_checklists_are_consistent(random_page):
    _, query, at, _ = random_page
    assert len([m for m in at.markdown if m.value.startswith("**Symptom checklist**")]) == 6
    assert not checklist_contradictions(at), (query, checklist_contradictions(at))


def test_random_settings_reach_the_widgets_and_the_url(random_page):
    values, query, at, _ = random_page
    expected, notices = parse_params(query, SETTINGS)
    assert notices == []
    for name, value in expected.items():
        shown = at.session_state[name]
        assert shown == value or (isinstance(value, float) and math.isclose(shown, value, rel_tol=1e-12)), (name, shown, value)
    # the page writes every non-default setting back into the URL; reading it again gives the same settings
    again, notices = parse_params(dict(at.query_params), SETTINGS)
    assert notices == []
    for name, value in expected.items():
        assert again[name] == value or math.isclose(again[name], value, rel_tol=1e-11), (name, again[name], value)


def test_random_runs_stay_cheap(random_page):
    """Not a correctness check: keeps the fuzzing affordable (the whole file < 3 minutes on 2 cores)."""
    _, query, _, seconds = random_page
    assert seconds < 60, (query, seconds)


# --- hostile URLs --------------------------------------------------------------------------------------------

LONG_DIGITS = "9" * 10_000
LONG_TEXT = "x" * 100_000
LONG_KEY = "k" * 5_000
SCRIPT = "<script>alert(1)</script>"

# (id, query, the widget values the page must fall back to, how many bad values the URL holds)
HOSTILE = [
    ("depth-negative", {"depth": "-5"}, {"depth": 1}, 1),
    ("depth-abc", {"depth": "abc"}, {"depth": 4}, 1),
    ("depth-1e999", {"depth": "1e999"}, {"depth": (4, 10_000)}, 1),
    ("depth-empty", {"depth": ""}, {"depth": 4}, 1),
    ("eta-nan", {"eta": "nan"}, {"eta": 0.1}, 1),
    ("eta-minus-inf", {"eta": "-inf"}, {"eta": 1e-4}, 1),
    ("eta-inf-and-tiny", {"eta": "Infinity", "clip_threshold": "1e-400", "clip": "1"},
     {"eta": 100.0, "clip_threshold": 1e-3, "clip": True}, 2),
    ("seed-script", {"seed": SCRIPT}, {"seed": 0}, 1),
    ("relu-maybe", {"relu": "maybe"}, {"relu": False}, 1),
    ("clip-by-evil", {"clip": "1", "clip_by": "evil"}, {"clip": True, "clip_by": "global norm"}, 1),
    ("unknown", {"unknown": "1"}, {}, 1),
    ("markup-key-and-value", {"<img src=x onerror=alert(1)>": SCRIPT, "a0": "<b>2</b>", "penalty": SCRIPT,
                              "regularize": "1"},
     {"a0": 1.0, "penalty": "L2", "regularize": True}, 3),
    ("long-values", {"depth": LONG_DIGITS, "a0": LONG_TEXT, "clip": "1", "clip_by": LONG_TEXT, LONG_KEY: "1"},
     {"depth": (4, 10_000), "a0": 1.0, "clip_by": "global norm"}, 4),
    ("unicode", {"depth": "深さ", "y": "−3", "clip_by": "välue", "clip": "1", "😀": "1", "ünknown": "ä"},
     {"depth": 4, "y": 0.0, "clip_by": "global norm", "clip": True}, 5),
    ("out-of-range-everywhere", {"seed": "-1", "steps": "1e3", "hidden": "7", "lmbda": "-3", "regularize": "1",
                                 "forget_bias": "nan", "gating": "on", "overlay": "2", "epochs": "0", "y": "1e308"},
     {"seed": 0, "steps": 200, "hidden": 6, "lmbda": 0.0, "regularize": True, "forget_bias": 3.0, "gating": True,
      "overlay": True, "epochs": 1, "y": 10.0}, 8),
    ("url-syntax-inside-values", {"depth": "4&eta=100", "seed": "%3Cscript%3E", "a0": "1#frag"},
     {"depth": 4, "seed": 0, "a0": 1.0, "eta": 0.1}, 3),
]


@pytest.fixture(scope="module", params=HOSTILE, ids=[case[0] for case in HOSTILE])
def hostile_page(request):
    name, query, expected, n_bad = request.param
    at, seconds = run_app({**QUICK, **query} if "epochs" not in query else {"steps": "3", **query})
    return query, expected, n_bad, at


def _widget_value(at: AppTest, name: str):
    """The value the sidebar widget keyed `name` shows (the widget must exist)."""
    for kind in ("number_input", "slider", "toggle", "radio"):
        for widget in at.sidebar.get(kind):
            if getattr(widget, "key", None) == name:
                return widget.value
    raise AssertionError(f"no sidebar widget keyed {name!r}")


def test_hostile_url_runs_with_a_notice_per_bad_value(hostile_page):
    query, expected, n_bad, at = hostile_page
    assert_page_complete(at)
    notices = url_notices(at)
    assert len(notices) == n_bad, notices
    for notice in notices:
        assert "<" not in notice and ">" not in notice, notice
        assert len(notice) < 200, notice
        for raw in query.values():
            if len(raw) >= 3:
                assert raw not in notice, (raw, notice)


def test_hostile_url_falls_back_to_safe_widget_values(hostile_page):
    query, expected, _, at = hostile_page
    for name, want in expected.items():
        shown = _widget_value(at, name)
        assert shown in want if isinstance(want, tuple) else shown == want, (name, shown, want)


def test_hostile_url_leaves_no_trace_on_the_page_or_in_the_url(hostile_page):
    query, _, _, at = hostile_page
    texts = " ".join(text for _, text in screen_texts(at))
    assert "<script" not in texts and "onerror" not in texts
    assert LONG_TEXT[:1000] not in texts and LONG_DIGITS[:1000] not in texts
    url = dict(at.query_params)
    assert set(url) <= set(SETTINGS), url
    _, notices = parse_params(url, SETTINGS)
    assert notices == [], url
    bad = raw_nan_or_inf(at)
    assert not bad, bad[:5]


def test_checklist_does_not_call_huge_finite_weights_nan():
    """Found by fuzzing. η = 100 with L2 λ = 100 multiplies the one-neuron chain's weight by 1 − ηλ/n = −9999 per
    step: after 40 steps it is 1.25e159, finite. The page then says, in the same checklist, "weights change a
    lot: yes (an update made a layer's weights NaN or infinite)" and "weights become NaN: no (every weight
    stayed finite)", with the verdict "exploding" resting on the false line (training._relative_changes squares
    the raw weights, which overflows past 1.3e154; see tests/test_fuzz_library.py)."""
    at, _ = run_app({"depth": "1", "a0": "0", "regularize": "1", "lmbda": "100", "eta": "100", "steps": "40",
                     "epochs": "1", "hidden": "1", "width": "5"})
    assert_page_complete(at)
    assert not checklist_contradictions(at), checklist_contradictions(at)


def test_long_gated_relu_chain_shows_no_nan():
    """Found by fuzzing the library (tests/test_fuzz_library.py::test_long_gated_relu_chain_keeps_its_gradients):
    the gated ReLU chain's activations overflow float64 at layer 4455 (seed 0, a0 = 2, forget bias 10; with the
    default forget bias 3, at depth 10000), and the vanishing column then shows "not a number (a NaN upstream)"
    as its ratio, and \\text{NaN} and \\infty in the chain rule. The random combinations above keep gated chains
    at depth <= 1000 for speed, so this URL is checked on its own (about 9 s)."""
    at, _ = run_app({"depth": "5000", "a0": "2", "relu": "1", "gating": "1", "forget_bias": "10", "steps": "1",
                     "epochs": "1", "hidden": "1", "width": "5"})
    assert_page_complete(at)
    bad = raw_nan_or_inf(at)
    assert not bad, bad[:5]
    assert any("overflows float64 at layer 4455" in w.value for w in at.warning)


def test_report_random_run_times():
    """Prints the per-run time of the random combinations (run with -s to see it)."""
    if RANDOM_RUN_SECONDS:
        times = sorted(RANDOM_RUN_SECONDS)
        print(f"\n{len(times)} random combinations: median {times[len(times) // 2]:.2f} s, "
              f"max {times[-1]:.2f} s, total {sum(times):.1f} s")
