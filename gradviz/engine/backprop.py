"""Backpropagation: one loop over the layers, and a vectorized kernel for deep chains of width-1 layers.

For the rows of a batch (x, y) and C the mean cost over them (gradviz.engine.costs):
    forward     a_0 = x;  each layer l = 1..L computes its cache (z_l, a_l, …) from a_{l-1}
    output      δ_L from the cost (asked once)
    backward    for l = L..1: the layer's gradients and ∂C/∂a_{l-1} from its backward pass; an unrolled layer sums
                its gradients over its steps

A stack of width-1 layers takes the same equations in another order (chain kernel): each layer's Jacobian is one
number, its local factor (gradviz.engine.layers: chain_locals), and ∂C/∂a_l for every l is one running product
over the layers, ∂C/∂a_{l-1} = ∂a_l/∂a_{l-1} · ∂C/∂a_l, taken as a cumulative product of mantissas with the
binary exponents summed apart (so 25^9999 is exact to rounding and 25 · 25 · 25 is 15625 exactly); each
parameter's gradient is ∂C/∂a_l times its local derivative ∂a_l/∂θ_l. The forward pass it needs runs on Python
floats, layer kind by layer kind (their scalar_run), since numpy's per-call cost on one-element arrays would be
most of a 10,000-layer pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from gradviz.engine.checks import as_numbers
from gradviz.engine.costs import get_cost
from gradviz.engine.network import Layout, Network
from gradviz.engine.scaled import (SHIFT_FLOOR, Scaled, ln_group_norms, ln_norm, ln_norm_of_rows, ln_segment_norms,
                                   log10_magnitude, log_sum_squares, normalized_rows, pair)

Array = np.ndarray
LN10 = math.log(10.0)
NO_NORMS = np.full(0, np.nan)  # per-layer norms a caller did not ask for (training's updates)
PRODUCT_BLOCK = 512
NO_EXPONENT = np.iinfo(np.int64).min


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


def _forward_caches(layers: list, x: Array) -> list:
    """Each step's cache, the layers applied in turn to x."""
    caches = []
    a = x
    for layer in layers:
        cache = layer.forward(a)
        caches.append(cache)
        a = cache.a
    return caches


def forward_trace(net: Network, x) -> list:
    """Every layer's cache for input x (batch, n_0): .z, .a (and .g, .f, .i, .zf, .zi on a gated layer; .u, the
    activation's input, on a normalized one). An overflow is a value (inf or NaN), never an error."""
    x = as_batch(x, check_network(net).sizes[0], "x")
    with np.errstate(all="ignore"):
        return _forward_caches(net.steps(), x)


def forward(net: Network, x) -> Array:
    """a_L for input x: (batch, n_0) -> (batch, n_L)."""
    return forward_trace(net, x)[-1].a


