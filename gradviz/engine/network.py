"""The network: a sequence of layers (gradviz.engine.layers) holding views of one parameter vector.

A network has L layers; layer l (1-based, as in the article; Python lists index it l − 1) maps a_{l-1} to a_l.
An unrolled RNN is one layer applied T times with shared parameters (`unroll=T`): h_t = a_t, h_0 = x. The
article's chain is a network whose every layer has width 1; backprop runs such a stack through the chain kernel.

Every parameter of every layer lives in one float vector, `theta`, in the order of named_parameters(), and the
layers hold views of it: training updates every parameter with a few vector operations whatever the number of
layers (a 10,000-layer chain is 20,000 numbers, not 20,000 arrays to loop over), and the chain kernel reads one
parameter over all the layers with one index (`positions`). A network is a value: its vector is read-only, except
in the copy training makes writeable and updates in place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from gradviz.engine.activations import get_activation
from gradviz.engine.checks import as_numbers, real_number, whole_number
from gradviz.engine.layers import Dense, Gate, Gated, PreActivation, Residual
from gradviz.engine.normalization import get_norm

Array = np.ndarray
WEIGHT_NAMES = frozenset({"w", "wf", "wi"})
MAX_UNROLL = 100_000  # steps of an unrolled network, as many as the longest chain's layers


def is_weight(name: str) -> bool:
    """Whether a parameter called `name` is a weight (regularized) rather than a bias, gain or shift."""
    return name in WEIGHT_NAMES


@dataclass(frozen=True, eq=False)
class Layout:
    """Where each parameter array of a network sits in its vector: array k is named names[k], has shape shapes[k],
    occupies theta[offsets[k]:offsets[k + 1]] and belongs to stored layer layer[k]."""

    names: tuple
    shapes: tuple
    offsets: Array
    layer: Array

    @staticmethod
    def of(layers) -> Layout:
        names, shapes, counts = [], [], []
        for layer in layers:
            arrays = layer.parameters()
            names.extend(layer.parameter_names)
            shapes.extend(array.shape for array in arrays)
            counts.append(len(arrays))
        sizes = [math.prod(shape) for shape in shapes]
        return Layout(tuple(names), tuple(shapes), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                      np.repeat(np.arange(len(counts)), counts))

    @cached_property
    def layer_starts(self) -> Array:
        """Where each stored layer's arrays begin among the arrays (and, last, how many arrays there are)."""
        return np.searchsorted(self.layer, np.arange(int(self.layer.max(initial=-1)) + 2))

    @property
    def size(self) -> int:
        """How many numbers the vector holds."""
        return int(self.offsets[-1])

    @cached_property
    def sizes(self) -> Array:
        return np.diff(self.offsets)

    @cached_property
    def weight_mask(self) -> Array:
        """True for the entries of weights (regularized), False for biases, gains and shifts."""
        return np.repeat([is_weight(name) for name in self.names], self.sizes)

    @cached_property
    def main_weights(self) -> Array:
        """Per stored layer, the index of its weight matrix "w" among the arrays (−1 for a layer without one)."""
        out = np.full(int(self.layer.max(initial=-1)) + 1, -1, dtype=np.int64)
        for k in reversed(range(len(self.names))):
            if self.names[k] == "w":
                out[self.layer[k]] = k
        return out

    def positions(self, name: str) -> Array:
        """Per stored layer, where its one-number parameter `name` sits in the vector (−1 where it has none): the
        chain kernel's view of a width-1 network."""
        return self._positions[name]

    @cached_property
    def _positions(self) -> dict[str, Array]:
        names = np.array(self.names)
        out = {}
        for name in set(self.names):
            table = np.full(len(self.main_weights), -1, dtype=np.int64)
            mine = names == name
            table[self.layer[mine]] = self.offsets[:-1][mine]
            out[name] = table
        return out


@dataclass(frozen=True, eq=False)
class ChainRun:
    """Consecutive width-1 layers of one kind (steps start..stop − 1, 0-based): `layer` runs them all, each
    parameter read from the vector at positions[name] (one entry per step)."""

    layer: object
    start: int
    stop: int
    positions: dict


