"""gradviz.diagnostics: the symptom checklist and its verdict, on hand-made training records.

Every History here is built directly from small DataFrames, so each symptom can be switched on
and off by one number; the rules tested are the ones in the module docstring.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from gradviz.chain import ChainConfig
from gradviz.diagnostics import check_symptoms
from gradviz.experiments import Training, train_chain
from gradviz.network import Network
from gradviz.training import History

NOT_CONVERGING = "loss does not converge"
UNSTABLE = "loss unstable between updates"
LOSS_NAN = "loss becomes NaN"
WEIGHTS_JUMP = "weights change a lot"
WEIGHTS_NAN = "weights become NaN"
ABOVE_ONE = "error gradients stay above 1.0"
STUCK = "early layers learn slowly and stay near their initial values while the last layers learn"
ALL = (NOT_CONVERGING, UNSTABLE, LOSS_NAN, WEIGHTS_JUMP, WEIGHTS_NAN, ABOVE_ONE, STUCK)
RAW_SPECIAL = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)

N_STEPS = 30
NET = Network([[[1.0]]], [[0.0]])
# A healthy run: the loss falls smoothly, small steps, gradients below 1, layer 1 a bit slower than layer 2.
HEALTHY_LOSS = [1.0, 0.6, 0.3]
HEALTHY_SPEEDS = [[-1.0, -0.5], [-1.2, -0.8], [-1.5, -1.1]]  # log10 ‖∂C/∂b_l‖, epochs × layers


def make_history(loss=HEALTHY_LOSS, step_loss=None, weight_step=None, speeds_log10=HEALTHY_SPEEDS,
                 change=None, stopped_early=False) -> History:
    speeds_log10 = np.asarray(speeds_log10, dtype=float)
    n_epochs, n_layers = speeds_log10.shape
    epochs = np.repeat(np.arange(n_epochs), n_layers)
    layers = np.tile(np.arange(1, n_layers + 1), n_epochs)
    with np.errstate(over="ignore"):
        speeds = pd.DataFrame({"epoch": epochs, "layer": layers, "speed": 10.0 ** speeds_log10.ravel(),
                               "speed_log10": speeds_log10.ravel()})
    if step_loss is None:
        step_loss = list(np.geomspace(1.0, 0.3, N_STEPS))
    if weight_step is None:
        weight_step = [0.01] * len(step_loss)
    n = len(step_loss)
    steps = pd.DataFrame({"step": np.arange(1, n + 1), "epoch": np.arange(n), "loss": np.asarray(step_loss, float),
                          "grad_norm_log10": np.zeros(n), "applied_norm_log10": np.zeros(n),
                          "weight_step": np.asarray(weight_step, float)})
    if change is None:
        change = np.linspace(0.0, 0.2, n_epochs)[:, None] * np.ones(n_layers)
    change = np.asarray(change, dtype=float)
    weight_change = pd.DataFrame({"epoch": epochs, "layer": layers, "change": change.ravel()})
    return History(speeds=speeds, loss=pd.DataFrame({"epoch": np.arange(len(loss)), "loss": np.asarray(loss, float)}),
                   steps=steps, weight_change=weight_change, network=NET, stopped_early=stopped_early)


def present(history: History) -> set[str]:
    return {s.name for s in check_symptoms(history) if s.present}


def evidence(history: History, name: str) -> str:
    return next(s.evidence for s in check_symptoms(history) if s.name == name)


def test_checklist_lists_every_symptom_of_the_docstring_with_its_kind():
    checklist = make_history().symptoms
    assert [s.name for s in checklist] == list(ALL)
    assert [s.kind for s in checklist] == ["exploding"] * 6 + ["vanishing"]
    assert all(s.evidence for s in checklist)


def test_healthy_run_has_no_symptom():
    checklist = check_symptoms(make_history())
    assert present(make_history()) == set()
    assert checklist.verdict == "healthy"
    assert not any(checklist.present(name) for name in ALL)


# --- loss does not converge: final loss not below 90 % of the initial one, or not finite -------------------


@pytest.mark.parametrize("last, expected", [(0.95, True), (2.0, True), (math.nan, True), (math.inf, True),
                                            (0.89, False), (0.5, False)])
def test_not_converging(last, expected):
    history = make_history(loss=[1.0, 0.7, last])
    assert (NOT_CONVERGING in present(history)) is expected
    assert evidence(history, NOT_CONVERGING).startswith("loss 1 at the start")


def test_not_converging_at_exactly_90_percent():
    # 9.0 is not below 90 % of 10.0 (0.9 · 10.0 == 9.0 exactly in float64), so the symptom is present
    assert 0.9 * 10.0 == 9.0
    assert NOT_CONVERGING in present(make_history(loss=[10.0, 9.5, 9.0]))


# --- loss unstable: rose by more than 10 % on at least 10 % of the updates -----------------------------------


def _with_rises(n_rises: int, rise: float = 1.2) -> list[float]:
    loss = list(np.geomspace(10.0, 3.0, N_STEPS))
    for k in range(n_rises):
        i = 3 + 8 * k
        loss[i] = loss[i - 1] * rise
    return loss


def test_unstable_loss():
    # 3 rises of 20 % in 30 updates (29 transitions): at least 10 % either way of counting
    history = make_history(step_loss=_with_rises(3))
    assert UNSTABLE in present(history)
    assert "3 of 29" in evidence(history, UNSTABLE)
    # 2 rises: below 10 % either way of counting
    assert UNSTABLE not in present(make_history(step_loss=_with_rises(2)))


def test_a_rise_of_exactly_ten_percent_does_not_count():
    loss = [10.0, 11.0] * 15  # every other update rises by exactly 10 % (1/10 is exact here)
    assert (11.0 - 10.0) / 10.0 == 0.1
    assert UNSTABLE not in present(make_history(step_loss=loss))
    assert UNSTABLE in present(make_history(step_loss=[10.0, 11.5] * 15))


@pytest.mark.parametrize("step_loss", [[], [1.0]])
def test_unstable_needs_two_updates(step_loss):
    history = make_history(step_loss=step_loss)
    assert UNSTABLE not in present(history)
    assert evidence(history, UNSTABLE) == "fewer than two updates"


# --- loss becomes NaN ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_loss_becomes_nan_in_an_update(bad):
    step_loss = list(np.geomspace(1.0, 0.3, N_STEPS))
    step_loss[6] = bad
    history = make_history(step_loss=step_loss)
    assert LOSS_NAN in present(history)
    assert evidence(history, LOSS_NAN) == "first after update 6"  # entry k is the loss after k updates


def test_loss_becomes_nan_at_the_end():
    history = make_history(loss=[1.0, 0.5, math.nan])
    assert LOSS_NAN in present(history)
    assert check_symptoms(history).verdict == "exploding"


def test_finite_losses_are_not_nan():
    assert LOSS_NAN not in present(make_history())
    assert evidence(make_history(), LOSS_NAN) == "every recorded loss is finite"


# --- weights change a lot: one update moved a layer's weights by more than 50 % ------------------------------


@pytest.mark.parametrize("largest, expected", [(0.6, True), (0.5, False), (0.49, False), (math.nan, True),
                                               (math.inf, True)])
def test_weights_change_a_lot(largest, expected):
    weight_step = [0.01] * N_STEPS
    weight_step[4] = largest
    assert (WEIGHTS_JUMP in present(make_history(weight_step=weight_step))) is expected


def test_weights_change_evidence_in_percent():
    weight_step = [0.01] * N_STEPS
    weight_step[4] = 0.6
    assert "60 %" in evidence(make_history(weight_step=weight_step), WEIGHTS_JUMP)


# --- weights become NaN: the run stopped early ----------------------------------------------------------------


def test_weights_become_nan():
    history = make_history(stopped_early=True)
    assert present(history) == {WEIGHTS_NAN}
    assert f"update {N_STEPS}" in evidence(history, WEIGHTS_NAN)
    assert WEIGHTS_NAN not in present(make_history(stopped_early=False))


# --- error gradients stay above 1: every layer, every epoch ----------------------------------------------------


def test_gradients_above_one():
    above = [[0.5, 0.2], [0.3, 0.1], [0.01, 0.02]]
    assert present(make_history(speeds_log10=above)) == {ABOVE_ONE}
    one_dips = [[0.5, 0.2], [0.3, -0.01], [0.01, 0.02]]
    assert ABOVE_ONE not in present(make_history(speeds_log10=one_dips))
    exactly_one = [[0.5, 0.2], [0.3, 0.0], [0.01, 0.02]]  # ‖∂C/∂b_l‖ = 1.0 is not above 1.0
    assert ABOVE_ONE not in present(make_history(speeds_log10=exactly_one))
    assert "1.023" in evidence(make_history(speeds_log10=above), ABOVE_ONE)  # 10^0.01


def test_a_zero_gradient_is_not_above_one():
    # one layer's ‖∂C/∂b_l‖ is exactly 0 (log10 = −inf, e.g. a dead ReLU): not every layer was above 1.0
    speeds = [[0.5, -math.inf], [0.3, -math.inf], [0.2, -math.inf]]
    assert ABOVE_ONE not in present(make_history(speeds_log10=speeds))


# --- early layers stay put: ‖∂C/∂b_1‖ < ‖∂C/∂b_L‖ / 10 at every epoch -----------------------------------------


def test_early_layers_stuck():
    stuck = [[-3.0, -1.0], [-3.5, -1.2], [-2.2, -1.1]]  # layer 1 ≥ 10× slower at every epoch
    history = make_history(speeds_log10=stuck, change=[[0.0, 0.0], [0.001, 0.1], [0.002, 0.3]])
    assert present(history) == {STUCK}
    assert check_symptoms(history).verdict == "vanishing"
    text = evidence(history, STUCK)
    assert "0.07943" in text  # 10^-1.10, the largest (least stuck) ratio over the epochs
    assert "0.2 %" in text and "30 %" in text  # how far layer 1 and the last layer moved
    catches_up = [[-3.0, -1.0], [-3.5, -1.2], [-1.5, -1.1]]
    assert STUCK not in present(make_history(speeds_log10=catches_up))
    exactly_tenth = [[-3.0, -2.0], [-3.5, -2.5]]  # 1/10 exactly is not less than 1/10
    assert STUCK not in present(make_history(loss=[1.0, 0.5], speeds_log10=exactly_tenth, change=np.zeros((2, 2))))


def test_first_layer_with_zero_gradient_is_stuck():
    # ‖∂C/∂b_1‖ = 0 (log10 −inf) while the last layer learns: 0 < ‖∂C/∂b_L‖ / 10 at every epoch
    speeds = [[-math.inf, -1.0], [-math.inf, -1.2], [-math.inf, -1.4]]
    history = make_history(speeds_log10=speeds, change=[[0.0, 0.0], [0.0, 0.1], [0.0, 0.2]])
    assert STUCK in present(history)
    assert check_symptoms(history).verdict == "vanishing"


def test_dead_relu_chain_is_diagnosed_as_vanishing():
    """The app's ReLU toggle, vanishing chain, seed 0: z_1 < 0, so layer 1 never gets any gradient."""
    history = train_chain(ChainConfig(depth=4, seed=0, activation="relu"), Training(epochs=5))
    layer1 = history.speeds[history.speeds["layer"] == 1]
    last = history.speeds[history.speeds["layer"] == 4]
    assert (layer1["speed_log10"] == -math.inf).all()
    assert np.isfinite(last["speed_log10"]).all()
    final = history.weight_change[history.weight_change["epoch"] == 5]
    assert final["change"].iloc[0] == 0.0 and final["change"].iloc[-1] > 0.0
    assert history.symptoms.present(STUCK)
    assert history.symptoms.verdict == "vanishing"


