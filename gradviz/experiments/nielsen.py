"""Nielsen's learning-speed experiment (his chapter 5), and its exploding counterpart.

[784, 30, …, 30, 10] on the shipped 1,000 MNIST digits, cross-entropy, full-batch gradient descent
(his mini_batch_size = 1,000), η = 0.1, L2 weight decay λ = 5.0 unless the regularization remedy replaces
it; the speed of layer l is ‖∂C/∂b_l‖ over the training set.
    vanishing   his initialization (weights N(0, 1/n_in), biases N(0, 1)), or the initialization remedy's
    exploding   the article's construction generalized: after the first layer, weights 10× the
                initialization's, and every bias b_l = −W_l·mean(a_{l−1}) over the training set, so every
                neuron's z is 0 on the average digit, where σ' is largest: each layer multiplies the
                gradient by about 2 on the way back.
The remedies shape the hidden layers through gradviz.training.remedies' registry: ReLU, constant LSTM-style gates,
skip connections a_l = a_{l−1} + s·σ(W a_{l−1} + b) (the chain's form, in the layers of width 30 → 30) and
normalization after the linear map. Batch norm cancels the bias right before it (∂C/∂b is exactly 0), so a
batch-normalized run's speed is ‖∂C/∂W_l‖ instead (`speed`).

His published curves (MIT licence, gradviz/data/nielsen/README.md): norms_during_training_{2,3,4}_layers.json,
each hidden layer's ‖∂C/∂b_l‖ before each of 500 epochs; initial_gradient.json, ∂C/∂b_j of the first six
neurons of both hidden layers of [784, 30, 30, 10] at initialization.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

from gradviz.datasets import mnist_1k
from gradviz.engine.backprop import backprop
from gradviz.engine.checks import whole_number
from gradviz.engine.initializations import get_scheme, initialize
from gradviz.engine.meanfield import MeanField, mean_field, normalized_gradient_factor
from gradviz.engine.network import Design, Network
from gradviz.training.descent import Training, train
from gradviz.training.history import History
from gradviz.training.remedies import (L2, Remedies, TrainingRules, check_applicable, network_design,
                                       training_rules)

NIELSEN_LMBDA = 5.0
NIELSEN_ETA = 0.1
NIELSEN_RULES = TrainingRules(regularization=L2(NIELSEN_LMBDA))  # his training, before any remedy
EXPLODING_WEIGHT_SCALE = 10.0
NIELSEN_HIDDEN_LAYERS = (2, 3, 4)
NIELSEN_WIDTH = 30
PER_NEURON_SIZES = [784, 30, 30, 10]
PER_NEURON_SHOWN = 6
CASES = ("vanishing", "exploding")


def nielsen_network(sizes: list[int], seed: int = 0, activation: str = "sigmoid") -> Network:
    """Nielsen's initialization: weights N(0, 1/n_in), biases N(0, 1); activation for the hidden layers,
    a sigmoid output layer (for the cross-entropy cost)."""
    return initialize(sizes, "nielsen", seed=seed, activation=activation)


@dataclass(frozen=True)
class NielsenConfig:
    """Nielsen's learning-speed experiment (vanishing) or its exploding counterpart."""

    case: str = "vanishing"
    n_hidden: int = 4
    width: int = 30
    seed: int = 0
    remedies: Remedies = field(default_factory=Remedies)

    def __post_init__(self):
        if self.case not in CASES:
            raise ValueError(f"case must be one of {CASES}, not {self.case!r}")
        for name, low, high in (("n_hidden", 1, 20), ("width", 1, 1000)):
            whole_number(getattr(self, name), name, low, high)
        if not isinstance(self.remedies, Remedies):
            raise ValueError("remedies must be a gradviz Remedies value")
        check_applicable(self.remedies, "nielsen")
        if self.remedies.norm == "layer" and self.width < 2:
            raise ValueError("layer norm needs a width of at least 2 (the layer norm of one neuron is 0)")

    @property
    def sizes(self) -> list[int]:
        return [784] + [self.width] * self.n_hidden + [10]

    @property
    def design(self) -> Design:
        """The hidden layers as the remedies make them (n_hidden − 1 of them keep their width and take a skip)."""
        return network_design(self.remedies, "nielsen", Design(), blocks=self.n_hidden - 1)

    @property
    def rules(self) -> TrainingRules:
        """Training's clipping, and the regularization remedy or Nielsen's own L2 λ = 5.0 when none is chosen."""
        return training_rules(self.remedies, NIELSEN_RULES)

    def regularization(self):
        """The regularization this run trains with (rules.regularization)."""
        return self.rules.regularization

    @property
    def speed(self) -> str:
        """The per-layer norm its record keeps: ‖∂C/∂b_l‖ (Nielsen's), or ‖∂C/∂W_l‖ where batch norm cancels the
        biases (∂C/∂b is exactly 0 there)."""
        return "weight" if self.design.bias_cancels else "bias"


def _initial(cfg: NielsenConfig) -> Network:
    d = cfg.design
    return initialize(cfg.sizes, cfg.remedies.init, seed=cfg.seed, activation=d.activation, gain=cfg.remedies.init_gain,
                      residual=d.residual or False, norm=d.norm, branch_scale=d.branch_scale, forget_bias=d.forget_bias)


