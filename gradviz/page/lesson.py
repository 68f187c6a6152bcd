"""The lesson: the article's argument in eleven steps, one idea each (?lesson=1&step=k).

    1 chain       the chain and the product: |∂C/∂b_j| per layer, vanishing | exploding
    2 slope       σ'(z) ≤ 1/4, and how often |w| < 1 (and the article's misprint |w| < 1/4)
    3 vanishing   the factors w_j σ'(z_j), and ∂C/∂b₁ against ∂C/∂b₃ (1/16 or smaller)
    4 exploding   w_j = 100, z_j = 0: every factor exactly 25, 3906.25 and 625 with four neurons
    5 fewer       the same chains cut to L layers
    6 relu        predict, then see: ReLU
    7 gating      predict, then see: LSTM-style gating
    8 clip        predict, then see: gradient clipping (and Pascanu's wall)
    9 regularize  predict, then see: weight regularization
    10 nielsen    Nielsen's measured speeds of learning per layer
    11 rnn        through time: an RNN is a deep network whose layers share one matrix

A step names the section whose settings it reads, the remedy switches that act on its charts (the others are
shown disabled, with the reason), its jobs and its blocks. At a remedy step the blocks come after the
student's answer: the step's question has options, and the right one is computed from the numbers the step
draws, never written down. Every sentence is computed from what is on screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd

from gradviz.engine.activations import get_activation
from gradviz.experiments.chain import analyze_chain, train_chain
from gradviz.experiments.nielsen import has_published_curves, nielsen_speeds
from gradviz.experiments.probability import standard_normal_input_facts
from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.formatting import magnitude_text
from gradviz.page.i18n import Words
from gradviz.page.jobs import Job, chain_analysis_cost, chain_training_cost
from gradviz.page.sections import chain as chain_section
from gradviz.page.sections import layers as layers_section
from gradviz.page.sections import time as time_section
from gradviz.page.sections.common import clipping_chart, speed_symbol, speeds_chart
from gradviz.page.state import CASES, PageState
from gradviz.training.remedies import REGISTRY, REMEDIES

SWITCHES = tuple(remedy.rows[0].name for remedy in REMEDIES if remedy.in_article)  # the article's four remedies
ANALYSIS = ("relu", "gating")  # the switches that change a chain at initialization (no training drawn)
LONG_CHAIN = 30  # the gating and fewer-layers steps show at least this many layers
SURVIVES_DECADES = 1.5  # |log10 of the product of the factors| within which a gradient "survives" the chain
SAME_FACTOR = math.log10(1.5)  # two per-layer factors within 1.5× of each other explode "about as fast"
COLLAPSE_DECADES = 6.0  # a loss that falls by this many decades in one step did not learn: it saturated
LISTED_FACTORS = 6  # factors listed one by one in a sentence; a longer chain gives their range


@dataclass(frozen=True)
class Step:
    """One step of the lesson: see the module docstring. remedy: the switch a predict-then-see step is about;
    options: its question's option ids; answer: the right option id, computed from the step's results."""

    name: str
    section: str
    acts: tuple[str, ...]
    jobs: Callable[[PageState], dict[str, Job]]
    render: Callable[[PageState, dict, Words], list]
    remedy: str | None = None
    options: tuple[str, ...] = ()
    answer: Callable[[PageState, dict], str] | None = None

    def acts_on(self, switch: str) -> bool:
        return switch in self.acts


# --- jobs ----------------------------------------------------------------------------------------------------


def _without(state: PageState, switch: str) -> PageState:
    """The same page with one switch off (the dotted reference of a remedy step)."""
    return PageState.of({**dict(state.values), switch: False})


def _long(config):
    return replace(config, depth=max(config.depth, LONG_CHAIN))


def _analysis_jobs(state: PageState, prefix: str, long: bool = False) -> dict[str, Job]:
    out = {}
    for case in CASES:
        config = replace(state.chain_at_init, case=case)
        config = _long(config) if long else config
        out[f"{prefix}.{case}"] = Job(analyze_chain, (config,), "jobs.chain_analysis", chain_analysis_cost(config.depth))
    return out


def _training_jobs(state: PageState, prefix: str) -> dict[str, Job]:
    out = {}
    for case in CASES:
        config = replace(state.chain, case=case)
        out[f"{prefix}.{case}"] = Job(train_chain, (config, state.chain_training), "jobs.chain_training",
                                      chain_training_cost(config.depth, state.chain_training.steps,
                                                          state.remedies.gated), progress=True)
    return out


def chain_jobs(state: PageState) -> dict[str, Job]:
    return _analysis_jobs(state, "report")


def long_chain_jobs(state: PageState) -> dict[str, Job]:
    return _analysis_jobs(state, "long", long=True)


def remedy_analysis_jobs(switch: str, long: bool) -> Callable[[PageState], dict[str, Job]]:
    """The chains with the switches as they are, and with `switch` off (the dotted reference)."""
    def jobs(state: PageState) -> dict[str, Job]:
        return {**_analysis_jobs(state, "report", long), **_analysis_jobs(_without(state, switch), "without", long)}
    return jobs


def remedy_training_jobs(switch: str) -> Callable[[PageState], dict[str, Job]]:
    def jobs(state: PageState) -> dict[str, Job]:
        return {**_analysis_jobs(state, "report"), **_training_jobs(state, "training"),
                **_training_jobs(_without(state, switch), "without")}
    return jobs


# --- numbers in words ----------------------------------------------------------------------------------------


def _times(log10_value: float) -> str:
    """10^v as a factor of 'times' (always ≥ 1: the caller says 'larger' or 'smaller')."""
    return magnitude_text(abs(log10_value), digits=3)


def first_last_sentence(report, words: Words) -> str:
    """How fast the first layer learns against the last: |∂C/∂b₁| / |∂C/∂b_L| in words."""
    first, last = report.grad_b_log10[0], report.grad_b_log10[-1]
    depth = report.depth
    if first == -math.inf and last == -math.inf:
        return words("lesson.first_last.dead")
    if first == -math.inf:
        return words("lesson.first_last.first_zero", depth=depth)
    if not (math.isfinite(first) and math.isfinite(last)):
        return words("lesson.first_last.undefined")
    ratio = first - last
    if abs(ratio) < math.log10(1.05):
        key = "lesson.first_last.same"
    else:
        key = "lesson.first_last.slower" if ratio < 0 else "lesson.first_last.faster"
    return words(key, ratio=magnitude_text(ratio), times=_times(ratio), depth=depth)


def factors_text(log10_factors: np.ndarray, signs: np.ndarray, words: Words) -> str:
    """The factors one by one (a few), or their range (many)."""
    if len(log10_factors) <= LISTED_FACTORS:
        return words("common.separator").join(magnitude_text(v, s) for v, s in zip(log10_factors, signs))
    finite = log10_factors[np.isfinite(log10_factors)]
    low = float(finite.min()) if len(finite) else -math.inf
    high = float(finite.max()) if len(finite) else -math.inf
    zero = int(np.sum(log10_factors == -np.inf))
    text = words("lesson.factors.range", low=magnitude_text(low), high=magnitude_text(high), n=len(log10_factors))
    return text + (words("lesson.factors.zero", count=zero) if zero else "")


def _product_log10(report) -> float:
    """log10 |Π_{j=2..L} factor_j|: what the chain multiplies a gradient by between the last layer and the first."""
    with np.errstate(invalid="ignore"):
        return float(np.sum(report.factor_log10[1:]))


def _case_columns(blocks: dict[str, list]) -> b.Columns:
    """The two cases side by side: on a narrow screen the whole vanishing case, then the whole exploding one."""
    return b.Columns(tuple(tuple(blocks[case]) for case in CASES))


def _needs_depth(report, depth: int, words: Words) -> list:
    return [b.Notice("info", words("lesson.needs_depth", depth=depth))] if report.depth < depth else []


# --- 1 · the chain and the product ---------------------------------------------------------------------------


def render_chain(state: PageState, results: dict, words: Words) -> list:
    reports = {case: results[f"report.{case}"] for case in CASES}
    columns = {case: [b.Caption(chain_section.setup_caption(reports[case], words)),
                      chain_section.gradient_chart(reports[case], words), b.Text(first_last_sentence(reports[case], words))]
               for case in CASES}
    formula = b.Latex(chain_section.general_formula(state.chain.design, words))
    return [b.Columns(((b.Text(words("lesson.chain.idea")),), (formula,)), widths=(3, 2)), _case_columns(columns)]


# --- 2 · σ' ≤ 1/4 ---------------------------------------------------------------------------------------------


def slope_sentence(activation: str, words: Words) -> str:
    facts = standard_normal_input_facts(activation)
    percent = lambda p: words("common.percent", value=f"{100 * p:.1f}")
    if activation == "relu":
        return words("lesson.slope.relu", off=percent(facts["neuron_off"]), below=percent(facts["abs_w_below_1"]))
    return words("lesson.slope.sigmoid", below=percent(facts["abs_w_below_1"]),
                 quarter=percent(facts["abs_w_below_quarter"]), factor=percent(facts["factor_below_quarter"]))


def render_slope(state: PageState, results: dict, words: Words) -> list:
    r = state.remedies
    reports = {case: results[f"report.{case}"] for case in CASES}
    act = get_activation(r.activation)
    return [b.Text(words(f"lesson.slope.idea.{act.name}")), chain_section.slope_chart(reports, act.name, words),
            *chain_section.facts_blocks(act.name, r.gated, words), b.Text(slope_sentence(act.name, words))]


# --- 3 · the vanishing chain ----------------------------------------------------------------------------------


def vanishing_sentence(report, words: Words) -> str:
    """The factors ∂C/∂b₁ has and ∂C/∂b₃ has not, and the ratio, against the article's 1/16."""
    factors = factors_text(report.factor_log10[1:3], report.factor_sign[1:3], words)
    ratio = report.grad_b_log10[0] - report.grad_b_log10[2]
    slopes = report.da_db_log10[0] - report.da_db_log10[2]
    text = words("lesson.vanishing.ratio", factors=factors, slopes=magnitude_text(slopes),
                 ratio=magnitude_text(ratio) if math.isfinite(ratio) else "—")
    r = report.config.remedies
    if r.activation != "sigmoid" or r.gated or not math.isfinite(ratio):
        return text
    below = int(np.sum(report.factor_log10[1:3] < math.log10(0.25)))
    if ratio <= math.log10(1 / 16):
        return text + " " + words(f"lesson.vanishing.sixteenth.{below}")
    return text + " " + words(f"lesson.vanishing.not_sixteenth.{below}")


