"""Mean-field theory of wide random networks: how far signals and gradients travel.

Poole et al. 2016 ("Exponential expressivity in deep neural networks through transient chaos") and
Schoenholz et al. 2017 ("Deep Information Propagation"). A layer z_l = W_l φ(z_{l−1}) + b_l with
W_ij ~ (0, σ_w²/n_{l−1}) and b_i ~ (0, σ_b²), in the limit of infinite width. z ~ N(0, 1) below, and
E is the expectation over z (over z1, z2 for the pair maps).

    length map      q_l = σ_w² E[φ(√q_{l−1} z)²] + σ_b²              q_l: the variance of one unit's z_l
    fixed point     q* = σ_w² E[φ(√q* z)²] + σ_b²
    slope moment    χ₁ = σ_w² E[φ'(√q* z)²]
    gradients       E‖δ_l‖² = χ₁ E‖δ_{l+1}‖², δ_l = ∂C/∂z_l, whatever the widths (σ_w² is the
                    variance of the matrix the gradient crosses times its fan-in), so each layer back multiplies
                    ‖∂C/∂b_l‖ by the gradient factor √χ₁: < 1 vanishing (ordered), > 1 exploding (chaotic)
    correlation map c_{l+1} = (σ_w² E[φ(u1) φ(u2)] + σ_b²) / q*,   u1 = √q* z1,
                    u2 = √q* (c_l z1 + √(1 − c_l²) z2)      (c = q_12 / q*, the uncentred correlation
                    of two inputs' z, as in the papers)
    its slope       χ_c = dc_{l+1}/dc_l = σ_w² E[φ'(u1) φ'(u2)] at the stable fixed point c*
    depth scale     ξ_c = −1 / ln χ_c: |c_l − c*| ∝ exp(−l / ξ_c); ξ_c = ∞ at criticality (χ₁ = 1)

c = 1 is always a fixed point and its slope is χ₁. Its neighbourhood decides the phase:
    ordered  (χ₁ < 1)  every slope of the map is at most χ₁ (Cauchy–Schwarz), so the map is a contraction
                       and c* = 1 is the only fixed point, reached from every c: χ_c = χ₁. This holds for
                       sigmoid too: its non-zero mean makes c grow towards 1 faster from small c, not
                       stop short of 1 (an uncentred correlation; a centred one would behave differently).
    chaotic  (χ₁ > 1)  c = 1 repels; the map is increasing and convex on [0, 1] (Mehler's expansion
                       below has non-negative coefficients) with c_{l+1}(0) ≥ 0, so it has exactly one
                       fixed point c* in [0, 1), which attracts, and χ_c < 1 there.
    critical (|χ₁ − 1| ≤ 1e-9)  ξ_c = ∞.

How the expectations are computed:
    sigmoid   σ(x) = ½ + ½ tanh(x/2), so a sigmoid network with (σ_w², σ_b²) is exactly a tanh network in
              ẑ = z/2 with σ̂_w² = σ_w²/16 and σ̂_b² = σ_b²/4 + σ_w²/16 (the constant ½ in every
              activation acts as extra bias variance σ_w²/4): q* = 4 q̂*, χ₁ = χ̂₁, c* = ĉ*, χ_c = χ̂_c.
    relu      closed forms, no quadrature across the kink: E[relu(√q z)²] = q/2, E[relu'(√q z)²] = 1/2,
              E[relu(u1) relu(u2)] = q (√(1 − c²) + (π − arccos c) c) / (2π),
              E[relu'(u1) relu'(u2)] = (π − arccos c) / (2π).
              q* = σ_b² / (1 − σ_w²/2) for σ_w² < 2; for σ_w² ≥ 2 the length map has no finite fixed
              point (q grows without bound: q_star = inf), except σ_w² = 2, σ_b² = 0 where every q is a
              fixed point (q_star = nan).
    tanh      E[tanh²(√q z)], E[sech²(√q z)] and E[sech⁴(√q z)] by the trapezoid rule with step 0.25
              in z (q < 1) or in x = √q z (q ≥ 1, where sech² vanishes beyond x = 20 and
              E[tanh²] = 1 − E[sech²]).
              Gauss–Hermite quadrature loses accuracy once q is a few units (tanh(√q z) has poles at
              z = ±iπ/(2√q): 256 Gauss–Hermite nodes give only 1e-6 at q = 5 and 1e-2 at q = 20), while
              the trapezoid rule for these analytic, decaying integrands converges geometrically
              (Trefethen & Weideman 2014) and agrees with adaptive quadrature to ~1e-13 up to q = 1e4.
              The pair expectations use Mehler's formula, E[φ(u1) φ(u2)] = Σ_k a_k² c^k with
              a_k = E[φ(√q z) He_k(z)] / √k!, one-dimensional integrals (a_k = 0 for even k: tanh is
              odd); the series is summed to k = 301, 1201 or 4801 as its Parseval tail requires.

Where the fixed point is degenerate (tanh with σ_b² = 0 and σ_w² ≤ 1 has q* = 0; relu with σ_b² = 0,
or σ_w² ≥ 2, has q* = 0, inf or nan), the normalized correlation map is marginal at its fixed point
(tanh near 0 is linear and keeps c; relu without bias maps c to (√(1 − c²) + (π − arccos c) c)/π,
slope 1 at c = 1), so c_l does not converge exponentially: depth_scale = inf. χ₁ keeps its meaning
there (relu: exactly σ_w²/2 for any q; tanh at q → 0: σ_w²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

Array = np.ndarray

ACTIVATIONS = ("sigmoid", "tanh", "relu")
MAX_VARIANCE = 1e4
CRITICAL_TOLERANCE = 1e-9
STEP = 0.25
Z_MAX = 9.0
X_MAX = 20.0
Z_MAX_HERMITE = 12.0
MEHLER_ORDERS = (301, 1201, 4801)  # highest Hermite degrees tried in Mehler's series
MAX_ITERATIONS = 200
EPS = float(np.finfo(float).eps)
GRID_CHUNK = 4096  # grid points solved together (bounds the memory of Mehler's series)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class MeanField:
    """The mean-field prediction for one activation and (σ_w², σ_b²); see the module docstring.

    q_star           fixed point of the length map (0, inf or nan where degenerate)
    chi_1            σ_w² E[φ'(√q* z)²]
    gradient_factor  √χ₁, the predicted ‖∂C/∂b_l‖ / ‖∂C/∂b_{l+1}‖
    c_star           the attracting fixed point of the correlation map (1 unless chaotic)
    chi_c            the correlation map's slope at c_star
    depth_scale      ξ_c = −1 / ln χ_c (inf at criticality or where the map is marginal)
    phase            "ordered" (χ₁ < 1), "critical" or "chaotic" (χ₁ > 1)
    """

    activation: str
    weight_variance: float
    bias_variance: float
    q_star: float
    chi_1: float
    gradient_factor: float
    c_star: float
    chi_c: float
    depth_scale: float
    phase: str


@dataclass(frozen=True)
class PhaseGrid:
    """mean_field over a grid: entry [i, j] is for bias_variances[i] and weight_variances[j]."""

    activation: str
    weight_variances: Array
    bias_variances: Array
    log10_gradient_factor: Array
    depth_scale: Array


@dataclass(frozen=True)
class Moments:
    """Gaussian moments of φ at pre-activation variance q: E[φ(√q z)], E[φ(√q z)²], E[φ'(√q z)²]."""

    mean: Array
    second: Array
    slope_second: Array


def _check_activation(activation) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; got {activation!r}.")


def _check_variances(name: str, values, allow_zero: bool) -> Array:
    """values as a float array, every entry finite and in (0, 1e4] (or [0, 1e4] with allow_zero)."""
    interval = "[0, 10000]" if allow_zero else "(0, 10000]"
    message = f"{name} must be finite and in {interval}; got {values!r}."
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    above_floor = array >= 0.0 if allow_zero else array > 0.0
    if array.size == 0 or not np.all(np.isfinite(array) & above_floor & (array <= MAX_VARIANCE)):
        raise ValueError(message)
    return array


def _check_variance(name: str, value, allow_zero: bool) -> float:
    """One variance as a float (see _check_variances)."""
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a single number; got {value!r}.")
    return float(_check_variances(name, value, allow_zero))


# --- tanh expectations: the trapezoid rule on the half line ------------------------------------


def _tanh_sech2(x: Array) -> tuple[Array, Array]:
    """(tanh x, sech² x) from t = e^{−2|x|}: tanh = sign(x)(1 − t)/(1 + t), sech² = 4t/(1 + t)², never
    overflowing, and 1 − t as −expm1(−2|x|) so that tanh keeps its relative accuracy near 0."""
    t = np.exp(-2.0 * np.abs(x))
    return np.sign(x) * -np.expm1(-2.0 * np.abs(x)) / (1.0 + t), 4.0 * t / (1.0 + t) ** 2


def _half_line(step: float, end: float) -> tuple[Array, Array]:
    """Nodes j·step on [0, end] and the trapezoid weights of an even integrand over the whole line."""
    nodes = step * np.arange(int(round(end / step)) + 1)
    weights = np.full(len(nodes), 2.0 * step)
    weights[0] = step
    return nodes, weights


Z_NODES, Z_WEIGHTS = _half_line(STEP, Z_MAX)
Z_WEIGHTS = Z_WEIGHTS * INV_SQRT_2PI * np.exp(-0.5 * Z_NODES ** 2)
X_NODES, X_WEIGHTS = _half_line(STEP, X_MAX)
SECH2_X = _tanh_sech2(X_NODES)[1]


def _tanh_moments(q: Array) -> tuple[Array, Array, Array]:
    """(E[tanh²], E[sech²], E[sech⁴]) at √q z for every q (shape (P,)), by the trapezoid rule with step 0.25
    in z = x/√q for q < 1, and in x = √q z for q ≥ 1 (fixed nodes x_j, Gaussian weights of variance q;
    sech² x < 2e-17 beyond x = 20, and there E[tanh²] = 1 − E[sech²] loses nothing). The integrands are
    analytic in |Im x| < π/2. For q < 1, E[tanh²] is summed directly: it is O(q), and 1 − E[sech²] would
    lose its digits as q → 0."""
    tanh2, sech2, sech4 = np.empty_like(q), np.empty_like(q), np.empty_like(q)
    wide = q >= 1.0
    if wide.any():
        qw = q[wide][:, None]
        weights = np.exp(-0.5 * X_NODES ** 2 / qw) * (X_WEIGHTS * INV_SQRT_2PI / np.sqrt(qw))
        sech2[wide], sech4[wide] = weights @ SECH2_X, weights @ (SECH2_X * SECH2_X)
        tanh2[wide] = 1.0 - sech2[wide]
    if not wide.all():
        tanh, s2 = _tanh_sech2(np.sqrt(q[~wide])[:, None] * Z_NODES)
        tanh2[~wide], sech2[~wide], sech4[~wide] = (tanh * tanh) @ Z_WEIGHTS, s2 @ Z_WEIGHTS, (s2 * s2) @ Z_WEIGHTS
    return tanh2, sech2, sech4


@lru_cache(maxsize=16)
def _hermite_rule(quarter_octaves: int, order: int) -> tuple[Array, Array]:
    """(nodes z_j = j 2^(−quarter_octaves/4) on [0, 12], weights × He_k(z_j)/√k! for the odd k ≤ order),
    read-only: Σ_j row_j g(z_j) ≈ E[g(z) He_k(z)] / √k! for even g·He_k. e^{−z²/4} < 1e-15 beyond z = 12 bounds
    He_k(z) e^{−z²/2} / √k!, so the cut-off does not grow with k."""
    z, weights = _half_line(2.0 ** (-quarter_octaves / 4), Z_MAX_HERMITE)
    basis = _hermite_basis(z, order) * (weights * INV_SQRT_2PI * np.exp(-0.5 * z * z))[:, None]
    z.flags.writeable = basis.flags.writeable = False
    return z, basis


def _quarter_octaves(q_bound: float, order: int) -> int:
    """n for the node spacing 2^(−n/4) resolving tanh(√q z) (0.25/√q) and He_k for k ≤ order (2/√order)."""
    return math.ceil(-4.0 * math.log2(min(STEP / max(1.0, math.sqrt(q_bound)), 2.0 / math.sqrt(order))))


def _newton(residual, x: Array, lo: Array, hi: Array, tolerance: float) -> Array:
    """The root in [lo, hi] of a function positive left of its root, for every entry at once.

    residual(x, index) gives (F, F') at the entries `index`; Newton steps that leave the bracket are
    replaced by bisection, and an entry stops once its step is below tolerance × |x| or its residual is
    at the rounding level (|F| ≤ 8 eps |x|), where the steps would only chase rounding noise.
    """
    x, lo, hi = x.copy(), lo.copy(), hi.copy()
    index = np.arange(len(x))
    for _ in range(MAX_ITERATIONS):
        if index.size == 0:
            break
        f, slope = residual(x[index], index)
        left = f > 0.0
        lo[index] = np.where(left, x[index], lo[index])
        hi[index] = np.where(left, hi[index], x[index])
        with np.errstate(divide="ignore", invalid="ignore"):
            step = x[index] - f / slope
        inside = np.isfinite(step) & (step >= lo[index]) & (step <= hi[index])
        new = np.where(inside, step, 0.5 * (lo[index] + hi[index]))
        scale = np.abs(x[index])
        done = (np.abs(new - x[index]) <= tolerance * scale) | (np.abs(f) <= 8.0 * EPS * scale)
        x[index] = new
        index = index[~done]
    return x


def _tanh_q_star(sw2: Array, sb2: Array) -> Array:
    """q* = σ_w² E[tanh²(√q* z)] + σ_b², by Newton's method on g(q) = σ_w² E[tanh²(√q z)] + σ_b² − q
    from q = σ_w² + σ_b² (above the root, as tanh² < 1); 0 where σ_b² = 0 and σ_w² ≤ 1 (then g(q) < 0
    for every q > 0)."""

    positive = ~((sb2 == 0.0) & (sw2 <= 1.0))
    sw2, sb2 = sw2[positive], sb2[positive]

    def residual(q, index):
        """g(q) and g'(q), with d/dq E[f(√q z)] = ½ E[f''(√q z)] and ½ (tanh²)'' = 3 sech⁴ − 2 sech²."""
        tanh2, sech2, sech4 = _tanh_moments(q)
        return sw2[index] * tanh2 + sb2[index] - q, sw2[index] * (3.0 * sech4 - 2.0 * sech2) - 1.0

    q_star = np.zeros(len(positive))
    q_star[positive] = _newton(residual, sw2 + sb2, np.zeros_like(sw2), sw2 + sb2, 1e-14)
    return q_star


def _hermite_basis(z: Array, order: int) -> Array:
    """h_k(z) = He_k(z)/√k! for the odd k ≤ order, shape (len(z), (order + 1)//2), by the stable recurrence
    h_{k+1} = (z h_k − √k h_{k−1}) / √(k + 1)."""
    h_prev, h = np.ones_like(z), z.copy()
    odd = [h]
    for k in range(1, order):
        h_prev, h = h, (z * h - math.sqrt(k) * h_prev) / math.sqrt(k + 1)
        if (k + 1) % 2 == 1:
            odd.append(h)
    return np.stack(odd, axis=1)


def _mehler_squares(q: Array, q_bound: float, order: int) -> Array:
    """a_k² for the odd k ≤ order, a_k = E[tanh(√q z) He_k(z)] / √k!, shape (len(q), (order + 1)//2)."""
    z, basis = _hermite_rule(_quarter_octaves(q_bound, order), order)
    a = _tanh_sech2(np.sqrt(q)[:, None] * z)[0] @ basis
    return a * a


def _mehler_series(a2: Array, c: Array) -> tuple[Array, Array]:
    """(Σ_k a_k² c^k, Σ_k k a_k² c^(k−1)) over the odd k, with c^(k−1) = (c²)^j as a running product."""
    k = np.arange(1, 2 * a2.shape[1], 2, dtype=float)
    even_powers = np.cumprod(np.repeat((c * c)[:, None], len(k), axis=1), axis=1)
    terms = a2 * np.concatenate([np.ones((len(c), 1)), even_powers[:, :-1]], axis=1)
    return terms.sum(axis=1) * c, terms @ k


def _tanh_c_star(sw2: Array, sb2: Array, q: Array) -> tuple[Array, Array]:
    """(c*, χ_c) of the tanh correlation map in the chaotic phase, by Newton's method from c = 0 on
    F(c) = (σ_w² Σ_k a_k² c^k + σ_b²)/q* − c, convex on [0, 1] with F(0) ≥ 0 and F(1) = 0.

    The series is cut at k = 301, and at 1201 or 4801 where the cut-off tail (from Parseval,
    Σ_k a_k² = E[tanh²]) could still move χ_c by 1e-8 relative: near the critical line c* → 1 and the
    series converges slowly. ξ_c = −1/ln χ_c magnifies that error by 1/|ln χ_c| as χ_c → 1.
    """
    c_star, chi_c = np.zeros_like(q), np.empty_like(q)
    todo = np.arange(len(q))
    tanh2 = _tanh_moments(q)[0]
    q_bound = float(np.max(q))
    for order in MEHLER_ORDERS:
        a2 = _mehler_squares(q[todo], q_bound, order)
        sw2_q, sb2_q = sw2[todo] / q[todo], sb2[todo] / q[todo]

        def residual(c, index):
            value, derivative = _mehler_series(a2[index], c)
            return sw2_q[index] * value + sb2_q[index] - c, sw2_q[index] * derivative - 1.0

        start = c_star[todo]
        c = _newton(residual, start, np.zeros_like(start), np.ones_like(start), 1e-14)
        c_star[todo] = c
        chi_c[todo] = sw2_q * _mehler_series(a2, c)[1]
        tail = np.maximum(tanh2[todo] - a2.sum(axis=1), 0.0)
        todo = todo[(order + 2) * tail * c ** order * sw2_q > 1e-8 * chi_c[todo]]
        if todo.size == 0:
            break
    return c_star, chi_c


# --- the theory for arrays of (σ_w², σ_b²) ------------------------------------------------------


def _depth_scale(chi: Array) -> Array:
    """ξ = −1 / ln χ for 0 ≤ χ < 1 (0 at χ = 0)."""
    with np.errstate(divide="ignore"):
        return -1.0 / np.log(chi)


def _phase_codes(chi_1: Array) -> Array:
    """−1 ordered, 0 critical, +1 chaotic."""
    return np.where(np.abs(chi_1 - 1.0) <= CRITICAL_TOLERANCE, 0, np.sign(chi_1 - 1.0)).astype(int)


def _relu_theory(sw2: Array, sb2: Array) -> dict[str, Array]:
    chi_1 = 0.5 * sw2
    with np.errstate(divide="ignore", invalid="ignore"):
        q_star = np.where(sw2 < 2.0, sb2 / (1.0 - chi_1), np.where((sw2 == 2.0) & (sb2 == 0.0), np.nan, np.inf))
    marginal = (sb2 == 0.0) | (sw2 >= 2.0) | (_phase_codes(chi_1) == 0)
    return {"q_star": q_star, "chi_1": chi_1, "c_star": np.ones_like(sw2), "chi_c": chi_1,
            "depth_scale": np.where(marginal, np.inf, _depth_scale(chi_1))}


def _tanh_length(sw2: Array, sb2: Array) -> tuple[Array, Array]:
    """(q*, χ₁) for tanh."""
    q_star = _tanh_q_star(sw2, sb2)
    return q_star, sw2 * _tanh_moments(q_star)[2]


def _chi_1(activation: str, sw2: Array, sb2: Array) -> Array:
    """χ₁ alone (no correlation map)."""
    if activation == "relu":
        return 0.5 * sw2
    if activation == "tanh":
        return _tanh_length(sw2, sb2)[1]
    return _tanh_length(sw2 / 16.0, sb2 / 4.0 + sw2 / 16.0)[1]


def _tanh_theory(sw2: Array, sb2: Array) -> dict[str, Array]:
    q_star, chi_1 = _tanh_length(sw2, sb2)
    phase = _phase_codes(chi_1)
    c_star, chi_c = np.ones_like(sw2), chi_1.copy()
    chaotic = phase > 0
    if chaotic.any():
        c_star[chaotic], chi_c[chaotic] = _tanh_c_star(sw2[chaotic], sb2[chaotic], q_star[chaotic])
    depth = np.where((phase == 0) | (q_star == 0.0), np.inf, _depth_scale(chi_c))
    return {"q_star": q_star, "chi_1": chi_1, "c_star": c_star, "chi_c": chi_c, "depth_scale": depth}


def _theory(activation: str, sw2: Array, sb2: Array) -> dict[str, Array]:
    """q*, χ₁, c*, χ_c and ξ_c for 1-D arrays of σ_w² and σ_b² (no validation)."""
    if activation == "relu":
        return _relu_theory(sw2, sb2)
    if activation == "tanh":
        return _tanh_theory(sw2, sb2)
    hat = _tanh_theory(sw2 / 16.0, sb2 / 4.0 + sw2 / 16.0)
    return hat | {"q_star": 4.0 * hat["q_star"]}


PHASE_NAMES = {-1: "ordered", 0: "critical", 1: "chaotic"}


def mean_field(activation: str, weight_variance: float, bias_variance: float) -> MeanField:
    """The mean-field fixed point, slopes, gradient factor √χ₁ and depth scale ξ_c for φ = activation.

    weight_variance σ_w² = Var(W_ij) × fan-in, in (0, 1e4]; bias_variance σ_b² = Var(b_i), in [0, 1e4].
    """
    _check_activation(activation)
    sw2 = _check_variance("weight_variance", weight_variance, allow_zero=False)
    sb2 = _check_variance("bias_variance", bias_variance, allow_zero=True)
    theory = {name: float(value[0]) for name, value in _theory(activation, np.array([sw2]), np.array([sb2])).items()}
    return MeanField(activation=activation, weight_variance=sw2, bias_variance=sb2,
                     gradient_factor=math.sqrt(theory["chi_1"]),
                     phase=PHASE_NAMES[int(_phase_codes(np.array(theory["chi_1"])))], **theory)


def phase_grid(activation: str, weight_variances, bias_variances) -> PhaseGrid:
    """log10 √χ₁ and ξ_c over the grid bias_variances × weight_variances (1-D arrays), entry [i, j]."""
    _check_activation(activation)
    sw2_axis = _check_variances("weight_variances", weight_variances, allow_zero=False)
    sb2_axis = _check_variances("bias_variances", bias_variances, allow_zero=True)
    if sw2_axis.ndim != 1 or sb2_axis.ndim != 1:
        raise ValueError("weight_variances and bias_variances must be 1-D arrays of variances.")
    sw2, sb2 = (grid.ravel() for grid in np.meshgrid(sw2_axis, sb2_axis))
    log10_factor, depth = np.empty_like(sw2), np.empty_like(sw2)
    for start in range(0, len(sw2), GRID_CHUNK):
        part = slice(start, start + GRID_CHUNK)
        theory = _theory(activation, sw2[part], sb2[part])
        log10_factor[part] = 0.5 * np.log10(theory["chi_1"])
        depth[part] = theory["depth_scale"]
    shape = (len(sb2_axis), len(sw2_axis))
    return PhaseGrid(activation, sw2_axis, sb2_axis, log10_factor.reshape(shape), depth.reshape(shape))


def critical_weight_variance(activation: str, bias_variance: float) -> float:
    """The σ_w² at which χ₁ = 1 for this σ_b² (the edge of chaos).

    relu: 2 for every σ_b². tanh: 1 at σ_b² = 0, above 1 otherwise. sigmoid: above 16 (σ' ≤ 1/4 makes
    χ₁ ≤ σ_w²/16). Found by bisection on χ₁(σ_w²) − 1, which is negative below and positive above.
    """
    _check_activation(activation)
    sb2 = np.array([_check_variance("bias_variance", bias_variance, allow_zero=True)])
    if activation == "relu":
        return 2.0
    if activation == "tanh" and sb2[0] == 0.0:
        return 1.0
    lo = 1.0 if activation == "tanh" else 16.0
    hi = 2.0 * lo

    def chi_1(sw2: float) -> float:
        return float(_chi_1(activation, np.array([sw2]), sb2)[0])

    while chi_1(hi) <= 1.0:  # χ₁ grows like √σ_w² for large σ_w², so this ends
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if chi_1(mid) <= 1.0 else (lo, mid)
    return 0.5 * (lo + hi)


def moments(activation: str, q) -> Moments:
    """E[φ(√q z)], E[φ(√q z)²] and E[φ'(√q z)²] for an array of pre-activation variances q ≥ 0.

    sigmoid: ½, ¼ + ¼ E[tanh²(√(q/4) z)], E[sech⁴(√(q/4) z)]/16; relu: √(q/2π), q/2, ½ (the q → 0 limit
    at q = 0); tanh: 0 and the two tanh integrals.
    """
    _check_activation(activation)
    q = np.asarray(q, dtype=float)
    if not np.all(np.isfinite(q)) or np.any(q < 0.0):
        raise ValueError(f"q must be finite pre-activation variances ≥ 0; got {q!r}.")
    flat = q.ravel()
    if activation == "relu":
        mean, second, slope = np.sqrt(flat / (2.0 * math.pi)), 0.5 * flat, np.full_like(flat, 0.5)
    else:
        tanh2, _, sech4 = _tanh_moments(0.25 * flat if activation == "sigmoid" else flat)
        if activation == "sigmoid":
            mean, second, slope = np.full_like(flat, 0.5), 0.25 + 0.25 * tanh2, sech4 / 16.0
        else:
            mean, second, slope = np.zeros_like(flat), tanh2, sech4
    return Moments(*(values.reshape(q.shape) for values in (mean, second, slope)))


def residual_gradient_factor(activation: str, weight_variance: float, branch_scale: float = 1.0,
                             q: float = 1.0) -> float:
    """‖∂C/∂h_{l−1}‖ / ‖∂C/∂h_l‖ across a residual block h_l = h_{l−1} + s·(W φ(u) + b) (or s·φ(W h + b)) at
    initialization: √(1 + s² σ_w² E[φ'(√q z)²]), q the variance of φ's input (ReLU: E[φ'²] = ½ at any q, so He
    init's σ_w² = 2 gives √2 per block, an exponential explosion, and s = 1/√L gives √(1 + 1/L))."""
    _check_variance("weight_variance", weight_variance, allow_zero=True)
    _check_variance("q", q, allow_zero=True)
    slope = float(moments(activation, q).slope_second)
    return math.sqrt(1.0 + branch_scale * branch_scale * weight_variance * slope)


# Yang et al. 2019 ("A mean field theory of batch normalization"), ReLU: at initialization the squared gradient
# grows by π/(π − 1) per batch-normalized layer towards the input, whatever the weights' scale.
BATCH_NORM_RELU_FACTOR = math.sqrt(math.pi / (math.pi - 1.0))


def normalized_gradient_factor(norm: str, activation: str, weight_variance: float = 2.0,
                               bias_variance: float = 0.0) -> float | None:
    """‖∂C/∂a_{l−1}‖ / ‖∂C/∂a_l‖ across a layer a_l = φ(N(W a_{l−1} + b)) at initialization, wide layers:
        "batch"  √(π/(π − 1)) ≈ 1.211 for ReLU (Yang et al. 2019); None for other activations (no closed form)
        "layer"  √(σ_w² E[φ'(u)²] / (σ_w² E[φ(u)²] + σ_b²)), u ~ N(0, 1) the normalized unit: N divides by the
                 spread of z, √(σ_w² E[φ(u)²] + σ_b²); ReLU without bias: exactly 1
    """
    if norm == "batch":
        _check_activation(activation)
        return BATCH_NORM_RELU_FACTOR if activation == "relu" else None
    if norm != "layer":
        raise ValueError(f"norm must be 'batch' or 'layer'; got {norm!r}.")
    _check_variance("weight_variance", weight_variance, allow_zero=True)
    _check_variance("bias_variance", bias_variance, allow_zero=True)
    m = moments(activation, 1.0)
    return math.sqrt(weight_variance * float(m.slope_second) / (weight_variance * float(m.second) + bias_variance))
