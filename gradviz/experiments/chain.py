"""The article's chain of single neurons, the vanishing and the exploding case, analysed layer by layer.

Vanishing chain (the article's "standard" initialization): width 1, w_j, b_j ~ N(0, 1).
Exploding chain (the article's construction): every w_j = 100 and b_j = z* − 100·a_{j−1}, so every
z_j = z*, the activation's steepest point: each factor w_j act'(z*) is 100 · 1/4 = 25 for sigmoid (z* = 0),
100 for tanh (z* = 0) and for ReLU (z* = 1, slope 1). With gating or a skip connection, a_{j−1} is that layer's
output, and the biases follow it the same way.

For a width-1 chain, backpropagation is the article's product

    ∂C/∂b_1 = ∂a_1/∂b_1 · Π_{j=2..L} ∂a_j/∂a_{j−1} · ∂C/∂a_L,     C = ½(a_L − y)²

and analyze_chain reads every term from the chain kernel, which builds them from the layers' own local factors
(gradviz.engine.layers: chain_locals): a plain layer's factor is w_j act'(z_j), a gated one's
f_j + i_j w_j act'(z_j) + a_{j−1} σ'(zf_j) wf_j + g_j σ'(zi_j) wi_j, and a skip connection a_j = a_{j−1} + s·(…)
makes it 1 + s·(that): the exploding chain's factor becomes 1 + 25 = 26, the vanishing chain's a product of
(1 + small) terms. The remedies come from gradviz.training.remedies' registry; normalization does not apply to one
neuron (its layer norm is 0), and a ChainConfig with it raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from gradviz.engine.activations import get_activation
from gradviz.engine.backprop import chain_backprop
from gradviz.engine.checks import real_number, whole_number
from gradviz.engine.network import Design, Network
from gradviz.engine.scaled import log10_magnitude
from gradviz.training.descent import Training, train
from gradviz.training.history import History
from gradviz.training.remedies import Remedies, check_applicable, network_design, training_rules

CASES = ("vanishing", "exploding")
EXPLODING_WEIGHT = 100.0
MAX_DEPTH = 10_000
EXPLODING_A0_LIMIT = 1e12


def _depth(depth) -> int:
    return whole_number(depth, "depth", 1, 10 * MAX_DEPTH)


def _finite(value, what: str) -> float:
    return real_number(value, what)


def _seed(seed) -> int:
    return whole_number(seed, "seed", 0)


def _exploding_a0(a0) -> float:
    """The exploding chain's input: |a0| ≤ 1e12 keeps 100·a0 + b_1 = z* exact (and b_1 finite)."""
    a0 = _finite(a0, "a0")
    if abs(a0) > EXPLODING_A0_LIMIT:
        raise ValueError(f"a0 must lie in [-1e12, 1e12] for the exploding chain (so that z_1 = z* exactly), not {a0!r}")
    return a0


def chain_design(activation: str = "sigmoid", forget_bias: float | None = None, residual: bool = False,
                 branch_scale: float = 1.0) -> Design:
    """The chain's layers: activation, constant gates (f = σ(forget_bias), i = σ(0) = 1/2), and the article's skip
    connection a_j = a_{j−1} + s·(the layer's output) when residual."""
    if not isinstance(residual, bool):
        raise ValueError(f"residual must be True or False, not {residual!r}")
    return Design(activation, None if forget_bias is None else _finite(forget_bias, "forget_bias"),
                  residual="post" if residual else None, branch_scale=branch_scale)


def vanishing_chain(depth: int, seed: int = 0, a0: float = 1.0, activation: str = "sigmoid",
                    forget_bias: float | None = None, residual: bool = False,
                    branch_scale: float = 1.0) -> tuple[Network, np.ndarray]:
    """The article's vanishing chain: width 1, w_j, b_j ~ N(0, 1) from default_rng(seed); x = [[a0]].

    Layer j draws its (w_j, b_j) as row j of one (depth, 2) draw, so a deeper chain with the same seed
    keeps the shallower chain's first layers. forget_bias: gate every layer (f = σ(forget_bias)); residual: a skip
    connection around every layer, a_j = a_{j−1} + s·σ(w_j a_{j−1} + b_j), each factor 1 + s·w_j σ'(z_j).
    """
    depth, seed = _depth(depth), _seed(seed)
    design = chain_design(activation, forget_bias, residual, branch_scale)
    draws = np.random.default_rng(seed).standard_normal((depth, 2))
    return design.chain(draws[:, 0], draws[:, 1]), np.array([[_finite(a0, "a0")]])


