"""The layer stack: forward pass, backpropagation, gradient magnitudes in log space.

A network has L layers. Layer l (1-based, as in the article; Python lists index it l − 1)
maps a_{l-1} to a_l:

    plain layer   z_l = W_l a_{l-1} + b_l,    a_l = act_l(z_l)
    gated layer   (LSTM-style, an additive cell path across layers; needs n_l = n_{l-1})
                  g_l = act_l(z_l)
                  f_l = σ(Wf_l a_{l-1} + bf_l)            forget gate
                  i_l = σ(Wi_l a_{l-1} + bi_l)            input gate
                  a_l = c_l = f_l ⊙ c_{l-1} + i_l ⊙ g_l    the cell is the layer's output, c_{l-1} = a_{l-1}

An unrolled RNN is the same stack with one layer's parameters shared by all T layers
(`unroll=T`): h_t = a_t, h_0 = x.

Cost, a mean over the rows of the batch:
    quadratic      C = mean_r ½‖a_L − y‖²
    cross_entropy  C = mean_r Σ_j −[y ln a_L + (1 − y) ln(1 − a_L)]   (sigmoid output layer)

Backpropagation, per row, δ_l = ∂C/∂z_l:
    δ_L = ∂C/∂a_L ⊙ act'(z_L)            (cross-entropy with sigmoid output: δ_L = a_L − y)
    plain layer   δ_l = ∂C/∂a_l ⊙ act'(z_l),         ∂C/∂a_{l-1} = W_lᵀ δ_l
    gated layer   δ_l = ∂C/∂a_l ⊙ i_l ⊙ act'(z_l)
                  δf_l = ∂C/∂a_l ⊙ c_{l-1} ⊙ σ'(zf_l),  δi_l = ∂C/∂a_l ⊙ g_l ⊙ σ'(zi_l)
                  ∂C/∂a_{l-1} = f_l ⊙ ∂C/∂a_l + W_lᵀ δ_l + Wf_lᵀ δf_l + Wi_lᵀ δi_l
    ∂C/∂b_l = mean_r δ_l,   ∂C/∂W_l = mean_r δ_l a_{l-1}ᵀ   (likewise for the gates)

Every backward quantity is carried as u · e^s, with u a float array whose rows have largest
|entry| 1 and s one natural-log scale per row, and slopes enter as ln act'(z). So
log10 ‖∂C/∂b_l‖ is exact at any depth and any saturation (25^9999, σ'(1000) = e^-1000);
the plain float gradients are accurate to rounding (about L·eps relative) where float64 can hold them,
±inf or 0 where not. A chain of width-1 layers takes the same equations as one cumulative sum of logs,
and keeps plain float products where they stay inside float64 (so 25·25·25 is exactly 15625).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradviz.activations import Activation, get_activation, log_sigmoid_prime, sigmoid, sigmoid_prime
from gradviz.logspace import LN10, LogArray, finite_shift, ln_norm, log_sum

Array = np.ndarray
COSTS = ("quadratic", "cross_entropy")
PLAIN_FLOOR = 1e-250


def _frozen_array(value) -> Array:
    array = np.array(value, dtype=float)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Gate:
    """One layer's LSTM-style gates: forget gate f = σ(wf a + bf), input gate i = σ(wi a + bi)."""

    wf: Array
    bf: Array
    wi: Array
    bi: Array

    def __post_init__(self):
        for name in ("wf", "bf", "wi", "bi"):
            object.__setattr__(self, name, _frozen_array(getattr(self, name)))

    @staticmethod
    def constant(width: int, forget_bias: float, input_bias: float = 0.0) -> Gate:
        """Gates with zero weights, so f = σ(forget_bias) and i = σ(input_bias) whatever the input."""
        zeros = np.zeros((width, width))
        return Gate(zeros, np.full(width, forget_bias), zeros, np.full(width, input_bias))


PARAMETER_NAMES = ("w", "b", "wf", "bf", "wi", "bi")
WEIGHT_NAMES = frozenset({"w", "wf", "wi"})


