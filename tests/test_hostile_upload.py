"""Hostile uploads (issue 19): files shaped to make a parser work or allocate without bound are refused by their
shape, before any parser sees them, with one RunFileError; any other shape gives a record or one RunFileError.

The limits are patched small where a test needs a file past them, so the tests stay fast; the real limits
are measured on real sizes by scripts/upload_check.py (no timed assertion here).
"""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradviz.experiments.your_run import RunFile, RunFileError, json_log, load_run, source, table
from gradviz.experiments.your_run.source import MAX_LINE_BYTES
from gradviz.experiments.your_run.table import MAX_FIELDS

SHAPES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(data: bytes):
    """The RunFile read from data, or the RunFileError it raised (any other exception fails the test)."""
    try:
        return load_run(data)
    except RunFileError as error:
        return error


@pytest.fixture
def parses(monkeypatch) -> list[int]:
    """The longest line of each block handed to pandas."""
    seen = []
    real = table._read_csv

    def counted(data, *args):
        seen.append(max(len(line) for line in data.split(b"\n")))
        return real(data, *args)

    monkeypatch.setattr(table, "_read_csv", counted)
    return seen


# --- the hostile files of issue 19, at their real sizes -----------------------------------------------------------


def test_a_line_of_100000_commas_is_refused_by_its_field_count(parses):
    error = outcome(b"," * 100_000)
    assert (error.key, error.params) == ("run.too_many_columns", {"limit": MAX_FIELDS}) and not parses


def test_a_line_of_200000_numbers_is_refused_by_its_length(parses):
    error = outcome(b",".join([b"0.12345"] * 200_000))
    assert (error.key, error.params) == ("run.line_too_long", {"line": 1, "limit_kb": MAX_LINE_BYTES // 1024})
    assert not parses


def test_a_50_mb_single_line_is_refused_from_its_first_megabyte():
    read = []

    class Upload:
        def __init__(self):
            self.left = 50 * 1024 * 1024

        def read(self, n):
            n = min(n, self.left)
            self.left -= n
            read.append(n)
            return b"7" * n

    error = outcome(Upload())
    assert error.key == "run.line_too_long" and sum(read) <= 2 * MAX_LINE_BYTES + source.BLOCK_BYTES


def test_a_data_line_past_the_limit_is_refused_where_it_starts(parses):
    data = b"step,layer,grad_norm\n0,a,1\n0,b,2\n" + b"1," * (MAX_LINE_BYTES // 2 + 1) + b"\n"
    error = outcome(data)
    assert error.key == "run.line_too_long" and error.params["line"] == 4 and not parses


def test_a_decompression_bomb_stops_at_the_limit(monkeypatch):
    monkeypatch.setattr(source, "MAX_BYTES", 1024 * 1024)
    bomb = gzip.compress(b"step,layer,grad_norm\n" + b"\n" * (8 * 1024 * 1024))
    assert len(bomb) < 64 * 1024 and outcome(bomb).key == "run.too_large"


def test_a_quote_that_never_closes_is_refused_past_a_bound(monkeypatch):
    monkeypatch.setattr(source, "MAX_ROW_BYTES", 4096)
    monkeypatch.setattr(source, "BLOCK_BYTES", 1024)
    data = b'step,layer,grad_norm\n0,"a,1\n' + b"0,b,1\n" * 2000
    assert outcome(data).key == "run.unreadable"


@pytest.mark.parametrize("document", ["[" * 200_000 + "]" * 200_000, '{"a": ' + "9" * 5000 + "}",
                                      '{"step": [1, 2], "a": [' * 50_000])
def test_hostile_json_gets_one_sentence(document):
    assert outcome(document.encode()).key in ("run.json_unreadable", "run.json_layout")


def test_a_json_document_past_its_limit_is_refused_before_it_is_parsed(monkeypatch):
    monkeypatch.setattr(json_log, "MAX_JSON_BYTES", 1000)
    monkeypatch.setattr(json_log, "_parsed", lambda *args: pytest.fail("parsed"))
    document = json.dumps({f"layer{k}": [1.0] * 10 for k in range(30)}, indent=1)
    assert outcome(document.encode()).key == "run.json_too_large"


# --- any shape -----------------------------------------------------------------------------------------------


@st.composite
def shapes(draw) -> bytes:
    """A header and rows of drawn field counts, field sizes, quotes and line ends, some past the (patched) limits."""
    header = draw(st.sampled_from([["step", "layer", "grad_norm"], ["step", "grad_norm/a", "grad_norm/b"],
                                   ["step", "tag", "value"]]))
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 8))):
        fields = draw(st.integers(0, 80))
        cell = draw(st.sampled_from(["1", "0.5", "a", '"q,"', '"', "", "nan", "x" * 50]))
        lines.append(",".join([str(draw(st.integers(0, 3))), *[cell] * fields]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join(lines).encode()


@SHAPES
@given(shapes())
def test_any_shape_is_read_or_refused_and_pandas_never_sees_a_line_past_the_limit(data):
    limit = 256
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "MAX_LINE_BYTES", limit)
        patch.setattr(table, "MAX_FIELDS", 40)
        seen = []
        real = table._read_csv
        patch.setattr(table, "_read_csv", lambda data, *args: seen.append(data) or real(data, *args))
        result = outcome(data)
    assert isinstance(result, (RunFile, RunFileError))
    assert all(len(line) <= limit for block in seen for line in block.split(b"\n"))
    if any(len(line) > limit for line in data.split(b"\n")):
        assert isinstance(result, RunFileError)


@SHAPES
@given(st.binary(max_size=600), st.sampled_from([b"", b"\x1f\x8b", b"[", b"{", b"\x00\x00\x00\x00brain.Event:"]))
def test_any_bytes_behind_any_opening_are_read_or_refused(data, opening):
    assert isinstance(outcome(opening + data), (RunFile, RunFileError))