# --- gradients ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Gradients:
    """∂C/∂(every parameter) and per-layer magnitudes.

    mantissa: one vector laid out as the network's parameter vector (Network.theta, arrays named and shaped by
    layout), exponents: one binary exponent per parameter array, so ∂C/∂(array k) = mantissa[k's entries] ·
    2^exponents[k]; log10_bias_norms[l] = log10 ‖∂C/∂b_{l+1}‖ layer by layer (for an unrolled net: step l+1's
    share), log10_weight_norms likewise for W; log10_signal_norms[l] = log10 ‖∂C/∂a_l‖ over the batch, the gradient
    reaching layer l's output, l = 0..L (None when backprop was asked not to compute them); cost: the value of C;
    complete: False where backprop was asked to skip ∂C/∂W (its entries are then 0).
    """

    mantissa: Array
    exponents: Array
    layout: Layout
    log10_bias_norms: Array
    log10_weight_norms: Array
    log10_signal_norms: Array | None
    cost: float
    unroll: int | None
    complete: bool = True

    @property
    def log10_activation_grad_norms(self) -> Array | None:
        """log10_signal_norms' older name."""
        return self.log10_signal_norms

    def log10_norms(self, measure: str) -> Array:
        """The per-layer record called `measure`: "bias" (‖∂C/∂b_l‖), "weight" (‖∂C/∂W_l‖) or "signal" (‖∂C/∂a_l‖,
        l = 1..L: what reaches each layer's output)."""
        if measure == "signal":
            return self.log10_signal_norms[1:]
        if measure not in ("bias", "weight"):
            raise ValueError(f"measure must be 'bias', 'weight' or 'signal', not {measure!r}")
        return self.log10_bias_norms if measure == "bias" else self.log10_weight_norms

    @property
    def names(self) -> tuple:
        """The parameter names in the order of Network.parameters()."""
        return self.layout.names

    @cached_property
    def scaled(self) -> tuple:
        """One Scaled per array of Network.parameters(), in its order."""
        offsets = self.layout.offsets
        return tuple(Scaled(self.mantissa[start:stop].reshape(shape), int(e)) for start, stop, shape, e in
                     zip(offsets[:-1], offsets[1:], self.layout.shapes, self.exponents))

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
    def flat(self) -> Scaled:
        """The whole gradient as one Scaled vector (one exponent, or one per entry)."""
        e = self.exponents
        if len(e) == 0 or (e == e[0]).all():
            return Scaled(self.mantissa, int(e[0]) if len(e) else 0)
        return Scaled(self.mantissa, np.repeat(e, self.layout.sizes))

    @cached_property
    def ln_norm(self) -> float:
        """ln ‖g‖, the global norm: √(Σ over every entry of every gradient, squared)."""
        e = self.exponents
        if len(e) == 0 or (e == e[0]).all():
            return ln_norm(self.flat)
        return log_sum_squares(ln_segment_norms(self.mantissa, self.layout.offsets[:-1], self.layout.offsets[1:], e))


def _gradients_of_arrays(grads: list, layout: Layout, *norms, **fields) -> Gradients:
    """Gradients from one Scaled per parameter array (None: not computed, 0)."""
    mantissa = np.concatenate([np.zeros(int(np.prod(shape))) if g is None else np.ravel(g.mantissa)
                               for g, shape in zip(grads, layout.shapes)]) if grads else np.zeros(0)
    exponents = np.array([0 if g is None else int(g.exponent) for g in grads], dtype=np.int64)
    return Gradients(mantissa, exponents, layout, *norms, complete=all(g is not None for g in grads), **fields)


def backprop(net: Network, x, y, cost="quadratic") -> Gradients:
    """∂C/∂W_l and ∂C/∂b_l (and every other parameter's) for C the mean cost over the rows of (x, y), with every
    per-layer magnitude (log10 ‖∂C/∂b_l‖, ‖∂C/∂W_l‖, ‖∂C/∂a_l‖).

    cost: "quadratic" (½‖a_L − y‖²), "cross_entropy" (with a sigmoid output layer), or a cost object.
    """
    return gradients_of(net, x, y, cost)


def gradients_of(net: Network, x, y, cost="quadratic", *, weights: bool = True, norms: str = "all",
                 checked: bool = False, kernel: bool = True) -> Gradients:
    """backprop with less work where a caller needs less (training):
    weights=False skips ∂C/∂W (its entries are 0, and complete is False); norms: "all", "layers" (no ‖∂C/∂a_l‖)
    or "none"; checked=True: x and y are already (rows, n) float arrays that passed checked_inputs (train checks
    its data once, not at every update); kernel=False takes the layer loop even for a width-1 stack (the kernel
    exists only because it is faster; the tests compare the two)."""
    cost = get_cost(cost)
    if not checked:
        x, y = checked_inputs(net, x, y, cost)
    with np.errstate(all="ignore"):
        if kernel and net.chain_runs is not None:
            return _chain_backprop(net, x, y, cost).gradients()
        cost.check(net.layer_at(net.depth - 1))
        return _layer_backprop(net, x, y, cost, weights, norms)