@dataclass(frozen=True, eq=False)
class Architecture:
    """What a network is apart from its parameter values, shared by a network and its copies: its layers (their
    kinds, activations, shapes and skip scales; the arrays they hold are not the network's), the unrolling, where
    each parameter sits in the vector (layout) and the chain kernel's plan (chain_runs)."""

    layers: tuple
    unroll: int | None

    @cached_property
    def layout(self) -> Layout:
        return Layout.of(self.layers)

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        """(n_0, n_1, ..., n_L)."""
        steps = self.layers * self.unroll if self.unroll is not None else self.layers
        return (self.layers[0].n_in,) + tuple(layer.n_out for layer in steps)

    @cached_property
    def chain_runs(self) -> tuple[ChainRun, ...] | None:
        """The chain kernel's plan when every layer has width 1 and can run there: runs of consecutive layers of
        one kind; None otherwise."""
        if any(layer.n_in != 1 or layer.n_out != 1 or layer.chain_signature() is None for layer in self.layers):
            return None
        positions = {name: self.layout.positions(name) for name in set(self.layout.names)}
        if self.unroll is not None:
            return (ChainRun(self.layers[0], 0, self.unroll,
                             {name: np.repeat(p, self.unroll) for name, p in positions.items() if p[0] >= 0}),)
        signatures = [layer.chain_signature() for layer in self.layers]
        runs, start = [], 0
        for stop in range(1, len(signatures) + 1):
            if stop == len(signatures) or signatures[stop] != signatures[start]:
                runs.append(ChainRun(self.layers[start], start, stop,
                                     {name: p[start:stop] for name, p in positions.items() if p[start] >= 0}))
                start = stop
        return tuple(runs)


class BoundLayers(Sequence):
    """A network's layers, each holding views of the network's vector, made when first asked for (the chain kernel
    running a 10,000-layer copy never needs most of them)."""

    def __init__(self, architecture: Architecture, theta: Array):
        self._architecture, self._theta = architecture, theta
        self._bound: list = [None] * len(architecture.layers)

    def __len__(self) -> int:
        return len(self._bound)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self[k] for k in range(*index.indices(len(self))))
        k = range(len(self))[index]
        if self._bound[k] is None:
            layout = self._architecture.layout
            first, stop = layout.layer_starts[k], layout.layer_starts[k + 1]
            views = (self._theta[layout.offsets[j]:layout.offsets[j + 1]].reshape(layout.shapes[j])
                     for j in range(first, stop))
            self._bound[k] = self._architecture.layers[k].with_parameters(views)
        return self._bound[k]


