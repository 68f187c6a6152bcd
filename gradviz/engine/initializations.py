"""Initialization schemes, one registry: how a layer's W (n_out × n_in) and b (n_out) are first drawn.

    standard_normal  w, b ~ N(0, 1)                                   the article's "standard" choice
    nielsen          w ~ N(0, 1/n_in), b ~ N(0, 1)                     Nielsen's network2.py default
    pytorch          w, b ~ U(−1/√n_in, 1/√n_in)                       torch.nn.Linear's default
    xavier           w ~ U(±√(6/(n_in + n_out))), b = 0                Glorot & Bengio 2010, "normalized"
    he               w ~ N(0, 2/n_in), b = 0                           He et al. 2015 (Kaiming normal)
    orthogonal       w = Haar-random semi-orthogonal matrix, b = 0     Saxe et al. 2014

`gain` multiplies every weight (never a bias). A uniform U(±β) has variance β²/3.

Mean-field variances (gradviz.engine.meanfield): σ_w² = Var(w) · n_in (the variance of one unit of W a
over a random W, per unit of mean-square input) and σ_b² = Var(b):

    standard_normal  σ_w² = n_in            σ_b² = 1
    nielsen          σ_w² = 1               σ_b² = 1
    pytorch          σ_w² = 1/3             σ_b² = 1/(3 n_in)
    xavier           σ_w² = 2 n_in/(n_in + n_out)   σ_b² = 0
    he               σ_w² = 2               σ_b² = 0
    orthogonal       σ_w² = n_in/max(n_in, n_out)  σ_b² = 0   (entries' mean square 1/max(n_in, n_out))
    each σ_w² times gain².

Orthogonal: for A (max(n_out, n_in) × min(n_out, n_in)) with N(0, 1) entries and A = QR, Q·sign(diag R)
is Haar-distributed (Mezzadri 2007; the sign fix removes the bias of the QR convention); W is that
matrix (orthonormal columns, n_out ≥ n_in) or its transpose (orthonormal rows, n_out < n_in).

initialize draws from numpy.random.default_rng(seed) only, in Nielsen's order: every layer's biases,
then every layer's weights; equal arguments give bit-identical networks, and the structural options (skip
connections, normalization, gates) draw nothing more: they change what the same W and b are part of.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

from gradviz.engine.activations import get_activation
from gradviz.engine.network import Design, Network

Array = np.ndarray
Variance = Callable[[int, int], float]


@dataclass(frozen=True)
class Scheme:
    """One initialization scheme: the laws of W and b and their variances as functions of (n_in, n_out).

    weight_law: "normal", "uniform" or "orthogonal"; bias_law: "normal", "uniform" or "zero".
    """

    name: str
    label: str
    formula: str
    weight_law: str
    weight_variance: Variance
    bias_law: str
    bias_variance: Variance

    def variances(self, n_in: int, n_out: int, gain: float = 1.0) -> tuple[float, float]:
        """(σ_w², σ_b²) for mean-field theory: σ_w² = gain² · Var(w) · n_in, σ_b² = Var(b)."""
        return gain * gain * self.weight_variance(n_in, n_out) * n_in, self.bias_variance(n_in, n_out)


def _zero(n_in: int, n_out: int) -> float:
    return 0.0


SCHEMES: dict[str, Scheme] = {scheme.name: scheme for scheme in (
    Scheme("standard_normal", "N(0, 1)", "w, b ~ N(0, 1)",
           "normal", lambda n_in, n_out: 1.0, "normal", lambda n_in, n_out: 1.0),
    Scheme("nielsen", "Nielsen", "w ~ N(0, 1/n_in), b ~ N(0, 1)",
           "normal", lambda n_in, n_out: 1.0 / n_in, "normal", lambda n_in, n_out: 1.0),
    Scheme("pytorch", "PyTorch default", "w, b ~ U(−1/√n_in, 1/√n_in)",
           "uniform", lambda n_in, n_out: 1.0 / (3.0 * n_in), "uniform", lambda n_in, n_out: 1.0 / (3.0 * n_in)),
    Scheme("xavier", "Xavier (Glorot)", "w ~ U(±√(6/(n_in + n_out))), b = 0",
           "uniform", lambda n_in, n_out: 2.0 / (n_in + n_out), "zero", _zero),
    Scheme("he", "He (Kaiming)", "w ~ N(0, 2/n_in), b = 0",
           "normal", lambda n_in, n_out: 2.0 / n_in, "zero", _zero),
    Scheme("orthogonal", "Orthogonal", "w = gain · Q, Q Haar-random with orthonormal rows or columns, b = 0",
           "orthogonal", lambda n_in, n_out: 1.0 / max(n_in, n_out), "zero", _zero),
)}


def get_scheme(scheme: str) -> Scheme:
    """The registered scheme called `scheme`."""
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(map(repr, SCHEMES))}; got {scheme!r}.")
    return SCHEMES[scheme]


def _draw(law: str, variance: float, shape: tuple, rng: np.random.Generator) -> Array:
    if law == "normal":
        return math.sqrt(variance) * rng.standard_normal(shape)
    if law == "uniform":
        bound = math.sqrt(3.0 * variance)
        return rng.uniform(-bound, bound, shape)
    return np.zeros(shape)


def semi_orthogonal(n_out: int, n_in: int, rng: np.random.Generator) -> Array:
    """A Haar-random (n_out × n_in) matrix with orthonormal columns (n_out ≥ n_in) or rows (n_out < n_in)."""
    q, r = np.linalg.qr(rng.standard_normal((max(n_out, n_in), min(n_out, n_in))))
    q = q * np.sign(np.diag(r))
    return q if n_out >= n_in else q.T


def initial_weights(n_out: int, n_in: int, scheme: str, rng: np.random.Generator, gain: float = 1.0) -> Array:
    """W (n_out × n_in) drawn by `scheme` from rng, times gain (e.g. an RNN's recurrent matrix, n_out = n_in)."""
    chosen = get_scheme(scheme)
    if chosen.weight_law == "orthogonal":
        return gain * semi_orthogonal(n_out, n_in, rng)
    return gain * _draw(chosen.weight_law, chosen.weight_variance(n_in, n_out), (n_out, n_in), rng)


def initial_biases(n_out: int, n_in: int, scheme: str, rng: np.random.Generator) -> Array:
    """b (n_out) drawn by `scheme` from rng (zeros for xavier, he and orthogonal, with no draw)."""
    chosen = get_scheme(scheme)
    return _draw(chosen.bias_law, chosen.bias_variance(n_in, n_out), (n_out,), rng)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check(sizes, seed, gain, activation: str, output_activation: str) -> list[int]:
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 2 or not all(_is_int(n) and n > 0 for n in sizes):
        raise ValueError(f"sizes must be a list of at least two positive integers [n_0, ..., n_L]; got {sizes!r}.")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}.")
    if not isinstance(gain, numbers.Real) or isinstance(gain, bool) or not (math.isfinite(gain) and gain > 0):
        raise ValueError(f"gain must be a finite number > 0; got {gain!r}.")
    for name, value in (("activation", activation), ("output_activation", output_activation)):
        try:
            get_activation(value)
        except (ValueError, TypeError):
            raise ValueError(f"{name} must be one of 'sigmoid', 'tanh', 'relu'; got {value!r}.") from None
    return [int(n) for n in sizes]


