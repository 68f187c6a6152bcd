"""gradviz.training.train and gradviz.remedies: update rules, clipping, the History it records,
and the experiments' headline facts (Nielsen's learning speeds, the exploding chain, the RNN)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradviz
from gradviz import L1, L2, ClipNorm, ClipValue, Gate, Network, backprop, nielsen_network, train
from gradviz.chain import ChainConfig
from gradviz.experiments import (NielsenConfig, RecurrentConfig, Training, recurrent_gradients, train_chain,
                                 train_nielsen)
from gradviz.logspace import LogArray
from gradviz.reference import nielsen_speeds
from gradviz.remedies import NORM_EPS, clip_gradients

ETA = 0.5
LMBDA = 2.0


def small_problem(seed: int = 1, rows: int = 5):
    """nielsen_network([4, 3, 2]) with random x (rows, 4) and one-hot y."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 4))
    y = np.eye(2)[rng.integers(0, 2, rows)]
    return nielsen_network([4, 3, 2], seed=seed), x, y


def gated_problem(seed: int = 2, rows: int = 5):
    """[4, 3, 3, 2] with a gated middle layer whose gate weights and biases are random (all regularizable)."""
    rng = np.random.default_rng(seed)
    plain = nielsen_network([4, 3, 3, 2], seed=seed)
    gate = Gate(rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((3, 3)), rng.standard_normal(3))
    net = Network(plain.weights, plain.biases, plain.activation, (None, gate, None))
    x = rng.standard_normal((rows, 4))
    y = np.eye(2)[rng.integers(0, 2, rows)]
    return net, x, y


def expected_step(net: Network, grads: list[np.ndarray], eta: float, regularization, n: int) -> list[np.ndarray]:
    """One step by the definitions: w ← (1 − ηλ/n)w − η∇w (L2), w − (ηλ/n)sign(w) − η∇w (L1), b ← b − η∇b."""
    out = []
    for (name, p), g in zip(net.named_parameters(), grads):
        p = np.array(p)
        if name in ("w", "wf", "wi") and isinstance(regularization, L2):
            out.append((1.0 - eta * regularization.lmbda / n) * p - eta * g)
        elif name in ("w", "wf", "wi") and isinstance(regularization, L1):
            out.append(p - (eta * regularization.lmbda / n) * np.sign(p) - eta * g)
        else:
            out.append(p - eta * g)
    return out


def assert_params_close(actual: list[np.ndarray], expected: list[np.ndarray], rtol: float = 1e-13) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=1e-15)


# --- update rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("regularization", [None, L2(LMBDA), L1(LMBDA)], ids=["plain", "L2", "L1"])
@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
@pytest.mark.parametrize("problem", [small_problem, gated_problem], ids=["plain_net", "gated_net"])
def test_one_full_batch_step_follows_the_update_rule(problem, cost, regularization):
    net, x, y = problem()
    grads = backprop(net, x, y, cost).params
    history = train(net, x, y, epochs=1, eta=ETA, cost=cost, regularization=regularization)
    assert_params_close(history.network.parameters(), expected_step(net, grads, ETA, regularization, n=len(x)))


def test_biases_are_never_regularized_and_weights_are():
    net, x, y = gated_problem()
    plain = train(net, x, y, epochs=1, eta=ETA).network
    decay = ETA * LMBDA / len(x)
    for regularization, shrink in ((L2(LMBDA), lambda p: decay * p), (L1(LMBDA), lambda p: decay * np.sign(p))):
        decayed = train(net, x, y, epochs=1, eta=ETA, regularization=regularization).network
        for (name, p0), p_plain, p_reg in zip(net.named_parameters(), plain.parameters(), decayed.parameters()):
            if name in ("b", "bf", "bi"):
                np.testing.assert_array_equal(p_reg, p_plain)
            else:  # w, and the gates' wf and wi
                np.testing.assert_allclose(p_plain - p_reg, shrink(p0), rtol=1e-12, atol=1e-15)
                assert not np.array_equal(p_reg, p_plain)


