"""The network: a stack of layers (gradviz.engine.layers), or a chain of width-1 layers stored as vectors.

A network has L layers; layer l (1-based, as in the article; Python lists index it l − 1) maps a_{l-1} to
a_l. An unrolled RNN is the same stack with one layer's parameters shared by all T layers (`unroll=T`):
h_t = a_t, h_0 = x. The article's chain is a network whose every layer has width 1; it keeps its
parameters as vectors over the layers (w[l], b[l], …) so a 10,000-layer chain is a few arrays, not
20,000, and the backward pass takes the vectorized chain kernel (gradviz.engine.backprop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradviz.engine.activations import get_activation
from gradviz.engine.checks import as_numbers, whole_number
from gradviz.engine.layers import Dense, Gate, Gated

Array = np.ndarray
GATE_NAMES = ("wf", "bf", "wi", "bi")
WEIGHT_NAMES = frozenset({"w", "wf", "wi"})
MAX_UNROLL = 100_000  # steps of an unrolled network, as many as the longest chain's layers


def _frozen(value, writeable: bool = False) -> Array:
    array = np.array(value, dtype=float)
    array.flags.writeable = writeable
    return array


def _named_frozen(value, name: str) -> Array:
    array = np.array(as_numbers(value, name), dtype=float)
    array.flags.writeable = False
    return array


def _arrays(values, name: str) -> tuple:
    """One frozen float array per layer from a sequence, or a ValueError naming `name`."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a sequence with one array per layer, not {type(values).__name__}")
    return tuple(_named_frozen(v, f"{name}[{k}]") for k, v in enumerate(values))


@dataclass(frozen=True, eq=False)
class ChainParameters:
    """A width-1 chain's parameters as vectors over its stored layers; gate vectors are 0 where not gated."""

    w: Array
    b: Array
    gated: Array
    wf: Array
    bf: Array
    wi: Array
    bi: Array

    def blocks(self) -> list[tuple[str, Array]]:
        names = ("w", "b") + (GATE_NAMES if self.gated.any() else ())
        return [(name, getattr(self, name)) for name in names]


