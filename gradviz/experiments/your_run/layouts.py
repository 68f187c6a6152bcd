"""The three layouts of a table, each detected from its column names, read into Records.

long  one row per step and layer (or parameter): a time column, a `layer` column (or `param`, or both),
      a gradient statistic column (grad_norm, grad_norm_mean, grad_rms, mean_abs_grad …) and optionally
      loss, weight_norm, update_norm, clipped_norm — as gradviz.record's recorders write it, and as hooks
      that log per parameter do (a weight row and a bias row of one layer at one step are combined).
tags  TensorBoard scalars in long form (tag, step, value), as tbparse or an EventAccumulator dump writes
      them: tags such as grad_2.0_norm/<parameter> or gradients/<layer>, and the loss under its tag.
wide  one row per step, one column per layer or parameter, as a TensorBoard or W&B export gives it:
      columns named <gradient word>/<parameter> (grad_norm/encoder.0, gradients/dense_1/kernel); empty
      cells are steps where that column was not recorded. From JSON, {layer: [values…]} is a wide table
      whose columns are the layers themselves.

A time column is global_step, step, _step, iteration or epoch (a log kept per epoch); a loss column is
loss, train/loss, train_loss, train_loss_step (Lightning) and the like, a W&B panel's "<run> - " prefix
dropped. Names that start with =, +, -, @, a tab or a carriage return are refused: no framework names a
layer that way, so such a cell means a spreadsheet or a hand touched the file, and refusing it keeps it
out of the charts and out of any CSV the page exports, where a spreadsheet would run it (CSV injection).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gradviz.experiments.your_run import names as n
from gradviz.experiments.your_run.errors import RunFileError
from gradviz.experiments.your_run.records import NOT_RECORDED, Records
from gradviz.experiments.your_run.table import Rows

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SERIES_SEPARATOR = "\x1f"  # between a layer and its parameter in a long table with both columns
STATISTIC_RANK = {"norm": 0, "rms": 1, "mean_abs": 2}


@dataclass(frozen=True)
class Reading:
    """What was read and how: the records, and the words for the page's summary line."""

    records: Records
    layout: str
    time_label: str
    statistic: str
    statistic_name: str
    loss_name: str | None
    file_order_is_forward: bool
    keep: frozenset | None = None
    loss_source: str | None = None

    @property
    def per_entry(self) -> bool:
        """Whether the statistic is per entry of the gradient (an RMS, a mean |g|), not a norm."""
        return self.statistic not in ("norm", "histogram")


def read_table(table, file_order_is_forward: bool, bare_series: bool = False) -> Reading:
    """The table's records, in the layout its column names show (see the module docstring)."""
    columns = table.columns
    time = n.first_present(columns, n.TIME_COLUMNS)
    tag, value = n.first_present(columns, n.TAG_COLUMNS), n.first_present(columns, n.VALUE_COLUMNS)
    layer = n.first_present(columns, n.LAYER_COLUMNS)
    parameter = n.first_present(columns, n.PARAMETER_COLUMNS)
    statistic = n.first_present(columns, n.STATISTICS)
    gradients = {k: found for k, column in enumerate(columns) if (found := n.parameter_of(column))}
    if tag is not None and value is not None:
        return _tags(table, _required(time, "step"), tag, value)
    if layer is not None or parameter is not None or (statistic is not None and not gradients):
        if layer is None and parameter is None:
            raise RunFileError("global_only", column=columns[statistic].strip())
        return _long(table, _required(time, "step"), layer, parameter, _required(statistic, "grad_norm"),
                     file_order_is_forward)
    if gradients:
        return _wide(table, _required(time, "step"), gradients)
    if bare_series:
        return _bare(table, time)
    if any(_is_number(column) for column in columns):
        raise RunFileError("no_header")
    if (total := next((c for c in columns if n.GRADIENT_WORD.fullmatch(n.normalized(c).rsplit("/", 1)[-1]
                                                                         .removesuffix("_total"))), None)):
        raise RunFileError("global_only", column=total.strip())
    raise RunFileError("no_gradient_columns")


def _required(index: int | None, name: str) -> int:
    if index is None:
        raise RunFileError("missing_column", column=name)
    return index


def check_unique(columns: list[str], used: list[int]) -> None:
    """Refuse a header that names a column it uses twice (after normalizing): which one would be meant?"""
    counts = Counter(n.normalized(column) for column in columns)
    repeated = next((columns[k] for k in used if counts[n.normalized(columns[k])] > 1), None)
    if repeated is not None:
        raise RunFileError("duplicate_column", column=repeated.strip())


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _time_label(columns: list[str], time: int | None) -> str:
    return "epoch" if time is not None and n.normalized(columns[time]) == "epoch" else "step"


# --- checks on a block of rows --------------------------------------------------------------------------------


