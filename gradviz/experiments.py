"""The dashboard's experiments as frozen configs and pure run functions (a config in, a result out).

Remedies act on every experiment: `activation` (ReLU), `forget_bias` (LSTM-style gating), `clip` and
`regularization` (on training). Each experiment has a vanishing and an exploding case:

Chain, trained      the article's chains (gradviz.chain), gradient descent on their one example.
Nielsen             [784, 30, …, 30, 10] on 1,000 MNIST digits, cross-entropy, full batch, η = 0.1, L2 λ = 5.0.
    vanishing       his initialization: weights N(0, 1/n_in), biases N(0, 1).
    exploding       the article's construction generalized: after Nielsen's first layer, weights 10× his,
                    N(0, 10²/n_in), and every bias b_l = −W_l·mean(a_{l−1}) over the training set, so every
                    neuron's z is 0 on the average digit, where σ' is largest: each layer multiplies the
                    gradient by about 2 to 3 on the way back.
Through time        an RNN h_t = act(W h_{t−1} + b), h_0 = x, unrolled T steps with shared W, cost ½‖h_T − y‖²
                    on a batch of random sequences; W = scale · N(0, 1/n): scale 0.5 vanishes, 3.0 explodes.
                    With gating every step is the LSTM-style cell h_t = f ⊙ h_{t−1} + i ⊙ act(W h_{t−1} + b).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from gradviz.activations import get_activation
from gradviz.chain import ChainConfig
from gradviz.datasets import mnist_1k
from gradviz.network import Gate, Gradients, Network, backprop
from gradviz.presets import nielsen_network
from gradviz.remedies import L2, ClipNorm, ClipValue, L1
from gradviz.training import History, train

NIELSEN_LMBDA = 5.0
EXPLODING_WEIGHT_SCALE = 10.0
RECURRENT_SCALES = {"vanishing": 0.5, "exploding": 3.0}


@dataclass(frozen=True)
class Training:
    """How every panel trains: epochs of gradient descent with learning rate eta, and two remedies."""

    epochs: int = 30
    eta: float = 0.1
    clip: ClipNorm | ClipValue | None = None
    regularization: L2 | L1 | None = None


def train_chain(chain: ChainConfig, training: Training, progress: Callable[[float], None] | None = None) -> History:
    """The chain of `chain`, trained on its single example (x = a0, y) with quadratic cost."""
    net, x = chain.build()
    return train(net, x, np.array([[chain.y]]), training.epochs, training.eta, cost="quadratic",
                 clip=training.clip, regularization=training.regularization, progress=progress)


@dataclass(frozen=True)
class NielsenConfig:
    """Nielsen's learning-speed experiment (vanishing) or its exploding counterpart."""

    case: str = "vanishing"
    n_hidden: int = 4
    width: int = 30
    seed: int = 0
    activation: str = "sigmoid"
    forget_bias: float | None = None

    @property
    def sizes(self) -> list[int]:
        return [784] + [self.width] * self.n_hidden + [10]


def _gated(net: Network, forget_bias: float | None) -> Network:
    """Gate every square hidden layer (the output and the input-width layers stay plain)."""
    if forget_bias is None:
        return net
    gates = [Gate.constant(w.shape[0], forget_bias) if w.shape[0] == w.shape[1] and k < len(net.weights) - 1 else None
             for k, w in enumerate(net.weights)]
    return Network(net.weights, net.biases, net.activation, tuple(gates))


def _exploding_nielsen(sizes: list[int], x: np.ndarray, seed: int, activation: str, forget_bias: float | None) -> Network:
    rng = np.random.default_rng(seed)
    names = [activation] * (len(sizes) - 2) + ["sigmoid"]
    weights, biases = [], []
    a = x
    for k, (n_in, n_out, name) in enumerate(zip(sizes[:-1], sizes[1:], names)):
        scale = 1.0 if k == 0 else EXPLODING_WEIGHT_SCALE
        w = rng.standard_normal((n_out, n_in)) * scale / np.sqrt(n_in)
        b = -(a.mean(axis=0) @ w.T)
        weights.append(w)
        biases.append(b)
        a = get_activation(name).fn(a @ w.T + b)
    return _gated(Network(weights, biases, tuple(names)), forget_bias)


def nielsen_setup(cfg: NielsenConfig) -> tuple[Network, np.ndarray, np.ndarray]:
    """(network, x, y) of the experiment, on the shipped 1,000 MNIST digits."""
    x, y = mnist_1k()
    if cfg.case == "vanishing":
        net = _gated(nielsen_network(cfg.sizes, cfg.seed, cfg.activation), cfg.forget_bias)
    else:
        net = _exploding_nielsen(cfg.sizes, x, cfg.seed, cfg.activation, cfg.forget_bias)
    return net, x, y


def train_nielsen(cfg: NielsenConfig, training: Training, progress: Callable[[float], None] | None = None) -> History:
    """Full-batch gradient descent with cross-entropy, as Nielsen ran it; his L2 λ = 5.0 unless
    training.regularization replaces it."""
    net, x, y = nielsen_setup(cfg)
    regularization = training.regularization or L2(NIELSEN_LMBDA)
    return train(net, x, y, training.epochs, training.eta, cost="cross_entropy", clip=training.clip,
                 regularization=regularization, seed=cfg.seed, progress=progress)


@dataclass(frozen=True)
class RecurrentConfig:
    """An RNN unrolled T steps; the case sets the recurrent weight scale."""

    case: str = "vanishing"
    steps: int = 50
    width: int = 16
    batch: int = 8
    seed: int = 0
    activation: str = "tanh"
    forget_bias: float | None = None

    @property
    def scale(self) -> float:
        return RECURRENT_SCALES[self.case]


def recurrent_setup(cfg: RecurrentConfig) -> tuple[Network, np.ndarray, np.ndarray]:
    """(network, x, y): W = scale · N(0, 1/n), b ~ N(0, 0.1²), h_0 = x ~ N(0, 1), targets y ~ U(−0.5, 0.5)."""
    rng = np.random.default_rng(cfg.seed)
    n = cfg.width
    w = cfg.scale * rng.standard_normal((n, n)) / np.sqrt(n)
    b = 0.1 * rng.standard_normal(n)
    x = rng.standard_normal((cfg.batch, n))
    y = rng.uniform(-0.5, 0.5, (cfg.batch, n))
    gates = (Gate.constant(n, cfg.forget_bias),) if cfg.forget_bias is not None else None
    return Network([w], [b], cfg.activation, gates, unroll=cfg.steps), x, y


def recurrent_gradients(cfg: RecurrentConfig) -> Gradients:
    """Backprop through time at initialization: log10 ‖∂C/∂h_t‖ for t = 0..T is log10_activation_grad_norms."""
    net, x, y = recurrent_setup(cfg)
    return backprop(net, x, y, cost="quadratic")


def train_recurrent(cfg: RecurrentConfig, training: Training, progress: Callable[[float], None] | None = None) -> History:
    """The RNN trained on its batch with quadratic cost."""
    net, x, y = recurrent_setup(cfg)
    return train(net, x, y, training.epochs, training.eta, cost="quadratic", clip=training.clip,
                 regularization=training.regularization, seed=cfg.seed, progress=progress)
