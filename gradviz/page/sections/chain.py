"""Section 1, the chain of single neurons: the article's argument step by step, vanishing | exploding.

In the article's order: the chain and its cost; the chain rule as a product (with the derivation
Δb₁ → Δa₁ → Δz₂ → … → ΔC, collapsible); the slope's curve with its peak (1/4 for σ) and the live z_j on it;
the probabilities behind "usually |w_j σ'(z_j)| < 1/4"; then per case the gradient per layer, the factors,
the product with live numbers, ∂C/∂b₁ against ∂C/∂b₃, "fewer layers", one sentence per remedy, and the
chain trained for a few steps with its symptom checklist.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from gradviz.engine.activations import get_activation
from gradviz.engine.network import Design
from gradviz.experiments.chain import ChainReport, analyze_chain, train_chain
from gradviz.experiments.probability import standard_normal_input_facts
from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.export import chain_table, to_csv
from gradviz.page.formatting import magnitude_latex, magnitude_text, ratio_log10
from gradviz.page.i18n import Words
from gradviz.page.jobs import Job, chain_analysis_cost, chain_training_cost
from gradviz.page.sections.common import (case_columns, case_title, download, metrics_rows, ratio_metric, ratio_text,
                                         remedy_sentences, training_rows)
from gradviz.page.state import CASES, PageState

FEWER_LAYERS_MIN_DEPTH = 30
FULL_PRODUCT_MAX_FACTORS = 5
SLOPE_GRID = np.linspace(-8.0, 8.0, 161)


def jobs(state: PageState) -> dict[str, Job]:
    out = {}
    for case in CASES:
        config = replace(state.chain_at_init, case=case)
        deeper = replace(config, depth=max(config.depth, FEWER_LAYERS_MIN_DEPTH))
        out[f"report.{case}"] = Job(analyze_chain, (config,), "jobs.chain_analysis", chain_analysis_cost(config.depth))
        if deeper != config:
            out[f"fewer.{case}"] = Job(analyze_chain, (deeper,), "jobs.chain_analysis", chain_analysis_cost(deeper.depth))
    return out


def _slope(activation: str) -> str:
    return get_activation(activation).prime_symbol


def _scaled(design: Design) -> bool:
    """Whether the skip connection scales its branch (a_j = a_{j−1} + s·layer(a_{j−1}), s ≠ 1)."""
    return design.residual is not None and design.branch_scale != 1.0


def _factor_symbol(design: Design, j: str) -> str:
    """The factor ∂a_j/∂a_{j−1} in symbols: w_j σ'(z_j); with gates f_j + i_j w_j σ'(z_j); with a skip connection
    1 + s·(that)."""
    term = rf"w_{{{j}}}{_slope(design.activation)}(z_{{{j}}})"
    gated = design.forget_bias is not None
    inner = rf"f_{{{j}}} + i_{{{j}}}{term}" if gated else term
    if design.residual is None:
        return f"({inner})" if gated else inner
    return rf"(1 + s\,({inner}))" if _scaled(design) and gated else rf"(1 + {'s' if _scaled(design) else ''}{inner})"


def _first_symbol(design: Design) -> str:
    """∂a_1/∂b_1 in symbols: σ'(z_1), i_1 σ'(z_1) with gates, times s for a scaled skip connection."""
    slope = rf"{_slope(design.activation)}(z_1)"
    slope = rf"i_1{slope}" if design.forget_bias is not None else slope
    return rf"s\,{slope}" if _scaled(design) else slope


def _third_symbol(design: Design) -> str:
    """∂a_3/∂b_3 in symbols (as _first_symbol)."""
    return _first_symbol(design).replace("z_1", "z_3").replace("i_1", "i_3")


def _term(log10_value: float, sign: float) -> str:
    number = magnitude_latex(log10_value, sign)
    return f"({number})" if sign < 0 else number


def _per_line(design: Design) -> int:
    """Factors per line of a formula, so a line fits a 400 px phone (a gated or scaled factor is twice as long)."""
    return 1 if design.forget_bias is not None or _scaled(design) else 2


def _lines(head: str, terms: list[str], joiner: str, per_line: int) -> list[str]:
    """`head terms…` broken into aligned lines of at most per_line terms each."""
    rows = [terms[k:k + per_line] for k in range(0, len(terms), per_line)] or [[]]
    first = f"{head} " + f" {joiner} ".join(rows[0])
    return [first] + [rf"&\quad {joiner} " + f" {joiner} ".join(row) for row in rows[1:]]


def _elided(items: list[str], depth: int, words: Words) -> list[str]:
    """The first two factors, a brace counting the ones left out, the last one."""
    if len(items) <= FULL_PRODUCT_MAX_FACTORS:
        return items
    hidden = len(items) - 3
    gap = rf"\underbrace{{\cdots}}_{{{hidden}\,\text{{{words('chain.formula.more')}}}}}"
    return items[:2] + [gap, items[-1]]


def general_formula(design: Design, words: Words) -> str:
    """∂C/∂b_1 = ∂a_1/∂b_1 · Π_j factor_j · ∂C/∂a_L, in symbols."""
    first = _first_symbol(design)
    factors = [_factor_symbol(design, "2"), _factor_symbol(design, "3"), r"\cdots", _factor_symbol(design, "L")]
    lines = _lines(r"\frac{\partial C}{\partial b_1} &=", [first] + factors + [r"\frac{\partial C}{\partial a_L}"],
                   r"\,", _per_line(design) + 1)
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"


def product_latex(report: ChainReport, words: Words) -> str:
    """∂C/∂b_1 with this chain's own numbers: the symbols, the numbers, their product, the total; long chains
    show the first two factors, how many are left out, and the last, and every line fits a phone."""
    design, depth = report.config.design, report.depth
    per_line = _per_line(design)
    symbols = [_first_symbol(design)] + [_factor_symbol(design, str(j)) for j in range(2, depth + 1)]
    numbers = [_term(report.da_db_log10[0], 1.0)] + [_term(v, s) for v, s in
                                                      zip(report.factor_log10[1:], report.factor_sign[1:])]
    grad_a = rf"\frac{{\partial C}}{{\partial a_{{{depth}}}}}"
    lines = _lines(r"\frac{\partial C}{\partial b_1} &=", _elided(symbols, depth, words) + [grad_a], r"\,", per_line)
    lines += _lines("&=", _elided(numbers, depth, words) + [grad_a], r"\times", per_line)
    with np.errstate(invalid="ignore"):
        product_log10 = float(report.da_db_log10[0] + np.sum(report.factor_log10[1:]))
    product_sign = float(np.prod(report.factor_sign[1:]))
    grad_a_value = report.grad_a_L
    grad_a_number = _term(math.log10(abs(grad_a_value)) if grad_a_value else -math.inf, math.copysign(1.0, grad_a_value))
    lines.append(f"&= {magnitude_latex(product_log10, product_sign, digits=7)}" + rf" \times {grad_a_number}")
    lines.append(f"&= {magnitude_latex(report.grad_b_log10[0], report.grad_b_sign[0], digits=7)}")
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"


def b1_b3_latex(report: ChainReport, words: Words) -> str:
    """The article's figure gp6: ∂C/∂b_1 and ∂C/∂b_3 one above the other, sharing their last terms (broken
    into lines that fit a phone)."""
    design = report.config.design
    depth = report.depth
    per_line = _per_line(design)
    shared = [r"\cdots"] if depth > 4 else [_factor_symbol(design, str(j)) for j in range(4, depth + 1)]
    grad_a = rf"\frac{{\partial C}}{{\partial a_{{{depth}}}}}"
    first, third = _first_symbol(design), _third_symbol(design)
    extra = [_factor_symbol(design, "2"), _factor_symbol(design, "3")]
    ratio = ratio_log10(report.grad_b_log10[0], report.grad_b_log10[2])
    ratio = magnitude_latex(ratio) if ratio is not None else r"\text{—}"
    lines = _lines(r"\frac{\partial C}{\partial b_1} &=", [first] + extra + shared + [grad_a], r"\,", per_line)
    lines += _lines(r"\frac{\partial C}{\partial b_3} &=", [third] + shared + [grad_a], r"\,", per_line)
    lines.append(r"\left|\frac{\partial C/\partial b_1}{\partial C/\partial b_3}\right| &= " + ratio)
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"


def derivation_blocks(report: ChainReport, words: Words) -> list:
    """The article's derivation, step by step, with this chain's numbers: Δb₁ → Δa₁ → Δz₂ → … → ΔC."""
    r = report.config.remedies
    slope = _slope(r.activation)
    da1 = magnitude_latex(report.da_db_log10[0])
    steps = [words("chain.derivation.intro"),
             rf"$\Delta a_1 \approx \frac{{\partial a_1}}{{\partial b_1}}\Delta b_1 = {slope}(z_1)\,\Delta b_1 = {da1}\,\Delta b_1$"]
    if report.depth >= 2:
        w2 = f"{report.w[1]:.4g}"
        steps.append(rf"$\Delta z_2 \approx w_2\,\Delta a_1 = {w2}\,\Delta a_1$")
        steps.append(rf"$\Delta a_2 \approx {slope}(z_2)\,\Delta z_2 \approx {slope}(z_1)\,w_2{slope}(z_2)\,\Delta b_1$")
    steps.append(words("chain.derivation.pattern"))
    final = (rf"\begin{{aligned}} \Delta C &\approx {slope}(z_1)\,w_2{slope}(z_2) \\ "
             rf"&\quad \cdots w_L{slope}(z_L)\,\frac{{\partial C}}{{\partial a_L}}\,\Delta b_1 \end{{aligned}}")
    return [b.Text("\n\n".join(steps)), b.Latex(final), b.Text(words("chain.derivation.divide"))]


def facts_blocks(activation: str, gated: bool, words: Words) -> list:
    """The slope's peak and the probabilities the argument rests on, for the current activation."""
    act = get_activation(activation)
    facts = standard_normal_input_facts(activation)
    percent = lambda p: words("common.percent", value=f"{100 * p:.1f}")
    peak = "1/4" if activation == "sigmoid" else magnitude_text(math.log10(act.max_slope))
    items = [b.Metric(words(f"chain.fact.peak.{activation}"), peak, words(f"chain.fact.peak.{activation}.help"))]
    items.append(b.Metric(words("chain.fact.abs_w_below_1"), percent(facts["abs_w_below_1"]),
                          words(f"chain.fact.abs_w_below_1.{activation}.help")))
    if activation == "sigmoid":
        items.append(b.Metric(words("chain.fact.abs_w_below_quarter"), percent(facts["abs_w_below_quarter"]),
                              words("chain.fact.abs_w_below_quarter.help")))
        items.append(b.Metric(words("chain.fact.factor_below_quarter"), percent(facts["factor_below_quarter"]),
                              words("chain.fact.factor_below_quarter.help")))
    else:
        items.append(b.Metric(words("chain.fact.neuron_off"), percent(facts["neuron_off"]),
                              words("chain.fact.neuron_off.help")))
    blocks = [b.Metrics(tuple(items))]
    if gated:
        blocks.append(b.Caption(words("chain.fact.gated")))
    return blocks


