"""Section 3, through time: an RNN unrolled T steps is a deep network whose layers share one matrix.

Per case: ‖∂C/∂h_t‖ against the distance T − t with mean-field theory's dashed prediction, Pascanu's
condition (the largest singular value of W against 1/γ), the remedies' sentences, and training with its
symptom checklist.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from gradviz.engine.initializations import get_scheme
from gradviz.engine.meanfield import mean_field, normalized_gradient_factor
from gradviz.experiments.recurrent import (RecurrentConfig, recurrent_design, recurrent_gradients, recurrent_remedies,
                                           recurrent_setup, train_recurrent)
from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.export import through_time_table, to_csv
from gradviz.page.i18n import Words
from gradviz.page.jobs import Job, recurrent_cost
from gradviz.page.sections.common import (case_columns, case_title, download, metrics_rows, ratio_metric, ratio_text,
                                         remedy_sentences, training_rows)
from gradviz.page.state import CASES, PageState

GAMMA = {"tanh": 1.0, "sigmoid": 0.25}
BIAS_VARIANCE = 0.01


def jobs(state: PageState) -> dict[str, Job]:
    out = {}
    for case in CASES:
        config = replace(state.recurrent_at_init, case=case)
        out[f"gradients.{case}"] = Job(recurrent_gradients, (config,), "jobs.rnn",
                                       recurrent_cost(config.steps, config.width, config.batch, 0))
    return out


def training_jobs(state: PageState) -> dict[str, Job]:
    out = {}
    for case in CASES:
        config = replace(state.recurrent, case=case)
        at_init = replace(state.recurrent_at_init, case=case)
        out[f"gradients.{case}"] = Job(recurrent_gradients, (at_init,), "jobs.rnn",
                                       recurrent_cost(config.steps, config.width, config.batch, 0))
        out[f"training.{case}"] = Job(train_recurrent, (config, state.recurrent_training), "jobs.rnn_training",
                                      recurrent_cost(config.steps, config.width, config.batch,
                                                     state.recurrent_training.steps), progress=True)
    return out


def largest_singular_value(config: RecurrentConfig) -> float:
    net, _, _ = recurrent_setup(config)
    return float(np.linalg.svd(net.weights[0], compute_uv=False)[0])


def theory_factor(config: RecurrentConfig) -> float:
    """Mean-field theory's per-step gradient factor for W = scale · W₀ (σ_w² = scale² × the scheme's): √χ₁, or
    with layer norm the normalized layer's factor (gradviz.engine.meanfield.normalized_gradient_factor)."""
    r = recurrent_remedies(config.remedies)
    sigma_w2, _ = get_scheme(r.init).variances(config.width, config.width, r.init_gain)
    design = recurrent_design(config.remedies)
    if design.norm is not None:
        return normalized_gradient_factor(design.norm, design.activation, config.scale**2 * sigma_w2, BIAS_VARIANCE)
    return mean_field(r.activation, config.scale**2 * sigma_w2, BIAS_VARIANCE).gradient_factor


def _measured_text(config: RecurrentConfig, log10_norms: np.ndarray) -> str:
    """The measured per-step factor, (‖∂C/∂h₀‖ / ‖∂C/∂h_T‖)^(1/T), as text ("—" where undefined)."""
    ratio = log10_norms[0] - log10_norms[-1]
    return f"{10 ** (ratio / config.steps):.3g}" if math.isfinite(ratio) else "—"


def cell_words(config: RecurrentConfig, words: Words) -> str:
    """The RNN's step in symbols: plain or gated, and layer-normalized when it is."""
    design = recurrent_design(config.remedies)
    cell = words("time.cell.gated") if design.forget_bias is not None else words("time.cell.plain",
                                                                                  act=design.activation)
    return cell + (words("time.cell.norm") if design.norm is not None else "")