# --- the verdict ---------------------------------------------------------------------------------------------

MODIFIERS = {
    NOT_CONVERGING: lambda kw: kw.update(loss=[1.0, 0.9, 0.95]),
    UNSTABLE: lambda kw: kw.update(step_loss=_with_rises(3)),
    LOSS_NAN: lambda kw: kw.update(step_loss=[*kw.get("step_loss", np.geomspace(1.0, 0.3, N_STEPS))[:-1], math.nan]),
    WEIGHTS_JUMP: lambda kw: kw.update(weight_step=[0.01] * 10 + [0.9] + [0.01] * (N_STEPS - 11)),
    WEIGHTS_NAN: lambda kw: kw.update(stopped_early=True),
    ABOVE_ONE: lambda kw: kw.update(speeds_log10=[[0.5, 0.2], [0.3, 0.1], [0.2, 0.1]]),
    STUCK: lambda kw: kw.update(speeds_log10=[[-3.0, -1.0], [-3.5, -1.2], [-2.2, -1.1]]),
}


@pytest.mark.parametrize("symptoms, verdict", [
    ((), "healthy"),
    ((STUCK,), "vanishing"),
    ((NOT_CONVERGING,), "healthy"),           # alone it is no explosion
    ((UNSTABLE,), "healthy"),                 # alone it is no explosion
    ((UNSTABLE, NOT_CONVERGING), "exploding"),
    ((LOSS_NAN,), "exploding"),
    ((WEIGHTS_JUMP,), "exploding"),
    ((WEIGHTS_NAN,), "exploding"),
    ((ABOVE_ONE,), "exploding"),
    ((STUCK, NOT_CONVERGING), "vanishing"),
    ((STUCK, UNSTABLE), "vanishing"),
    ((STUCK, WEIGHTS_JUMP), "exploding"),     # exploding symptoms take precedence
    ((STUCK, LOSS_NAN), "exploding"),
    ((STUCK, UNSTABLE, NOT_CONVERGING), "exploding"),
])
def test_verdict(symptoms, verdict):
    kw = {}
    for name in symptoms:
        MODIFIERS[name](kw)
    history = make_history(**kw)
    assert present(history) == set(symptoms)
    assert check_symptoms(history).verdict == verdict
    assert history.symptoms.verdict == verdict


