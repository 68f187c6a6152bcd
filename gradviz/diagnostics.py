"""The article's symptom checklist, computed from a training run's own records.

Exploding gradients (the article's list), each with its evidence:
    loss does not converge        the final loss is not below 90 % of the initial one, or not finite
    loss unstable between updates the loss rose by more than 10 % on at least 10 % of the updates
    loss becomes NaN              some recorded loss is NaN or infinite
    weights change a lot          one update moved some layer's weights by more than 50 % of their norm
    weights become NaN            the run stopped because a weight became NaN or infinite
    error gradients stay above 1  every layer's ‖∂C/∂b_l‖ was above 1.0 at every recorded epoch
Vanishing gradients:
    early layers stay put         at every recorded epoch the first layer learns less than 1/10 as fast as the
                                  last, ‖∂C/∂b_1‖ < ‖∂C/∂b_L‖ / 10 (for an unrolled RNN: the first step's share);
                                  the evidence adds how far the first and last layers' weights moved
Verdict: "exploding" if the loss or weights became NaN, the gradients stayed above 1, the weights jumped,
or the loss was unstable and did not converge; else "vanishing" if the early layers stayed put; else "healthy".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradviz.formatting import magnitude_text

NOT_CONVERGED_RATIO = 0.9
UNSTABLE_RISE = 0.10
UNSTABLE_SHARE = 0.10
BIG_WEIGHT_STEP = 0.5
STUCK_RATIO = 0.1


@dataclass(frozen=True)
class Symptom:
    """One line of the checklist: is it present in this run, and the numbers that say so."""

    name: str
    kind: str
    present: bool
    evidence: str


@dataclass(frozen=True)
class Checklist:
    """Every symptom, and the verdict they add up to."""

    symptoms: tuple
    verdict: str

    def __iter__(self):
        return iter(self.symptoms)

    def present(self, name: str) -> bool:
        """Whether the symptom called `name` is present."""
        return next(s.present for s in self.symptoms if s.name == name)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "not a number"
    if math.isinf(value):
        return "∞"
    return magnitude_text(math.log10(abs(value)) if value else -math.inf, math.copysign(1.0, value))


def _not_converging(loss: np.ndarray) -> Symptom:
    first, last = loss[0], loss[-1]
    present = not np.isfinite(last) or last >= NOT_CONVERGED_RATIO * first
    return Symptom("loss does not converge", "exploding", bool(present),
                   f"loss {_fmt(first)} at the start, {_fmt(last)} at the end")


def _unstable(step_loss: np.ndarray) -> Symptom:
    if len(step_loss) < 2:
        return Symptom("loss unstable between updates", "exploding", False, "fewer than two updates")
    before, after = step_loss[:-1], step_loss[1:]
    with np.errstate(all="ignore"):
        rises = (after - before) / np.abs(before) > UNSTABLE_RISE
    share = float(np.mean(rises))
    return Symptom("loss unstable between updates", "exploding", share >= UNSTABLE_SHARE,
                   f"the loss rose by more than {UNSTABLE_RISE:.0%} on {int(rises.sum())} of {len(rises)} updates")


def _loss_nan(loss: np.ndarray, step_loss: np.ndarray) -> Symptom:
    bad = ~np.isfinite(np.concatenate([step_loss, loss[-1:]]))
    # entry k of step_loss is the loss after k updates; the last entry is the loss after training
    evidence = f"first after update {int(np.argmax(bad))}" if bad.any() else "every recorded loss is finite"
    return Symptom("loss becomes NaN", "exploding", bool(bad.any()), evidence)


def _weights_jump(weight_step: np.ndarray) -> Symptom:
    finite = weight_step[np.isfinite(weight_step)]
    largest = float(finite.max()) if len(finite) else math.nan
    blew_up = len(finite) < len(weight_step)
    present = bool((len(finite) and largest > BIG_WEIGHT_STEP) or blew_up)
    evidence = ("an update made a layer's weights NaN or infinite" if blew_up else
                f"the largest single update moved a layer's weights by {_fmt(100 * largest)} % of their norm")
    return Symptom("weights change a lot", "exploding", present, evidence)


def _weights_nan(stopped_early: bool, n_steps: int) -> Symptom:
    evidence = f"a weight became NaN or infinite at update {n_steps}; training stopped" if stopped_early \
        else "every weight stayed finite"
    return Symptom("weights become NaN", "exploding", stopped_early, evidence)


def _gradients_above_one(speeds) -> Symptom:
    log10 = speeds["speed_log10"].to_numpy()
    known = log10[~np.isnan(log10)]
    smallest = float(known.min()) if len(known) else math.nan
    present = bool(len(known) and smallest > 0.0)
    shown = magnitude_text(smallest) if not math.isnan(smallest) else "not a number"
    return Symptom("error gradients stay above 1.0", "exploding", present,
                   f"the smallest ‖∂C/∂b_l‖ over layers and epochs was {shown}")


def _early_layers_stuck(speeds, weight_change) -> Symptom:
    by_layer = speeds.pivot(index="epoch", columns="layer", values="speed_log10")
    first, last = by_layer.iloc[:, 0].to_numpy(), by_layer.iloc[:, -1].to_numpy()
    with np.errstate(invalid="ignore"):
        gap = first - last  # −inf where layer 1 gets no gradient at all while the last layer does
    known = gap[~np.isnan(gap) & np.isfinite(last)]
    present = bool(len(known) and known.max() < np.log10(STUCK_RATIO))
    final = weight_change[weight_change["epoch"] == weight_change["epoch"].max()]
    moved = ""
    if len(final) > 1:
        moved = (f"; layer 1's weights moved {_fmt(100 * final['change'].iloc[0])} % of their initial norm, "
                 f"the last layer's {_fmt(100 * final['change'].iloc[-1])} %")
    worst = magnitude_text(known.max()) if len(known) else "undefined (no finite ratio)"
    return Symptom("early layers learn slowly and stay near their initial values while the last layers learn",
                   "vanishing", present, f"‖∂C/∂b_1‖ / ‖∂C/∂b_L‖ was at most {worst}{moved}")


def check_symptoms(history) -> Checklist:
    """The checklist for a gradviz.training.History."""
    loss = history.loss["loss"].to_numpy()
    step_loss = history.steps["loss"].to_numpy()
    symptoms = (
        _not_converging(loss),
        _unstable(step_loss),
        _loss_nan(loss, step_loss),
        _weights_jump(history.steps["weight_step"].to_numpy()),
        _weights_nan(history.stopped_early, len(step_loss)),
        _gradients_above_one(history.speeds),
        _early_layers_stuck(history.speeds, history.weight_change),
    )
    return Checklist(symptoms, _verdict(symptoms))


def _verdict(symptoms) -> str:
    present = {s.name for s in symptoms if s.present}
    blew_up = {"loss becomes NaN", "weights become NaN", "error gradients stay above 1.0"} & present
    if blew_up or "weights change a lot" in present or {"loss unstable between updates", "loss does not converge"} <= present:
        return "exploding"
    if any(s.kind == "vanishing" and s.present for s in symptoms):
        return "vanishing"
    return "healthy"
