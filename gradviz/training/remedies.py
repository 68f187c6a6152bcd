"""The remedies: their rules (clipping, L1/L2), the Remedies value every experiment's config carries, and the
registry (REMEDIES) that says, for each remedy, its settings, how it changes a network or a training run, where it
applies, the catalogue keys of its sentences and its theory.

Clipping (PyTorch's definitions), applied to the gradient g of every parameter before the step:
    NoClip                 g as it is
    ClipNorm(max_norm)     ‖g‖ = √(Σ over every parameter of Σ g²); coef = max_norm / (‖g‖ + 1e-6); when
                           coef < 1 every gradient is multiplied by it (in log space, so a gradient of norm
                           10^13977 still clips to a finite one of norm max_norm)
    ClipValue(clip_value)  every entry clamped to [−clip_value, clip_value] (±inf clamps too; NaN stays NaN)
    ClipAdaptive(lmbda)    adaptive gradient clipping (Brock et al. 2021, NFNets), unit by unit: where
                           ‖G_i‖ / max(‖W_i‖, 1e-3) > λ, G_i ← G_i · λ max(‖W_i‖, 1e-3) / ‖G_i‖; a unit is a row of
                           a weight matrix (one neuron's incoming weights) or a whole other parameter (a bias
                           vector), W_i its current values (in logs, as ClipNorm; Brock et al. spare the classifier
                           layer, this rule clips every unit)
A clipping rule is apply(g, ln ‖g‖, net) -> (the gradient as applied, as one float vector laid out like
net.theta; ln of its norm); net (its parameters and their layout) is there for rules that look at the weights.
Regularization, Nielsen's weight decay over a training set of n examples (biases, gains and shifts are not
regularized), on the network's whole parameter vector θ at once (`weights` marks the weights' entries):
    NoRegularization       w ← w − η ∇w
    L2(lmbda)              w ← (1 − ηλ/n) w − η ∇w
    L1(lmbda)              w ← w − (ηλ/n) sign(w) − η ∇w

The registry is shaped like the page's settings table (gradviz.page.settings.TABLE, after TensorFlow
Playground's PROPS): one Remedy per switch, owning its settings rows as plain data, `read` (settings → Remedies
fields), `network` (how it changes the Design of an experiment's hidden layers) or `training` (how it changes
TrainingRules), where it does not apply and the catalogue key that says why, the catalogue keys of its sentences,
and its theory where one exists. Experiments fold the registry over their own base design and rules
(network_design, training_rules); adding a remedy is one entry here (and its words in the catalogue).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

import numpy as np

from gradviz.engine.activations import ACTIVATIONS
from gradviz.engine.checks import real_number
from gradviz.engine.initializations import SCHEMES
from gradviz.engine.meanfield import normalized_gradient_factor, residual_gradient_factor
from gradviz.engine.network import Design
from gradviz.engine.normalization import NORMS
from gradviz.engine.scaled import LN2, Scaled, ln_norm, ln_segment_norms

NORM_EPS = 1e-6
# The experiments a remedy may change: the page's sections run them (theory runs two: the phase diagram of mean-field
# theory and Pascanu's cliff).
EXPERIMENTS = ("chain", "nielsen", "recurrent", "deep", "phase", "cliff", "your_run")


def _is_finite_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer)) \
        and math.isfinite(value)


def _positive(value, what: str) -> float:
    return real_number(value, what, above=0)


def _non_negative(value, what: str) -> float:
    return real_number(value, what, at_least=0)


# --- clipping ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoClip:
    """No clipping: the step uses the gradient as computed."""

    def apply(self, g: Scaled, ln_norm_g: float, net=None) -> tuple[np.ndarray, float]:
        """(the gradient as floats, ln of its norm)."""
        return g.value, ln_norm_g


@dataclass(frozen=True)
class ClipNorm:
    """Clip by global norm: scale every gradient by max_norm / (‖g‖ + 1e-6) when that is below 1."""

    max_norm: float

    def __post_init__(self):
        object.__setattr__(self, "max_norm", _positive(self.max_norm, "ClipNorm's max_norm"))

    def apply(self, g: Scaled, ln_norm_g: float, net=None) -> tuple[np.ndarray, float]:
        """(the clipped gradient as floats, ln of its norm)."""
        ln_coef = math.log(self.max_norm) - float(np.logaddexp(ln_norm_g, math.log(NORM_EPS)))
        if not ln_coef < 0:
            return g.value, ln_norm_g
        clipped = g.mantissa * np.exp(np.asarray(g.exponent) * LN2 + ln_coef)
        return clipped, ln_norm(Scaled(clipped, 0))


@dataclass(frozen=True)
class ClipValue:
    """Clip by value: clamp every gradient entry to [−clip_value, clip_value]."""

    clip_value: float

    def __post_init__(self):
        object.__setattr__(self, "clip_value", _positive(self.clip_value, "ClipValue's clip_value"))

    def apply(self, g: Scaled, ln_norm_g: float, net=None) -> tuple[np.ndarray, float]:
        """(the clamped gradient, ln of its norm)."""
        clamped = np.clip(g.value, -self.clip_value, self.clip_value)
        return clamped, ln_norm(Scaled(clamped, 0))


# --- regularization ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoRegularization:
    """Plain gradient descent: w ← w − η ∇w."""

    def step(self, theta: np.ndarray, grad: np.ndarray, eta: float, n: int, weights: np.ndarray) -> np.ndarray:
        """Update θ in place; return how far each entry moved, θ_before − θ_after."""
        change = eta * grad
        theta -= change
        return change


@dataclass(frozen=True)
class L2:
    """L2 weight decay: w ← (1 − ηλ/n) w − η ∇w."""

    lmbda: float

    def __post_init__(self):
        object.__setattr__(self, "lmbda", _non_negative(self.lmbda, "L2's lmbda"))

    def step(self, theta: np.ndarray, grad: np.ndarray, eta: float, n: int, weights: np.ndarray) -> np.ndarray:
        """Update θ in place, rounding as (1 − ηλ/n)·w − η∇w does (biases are multiplied by exactly 1);
        return θ_before − θ_after."""
        decay = np.where(weights, eta * self.lmbda / n, 0.0)
        change = eta * grad
        moved = change + decay * theta
        theta *= 1.0 - decay
        theta -= change
        return moved


@dataclass(frozen=True)
class L1:
    """L1 regularization: w ← w − (ηλ/n) sign(w) − η ∇w."""

    lmbda: float

    def __post_init__(self):
        object.__setattr__(self, "lmbda", _non_negative(self.lmbda, "L1's lmbda"))

    def step(self, theta: np.ndarray, grad: np.ndarray, eta: float, n: int, weights: np.ndarray) -> np.ndarray:
        """Update θ in place, rounding as w − (ηλ/n)·sign(w) − η∇w does; return θ_before − θ_after."""
        shrink = np.where(weights, (eta * self.lmbda / n) * np.sign(theta), 0.0)
        change = eta * grad
        theta -= shrink
        theta -= change
        return shrink + change


AGC_EPS = 1e-3  # Brock et al.'s ε: a unit whose weights are near 0 may still move by λ·ε


def units(layout) -> tuple[np.ndarray, np.ndarray]:
    """Where each unit of a parameter vector starts and stops: every row of a matrix, every other array whole."""
    starts, stops = [], []
    for shape, begin, end in zip(layout.shapes, layout.offsets[:-1], layout.offsets[1:]):
        step = shape[-1] if len(shape) == 2 else end - begin
        starts.append(np.arange(begin, end, max(step, 1)))
        stops.append(np.minimum(starts[-1] + step, end))
    return np.concatenate(starts).astype(np.int64), np.concatenate(stops).astype(np.int64)


@dataclass(frozen=True)
class ClipAdaptive:
    """Adaptive gradient clipping: each unit's gradient at most λ times its weights' norm (or λ · 1e-3)."""

    lmbda: float

    def __post_init__(self):
        object.__setattr__(self, "lmbda", _positive(self.lmbda, "ClipAdaptive's lmbda"))

    def apply(self, g: Scaled, ln_norm_g: float, net) -> tuple[np.ndarray, float]:
        """(the clipped gradient as floats, ln of its norm)."""
        starts, stops = units(net.layout)
        unit_exponent = g.exponent if isinstance(g.exponent, int) else np.asarray(g.exponent).reshape(-1)[starts]
        ln_g = ln_segment_norms(g.mantissa, starts, stops, unit_exponent)
        ln_limit = math.log(self.lmbda) + np.maximum(ln_segment_norms(net.theta, starts, stops), math.log(AGC_EPS))
        with np.errstate(invalid="ignore"):
            ln_coef = np.where(ln_g > ln_limit, ln_limit - ln_g, 0.0)
        if not np.any(ln_coef < 0):
            return g.value, ln_norm_g
        entry_coef = np.repeat(ln_coef, stops - starts)
        capped = entry_coef < 0
        exponent = np.broadcast_to(g.exponent, g.mantissa.shape)[capped]
        clipped = np.array(g.value, dtype=float)  # the units within their limit keep their gradient exactly
        clipped[capped] = g.mantissa[capped] * np.exp(exponent * LN2 + entry_coef[capped])
        return clipped, ln_norm(Scaled(clipped, 0))


CLIPPINGS = (NoClip, ClipNorm, ClipValue, ClipAdaptive)
REGULARIZATIONS = (NoRegularization, L2, L1)
# The clip_by setting's choices and the rule each names, and the penalty setting's.
CLIP_RULES = {"norm": ClipNorm, "value": ClipValue, "adaptive": ClipAdaptive}
PENALTIES = {"L2": L2, "L1": L1}


def clipping(clip) -> NoClip | ClipNorm | ClipValue | ClipAdaptive:
    """None as NoClip; a clipping object as it is; anything else a ValueError."""
    if clip is None:
        return NoClip()
    if isinstance(clip, CLIPPINGS):
        return clip
    raise ValueError(f"clip must be None, ClipNorm(max_norm), ClipValue(clip_value) or ClipAdaptive(lmbda), "
                     f"not {clip!r}")


def regularizing(regularization) -> NoRegularization | L2 | L1:
    """None as NoRegularization; L2/L1 as they are; anything else a ValueError."""
    if regularization is None:
        return NoRegularization()
    if isinstance(regularization, REGULARIZATIONS):
        return regularization
    raise ValueError(f"regularization must be None, L2(lmbda) or L1(lmbda), not {regularization!r}")


# --- the value every config carries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Remedies:
    """The sidebar's remedies, one value shared by every experiment's config.

    activation: the hidden neurons' ("sigmoid" is the article's; "relu" the ReLU toggle; the RNN and the deep
    networks use tanh where the article's networks use sigmoid); forget_bias: None, or LSTM-style gating with
    f = σ(forget_bias); clip and regularization act on training; init names the initialization scheme of the
    networks that have one (gradviz.engine.initializations), with init_gain for the orthogonal scheme;
    residual: skip connections (each experiment's form: gradviz.engine.network.Design), with the branch scaled by
    1/√L when branch_scaling (L: the number of skip connections); norm: None, "batch" or "layer".
    """

    activation: str = "sigmoid"
    forget_bias: float | None = None
    clip: NoClip | ClipNorm | ClipValue | ClipAdaptive = field(default_factory=NoClip)
    regularization: NoRegularization | L2 | L1 = field(default_factory=NoRegularization)
    init: str = "nielsen"
    init_gain: float = 1.0
    residual: bool = False
    norm: str | None = None
    branch_scaling: bool = False

    def __post_init__(self):
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {self.activation!r}")
        if self.forget_bias is not None and not _is_finite_number(self.forget_bias):
            raise ValueError(f"forget_bias must be None or a finite number, not {self.forget_bias!r}")
        object.__setattr__(self, "clip", clipping(self.clip))
        object.__setattr__(self, "regularization", regularizing(self.regularization))
        if not isinstance(self.init, str) or self.init not in SCHEMES:
            raise ValueError(f"init must be one of {sorted(SCHEMES)}, not {self.init!r}")
        _positive(self.init_gain, "init_gain")
        for name in ("residual", "branch_scaling"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r}")
        if self.norm is not None and (not isinstance(self.norm, str) or self.norm not in NORMS):
            raise ValueError(f"norm must be None, 'batch' or 'layer', not {self.norm!r}")

    @property
    def gated(self) -> bool:
        return self.forget_bias is not None

    @staticmethod
    def from_settings(values: Mapping[str, object]) -> Remedies:
        """The Remedies the page's settings describe: every registered remedy reads its own rows; the
        initialization comes from "init" and "gain"."""
        read = {}
        for remedy in REMEDIES:
            read.update(remedy.read(values))
        return Remedies(**read, init=str(values["init"]), init_gain=float(values["gain"]))


@dataclass(frozen=True)
class TrainingRules:
    """What the training remedies change in a run: the clipping rule and the regularization."""

    clip: NoClip | ClipNorm | ClipValue | ClipAdaptive = field(default_factory=NoClip)
    regularization: NoRegularization | L2 | L1 = field(default_factory=NoRegularization)


# --- the registry ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingRow:
    """One setting of a remedy, field for field the page's gradviz.page.settings.Setting: its URL name, kind ("bool",
    "float", "choice"), default, widget, place ("top" for a remedy's switch, "remedies" for its own settings), range
    or choices, the setting that must be on for it to show, the number input's step and format, and the catalogue
    area of its words: a remedy's are "remedy.<name>" (label), "remedy.<name>.help" and "remedy.<name>.<choice>",
    all in one file with the rest of the remedies' words."""

    name: str
    kind: str
    default: object
    widget: str
    place: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    shown_if: str | None = None
    step: float | None = None
    fmt: str | None = None
    area: str = "remedy"


def _same(design: Design, remedies: Remedies, context: Mapping) -> Design:
    return design


def _untouched(rules: TrainingRules, remedies: Remedies) -> TrainingRules:
    return rules


def _every(experiment: str, keys: tuple[str, ...], remedies: Remedies, facts: Mapping) -> tuple[str, ...]:
    return keys


def ending(keys: tuple[str, ...], *suffixes: str) -> tuple[str, ...]:
    """The keys that end with ".<suffix>", in the order of the suffixes."""
    return tuple(key for suffix in suffixes for key in keys if key.endswith(f".{suffix}"))


@dataclass(frozen=True)
class Remedy:
    """One remedy of the registry (see the module docstring).

    rows: its settings, its switch first. read(values) -> the Remedies fields those settings set. is_on(r): whether
    r has it on. network(design, r, context) -> the experiment's Design with it applied (context: "experiment", and
    "blocks", how many skip connections the network has); training(rules, r) -> TrainingRules with it applied.
    unavailable: experiment → the catalogue key that says why it does not apply there (or, for a remedy with a choice,
    a mapping from its value(r) to such keys). sentences: experiment → the catalogue keys of the sentences the page
    says about it there; say(experiment, keys, r, facts) picks the ones that fit `facts`, the numbers the page shows
    (facts is also what fills the sentences' placeholders: see sentence_keys). theory: the predicted per-layer
    gradient factor (meanfield), or None, and theory_key its sentence. in_article: one of the article's four remedies
    (the lesson teaches those; the others came after it).
    """

    name: str
    rows: tuple[SettingRow, ...]
    read: Callable[[Mapping], dict]
    is_on: Callable[[Remedies], bool]
    network: Callable[[Design, Remedies, Mapping], Design] = _same
    training: Callable[[TrainingRules, Remedies], TrainingRules] = _untouched
    unavailable: Mapping = field(default_factory=dict)
    sentences: Mapping = field(default_factory=dict)
    theory: Callable | None = None
    theory_key: str | None = None
    value: Callable[[Remedies], object] = lambda r: None
    say: Callable[[str, tuple, Remedies, Mapping], tuple[str, ...]] = _every
    in_article: bool = False

    @property
    def acts_on_training(self) -> bool:
        """Whether it changes how a network trains (its sentences need a training run) rather than the network."""
        return self.training is not _untouched

    def sentence_keys(self, experiment: str, remedies: Remedies, facts: Mapping) -> tuple[str, ...]:
        """The catalogue keys of what the page says about this remedy, on in `remedies`, in `experiment`, given the
        numbers it shows (`facts`: its case, its ratios… the sentences' placeholders are filled from it)."""
        keys = self.sentences.get(experiment, ())
        return self.say(experiment, keys, remedies, facts) if keys and self.is_on(remedies) else ()

    @property
    def label_key(self) -> str:
        """The catalogue key of its switch's label."""
        return f"{self.rows[0].area}.{self.rows[0].name}"

    def why_not(self, experiment: str, remedies: Remedies | None = None) -> str | None:
        """The catalogue key saying why this remedy (as remedies has it) does not apply to `experiment`, or None."""
        if experiment not in EXPERIMENTS:
            raise ValueError(f"experiment must be one of {EXPERIMENTS}, not {experiment!r}")
        reason = self.unavailable.get(experiment)
        if isinstance(reason, Mapping):
            return reason.get(None if remedies is None else self.value(remedies))
        return reason

    def applies(self, experiment: str, remedies: Remedies | None = None) -> bool:
        return self.why_not(experiment, remedies) is None


# Where the skip connection goes in each experiment's network (gradviz.engine.network.Design's residual).
SKIP_FORMS = {"chain": "post", "nielsen": "post", "deep": "pre"}
# The article's neuron is sigmoid; the networks that use tanh instead replace it (ReLU replaces either).
ARTICLE_ACTIVATION = "sigmoid"
NOT_TRAINED = "remedy.na.not_trained"      # the deep networks and the phase diagram are at initialization
YOUR_RUN = "remedy.na.your_run"            # a user's own run: gradviz only reads it
CLIFF_MODEL = "remedy.na.cliff"            # Pascanu's one-neuron model is fixed by the paper
PLAIN_THEORY = "remedy.na.phase"           # the phase diagram is mean-field theory of plain networks
CASES = ("vanishing", "exploding")


def clip_mode(rule) -> str | None:
    """The clip_by setting's choice that names a clipping rule (None for NoClip)."""
    return next((mode for mode, kind in CLIP_RULES.items() if isinstance(rule, kind)), None)


def _activation(design: Design, r: Remedies, context: Mapping) -> Design:
    return design if r.activation == ARTICLE_ACTIVATION else replace(design, activation=r.activation)


def _gating(design: Design, r: Remedies, context: Mapping) -> Design:
    return replace(design, forget_bias=r.forget_bias)


def _skip(design: Design, r: Remedies, context: Mapping) -> Design:
    if not r.residual:
        return design
    blocks = max(int(context.get("blocks", 1)), 1)
    scale = 1.0 / math.sqrt(blocks) if r.branch_scaling else 1.0
    return replace(design, residual=SKIP_FORMS[context["experiment"]], branch_scale=scale)


def _norm(design: Design, r: Remedies, context: Mapping) -> Design:
    return replace(design, norm=r.norm)


def _clip(rules: TrainingRules, r: Remedies) -> TrainingRules:
    return replace(rules, clip=r.clip)


def _regularize(rules: TrainingRules, r: Remedies) -> TrainingRules:
    on = not isinstance(r.regularization, NoRegularization)
    return replace(rules, regularization=r.regularization) if on else rules


def _read_clip(values: Mapping) -> dict:
    if not values["clip"]:
        return {"clip": NoClip()}
    return {"clip": CLIP_RULES[values["clip_by"]](float(values["clip_threshold"]))}


def _read_regularize(values: Mapping) -> dict:
    if not values["regularize"]:
        return {"regularization": NoRegularization()}
    return {"regularization": PENALTIES[values["penalty"]](float(values["lmbda"]))}


# What the page says, chosen from the numbers it shows (facts): "case" (vanishing or exploding) everywhere;
# "log10_ratio" (log10 of the first layer's gradient over the last's); the chain's "dead" (every gradient exactly 0),
# "n" (its factors j = 2..L) and "product_log10" (log10 of their product); the training's base rules ("base": the
# experiment's TrainingRules without the remedies).

def _say_relu(experiment: str, keys: tuple, r: Remedies, facts: Mapping) -> tuple[str, ...]:
    dead = facts["case"] == "vanishing" and facts.get("dead", False)
    grows = facts.get("log10_ratio", math.nan)
    neutral = ending(keys, "neutral")
    if neutral and math.isfinite(grows) and (grows > 0) != (facts["case"] == "exploding"):
        return neutral  # the case's sentence would say the opposite of what the other remedies made of it
    return ending(keys, "dead" if dead else facts["case"])


def _say_gating(experiment: str, keys: tuple, r: Remedies, facts: Mapping) -> tuple[str, ...]:
    if experiment != "chain":
        return keys
    if facts["n"] < 1:
        return ()
    if facts["case"] == "exploding":
        return ending(keys, "exploding")
    return ending(keys, "shrinks" if facts["product_log10"] < 0 else "kept")


def _say_clip(experiment: str, keys: tuple, r: Remedies, facts: Mapping) -> tuple[str, ...]:
    return ending(keys, clip_mode(r.clip)) if experiment == "chain" else keys


def _say_regularize(experiment: str, keys: tuple, r: Remedies, facts: Mapping) -> tuple[str, ...]:
    if experiment != "nielsen":
        return keys
    return ending(keys, "same" if r.regularization == facts["base"].regularization else "regularize")


def _say_skip(experiment: str, keys: tuple, r: Remedies, facts: Mapping) -> tuple[str, ...]:
    if experiment == "chain":
        return ending(keys, facts["case"])
    if experiment == "deep":
        return ending(keys, "scaled" if r.branch_scaling else ("normalized" if r.norm else "deep"))
    return keys


def _say_norm(experiment: str, keys: tuple, r: Remedies, facts: Mapping) -> tuple[str, ...]:
    # In the deep networks' residual blocks the normalization sits inside the branch: the skip connection's sentence
    # says what the blocks do, this one only why batch norm's charts measure the weights.
    said = () if experiment == "deep" and r.residual else ending(keys, r.norm)
    return said + (ending(keys, "bias_zero") if r.norm == "batch" else ())


def _by_case(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}.{case}" for case in CASES)


REMEDIES: tuple[Remedy, ...] = (
    Remedy(
        "relu", (SettingRow("relu", "bool", False, "toggle", "top"),),
        read=lambda values: {"activation": "relu" if values["relu"] else "sigmoid"},
        is_on=lambda r: r.activation == "relu",
        network=_activation,
        unavailable={"cliff": CLIFF_MODEL, "your_run": YOUR_RUN},
        sentences={"chain": ("chain.remedy.relu.exploding", "chain.remedy.relu.dead", "chain.remedy.relu.vanishing"),
                   "nielsen": _by_case("layers.remedy.relu") + ("layers.remedy.relu.neutral",),
                   "recurrent": _by_case("time.remedy.relu") + ("time.remedy.relu.neutral",)},
        say=_say_relu, in_article=True),
    Remedy(
        "gating", (SettingRow("gating", "bool", False, "toggle", "top"),
                   SettingRow("forget_bias", "float", 3.0, "slider", "remedies", -5.0, 10.0, shown_if="gating",
                              step=0.5)),
        read=lambda values: {"forget_bias": float(values["forget_bias"]) if values["gating"] else None},
        is_on=lambda r: r.gated,
        network=_gating,
        unavailable={"deep": "remedy.gating.na.deep", "phase": PLAIN_THEORY, "cliff": CLIFF_MODEL, "your_run": YOUR_RUN},
        sentences={"chain": ("chain.remedy.gating.exploding", "chain.remedy.gating.shrinks", "chain.remedy.gating.kept"),
                   "nielsen": ("layers.remedy.gating",), "recurrent": ("time.remedy.gating",)},
        say=_say_gating, in_article=True),
    Remedy(
        "clip", (SettingRow("clip", "bool", False, "toggle", "top"),
                 SettingRow("clip_by", "choice", "norm", "radio", "remedies", choices=tuple(CLIP_RULES),
                            shown_if="clip"),
                 SettingRow("clip_threshold", "float", 1.0, "number", "remedies", 1e-3, 1e6, shown_if="clip",
                            fmt="%.3g")),
        read=_read_clip,
        is_on=lambda r: not isinstance(r.clip, NoClip),
        training=_clip,
        unavailable={"deep": NOT_TRAINED, "phase": NOT_TRAINED, "your_run": YOUR_RUN},
        sentences={"chain": tuple(f"remedy.clip.chain.{mode}" for mode in CLIP_RULES),
                   "nielsen": ("layers.remedy.clip",), "recurrent": ("time.remedy.clip",)},
        say=_say_clip, in_article=True),
    Remedy(
        "regularize", (SettingRow("regularize", "bool", False, "toggle", "top"),
                       SettingRow("penalty", "choice", "L2", "radio", "remedies", choices=tuple(PENALTIES),
                                  shown_if="regularize"),
                       SettingRow("lmbda", "float", 5.0, "number", "remedies", 0.0, 100.0, shown_if="regularize",
                                  fmt="%.3g")),
        read=_read_regularize,
        is_on=lambda r: not isinstance(r.regularization, NoRegularization),
        training=_regularize,
        unavailable={"deep": NOT_TRAINED, "phase": NOT_TRAINED, "cliff": CLIFF_MODEL, "your_run": YOUR_RUN},
        sentences={"chain": ("chain.remedy.regularize",),
                   "nielsen": ("layers.remedy.regularize.same", "layers.remedy.regularize"),
                   "recurrent": ("time.remedy.regularize",)},
        say=_say_regularize, in_article=True),
    Remedy(
        "skip", (SettingRow("skip", "bool", False, "toggle", "top"),
                 SettingRow("branch_scaling", "bool", False, "toggle", "remedies", shown_if="skip")),
        read=lambda values: {"residual": bool(values["skip"]), "branch_scaling": bool(values["branch_scaling"])},
        is_on=lambda r: r.residual,
        network=_skip,
        unavailable={"recurrent": "remedy.skip.na.recurrent", "phase": PLAIN_THEORY, "cliff": CLIFF_MODEL,
                     "your_run": YOUR_RUN},
        sentences={"chain": _by_case("remedy.skip.chain"), "nielsen": ("remedy.skip.nielsen",),
                   "deep": ("remedy.skip.deep", "remedy.skip.deep.scaled", "remedy.skip.deep.normalized")},
        say=_say_skip,
        theory=residual_gradient_factor, theory_key="remedy.skip.theory"),
    Remedy(
        "norm", (SettingRow("norm", "choice", "none", "segmented", "top", choices=("none",) + tuple(sorted(NORMS))),),
        read=lambda values: {"norm": None if values["norm"] == "none" else str(values["norm"])},
        is_on=lambda r: r.norm is not None,
        network=_norm,
        unavailable={"chain": "remedy.norm.na.chain", "recurrent": {"batch": "remedy.norm.na.recurrent_batch"},
                     "phase": PLAIN_THEORY, "cliff": CLIFF_MODEL, "your_run": YOUR_RUN},
        sentences={"nielsen": ("remedy.norm.nielsen.batch", "remedy.norm.nielsen.layer", "remedy.norm.bias_zero"),
                   "recurrent": ("remedy.norm.recurrent.layer",),
                   "deep": ("remedy.norm.deep.batch", "remedy.norm.deep.layer", "remedy.norm.bias_zero")},
        say=_say_norm,
        theory=normalized_gradient_factor, theory_key="remedy.norm.theory", value=lambda r: r.norm),
)
REGISTRY: dict[str, Remedy] = {remedy.name: remedy for remedy in REMEDIES}


def catalogue_keys() -> set[str]:
    """Every catalogue key the registry names (labels and helps of its settings and their choices, why a remedy does
    not apply, its sentences, its theory): the words a page built from the registry needs in both languages."""
    keys = set()
    for remedy in REMEDIES:
        keys |= {key for row in remedy.rows for key in (f"{row.area}.{row.name}", f"{row.area}.{row.name}.help")}
        keys |= {f"{row.area}.{row.name}.{choice}" for row in remedy.rows for choice in row.choices}
        for reason in remedy.unavailable.values():
            keys |= set(reason.values()) if isinstance(reason, Mapping) else {reason}
        keys |= {key for sentence_keys in remedy.sentences.values() for key in sentence_keys}
        keys |= {remedy.theory_key} - {None}
    return keys


# Every switch off, as the page's settings say it: what each remedy reads when it is not chosen.
_ALL_OFF = {row.name: row.default for remedy in REMEDIES for row in remedy.rows}


def applicable(remedies: Remedies, experiment: str) -> Remedies:
    """remedies with every remedy that does not apply to `experiment` turned off, so a page holding one Remedies for
    all its sections can hand each experiment what it accepts."""
    changes = {}
    for remedy in REMEDIES:
        if remedy.is_on(remedies) and not remedy.applies(experiment, remedies):
            changes.update(remedy.read(_ALL_OFF))
    return replace(remedies, **changes) if changes else remedies


def check_applicable(remedies: Remedies, experiment: str) -> None:
    """ValueError naming the first remedy on in `remedies` that does not apply to `experiment`."""
    for remedy in REMEDIES:
        if remedy.is_on(remedies) and not remedy.applies(experiment, remedies):
            raise ValueError(f"the {remedy.name} remedy does not apply to the {experiment} experiment "
                             f"({remedy.why_not(experiment, remedies)})")


def network_design(remedies: Remedies, experiment: str, base: Design, blocks: int = 1) -> Design:
    """The experiment's base Design with every remedy's change to the network applied, in the registry's order
    (blocks: how many skip connections the network has, for the 1/√L branch scaling)."""
    context = {"experiment": experiment, "blocks": blocks}
    design = base
    for remedy in REMEDIES:
        design = remedy.network(design, remedies, context)
    return design


def training_rules(remedies: Remedies, base: TrainingRules = TrainingRules()) -> TrainingRules:
    """The experiment's base TrainingRules with every remedy's change to training applied."""
    rules = base
    for remedy in REMEDIES:
        rules = remedy.training(rules, remedies)
    return rules