def exploding_chain(depth: int, a0: float = 1.0, activation: str = "sigmoid", forget_bias: float | None = None,
                    residual: bool = False, branch_scale: float = 1.0) -> tuple[Network, np.ndarray]:
    """The article's exploding chain: w_j = 100, b_j = z* − 100·a_{j−1}, so z_j = z* in every layer.

    a_{j−1} is what the layer below outputs: act(z*), or f·a_{j−2} + i·act(z*) with gating (f = σ(forget_bias),
    i = σ(0)), plus a_{j−2} inside a skip connection (residual: each factor 1 + 100·σ'(0) = 26 — it still explodes).
    """
    depth, a0 = _depth(depth), _exploding_a0(a0)
    design = chain_design(activation, forget_bias, residual, branch_scale)
    z_star = get_activation(activation).steepest_z
    layer = design.chain([EXPLODING_WEIGHT], [0.0]).layers[0]
    values = {name: array.ravel().tolist() for name, array in zip(layer.parameter_names, layer.parameters())}
    biases, a = [], a0
    for _ in range(depth):
        biases.append(z_star - EXPLODING_WEIGHT * a)
        _, a = layer.scalar_run(a, values | {"b": biases[-1:]})  # the layer's own forward pass: a_j
    return design.chain(np.full(depth, EXPLODING_WEIGHT), biases), np.array([[a0]])


@dataclass(frozen=True)
class ChainConfig:
    """Everything that defines one chain panel; frozen, so it can key a cache."""

    case: str = "vanishing"
    depth: int = 4
    a0: float = 1.0
    y: float = 0.0
    seed: int = 0
    remedies: Remedies = field(default_factory=Remedies)

    def __post_init__(self):
        if self.case not in CASES:
            raise ValueError(f"case must be one of {CASES}, not {self.case!r}")
        _depth(self.depth), _seed(self.seed)
        _finite(self.a0, "a0"), _finite(self.y, "y")
        if self.case == "exploding":
            _exploding_a0(self.a0)
        if not isinstance(self.remedies, Remedies):
            raise ValueError("remedies must be a gradviz Remedies value")
        check_applicable(self.remedies, "chain")

    @property
    def design(self) -> Design:
        """The chain's layers as the remedies make them (gradviz.training.remedies' registry)."""
        return network_design(self.remedies, "chain", chain_design(), blocks=self.depth)

    def build(self) -> tuple[Network, np.ndarray]:
        """The network and input x = [[a0]] of this case."""
        d = self.design
        residual = d.residual is not None
        if self.case == "vanishing":
            return vanishing_chain(self.depth, self.seed, self.a0, d.activation, d.forget_bias, residual,
                                   d.branch_scale)
        return exploding_chain(self.depth, self.a0, d.activation, d.forget_bias, residual, d.branch_scale)


