"""gradviz.training.diagnostics: the symptom checklist (numbers, not words) and its honest verdict.

Most Histories here are built by hand from small arrays, so each symptom can be switched on and off by one
number; the rules tested are the ones in the module docstring. The last section runs the article's chains.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from gradviz import ChainConfig, ClipNorm, ClipValue, History, Remedies, Training
from gradviz.experiments.chain import train_chain
from gradviz.training.diagnostics import VERDICTS, Checklist, check_symptoms

pytestmark = pytest.mark.filterwarnings("error")

KEYS = ("not_converging", "unstable", "loss_nan", "weights_jump", "weights_nan", "above_one", "grows_back",
        "early_stuck", "dead", "clipped")
KINDS = ["exploding"] * 7 + ["vanishing", "dead", "clipping"]

N_STEPS = 30
# A healthy run: the loss falls smoothly, small steps, gradients below 1, layer 1 a bit slower than layer 2.
HEALTHY_LOSS = [1.0, 0.6, 0.3]
HEALTHY_SPEEDS = [[-1.0, -0.5], [-1.2, -0.8], [-1.5, -1.1]]  # log10 ‖∂C/∂b_l‖, moments × layers


def make_history(loss=HEALTHY_LOSS, step_loss=None, weight_step=None, speeds_log10=HEALTHY_SPEEDS, change=None,
                 stopped_early=False, grad_norm=None, applied_norm=None, has_loss=True) -> History:
    speeds = np.asarray(speeds_log10, dtype=float)
    moments, n_layers = speeds.shape
    step_loss = np.geomspace(1.0, 0.3, N_STEPS) if step_loss is None else np.asarray(step_loss, dtype=float)
    n = len(step_loss)
    weight_step = np.full(n, 0.01) if weight_step is None else np.asarray(weight_step, dtype=float)
    grad_norm = np.zeros(n) if grad_norm is None else np.asarray(grad_norm, dtype=float)
    applied_norm = grad_norm if applied_norm is None else np.asarray(applied_norm, dtype=float)
    change = np.linspace(0.0, 0.2, moments)[:, None] * np.ones(n_layers) if change is None else np.asarray(change, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row's min is NaN, as the record keeps it
        low, high = np.min(speeds, axis=1), np.max(speeds, axis=1)
    return History("epoch", np.arange(moments), np.arange(1, n_layers + 1), tuple(map(str, range(1, n_layers + 1))),
                   n_layers, speeds, low, high, np.asarray(loss, dtype=float), step_loss, grad_norm, applied_norm,
                   weight_step, weight_change=change, stopped_early=stopped_early, has_loss=has_loss)


def present(history: History) -> set[str]:
    return {s.key for s in check_symptoms(history) if s.present}


def symptom(history: History, key: str):
    return check_symptoms(history)[key]


def test_checklist_lists_every_symptom_of_the_docstring_with_its_kind():
    checklist = make_history().symptoms
    assert isinstance(checklist, Checklist)
    assert [s.key for s in checklist] == list(KEYS)
    assert [s.kind for s in checklist] == KINDS
    assert all(s.available for s in checklist)
    assert all(isinstance(s.present, bool) for s in checklist)
    assert set(VERDICTS) == {"dead", "exploding", "exploding_clipped", "vanishing", "healthy"}


def test_healthy_run_has_no_symptom():
    checklist = check_symptoms(make_history())
    assert present(make_history()) == set()
    assert checklist.verdict == "healthy" and checklist.because == ()


# --- loss does not converge: final loss not below 90 % of the initial one, or not finite -------------------


@pytest.mark.parametrize("last, expected", [(0.95, True), (2.0, True), (math.nan, True), (math.inf, True),
                                            (0.89, False), (0.5, False)])
def test_not_converging(last, expected):
    history = make_history(loss=[1.0, 0.7, last])
    assert ("not_converging" in present(history)) is expected
    evidence = symptom(history, "not_converging").evidence
    assert evidence["first"] == 1.0 and (evidence["last"] == last or math.isnan(last))


def test_not_converging_at_exactly_90_percent():
    # 9.0 is not below 90 % of 10.0 (0.9 · 10.0 == 9.0 exactly in float64), so the symptom is present
    assert 0.9 * 10.0 == 9.0
    assert "not_converging" in present(make_history(loss=[10.0, 9.5, 9.0]))


def test_a_loss_that_starts_at_zero_is_not_a_loss_that_does_not_converge():
    """Issue 9: "loss does not converge: yes (loss 0 at the start, 0 at the end)" was nonsense."""
    history = make_history(loss=[0.0, 0.0, 0.0], step_loss=np.zeros(N_STEPS))
    assert "not_converging" not in present(history)
    assert symptom(history, "not_converging").evidence == {"first": 0.0, "last": 0.0}


# --- loss unstable: rose by more than 10 % on at least 10 % of the updates -----------------------------------


def _with_rises(n_rises: int, rise: float = 1.2) -> list[float]:
    loss = list(np.geomspace(10.0, 3.0, N_STEPS))
    for k in range(n_rises):
        i = 3 + 8 * k
        loss[i] = loss[i - 1] * rise
    return loss


def test_unstable_loss():
    # 3 rises of 20 % in 30 updates (29 transitions): at least 10 %
    history = make_history(step_loss=_with_rises(3))
    assert "unstable" in present(history)
    assert symptom(history, "unstable").evidence == {"rises": 3, "updates": 29}
    # 2 rises: below 10 %
    assert "unstable" not in present(make_history(step_loss=_with_rises(2)))


def test_a_rise_of_exactly_ten_percent_does_not_count():
    loss = [10.0, 11.0] * 15  # every other update rises by exactly 10 % (1/10 is exact here)
    assert (11.0 - 10.0) / 10.0 == 0.1
    assert "unstable" not in present(make_history(step_loss=loss))
    assert "unstable" in present(make_history(step_loss=[10.0, 11.5] * 15))


@pytest.mark.parametrize("step_loss", [[], [1.0]])
def test_unstable_needs_two_updates(step_loss):
    history = make_history(step_loss=step_loss)
    assert "unstable" not in present(history)
    assert not symptom(history, "unstable").available


# --- loss becomes NaN ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_loss_becomes_nan_in_an_update(bad):
    step_loss = list(np.geomspace(1.0, 0.3, N_STEPS))
    step_loss[6] = bad
    history = make_history(step_loss=step_loss)
    assert "loss_nan" in present(history)
    assert symptom(history, "loss_nan").evidence == {"first_update": 6}


def test_loss_becomes_nan_at_the_end():
    history = make_history(loss=[1.0, 0.5, math.nan])
    assert "loss_nan" in present(history)
    assert check_symptoms(history).verdict == "exploding"


def test_finite_losses_are_not_nan():
    assert "loss_nan" not in present(make_history())
    assert symptom(make_history(), "loss_nan").evidence == {"first_update": None}


def test_a_record_without_a_loss_leaves_the_loss_symptoms_unavailable():
    history = make_history(loss=[math.nan] * 3, step_loss=[math.nan] * N_STEPS, has_loss=False)
    checklist = check_symptoms(history)
    for key in ("not_converging", "unstable", "loss_nan"):
        assert not checklist[key].available and not checklist[key].present
    assert checklist.verdict == "healthy"


# --- weights change a lot: one update moved a layer's weights by more than 50 % ------------------------------


@pytest.mark.parametrize("largest, expected", [(0.6, True), (0.5, False), (0.49, False)])
def test_weights_change_a_lot(largest, expected):
    weight_step = [0.01] * N_STEPS
    weight_step[4] = largest
    history = make_history(weight_step=weight_step)
    assert ("weights_jump" in present(history)) is expected
    assert symptom(history, "weights_jump").evidence == {"largest": largest}


def test_a_non_finite_step_is_the_nan_symptoms_evidence_not_a_jump():
    """An update that made the weights NaN or infinite is weights_nan's evidence; weights_jump measures the
    finite steps (present when the only step was infinite: the first update blew up; unavailable when the
    only one is NaN)."""
    weight_step = [0.01] * N_STEPS
    weight_step[-1] = math.inf
    assert "weights_jump" not in present(make_history(weight_step=weight_step))
    assert "weights_jump" in present(make_history(step_loss=[0.125], weight_step=[math.inf]))
    assert not symptom(make_history(step_loss=[0.125], weight_step=[math.nan]), "weights_jump").available


# --- weights become NaN: the run stopped early ----------------------------------------------------------------


def test_weights_become_nan():
    history = make_history(stopped_early=True)
    assert present(history) == {"weights_nan"}
    assert symptom(history, "weights_nan").evidence == {"update": N_STEPS}
    assert "weights_nan" not in present(make_history(stopped_early=False))


# --- error gradients stay above 1: every layer, every moment -----------------------------------------------------


def test_gradients_above_one():
    above = [[0.5, 0.2], [0.3, 0.1], [0.01, 0.02]]
    assert present(make_history(speeds_log10=above)) == {"above_one"}
    assert symptom(make_history(speeds_log10=above), "above_one").evidence == {"smallest_log10": 0.01}
    one_dips = [[0.5, 0.2], [0.3, -0.01], [0.01, 0.02]]
    assert "above_one" not in present(make_history(speeds_log10=one_dips))
    exactly_one = [[0.5, 0.2], [0.3, 0.0], [0.01, 0.02]]  # ‖∂C/∂b_l‖ = 1.0 is not above 1.0
    assert "above_one" not in present(make_history(speeds_log10=exactly_one))


def test_a_zero_gradient_is_not_above_one():
    # one layer's ‖∂C/∂b_l‖ is exactly 0 (log10 = −inf, e.g. a dead ReLU): not every layer was above 1.0
    speeds = [[0.5, -math.inf], [0.3, -math.inf], [0.2, -math.inf]]
    assert "above_one" not in present(make_history(speeds_log10=speeds))


# --- the flow through the layers: grows back (some moment), early layers stuck (every moment) -------------------


def test_the_gradient_grows_on_its_way_back():
    # ‖g_1‖/‖g_L‖ = 10^4.2 at initialization, then the neurons saturate and it vanishes: an explosion need not last
    history = make_history(speeds_log10=[[3.3, -0.9], [-254.0, -43.4], [-254.0, -43.4]])
    assert "grows_back" in present(history) and "early_stuck" not in present(history)
    evidence = symptom(history, "grows_back").evidence
    assert evidence["highest_log10"] == pytest.approx(4.2) and evidence["lowest_log10"] == pytest.approx(-210.6)
    exactly_ten = [[0.0, -1.0], [-1.0, -2.0]]  # 10× is not more than 10×
    assert "grows_back" not in present(make_history(loss=[1.0, 0.5], speeds_log10=exactly_ten, change=np.zeros((2, 2))))


def test_early_layers_stuck():
    stuck = [[-3.0, -1.0], [-3.5, -1.2], [-2.2, -1.1]]  # layer 1 ≥ 10× slower at every moment
    history = make_history(speeds_log10=stuck, change=[[0.0, 0.0], [0.001, 0.1], [0.002, 0.3]])
    assert present(history) == {"early_stuck"}
    checklist = check_symptoms(history)
    assert checklist.verdict == "vanishing" and checklist.because == ("early_stuck",)
    evidence = checklist["early_stuck"].evidence
    assert evidence["highest_log10"] == pytest.approx(-1.1)  # the least stuck moment
    assert evidence["moved_first"] == 0.002 and evidence["moved_last"] == 0.3  # how far layer 1 and L moved
    catches_up = [[-3.0, -1.0], [-3.5, -1.2], [-1.5, -1.1]]
    assert "early_stuck" not in present(make_history(speeds_log10=catches_up))
    exactly_tenth = [[-3.0, -2.0], [-3.5, -2.5]]  # 1/10 exactly is not less than 1/10
    assert "early_stuck" not in present(make_history(loss=[1.0, 0.5], speeds_log10=exactly_tenth,
                                                     change=np.zeros((2, 2))))


def test_first_layer_with_zero_gradient_is_stuck():
    # ‖∂C/∂b_1‖ = 0 (log10 −inf) while the last layer learns: 0 < ‖∂C/∂b_L‖ / 10 at every moment
    speeds = [[-math.inf, -1.0], [-math.inf, -1.2], [-math.inf, -1.4]]
    history = make_history(speeds_log10=speeds, change=[[0.0, 0.0], [0.0, 0.1], [0.0, 0.2]])
    assert "early_stuck" in present(history) and "dead" not in present(history)
    assert check_symptoms(history).verdict == "vanishing"


def test_one_layer_has_no_flow():
    history = make_history(speeds_log10=[[-1.0], [-1.5], [-2.0]], change=np.zeros((3, 1)))
    assert not symptom(history, "grows_back").available and not symptom(history, "early_stuck").available


# --- dead: every gradient exactly 0 ------------------------------------------------------------------------------


def test_dead_when_every_gradient_is_exactly_zero_at_every_moment():
    zeros = [[-math.inf, -math.inf]] * 3
    history = make_history(loss=[0.5, 0.5, 0.5], step_loss=[0.5] * N_STEPS, weight_step=[0.0] * N_STEPS,
                           speeds_log10=zeros, change=np.zeros((3, 2)))
    checklist = check_symptoms(history)
    assert checklist.verdict == "dead" and checklist.because == ("dead",)
    assert checklist["dead"].evidence == {"moments": 3}
    # the loss that does not move is no explosion here: the verdict says why nothing learns
    assert checklist.present("not_converging")
    one_alive = [[-math.inf, -math.inf], [-math.inf, -3.0], [-math.inf, -math.inf]]
    assert "dead" not in present(make_history(speeds_log10=one_alive, change=np.zeros((3, 2))))


# --- clipped: the norm before clipping above the norm applied -------------------------------------------------


def test_clipped_when_some_update_was_capped_by_more_than_one_percent():
    grad, applied = np.zeros(N_STEPS), np.zeros(N_STEPS)
    grad[0] = 3.44
    history = make_history(grad_norm=grad, applied_norm=applied)
    assert present(history) == {"clipped"}
    assert check_symptoms(history).verdict == "healthy"  # clipping alone is a remedy at work, not a problem
    evidence = symptom(history, "clipped").evidence
    assert evidence["capped"] == 1 and evidence["updates"] == N_STEPS and evidence["largest_log10"] == pytest.approx(3.44)
    grad[0] = math.log10(1.005)  # capped by half a percent: within the 1 % tolerance
    assert "clipped" not in present(make_history(grad_norm=grad, applied_norm=applied))


# --- the verdict ---------------------------------------------------------------------------------------------

MODIFIERS = {
    "not_converging": lambda kw: kw.update(loss=[1.0, 0.9, 0.95]),
    "unstable": lambda kw: kw.update(step_loss=_with_rises(3)),
    "loss_nan": lambda kw: kw.update(step_loss=[*kw.get("step_loss", np.geomspace(1.0, 0.3, N_STEPS))[:-1], math.nan]),
    "weights_jump": lambda kw: kw.update(weight_step=[0.01] * 10 + [0.9] + [0.01] * (N_STEPS - 11)),
    "weights_nan": lambda kw: kw.update(stopped_early=True),
    "above_one": lambda kw: kw.update(speeds_log10=[[0.5, 0.2], [0.3, 0.1], [0.2, 0.1]]),
    "early_stuck": lambda kw: kw.update(speeds_log10=[[-3.0, -1.0], [-3.5, -1.2], [-2.2, -1.1]]),
    "grows_back": lambda kw: kw.update(speeds_log10=[[1.5, -0.5], [-1.0, -0.8], [-1.2, -1.0]]),
    "clipped": lambda kw: kw.update(grad_norm=[2.0] + [0.0] * (N_STEPS - 1), applied_norm=[0.0] * N_STEPS),
}


@pytest.mark.parametrize("symptoms, verdict, because", [
    ((), "healthy", ()),
    (("early_stuck",), "vanishing", ("early_stuck",)),
    (("not_converging",), "healthy", ()),                 # alone it is no explosion
    (("unstable",), "healthy", ()),                       # alone it is no explosion
    (("clipped",), "healthy", ()),                        # clipping that hides nothing
    (("unstable", "not_converging"), "exploding", ("unstable", "not_converging")),
    (("loss_nan",), "exploding", ("loss_nan",)),
    (("weights_jump",), "healthy", ()),                   # big steps alone: a small weight moves a lot in a healthy run
    (("weights_jump", "not_converging"), "exploding", ("not_converging", "weights_jump")),
    (("weights_jump", "unstable"), "exploding", ("unstable", "weights_jump")),
    (("weights_nan",), "exploding", ("weights_nan",)),
    (("above_one",), "exploding", ("above_one",)),
    (("grows_back",), "exploding", ("grows_back",)),
    (("grows_back", "clipped"), "exploding_clipped", ("grows_back", "clipped")),
    (("weights_jump", "unstable", "clipped"), "exploding_clipped", ("unstable", "weights_jump", "clipped")),
    (("early_stuck", "not_converging"), "vanishing", ("early_stuck",)),
    (("early_stuck", "unstable"), "vanishing", ("early_stuck",)),
    (("early_stuck", "weights_jump"), "vanishing", ("early_stuck",)),
    (("early_stuck", "weights_nan"), "exploding", ("weights_nan",)),  # exploding symptoms take precedence
    (("early_stuck", "loss_nan"), "exploding", ("loss_nan",)),
    (("early_stuck", "clipped"), "vanishing", ("early_stuck",)),  # clipping caps steps; it does not hide vanishing
    (("early_stuck", "unstable", "not_converging"), "exploding", ("unstable", "not_converging")),
])
def test_verdict(symptoms, verdict, because):
    kw = {}
    for key in symptoms:
        MODIFIERS[key](kw)
    history = make_history(**kw)
    assert present(history) == set(symptoms)
    checklist = check_symptoms(history)
    assert checklist.verdict == verdict and history.symptoms.verdict == verdict
    assert checklist.because == because
    assert all(checklist.present(key) for key in checklist.because)  # the verdict rests on present symptoms


# --- NaN and infinity are reported, never raised ---------------------------------------------------------------


def test_everything_nan_is_reported_not_raised():
    nan2 = [[math.nan, math.nan]] * 2
    history = make_history(loss=[math.nan, math.nan], step_loss=[math.nan], weight_step=[math.nan],
                           speeds_log10=nan2, change=nan2, stopped_early=True, grad_norm=[math.nan])
    checklist = check_symptoms(history)
    assert {"loss_nan", "weights_nan", "not_converging"} <= present(history)
    assert checklist.verdict == "exploding"
    assert not checklist["grows_back"].available and not checklist["dead"].available


def test_a_blown_up_run_is_diagnosed():
    # what an unclipped exploding chain records: the one update's step and the final weights are infinite
    history = make_history(loss=[0.125, math.nan], step_loss=[0.125], weight_step=[math.inf],
                           speeds_log10=[[417.9, -0.9], [math.nan, math.nan]], change=[[0.0, 0.0], [math.inf, 1e-4]],
                           stopped_early=True)
    assert {"loss_nan", "weights_nan", "weights_jump", "not_converging", "grows_back"} <= present(history)
    assert check_symptoms(history).verdict == "exploding"


def test_no_updates_at_all():
    history = make_history(loss=[0.5], step_loss=[], speeds_log10=[[-2.0, -0.5]], change=[[0.0, 0.0]])
    checklist = check_symptoms(history)
    assert len(checklist.symptoms) == len(KEYS)
    assert {"unstable", "loss_nan", "weights_jump", "weights_nan", "clipped"} & present(history) == set()
    assert not checklist["weights_jump"].available and not checklist["clipped"].available


def test_a_subnormal_loss_gives_no_overflow_warning():
    """The per-update losses [0.124, 5.8e-320, 0.5] (reachable from the page: depth=1, y=3.4e-160, L2 λ = 100,
    η = 100): the relative rise over a subnormal must not warn (pytest makes RuntimeWarning an error here)."""
    history = make_history(step_loss=[0.124, 5.8e-320, 0.5])
    assert "unstable" in present(history)


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
    checklist = train_chain(ChainConfig(case="exploding"), Training()).symptoms
    assert checklist.verdict == "exploding"
    assert "grows_back" in checklist.because and checklist.because != ("weights_jump",)
    assert checklist["grows_back"].evidence["highest_log10"] == pytest.approx(math.log10(15625.0), abs=1e-12)


def test_clipping_the_default_exploding_chain_is_exploding_clipped_not_healthy():
    checklist = train_chain(ChainConfig(case="exploding", remedies=Remedies(clip=ClipNorm(1.0))), Training()).symptoms
    assert checklist.verdict == "exploding_clipped"
    assert checklist.because == ("grows_back", "clipped")
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
