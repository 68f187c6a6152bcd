"""Your own run: read a per-layer gradient log from a real training run into a History.

Two layouts are accepted; which one is read from the header (`load_run` says which):

long  step,layer,grad_norm[,loss,weight_norm,update_norm,clipped_norm], one row per recorded step and layer,
      as examples/record_pytorch.py and examples/record_keras.py write it. Layers keep the order in which
      they first appear (the recorders write them in forward order).
wide  one row per step, one column per layer or per parameter, as a TensorBoard or W&B export gives: a step
      column (global_step, step, Step or _step) and columns named <gradient word>/<parameter>, such as
      grad_norm/encoder.0, gradients/layer1.weight, grad_2.0_norm/fc.bias (Lightning) or
      gradients/dense_1/kernel (Keras); a W&B panel's "<run> - " prefix is dropped. The parameters of one
      layer (encoder.0.weight, encoder.0.bias) are combined as √Σ norm². A loss column (loss, train/loss,
      train_loss) is read when there is one; every other column is ignored.

Cells. nan and inf are recorded values — symptoms to show, not errors. An empty cell (or NA, null, None) is
a value that was not recorded: in the wide format a layer left empty on a row was not recorded at that
step, and a row with no gradient recorded is skipped; in the long format every row is a record, so an
empty grad_norm reads as NaN (pandas writes NaN as an empty cell). As in pandas, a row shorter than the
header has empty cells at its end, and fields beyond the header are ignored.

Bad files raise one RunFileError (a ValueError) whose `key` names its message in gradviz/page/text/run.toml
and whose `params` are numbers and column names only, never a cell's contents. Nothing is written to disk.

Formulas. A layer name that starts with =, +, -, @, a tab or a carriage return is refused, not kept as text:
no framework names a layer that way, so such a cell means a spreadsheet or a hand touched the file, and
refusing it keeps it out of the charts and out of any CSV the page exports, where a spreadsheet would run
it (CSV injection). A number column needs no such rule: a cell there is a number or an error.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gradviz.page.i18n import t
from gradviz.training.history import History, recorded_layers

MAX_BYTES = 200 * 1024 * 1024  # Streamlit's default upload cap, server.maxUploadSize = 200 (MB)
MAX_ROWS = 1_000_000
MAX_CELLS = 10_000_000  # numbers parsed from a wide table, and steps × charted layers in the record

REQUIRED_COLUMNS = ("step", "layer", "grad_norm")
OPTIONAL_COLUMNS = ("loss", "weight_norm", "update_norm", "clipped_norm")
NORM_COLUMNS = ("grad_norm", "weight_norm", "update_norm", "clipped_norm")
STEP_COLUMNS = ("global_step", "step", "_step")  # wide format, lower-cased, the first one present wins
LOSS_COLUMNS = ("loss", "train/loss", "train_loss")
GRADIENT_WORD = re.compile(r"grad(ient)?s?([_-]?(2(\.0)?_)?norms?)?", re.IGNORECASE)
PARAMETER_NAME = re.compile(r"(\w+_)?(weight|bias|kernel|gamma|beta|scale|embeddings)(_\w+)?", re.IGNORECASE)
NAN_TEXTS = ("nan", "NaN", "NAN", "-nan", "-NaN", "+nan", "+NaN")
MISSING_TEXTS = ("", "NA", "N/A", "null", "NULL", "None", "<NA>")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class RunFileError(ValueError):
    """A file that cannot be read as a run: `key` is its message id (run.*), `params` fill the message."""

    def __init__(self, key: str, **params):
        self.key = f"run.{key}"
        self.params = params
        super().__init__(t(self.key, "en", **params))


@dataclass(frozen=True, eq=False)
class RunFile:
    """A run read from a file: its record and the layout it was read as, "long" or "wide".

    The page's summary line is the message f"run.read_{layout}" with layers=n_layers, steps=n_steps.
    """

    history: History
    layout: str

    @property
    def n_layers(self) -> int:
        """Layers in the file (the record charts at most MAX_RECORDED_LAYERS of them)."""
        return self.history.n_layers

    @property
    def n_steps(self) -> int:
        """Recorded steps."""
        return len(self.history.times)


@dataclass(frozen=True, eq=False)
class _Records:
    """One entry per recorded (step, layer), in file order; the optional norms are None when not in the file."""

    steps: np.ndarray
    layers: np.ndarray
    names: tuple
    grad_norm: np.ndarray
    loss: np.ndarray
    has_loss: bool
    loss_not_finite: bool
    weight_norm: np.ndarray | None = None
    update_norm: np.ndarray | None = None
    clipped_norm: np.ndarray | None = None


def read_run(source) -> History:
    """The record of a run's per-layer gradient log: a path, bytes, or a binary file-like object (an upload)."""
    return load_run(source).history