class Network:
    """A stack of layers; weights[l]: (n_{l+1}, n_l), biases[l]: (n_{l+1},), 0-based lists.

    Network(weights, biases, activation, gates, unroll) builds Dense and Gated layers: activation is one name for
    every layer or one per layer ("sigmoid", "tanh", "relu"); gates None, or one Gate (or None) per layer. Any
    other stack of layers (Residual, PreActivation, normalized layers): Network.of(layers, unroll).
    unroll: None, or T: the single layer is applied T times with shared parameters (an RNN unrolled T steps).
    """

    def __init__(self, weights=None, biases=None, activation="sigmoid", gates=None, unroll=None, *, layers=None,
                 writeable: bool = False, check: bool = True, architecture: Architecture | None = None,
                 theta=None):
        """layers: instead of weights, biases, activation and gates, any layers (see Network.of); writeable: a
        parameter vector training may update in place; check=False: layers a network already checked (its own);
        architecture and theta: another network's architecture and a vector laid out as it says (copied)."""
        if architecture is None:
            unroll = None if unroll is None else whole_number(unroll, "unroll", 1, MAX_UNROLL)
            if layers is None:
                layers = _dense_layers(weights, biases, activation, gates, unroll)
            elif check:
                layers = _checked_layers(layers, unroll)
            architecture = Architecture(tuple(layers), unroll)
            theta = [np.asarray(p, dtype=float).reshape(-1) for layer in layers for p in layer.parameters()]
            theta = np.concatenate(theta) if theta else np.zeros(0)
        else:
            theta = np.array(theta, dtype=float)
        theta.flags.writeable = writeable
        self.architecture, self.theta = architecture, theta
        self.layers = BoundLayers(architecture, theta)
        self.unroll = architecture.unroll

    @classmethod
    def of(cls, layers, unroll: int | None = None) -> Network:
        """A network of any layers speaking gradviz.engine.layers' protocol (their arrays are copied)."""
        return cls(layers=_checked_layers(layers, unroll), unroll=unroll, check=False)

    @classmethod
    def chain_of(cls, w, b, activation: str = "sigmoid", gates: tuple | None = None,
                 unroll: int | None = None, skip: float | None = None) -> Network:
        """A width-1 chain from vectors: w[l], b[l] per layer; gates = (wf, bf, wi, bi) vectors (or numbers), or None;
        skip: None, or s: every layer inside a skip connection, a_l = a_{l−1} + s · layer(a_{l−1})."""
        w, b = _chain_vector(w, "w"), _chain_vector(b, "b")
        if w.shape != b.shape or w.size == 0:
            raise ValueError(f"w and b must be non-empty vectors of one length, not {w.shape} and {b.shape}")
        if unroll is not None and w.size != 1:
            raise ValueError("unroll needs a chain of one shared layer (w and b of length 1)")
        act = get_activation(activation)
        if gates is not None and (isinstance(gates, (str, bytes)) or not hasattr(gates, "__len__") or len(gates) != 4):
            raise ValueError("gates must be None or four vectors (wf, bf, wi, bi)")
        weight = lambda v, l: v[l:l + 1].reshape(1, 1)  # noqa: E731
        if gates is None:
            layers = [Dense(weight(w, l), b[l:l + 1], act) for l in range(w.size)]
        else:
            wf, bf, wi, bi = (_gate_vector(v, name, w.size) for v, name in zip(gates, ("wf", "bf", "wi", "bi")))
            layers = [Gated(weight(w, l), b[l:l + 1], act, (weight(wf, l), bf[l:l + 1], weight(wi, l), bi[l:l + 1]))
                      for l in range(w.size)]
        if skip is not None:
            skip = real_number(skip, "skip")
            layers = [Residual(layer, skip) for layer in layers]
        return cls(layers=layers, unroll=unroll, check=False)

    def copy(self, writeable: bool = False) -> Network:
        """The same network holding a copy of its parameters (writeable for training to update in place)."""
        return Network(architecture=self.architecture, theta=self.theta, writeable=writeable)

    def with_parameters(self, arrays) -> Network:
        """The same architecture holding new parameter arrays (in the order of parameters())."""
        arrays = [as_numbers(a, f"arrays[{k}]") for k, a in enumerate(arrays)]
        if [np.shape(a) for a in arrays] != list(self.layout.shapes):
            raise ValueError(f"arrays must have the shapes of the network's parameters, {list(self.layout.shapes)}")
        return Network(architecture=self.architecture,
                       theta=np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0))

    @property
    def layout(self) -> Layout:
        """Where each parameter array sits in theta."""
        return self.architecture.layout

    @property
    def depth(self) -> int:
        """L, the number of layers (time steps for an unrolled network)."""
        return self.unroll if self.unroll is not None else len(self.layers)

    @property
    def stored_layers(self) -> int:
        """How many layers hold their own parameters (1 for an unrolled network)."""
        return len(self.layers)

    def layer_at(self, step: int):
        """The layer that step `step` (0-based) applies."""
        return self.layers[0 if self.unroll is not None else step]

    def steps(self) -> list:
        """The layer each step applies, in order (an unrolled network's one layer T times)."""
        return [self.layers[0]] * self.unroll if self.unroll is not None else list(self.layers)

    @property
    def sizes(self) -> list[int]:
        """[n_0, n_1, ..., n_L]."""
        return list(self.architecture.sizes)

    @property
    def activations(self) -> tuple:
        """Each stored layer's Activation (None for a layer without one)."""
        return tuple(layer.activation for layer in self.architecture.layers)

    @property
    def activation(self):
        """The activation's name, or one name per stored layer where they differ."""
        names = tuple(None if act is None else act.name for act in self.activations)
        return names[0] if len(set(names)) == 1 else names

    def _per_layer(self, name: str) -> tuple:
        out = [None] * len(self.layers)
        for array_name, layer, array in zip(reversed(self.layout.names), reversed(self.layout.layer),
                                            reversed(self.parameters())):
            if array_name == name:
                out[layer] = array
        return tuple(out)

    @property
    def weights(self) -> tuple:
        """Each stored layer's weight matrix w."""
        return self._per_layer("w")

    @property
    def biases(self) -> tuple:
        """Each stored layer's bias vector b."""
        return self._per_layer("b")

    @property
    def gates(self) -> tuple:
        """Each stored layer's Gate, or None."""
        return tuple(layer.gate for layer in self.layers)

    def named_parameters(self) -> list[tuple[str, Array]]:
        """(name, array) for every parameter array, layer by layer (w, b, then wf, bf, wi, bi if gated, then gain,
        shift if normalized)."""
        return list(zip(self.layout.names, self.parameters()))

    def parameters(self) -> list[Array]:
        """Every parameter array in the order of named_parameters()."""
        return [array for layer in self.layers for array in layer.parameters()]

    @property
    def chain_runs(self) -> tuple[ChainRun, ...] | None:
        """The chain kernel's plan (Architecture.chain_runs): None unless every layer has width 1 and can run there."""
        return self.architecture.chain_runs