def test_mini_batches_use_a_seeded_permutation_and_decay_with_the_full_n():
    """Mini-batches of size 2 over 5 rows: the batches of default_rng(seed).permutation(5) in order, and
    weight decay ηλ/n with n = 5 (the training set), not the batch size."""
    net, x, y = small_problem(rows=5)
    seed, batch_size, regularization = 11, 2, L2(LMBDA)
    order = np.random.default_rng(seed).permutation(5)
    expected = net
    for start in range(0, 5, batch_size):
        rows = order[start:start + batch_size]
        grads = backprop(expected, x[rows], y[rows], "cross_entropy").params
        expected = expected.with_parameters(expected_step(expected, grads, ETA, regularization, n=5))
    history = train(net, x, y, epochs=1, eta=ETA, batch_size=batch_size, regularization=regularization, seed=seed)
    assert_params_close(history.network.parameters(), expected.parameters(), rtol=1e-12)
    assert len(history.steps) == 3


def test_clip_norm_step_scales_the_gradient_by_c_over_norm_plus_eps():
    net, x, y = small_problem()
    grads = backprop(net, x, y, "cross_entropy").params
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    c = norm / 10
    history = train(net, x, y, epochs=1, eta=ETA, clip=ClipNorm(c))
    coef = c / (norm + NORM_EPS)
    assert_params_close(history.network.parameters(), expected_step(net, [coef * g for g in grads], ETA, None, 5))
    step = history.steps.iloc[0]
    assert step["grad_norm_log10"] == pytest.approx(math.log10(norm), abs=1e-12)
    assert step["applied_norm_log10"] == pytest.approx(math.log10(norm * coef), abs=1e-12)


def test_step_records_match_independent_computations():
    net, x, y = small_problem()
    g = backprop(net, x, y, "cross_entropy")
    history = train(net, x, y, epochs=1, eta=ETA)
    step = history.steps.iloc[0]
    norm = math.sqrt(sum(float(np.sum(p * p)) for p in g.params))
    assert step["grad_norm_log10"] == pytest.approx(math.log10(norm), abs=1e-12)
    assert step["applied_norm_log10"] == pytest.approx(math.log10(norm), abs=1e-12)
    assert step["loss"] == pytest.approx(g.cost, rel=1e-15)
    moved = max(np.linalg.norm(w1 - w0) / np.linalg.norm(w0) for w0, w1 in zip(net.weights, history.network.weights))
    assert step["weight_step"] == pytest.approx(moved, rel=1e-12)


# --- cross-entropy gradients against central finite differences ----------------------------------------------


def _ce_cost(weights, biases, x, y) -> float:
    """C = mean_r Σ_j −[y ln a + (1 − y) ln(1 − a)] for an all-sigmoid network, written from the definition."""
    a = x
    for w, b in zip(weights, biases):
        a = 1.0 / (1.0 + np.exp(-(a @ w.T + b)))
    return float(np.mean(np.sum(-(y * np.log(a) + (1 - y) * np.log(1 - a)), axis=1)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_cross_entropy_step_moves_by_eta_times_the_finite_difference_gradient(seed):
    rng = np.random.default_rng(seed)
    net = nielsen_network([3, 4, 2], seed=seed)
    x = rng.standard_normal((6, 3))
    y = np.eye(2)[rng.integers(0, 2, 6)]
    eta = 0.25
    after = train(net, x, y, epochs=1, eta=eta, cost="cross_entropy").network
    weights, biases = [np.array(w) for w in net.weights], [np.array(b) for b in net.biases]
    h = 1e-6
    for group in (weights, biases):
        for k, array in enumerate(group):
            for idx in np.ndindex(array.shape):
                old = array[idx]
                array[idx] = old + h
                up = _ce_cost(weights, biases, x, y)
                array[idx] = old - h
                down = _ce_cost(weights, biases, x, y)
                array[idx] = old
                fd = (up - down) / (2 * h)
                moved = ((net.weights if group is weights else net.biases)[k][idx]
                         - (after.weights if group is weights else after.biases)[k][idx]) / eta
                assert moved == pytest.approx(fd, rel=1e-6, abs=1e-9), (k, idx)


# --- clipping invariants -------------------------------------------------------------------------------------

GRADIENT_SETS = st.lists(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
               elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)),
    min_size=1, max_size=4)


def _norm(arrays) -> float:
    return math.sqrt(math.fsum(float(np.sum(np.square(a))) for a in arrays))


