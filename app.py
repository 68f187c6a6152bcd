"""gradviz: the Streamlit page. Widgets become config objects, cached calls return results, charts go on screen."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import replace

import streamlit as st

from gradviz.chain import CASES, ChainConfig, ChainReport, analyze_chain
from gradviz.charts import (MAX_LINES, chain_factor_chart, chain_gradient_chart, clipping_chart, loss_chart, speeds_chart,
                            through_time_chart, weight_change_chart)
from gradviz.diagnostics import Checklist
from gradviz.experiments import (NielsenConfig, RecurrentConfig, Training, recurrent_gradients, train_chain,
                                 train_nielsen, train_recurrent)
from gradviz.explain import chain_rule_latex, chain_story, factor_title, percent, weight_probability_facts
from gradviz.export import chain_table, history_table, through_time_table, to_csv
from gradviz.formatting import magnitude_text, ratio_text
from gradviz.presets import STEEPEST_Z
from gradviz.reference import NIELSEN_HIDDEN_LAYERS, nielsen_speeds
from gradviz.remedies import L1, L2, ClipNorm, ClipValue
from gradviz.training import History
from gradviz.settings import MAX_DEPTH, PAGE_SETTINGS
from gradviz.urlstate import encode_params, parse_params

TRAINING_STORE_SIZE = 96
VIEW_STORE_SIZE = 512
CASE_TITLES = {"vanishing": "Vanishing", "exploding": "Exploding"}
NIELSEN_SUBTITLES = {
    "vanishing": "Nielsen's run: weights N(0, 1/n_in), biases N(0, 1)",
    "exploding": "weights 10× Nielsen's after layer 1, every z at 0 on the average digit",
}
VERDICT_COLORS = {"vanishing": "blue", "exploding": "red", "healthy": "green"}

st.set_page_config(page_title="gradviz: vanishing and exploding gradients", layout="wide")


@st.cache_data(max_entries=256, show_spinner=False)
def chain_report(config: ChainConfig) -> ChainReport:
    return analyze_chain(config)


@st.cache_data(max_entries=4, show_spinner=False)
def probability_facts() -> dict[str, float]:
    return weight_probability_facts()


class BoundedStore:
    """A thread-safe least-recently-used dict holding at most `size` results."""

    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
            return self.items.get(key)

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


@st.cache_resource
def training_store() -> BoundedStore:
    """Training runs by settings, shared by every session. Not st.cache_data: a cached function may not
    update a progress bar created outside it, and a deep chain or Nielsen's network trains for seconds."""
    return BoundedStore(TRAINING_STORE_SIZE)


def trained(run, config, training: Training) -> History:
    """run(config, training, progress), computed once per settings, with a progress bar while it runs."""
    key = (run.__name__, config, training)
    history = training_store().get(key)
    if history is None:
        bar = st.progress(0.0, text=f"Training {training.epochs} steps…")
        history = run(config, training, lambda done: bar.progress(done, text=f"Training… {done:.0%}"))
        training_store().put(key, history)
        bar.empty()
    return history


@st.cache_data(max_entries=128, show_spinner=False)
def through_time_gradients(config: RecurrentConfig):
    return recurrent_gradients(config)




def load_url_state() -> None:
    """On a session's first run, fill the widgets' state from the URL; say what was not usable."""
    if "url_notices" not in st.session_state:
        values, notices = parse_params(st.query_params.to_dict(), PAGE_SETTINGS)
        st.session_state.update(values)
        st.session_state["url_notices"] = notices
    for name, spec in PAGE_SETTINGS.items():
        st.session_state.setdefault(name, spec.default)


def save_url_state() -> None:
    """Put every setting that differs from its default into the URL, so the link reopens this view."""
    values = {name: st.session_state[name] for name in PAGE_SETTINGS if name in st.session_state}
    wanted = encode_params(values, PAGE_SETTINGS)
    if wanted != st.query_params.to_dict():
        st.query_params.from_dict(wanted)


