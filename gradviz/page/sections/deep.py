"""Section 4, deep networks and their initialization: predict, then measure.

A plain MLP on the shipped digits at initialization, tanh or ReLU: per hidden layer the spread of the
activations and the back-propagated gradient, the median over seeds with a band, against mean-field
theory's dashed lines — the experiments behind Glorot & Bengio 2010 (5 tanh layers, PyTorch's default
"standard" init against Xavier's) and He et al. 2015 (30 ReLU layers, Xavier against He). The left column
is the initialization chosen in the sidebar, the right one the comparison the papers made; with skip connections
or normalization on (He et al. 2016b's pre-activation blocks, the 1/√L branch scaling, batch or layer norm), the
left column is that network and the right one the same network plain. Each column gives the measured per-layer
factor of one digit's gradient beside the theory's (the dashed lines), and where batch norm cancels the biases
(∂C/∂b = 0 exactly) the gradient chart is ‖∂C/∂W_l‖ and says so.
"""

from __future__ import annotations

import math

import numpy as np

from gradviz.engine.initializations import get_scheme
from gradviz.engine.meanfield import mean_field
from gradviz.experiments.deep import DeepConfig, deep_profile
from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.formatting import magnitude_text
from gradviz.page.i18n import Words
from gradviz.page.jobs import Job, dense_training_cost
from gradviz.page.sections.common import case_columns, remedy_sentences, speed_symbol
from gradviz.page.state import PageState
from gradviz.training.remedies import REMEDIES, applicable

RECOMMENDED = {"tanh": ("xavier", "pytorch"), "relu": ("he", "xavier")}
BATCH = 256
PRESETS = {
    "glorot2010": {"section": "deep", "deep_depth": 5, "relu": 0, "init": "pytorch"},
    "he2015": {"section": "deep", "deep_depth": 30, "relu": 1, "init": "xavier"},
    "he2016": {"section": "deep", "deep_depth": 50, "relu": 1, "init": "he", "skip": 1},
    "yang2019": {"section": "deep", "deep_depth": 50, "relu": 1, "init": "he", "norm": "batch"},
}


def configs(state: PageState) -> dict[str, DeepConfig]:
    """{"chosen": the sidebar's network, and what it is compared with}: with skip connections or normalization on,
    "plain", the same network without them; else "compared", the initialization the papers compared it with."""
    r = applicable(state.remedies, "deep")
    activation = "relu" if r.activation == "relu" else "tanh"
    good, bad = RECOMMENDED[activation]
    other = good if r.init != good else bad
    depth, width, seeds = int(state.value("deep_depth")), int(state.value("deep_width")), int(state.value("seeds"))
    chosen = DeepConfig(depth, width, activation, r.init, seeds, BATCH, r.init_gain, r.residual, r.norm,
                        r.branch_scaling)
    plain = DeepConfig(depth, width, activation, r.init, seeds, BATCH, r.init_gain)
    if chosen != plain:
        return {"chosen": chosen, "plain": plain}
    return {"chosen": chosen, "compared": DeepConfig(depth, width, activation, other, seeds, BATCH)}


def jobs(state: PageState) -> dict:
    out = {}
    for name, config in configs(state).items():
        cost = config.seeds * dense_training_cost(config.sizes, BATCH, 0) * 2
        out[f"profile.{name}"] = Job(deep_profile, (config,), "jobs.deep", cost, progress=True)
    return out


def _hidden_theory(config: DeepConfig):
    sigma_w2, sigma_b2 = get_scheme(config.scheme).variances(config.width, config.width, config.gain)
    return sigma_w2, sigma_b2, mean_field(config.activation, sigma_w2, sigma_b2)


def _ratio(log10_first: float, log10_last: float) -> str:
    value = log10_first - log10_last
    return magnitude_text(value) if math.isfinite(value) else "—"


def _factor_text(factor: float) -> str:
    return f"{factor:.3g}" if math.isfinite(factor) else "—"


