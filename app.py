"""gradviz: the Streamlit page. Widgets become config objects, cached calls return results, charts go on screen."""

from __future__ import annotations

import streamlit as st

from gradviz.chain import CASES, ChainConfig, ChainReport, analyze_chain
from gradviz.charts import chain_factor_chart, chain_gradient_chart
from gradviz.explain import chain_rule_latex, chain_story, factor_title, percent, weight_probability_facts
from gradviz.formatting import magnitude_text

MAX_DEPTH = 10_000
CASE_TITLES = {"vanishing": "Vanishing", "exploding": "Exploding"}
CASE_SUBTITLES = {
    "vanishing": "sigmoid neurons, w_j and b_j drawn from N(0, 1)",
    "exploding": "every w_j = 100, every z_j = 0",
}

st.set_page_config(page_title="gradviz: vanishing and exploding gradients", layout="wide")


@st.cache_data(max_entries=256, show_spinner=False)
def chain_report(config: ChainConfig) -> ChainReport:
    return analyze_chain(config)


@st.cache_data(max_entries=4, show_spinner=False)
def probability_facts() -> dict[str, float]:
    return weight_probability_facts()


def sidebar_settings() -> dict:
    """The sidebar's widgets, read into one plain dict of settings."""
    sb = st.sidebar
    sb.header("Network")
    depth = sb.number_input("Depth L (layers)", min_value=1, max_value=MAX_DEPTH, value=4, step=1,
                            help="Number of single-neuron layers in the chain; the article uses 4.")
    a0 = sb.number_input("Input a₀", min_value=-10.0, max_value=10.0, value=1.0, step=0.1)
    y = sb.number_input("Target y", min_value=-10.0, max_value=10.0, value=0.0, step=0.1,
                        help="The cost is C = ½(a_L − y)², so ∂C/∂a_L = a_L − y.")
    seed = sb.number_input("Seed (vanishing case)", min_value=0, max_value=2**31 - 1, value=0, step=1,
                           help="Seed of numpy's default_rng for the N(0, 1) weights and biases.")
    sb.header("Remedies")
    relu = sb.toggle("ReLU instead of sigmoid", help="Every neuron uses relu(z) = max(z, 0); its slope is 1 for z > 0, else 0.")
    gating = sb.toggle("LSTM-style gating", help="An additive cell path across layers: a_l = f⊙a_{l−1} + i⊙act(z_l).")
    forget_bias = None
    if gating:
        forget_bias = sb.slider("Forget-gate bias b_f", min_value=-5.0, max_value=10.0, value=3.0, step=0.5,
                                help="f = σ(b_f) in every layer (gate weights start at 0); i = σ(0) = 0.5.")
    return {"depth": int(depth), "a0": float(a0), "y": float(y), "seed": int(seed),
            "activation": "relu" if relu else "sigmoid", "forget_bias": forget_bias}


def show_facts() -> None:
    facts = probability_facts()
    cols = st.columns(4)
    cols[0].metric("σ'(0), the largest slope", "1/4", help="σ'(z) = σ(z)(1 − σ(z)) peaks at z = 0.")
    cols[1].metric("P(|w| < 1), w ~ N(0, 1)", percent(facts["abs_w_below_1"]),
                   help="Nielsen's condition for |w σ'(z)| < 1/4.")
    cols[2].metric("P(|w| < 1/4), the article's misprint", percent(facts["abs_w_below_quarter"]),
                   help="The article says N(0, 1) weights usually satisfy |w| < 1/4; they do only this often.")
    cols[3].metric("P(|w σ'(z)| < 1/4)", percent(facts["factor_below_quarter"]),
                   help="For w, b ~ N(0, 1) and a neuron input a = 0.5: z = w·a + b. Computed by numerical integration.")


def show_chain_column(report: ChainReport) -> None:
    cfg = report.config
    gated = cfg.forget_bias is not None
    st.subheader(CASE_TITLES[cfg.case])
    st.caption(CASE_SUBTITLES[cfg.case] + (f" · seed {cfg.seed}" if cfg.case == "vanishing" else ""))
    st.metric("|∂C/∂b₁| / |∂C/∂b_L|", magnitude_text(report.log10_ratio_first_last),
              help="How much faster (> 1) or slower (< 1) the first bias learns than the last.")
    st.markdown("**|∂C/∂b_j| per layer** (log scale)")
    st.altair_chart(chain_gradient_chart(report.layers), width="stretch")
    title = factor_title(cfg.activation, gated)
    st.markdown(f"**Factors |{title}|** against 1/4 and 1 (log scale)")
    st.altair_chart(chain_factor_chart(report.layers, title), width="stretch")
    st.latex(chain_rule_latex(report))
    st.markdown(chain_story(report))


def show_chain_section(settings: dict) -> None:
    st.header("1 · The chain: one neuron per layer")
    st.markdown("Each layer holds one neuron: z_j = w_j·a_{j−1} + b_j, a_j = σ(z_j), cost C = ½(a_L − y)². "
                "Backpropagation multiplies one factor per layer:")
    st.latex(r"\frac{\partial C}{\partial b_1} = \sigma'(z_1)\, w_2\sigma'(z_2)\, w_3\sigma'(z_3) \cdots "
             r"w_L\sigma'(z_L)\, \frac{\partial C}{\partial a_L}")
    show_facts()
    for column, case in zip(st.columns(2, gap="large"), CASES):
        with column:
            show_chain_column(chain_report(ChainConfig(case=case, **settings)))


def main() -> None:
    st.title("Vanishing and exploding gradients")
    st.markdown("Why deep networks are hard to train, after chapter 5 of Michael Nielsen's "
                "*Neural Networks and Deep Learning*: the same backpropagation that shrinks the gradient "
                "layer after layer can also blow it up. Move the knobs in the sidebar.")
    settings = sidebar_settings()
    show_chain_section(settings)


main()
