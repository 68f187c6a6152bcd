"""A table read block by block, whatever file it came from: its column names, then its rows in blocks, only the
columns asked for, numbers as float64 arrays and names as object arrays.

Cells. nan and inf are recorded values — symptoms to show, not errors. An empty cell (or NA, null, None) is a
value that was not recorded; `Rows.written_nan` tells a written nan from an empty cell where it matters.
As in pandas, a row shorter than the header has empty cells at its end, and fields beyond the header are
ignored.

CSV. The header is read with the csv module from its own line, after its fields are counted (at most
MAX_FIELDS: pandas' header parse costs ~75 µs a column); each block of rows goes to pandas' C parser with
`usecols`, so a row's unused fields are split but never converted (and index_col=False, without which pandas
misreads a first row longer than the header).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from gradviz.experiments.your_run.errors import RunFileError
from gradviz.experiments.your_run.source import Block, Stream, csv_blocks

MAX_FIELDS = 20_000
NAN_TEXTS = ("nan", "NaN", "NAN", "-nan", "-NaN", "+nan", "+NaN")
MISSING_TEXTS = ("", "NA", "N/A", "null", "NULL", "None", "<NA>")
NAN_PATTERN = re.compile(rb"nan", re.IGNORECASE)
BOM = b"\xef\xbb\xbf"


@dataclass(eq=False)
class Rows:
    """One block of a table's rows: numbers[column] (float64, NaN where empty or nan) and texts[column] (object,
    NaN where empty), indexed by column position. place is "line" or "record", what `where(row)` counts."""

    size: int
    numbers: dict
    texts: dict
    where: Callable[[int], int]
    place: str = "line"
    written: Callable[[list], dict] | None = None
    _cache: dict = field(default_factory=dict)

    def written_nan(self, column: int) -> np.ndarray:
        """True where a NaN of number column `column` was written (nan), not an empty cell."""
        if self.written is None or not np.isnan(self.numbers[column]).any():
            return np.zeros(self.size, dtype=bool)
        if column not in self._cache:
            with_nan = [k for k, values in self.numbers.items() if np.isnan(values).any()]
            self._cache.update(self.written(with_nan))
        return self._cache[column]

    def error(self, key: str, row: int, **params) -> RunFileError:
        """The error `key` about row `row`, said at its line (or record)."""
        prefix = "" if self.place == "line" else "record."
        return RunFileError(prefix + key, line=self.where(row), **params)


class CsvTable:
    """A CSV file's header and its rows in blocks (see the module docstring)."""

    def __init__(self, stream: Stream):
        self._blocks = csv_blocks(stream)
        self.columns, self._first = self._header()

    def _header(self) -> tuple[list[str], Block]:
        for block in self._blocks:
            data = block.data.removeprefix(BOM) if block.first_line == 1 else block.data
            if b"\x00" in data:  # UTF-16 or -32 without a byte-order mark, or a binary file
                raise RunFileError("encoding")
            text = data.lstrip(b" \t\r\n")
            if not text:
                continue
            line = block.first_line + data[: len(data) - len(text)].count(b"\n")
            end = text.find(b"\n")
            end = len(text) if end < 0 else end
            header = text[:end]
            if header.count(b",") + 1 > MAX_FIELDS:
                raise RunFileError("too_many_columns", limit=MAX_FIELDS)
            try:
                names = next(csv.reader([header.decode("utf-8").rstrip("\r")]))
            except UnicodeDecodeError:
                raise RunFileError("encoding") from None
            except csv.Error:
                raise RunFileError("unreadable") from None
            return names, Block(line + 1, text[end + 1:])
        raise RunFileError("empty")

    def rows(self, numbers: list[int], texts: list[int] = ()):
        """The rows in blocks (Rows), with the columns `numbers` as float64 and `texts` as strings."""
        yield from self._parsed(self._first, numbers, texts)
        for block in self._blocks:
            yield from self._parsed(block, numbers, texts)

    def _parsed(self, block: Block, numbers: list[int], texts: list[int]):
        if not block.data.strip():
            return
        frame = self._read(block, numbers, texts)
        if frame is None or not len(frame):
            return
        lines = []

        def where(row: int) -> int:
            if not lines:
                lines.append(block.row_lines())
            return int(lines[0][row])

        matrix = frame[numbers].to_numpy(dtype=np.float64)
        yield Rows(len(frame), {c: matrix[:, j] for j, c in enumerate(numbers)},
                   {c: frame[c].to_numpy(dtype=object) for c in texts}, where,
                   written=lambda columns: self._written(block, columns, len(frame)))

    def _read(self, block: Block, numbers: list[int], texts: list[int]) -> pd.DataFrame | None:
        try:
            return _read_csv(block.data, len(self.columns), numbers, texts)
        except UnicodeDecodeError:
            raise RunFileError("encoding") from None
        except pd.errors.EmptyDataError:
            return None
        except pd.errors.ParserError:
            raise RunFileError("unreadable") from None
        except ValueError:
            raise self._not_a_number(block, numbers) from None

    def _written(self, block: Block, columns: list[int], size: int) -> dict[int, np.ndarray]:
        """{column: where its cell is a written nan} for the block's number columns `columns`."""
        if not NAN_PATTERN.search(block.data):
            return {column: np.zeros(size, dtype=bool) for column in columns}
        cells = _read_texts(block.data, len(self.columns), columns)
        return {column: cells[column].isin(NAN_TEXTS).to_numpy()[:size] for column in columns}

    def _not_a_number(self, block: Block, numbers: list[int]) -> RunFileError:
        """The error for the first cell of a number column that is not a number."""
        cells = _read_texts(block.data, len(self.columns), numbers)
        found = []
        for position, column in enumerate(numbers):
            values = cells[column].fillna("").str.strip()
            bad = ~values.isin(NAN_TEXTS + MISSING_TEXTS) & pd.to_numeric(values, errors="coerce").isna()
            if bad.any():
                found.append((int(np.argmax(bad.to_numpy())), position, column))
        if not found:
            return RunFileError("unreadable")
        row, _, column = min(found)
        lines = block.row_lines()
        return RunFileError("not_a_number", line=int(lines[row]), column=self.columns[column].strip())


def _read_csv(data: bytes, n_columns: int, numbers: list[int], texts: list[int]) -> pd.DataFrame:
    """pandas' C parser on the columns `numbers` (float64; nan and the missing texts NaN) and `texts` (str).
    Without text columns one dtype and one list of NaN texts serve every column: per-column dicts cost
    pandas ~0.1 ms a column, a wide table's thousands of columns included."""
    missing = list(NAN_TEXTS + MISSING_TEXTS)
    if texts:
        dtype = {**{c: "float64" for c in numbers}, **{c: str for c in texts}}
        na_values = {**{c: missing for c in numbers}, **{c: [""] for c in texts}}
    else:
        dtype, na_values = "float64", missing
    return pd.read_csv(io.BytesIO(data), header=None, names=list(range(n_columns)), usecols=[*numbers, *texts],
                       dtype=dtype, na_values=na_values, keep_default_na=False, encoding="utf-8",
                       skip_blank_lines=True, index_col=False)


def _read_texts(data: bytes, n_columns: int, columns: list[int]) -> pd.DataFrame:
    """The columns' cells exactly as written."""
    return pd.read_csv(io.BytesIO(data), header=None, names=list(range(n_columns)), usecols=columns, dtype=str,
                       na_filter=False, encoding="utf-8", skip_blank_lines=True, index_col=False)
