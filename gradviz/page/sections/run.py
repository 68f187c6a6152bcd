"""Section 6, your own run: a per-layer gradient log in, the checklist and a verdict out.

The recorders (gradviz.record) with a copy button, the three-line workflow, then the run — an upload read in
the visitor's session only, or one of three shipped example runs: one line saying what was read (the
format, the layout, the statistic, the loss column, the layers' order, in the file's own step numbers), the
symptom checklist with its evidence and what to try first, a heatmap of every layer at every step, the
layers' gradient norms over the steps (thinned past 12, and said), the loss, the norm before and after
clipping, and each layer's update/weight ratio against CS231n's 10⁻³ rule of thumb.

Every name from the file (a column, a layer) is shown as plain text: `plain` escapes it wherever the page
renders Markdown, and charts draw text as text.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd

from gradviz.experiments.your_run import RunFile, RunFileError, load_run
from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.checklist import checklist_block
from gradviz.page.formatting import magnitude_text
from gradviz.page.i18n import Words, plain
from gradviz.page.jobs import Job
from gradviz.page.sections.common import clipping_chart, loss_chart, speeds_chart
from gradviz.page.state import PageState

EXAMPLES = ("vanishing", "exploding_clipped", "healthy")
RULE_OF_THUMB = 1e-3
RECORDERS = {"pytorch": "pytorch.py", "keras": "keras3.py"}


def load_example(name: str) -> RunFile:
    """One of the shipped example runs (gradviz/data/runs/<name>.csv)."""
    if name not in EXAMPLES:
        raise ValueError(f"name must be one of {EXAMPLES}, not {name!r}")
    return load_run(files("gradviz").joinpath("data", "runs", f"{name}.csv").read_bytes())


def jobs(state: PageState) -> dict:
    return {"example": Job(load_example, (str(state.value("example")),), "jobs.run", 0.05)}


def recorder_code(name: str) -> str:
    """The recorder's source (gradviz/record/), to copy next to a training script."""
    return files("gradviz.record").joinpath(RECORDERS[name]).read_text(encoding="utf-8")


def error_text(error: RunFileError, words: Words, name=plain) -> str:
    """The error's one sentence; name(text) shows the names it quotes from the file (plain text on the page)."""
    return words(error.key, **{k: name(v) if isinstance(v, str) else v for k, v in error.params.items()})


def read_line(run: RunFile, source: str, words: Words, name=plain) -> str:
    """What was read, how: the format, the layout, layers and steps, the statistic, the loss, the order;
    name(text) shows a name from the file (plain text on the page, as it is on a terminal)."""
    history = run.history
    file_format = words(f"run.format.{run.file_format}")
    if run.compressed:
        file_format = words("run.format.compressed", format=file_format)
    statistic = words("run.statistic.bare") if not run.statistic_name else \
        words(f"run.statistic.{run.statistic}", name=name(run.statistic_name))
    loss = words("run.loss.none") if run.loss_name is None else words("run.loss.column", name=name(run.loss_name))
    times = history.times
    return words("run.read", source=words(f"run.source.{source}"), format=file_format,
                 layout=words(f"run.layout.{run.layout}"), layers=run.n_layers, steps=run.n_steps,
                 unit=words(f"run.unit.{history.time_label}"), first=int(times[0]), last=int(times[-1]),
                 statistic=statistic, loss=loss, order=words(f"run.order.{history.layer_order}"))


def _ratio_chart(history, words: Words) -> b.Chart | None:
    """Each drawn layer's ‖ΔW‖ / ‖W‖ per recorded step, against the 10⁻³ rule of thumb."""
    if history.update_ratio_log10 is None:
        return None
    drawn = charts.thinned_values(history.layers, charts.MAX_LINES)
    columns = np.isin(history.layers, drawn)
    r, k = history.update_ratio_log10[:, columns].shape
    names = np.array(history.layer_names, dtype=object)[columns]
    frame = pd.DataFrame({"time": np.repeat(history.times, k), "series": np.tile(names, r),
                          "log10": history.update_ratio_log10[:, columns].ravel()})
    notes = [words("page.thinned", shown=len(drawn), total=history.n_layers)] if history.n_layers > len(drawn) else []
    title = words("run.ratio.axis")
    return charts.lines_over_time_chart("run-ratio", frame, x_title=words(f"common.time.{history.time_label}"),
                                        y_title=title, series_title=words("common.layer"), value_title=title,
                                        notes=notes, floor_note=words("page.below_floor", count="{count}"),
                                        rules={words("run.ratio.rule"): RULE_OF_THUMB}, series_order=list(names))