def slope_chart(reports: dict[str, ChainReport], activation: str, words: Words) -> b.Chart:
    """The activation's slope a'(z) with its peak, and the z_j of both chains on it (the article's gp5)."""
    act = get_activation(activation)
    live_z = np.concatenate([reports[case].z for case in CASES])
    with np.errstate(over="ignore"):
        live_slope = act.prime(live_z)
    peak_label = words(f"chain.slope.peak.{activation}")
    return charts.slope_curve_chart("chain-slope", SLOPE_GRID, act.prime(SLOPE_GRID), live_z, live_slope,
                                    x_title="z", y_title=words(f"chain.slope.axis.{activation}"),
                                    curve_title=words(f"chain.slope.axis.{activation}"),
                                    live_title=words("chain.slope.live"), peak_label=peak_label,
                                    peak=act.max_slope, notes=[],
                                    outside_note=words("chain.slope.outside", count="{count}"))


def gradient_chart(report: ChainReport, words: Words, reference: ChainReport | None = None,
                   reference_title: str = "", key: str | None = None) -> b.Chart:
    """|∂C/∂b_j| per layer, titled with its case; reference: the same chain without a remedy, dotted grey."""
    notes = []
    if report.dead:
        notes.append(words("chain.chart.dead"))
    elif np.any(report.grad_b_log10 == -np.inf):
        notes.append(words("chain.chart.some_zero", count=int(np.sum(report.grad_b_log10 == -np.inf))))
    if report.depth > charts.MAX_POINTS:
        notes.append(words("chain.chart.thinned", shown=charts.MAX_POINTS, total=report.depth))
    axis = words("chain.grad.axis")
    case = report.config.case
    return charts.per_layer_chart(key or f"chain-{case}-gradient", report.layer, report.grad_b_log10,
                                  report.grad_b_sign, x_title=words("common.layer_j"), y_title=axis,
                                  value_title=axis, color=charts.COLORS[case], notes=notes,
                                  floor_note=words("page.below_floor", count="{count}"),
                                  title=case_title(words, case, words("chain.grad.chart")),
                                  reference=None if reference is None else reference.grad_b_log10,
                                  reference_title=reference_title)