def _layer_backprop(net: Network, x: Array, y: Array, cost, weights: bool, norms: str) -> Gradients:
    """The loop: backward through the layers one step at a time (the only sequential part: δ_l and ∂C/∂a_{l−1});
    a plain layer's parameter gradients as soon as its δ is known, an unrolled layer's over all its steps at once."""
    depth, ln_batch = net.depth, math.log(len(x))
    layers = net.steps()
    caches = _forward_caches(layers, x)
    slopes = net.layers[0].step_slopes(caches) if net.unroll else [None] * depth
    delta = cost.output_delta(layers[-1], caches[-1], y)
    activation_norms, layer_norms = norms == "all", norms != "none"
    ln_grad_a = np.full(depth + 1, np.nan) if activation_norms else None
    if activation_norms:
        ln_grad_a[depth] = cost.output_gradient(layers[-1], caches[-1], y).ln_norm - ln_batch
    ln_w, ln_b = (np.full(depth, np.nan), np.full(depth, np.nan)) if layer_norms else (NO_NORMS, NO_NORMS)
    totals: list = [None] * len(net.layers)
    deltas = []
    for step in range(depth - 1, -1, -1):
        this = layers[step]
        if net.unroll:
            deltas.append(delta)
        else:
            totals[step], lw, lb = this.gradients([delta], [caches[step]], weights, layer_norms)
            if layer_norms:
                ln_w[step], ln_b[step] = (lw[0] if weights and lw is not None else np.nan), \
                    (lb[0] if lb is not None else np.nan)
        if step == 0 and not activation_norms:
            break
        grad_a, squares, total = normalized_rows(this.through(delta, caches[step]))
        if activation_norms:
            ln_grad_a[step] = ln_norm_of_rows(squares, grad_a.exponent, total, grad_a.mantissa) - ln_batch
        if step > 0:
            delta = layers[step - 1].delta(grad_a, caches[step - 1], slopes[step - 1])
    if net.unroll:
        totals[0], lw, lb = net.layers[0].gradients(deltas[::-1], caches, weights, layer_norms)
        if layer_norms:
            ln_b[:] = lb
            if weights:
                ln_w[:] = lw
    return _gradients_of_arrays([g for layer_totals in totals for g in layer_totals], net.layout,
                                ln_b / LN10 if layer_norms else ln_b, ln_w / LN10 if layer_norms else ln_w,
                                ln_grad_a / LN10 if activation_norms else None,
                                cost=cost.value(layers[-1], caches[-1], y), unroll=net.unroll)


# --- the width-1 chain kernel ------------------------------------------------------------------------------


def _chain_forward(net: Network, x: Array) -> tuple[list[dict], list[dict]]:
    """Each run's parameters over its steps ({name: (steps, 1)}) and its forward quantities ({name: (steps, rows)}),
    every row's pass in Python floats by the runs' own layers."""
    theta = net.theta
    vectors = [{name: theta[pos] for name, pos in run.positions.items()} for run in net.chain_runs]
    lists = [{name: v.tolist() for name, v in run_vectors.items()} for run_vectors in vectors]
    rows = [[] for _ in vectors]
    for x0 in x[:, 0].tolist():
        a = x0
        for run, run_lists, kept in zip(net.chain_runs, lists, rows):
            q, a = run.layer.scalar_run(a, run_lists)
            kept.append(q)
    quantities = [{name: np.array([q[name] for q in kept]).T for name in kept[0]} for kept in rows]
    return [{name: v[:, None] for name, v in run_vectors.items()} for run_vectors in vectors], quantities


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


def _aligned_rows(m: Array, e: Array) -> tuple[Array, Array]:
    """Each layer's (axis 0) entries brought to the largest exponent among its nonzero finite ones: (m, top)."""
    nonzero = (m != 0) & np.isfinite(m)
    top = np.max(np.where(nonzero, e, NO_EXPONENT), axis=1)
    top = np.where(top == NO_EXPONENT, 0, top)
    if m.shape[1] == 1:
        return m, top
    with np.errstate(under="ignore"):
        return np.ldexp(m, np.maximum(e - top[:, None], SHIFT_FLOOR)), top


