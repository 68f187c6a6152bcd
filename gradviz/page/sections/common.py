"""Blocks every section shares: a training run's charts, the symptom checklist, ratios in words, CSVs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.checklist import checklist_block, verdict_note
from gradviz.page.export import history_table, to_csv
from gradviz.page.formatting import magnitude_text, ratio_log10
from gradviz.page.i18n import Words
from gradviz.training.history import History
from gradviz.training.remedies import REMEDIES, Remedies


def ratio_text(words: Words, log10_numerator: float, log10_denominator: float) -> str:
    """|p| / |q| as a number, or in words when it is not one (both 0, the denominator 0, a NaN upstream)."""
    ratio = ratio_log10(log10_numerator, log10_denominator)
    if ratio is not None:
        return magnitude_text(ratio)
    if math.isnan(log10_numerator) or math.isnan(log10_denominator):
        return words("common.ratio.nan")
    if log10_numerator == -math.inf and log10_denominator == -math.inf:
        return words("common.ratio.both_zero")
    if log10_denominator == -math.inf:
        return words("common.ratio.denominator_zero")
    return words("common.ratio.overflow")


def ratio_metric(words: Words, label: str, help_text: str, log10_numerator: float,
                 log10_denominator: float) -> tuple[b.Metric, str | None]:
    """A ratio as a metric: the number, or a dash with the reason in words to show beside it."""
    ratio = ratio_log10(log10_numerator, log10_denominator)
    if ratio is not None:
        return b.Metric(label, magnitude_text(ratio), help_text), None
    return b.Metric(label, "—", help_text), ratio_text(words, log10_numerator, log10_denominator)


def metrics_rows(items: list[tuple[b.Metric, str | None]], per_row: int = 2) -> tuple:
    """The metrics, two to a row, and a caption with the reason of every one that is not a number."""
    reasons = [f"{metric.label}: {reason}" for metric, reason in items if reason]
    out = (b.Metrics(tuple(metric for metric, _ in items), per_row),)
    return out + ((b.Caption(" · ".join(reasons)),) if reasons else ())


def speed_symbol(speed: str) -> str:
    """∂C/∂b (Nielsen's speed) or ∂C/∂W (where batch norm cancels the biases): what a per-layer chart measures
    (History.speed, DeepConfig.speed)."""
    return {"bias": "∂C/∂b", "weight": "∂C/∂W"}[speed]


def remedy_sentences(experiment: str, remedies: Remedies, facts: dict, words: Words, training: bool = False) -> list[str]:
    """One sentence (or a few) per remedy on in `remedies`, in the registry's order: its sentences for `experiment`
    chosen and filled from `facts`, the numbers on screen (gradviz.training.remedies.Remedy.sentence_keys).
    training: the remedies that act on training (said beside a training run), else those that shape the network."""
    return [words(key, **facts) for remedy in REMEDIES if remedy.acts_on_training == training
            for key in remedy.sentence_keys(experiment, remedies, facts)]


def download(words: Words, what_key: str, make, file_name: str) -> b.Download:
    return b.Download(words("page.csv", what=words(what_key)), make, file_name)


def thinned_layers(history: History, limit: int = charts.MAX_LINES) -> np.ndarray:
    """The recorded layers a chart draws: all of them, or `limit` evenly spaced with the first and last."""
    return charts.thinned_values(history.layers, limit)


def speeds_chart(key: str, history: History, words: Words, *, y_title: str, series_title: str,
                 reference: pd.DataFrame | None = None, named: bool = False, title: str | None = None) -> b.Chart:
    """Each (drawn) layer's gradient norm over the recorded times, log scale; Nielsen's curves dashed.
    named: label the layers by their names (a user's run: encoder.0, head) in forward order."""
    drawn = thinned_layers(history)
    columns = np.isin(history.layers, drawn)
    r, k = history.grad_log10[:, columns].shape
    labels = np.array(history.layer_names, dtype=object)[columns] if named else history.layers[columns]
    frame = pd.DataFrame({"time": np.repeat(history.times, k), "series": np.tile(labels, r),
                          "log10": history.grad_log10[:, columns].ravel()})
    notes = []
    if history.n_layers > len(drawn):
        notes.append(words("page.thinned", shown=len(drawn), total=history.n_layers))
    finite_points = frame[np.isfinite(frame["log10"])].groupby("series").size()
    if not len(finite_points):
        notes.append(words("common.chart.no_finite"))
    elif finite_points.max() < 2:
        notes.append(words("common.chart.one_point"))
    ref = None
    if reference is not None:
        ref = reference.rename(columns={"epoch": "time", "layer": "series"}).assign(log10=np.log10(reference["speed"]))
        ref = ref[ref["time"] <= history.times.max()][["time", "series", "log10"]]
    time_title = words(f"common.time.{history.time_label}")
    return charts.lines_over_time_chart(key, frame, x_title=time_title, y_title=y_title, series_title=series_title,
                                        value_title=y_title, notes=notes, reference=ref,
                                        source_titles=(words("common.this_run"), words("layers.published")),
                                        floor_note=words("page.below_floor", count="{count}"),
                                        series_order=list(labels) if named else None, title=title)


def _series(x: np.ndarray, named: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"x": x, "series": name, "log10": values}) for name, values in named.items()],
                     ignore_index=True)


