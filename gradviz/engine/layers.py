"""Layers, each with its forward pass and its backward pass side by side.

Layer l maps a_{l-1} to a_l (rows of a batch; W_l has shape (n_l, n_{l-1})):

    Dense   z = W a_prev + b,  a = act(z)
            δ = ∂C/∂a ⊙ act'(z)
            ∂C/∂W = mean_r δ a_prevᵀ,  ∂C/∂b = mean_r δ,  ∂C/∂a_prev = Wᵀ δ
    Gated   (LSTM-style, an additive cell path across layers; needs n_l = n_{l-1})
            g = act(z),  z = W a_prev + b
            f = σ(Wf a_prev + bf)   forget gate        i = σ(Wi a_prev + bi)   input gate
            a = f ⊙ a_prev + i ⊙ g
            δz = ∂C/∂a ⊙ i ⊙ act'(z),  δf = ∂C/∂a ⊙ a_prev ⊙ σ'(zf),  δi = ∂C/∂a ⊙ g ⊙ σ'(zi)
            ∂C/∂a_prev = f ⊙ ∂C/∂a + Wᵀ δz + Wfᵀ δf + Wiᵀ δi
            parameter gradients as for Dense, one (W, b) pair per δ

Backward quantities are Scaled (one binary exponent per row), so nothing overflows or underflows, and in
float64's range the mantissas are the plain float computation bit for bit.

For a layer of width 1 the Jacobian ∂a_l/∂a_{l-1} is one number, the article's factor; `local_factor`
gives it, and the width-1 chain kernel and the chain analysis both use these formulas:
    Dense   ∂a/∂a_prev = w act'(z)                                         ∂a/∂b = act'(z)
    Gated   ∂a/∂a_prev = f + i w act'(z) + a_prev σ'(zf) wf + g σ'(zi) wi     ∂a/∂b = i act'(z)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradviz.engine.activations import Activation, get_activation, sigmoid
from gradviz.engine.checks import as_numbers, whole_number
from gradviz.engine.scaled import LN2, Scaled, add, per_step_norms, stack_rows, sum_over_steps, times

Array = np.ndarray
MAX_WIDTH = 100_000


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


def stream_gradients(deltas: list[Scaled], a_prevs: list[Array], weights: bool, norms: bool):
    """One δ stream of a layer over the steps that use it (one step for a plain layer, T for an unrolled one):
    (Σ_t mean_r δ_t a_prev,tᵀ or None, Σ_t mean_r δ_t, ln ‖each step's weight share‖, ln ‖each step's bias
    share‖) — the shares' norms None unless asked for. Each step's rows are brought to that step's largest
    exponent, so a step far below the others keeps its own digits."""
    if len(deltas) == 1 and isinstance(deltas[0].exponent, int):
        return _one_step_gradients(deltas[0], a_prevs[0], weights, norms)
    m, e = stack_rows(deltas)
    rows = m.shape[1]
    step_top = e.max(axis=1)
    shift = e - step_top[:, None]
    if shift.any():
        with np.errstate(under="ignore"):
            m = np.ldexp(m, np.maximum(shift, -2000)[..., None])
    bias_steps = m.sum(axis=1) / rows
    ln_b = per_step_norms(bias_steps, step_top) if norms else None
    nabla_b = sum_over_steps(bias_steps, step_top)
    if not weights:
        return None, nabla_b, None, ln_b
    if len(deltas) == 1:
        nabla_w = Scaled(m[0].T @ a_prevs[0] / rows, int(step_top[0]))
        ln_w = per_step_norms(nabla_w.mantissa[None], step_top) if norms else None
        return nabla_w, nabla_b, ln_w, ln_b
    a = np.stack(a_prevs)
    top = int(step_top.max())
    with np.errstate(under="ignore"):
        aligned = np.ldexp(m, np.maximum(step_top - top, -2000)[:, None, None])
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


def _stacked_slopes(activation: Activation, z: list[Array]) -> list:
    """act'(z) for every step at once (an unrolled layer's T slopes in one call), as one entry per step."""
    slope = activation.slope(np.stack(z))
    if isinstance(slope, Scaled):
        return [Scaled(slope.mantissa[t], slope.exponent[t]) for t in range(len(z))]
    return list(slope)


class DenseCache:
    """What Dense.forward keeps for the backward pass."""

    __slots__ = ("a_prev", "z", "a")

    def __init__(self, a_prev: Array, z: Array, a: Array):
        self.a_prev, self.z, self.a = a_prev, z, a


class Dense:
    """A plain layer: z = W a_prev + b, a = act(z)."""

    parameter_names = ("w", "b")
    gate = None

    def __init__(self, w: Array, b: Array, activation: Activation):
        self.w, self.b, self.activation = w, b, activation

    def parameters(self) -> tuple[Array, ...]:
        return self.w, self.b

    def forward(self, a_prev: Array) -> DenseCache:
        z = a_prev @ self.w.T + self.b
        return DenseCache(a_prev, z, self.activation.fn(z))

    def delta(self, grad_a: Scaled, cache: DenseCache, slope=None) -> Scaled:
        """δ = ∂C/∂a ⊙ act'(z) (slope: act'(z) if already computed)."""
        return times(grad_a, self.activation.slope(cache.z) if slope is None else slope)

    def through(self, delta: Scaled, cache: DenseCache) -> Scaled:
        """∂C/∂a_prev = Wᵀ δ, row by row."""
        return Scaled(delta.mantissa @ self.w, delta.exponent)

    def gradients(self, deltas: list[Scaled], caches: list[DenseCache], weights: bool, norms: bool):
        """(∂C/∂W, ∂C/∂b) summed over the steps, and each step's (ln ‖∂C/∂W‖, ln ‖∂C/∂b‖) share or None."""
        nabla_w, nabla_b, ln_w, ln_b = stream_gradients(deltas, [c.a_prev for c in caches], weights, norms)
        return (nabla_w, nabla_b), ln_w, ln_b

    def step_slopes(self, caches: list[DenseCache]) -> list:
        """act'(z) of every step, computed at once."""
        return _stacked_slopes(self.activation, [c.z for c in caches])

    @staticmethod
    def local_factor(w, slope):
        """∂a/∂a_prev of a width-1 layer: w act'(z)."""
        return w * slope