def initialize(sizes, scheme: str, seed: int = 0, activation: str = "sigmoid", output_activation: str = "sigmoid",
               gain: float = 1.0, residual=False, norm: str | None = None, branch_scale: float = 1.0,
               forget_bias: float | None = None) -> Network:
    """A gradviz.Network with widths sizes = [n_0, ..., n_L], drawn by `scheme` from default_rng(seed).

    Hidden layers use `activation`, the last layer `output_activation`; weights are multiplied by gain.
    residual: False, True (He et al. 2016b's pre-activation blocks h = h_prev + s·(W act(N(h_prev)) + b) on every
    hidden layer that keeps its width), "pre" (the same) or "post" (a = a_prev + s·act(N(W a_prev + b)), the
    article's chain's form); s = branch_scale. norm: None, "batch" or "layer", in every hidden layer (after the
    linear map; before the activation of a pre-activation block). forget_bias: LSTM-style constant gates on every
    hidden layer that keeps its width. See gradviz.engine.network.Design.
    """
    get_scheme(scheme)
    sizes = _check(sizes, seed, gain, activation, output_activation)
    if residual not in (False, True, "pre", "post"):
        raise ValueError(f"residual must be False, True, 'pre' or 'post'; got {residual!r}.")
    design = Design(activation, forget_bias, norm, "pre" if residual is True else residual or None, branch_scale)
    rng = np.random.default_rng(seed)
    shapes = list(zip(sizes[1:], sizes[:-1]))
    biases = [initial_biases(n_out, n_in, scheme, rng) for n_out, n_in in shapes]
    weights = [initial_weights(n_out, n_in, scheme, rng, gain) for n_out, n_in in shapes]
    layers = [design.layer(w, b) for w, b in zip(weights[:-1], biases[:-1])]
    return Network.of(layers + [Design(output_activation).layer(weights[-1], biases[-1])])