def factor_title(report: ChainReport) -> str:
    """The factor ∂a_j/∂a_{j−1} in plain text (as _factor_symbol)."""
    design = report.config.design
    slope = get_activation(design.activation).prime_text
    inner = f"f_j + i_j w_j {slope}(z_j)" if design.forget_bias is not None else f"w_j {slope}(z_j)"
    if design.residual is None:
        return inner
    return f"1 + s·({inner})" if _scaled(design) and design.forget_bias is not None else \
        f"1 + {'s·' if _scaled(design) else ''}{inner}"


def _factor_lines(report: ChainReport) -> dict[str, float]:
    """The reference lines of the factor chart: 1/4 (σ's largest slope) and 1 for the plain sigmoid chain, else 1."""
    design = report.config.design
    plain = design.forget_bias is None and design.residual is None
    return {"1/4": 0.25, "1": 1.0} if design.activation == "sigmoid" and plain else {"1": 1.0}


def factor_chart(report: ChainReport, words: Words) -> b.Chart | None:
    """The factors j = 2..L, the ones the product multiplies (layer 1 contributes ∂a_1/∂b_1 instead)."""
    if report.depth < 2:
        return None
    notes = []
    zero = int(np.sum(report.factor_log10[1:] == -np.inf))
    if zero:
        notes.append(words("chain.chart.factor_zero", count=zero))
    title = factor_title(report)
    case = report.config.case
    return charts.factor_chart(f"chain-{case}-factors", report.layer[1:], report.factor_log10[1:],
                               report.factor_sign[1:], x_title=words("common.layer_j"), y_title=f"|{title}|",
                               value_title=title, grows=words("chain.factor.grows"), shrinks=words("chain.factor.shrinks"),
                               lines=_factor_lines(report), notes=notes,
                               title=case_title(words, case, words("chain.factor.chart", factor=title)))


