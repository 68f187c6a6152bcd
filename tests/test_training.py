"""gradviz.training: train's update rules, the remedies (clipping, L1/L2), the History it records, and the
experiments' headline facts (the exploding chain trained, Nielsen's learning speeds, the RNN)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradviz
from gradviz import (L1, L2, ChainConfig, ClipNorm, ClipValue, Gate, History, Network, Remedies, Training, backprop,
                     train)
from gradviz.datasets import mnist_1k
from gradviz.engine.scaled import Scaled, ln_global_norm, ln_norm
from gradviz.experiments.chain import train_chain
from gradviz.training.history import MAX_RECORDED_LAYERS, recorded_layers
from gradviz.training.remedies import NORM_EPS, NoClip

from conftest import plain_backprop

pytestmark = pytest.mark.filterwarnings("error")

ETA = 0.5
LMBDA = 2.0
WEIGHTS = ("w", "wf", "wi")


def nielsen_like(sizes, seed):
    """Weights N(0, 1/n_in), biases N(0, 1) (Nielsen's initialization), drawn here."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((n_out, n_in)) / math.sqrt(n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return Network(weights, [rng.standard_normal(n) for n in sizes[1:]], "sigmoid")


def small_problem(seed: int = 1, rows: int = 5):
    """[4, 3, 2] with random x (rows, 4) and one-hot y."""
    rng = np.random.default_rng(seed + 100)
    x = rng.standard_normal((rows, 4))
    y = np.eye(2)[rng.integers(0, 2, rows)]
    return nielsen_like([4, 3, 2], seed), x, y


def gated_problem(seed: int = 2, rows: int = 5):
    """[4, 3, 3, 2] with a gated middle layer whose gate weights and biases are random (all regularizable)."""
    rng = np.random.default_rng(seed)
    plain = nielsen_like([4, 3, 3, 2], seed)
    gate = Gate(rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((3, 3)), rng.standard_normal(3))
    net = Network(plain.weights, plain.biases, plain.activation, (None, gate, None))
    x = rng.standard_normal((rows, 4))
    y = np.eye(2)[rng.integers(0, 2, rows)]
    return net, x, y


def chain_problem(seed: int = 3, rows: int = 1, gated: bool = True):
    """A width-1 chain of 6 layers (backprop takes the chain kernel), gated unless asked not to
    (cross-entropy needs a plain sigmoid output)."""
    rng = np.random.default_rng(seed)
    net = Network.chain_of(rng.standard_normal(6), rng.standard_normal(6), "sigmoid",
                           gates=tuple(rng.standard_normal((4, 6))) if gated else None)
    return net, rng.standard_normal((rows, 1)), rng.uniform(0, 1, (rows, 1))


def expected_step(net: Network, grads: list[np.ndarray], eta: float, regularization, n: int) -> list[np.ndarray]:
    """One step by the definitions: w ← (1 − ηλ/n)w − η∇w (L2), w − (ηλ/n)sign(w) − η∇w (L1), b ← b − η∇b."""
    out = []
    for (name, p), g in zip(net.named_parameters(), grads):
        p = np.array(p)
        if name in WEIGHTS and isinstance(regularization, L2):
            out.append((1.0 - eta * regularization.lmbda / n) * p - eta * g)
        elif name in WEIGHTS and isinstance(regularization, L1):
            out.append(p - (eta * regularization.lmbda / n) * np.sign(p) - eta * g)
        else:
            out.append(p - eta * g)
    return out


# --- update rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("regularization", [None, L2(LMBDA), L1(LMBDA)], ids=["plain", "L2", "L1"])
@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
@pytest.mark.parametrize("problem", [small_problem, gated_problem, chain_problem], ids=["plain_net", "gated_net", "chain"])
def test_one_full_batch_step_follows_the_update_rule_bit_for_bit(problem, cost, regularization):
    net, x, y = problem(gated=False) if problem is chain_problem and cost == "cross_entropy" else problem()
    grads = backprop(net, x, y, cost).params
    history = train(net, x, y, epochs=1, eta=ETA, cost=cost, regularization=regularization)
    for got, want in zip(history.network.parameters(), expected_step(net, grads, ETA, regularization, n=len(x)),
                         strict=True):
        np.testing.assert_array_equal(got, want)
    assert (history.network.chain_runs is None) == (net.chain_runs is None)  # a chain stays a chain


def test_biases_are_never_regularized_and_weights_are():
    for net, x, y in (gated_problem(), chain_problem()):
        plain = train(net, x, y, epochs=1, eta=ETA, cost="quadratic").network
        decay = ETA * LMBDA / len(x)
        for regularization, shrink in ((L2(LMBDA), lambda p: decay * p), (L1(LMBDA), lambda p: decay * np.sign(p))):
            decayed = train(net, x, y, epochs=1, eta=ETA, cost="quadratic", regularization=regularization).network
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
    for got, want in zip(history.network.parameters(), expected.parameters(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert len(history.update_loss) == 3


def test_nielsens_full_batch_training_is_plain_numpy_gradient_descent_bit_for_bit():
    """Two epochs of Nielsen's run ([784, 30, 30, 30, 30, 10], 1,000 digits, cross-entropy, η = 0.1, L2 λ = 5)
    equal a plain numpy loop with the same formulas: where float64 holds the numbers, nothing is rescaled."""
    x, y = mnist_1k()
    net = nielsen_like([784, 30, 30, 30, 30, 10], seed=0)
    eta, lmbda, n = 0.1, 5.0, len(x)
    weights, biases = [np.array(w) for w in net.weights], [np.array(b) for b in net.biases]
    for _ in range(2):
        nabla_w, nabla_b = plain_backprop(weights, biases, x, y, "cross_entropy")
        weights = [(1.0 - eta * lmbda / n) * w - eta * g for w, g in zip(weights, nabla_w)]
        biases = [b - eta * g for b, g in zip(biases, nabla_b)]
    history = train(net, x, y, epochs=2, eta=eta, regularization=L2(lmbda))
    for got, want in zip(history.network.weights, weights, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(history.network.biases, biases, strict=True):
        np.testing.assert_array_equal(got, want)


def test_clip_norm_step_scales_the_gradient_by_c_over_norm_plus_eps():
    net, x, y = small_problem()
    grads = backprop(net, x, y, "cross_entropy").params
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    c = norm / 10
    history = train(net, x, y, epochs=1, eta=ETA, clip=ClipNorm(c))
    coef = c / (norm + NORM_EPS)
    for got, want in zip(history.network.parameters(), expected_step(net, [coef * g for g in grads], ETA, None, 5)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    assert history.update_grad_log10[0] == pytest.approx(math.log10(norm), abs=1e-12)
    assert history.update_applied_log10[0] == pytest.approx(math.log10(norm * coef), abs=1e-12)


def test_step_records_match_independent_computations():
    net, x, y = small_problem()
    g = backprop(net, x, y, "cross_entropy")
    history = train(net, x, y, epochs=1, eta=ETA)
    norm = math.sqrt(sum(float(np.sum(p * p)) for p in g.params))
    assert history.update_grad_log10[0] == pytest.approx(math.log10(norm), abs=1e-12)
    assert history.update_applied_log10[0] == pytest.approx(math.log10(norm), abs=1e-12)
    assert history.update_loss[0] == g.cost
    moved = max(np.linalg.norm(w1 - w0) / np.linalg.norm(w0) for w0, w1 in zip(net.weights, history.network.weights))
    assert history.update_weight_step[0] == pytest.approx(moved, rel=1e-12)


def _ce_cost(weights, biases, x, y) -> float:
    """C = mean_r Σ_j −[y ln a + (1 − y) ln(1 − a)] for an all-sigmoid network, written from the definition."""
    a = x
    for w, b in zip(weights, biases):
        a = 1.0 / (1.0 + np.exp(-(a @ w.T + b)))
    return float(np.mean(np.sum(-(y * np.log(a) + (1 - y) * np.log(1 - a)), axis=1)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_cross_entropy_step_moves_by_eta_times_the_finite_difference_gradient(seed):
    rng = np.random.default_rng(seed)
    net = nielsen_like([3, 4, 2], seed=seed)
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


def clip(grads: list[Scaled], remedy) -> tuple[list[np.ndarray], float]:
    """The rule applied to the arrays as one vector, the way training hands it a gradient (one exponent per entry
    here), and its answer split back into the arrays."""
    flat = Scaled(np.concatenate([g.mantissa.ravel() for g in grads]),
                  np.concatenate([np.broadcast_to(np.asarray(g.exponent), g.mantissa.shape).ravel() for g in grads]))
    assert ln_norm(flat) == pytest.approx(ln_global_norm(grads), rel=1e-14, nan_ok=True)
    values, ln_applied = remedy.apply(flat, ln_norm(flat))
    ends = np.cumsum([g.mantissa.size for g in grads])
    return [v.reshape(g.mantissa.shape) for v, g in zip(np.split(values, ends[:-1]), grads)], ln_applied


@settings(max_examples=60, deadline=None)
@given(grads=GRADIENT_SETS, c=st.floats(1e-3, 1e3))
def test_clip_norm_caps_the_global_norm_and_keeps_the_direction(grads, c):
    norm = _norm(grads)
    clipped, ln_applied = clip([Scaled.of(g) for g in grads], ClipNorm(c))
    assert [a.shape for a in clipped] == [g.shape for g in grads]
    new = _norm(clipped)
    # PyTorch: coef = c / (norm + 1e-6), applied when below 1
    coef = min(1.0, c / (norm + NORM_EPS))
    assert new == pytest.approx(norm * coef, rel=1e-12, abs=1e-300)
    assert abs(new - min(norm, c)) <= NORM_EPS * (1 + 1e-9) + 1e-12 * norm  # min(norm, c) up to the 1e-6 epsilon
    if new > 0:
        assert math.exp(ln_applied) == pytest.approx(new, rel=1e-12)
    for g, a in zip(grads, clipped):
        np.testing.assert_allclose(a, g * coef, rtol=1e-12, atol=1e-300)
        assert np.array_equal(np.sign(a), np.sign(g))


@settings(max_examples=40, deadline=None)
@given(grads=GRADIENT_SETS)
def test_below_the_threshold_nothing_changes(grads):
    c = _norm(grads) + 2 * NORM_EPS + 1e-9
    scaled = [Scaled.of(g) for g in grads]
    clipped, _ = clip(scaled, ClipNorm(c))
    for g, a, unclipped in zip(grads, clipped, clip(scaled, NoClip())[0]):
        np.testing.assert_array_equal(a, unclipped)
        np.testing.assert_array_equal(a, g)


@settings(max_examples=40, deadline=None)
@given(grads=GRADIENT_SETS, c=st.floats(1e-3, 1e3))
def test_clip_value_clamps_every_entry(grads, c):
    clipped, _ = clip([Scaled.of(g) for g in grads], ClipValue(c))
    for g, a in zip(grads, clipped):
        np.testing.assert_array_equal(a, np.clip(g, -c, c))
        assert np.all(np.abs(a) <= c)


@pytest.mark.parametrize("remedy", [ClipValue(1.0), ClipNorm(1.0), NoClip()], ids=["value", "norm", "none"])
def test_clipping_a_gradient_of_zeros_gives_zeros_and_a_minus_inf_log(remedy):
    """A dead network's gradient (every entry exactly 0) passes every clipping as it is: norm 0, log −inf."""
    clipped, ln_applied = clip([Scaled.of(np.zeros((2, 2))), Scaled(np.zeros(3), -40)], remedy)
    assert ln_applied == -math.inf
    assert all(not a.any() for a in clipped)


def test_clip_value_reports_the_true_norm_of_huge_entries():
    clipped, ln_applied = clip([Scaled.of(np.array([3e200, -4e200]))], ClipValue(1e300))
    np.testing.assert_array_equal(clipped[0], [3e200, -4e200])
    assert ln_applied == pytest.approx(math.log(5e200), rel=1e-15)


def test_clip_value_maps_infinities_to_plus_minus_c_and_keeps_nan():
    grads = [Scaled.of(np.array([np.inf, -np.inf, 0.5, -7.0])), Scaled(np.array([1.0, -1.0]), 5000),
             Scaled.of(np.array([np.nan]))]
    (a, b, c), _ = clip(grads, ClipValue(2.0))
    np.testing.assert_array_equal(a, [2.0, -2.0, 0.5, -2.0])
    np.testing.assert_array_equal(b, [2.0, -2.0])
    assert np.isnan(c).all()


def test_clip_norm_brings_a_gradient_beyond_float64_back_to_norm_c():
    mantissa = np.array([[3.0, -4.0], [0.0, 12.0]])  # ‖·‖ = 13, times 2^5000 ≈ 10^1505
    beyond = Scaled(mantissa, 5000)
    assert np.isinf(beyond.value[0, 0])
    small = Scaled.of(np.array([1.0, 2.0]))
    clipped, ln_applied = clip([beyond, small], ClipNorm(2.0))
    assert all(np.isfinite(a).all() for a in clipped)
    assert _norm(clipped) == pytest.approx(2.0, rel=1e-12) and ln_applied == pytest.approx(math.log(2.0), rel=1e-12)
    np.testing.assert_allclose(clipped[0], 2.0 * mantissa / 13.0, rtol=1e-12)
    np.testing.assert_array_equal(clipped[1], [0.0, 0.0])  # 1 and 2 against 10^1505: nothing left


@pytest.mark.parametrize("value", [1e155, 1e200, 1e-170])
def test_clip_norm_of_large_or_tiny_plain_floats(value):
    """Plain float gradients beyond 1e154 or below 1e-162 (whose squares overflow or underflow) still have a
    finite norm: clipping 1e200 to norm 1 gives 1, not 0."""
    clipped, _ = clip([Scaled.of(np.array([value])), Scaled.of(np.array([-value]))], ClipNorm(1.0))
    # ‖(v, −v)‖ = √2·v: above 1 it clips to entries ±1/√2; far below 1 nothing changes
    expected = value if value < 1 else 1.0 / math.sqrt(2)
    np.testing.assert_allclose(np.concatenate(clipped), [expected, -expected], rtol=1e-9)


# --- the History -----------------------------------------------------------------------------------------------


def test_history_arrays_full_batch():
    net, x, y = small_problem()
    epochs = 4
    history = train(net, x, y, epochs=epochs, eta=ETA)
    assert isinstance(history, History) and history.time_label == "epoch"
    np.testing.assert_array_equal(history.times, np.arange(epochs + 1))
    np.testing.assert_array_equal(history.layers, [1, 2])
    assert history.layer_names == ("1", "2") and history.n_layers == 2
    assert history.grad_log10.shape == (epochs + 1, 2) and history.weight_change.shape == (epochs + 1, 2)
    for name in ("grad_min_log10", "grad_max_log10", "loss"):
        assert getattr(history, name).shape == (epochs + 1,), name
    for name in ("update_loss", "update_grad_log10", "update_applied_log10", "update_weight_step"):
        assert getattr(history, name).shape == (epochs,), name
    np.testing.assert_array_equal(history.grad_min_log10, history.grad_log10.min(axis=1))
    np.testing.assert_array_equal(history.grad_max_log10, history.grad_log10.max(axis=1))
    assert (history.weight_change[0] == 0.0).all() and (history.weight_change[-1] > 0).all()
    assert not history.stopped_early and history.has_loss
    # the records at epoch 0 and at the end are backprop over the whole set, before and after training
    for epoch, network in ((0, net), (epochs, history.network)):
        g = backprop(network, x, y, "cross_entropy")
        np.testing.assert_allclose(history.grad_log10[epoch], g.log10_bias_norms, rtol=0, atol=1e-13)
        assert history.loss[epoch] == g.cost
    assert history.loss[-1] < history.loss[0]
    # the long form the charts read
    speeds = history.speeds
    assert list(speeds.columns) == ["epoch", "layer", "speed", "speed_log10"] and len(speeds) == (epochs + 1) * 2
    np.testing.assert_allclose(speeds["speed"], 10.0 ** speeds["speed_log10"], rtol=1e-15)
    assert 0 < history.nbytes < 10_000


@pytest.mark.parametrize("rows, batch_size, per_epoch", [(10, 3, 4), (10, 5, 2), (10, 1, 10), (10, 10, 1),
                                                          (10, 50, 1), (10, None, 1)])
def test_one_update_record_per_update(rows, batch_size, per_epoch):
    net, x, y = small_problem(seed=4, rows=rows)
    epochs = 2
    history = train(net, x, y, epochs=epochs, eta=ETA, batch_size=batch_size)
    assert per_epoch == (1 if batch_size is None else math.ceil(rows / min(batch_size, rows)))
    assert history.update_loss.shape == (epochs * per_epoch,)
    assert np.isfinite(history.update_loss).all() and np.isfinite(history.update_weight_step).all()
    assert history.loss.shape == (epochs + 1,)


def test_recorded_layers_are_thinned_to_256_with_the_first_and_last_kept():
    for n in (1, 2, 255, 256, 257, 1000, 4455, 10_000):
        layers = recorded_layers(n)
        assert len(layers) == min(n, MAX_RECORDED_LAYERS) and layers[0] == 1 and layers[-1] == n
        assert (np.diff(layers) > 0).all()
        if n > MAX_RECORDED_LAYERS:  # evenly spread: no gap more than twice the mean
            assert np.diff(layers).max() <= 2 * (n - 1) / (MAX_RECORDED_LAYERS - 1)


@pytest.fixture(scope="module")
def mini_batch_runs():
    net, x, y = small_problem(seed=3, rows=10)
    runs = {name: train(net, x, y, epochs=3, eta=ETA, batch_size=3, seed=seed)
            for name, seed in (("seed 0", 0), ("seed 0 again", 0), ("seed 7", 7))}
    return runs, (net, x, y)


def test_same_seed_gives_bit_identical_runs(mini_batch_runs):
    runs, _ = mini_batch_runs
    a, b = runs["seed 0"], runs["seed 0 again"]
    assert a is not b
    for name in ("grad_log10", "grad_min_log10", "grad_max_log10", "loss", "weight_change", "update_loss",
                 "update_grad_log10", "update_applied_log10", "update_weight_step"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for p, q in zip(a.network.parameters(), b.network.parameters()):
        np.testing.assert_array_equal(p, q)


def test_different_seeds_give_different_batch_orders(mini_batch_runs):
    runs, (net, x, y) = mini_batch_runs
    a, b = runs["seed 0"], runs["seed 7"]
    assert not np.array_equal(a.update_loss, b.update_loss)
    assert not all(np.array_equal(p, q) for p, q in zip(a.network.parameters(), b.network.parameters()))
    # ... and each first-batch loss is the loss of the rows default_rng(seed).permutation chose
    for seed, run in ((0, a), (7, b)):
        rows = np.random.default_rng(seed).permutation(10)[:3]
        assert run.update_loss[0] == backprop(net, x[rows], y[rows], "cross_entropy").cost


def test_progress_is_called_after_every_epoch():
    net, x, y = small_problem()
    seen = []
    train(net, x, y, epochs=4, eta=ETA, progress=seen.append)
    assert seen == [0.25, 0.5, 0.75, 1.0]


def test_nan_weights_stop_training_without_raising():
    net = Network([[[np.nan, 1.0]], [[2.0]]], [[0.0], [0.0]], "tanh")
    history = train(net, [[1.0, 2.0]], [[0.5]], epochs=5, eta=0.1, cost="quadratic")
    assert history.stopped_early and len(history.update_loss) == 1 and len(history.loss) == 2
    assert np.isnan(history.loss).all()
    assert history.symptoms.present("weights_nan") and history.symptoms.verdict == "exploding"


# --- the exploding chain -------------------------------------------------------------------------------------

DEPTH = 300


def _exact_grad_norm_log10(depth: int) -> float:
    """log10 ‖∇‖ of the exploding chain at initialization (a_0 = 1, a_j = 1/2, y = 0, C = ½a_L²):
    δ_j = σ'(0) · 25^(L−j) · a_L = 0.125 · 25^(L−j); ‖∇‖² = Σ_j δ_j² (1 + a_{j−1}²)."""
    ln_terms = [2 * (math.log(0.125) + (depth - j) * math.log(25.0)) + math.log(1.0 + (1.0 if j == 1 else 0.25))
                for j in range(1, depth + 1)]
    top = max(ln_terms)
    return (top + math.log(math.fsum(math.exp(t - top) for t in ln_terms))) / 2 / math.log(10)


def exploding(depth: int = DEPTH, clip=None) -> ChainConfig:
    return ChainConfig(case="exploding", depth=depth, remedies=Remedies(clip=clip if clip is not None else NoClip()))


@pytest.fixture(scope="module")
def chain_unclipped():
    return train_chain(exploding(), Training(30))


@pytest.fixture(scope="module")
def chain_clipped():
    return train_chain(exploding(clip=ClipNorm(1.0)), Training(30))


def test_exploding_chain_without_clipping_blows_up_after_one_update(chain_unclipped):
    history = chain_unclipped
    # ∂C/∂b_1 = 0.125 · 25^299 ≈ 10^417: as a float it is infinite, so the first update sends w_1 and b_1 to −inf
    assert history.stopped_early
    assert len(history.update_loss) == 1
    np.testing.assert_array_equal(history.times, [0, 1])
    assert not all(np.isfinite(p).all() for p in history.network.parameters())
    assert np.isinf(history.network.weights[0]).all() and np.isinf(history.network.biases[0]).all()
    assert np.isnan(history.loss[-1])
    checklist = history.symptoms
    assert checklist.present("weights_nan") and checklist.present("grows_back")
    assert checklist.verdict == "exploding"
    assert history.grad_log10[0, 0] == pytest.approx(math.log10(0.125) + (DEPTH - 1) * math.log10(25.0), abs=1e-9)


def test_exploding_chain_records_the_true_gradient_norm(chain_unclipped):
    assert chain_unclipped.update_grad_log10[0] == pytest.approx(_exact_grad_norm_log10(DEPTH), abs=1e-9)


def test_exploding_chain_with_clip_norm_stays_finite(chain_clipped):
    history = chain_clipped
    assert not history.stopped_early
    assert all(np.isfinite(p).all() for p in history.network.parameters())
    assert np.isfinite(history.loss).all()
    assert (history.update_applied_log10 <= 1e-9).all()  # ≤ log10(1): never above max_norm
    assert history.update_grad_log10[0] > 100
    # measured: that one clipped step (b_1 moves by 0.07) shifts a_1 just below 1/2, and with w = 100 each
    # later z_j is pushed further from 0 until the neurons saturate and a_L ≈ 0 = y: the loss falls from
    # 0.125 to 1.9e-44 and every later gradient is about 10^-43, far below the threshold
    assert history.loss[0] == 0.125
    assert history.loss[1] < 1e-40
    assert (history.update_grad_log10[1:] < -40).all()
    assert history.symptoms.verdict == "exploding_clipped"


def test_exploding_chain_clip_norm_applies_a_unit_norm_first_step(chain_clipped):
    """The first gradient (norm 10^417.2) is scaled to norm 1/(1 + 1e-6·10^-417) ≈ 1 and moves the weights."""
    assert chain_clipped.update_grad_log10[0] == pytest.approx(_exact_grad_norm_log10(DEPTH), abs=1e-9)
    assert chain_clipped.update_applied_log10[0] == pytest.approx(0.0, abs=1e-9)
    assert chain_clipped.update_weight_step[0] > 0
    # b_1's gradient δ_1 = 0.125 · 25^299 is 1/√2 of the norm (up to 25^-2): the step moves it by −η·δ_1/‖∇‖
    after_one = train_chain(exploding(clip=ClipNorm(1.0)), Training(1))
    net0, _ = exploding().build()
    share = 10.0 ** (math.log10(0.125) + (DEPTH - 1) * math.log10(25.0) - _exact_grad_norm_log10(DEPTH))
    assert 0.70 < share < 1 / math.sqrt(2)
    moved = after_one.network.biases[0][0] - net0.biases[0][0]
    assert moved == pytest.approx(-0.1 * share, rel=1e-9)


def test_exploding_chain_with_clip_value_stays_finite():
    history = train_chain(exploding(clip=ClipValue(1.0)), Training(3))
    assert not history.stopped_early
    assert all(np.isfinite(p).all() for p in history.network.parameters())
    assert history.update_applied_log10[0] <= math.log10(math.sqrt(2 * DEPTH)) + 1e-12
    assert history.update_grad_log10[0] > 100


def test_a_10000_layer_chain_records_256_layers_and_every_layers_extremes():
    history = train_chain(exploding(10_000), Training(2))
    assert history.stopped_early  # 10^13977 as a float is inf
    assert history.grad_log10.shape == (2, MAX_RECORDED_LAYERS) and history.layers[0] == 1 and history.layers[-1] == 10_000
    assert history.weight_change.shape == (2, MAX_RECORDED_LAYERS)
    # the aggregates cover every layer, thinned or not: layer 1's 10^13977.1 and layer L's 0.125
    assert history.grad_max_log10[0] == pytest.approx(13977.099056724712, abs=1e-8)
    assert history.grad_min_log10[0] == pytest.approx(math.log10(0.125), abs=1e-12)
    assert history.nbytes < 20_000
    assert history.symptoms.verdict == "exploding"


def test_chain_training_is_deterministic():
    config = ChainConfig(depth=40, seed=3, remedies=Remedies(regularization=L1(0.5)))
    a, b = train_chain(config, Training(5, 0.3)), train_chain(config, Training(5, 0.3))
    for name in ("grad_log10", "loss", "update_grad_log10", "update_weight_step", "weight_change"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for p, q in zip(a.network.parameters(), b.network.parameters()):
        np.testing.assert_array_equal(p, q)


# --- Nielsen's learning-speed experiment -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nielsen_epoch0():
    from gradviz.experiments.nielsen import NielsenConfig, train_nielsen

    vanishing = train_nielsen(NielsenConfig(), Training(1))
    exploding_run = train_nielsen(NielsenConfig(case="exploding"), Training(1))
    # the hidden layers' speeds at epoch 0 (layers 1..4 of 5)
    return 10.0 ** vanishing.grad_log10[0, :4], 10.0 ** exploding_run.grad_log10[0, :4]


def test_nielsen_each_hidden_layer_learns_several_times_slower_than_the_next(nielsen_epoch0):
    speeds, _ = nielsen_epoch0
    # measured (seed 0): 0.00185, 0.00791, 0.0416, 0.209 — ratios 4.3, 5.3, 5.0
    assert len(speeds) == 4
    assert (speeds[1:] / speeds[:-1] >= 2.0).all(), speeds


def test_nielsen_epoch0_matches_his_published_values(nielsen_epoch0):
    from gradviz.experiments.nielsen import nielsen_speeds

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
    # measured (seed 0, initialization drawn biases first): 11.2, 4.79, 2.35, 1.68 — each layer 1.4 to 2.3
    # times the next
    assert (np.diff(speeds) < 0).all(), speeds
    assert (speeds[:-1] / speeds[1:] > 1.3).all(), speeds
    assert (speeds > 1.0).all()


# --- backprop through time -------------------------------------------------------------------------------------


def _survival_log10(case: str, forget_bias=None) -> float:
    from gradviz.experiments.recurrent import RecurrentConfig, recurrent_gradients

    norms = recurrent_gradients(RecurrentConfig(case=case, remedies=Remedies(forget_bias=forget_bias))
                                ).log10_activation_grad_norms
    assert len(norms) == 51  # h_0 .. h_T, T = 50
    return float(norms[0] - norms[-1])


def test_rnn_gradient_vanishes_through_time():
    # measured: ‖∂C/∂h_0‖ / ‖∂C/∂h_T‖ = 10^-11.6
    assert _survival_log10("vanishing") < -8


def test_rnn_gradient_explodes_through_time():
    # measured: ‖∂C/∂h_0‖ / ‖∂C/∂h_T‖ = 10^3.19
    assert _survival_log10("exploding") > 2


def test_rnn_gating_keeps_the_gradient():
    # measured with forget_bias = 3 (f = σ(3) = 0.953): the ratio is 10^+0.83 instead of 10^-11.6
    plain, gated = _survival_log10("vanishing"), _survival_log10("vanishing", forget_bias=3.0)
    assert gated > -2
    assert gated - plain > 10


def test_public_api_exports_train_and_the_remedies():
    assert gradviz.train is train and gradviz.Training is Training
    for name in ("ClipNorm", "ClipValue", "L1", "L2", "Remedies", "History", "train", "Network", "backprop",
                 "ChainConfig", "analyze_chain", "vanishing_chain", "exploding_chain", "seed_vanishing",
                 "seed_exploding", "initialize", "Dense", "Gated", "PreActivation", "Residual", "LayerNorm", "BatchNorm",
                 "Design", "REMEDIES", "applicable"):
        assert hasattr(gradviz, name), name
    assert gradviz.seed_exploding is gradviz.exploding_chain and gradviz.seed_vanishing is gradviz.vanishing_chain