def _row_means(m: Array, e: Array, weight: Array | None = None) -> tuple[Array, Array]:
    """mean over axis 1 (the rows) of m·2^e (·weight), per layer: (mantissa, exponent) vectors."""
    aligned, top = _aligned_rows(m, e)
    if weight is not None:
        aligned = aligned * weight
    return aligned.mean(axis=1), top


def _summed(m: Array, e: Array) -> tuple[float, int]:
    """Σ_l m[l]·2^e[l], one shared parameter's gradient summed over the steps that use it."""
    nonzero = (m != 0) & np.isfinite(m)
    top = int(e[nonzero].max()) if nonzero.any() else 0
    with np.errstate(under="ignore"):
        return float(np.sum(np.ldexp(m, np.maximum(e - top, SHIFT_FLOOR)))), top


def _times(pair: tuple, other: tuple | None) -> tuple[Array, Array]:
    """(m, e) · (m', e') entry by entry (other None: 1)."""
    return pair if other is None else (pair[0] * other[0], pair[1] + other[1])


@dataclass(frozen=True, eq=False)
class ChainBackprop:
    """A chain's forward pass and gradients, layer by layer (vectors over l = 1..L; per-row arrays (L, rows)).

    quantities: the parameters w, b and the forward pass a_prev, z, a (f, i where some layer is gated; NaN in the
    others), per layer and row; factor = ∂a_l/∂a_{l−1} and da_db = ∂a_l/∂b_l, (mantissa, exponent); grad_a =
    ∂C/∂a_l for l = 0..L per row; grads: {name: (mantissa, exponent)} per layer, the mean over the rows (an absent
    parameter's entries are 0); cost = C.
    """

    net: Network
    quantities: dict
    factor: tuple
    da_db: tuple
    grad_a: tuple
    grads: dict
    cost: float

    def gradients(self) -> Gradients:
        """These gradients as gradviz Gradients (an unrolled chain sums its steps' shares)."""
        net, layout = self.net, self.net.layout
        rows = self.grad_a[0].shape[1]
        aligned, top = _aligned_rows(*self.grad_a)
        signal = (ln_group_norms(aligned, top) - math.log(rows)) / LN10
        bias, weight = log10_magnitude(*self.grads["b"]), log10_magnitude(*self.grads["w"])
        mantissa, exponents = np.zeros(layout.size), np.zeros(layout.size, dtype=np.int64)
        for name, (m, e) in self.grads.items():
            positions = layout.positions(name)
            if net.unroll is not None:
                mantissa[positions[0]], exponents[positions[0]] = _summed(m, e)
                continue
            present = positions >= 0
            mantissa[positions[present]], exponents[positions[present]] = m[present], e[present]
        return Gradients(mantissa, exponents, layout, bias, weight, signal, self.cost, net.unroll)


def chain_backprop(net: Network, x, y, cost="quadratic") -> ChainBackprop:
    """backprop for a stack of width-1 layers (net.chain_runs), keeping every layer's factor and gradient."""
    cost = get_cost(cost)
    x, y = checked_inputs(net, x, y, cost)
    if net.chain_runs is None:
        raise ValueError("chain_backprop needs a network whose every layer has width 1 and no normalization")
    with np.errstate(all="ignore"):
        return _chain_backprop(net, x, y, cost)