class GatedCache:
    """What Gated.forward keeps for the backward pass."""

    __slots__ = ("a_prev", "z", "g", "zf", "f", "zi", "i", "a")

    def __init__(self, a_prev, z, g, zf, f, zi, i, a):
        self.a_prev, self.z, self.g, self.zf, self.f, self.zi, self.i, self.a = a_prev, z, g, zf, f, zi, i, a


class GatedDelta:
    """A gated layer's δ terms, with the ∂C/∂a they came from (the cell path passes it on)."""

    __slots__ = ("grad_a", "dz", "df", "di")

    def __init__(self, grad_a: Scaled, dz: Scaled, df: Scaled, di: Scaled):
        self.grad_a, self.dz, self.df, self.di = grad_a, dz, df, di


class Gated:
    """An LSTM-style gated layer: a = f ⊙ a_prev + i ⊙ act(W a_prev + b)."""

    parameter_names = ("w", "b", "wf", "bf", "wi", "bi")

    def __init__(self, w: Array, b: Array, activation: Activation, gate: Gate):
        self.w, self.b, self.activation, self.gate = w, b, activation, gate

    def parameters(self) -> tuple[Array, ...]:
        gate = self.gate
        return self.w, self.b, gate.wf, gate.bf, gate.wi, gate.bi

    def forward(self, a_prev: Array) -> GatedCache:
        gate = self.gate
        z = a_prev @ self.w.T + self.b
        zf = a_prev @ gate.wf.T + gate.bf
        zi = a_prev @ gate.wi.T + gate.bi
        g, f, i = self.activation.fn(z), sigmoid(zf), sigmoid(zi)
        return GatedCache(a_prev, z, g, zf, f, zi, i, f * a_prev + i * g)

    def delta(self, grad_a: Scaled, cache: GatedCache, slopes=None) -> GatedDelta:
        """δz = ∂C/∂a ⊙ i ⊙ act'(z), δf = ∂C/∂a ⊙ a_prev ⊙ σ'(zf), δi = ∂C/∂a ⊙ g ⊙ σ'(zi)
        (slopes: (act'(z), σ'(zf), σ'(zi)) if already computed)."""
        if slopes is None:
            sigmoid_slope = get_activation("sigmoid").slope
            slopes = (self.activation.slope(cache.z), sigmoid_slope(cache.zf), sigmoid_slope(cache.zi))
        slope, slope_f, slope_i = slopes
        return GatedDelta(grad_a, times(times(grad_a, cache.i), slope), times(times(grad_a, cache.a_prev), slope_f),
                          times(times(grad_a, cache.g), slope_i))

    def through(self, delta: GatedDelta, cache: GatedCache) -> Scaled:
        """∂C/∂a_prev = f ⊙ ∂C/∂a + Wᵀ δz + Wfᵀ δf + Wiᵀ δi, row by row."""
        gate = self.gate
        return add([times(delta.grad_a, cache.f)] + [Scaled(d.mantissa @ w, d.exponent) for d, w in
                                                     ((delta.dz, self.w), (delta.df, gate.wf), (delta.di, gate.wi))])

    def gradients(self, deltas: list[GatedDelta], caches: list[GatedCache], weights: bool, norms: bool):
        """(∂C/∂W, ∂C/∂b, ∂C/∂Wf, ∂C/∂bf, ∂C/∂Wi, ∂C/∂bi) summed over the steps, and each step's
        (ln ‖∂C/∂W‖, ln ‖∂C/∂b‖) share or None."""
        a_prevs = [c.a_prev for c in caches]
        grads, shares = [], None
        for stream in ("dz", "df", "di"):
            nabla_w, nabla_b, ln_w, ln_b = stream_gradients([getattr(d, stream) for d in deltas], a_prevs, weights,
                                                            norms and stream == "dz")
            grads += [nabla_w, nabla_b]
            shares = shares or (ln_w, ln_b)
        return tuple(grads), shares[0], shares[1]

    def step_slopes(self, caches: list[GatedCache]) -> list:
        """(act'(z), σ'(zf), σ'(zi)) of every step, computed at once."""
        sigmoid = get_activation("sigmoid")
        return list(zip(_stacked_slopes(self.activation, [c.z for c in caches]),
                        _stacked_slopes(sigmoid, [c.zf for c in caches]),
                        _stacked_slopes(sigmoid, [c.zi for c in caches])))

    @staticmethod
    def local_factor(w, slope, f, i, a_prev, g, wf, slope_f, wi, slope_i):
        """∂a/∂a_prev of a width-1 gated layer: f + i w act'(z) + a_prev σ'(zf) wf + g σ'(zi) wi."""
        return f + i * w * slope + a_prev * slope_f * wf + g * slope_i * wi

