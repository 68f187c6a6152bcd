"""Deep networks at initialization (gradviz.experiments.deep) and the initialization schemes they use
(gradviz.engine.initializations): what Glorot & Bengio 2010 and He et al. 2015 found, checked here."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import gradviz
from gradviz.engine.initializations import SCHEMES, initial_weights, initialize, semi_orthogonal
from gradviz.engine.layers import Dense, PreActivation, Residual
from gradviz.engine.normalization import BatchNorm, LayerNorm
from gradviz.experiments.deep import PAPERS, DeepConfig, deep_profile, digit_batch, mean_field_profile

SMALL = dict(width=128, seeds=3, batch=128)  # the papers' settings, narrower and on fewer digits, to stay fast


@pytest.fixture(scope="module")
def he2015():
    return {config.scheme: deep_profile(replace(config, **SMALL)) for config in PAPERS["he2015"]}


@pytest.fixture(scope="module")
def glorot2010():
    return {config.scheme: deep_profile(replace(config, **SMALL)) for config in PAPERS["glorot2010"]}


def drop(values) -> float:
    """Decades gained from the first hidden layer to the last."""
    return float(values[-1] - values[0])


# --- He et al. 2015: 30 ReLU layers ---------------------------------------------------------------


def test_he_keeps_relu_gradients_flat_and_xavier_shrinks_them_by_sqrt_half_per_layer(he2015):
    he, xavier = he2015["he"], he2015["xavier"]
    # per digit — the quantity mean-field theory follows — over the 29 layer-to-layer steps:
    assert abs(drop(he.log10_grad_a_median)) < 0.2
    assert drop(xavier.log10_grad_a_median) == pytest.approx(29 * math.log10(math.sqrt(2)), abs=0.35)
    # the batch gradient ‖∂C/∂b_l‖ falls faster towards the input (the digits' gradients add less
    # coherently where their z are less correlated), but He stays within a decade and xavier loses > 4.5
    assert drop(he.log10_grad_median) < 1.2
    assert drop(xavier.log10_grad_median) > 4.5


def test_relu_activations_keep_their_spread_under_he_and_lose_it_under_xavier(he2015):
    he, xavier = he2015["he"], he2015["xavier"]
    assert abs(math.log10(he.spread_median[-1] / he.spread_median[0])) < 0.2
    halving = 29 * math.log10(math.sqrt(2))
    assert math.log10(xavier.spread_median[-1] / xavier.spread_median[0]) == pytest.approx(-halving, abs=0.35)
    for profile in (he, xavier):
        assert np.max(np.abs(np.log10(profile.spread_median / profile.theory_spread))) < 0.3
        assert np.max(np.abs(profile.log10_grad_a_median - profile.theory_log10_grad_a)) < 0.25


def test_relu_theory_factors_are_exact():
    x, _ = digit_batch(16)
    _, _, factor_he, _ = mean_field_profile(replace(PAPERS["he2015"][1], **SMALL), x)
    _, _, factor_xavier, _ = mean_field_profile(replace(PAPERS["he2015"][0], **SMALL), x)
    assert np.allclose(factor_he, 1.0, rtol=1e-15) and np.allclose(factor_xavier, math.sqrt(0.5), rtol=1e-15)


# --- Glorot & Bengio 2010: 5 tanh layers ---------------------------------------------------------


def test_pytorch_default_shrinks_tanh_gradients_and_xavier_keeps_them(glorot2010):
    pytorch, xavier = glorot2010["pytorch"], glorot2010["xavier"]
    ratio = lambda profile: 10.0 ** -drop(profile.log10_grad_median)  # ‖∂C/∂b_1‖ / ‖∂C/∂b_5‖
    assert ratio(pytorch) < 0.15  # σ_w² = 1/3: each layer multiplies by √(χ₁) < 0.58
    assert ratio(xavier) > 0.5
    for profile in (pytorch, xavier):
        assert np.max(np.abs(profile.log10_grad_median - profile.theory_log10_grad)) < 0.1
        assert np.max(np.abs(np.log10(profile.spread_median / profile.theory_spread))) < 0.05
    assert np.all(pytorch.theory_factor < math.sqrt(1 / 3))


def test_profile_is_deterministic_and_reports_progress():
    config = DeepConfig(depth=3, width=16, seeds=2, batch=8)
    seen = []
    first, second = deep_profile(config, progress=seen.append), deep_profile(config)
    assert seen == [0.5, 1.0]
    assert np.array_equal(first.log10_grad, second.log10_grad) and np.array_equal(first.spread, second.spread)
    assert first.log10_grad.shape == (2, 3) and first.theory_factor.shape == (2,)
    assert first.theory_log10_grad[-1] == first.log10_grad_median[-1]


@pytest.mark.parametrize("field, value", [
    ("depth", 0), ("depth", 101), ("depth", 2.0), ("width", 513), ("activation", "softplus"), ("scheme", "lecun"),
    ("seeds", 0), ("batch", 1001), ("gain", 0.0), ("residual", 1), ("norm", "group"), ("branch_scaling", "yes")])
def test_bad_config_raises_value_error(field, value):
    with pytest.raises(ValueError, match=field):
        DeepConfig(**{field: value})


def test_one_neuron_cannot_be_layer_normalized():
    with pytest.raises(ValueError, match="width"):
        DeepConfig(width=1, norm="layer")
    assert DeepConfig(width=1, norm="batch").speed == "weight"


# --- skip connections and normalization: the backward signal per layer at initialization -----------------------------

# The setting: 50 hidden ReLU layers of width 256 on 128 digits, He init; the factor is the median over the
# middle third of the layers and over the seeds of ‖∂c/∂a_l‖ / ‖∂c/∂a_{l+1}‖.
ACCEPTANCE = dict(depth=50, width=256, batch=128, seeds=3, activation="relu", scheme="he")
REMEDIES = {
    "none": (dict(), 1.0),
    "skip": (dict(residual=True), math.sqrt(2.0)),                                   # √(1 + σ_w²/2), σ_w² = 2
    "skip, branch / √L": (dict(residual=True, branch_scaling=True), math.sqrt(1.0 + 1.0 / 49)),  # 49 blocks
    "batch norm": (dict(norm="batch"), math.sqrt(math.pi / (math.pi - 1.0))),         # Yang et al. 2019: 1.211
    "layer norm": (dict(norm="layer"), 1.0),
}


@pytest.fixture(scope="module")
def remedy_profiles():
    return {name: deep_profile(DeepConfig(**ACCEPTANCE, **kw)) for name, (kw, _) in REMEDIES.items()}


@pytest.mark.parametrize("name", REMEDIES)
def test_measured_signal_factor_per_layer_is_the_theory(remedy_profiles, name):
    """√2 per residual block (an explosion at initialization), √(1 + 1/L) with the branch scaled by 1/√L (Fixup,
    SkipInit), 1.211 per batch-normalized layer (batch norm makes gradients explode), 1 with layer norm or none."""
    profile, expected = remedy_profiles[name], REMEDIES[name][1]
    assert profile.signal_factor() == pytest.approx(expected, rel=0.04)
    middle = profile.theory_signal_factor[ACCEPTANCE["depth"] // 3:2 * ACCEPTANCE["depth"] // 3]
    np.testing.assert_allclose(middle, expected, rtol=1e-6 if name != "none" else 0.02)


def test_pre_layer_norm_blocks_grow_only_polynomially():
    """h + W relu(LN(h)): the residual stream's variance grows by one unit a block, so the factor is
    √(1 + 1/q_l) → 1 (≈ 1.02 in the middle of 50 blocks), measured and predicted."""
    profile = deep_profile(DeepConfig(**{**ACCEPTANCE, "seeds": 2}, residual=True, norm="layer"))
    theory = profile.theory_signal_factor
    assert np.all(np.diff(theory) < 0) and 1.0 < theory[-1] < theory[0]
    assert float(np.median(theory[16:33])) == pytest.approx(1.02, abs=0.005)
    assert profile.signal_factor() == pytest.approx(float(np.median(theory[16:33])), rel=0.04)


def test_batch_norm_profiles_record_the_weights_gradient(remedy_profiles):
    """The bias right before batch norm has a gradient of exactly 0: the profile records ‖∂C/∂W_l‖ instead and
    says so, rather than a network that looks dead."""
    profile = remedy_profiles["batch norm"]
    assert profile.config.speed == "weight" and remedy_profiles["layer norm"].config.speed == "bias"
    assert np.isfinite(profile.log10_grad).all()
    assert np.isnan(profile.theory_log10_grad).all() and np.isnan(profile.theory_spread).all()


# --- the library's network builder ------------------------------------------------------------------------------


def test_initialize_builds_skip_connections_and_normalization_from_the_same_draws():
    plain = initialize([5, 4, 4, 4, 3], "he", seed=3, activation="relu")
    for residual, norm, kind in ((True, None, PreActivation), ("pre", "layer", PreActivation), ("post", "batch", Dense)):
        net = gradviz.initialize([5, 4, 4, 4, 3], "he", seed=3, activation="relu", residual=residual, norm=norm,
                                 branch_scale=0.5)
        for w, v in zip(plain.weights, net.weights, strict=True):
            np.testing.assert_array_equal(w, v)
        first, *blocks, last = net.layers
        assert isinstance(first, Dense) and isinstance(last, Dense) and last.norm is None
        assert all(isinstance(block, Residual) and isinstance(block.branch, kind) and block.scale == 0.5
                   for block in blocks)
        expected = {None: type(None), "layer": LayerNorm, "batch": BatchNorm}[norm]
        assert isinstance(first.norm, expected) and all(isinstance(block.norm, expected) for block in blocks)
    x = np.random.default_rng(0).standard_normal((6, 5))
    g = gradviz.backprop(gradviz.initialize([5, 4, 4, 3], "he", norm="batch", activation="relu"), x, np.zeros((6, 3)))
    assert g.log10_signal_norms.shape == (4,) and not g.nabla_b[0].any() and g.nabla_w[0].any()


@pytest.mark.parametrize("kwargs, match", [
    (dict(residual="sideways"), "residual"), (dict(residual=1), "residual"), (dict(norm="group"), "norm"),
    (dict(norm=True), "norm"), (dict(branch_scale=0.0), "branch_scale"), (dict(branch_scale=math.inf), "branch_scale"),
    (dict(residual=True, forget_bias=1.0), "forget_bias"), (dict(sizes=[4, 1, 1, 3], norm="layer"), "one neuron"),
])
def test_bad_network_options_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradviz.initialize(**{"sizes": [4, 3, 3, 2], "scheme": "he", **kwargs})


# --- initialization schemes ------------------------------------------------------------------


def test_equal_arguments_give_identical_networks_and_seeds_differ():
    a, b = (initialize([20, 30, 10], "xavier", seed=7, activation="tanh") for _ in range(2))
    c = initialize([20, 30, 10], "xavier", seed=8, activation="tanh")
    assert all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not np.array_equal(a.weights[0], c.weights[0])


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_drawn_variances_match_the_registry(name):
    n_in, n_out, gain = 400, 300, 1.5
    w = initial_weights(n_out, n_in, name, np.random.default_rng(0), gain)
    sigma_w2, _ = SCHEMES[name].variances(n_in, n_out, gain)
    assert np.mean(w * w) * n_in == pytest.approx(sigma_w2, rel=0.02)


def test_bias_laws():
    net = initialize([50, 400, 300], "pytorch", seed=1)
    assert np.max(np.abs(net.biases[0])) <= 1 / math.sqrt(50) and np.max(np.abs(net.weights[0])) <= 1 / math.sqrt(50)
    assert np.var(net.biases[0]) == pytest.approx(1 / 150, rel=0.2)
    assert np.var(initialize([50, 2000, 3], "nielsen", seed=1).biases[0]) == pytest.approx(1.0, rel=0.1)
    assert all(not b.any() for name in ("xavier", "he", "orthogonal") for b in initialize([5, 6, 4], name).biases)


@pytest.mark.parametrize("n_out, n_in", [(6, 6), (9, 4), (4, 9)])
def test_orthogonal_is_semi_orthogonal_times_the_gain(n_out, n_in):
    w = initial_weights(n_out, n_in, "orthogonal", np.random.default_rng(2), gain=0.5)
    gram = w.T @ w if n_out >= n_in else w @ w.T
    assert np.allclose(gram, 0.25 * np.eye(min(n_out, n_in)), atol=1e-14)


def test_orthogonal_is_the_sign_corrected_qr_factor():
    """Q with R = Qᵀ A upper triangular and positive on its diagonal: the unique QR with that sign
    convention, which makes Q Haar-distributed (an uncorrected Householder Q has Q_11 ≤ 0 always)."""
    a = np.random.default_rng(5).standard_normal((5, 5))
    r = semi_orthogonal(5, 5, np.random.default_rng(5)).T @ a
    assert np.allclose(np.tril(r, -1), 0.0, atol=1e-12) and np.all(np.diag(r) > 0)
    first = [semi_orthogonal(3, 3, np.random.default_rng(seed))[0, 0] for seed in range(200)]
    assert 60 < sum(v > 0 for v in first) < 140


@pytest.mark.parametrize("kwargs, match", [
    (dict(sizes=[784, 30], scheme="lecun"), "scheme"),
    (dict(sizes=[784], scheme="he"), "sizes"),
    (dict(sizes=[784, 0], scheme="he"), "sizes"),
    (dict(sizes=[784, 2.5], scheme="he"), "sizes"),
    (dict(sizes="784,30", scheme="he"), "sizes"),
    (dict(sizes=[True, 3], scheme="he"), "sizes"),
    (dict(sizes=[4, 3], scheme="he", seed=-1), "seed"),
    (dict(sizes=[4, 3], scheme="he", seed=1.5), "seed"),
    (dict(sizes=[4, 3], scheme="he", gain=0.0), "gain"),
    (dict(sizes=[4, 3], scheme="he", gain=math.nan), "gain"),
    (dict(sizes=[4, 3], scheme="he", activation="swish"), "activation"),
    (dict(sizes=[4, 3], scheme="he", output_activation="softmax"), "output_activation"),
])
def test_bad_initialize_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        initialize(**kwargs)