def _line(log10_values: np.ndarray) -> np.ndarray | None:
    """A theory line to draw, or None where no theory covers the network (all NaN)."""
    return None if np.isnan(log10_values).all() else log10_values


def predicted_factor(profile) -> float:
    """The theory's ‖∂c/∂a_l‖ / ‖∂c/∂a_{l+1}‖ over the layers DeepProfile.signal_factor measures (its median; NaN
    where no theory covers the network)."""
    theory = profile.theory_signal_factor
    depth = profile.config.depth
    middle = theory[depth // 3:max(2 * depth // 3, depth // 3 + 1)]
    return math.nan if np.isnan(middle).all() else float(np.median(middle))


def structure_words(config: DeepConfig, words: Words) -> str:
    """The hidden layers' skip connections and normalization in words (empty for a plain network)."""
    if config.residual:
        scale = words("deep.structure.scale", blocks=config.depth - 1) if config.branch_scaling else ""
        inner = words(f"deep.structure.inside.{config.norm or 'none'}")
        return words("deep.structure.blocks", depth=config.depth, scale=scale, act=config.activation, inner=inner)
    return words(f"deep.structure.after.{config.norm}") if config.norm else ""


def structure_label(name: str, config: DeepConfig, words: Words) -> str:
    """The network in a few words for a chart's title: its initialization and its skip connections and
    normalization ("plain" for the comparison without them)."""
    parts = [words(f"settings.init.{config.scheme}")]
    if config.residual:
        parts.append(words("deep.label.skip.scaled" if config.branch_scaling else "deep.label.skip"))
    if config.norm:
        parts.append(words(f"remedy.norm.{config.norm}"))
    if name == "plain":
        parts.append(words("deep.label.plain"))
    return " · ".join(parts)


def facts(profile, words: Words) -> dict:
    """The numbers a column shows, for the remedies' sentences (gradviz.training.remedies)."""
    predicted = predicted_factor(profile)
    return {"measured": _factor_text(profile.signal_factor()),
            "predicted": _factor_text(predicted) if math.isfinite(predicted) else words("deep.no_theory"),
            "depth": profile.config.depth, "blocks": profile.config.depth - 1,
            "digit": _ratio(profile.log10_grad_a_median[0], profile.log10_grad_a_median[-1])}


def _heading(name: str, config: DeepConfig, words: Words) -> str:
    return words(f"deep.column.{name}", scheme=words(f"settings.init.{config.scheme}"),
                 structure=structure_label("chosen", config, words))


def column(name: str, profile, remedies, words: Words) -> list[tuple]:
    config = profile.config
    sigma_w2, sigma_b2, theory = _hidden_theory(config)
    structure = structure_words(config, words)
    grad_ratio = _ratio(profile.log10_grad_median[0], profile.log10_grad_median[-1])
    theory_ratio = _ratio(profile.theory_log10_grad[0], profile.theory_log10_grad[-1])
    per_digit_ratio = _ratio(profile.log10_grad_a_median[0], profile.log10_grad_a_median[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        spread_log10 = np.log10(profile.spread_median)
        spread_band = (np.log10(profile.spread_low), np.log10(profile.spread_high))
        spread_theory = np.log10(profile.theory_spread)
    seeds_title = words("deep.median", seeds=config.seeds)
    case = structure_label(name, config, words)
    title = lambda what: words("page.chart_title", case=case, what=what)
    speed = words("layers.speed.axis", g=speed_symbol(config.speed))
    spread_chart = charts.per_layer_chart(
        f"deep-{name}-spread", profile.layers, spread_log10, None, x_title=words("layers.hidden_layer"),
        y_title=words("deep.spread.axis"), value_title=seeds_title, color=charts.COLORS["vanishing"], notes=[],
        theory_log10=_line(spread_theory), theory_title=words("layers.theory.line"), band=spread_band,
        floor_note=words("page.below_floor", count="{count}"), title=title(words("deep.spread.axis")))
    grad_chart = charts.per_layer_chart(
        f"deep-{name}-gradient", profile.layers, profile.log10_grad_median, None, x_title=words("layers.hidden_layer"),
        y_title=speed, value_title=seeds_title, color=charts.COLORS["exploding"], notes=[],
        theory_log10=_line(profile.theory_log10_grad), theory_title=words("layers.theory.line"),
        band=(profile.log10_grad_low, profile.log10_grad_high), floor_note=words("page.below_floor", count="{count}"),
        title=title(speed))
    digit_chart = charts.per_layer_chart(
        f"deep-{name}-per-digit", profile.layers, profile.log10_grad_a_median, None,
        x_title=words("layers.hidden_layer"), y_title=words("deep.per_digit.axis"), value_title=seeds_title,
        color="#8c564b", notes=[], theory_log10=_line(profile.theory_log10_grad_a),
        theory_title=words("layers.theory.line"), band=(profile.log10_grad_a_low, profile.log10_grad_a_high),
        floor_note=words("page.below_floor", count="{count}"), title=title(words("deep.per_digit.axis")))
    setup = words("deep.setup", formula=get_scheme(config.scheme).formula, depth=config.depth, width=config.width,
                  act=config.activation, sigma_w2=f"{sigma_w2:.3g}", sigma_b2=f"{sigma_b2:.3g}")
    setup += words("deep.setup.structure", structure=structure) if structure else \
        words("deep.setup.phase", phase=words(f"layers.phase.{theory.phase}"))
    metrics = (b.Metric(words("deep.metric.ratio", g=speed_symbol(config.speed)), grad_ratio,
                        words("deep.metric.ratio.help")),
               b.Metric(words("deep.metric.theory"), theory_ratio, words("deep.metric.theory.help")),
               b.Metric(words("deep.metric.measured"), _factor_text(profile.signal_factor()),
                        words("deep.metric.measured.help", seeds=config.seeds)),
               b.Metric(words("deep.metric.predicted"), _factor_text(predicted_factor(profile)),
                        words("deep.metric.predicted.help")))
    said = remedy_sentences("deep", remedies, facts(profile, words), words) if name == "chosen" else []
    gradient_title = words("deep.gradient.title", g=speed_symbol(config.speed))
    return [
        (b.Heading(_heading(name, config, words), 3), b.Caption(setup), b.Metrics(metrics, per_row=2)),
        tuple(b.Text(sentence) for sentence in said),
        (b.Text(words("deep.spread.title")), spread_chart),
        (b.Text(gradient_title), grad_chart),
        (b.Text(words("deep.per_digit.title")), digit_chart,
         b.Caption(words("deep.per_digit.caption", batch=grad_ratio, digit=per_digit_ratio,
                         g=speed_symbol(config.speed)))),
    ]


def _preset_link(name: str, words: Words) -> str:
    query = "&".join(f"{key}={value}" for key, value in PRESETS[name].items())
    return f"[{words(f'deep.preset.{name}')}](?{query})"


def theory_sentences(remedies, words: Words) -> list[str]:
    """The theory of each remedy on that has one in the deep networks (the registry's theory_key)."""
    return [words(remedy.theory_key) for remedy in REMEDIES
            if remedy.theory_key and remedy.is_on(remedies) and remedy.applies("deep", remedies)]


def render(state: PageState, results: dict, words: Words) -> tuple:
    remedies = applicable(state.remedies, "deep")
    links = {name: _preset_link(name, words) for name in PRESETS}
    head = (b.Heading(words("deep.heading")), b.Text(words("deep.intro")), b.Text(words("deep.presets", **links)))
    head += tuple(b.Text(sentence) for sentence in theory_sentences(remedies, words))
    columns = [column(name, results[f"profile.{name}"], remedies, words) for name in configs(state)]
    return head + case_columns(columns) + (b.Caption(words("deep.theory.limits")),)