@settings(max_examples=80, deadline=None)
@given(grads=GRADIENT_SETS, c=st.floats(1e-3, 1e3))
def test_clip_norm_caps_the_global_norm_and_keeps_the_direction(grads, c):
    norm = _norm(grads)
    clipped = clip_gradients([LogArray.of(g) for g in grads], ClipNorm(c))
    assert [a.shape for a in clipped] == [g.shape for g in grads]
    new = _norm(clipped)
    # PyTorch: coef = c / (norm + 1e-6), applied when below 1
    coef = min(1.0, c / (norm + NORM_EPS))
    assert new == pytest.approx(norm * coef, rel=1e-12, abs=1e-300)
    assert abs(new - min(norm, c)) <= NORM_EPS * (1 + 1e-9) + 1e-12 * norm
    for g, a in zip(grads, clipped):
        np.testing.assert_allclose(a, g * coef, rtol=1e-12, atol=1e-300)
        assert np.array_equal(np.sign(a), np.sign(g))


@settings(max_examples=50, deadline=None)
@given(grads=GRADIENT_SETS)
def test_below_the_threshold_nothing_changes(grads):
    c = _norm(grads) + 2 * NORM_EPS + 1e-9
    log_grads = [LogArray.of(g) for g in grads]
    clipped = clip_gradients(log_grads, ClipNorm(c))
    for g, a, unclipped in zip(grads, clipped, clip_gradients(log_grads, None)):
        np.testing.assert_array_equal(a, unclipped)
        np.testing.assert_allclose(a, g, rtol=1e-15, atol=0)


@settings(max_examples=50, deadline=None)
@given(grads=GRADIENT_SETS, c=st.floats(1e-3, 1e3))
def test_clip_value_clamps_every_entry(grads, c):
    clipped = clip_gradients([LogArray.of(g) for g in grads], ClipValue(c))
    for g, a in zip(grads, clipped):
        np.testing.assert_allclose(a, np.clip(g, -c, c), rtol=1e-15, atol=0)
        assert np.all(np.abs(a) <= c)


def test_clip_value_maps_infinities_to_plus_minus_c_and_keeps_nan():
    grads = [LogArray.of(np.array([np.inf, -np.inf, 0.5, -7.0])), LogArray(np.array([1.0, -1.0]), 5000.0)]
    with np.errstate(invalid="ignore"):
        nan = LogArray.of(np.array([np.nan]))
    a, b, c = clip_gradients(grads + [nan], ClipValue(2.0))
    np.testing.assert_array_equal(a, [2.0, -2.0, 0.5, -2.0])
    np.testing.assert_array_equal(b, [2.0, -2.0])
    assert np.isnan(c).all()


def test_clip_norm_brings_a_gradient_beyond_float64_back_to_norm_c():
    mantissa = np.array([[3.0, -4.0], [0.0, 12.0]])  # ‖·‖ = 13, times e^5000
    beyond = LogArray(mantissa, scale=5000.0)
    assert np.isinf(beyond.value[0, 0])
    small = LogArray.of(np.array([1.0, 2.0]))
    clipped = clip_gradients([beyond, small], ClipNorm(2.0))
    assert all(np.isfinite(a).all() for a in clipped)
    assert _norm(clipped) == pytest.approx(2.0, rel=1e-12)
    np.testing.assert_allclose(clipped[0], 2.0 * mantissa / 13.0, rtol=1e-12)
    np.testing.assert_array_equal(clipped[1], [0.0, 0.0])  # 1 and 2 against e^5000: nothing left


@pytest.mark.parametrize("value", [1e155, 1e200, 1e-170])
def test_clip_norm_of_large_or_tiny_plain_floats(value):
    """Plain float gradients (scale 0) beyond 1e154 or below 1e-162 still have a finite norm:
    clipping 1e200 to norm 1 gives 1, not 0 (the chain kernel hands train() plain floats up to 1e250)."""
    grads = [LogArray.of(np.array([value])), LogArray.of(np.array([-value]))]
    clipped = clip_gradients(grads, ClipNorm(1.0))
    # ‖(v, −v)‖ = √2·v: above 1 it clips to entries ±1/√2; far below 1 nothing changes
    expected = value if value < 1 else 1.0 / math.sqrt(2)
    np.testing.assert_allclose(np.concatenate(clipped), [expected, -expected], rtol=1e-9)


# --- History schema ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_batch_runs():
    net, x, y = small_problem(seed=3, rows=10)
    runs = {name: train(net, x, y, epochs=3, eta=ETA, batch_size=3, seed=seed)
            for name, seed in (("seed 0", 0), ("seed 0 again", 0), ("seed 7", 7))}
    return runs, (net, x, y)


