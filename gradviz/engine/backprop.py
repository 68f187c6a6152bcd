"""Backpropagation: one loop over the layers, and a vectorized kernel for deep chains of width-1 layers.

For the rows of a batch (x, y) and C the mean cost over them (gradviz.engine.costs):
    forward     a_0 = x;  each layer l = 1..L computes its cache (z_l, a_l, …) from a_{l-1}
    output      δ_L from the cost (asked once)
    backward    for l = L..1: (∂C/∂W_l, ∂C/∂b_l, …) and ∂C/∂a_{l-1} from the layer's backward pass;
                δ_{l-1} from ∂C/∂a_{l-1} by the layer below; an unrolled layer sums its gradients over steps

A chain of width-1 layers takes the same equations in another order: each layer's Jacobian is one number
(gradviz.engine.layers' local_factor), and ∂C/∂a_l for every l is one running product over the layers,
∂C/∂a_{l-1} = ∂a_l/∂a_{l-1} · ∂C/∂a_l, taken as a cumulative product of mantissas with the binary
exponents summed apart (so 25^9999 is exact to rounding and 25 · 25 · 25 is 15625 exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from gradviz.engine.activations import get_activation, sigmoid
from gradviz.engine.checks import as_numbers
from gradviz.engine.costs import get_cost
from gradviz.engine.layers import Dense, DenseCache, Gate, Gated, GatedCache
from gradviz.engine.network import Network
from gradviz.engine.scaled import LOG10_2, Scaled, ln_global_norm, ln_norm_of_rows, normalized_rows

Array = np.ndarray
LN10 = math.log(10.0)
NO_NORMS = np.full(0, np.nan)  # per-layer norms a caller did not ask for (training's updates)
PRODUCT_BLOCK = 512


def as_batch(values, width: int, name: str) -> Array:
    """values as a (rows, width) array of finite floats: a vector is one row; anything else raises ValueError
    (nothing broadcasts: a y of the wrong width is an error, not a silent repeat)."""
    array = as_numbers(values, name)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != width or array.shape[0] == 0:
        raise ValueError(f"{name} must have shape (rows, {width}), not {np.shape(values)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers (no NaN or infinity)")
    return array


def check_network(net) -> Network:
    if not isinstance(net, Network):
        raise ValueError(f"net must be a gradviz.Network, not {type(net).__name__}")
    return net


def checked_inputs(net: Network, x, y, cost) -> tuple[Array, Array]:
    """(x, y) as (rows, n_0) and (rows, n_L) arrays of finite floats that the cost accepts, else ValueError."""
    sizes = check_network(net).sizes
    x, y = as_batch(x, sizes[0], "x"), as_batch(y, sizes[-1], "y")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of rows, not {len(x)} and {len(y)}")
    cost.check_targets(y)
    return x, y


# --- forward -------------------------------------------------------------------------------------------


def _layer_at(net: Network, layer: int):
    return net.layers[net.param_index(layer)]


def _forward_caches(net: Network, x: Array) -> list:
    caches = []
    a = x
    for layer in range(net.depth):
        cache = _layer_at(net, layer).forward(a)
        caches.append(cache)
        a = cache.a
    return caches


def forward_trace(net: Network, x) -> list:
    """Every layer's cache for input x (batch, n_0): .z, .a (and .g, .f, .i, .zf, .zi on a gated layer).
    An overflow is a value (inf or NaN), never an error."""
    x = as_batch(x, check_network(net).sizes[0], "x")
    with np.errstate(all="ignore"):
        if net.chain is not None:
            return _chain_forward(net, x).caches()
        return _forward_caches(net, x)


def forward(net: Network, x) -> Array:
    """a_L for input x: (batch, n_0) -> (batch, n_L)."""
    return forward_trace(net, x)[-1].a


# --- gradients ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Gradients:
    """∂C/∂(every parameter) and per-layer magnitudes.

    blocks: one Scaled per array of net.blocks(), named by block_names (for a chain: one vector per name over
    its layers, with an exponent per layer, and chain_gated says which layers have gates);
    log10_bias_norms[l] = log10 ‖∂C/∂b_{l+1}‖ layer by layer (for an unrolled net: step l+1's share),
    log10_weight_norms likewise for W; log10_activation_grad_norms[l] = log10 ‖∂C/∂a_l‖ over the batch,
    l = 0..L (None when backprop was asked not to compute them); cost: the value of C.
    """

    blocks: tuple
    block_names: tuple
    log10_bias_norms: Array
    log10_weight_norms: Array
    log10_activation_grad_norms: Array | None
    cost: float
    unroll: int | None
    chain_gated: Array | None = None

    @cached_property
    def _per_parameter(self) -> tuple[tuple, tuple]:
        """(names, Scaled) per array of Network.parameters(), in its order."""
        if self.chain_gated is None:
            return self.block_names, self.blocks
        vectors = dict(zip(self.block_names, self.blocks))
        names, parts = [], []
        for k, gated in enumerate(self.chain_gated):
            for name in self.block_names if gated else ("w", "b"):
                v = vectors[name]
                names.append(name)
                parts.append(Scaled(v.mantissa[k:k + 1].reshape(_SHAPES[name]), int(v.exponent[k])))
        return tuple(names), tuple(parts)

    @property
    def names(self) -> tuple:
        """The parameter names in the order of Network.parameters()."""
        return self._per_parameter[0]

    @property
    def scaled(self) -> tuple:
        """One Scaled per array of Network.parameters(), in its order."""
        return self._per_parameter[1]

    @property
    def params(self) -> list[Array]:
        """Every gradient as a float array (±inf or 0 beyond float64), in the order of Network.parameters()."""
        return [s.value for s in self.scaled]

    def _values(self, name: str) -> list[Array]:
        return [s.value for n, s in zip(self.names, self.scaled) if n == name]

    @property
    def nabla_w(self) -> list[Array]:
        """∂C/∂W_l as float arrays, shaped like net.weights."""
        return self._values("w")

    @property
    def nabla_b(self) -> list[Array]:
        """∂C/∂b_l as float arrays, shaped like net.biases."""
        return self._values("b")

    @property
    def ln_norm(self) -> float:
        """ln ‖g‖, the global norm: √(Σ over every entry of every gradient, squared)."""
        return ln_global_norm(list(self.blocks))


_SHAPES = {"w": (1, 1), "b": (1,), "wf": (1, 1), "bf": (1,), "wi": (1, 1), "bi": (1,)}


def backprop(net: Network, x, y, cost="quadratic") -> Gradients:
    """∂C/∂W_l and ∂C/∂b_l (and the gates') for C the mean cost over the rows of (x, y), with every
    per-layer magnitude (log10 ‖∂C/∂b_l‖, ‖∂C/∂W_l‖, ‖∂C/∂a_l‖).

    cost: "quadratic" (½‖a_L − y‖²), "cross_entropy" (with a sigmoid output layer), or a cost object.
    """
    return gradients_of(net, x, y, cost)


def gradients_of(net: Network, x, y, cost="quadratic", *, weights: bool = True, norms: str = "all",
                 checked: bool = False) -> Gradients:
    """backprop with less work where a caller needs less (training):
    weights=False skips ∂C/∂W (its blocks are None); norms: "all", "layers" (no ‖∂C/∂a_l‖) or "none";
    checked=True: x and y are already (rows, n) float arrays that passed checked_inputs (train checks its data
    once, not at every update)."""
    cost = get_cost(cost)
    if not checked:
        x, y = checked_inputs(net, x, y, cost)
    with np.errstate(all="ignore"):
        if net.chain is not None:
            return chain_backprop(net, x, y, cost).gradients()
        cost.check(_layer_at(net, net.depth - 1))
        return _layer_backprop(net, x, y, cost, weights, norms)


def _layer_backprop(net: Network, x: Array, y: Array, cost, weights: bool, norms: str) -> Gradients:
    """The loop: backward through the layers one step at a time (the only sequential part: δ_l and ∂C/∂a_{l−1});
    a plain layer's parameter gradients as soon as its δ is known, an unrolled layer's over all its steps at once."""
    depth, ln_batch = net.depth, math.log(len(x))
    layers = [_layer_at(net, layer) for layer in range(depth)]
    caches = _forward_caches(net, x)
    slopes = net.layers[0].step_slopes(caches) if net.unroll else [None] * depth
    delta = cost.output_delta(layers[-1], caches[-1], y)
    activation_norms, layer_norms = norms == "all", norms != "none"
    ln_grad_a = np.full(depth + 1, np.nan) if activation_norms else None
    if activation_norms:
        ln_grad_a[depth] = cost.output_gradient(layers[-1], caches[-1], y).ln_norm - ln_batch
    ln_w, ln_b = (np.full(depth, np.nan), np.full(depth, np.nan)) if layer_norms else (NO_NORMS, NO_NORMS)
    totals: list = [None] * len(net.layers)
    deltas = []
    for layer in range(depth - 1, -1, -1):
        this = layers[layer]
        if net.unroll:
            deltas.append(delta)
        else:
            totals[layer], lw, lb = this.gradients([delta], [caches[layer]], weights, layer_norms)
            if layer_norms:
                ln_w[layer], ln_b[layer] = (lw[0] if weights else np.nan), lb[0]
        if layer == 0 and not activation_norms:
            break
        grad_a, squares, total = normalized_rows(this.through(delta, caches[layer]))
        if activation_norms:
            ln_grad_a[layer] = ln_norm_of_rows(squares, grad_a.exponent, total) - ln_batch
        if layer > 0:
            delta = layers[layer - 1].delta(grad_a, caches[layer - 1], slopes[layer - 1])
    if net.unroll:
        totals[0], lw, lb = net.layers[0].gradients(deltas[::-1], caches, weights, layer_norms)
        if layer_norms:
            ln_b[:] = lb
            if weights:
                ln_w[:] = lw
    names = tuple(name for layer in net.layers for name in layer.parameter_names)
    return Gradients(tuple(g for layer_totals in totals for g in layer_totals), names,
                     ln_b / LN10 if layer_norms else ln_b, ln_w / LN10 if layer_norms else ln_w,
                     ln_grad_a / LN10 if activation_norms else None, cost.value(layers[-1], caches[-1], y), net.unroll)


# --- the width-1 chain kernel ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ChainForward:
    """A chain's forward pass, every array (L, rows): layer l's row is index l − 1; a_prev[0] is the input and
    a_l = f ⊙ a_{l−1} + i ⊙ g (a_l = g on a plain layer, where f = 0 and i = 1)."""

    w: Array
    b: Array
    gated: Array
    wf: Array
    wi: Array
    a_prev: Array
    z: Array
    g: Array
    zf: Array
    f: Array
    zi: Array
    i: Array
    a: Array
    activation: object

    def cache(self, layer: int) -> DenseCache | GatedCache:
        """Layer `layer` (0-based)'s cache, shaped (rows, 1) like the general loop's."""
        col = lambda v: v[layer][:, None]
        if not self.gated[layer]:
            return DenseCache(col(self.a_prev), col(self.z), col(self.g))
        return GatedCache(col(self.a_prev), col(self.z), col(self.g), col(self.zf), col(self.f), col(self.zi),
                          col(self.i), col(self.a))

    def caches(self) -> list:
        return [self.cache(layer) for layer in range(len(self.z))]

    def layer(self, layer: int, b: Array, bf: Array, bi: Array) -> Dense | Gated:
        """Layer `layer` (0-based) as a layer object of the general loop."""
        w = self.w[layer].reshape(1, 1)
        if not self.gated[layer]:
            return Dense(w, b[layer:layer + 1], self.activation)
        gate = Gate(self.wf[layer].reshape(1, 1), bf[layer:layer + 1], self.wi[layer].reshape(1, 1), bi[layer:layer + 1])
        return Gated(w, b[layer:layer + 1], self.activation, gate)


def _chain_vectors(net: Network):
    c = net.chain
    index = np.zeros(net.depth, dtype=np.int64) if net.unroll is not None else slice(None)
    return [v[index] for v in (c.w, c.b, c.gated, c.wf, c.bf, c.wi, c.bi)]


def _chain_row(a0: float, w: list, b: list, gates: tuple | None, act) -> tuple[list, ...]:
    """One row's forward pass in Python floats (numpy's per-call cost on one-element arrays is most of a
    10,000-layer pass); the same formulas as Dense.forward and Gated.forward. gates: None for a chain with no
    gated layer, else the lists (gated, wf, bf, wi, bi)."""
    fn = act.scalar
    a = a0
    if gates is None:
        z_out, g_out = [], []
        keep_z, keep_g = z_out.append, g_out.append
        for w_l, b_l in zip(w, b):
            z_l = w_l * a + b_l
            a = fn(z_l)
            keep_z(z_l)
            keep_g(a)
        return [a0] + g_out[:-1], z_out, g_out, None, a
    gate_fn = get_activation("sigmoid").scalar
    a_prev, z_out, g_out = [], [], []
    zf_out, zi_out, f_out, i_out = [], [], [], []
    for w_l, b_l, gated_l, wf_l, bf_l, wi_l, bi_l in zip(w, b, *gates):
        a_prev.append(a)
        z_l = w_l * a + b_l
        g_l = fn(z_l)
        zf_l, zi_l = wf_l * a + bf_l, wi_l * a + bi_l
        f_l, i_l = (gate_fn(zf_l), gate_fn(zi_l)) if gated_l else (0.0, 1.0)
        a = f_l * a + i_l * g_l
        z_out.append(z_l), g_out.append(g_l), zf_out.append(zf_l), zi_out.append(zi_l)
        f_out.append(f_l), i_out.append(i_l)
    return a_prev, z_out, g_out, (zf_out, zi_out, f_out, i_out), a


def _chain_forward(net: Network, x: Array) -> ChainForward:
    w, b, gated, wf, bf, wi, bi = _chain_vectors(net)
    act = net.activations[0]
    gates = (gated.tolist(), wf.tolist(), bf.tolist(), wi.tolist(), bi.tolist()) if gated.any() else None
    w_list, b_list = w.tolist(), b.tolist()
    rows = [_chain_row(float(x0), w_list, b_list, gates, act) for x0 in x[:, 0]]
    stack = lambda part: np.array([row[part] for row in rows]).T
    a_prev, z, g = stack(0), stack(1), stack(2)
    if gates is None:
        zeros = np.zeros_like(z)
        zf, zi, f, i = zeros, zeros, zeros, np.ones_like(z)
    else:
        zf, zi, f, i = (np.array([row[3][part] for row in rows]).T for part in range(4))
    a = np.vstack([a_prev[1:], [row[4] for row in rows]])
    return ChainForward(w, b, gated, wf, wi, a_prev, z, g, zf, f, zi, i, a, act)


def _split(values: Array | Scaled) -> tuple[Array, Array]:
    """(mantissa, exponent) arrays of a plain or Scaled array (exponent broadcast to the mantissa's shape)."""
    if isinstance(values, Scaled):
        return values.mantissa, np.broadcast_to(np.asarray(values.exponent, dtype=np.int64), values.mantissa.shape)
    return values, np.zeros(np.shape(values), dtype=np.int64)


def _running_product(mantissa: Array, exponent: Array) -> tuple[Array, Array]:
    """(m, e) with m[j]·2^e[j] = Π_{k≤j} mantissa[k]·2^exponent[k] along axis 0, rounded exactly as the
    plain float product taken in that order (the mantissas are renormalized by powers of two only)."""
    m, e = np.frexp(mantissa)
    e = np.cumsum(e.astype(np.int64) + exponent, axis=0)
    out = np.empty_like(m)
    carry = np.ones(m.shape[1:])
    for start in range(0, len(m), PRODUCT_BLOCK):
        block = m[start:start + PRODUCT_BLOCK].copy()
        block[0] *= carry
        out[start:start + PRODUCT_BLOCK] = np.cumprod(block, axis=0)
        carry, shift = np.frexp(out[start + len(block) - 1])
        e[start + len(block):] += shift.astype(np.int64)
        out[start + len(block) - 1] = carry
        e[start + len(block) - 1] += shift.astype(np.int64)
    return out, e


def _row_means(m: Array, e: Array, weight: Array | None = None) -> tuple[Array, Array]:
    """mean over axis 1 (the rows) of m·2^e (·weight), per layer: (mantissa, exponent) vectors."""
    nonzero = (m != 0) & np.isfinite(m)
    top = np.max(np.where(nonzero, e, np.iinfo(np.int64).min), axis=1)
    top = np.where(top == np.iinfo(np.int64).min, 0, top)
    aligned = m if m.shape[1] == 1 else np.ldexp(m, np.maximum(e - top[:, None], -2000))
    if weight is not None:
        aligned = aligned * weight
    return aligned.mean(axis=1), top


def _log10_abs(m: Array, e: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.abs(m)) + e * LOG10_2


@dataclass(frozen=True, eq=False)
class ChainBackprop:
    """A chain's forward pass and gradients, layer by layer (vectors over l = 1..L; per-row arrays (L, rows)).

    factor = ∂a_l/∂a_{l−1} and da_db = ∂a_l/∂b_l (mantissa, exponent); grad_a = ∂C/∂a_l for l = 0..L per row;
    grad_b, grad_w (and the gates') = ∂C/∂b_l etc. (mantissa, exponent), the mean over rows; cost = C.
    """

    forward: ChainForward
    factor: tuple
    da_db: tuple
    grad_a: tuple
    grads: dict
    cost: float
    unroll: int | None

    def gradients(self) -> Gradients:
        """These gradients as gradviz Gradients (an unrolled chain sums its steps' shares)."""
        names = tuple(name for name in ("w", "b", "wf", "bf", "wi", "bi") if name in self.grads)
        rows = self.forward.z.shape[1]
        grad_a_norm = _log10_rms(_log10_abs(*self.grad_a)) - math.log10(rows)
        bias, weight = _log10_abs(*self.grads["b"]), _log10_abs(*self.grads["w"])
        if self.unroll is not None:
            blocks = tuple(_summed(self.grads[name], _SHAPES[name]) for name in names)
            return Gradients(blocks, names, bias, weight, grad_a_norm, self.cost, self.unroll)
        blocks = tuple(Scaled(*self.grads[name]) for name in names)
        return Gradients(blocks, names, bias, weight, grad_a_norm, self.cost, None, self.forward.gated)


def _summed(part: tuple[Array, Array], shape: tuple) -> Scaled:
    """Σ_l m[l]·2^e[l], one shared parameter's gradient summed over the steps that use it."""
    m, e = part
    nonzero = (m != 0) & np.isfinite(m)
    top = int(e[nonzero].max()) if nonzero.any() else 0
    return Scaled(np.reshape(np.sum(np.ldexp(m, np.maximum(e - top, -2000))), shape), top)


def _log10_rms(log10_rows: Array) -> Array:
    """log10 √(Σ_r 10^(2·log10_rows[:, r])) per layer (axis 0 indexes layers)."""
    top = np.max(log10_rows, axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = safe + 0.5 * np.log10(np.sum(10.0 ** (2.0 * (log10_rows - safe[:, None])), axis=1))
    return np.where(np.isfinite(top), total, top)


def chain_backprop(net: Network, x, y, cost="quadratic") -> ChainBackprop:
    """backprop for a chain of width-1 layers (net.chain), keeping every layer's factor and gradient."""
    cost = get_cost(cost)
    x, y = checked_inputs(net, x, y, cost)
    if net.chain is None:
        raise ValueError("chain_backprop needs a network whose every layer has width 1")
    with np.errstate(all="ignore"):
        return _chain_backprop(net, x, y, cost)


def _chain_backprop(net: Network, x: Array, y: Array, cost) -> ChainBackprop:
    fwd = _chain_forward(net, x)
    depth, rows = fwd.z.shape
    _, b, _, _, bf, _, bi = _chain_vectors(net)
    act = fwd.activation
    gated = fwd.gated[:, None]
    out_layer, out_cache = fwd.layer(depth - 1, b, bf, bi), fwd.cache(depth - 1)
    cost.check(out_layer)
    start = cost.output_delta(out_layer, out_cache, y)
    grad_a_L = start.grad_a if gated[-1, 0] else cost.output_gradient(out_layer, out_cache, y)
    start = start.grad_a if gated[-1, 0] else start
    slope_m, slope_e = _split(act.slope(fwd.z))
    slope_f, slope_i = sigmoid_prime_plain(fwd.zf), sigmoid_prime_plain(fwd.zi)
    w = fwd.w[:, None]
    gated_factor = Gated.local_factor(w, slope_m * np.ldexp(1.0, slope_e), fwd.f, fwd.i, fwd.a_prev, fwd.g,
                                      fwd.wf[:, None], slope_f, fwd.wi[:, None], slope_i)
    # the running product, from the output down: start, then per layer l = L..1 (first_l, second_l) with
    # plain layers (act'(z_l), w_l) so the first lands on δ_l and the second on ∂C/∂a_{l−1} = δ_l w_l, as the
    # general loop computes them; gated layers (1, local factor) so the first lands on ∂C/∂a_l
    first_m = np.where(gated, 1.0, slope_m)
    first_e = np.where(gated, 0, slope_e)
    first_m[-1], first_e[-1] = 1.0, 0
    second_m = np.where(gated, gated_factor, w * np.ones((1, rows)))
    sequence_m = np.empty((2 * depth + 1, rows))
    sequence_e = np.zeros((2 * depth + 1, rows), dtype=np.int64)
    start_m, start_e = _split(start)
    sequence_m[0], sequence_e[0] = start_m[:, 0], start_e[:, 0]
    sequence_m[1::2], sequence_e[1::2] = first_m[::-1], first_e[::-1]
    sequence_m[2::2] = second_m[::-1]
    product_m, product_e = _running_product(sequence_m, sequence_e)
    at_first = (product_m[1::2][::-1], product_e[1::2][::-1])           # layer l: δ_l (plain) or ∂C/∂a_l (gated)
    grad_below = (product_m[2::2][::-1], product_e[2::2][::-1])         # ∂C/∂a_{l−1}, l = 1..L
    grad_a_L_m, grad_a_L_e = _split(grad_a_L)
    grad_a = (np.vstack([grad_below[0], grad_a_L_m.T]), np.vstack([grad_below[1], grad_a_L_e.T]))
    grad_here = (np.vstack([grad_below[0][1:], grad_a_L_m.T]), np.vstack([grad_below[1][1:], grad_a_L_e.T]))
    gate_slope_m = np.where(gated, fwd.i * slope_m, slope_m)
    da_db = (gate_slope_m, slope_e)
    delta_m = np.where(gated, grad_here[0] * gate_slope_m, at_first[0])
    delta_e = np.where(gated, grad_here[1] + slope_e, at_first[1])
    grads = {"w": _row_means(delta_m, delta_e, fwd.a_prev), "b": _row_means(delta_m, delta_e)}
    if fwd.gated.any():
        # a layer without gates has no gate parameters: its entries of the gate vectors get no gradient
        for name, factor in (("f", fwd.a_prev * slope_f), ("i", fwd.g * slope_i)):
            gate_delta = np.where(gated, grad_here[0] * factor, 0.0)
            grads["b" + name] = _row_means(gate_delta, grad_here[1])
            grads["w" + name] = _row_means(gate_delta, grad_here[1], fwd.a_prev)
    factor = (np.where(gated, gated_factor, Dense.local_factor(w, slope_m)), np.where(gated, 0, slope_e))
    value = cost.value(out_layer, out_cache, y)
    return ChainBackprop(fwd, factor, da_db, grad_a, grads, value, net.unroll)


def sigmoid_prime_plain(z: Array) -> Array:
    """σ'(z) as plain floats, for the gates (a gate slope that underflows removes only a negligible term)."""
    return get_activation("sigmoid").prime(z)