def sidebar_settings() -> dict:
    """The sidebar's widgets (keyed by their URL names), read into config objects."""
    sb = st.sidebar
    sb.header("The chain")
    sb.number_input("Depth L (layers)", min_value=1, max_value=MAX_DEPTH, step=1, key="depth",
                    help="Number of single-neuron layers in the chain; the article uses 4.")
    sb.number_input("Input a₀", min_value=-10.0, max_value=10.0, step=0.1, key="a0")
    sb.number_input("Target y", min_value=-10.0, max_value=10.0, step=0.1, key="y",
                    help="The cost is C = ½(a_L − y)², so ∂C/∂a_L = a_L − y.")
    sb.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="seed",
                    help="Seed of numpy's default_rng for every random draw on the page.")
    sb.header("Remedies")
    sb.toggle("ReLU instead of sigmoid", key="relu",
              help="Every hidden neuron uses relu(z) = max(z, 0): slope 1 for z > 0, else 0.")
    if sb.toggle("LSTM-style gating", key="gating", help="An additive cell path across layers: a_l = f⊙a_{l−1} + i⊙act(z_l)."):
        sb.slider("Forget-gate bias b_f", -5.0, 10.0, step=0.5, key="forget_bias",
                  help="f = σ(b_f) in every gated layer (gate weights start at 0); i = σ(0) = 0.5.")
    if sb.toggle("Gradient clipping", key="clip", help="Acts on training: caps each update's gradient."):
        sb.radio("Clip by", ["global norm", "value"], horizontal=True, key="clip_by")
        sb.number_input("Threshold", min_value=1e-3, max_value=1e6, format="%.3g", key="clip_threshold")
    if sb.toggle("Weight regularization", key="regularize", help="Acts on training: decays the weights (not the biases)."):
        sb.radio("Penalty", ["L2", "L1"], horizontal=True, key="penalty")
        sb.number_input("λ", min_value=0.0, max_value=100.0, format="%.3g", key="lmbda")
    sb.header("Training")
    sb.slider("Steps (chain and RNN)", 1, 200, key="steps")
    sb.number_input("Learning rate η", min_value=1e-4, max_value=100.0, format="%.4g", key="eta")
    sb.header("Nielsen's network")
    sb.slider("Hidden layers", 1, 6, key="hidden")
    sb.slider("Neurons per hidden layer", 5, 100, key="width")
    sb.slider("Epochs", 1, 500, key="epochs", help="Nielsen ran 500.")
    sb.toggle("Overlay Nielsen's published curves", key="overlay",
              help="His runs with 2, 3 or 4 hidden layers of 30 neurons (MIT licence).")
    return settings_from(st.session_state)


def settings_from(state) -> dict:
    """Config objects from the widgets' values."""
    activation = "relu" if state["relu"] else "sigmoid"
    forget_bias = float(state["forget_bias"]) if state["gating"] else None
    clip = None
    if state["clip"]:
        threshold = float(state["clip_threshold"])
        clip = ClipNorm(threshold) if state["clip_by"] == "global norm" else ClipValue(threshold)
    regularization = None
    if state["regularize"]:
        regularization = L2(float(state["lmbda"])) if state["penalty"] == "L2" else L1(float(state["lmbda"]))
    seed = int(state["seed"])
    return {
        "chain": ChainConfig(depth=int(state["depth"]), a0=float(state["a0"]), y=float(state["y"]), seed=seed,
                             activation=activation, forget_bias=forget_bias),
        "training": Training(int(state["steps"]), float(state["eta"]), clip, regularization),
        "nielsen": NielsenConfig(n_hidden=int(state["hidden"]), width=int(state["width"]), seed=seed,
                                 activation=activation, forget_bias=forget_bias),
        "nielsen_training": Training(int(state["epochs"]), 0.1, clip, regularization),
        "recurrent": RecurrentConfig(seed=seed, activation="relu" if state["relu"] else "tanh", forget_bias=forget_bias),
        "overlay": bool(state["overlay"]),
    }


