"""Helpers for the page's AppTest tests: open a page once per URL, read what a person sees, check its language.

Streamlit's caches are process-wide (app.server() holds the job board and the stores), so results computed
for one AppTest run answer every later run with the same settings; `page()` also keeps each finished
AppTest per URL, so tests that only read a page share one run. Never interact with a page from `page()`:
open a fresh one with `open_page()`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from conftest import chart_payloads, page_texts

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120
# Small settings for the sections that train on digits, where a test does not need the defaults.
SMALL = {"hidden": "2", "epochs": "5", "seeds": "2", "deep_depth": "5", "deep_width": "32"}

_PAGES: dict[tuple, AppTest] = {}


def open_page(*, locale: str | None = None, **query) -> AppTest:
    """A fresh AppTest of app.py opened at ?query (values str, or a list of str for a repeated key), from a
    browser whose locale is `locale` (None: the browser sent none)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if locale is not None:
        at.context["locale"] = locale
    for key, value in query.items():
        at.query_params[key] = value if isinstance(value, list) else str(value)
    at.run()
    return at


def page(**query) -> AppTest:
    """The page at ?query, opened once per test session (read it, never click on it)."""
    key = tuple(sorted((k, str(v)) for k, v in query.items()))
    if key not in _PAGES:
        _PAGES[key] = open_page(**query)
    return _PAGES[key]


def exceptions(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception]


# --- charts --------------------------------------------------------------------------------------------------

DATUM = re.compile(r"datum\.([A-Za-z_][A-Za-z0-9_]*)|datum\[['\"]([^'\"]+)['\"]\]")


def spec_fields(spec) -> set[str]:
    """Every data column a spec reads: encoding fields, sort/order fields and datum.x in expressions."""
    out: set[str] = set()
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "field" and isinstance(value, str):
                out.add(value)
            elif isinstance(value, str):
                out |= {a or b for a, b in DATUM.findall(value)}
            else:
                out |= spec_fields(value)
    elif isinstance(spec, list):
        for value in spec:
            out |= spec_fields(value)
    return out


class ChartSpec:
    """A chart on a page: its key (the builder's name, from its datasets' '<key>-values') and its Vega-Lite spec."""

    def __init__(self, spec: dict, datasets: dict):
        values = [name for name in datasets if name.endswith("-values")] or list(datasets)
        self.key = values[0].rsplit("-", 1)[0] if values else ""
        self.spec = spec


def chart_specs(at: AppTest) -> list[ChartSpec]:
    return [ChartSpec(spec, datasets) for spec, datasets in chart_payloads(at)]


def datasets_of(at: AppTest) -> dict[str, pd.DataFrame]:
    """{dataset name: frame} over every chart of a page (names are unique: '<chart key>-<part>')."""
    out = {}
    for _, datasets in chart_payloads(at):
        out.update(datasets)
    return out


def non_finite_cells(frame: pd.DataFrame) -> dict[str, int]:
    """{column: count of NaN / ±inf} over the numeric columns."""
    out = {}
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
            bad = int((~np.isfinite(frame[column].to_numpy(dtype=float))).sum())
            if bad:
                out[column] = bad
    return out


def chart_problems(at: AppTest) -> list[str]:
    """Charts whose data hold a non-finite number or a column the spec does not read."""
    problems = []
    for spec, datasets in chart_payloads(at):
        used = spec_fields(spec)
        for name, frame in datasets.items():
            if non_finite_cells(frame):
                problems.append(f"{name}: non-finite {non_finite_cells(frame)}")
            unused = set(frame.columns) - used
            if unused:
                problems.append(f"{name}: columns not drawn {sorted(unused)}")
    return problems


# --- what a person reads -------------------------------------------------------------------------------------

