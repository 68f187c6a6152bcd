"""The symptom checklist, computed from a run's record (gradviz.training.history.History): numbers, not words.

docs/diagnosis.md gives each symptom's reason and source; this is the rule. R recorded moments (epochs or
steps); the late window is their last third (at least one); a condition *persists* when it holds on at
least half of the late window's moments where it can be evaluated, and it holds *from* the earliest moment
after which it holds on at least half of the moments. g_l is log10 ‖∇‖ of layer l at a moment, layers in
forward order; the flow gap is median(g over the first quarter of the layers) − median(g over the last
quarter), one layer each below eight layers — so one odd layer (an embedding) does not decide it.

Symptoms of an exploding gradient, the article's list (如何知道网络中是否有梯度爆炸问题):
    not_converging  the loss does not learn: its median over the late window is ≥ 90 % of its median over the
                    first twentieth of the run (when that is above 0), or a late loss is not finite, or the late loss
                    sits at chance — within 0.5 % of ln K for K = 2…10, 100 or 1000 classes, its 10th–90th
                    percentiles within 2 % of it (a classifier that guesses uniformly)
    unstable        the loss is unstable between updates: on at least 10 % of them it rose by more than 10 % of
                    the larger of the loss before and the loss at the start (a loss near 0 wobbles by large
                    factors from batch to batch without being unstable)
    loss_nan        the loss became NaN (or infinite)
    weights_jump    the weights change a lot: one update moved some layer's weights by more than 50 % of their norm
                    (CS231n's healthy update/weight ratio is ~10⁻³)
    weights_nan     the weights became NaN or infinite (a user's run: a recorded gradient or weight norm did)
    above_one       the error gradient stays above 1.0: the median layer's gradient norm is above 1.0 and it
                    persists (the article: 每层的每个节点在训练时，其误差梯度值一直是大于 1.0 — "stays" is the late
                    window, "each layer" the typical one; at init alone it is no symptom)
The gradient's flow through the layers, the article's own argument:
    grows_back      the gradient grows on its way back: the flow gap is ≥ 1 decade and persists, and is ≥ 2
                    decades or the loss does not learn (mild growth toward the input with a learning loss is how
                    batch-normalized networks look); or, at one moment, it is ≥ 2 decades and did damage: an
                    update moved some layer's weights by more than half their norm (weights_jump), or clipping had
                    to cap that moment's step — the article's exploding chain, 15625× at init, whose first step
                    saturates every neuron, so that the gradient vanishes after
    early_stuck     the early layers learn slowly: the flow gap is ≤ −1 decade and persists (vanishing)
    dead            every gradient is exactly 0 at every recorded moment
    clipped         clipping capped the step: on some update the norm before clipping was more than 1 % above
                    the norm applied
grows_back and early_stuck need the layers' order: where the file does not give it (History.layer_order
"unknown") they do not apply, and the verdict does not rest on order.

Applicable: a symptom the run cannot show is not applicable (clipped without clipping — the record's norms
before and after clipping never differ, unless `clipping` says it was on; the flow without a layer order).
Available: the run recorded what the symptom needs (a user's log may have no loss, no weight norms).

Verdict: "dead" when every gradient is exactly 0; "exploding" when loss_nan, weights_nan or grows_back is
present, or above_one together with clipped, not_converging or unstable, or the loss does not settle
(unstable with not_converging or weights_jump); "exploding_clipped" when clipping also capped the step (the
symptom is still there, the step is capped); else "vanishing" when early_stuck is present; else "healthy".
Checklist.because names the symptoms the verdict rests on.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

NOT_CONVERGED_RATIO = 0.9
UNSTABLE_RISE = 0.10
UNSTABLE_SHARE = 0.10
BIG_WEIGHT_STEP = 0.5
FLOW_DECADES = 1.0
SEVERE_DECADES = 2.0
LATE_FRACTION = 1 / 3
EARLY_FRACTION = 1 / 20
PERSISTENT_SHARE = 0.5
CHANCE_CLASSES = (2, 3, 4, 5, 6, 7, 8, 9, 10, 100, 1000)
CHANCE_TOLERANCE = 0.005
CHANCE_SPREAD = 0.02
CLIPPED_RATIO_LOG10 = math.log10(1.01)
VERDICTS = ("dead", "exploding", "exploding_clipped", "vanishing", "healthy")


@dataclass(frozen=True)
class Symptom:
    """One line of the checklist: its key, which problem it points to, whether it is present, and the numbers.

    available is False when the run did not record what the symptom needs (a user's log without the loss);
    applicable is False when the symptom cannot occur in this run (clipping that was never on).
    """

    key: str
    kind: str
    present: bool
    evidence: dict = field(default_factory=dict)
    available: bool = True
    applicable: bool = True


@dataclass(frozen=True)
class Checklist:
    """Every symptom, the verdict they add up to, and the symptoms the verdict rests on; time_label is the unit
    of the moments the evidence names ("step" or "epoch")."""

    symptoms: tuple
    verdict: str
    because: tuple
    time_label: str = "step"

    def __iter__(self):
        return iter(self.symptoms)

    def __getitem__(self, key: str) -> Symptom:
        return next(s for s in self.symptoms if s.key == key)

    def present(self, key: str) -> bool:
        return self[key].present


# --- windows over the recorded moments ----------------------------------------------------------------------


def late_start(n: int) -> int:
    """The first moment of the late window: the last third of n moments, at least one."""
    return n - max(1, math.ceil(n * LATE_FRACTION))


def _median(values: np.ndarray, axis=None):
    """nanmedian without its all-NaN warning (an all-NaN slice is NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


@dataclass(frozen=True)
class Persistence:
    """A condition over the moments: whether it persists, from which moment, on how many of how many since."""

    present: bool
    since: int | None
    count: int
    of: int


def persistence(holds: np.ndarray, known: np.ndarray) -> Persistence:
    """Whether `holds` persists over the late window (on at least half of its known moments), and from which
    moment it holds on at least half of the known moments that follow (see the module docstring)."""
    n = len(holds)
    start = late_start(n) if n else 0
    late_known = known[start:]
    present = bool(late_known.any() and holds[start:][late_known].mean() >= PERSISTENT_SHARE)
    true = holds & known
    after = np.cumsum(true[::-1])[::-1]
    known_after = np.cumsum(known[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        candidates = np.flatnonzero(true & (after / known_after >= PERSISTENT_SHARE))
    if not present or not len(candidates):
        return Persistence(present, None, int(true[start:].sum()), int(late_known.sum()))
    since = int(candidates[0])
    return Persistence(True, since, int(after[since]), int(known_after[since]))


def _time(history, moment: int | None):
    return None if moment is None else history.times[moment].item()


def _update_time(history, update: int | None):
    """The time of update u in the file's own units (a user's run), or None (gradviz's own runs count updates)."""
    if update is None or history.update_times is None:
        return None
    return history.update_times[update].item()


# --- the loss -------------------------------------------------------------------------------------------------


def _chance(late: np.ndarray) -> int | None:
    """K when the late loss sits at ln K, a uniform guess over K classes (see the module docstring)."""
    finite = late[np.isfinite(late)]
    if not len(finite):
        return None
    level = float(np.median(finite))
    spread = float(np.percentile(finite, 90) - np.percentile(finite, 10))
    for k in CHANCE_CLASSES:
        if abs(level - math.log(k)) <= CHANCE_TOLERANCE * math.log(k) and spread <= CHANCE_SPREAD * math.log(k):
            return k
    return None


def _recorded(history, values: np.ndarray) -> np.ndarray:
    """Where a loss was recorded: everywhere in gradviz's own runs; a user's log may skip steps
    (History.loss_recorded, one per moment, its updates being its moments)."""
    if history.loss_recorded is None:
        return np.ones(len(values), dtype=bool)
    return history.loss_recorded


def _not_converging(history) -> Symptom:
    moments = np.flatnonzero(_recorded(history, history.loss))
    if not history.has_loss or len(moments) < 2:
        return Symptom("not_converging", "exploding", False, {}, available=False)
    loss = np.asarray(history.loss, dtype=float)[moments]
    start = late_start(len(loss))
    early, late = loss[: max(1, math.ceil(len(loss) * EARLY_FRACTION))], loss[start:]
    first, last = float(_median(early)), float(_median(late))
    broke = not np.isfinite(late).all()
    chance = _chance(late)
    stalled = first > 0 and last >= NOT_CONVERGED_RATIO * first
    evidence = {"first": first, "last": last, "from": _time(history, moments[start]), "chance": chance}
    return Symptom("not_converging", "exploding", bool(broke or stalled or chance is not None), evidence)


def _unstable(history) -> Symptom:
    loss = history.update_loss[_recorded(history, history.update_loss)]
    if not history.has_loss or len(loss) < 2:
        return Symptom("unstable", "exploding", False, {"rises": 0, "updates": max(len(loss) - 1, 0)},
                       available=False)
    before, after = loss[:-1], loss[1:]
    start = float(_median(loss[: max(1, math.ceil(len(loss) * EARLY_FRACTION))]))
    with np.errstate(all="ignore"):
        reference = np.fmax(np.abs(before), abs(start))
        rises = (after - before) > UNSTABLE_RISE * reference
    share = float(np.mean(rises))
    return Symptom("unstable", "exploding", share >= UNSTABLE_SHARE, {"rises": int(rises.sum()), "updates": len(rises)})


def _loss_nan(history) -> Symptom:
    if not history.has_loss:
        return Symptom("loss_nan", "exploding", False, {}, available=False)
    bad_update = ~np.isfinite(history.update_loss) & _recorded(history, history.update_loss)
    bad = bool(bad_update.any() or not np.isfinite(history.loss[_recorded(history, history.loss)]).all())
    first = int(np.argmax(bad_update)) if bad_update.any() else None
    return Symptom("loss_nan", "exploding", bad, {"update": first, "at": _update_time(history, first)})


# --- the weights ----------------------------------------------------------------------------------------------


def _weights_jump(history) -> Symptom:
    weight_step = history.update_weight_step
    if not len(weight_step) or np.isnan(weight_step).all():
        return Symptom("weights_jump", "exploding", False, {}, available=False)
    finite = np.isfinite(weight_step)
    largest = float(weight_step[finite].max()) if finite.any() else math.inf
    update = int(np.argmax(np.where(finite, weight_step, -math.inf))) if finite.any() else None
    return Symptom("weights_jump", "exploding", largest > BIG_WEIGHT_STEP,
                   {"largest": largest, "update": update, "at": _update_time(history, update)})


def _weights_nan(history) -> Symptom:
    if not history.stopped_early:
        return Symptom("weights_nan", "exploding", False, {})
    if history.update_times is None:
        return Symptom("weights_nan", "exploding", True, {"update": len(history.update_loss), "at": None})
    norm = history.update_grad_log10  # NaN or +inf where a recorded gradient is, NaN too where none is recorded
    broken = (np.isnan(norm) | (norm == np.inf)) & ~np.isnan(history.grad_max_log10)
    moment = int(np.argmax(broken)) if broken.any() else len(history.times) - 1
    return Symptom("weights_nan", "exploding", True, {"update": moment + 1, "at": _time(history, moment)})


# --- the gradient ---------------------------------------------------------------------------------------------


def flow_gap(grad_log10: np.ndarray) -> np.ndarray:
    """Per moment, median log10 ‖∇‖ over the first quarter of the layers − over the last quarter (decades)."""
    k = max(1, grad_log10.shape[1] // 4)
    first, last = _median(grad_log10[:, :k], axis=1), _median(grad_log10[:, -k:], axis=1)
    with np.errstate(invalid="ignore"):
        return first - last


def _layer_groups(history) -> dict:
    """The names of the first and the last of the layers the flow gap compares (first quarter, last quarter)."""
    names = list(history.layer_names)
    k = max(1, len(names) // 4)
    return {"first_layers": (names[0], names[k - 1]), "last_layers": (names[-k], names[-1])}


def _above_one(history) -> Symptom:
    typical = _median(history.grad_log10, axis=1)
    known = ~np.isnan(typical)
    if not known.any():
        return Symptom("above_one", "exploding", False, {}, available=False)
    with np.errstate(invalid="ignore"):
        run = persistence(typical > 0.0, known)
    start = late_start(len(typical))
    late, late_known = typical[start:], known[start:]
    with np.errstate(invalid="ignore"):
        above = int((late[late_known] > 0.0).sum())
    evidence = {"median_log10": float(_median(late)), "from": _time(history, run.since), "count": above,
                "of": int(late_known.sum()), "late_from": _time(history, start)}
    return Symptom("above_one", "exploding", run.present, evidence)


def _capped(history) -> np.ndarray:
    """Per update: whether clipping capped it (its norm before clipping more than 1 % above the norm applied)."""
    with np.errstate(invalid="ignore"):
        return (history.update_grad_log10 - history.update_applied_log10) > CLIPPED_RATIO_LOG10


def _spike(history, gap: np.ndarray, jumped: bool) -> tuple[int, str] | None:
    """(the first moment whose flow gap is ≥ 2 decades and that did damage, how: "jump" or "clip"), or None.
    Damage: an update moved some layer's weights by more than half their norm, or clipping had to cap the
    step taken at that moment (gradviz's own runs, which count updates apart from moments: any step)."""
    with np.errstate(invalid="ignore"):
        moments = np.flatnonzero(gap >= SEVERE_DECADES)
    if not len(moments):
        return None
    if jumped:
        return int(moments[0]), "jump"
    capped = _capped(history)
    if history.update_times is None:
        return (int(moments[0]), "clip") if capped.any() else None
    hit = moments[moments < len(capped)]
    hit = hit[capped[hit]]
    return (int(hit[0]), "clip") if len(hit) else None


def _flow(history, not_learning: bool, jumped: bool) -> tuple[Symptom, Symptom]:
    """grows_back and early_stuck from the flow gap (see the module docstring)."""
    gap = flow_gap(history.grad_log10)
    known = ~np.isnan(gap)
    applicable = history.grad_log10.shape[1] > 1 and history.layer_order != "unknown"
    available = bool(known.any())
    if not (applicable and available):
        return (Symptom("grows_back", "exploding", False, {}, available, applicable),
                Symptom("early_stuck", "vanishing", False, {}, available, applicable))
    late = gap[late_start(len(gap)):]
    typical = float(_median(late))
    groups = _layer_groups(history)
    with np.errstate(invalid="ignore"):
        grows, stuck = persistence(gap >= FLOW_DECADES, known), persistence(gap <= -FLOW_DECADES, known)
    persistent = grows.present and (typical >= SEVERE_DECADES or not_learning)
    spike = None if persistent else _spike(history, gap, jumped)
    grows_evidence = {"decades": float(gap[spike[0]]) if spike else typical,
                      "from": _time(history, spike[0] if spike else grows.since), "count": grows.count,
                      "of": grows.of, "spike": spike[1] if spike else None, **groups}
    stuck_evidence = {"decades": -typical, "from": _time(history, stuck.since), "count": stuck.count, "of": stuck.of,
                      **groups}
    if history.weight_change is not None and len(history.weight_change):
        stuck_evidence.update(moved_first=float(history.weight_change[-1, 0]),
                              moved_last=float(history.weight_change[-1, -1]))
    return (Symptom("grows_back", "exploding", persistent or spike is not None, grows_evidence),
            Symptom("early_stuck", "vanishing", stuck.present, stuck_evidence))


def _dead(grad_max_log10: np.ndarray) -> Symptom:
    known = grad_max_log10[~np.isnan(grad_max_log10)]
    present = bool(len(known) and np.all(known == -np.inf))
    return Symptom("dead", "dead", present, {"moments": len(known)}, available=len(known) > 0)


def _clipped(history, clipping: bool | None) -> Symptom:
    with np.errstate(invalid="ignore"):
        gap = history.update_grad_log10 - history.update_applied_log10
    capped = _capped(history)
    known = gap[np.isfinite(gap)]
    first = int(np.argmax(capped)) if capped.any() else None
    evidence = {"capped": int(capped.sum()), "updates": len(gap), "update": first,
                "largest_log10": float(known.max()) if len(known) else math.nan, "at": _update_time(history, first)}
    applicable = bool(capped.any()) if clipping is None else clipping
    return Symptom("clipped", "clipping", bool(capped.any()), evidence, available=len(gap) > 0,
                   applicable=applicable)


def check_symptoms(history, clipping: bool | None = None) -> Checklist:
    """The checklist for a run's History. clipping: whether the run clipped its gradients (None: as far as its
    record shows — a clipping that never capped a step is then not listed)."""
    not_converging = _not_converging(history)
    weights_jump = _weights_jump(history)
    grows_back, early_stuck = _flow(history, not_converging.present, weights_jump.present)
    symptoms = (
        not_converging,
        _unstable(history),
        _loss_nan(history),
        weights_jump,
        _weights_nan(history),
        _above_one(history),
        grows_back,
        early_stuck,
        _dead(history.grad_max_log10),
        _clipped(history, clipping),
    )
    verdict, because = _verdict({s.key: s for s in symptoms if s.present})
    return Checklist(symptoms, verdict, because, history.time_label)


def _verdict(present: dict[str, Symptom]) -> tuple[str, tuple]:
    if "dead" in present:
        return "dead", ("dead",)
    reasons = {key for key in ("loss_nan", "weights_nan", "grows_back") if key in present}
    if "grows_back" in present and present["grows_back"].evidence["spike"] == "jump":
        reasons.add("weights_jump")
    partners = set(present) & {"clipped", "not_converging", "unstable"}
    if "above_one" in present and partners:
        reasons |= {"above_one"} | (partners - {"clipped"})
    if "unstable" in present and set(present) & {"not_converging", "weights_jump"}:
        reasons |= {"unstable"} | (set(present) & {"not_converging", "weights_jump"})
    order = [key for key in ("not_converging", "unstable", "loss_nan", "weights_jump", "weights_nan", "above_one",
                             "grows_back") if key in reasons]
    if reasons:
        if "clipped" in present:
            return "exploding_clipped", tuple(order) + ("clipped",)
        return "exploding", tuple(order)
    if "early_stuck" in present:
        return "vanishing", ("early_stuck",) + (("not_converging",) if "not_converging" in present else ())
    return "healthy", ()