RESIDUAL_FORMS = ("post", "pre")


@dataclass(frozen=True)
class Design:
    """How a network's hidden layers are built from their (W, b): the remedies that change its structure.

    activation    the hidden layers' activation
    forget_bias   None, or LSTM-style gates on every square hidden layer, constant: f = σ(forget_bias), i = σ(0)
                  (Gate.constant: the one way gradviz gates a layer)
    norm          None, "batch" or "layer": a normalization after the linear map (before the activation of a
                  "pre" block's branch)
    residual      None; "post": a skip connection around every square hidden layer, a = a_prev + s · layer(a_prev)
                  (the article's chain: a_j = a_{j−1} + σ(w_j a_{j−1} + b_j)); "pre": He et al. 2016b's
                  pre-activation block h = h_prev + s · (W act(N(h_prev)) + b)
    branch_scale  s
    Layers that change the width (a network's first and last) take no skip connection and no gates.
    """

    activation: str = "sigmoid"
    forget_bias: float | None = None
    norm: str | None = None
    residual: str | None = None
    branch_scale: float = 1.0

    def __post_init__(self):
        get_activation(self.activation)
        if self.forget_bias is not None:
            object.__setattr__(self, "forget_bias", real_number(self.forget_bias, "forget_bias"))
        get_norm(self.norm)
        if self.residual is not None and self.residual not in RESIDUAL_FORMS:
            raise ValueError(f"residual must be None, 'post' or 'pre', not {self.residual!r}")
        if self.residual == "pre" and self.forget_bias is not None:
            raise ValueError("a pre-activation residual block has no gated form: forget_bias must be None with "
                             "residual='pre'")
        object.__setattr__(self, "branch_scale", real_number(self.branch_scale, "branch_scale", above=0))

    @property
    def bias_cancels(self) -> bool:
        """Whether batch norm follows some hidden layer's linear map (every one, or a pre-activation network's first),
        cancelling its bias: ∂C/∂b is exactly 0 there, so per-layer records measure ‖∂C/∂W_l‖ instead."""
        return self.norm == "batch"

    def layer(self, w: Array, b: Array):
        """Hidden layer (W, b) as this design builds it."""
        act = get_activation(self.activation)
        n_out, n_in = np.shape(w)
        square = n_out == n_in
        norm = get_norm(self.norm)
        if self.residual == "pre" and square:
            return Residual(PreActivation(w, b, act, None if norm is None else norm.identity(n_in)), self.branch_scale)
        norm = None if norm is None else norm.identity(n_out)
        gated = self.forget_bias is not None and square
        layer = Gated(w, b, act, Gate.constant(n_out, self.forget_bias), norm) if gated else Dense(w, b, act, norm)
        return Residual(layer, self.branch_scale) if self.residual is not None and square else layer

    def chain(self, w, b) -> Network:
        """A width-1 chain of this design from vectors w[l], b[l] (ValueError for a normalization: the layer norm of
        one neuron is 0 and a chain's batch is one example)."""
        if self.norm is not None:
            raise ValueError("a chain of single neurons cannot be normalized: the layer norm of one neuron is 0 "
                             "(x − mean x = 0), and batch norm of one example is 0 too")
        if self.residual == "pre":
            raise ValueError("a chain's skip connection is the article's a_j = a_{j−1} + σ(w_j a_{j−1} + b_j): "
                             "residual='post'")
        gates = None
        if self.forget_bias is not None:
            gate = Gate.constant(1, self.forget_bias)
            gates = tuple(float(v.ravel()[0]) for v in (gate.wf, gate.bf, gate.wi, gate.bi))
        return Network.chain_of(w, b, self.activation, gates, skip=self.branch_scale if self.residual else None)


