"""Adaptive gradient clipping (Brock et al. 2021), the third clipping rule of the remedy registry: its invariant on
every unit, in float64 and far beyond it, and the page offering it through the registry alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradviz.engine.initializations import initialize
from gradviz.engine.scaled import Scaled, ln_norm
from gradviz.experiments.chain import ChainConfig, train_chain
from gradviz.page.i18n import LANGUAGES, t
from gradviz.page.settings import SETTINGS
from gradviz.training.descent import Training
from gradviz.training.remedies import AGC_EPS, CLIP_RULES, REGISTRY, ClipAdaptive, Remedies, units
from page_support import exceptions, open_page, other_language

LMBDA = 0.01


def unit_norms(vector: np.ndarray, net) -> np.ndarray:
    starts, stops = units(net.layout)
    return np.array([np.linalg.norm(vector[a:b]) for a, b in zip(starts, stops)])


def gradient(net, rng, scales) -> np.ndarray:
    """A gradient laid out like net.theta, its units scaled by `scales` (some tiny, some huge)."""
    starts, stops = units(net.layout)
    g = rng.standard_normal(net.layout.size)
    for (a, b), scale in zip(zip(starts, stops), scales):
        g[a:b] *= scale
    return g


@pytest.mark.parametrize("seed", range(5))
def test_every_unit_is_within_lambda_of_its_weights_and_the_others_are_untouched(seed):
    rng = np.random.default_rng(seed)
    net = initialize([12, 9, 9, 4], "he", seed=seed, activation="relu", residual=seed % 2 == 1,
                     norm="layer" if seed % 3 == 0 else None)
    n_units = len(units(net.layout)[0])
    g = gradient(net, rng, 10.0 ** rng.uniform(-6, 2, n_units))
    clipped, ln_applied = ClipAdaptive(LMBDA).apply(Scaled(g, 0), ln_norm(Scaled(g, 0)), net)
    ratio_before = unit_norms(g, net) / np.maximum(unit_norms(net.theta, net), AGC_EPS)
    ratio_after = unit_norms(clipped, net) / np.maximum(unit_norms(net.theta, net), AGC_EPS)
    assert np.all(ratio_after <= LMBDA * (1 + 1e-12))
    starts, stops = units(net.layout)
    kept = ratio_before <= LMBDA
    assert kept.any() and (~kept).any()
    for (a, b), keep in zip(zip(starts, stops), kept):
        if keep:
            assert np.array_equal(clipped[a:b], g[a:b])  # bit for bit
        else:  # scaled down to the limit, its direction kept
            assert ratio_after[starts.tolist().index(a)] == pytest.approx(LMBDA, rel=1e-12)
            np.testing.assert_allclose(clipped[a:b] / np.linalg.norm(clipped[a:b]), g[a:b] / np.linalg.norm(g[a:b]),
                                       rtol=1e-12, atol=1e-15)
    assert ln_applied == pytest.approx(math.log(np.linalg.norm(clipped)), rel=1e-12)


def test_a_unit_is_a_row_of_a_matrix_or_a_whole_bias():
    net = initialize([3, 2, 1], "he")
    starts, stops = units(net.layout)
    assert [int(b - a) for a, b in zip(starts, stops)] == [3, 3, 2, 2, 1]  # W1's rows, b1, W2's row, b2


def test_a_gradient_beyond_float64_clips_to_a_finite_one_within_the_limit():
    net = initialize([4, 3, 2], "he", seed=1)
    g = Scaled(np.full(net.layout.size, 0.75), 5000)  # 0.75 · 2^5000 ≈ 10^1505 in every entry
    clipped, ln_applied = ClipAdaptive(LMBDA).apply(g, ln_norm(g), net)
    assert np.isfinite(clipped).all() and math.isfinite(ln_applied)
    ratio = unit_norms(clipped, net) / np.maximum(unit_norms(net.theta, net), AGC_EPS)
    np.testing.assert_allclose(ratio, LMBDA, rtol=1e-12)


def test_a_gradient_within_every_limit_is_returned_as_it_is():
    net = initialize([4, 3, 2], "he", seed=2)
    g = np.zeros(net.layout.size)
    assert ClipAdaptive(LMBDA).apply(Scaled(g, 0), -math.inf, net) == (g, -math.inf)
    with pytest.raises(ValueError, match="lmbda"):
        ClipAdaptive(0.0)


def test_the_exploding_chain_trains_with_it_and_every_step_stays_within_the_limit():
    history = train_chain(ChainConfig("exploding", 4, remedies=Remedies(clip=ClipAdaptive(LMBDA))), Training(5))
    assert history.symptoms["clipped"].evidence["capped"] >= 1
    assert np.all(history.update_applied_log10 <= history.update_grad_log10 + 1e-12)


# --- the page offers it, from the registry and the catalogue alone ------------------------------------------------


def test_the_page_offers_it_as_a_third_clip_mode():
    assert CLIP_RULES["adaptive"] is ClipAdaptive and "adaptive" in SETTINGS["clip_by"].choices
    read = REGISTRY["clip"].read({"clip": True, "clip_by": "adaptive", "clip_threshold": LMBDA})
    assert read == {"clip": ClipAdaptive(LMBDA)}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_chain_trains_with_it_and_says_what_it_did(lang):
    at = open_page(section="chain", clip="1", clip_by="adaptive", clip_threshold="0.01", train="1", lang=lang)
    assert not exceptions(at)
    radio = at.radio(key="clip_by")
    assert radio.value == "adaptive" and t("remedy.clip_by.adaptive", lang) in radio.options
    head = t("remedy.clip.chain.adaptive", lang).split("{")[0]
    assert len([m for m in at.markdown if m.value.startswith(head)]) == 2  # one per case
    assert not other_language(at, lang)


def test_the_lessons_clipping_step_says_the_adaptive_rule():
    at = open_page(lesson="1", step="8", clip_by="adaptive", clip_threshold="0.01", lang="en")
    assert not exceptions(at)
    rule = t("remedy.clip_by.adaptive.rule", "en", threshold="0.01")
    assert any(rule in m.value for m in at.markdown)
