"""Normalization layers: layer norm (Ba et al. 2016) and batch norm (Ioffe & Szegedy 2015), forward and backward
side by side. Both map x (rows × n) to a = gain ⊙ x̂ + shift, with

    layer norm   x̂ = (x − μ) / √(σ² + ε),  μ, σ² the mean and variance of each row over its n units
    batch norm   x̂ = (x − μ) / √(σ² + ε),  μ, σ² the mean and variance of each unit over the rows of the batch

(ε = 1e-5, PyTorch's; batch statistics, as in training: gradviz has no running averages). Backward, with
ĝ = ∂C/∂a ⊙ gain and the means over the same axis as the statistics:

    ∂C/∂x = (ĝ − mean ĝ − x̂ ⊙ mean(ĝ ⊙ x̂)) / √(σ² + ε)
    ∂C/∂gain = mean_rows ∂C/∂a ⊙ x̂,   ∂C/∂shift = mean_rows ∂C/∂a

Consequences the page relies on: batch norm's ∂C/∂x sums to 0 over the batch, so the bias of a linear map right
before it has no effect and a gradient of exactly 0 (its Dense layer says so exactly, not as rounding noise); the
layer norm of one unit is 0 (x − μ = 0), so a width-1 chain cannot be layer-normalized, and a layer of width 1
raises ValueError.

Like every layer, each speaks the protocol of gradviz.engine.layers; as a part of a Dense layer (its `norm`) it
sits between the linear map and the activation.
"""

from __future__ import annotations

import numpy as np

from gradviz.engine.checks import as_numbers
from gradviz.engine.scaled import SHIFT_FLOOR, Scaled, normalized, per_step_norms, sum_over_steps

Array = np.ndarray
EPSILON = 1e-5


class NormCache:
    """What a normalization keeps for its backward pass: x̂, 1/√(σ² + ε) and the output a."""

    __slots__ = ("x_hat", "inv_std", "a")

    def __init__(self, x_hat: Array, inv_std: Array, a: Array):
        self.x_hat, self.inv_std, self.a = x_hat, inv_std, a


class _Normalization:
    """The shared part of layer norm and batch norm: parameters, the affine map and its gradients."""

    parameter_names = ("gain", "shift")
    gate = None
    activation = None
    norm = None
    axis: int = 1
    cancels_shift = False

    def __init__(self, gain: Array, shift: Array):
        self.gain, self.shift = gain, shift

    @classmethod
    def identity(cls, width: int):
        """gain 1, shift 0: the initialization every library uses."""
        return cls(np.ones(width), np.zeros(width))

    @property
    def n_in(self) -> int:
        return len(self.gain)

    n_out = n_in

    def parameters(self) -> tuple[Array, ...]:
        return self.gain, self.shift

    def with_parameters(self, arrays):
        return type(self)(next(arrays), next(arrays))

    def check(self, where: str) -> None:
        """ValueError unless gain and shift are two vectors of one length."""
        gain, shift = (as_numbers(v, f"{where}'s {name}") for v, name in zip(self.parameters(), self.parameter_names))
        if gain.ndim != 1 or gain.shape != shift.shape or gain.size == 0:
            raise ValueError(f"{where} needs gain and shift vectors of one length, not {gain.shape} and {shift.shape}")

    def forward(self, x: Array) -> NormCache:
        mean = x.mean(axis=self.axis, keepdims=True)
        centred = x - mean
        inv_std = 1.0 / np.sqrt((centred * centred).mean(axis=self.axis, keepdims=True) + EPSILON)
        x_hat = centred * inv_std
        return NormCache(x_hat, inv_std, x_hat * self.gain + self.shift)

    def delta(self, grad_a: Scaled, cache: NormCache, slopes=None) -> Scaled:
        """∂C/∂a itself: both the parameters' gradients and ∂C/∂x are read from it."""
        return grad_a

    def through(self, grad_a: Scaled, cache: NormCache) -> Scaled:
        """∂C/∂x = (ĝ − mean ĝ − x̂ ⊙ mean(ĝ ⊙ x̂)) / √(σ² + ε), ĝ = ∂C/∂a ⊙ gain."""
        grad_a = self._aligned(grad_a)
        g = grad_a.mantissa * self.gain
        x_hat = cache.x_hat
        projected = g - g.mean(axis=self.axis, keepdims=True) \
            - x_hat * (g * x_hat).mean(axis=self.axis, keepdims=True)
        return normalized(Scaled(projected * cache.inv_std, grad_a.exponent))

    def _aligned(self, grad_a: Scaled) -> Scaled:
        """grad_a as the statistics need it (layer norm: as it is, one exponent per row)."""
        return grad_a

    def gradients(self, deltas: list[Scaled], caches: list[NormCache], weights: bool, norms: bool):
        """(∂C/∂gain, ∂C/∂shift) summed over the steps, and each step's ln-norm shares (gain, shift)."""
        gain_steps, shift_steps, exponents = [], [], []
        for delta, cache in zip(deltas, caches):
            delta = _one_exponent(delta)
            rows = len(delta.mantissa)
            gain_steps.append((delta.mantissa * cache.x_hat).sum(axis=0) / rows)
            shift_steps.append(delta.mantissa.sum(axis=0) / rows)
            exponents.append(delta.exponent)
        exponents = np.array(exponents, dtype=np.int64)
        gain, shift = np.array(gain_steps), np.array(shift_steps)
        shares = (per_step_norms(gain, exponents), per_step_norms(shift, exponents)) if norms else (None, None)
        return (sum_over_steps(gain, exponents), sum_over_steps(shift, exponents)), shares[0], shares[1]

    def step_slopes(self, caches: list) -> list:
        return [None] * len(caches)

    def chain_signature(self):
        """Not a width-1 chain's layer: a width-1 layer norm is 0, and batch norm mixes the rows."""
        return None


def _one_exponent(x: Scaled) -> Scaled:
    """x with its rows brought to one exponent, the largest of its nonzero rows (rows far below it underflow, as
    they would against it in any float sum)."""
    if isinstance(x.exponent, int):
        return x
    e = np.asarray(x.exponent).reshape(-1)
    nonzero = np.any(x.mantissa != 0, axis=1)
    top = int(e[nonzero].max()) if nonzero.any() else 0
    with np.errstate(under="ignore"):
        return Scaled(np.ldexp(x.mantissa, np.maximum(e - top, SHIFT_FLOOR)[:, None]), top)


class LayerNorm(_Normalization):
    """Layer norm: each row normalized over its units, then gain ⊙ x̂ + shift."""

    axis = 1

    def check(self, where: str) -> None:
        super().check(where)
        if len(self.gain) < 2:
            raise ValueError(f"{where}: the layer norm of one neuron is 0 (x − mean x = 0), so a layer of width 1 "
                             "cannot be layer-normalized")


class BatchNorm(_Normalization):
    """Batch norm: each unit normalized over the rows of the batch, then gain ⊙ x̂ + shift."""

    axis = 0
    cancels_shift = True

    def _aligned(self, grad_a: Scaled) -> Scaled:
        """One exponent for the whole batch: the rows are mixed by the batch's means."""
        return _one_exponent(grad_a)


NORMS = {"layer": LayerNorm, "batch": BatchNorm}


def get_norm(name):
    """The normalization class called `name` ("batch", "layer"), or None for None."""
    if name is None:
        return None
    if not isinstance(name, str) or name not in NORMS:
        raise ValueError(f"norm must be None, 'batch' or 'layer', not {name!r}")
    return NORMS[name]
