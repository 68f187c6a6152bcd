"""Section 4, deep networks and their initialization: predict, then measure.

A plain MLP on the shipped digits at initialization, tanh or ReLU: per hidden layer the spread of the
activations and the back-propagated gradient, the median over seeds with a band, against mean-field
theory's dashed lines — the experiments behind Glorot & Bengio 2010 (5 tanh layers, PyTorch's default
"standard" init against Xavier's) and He et al. 2015 (30 ReLU layers, Xavier against He). The left column
is the initialization chosen in the sidebar, the right one the comparison the papers made.
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
from gradviz.page.sections.common import case_columns
from gradviz.page.state import PageState

RECOMMENDED = {"tanh": ("xavier", "pytorch"), "relu": ("he", "xavier")}
BATCH = 256
PRESETS = {
    "glorot2010": {"section": "deep", "deep_depth": 5, "relu": 0, "init": "pytorch"},
    "he2015": {"section": "deep", "deep_depth": 30, "relu": 1, "init": "xavier"},
}


def configs(state: PageState) -> tuple[DeepConfig, DeepConfig]:
    """(the sidebar's initialization, the one the papers compared it with)."""
    activation = "relu" if state.remedies.activation == "relu" else "tanh"
    chosen = state.remedies.init
    good, bad = RECOMMENDED[activation]
    other = good if chosen != good else bad
    depth, width, seeds = int(state.value("deep_depth")), int(state.value("deep_width")), int(state.value("seeds"))
    make = lambda scheme, gain: DeepConfig(depth, width, activation, scheme, seeds, BATCH, gain)
    return make(chosen, state.remedies.init_gain), make(other, 1.0)


def jobs(state: PageState) -> dict:
    out = {}
    for name, config in zip(("chosen", "compared"), configs(state)):
        cost = config.seeds * dense_training_cost(config.sizes, BATCH, 0) * 2
        out[f"profile.{name}"] = Job(deep_profile, (config,), "jobs.deep", cost, progress=True)
    return out


def _hidden_theory(config: DeepConfig):
    sigma_w2, sigma_b2 = get_scheme(config.scheme).variances(config.width, config.width, config.gain)
    return sigma_w2, sigma_b2, mean_field(config.activation, sigma_w2, sigma_b2)


def _ratio(log10_first: float, log10_last: float) -> str:
    value = log10_first - log10_last
    return magnitude_text(value) if math.isfinite(value) else "—"


def column(name: str, profile, words: Words) -> list[tuple]:
    config = profile.config
    sigma_w2, sigma_b2, theory = _hidden_theory(config)
    label = words(f"settings.init.{config.scheme}")
    depth = config.depth
    grad_ratio = _ratio(profile.log10_grad_median[0], profile.log10_grad_median[-1])
    theory_ratio = _ratio(profile.theory_log10_grad[0], profile.theory_log10_grad[-1])
    per_digit_ratio = _ratio(profile.log10_grad_a_median[0], profile.log10_grad_a_median[-1])
    with np.errstate(divide="ignore"):
        spread_log10 = np.log10(profile.spread_median)
        spread_band = (np.log10(profile.spread_low), np.log10(profile.spread_high))
        spread_theory = np.log10(profile.theory_spread)
    seeds_title = words("deep.median", seeds=config.seeds)
    title = lambda what: words("page.chart_title", case=label, what=what)
    spread_chart = charts.per_layer_chart(
        f"deep-{name}-spread", profile.layers, spread_log10, None, x_title=words("layers.hidden_layer"),
        y_title=words("deep.spread.axis"), value_title=seeds_title, color=charts.COLORS["vanishing"], notes=[],
        theory_log10=spread_theory, theory_title=words("layers.theory.line"), band=spread_band,
        floor_note=words("page.below_floor", count="{count}"), title=title(words("deep.spread.axis")))
    grad_chart = charts.per_layer_chart(
        f"deep-{name}-gradient", profile.layers, profile.log10_grad_median, None, x_title=words("layers.hidden_layer"),
        y_title=words("layers.speed.axis"), value_title=seeds_title, color=charts.COLORS["exploding"], notes=[],
        theory_log10=profile.theory_log10_grad, theory_title=words("layers.theory.line"),
        band=(profile.log10_grad_low, profile.log10_grad_high), floor_note=words("page.below_floor", count="{count}"),
        title=title(words("layers.speed.axis")))
    digit_chart = charts.per_layer_chart(
        f"deep-{name}-per-digit", profile.layers, profile.log10_grad_a_median, None,
        x_title=words("layers.hidden_layer"), y_title=words("deep.per_digit.axis"), value_title=seeds_title,
        color="#8c564b", notes=[], theory_log10=profile.theory_log10_grad_a, theory_title=words("layers.theory.line"),
        band=(profile.log10_grad_a_low, profile.log10_grad_a_high), floor_note=words("page.below_floor", count="{count}"),
        title=title(words("deep.per_digit.axis")))
    return [
        (b.Heading(words(f"deep.column.{name}", scheme=label), 3),
         b.Caption(words("deep.setup", formula=get_scheme(config.scheme).formula, depth=depth, width=config.width,
                         act=config.activation, sigma_w2=f"{sigma_w2:.3g}", sigma_b2=f"{sigma_b2:.3g}",
                         phase=words(f"layers.phase.{theory.phase}"))),
         b.Metrics((b.Metric(words("deep.metric.ratio"), grad_ratio, words("deep.metric.ratio.help")),
                    b.Metric(words("deep.metric.theory"), theory_ratio, words("deep.metric.theory.help")),
                    b.Metric(words("deep.metric.factor"), f"{theory.gradient_factor:.3g}",
                             words("deep.metric.factor.help"))), per_row=2)),
        (b.Text(words("deep.spread.title")), spread_chart),
        (b.Text(words("deep.gradient.title")), grad_chart),
        (b.Text(words("deep.per_digit.title")), digit_chart,
         b.Caption(words("deep.per_digit.caption", batch=grad_ratio, digit=per_digit_ratio))),
    ]


def _preset_link(name: str, words: Words) -> str:
    query = "&".join(f"{key}={value}" for key, value in PRESETS[name].items())
    return f"[{words(f'deep.preset.{name}')}](?{query})"


def render(state: PageState, results: dict, words: Words) -> tuple:
    head = (b.Heading(words("deep.heading")), b.Text(words("deep.intro")),
            b.Text(words("deep.presets", glorot=_preset_link("glorot2010", words), he=_preset_link("he2015", words))))
    columns = [column("chosen", results["profile.chosen"], words), column("compared", results["profile.compared"], words)]
    return head + case_columns(columns) + (b.Caption(words("deep.theory.limits")),)