class Network:
    """A stack of layers; weights[l]: (n_{l+1}, n_l), biases[l]: (n_{l+1},), 0-based lists.

    activation: one name for every layer, or one per layer ("sigmoid", "tanh", "relu").
    gates: None, or one Gate (or None) per layer: gated layers follow the LSTM-style rule.
    unroll: None, or T: the single layer in weights/biases/gates is applied T times with shared
    parameters (an RNN unrolled through T steps).
    """

    def __init__(self, weights, biases, activation="sigmoid", gates=None, unroll=None):
        weights = _arrays(weights, "weights")
        biases = _arrays(biases, "biases")
        names = _activation_names(activation, len(weights))
        gates = _gate_list(gates, len(weights))
        unroll = None if unroll is None else whole_number(unroll, "unroll", 1, MAX_UNROLL)
        _validate(weights, biases, names, gates, unroll)
        self.activation = activation if isinstance(activation, str) else names
        self.activations = tuple(get_activation(name) for name in names)
        self.unroll = unroll
        self.chain = _as_chain(weights, biases, names, gates)
        self.layers = None if self.chain is not None else tuple(
            Dense(w, b, act) if gate is None else Gated(w, b, act, gate)
            for w, b, act, gate in zip(weights, biases, self.activations, gates))

    @classmethod
    def chain_of(cls, w, b, activation: str = "sigmoid", gates: tuple[Array, Array, Array, Array] | None = None,
                 unroll: int | None = None) -> Network:
        """A width-1 chain from vectors: w[l], b[l] per layer; gates = (wf, bf, wi, bi) vectors, or None."""
        w, b = _chain_vector(w, "w"), _chain_vector(b, "b")
        if w.shape != b.shape or w.size == 0:
            raise ValueError(f"w and b must be non-empty vectors of one length, not {w.shape} and {b.shape}")
        unroll = None if unroll is None else whole_number(unroll, "unroll", 1, MAX_UNROLL)
        if unroll is not None and w.size != 1:
            raise ValueError("unroll needs a chain of one shared layer (w and b of length 1)")
        get_activation(activation)
        if gates is not None and (isinstance(gates, (str, bytes)) or not hasattr(gates, "__len__") or len(gates) != 4):
            raise ValueError("gates must be None or four vectors (wf, bf, wi, bi)")
        gate_vectors = tuple(np.zeros_like(w) for _ in GATE_NAMES) if gates is None else tuple(
            _gate_vector(v, name, w.size) for v, name in zip(gates, GATE_NAMES))
        gated = _frozen_bool(np.full(w.shape, gates is not None))
        net = cls.__new__(cls)
        net.activation = activation
        net.activations = (get_activation(activation),) * w.size
        net.unroll = None if unroll is None else int(unroll)
        net.chain = ChainParameters(w, b, gated, *(_frozen(v) for v in gate_vectors))
        net.layers = None
        return net

    @property
    def depth(self) -> int:
        """L, the number of layers (time steps for an unrolled network)."""
        return self.unroll if self.unroll is not None else self.stored_layers

    @property
    def stored_layers(self) -> int:
        """How many layers hold their own parameters (1 for an unrolled network)."""
        return self.chain.w.size if self.chain is not None else len(self.layers)

    @property
    def sizes(self) -> list[int]:
        """[n_0, n_1, ..., n_L]."""
        if self.chain is not None:
            return [1] * (self.depth + 1)
        widths = [layer.w.shape[0] for layer in self.layers]
        per_layer = [widths[self.param_index(layer)] for layer in range(self.depth)]
        return [self.layers[0].w.shape[1]] + per_layer

    def param_index(self, layer: int) -> int:
        """Which stored layer layer `layer` (0-based) uses."""
        return 0 if self.unroll is not None else layer

    @property
    def weights(self) -> tuple:
        return tuple(params[0] for params in self._per_layer())

    @property
    def biases(self) -> tuple:
        return tuple(params[1] for params in self._per_layer())

    @property
    def gates(self) -> tuple:
        return tuple(Gate(*params[2:]) if len(params) > 2 else None for params in self._per_layer())

    def _per_layer(self) -> list[tuple[Array, ...]]:
        if self.chain is None:
            return [layer.parameters() for layer in self.layers]
        c = self.chain
        out = []
        for k in range(c.w.size):
            params = (c.w[k:k + 1].reshape(1, 1), c.b[k:k + 1])
            if c.gated[k]:
                params += (c.wf[k:k + 1].reshape(1, 1), c.bf[k:k + 1], c.wi[k:k + 1].reshape(1, 1), c.bi[k:k + 1])
            out.append(params)
        return out

    def named_parameters(self) -> list[tuple[str, Array]]:
        """(name, array) per stored layer, in order: w, b, then wf, bf, wi, bi if gated."""
        return [(name, array) for params in self._per_layer()
                for name, array in zip(("w", "b") + GATE_NAMES, params)]

    def parameters(self) -> list[Array]:
        """Every parameter array in the order of named_parameters()."""
        return [array for _, array in self.named_parameters()]

    def with_parameters(self, arrays: list[Array]) -> Network:
        """The same architecture holding new parameter arrays (in the order of parameters())."""
        it = iter(arrays)
        weights, biases, gates = [], [], []
        for gate in self.gates:
            weights.append(next(it))
            biases.append(next(it))
            gates.append(None if gate is None else Gate(next(it), next(it), next(it), next(it)))
        return Network(weights, biases, self.activation, tuple(gates), self.unroll)

    def layer_stack(self) -> Network:
        """The same network held as a stack of layer objects even where every layer has width 1, so backprop
        takes the general loop rather than the chain kernel (the kernel exists only because it is faster;
        the tests compare the two)."""
        net = Network.__new__(Network)
        net.activation, net.activations, net.unroll, net.chain = self.activation, self.activations, self.unroll, None
        net.layers = tuple(Dense(w, b, act) if gate is None else Gated(w, b, act, gate)
                           for w, b, act, gate in zip(self.weights, self.biases, self.activations, self.gates))
        return net

    def blocks(self) -> list[tuple[str, Array]]:
        """The parameter arrays training updates: a chain's vectors, or every layer's arrays."""
        if self.chain is not None:
            return self.chain.blocks()
        return [(name, array) for layer in self.layers for name, array in zip(layer.parameter_names, layer.parameters())]

    def with_blocks(self, arrays: list[Array], writeable: bool = False) -> Network:
        """The same architecture holding new block arrays (the order of blocks()); writeable copies for training."""
        arrays = [_frozen(a, writeable) for a in arrays]
        net = Network.__new__(Network)
        net.activation, net.activations, net.unroll = self.activation, self.activations, self.unroll
        if self.chain is not None:
            vectors = dict(zip([name for name, _ in self.chain.blocks()], arrays))
            zeros = _frozen(np.zeros_like(self.chain.w))
            net.chain = ChainParameters(vectors["w"], vectors["b"], self.chain.gated,
                                        *(vectors.get(name, zeros) for name in GATE_NAMES))
            net.layers = None
            return net
        it = iter(arrays)
        net.chain = None
        net.layers = tuple(_rebuilt(layer, it) for layer in self.layers)
        return net