def heatmap_frame(run: RunFile) -> pd.DataFrame:
    """The heatmap's cells: row (a layer, or a run of layers), x0, x1 (the steps covered, x1 excluded), log10,
    text (the value), steps (the steps covered, as text)."""
    heat = run.heatmap
    names = heat.layer_names
    rows = [names[a] if a == z else f"{names[a]} – {names[z]}" for a, z in zip(heat.first_layer, heat.last_layer)]
    ends = np.append(heat.first_time[1:], heat.last_time[-1] + 1)
    spans = [str(a) if a == z else f"{a}–{z}" for a, z in zip(heat.first_time, heat.last_time)]
    n_rows, n_columns = heat.log10.shape
    values = heat.log10.ravel()
    return pd.DataFrame({"row": np.repeat(rows, n_columns), "x0": np.tile(heat.first_time, n_rows),
                         "x1": np.tile(ends, n_rows), "log10": values, "text": [magnitude_text(v) for v in values],
                         "steps": np.tile(spans, n_rows)})


def heatmap_chart(run: RunFile, words: Words) -> b.Chart:
    """Every layer at every step (binned past 120 layers and 160 columns, and said), its colours robust to spikes."""
    heat, history = run.heatmap, run.history
    frame = heatmap_frame(run)
    low, high = charts.heat_domain(frame["log10"])
    notes = [words("run.heatmap.domain", low=magnitude_text(low), high=magnitude_text(high))]
    per_row = int(np.max(heat.last_layer - heat.first_layer + 1))
    if per_row > 1:
        notes.append(words("run.heatmap.rows", size=per_row, total=run.n_layers))
    per_column = int(np.ceil(run.n_steps / heat.log10.shape[1]))
    if per_column > 1:
        notes.append(words("run.heatmap.columns", size=per_column, unit=words(f"run.unit.{history.time_label}")))
    if np.any(heat.log10 == -np.inf):
        notes.append(words("run.heatmap.zeros", count=int(np.sum(heat.log10 == -np.inf))))
    rows = list(dict.fromkeys(frame["row"]))
    return charts.layer_heatmap_chart("run-heatmap", frame, x_title=words(f"common.time.{history.time_label}"),
                                      y_title=words("common.layer"), value_title=words("run.gradient.axis"),
                                      legend_title=words("run.gradient.axis"), notes=notes, row_order=rows)


def run_blocks(run: RunFile, source: str, words: Words) -> list:
    history = run.history
    checklist = history.symptoms
    out = [b.Caption(read_line(run, source, words))]
    if history.layer_order == "unknown":
        out.append(b.Notice("info", words("run.order_unknown")))
    out += [checklist_block(checklist, words), b.Text(words(f"run.advice.{checklist.verdict}")),
            b.Text(words("run.heatmap.title" if history.layer_order != "unknown" else "run.heatmap.title_unknown")),
            heatmap_chart(run, words),
            b.Text(words("run.gradient.title")),
            speeds_chart("run-gradients", history, words, y_title=words("run.gradient.axis"),
                         series_title=words("common.layer"), named=True)]
    if history.has_loss:
        out += [b.Text(words("common.loss.title")), loss_chart("run-loss", history, words)]
    if len(history.update_grad_log10) and not np.array_equal(history.update_grad_log10, history.update_applied_log10,
                                                             equal_nan=True):
        out += [b.Text(words("common.norm.heading")), clipping_chart("run-clipping", history, words)]
    ratio = _ratio_chart(history, words)
    if ratio is not None:
        out += [b.Text(words("run.ratio.title")), ratio]
    return out


def head(words: Words) -> tuple:
    """What the section says before the upload: what it does, the workflow, the recorders to copy."""
    out = [b.Heading(words("run.heading")), b.Text(words("run.intro")), b.Text(words("run.workflow"))]
    for name in RECORDERS:
        out.append(b.Expander(words(f"run.recorder.{name}"), (b.Code(recorder_code(name), "python"),)))
    return tuple(out)


def body(results: dict, words: Words) -> tuple:
    """results: "run" a RunFile or a RunFileError, "source" "upload" or "example"."""
    run = results["run"]
    if isinstance(run, RunFileError):
        return (b.Notice("error", error_text(run, words)),)
    return tuple(run_blocks(run, results["source"], words))


def render(state: PageState, results: dict, words: Words) -> tuple:
    return head(words) + body(results, words)
