"""gradviz: vanishing and exploding gradients, simulated in plain numpy."""

from gradviz import datasets
from gradviz.network import Gate, Gradients, Network, backprop, forward, forward_trace
from gradviz.presets import nielsen_network, seed_exploding, seed_vanishing
from gradviz.remedies import L1, L2, ClipNorm, ClipValue
from gradviz.training import History, train

__all__ = [
    "ClipNorm",
    "ClipValue",
    "Gate",
    "Gradients",
    "History",
    "L1",
    "L2",
    "Network",
    "backprop",
    "datasets",
    "forward",
    "forward_trace",
    "nielsen_network",
    "seed_exploding",
    "seed_vanishing",
    "train",
]