def render_vanishing(state: PageState, results: dict, words: Words) -> list:
    report = results["report.vanishing"]
    out = [b.Text(words("lesson.vanishing.idea"))] + _needs_depth(report, 3, words)
    if report.depth < 3:
        return out
    left = [chain_section.factor_chart(report, words)]
    right = [b.Text(words("chain.b1_b3.title")), b.Latex(chain_section.b1_b3_latex(report, words))]
    return out + [b.Columns((tuple(left), tuple(right))), b.Text(vanishing_sentence(report, words))]


# --- 4 · the exploding chain ----------------------------------------------------------------------------------


def exploding_sentence(report, words: Words) -> str:
    """Every factor the same (every z_j at the activation's steepest point): the product and ∂C/∂b₁/∂C/∂b₃."""
    factor = magnitude_text(report.factor_log10[-1], report.factor_sign[-1])
    with np.errstate(invalid="ignore"):
        product = report.da_db_log10[0] + float(np.sum(report.factor_log10[1:]))
    return words("lesson.exploding.story", factor=factor, depth=report.depth, n=report.depth - 1,
                 product=magnitude_text(product), ratio=magnitude_text(report.grad_b_log10[0] - report.grad_b_log10[2]))


def render_exploding(state: PageState, results: dict, words: Words) -> list:
    report = results["report.exploding"]
    out = [b.Text(words("lesson.exploding.idea"))] + _needs_depth(report, 3, words)
    if report.depth < 3:
        return out
    metrics = b.Metrics((
        b.Metric(words("lesson.metric.factor"), magnitude_text(report.factor_log10[-1], report.factor_sign[-1]),
                 words("lesson.metric.factor.help")),
        b.Metric(words("lesson.metric.product", depth=report.depth),
                 magnitude_text(report.grad_b_log10[0] - math.log10(abs(report.grad_a_L))) if report.grad_a_L else "—",
                 words("lesson.metric.product.help")),
        b.Metric(words("chain.metric.b1_b3"), magnitude_text(report.grad_b_log10[0] - report.grad_b_log10[2]),
                 words("chain.metric.b1_b3.help"))), per_row=3)
    left = (chain_section.factor_chart(report, words),)
    right = (b.Latex(chain_section.product_latex(report, words)),)
    return out + [metrics, b.Columns((left, right)), b.Text(exploding_sentence(report, words))]