# Names, math and code words a Chinese page keeps in Latin letters.
LATIN_ALLOWED = {
    "nielsen", "michael", "pascanu", "mikolov", "bengio", "glorot", "xavier", "kaiming", "schoenholz", "poole",
    "hochreiter", "schmidhuber", "sutskever", "saxe", "relu", "lstm", "mnist", "pytorch", "keras", "tensorflow",
    "sigmoid", "tanh", "softmax", "csv", "utf", "float", "nan", "numpy", "json", "github", "http", "https",
    "english", "adam", "sgd", "batchnorm", "momentum", "orthogonal", "cs231n", "vega", "altair", "streamlit",
    "tuple", "mit", "license", "mlxtend", "tensorboard", "torch", "wandb", "jupyter", "colab", "gzip", "events",
    "tfevents", "lines", "fixup", "skipinit", "transformer",
}
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# The Chinese an English page may show: the article's own title (named in the introduction) and the name of
# the language in the language switch.
CJK_ALLOWED = ("《梯度消失和梯度爆炸》", "中文")


def _strip_for_words(text: str) -> str:
    """Text without what is not prose: links' targets, URLs, inline math, code, LaTeX commands, identifiers
    with underscores or digits, Streamlit's :color[…] and :color-background[…] directive names, and the authors a
    Chinese sentence cites ("X 等人", X et al.; "X 与 Y 2015"), so a new paper's authors need no list. Markdown's
    backslash escapes (a user's names, shown as plain text) are read as the characters they escape."""
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"\$[^$]*\$", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\\(begin|end)\{[^}]*\}", " ", text)
    text = re.sub(r"\\[A-Za-z]+", " ", text)
    text = re.sub(r":[a-z]+(-background)?\[", " ", text)
    text = re.sub(r"\b[A-Z][a-z]+(?= ?(等人|与|和|\d{4}))", " ", text)  # cited: "Brock 等人", "Ioffe 与 Szegedy 2015"
    text = re.sub(r"\b\w+(\.\w+)+\b", " ", text)  # dotted names: a user's layer "hidden.0", a file "x.py"
    text = re.sub(r"\b\w*(_|\d)\w*\b", " ", text)
    text = re.sub(r"\b[A-Za-z]+\(", " ", text)  # math functions: sign(w), max(z, 0)
    return text


def english_words(text: str) -> list[str]:
    """Latin words of 4 letters or more that are not names, math or code."""
    return [w for w in re.findall(r"[A-Za-z][A-Za-z']{3,}", _strip_for_words(text))
            if w.lower().strip("'") not in LATIN_ALLOWED]


def cjk_left(text: str) -> str:
    for allowed in CJK_ALLOWED:
        text = text.replace(allowed, "")
    return "".join(CJK.findall(text))


def other_language(at: AppTest, lang: str, allowed=()) -> list[tuple[str, str]]:
    """(where, text) of every text on the page that is in the other language (the words in `allowed` aside,
    wherever they stand: data such as a user's layer names)."""
    bad = []
    for where, text in page_texts(at):
        for name in sorted(allowed, key=len, reverse=True):
            text = text.replace(str(name), " ")
        if lang == "zh" and english_words(text):
            bad.append((where, f"{english_words(text)} in {text[:160]!r}"))
        elif lang == "en" and cjk_left(text):
            bad.append((where, f"{cjk_left(text)!r} in {text[:160]!r}"))
    return bad


RAW_SPECIAL = re.compile(r"\b(nan|NAN|inf|Inf|INF|infinity|Infinity|undefined|None|null)\b|∞|\\infty")
LEFTOVER_PLACEHOLDER = re.compile(r"(?<![\w^_}\\])\{[A-Za-z_][A-Za-z0-9_]*\}")


def raw_specials(at: AppTest) -> list[tuple[str, str]]:
    """Texts that read nan, inf, ∞, undefined, None or null ('NaN' is the page's spelling of a NaN in prose)."""
    return [(where, text) for where, text in page_texts(at) if RAW_SPECIAL.search(text)]


def leftover_placeholders(at: AppTest) -> list[tuple[str, str]]:
    return [(where, text) for where, text in page_texts(at) if LEFTOVER_PLACEHOLDER.search(text)]


def number(text: str) -> float:
    """A metric's value as a float ('15625', '0.006682', '68.3 %')."""
    return float(text.replace("%", "").replace(",", "").strip())


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel)