def through_time_chart(config: RecurrentConfig, log10_norms: np.ndarray, words: Words, title: str | None = None) -> b.Chart:
    steps = len(log10_norms) - 1
    distance = steps - np.arange(steps + 1)
    order = np.argsort(distance)
    factor = theory_factor(config)
    theory = None
    if config.remedies.forget_bias is None and factor > 0:
        theory = log10_norms[-1] + math.log10(factor) * distance[order]
    notes = []
    if np.all(log10_norms[:-1] == -np.inf):
        notes.append(words("time.chart.dead"))
    axis = words("time.axis")
    return charts.per_layer_chart(f"time-{config.case}", distance[order], log10_norms[order], None,
                                  x_title=words("time.distance"), y_title=axis, value_title=axis,
                                  color=charts.COLORS[config.case], notes=notes, theory_log10=theory,
                                  theory_title=words("layers.theory.line"),
                                  floor_note=words("page.below_floor", count="{count}"), title=title)


def network_sentences(config: RecurrentConfig, log10_norms: np.ndarray, words: Words) -> list[str]:
    """One sentence per remedy on that changes the RNN itself (the registry's)."""
    r = recurrent_remedies(config.remedies)
    f = f"{1 / (1 + math.exp(-r.forget_bias)):.3f}" if r.gated else ""
    facts = {"case": config.case, "ratio": ratio_text(words, log10_norms[0], log10_norms[-1]), "f": f,
             "log10_ratio": float(log10_norms[0] - log10_norms[-1]),
             "theory": f"{theory_factor(config):.3g}", "measured": _measured_text(config, log10_norms)}
    return remedy_sentences("recurrent", config.remedies, facts, words)


def training_sentences(config: RecurrentConfig, log10_norms: np.ndarray, history, words: Words) -> list[str]:
    """One sentence per remedy on that acts on training (the registry's)."""
    facts = {"capped": history.symptoms["clipped"].evidence["capped"], "updates": len(history.update_grad_log10),
             "ratio": ratio_text(words, log10_norms[0], log10_norms[-1])}
    return remedy_sentences("recurrent", config.remedies, facts, words, training=True)


def column(config: RecurrentConfig, gradients, words: Words) -> list[tuple]:
    case = config.case
    r = recurrent_remedies(config.remedies)
    norms = gradients.log10_activation_grad_norms
    cell = cell_words(config, words)
    metrics = [ratio_metric(words, words("time.metric.ratio"), words("time.metric.ratio.help"), norms[0], norms[-1])]
    if r.activation in GAMMA:
        sigma = largest_singular_value(config)
        metrics.append((b.Metric(words("time.metric.pascanu"), f"{sigma:.3g} / {1 / GAMMA[r.activation]:g}",
                                 words("time.metric.pascanu.help", act=r.activation,
                                       bound=f"{1 / GAMMA[r.activation]:g}")), None))
    metrics.append((b.Metric(words("time.metric.factor"),
                             f"{theory_factor(config):.3g} / {_measured_text(config, norms)}",
                             words("time.metric.factor.help")), None))
    return [
        (b.Heading(words(f"time.case.{case}", scale=f"{config.scale:g}"), 3),
         b.Caption(words("time.setup", cell=cell, scale=f"{config.scale:g}", n=config.width, steps=config.steps)),
         *metrics_rows(metrics)),
        (through_time_chart(config, norms, words, title=case_title(words, case, words("time.chart.name"))),
         b.Caption(words("time.theory.limits"))),
        tuple(b.Text(s) for s in network_sentences(config, norms, words))
        + (download(words, "time.csv", lambda: to_csv(through_time_table(norms)), f"gradviz_rnn_{case}.csv"),),
    ]


def render_training(state: PageState, results: dict, words: Words) -> tuple:
    """Both RNNs trained on their batch: the gradient's share per step, the loss, the remedies, the checklist."""
    columns = []
    for case in CASES:
        config = replace(state.recurrent, case=case)
        history = results[f"training.{case}"]
        norms = results[f"gradients.{case}"].log10_activation_grad_norms
        rows = [(b.Heading(words("time.training", case=words(f"page.case.{case}"), steps=len(history.update_loss)), 4),),
                tuple(b.Text(s) for s in training_sentences(config, norms, history, words))]
        columns.append(rows + training_rows(f"time-{case}", case, history, words, y_title=words("time.share.axis"),
                                            series_title=words("time.step"), show_weights=False))
    return case_columns(columns)


def render(state: PageState, results: dict, words: Words) -> tuple:
    head = (b.Heading(words("time.heading")), b.Text(words("time.intro")))
    columns = [column(replace(state.recurrent, case=case), results[f"gradients.{case}"], words) for case in CASES]
    return head + case_columns(columns)