# --- 5 · fewer layers -----------------------------------------------------------------------------------------


def fewer_sentence(report, words: Words) -> str:
    """|∂C/∂b₁| / |∂C/∂b_L| at a few depths of the same chain."""
    ratios = report.log10_ratio_by_depth()
    depths = sorted({d for d in (2, 4, 10, report.depth) if d <= report.depth})
    parts = [words("lesson.fewer.at", depth=d, ratio=magnitude_text(ratios[d - 1])) for d in depths]
    return words("lesson.fewer.story", values=words("common.separator").join(parts))


def render_fewer(state: PageState, results: dict, words: Words) -> list:
    reports = {case: results[f"long.{case}"] for case in CASES}
    columns = {case: [chain_section.fewer_layers_chart(reports[case], words), b.Text(fewer_sentence(reports[case], words))]
               for case in CASES}
    return [b.Text(words("lesson.fewer.idea")), _case_columns(columns), b.Text(words("lesson.fewer.lesson"))]


# --- 6 · ReLU -------------------------------------------------------------------------------------------------


def relu_answer(state: PageState, results: dict) -> str:
    """Does the exploding chain still explode with ReLU, and how fast, against the same chain without it?"""
    with_relu = results["report.exploding"].factor_log10[0]
    without = results["without.exploding"].factor_log10[0]
    if with_relu <= 0:
        return "stops"
    return "faster" if with_relu > without + SAME_FACTOR else "same"