def fewer_layers_chart(report: ChainReport, words: Words) -> b.Chart:
    """|∂C/∂b_1| / |∂C/∂b_L| against the depth L of the same chain cut shorter (the remedy "fewer layers")."""
    ratio = report.log10_ratio_by_depth()
    axis = words("chain.fewer.axis")
    notes = [words("chain.fewer.note", depth=report.depth)]
    missing = int(np.sum(~np.isfinite(ratio) & (ratio != -np.inf)))
    if missing == len(ratio):
        notes.append(words("chain.fewer.none"))
    elif missing:
        notes.append(words("chain.fewer.some", count=missing))
    case = report.config.case
    return charts.per_layer_chart(f"chain-{case}-fewer", report.layer, ratio, None,
                                  x_title=words("chain.fewer.x"), y_title=axis, value_title=axis,
                                  color=charts.COLORS[case], notes=notes,
                                  floor_note=words("page.below_floor", count="{count}"),
                                  title=case_title(words, case, words("chain.fewer.chart")))


def setup_caption(report: ChainReport, words: Words) -> str:
    r = report.config.remedies
    neurons = words(f"chain.neurons.{r.activation}") + (words("chain.neurons.gated") if r.gated else "")
    if report.config.design.residual is not None:
        neurons += words("chain.neurons.skip", s=branch_scale_text(report.config.design))
    if report.config.case == "vanishing":
        return words("chain.setup.vanishing", neurons=neurons, seed=report.config.seed)
    return words("chain.setup.exploding", neurons=neurons, z=f"{get_activation(r.activation).steepest_z:g}")