@dataclass(frozen=True, eq=False)
class ChainReport:
    """One chain, analysed; every array has one entry per layer j = 1..L (index j − 1).

    factor_log10 / factor_sign: ∂a_j/∂a_{j−1}, the article's w_j σ'(z_j) (the product uses j ≥ 2);
    da_db_log10: ∂a_j/∂b_j (σ'(z_j), or i_j σ'(z_j) when gated); grad_b_log10 / grad_b_sign: ∂C/∂b_j.
    log10 magnitudes are exact at any depth (−inf for an exact 0); f, i are None unless gated.
    """

    config: ChainConfig
    w: np.ndarray
    b: np.ndarray
    z: np.ndarray
    a: np.ndarray
    f: np.ndarray | None
    i: np.ndarray | None
    factor_log10: np.ndarray
    factor_sign: np.ndarray
    da_db_log10: np.ndarray
    grad_b_log10: np.ndarray
    grad_b_sign: np.ndarray
    grad_a_L: float
    cost: float

    @property
    def depth(self) -> int:
        return len(self.w)

    @property
    def layer(self) -> np.ndarray:
        return np.arange(1, self.depth + 1)

    @property
    def log10_ratio_first_last(self) -> float:
        """log10 |∂C/∂b_1| / |∂C/∂b_L| (NaN where undefined: both 0, or a NaN upstream)."""
        with np.errstate(invalid="ignore"):
            return float(self.grad_b_log10[0] - self.grad_b_log10[-1])

    @property
    def overflow_layer(self) -> int | None:
        """The first layer whose activation a_j overflowed float64 (no gradient is computable past it), or None."""
        bad = ~np.isfinite(self.a)
        return int(np.argmax(bad)) + 1 if bad.any() else None

    @property
    def dead(self) -> bool:
        """Every ∂C/∂b_j is exactly 0 (a ReLU neuron off cuts the chain)."""
        return bool(np.all(self.grad_b_log10 == -np.inf))

    def log10_ratio_by_depth(self) -> np.ndarray:
        """log10 |∂C/∂b_1| / |∂C/∂b_L| of the chain cut to its first L layers, for L = 1..depth: the same
        layers (a deeper chain keeps a shallower one's), and ∂C/∂a_L cancels from the ratio:
        ∂a_1/∂b_1 · Π_{j=2..L} factor_j / ∂a_L/∂b_L."""
        with np.errstate(invalid="ignore"):
            product = self.da_db_log10[0] + np.concatenate([[0.0], np.cumsum(self.factor_log10[1:])])
            return product - self.da_db_log10

    def frame(self) -> pd.DataFrame:
        """One row per layer: layer, w, b, z, a, [f, i], factor_log10, factor_sign, da_db_log10, grad_b_log10,
        grad_b_sign."""
        columns = {"layer": self.layer, "w": self.w, "b": self.b, "z": self.z, "a": self.a}
        if self.f is not None:
            columns.update(f=self.f, i=self.i)
        columns.update(factor_log10=self.factor_log10, factor_sign=self.factor_sign, da_db_log10=self.da_db_log10,
                       grad_b_log10=self.grad_b_log10, grad_b_sign=self.grad_b_sign)
        return pd.DataFrame(columns)


def _config(config) -> None:
    if not isinstance(config, ChainConfig):
        raise ValueError(f"config must be a gradviz ChainConfig, not {type(config).__name__}")


def analyze_chain(config: ChainConfig) -> ChainReport:
    """The chain of `config`, analysed layer by layer (quadratic cost C = ½(a_L − y)²)."""
    _config(config)
    net, x = config.build()
    result = chain_backprop(net, x, np.array([[config.y]]), cost="quadratic")
    q = result.quantities
    a = q["a"][:, 0]
    gated = config.remedies.gated
    factor_m, factor_e = result.factor
    da_db_m, da_db_e = result.da_db
    grad_m, grad_e = result.grads["b"]
    return ChainReport(config, q["w"].copy(), q["b"].copy(), q["z"][:, 0], a,
                       q["f"][:, 0] if gated else None, q["i"][:, 0] if gated else None,
                       log10_magnitude(factor_m[:, 0], factor_e[:, 0]), np.sign(factor_m[:, 0]),
                       log10_magnitude(da_db_m[:, 0], da_db_e[:, 0]), log10_magnitude(grad_m, grad_e),
                       np.sign(grad_m), float(a[-1] - config.y), result.cost)


def train_chain(config: ChainConfig, training: Training, progress=None) -> History:
    """The chain of `config`, trained by gradient descent on its one example (x = a0, y), quadratic cost."""
    _config(config)
    if not isinstance(training, Training):
        raise ValueError(f"training must be a gradviz Training value, not {type(training).__name__}")
    net, x = config.build()
    rules = training_rules(config.remedies)
    history = train(net, x, np.array([[config.y]]), training.steps, training.eta, cost="quadratic", clip=rules.clip,
                    regularization=rules.regularization, progress=progress)
    return replace(history, time_label="step")