@dataclass(frozen=True, eq=False)
class Network:
    """A stack of layers; weights[l]: (n_{l+1}, n_l), biases[l]: (n_{l+1},), 0-based lists.

    activation: one name for every layer, or one per layer ("sigmoid", "tanh", "relu").
    gates: None, or one Gate (or None) per layer: gated layers follow the LSTM-style rule above.
    unroll: None, or T: the single layer in weights/biases/gates is applied T times with shared
    parameters (an RNN unrolled through T steps).
    """

    weights: tuple
    biases: tuple
    activation: str | tuple = "sigmoid"
    gates: tuple | None = None
    unroll: int | None = None
    activations: tuple = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "weights", tuple(_frozen_array(w) for w in self.weights))
        object.__setattr__(self, "biases", tuple(_frozen_array(b) for b in self.biases))
        n_params = len(self.weights)
        names = (self.activation,) * n_params if isinstance(self.activation, str) else tuple(self.activation)
        object.__setattr__(self, "activation", self.activation if isinstance(self.activation, str) else names)
        object.__setattr__(self, "activations", tuple(get_activation(name) for name in names))
        gates = tuple(self.gates) if self.gates is not None else (None,) * n_params
        object.__setattr__(self, "gates", gates)
        self._validate()

    def _validate(self):
        if not self.weights or len(self.weights) != len(self.biases) or len(self.activations) != len(self.weights):
            raise ValueError("need one weight matrix, bias vector and activation per layer")
        if len(self.gates) != len(self.weights):
            raise ValueError("gates must give one Gate or None per layer")
        if self.unroll is not None and (len(self.weights) != 1 or self.unroll < 1):
            raise ValueError("an unrolled network has one shared layer and unroll >= 1")
        for w, b, gate in zip(self.weights, self.biases, self.gates):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(f"weights {w.shape} and biases {b.shape} do not match")
            if gate is not None and (w.shape[0] != w.shape[1] or gate.wf.shape != w.shape or gate.wi.shape != w.shape):
                raise ValueError("a gated layer needs n_l = n_{l-1} and gate weights shaped like W")
        for w_in, w_out in zip(self.weights, self.weights[1:]):
            if w_out.shape[1] != w_in.shape[0]:
                raise ValueError(f"layer widths do not chain: {w_in.shape} then {w_out.shape}")
        if self.unroll is not None and self.weights[0].shape[0] != self.weights[0].shape[1]:
            raise ValueError("an unrolled layer must map its width to itself")

    @property
    def depth(self) -> int:
        """L, the number of layers (time steps for an unrolled network)."""
        return self.unroll if self.unroll is not None else len(self.weights)

    @property
    def sizes(self) -> list[int]:
        """[n_0, n_1, ..., n_L]."""
        return [self.weights[0].shape[1]] + [self.weights[self.param_index(l)].shape[0] for l in range(self.depth)]

    def param_index(self, layer: int) -> int:
        """Which entry of weights/biases/gates layer `layer` (0-based) uses."""
        return 0 if self.unroll is not None else layer

    def parameters(self) -> list[Array]:
        """Every parameter array in a fixed order: per stored layer w, b, then wf, bf, wi, bi if gated."""
        return [array for _, array in self.named_parameters()]

    def named_parameters(self) -> list[tuple[str, Array]]:
        """(name, array) pairs in the order of parameters(); names are w, b, wf, bf, wi, bi."""
        named = []
        for w, b, gate in zip(self.weights, self.biases, self.gates):
            named += [("w", w), ("b", b)]
            if gate is not None:
                named += [("wf", gate.wf), ("bf", gate.bf), ("wi", gate.wi), ("bi", gate.bi)]
        return named

    def with_parameters(self, arrays: list[Array]) -> Network:
        """The same architecture holding new parameter arrays (in the order of parameters())."""
        it = iter(arrays)
        weights, biases, gates = [], [], []
        for gate in self.gates:
            weights.append(next(it))
            biases.append(next(it))
            gates.append(None if gate is None else Gate(next(it), next(it), next(it), next(it)))
        return Network(weights, biases, self.activation, tuple(gates), self.unroll)