def relu_sentences(state: PageState, results: dict, words: Words) -> dict[str, str]:
    out = {}
    exploding, before = results["report.exploding"], results["without.exploding"]
    out["exploding"] = words("lesson.relu.exploding", factor=magnitude_text(exploding.factor_log10[0]),
                             before=magnitude_text(before.factor_log10[0]),
                             ratio=magnitude_text(exploding.log10_ratio_first_last),
                             ratio_before=magnitude_text(before.log10_ratio_first_last))
    vanishing = results["report.vanishing"]
    off = np.flatnonzero(vanishing.da_db_log10 == -np.inf) + 1
    if len(off) > 1:
        out["vanishing"] = words("lesson.relu.dead.many", neurons=words("common.separator").join(map(str, off)),
                                 cut=int(off[-1]))
    elif len(off) and off[0] > 1:
        out["vanishing"] = words("lesson.relu.dead.one", neuron=int(off[0]))
    elif len(off):
        out["vanishing"] = words("lesson.relu.dead.first")
    else:
        out["vanishing"] = words("lesson.relu.on", ratio=magnitude_text(vanishing.log10_ratio_first_last))
    return out


# --- 7 · gating -----------------------------------------------------------------------------------------------


def gating_answer(state: PageState, results: dict) -> str:
    """Over a long chain, what the vanishing chain's product of factors does with gating."""
    product = _product_log10(results["report.vanishing"])
    if product < -SURVIVES_DECADES:
        return "vanishes"
    return "explodes" if product > SURVIVES_DECADES else "survives"