@st.cache_resource
def view_store() -> BoundedStore:
    """Chart specs and checklists by the settings they show, shared by every session: building and
    validating 26 Altair charts is most of a rerun's time, and none changes for the same settings."""
    return BoundedStore(VIEW_STORE_SIZE)


def remembered(key: tuple, build):
    """build(), computed once per key."""
    value = view_store().get(key)
    if value is None:
        value = build()
        view_store().put(key, value)
    return value


def show_chart(key: tuple, build) -> None:
    """The Altair chart build() draws, at the column's width, its spec built once per key. Vega-Lite's own
    theme: Streamlit's squeezes the plot of a chart whose legend sits on top to a sliver."""
    st.vega_lite_chart(spec=remembered(key, lambda: build().to_dict()), width="stretch", theme=None)


def offer_csv(label: str, make_table, *args, file_name: str) -> None:
    """A download button whose CSV is built only when clicked (a deep chain's history has millions of rows)."""
    st.download_button(f"⬇ {label} (CSV)", lambda: to_csv(make_table(*args)), file_name=file_name,
                       mime="text/csv", on_click="ignore", key=file_name)


def show_checklist(checklist: Checklist) -> None:
    verdict = checklist.verdict
    lines = [f"**Symptom checklist** · verdict: :{VERDICT_COLORS[verdict]}[**{verdict}**]"]
    for symptom in checklist:
        state = ":orange[**⚠ yes**]" if symptom.present else ":gray[✓ no]"
        lines.append(f"- {symptom.name}: {state} ({symptom.evidence})")
    st.markdown("\n".join(lines))


def show_training(history: History, key: tuple, show_weights: bool = True, x_title: str = "epoch") -> None:
    st.markdown("**Loss**")
    show_chart(("loss", key), lambda: loss_chart(history.loss, x_title))
    if len(history.steps):
        st.markdown("**Gradient norm per update** (before clipping and applied)")
        show_chart(("clipping", key), lambda: clipping_chart(history.steps))
    if show_weights:
        st.markdown("**How far each layer's weights moved**")
        show_chart(("weights", key), lambda: weight_change_chart(history.weight_change))
    if history.stopped_early:
        st.warning("The weights became NaN or infinite; training stopped there. See the checklist.")
    show_checklist(remembered(("checklist", key), lambda: history.symptoms))


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


def chain_subtitle(cfg: ChainConfig) -> str:
    neurons = ("ReLU" if cfg.activation == "relu" else "sigmoid") + (" gated" if cfg.forget_bias is not None else "")
    if cfg.case == "vanishing":
        return f"{neurons} neurons, wⱼ and bⱼ drawn from N(0, 1) · seed {cfg.seed}"
    return f"{neurons} neurons, every wⱼ = 100, every zⱼ = {STEEPEST_Z[cfg.activation]:g}"


