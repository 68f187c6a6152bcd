"""The symptom checklist, computed from a run's record (gradviz.training.history.History): numbers, not words.

Symptoms of an exploding gradient, the article's list (如何知道网络中是否有梯度爆炸问题):
    not_converging  the loss does not converge: the last recorded loss is ≥ 90 % of the first (when the first is
                    above 0), or it is not finite
    unstable        the loss is unstable between updates: it rose by more than 10 % on at least 10 % of the updates
    loss_nan        the loss became NaN (or infinite)
    weights_jump    the weights change a lot: one update moved some layer's weights by more than 50 % of their norm
    weights_nan     the weights became NaN or infinite, and training stopped there
    above_one       every layer's error gradient stayed above 1.0 at every recorded moment
The gradient's flow through the layers, the article's own argument (g_l the gradient of layer l, L the last):
    grows_back      the gradient grows on its way back: ‖g_1‖ / ‖g_L‖ > 10 at some recorded moment (an explosion
                    need not last: the article's exploding chain amplifies 15625× at initialization, and one
                    step later its neurons saturate and the gradient vanishes instead)
    early_stuck     the early layers learn slowly: ‖g_1‖ / ‖g_L‖ < 1/10 at every recorded moment (vanishing)
    dead            every gradient is exactly 0 at every recorded moment
    clipped         clipping capped the step: on some update the norm before clipping was more than 1 % above
                    the norm applied
The thresholds are judgements, not laws: 10 is one decade (the article's two extra factors below 1/4 give 1/16),
50 % of a layer's norm in one update is far beyond the ~10⁻³ update/weight ratio of a healthy run (CS231n's rule
of thumb), and 10 % rises on 10 % of the updates tell noise from a loss that does not settle.

Verdict: "dead" when every gradient is exactly 0; "exploding" when loss_nan, weights_nan, above_one or
grows_back is present, or the loss does not settle (unstable or not_converging) together with either the
other of the two or weights_jump — big weight steps alone are no verdict (a single small weight moves by a
large fraction in a healthy run too); "exploding_clipped" when clipping also capped the step (the symptom is
still there, the step is capped); else "vanishing" when early_stuck is present; else "healthy".
Checklist.because names the symptoms the verdict rests on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

NOT_CONVERGED_RATIO = 0.9
UNSTABLE_RISE = 0.10
UNSTABLE_SHARE = 0.10
BIG_WEIGHT_STEP = 0.5
LOG10_FLOW_RATIO = 1.0
CLIPPED_RATIO_LOG10 = math.log10(1.01)
EXPLODING = ("loss_nan", "weights_nan", "above_one", "grows_back")
UNSETTLED = ("unstable", "not_converging")
VERDICTS = ("dead", "exploding", "exploding_clipped", "vanishing", "healthy")


@dataclass(frozen=True)
class Symptom:
    """One line of the checklist: its key, which problem it points to, whether it is present, and the numbers.

    available is False when the run did not record what the symptom needs (a user's log without the loss).
    """

    key: str
    kind: str
    present: bool
    evidence: dict = field(default_factory=dict)
    available: bool = True


@dataclass(frozen=True)
class Checklist:
    """Every symptom, the verdict they add up to, and the symptoms the verdict rests on."""

    symptoms: tuple
    verdict: str
    because: tuple

    def __iter__(self):
        return iter(self.symptoms)

    def __getitem__(self, key: str) -> Symptom:
        return next(s for s in self.symptoms if s.key == key)

    def present(self, key: str) -> bool:
        return self[key].present


def _not_converging(history) -> Symptom:
    if not history.has_loss or len(history.loss) < 2:
        return Symptom("not_converging", "exploding", False, {}, available=False)
    first, last = float(history.loss[0]), float(history.loss[-1])
    present = not math.isfinite(last) or (first > 0 and last >= NOT_CONVERGED_RATIO * first)
    return Symptom("not_converging", "exploding", bool(present), {"first": first, "last": last})


def _unstable(history) -> Symptom:
    loss = history.update_loss
    if not history.has_loss or len(loss) < 2:
        return Symptom("unstable", "exploding", False, {"rises": 0, "updates": max(len(loss) - 1, 0)},
                       available=False)
    before, after = loss[:-1], loss[1:]
    with np.errstate(all="ignore"):
        rises = (after - before) > UNSTABLE_RISE * np.abs(before)
    share = float(np.mean(rises))
    return Symptom("unstable", "exploding", share >= UNSTABLE_SHARE, {"rises": int(rises.sum()), "updates": len(rises)})


def _loss_nan(history) -> Symptom:
    if not history.has_loss:
        return Symptom("loss_nan", "exploding", False, {}, available=False)
    bad_update = ~np.isfinite(history.update_loss)
    bad = bool(bad_update.any() or not np.isfinite(history.loss).all())
    first = int(np.argmax(bad_update)) if bad_update.any() else None
    return Symptom("loss_nan", "exploding", bad, {"first_update": first})


def _weights_jump(weight_step: np.ndarray) -> Symptom:
    if not len(weight_step) or np.isnan(weight_step).all():
        return Symptom("weights_jump", "exploding", False, {}, available=False)
    finite = weight_step[np.isfinite(weight_step)]
    largest = float(finite.max()) if len(finite) else math.inf
    return Symptom("weights_jump", "exploding", largest > BIG_WEIGHT_STEP, {"largest": largest})


def _weights_nan(history) -> Symptom:
    evidence = {"update": len(history.update_loss)} if history.stopped_early else {}
    return Symptom("weights_nan", "exploding", bool(history.stopped_early), evidence)


def _above_one(grad_min_log10: np.ndarray) -> Symptom:
    known = grad_min_log10[~np.isnan(grad_min_log10)]
    if not len(known):
        return Symptom("above_one", "exploding", False, {}, available=False)
    smallest = float(known.min())
    return Symptom("above_one", "exploding", smallest > 0.0, {"smallest_log10": smallest})


def _flow(history) -> tuple[Symptom, Symptom]:
    """grows_back (some moment) and early_stuck (every moment) from log10 ‖g_1‖ − log10 ‖g_L‖."""
    first, last = history.grad_log10[:, 0], history.grad_log10[:, -1]
    with np.errstate(invalid="ignore"):
        gap = first - last
    known = gap[~np.isnan(gap)]
    evidence = {"lowest_log10": float(known.min()), "highest_log10": float(known.max())} if len(known) else {}
    if history.weight_change is not None and len(history.weight_change):
        evidence.update(moved_first=float(history.weight_change[-1, 0]), moved_last=float(history.weight_change[-1, -1]))
    available = len(known) > 0 and history.grad_log10.shape[1] > 1
    grows = available and bool(known.max() > LOG10_FLOW_RATIO)
    stuck = available and bool(known.max() < -LOG10_FLOW_RATIO)
    return (Symptom("grows_back", "exploding", grows, evidence, available),
            Symptom("early_stuck", "vanishing", stuck, evidence, available))


def _dead(grad_max_log10: np.ndarray) -> Symptom:
    known = grad_max_log10[~np.isnan(grad_max_log10)]
    present = bool(len(known) and np.all(known == -np.inf))
    return Symptom("dead", "dead", present, {"moments": len(known)}, available=len(known) > 0)


def _clipped(before: np.ndarray, applied: np.ndarray) -> Symptom:
    with np.errstate(invalid="ignore"):
        gap = before - applied
    capped = gap > CLIPPED_RATIO_LOG10
    known = gap[np.isfinite(gap)]
    evidence = {"capped": int(capped.sum()), "updates": len(gap),
                "largest_log10": float(known.max()) if len(known) else math.nan}
    return Symptom("clipped", "clipping", bool(capped.any()), evidence, available=len(gap) > 0)


def check_symptoms(history) -> Checklist:
    """The checklist for a run's History."""
    grows_back, early_stuck = _flow(history)
    symptoms = (
        _not_converging(history),
        _unstable(history),
        _loss_nan(history),
        _weights_jump(history.update_weight_step),
        _weights_nan(history),
        _above_one(history.grad_min_log10),
        grows_back,
        early_stuck,
        _dead(history.grad_max_log10),
        _clipped(history.update_grad_log10, history.update_applied_log10),
    )
    verdict, because = _verdict({s.key for s in symptoms if s.present})
    return Checklist(symptoms, verdict, because)


def _verdict(present: set[str]) -> tuple[str, tuple]:
    if "dead" in present:
        return "dead", ("dead",)
    exploding = [key for key in EXPLODING if key in present]
    unsettled = [key for key in UNSETTLED if key in present]
    if unsettled and (len(unsettled) == 2 or "weights_jump" in present):
        exploding += unsettled + (["weights_jump"] if "weights_jump" in present else [])
    if exploding:
        if "clipped" in present:
            return "exploding_clipped", tuple(exploding) + ("clipped",)
        return "exploding", tuple(exploding)
    if "early_stuck" in present:
        return "vanishing", ("early_stuck",)
    return "healthy", ()