# --- NaN and infinity are reported, never raised, never printed raw ---------------------------------------------


def _assert_words(history: History) -> None:
    for symptom in check_symptoms(history):
        assert not RAW_SPECIAL.search(symptom.evidence.replace("NaN", "")), (symptom.name, symptom.evidence)


def test_everything_nan_is_reported_not_raised():
    nan2 = [[math.nan, math.nan]] * 2
    history = make_history(loss=[math.nan, math.nan], step_loss=[math.nan], weight_step=[math.nan],
                           speeds_log10=nan2, change=nan2, stopped_early=True)
    checklist = check_symptoms(history)
    assert {LOSS_NAN, WEIGHTS_NAN, NOT_CONVERGING, WEIGHTS_JUMP} <= present(history)
    assert checklist.verdict == "exploding"
    _assert_words(history)


def test_a_blown_up_run_is_reported_in_words():
    # what an unclipped exploding chain records: the one update's step and the final weights are infinite
    history = make_history(loss=[0.125, math.nan], step_loss=[0.125], weight_step=[math.inf],
                           speeds_log10=[[417.9, -0.9], [math.nan, math.nan]], change=[[0.0, 0.0], [math.inf, 1e-4]],
                           stopped_early=True)
    assert {LOSS_NAN, WEIGHTS_NAN, WEIGHTS_JUMP, NOT_CONVERGING} <= present(history)
    assert check_symptoms(history).verdict == "exploding"
    _assert_words(history)


def test_no_updates_at_all():
    history = make_history(loss=[0.5], step_loss=[], speeds_log10=[[-2.0, -0.5]], change=[[0.0, 0.0]])
    checklist = check_symptoms(history)
    assert len(checklist.symptoms) == len(ALL)
    assert {UNSTABLE, LOSS_NAN, WEIGHTS_JUMP, WEIGHTS_NAN} & present(history) == set()
    _assert_words(history)