def _count_factors(report: ChainReport) -> dict[str, int]:
    factors = report.factor_log10[1:]
    return {"n": len(factors), "below_quarter": int(np.sum(factors < math.log10(0.25))),
            "above_one": int(np.sum(factors > 0)), "zero": int(np.sum(factors == -np.inf))}


def _product_log10(report: ChainReport) -> float:
    """log10 |Π_{j=2..L} factor_j|, what the chain multiplies a gradient by between the last layer and the first."""
    with np.errstate(invalid="ignore"):
        return float(np.sum(report.factor_log10[1:]))


def factors_range(report: ChainReport) -> tuple[str, str]:
    """The smallest and the largest factor j = 2..L, as text."""
    factors = report.factor_log10[1:]
    return magnitude_text(float(np.min(factors))), magnitude_text(float(np.max(factors)))


def _kind(design: Design) -> str:
    """Which story a chain's factors tell: "skip" (each factor 1 + …), "gated" (f + …), or its activation's."""
    if design.residual is not None:
        return "skip"
    return "gated" if design.forget_bias is not None else design.activation


def story(report: ChainReport, words: Words) -> str:
    """What this chain's numbers say, in the article's terms."""
    r, case = report.config.remedies, report.config.case
    kind = _kind(report.config.design)
    sentences = []
    if case == "exploding":
        factor = magnitude_text(report.factor_log10[-1], report.factor_sign[-1])
        sentences.append(words(f"chain.story.exploding.{kind}", factor=factor, peak=magnitude_text(report.da_db_log10[0]),
                               f=f"{report.f[0]:.3f}" if r.gated else ""))
    elif kind == "skip":
        sentences.append(words("chain.story.vanishing.skip", form=factor_form(report)))
    elif r.gated and report.depth >= 2:
        low, high = factors_range(report)
        sentences.append(words("chain.story.vanishing.gated", f=f"{report.f[0]:.3f}", forget_bias=f"{r.forget_bias:g}",
                               low=low, high=high, n=report.depth - 1, product=magnitude_text(_product_log10(report))))
    elif not r.gated:
        sentences.append(words(f"chain.story.vanishing.{r.activation}"))
    counts = _count_factors(report)
    if counts["n"] and not r.gated:
        sentences.append(words("chain.story.counts", **counts))
        if counts["zero"]:
            sentences.append(words("chain.story.zero"))
    sentences.append(words("chain.story.ratio", ratio=ratio_text(words, report.grad_b_log10[0], report.grad_b_log10[-1])))
    if r.gated and report.depth >= 2 and math.isfinite(report.log10_ratio_first_last):
        sentences.append(words("chain.story.ends", first=magnitude_text(report.da_db_log10[0]),
                               last=magnitude_text(report.da_db_log10[-1]), depth=report.depth))
    return " ".join(sentences)


