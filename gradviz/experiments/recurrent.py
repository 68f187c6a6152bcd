"""Through time: an RNN unrolled T steps is a deep network whose layers share one weight matrix.

    h_t = act(W h_{t−1} + b),  h_0 = x,  t = 1..T,  cost C = mean over the batch of ½‖h_T − y‖²
With gating every step is the LSTM-style cell h_t = f ⊙ h_{t−1} + i ⊙ act(W h_{t−1} + b).

W = scale · W₀, with W₀ the initialization remedy's n × n matrix (Nielsen's N(0, 1/n) by default):
scale 0.5 vanishes, 3.0 explodes (saturating tanh). b ~ N(0, 0.1²), h_0 = x ~ N(0, 1), y ~ U(−0.5, 0.5),
all from np.random.default_rng(seed).

The remedies shape the cell through gradviz.training.remedies' registry: ReLU for tanh, constant LSTM-style gates,
layer norm h_t = act(LN(W h_{t−1} + b)) (Ba et al. 2016 proposed it for RNNs). Batch norm and skip connections do
not apply (the gated cell is the RNN's skip path through time), and a config with them raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from gradviz.engine.backprop import Gradients, backprop
from gradviz.engine.checks import whole_number
from gradviz.engine.initializations import initial_weights
from gradviz.engine.network import Design, Network
from gradviz.training.descent import Training, train
from gradviz.training.history import History
from gradviz.training.remedies import Remedies, check_applicable, network_design, training_rules

RECURRENT_SCALES = {"vanishing": 0.5, "exploding": 3.0}
MAX_STEPS = 1000


def recurrent_remedies(remedies: Remedies) -> Remedies:
    """The RNN's neurons: tanh, the classic recurrent activation, where the article's networks use sigmoid."""
    return replace(remedies, activation=recurrent_design(remedies).activation)


def recurrent_design(remedies: Remedies) -> Design:
    """The cell as the remedies make it, from a plain tanh cell."""
    return network_design(remedies, "recurrent", Design("tanh"))


@dataclass(frozen=True)
class RecurrentConfig:
    """An RNN unrolled T = steps steps; the case sets the recurrent weight scale."""

    case: str = "vanishing"
    steps: int = 50
    width: int = 16
    batch: int = 8
    seed: int = 0
    remedies: Remedies = field(default_factory=Remedies)

    def __post_init__(self):
        if self.case not in RECURRENT_SCALES:
            raise ValueError(f"case must be one of {tuple(RECURRENT_SCALES)}, not {self.case!r}")
        for name, low, high in (("steps", 1, MAX_STEPS), ("width", 1, 512), ("batch", 1, 1024)):
            whole_number(getattr(self, name), name, low, high)
        if not isinstance(self.remedies, Remedies):
            raise ValueError("remedies must be a gradviz Remedies value")
        check_applicable(self.remedies, "recurrent")
        if self.remedies.norm is not None and self.width < 2:
            raise ValueError("layer norm needs a width of at least 2 (the layer norm of one neuron is 0)")

    @property
    def scale(self) -> float:
        return RECURRENT_SCALES[self.case]


def recurrent_setup(cfg: RecurrentConfig) -> tuple[Network, np.ndarray, np.ndarray]:
    """(network, x, y) of the configuration."""
    rng = np.random.default_rng(cfg.seed)
    r = cfg.remedies
    n = cfg.width
    w = cfg.scale * initial_weights(n, n, r.init, rng, gain=r.init_gain)
    b = 0.1 * rng.standard_normal(n)
    x = rng.standard_normal((cfg.batch, n))
    y = rng.uniform(-0.5, 0.5, (cfg.batch, n))
    return Network.of([recurrent_design(r).layer(w, b)], unroll=cfg.steps), x, y


def recurrent_gradients(cfg: RecurrentConfig) -> Gradients:
    """Backprop through time at initialization: log10 ‖∂C/∂h_t‖ for t = 0..T is log10_activation_grad_norms."""
    net, x, y = recurrent_setup(cfg)
    return backprop(net, x, y, cost="quadratic")


def train_recurrent(cfg: RecurrentConfig, training: Training, progress=None) -> History:
    """The RNN trained on its batch (full batch) with quadratic cost."""
    net, x, y = recurrent_setup(cfg)
    rules = training_rules(cfg.remedies)
    history = train(net, x, y, training.steps, training.eta, cost="quadratic", clip=rules.clip,
                    regularization=rules.regularization, seed=cfg.seed, progress=progress)
    return replace(history, time_label="step")
