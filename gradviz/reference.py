"""Nielsen's published "speed of learning" curves (MIT licence; see data/nielsen/README.md).

norms_during_training_{2,3,4}_layers.json: for [784, 30 × N, 10] trained 500 epochs on the first
1,000 MNIST images (full batch, η = 0.1, λ = 5.0, cross-entropy), each hidden layer's ‖∂C/∂b_l‖
before each epoch.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

import pandas as pd

NIELSEN_HIDDEN_LAYERS = (2, 3, 4)


@lru_cache(maxsize=None)
def _load(n_hidden: int) -> pd.DataFrame:
    path = files("gradviz") / "data" / "nielsen" / f"norms_during_training_{n_hidden}_layers.json"
    epochs = json.loads(path.read_text())
    rows = [(epoch, layer, speed) for epoch, speeds in enumerate(epochs) for layer, speed in enumerate(speeds, start=1)]
    return pd.DataFrame(rows, columns=["epoch", "layer", "speed"])


def nielsen_speeds(n_hidden: int) -> pd.DataFrame:
    """Nielsen's curves for n_hidden (2, 3 or 4) hidden layers: [epoch, layer, speed], layer 1 the first hidden."""
    if n_hidden not in NIELSEN_HIDDEN_LAYERS:
        raise ValueError(f"Nielsen published curves for {NIELSEN_HIDDEN_LAYERS} hidden layers, not {n_hidden}")
    return _load(n_hidden).copy()
