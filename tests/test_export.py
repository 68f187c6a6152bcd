"""CSV downloads: the columns a pandas user expects, exact values, nothing written as inf for a finite value."""

import io
import math

import numpy as np
import pandas as pd

from gradviz.chain import ChainConfig, analyze_chain
from gradviz.experiments import RecurrentConfig, Training, recurrent_gradients, train_chain
from gradviz.export import chain_table, history_table, through_time_table, to_csv


def read(table: pd.DataFrame) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(to_csv(table)))


def test_chain_csv_round_trips_the_article_numbers_exactly():
    back = read(chain_table(analyze_chain(ChainConfig(case="exploding", depth=4))))
    assert list(back.columns) == ["layer", "w", "b", "z", "a", "factor", "factor_abs_log10", "grad_b",
                                  "grad_b_abs_log10"]
    assert back["factor"].tolist() == [25.0] * 4
    assert back["grad_b"].tolist() == [1953.125, 78.125, 3.125, 0.125]


def test_magnitudes_beyond_float64_are_left_empty_but_kept_in_log10():
    back = read(chain_table(analyze_chain(ChainConfig(case="exploding", depth=10_000))))
    assert math.isnan(back["grad_b"].iloc[0])
    assert abs(back["grad_b_abs_log10"].iloc[0] - 13977.0990567) < 1e-6  # log10(1/4 · 25^9999 · 1/2)
    assert back["grad_b"].iloc[-1] == 0.125
    assert not np.isinf(back["grad_b"]).any()


def test_history_csv_has_one_row_per_epoch_and_layer():
    history = train_chain(ChainConfig(depth=3), Training(epochs=4))
    back = read(history_table(history))
    assert list(back.columns) == ["epoch", "layer", "speed", "speed_log10", "loss", "weight_change"]
    assert len(back) == 5 * 3
    np.testing.assert_allclose(np.log10(back["speed"]), back["speed_log10"], rtol=1e-12)
    assert (back.query("epoch == 0")["weight_change"] == 0).all()


def test_through_time_csv_counts_steps_back_from_the_loss():
    back = read(through_time_table(recurrent_gradients(RecurrentConfig(steps=50))))
    assert list(back.columns) == ["t", "distance", "grad_h_norm", "grad_h_norm_log10"]
    assert back["t"].tolist() == list(range(51)) and back["distance"].tolist() == list(range(50, -1, -1))
    assert back["grad_h_norm"].iloc[0] < 1e-9 < back["grad_h_norm"].iloc[-1]