def loss_chart(key: str, history: History, words: Words, title: str | None = None) -> b.Chart:
    """The loss at every recorded moment, log scale; an exact 0 or a NaN is said above the chart."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log10 = np.log10(history.loss)
    notes = []
    if np.any(history.loss == 0):
        notes.append(words("common.chart.loss_zero"))
    recorded = history.loss if history.loss_recorded is None else history.loss[history.loss_recorded]
    if np.any(~np.isfinite(recorded)):
        notes.append(words("common.chart.loss_nan"))
    name = words("common.loss")
    return charts.series_chart(key, _series(history.times, {name: log10}),
                               x_title=words(f"common.time.{history.time_label}"), y_title=name, value_title=name,
                               colors={name: "#444444"}, notes=notes,
                               floor_note=words("page.below_floor", count="{count}"), title=title)


def clipping_chart(key: str, history: History, words: Words, title: str | None = None) -> b.Chart:
    """The global gradient norm per update, before clipping and as applied."""
    before, applied = words("common.norm.before"), words("common.norm.applied")
    if history.update_times is None:  # gradviz's own runs count updates; a user's run has its own step numbers
        updates, x_title = np.arange(1, len(history.update_grad_log10) + 1), words("common.update")
    else:
        updates, x_title = history.update_times, words(f"common.time.{history.time_label}")
    frame = _series(updates, {before: history.update_grad_log10, applied: history.update_applied_log10})
    notes = []
    if np.all(history.update_grad_log10 == -np.inf):
        notes.append(words("common.chart.all_zero"))
    return charts.series_chart(key, frame, x_title=x_title, y_title=words("common.norm.title"),
                               value_title=words("common.norm.title"),
                               colors={before: charts.COLORS["before"], applied: charts.COLORS["applied"]},
                               notes=notes, floor_note=words("page.below_floor", count="{count}"), title=title)


def weight_change_chart(key: str, history: History, words: Words, title: str | None = None) -> b.Chart | None:
    """How far each recorded layer's weights moved from their initial values by the end, one dot a layer."""
    if history.weight_change is None or not len(history.weight_change):
        return None
    change = history.weight_change[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        log10 = np.log10(change)
    notes = []
    if np.all(change == 0):
        notes.append(words("common.chart.weights_still"))
    texts = [words("common.percent", value=f"{100 * v:.3g}") if np.isfinite(v) else words("common.not_a_number")
             for v in change]
    return charts.dots_per_layer_chart(key, history.layers, log10, texts, x_title=words("common.layer"),
                                       y_title=words("common.moved.title"), value_title=words("common.moved.tooltip"),
                                       notes=notes, title=title)


def case_title(words: Words, case: str, what: str) -> str:
    """A chart's title naming its case, so a chart read alone (on a phone, one case under the other) says whose
    it is."""
    return words("page.chart_title", case=words(f"page.case.{case}"), what=what)


def training_rows(key: str, case: str, history: History, words: Words, *, y_title: str, series_title: str,
                  reference: pd.DataFrame | None = None, show_weights: bool = True) -> list[tuple]:
    """A training run's rows: speeds, loss, gradient norm per update, weight movement, the checklist, the CSV;
    every chart titled with its case."""
    title = lambda key_: case_title(words, case, words(key_, what=y_title))
    moved = weight_change_chart(f"{key}-moved", history, words, title("common.moved.chart")) if show_weights else None
    rows = [
        (speeds_chart(f"{key}-speeds", history, words, y_title=y_title, series_title=series_title, reference=reference,
                      title=title("common.speeds.chart")),),
        (loss_chart(f"{key}-loss", history, words, title("common.loss.chart")),),
        (clipping_chart(f"{key}-clipping", history, words, title("common.norm.chart")),)
        if len(history.update_grad_log10) else (),
        (moved,) if moved is not None else (),
        ((b.Notice("warning", words("common.stopped_early")),) if history.stopped_early else ())
        + (checklist_block(history.symptoms, words),) + _note(case, history, words)
        + (download(words, "common.csv.history", lambda: to_csv(history_table(history)), f"gradviz_{key}.csv"),),
    ]
    return rows


def _note(case: str, history: History, words: Words) -> tuple:
    """The line saying why a verdict differs from the case the panel was built to show, if it does."""
    note = verdict_note(case, history.symptoms, words)
    return (b.Caption(note),) if note else ()


def case_columns(columns: list[list[tuple]]) -> tuple:
    """The cases side by side, each whole: on a narrow screen the whole vanishing case comes first, then the
    whole exploding one, never the two interleaved row by row."""
    return (b.Columns(tuple(tuple(block for row in rows for block in row) for rows in columns)),)
