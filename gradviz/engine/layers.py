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
from gradviz.engine.scaled import Scaled, add, normalized, rows_at_common_exponent, times

Array = np.ndarray


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
        width = whole_number(width, "width")
        for name, value in (("forget_bias", forget_bias), ("input_bias", input_bias)):
            if as_numbers(value, name).ndim != 0:
                raise ValueError(f"{name} must be one number, not an array")
        zeros = np.zeros((width, width))
        return Gate(zeros, np.full(width, float(forget_bias)), zeros, np.full(width, float(input_bias)))


def _mean_outer(delta: Scaled, a_prev: Array, weights: bool) -> tuple[Scaled | None, Scaled]:
    """(mean_r δ_r a_prev,rᵀ, mean_r δ_r): a weight's and a bias's gradient from a row-scaled δ (the weight's
    only if asked for: it is the costliest product of the backward pass)."""
    m, exponent = rows_at_common_exponent(delta)
    rows = len(m)
    nabla_w = Scaled(m.T @ a_prev / rows, exponent) if weights else None
    return nabla_w, Scaled(m.sum(axis=0) / rows, exponent)


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

    def delta(self, grad_a: Scaled, cache: DenseCache) -> Scaled:
        """δ = ∂C/∂a ⊙ act'(z)."""
        return times(grad_a, self.activation.slope(cache.z))

    def backward(self, delta: Scaled, cache: DenseCache, need_grad_a_prev: bool = True, weights: bool = True):
        """(∂C/∂W, ∂C/∂b) (∂C/∂W None unless weights), and ∂C/∂a_prev = Wᵀ δ (None when not needed)."""
        grads = _mean_outer(delta, cache.a_prev, weights)
        if not need_grad_a_prev:
            return grads, None
        return grads, normalized(Scaled(delta.mantissa @ self.w, delta.exponent))

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

    def delta(self, grad_a: Scaled, cache: GatedCache) -> GatedDelta:
        """δz = ∂C/∂a ⊙ i ⊙ act'(z), δf = ∂C/∂a ⊙ a_prev ⊙ σ'(zf), δi = ∂C/∂a ⊙ g ⊙ σ'(zi)."""
        sigmoid_slope = get_activation("sigmoid").slope
        return GatedDelta(grad_a,
                          times(times(grad_a, cache.i), self.activation.slope(cache.z)),
                          times(times(grad_a, cache.a_prev), sigmoid_slope(cache.zf)),
                          times(times(grad_a, cache.g), sigmoid_slope(cache.zi)))

    def backward(self, delta: GatedDelta, cache: GatedCache, need_grad_a_prev: bool = True, weights: bool = True):
        """(∂C/∂W, ∂C/∂b, ∂C/∂Wf, ∂C/∂bf, ∂C/∂Wi, ∂C/∂bi) (weights None unless asked for), and ∂C/∂a_prev
        (None when not needed)."""
        a_prev, gate = cache.a_prev, self.gate
        grads = tuple(g for d in (delta.dz, delta.df, delta.di) for g in _mean_outer(d, a_prev, weights))
        if not need_grad_a_prev:
            return grads, None
        through = [times(delta.grad_a, cache.f)] + [Scaled(d.mantissa @ w, d.exponent) for d, w in
                                                    ((delta.dz, self.w), (delta.df, gate.wf), (delta.di, gate.wi))]
        return grads, normalized(add(through))

    @staticmethod
    def local_factor(w, slope, f, i, a_prev, g, wf, slope_f, wi, slope_i):
        """∂a/∂a_prev of a width-1 gated layer: f + i w act'(z) + a_prev σ'(zf) wf + g σ'(zi) wi."""
        return f + i * w * slope + a_prev * slope_f * wf + g * slope_i * wi