def show_chain_column(report: ChainReport, training: Training) -> None:
    cfg = report.config
    gated = cfg.forget_bias is not None
    st.subheader(CASE_TITLES[cfg.case])
    st.caption(chain_subtitle(cfg))
    grad_b = report.layers["grad_b_log10"]
    ratio = ratio_text(grad_b.iloc[0], grad_b.iloc[-1]) if report.overflow_layer is None else "not computable"
    st.metric("|∂C/∂b₁| / |∂C/∂b_L|", ratio,
              help="How much faster (> 1) or slower (< 1) the first bias learns than the last.")
    st.markdown("**|∂C/∂b_j| per layer** (log scale)")
    show_chart(("chain gradients", cfg), lambda: chain_gradient_chart(report.layers))
    title = factor_title(cfg.activation, gated)
    st.markdown(f"**Factors |{title}|** against 1/4 and 1 (log scale)")
    show_chart(("chain factors", cfg), lambda: chain_factor_chart(report.layers, title))
    if report.overflow_layer is None:
        st.latex(chain_rule_latex(report))
        st.markdown(chain_story(report))
    else:
        st.warning(f"The forward pass overflows float64 at layer {report.overflow_layer}: the activations grow "
                   "past 10³⁰⁸ (ReLU has no ceiling, and each gated layer adds f·a to the cell), so no gradient can "
                   "be computed from there on. That is an exploding forward pass; shorten the chain or lower a₀.")
    offer_csv("Per-layer data", chain_table, report, file_name=f"gradviz_chain_{cfg.case}.csv")
    with st.expander(f"Trained: {training.epochs} steps of gradient descent, η = {training.eta:g}", expanded=True):
        history = trained(train_chain, cfg, training)
        drawn = f" ({MAX_LINES} of the {cfg.depth} layers, evenly spaced)" if cfg.depth > MAX_LINES else ""
        st.markdown(f"**|∂C/∂b_j| per layer over the steps**{drawn}")
        show_chart(("chain speeds", cfg, training),
                   lambda: speeds_chart(history.speeds, y_title="|∂C/∂b_j|", x_title="step", layer_title="layer"))
        show_training(history, ("chain", cfg, training), x_title="step")
        offer_csv("Training history", history_table, history, file_name=f"gradviz_chain_{cfg.case}_training.csv")


def show_chain_section(settings: dict) -> None:
    st.header("1 · The chain: one neuron per layer")
    st.markdown(r"Each layer holds one neuron: $z_j = w_j a_{j-1} + b_j$, $a_j = \sigma(z_j)$, cost "
                r"$C = \tfrac12 (a_L - y)^2$. Backpropagation multiplies one factor per layer:")
    st.latex(r"\frac{\partial C}{\partial b_1} = \sigma'(z_1)\, w_2\sigma'(z_2)\, w_3\sigma'(z_3) \cdots "
             r"w_L\sigma'(z_L)\, \frac{\partial C}{\partial a_L}")
    show_facts()
    for column, case in zip(st.columns(2, gap="large"), CASES):
        with column:
            show_chain_column(chain_report(replace(settings["chain"], case=case)), settings["training"])


def nielsen_reference(config: NielsenConfig):
    if config.width == 30 and config.n_hidden in NIELSEN_HIDDEN_LAYERS:
        return nielsen_speeds(config.n_hidden)
    return None


def show_nielsen_column(config: NielsenConfig, training: Training, overlay: bool) -> None:
    st.subheader(CASE_TITLES[config.case])
    st.caption(NIELSEN_SUBTITLES[config.case])
    history = trained(train_nielsen, config, training)
    hidden = history.speeds[history.speeds["layer"] <= config.n_hidden]
    first = hidden[hidden["epoch"] == 0]["speed_log10"].to_numpy()
    cols = st.columns(2)
    cols[0].metric("Layer 1 / last hidden, epoch 0", ratio_text(first[0], first[-1]),
                   help="Ratio of the first hidden layer's speed to the last hidden layer's, at initialization.")
    growth = (first[0] - first[-1]) / max(len(first) - 1, 1)
    cols[1].metric("Growth per layer, backwards", magnitude_text(growth) if math.isfinite(growth) else "undefined",
                   help="Geometric mean of ‖∂C/∂b_l‖ / ‖∂C/∂b_{l+1}‖ over the hidden layers at epoch 0.")
    reference = nielsen_reference(config) if overlay and config.case == "vanishing" else None
    if reference is not None:
        reference = reference[reference["epoch"] <= training.epochs]
    st.markdown("**Speed of learning ‖∂C/∂b_l‖ per hidden layer** (log scale)")
    show_chart(("nielsen speeds", config, training, overlay), lambda: speeds_chart(hidden, reference))
    show_training(history, ("nielsen", config, training))
    offer_csv("Speeds and loss per epoch", history_table, history, file_name=f"gradviz_nielsen_{config.case}.csv")


