"""Deep networks at initialization: how activations and gradients change from layer to layer.

A plain MLP [784, width × depth, 10] — `depth` hidden layers of `activation`, a sigmoid output layer of
10 units — drawn by an initialization scheme (gradviz.engine.initializations) and evaluated, untrained,
on a fixed batch of the shipped digits. Per hidden layer l = 1..depth:

    spread     std of a_l over the batch and the units
    gradient   ‖∂C/∂b_l‖ from gradviz.backprop, C the cross-entropy cost averaged over the batch: the
               gradient a training step uses (Nielsen's per-layer "speed of learning")
    per digit  the root mean square over the digits of ‖∂c/∂a_l‖, c one digit's cost (from backprop's
               ‖∂C/∂a_l‖ · √batch): the quantity mean-field theory follows

each as the median over `seeds` networks (seeds 0, 1, …) with a 10th–90th percentile band, and the
mean-field prediction (gradviz.engine.meanfield) layer by layer:

    q_1 = σ_w²(1) · mean_i x_i² + σ_b²(1)            per digit x (the digits' own mean square)
    q_{l+1} = σ_w²(l+1) · E[φ(√q_l z)²] + σ_b²(l+1)   (σ_w²(l), σ_b²(l): the scheme's variances, W_l, b_l)
    spread_l² = mean_x E[φ(√q_l z)²] − (mean_x E[φ(√q_l z)])²
    ‖∂C/∂b_l‖ = ‖∂C/∂b_{l+1}‖ · √(σ_w²(l+1) · mean_x E[φ'(√q_l z)²])   (√χ₁ at q_l; constant at q*)

    ‖∂c/∂a_l‖ = ‖∂c/∂a_{l+1}‖ · √(σ_w²(l+1) · mean_x E[φ'(√q_{l+1} z)²])

Each theory line starts at the measured median of the last hidden layer and runs back with those
factors: the theory predicts how the gradient changes across layers, not its size at the output.

What the theory leaves out: ‖∂C/∂b_l‖ is the norm of a mean over digits, Σ_{r,s} δ_r·δ_s / B², and the
cross terms shrink by σ_w² E[φ'(u_r) φ'(u_s)] per layer, below χ₁ wherever two digits' z are not
perfectly correlated. Near the output of a deep ReLU network the digits' z are almost aligned (the
correlation map pushes c to 1), in the first layers less so, so ‖∂C/∂b_l‖ falls faster towards the
input than √χ₁ says (He init, 30 layers: about 0.94 per layer instead of 1), while the per-digit gradient
follows √χ₁ to within a fraction of a percent per layer. For 5 tanh layers the two agree.

Choices:
    digits   the batch is `batch` digits of mnist_1k spread evenly over its rows (it is ordered by class,
             so every class is present), pixels as they are in [0, 1], not centred: the same inputs the
             Nielsen panel trains on, and the mean-field recursion needs only each digit's mean square.
    cost     cross-entropy with the sigmoid output: δ_L = a_L − y carries no σ'(z_L) factor, so the
             profile shows what the hidden layers do to the gradient, not a saturated output unit.

Skip connections and normalization (the remedies; `residual`, `norm`, `branch_scaling`): the hidden layers after
the first become He et al. 2016b's pre-activation blocks h_l = h_{l−1} + s·(W_l φ(N(h_{l−1})) + b_l), s = 1/√(L − 1)
with branch_scaling; norm ("batch", "layer") normalizes after the linear map in plain layers and before the
activation in a block. The signal's theory per layer (theory_signal_factor, NaN where none):

    plain                ‖∂c/∂a_l‖ / ‖∂c/∂a_{l+1}‖ = √(σ_w² E[φ'(√q_{l+1} z)²])          (above)
    blocks, no norm      √(1 + s² σ_w² E[φ'(√q z)²]), q_l = q_{l−1} + s²(σ_w² E[φ(√q_{l−1} z)²] + σ_b²): ReLU √2
                         per block at He init, an exponential explosion at initialization; √(1 + 1/L) scaled
    blocks, layer norm   √(1 + s² σ_w² E[φ'(u)²] / q_l), u ~ N(0, 1), q_l growing by s²(σ_w² E[φ(u)²] + σ_b²) a
                         block: polynomial (≈ 1.02 a block in the middle of 50 ReLU blocks)
    batch norm (plain)   √(π/(π − 1)) ≈ 1.211 for ReLU (Yang et al. 2019): it explodes at initialization
    layer norm (plain)   √(σ_w² E[φ'(u)²] / (σ_w² E[φ(u)²] + σ_b²)): 1 for ReLU
Batch norm right after a linear map cancels its bias (∂C/∂b = 0 exactly): the profile then records ‖∂C/∂W_l‖
(speed "weight") where it would record ‖∂C/∂b_l‖.

Reproductions (PAPERS): Glorot & Bengio 2010 — 5 tanh layers, their "standard" U(±1/√n) (the pytorch
scheme, σ_w² = 1/3: each layer multiplies the gradient by √(χ₁) ≈ 0.56–0.58 < √(1/3), so
‖∂C/∂b_1‖/‖∂C/∂b_5‖ ≈ 0.10) against their "normalized" init (xavier, σ_w² = 1 between hidden layers:
about 0.9 per layer here, tending to 1 as q_l shrinks towards 0). He et al. 2015 — 30 ReLU layers,
xavier (σ_w² = 1: the per-digit gradient shrinks by exactly √(1/2) per layer, 4.4 decades over 30)
against he (σ_w² = 2: flat).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

from gradviz.datasets import mnist_1k
from gradviz.engine.backprop import backprop, forward_trace
from gradviz.engine.initializations import SCHEMES, initialize
from gradviz.engine.meanfield import ACTIVATIONS, moments, normalized_gradient_factor
from gradviz.engine.network import Design
from gradviz.engine.normalization import NORMS

Array = np.ndarray
MAX_DEPTH, MAX_WIDTH, MAX_SEEDS, N_DIGITS = 100, 512, 50, 1000
BAND = (10.0, 90.0)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_int(name: str, value, low: int, high: int) -> None:
    _require(isinstance(value, numbers.Integral) and not isinstance(value, bool) and low <= value <= high,
             f"{name} must be an integer in {low}..{high}; got {value!r}.")


def _check_choice(name: str, value, choices) -> None:
    _require(value in choices, f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")


@dataclass(frozen=True)
class DeepConfig:
    """An MLP [784, width × depth, 10] at initialization: hidden activation, scheme, number of seeds; residual:
    pre-activation blocks after the first hidden layer, branch_scaling: their branches scaled by 1/√(depth − 1);
    norm: None, "batch" or "layer"."""

    depth: int = 30
    width: int = 256
    activation: str = "relu"
    scheme: str = "he"
    seeds: int = 5
    batch: int = 256
    gain: float = 1.0
    residual: bool = False
    norm: str | None = None
    branch_scaling: bool = False

    def __post_init__(self):
        _check_int("depth", self.depth, 1, MAX_DEPTH)
        _check_int("width", self.width, 1, MAX_WIDTH)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("scheme", self.scheme, tuple(SCHEMES))
        _check_int("seeds", self.seeds, 1, MAX_SEEDS)
        _check_int("batch", self.batch, 1, N_DIGITS)
        _require(isinstance(self.gain, numbers.Real) and not isinstance(self.gain, bool) and 0 < self.gain < np.inf,
                 f"gain must be a finite number > 0; got {self.gain!r}.")
        for name in ("residual", "branch_scaling"):
            _require(isinstance(getattr(self, name), bool), f"{name} must be True or False; got {getattr(self, name)!r}.")
        _check_choice("norm", self.norm, (None,) + tuple(NORMS))
        _require(not (self.norm == "layer" and self.width < 2),
                 "norm 'layer' needs a width of at least 2 (the layer norm of one neuron is 0).")

    @property
    def sizes(self) -> list[int]:
        return [784] + [self.width] * self.depth + [10]

    @property
    def design(self) -> Design:
        """The hidden layers: pre-activation blocks after the first when residual, normalized when norm."""
        scale = 1.0 / np.sqrt(max(self.depth - 1, 1)) if self.residual and self.branch_scaling else 1.0
        return Design(self.activation, norm=self.norm, residual="pre" if self.residual else None, branch_scale=scale)

    @property
    def speed(self) -> str:
        """The per-layer gradient the profile records: ‖∂C/∂b_l‖, or ‖∂C/∂W_l‖ where batch norm cancels the bias."""
        return "weight" if self.design.bias_cancels else "bias"


PAPERS = {
    "glorot2010": tuple(DeepConfig(depth=5, activation="tanh", scheme=scheme) for scheme in ("pytorch", "xavier")),
    "he2015": tuple(DeepConfig(depth=30, activation="relu", scheme=scheme) for scheme in ("xavier", "he")),
}


@dataclass(frozen=True, eq=False)
class DeepProfile:
    """Per hidden layer (index l − 1 for layer l): measurements per seed, their median and band, the theory.

    spread, log10_grad, log10_grad_a   (seeds, depth): std of a_l; log10 ‖∂C/∂b_l‖ (‖∂C/∂W_l‖ when
                                       config.speed is "weight"); log10 of the RMS over digits of ‖∂c/∂a_l‖
    *_median, *_low, *_high            (depth,): median and 10th / 90th percentiles over the seeds
    theory_q                           (depth,): predicted variance of one unit of z_l (mean over digits)
    theory_spread                      (depth,): predicted std of a_l
    theory_factor                      (depth − 1,): predicted ‖∂C/∂b_l‖ / ‖∂C/∂b_{l+1}‖, l < depth (NaN but
                                       for plain layers)
    theory_signal_factor               (depth − 1,): predicted ‖∂c/∂a_l‖ / ‖∂c/∂a_{l+1}‖ (NaN where no theory)
    theory_log10_grad, theory_log10_grad_a  (depth,): the two gradient lines, anchored at l = depth
    """

    config: DeepConfig
    layers: Array
    spread: Array
    log10_grad: Array
    spread_median: Array
    spread_low: Array
    spread_high: Array
    log10_grad_median: Array
    log10_grad_low: Array
    log10_grad_high: Array
    log10_grad_a: Array
    log10_grad_a_median: Array
    log10_grad_a_low: Array
    log10_grad_a_high: Array
    theory_q: Array
    theory_spread: Array
    theory_factor: Array
    theory_signal_factor: Array
    theory_log10_grad: Array
    theory_log10_grad_a: Array

    def signal_factor(self, layers: slice | None = None) -> float:
        """The measured ‖∂c/∂a_l‖ / ‖∂c/∂a_{l+1}‖: the median over the seeds and over `layers` (0-based indices of l,
        the middle third by default, away from the input and the output)."""
        steps = 10.0 ** (self.log10_grad_a[:, :-1] - self.log10_grad_a[:, 1:])
        depth = self.config.depth
        chosen = slice(depth // 3, max(2 * depth // 3, depth // 3 + 1)) if layers is None else layers
        return float(np.median(steps[:, chosen]))


def digit_batch(batch: int) -> tuple[Array, Array]:
    """`batch` digits of mnist_1k spread evenly over its 1,000 rows (x in [0, 1], y one-hot)."""
    x, y = mnist_1k()
    rows = np.linspace(0, N_DIGITS, batch, endpoint=False).astype(int)
    return x[rows], y[rows]


def _measure(config: DeepConfig, seed: int, x: Array, y: Array) -> tuple[Array, Array, Array]:
    """(std of a_l, log10 ‖∂C/∂b_l‖, log10 RMS_digits ‖∂c/∂a_l‖) over the hidden layers of a seed's net."""
    d = config.design
    net = initialize(config.sizes, config.scheme, seed=seed, activation=config.activation, gain=config.gain,
                     residual=d.residual or False, norm=d.norm, branch_scale=d.branch_scale)
    trace = forward_trace(net, x)
    spread = np.array([np.std(layer.a) for layer in trace[:config.depth]])
    gradients = backprop(net, x, y, "cross_entropy")
    per_digit = np.asarray(gradients.log10_signal_norms)[1:config.depth + 1] + 0.5 * np.log10(len(x))
    return spread, np.asarray(gradients.log10_norms(config.speed))[:config.depth], per_digit


