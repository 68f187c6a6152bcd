"""Section 2, learning speed per layer: Nielsen's experiment on real digits, vanishing | exploding.

The article's first two figures (Nielsen's "speed of learning" curves) with his published runs dashed,
his per-neuron figure beside ours, and per case the speed of each hidden layer at initialization — the
median over seeds with a band — against mean-field theory's dashed prediction, then training and its
symptom checklist.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from gradviz.experiments.nielsen import (NIELSEN_RULES, NielsenConfig, has_published_curves, hidden_layer_factor,
                                         hidden_layer_theory, initial_speeds, nielsen_per_neuron, nielsen_speeds,
                                         per_neuron_gradients, train_nielsen)
from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.formatting import magnitude_text
from gradviz.page.i18n import Words
from gradviz.page.jobs import Job, dense_training_cost
from gradviz.page.sections.common import (case_columns, case_title, metrics_rows, ratio_metric, remedy_sentences,
                                         speed_symbol, training_rows)
from gradviz.page.state import CASES, PageState
from gradviz.training.remedies import NoRegularization

SEEDS = 20
DIGITS = 1000


def jobs(state: PageState) -> dict[str, Job]:
    out = {}
    for case in CASES:
        config = replace(state.nielsen_at_init, case=case)
        epoch_cost = dense_training_cost(config.sizes, DIGITS, 0)
        out[f"speeds.{case}"] = Job(initial_speeds, (config, SEEDS), "jobs.nielsen_training", 1.5 * SEEDS * epoch_cost)
    out["per_neuron"] = Job(per_neuron_gradients, (state.nielsen.seed, state.remedies.init), "jobs.per_neuron",
                            dense_training_cost([784, 30, 30, 10], DIGITS, 0))
    return out


def training_jobs(state: PageState) -> dict[str, Job]:
    out = {}
    for case in CASES:
        config = replace(state.nielsen, case=case)
        out[f"training.{case}"] = Job(train_nielsen, (config, state.nielsen_training), "jobs.nielsen_training",
                                      dense_training_cost(config.sizes, DIGITS, state.nielsen_training.steps),
                                      progress=True)
    return out


def _network_words(config: NielsenConfig, words: Words) -> str:
    """The network in words: its sizes and neurons, then its gates, skip connections and normalization."""
    r, design = config.remedies, config.design
    key = "layers.network.relu" if r.activation == "relu" else "layers.network.sigmoid"
    extras = [words("layers.network.gated")] if r.gated else []
    extras += [words("layers.network.skip")] if design.residual is not None else []
    extras += [words(f"layers.network.norm.{design.norm}")] if design.norm is not None else []
    return words(key, sizes=str(config.sizes)) + "".join(extras) + (words("layers.network.end") if extras else "")


def _regularization_words(state: PageState, words: Words) -> str:
    """Nielsen's own L2 λ = 5, the same chosen by the switch, or what the switch chose instead."""
    config = state.nielsen
    if config.remedies.regularization == NoRegularization():
        return words("layers.regularization.nielsen")
    if config.rules == NIELSEN_RULES:
        return words("layers.regularization.same")
    return words("layers.regularization.chosen", penalty=state.value("penalty"), lmbda=f"{state.value('lmbda'):g}")


def per_neuron_blocks(ours: np.ndarray, init: str, words: Words) -> list:
    """Nielsen's figure of ∂C/∂b_j for the first six neurons of both hidden layers, his and ours."""
    his = nielsen_per_neuron()
    rows = []
    for source, values in ((words("layers.published"), his), (words("common.this_run"), ours)):
        for layer, layer_values in enumerate(values, start=1):
            rows += [{"neuron": neuron, "layer": layer, "source": source, "value": float(v)}
                     for neuron, v in enumerate(layer_values, start=1)]
    frame = pd.DataFrame(rows)
    chart = charts.grouped_bars_chart("layers-per-neuron", frame, x_title=words("layers.per_neuron.axis"),
                                      y_title="∂C/∂b", group_title=words("layers.hidden_layer"),
                                      colors={words("layers.published"): charts.COLORS["reference"],
                                              words("common.this_run"): charts.COLORS["vanishing"]})
    ratio_his = np.linalg.norm(his[0]) / np.linalg.norm(his[1])
    ratio_ours = np.linalg.norm(ours[0]) / np.linalg.norm(ours[1])
    text = words("layers.per_neuron.text", his=f"{ratio_his:.2f}", ours=f"{ratio_ours:.2f}")
    if init != "nielsen":
        text += " " + words("layers.per_neuron.other_init")
    return [b.Text(text), chart]


