"""The article's two chains and Nielsen's network, by name.

Vanishing chain (the article's "standard" initialization): width 1, w_j, b_j ~ N(0, 1).
Exploding chain (the article's construction): every w_j = 100 and b_j = −100·a_{j−1}, so every
z_j = 0 and every factor w_j σ'(z_j) = 100 · 1/4 = 25. With another activation the same rule puts
each neuron at its steepest point z*: 0 for sigmoid and tanh, 1 for ReLU (slope 1 for any z > 0).
With gating, a_{j−1} is the gated layer's output, and the biases follow it the same way.
"""

from __future__ import annotations

import numpy as np

from gradviz.activations import get_activation, sigmoid
from gradviz.network import Gate, Network

STEEPEST_Z = {"sigmoid": 0.0, "tanh": 0.0, "relu": 1.0}
EXPLODING_WEIGHT = 100.0


def _chain_gates(depth: int, forget_bias: float | None) -> tuple | None:
    if forget_bias is None:
        return None
    return (Gate.constant(1, forget_bias),) * depth


def seed_vanishing(depth: int, seed: int = 0, a0: float = 1.0, activation: str = "sigmoid",
                   forget_bias: float | None = None) -> tuple[Network, np.ndarray]:
    """The article's vanishing chain: width 1, w_j, b_j ~ N(0, 1) from default_rng(seed); x = [[a0]].

    Layer j draws its (w_j, b_j) as row j of one (depth, 2) draw, so a deeper chain with the same
    seed keeps the shallower chain's first layers. forget_bias: gate every layer (f = σ(forget_bias)).
    """
    draws = np.random.default_rng(seed).standard_normal((depth, 2))
    weights = [np.array([[w]]) for w in draws[:, 0]]
    biases = [np.array([b]) for b in draws[:, 1]]
    net = Network(weights, biases, activation, _chain_gates(depth, forget_bias))
    return net, np.array([[a0]])


def seed_exploding(depth: int, a0: float = 1.0, activation: str = "sigmoid",
                   forget_bias: float | None = None) -> tuple[Network, np.ndarray]:
    """The article's exploding chain: w_j = 100, b_j = z* − 100·a_{j−1}, so z_j = z* in every layer.

    z* = 0 for sigmoid (each factor w σ'(0) = 25), 0 for tanh (factor 100), 1 for ReLU (factor 100).
    With gating (forget_bias set), a_j = f·a_{j−1} + i·act(z*) with f = σ(forget_bias), i = σ(0).
    """
    z_star = STEEPEST_Z[activation]
    g_star = float(get_activation(activation).fn(np.array(z_star)))
    gates = _chain_gates(depth, forget_bias)
    f = float(sigmoid(np.array(forget_bias))) if forget_bias is not None else 0.0
    i = 0.5 if forget_bias is not None else 1.0
    a = a0
    biases = []
    for _ in range(depth):
        biases.append(np.array([z_star - EXPLODING_WEIGHT * a]))
        a = f * a + i * g_star
    weights = [np.array([[EXPLODING_WEIGHT]])] * depth
    return Network(weights, biases, activation, gates), np.array([[a0]])


def nielsen_network(sizes: list[int], seed: int = 0, activation: str = "sigmoid") -> Network:
    """Nielsen's initialization: biases N(0, 1), weights N(0, 1/n_in), sigmoid output layer.

    activation applies to the hidden layers; the output layer stays sigmoid (cross-entropy cost).
    """
    rng = np.random.default_rng(seed)
    biases = [rng.standard_normal(n) for n in sizes[1:]]
    weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    activations = (activation,) * (len(sizes) - 2) + ("sigmoid",)
    return Network(weights, biases, activations)
