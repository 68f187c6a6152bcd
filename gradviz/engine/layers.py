"""Layers, each owning its forward pass, its backward pass, its named parameters and its local factor, side by side.

Layer l maps a_{l-1} to a_l (rows of a batch; W has shape (n_l, n_{l-1}); N is an optional normalization, layer
norm or batch norm from gradviz.engine.normalization, N(z) = z without one):

    Dense          z = W a_prev + b,  u = N(z),  a = act(u)
                   δu = ∂C/∂a ⊙ act'(u),  δz = N's backward of δu (δu itself without N)
                   ∂C/∂W = mean_r δz a_prevᵀ,  ∂C/∂b = mean_r δz,  ∂C/∂a_prev = Wᵀ δz
    Gated          (LSTM-style, an additive cell path across layers; needs n_l = n_{l-1})
                   g = act(N(z)),  z = W a_prev + b
                   f = σ(Wf a_prev + bf)   forget gate        i = σ(Wi a_prev + bi)   input gate
                   a = f ⊙ a_prev + i ⊙ g
                   δz from ∂C/∂a ⊙ i ⊙ act'(u) as above,  δf = ∂C/∂a ⊙ a_prev ⊙ σ'(zf),  δi = ∂C/∂a ⊙ g ⊙ σ'(zi)
                   ∂C/∂a_prev = f ⊙ ∂C/∂a + Wᵀ δz + Wfᵀ δf + Wiᵀ δi;  parameter gradients as for Dense
    PreActivation  (He et al. 2016b's residual branch: normalization and activation before the linear map)
                   u = N(a_prev),  v = act(u),  a = W v + b
                   ∂C/∂W = mean_r ∂C/∂a vᵀ,  ∂C/∂b = mean_r ∂C/∂a,  ∂C/∂a_prev = N's backward of (Wᵀ ∂C/∂a) ⊙ act'(u)
    Residual       a = a_prev + s · branch(a_prev)          (a skip connection around any layer of equal widths)
                   ∂C/∂a_prev = ∂C/∂a + the branch's backward of s · ∂C/∂a

The protocol every layer speaks (gradviz.engine.network and backprop use nothing else):
    parameter_names, parameters(), with_parameters(arrays)   its named arrays; the same layer holding the next
                                                             arrays of an iterator (a network binds its layers to
                                                             views of one parameter vector this way)
    n_in, n_out, activation, gate, norm                      what it is
    check(where)                                             ValueError for arrays of the wrong shapes
    forward(a_prev) -> cache                                 cache.a is the output
    delta(grad_a, cache, slopes), through(delta, cache)      the backward pass: what the layer keeps of ∂C/∂a for
                                                             its gradients, and ∂C/∂a_prev from it
    gradients(deltas, caches, weights, norms)                its gradients summed over the steps that used it (one,
                                                             or T for an unrolled layer), each step's ln ‖∂C/∂W‖ and
                                                             ln ‖∂C/∂b‖ share
    step_slopes(caches)                                      an unrolled layer's slopes, all T steps at once
    chain_signature()                                        how the width-1 chain kernel runs it, or None

Backward quantities are Scaled (one binary exponent per row), so nothing overflows or underflows, and in
float64's range the mantissas are the plain float computation bit for bit.

For width 1 the Jacobian ∂a_l/∂a_{l-1} is one number, the article's factor, and the chain kernel
(gradviz.engine.backprop) multiplies them. Each layer that can run there gives it from its own forward pass in
plain floats (`scalar_run`) and its local derivatives (`chain_locals`):
    Dense     ∂a/∂a_prev = act'(z) · w                                          ∂a/∂b = act'(z)
    Gated     ∂a/∂a_prev = f + i w act'(z) + a_prev σ'(zf) wf + g σ'(zi) wi     ∂a/∂b = i act'(z), ∂a/∂bf = a_prev σ'(zf),
                                                                                ∂a/∂bi = g σ'(zi)
    Residual  ∂a/∂a_prev = 1 + s · the branch's,                                ∂a/∂b = s · the branch's
and ∂a/∂w = ∂a/∂b · a_prev for every linear map z = w a_prev + b. Normalized layers do not run there: a width-1
layer norm is 0, and batch norm mixes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradviz.engine.activations import Activation, get_activation, sigmoid
from gradviz.engine.checks import as_numbers, whole_number
from gradviz.engine.scaled import (LN2, SHIFT_FLOOR, Scaled, add, pair, per_step_norms, stack_rows, sum_over_steps,
                                   times)

Array = np.ndarray
MAX_WIDTH = 100_000
SIGMOID = get_activation("sigmoid")


def _frozen(value) -> Array:
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
            object.__setattr__(self, name, _frozen(as_numbers(getattr(self, name), f"Gate's {name}")))

    @staticmethod
    def constant(width: int, forget_bias: float, input_bias: float = 0.0) -> Gate:
        """Gates with zero weights, so f = σ(forget_bias) and i = σ(input_bias) whatever the input."""
        width = whole_number(width, "width", 1, MAX_WIDTH)
        for name, value in (("forget_bias", forget_bias), ("input_bias", input_bias)):
            if as_numbers(value, name).ndim != 0:
                raise ValueError(f"{name} must be one number, not an array")
        zeros = np.zeros((width, width))
        return Gate(zeros, np.full(width, float(forget_bias)), zeros, np.full(width, float(input_bias)))


# --- gradients of a linear map over the steps that use it -----------------------------------------------------


def stream_gradients(deltas: list[Scaled], inputs: list[Array], weights: bool, norms: bool):
    """One δ stream of a linear map z = W input + b over the steps that use it (one step for a plain layer, T for an
    unrolled one): (Σ_t mean_r δ_t input_tᵀ or None, Σ_t mean_r δ_t, ln ‖each step's weight share‖, ln ‖each step's
    bias share‖) — the shares' norms None unless asked for. Each step's rows are brought to that step's largest
    exponent, so a step far below the others keeps its own digits."""
    if len(deltas) == 1 and isinstance(deltas[0].exponent, int):
        return _one_step_gradients(deltas[0], inputs[0], weights, norms)
    m, e = stack_rows(deltas)
    rows = m.shape[1]
    step_top = e.max(axis=1)
    shift = e - step_top[:, None]
    if shift.any():
        with np.errstate(under="ignore"):
            m = np.ldexp(m, np.maximum(shift, SHIFT_FLOOR)[..., None])
    bias_steps = m.sum(axis=1) / rows
    ln_b = per_step_norms(bias_steps, step_top) if norms else None
    nabla_b = sum_over_steps(bias_steps, step_top)
    if not weights:
        return None, nabla_b, None, ln_b
    if len(deltas) == 1:
        nabla_w = Scaled(m[0].T @ inputs[0] / rows, int(step_top[0]))
        ln_w = per_step_norms(nabla_w.mantissa[None], step_top) if norms else None
        return nabla_w, nabla_b, ln_w, ln_b
    a = np.stack(inputs)
    top = int(step_top.max())
    with np.errstate(under="ignore"):
        aligned = np.ldexp(m, np.maximum(step_top - top, SHIFT_FLOOR)[:, None, None])
    nabla_w = Scaled(aligned.reshape(-1, m.shape[2]).T @ a.reshape(-1, a.shape[2]) / rows, top)
    ln_w = _shared_weight_norms(m, a, step_top, rows) if norms else None
    return nabla_w, nabla_b, ln_w, ln_b


def _one_step_gradients(delta: Scaled, a_prev: Array, weights: bool, norms: bool):
    """stream_gradients for one step whose rows share one exponent (a plain layer, the usual case)."""
    m, exponent = delta.mantissa, delta.exponent
    rows = len(m)
    nabla_b = Scaled(m.sum(axis=0) / rows, exponent)
    nabla_w = Scaled(m.T @ a_prev / rows, exponent) if weights else None
    if not norms:
        return nabla_w, nabla_b, None, None
    ln_b = per_step_norms(nabla_b.mantissa[None], np.array([exponent]))
    ln_w = per_step_norms(nabla_w.mantissa[None], np.array([exponent])) if weights else None
    return nabla_w, nabla_b, ln_w, ln_b


def _shared_weight_norms(m: Array, a: Array, step_top: Array, rows: int) -> Array:
    """ln ‖δ_tᵀ a_t / rows‖ for every step t without forming the T products:
    ‖δᵀa‖² = Σ (δ δᵀ) ⊙ (a aᵀ), a rows × rows sum per step."""
    gram_delta = np.matmul(m, m.transpose(0, 2, 1))
    gram_a = np.matmul(a, a.transpose(0, 2, 1))
    squares = np.einsum("tij,tij->t", gram_delta, gram_a)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * np.log(np.maximum(squares, 0.0)) + step_top * LN2 - np.log(rows)


def _stacked_slopes(activation: Activation, u: list[Array]) -> list:
    """act'(u) for every step at once (an unrolled layer's T slopes in one call), as one entry per step."""
    slope = activation.slope(np.stack(u))
    if isinstance(slope, Scaled):
        return [Scaled(slope.mantissa[t], slope.exponent[t]) for t in range(len(u))]
    return list(slope)


# --- the parts a layer is made of: a linear map, its normalization --------------------------------------------


def _normalize(norm, z: Array):
    """(N's cache or None, N(z))."""
    if norm is None:
        return None, z
    cache = norm.forward(z)
    return cache, cache.a


def _norm_back(norm, delta_u: Scaled, cache) -> Scaled:
    """δz from δu through N (δu itself without one)."""
    return delta_u if norm is None else norm.through(norm.delta(delta_u, cache), cache)


def _check_linear(w: Array, b: Array, where: str) -> None:
    if w.ndim != 2 or b.shape != w.shape[:1] or 0 in w.shape:
        raise ValueError(f"{where} needs a non-empty matrix w (n_out, n_in) and a vector b (n_out,), not {w.shape} "
                         f"and {b.shape}")


def _check_norm(norm, width: int, where: str) -> None:
    if norm is None:
        return
    norm.check(f"{where}'s norm")
    if norm.n_in != width:
        raise ValueError(f"{where}'s norm has {norm.n_in} units, not the {width} it normalizes")


def _norm_gradients(norm, delta_us: list, norm_caches: list, weights: bool) -> tuple:
    """N's (∂C/∂gain, ∂C/∂shift), or nothing without N."""
    if norm is None:
        return ()
    grads, _, _ = norm.gradients(delta_us, norm_caches, weights, False)
    return grads


def _zeros_like(nabla_b: Scaled, ln_b):
    """An exact-zero bias gradient (a bias right before batch norm), and its −inf shares."""
    return Scaled(np.zeros_like(nabla_b.mantissa), 0), None if ln_b is None else np.full_like(ln_b, -np.inf)


@dataclass(frozen=True, eq=False)
class ChainLocals:
    """A run of width-1 layers' local derivatives, arrays (layers, rows): ∂a/∂a_prev = first · second (two
    multipliers, taken in that order as the general loop takes them); ∂a/∂(bias name) = first · partials[name]
    (None: 1), each (mantissa, exponent); weights: weight name → its bias's name (∂a/∂w = ∂a/∂b · a_prev);
    shown: the quantities the chain's report shows (z, and f, i when gated)."""

    first: tuple
    second: Array
    partials: dict
    weights: dict
    shown: dict


def _plain(pair: tuple) -> Array:
    """A (mantissa, exponent) pair as plain floats (0 where it underflows)."""
    m, e = pair
    with np.errstate(under="ignore", over="ignore"):
        return m * np.ldexp(1.0, np.clip(e, SHIFT_FLOOR, -SHIFT_FLOOR))


# --- Dense -------------------------------------------------------------------------------------------------------


def _activation(activation) -> Activation:
    """An Activation, or the registered one a name calls."""
    return activation if isinstance(activation, Activation) else get_activation(activation)


class _Linear:
    """What Dense and PreActivation share: a linear map (w, b), an activation and an optional normalization N."""

    gate = None

    def __init__(self, w: Array, b: Array, activation: Activation | str, norm=None):
        self.w, self.b, self.activation, self.norm = w, b, _activation(activation), norm

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return ("w", "b") + (self.norm.parameter_names if self.norm is not None else ())

    def parameters(self) -> tuple[Array, ...]:
        return (self.w, self.b) + (self.norm.parameters() if self.norm is not None else ())

    def with_parameters(self, arrays):
        w, b = next(arrays), next(arrays)
        return type(self)(w, b, self.activation, None if self.norm is None else self.norm.with_parameters(arrays))

    @property
    def n_in(self) -> int:
        return self.w.shape[1]

    @property
    def n_out(self) -> int:
        return self.w.shape[0]


class DenseCache:
    """What Dense.forward keeps for the backward pass (u: the activation's input, N(z); z itself without N)."""

    __slots__ = ("a_prev", "z", "u", "norm", "a")

    def __init__(self, a_prev: Array, z: Array, u: Array, norm, a: Array):
        self.a_prev, self.z, self.u, self.norm, self.a = a_prev, z, u, norm, a


class NormedDelta:
    """A normalized layer's δ: δz for the linear map, δu for the normalization's own parameters."""

    __slots__ = ("dz", "du")

    def __init__(self, dz: Scaled, du: Scaled):
        self.dz, self.du = dz, du


class Dense(_Linear):
    """A plain layer: z = W a_prev + b, a = act(N(z))."""

    def check(self, where: str) -> None:
        _check_linear(self.w, self.b, where)
        _check_norm(self.norm, self.n_out, where)

    def forward(self, a_prev: Array) -> DenseCache:
        z = a_prev @ self.w.T + self.b
        if self.norm is None:  # the usual case, kept to one call: an RNN runs this a thousand times a pass
            return DenseCache(a_prev, z, z, None, self.activation.fn(z))
        norm, u = _normalize(self.norm, z)
        return DenseCache(a_prev, z, u, norm, self.activation.fn(u))

    def delta(self, grad_a: Scaled, cache: DenseCache, slope=None) -> Scaled | NormedDelta:
        """δ = ∂C/∂a ⊙ act'(u) (slope: act'(u) if already computed), through N when there is one."""
        du = times(grad_a, self.activation.slope(cache.u) if slope is None else slope)
        return du if self.norm is None else NormedDelta(_norm_back(self.norm, du, cache.norm), du)

    def through(self, delta, cache: DenseCache) -> Scaled:
        """∂C/∂a_prev = Wᵀ δz, row by row."""
        dz = delta if self.norm is None else delta.dz
        return Scaled(dz.mantissa @ self.w, dz.exponent)

    def gradients(self, deltas: list, caches: list[DenseCache], weights: bool, norms: bool):
        """(∂C/∂W, ∂C/∂b[, ∂C/∂gain, ∂C/∂shift]) summed over the steps, and each step's (ln ‖∂C/∂W‖, ln ‖∂C/∂b‖)
        share or None. A bias right before batch norm cancels out of the network: its gradient is exactly 0."""
        dz = deltas if self.norm is None else [d.dz for d in deltas]
        nabla_w, nabla_b, ln_w, ln_b = stream_gradients(dz, [c.a_prev for c in caches], weights, norms)
        if self.norm is None:
            return (nabla_w, nabla_b), ln_w, ln_b
        if self.norm.cancels_shift:
            nabla_b, ln_b = _zeros_like(nabla_b, ln_b)
        extra = _norm_gradients(self.norm, [d.du for d in deltas], [c.norm for c in caches], weights)
        return (nabla_w, nabla_b) + extra, ln_w, ln_b

    def step_slopes(self, caches: list[DenseCache]) -> list:
        """act'(u) of every step, computed at once."""
        return _stacked_slopes(self.activation, [c.u for c in caches])

    # the width-1 chain kernel

    def chain_signature(self):
        return None if self.norm is not None else ("dense", self.activation.name)

    def scalar_run(self, a: float, v: dict, skip: float | None = None) -> tuple[dict, float]:
        """The forward pass of a run of width-1 layers on one row, in Python floats (numpy's per-call cost on
        one-element arrays is most of a 10,000-layer pass): z = w a_prev + b, g = act(z), a = g, or a_prev + s·g
        inside a skip connection. v: each parameter's values over the run."""
        fn = self.activation.scalar
        z_out, g_out, a_out = [], [], []
        keep_z, keep_g, keep_a = z_out.append, g_out.append, a_out.append
        if skip is None:
            for w_l, b_l in zip(v["w"], v["b"]):
                z_l = w_l * a + b_l
                a = fn(z_l)
                keep_z(z_l)
                keep_g(a)
            return {"z": z_out, "g": g_out, "a": g_out}, a
        for w_l, b_l in zip(v["w"], v["b"]):
            z_l = w_l * a + b_l
            g_l = fn(z_l)
            a = a + skip * g_l
            keep_z(z_l), keep_g(g_l), keep_a(a)
        return {"z": z_out, "g": g_out, "a": a_out}, a

    def chain_locals(self, q: dict, v: dict, a_prev: Array) -> ChainLocals:
        """act'(z), then w: the δ of the general loop lands between them."""
        slope = pair(self.activation.slope(q["z"]))
        return ChainLocals(slope, v["w"] * np.ones_like(q["z"]), {"b": None}, {"w": "b"}, {"z": q["z"]})


# --- Gated -------------------------------------------------------------------------------------------------------


class GatedCache:
    """What Gated.forward keeps for the backward pass."""

    __slots__ = ("a_prev", "z", "u", "norm", "g", "zf", "f", "zi", "i", "a")

    def __init__(self, a_prev, z, u, norm, g, zf, f, zi, i, a):
        self.a_prev, self.z, self.u, self.norm, self.g = a_prev, z, u, norm, g
        self.zf, self.f, self.zi, self.i, self.a = zf, f, zi, i, a


class GatedDelta:
    """A gated layer's δ terms, with the ∂C/∂a they came from (the cell path passes it on) and δu (for N)."""

    __slots__ = ("grad_a", "dz", "df", "di", "du")

    def __init__(self, grad_a: Scaled, dz: Scaled, df: Scaled, di: Scaled, du: Scaled):
        self.grad_a, self.dz, self.df, self.di, self.du = grad_a, dz, df, di, du


class Gated(_Linear):
    """An LSTM-style gated layer: a = f ⊙ a_prev + i ⊙ act(N(W a_prev + b))."""

    def __init__(self, w: Array, b: Array, activation: Activation | str, gate: Gate | tuple, norm=None):
        """gate: a Gate, or its four arrays (wf, bf, wi, bi) as they are (a network's views)."""
        self.w, self.b, self.activation, self.norm = w, b, _activation(activation), norm
        if isinstance(gate, Gate):
            gate = (gate.wf, gate.bf, gate.wi, gate.bi)
        if not isinstance(gate, tuple) or len(gate) != 4:
            raise ValueError(f"a gated layer needs a Gate or its four arrays (wf, bf, wi, bi), not {gate!r}")
        self.wf, self.bf, self.wi, self.bi = gate

    @property
    def gate(self) -> Gate:
        return Gate(self.wf, self.bf, self.wi, self.bi)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return ("w", "b", "wf", "bf", "wi", "bi") + (self.norm.parameter_names if self.norm is not None else ())

    def parameters(self) -> tuple[Array, ...]:
        own = (self.w, self.b, self.wf, self.bf, self.wi, self.bi)
        return own + (self.norm.parameters() if self.norm is not None else ())

    def with_parameters(self, arrays) -> Gated:
        w, b, wf, bf, wi, bi = (next(arrays) for _ in range(6))
        return Gated(w, b, self.activation, (wf, bf, wi, bi), None if self.norm is None else self.norm.with_parameters(arrays))

    def check(self, where: str) -> None:
        _check_linear(self.w, self.b, where)
        if self.w.shape[0] != self.w.shape[1] or self.wf.shape != self.w.shape or self.wi.shape != self.w.shape \
                or self.bf.shape != self.b.shape or self.bi.shape != self.b.shape:
            raise ValueError(f"{where}'s gates need a square w and gate parameters shaped like w and b")
        _check_norm(self.norm, self.n_out, where)

    def forward(self, a_prev: Array) -> GatedCache:
        z = a_prev @ self.w.T + self.b
        norm, u = _normalize(self.norm, z)
        zf = a_prev @ self.wf.T + self.bf
        zi = a_prev @ self.wi.T + self.bi
        g, f, i = self.activation.fn(u), sigmoid(zf), sigmoid(zi)
        return GatedCache(a_prev, z, u, norm, g, zf, f, zi, i, f * a_prev + i * g)

    def delta(self, grad_a: Scaled, cache: GatedCache, slopes=None) -> GatedDelta:
        """δu = ∂C/∂a ⊙ i ⊙ act'(u) (δz through N), δf = ∂C/∂a ⊙ a_prev ⊙ σ'(zf), δi = ∂C/∂a ⊙ g ⊙ σ'(zi)
        (slopes: (act'(u), σ'(zf), σ'(zi)) if already computed)."""
        if slopes is None:
            slopes = (self.activation.slope(cache.u), SIGMOID.slope(cache.zf), SIGMOID.slope(cache.zi))
        slope, slope_f, slope_i = slopes
        du = times(times(grad_a, cache.i), slope)
        return GatedDelta(grad_a, _norm_back(self.norm, du, cache.norm), times(times(grad_a, cache.a_prev), slope_f),
                          times(times(grad_a, cache.g), slope_i), du)

    def through(self, delta: GatedDelta, cache: GatedCache) -> Scaled:
        """∂C/∂a_prev = f ⊙ ∂C/∂a + Wᵀ δz + Wfᵀ δf + Wiᵀ δi, row by row."""
        return add([times(delta.grad_a, cache.f)] + [Scaled(d.mantissa @ w, d.exponent) for d, w in
                                                     ((delta.dz, self.w), (delta.df, self.wf), (delta.di, self.wi))])

    def gradients(self, deltas: list[GatedDelta], caches: list[GatedCache], weights: bool, norms: bool):
        """(∂C/∂W, ∂C/∂b, ∂C/∂Wf, ∂C/∂bf, ∂C/∂Wi, ∂C/∂bi[, ∂C/∂gain, ∂C/∂shift]) summed over the steps, and each
        step's (ln ‖∂C/∂W‖, ln ‖∂C/∂b‖) share or None."""
        a_prevs = [c.a_prev for c in caches]
        grads, shares = [], None
        for stream in ("dz", "df", "di"):
            nabla_w, nabla_b, ln_w, ln_b = stream_gradients([getattr(d, stream) for d in deltas], a_prevs, weights,
                                                            norms and stream == "dz")
            if stream == "dz" and self.norm is not None and self.norm.cancels_shift:
                nabla_b, ln_b = _zeros_like(nabla_b, ln_b)
            grads += [nabla_w, nabla_b]
            shares = shares or (ln_w, ln_b)
        extra = _norm_gradients(self.norm, [d.du for d in deltas], [c.norm for c in caches], weights)
        return tuple(grads) + extra, shares[0], shares[1]

    def step_slopes(self, caches: list[GatedCache]) -> list:
        """(act'(u), σ'(zf), σ'(zi)) of every step, computed at once."""
        return list(zip(_stacked_slopes(self.activation, [c.u for c in caches]),
                        _stacked_slopes(SIGMOID, [c.zf for c in caches]),
                        _stacked_slopes(SIGMOID, [c.zi for c in caches])))

    # the width-1 chain kernel

    def chain_signature(self):
        return None if self.norm is not None else ("gated", self.activation.name)

    def scalar_run(self, a: float, v: dict, skip: float | None = None) -> tuple[dict, float]:
        """Dense.scalar_run for gated layers: a = f a_prev + i g (or a_prev + s·that inside a skip connection)."""
        fn, gate_fn = self.activation.scalar, SIGMOID.scalar
        z_out, g_out, zf_out, f_out, zi_out, i_out, a_out = [], [], [], [], [], [], []
        for w_l, b_l, wf_l, bf_l, wi_l, bi_l in zip(v["w"], v["b"], v["wf"], v["bf"], v["wi"], v["bi"]):
            z_l = w_l * a + b_l
            g_l = fn(z_l)
            zf_l, zi_l = wf_l * a + bf_l, wi_l * a + bi_l
            f_l, i_l = gate_fn(zf_l), gate_fn(zi_l)
            cell = f_l * a + i_l * g_l
            a = cell if skip is None else a + skip * cell
            z_out.append(z_l), g_out.append(g_l), zf_out.append(zf_l), zi_out.append(zi_l)
            f_out.append(f_l), i_out.append(i_l), a_out.append(a)
        return {"z": z_out, "g": g_out, "zf": zf_out, "f": f_out, "zi": zi_out, "i": i_out, "a": a_out}, a

    def chain_locals(self, q: dict, v: dict, a_prev: Array) -> ChainLocals:
        """One multiplier, the whole factor f + i w act'(z) + a_prev σ'(zf) wf + g σ'(zi) wi (a gate slope that
        underflows removes only a negligible term); ∂a/∂b = i act'(z) keeps act'(z)'s exponent."""
        slope_m, slope_e = pair(self.activation.slope(q["z"]))
        slope_f, slope_i = SIGMOID.prime(q["zf"]), SIGMOID.prime(q["zi"])
        factor = q["f"] + q["i"] * v["w"] * _plain((slope_m, slope_e)) + a_prev * slope_f * v["wf"] \
            + q["g"] * slope_i * v["wi"]
        ones = (np.ones_like(factor), np.zeros(factor.shape, dtype=np.int64))
        partials = {"b": (q["i"] * slope_m, slope_e), "bf": (a_prev * slope_f, ones[1]), "bi": (q["g"] * slope_i, ones[1])}
        return ChainLocals(ones, factor, partials, {"w": "b", "wf": "bf", "wi": "bi"},
                           {"z": q["z"], "f": q["f"], "i": q["i"]})


# --- PreActivation -------------------------------------------------------------------------------------------------


class PreCache:
    """What PreActivation.forward keeps: u = N(a_prev), v = act(u), and the output."""

    __slots__ = ("a_prev", "norm", "u", "v", "a")

    def __init__(self, a_prev: Array, norm, u: Array, v: Array, a: Array):
        self.a_prev, self.norm, self.u, self.v, self.a = a_prev, norm, u, v, a


class PreDelta:
    """A pre-activation layer's backward pass: δ of its output (for W and b), δu (for N) and ∂C/∂a_prev."""

    __slots__ = ("out", "du", "below")

    def __init__(self, out: Scaled, du: Scaled, below: Scaled):
        self.out, self.du, self.below = out, du, below


class PreActivation(_Linear):
    """He et al. 2016b's pre-activation unit, a residual branch: a = W act(N(a_prev)) + b."""

    def check(self, where: str) -> None:
        _check_linear(self.w, self.b, where)
        _check_norm(self.norm, self.n_in, where)

    def forward(self, a_prev: Array) -> PreCache:
        norm, u = _normalize(self.norm, a_prev)
        v = self.activation.fn(u)
        return PreCache(a_prev, norm, u, v, v @ self.w.T + self.b)

    def delta(self, grad_a: Scaled, cache: PreCache, slope=None) -> PreDelta:
        """The whole backward pass: δ = ∂C/∂a for W and b, δu = (Wᵀ δ) ⊙ act'(u), ∂C/∂a_prev through N."""
        below = Scaled(grad_a.mantissa @ self.w, grad_a.exponent)
        du = times(below, self.activation.slope(cache.u) if slope is None else slope)
        return PreDelta(grad_a, du, _norm_back(self.norm, du, cache.norm))

    def through(self, delta: PreDelta, cache: PreCache) -> Scaled:
        return delta.below

    def gradients(self, deltas: list[PreDelta], caches: list[PreCache], weights: bool, norms: bool):
        """(∂C/∂W, ∂C/∂b[, ∂C/∂gain, ∂C/∂shift]) and the shares, as for Dense, with act(N(a_prev)) as the input."""
        nabla_w, nabla_b, ln_w, ln_b = stream_gradients([d.out for d in deltas], [c.v for c in caches], weights, norms)
        extra = _norm_gradients(self.norm, [d.du for d in deltas], [c.norm for c in caches], weights)
        return (nabla_w, nabla_b) + extra, ln_w, ln_b

    def step_slopes(self, caches: list[PreCache]) -> list:
        return _stacked_slopes(self.activation, [c.u for c in caches])

    def chain_signature(self):
        return None


# --- Residual --------------------------------------------------------------------------------------------------------


class ResidualCache:
    """The branch's cache and the sum a = a_prev + s · branch(a_prev); the branch's quantities (z, f, …) read through."""

    __slots__ = ("a_prev", "branch", "a")

    def __init__(self, a_prev: Array, branch, a: Array):
        self.a_prev, self.branch, self.a = a_prev, branch, a

    def __getattr__(self, name: str):
        return getattr(self.branch, name)


class ResidualDelta:
    """∂C/∂a, passed straight on by the skip, and the branch's δ."""

    __slots__ = ("grad_a", "branch")

    def __init__(self, grad_a: Scaled, branch):
        self.grad_a, self.branch = grad_a, branch


class Residual:
    """A skip connection around a branch layer of equal widths: a = a_prev + scale · branch(a_prev)."""

    def __init__(self, branch, scale: float = 1.0):
        self.branch, self.scale = branch, float(scale)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.branch.parameter_names

    def parameters(self) -> tuple[Array, ...]:
        return self.branch.parameters()

    def with_parameters(self, arrays) -> Residual:
        return Residual(self.branch.with_parameters(arrays), self.scale)

    @property
    def n_in(self) -> int:
        return self.branch.n_in

    @property
    def n_out(self) -> int:
        return self.branch.n_out

    activation = property(lambda self: self.branch.activation)
    gate = property(lambda self: self.branch.gate)
    norm = property(lambda self: self.branch.norm)

    def check(self, where: str) -> None:
        if not hasattr(self.branch, "chain_signature"):
            raise ValueError(f"{where}'s branch must be a layer (Dense, Gated, PreActivation), not "
                             f"{type(self.branch).__name__}")
        self.branch.check(f"{where}'s branch")
        if self.branch.n_in != self.branch.n_out:
            raise ValueError(f"{where}: a skip connection needs a branch of equal widths, not {self.branch.n_in} → "
                             f"{self.branch.n_out}")
        if not np.isfinite(self.scale):
            raise ValueError(f"{where}'s scale must be a finite number, not {self.scale!r}")

    def forward(self, a_prev: Array) -> ResidualCache:
        branch = self.branch.forward(a_prev)
        out = branch.a if self.scale == 1.0 else self.scale * branch.a
        return ResidualCache(a_prev, branch, a_prev + out)

    def delta(self, grad_a: Scaled, cache: ResidualCache, slopes=None) -> ResidualDelta:
        into = grad_a if self.scale == 1.0 else Scaled(self.scale * grad_a.mantissa, grad_a.exponent)
        return ResidualDelta(grad_a, self.branch.delta(into, cache.branch, slopes))

    def through(self, delta: ResidualDelta, cache: ResidualCache) -> Scaled:
        """∂C/∂a_prev = ∂C/∂a + the branch's ∂C/∂a_prev."""
        return add([delta.grad_a, self.branch.through(delta.branch, cache.branch)])

    def gradients(self, deltas: list[ResidualDelta], caches: list[ResidualCache], weights: bool, norms: bool):
        return self.branch.gradients([d.branch for d in deltas], [c.branch for c in caches], weights, norms)

    def step_slopes(self, caches: list[ResidualCache]) -> list:
        return self.branch.step_slopes([c.branch for c in caches])

    # the width-1 chain kernel

    def chain_signature(self):
        inner = self.branch.chain_signature()
        return None if inner is None else ("residual", self.scale, inner)

    def scalar_run(self, a: float, v: dict) -> tuple[dict, float]:
        return self.branch.scalar_run(a, v, skip=self.scale)

    def chain_locals(self, q: dict, v: dict, a_prev: Array) -> ChainLocals:
        """One multiplier, 1 + s · the branch's factor; ∂a/∂b = s · the branch's, exponents kept."""
        inner = self.branch.chain_locals(q, v, a_prev)
        first_m, first_e = inner.first
        factor = 1.0 + self.scale * _plain(inner.first) * inner.second
        partials = {}
        for name, partial in inner.partials.items():
            m, e = (np.ones_like(first_m), np.zeros_like(first_e)) if partial is None else partial
            partials[name] = (self.scale * first_m * m, first_e + e)
        ones = (np.ones_like(factor), np.zeros(factor.shape, dtype=np.int64))
        return ChainLocals(ones, factor, partials, inner.weights, inner.shown)