def load_run(source) -> RunFile:
    """Read a run's gradient log (see the module docstring) and say which layout it was read as."""
    data = _bytes_of(source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RunFileError("encoding") from None
    if not text.strip():
        raise RunFileError("empty")
    columns = _header(data)
    names = {column.strip().lower(): column for column in reversed(columns)}
    duplicated = _duplicated(text)
    if "layer" in names or "grad_norm" in names:
        _check_unique(duplicated, REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        return RunFile(_history(_long_records(data, text, columns, names)), "long")
    if parameters := {column: parameter for column in columns if (parameter := _parameter_of(column))}:
        _check_unique(duplicated, [*filter(_parameter_of, duplicated), *STEP_COLUMNS, *LOSS_COLUMNS])
        return RunFile(_history(_wide_records(data, text, columns, names, parameters)), "wide")
    if any(_is_number(column) for column in columns):
        raise RunFileError("no_header")
    raise RunFileError("no_gradient_columns")


# --- bytes, header and parsing ------------------------------------------------------------------------


def _bytes_of(source) -> bytes:
    """The file's bytes, refusing more than MAX_BYTES before reading them when the size is known."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        _check_size(os.path.getsize(source))
        with open(source, "rb") as file:
            data = file.read()
    else:
        if getattr(source, "seekable", lambda: False)():
            start = source.tell()
            _check_size(source.seek(0, io.SEEK_END) - start)
            source.seek(start)
        data = source.read(MAX_BYTES + 1)
        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    _check_size(len(data))
    return data


def _check_size(n_bytes: int) -> None:
    if n_bytes > MAX_BYTES:
        raise RunFileError("too_large", limit_mb=MAX_BYTES // (1024 * 1024))


def _header(data: bytes) -> list[str]:
    """The column names, as pandas reads them."""
    try:
        return [str(column) for column in pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise RunFileError("empty") from None
    except pd.errors.ParserError:
        raise RunFileError("unreadable") from None


def _duplicated(text: str) -> dict[str, str]:
    """{lower-cased name: name} of the column names that the header holds more than once (spaces stripped):
    pandas would rename the second one (grad_norm → grad_norm.1), and a wide table would take it for a layer."""
    try:
        header = next((row for row in csv.reader(io.StringIO(text, newline="")) if row), [])
    except csv.Error:  # the csv module's limits (field size) are stricter than pandas'
        return {}
    counts = Counter(name.strip().lower() for name in header)
    return {name.strip().lower(): name.strip() for name in reversed(header) if counts[name.strip().lower()] > 1}


def _check_unique(duplicated: dict[str, str], used) -> None:
    """Refuse a header that holds a column the reader uses more than once."""
    if name := next((name for name in used if name in duplicated), None):
        raise RunFileError("duplicate_column", column=duplicated[name])


def _parse(data: bytes, text: str, numbers: list[str], texts: list[str] = ()) -> pd.DataFrame:
    """The columns `numbers` as float64 and `texts` as strings, at most MAX_ROWS rows (MAX_CELLS numbers)."""
    limit = min(MAX_ROWS, MAX_CELLS // len(numbers))
    try:
        frame = _read(data, numbers, texts, nrows=limit + 1)
    except pd.errors.ParserError:
        raise RunFileError("unreadable") from None
    except ValueError:
        raise _text_in_numbers(data, text, numbers) from None
    if len(frame) > limit:
        raise RunFileError("too_many_rows", limit=limit)
    if frame.empty:
        raise RunFileError("no_rows")
    return frame


def _read(data: bytes, numbers: list[str], texts: list[str] = (), nrows: int = MAX_ROWS + 1) -> pd.DataFrame:
    """pandas' C parser on the columns `numbers` (float64, nan and the missing texts as NaN) and `texts` (str)."""
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", usecols=[*numbers, *texts],
                       dtype={**{c: "float64" for c in numbers}, **{c: str for c in texts}},
                       na_values={**{c: NAN_TEXTS + MISSING_TEXTS for c in numbers}, **{c: [""] for c in texts}},
                       keep_default_na=False, nrows=nrows)


def _parses(data: bytes, column: str) -> bool:
    """Whether every cell of a number column reads as a number (or nan, or missing)."""
    try:
        _read(data, [column])
    except ValueError:
        return False
    return True


def _texts(data: bytes, columns: list[str]) -> pd.DataFrame:
    """The columns' cells exactly as written, at most MAX_ROWS + 1 rows."""
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", usecols=columns, dtype=str,
                       keep_default_na=False, nrows=MAX_ROWS + 1)