@dataclass(frozen=True, eq=False)
class LayerTrace:
    """What the forward pass computed at one layer (gate fields are None on a plain layer)."""

    z: Array
    a: Array
    g: Array | None = None
    zf: Array | None = None
    f: Array | None = None
    zi: Array | None = None
    i: Array | None = None


def _layer_forward(a_prev: Array, w: Array, b: Array, act: Activation, gate: Gate | None) -> LayerTrace:
    z = a_prev @ w.T + b
    g = act.fn(z)
    if gate is None:
        return LayerTrace(z=z, a=g)
    zf = a_prev @ gate.wf.T + gate.bf
    zi = a_prev @ gate.wi.T + gate.bi
    f, i = sigmoid(zf), sigmoid(zi)
    return LayerTrace(z=z, a=f * a_prev + i * g, g=g, zf=zf, f=f, zi=zi, i=i)


def _as_batch(x) -> Array:
    x = np.asarray(x, dtype=float)
    return x.reshape(1, -1) if x.ndim == 1 else x


def forward_trace(net: Network, x) -> list[LayerTrace]:
    """Every layer's z_l, a_l (and gates) for input x: (batch, n_0); errors never raised on overflow."""
    a = _as_batch(x)
    trace = []
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(net.depth):
            k = net.param_index(layer)
            step = _layer_forward(a, net.weights[k], net.biases[k], net.activations[k], net.gates[k])
            trace.append(step)
            a = step.a
    return trace


def forward(net: Network, x) -> Array:
    """a_L for input x: (batch, n_0) -> (batch, n_L)."""
    return forward_trace(net, x)[-1].a


def softplus(z: Array) -> Array:
    """ln(1 + e^z), without overflow."""
    return np.logaddexp(0.0, z)


