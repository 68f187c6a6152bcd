"""Pascanu et al.'s cliff (gradviz.experiments.cliff): gradients, the wall, clipping, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradviz
from gradviz.engine.initializations import semi_orthogonal
from gradviz.experiments.cliff import (
    DEMO, CliffModel, LineConfig, SurfaceConfig, cliff_line, cliff_surface, descend, pascanu_condition)

MODEL = CliffModel()


def reference_loss(w: float, b: float, x0: float = 0.5, target: float = 0.7, steps: int = 50) -> float:
    """E = (σ(x_T) − target)², x_t = w σ(x_{t−1}) + b, with σ(x) = ½(1 + tanh(x/2)) in plain Python floats."""
    sigma = lambda x: 0.5 * (1.0 + math.tanh(0.5 * x))
    x = x0
    for _ in range(steps):
        x = w * sigma(x) + b
    return (sigma(x) - target) ** 2


def central_difference(w: float, b: float, h: float) -> tuple[float, float]:
    return ((reference_loss(w + h, b) - reference_loss(w - h, b)) / (2 * h),
            (reference_loss(w, b + h) - reference_loss(w, b - h)) / (2 * h))


@pytest.mark.parametrize("w, b, h, rel", [
    (5.5, -2.0, 1e-6, 1e-6), (5.5, -3.5, 1e-6, 1e-6), (3.0, -1.0, 1e-6, 1e-6), (7.0, -4.5, 1e-6, 1e-6),
    (5.5, float(MODEL.wall_bias(5.5)) + 1e-6, 1e-10, 1e-4),  # on the face of the wall, |∇E| ≈ 1e4
])
def test_backprop_gradient_matches_central_differences(w, b, h, rel):
    loss, grad_w, grad_b = MODEL.gradient(w, b)
    assert loss == pytest.approx(reference_loss(w, b), rel=1e-12)
    assert (grad_w, grad_b) == pytest.approx(central_difference(w, b, h), rel=rel)


def test_vectorized_loss_matches_the_reference():
    w, b = np.array([[3.0], [5.5], [8.0]]), np.array([-4.0, -2.9, -0.5])
    expected = np.array([[reference_loss(w_i, b_j) for b_j in b] for w_i in w[:, 0]])
    assert np.allclose(MODEL.loss(w, b), expected, rtol=1e-12, atol=0.0)


def test_the_wall_is_a_jump_of_many_decades_in_the_gradient():
    line = cliff_line()
    assert line.has_wall and line.wall_jump_decades >= 4.0
    assert line.b[line.wall_index] == line.wall_b  # the analytic wall, x_0's repelling fixed point
    grad = np.abs(line.grad_b)
    assert grad[line.wall_index] > 1e4 * max(grad[line.wall_index - 1], grad[line.wall_index + 1])
    below, above = line.loss[: line.wall_index], line.loss[line.wall_index + 1:]
    assert below.min() > 0.3 and above.max() < 0.1  # the two plateaus on either side


def test_a_grid_that_misses_the_wall_still_brackets_it_by_the_step_in_loss():
    line = cliff_line(LineConfig(w=6.0, half_width=1.3, points=40))  # even: no grid point on the wall
    k = int(np.argmax(np.abs(np.diff(line.loss))))
    assert line.b[k] < line.wall_b < line.b[k + 1]
    assert abs(line.loss[k + 1] - line.loss[k]) > 0.3


def test_no_wall_where_the_fixed_point_attracts():
    line = cliff_line(LineConfig(w=3.0, points=101))  # max of w σ' is 3/4 < 1: one attractor, E is smooth
    assert not line.has_wall
    assert np.max(np.abs(line.grad_b)) < 1.0 and line.wall_jump_decades < 0.5


def test_surface_and_wall_curve():
    surface = cliff_surface()
    assert surface.loss.shape == (40, 40)
    assert surface.loss[7, 31] == pytest.approx(reference_loss(surface.w[31], surface.b[7]), rel=1e-12)
    assert np.all(surface.wall_w * 0.2350037122 > 1.0)  # w σ'(0.5) > 1 wherever the curve is drawn
    assert np.allclose(surface.wall_b, 0.5 - surface.wall_w / (1 + math.exp(-0.5)), rtol=0, atol=1e-14)
    for w, b_wall in zip(surface.wall_w[surface.wall_w > 5.0], surface.wall_b[surface.wall_w > 5.0]):
        assert reference_loss(w, b_wall - 0.05) - reference_loss(w, b_wall + 0.05) > 0.3


def test_clipping_bounds_the_step_that_hits_the_wall():
    clipped = descend(DEMO.w, DEMO.b, DEMO.steps, DEMO.eta, DEMO.clip)
    unclipped = descend(DEMO.w, DEMO.b, DEMO.steps, DEMO.eta)
    hit = int(np.argmax(unclipped.grad_norm))
    assert unclipped.grad_norm[hit] > 1e4 * np.median(unclipped.grad_norm[:hit])  # it lands on the wall
    assert np.array_equal(clipped.w[: hit + 1], unclipped.w[: hit + 1])  # same path until then
    assert unclipped.step_length[hit] > 1000 * DEMO.eta * DEMO.clip.max_norm  # thrown far away
    assert np.all(unclipped.grad_norm[hit + 1:] == 0.0)  # where σ saturates: training has stopped
    assert np.all(clipped.step_length <= DEMO.eta * DEMO.clip.max_norm)
    assert clipped.scale[hit] < 1e-3 and np.all(clipped.scale[:hit] == 1.0)
    assert clipped.grad_norm[-1] > 0.0 and clipped.loss[-1] < unclipped.loss[-1]


def test_descent_and_line_are_deterministic():
    first, second = descend(5.5, -2.6, 15, 0.5), descend(5.5, -2.6, 15, 0.5)
    assert np.array_equal(first.w, second.w) and np.array_equal(first.b, second.b)
    config = LineConfig(points=21)
    assert np.array_equal(cliff_line(config).grad_b, cliff_line(config).grad_b)


@pytest.mark.parametrize("activation, gain", [("tanh", 0.9), ("sigmoid", 3.5)])
def test_pascanu_condition_and_the_vanishing_it_guarantees(activation, gain):
    w = gain * semi_orthogonal(8, 8, np.random.default_rng(3))
    sigma_max, inverse_gamma = pascanu_condition(w, activation)
    assert sigma_max == pytest.approx(gain, rel=1e-12)
    assert inverse_gamma == {"tanh": 1.0, "sigmoid": 4.0}[activation]
    steps = 50
    rnn = gradviz.Network([w], [np.zeros(8)], activation, unroll=steps)
    x = np.random.default_rng(4).uniform(-1, 1, (3, 8))
    norms = np.asarray(gradviz.backprop(rnn, x, np.full((3, 8), 0.5)).log10_activation_grad_norms)
    # each step back multiplies ∂C/∂a by Wᵀ diag(φ'), of norm at most σ_max · γ < 1
    assert norms[0] - norms[steps] <= steps * math.log10(sigma_max / inverse_gamma) + 1e-9


@pytest.mark.parametrize("call, match", [
    (lambda: pascanu_condition(np.eye(3), "relu"), "activation"),
    (lambda: pascanu_condition(np.ones((2, 3)), "tanh"), "square"),
    (lambda: pascanu_condition(np.ones(3), "tanh"), "square"),
    (lambda: pascanu_condition([[np.nan]], "tanh"), "finite"),
    (lambda: descend(5.0, -2.0, 3, 0.0), "eta"),
    (lambda: descend(5.0, -2.0, -1, 0.1), "steps"),
    (lambda: descend(5.0, -2.0, 3, 0.1, clip=0.0), "clip"),
    (lambda: descend(math.inf, -2.0, 3, 0.1), "finite"),
    (lambda: LineConfig(points=2), "points"),
    (lambda: SurfaceConfig(w_min=5.0, w_max=4.0), "w_min"),
    (lambda: CliffModel(target=1.5), "target"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_any_clipping_rule_clips_the_cliffs_descent_as_it_clips_a_network():
    """Clipping by value clamps each of ∇E's two entries (it no longer reuses its number as a norm threshold)."""
    from gradviz.training.remedies import ClipValue

    clipped = descend(DEMO.w, DEMO.b, DEMO.steps, DEMO.eta, ClipValue(0.1))
    steps = np.abs(np.stack([np.diff(clipped.w), np.diff(clipped.b)]))
    assert np.all(steps <= DEMO.eta * 0.1 * (1 + 1e-12)) and steps.max() == pytest.approx(DEMO.eta * 0.1)