def gating_sentences(state: PageState, results: dict, words: Words) -> dict[str, str]:
    vanishing, before = results["report.vanishing"], results["without.vanishing"]
    exploding, exploding_before = results["report.exploding"], results["without.exploding"]
    f = vanishing.f[0] if vanishing.f is not None else math.nan
    return {
        "vanishing": words("lesson.gating.vanishing", factors=factors_text(vanishing.factor_log10[1:],
                                                                            vanishing.factor_sign[1:], words),
                           f=f"{f:.3f}", n=vanishing.depth - 1, product=magnitude_text(_product_log10(vanishing)),
                           before=magnitude_text(_product_log10(before))),
        "exploding": words("lesson.gating.exploding", factor=magnitude_text(exploding.factor_log10[-1]),
                           before=magnitude_text(exploding_before.factor_log10[-1]), f=f"{f:.3f}"),
    }


# --- 8 · clipping ---------------------------------------------------------------------------------------------


def _capped(history) -> int:
    with np.errstate(invalid="ignore"):
        return int(np.sum(history.update_grad_log10 > history.update_applied_log10 + math.log10(1.01)))


def _collapsed(history) -> bool:
    """The loss fell by COLLAPSE_DECADES or more in the first step: the step saturated the chain, it did not learn."""
    if len(history.update_loss) < 2 or not history.update_loss[0] > 0:
        return False
    with np.errstate(divide="ignore", invalid="ignore"):
        return bool(np.log10(history.update_loss[1] / history.update_loss[0]) <= -COLLAPSE_DECADES)


def clip_answer(state: PageState, results: dict) -> str:
    trained = results["training.exploding"]
    if _capped(trained) == 0:
        return "nothing"
    return "wrecked" if _collapsed(trained) else "trains"


def _loss_text(value: float) -> str:
    return magnitude_text(math.log10(value)) if value > 0 else ("0" if value == 0 else "NaN")


def clip_sentences(state: PageState, results: dict, words: Words) -> dict[str, str]:
    values = dict(state.values)
    rule = words(f"remedy.clip_by.{values['clip_by']}.rule", threshold=f"{values['clip_threshold']:g}")
    out = {}
    for case in CASES:
        history = results[f"training.{case}"]
        updates = len(history.update_grad_log10)
        capped = _capped(history)
        if case == "exploding" and capped and _collapsed(history):
            out[case] = words("lesson.clip.wall", before=magnitude_text(history.update_grad_log10[0]),
                              applied=magnitude_text(history.update_applied_log10[0]),
                              factor=magnitude_text(results["report.exploding"].factor_log10[-1]),
                              loss0=_loss_text(history.update_loss[0]), loss1=_loss_text(history.update_loss[1]),
                              after=magnitude_text(history.update_grad_log10[1]))
        elif capped:
            out[case] = words("lesson.clip.capped", capped=capped, updates=updates, rule=rule)
        else:
            out[case] = words("lesson.clip.never", largest=magnitude_text(float(np.max(history.update_grad_log10))),
                              rule=rule, updates=updates)
    return out


# --- 9 · regularization ---------------------------------------------------------------------------------------


def regularize_answer(state: PageState, results: dict) -> str:
    """Whether weight decay spares the exploding chain the collapse it suffers without it."""
    return "no" if _collapsed(results["training.exploding"]) else "yes"