def show_nielsen_section(settings: dict) -> None:
    st.header("2 · Learning speed per layer: Nielsen's experiment")
    config, training = settings["nielsen"], settings["nielsen_training"]
    regularization = training.regularization or L2(5.0)
    hidden = "ReLU hidden layers and a sigmoid output" if config.activation == "relu" else "sigmoid layers"
    gated = ", gated hidden layers" if config.forget_bias is not None else ""
    st.markdown(f"A network {config.sizes} ({hidden}{gated}) learns 1,000 real MNIST digits by full-batch gradient descent "
                f"(cross-entropy, η = 0.1, {type(regularization).__name__} λ = {regularization.lmbda:g}"
                f"{'' if training.regularization else ', Nielsen’s setting'}). The speed of a layer is the norm of "
                "its bias gradient ‖∂C/∂b_l‖ over the training set, as in Nielsen's figures.")
    if settings["overlay"] and nielsen_reference(config) is None:
        st.info("Nielsen published curves for 2, 3 or 4 hidden layers of 30 neurons; pick one of those to overlay them.")
    for column, case in zip(st.columns(2, gap="large"), CASES):
        with column:
            show_nielsen_column(replace(config, case=case), training, settings["overlay"])


def show_recurrent_column(config: RecurrentConfig, training: Training) -> None:
    gradients, history = through_time_gradients(config), trained(train_recurrent, config, training)
    st.subheader(CASE_TITLES[config.case])
    cell = "the LSTM-style cell" if config.forget_bias is not None else f"hₜ = {config.activation}(W hₜ₋₁ + b)"
    st.caption(f"{cell}, recurrent weights {config.scale:g} · N(0, 1/n), n = {config.width}, T = {config.steps}")
    norms = gradients.log10_activation_grad_norms
    st.metric("‖∂C/∂h₀‖ / ‖∂C/∂h_T‖ at initialization", ratio_text(norms[0], norms[-1]),
              help="How much of the gradient at the last step survives back to the first.")
    show_chart(("through time", config), lambda: through_time_chart(norms))
    offer_csv("‖∂C/∂hₜ‖ per step", through_time_table, gradients, file_name=f"gradviz_rnn_{config.case}.csv")
    show_training(history, ("rnn", config, training), show_weights=False, x_title="step")
    offer_csv("Training history", history_table, history, file_name=f"gradviz_rnn_{config.case}_training.csv")


def show_recurrent_section(settings: dict) -> None:
    st.header("3 · Through time: a recurrent network")
    st.markdown(r"Backpropagation through time unrolls an RNN into a deep network whose layers share one weight "
                r"matrix $W$: the gradient reaching step $t$ has passed $T - t$ times through the same Jacobian, so "
                r"it shrinks or grows geometrically with $W$'s scale. The RNN reads its input once, as $h_0$, and "
                r"the loss reads $h_T$: $C = \tfrac12\lVert h_T - y\rVert^2$. In the checklist, layer $l$ is step $l$.")
    for column, case in zip(st.columns(2, gap="large"), CASES):
        with column:
            show_recurrent_column(replace(settings["recurrent"], case=case), settings["training"])


def main() -> None:
    st.title("Vanishing and exploding gradients")
    st.markdown("Why deep networks are hard to train, after chapter 5 of Michael Nielsen's "
                "*Neural Networks and Deep Learning*: the same backpropagation that shrinks the gradient "
                "layer after layer can also blow it up. Move the knobs in the sidebar.")
    load_url_state()
    for notice in st.session_state["url_notices"]:
        st.warning(notice, icon="🔗")
    settings = sidebar_settings()
    save_url_state()
    show_chain_section(settings)
    show_nielsen_section(settings)
    show_recurrent_section(settings)


main()