def test_history_schema_full_batch():
    net, x, y = small_problem()
    epochs = 4
    history = train(net, x, y, epochs=epochs, eta=ETA)
    assert list(history.speeds.columns) == ["epoch", "layer", "speed", "speed_log10"]
    assert list(history.loss.columns) == ["epoch", "loss"]
    assert list(history.steps.columns) == ["step", "epoch", "loss", "grad_norm_log10", "applied_norm_log10",
                                           "weight_step"]
    assert list(history.weight_change.columns) == ["epoch", "layer", "change"]
    assert sorted(set(history.speeds["epoch"])) == list(range(epochs + 1))
    assert sorted(set(history.speeds["layer"])) == [1, 2]
    assert len(history.speeds) == (epochs + 1) * 2
    assert history.loss["epoch"].tolist() == list(range(epochs + 1))
    assert history.steps["step"].tolist() == list(range(1, epochs + 1))
    assert history.steps["epoch"].tolist() == list(range(epochs))
    np.testing.assert_allclose(history.speeds["speed"], 10.0 ** history.speeds["speed_log10"], rtol=1e-15)
    assert (history.weight_change[history.weight_change["epoch"] == 0]["change"] == 0.0).all()
    assert not history.stopped_early
    # the records at epoch 0 and at the end are backprop over the whole set, before and after training
    for epoch, network in ((0, net), (epochs, history.network)):
        g = backprop(network, x, y, "cross_entropy")
        np.testing.assert_allclose(history.speeds[history.speeds["epoch"] == epoch]["speed_log10"],
                                   g.log10_bias_norms, rtol=0, atol=1e-13)
        assert history.loss["loss"].iloc[epoch] == pytest.approx(g.cost, rel=1e-15)
    assert history.loss["loss"].iloc[-1] < history.loss["loss"].iloc[0]


@pytest.mark.parametrize("rows, batch_size, per_epoch", [(10, 3, 4), (10, 5, 2), (10, 1, 10), (10, 10, 1),
                                                          (10, 50, 1), (10, None, 1)])
def test_one_step_row_per_update(rows, batch_size, per_epoch):
    net, x, y = small_problem(seed=4, rows=rows)
    epochs = 2
    history = train(net, x, y, epochs=epochs, eta=ETA, batch_size=batch_size)
    assert per_epoch == (1 if batch_size is None else math.ceil(rows / min(batch_size, rows)))
    assert len(history.steps) == epochs * per_epoch
    assert history.steps["step"].tolist() == list(range(1, epochs * per_epoch + 1))
    assert history.steps["epoch"].tolist() == [e for e in range(epochs) for _ in range(per_epoch)]
    assert len(history.loss) == epochs + 1


def test_same_seed_gives_bit_identical_runs(mini_batch_runs):
    runs, _ = mini_batch_runs
    a, b = runs["seed 0"], runs["seed 0 again"]
    assert a is not b
    for frame in ("speeds", "loss", "steps", "weight_change"):
        pd.testing.assert_frame_equal(getattr(a, frame), getattr(b, frame), check_exact=True)
    for p, q in zip(a.network.parameters(), b.network.parameters()):
        np.testing.assert_array_equal(p, q)


def test_different_seeds_give_different_batch_orders(mini_batch_runs):
    runs, (net, x, y) = mini_batch_runs
    a, b = runs["seed 0"], runs["seed 7"]
    # the first update's batch differs, so its loss differs (same network, different rows)
    assert not np.array_equal(a.steps["loss"].to_numpy(), b.steps["loss"].to_numpy())
    assert not all(np.array_equal(p, q) for p, q in zip(a.network.parameters(), b.network.parameters()))
    # ... and each first-batch loss is the loss of the rows default_rng(seed).permutation chose
    for seed, run in ((0, a), (7, b)):
        rows = np.random.default_rng(seed).permutation(10)[:3]
        assert run.steps["loss"].iloc[0] == pytest.approx(backprop(net, x[rows], y[rows], "cross_entropy").cost,
                                                          rel=1e-15)


def test_progress_is_called_after_every_epoch():
    net, x, y = small_problem()
    seen = []
    train(net, x, y, epochs=4, eta=ETA, progress=seen.append)
    assert seen == [0.25, 0.5, 0.75, 1.0]


# --- the exploding chain -------------------------------------------------------------------------------------