def _chain_vector(values, name: str) -> Array:
    """A chain's parameter as a vector over its layers (a number is one layer)."""
    array = as_numbers(values, name)
    if array.ndim > 1:
        raise ValueError(f"{name} must be a vector (one number per layer), not an array of shape {array.shape}")
    return np.ravel(array)


def _gate_vector(values, name: str, depth: int) -> Array:
    """One gate parameter over a chain's layers: a number (every layer) or a vector of the chain's length."""
    array = _chain_vector(values, f"gates' {name}")
    if array.size not in (1, depth):
        raise ValueError(f"gates' {name} must be one number or {depth} numbers, not {array.size}")
    return np.broadcast_to(array, (depth,))


def _arrays(values, name: str) -> tuple:
    """One float array per layer from a sequence, or a ValueError naming `name`."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a sequence with one array per layer, not {type(values).__name__}")
    return tuple(np.asarray(as_numbers(v, f"{name}[{k}]"), dtype=float) for k, v in enumerate(values))


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


def _dense_layers(weights, biases, activation, gates, unroll) -> list:
    """Dense and Gated layers from Network's arrays, checked with messages that name the arrays."""
    weights, biases = _arrays(weights, "weights"), _arrays(biases, "biases")
    names = _activation_names(activation, len(weights))
    gates = _gate_list(gates, len(weights))
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
    activations = [get_activation(name) for name in names]
    return [Dense(w, b, act) if gate is None else Gated(w, b, act, gate)
            for w, b, act, gate in zip(weights, biases, activations, gates)]


def _checked_layers(layers, unroll) -> list:
    """The layers of Network.of, checked: each layer's own arrays, the widths from one layer to the next, unroll."""
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise ValueError(f"layers must be a sequence of layers, not {type(layers).__name__}")
    layers = list(layers)
    if not layers:
        raise ValueError("layers must hold at least one layer")
    for l, layer in enumerate(layers):
        if not hasattr(layer, "chain_signature"):
            raise ValueError(f"layers[{l}] must be a gradviz layer (Dense, Gated, Residual, …), not "
                             f"{type(layer).__name__}")
        arrays = [np.asarray(as_numbers(array, f"layers[{l}]'s {name}"), dtype=float)
                  for name, array in zip(layer.parameter_names, layer.parameters())]
        layers[l] = layer = layer.with_parameters(iter(arrays))
        layer.check(f"layers[{l}]")
    for l, (below, above) in enumerate(zip(layers, layers[1:])):
        if above.n_in != below.n_out:
            raise ValueError(f"layers[{l + 1}] must take the {below.n_out} outputs of layers[{l}], not {above.n_in}")
    if unroll is not None and (len(layers) != 1 or layers[0].n_in != layers[0].n_out):
        raise ValueError("unroll needs one shared layer that maps its width to itself")
    return layers
