"""JSON logs as tables: a list of records ([{"step": 0, "layer": "fc1", "grad_norm": 0.1}, …]), an object holding
one such list ({"log_history": […]}), an object of columns ({"step": […], "grad_norm/fc1": […]}, or
{layer: [values…]} with no gradient word), or JSON Lines (one record a line, read in blocks as it streams).

A JSON document is parsed whole, so it is read up to MAX_JSON_BYTES (Python holds a parsed number in ~30
bytes); JSON Lines streams like a CSV. A cell is a number, a written nan ("nan", NaN), or not recorded (null,
missing, an empty string); a name is text. Errors name the record (its place in the list, 1-based) or, in
JSON Lines, the line.
"""

from __future__ import annotations

import json
import math

import numpy as np

from gradviz.experiments.your_run.errors import RunFileError
from gradviz.experiments.your_run.source import MAX_LINE_BYTES, Stream, csv_blocks
from gradviz.experiments.your_run.table import MAX_FIELDS, MISSING_TEXTS, NAN_TEXTS, Rows

MAX_JSON_BYTES = 16 * 1024 * 1024
NOT_A_NUMBER = object()


def json_table(stream: Stream):
    """(the table, whether its columns may be bare layer names) of a JSON document or JSON Lines."""
    if _is_json_lines(stream.peek(2 * MAX_LINE_BYTES)):
        return JsonLines(stream), False
    data = stream.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise RunFileError("json_too_large", limit_mb=MAX_JSON_BYTES // (1024 * 1024))
    document = _parsed(data)
    if isinstance(document, dict):
        nested = [value for value in document.values() if _is_records(value)]
        if len(nested) == 1:
            return JsonRecords(nested[0]), False
        if document and all(isinstance(value, list) for value in document.values()):
            return JsonColumns(document), True
        if all(not isinstance(value, (list, dict)) for value in document.values()):
            return JsonRecords([document]), False
    elif _is_records(document):
        return JsonRecords(document), False
    raise RunFileError("json_layout")


def _parsed(data: bytes):
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise RunFileError("encoding") from None
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError, as is an integer of 4,300+ digits
        raise RunFileError("json_unreadable") from None


def _is_records(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _is_json_lines(head: bytes) -> bool:
    """Whether the file starts with two lines that are each a JSON object."""
    lines = [line for line in head.removeprefix(b"\xef\xbb\xbf").split(b"\n")[:3] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        return all(isinstance(json.loads(line), dict) for line in lines[:2])
    except (ValueError, RecursionError):
        return False


def _columns(records: list[dict]) -> list[str]:
    columns = list(dict.fromkeys(key for record in records for key in record))
    if len(columns) > MAX_FIELDS:
        raise RunFileError("too_many_columns", limit=MAX_FIELDS)
    return [str(column) for column in columns]


def _number(cell) -> float | None | object:
    """A cell as a float, None (not recorded) or NOT_A_NUMBER."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        return NOT_A_NUMBER
    if isinstance(cell, (int, float)):
        try:
            return float(cell)
        except OverflowError:
            return math.copysign(math.inf, cell)
    if isinstance(cell, str):
        text = cell.strip()
        if text in MISSING_TEXTS:
            return None
        if text in NAN_TEXTS:
            return math.nan
        try:
            return float(text)
        except ValueError:
            return NOT_A_NUMBER
    return NOT_A_NUMBER


def _rows(cells: dict, numbers: list[int], texts: list[int], columns: list[str], size: int, where,
          place: str) -> Rows:
    """Rows from lists of cells per column (index → list); where(row) is the row's record or line number."""
    values, written = {}, {}
    for k in numbers:
        parsed = [_number(cell) for cell in cells[k]]
        bad = next((row for row, value in enumerate(parsed) if value is NOT_A_NUMBER), None)
        if bad is not None:
            raise RunFileError(("" if place == "line" else "record.") + "not_a_number", line=where(bad),
                               column=columns[k].strip())
        values[k] = np.array([math.nan if value is None else value for value in parsed], dtype=np.float64)
        written[k] = np.array([value is not None and math.isnan(value) for value in parsed], dtype=bool)
    names = {k: np.array([None if cell is None or cell == "" else str(cell) for cell in cells[k]], dtype=object)
             for k in texts}
    return Rows(size, values, names, where, place, written=lambda columns: {k: written[k] for k in columns})


class JsonRecords:
    """A list of records, as one block of rows."""

    def __init__(self, records: list[dict]):
        self._records = records
        self.columns = _columns(records)

    def rows(self, numbers: list[int], texts: list[int] = ()):
        cells = {k: [record.get(self.columns[k]) for record in self._records] for k in (*numbers, *texts)}
        yield _rows(cells, numbers, texts, self.columns, len(self._records), lambda row: row + 1, "record")


class JsonColumns:
    """An object of columns ({name: [cells…]}), shorter columns padded with not-recorded cells."""

    def __init__(self, document: dict):
        if len(document) > MAX_FIELDS:
            raise RunFileError("too_many_columns", limit=MAX_FIELDS)
        self._lists = list(document.values())
        self.columns = [str(key) for key in document]

    def rows(self, numbers: list[int], texts: list[int] = ()):
        size = max(len(cells) for cells in self._lists)
        cells = {k: self._lists[k] + [None] * (size - len(self._lists[k])) for k in (*numbers, *texts)}
        yield _rows(cells, numbers, texts, self.columns, size, lambda row: row + 1, "record")


class JsonLines:
    """JSON Lines, one record a line, read in blocks; the columns are those of the first block's records."""

    def __init__(self, stream: Stream):
        self._blocks = csv_blocks(stream, quotes=False)
        self._first = _line_records(next(self._blocks))
        self.columns = _columns(self._first[0])

    def rows(self, numbers: list[int], texts: list[int] = ()):
        yield from self._rows_of(*self._first, numbers, texts)
        for block in self._blocks:
            yield from self._rows_of(*_line_records(block), numbers, texts)

    def _rows_of(self, records: list[dict], lines: list[int], numbers: list[int], texts: list[int]):
        if records:
            cells = {k: [record.get(self.columns[k]) for record in records] for k in (*numbers, *texts)}
            yield _rows(cells, numbers, texts, self.columns, len(records), lambda row: lines[row], "line")


def _line_records(block) -> tuple[list[dict], list[int]]:
    """A block of JSON Lines: its records and the line of each."""
    records, lines = [], []
    for offset, line in enumerate(block.data.split(b"\n")):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            raise RunFileError("json_line_unreadable", line=block.first_line + offset)
        records.append(record)
        lines.append(block.first_line + offset)
    return records, lines