def regularize_sentences(state: PageState, results: dict, words: Words) -> dict[str, str]:
    penalty = state.remedies.regularization
    out = {}
    exploding, exploding_before = results["training.exploding"], results["without.exploding"]
    out["exploding"] = words("lesson.regularize.exploding", penalty=type(penalty).__name__,
                             loss1=_loss_text(exploding.update_loss[min(1, len(exploding.update_loss) - 1)]),
                             loss1_before=_loss_text(exploding_before.update_loss[min(1, len(exploding_before.update_loss) - 1)]))
    vanishing, vanishing_before = results["training.vanishing"], results["without.vanishing"]
    out["vanishing"] = words("lesson.regularize.vanishing", penalty=type(penalty).__name__,
                             first=magnitude_text(vanishing.grad_log10[-1, 0]),
                             first_before=magnitude_text(vanishing_before.grad_log10[-1, 0]),
                             steps=len(vanishing.update_loss))
    return out


def end_gradient_chart(history, before, case: str, words: Words, reference_title: str) -> b.Chart:
    """Each layer's |∂C/∂b_j| after training, with the run without the remedy dotted."""
    axis = words("chain.grad.axis")
    return charts.per_layer_chart(f"lesson-{case}-end", history.layers, history.grad_log10[-1], None,
                                  x_title=words("common.layer_j"), y_title=axis, value_title=axis,
                                  color=charts.COLORS[case], notes=[],
                                  floor_note=words("page.below_floor", count="{count}"),
                                  title=chain_section.case_title(words, case, words("lesson.regularize.chart",
                                                                                    steps=len(history.update_loss))),
                                  reference=before.grad_log10[-1], reference_title=reference_title)


# --- the remedy steps' blocks ----------------------------------------------------------------------------------


def feedback(step: Step, answer: str, state: PageState, results: dict, words: Words) -> b.Notice:
    """Whether the student's prediction matches what the numbers say, and the right answer in words."""
    right = step.answer(state, results)
    key = "lesson.feedback.right" if answer == right else "lesson.feedback.wrong"
    return b.Notice("info" if answer == right else "warning",
                    words(key, answer=words(f"lesson.{step.name}.option.{right}")))


def _explained(columns: dict[str, list], sentences: dict[str, str] | None) -> list:
    """The two cases' charts, each followed by its sentence (none while the step's remedy is off: the sentences
    say what the remedy did)."""
    if sentences is not None:
        columns = {case: blocks + [b.Text(sentences[case])] for case, blocks in columns.items()}
    return [_case_columns(columns)]


def _gradient_columns(switch: str, results: dict, words: Words) -> dict[str, list]:
    without = words("lesson.without", remedy=words(f"lesson.name.{switch}"))
    return {case: [chain_section.gradient_chart(results[f"report.{case}"], words, results[f"without.{case}"], without)]
            for case in CASES}


def _reference(switch: str, words: Words) -> b.Caption:
    return b.Caption(words("lesson.reference", remedy=words(f"lesson.name.{switch}")))


def render_relu(state: PageState, results: dict, words: Words, explain: bool = True) -> list:
    return [_reference("relu", words)] + _explained(_gradient_columns("relu", results, words),
                                                    relu_sentences(state, results, words) if explain else None)


def render_gating(state: PageState, results: dict, words: Words, explain: bool = True) -> list:
    return [_reference("gating", words)] + _explained(_gradient_columns("gating", results, words),
                                                      gating_sentences(state, results, words) if explain else None)


