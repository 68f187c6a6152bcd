"""Your own run: a per-layer gradient log from a real training run, read into a History with bounded work.

What is read, detected from the content, never from the file's name:
    CSV          a long table (one row per step and layer or parameter: gradviz.record's recorders), a wide
                 table (one column per layer or parameter: TensorBoard and W&B exports) or TensorBoard
                 scalars in long form (tag, step, value) — see layouts.py
    JSON         a list of records, an object holding one, an object of columns or {layer: [values…]}, or
                 JSON Lines — see json_log.py
    events       a TensorBoard event file (events.out.tfevents.*): scalars and histograms — see events.py
and any of them gzip-compressed. A log kept per epoch (an `epoch` column, no step) is read per epoch; a
per-entry statistic (grad_rms, mean_abs_grad) is read as what it is, and the RunFile says which.

Bounded work (source.py, table.py): at most 200 MB (also once decompressed), a line of at most 1 MiB, a
header of at most 20,000 fields, all checked on the bytes before any parser runs; the rows are parsed in
blocks of ~4 MB, only the columns used, into float arrays; at most 128 MB of records are kept (records.py).
A file is answered — read, or refused with one RunFileError — in time proportional to its size.

Bad files raise one RunFileError (a ValueError) whose `key` names its message in gradviz/page/text/run.toml
and whose `params` are numbers and names from the file (a column or a tag), never a cell's contents; the page
shows those names as plain text. Nothing is written to disk. A RunFile pickles (it crosses a process boundary).
"""

from __future__ import annotations

from dataclasses import dataclass

from gradviz.experiments.your_run.errors import RunFileError
from gradviz.experiments.your_run.events import read_events
from gradviz.experiments.your_run.json_log import JsonLines, json_table
from gradviz.experiments.your_run.layouts import read_table
from gradviz.experiments.your_run.records import Heatmap, history_of
from gradviz.experiments.your_run.source import MAX_BYTES, decompressed, kind_of, opened
from gradviz.experiments.your_run.table import CsvTable
from gradviz.training.history import History

__all__ = ["MAX_BYTES", "Heatmap", "RunFile", "RunFileError", "load_run", "read_run"]


@dataclass(frozen=True, eq=False)
class RunFile:
    """A run read from a file: its record, the heatmap of every layer, and what was read how.

    file_format  "csv", "json", "json_lines" or "events"; compressed: it was gzip-compressed
    layout       "long", "wide", "tags" (tag, step, value), "bare" (JSON {layer: [values…]}) or "events"
    statistic    what a value is: "norm" (a gradient norm), "rms", "mean_abs" (per entry), "histogram" (√Σ g² of
                 a histogram, exact) or "buckets" (√Σ g² from a histogram's buckets, approximate)
    statistic_name  the column or the gradient word it was read from, as the file writes it ("" for bare names)
    loss_name    the loss column or tag, as the file writes it, or None
    """

    history: History
    heatmap: Heatmap
    file_format: str
    compressed: bool
    layout: str
    statistic: str
    statistic_name: str
    loss_name: str | None

    @property
    def n_layers(self) -> int:
        """Layers in the file (the record charts at most MAX_RECORDED_LAYERS of them; the heatmap all)."""
        return self.history.n_layers

    @property
    def n_steps(self) -> int:
        """Recorded steps (or epochs)."""
        return len(self.history.times)


def read_run(source) -> History:
    """The record of a run's per-layer gradient log: a path, bytes, or a binary file-like object (an upload)."""
    return load_run(source).history


def load_run(source) -> RunFile:
    """Read a run's gradient log (see the module docstring) and say what was read how."""
    with opened(source) as raw:
        stream = decompressed(raw)
        kind = kind_of(stream)
        if kind == "events":
            reading, file_format = read_events(stream), "events"
        elif kind == "json":
            table, bare = json_table(stream)
            reading = read_table(table, True, bare)
            file_format = "json_lines" if isinstance(table, JsonLines) else "json"
        else:
            reading, file_format = read_table(CsvTable(stream), True), "csv"
        grid = reading.records.grid(reading.file_order_is_forward, reading.per_entry, reading.keep,
                                    reading.loss_source)
    history, heatmap = history_of(grid, reading.time_label)
    return RunFile(history, heatmap, file_format, stream is not raw, reading.layout, reading.statistic,
                   reading.statistic_name, reading.loss_name)
