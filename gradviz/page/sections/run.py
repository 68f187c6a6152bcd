"""Section 6, your own run: a per-layer gradient log from PyTorch or Keras in, the checklist and a verdict out.

The recorders (examples/record_pytorch.py, examples/record_keras.py) with a copy button, the three-line
workflow, then the run — an upload read in the visitor's session only, or one of three shipped example
runs — as the same charts as the other sections: every layer's gradient norm over the steps (thinned past
12 layers, and said), the loss, the norm before and after clipping, each layer's update/weight ratio
against CS231n's 10⁻³ rule of thumb, the symptom checklist, and what to try first.
"""

from __future__ import annotations

import math
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

import gradviz
from gradviz.experiments.your_run import RunFile, RunFileError, load_run
from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.i18n import Words
from gradviz.page.jobs import Job
from gradviz.page.checklist import checklist_block
from gradviz.page.sections.common import clipping_chart, loss_chart, speeds_chart
from gradviz.page.state import PageState

EXAMPLES = ("vanishing", "exploding_clipped", "healthy")
RULE_OF_THUMB = 1e-3
RECORDERS = {"pytorch": "record_pytorch.py", "keras": "record_keras.py"}


def load_example(name: str) -> RunFile:
    """One of the shipped example runs (gradviz/data/runs/<name>.csv)."""
    if name not in EXAMPLES:
        raise ValueError(f"name must be one of {EXAMPLES}, not {name!r}")
    return load_run(files("gradviz").joinpath("data", "runs", f"{name}.csv").read_bytes())


def jobs(state: PageState) -> dict:
    return {"example": Job(load_example, (str(state.value("example")),), "jobs.run", 0.05)}


def recorder_code(name: str) -> str | None:
    """The recorder's source, from the repository's examples/ folder (None where the package stands alone)."""
    path = Path(gradviz.__file__).resolve().parents[1] / "examples" / RECORDERS[name]
    return path.read_text(encoding="utf-8") if path.is_file() else None


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
    order = list(names)
    notes = [words("page.thinned", shown=len(drawn), total=history.n_layers)] if history.n_layers > len(drawn) else []
    title = words("run.ratio.axis")
    return charts.lines_over_time_chart("run-ratio", frame, x_title=words("common.time.step"), y_title=title,
                                        series_title=words("common.layer"), value_title=title, notes=notes,
                                        floor_note=words("page.below_floor", count="{count}"),
                                        rules={words("run.ratio.rule"): RULE_OF_THUMB}, series_order=order)


def _named_speeds(history, words: Words) -> b.Chart:
    """Every drawn layer's gradient norm over the steps, the layers named as the framework names them."""
    return speeds_chart("run-gradients", history, words, y_title=words("run.gradient.axis"),
                        series_title=words("common.layer"), named=True)


def run_blocks(run: RunFile, source: str, words: Words) -> list:
    history = run.history
    checklist = history.symptoms
    last = int(history.times[-1]) if len(history.times) else 0
    out = [b.Caption(words(f"run.source.{source}") + " " + words(f"run.read_{run.layout}", layers=run.n_layers,
                                                                  steps=run.n_steps, last=last)),
           checklist_block(checklist, words),
           b.Text(words(f"run.advice.{checklist.verdict}")),
           b.Text(words("run.gradient.title")), _named_speeds(history, words)]
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
        code = recorder_code(name)
        if code is not None:
            out.append(b.Expander(words(f"run.recorder.{name}"), (b.Code(code, "python"),)))
    return tuple(out)


def body(results: dict, words: Words) -> tuple:
    """results: "run" a RunFile or a RunFileError, "source" "upload" or "example"."""
    run = results["run"]
    if isinstance(run, RunFileError):
        return (b.Notice("error", words(run.key, **run.params)),)
    return tuple(run_blocks(run, results["source"], words))


def render(state: PageState, results: dict, words: Words) -> tuple:
    return head(words) + body(results, words)
