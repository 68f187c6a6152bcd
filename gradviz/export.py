"""Each panel's data as CSV text, with plain snake_case column names.

Magnitudes beyond float64 (|∂C/∂b_1| = 10^13977) are exact in the *_log10 columns; their plain
columns are left empty there rather than written as inf or 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gradviz.chain import ChainReport
from gradviz.network import Gradients
from gradviz.training import History

FLOAT_LOG10_RANGE = (-300.0, 300.0)


def _plain(log10: pd.Series) -> pd.Series:
    """10^log10 where float64 holds it, else missing (exact zeros stay 0)."""
    inside = (log10 > FLOAT_LOG10_RANGE[0]) & (log10 < FLOAT_LOG10_RANGE[1])
    return (10.0 ** log10.where(inside, 0.0)).where(inside, np.nan).where(log10 != -np.inf, 0.0)


def _only_in_range(values: pd.Series, log10: pd.Series) -> pd.Series:
    """The float values, left missing where their magnitude is beyond float64 (there they read ±inf or 0)."""
    inside = ((log10 > FLOAT_LOG10_RANGE[0]) & (log10 < FLOAT_LOG10_RANGE[1])) | (log10 == -np.inf)
    return values.where(inside, np.nan)


def chain_table(report: ChainReport) -> pd.DataFrame:
    """One row per layer j: w, b, z, a, the factor ∂a_j/∂a_{j−1} and ∂C/∂b_j, plain and as log10 of |·|."""
    layers = report.layers
    table = layers[["layer", "w", "b", "z", "a"]].copy()
    table["factor"] = _only_in_range(layers["factor"], layers["factor_log10"])
    table["factor_abs_log10"] = layers["factor_log10"]
    table["grad_b"] = _only_in_range(layers["grad_b"], layers["grad_b_log10"])
    table["grad_b_abs_log10"] = layers["grad_b_log10"]
    return table


def history_table(history: History) -> pd.DataFrame:
    """One row per (epoch, layer): the speed ‖∂C/∂b_l‖ (plain and log10), the loss, and how far W_l has moved."""
    table = history.speeds[["epoch", "layer", "speed_log10"]].copy()
    table.insert(2, "speed", _plain(table["speed_log10"]))
    table = table.merge(history.loss, on="epoch").merge(
        history.weight_change.rename(columns={"change": "weight_change"}), on=["epoch", "layer"], how="left")
    return table


def through_time_table(gradients: Gradients) -> pd.DataFrame:
    """One row per step t = 0..T: ‖∂C/∂h_t‖ (plain and log10) and the distance T − t."""
    log10 = pd.Series(gradients.log10_activation_grad_norms)
    steps = len(log10) - 1
    return pd.DataFrame({"t": np.arange(steps + 1), "distance": steps - np.arange(steps + 1),
                         "grad_h_norm": _plain(log10), "grad_h_norm_log10": log10})


def to_csv(table: pd.DataFrame) -> str:
    """CSV text without the index, floats at full precision."""
    return table.to_csv(index=False, float_format="%.17g")
