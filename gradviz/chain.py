"""The article's chain of single neurons, layer by layer: factors, gradients, the chain-rule product.

For a width-1 chain the backprop of gradviz.network reduces to the article's product

    ∂C/∂b_1 = ∂a_1/∂b_1 · Π_{j=2..L} ∂a_j/∂a_{j−1} · ∂C/∂a_L

with, per layer j (act' the activation's slope):
    plain layer   ∂a_j/∂b_j = act'(z_j),        ∂a_j/∂a_{j−1} = w_j act'(z_j)       (the article's factor)
    gated layer   ∂a_j/∂b_j = i_j act'(z_j),    ∂a_j/∂a_{j−1} = f_j + i_j w_j act'(z_j)
                                                   + a_{j−1} σ'(zf_j) wf_j + g_j σ'(zi_j) wi_j
The report takes |∂C/∂b_j| from backprop and the factors from the forward trace, so the two
are independent computations of the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gradviz.activations import sigmoid_prime
from gradviz.logspace import LN10
from gradviz.network import Network, backprop, forward_trace
from gradviz.presets import seed_exploding, seed_vanishing

CASES = ("vanishing", "exploding")


@dataclass(frozen=True)
class ChainConfig:
    """Everything that defines one chain panel; frozen, so it can key a cache."""

    case: str = "vanishing"
    depth: int = 4
    a0: float = 1.0
    y: float = 0.0
    seed: int = 0
    activation: str = "sigmoid"
    forget_bias: float | None = None

    def build(self) -> tuple[Network, np.ndarray]:
        """The network and input x = [[a0]] of this case."""
        if self.case == "vanishing":
            return seed_vanishing(self.depth, self.seed, self.a0, self.activation, self.forget_bias)
        return seed_exploding(self.depth, self.a0, self.activation, self.forget_bias)


@dataclass(frozen=True, eq=False)
class ChainReport:
    """One chain, analysed. layers: one row per layer j = 1..L (columns documented in analyze_chain)."""

    config: ChainConfig
    layers: pd.DataFrame
    grad_a_L: float
    log10_abs_grad_b1: float
    sign_grad_b1: float
    log10_ratio_first_last: float

    @property
    def overflow_layer(self) -> int | None:
        """The first layer whose activation a_j overflowed float64 (then no gradient is computable), or None."""
        finite = np.isfinite(self.layers["a"].to_numpy())
        return None if finite.all() else int(self.layers["layer"].to_numpy()[~finite][0])


def _log10_abs(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log10(np.abs(values))


def _column(trace, name: str) -> np.ndarray:
    return np.array([getattr(t, name)[0, 0] for t in trace])


def _local_derivatives(net: Network, x: np.ndarray) -> pd.DataFrame:
    """Per layer of a width-1 net: w, b, z, a, [f, i], log10|∂a_j/∂b_j|, log10|∂a_j/∂a_{j−1}| and its sign."""
    trace = forward_trace(net, x)
    params = [net.param_index(j) for j in range(net.depth)]
    w = np.array([net.weights[k][0, 0] for k in params])
    z, a = _column(trace, "z"), _column(trace, "a")
    layers = pd.DataFrame({"layer": np.arange(1, net.depth + 1), "w": w,
                           "b": [net.biases[k][0] for k in params], "z": z, "a": a})
    act = net.activations[0]
    ln_slope = act.log_prime(z)
    if net.gates[0] is None:
        layers["da_db_log10"] = ln_slope / LN10
        layers["factor"] = w * act.prime(z)
        layers["factor_log10"] = _log10_abs(w) + ln_slope / LN10
        layers["factor_sign"] = np.sign(w) * (ln_slope > -np.inf)
        return layers
    gates = [net.gates[k] for k in params]
    f, i, g = _column(trace, "f"), _column(trace, "i"), _column(trace, "g")
    a_prev = np.concatenate([[x[0, 0]], a[:-1]])
    wf = np.array([gate.wf[0, 0] for gate in gates])
    wi = np.array([gate.wi[0, 0] for gate in gates])
    with np.errstate(invalid="ignore", over="ignore"):
        factor = (f + i * w * act.prime(z) + a_prev * sigmoid_prime(_column(trace, "zf")) * wf
                  + g * sigmoid_prime(_column(trace, "zi")) * wi)
    layers["f"], layers["i"] = f, i
    layers["factor"] = factor
    layers["da_db_log10"] = np.log10(i) + ln_slope / LN10
    layers["factor_log10"] = _log10_abs(factor)
    layers["factor_sign"] = np.sign(factor)
    return layers


def analyze_chain(config: ChainConfig) -> ChainReport:
    """The chain of `config`, analysed layer by layer (quadratic cost C = ½(a_L − y)²).

    layers columns: layer (j = 1..L), w, b, z, a, [f, i when gated], da_db_log10 (log10|∂a_j/∂b_j|),
    factor (∂a_j/∂a_{j−1}, the article's w_j σ'(z_j), as a float), factor_log10 (log10 of its magnitude,
    exact even where the float underflows), factor_sign, grad_b (∂C/∂b_j from backprop as a float: ±inf or 0
    beyond float64), grad_b_log10 (log10|∂C/∂b_j|, exact) and grad_b_sign.
    """
    net, x = config.build()
    gradients = backprop(net, x, np.array([[config.y]]), cost="quadratic")
    layers = _local_derivatives(net, x)
    grad_a_L = float(layers["a"].iloc[-1] - config.y)
    # sign(∂C/∂b_j) = sign(∂a_j/∂b_j) · Π_{k>j} sign(factor_k) · sign(∂C/∂a_L), with ∂a_j/∂b_j ≥ 0
    signs_after = np.append(np.cumprod(layers["factor_sign"].to_numpy()[::-1])[::-1][1:], 1.0)
    layers["grad_b"] = [float(v[0]) for v in gradients.nabla_b]
    layers["grad_b_log10"] = gradients.log10_bias_norms
    layers["grad_b_sign"] = signs_after * np.sign(grad_a_L) * (gradients.log10_bias_norms > -np.inf)
    with np.errstate(invalid="ignore"):
        ratio = float(gradients.log10_bias_norms[0] - gradients.log10_bias_norms[-1])
    return ChainReport(config, layers, grad_a_L, float(gradients.log10_bias_norms[0]),
                       float(layers["grad_b_sign"].iloc[0]), ratio)
