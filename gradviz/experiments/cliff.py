"""Pascanu, Mikolov & Bengio 2013 ("On the difficulty of training recurrent neural networks"), section 3
and Figure 6: the cliff in the error surface of a one-neuron recurrent network, and why clipping helps.

    x_t = w σ(x_{t−1}) + b,   x_0 = 0.5,   T = 50,   E = (σ(x_T) − 0.7)²

In gradviz terms this is the unrolled width-1 sigmoid network Network([[[w]]], [[b]], "sigmoid", unroll=T)
with input a_0 = σ(x_0) and target y = 0.7: z_t = x_t, a_t = σ(x_t), and E = 2 C for the quadratic cost
C = ½ (a_T − y)². Every gradient comes from gradviz.backprop; the loss surface uses a vectorized forward.

Where the wall is. x_0 is a fixed point of the map x ↦ w σ(x) + b exactly when b = b_wall(w) = x_0 − w σ(x_0),
and it repels when λ = w σ'(x_0) > 1 (w > 4.26 for x_0 = 0.5). Then the map, increasing in x, sends
every orbit starting just above x_0 to the upper attractor and every orbit just below to the lower one:
as b crosses b_wall, x_T jumps from the low state (σ(x_T) ≈ 0.1, E ≈ 0.4) to the high one (σ(x_T) ≈ 0.87–0.98,
E ≈ 0.03–0.08). The jump is a smooth step of width about λ^−T in b, so |∂E/∂b| rises to about
λ^T · |∂E/∂x_T| at the wall while it is about 0.1 a little away: at w = 5.5 (λ = 1.29, λ^T = 4e5)
the peak is 5e4, five and a half decades above its neighbours. That is the curvature wall of their
Figure 6; w = 5.5 and b within ±1.5 of the wall show both plateaus and the wall, with the wall's λ^T
still inside float64 by far.
(For w < 4.26 there is no such wall: x_0 is never a repelling fixed point. Just above w = 4, where the
map first becomes bistable, E can still steepen near a fold, but only polynomially in T; for w < 4 the
map has one attractor and E is smooth.)

Gradient descent on (w, b) falls toward the wall from both sides (E is lowest right at it), and a step
that lands on its face meets a gradient thousands of times larger than anywhere else: without clipping
that step throws (w, b) thousands of units away, where σ saturates and the gradient is 0 in float64, so
training stops there; with norm clipping (PyTorch's clip_grad_norm_: g ← g · max_norm / (‖g‖ + 1e-6)
when that factor is below 1) the step is at most η · max_norm and descent carries on (DEMO).

pascanu_condition gives their sufficient condition for vanishing gradients in an RNN
h_t = W σ(h_{t−1}) + …: ‖∂h_t/∂h_{t−1}‖ ≤ ‖W‖ · γ with γ = max |σ'| (1 for tanh, 1/4 for
sigmoid), so the largest singular value of W below 1/γ makes the long-term gradients vanish exponentially.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from gradviz.engine.activations import sigmoid, sigmoid_prime
from gradviz.engine.backprop import backprop
from gradviz.engine.network import Network
from gradviz.engine.scaled import Scaled, ln_norm
from gradviz.training.remedies import ClipNorm, clipping

Array = np.ndarray
MAX_STEPS = 10_000
MAX_POINTS = 2_001
GAMMA = {"tanh": 1.0, "sigmoid": 0.25}


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(name: str, value, low: int, high: int) -> None:
    _require(_is_int(value) and low <= value <= high, f"{name} must be an integer in {low}..{high}; got {value!r}.")


def _check_positive(name: str, value) -> None:
    _require(_is_real(value) and value > 0, f"{name} must be a finite number > 0; got {value!r}.")


@dataclass(frozen=True)
class CliffModel:
    """The one-neuron RNN x_t = w σ(x_{t−1}) + b from x_0 over `steps` steps, E = (σ(x_T) − target)²."""

    x0: float = 0.5
    target: float = 0.7
    steps: int = 50

    def __post_init__(self):
        _require(_is_real(self.x0), f"x0 must be a finite number; got {self.x0!r}.")
        _require(_is_real(self.target) and 0.0 < self.target < 1.0,
                 f"target must be a number in (0, 1); got {self.target!r}.")
        _check_int("steps", self.steps, 1, MAX_STEPS)

    def network(self, w: float, b: float):
        """The unrolled width-1 sigmoid network with shared (w, b)."""
        return Network([[[w]]], [[b]], "sigmoid", unroll=self.steps)

    def loss(self, w, b) -> Array:
        """E(w, b) for arrays of w and b (broadcast), by the forward recurrence."""
        w, b = np.asarray(w, dtype=float), np.asarray(b, dtype=float)
        x = np.full(np.broadcast_shapes(w.shape, b.shape), float(self.x0))
        for _ in range(self.steps):
            x = w * sigmoid(x) + b
        return (sigmoid(x) - self.target) ** 2

    def gradient(self, w: float, b: float) -> tuple[float, float, float]:
        """(E, ∂E/∂w, ∂E/∂b) at one point, from gradviz.backprop (E = 2 C, C the quadratic cost)."""
        a0 = float(sigmoid(np.array(self.x0)))
        grads = backprop(self.network(w, b), [[a0]], [[self.target]], "quadratic")
        return 2.0 * grads.cost, 2.0 * float(grads.nabla_w[0][0, 0]), 2.0 * float(grads.nabla_b[0][0])

    def wall_bias(self, w):
        """b_wall(w) = x_0 − w σ(x_0): the b at which x_0 is a fixed point (a wall where w σ'(x_0) > 1)."""
        return self.x0 - np.asarray(w, dtype=float) * float(sigmoid(np.array(self.x0)))

    def has_wall(self, w) -> Array:
        """Whether x_0's fixed point at b_wall(w) repels: w σ'(x_0) > 1."""
        return np.asarray(w, dtype=float) * float(sigmoid_prime(np.array(self.x0))) > 1.0


@dataclass(frozen=True)
class LineConfig:
    """E and ∂E/∂b along b for a fixed w: `points` values of b, evenly spaced within ±half_width of b_wall(w).

    An odd number of points puts one exactly on the wall (the face is ~λ^−T wide, far narrower than the
    spacing, so a grid that misses it shows the step in E but not the spike in |∂E/∂b|)."""

    w: float = 5.5
    half_width: float = 1.5
    points: int = 301

    def __post_init__(self):
        _require(_is_real(self.w), f"w must be a finite number; got {self.w!r}.")
        _check_positive("half_width", self.half_width)
        _check_int("points", self.points, 3, MAX_POINTS)


@dataclass(frozen=True, eq=False)
class CliffLine:
    """b (points,), E, ∂E/∂w, ∂E/∂b along it; the analytic wall b_wall; the grid point where |∂E/∂b| is
    largest (wall_index) and how many decades it stands above the larger of its two neighbours."""

    w: float
    b: Array
    loss: Array
    grad_w: Array
    grad_b: Array
    wall_b: float
    has_wall: bool
    wall_index: int
    wall_jump_decades: float


def cliff_line(config: LineConfig = LineConfig(), model: CliffModel = CliffModel()) -> CliffLine:
    """E and its gradient along b at fixed w, every gradient from gradviz.backprop."""
    wall_b = float(model.wall_bias(config.w))
    middle = (config.points - 1) / 2
    b = wall_b + config.half_width * (np.arange(config.points) - middle) / middle  # exactly b_wall in the middle
    loss, grad_w, grad_b = np.array([model.gradient(config.w, float(b_i)) for b_i in b]).T
    size = np.abs(grad_b)
    k = int(np.argmax(size))
    neighbours = max(size[k - 1] if k > 0 else 0.0, size[k + 1] if k + 1 < len(size) else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = float(np.log10(size[k] / neighbours))
    return CliffLine(config.w, b, loss, grad_w, grad_b, wall_b, bool(model.has_wall(config.w)), k, jump)


@dataclass(frozen=True)
class SurfaceConfig:
    """A points × points grid of (w, b) over [w_min, w_max] × [b_min, b_max]."""

    w_min: float = 3.0
    w_max: float = 8.0
    b_min: float = -6.0
    b_max: float = 0.0
    points: int = 40

    def __post_init__(self):
        _require(all(_is_real(v) for v in (self.w_min, self.w_max, self.b_min, self.b_max))
                 and self.w_min < self.w_max and self.b_min < self.b_max,
                 "w_min < w_max and b_min < b_max must be finite numbers.")
        _check_int("points", self.points, 2, MAX_POINTS // 4)


@dataclass(frozen=True, eq=False)
class CliffSurface:
    """loss[i, j] = E(w[j], b[i]); the wall b_wall(w) at the grid's w where it exists (wall_w, wall_b)."""

    w: Array
    b: Array
    loss: Array
    wall_w: Array
    wall_b: Array


def cliff_surface(config: SurfaceConfig = SurfaceConfig(), model: CliffModel = CliffModel()) -> CliffSurface:
    """E over the (w, b) grid by the vectorized forward, and the wall's curve across it."""
    w = np.linspace(config.w_min, config.w_max, config.points)
    b = np.linspace(config.b_min, config.b_max, config.points)
    wall_w = w[model.has_wall(w)]
    wall_b = model.wall_bias(wall_w)
    inside = (wall_b >= config.b_min) & (wall_b <= config.b_max)
    return CliffSurface(w, b, model.loss(w[None, :], b[:, None]), wall_w[inside], wall_b[inside])


@dataclass(frozen=True, eq=False)
class DescentPath:
    """Gradient descent on (w, b): the points visited (steps + 1), E and the gradient at each, and the
    factor each step's gradient norm was scaled by (1 where not clipped; `steps` entries)."""

    w: Array
    b: Array
    loss: Array
    grad_w: Array
    grad_b: Array
    scale: Array

    @property
    def grad_norm(self) -> Array:
        return np.hypot(self.grad_w, self.grad_b)

    @property
    def step_length(self) -> Array:
        """‖(w, b)_{k+1} − (w, b)_k‖ for each step."""
        return np.hypot(np.diff(self.w), np.diff(self.b))


def clipped_step(model: CliffModel, w: float, b: float, grad_w: float, grad_b: float, clip) -> tuple[float, float]:
    """∇E = (grad_w, grad_b) as the clipping rule `clip` (gradviz.training.remedies) applies it to the network's
    parameters (w, b): the rules see them as any network's, so a unit-wise rule sees w and b as its units."""
    net = model.network(w, b)
    at = {name: int(net.layout.positions(name)[0]) for name in ("w", "b")}
    g = np.zeros(net.layout.size)
    g[at["w"]], g[at["b"]] = grad_w, grad_b
    applied, _ = clip.apply(Scaled(g, 0), ln_norm(Scaled(g, 0)), net)
    return float(applied[at["w"]]), float(applied[at["b"]])


def descend(w: float, b: float, steps: int, eta: float, clip=None, model: CliffModel = CliffModel()) -> DescentPath:
    """`steps` steps of (w, b) ← (w, b) − η · clip(∇E), gradients from gradviz.backprop; clip: None or a clipping rule
    (ClipNorm(max_norm): PyTorch's clip_grad_norm_, the paper's)."""
    _require(_is_real(w) and _is_real(b), f"w and b must be finite numbers; got {w!r}, {b!r}.")
    _check_int("steps", steps, 0, MAX_STEPS)
    _check_positive("eta", eta)
    clip = clipping(clip)
    points, scales = [], []
    for _ in range(steps + 1):
        loss, grad_w, grad_b = model.gradient(w, b)
        points.append((w, b, loss, grad_w, grad_b))
        step_w, step_b = clipped_step(model, w, b, grad_w, grad_b, clip)
        norm = math.hypot(grad_w, grad_b)
        scales.append(math.hypot(step_w, step_b) / norm if norm > 0 else 1.0)
        w, b = w - eta * step_w, b - eta * step_b
    w_path, b_path, loss_path, gw, gb = (np.array(column) for column in zip(*points))
    return DescentPath(w_path, b_path, loss_path, gw, gb, np.array(scales[:steps]))


@dataclass(frozen=True)
class DescentConfig:
    """A start, step count, learning rate and clipping rule for descend (DEMO: see the module)."""

    w: float
    b: float
    steps: int
    eta: float
    clip: ClipNorm | None = None


DEMO = DescentConfig(w=5.5, b=-2.6, steps=20, eta=0.5, clip=ClipNorm(1.0))
"""From (5.5, −2.6), 0.3 right of the wall, descent creeps toward it (|∇E| ≈ 0.1, crossing it twice on the
way without touching the face) until step 12 lands on the face, where |∇E| ≈ 5e3. Without clipping
(clip=None) that step is 2.7e3 long and leaves (w, b) near (1442, 2305), where σ saturates and
∇E is 0 in float64: training stops for good with E = 0.09. Clipped by norm at 1 the step is
η · 1 = 0.5 long and descent carries on from E ≈ 0.06."""


def pascanu_condition(recurrent_matrix, activation: str) -> tuple[float, float]:
    """(σ_max(W), 1/γ) with γ = max |φ'| (tanh 1, sigmoid 1/4): σ_max < 1/γ suffices for vanishing gradients.

    relu is refused: the paper states the bound for tanh and sigmoid only (|relu'| ≤ 1, so γ = 1 would
    hold for it too, but a ReLU RNN's hidden state is not bounded, which their analysis also uses).
    """
    _require(activation in GAMMA, f"activation must be 'tanh' or 'sigmoid' (the paper's bound); got {activation!r}.")
    try:
        w = np.asarray(recurrent_matrix, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"recurrent_matrix must be a square matrix of numbers; got {recurrent_matrix!r}.") from None
    _require(w.ndim == 2 and w.shape[0] == w.shape[1] and w.size > 0 and np.all(np.isfinite(w)),
             f"recurrent_matrix must be a finite square matrix; got shape {w.shape}.")
    return float(np.linalg.norm(w, 2)), 1.0 / GAMMA[activation]