def whole_steps(rows: Rows, values: np.ndarray, kept: np.ndarray | None = None) -> np.ndarray:
    """The time column as int64 (on the kept rows), or the error for the first one missing or not whole."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > 2.0**53)
    if bad.any():
        row = int(np.argmax(bad))
        raise rows.error("step_not_whole", row if kept is None else int(kept[row]))
    return values.astype(np.int64)


def check_names(rows: Rows, cells: np.ndarray, column: str, position: int) -> np.ndarray:
    """A name column's cells as strings; refuses an empty one and one that starts like a formula."""
    empty = pd.isna(cells)
    if empty.any():
        raise rows.error("empty_cell", int(np.argmax(empty)), column=column.strip())
    texts = cells.astype(str)
    formula = np.char.startswith(texts.astype("U"), FORMULA_STARTS[0])
    for start in FORMULA_STARTS[1:]:
        formula |= np.char.startswith(texts.astype("U"), start)
    if formula.any():
        raise rows.error("formula", int(np.argmax(formula)), column=position + 1)
    return texts


def check_norms(rows: Rows, values: dict[str, np.ndarray], kept: np.ndarray | None = None) -> None:
    """Refuse the first negative norm (a NaN is not negative; −inf is), in row order."""
    found = [(int(np.argmax(bad)), position, column) for position, (column, v) in enumerate(values.items())
             if (bad := v < 0).any()]
    if found:
        row, _, column = min(found)
        raise rows.error("negative_norm", row if kept is None else int(kept[row]), column=column.strip())


def recorded(rows: Rows, column: int) -> np.ndarray:
    """Where a number column holds a value (a number, or a written nan), not an empty cell."""
    return ~np.isnan(rows.numbers[column]) | rows.written_nan(column)


# --- the layouts ---------------------------------------------------------------------------------------------


def _long(table, time: int, layer: int | None, parameter: int | None, statistic: int,
          file_order_is_forward: bool) -> Reading:
    columns = table.columns
    optional = {field: k for field, name in zip(("weight", "update", "clipped"), n.OPTIONAL_NORMS)
                if (k := n.first_present(columns, (name,))) is not None}
    loss = n.first_present(columns, n.LOSS_COLUMNS)
    if layer is not None and parameter is not None:
        layer_of = lambda series: series.split(SERIES_SEPARATOR)[0]  # noqa: E731
    else:
        layer_of = n.layer_of
    name_columns = [k for k in (layer, parameter) if k is not None]
    kind = n.STATISTICS[n.normalized(columns[statistic])]
    records = Records(layer_of, tuple(optional))
    numbers = [time, statistic, *optional.values(), *([loss] if loss is not None else [])]
    check_unique(columns, numbers + name_columns)
    for rows in table.rows(numbers, name_columns):
        steps = whole_steps(rows, rows.numbers[time])
        texts = [check_names(rows, rows.texts[k], columns[k], k) for k in name_columns]
        series = texts[0] if len(texts) == 1 else np.char.add(np.char.add(texts[0].astype("U"), SERIES_SEPARATOR),
                                                                texts[1].astype("U")).astype(object)
        norms = {columns[k]: rows.numbers[k] for k in [statistic, *optional.values()]}
        check_norms(rows, norms)
        values = {"grad": rows.numbers[statistic]}
        for field, k in optional.items():
            values[field] = np.where(recorded(rows, k), rows.numbers[k], NOT_RECORDED)
        records.add(steps, records.codes(series), values, np.arange(rows.size), rows.error)
        if loss is not None:
            records.add_loss(steps, rows.numbers[loss], recorded(rows, loss))
    return Reading(records, "long", _time_label(columns, time), kind, columns[statistic].strip(),
                   None if loss is None else columns[loss].strip(), file_order_is_forward)


def _word_choice(words: list[str]) -> str:
    """The gradient word to read when a file holds several (grad_norm/… and grad_rms/…): a norm first."""
    return min(dict.fromkeys(words), key=lambda word: STATISTIC_RANK[n.statistic_of(word)])


def _wide(table, time: int, gradients: dict[int, tuple[str, str]]) -> Reading:
    columns = table.columns
    word = _word_choice([w for w, _ in gradients.values()])
    used = {k: parameter for k, (w, parameter) in gradients.items() if w == word}
    for k, parameter in used.items():
        if n.layer_of(parameter).startswith(FORMULA_STARTS):
            raise RunFileError("formula", line=1, column=k + 1)
    loss = n.first_present(columns, n.LOSS_COLUMNS)
    kind = n.statistic_of(word)
    records = Records(n.layer_of)
    grads = list(used)
    check_unique(columns, [time, *grads, *([loss] if loss is not None else [])])
    codes = records.codes(np.array([used[k] for k in grads], dtype=object))
    for rows in table.rows([time, *grads, *([loss] if loss is not None else [])]):
        _wide_rows(rows, records, time, grads, codes, columns, loss)
    return Reading(records, "wide", _time_label(columns, time), kind, word,
                   None if loss is None else columns[loss].strip(), False)