def _rebuilt(layer, arrays) -> Dense | Gated:
    if layer.gate is None:
        return Dense(next(arrays), next(arrays), layer.activation)
    w, b = next(arrays), next(arrays)
    gate = Gate.__new__(Gate)
    for name in GATE_NAMES:
        object.__setattr__(gate, name, next(arrays))
    return Gated(w, b, layer.activation, gate)


def _frozen_bool(values) -> Array:
    array = np.array(values, dtype=bool)
    array.flags.writeable = False
    return array


def _activation_names(activation, n_layers: int) -> tuple:
    if isinstance(activation, str):
        return (activation,) * n_layers
    try:
        return tuple(activation)
    except TypeError:
        raise ValueError(f"activation must be a name or one name per layer, not {activation!r}") from None


def _gate_list(gates, n_layers: int) -> tuple:
    if gates is None:
        return (None,) * n_layers
    if isinstance(gates, (str, bytes, Gate)) or not hasattr(gates, "__iter__"):
        raise ValueError(f"gates must be None or one Gate (or None) per layer, not {type(gates).__name__}")
    return tuple(gates)


def _chain_vector(values, name: str) -> Array:
    """A chain's parameter as a frozen vector over its layers (a number is one layer)."""
    array = as_numbers(values, name)
    if array.ndim > 1:
        raise ValueError(f"{name} must be a vector (one number per layer), not an array of shape {array.shape}")
    return _frozen(np.ravel(array))


def _gate_vector(values, name: str, depth: int) -> Array:
    """One gate parameter over a chain's layers: a number (every layer) or a vector of the chain's length."""
    array = _chain_vector(values, f"gates' {name}")
    if array.size not in (1, depth):
        raise ValueError(f"gates' {name} must be one number or {depth} numbers, not {array.size}")
    return _frozen(np.broadcast_to(array, (depth,)))


def _validate(weights, biases, names, gates, unroll) -> None:
    if not weights or len(weights) != len(biases) or len(names) != len(weights):
        raise ValueError(f"weights, biases and activation must give one entry per layer (at least one), not "
                         f"{len(weights)}, {len(biases)} and {len(names)}")
    if len(gates) != len(weights) or any(g is not None and not isinstance(g, Gate) for g in gates):
        raise ValueError("gates must give one Gate or None per layer")
    if unroll is not None:
        if len(weights) != 1:
            raise ValueError("unroll needs one shared layer (one weight matrix in weights, one vector in biases)")
        if weights[0].ndim != 2 or weights[0].shape[0] != weights[0].shape[1]:
            raise ValueError("unroll needs a layer that maps its width to itself (a square matrix in weights)")
    for l, (w, b, gate) in enumerate(zip(weights, biases, gates)):
        if w.ndim != 2 or b.shape != (w.shape[:1]) or 0 in w.shape:
            raise ValueError(f"weights[{l}] must be a non-empty matrix (n_out, n_in) and biases[{l}] a vector "
                             f"(n_out,), not {w.shape} and {b.shape}")
        if gate is not None and (w.shape[0] != w.shape[1] or gate.wf.shape != w.shape or gate.wi.shape != w.shape
                                 or gate.bf.shape != b.shape or gate.bi.shape != b.shape):
            raise ValueError(f"gates[{l}] needs a square weights[{l}] and gate parameters shaped like it and "
                             f"biases[{l}]")
    for l, (w_in, w_out) in enumerate(zip(weights, weights[1:])):
        if w_out.shape[1] != w_in.shape[0]:
            raise ValueError(f"weights[{l + 1}] must take the {w_in.shape[0]} outputs of weights[{l}], "
                             f"not {w_out.shape[1]} inputs")
    for name in set(names):
        get_activation(name)


def _as_chain(weights, biases, names, gates) -> ChainParameters | None:
    """The chain's vectors if every layer is 1×1 with one activation, else None."""
    if len(set(names)) != 1 or any(w.shape != (1, 1) for w in weights):
        return None
    gated = np.array([g is not None for g in gates])
    gate_value = lambda name: _frozen([0.0 if g is None else float(getattr(g, name).ravel()[0]) for g in gates])
    return ChainParameters(_frozen([w[0, 0] for w in weights]), _frozen([b[0] for b in biases]), _frozen_bool(gated),
                           *(gate_value(name) for name in GATE_NAMES))


def is_weight(name: str) -> bool:
    """Whether a parameter called `name` is a weight (regularized) rather than a bias."""
    return name in WEIGHT_NAMES