def _theory_kind(config: NielsenConfig) -> str:
    """Which theory describes the hidden layers: "skip" (none in closed form), the normalization's, or "plain"."""
    design = config.design
    if design.residual is not None:
        return "skip"
    return design.norm or "plain"


def _theory_rows(config: NielsenConfig, log10_speeds: np.ndarray, words: Words) -> list:
    """Per hidden layer at initialization: the median over seeds with a 10–90 % band, and the theory line
    anchored at the last hidden layer's median (where a theory covers these layers), with the per-layer factors
    predicted and measured."""
    hidden = config.n_hidden
    speeds = log10_speeds[:, :hidden]
    median = np.median(speeds, axis=0)
    low, high = np.percentile(speeds, 10, axis=0), np.percentile(speeds, 90, axis=0)
    factor = hidden_layer_factor(config)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor_log10 = math.nan if factor is None else (math.log10(factor) if factor > 0 else -math.inf)
    predicted = None if factor is None else median[-1] + factor_log10 * np.arange(hidden - 1, -1, -1)
    predicted_text = "—" if factor is None else (magnitude_text(factor_log10) if math.isfinite(factor_log10) else "0")
    layers = np.arange(1, hidden + 1)
    measured_factor = (median[-1] - median[0]) / (hidden - 1) if hidden > 1 else math.nan
    per_layer_ratios = np.median(speeds[:, :-1] - speeds[:, 1:], axis=0) if hidden > 1 else np.array([])
    g = speed_symbol(config.speed)
    title = words("layers.speed.axis", g=g)
    chart = charts.per_layer_chart(f"layers-{config.case}-initial", layers, median, None,
                                   x_title=words("layers.hidden_layer"), y_title=title,
                                   value_title=words("layers.initial.median", seeds=len(speeds)),
                                   color=charts.COLORS[config.case], notes=[], theory_log10=predicted,
                                   theory_title=words("layers.theory.line"), band=(low, high),
                                   floor_note=words("page.below_floor", count="{count}"),
                                   title=case_title(words, config.case, title))
    kind = _theory_kind(config)
    theory = hidden_layer_theory(config)
    phase = words(f"layers.phase.{theory.phase}")
    metrics = b.Metrics((
        b.Metric(words("layers.metric.predicted"), predicted_text,
                 words(f"layers.metric.predicted.help.{kind}", phase=phase, g=g)),
        b.Metric(words("layers.metric.measured", g=g),
                 magnitude_text(-measured_factor) if math.isfinite(measured_factor) else "—",
                 words("layers.metric.measured.help", seeds=len(speeds), g=g)),
    ), per_row=2)
    layers_text = words("common.separator").join(magnitude_text(r) for r in per_layer_ratios)
    gap = words("layers.theory.gap" if factor is not None else "layers.theory.none", layers=layers_text,
                predicted=predicted_text, g=g)
    limits = words("layers.theory.exploding") if config.case == "exploding" and kind == "plain" else \
        words("layers.theory.limits")
    return [(b.Text(words("layers.initial.title")), metrics), (chart, b.Caption(gap + " " + limits))]


def _first_last(config: NielsenConfig, log10_speeds: np.ndarray) -> tuple[float, float]:
    """log10 of the first and the last hidden layer's speed at initialization, medians over the seeds."""
    median = np.median(log10_speeds[:, :config.n_hidden], axis=0)
    return float(median[0]), float(median[-1])


