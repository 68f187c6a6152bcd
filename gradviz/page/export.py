"""Each panel's data as CSV text: plain snake_case English column names (data, not prose), full precision.

Magnitudes beyond float64 (|∂C/∂b_1| = 10^13977) are exact in the *_log10 columns (log10 of the magnitude);
wherever a value is not a finite number — beyond float64, or NaN, or ±inf — its cell is left empty, so a
spreadsheet never reads "inf" or "nan". An exact zero's log10 is empty too, with the plain column at 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gradviz.experiments.chain import ChainReport
from gradviz.training.history import History

FLOAT_LOG10_RANGE = (-300.0, 300.0)


def _plain(log10: np.ndarray, sign: np.ndarray | None = None) -> np.ndarray:
    """sign · 10^log10 where float64 holds it, 0 for an exact zero, else missing."""
    log10 = np.asarray(log10, dtype=float)
    inside = (log10 > FLOAT_LOG10_RANGE[0]) & (log10 < FLOAT_LOG10_RANGE[1])
    with np.errstate(over="ignore", invalid="ignore"):
        value = np.where(inside, 10.0 ** np.where(inside, log10, 0.0), np.nan)
    value = np.where(log10 == -np.inf, 0.0, value)
    # a log10 holds about 15 significant digits: 10^log10(25) is 25.000000000000007, written as 25
    value = np.array([float(f"{v:.15g}") for v in value.ravel()]).reshape(value.shape)
    return value if sign is None else value * np.where(np.isfinite(sign), sign, np.nan)


def finite_or_empty(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every non-finite number made missing (an empty cell in the CSV)."""
    numeric = table.select_dtypes(include="number").columns
    return table.assign(**{c: table[c].where(np.isfinite(table[c].astype(float))) for c in numeric})


def chain_table(report: ChainReport) -> pd.DataFrame:
    """One row per layer j: w, b, z, a, [f, i], the factor ∂a_j/∂a_{j−1} and ∂C/∂b_j, plain and log10 of |·|."""
    table = pd.DataFrame({"layer": report.layer, "w": report.w, "b": report.b, "z": report.z, "a": report.a})
    if report.f is not None:
        table["f"], table["i"] = report.f, report.i
    table["factor"] = _plain(report.factor_log10, report.factor_sign)
    table["factor_abs_log10"] = report.factor_log10
    table["grad_b"] = _plain(report.grad_b_log10, report.grad_b_sign)
    table["grad_b_abs_log10"] = report.grad_b_log10
    return finite_or_empty(table)


def history_table(history: History) -> pd.DataFrame:
    """One row per recorded time and layer: the gradient norm (plain and log10), the loss, how far W_l has moved."""
    r, k = history.grad_log10.shape
    table = pd.DataFrame({history.time_label: np.repeat(history.times, k), "layer": np.tile(history.layers, r),
                          "layer_name": np.tile(np.array(history.layer_names, dtype=object), r)})
    table["grad_norm"] = _plain(history.grad_log10.ravel())
    table["grad_norm_log10"] = history.grad_log10.ravel()
    if history.has_loss:
        table["loss"] = np.repeat(history.loss, k)
    if history.weight_change is not None:
        table["weight_change"] = history.weight_change.ravel()
    return finite_or_empty(table)


def through_time_table(log10_norms: np.ndarray) -> pd.DataFrame:
    """One row per step t = 0..T: ‖∂C/∂h_t‖ (plain and log10) and the distance T − t."""
    steps = len(log10_norms) - 1
    return finite_or_empty(pd.DataFrame({"t": np.arange(steps + 1), "distance": steps - np.arange(steps + 1),
                                         "grad_h_norm": _plain(log10_norms), "grad_h_norm_log10": log10_norms}))


def to_csv(table: pd.DataFrame) -> str:
    """CSV text without the index, floats at full precision, missing values as empty cells."""
    return table.to_csv(index=False, float_format="%.17g", na_rep="")