def mean_field_profile(config: DeepConfig, x: Array) -> tuple[Array, Array, Array, Array]:
    """Layer by layer from the inputs x: (q_l, predicted std of a_l, predicted ‖∂C/∂b_l‖/‖∂C/∂b_{l+1}‖
    and ‖∂c/∂a_l‖/‖∂c/∂a_{l+1}‖ for l = 1..depth − 1)."""
    scheme = SCHEMES[config.scheme]
    sizes = config.sizes
    variances = [scheme.variances(n_in, n_out, config.gain) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    sw2, sb2 = variances[0]
    q = sw2 * np.mean(x * x, axis=1) + sb2
    q_mean, spread, slope = [], [], []
    for layer in range(config.depth):
        m = moments(config.activation, q)
        q_mean.append(np.mean(q))
        spread.append(np.sqrt(max(np.mean(m.second) - np.mean(m.mean) ** 2, 0.0)))
        slope.append(np.mean(m.slope_second))
        sw2, sb2 = variances[layer + 1]
        q = sw2 * m.second + sb2
    sw2_next = np.array([v[0] for v in variances[1:config.depth]])
    slope = np.array(slope)
    return np.array(q_mean), np.array(spread), np.sqrt(sw2_next * slope[:-1]), np.sqrt(sw2_next * slope[1:])


def signal_theory(config: DeepConfig, x: Array) -> Array:
    """Predicted ‖∂c/∂a_l‖ / ‖∂c/∂a_{l+1}‖ for l = 1..depth − 1 of a network with skip connections or normalization
    (the module's table; NaN where no theory covers it). q: the variance of the residual stream across its units,
    from the first layer's output on the digits x."""
    steps = config.depth - 1
    scheme = SCHEMES[config.scheme]
    (sw2_in, sb2_in), (sw2, sb2) = (scheme.variances(n_in, n_out, config.gain) for n_in, n_out in
                                    (config.sizes[:2], config.sizes[1:3]))
    unit = moments(config.activation, 1.0)  # of a normalized unit u ~ N(0, 1)
    if not config.residual:
        factor = normalized_gradient_factor(config.norm, config.activation, sw2, sb2)
        return np.full(steps, np.nan if factor is None else factor)
    if config.norm == "batch":
        return np.full(steps, np.nan)
    s2 = config.design.branch_scale ** 2
    first = unit if config.norm else moments(config.activation, sw2_in * np.mean(x * x, axis=1) + sb2_in)
    q = float(np.mean(first.second - first.mean ** 2))
    factors = []
    for _ in range(steps):
        m = unit if config.norm else moments(config.activation, q)
        slope = unit.slope_second / q if config.norm else m.slope_second
        factors.append(np.sqrt(1.0 + s2 * sw2 * float(slope)))
        q += s2 * (sw2 * float(m.second) + sb2)
    return np.array(factors)


def _band(values: Array) -> tuple[Array, Array, Array]:
    """(median, low, high) over the seeds (axis 0)."""
    low, median, high = np.percentile(values, (BAND[0], 50.0, BAND[1]), axis=0)
    return median, low, high


def _line_back(anchor: float, factor: Array) -> Array:
    """log10 values per layer ending at anchor, each layer below it lower by log10 factor (all NaN where a factor
    has no theory: a line is all or nothing)."""
    if np.isnan(factor).any():
        return np.full(len(factor) + 1, np.nan)
    return anchor + np.concatenate([np.cumsum(np.log10(factor)[::-1])[::-1], [0.0]])


def deep_profile(config: DeepConfig, progress: Callable[[float], None] | None = None) -> DeepProfile:
    """Measure and predict the per-layer spread and gradients of `config` over its seeds (see the module).

    progress, if given, is called with the fraction done after each seed.
    """
    x, y = digit_batch(config.batch)
    spread, log10_grad, log10_grad_a = np.empty((3, config.seeds, config.depth))
    for seed in range(config.seeds):
        spread[seed], log10_grad[seed], log10_grad_a[seed] = _measure(config, seed, x, y)
        if progress is not None:
            progress((seed + 1) / config.seeds)
    q, theory_spread, factor, factor_a = mean_field_profile(config, x)
    if config.residual or config.norm is not None:  # the plain recursion's lines do not describe these layers
        q, theory_spread, factor = (np.full_like(v, np.nan) for v in (q, theory_spread, factor))
        factor_a = signal_theory(config, x)
    spread_median, spread_low, spread_high = _band(spread)
    grad_median, grad_low, grad_high = _band(log10_grad)
    grad_a_median, grad_a_low, grad_a_high = _band(log10_grad_a)
    return DeepProfile(
        config=config, layers=np.arange(1, config.depth + 1),
        spread=spread, spread_median=spread_median, spread_low=spread_low, spread_high=spread_high,
        log10_grad=log10_grad, log10_grad_median=grad_median, log10_grad_low=grad_low, log10_grad_high=grad_high,
        log10_grad_a=log10_grad_a, log10_grad_a_median=grad_a_median, log10_grad_a_low=grad_a_low,
        log10_grad_a_high=grad_a_high, theory_q=q, theory_spread=theory_spread, theory_factor=factor,
        theory_signal_factor=factor_a, theory_log10_grad=_line_back(grad_median[-1], factor),
        theory_log10_grad_a=_line_back(grad_a_median[-1], factor_a))