def _exploding(cfg: NielsenConfig, x: np.ndarray) -> Network:
    """After layer 1, weights 10× the initialization's; every bias centres its layer's z = W a + b at 0 on the mean
    digit, a taken from the layers below as they are (gated, with skips, normalized)."""
    layers, a = [], x
    for k, layer in enumerate(_initial(cfg).layers):
        arrays = dict(zip(layer.parameter_names, layer.parameters()))
        w = arrays["w"] * (1.0 if k == 0 else EXPLODING_WEIGHT_SCALE)
        arrays.update(w=w, b=-(a.mean(axis=0) @ w.T))
        layer = layer.with_parameters(iter([arrays[name] for name in layer.parameter_names]))
        layers.append(layer)
        a = layer.forward(a).a
    return Network.of(layers)


def nielsen_setup(cfg: NielsenConfig) -> tuple[Network, np.ndarray, np.ndarray]:
    """(network, x, y) of the experiment, on the shipped 1,000 MNIST digits."""
    x, y = mnist_1k()
    return (_initial(cfg) if cfg.case == "vanishing" else _exploding(cfg, x)), x, y


def train_nielsen(cfg: NielsenConfig, training: Training, progress=None) -> History:
    """Full-batch gradient descent with cross-entropy, as Nielsen ran it (training.steps epochs)."""
    net, x, y = nielsen_setup(cfg)
    rules = cfg.rules
    return train(net, x, y, training.steps, training.eta, cost="cross_entropy", clip=rules.clip,
                 regularization=rules.regularization, seed=cfg.seed, progress=progress, speed=cfg.speed)


def has_published_curves(cfg: NielsenConfig) -> bool:
    """Nielsen published his run for 2, 3 and 4 hidden layers of 30 sigmoid neurons with his initialization."""
    return cfg.width == NIELSEN_WIDTH and cfg.n_hidden in NIELSEN_HIDDEN_LAYERS


@lru_cache(maxsize=None)
def _reference_json(name: str):
    return json.loads((files("gradviz") / "data" / "nielsen" / name).read_text())


def nielsen_speeds(n_hidden: int) -> pd.DataFrame:
    """Nielsen's curves for n_hidden (2, 3 or 4) hidden layers: [epoch, layer, speed], layer 1 the first hidden."""
    if n_hidden not in NIELSEN_HIDDEN_LAYERS:
        raise ValueError(f"Nielsen published curves for {NIELSEN_HIDDEN_LAYERS} hidden layers, not {n_hidden!r}")
    epochs = _reference_json(f"norms_during_training_{n_hidden}_layers.json")
    speeds = np.array(epochs, dtype=float)
    n_epochs, n_layers = speeds.shape
    return pd.DataFrame({"epoch": np.repeat(np.arange(n_epochs), n_layers), "layer": np.tile(np.arange(1, n_layers + 1), n_epochs),
                         "speed": speeds.ravel()})


def nielsen_per_neuron() -> np.ndarray:
    """Nielsen's ∂C/∂b_j for the first six neurons of each hidden layer of [784, 30, 30, 10] at initialization,
    shape (2 layers, 6 neurons)."""
    return np.array(_reference_json("initial_gradient.json"), dtype=float)


def per_neuron_gradients(seed: int = 0, init: str = "nielsen") -> np.ndarray:
    """Ours, the same figure: ∂C/∂b_j of the first six neurons of each hidden layer of [784, 30, 30, 10] at
    initialization, over the 1,000 digits with cross-entropy, shape (2, 6)."""
    x, y = mnist_1k()
    net = initialize(PER_NEURON_SIZES, init, seed=seed)
    nabla_b = backprop(net, x, y, "cross_entropy").nabla_b
    return np.array([layer[:PER_NEURON_SHOWN] for layer in nabla_b[:-1]])


def initial_speeds(cfg: NielsenConfig, seeds: int) -> np.ndarray:
    """log10 ‖∂C/∂b_l‖ (‖∂C/∂W_l‖ where cfg.speed says so) at initialization over the training set for l = 1..L,
    one row per seed cfg.seed, cfg.seed + 1, …, cfg.seed + seeds − 1: shape (seeds, L)."""
    rows = []
    for k in range(seeds):
        net, x, y = nielsen_setup(replace(cfg, seed=cfg.seed + k))
        rows.append(backprop(net, x, y, "cross_entropy").log10_norms(cfg.speed))
    return np.array(rows)


def hidden_layer_theory(cfg: NielsenConfig) -> MeanField:
    """Mean-field theory for the hidden-to-hidden layers (width × width) of the configuration: the
    initialization's (σ_w², σ_b²); the exploding case's weights are 10× (σ_w² × 100) and its biases centre
    every z at 0 on the mean digit, which mean-field theory models as σ_b² = 0. It describes the plain layers (no
    skip connection, no normalization: hidden_layer_factor says what theory predicts there)."""
    sigma_w2, sigma_b2 = _variances(cfg)
    return mean_field(cfg.design.activation, sigma_w2, sigma_b2)


def _variances(cfg: NielsenConfig) -> tuple[float, float]:
    r = cfg.remedies
    sigma_w2, sigma_b2 = get_scheme(r.init).variances(cfg.width, cfg.width, r.init_gain)
    if cfg.case == "exploding":
        sigma_w2, sigma_b2 = sigma_w2 * EXPLODING_WEIGHT_SCALE**2, 0.0
    return sigma_w2, sigma_b2


def hidden_layer_factor(cfg: NielsenConfig) -> float | None:
    """The gradient factor per hidden layer theory predicts for this configuration: mean-field √χ₁ for plain
    layers, the normalization remedy's factor for normalized ones (gradviz.engine.meanfield), None where no theory
    covers it (skip connections: the factor grows with the residual stream's variance, layer by layer)."""
    d = cfg.design
    if d.residual is not None:
        return None
    if d.norm is not None:
        return normalized_gradient_factor(d.norm, d.activation, *_variances(cfg))
    return hidden_layer_theory(cfg).gradient_factor
