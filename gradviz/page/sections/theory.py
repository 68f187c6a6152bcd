"""Section 5, theory: the phase diagram of mean-field theory, and Pascanu's cliff.

The phase diagram colours (σ_w², σ_b²) by the predicted per-layer gradient factor √χ₁ (ordered = vanishing,
chaotic = exploding) for the current activation, with the critical line χ₁ = 1, the depth a network can be
trained to (about 6 ξ_c, Schoenholz et al. 2017) at the deep panel's depth, and the current initialization
as a point. Pascanu, Mikolov & Bengio's one-neuron RNN shows a wall in the loss along b, where |∂E/∂b| jumps
by many decades, and gradient descent run into it with and without the clipping threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gradviz.engine.initializations import get_scheme
from gradviz.engine.meanfield import phase_grid
from gradviz.experiments.cliff import DEMO, cliff_line, cliff_surface, descend
from gradviz.page import blocks as b
from gradviz.page import charts
from gradviz.page.formatting import magnitude_text
from gradviz.page.i18n import Words
from gradviz.page.jobs import Job
from gradviz.page.state import PageState
from gradviz.training.remedies import NoClip, applicable

GRID_POINTS = 60
# σ_w² from low to high on a log axis (the usual initializations sit near 1, sigmoid's edge near 100), σ_b² linear
RANGES = {"tanh": (0.1, 10.0, 0.0, 1.0), "relu": (0.1, 10.0, 0.0, 1.0), "sigmoid": (0.1, 400.0, 0.0, 4.0)}
TRAINABLE_DEPTH_SCALES = 6.0


@dataclass(frozen=True)
class PhaseDiagram:
    """The phase grid and the lines drawn on it, for one activation."""

    activation: str
    weight_variances: np.ndarray
    bias_variances: np.ndarray
    log10_factor: np.ndarray
    depth_scale: np.ndarray
    critical: np.ndarray


def phase_diagram(activation: str) -> PhaseDiagram:
    """√χ₁ and ξ_c over a 60 × 60 grid of (σ_w², σ_b²), σ_w² evenly spaced on a log scale, and the critical σ_w²
    for each σ_b² (where log10 √χ₁ crosses 0 along the row, by linear interpolation; NaN where it does not)."""
    low_w, high_w, low_b, high_b = RANGES[activation]
    sw2 = np.geomspace(low_w, high_w, GRID_POINTS)
    sb2 = np.linspace(low_b, high_b, GRID_POINTS)
    grid = phase_grid(activation, sw2, sb2)
    critical = np.array([_crossing(sw2, row) for row in grid.log10_gradient_factor])
    return PhaseDiagram(activation, sw2, sb2, grid.log10_gradient_factor, grid.depth_scale, critical)


def _crossing(x: np.ndarray, y: np.ndarray) -> float:
    """The x where y first changes sign from negative to non-negative, linearly interpolated, or NaN."""
    above = np.nonzero((y[:-1] < 0) & (y[1:] >= 0))[0]
    if not len(above):
        return math.nan
    k = above[0]
    return float(x[k] + (x[k + 1] - x[k]) * (-y[k]) / (y[k + 1] - y[k]))


def cliff(clip):
    """The cliff's line along b, its surface, and the demo's descent without clipping and, given a clipping rule
    (gradviz.training.remedies; NoClip for none), with it."""
    clipped = None if clip == NoClip() else descend(DEMO.w, DEMO.b, DEMO.steps, DEMO.eta, clip)
    return cliff_line(), cliff_surface(), descend(DEMO.w, DEMO.b, DEMO.steps, DEMO.eta, None), clipped


def _activation(state: PageState) -> str:
    return state.remedies.activation


def _clipping(state: PageState, words: Words) -> str:
    """The clipping switch's rule in words: how it clips and at which threshold."""
    return words("theory.cliff.rule", mode=words(f"remedy.clip_by.{state.value('clip_by')}"),
                 threshold=f"{state.value('clip_threshold'):g}")


def jobs(state: PageState) -> dict:
    return {"phase": Job(phase_diagram, (_activation(state),), "jobs.theory", 0.3),
            "cliff": Job(cliff, (applicable(state.remedies, "cliff").clip,), "jobs.theory", 0.5)}


def phase_blocks(diagram: PhaseDiagram, state: PageState, words: Words) -> list:
    depth = int(state.value("deep_depth"))
    width = int(state.value("deep_width"))
    r = state.remedies
    sigma_w2, sigma_b2 = get_scheme(r.init).variances(width, width, r.init_gain)
    sw2, sb2 = np.meshgrid(diagram.weight_variances, diagram.bias_variances)
    frame = pd.DataFrame({"x": sw2.ravel(), "y": sb2.ravel(), "log10": diagram.log10_factor.ravel()})
    frame = frame.assign(text=[magnitude_text(v) for v in frame["log10"]])
    critical = pd.DataFrame({"x": diagram.critical, "y": diagram.bias_variances})
    critical = critical[np.isfinite(diagram.critical)]
    trainable = TRAINABLE_DEPTH_SCALES * diagram.depth_scale >= depth
    w = diagram.weight_variances
    edge = [(float(w[j] + w[j + 1]) / 2, float(diagram.bias_variances[i]))
            for i in range(trainable.shape[0]) for j in range(trainable.shape[1] - 1)
            if trainable[i, j] != trainable[i, j + 1]]
    contour = pd.DataFrame(edge, columns=["x", "y"]) if edge else pd.DataFrame({"x": [], "y": []})
    point = (min(sigma_w2, float(w[-1])), min(sigma_b2, float(diagram.bias_variances[-1])))
    chart = charts.heatmap_chart("theory-phase", frame, x_title="σ_w²", y_title="σ_b²",
                                 value_title=words("theory.phase.value"), point=point,
                                 point_title=words("theory.phase.point", scheme=words(f"settings.init.{r.init}"),
                                                   sigma_w2=f"{sigma_w2:.3g}", sigma_b2=f"{sigma_b2:.3g}"),
                                 critical=critical, contour=contour,
                                 contour_title=words("theory.phase.contour", depth=depth),
                                 critical_title=words("theory.phase.critical"),
                                 legend_title=words("theory.phase.legend"))
    outside = sigma_w2 > diagram.weight_variances[-1] or sigma_b2 > diagram.bias_variances[-1]
    notes = [b.Caption(words("theory.phase.outside"))] if outside else []
    return [b.Heading(words("theory.phase.heading"), 3),
            b.Text(words(f"theory.phase.intro.{diagram.activation}", depth=depth)), chart] + notes