def network_sentences(config: NielsenConfig, log10_speeds: np.ndarray, words: Words) -> list[str]:
    """One sentence per remedy on that changes the network (the registry's), and one for the initialization."""
    first, last = _first_last(config, log10_speeds)
    ratio = magnitude_text(first - last) if math.isfinite(first - last) else words("common.not_a_number")
    factor = hidden_layer_factor(config)
    predicted = words("layers.no_theory") if factor is None else f"{factor:.3g}"
    facts = {"case": config.case, "ratio": ratio, "predicted": predicted, "log10_ratio": first - last}
    out = remedy_sentences("nielsen", config.remedies, facts, words)
    if config.remedies.init != "nielsen":
        out.append(words("layers.remedy.init", ratio=ratio))
    return out


def training_sentences(config: NielsenConfig, history, words: Words) -> list[str]:
    """One sentence per remedy on that acts on training (the registry's)."""
    facts = {"capped": history.symptoms["clipped"].evidence["capped"], "updates": len(history.update_grad_log10),
             "base": NIELSEN_RULES}
    return remedy_sentences("nielsen", config.remedies, facts, words, training=True)


def column(config: NielsenConfig, speeds: np.ndarray, words: Words) -> list[tuple]:
    case = config.case
    first, last = _first_last(config, speeds)
    rows = [(b.Heading(words(f"layers.case.{case}"), 3), b.Caption(words(f"layers.setup.{case}")),
             ) + metrics_rows([ratio_metric(words, words("layers.metric.first_last", g=speed_symbol(config.speed)),
                                            words("layers.metric.first_last.help", seeds=len(speeds)), first, last)])]
    rows += _theory_rows(config, speeds, words)
    rows.append(tuple(b.Text(sentence) for sentence in network_sentences(config, speeds, words)))
    return rows


def hidden_only(history, hidden_layers):
    """The record restricted to the hidden layers, as Nielsen plots them (his curves leave out the output)."""
    keep = np.isin(history.layers, hidden_layers)
    return replace(history, layers=history.layers[keep], grad_log10=history.grad_log10[:, keep],
                   layer_names=tuple(n for n, k in zip(history.layer_names, keep) if k), n_layers=len(hidden_layers),
                   weight_change=None if history.weight_change is None else history.weight_change[:, keep])


def render_training(state: PageState, results: dict, words: Words) -> tuple:
    """Both networks trained: each hidden layer's speed over the epochs (Nielsen's curves dashed), the loss, the
    remedies that act on training, the checklist."""
    overlay = bool(state.value("overlay"))
    head = []
    if overlay and not has_published_curves(state.nielsen):
        head.append(b.Notice("info", words("layers.overlay.unavailable")))
    columns = []
    for case in CASES:
        config = replace(state.nielsen, case=case)
        history = results[f"training.{case}"]
        reference, note = None, ()
        if overlay and case == "vanishing" and has_published_curves(config):
            if config.remedies == type(config.remedies)():
                reference = nielsen_speeds(config.n_hidden)
            else:
                note = (b.Caption(words("layers.overlay.remedies")),)
        hidden_layers = history.layers[history.layers <= config.n_hidden]
        rows = [(b.Heading(words("layers.training", case=words(f"page.case.{case}"), epochs=int(history.times[-1])), 4),),
                note + tuple(b.Text(sentence) for sentence in training_sentences(config, history, words))]
        columns.append(rows + training_rows(f"layers-{case}", case, hidden_only(history, hidden_layers), words,
                                            y_title=words("layers.speed.axis", g=speed_symbol(history.speed)),
                                            series_title=words("layers.hidden_layer"), reference=reference))
    return tuple(head) + case_columns(columns)


def render(state: PageState, results: dict, words: Words) -> tuple:
    config = state.nielsen
    head = [b.Heading(words("layers.heading")),
            b.Text(words("layers.intro", network=_network_words(config, words),
                         regularization=_regularization_words(state, words),
                         epochs=state.nielsen_training.steps))]
    head.append(b.Expander(words("layers.per_neuron.title"),
                           tuple(per_neuron_blocks(results["per_neuron"], state.remedies.init, words))))
    columns = [column(replace(config, case=case), results[f"speeds.{case}"], words) for case in CASES]
    return tuple(head) + case_columns(columns)