def _chain_backprop(net: Network, x: Array, y: Array, cost) -> ChainBackprop:
    runs = net.chain_runs
    vectors, quantities = _chain_forward(net, x)
    depth, rows = net.depth, len(x)
    a = np.vstack([q["a"] for q in quantities])
    a_prev = np.vstack([x[:, 0][None], a[:-1]])
    out_layer = net.layer_at(depth - 1)
    out_cache = out_layer.forward(a_prev[-1][:, None])
    cost.check(out_layer)
    start = cost.output_delta(out_layer, out_cache, y)
    start = start if isinstance(start, Scaled) else start.grad_a  # a Dense layer's δ, else ∂C/∂a_L
    grad_a_L = cost.output_gradient(out_layer, out_cache, y)
    local = [run.layer.chain_locals(q, v, a_prev[run.start:run.stop])
             for run, q, v in zip(runs, quantities, vectors)]
    first_m = np.vstack([c.first[0] for c in local])
    first_e = np.vstack([c.first[1] for c in local])
    second = np.vstack([c.second for c in local])
    # the running product, from the output down: start, then per layer l = L..1 (first_l, second_l); the last
    # layer's first is already in start (a Dense layer's δ_L, or a cross-entropy δ_L whose σ' cancelled)
    sequence_m = np.empty((2 * depth + 1, rows))
    sequence_e = np.zeros((2 * depth + 1, rows), dtype=np.int64)
    start_m, start_e = pair(start)
    sequence_m[0], sequence_e[0] = start_m[:, 0], start_e[:, 0]
    sequence_m[1::2], sequence_e[1::2] = first_m[::-1], first_e[::-1]
    sequence_m[1], sequence_e[1] = 1.0, 0
    sequence_m[2::2] = second[::-1]
    product_m, product_e = _running_product(sequence_m, sequence_e)
    at_first = (product_m[1::2][::-1], product_e[1::2][::-1])     # ∂C/∂a_l · first_l (a Dense layer's δ_l)
    grad_below = (product_m[2::2][::-1], product_e[2::2][::-1])   # ∂C/∂a_{l−1}, l = 1..L
    grad_a_L_m, grad_a_L_e = pair(grad_a_L)
    grad_a = (np.vstack([grad_below[0], grad_a_L_m.T]), np.vstack([grad_below[1], grad_a_L_e.T]))
    grads, da_db = _chain_parameter_gradients(runs, local, at_first, a_prev, depth)
    shown = {"w": np.concatenate([v["w"][:, 0] for v in vectors]), "b": np.concatenate([v["b"][:, 0] for v in vectors]),
             "a_prev": a_prev, "a": a}
    for name in ("z", "f", "i"):
        if any(name in c.shown for c in local):
            shown[name] = np.vstack([c.shown.get(name, np.full(c.second.shape, np.nan)) for c in local])
    factor = (first_m * second, first_e)
    return ChainBackprop(net, shown, factor, da_db, grad_a, grads, cost.value(out_layer, out_cache, y))


def _chain_parameter_gradients(runs, local, at_first, a_prev, depth) -> tuple[dict, tuple]:
    """{name: (mantissa, exponent) per layer}: ∂C/∂b_l = mean over rows of ∂C/∂a_l · first_l · partial_b, and
    ∂C/∂w_l the same times a_prev; with ∂a_l/∂b_l (da_db) per layer and row."""
    names = sorted({name for c in local for name in c.partials} | {name for c in local for name in c.weights})
    grads = {name: (np.zeros(depth), np.zeros(depth, dtype=np.int64)) for name in names}
    da_db_m, da_db_e = np.empty_like(at_first[0]), np.empty_like(at_first[1])
    for run, c in zip(runs, local):
        here = slice(run.start, run.stop)
        at = (at_first[0][here], at_first[1][here])
        for bias, partial in c.partials.items():
            m, e = _times(at, partial)
            grads[bias][0][here], grads[bias][1][here] = _row_means(m, e)
            for weight in (w for w, b in c.weights.items() if b == bias):
                grads[weight][0][here], grads[weight][1][here] = _row_means(m, e, a_prev[here])
        da_db_m[here], da_db_e[here] = _times(c.first, c.partials["b"])
    return grads, (da_db_m, da_db_e)

