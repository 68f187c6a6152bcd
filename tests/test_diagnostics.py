"""gradviz.training.diagnostics: the symptom checklist (numbers, not words) and its honest verdict.

Most Histories here are built by hand, so each symptom can be switched on and off by a few numbers; the rules
tested are the ones in the module docstring and docs/diagnosis.md, among them the misjudgments of issue 16
(a one-step spike, a collapse that develops, mild growth with a falling loss, an unknown layer order) and of
issue 18 (a loss at chance, the file's own step numbers). The last section runs the article's chains.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from gradviz import ChainConfig, ClipNorm, ClipValue, History, Remedies, Training
from gradviz.experiments.chain import train_chain
from gradviz.training.diagnostics import VERDICTS, Checklist, check_symptoms, late_start, persistence

pytestmark = pytest.mark.filterwarnings("error")

KEYS = ("not_converging", "unstable", "loss_nan", "weights_jump", "weights_nan", "above_one", "grows_back",
        "early_stuck", "dead", "clipped")
KINDS = ["exploding"] * 7 + ["vanishing", "dead", "clipping"]
R = 12  # recorded moments: the late window is the last 4
FALLING = np.geomspace(2.0, 0.2, R)


def flat_layers(first: float, gap: float, n_layers: int = 4) -> np.ndarray:
    """log10 ‖g_l‖ of layers 1..n at one moment: the last layer at `first`, the first `gap` decades above it."""
    return first + np.linspace(gap, 0.0, n_layers)


def make_history(gaps=None, top=-1.0, loss=FALLING, weight_step=None, grad_norm=None, applied_norm=None,
                 stopped_early=False, has_loss=True, change=None, speeds=None, order="forward", user=False,
                 loss_recorded=None, step_loss=None) -> History:
    """A History of R moments (one update each, unless step_loss gives the updates' losses) whose flow gap is
    gaps[r] decades at moment r (default 0.3: the first layer a little faster), the last layer at `top`;
    user: a user's run (its steps 0, 10, 20 …)."""
    gaps = np.full(R, 0.3) if gaps is None else np.asarray(gaps, dtype=float)
    speeds = np.array([flat_layers(top, g) for g in gaps]) if speeds is None else np.asarray(speeds, dtype=float)
    moments, n_layers = speeds.shape
    loss = np.asarray(loss, dtype=float)
    step_loss = loss.copy() if step_loss is None else np.asarray(step_loss, dtype=float)
    weight_step = np.full(len(step_loss), 0.01) if weight_step is None else np.asarray(weight_step, dtype=float)
    grad_norm = np.zeros(len(step_loss)) if grad_norm is None else np.asarray(grad_norm, dtype=float)
    applied_norm = grad_norm if applied_norm is None else np.asarray(applied_norm, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row's min is NaN, as the record keeps it
        low, high = np.nanmin(speeds, axis=1), np.nanmax(speeds, axis=1)
    times = np.arange(moments) * (10 if user else 1)
    return History("step" if user else "epoch", times, np.arange(1, n_layers + 1),
                   tuple(f"layer{k}" for k in range(1, n_layers + 1)), n_layers, speeds, low, high, loss, step_loss,
                   grad_norm, applied_norm, weight_step, weight_change=change, stopped_early=stopped_early,
                   has_loss=has_loss, update_times=times if user else None, layer_order=order,
                   loss_recorded=loss_recorded)


def present(history: History) -> set[str]:
    return {s.key for s in check_symptoms(history) if s.present}


def symptom(history: History, key: str):
    return check_symptoms(history)[key]


def test_checklist_lists_every_symptom_of_the_docstring_with_its_kind():
    checklist = make_history().symptoms
    assert isinstance(checklist, Checklist) and checklist.time_label == "epoch"
    assert [s.key for s in checklist] == list(KEYS)
    assert [s.kind for s in checklist] == KINDS
    assert all(s.available for s in checklist)
    assert [s.key for s in checklist if not s.applicable] == ["clipped"]  # this run never clipped
    assert all(isinstance(s.present, bool) for s in checklist)
    assert set(VERDICTS) == {"dead", "exploding", "exploding_clipped", "vanishing", "healthy"}


def test_healthy_run_has_no_symptom():
    checklist = check_symptoms(make_history())
    assert present(make_history()) == set()
    assert checklist.verdict == "healthy" and checklist.because == ()


# --- persistence over the late window -------------------------------------------------------------------------


def test_the_late_window_is_the_last_third():
    assert [late_start(n) for n in (1, 2, 3, 4, 12, 13)] == [0, 1, 2, 2, 8, 8]


def test_persistence_needs_half_the_late_window_and_says_from_when():
    holds = np.array([False] * 6 + [True, False, True, True, False, True])
    run = persistence(holds, np.ones(R, dtype=bool))
    assert run.present and run.since == 6 and (run.count, run.of) == (4, 6)
    assert not persistence(np.arange(R) == 1, np.ones(R, dtype=bool)).present  # one moment is no persistence
    unknown_late = np.ones(R, dtype=bool)
    unknown_late[8:] = False
    assert not persistence(np.ones(R, dtype=bool), unknown_late).present


# --- the loss does not converge (learn) -------------------------------------------------------------------------


@pytest.mark.parametrize("late, expected", [(0.95, True), (2.0, True), (0.89, False), (0.5, False)])
def test_not_converging_compares_the_late_median_with_the_start(late, expected):
    loss = np.concatenate([[1.0], np.linspace(1.0, late, R - 1)])
    loss[late_start(R):] = late
    history = make_history(loss=loss)
    assert ("not_converging" in present(history)) is expected
    evidence = symptom(history, "not_converging").evidence
    assert evidence["first"] == 1.0 and evidence["last"] == pytest.approx(late) and evidence["from"] == 8


def test_a_loss_stuck_at_chance_does_not_learn():
    """Issue 18: a loss that falls from 3.09 to ln 10 and stays there (10 classes guessed uniformly) is not
    converging, though it fell by a quarter."""
    loss = np.concatenate([[3.09, 2.4], np.full(R - 2, math.log(10))]) + np.linspace(0, 1e-3, R)
    history = make_history(loss=loss)
    evidence = symptom(history, "not_converging").evidence
    assert "not_converging" in present(history) and evidence["chance"] == 10
    passing_through = np.linspace(3.0, 1.6, R)  # near ln 10 in the late window's middle, but still falling
    passing_through[late_start(R):] = np.linspace(2.45, 2.15, R - late_start(R))
    assert symptom(make_history(loss=passing_through), "not_converging").evidence["chance"] is None


def test_a_loss_that_starts_at_zero_is_not_a_loss_that_does_not_converge():
    """Issue 9: "loss does not converge: yes (loss 0 at the start, 0 at the end)" was nonsense."""
    assert "not_converging" not in present(make_history(loss=np.zeros(R)))


def test_a_late_loss_that_is_not_a_number_does_not_converge():
    loss = FALLING.copy()
    loss[-1] = math.inf
    assert "not_converging" in present(make_history(loss=loss))


# --- the loss is unstable ----------------------------------------------------------------------------------------


def _with_rises(n_rises: int, rise: float = 1.3) -> np.ndarray:
    loss = np.geomspace(10.0, 3.0, 40)
    for k in range(n_rises):
        loss[3 + 8 * k] = loss[2 + 8 * k] * rise
    return loss


def test_unstable_loss_rises_on_a_tenth_of_the_updates():
    history = make_history(step_loss=_with_rises(4))
    assert "unstable" in present(history)
    assert symptom(history, "unstable").evidence == {"rises": 4, "updates": 39}
    assert "unstable" not in present(make_history(step_loss=_with_rises(3)))


def test_a_near_zero_loss_wobbling_from_batch_to_batch_is_not_unstable():
    """A healthy run's batch loss at 1e-4 doubles and halves; against its start (2.5) that is no rise."""
    loss = np.concatenate([[2.5, 1.0, 0.3], 1e-4 * np.tile([1.0, 2.0], 20)])
    assert "unstable" not in present(make_history(step_loss=loss))
    assert "unstable" in present(make_history(step_loss=np.concatenate([[2.5, 1.0, 0.3], np.tile([0.3, 0.6], 20)])))


def test_a_subnormal_loss_gives_no_overflow_warning():
    assert symptom(make_history(step_loss=[0.124, 5.8e-320, 0.5]), "unstable").available


# --- the loss becomes NaN ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_loss_becomes_nan_at_a_step_of_the_file(bad):
    loss = FALLING.copy()
    loss[6] = bad
    history = make_history(loss=loss, user=True)
    assert "loss_nan" in present(history)
    assert symptom(history, "loss_nan").evidence == {"update": 6, "at": 60}  # step 60, not "update 6"


def test_a_loss_not_recorded_at_a_step_is_no_nan():
    loss = FALLING.copy()
    loss[6] = math.nan
    recorded = np.ones(R, dtype=bool)
    recorded[6] = False
    history = make_history(loss=loss, user=True, loss_recorded=recorded)
    assert "loss_nan" not in present(history) and "not_converging" not in present(history)


def test_a_record_without_a_loss_leaves_the_loss_symptoms_unavailable():
    checklist = check_symptoms(make_history(loss=np.full(R, math.nan), has_loss=False))
    for key in ("not_converging", "unstable", "loss_nan"):
        assert not checklist[key].available and not checklist[key].present
    assert checklist.verdict == "healthy"


# --- the weights -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("largest, expected", [(0.6, True), (0.5, False), (0.49, False)])
def test_weights_change_a_lot(largest, expected):
    weight_step = np.full(R, 0.01)
    weight_step[4] = largest
    history = make_history(weight_step=weight_step, user=True)
    assert ("weights_jump" in present(history)) is expected
    assert symptom(history, "weights_jump").evidence == {"largest": largest, "update": 4, "at": 40}


def test_weights_become_nan():
    history = make_history(stopped_early=True)
    assert present(history) == {"weights_nan"} and check_symptoms(history).verdict == "exploding"
    assert symptom(history, "weights_nan").evidence == {"update": R, "at": None}


# --- the error gradient stays above 1.0 -------------------------------------------------------------------------


def test_the_median_layer_above_one_over_the_late_window_is_the_symptom():
    above = make_history(top=0.5, gaps=np.full(R, 0.4))  # layers at 10^0.5 … 10^0.9
    assert "above_one" in present(above)
    evidence = symptom(above, "above_one").evidence
    assert evidence["count"] == evidence["of"] == 4 and evidence["median_log10"] > 0
    at_init_only = [[1.0, 1.0, 1.0, 1.0]] * 2 + [[-1.0] * 4] * (R - 2)
    assert "above_one" not in present(make_history(speeds=at_init_only))
    one_layer_below = [[0.5, 0.5, 0.5, -3.0]] * R  # the median layer, not every layer
    assert "above_one" in present(make_history(speeds=one_layer_below))
    exactly_one = [[0.0] * 4] * R  # ‖∇‖ = 1.0 is not above 1.0
    assert "above_one" not in present(make_history(speeds=exactly_one))


# --- the flow through the layers ---------------------------------------------------------------------------------


def test_a_gradient_that_grows_back_100_times_and_stays_is_exploding():
    history = make_history(gaps=np.full(R, 2.5))
    assert "grows_back" in present(history) and check_symptoms(history).verdict == "exploding"
    assert symptom(history, "grows_back").evidence["decades"] == pytest.approx(2.5)


def test_mild_growth_toward_the_input_with_a_falling_loss_is_how_batch_norm_looks():
    """Issue 16: ≤ ~20× over 20 layers (norms 0.03–0.4) with a falling loss is not exploding."""
    speeds = [np.linspace(math.log10(0.4), math.log10(0.03), 20)] * R
    history = make_history(speeds=speeds)
    assert "grows_back" not in present(history) and check_symptoms(history).verdict == "healthy"
    steeper = [np.linspace(math.log10(0.4), math.log10(0.004), 20)] * R  # 100×: the quartiles 1.6 decades apart
    assert "grows_back" not in present(make_history(speeds=steeper))
    stalled = make_history(speeds=steeper, loss=np.full(R, 2.0))  # the same growth, with a loss that does not learn
    assert "grows_back" in present(stalled) and check_symptoms(stalled).verdict == "exploding"


def test_a_one_step_spike_is_no_verdict():
    """Issue 16: one step (often step 1) where the first layer is 10× the last does not make a run exploding."""
    gaps = np.full(R, 0.2)
    gaps[1] = 1.0
    history = make_history(gaps=gaps)
    assert "grows_back" not in present(history) and check_symptoms(history).verdict == "healthy"


def test_a_severe_moment_that_did_damage_is_an_explosion():
    """The article's chain: 10^4.2 at init, an update that throws the weights, then the neurons saturate."""
    gaps = np.concatenate([[4.2], np.full(R - 1, -200.0)])
    weight_step = np.full(R, 0.01)
    weight_step[0] = 1.95
    history = make_history(gaps=gaps, weight_step=weight_step, user=True)
    checklist = check_symptoms(history)
    assert checklist.verdict == "exploding" and checklist.because == ("weights_jump", "grows_back")
    assert checklist["grows_back"].evidence["spike"] == "jump" and checklist["grows_back"].evidence["from"] == 0
    assert checklist.present("early_stuck")  # what followed, said too
    assert check_symptoms(make_history(gaps=gaps)).verdict == "vanishing"  # the same gaps without damage


def test_a_severe_moment_clipping_had_to_cap_is_an_explosion_clipped():
    gaps = np.concatenate([[0.3, 3.0], np.full(R - 2, 0.3)])
    before = np.full(R, -1.0)
    before[1] = 2.0
    capped_there = make_history(gaps=gaps, grad_norm=before, applied_norm=np.minimum(before, 0.0), user=True)
    assert check_symptoms(capped_there).verdict == "exploding_clipped"
    elsewhere = before.copy()
    elsewhere[1], elsewhere[5] = -1.0, 2.0  # clipping capped another step: the spike did no damage
    capped_elsewhere = make_history(gaps=gaps, grad_norm=elsewhere, applied_norm=np.minimum(elsewhere, 0.0), user=True)
    assert check_symptoms(capped_elsewhere).verdict == "healthy"


def test_a_collapse_that_develops_is_vanishing_from_the_step_it_starts():
    """Issue 16: early layers fine at first, 3 decades below the top later, loss flat."""
    gaps = np.concatenate([np.full(5, 0.2), np.full(R - 5, -3.0)])
    history = make_history(gaps=gaps, loss=np.full(R, 1.5), user=True)
    checklist = check_symptoms(history)
    assert checklist.verdict == "vanishing" and checklist.because == ("early_stuck", "not_converging")
    evidence = checklist["early_stuck"].evidence
    assert evidence["from"] == 50 and evidence["decades"] == pytest.approx(3.0) and evidence["count"] == 7


def test_early_layers_that_catch_up_are_not_stuck():
    gaps = np.concatenate([np.full(8, -2.0), np.full(R - 8, -0.5)])
    assert "early_stuck" not in present(make_history(gaps=gaps))


def test_a_first_layer_with_zero_gradient_is_stuck_not_dead():
    speeds = [[-math.inf, -1.0, -1.0, -1.0]] * R
    history = make_history(speeds=speeds)
    assert "early_stuck" in present(history) and "dead" not in present(history)


def test_the_flow_uses_quartiles_so_one_odd_layer_does_not_decide():
    speeds = [[1.0] + [-2.0] * 11] * R  # an embedding 1000× the rest, the other layers flat
    assert "grows_back" not in present(make_history(speeds=speeds, loss=np.full(R, 2.0)))


def test_without_the_layers_order_the_flow_is_not_judged():
    history = make_history(gaps=np.full(R, 3.0), order="unknown")
    checklist = check_symptoms(history)
    assert not checklist["grows_back"].applicable and not checklist["early_stuck"].applicable
    assert checklist.verdict == "healthy"


def test_one_layer_has_no_flow():
    history = make_history(speeds=[[-1.0]] * R)
    assert not symptom(history, "grows_back").applicable and not symptom(history, "early_stuck").applicable


# --- dead; clipped ----------------------------------------------------------------------------------------------


def test_dead_when_every_gradient_is_exactly_zero_at_every_moment():
    history = make_history(speeds=[[-math.inf] * 2] * R, loss=np.full(R, 0.5), weight_step=np.zeros(R))
    checklist = check_symptoms(history)
    assert checklist.verdict == "dead" and checklist.because == ("dead",)
    assert checklist["dead"].evidence == {"moments": R} and checklist.present("not_converging")
    one_alive = [[-math.inf, -math.inf]] * (R - 1) + [[-math.inf, -3.0]]
    assert "dead" not in present(make_history(speeds=one_alive))


def test_clipping_is_listed_when_it_acted_or_was_on():
    grad = np.full(R, -1.0)
    grad[0] = 3.44
    history = make_history(grad_norm=grad, applied_norm=np.minimum(grad, 0.0), user=True)
    clipped = symptom(history, "clipped")
    assert clipped.present and clipped.applicable and check_symptoms(history).verdict == "healthy"
    assert clipped.evidence["capped"] == 1 and clipped.evidence["at"] == 0
    assert clipped.evidence["largest_log10"] == pytest.approx(3.44)
    never = make_history()
    assert not symptom(never, "clipped").applicable
    assert check_symptoms(never, clipping=True)["clipped"].applicable  # on, but it never had to cap
    grad[0] = math.log10(1.005)  # capped by half a percent: within the 1 % tolerance
    assert "clipped" not in present(make_history(grad_norm=grad, applied_norm=np.minimum(grad, 0.0)))


# --- the verdict -------------------------------------------------------------------------------------------------

MODIFIERS = {
    "not_converging": lambda kw: kw.setdefault("loss", np.full(R, 2.0)),
    "unstable": lambda kw: None,  # the case gives its loss
    "weights_jump": lambda kw: kw.update(weight_step=np.where(np.arange(R) == 3, 0.9, 0.01)),
    "weights_nan": lambda kw: kw.update(stopped_early=True),
    "above_one": lambda kw: kw.update(top=0.5),
    "early_stuck": lambda kw: kw.update(gaps=np.full(R, -2.0)),
    "grows_back": lambda kw: kw.update(gaps=np.full(R, 2.5), top=kw.get("top", -3.0)),
    "clipped": lambda kw: kw.update(grad_norm=np.where(np.arange(R) == 0, 2.0, -1.0), applied_norm=np.full(R, -1.0)),
}
UNSTABLE = np.tile([2.0, 2.5], R // 2)


@pytest.mark.parametrize("symptoms, loss, verdict, because", [
    ((), None, "healthy", ()),
    (("early_stuck",), None, "vanishing", ("early_stuck",)),
    (("not_converging",), None, "healthy", ()),
    (("clipped",), None, "healthy", ()),
    (("weights_jump",), None, "healthy", ()),
    (("above_one",), None, "healthy", ()),
    (("unstable", "not_converging"), UNSTABLE, "exploding", ("not_converging", "unstable")),
    (("above_one", "clipped"), None, "exploding_clipped", ("above_one", "clipped")),
    (("above_one", "not_converging"), None, "exploding", ("not_converging", "above_one")),
    (("weights_jump", "not_converging"), None, "healthy", ()),
    (("weights_nan",), None, "exploding", ("weights_nan",)),
    (("grows_back",), None, "exploding", ("grows_back",)),
    (("grows_back", "clipped"), None, "exploding_clipped", ("grows_back", "clipped")),
    (("early_stuck", "not_converging"), None, "vanishing", ("early_stuck", "not_converging")),
    (("early_stuck", "weights_nan"), None, "exploding", ("weights_nan",)),
    (("early_stuck", "clipped"), None, "vanishing", ("early_stuck",)),
])
def test_verdict(symptoms, loss, verdict, because):
    kw = {} if loss is None else {"loss": loss}
    for key in symptoms:
        MODIFIERS[key](kw)
    history = make_history(**kw)
    assert present(history) == set(symptoms)
    checklist = check_symptoms(history)
    assert checklist.verdict == verdict and history.symptoms.verdict == verdict
    assert checklist.because == because
    assert all(checklist.present(key) for key in checklist.because)  # the verdict rests on present symptoms


# --- NaN and infinity are reported, never raised ------------------------------------------------------------------


def test_everything_nan_is_reported_not_raised():
    nan = np.full((2, 2), math.nan)
    history = make_history(speeds=nan, loss=[math.nan, math.nan], weight_step=[math.nan] * 2, stopped_early=True,
                           grad_norm=[math.nan] * 2)
    checklist = check_symptoms(history)
    assert {"loss_nan", "weights_nan", "not_converging"} <= present(history)
    assert checklist.verdict == "exploding"
    assert not checklist["grows_back"].available and not checklist["dead"].available


def test_no_updates_at_all():
    history = make_history(speeds=[[-2.0, -0.5]], loss=[0.5], weight_step=[], grad_norm=[])
    checklist = check_symptoms(history)
    assert len(checklist.symptoms) == len(KEYS)
    assert not checklist["weights_jump"].available and not checklist["clipped"].available


# --- the article's chains, trained: the honest verdicts of issue 9 ----------------------------------------------


@pytest.mark.parametrize("clip", [ClipNorm(1.0), ClipValue(1.0)], ids=["norm", "value"])
def test_a_chain_whose_every_gradient_is_zero_is_dead_never_healthy(clip):
    """?depth=50&relu=1&clip=1: ReLU kills layer 1 (z_1 < 0), so every gradient is exactly 0 and the loss
    never moves from where it starts, 0."""
    history = train_chain(ChainConfig(depth=50, remedies=Remedies(activation="relu", clip=clip)), Training())
    checklist = history.symptoms
    assert np.isneginf(history.grad_log10).all() and (history.loss == 0.0).all()
    assert checklist.verdict == "dead" and checklist.because == ("dead",)
    assert not checklist.present("not_converging")  # a loss that starts at 0 has nothing to converge from
    assert not checklist.present("clipped")


def test_the_default_exploding_chain_explodes_because_its_gradient_grows_back():
    """15625× at init (one layer of four in each quarter: the flow gap is b₁ against b₄), the first update throws
    the weights, the neurons saturate and the gradient vanishes after: exploding, said with its one moment."""
    checklist = train_chain(ChainConfig(case="exploding"), Training()).symptoms
    assert checklist.verdict == "exploding" and checklist.because == ("weights_jump", "grows_back")
    evidence = checklist["grows_back"].evidence
    assert evidence["spike"] == "jump" and evidence["from"] == 0
    assert evidence["decades"] == pytest.approx(math.log10(15625.0), abs=1e-12)


def test_clipping_the_default_exploding_chain_is_exploding_clipped_not_healthy():
    checklist = train_chain(ChainConfig(case="exploding", remedies=Remedies(clip=ClipNorm(1.0))), Training()).symptoms
    assert checklist.verdict == "exploding_clipped"
    assert checklist.because == ("grows_back", "clipped") and checklist["grows_back"].evidence["spike"] == "clip"
    assert checklist["clipped"].evidence["capped"] == 1  # the first step; after it the gradient is tiny


def test_the_default_vanishing_chain_is_vanishing():
    history = train_chain(ChainConfig(), Training())
    checklist = history.symptoms
    assert checklist.verdict == "vanishing" and checklist.because == ("early_stuck",)
    # the early layer barely moves while the last learns: measured 2.0 % and 14.5 % of their initial weights
    assert checklist["early_stuck"].evidence["moved_first"] < checklist["early_stuck"].evidence["moved_last"] / 5


def test_a_dead_relu_first_layer_is_vanishing_not_dead():
    """The page's ReLU toggle, vanishing chain, seed 0, depth 4: z_1 < 0, so layer 1 never gets any gradient,
    while the later layers learn."""
    history = train_chain(ChainConfig(depth=4, seed=0, remedies=Remedies(activation="relu")), Training(5))
    assert np.isneginf(history.grad_log10[:, 0]).all() and np.isfinite(history.grad_log10[:, -1]).all()
    assert history.weight_change[-1, 0] == 0.0 and history.weight_change[-1, -1] > 0.0
    assert history.symptoms.verdict == "vanishing"