def cost_value(cost: str, z_L: Array, residual: Array, y: Array) -> float:
    """C = mean over rows: quadratic ½‖a_L − y‖² (residual = a_L − y), or cross-entropy Σ −[y ln a + (1−y) ln(1−a)]

    (cross-entropy from z_L: −ln a = softplus(−z), −ln(1 − a) = softplus(z), finite when a rounds to 0 or 1).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if cost == "quadratic":
            per_row = 0.5 * np.sum(residual ** 2, axis=1)
        else:
            per_row = np.sum(y * softplus(-z_L) + (1.0 - y) * softplus(z_L), axis=1)
    return float(np.mean(per_row))


# Row-scaled arrays: value[r] = u[r] · exp(s[r]).


def _from_log(sign: Array, ln_mag: Array, s: Array) -> tuple[Array, Array]:
    """(u, s') holding sign · exp(ln_mag) · exp(s) per row, with each row's largest |u| = 1."""
    top = np.max(ln_mag, axis=1)
    shift = finite_shift(top)
    u = sign * np.exp(ln_mag - shift[:, None])
    return u, s + np.where(np.isnan(top), np.nan, top)


def _normalize(v: Array, s: Array) -> tuple[Array, Array]:
    """(u, s') holding v · exp(s) per row, with each row's largest |u| = 1 (or u = 0)."""
    with np.errstate(divide="ignore"):
        return _from_log(np.sign(v), np.log(np.abs(v)), s)


def _combine(terms: list[tuple[Array, Array]]) -> tuple[Array, Array]:
    """Σ_j v_j · exp(s_j), row by row, at the largest scale."""
    top = terms[0][1]
    for _, s in terms[1:]:
        top = np.maximum(top, s)
    shift = finite_shift(top)
    total = sum(v * np.exp(s - shift)[:, None] for v, s in terms)
    return _normalize(total, shift)


def _mean_outer(u: Array, s: Array, a_prev: Array) -> tuple[LogArray, LogArray]:
    """(mean_r δ_r, mean_r δ_r a_{r}ᵀ) as LogArrays, from a row-scaled δ."""
    top = np.max(s)
    shift = float(finite_shift(top))
    weight = np.exp(s - shift) / len(s)
    weighted = u * weight[:, None]
    scale = shift if np.isfinite(top) else float(top)
    return LogArray(weighted.sum(axis=0), scale), LogArray(weighted.T @ a_prev, scale)


def _ln_frobenius(u: Array, s: Array) -> float:
    """ln ‖[u_r exp(s_r)]_r‖_F."""
    top = np.max(s)
    shift = float(finite_shift(top))
    row_sq = np.sum(u * u, axis=1) * np.exp(2.0 * (s - shift))
    return float(shift + 0.5 * np.log(np.sum(row_sq))) if np.isfinite(top) else float(top)


def _signed_log(v: Array) -> tuple[Array, Array]:
    with np.errstate(divide="ignore"):
        return np.sign(v), np.log(np.abs(v))


@dataclass(frozen=True, eq=False)
class Gradients:
    """∂C/∂(every parameter), as LogArrays in the order of Network.parameters(), plus per-layer magnitudes.

    log10_bias_norms[l]   log10 ‖∂C/∂b_{l+1}‖, layer by layer (for an unrolled net: step l+1's share)
    log10_weight_norms[l] log10 ‖∂C/∂W_{l+1}‖ likewise
    log10_activation_grad_norms[l]  log10 ‖∂C/∂a_l‖ over the batch, l = 0..L (a_0 the input)
    """

    log_params: tuple
    names: tuple
    log10_bias_norms: Array
    log10_weight_norms: Array
    log10_activation_grad_norms: Array
    cost: float
    unroll: int | None

    def _values(self, name: str) -> list[Array]:
        return [g.value for n, g in zip(self.names, self.log_params) if n == name]

    @property
    def nabla_w(self) -> list[Array]:
        """∂C/∂W_l as float arrays, shaped like net.weights (±inf where beyond float64)."""
        return self._values("w")

    @property
    def nabla_b(self) -> list[Array]:
        """∂C/∂b_l as float arrays, shaped like net.biases (±inf where beyond float64)."""
        return self._values("b")

    @property
    def params(self) -> list[Array]:
        """Every gradient as a float array, in the order of Network.parameters()."""
        return [g.value for g in self.log_params]


def _output_delta(net: Network, trace: list[LayerTrace], y: Array, cost: str):
    """(u_L, s_L, ln‖∂C/∂a_L‖-rows) for the output layer: δ_L and ∂C/∂a_L row-scaled."""
    last = trace[-1]
    k = net.param_index(net.depth - 1)
    residual = last.a - y if net.gates[k] is not None else output_residual(net.activations[k], last.z, last.a, y)
    unscaled = np.zeros(len(y))
    if cost == "cross_entropy":
        sign, ln_diff = _signed_log(residual)
        ln_grad_a = ln_diff + softplus(-last.z) + softplus(last.z)  # ∂C/∂a = (a−y)/(a(1−a))
        grad_a = _from_log(sign, ln_grad_a, unscaled)
        delta = _from_log(sign, ln_diff, unscaled)  # δ_L = a_L − y
        return grad_a, delta
    grad_a = _normalize(residual, unscaled)
    return grad_a, None


def _layer_backward(grad_a, layer: LayerTrace, a_prev: Array, w: Array, act: Activation, gate: Gate | None, delta=None):
    """From ∂C/∂a_l (row-scaled) to (δ terms for the parameters, ∂C/∂a_{l-1} row-scaled)."""
    u, s = grad_a
    sign, ln_u = _signed_log(u)
    if delta is None:
        ln_slope = act.log_prime(layer.z)
        if gate is not None:
            ln_slope = ln_slope + np.log(layer.i)
        delta = _from_log(sign, ln_u + ln_slope, s)
    if gate is None:
        return [delta], _normalize(delta[0] @ w, delta[1])
    sign_c, ln_c = _signed_log(a_prev)
    sign_g, ln_g = _signed_log(layer.g)
    delta_f = _from_log(sign * sign_c, ln_u + ln_c + log_sigmoid_prime(layer.zf), s)
    delta_i = _from_log(sign * sign_g, ln_u + ln_g + log_sigmoid_prime(layer.zi), s)
    grad_prev = _combine([(u * layer.f, s), (delta[0] @ w, delta[1]), (delta_f[0] @ gate.wf, delta_f[1]), (delta_i[0] @ gate.wi, delta_i[1])])
    return [delta, delta_f, delta_i], grad_prev


def backprop(net: Network, x, y, cost: str = "quadratic") -> Gradients:
    """∂C/∂W_l and ∂C/∂b_l (and the gates') for C the mean cost over the rows of (x, y).

    cost: "quadratic" (½‖a_L − y‖²) or "cross_entropy" (with a sigmoid output layer).
    """
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; choose from {COSTS}")
    k_out = net.param_index(net.depth - 1)
    if cost == "cross_entropy" and (net.activations[k_out].name != "sigmoid" or net.gates[k_out] is not None):
        raise ValueError("cross-entropy needs a plain sigmoid output layer")
    x = _as_batch(x)
    y = _as_batch(y)
    if _is_chain(net):
        return _chain_backprop(net, x, y, cost)
    trace = forward_trace(net, x)
    plain = _plain_backprop(net, trace, x, y, cost) if all(g is None for g in net.gates) else None
    return plain if plain is not None else _stack_backprop(net, trace, x, y, cost)


def _is_chain(net: Network) -> bool:
    return all(w.shape == (1, 1) for w in net.weights)


def output_residual(act: Activation, z: Array, a: Array, y: Array) -> Array:
    """a_L − y; for a sigmoid output as (1 − y)·σ(z) − y·σ(−z), exact where a_L rounds to 0 or 1."""
    if act.name == "sigmoid":
        return (1.0 - y) * sigmoid(z) - y * sigmoid(-z)
    return a - y


def _row_log_mean(sign: Array, ln_mag: Array) -> tuple[Array, Array]:
    """mean over the last axis of sign·exp(ln_mag), as (mantissa, scale) per leading index."""
    top = np.max(ln_mag, axis=-1)
    shift = finite_shift(top)
    mantissa = np.mean(sign * np.exp(ln_mag - shift[..., None]), axis=-1)
    return mantissa, np.where(np.isfinite(top), shift, top)


def _scalar_forward(w: Array, b: Array, acts: list[Activation], z: Array, g: Array, a: Array) -> None:
    """The forward pass of a plain chain on one example, in Python floats (numpy's per-call cost on
    one-element arrays is most of a 10,000-layer pass): fills z, g = a[1:] and a in place."""
    a_l = float(a[0, 0])
    z_values, a_values = [], []
    for w_l, b_l, act in zip(w.tolist(), b.tolist(), acts):
        z_l = w_l * a_l + b_l
        a_l = act.scalar(z_l)
        z_values.append(z_l)
        a_values.append(a_l)
    z[:, 0], g[:, 0] = z_values, a_values
    a[1:, 0] = a_values


def _chain_backprop(net: Network, x: Array, y: Array, cost: str) -> Gradients:
    """backprop for a chain of width-1 layers (plain or gated): the same equations, with the product of the
    local factors ∂a_l/∂a_{l−1} taken as one cumulative sum of logs over the layers instead of a loop."""
    depth = net.depth
    index = [net.param_index(layer) for layer in range(depth)]
    w = np.array([net.weights[k][0, 0] for k in index])
    b = np.array([net.biases[k][0] for k in index])
    acts = [net.activations[k] for k in index]
    gates = [net.gates[k] for k in index]
    gated = np.array([gate is not None for gate in gates])
    wf, bf, wi, bi = (np.array([0.0 if gate is None else float(np.ravel(getattr(gate, name))[0]) for gate in gates])
                      for name in ("wf", "bf", "wi", "bi"))
    shape = (depth, len(x))
    z, g, zf, zi = np.empty(shape), np.empty(shape), np.zeros(shape), np.zeros(shape)
    f, i = np.zeros(shape), np.ones(shape)
    a = np.empty((depth + 1, len(x)))
    a[0] = x[:, 0]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
        if len(x) == 1 and not gated.any():
            _scalar_forward(w, b, acts, z, g, a)
        for layer in range(depth if len(x) > 1 or gated.any() else 0):
            z[layer] = w[layer] * a[layer] + b[layer]
            g[layer] = acts[layer].fn(z[layer])
            if gated[layer]:
                zf[layer], zi[layer] = wf[layer] * a[layer] + bf[layer], wi[layer] * a[layer] + bi[layer]
                f[layer], i[layer] = sigmoid(zf[layer]), sigmoid(zi[layer])
                a[layer + 1] = f[layer] * a[layer] + i[layer] * g[layer]
            else:
                a[layer + 1] = g[layer]
        same = all(act is acts[0] for act in acts)
        ln_slope = acts[0].log_prime(z) if same else np.array([act.log_prime(zl) for act, zl in zip(acts, z)])
        slope = acts[0].prime(z) if same else np.array([act.prime(zl) for act, zl in zip(acts, z)])
        residual = output_residual(acts[-1], z[-1], a[-1], y[:, 0]) if not gated[-1] else a[-1] - y[:, 0]
        sign_ga_L, ln_ga_L = np.sign(residual), np.log(np.abs(residual))
        if cost == "cross_entropy":
            ln_ga_L = ln_ga_L + softplus(-z[-1]) + softplus(z[-1])
        # the local factor ∂a_l/∂a_{l−1}: w act'(z) on a plain layer (in logs, exact under saturation);
        # f + i w act'(z) + a_{l−1} σ'(zf) wf + g σ'(zi) wi on a gated one
        a_prev = a[:-1]
        gated_factor = f + i * w[:, None] * slope + a_prev * sigmoid_prime(zf) * wf[:, None] \
            + g * sigmoid_prime(zi) * wi[:, None]
        gated_rows = gated[:, None]
        ln_factor = np.where(gated_rows, np.log(np.abs(gated_factor)), np.log(np.abs(w))[:, None] + ln_slope)
        sign_factor = np.where(gated_rows, np.sign(gated_factor), np.sign(w)[:, None] * np.ones_like(z))
        # ln|∂C/∂a_l| for l = 0..L: a reversed cumulative sum of ln|factor|
        ln_ga = np.empty((depth + 1, len(x)))
        sign_ga = np.empty((depth + 1, len(x)))
        ln_ga[-1], sign_ga[-1] = ln_ga_L, sign_ga_L
        ln_ga[:-1] = ln_ga_L + np.cumsum(ln_factor[::-1], axis=0)[::-1]
        sign_ga[:-1] = sign_ga_L * np.cumprod(sign_factor[::-1], axis=0)[::-1]
        ln_delta = ln_ga[1:] + ln_slope + np.where(gated_rows, np.log(i), 0.0)
        if cost == "cross_entropy":
            ln_delta[-1] = np.log(np.abs(residual))
        sign_delta = sign_ga[1:]
        ln_a_prev, sign_a_prev = np.log(np.abs(a_prev)), np.sign(a_prev)
        mant_b, scale_b = _row_log_mean(sign_delta, ln_delta)
        mant_w, scale_w = _row_log_mean(sign_delta * sign_a_prev, ln_delta + ln_a_prev)
        if not gated.any():
            mant_b, scale_b, mant_w, scale_w = _prefer_plain_floats(
                (mant_b, scale_b, mant_w, scale_w), w, slope, a, residual, cost)
        grads = {"w": [LogArray(np.array([[m]]), float(s)) for m, s in zip(mant_w, scale_w)],
                 "b": [LogArray(np.array([m]), float(s)) for m, s in zip(mant_b, scale_b)]}
        if gated.any():
            ln_delta_f = ln_ga[1:] + ln_a_prev + log_sigmoid_prime(zf)
            ln_delta_i = ln_ga[1:] + np.log(np.abs(g)) + log_sigmoid_prime(zi)
            for name, sign, ln_d in (("f", sign_delta * sign_a_prev, ln_delta_f), ("i", sign_delta * np.sign(g), ln_delta_i)):
                mant, scale = _row_log_mean(sign, ln_d)
                grads["b" + name] = [LogArray(np.array([m]), float(s)) for m, s in zip(mant, scale)]
                mant, scale = _row_log_mean(sign * sign_a_prev, ln_d + ln_a_prev)
                grads["w" + name] = [LogArray(np.array([[m]]), float(s)) for m, s in zip(mant, scale)]
        ln_bias = np.log(np.abs(mant_b)) + scale_b
        ln_weight = np.log(np.abs(mant_w)) + scale_w
        top = np.max(ln_ga, axis=1, keepdims=True)
        shift = finite_shift(top)
        ln_grad_a = (np.where(np.isfinite(top[:, 0]), shift[:, 0] + 0.5 * np.log(np.sum(np.exp(2 * (ln_ga - shift)), axis=1)), top[:, 0])
                     - np.log(len(x)))
        value = cost_value(cost, z[-1][:, None], residual[:, None], y)
    names = tuple(name for name, _ in net.named_parameters())
    if net.unroll is None:
        log_params = [grads[name][layer] for layer, gate in enumerate(gates)
                      for name in (("w", "b", "wf", "bf", "wi", "bi") if gate is not None else ("w", "b"))]
    else:
        log_params = [log_sum(grads[name]) for name in names]
    return Gradients(tuple(log_params), names, ln_bias / LN10, ln_weight / LN10, ln_grad_a / LN10, value, net.unroll)


def _well_inside(values: Array) -> Array:
    magnitude = np.abs(values)
    return np.isfinite(values) & (magnitude >= PLAIN_FLOOR) & (magnitude <= 1 / PLAIN_FLOOR)


def _prefer_plain_floats(log_form, w, slope, a, residual, cost):
    """The chain's gradients as plain float products where float64 holds them well (so the exploding
    chain's 25 · 25 · 25 stays exact), the log-space form elsewhere."""
    mant_b, scale_b, mant_w, scale_w = log_form
    factor = w[:, None] * slope
    grad_a = np.empty_like(a)
    grad_a[-1] = residual / slope[-1] if cost == "cross_entropy" else residual  # CE: ∂C/∂a_L = (a − y)/σ'(z_L)
    grad_a[:-1] = grad_a[-1] * np.cumprod(factor[::-1], axis=0)[::-1]
    delta = grad_a[1:] * slope
    if cost == "cross_entropy":
        delta[-1] = residual
    plain_b, plain_w = delta.mean(axis=1), (delta * a[:-1]).mean(axis=1)
    # the running product must stay well inside float64 all the way from the output, not only at the end
    in_range = np.all(_well_inside(grad_a[1:]), axis=1)
    path_ok = np.logical_and.accumulate(in_range[::-1])[::-1]
    use_b = path_ok & _well_inside(plain_b)
    use_w = path_ok & _well_inside(plain_w)
    return (np.where(use_b, plain_b, mant_b), np.where(use_b, 0.0, scale_b),
            np.where(use_w, plain_w, mant_w), np.where(use_w, 0.0, scale_w))


def _trustworthy(values: Array) -> bool:
    """Plain floats that neither overflowed nor lost a row to underflow (a row of exact zeros is fine)."""
    if not np.all(np.isfinite(values)):
        return False
    row_max = np.max(np.abs(values), axis=1)
    return bool(np.all((row_max == 0.0) | ((row_max >= PLAIN_FLOOR) & (row_max <= 1 / PLAIN_FLOOR))))


def _slope_or_none(act: Activation, z: Array) -> Array | None:
    """act'(z) as floats, or None where a smooth activation's slope underflowed to 0 (ReLU's 0 is exact)."""
    slope = act.prime(z)
    return slope if act.name == "relu" or np.all(slope > 0) else None


def _ln_norm_of_product(delta: Array, w: Array) -> float:
    """ln ‖δ W‖_F without forming δ W: ‖δ W‖² = Σ (δ (W Wᵀ)) ⊙ δ, a product over n_l² instead of n_l·n_0
    (for the input layer of Nielsen's network, 30 × 30 instead of 30 × 784)."""
    largest = float(np.max(np.abs(delta), initial=0.0))
    if largest == 0.0:
        return float("-inf")
    scaled = delta / largest
    squared = float(np.sum((scaled @ (w @ w.T)) * scaled))
    return float(np.log(largest) + 0.5 * np.log(max(squared, 0.0)))


def _plain_backprop(net: Network, trace: list[LayerTrace], x: Array, y: Array, cost: str) -> Gradients | None:
    """backprop of plain layers in ordinary float64 arithmetic, or None where that cannot be trusted
    (a value overflowed, or a slope underflowed to 0 where the log-space path keeps it)."""
    batch, n_layers = len(x), net.depth
    k_out = net.param_index(n_layers - 1)
    last = trace[-1]
    residual = output_residual(net.activations[k_out], last.z, last.a, y)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
        slope = _slope_or_none(net.activations[k_out], last.z)
        if slope is None:
            return None
        grad_a = residual / slope if cost == "cross_entropy" else residual
        delta = residual if cost == "cross_entropy" else residual * slope
        ln_bias, ln_weight, ln_grad_a = np.empty(n_layers), np.empty(n_layers), np.empty(n_layers + 1)
        per_layer: list[list] = [[] for _ in net.weights]
        for layer in reversed(range(n_layers)):
            if not (_trustworthy(delta) and np.all(np.isfinite(grad_a))):
                return None
            ln_grad_a[layer + 1] = ln_norm(grad_a) - np.log(batch)
            k = net.param_index(layer)
            a_prev = trace[layer - 1].a if layer > 0 else x
            nabla_b, nabla_w = delta.mean(axis=0), delta.T @ a_prev / batch
            ln_bias[layer], ln_weight[layer] = ln_norm(nabla_b), ln_norm(nabla_w)
            per_layer[k].append((LogArray.of(nabla_w), LogArray.of(nabla_b)))
            if layer == 0:
                ln_grad_a[0] = _ln_norm_of_product(delta, net.weights[k]) - np.log(batch)
                break
            grad_a = delta @ net.weights[k]
            slope = _slope_or_none(net.activations[net.param_index(layer - 1)], trace[layer - 1].z)
            if slope is None:
                return None
            delta = grad_a * slope
        if not np.isfinite(ln_grad_a[0]) and not ln_grad_a[0] == -np.inf:
            return None
        log_params = [log_sum(list(parts)) for layer_grads in per_layer for parts in zip(*layer_grads)]
        value = cost_value(cost, last.z, residual, y)
    names = tuple(name for name, _ in net.named_parameters())
    return Gradients(tuple(log_params), names, ln_bias / LN10, ln_weight / LN10, ln_grad_a / LN10, value, net.unroll)


def _stack_backprop(net: Network, trace: list[LayerTrace], x: Array, y: Array, cost: str) -> Gradients:
    batch = len(x)
    n_layers = net.depth
    ln_bias = np.empty(n_layers)
    ln_weight = np.empty(n_layers)
    ln_grad_a = np.empty(n_layers + 1)
    per_layer: list[list[LogArray]] = [[] for _ in net.weights]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
        grad_a, delta = _output_delta(net, trace, y, cost)
        for layer in reversed(range(n_layers)):
            ln_grad_a[layer + 1] = _ln_frobenius(*grad_a) - np.log(batch)
            k = net.param_index(layer)
            a_prev = trace[layer - 1].a if layer > 0 else x
            deltas, grad_a = _layer_backward(grad_a, trace[layer], a_prev, net.weights[k], net.activations[k], net.gates[k], delta)
            delta = None
            grads = []
            for u, s in deltas:
                nabla_b, nabla_w = _mean_outer(u, s, a_prev)
                grads += [nabla_w, nabla_b]
            ln_bias[layer] = grads[1].ln_norm
            ln_weight[layer] = grads[0].ln_norm
            per_layer[k].append(grads)
        ln_grad_a[0] = _ln_frobenius(*grad_a) - np.log(batch)
        log_params = [log_sum(list(parts)) for layer_grads in per_layer for parts in zip(*layer_grads)]
        k_out = net.param_index(n_layers - 1)
        value = cost_value(cost, trace[-1].z, trace[-1].a - y if net.gates[k_out] is not None
                           else output_residual(net.activations[k_out], trace[-1].z, trace[-1].a, y), y)
    names = tuple(name for name, _ in net.named_parameters())
    return Gradients(tuple(log_params), names, ln_bias / LN10, ln_weight / LN10, ln_grad_a / LN10, value, net.unroll)
