"""From (step, series, value) records to the run's History, with bounded memory.

Every layout gives records: a series is what one column, row group or tag holds the gradient of (a layer,
or one parameter of a layer); `layer_of` names the layer each series belongs to. Records are kept as
compact arrays (at most MAX_RECORD_BYTES of them); at the end they become one grid per field, steps ×
layers in forward order (the parameters of a layer combined as √Σ norm², or as their root mean square for
a per-entry statistic), and the grids become the History (at most MAX_RECORDED_LAYERS layers charted,
aggregates over all of them) and a heatmap of every layer (at most HEAT_ROWS rows of consecutive layers ×
HEAT_COLUMNS columns of consecutive steps, each cell the mean of log10 ‖∇‖ over what it covers).

In a grid, NOT_RECORDED (−1, below any norm) marks a step a layer was not recorded at; NaN and inf are
values the file wrote (symptoms, not gaps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gradviz.experiments.your_run.errors import RunFileError
from gradviz.experiments.your_run.names import forward_order
from gradviz.training.history import History, recorded_layers

FIELD_TYPES = {"grad": np.float64, "clipped": np.float64, "update": np.float32, "weight": np.float32}
MAX_RECORD_BYTES = 128 * 1024 * 1024
MAX_CELLS = 24_000_000  # steps × layers of one grid
NOT_RECORDED = -1.0
HEAT_ROWS = 120
HEAT_COLUMNS = 160
SUMMARY_CELLS = 262_144  # grid cells summarised at a time (2 MB a float array)
LOWEST_STEP = np.iinfo(np.int64).min


@dataclass(frozen=True, eq=False)
class Heatmap:
    """log10 ‖∇‖ per layer × step, binned: row r covers the layers first_layer[r]..last_layer[r] (0-based,
    forward order, names in `layer_names`), column c the steps first_time[c]..last_time[c]; log10[r, c] is the
    mean of the finite log10 norms in the cell (−inf where they are all exactly 0, NaN where nothing was
    recorded)."""

    layer_names: tuple
    first_layer: np.ndarray
    last_layer: np.ndarray
    first_time: np.ndarray
    last_time: np.ndarray
    log10: np.ndarray


@dataclass(frozen=True, eq=False)
class Grid:
    """The records as one grid per field (steps × layers in forward order, NOT_RECORDED where absent)."""

    times: np.ndarray
    layer_names: tuple
    order: str
    fields: dict
    loss: np.ndarray
    loss_recorded: np.ndarray


class Records:
    """Records gathered block by block. layer_of(series name) names the layer a series belongs to; `fields` are
    the norms recorded besides the gradient's."""

    def __init__(self, layer_of, fields: tuple = ()):
        self.layer_of = layer_of
        self.fields = ("grad",) + tuple(fields)
        self.code: dict[str, int] = {}
        self._steps, self._codes = [], []
        self._values = {field: [] for field in self.fields}
        self._loss_steps, self._loss, self._loss_sources = [], [], []
        self._last = np.zeros(0, dtype=np.int64)
        self._bytes = 0
        # at most: a step takes 4 bytes when it fits, a field that says nothing none
        self._record_bytes = 8 + 4 + sum(np.dtype(FIELD_TYPES[field]).itemsize for field in self.fields)

    def codes(self, series: np.ndarray) -> np.ndarray:
        """The codes of series names (an object array), new names coded in the order they first appear."""
        local, seen = pd.factorize(series)
        for name in seen:
            if name not in self.code:
                self.code[name] = len(self.code)
        return np.array([self.code[name] for name in seen], dtype=np.int32)[local]

    def add(self, steps: np.ndarray, codes: np.ndarray, values: dict, rows: np.ndarray, error) -> None:
        """Records (one per entry of steps, codes, values[field]); rows[k] is record k's row in its block and
        error(key, row, **params) the RunFileError about a row (a step that does not increase in its series)."""
        self._check_order(steps, codes, rows, error)
        self._bytes += len(steps) * self._record_bytes
        if self._bytes > MAX_RECORD_BYTES:
            raise RunFileError("too_many_values", limit=MAX_RECORD_BYTES // self._record_bytes)
        # copies: a column of a block's parsed frame would keep the whole frame alive
        self._steps.append(np.array(steps, dtype=np.int32 if _fits_int32(steps) else np.int64))
        self._codes.append(np.array(codes, dtype=np.int32))
        for field in self.fields:
            self._values[field].append(_compact(field, values))

    def add_loss(self, steps: np.ndarray, loss: np.ndarray, recorded: np.ndarray, source: str | None = None) -> None:
        """The loss at some steps (recorded False: the cell was empty), from `source` (a tag) if several hold it."""
        written = np.flatnonzero(recorded)
        _, first = np.unique(steps[written], return_index=True)  # one loss a step: long tables repeat it per layer
        keep = written[first]
        self._loss_sources.append(source)
        self._loss_steps.append(np.array(steps[keep], dtype=np.int64))
        self._loss.append(np.array(loss[keep], dtype=np.float64))

    def _check_order(self, steps: np.ndarray, codes: np.ndarray, rows: np.ndarray, error) -> None:
        if len(self._last) < len(self.code):
            self._last = np.concatenate([self._last, np.full(len(self.code) - len(self._last), LOWEST_STEP)])
        order = np.lexsort((np.arange(len(codes)), codes))
        s, c = steps[order], codes[order]
        starts = np.ones(len(c), dtype=bool)
        starts[1:] = c[1:] != c[:-1]
        previous = np.empty_like(s)
        previous[1:] = s[:-1]
        previous[starts] = self._last[c[starts]]
        bad = s <= previous
        if bad.any():
            at = int(np.argmin(np.where(bad, order, len(order))))
            raise error("steps_out_of_order", int(rows[order[at]]), step=int(s[at]), previous=int(previous[at]))
        ends = np.ones(len(c), dtype=bool)
        ends[:-1] = c[1:] != c[:-1]
        self._last[c[ends]] = s[ends]

    def grid(self, file_order_is_forward: bool, per_entry: bool = False, keep: frozenset | None = None,
             loss_source: str | None = None) -> Grid:
        """The records as one grid per field, the layers in forward order. per_entry: the statistic is per entry
        (an RMS, a mean |g|), not a norm; keep: the series to keep (None: all); loss_source: the loss's tag.
        Each block's records are placed and freed in turn, so memory holds the records or the grids, not both."""
        names = list(self.code)
        kept = [name for name in names if keep is None or name in keep]
        if not self._steps or not kept:
            raise RunFileError("no_rows")
        layer_of_series = {name: self.layer_of(name) for name in kept}
        layer_names = list(dict.fromkeys(layer_of_series.values()))
        if len(layer_names) < 2:
            raise RunFileError("one_layer")
        order, how = forward_order(layer_names, file_order_is_forward)
        position = np.empty(len(order), dtype=np.int32)
        position[order] = np.arange(len(order), dtype=np.int32)
        index_of = {name: k for k, name in enumerate(layer_names)}
        series_layer = np.array([position[index_of[layer_of_series[name]]] if name in layer_of_series else -1
                                 for name in names], dtype=np.int32)
        layers = [series_layer[codes] for codes in self._codes]
        self._codes = []
        times = np.unique(np.concatenate([np.unique(steps[layer >= 0]) for steps, layer in zip(self._steps, layers)]))
        shape = (len(times), len(layer_names))
        if shape[0] * shape[1] > MAX_CELLS:
            raise RunFileError("too_sparse", steps=shape[0], layers=shape[1])
        cells = []
        for layer in layers:
            steps = self._steps.pop(0)
            cells.append((np.searchsorted(times, steps[layer >= 0]) * shape[1] + layer[layer >= 0]).astype(np.int32))
        masks = [None if (layer >= 0).all() else layer >= 0 for layer in layers]
        del layers
        combine = _combined if len(kept) > len(layer_names) else _placed
        fields = {field: combine(cells, masks, self._values[field], shape, per_entry).astype(FIELD_TYPES[field],
                                                                                              copy=False)
                  for field in self.fields if field == "grad" or any(part is not None for part in self._values[field])}
        loss, recorded = self._losses(times, loss_source)
        return Grid(times, tuple(layer_names[k] for k in order), how, fields, loss, recorded)

    def _losses(self, times: np.ndarray, source: str | None) -> tuple[np.ndarray, np.ndarray]:
        """The first recorded loss at each step (NaN and False where none was)."""
        loss, recorded = np.full(len(times), np.nan), np.zeros(len(times), dtype=bool)
        parts = [k for k, name in enumerate(self._loss_sources) if name == source]
        if not parts:
            return loss, recorded
        steps, values = (np.concatenate([whole[k] for k in parts]) for whole in (self._loss_steps, self._loss))
        keep = np.isin(steps, times)
        steps, values = steps[keep], values[keep]
        _, first = np.unique(steps, return_index=True)
        at = np.searchsorted(times, steps[first])
        loss[at], recorded[at] = values[first], True
        return loss, recorded


def _fits_int32(steps: np.ndarray) -> bool:
    return not len(steps) or (steps.min() >= np.iinfo(np.int32).min and steps.max() <= np.iinfo(np.int32).max)


def _compact(field: str, values: dict) -> np.ndarray | None:
    """A block's values of one field, as a copy (a column of a parsed frame would keep the whole frame alive),
    or None when they say nothing: no value recorded, or a clipped norm equal to the gradient's (no clipping).
    Weight and update norms are kept in float32 (FIELD_TYPES): they only make a ratio, and a framework's float32
    weights have no finite norm beyond its range (one beyond reads as infinite: the weights blew up)."""
    if field != "grad" and (np.all(values[field] == NOT_RECORDED) or (
            field == "clipped" and np.array_equal(values[field], values["grad"], equal_nan=True))):
        return None
    with np.errstate(over="ignore"):
        return np.array(values[field], dtype=FIELD_TYPES[field])


def _values(cells: list, masks: list, parts: list):
    """(cells, values) of each block that recorded the field (the kept series), the parts list emptied as it
    goes so that each block is freed once used."""
    for cell, mask in zip(cells, masks):
        values = parts.pop(0)
        if values is not None:
            yield cell, values if mask is None else values[mask]


def _placed(cells: list, masks: list, parts: list, shape: tuple, per_entry: bool) -> np.ndarray:
    """One field's grid where each cell has at most one series (in the parts' own float type)."""
    kinds = [part.dtype for part in parts if part is not None]
    grid = np.full(shape, NOT_RECORDED, dtype=kinds[0] if kinds else np.float64)
    flat = grid.reshape(-1)
    for cell, values in _values(cells, masks, parts):
        flat[cell] = values
    return grid


def _combined(cells: list, masks: list, parts: list, shape: tuple, per_entry: bool) -> np.ndarray:
    """One field's grid where a cell combines several series (a layer's parameters) as √Σ v², scaled so that
    squares do not overflow (their root mean square if per_entry); inf if one is inf, NaN if one is NaN."""
    size = shape[0] * shape[1]
    scale, total, count = np.zeros(size), np.zeros(size), np.zeros(size)
    infinite, nan = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    blocks = []
    for cell, values in _values(cells, masks, parts):
        recorded = values != NOT_RECORDED
        cell, values = cell[recorded], values[recorded]
        magnitude = np.where(np.isfinite(values), np.abs(values), 0.0)
        np.maximum.at(scale, cell, magnitude)
        np.add.at(count, cell, 1.0)
        infinite[cell[np.isinf(values)]] = True
        nan[cell[np.isnan(values)]] = True
        blocks.append((cell, magnitude))
    for cell, magnitude in blocks:
        ratio = np.divide(magnitude, scale[cell], out=np.zeros_like(magnitude), where=scale[cell] > 0)
        np.add.at(total, cell, ratio * ratio)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        grid = scale * np.sqrt(total / count if per_entry else total)
    grid[infinite], grid[nan], grid[count == 0] = np.inf, np.nan, NOT_RECORDED
    return grid.reshape(shape)


def root_sum_square(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
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


def log10(values: np.ndarray) -> np.ndarray:
    """log10, with log10(0) = −inf and NaN kept, without warnings."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)


def _row_norms(grid: np.ndarray) -> np.ndarray:
    """√Σ over each row's recorded cells (NaN where none is recorded or one is NaN, inf where one is inf)."""
    rows, columns = np.nonzero(grid != NOT_RECORDED)
    total = root_sum_square(grid[rows, columns], rows, len(grid))
    total[np.bincount(rows, minlength=len(grid)) == 0] = np.nan
    return total


def _masked(grid: np.ndarray) -> np.ndarray:
    return np.where(grid == NOT_RECORDED, np.nan, grid)


def _heat_rows(n_layers: int) -> np.ndarray:
    """The first layer of each heatmap row: every layer, or HEAT_ROWS runs of consecutive layers."""
    return np.unique(np.linspace(0, n_layers, min(n_layers, HEAT_ROWS) + 1).astype(np.int64))[:-1]


def _bin_means(log10_values: np.ndarray, starts: np.ndarray, axis: int) -> np.ndarray:
    """The mean of the finite values over runs of the axis starting at `starts` (−inf where the run has only
    −inf, NaN where it has nothing)."""
    finite = np.isfinite(log10_values)
    total = np.add.reduceat(np.where(finite, log10_values, 0.0), starts, axis=axis)
    count = np.add.reduceat(finite.astype(np.float64), starts, axis=axis)
    zeros = np.add.reduceat((log10_values == -np.inf).astype(np.float64), starts, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return np.where(count > 0, mean, np.where(zeros > 0, -np.inf, np.nan))


def history_of(grid: Grid, time_label: str) -> tuple[History, Heatmap]:
    """The History and the heatmap of a run's grids, summarised a block of steps at a time into arrays made
    once (so memory holds the grids and the results, not a copy of them)."""
    n_steps, n_layers = grid.fields["grad"].shape
    charted = recorded_layers(n_layers)
    heat_starts = _heat_rows(n_layers)
    every = len(charted) == n_layers  # the charted grids can then overwrite the field's own, a block at a time
    out = {name: np.empty(n_steps) for name in ("low", "high", "before", "applied")}
    out["grad"] = grid.fields["grad"] if every else np.empty((n_steps, len(charted)))
    out["heat"] = np.empty((n_steps, len(heat_starts)), dtype=np.float32)
    if "update" in grid.fields and "weight" in grid.fields:
        out["ratio"] = grid.fields["update"] if every else np.empty((n_steps, len(charted)))
        out["step"] = np.empty(n_steps)
    block = max(1, SUMMARY_CELLS // n_layers)
    stopped = False
    for start in range(0, n_steps, block):
        stopped |= _summarise(grid.fields, slice(start, start + block), charted, heat_starts, out)
    for name, empty in (("low", np.inf), ("high", -np.inf), ("step", -np.inf)):
        if name in out:
            out[name][out[name] == empty] = np.nan
    history = History(
        time_label=time_label, times=grid.times, layers=charted,
        layer_names=tuple(grid.layer_names[k - 1] for k in charted), n_layers=n_layers,
        grad_log10=out["grad"], grad_min_log10=out["low"], grad_max_log10=out["high"], loss=grid.loss,
        update_loss=grid.loss.copy(), update_grad_log10=log10(out["before"]),
        update_applied_log10=log10(out["applied"]),
        update_weight_step=out.get("step", np.full(n_steps, np.nan)), weight_change=None,
        update_ratio_log10=out.get("ratio"), stopped_early=stopped, network=None,
        has_loss=bool(grid.loss_recorded.any()), update_times=grid.times, layer_order=grid.order,
        loss_recorded=grid.loss_recorded)
    return history, _heatmap(grid, heat_starts, out["heat"])


def _summarise(fields: dict, rows: slice, charted: np.ndarray, heat_starts: np.ndarray, out: dict) -> bool:
    """Fill out[...][rows] from the grids' rows; whether a recorded gradient or weight is NaN or infinite."""
    g = fields["grad"][rows]
    logs = log10(_masked(g))
    before = _row_norms(g)
    applied = before if "clipped" not in fields else _row_norms(fields["clipped"][rows])
    out["before"][rows] = before
    out["applied"][rows] = np.where(np.isnan(applied) & ~np.isnan(before), before, applied)
    stopped = bool(np.any(~np.isfinite(g)))
    out["heat"][rows] = _bin_means(logs, heat_starts, axis=1)
    out["low"][rows] = np.fmin.reduce(logs, axis=1, initial=np.inf, where=~np.isnan(logs))
    out["high"][rows] = np.fmax.reduce(logs, axis=1, initial=-np.inf, where=~np.isnan(logs))
    out["grad"][rows] = logs[:, charted - 1]
    if "ratio" in out:
        w, u = fields["weight"][rows], fields["update"][rows]
        stopped |= bool(np.any(~np.isfinite(w)))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where((w == NOT_RECORDED) | (u == NOT_RECORDED), np.nan, u / w)
        out["step"][rows] = np.fmax.reduce(ratio, axis=1, initial=-np.inf, where=~np.isnan(ratio))
        out["ratio"][rows] = log10(ratio[:, charted - 1])
    return stopped


def _heatmap(grid: Grid, layer_starts: np.ndarray, per_step: np.ndarray) -> Heatmap:
    n_layers, n_steps = len(grid.layer_names), len(grid.times)
    step_starts = np.unique(np.linspace(0, n_steps, min(n_steps, HEAT_COLUMNS) + 1).astype(np.int64))[:-1]
    cells = _bin_means(per_step.astype(np.float64), step_starts, axis=0).T
    step_ends = np.append(step_starts[1:], n_steps) - 1
    layer_ends = np.append(layer_starts[1:], n_layers) - 1
    return Heatmap(grid.layer_names, layer_starts, layer_ends, grid.times[step_starts], grid.times[step_ends], cells)