def analysis_facts(report: ChainReport, words: Words) -> dict:
    """The numbers the chain at initialization shows, for the remedies' sentences (gradviz.training.remedies)."""
    r = report.config.remedies
    low, high = factors_range(report) if report.depth >= 2 else ("—", "—")
    return {"case": report.config.case, "dead": report.dead or report.grad_b_log10[0] == -np.inf,
            "n": report.depth - 1, "product_log10": _product_log10(report),
            "product": magnitude_text(_product_log10(report)), "factor": magnitude_text(report.factor_log10[-1]),
            "f": f"{report.f[0]:.3f}" if r.gated else "", "low": low, "high": high,
            "form": factor_form(report), "slope": get_activation(r.activation).prime_text,
            "ratio": ratio_text(words, report.grad_b_log10[0], report.grad_b_log10[-1])}


def factor_form(report: ChainReport) -> str:
    """The factor's formula in plain text, with the branch scale s's value when the skip connection scales it."""
    form = factor_title(report)
    return f"{form} (s = {branch_scale_text(report.config.design)})" if _scaled(report.config.design) else form


def branch_scale_text(design: Design) -> str:
    """s, the skip connection's branch scale, as text: "1", or "1/√L = 0.5"."""
    if not _scaled(design):
        return "1"
    return f"1/√{round(design.branch_scale ** -2)} = {design.branch_scale:.3g}"


def training_facts(state: PageState, report: ChainReport, trained, words: Words) -> dict:
    """The numbers the trained chain shows, for the sentences of the remedies that act on training."""
    moved = trained.weight_change[-1] if trained.weight_change is not None else None
    return {"capped": trained.symptoms["clipped"].evidence["capped"], "updates": len(trained.update_grad_log10),
            "ratio": ratio_text(words, report.grad_b_log10[0], report.grad_b_log10[-1]),
            "lmbda": f"{state.value('lmbda'):g}", "penalty": state.value("penalty"),
            "first": _moved(moved[0] if moved is not None else math.nan, words)}


def training_sentences(state: PageState, report: ChainReport, trained, words: Words) -> list[str]:
    """What one step did, and one sentence per remedy on that acts on training (the trained chain's remedies: the
    report is of the chain at initialization, without them)."""
    collapse = collapse_sentence(trained, report, words)
    return ([collapse] if collapse else []) + remedy_sentences(
        "chain", state.chain.remedies, training_facts(state, report, trained, words), words, training=True)


COLLAPSE_DECADES = 6.0  # a gradient that falls this many decades in one step has saturated the chain


def collapsed(trained) -> bool:
    """One step threw the chain into saturation: the gradient fell by COLLAPSE_DECADES or more at once."""
    g = trained.update_grad_log10
    with np.errstate(invalid="ignore"):
        return len(g) >= 2 and bool(np.isfinite(g[0]) and g[1] <= g[0] - COLLAPSE_DECADES)


