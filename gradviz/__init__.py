"""gradviz: vanishing and exploding gradients, simulated in plain numpy."""

from gradviz.network import Gate, Gradients, Network, backprop, forward, forward_trace
from gradviz.presets import nielsen_network, seed_exploding, seed_vanishing

__all__ = [
    "Gate",
    "Gradients",
    "Network",
    "backprop",
    "forward",
    "forward_trace",
    "nielsen_network",
    "seed_exploding",
    "seed_vanishing",
]