def _text_in_numbers(data: bytes, text: str, numbers: list[str]) -> RunFileError:
    """The error for the first cell of a number column that is not a number (found again, column by column)."""
    failing = [column for column in numbers if not _parses(data, column)]
    if not failing:
        return RunFileError("unreadable")
    cells = _texts(data, failing)
    found = []
    for position, column in enumerate(failing):
        values = cells[column]
        bad = ~(values.isna() | values.isin(NAN_TEXTS + MISSING_TEXTS)) & pd.to_numeric(values, errors="coerce").isna()
        if bad.any():
            found.append((int(np.argmax(bad.to_numpy())), position, column))
    if not found:
        return RunFileError("unreadable")
    row, _, column = min(found)
    return RunFileError("not_a_number", line=_line_of(text, row), column=column.strip())


def _written_nans(data: bytes, values: np.ndarray, columns: list[str]) -> np.ndarray:
    """(rows, columns): True where a NaN in `values`, read from the file's `columns`, is a written nan (a
    recorded value), not an empty cell."""
    written = np.zeros(values.shape, dtype=bool)
    with_nan = [k for k in range(len(columns)) if np.isnan(values[:, k]).any()]
    if with_nan:
        cells = _texts(data, [columns[k] for k in with_nan])
        for k in with_nan:
            written[:, k] = cells[columns[k]].isin(NAN_TEXTS).to_numpy()[: len(values)]
    return written


def _line_of(text: str, row: int) -> int:
    """The 1-based line where data row `row` (0-based, blank lines skipped as pandas does) starts."""
    reader = csv.reader(io.StringIO(text, newline=""))
    index, end = -1, 0  # the header is row -1
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not cells:
                continue
            if index == row:
                return start
            index += 1
    except csv.Error:  # the csv module's limits (field size) are stricter than pandas'
        pass
    return row + 2


def _first(bad: np.ndarray) -> int | None:
    """The index of the first True, or None."""
    return int(np.argmax(bad)) if bad.any() else None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# --- the two layouts ----------------------------------------------------------------------------------


def _long_records(data: bytes, text: str, columns: list[str], names: dict[str, str]) -> _Records:
    """The records of a long table: one row per step and layer."""
    for column in REQUIRED_COLUMNS:
        if column not in names:
            raise RunFileError("missing_column", column=column)
    optional = [c for c in OPTIONAL_COLUMNS if c in names]
    numbers = ["step", "grad_norm", *optional]
    frame = _parse(data, text, [names[c] for c in numbers], [names["layer"]])
    frame = frame.rename(columns={names[c]: c for c in ["layer", *numbers]})
    steps = _whole_steps(frame["step"].to_numpy(), text)
    layer_cells = frame["layer"]
    if (row := _first(layer_cells.isna().to_numpy())) is not None:
        raise RunFileError("empty_cell", line=_line_of(text, row), column="layer")
    codes, layer_names = pd.factorize(layer_cells)
    layer_names = tuple(str(name) for name in layer_names)
    formulas = [k for k, name in enumerate(layer_names) if name.startswith(FORMULA_STARTS)]
    if formulas:
        raise RunFileError("formula", line=_line_of(text, _first(np.isin(codes, formulas))),
                           column=columns.index(names["layer"]) + 1)
    _check_norms(frame, [c for c in NORM_COLUMNS if c in frame], text)
    _check_order(steps, codes, text)
    loss, has_loss, loss_not_finite = _loss(data, frame, "loss", names.get("loss"))
    optional_norms = {c: frame[c].to_numpy() for c in ("weight_norm", "update_norm", "clipped_norm") if c in frame}
    return _Records(steps=steps, layers=codes.astype(np.int64), names=layer_names,
                    grad_norm=frame["grad_norm"].to_numpy(), loss=loss, has_loss=has_loss,
                    loss_not_finite=loss_not_finite, **optional_norms)