def _path_frame(path, surface, name: str, words: Words) -> tuple[pd.DataFrame, str]:
    """A descent path's points on the map; where it leaves the map, its last point on the map's edge is flagged
    `left`, and its legend entry says at which step."""
    inside = (path.w >= surface.w[0]) & (path.w <= surface.w[-1]) & (path.b >= surface.b[0]) & (path.b <= surface.b[-1])
    steps = np.arange(len(path.w))
    kept = inside if inside.all() else inside & (steps < int(np.argmin(inside)))
    frame = pd.DataFrame({"x": path.w[kept], "y": path.b[kept], "step": steps[kept], "series": name, "left": False})
    if inside.all():
        return frame, name
    exit_step = int(np.argmin(inside))
    edge = pd.DataFrame({"x": [float(np.clip(path.w[exit_step], surface.w[0], surface.w[-1]))],
                         "y": [float(np.clip(path.b[exit_step], surface.b[0], surface.b[-1]))],
                         "step": [exit_step], "series": [name], "left": [True]})
    return pd.concat([frame, edge], ignore_index=True), words("theory.cliff.left", name=name, step=exit_step)


def cliff_blocks(result, rule: str, words: Words) -> list:
    line, surface, free, clipped = result
    with np.errstate(divide="ignore"):
        grad_log10 = np.log10(np.abs(line.grad_b))
        loss_log10 = np.log10(line.loss)
    frame = pd.concat([pd.DataFrame({"x": line.b, "series": words("theory.cliff.loss"), "y": loss_log10}),
                       pd.DataFrame({"x": line.b, "series": words("theory.cliff.gradient"), "y": grad_log10})],
                      ignore_index=True)
    line_chart = charts.xy_chart("theory-cliff-line", frame, x_title="b", y_title=words("theory.cliff.axis"),
                                 value_title=words("theory.cliff.value"), log_y=True,
                                 colors={words("theory.cliff.loss"): "#444444",
                                         words("theory.cliff.gradient"): charts.COLORS["exploding"]},
                                 notes=[], height=220, rules_x={words("theory.cliff.wall"): line.wall_b})
    with np.errstate(divide="ignore"):
        surface_frame = pd.DataFrame({"x": np.repeat(surface.w[None, :], len(surface.b), 0).ravel(),
                                      "y": np.repeat(surface.b[:, None], len(surface.w), 1).ravel(),
                                      "log10": np.log10(surface.loss).ravel()})
    surface_frame = surface_frame[np.isfinite(surface_frame["log10"])]
    runs = [(free, words("theory.cliff.free"), charts.COLORS["exploding"])]
    if clipped is not None:
        runs.append((clipped, words("theory.cliff.clipped", rule=rule), charts.COLORS["applied"]))
    paths, colors = [], {}
    for path, name, color in runs:
        points, label = _path_frame(path, surface, name, words)
        paths.append(points.assign(series=label))
        colors[label] = color
    path_chart = charts.path_on_surface_chart(
        "theory-cliff-surface", surface_frame, pd.concat(paths, ignore_index=True), x_title="w", y_title="b",
        value_title="log10 E", legend_title="log10 E", colors=colors)
    longest_free = float(np.max(free.step_length)) if len(free.step_length) else 0.0
    story = words("theory.cliff.story.free", jump=f"{line.wall_jump_decades:.1f}",
                  free=magnitude_text(math.log10(longest_free)) if longest_free > 0 else "0",
                  loss_free=f"{free.loss[-1]:.3g}")
    if clipped is None:
        story += " " + words("theory.cliff.switch_on")
    else:
        longest_clipped = float(np.max(clipped.step_length)) if len(clipped.step_length) else 0.0
        story += " " + words("theory.cliff.story.clipped", rule=rule,
                             clipped=magnitude_text(math.log10(longest_clipped)) if longest_clipped > 0 else "0",
                             loss_clipped=f"{clipped.loss[-1]:.3g}")
    return [b.Heading(words("theory.cliff.heading"), 3), b.Text(words("theory.cliff.intro")), line_chart,
            b.Text(story), path_chart]


def render(state: PageState, results: dict, words: Words) -> tuple:
    head = (b.Heading(words("theory.heading")), b.Text(words("theory.intro")))
    left = tuple(phase_blocks(results["phase"], state, words))
    right = tuple(cliff_blocks(results["cliff"], _clipping(state, words), words))
    return head + (b.Columns((left, right)),)