def _loss_with_without(key: str, history, before, words: Words, remedy: str) -> b.Chart:
    """The loss over the steps with the remedy, and without it dashed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        now, then = np.log10(history.update_loss), np.log10(before.update_loss)
    steps = np.arange(len(history.update_loss))
    name, other = words("lesson.with", remedy=remedy), words("lesson.without", remedy=remedy)
    frame = pd.concat([pd.DataFrame({"x": steps, "series": name, "log10": now}),
                              pd.DataFrame({"x": np.arange(len(before.update_loss)), "series": other,
                                                   "log10": then})], ignore_index=True)
    return charts.series_chart(key, frame, x_title=words("common.update"), y_title=words("common.loss"),
                               value_title=words("common.loss"), colors={name: "#444444", other: charts.COLORS["reference"]},
                               notes=[], floor_note=words("page.below_floor", count="{count}"), dashed=(other,),
                               title=chain_section.case_title(words, key.split("-")[1], words("lesson.loss.chart")))


def render_clip(state: PageState, results: dict, words: Words, explain: bool = True) -> list:
    remedy = words("lesson.name.clip")
    columns = {}
    for case in CASES:
        history, before = results[f"training.{case}"], results[f"without.{case}"]
        norms = clipping_chart(f"lesson-{case}-clipping", history, words,
                               title=chain_section.case_title(words, case, words("lesson.clip.chart")))
        columns[case] = [_loss_with_without(f"lesson-{case}-loss", history, before, words, remedy), norms]
    return _explained(columns, clip_sentences(state, results, words) if explain else None)


def render_regularize(state: PageState, results: dict, words: Words, explain: bool = True) -> list:
    remedy = words("lesson.name.regularize")
    without = words("lesson.without", remedy=remedy)
    columns = {case: [end_gradient_chart(results[f"training.{case}"], results[f"without.{case}"], case, words, without),
                      _loss_with_without(f"lesson-{case}-loss", results[f"training.{case}"], results[f"without.{case}"],
                                         words, remedy)] for case in CASES}
    return [_reference("regularize", words)] + _explained(
        columns, regularize_sentences(state, results, words) if explain else None)


# --- 10 · Nielsen's network -----------------------------------------------------------------------------------


def nielsen_sentence(history, n_hidden: int, case: str, published, words: Words) -> str:
    """Each hidden layer's speed at the start, and the first against the last at the start and the end."""
    start, end = history.grad_log10[0, :n_hidden], history.grad_log10[-1, :n_hidden]
    speeds = words("common.separator").join(magnitude_text(v, digits=2) for v in start)
    text = words("lesson.nielsen.speeds", speeds=speeds, first=magnitude_text(start[0] - start[-1]),
                 end=magnitude_text(end[0] - end[-1]), epochs=int(history.times[-1]))
    if published is not None:
        his = published[published["epoch"] == 0].sort_values("layer")["speed"]
        text += " " + words("lesson.nielsen.published", speeds=words("common.separator").join(f"{v:.3f}" for v in his))
    return text


def render_nielsen(state: PageState, results: dict, words: Words) -> list:
    config = state.nielsen
    columns = {}
    for case in CASES:
        history = results[f"training.{case}"]
        case_config = replace(config, case=case)
        published = nielsen_speeds(config.n_hidden) if case == "vanishing" and has_published_curves(case_config) \
            and config.remedies == type(config.remedies)() else None
        hidden = layers_section.hidden_only(history, history.layers[history.layers <= config.n_hidden])
        chart = speeds_chart(f"lesson-{case}-speeds", hidden, words,
                             y_title=words("layers.speed.axis", g=speed_symbol(history.speed)), series_title=words("layers.hidden_layer"), reference=published,
                             title=chain_section.case_title(words, case, words("lesson.nielsen.chart")))
        columns[case] = [b.Caption(words(f"layers.setup.{case}")), chart,
                         b.Text(nielsen_sentence(history, config.n_hidden, case, published, words))]
    return [b.Text(words("lesson.nielsen.idea", sizes=str(config.sizes), epochs=state.nielsen_training.steps)),
            _case_columns(columns)]


# --- 11 · through time ----------------------------------------------------------------------------------------


def rnn_sentence(config, log10_norms: np.ndarray, words: Words) -> str:
    steps = len(log10_norms) - 1
    ratio = log10_norms[0] - log10_norms[-1]
    per_step = ratio / steps if math.isfinite(ratio) and steps else math.nan
    return words("lesson.rnn.story", steps=steps, ratio=magnitude_text(ratio),
                 measured=magnitude_text(per_step) if math.isfinite(per_step) else "—",
                 theory=f"{time_section.theory_factor(config):.3g}", scale=f"{config.scale:g}")