def _wide_rows(rows: Rows, records: Records, time: int | None, grads: list[int], codes: np.ndarray,
               columns: list[str], loss: int | None, first_step: int = 0) -> None:
    """One block of a wide table: the rows that recorded a gradient, as records."""
    present = np.column_stack([recorded(rows, k) for k in grads])
    kept = np.flatnonzero(present.any(axis=1))
    if not len(kept):
        return
    if time is None:
        steps = first_step + kept.astype(np.int64)
    else:
        steps = whole_steps(rows, rows.numbers[time][kept], kept)
    check_norms(rows, {columns[k]: rows.numbers[k][kept] for k in grads}, kept)
    at_row, at_column = np.nonzero(present[kept])
    values = np.column_stack([rows.numbers[k][kept] for k in grads])[at_row, at_column]
    records.add(steps[at_row], codes[at_column], {"grad": values}, kept[at_row], rows.error)
    if loss is not None:
        records.add_loss(steps, rows.numbers[loss][kept], recorded(rows, loss)[kept])


def _bare(table, time: int | None) -> Reading:
    """A JSON {layer: [values…]}: every column but the time and the loss is a layer."""
    columns = table.columns
    loss = n.first_present(columns, n.LOSS_COLUMNS)
    grads = [k for k in range(len(columns)) if k not in (time, loss)]
    if not grads:
        raise RunFileError("no_gradient_columns")
    for k in grads:
        if columns[k].startswith(FORMULA_STARTS):
            raise RunFileError("formula", line=1, column=k + 1)
    records = Records(str)
    check_unique(columns, [*([time] if time is not None else []), *grads])
    codes = records.codes(np.array([columns[k] for k in grads], dtype=object))
    start = 0
    for rows in table.rows([*([time] if time is not None else []), *grads, *([loss] if loss is not None else [])]):
        _wide_rows(rows, records, time, grads, codes, columns, loss, start)
        start += rows.size
    return Reading(records, "bare", _time_label(columns, time), "norm", "", None if loss is None else columns[loss],
                   True)


def _tags(table, time: int, tag: int, value: int) -> Reading:
    """TensorBoard scalars in long form: one row per tag and step."""
    columns = table.columns
    check_unique(columns, [time, tag, value])
    records = Records(lambda series: n.layer_of(series.split("/", 1)[1]))
    words, losses = {}, {}
    for rows in table.rows([time, value], [tag]):
        tags = check_names(rows, rows.texts[tag], columns[tag], tag)
        local, seen = pd.factorize(tags)
        kinds = np.array([_tag_kind(name, words, losses) for name in seen], dtype=object)[local]
        gradient, lost = kinds == "gradient", kinds == "loss"
        kept = np.flatnonzero(gradient | lost)
        if not len(kept):
            continue
        steps = np.zeros(rows.size, dtype=np.int64)
        steps[kept] = whole_steps(rows, rows.numbers[time][kept], kept)
        grad_rows = np.flatnonzero(gradient)
        check_norms(rows, {columns[value]: rows.numbers[value][grad_rows]}, grad_rows)
        series = np.array([f"{words[name][0]}/{words[name][1]}" if name in words else "" for name in seen],
                          dtype=object)[local]
        records.add(steps[grad_rows], records.codes(series[grad_rows]), {"grad": rows.numbers[value][grad_rows]},
                    grad_rows, rows.error)
        for name in seen:
            if name in losses:
                at = np.flatnonzero(tags == name)
                records.add_loss(steps[at], rows.numbers[value][at], recorded(rows, value)[at], source=name)
    return _tag_reading(records, words, losses, "tags", False)


def _tag_kind(name: str, words: dict, losses: dict) -> str:
    """"gradient" (noting its word and parameter in `words`), "loss" (noting it in `losses`) or "other"."""
    if (found := n.parameter_of(name)) is not None:
        words[name] = found
        return "gradient"
    if n.normalized(name) in n.LOSS_COLUMNS:
        losses[name] = n.LOSS_COLUMNS.index(n.normalized(name))
        return "loss"
    return "other"


def _tag_reading(records: Records, words: dict, losses: dict, layout: str, file_order_is_forward: bool,
                 statistic: str | None = None) -> Reading:
    """The Reading of tagged values: the series of the preferred gradient word, the preferred loss tag."""
    if not words:
        raise RunFileError("no_gradient_tags")
    word = _word_choice([w for w, _ in words.values()])
    keep = frozenset(f"{w}/{p}" for w, p in words.values() if w == word)
    loss = min(losses, key=losses.get) if losses else None
    return Reading(records, layout, "step", statistic or n.statistic_of(word), word, loss, file_order_is_forward,
                   keep, loss)