def _wide_records(data: bytes, text: str, columns: list[str], names: dict[str, str],
                  parameters: dict[str, str]) -> _Records:
    """The records of a wide table: one row per step, one column per layer or parameter."""
    step_column = next((names[c] for c in STEP_COLUMNS if c in names), None)
    if step_column is None:
        raise RunFileError("missing_column", column="step")
    layer_of = {column: _layer_of(parameter) for column, parameter in parameters.items()}
    for column, layer in layer_of.items():
        if layer.startswith(FORMULA_STARTS):
            raise RunFileError("formula", line=1, column=columns.index(column) + 1)
    loss_column = next((names[c] for c in LOSS_COLUMNS if c in names), None)
    grads = list(layer_of)
    frame = _parse(data, text, [step_column, *grads, *([loss_column] if loss_column else [])])
    _check_norms(frame, grads, text)
    values = frame[grads].to_numpy()
    recorded = ~np.isnan(values) | _written_nans(data, values, grads)
    kept_rows = np.flatnonzero(recorded.any(axis=1))
    if not kept_rows.size:
        raise RunFileError("no_rows")
    steps = _whole_steps(frame[step_column].to_numpy()[kept_rows], text, kept_rows)
    _check_order(steps, np.zeros(len(steps), dtype=np.int64), text, kept_rows)
    loss, has_loss, loss_not_finite = _loss(data, frame, loss_column, loss_column)

    used = [k for k in range(len(grads)) if recorded[kept_rows, k].any()]
    layer_codes, layer_names = pd.factorize(pd.Series([layer_of[grads[k]] for k in used], dtype=object))
    rows, cells = np.nonzero(recorded[np.ix_(kept_rows, used)])
    keys, group = np.unique(rows * len(layer_names) + layer_codes[cells], return_inverse=True)
    grad_norm = _root_sum_square(values[kept_rows[rows], np.asarray(used, dtype=np.int64)[cells]], group, len(keys))
    record_rows = keys // len(layer_names)
    return _Records(steps=steps[record_rows], layers=(keys % len(layer_names)).astype(np.int64),
                    names=tuple(str(name) for name in layer_names), grad_norm=grad_norm,
                    loss=loss[kept_rows[record_rows]], has_loss=has_loss, loss_not_finite=loss_not_finite)


def _loss(data: bytes, frame: pd.DataFrame, column: str | None, file_column: str | None):
    """(the loss on each row, NaN where absent; whether the file records a loss; whether a recorded loss is
    nan or ±inf), from the frame's `column`, which the file names `file_column` (None: no loss column)."""
    if file_column is None:
        return np.full(len(frame), np.nan), False, False
    loss = frame[column].to_numpy()
    written = _written_nans(data, loss[:, None], [file_column])[:, 0]
    return loss, bool((~np.isnan(loss) | written).any()), bool(np.isinf(loss).any() or written.any())


def _parameter_of(column: str) -> str | None:
    """What a wide column holds the gradient norm of ('grad_norm/encoder.0.weight' → 'encoder.0.weight'), or None.

    The column's first path part that is a gradient word starts the parameter; a column with nothing after
    it (train/grad_norm, a global norm) and a W&B panel's __MIN / __MAX columns are not per-layer.
    """
    metric = column.strip().rsplit(" - ", 1)[-1]
    if metric.endswith(("__MIN", "__MAX")):
        return None
    parts = metric.split("/")
    word = next((k for k, part in enumerate(parts) if GRADIENT_WORD.fullmatch(part)), None)
    if word is None or word == len(parts) - 1:
        return None
    return "/".join(parts[word + 1:])


def _layer_of(parameter: str) -> str:
    """The layer a parameter belongs to: 'encoder.0.weight' → 'encoder.0', 'dense_1/kernel' → 'dense_1'."""
    for separator in ("/", "."):
        layer, _, last = parameter.rpartition(separator)
        if layer and PARAMETER_NAME.fullmatch(last):
            return layer
    return parameter