def render_rnn(state: PageState, results: dict, words: Words) -> list:
    columns = {}
    for case in CASES:
        config = replace(state.recurrent, case=case)
        norms = results[f"gradients.{case}"].log10_activation_grad_norms
        cell = time_section.cell_words(config, words)
        chart = time_section.through_time_chart(config, norms, words,
                                                title=chain_section.case_title(words, case, words("lesson.rnn.chart")))
        columns[case] = [b.Caption(words("time.setup", cell=cell, scale=f"{config.scale:g}", n=config.width,
                                         steps=config.steps)), chart, b.Text(rnn_sentence(config, norms, words))]
    return [b.Text(words("lesson.rnn.idea")), _case_columns(columns)]


STEPS: tuple[Step, ...] = (
    Step("chain", "chain", ANALYSIS, chain_jobs, render_chain),
    Step("slope", "chain", ANALYSIS, chain_jobs, render_slope),
    Step("vanishing", "chain", ANALYSIS, chain_jobs, render_vanishing),
    Step("exploding", "chain", ANALYSIS, chain_jobs, render_exploding),
    Step("fewer", "chain", ANALYSIS, long_chain_jobs, render_fewer),
    Step("relu", "chain", ANALYSIS, remedy_analysis_jobs("relu", long=False), render_relu, "relu",
         ("stops", "same", "faster"), relu_answer),
    Step("gating", "chain", ANALYSIS, remedy_analysis_jobs("gating", long=True), render_gating, "gating",
         ("vanishes", "survives", "explodes"), gating_answer),
    Step("clip", "chain", SWITCHES, remedy_training_jobs("clip"), render_clip, "clip",
         ("trains", "wrecked", "nothing"), clip_answer),
    Step("regularize", "chain", SWITCHES, remedy_training_jobs("regularize"), render_regularize, "regularize",
         ("yes", "no"), regularize_answer),
    Step("nielsen", "layers", SWITCHES, layers_section.training_jobs, render_nielsen),
    Step("rnn", "time", ANALYSIS, time_section.jobs, render_rnn),
)
N_STEPS = len(STEPS)


def step_of(number: int) -> Step:
    """Step `number` (1-based, as in the URL)."""
    return STEPS[min(max(int(number), 1), N_STEPS) - 1]


def render(step: Step, state: PageState, results: dict, words: Words, answer: str | None = None) -> tuple:
    """A step's blocks. At a remedy step (drawn once the student has answered): whether the answer was right,
    then the charts and what they say; with the remedy switched off again, a line saying so and the charts."""
    if step.remedy is None:
        return tuple(step.render(state, results, words))
    if not dict(state.values)[step.remedy]:
        notice = b.Notice("info", words("lesson.remedy_off", remedy=words(REGISTRY[step.remedy].label_key)))
        return (notice, *step.render(state, results, words, explain=False))
    return (feedback(step, answer, state, results, words), *step.render(state, results, words))


def idea(step: Step, state: PageState, words: Words) -> tuple:
    """What a remedy step says before the student answers: the idea (per penalty, for regularization)."""
    key = f"lesson.{step.name}.idea"
    if step.remedy == "regularize":
        key += "." + str(dict(state.values)["penalty"])
    return (b.Text(words(key, **_idea_params(state, words))),)


def _idea_params(state: PageState, words: Words) -> dict:
    values = dict(state.values)
    eta, lmbda = state.chain_training.eta, float(values["lmbda"])
    threshold = f"{values['clip_threshold']:g}"
    return {"f": f"{1 / (1 + math.exp(-float(values['forget_bias']))):.3f}", "forget_bias": f"{values['forget_bias']:g}",
            "threshold": threshold, "steps": state.chain_training.steps, "lmbda": f"{lmbda:g}",
            "decay": f"{1 - eta * lmbda:.3g}", "shrink": f"{eta * lmbda:.3g}", "depth": max(state.chain.depth, LONG_CHAIN),
            "rule": words(f"remedy.clip_by.{values['clip_by']}.rule", threshold=threshold)}