def collapse_sentence(trained, report: ChainReport, words: Words) -> str | None:
    """The exploding chain's one-step collapse, where it happens: the step saturated every later neuron, and the
    explosion turned into vanishing (Pascanu's wall); a loss near 0 there is the target met by saturation."""
    if not collapsed(trained):
        return None
    loss0, loss1 = trained.update_loss[0], trained.update_loss[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        fell = loss0 > 0 and np.log10(loss1 / loss0) <= -COLLAPSE_DECADES
    return words("chain.collapse." + ("perfect" if fell else "stuck"), loss0=number_text(loss0),
                 loss1=number_text(loss1), g0=magnitude_text(trained.update_grad_log10[0]),
                 g1=magnitude_text(trained.update_grad_log10[1]), factor=magnitude_text(report.factor_log10[-1]),
                 y=f"{report.config.y:g}")


def number_text(value: float) -> str:
    """A plain float (a loss) as text, 0 and NaN included."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else "∞"
    return magnitude_text(math.log10(abs(value)), math.copysign(1.0, value)) if value else "0"


def _moved(fraction: float, words: Words) -> str:
    return words("common.percent", value=f"{100 * fraction:.3g}") if math.isfinite(fraction) else "—"


def column(case: str, report: ChainReport, fewer: ChainReport, words: Words) -> list[tuple]:
    """One case's rows at initialization: what it is, its numbers, its charts, its product."""
    metrics = [ratio_metric(words, words("chain.metric.ratio"), words("chain.metric.ratio.help"),
                            report.grad_b_log10[0], report.grad_b_log10[-1])]
    if report.depth >= 3:
        metrics.append(ratio_metric(words, words("chain.metric.b1_b3"), words("chain.metric.b1_b3.help"),
                                    report.grad_b_log10[0], report.grad_b_log10[2]))
    factors = factor_chart(report, words)
    if report.overflow_layer is not None:
        product = (b.Notice("warning", words("chain.overflow", layer=report.overflow_layer)),)
    else:
        product = (b.Latex(product_latex(report, words)), b.Text(story(report, words)))
    b1_b3 = (b.Text(words("chain.b1_b3.title")), b.Latex(b1_b3_latex(report, words))) \
        if report.depth >= 3 and report.overflow_layer is None else ()
    return [
        (b.Heading(words(f"chain.case.{case}"), 3), b.Caption(setup_caption(report, words))) + metrics_rows(metrics),
        (gradient_chart(report, words),),
        (factors,) if factors else (),
        product,
        b1_b3,
        (b.Text(words("chain.fewer.title")), fewer_layers_chart(fewer, words)),
        tuple(b.Text(sentence) for sentence in remedy_sentences("chain", report.config.remedies,
                                                                analysis_facts(report, words), words))
        + (download(words, "chain.csv", lambda: to_csv(chain_table(report)), f"gradviz_chain_{case}.csv"),),
    ]


def training_jobs(state: PageState) -> dict[str, Job]:
    out = {}
    for case in CASES:
        config = replace(state.chain, case=case)
        at_init = replace(state.chain_at_init, case=case)
        out[f"report.{case}"] = Job(analyze_chain, (at_init,), "jobs.chain_analysis", chain_analysis_cost(config.depth))
        out[f"training.{case}"] = Job(train_chain, (config, state.chain_training), "jobs.chain_training",
                                      chain_training_cost(config.depth, state.chain_training.steps,
                                                          state.remedies.gated), progress=True)
    return out


def render_training(state: PageState, results: dict, words: Words) -> tuple:
    """Both chains trained by gradient descent: the charts, what one step did, the remedies and the checklist."""
    columns = []
    for case in CASES:
        report, trained = results[f"report.{case}"], results[f"training.{case}"]
        rows = [(b.Heading(words("chain.training", case=words(f"page.case.{case}"), steps=len(trained.update_loss),
                                 eta=f"{state.chain_training.eta:g}"), 4),),
                tuple(b.Text(sentence) for sentence in training_sentences(state, report, trained, words))]
        columns.append(rows + training_rows(f"chain-{case}", case, trained, words, y_title=words("chain.grad.axis"),
                                            series_title=words("common.layer")))
    return case_columns(columns)


def structure_intro(design: Design, words: Words) -> tuple:
    """What the chain's gates and skip connections change in its factors, said under the formula (nothing for the
    article's plain chain)."""
    said = [words("chain.intro.gated")] if design.forget_bias is not None else []
    if design.residual is not None:
        said.append(words("chain.intro.skip.scaled" if _scaled(design) else "chain.intro.skip",
                          s=branch_scale_text(design)))
    return (b.Text(" ".join(said)),) if said else ()


def render(state: PageState, results: dict, words: Words) -> tuple:
    r = state.chain.remedies
    act = get_activation(r.activation)
    reports = {case: results[f"report.{case}"] for case in CASES}
    head = [b.Heading(words("chain.heading")), b.Text(words(f"chain.intro.{r.activation}")),
            b.Latex(general_formula(state.chain.design, words)), *structure_intro(state.chain.design, words),
            b.Expander(words("chain.derivation.title"), tuple(derivation_blocks(reports["vanishing"], words))),
            b.Text(words(f"chain.slope.title.{act.name}")), slope_chart(reports, act.name, words)]
    head += facts_blocks(act.name, r.gated, words)
    columns = [column(case, reports[case], results.get(f"fewer.{case}", reports[case]), words) for case in CASES]
    return tuple(head) + case_columns(columns)