def _whole_steps(steps: np.ndarray, text: str, rows: np.ndarray | None = None) -> np.ndarray:
    """The step column as int64, or the error for the first step that is missing or not a whole number."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(steps) | (steps != np.round(steps)) | (np.abs(steps) > 2.0**53)
    if (row := _first(bad)) is not None:
        raise RunFileError("step_not_whole", line=_line_of(text, row if rows is None else int(rows[row])))
    return steps.astype(np.int64)


def _check_norms(frame: pd.DataFrame, columns: list[str], text: str) -> None:
    """Refuse the first negative norm (a NaN is not negative; −inf is)."""
    found = [(row, position, column) for position, column in enumerate(columns)
             if (row := _first(frame[column].to_numpy() < 0)) is not None]
    if found:
        row, _, column = min(found)
        raise RunFileError("negative_norm", line=_line_of(text, row), column=column.strip())


def _check_order(steps: np.ndarray, layers: np.ndarray, text: str, rows: np.ndarray | None = None) -> None:
    """Refuse the first record whose step is not above the previous step of its layer."""
    order = np.argsort(layers, kind="stable")
    same_layer = layers[order][1:] == layers[order][:-1]
    bad = same_layer & (steps[order][1:] <= steps[order][:-1])
    if bad.any():
        at = int(np.min(order[1:][bad]))
        previous = int(steps[order[np.flatnonzero(order == at)[0] - 1]])
        row = at if rows is None else int(rows[at])
        raise RunFileError("steps_out_of_order", line=_line_of(text, row), step=int(steps[at]), previous=previous)


# --- the record ---------------------------------------------------------------------------------------


def _history(records: _Records) -> History:
    """The History of a run's records (see gradviz.training.history)."""
    n_layers = len(records.names)
    if n_layers < 2:
        raise RunFileError("one_layer")
    times, first, step_index = np.unique(records.steps, return_index=True, return_inverse=True)
    n_steps = len(times)
    layers = recorded_layers(n_layers)
    if n_steps * len(layers) > MAX_CELLS:
        raise RunFileError("too_sparse", steps=n_steps, layers=n_layers)
    column_of = np.full(n_layers, -1)
    column_of[layers - 1] = np.arange(len(layers))

    def grid(values: np.ndarray) -> np.ndarray:
        charted = column_of[records.layers] >= 0
        out = np.full((n_steps, len(layers)), np.nan)
        out[step_index[charted], column_of[records.layers[charted]]] = values[charted]
        return out

    grad = records.grad_norm
    before = _root_sum_square(grad, step_index, n_steps)
    applied = before
    if records.clipped_norm is not None:
        clipped = _root_sum_square(records.clipped_norm, step_index, n_steps)
        applied = np.where(np.isnan(clipped), before, clipped)
    ratio = None
    weight_step = np.full(n_steps, np.nan)
    if records.weight_norm is not None and records.update_norm is not None:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = records.update_norm / records.weight_norm
        np.fmax.at(weight_step, step_index, ratio)
    smallest, largest = np.full(n_steps, np.nan), np.full(n_steps, np.nan)
    np.fmin.at(smallest, step_index, grad)
    np.fmax.at(largest, step_index, grad)
    loss = records.loss[first]
    return History(
        time_label="step", times=times, layers=layers, layer_names=records.names, n_layers=n_layers,
        grad_log10=_log10(grid(grad)), grad_min_log10=_log10(smallest), grad_max_log10=_log10(largest),
        loss=loss, update_loss=loss.copy(), update_grad_log10=_log10(before),
        update_applied_log10=_log10(applied), update_weight_step=weight_step, weight_change=None,
        update_ratio_log10=None if ratio is None else _log10(grid(ratio)),
        stopped_early=bool(not np.isfinite(grad).all() or records.loss_not_finite), network=None,
        has_loss=records.has_loss)


def _root_sum_square(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """√Σ values² within each group, scaled so that squares do not overflow (only a norm above float64's
    largest, 1.8e308, becomes inf); ±inf gives inf, NaN gives NaN."""
    magnitude = np.where(np.isfinite(values), np.abs(values), 0.0)
    scale = np.zeros(n_groups)
    np.maximum.at(scale, groups, magnitude)
    ratio = np.divide(magnitude, scale[groups], out=np.zeros_like(magnitude), where=scale[groups] > 0)
    with np.errstate(over="ignore"):
        total = scale * np.sqrt(np.bincount(groups, weights=ratio * ratio, minlength=n_groups))
    total[np.bincount(groups, weights=np.isinf(values), minlength=n_groups) > 0] = np.inf
    total[np.bincount(groups, weights=np.isnan(values), minlength=n_groups) > 0] = np.nan
    return total


def _log10(values: np.ndarray) -> np.ndarray:
    """log10, with log10(0) = −inf and NaN kept, without warnings."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)