DEPTH = 300


def _exact_grad_norm_log10(depth: int) -> float:
    """log10 ‖∇‖ of the exploding chain at initialization (a_0 = 1, a_j = 1/2, y = 0, C = ½a_L²):
    δ_j = σ'(0) · 25^(L−j) · a_L = 0.125 · 25^(L−j); ‖∇‖² = Σ_j δ_j² (1 + a_{j−1}²)."""
    ln_terms = [2 * (math.log(0.125) + (depth - j) * math.log(25.0)) + math.log(1.0 + (1.0 if j == 1 else 0.25))
                for j in range(1, depth + 1)]
    top = max(ln_terms)
    return (top + math.log(math.fsum(math.exp(t - top) for t in ln_terms))) / 2 / math.log(10)


@pytest.fixture(scope="module")
def chain_unclipped():
    return train_chain(ChainConfig(case="exploding", depth=DEPTH), Training(epochs=30))


@pytest.fixture(scope="module")
def chain_clipped():
    return train_chain(ChainConfig(case="exploding", depth=DEPTH), Training(epochs=30, clip=ClipNorm(1.0)))


def test_exploding_chain_without_clipping_blows_up_after_one_update(chain_unclipped):
    history = chain_unclipped
    # ∂C/∂b_1 = 0.125 · 25^299 ≈ 10^417: as a float it is infinite, so the first update sends w_1 and b_1 to −inf
    assert history.stopped_early
    assert len(history.steps) == 1
    assert history.loss["epoch"].tolist() == [0, 1]
    assert not all(np.isfinite(p).all() for p in history.network.parameters())
    assert np.isinf(history.network.weights[0]).all() and np.isinf(history.network.biases[0]).all()
    assert np.isnan(history.loss["loss"].iloc[-1])
    checklist = history.symptoms
    assert checklist.present("weights become NaN")
    assert checklist.present("loss becomes NaN")
    assert checklist.verdict == "exploding"
    assert history.speeds[history.speeds["epoch"] == 0]["speed_log10"].iloc[0] == pytest.approx(
        math.log10(0.125) + (DEPTH - 1) * math.log10(25.0), abs=1e-9)


def test_exploding_chain_records_the_true_gradient_norm(chain_unclipped):
    assert chain_unclipped.steps["grad_norm_log10"].iloc[0] == pytest.approx(_exact_grad_norm_log10(DEPTH), abs=1e-9)


def test_exploding_chain_with_clip_norm_stays_finite(chain_clipped):
    history = chain_clipped
    assert not history.stopped_early
    assert all(np.isfinite(p).all() for p in history.network.parameters())
    assert np.isfinite(history.loss["loss"]).all()
    applied = history.steps["applied_norm_log10"].to_numpy()
    assert (applied <= math.log10(1.0) + 1e-9).all()
    first = history.steps.iloc[0]
    assert first["grad_norm_log10"] > 100
    # measured: that one clipped step (b_1 moves by 0.07) shifts a_1 just below 1/2, and with w = 100 each
    # later z_j is pushed further from 0 until the neurons saturate and a_L ≈ 0 = y: the loss falls from
    # 0.125 to 1.9e-44 and every later gradient is about 10^-43, far below the threshold
    assert history.loss["loss"].iloc[0] == 0.125
    assert history.loss["loss"].iloc[1] < 1e-40
    assert (history.steps["grad_norm_log10"].iloc[1:] < -40).all()


def test_exploding_chain_clip_norm_applies_a_unit_norm_first_step(chain_clipped):
    """The first gradient (norm 10^417.2) is scaled to norm 1/(1 + 1e-6·10^-417) ≈ 1 and moves the weights."""
    first = chain_clipped.steps.iloc[0]
    assert first["grad_norm_log10"] == pytest.approx(_exact_grad_norm_log10(DEPTH), abs=1e-9)
    assert first["applied_norm_log10"] == pytest.approx(0.0, abs=1e-9)
    assert first["weight_step"] > 0
    # b_1's gradient δ_1 = 0.125 · 25^299 is 1/√2 of the norm (up to 25^-2): the step moves it by −η·δ_1/‖∇‖
    after_one = train_chain(ChainConfig(case="exploding", depth=DEPTH), Training(epochs=1, clip=ClipNorm(1.0)))
    net0, _ = ChainConfig(case="exploding", depth=DEPTH).build()
    share = 10.0 ** (math.log10(0.125) + (DEPTH - 1) * math.log10(25.0) - _exact_grad_norm_log10(DEPTH))
    assert 0.70 < share < 1 / math.sqrt(2)
    moved = after_one.network.biases[0][0] - net0.biases[0][0]
    assert moved == pytest.approx(-0.1 * share, rel=1e-9)


def test_exploding_chain_with_clip_value_stays_finite():
    history = train_chain(ChainConfig(case="exploding", depth=DEPTH), Training(epochs=3, clip=ClipValue(1.0)))
    assert not history.stopped_early
    assert all(np.isfinite(p).all() for p in history.network.parameters())
    assert history.steps["applied_norm_log10"].iloc[0] <= math.log10(math.sqrt(2 * DEPTH)) + 1e-12
    assert history.steps["grad_norm_log10"].iloc[0] > 100


# --- Nielsen's learning-speed experiment -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nielsen_epoch0():
    vanishing = train_nielsen(NielsenConfig(), Training(epochs=1))
    exploding = train_nielsen(NielsenConfig(case="exploding"), Training(epochs=1))

    def hidden_speeds(history):
        at0 = history.speeds[(history.speeds["epoch"] == 0) & (history.speeds["layer"] <= 4)]
        return at0.sort_values("layer")["speed"].to_numpy()

    return hidden_speeds(vanishing), hidden_speeds(exploding)


def test_nielsen_each_hidden_layer_learns_several_times_slower_than_the_next(nielsen_epoch0):
    speeds, _ = nielsen_epoch0
    # measured (seed 0): 0.00186, 0.00791, 0.0416, 0.209 — ratios 4.3, 5.3, 5.0
    assert len(speeds) == 4
    assert (speeds[1:] / speeds[:-1] >= 2.0).all(), speeds


def test_nielsen_epoch0_matches_his_published_values(nielsen_epoch0):
    speeds, _ = nielsen_epoch0
    his = nielsen_speeds(4)
    his0 = his[his["epoch"] == 0].sort_values("layer")["speed"].to_numpy()
    np.testing.assert_allclose(his0, [0.003, 0.017, 0.070, 0.285], rtol=0.05)
    assert np.array_equal(np.argsort(speeds), np.argsort(his0))
    # measured ours / his: 0.62, 0.46, 0.60, 0.73 (a different random draw of the same initialization)
    ratio = speeds / his0
    assert ((ratio > 1 / 3) & (ratio < 3)).all(), ratio


def test_exploding_nielsen_speeds_fall_from_layer_1_to_the_last_hidden(nielsen_epoch0):
    _, speeds = nielsen_epoch0
    # measured: 16.1, 5.66, 2.77, 1.66 — each layer 1.7 to 2.9 times the next
    assert (np.diff(speeds) < 0).all(), speeds
    assert (speeds[:-1] / speeds[1:] > 1.5).all(), speeds
    assert (speeds > 1.0).all()


# --- backprop through time -------------------------------------------------------------------------------------


def _survival_log10(case: str, forget_bias=None) -> float:
    norms = recurrent_gradients(RecurrentConfig(case=case, forget_bias=forget_bias)).log10_activation_grad_norms
    assert len(norms) == 51  # h_0 .. h_T, T = 50
    return float(norms[0] - norms[-1])


def test_rnn_gradient_vanishes_through_time():
    # measured: ‖∂C/∂h_0‖ = 10^-12.0, ‖∂C/∂h_T‖ = 10^-0.39: a ratio of 10^-11.6
    assert _survival_log10("vanishing") < -8


def test_rnn_gradient_explodes_through_time():
    # measured: ‖∂C/∂h_0‖ = 10^3.29, ‖∂C/∂h_T‖ = 10^0.10: a ratio of 10^3.19
    assert _survival_log10("exploding") > 2


def test_rnn_gating_keeps_the_gradient():
    # measured with forget_bias = 3 (f = σ(3) = 0.953): the ratio is 10^+0.83 instead of 10^-11.6
    plain, gated = _survival_log10("vanishing"), _survival_log10("vanishing", forget_bias=3.0)
    assert gated > -2
    assert gated - plain > 10


def test_public_api_exports_train_and_the_remedies():
    assert gradviz.train is train
    assert {"ClipNorm", "ClipValue", "L1", "L2", "History", "train"} <= set(gradviz.__all__)
