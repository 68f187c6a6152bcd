"""Numbers beyond float64's range: a float mantissa times 2^e, with an integer exponent e.

    value = mantissa · 2^exponent

The exponent is a Python int (one for the whole array) or an int64 array of shape (rows, 1) (one per row
of a batch), or of the mantissa's shape (one per entry, as activations' slopes come). Rescaling by a power of two is exact (np.ldexp, np.frexp), so wherever float64 can hold the
values, a computation on mantissas is bit for bit the plain float computation: 25 · 25 · 25 stays exactly
15625. Beyond that range nothing overflows or underflows: 25^9999 is a mantissa and an exponent, and so is
a saturated slope σ'(1000) = e^-1000.

Invariant kept by `normalized`: every row's largest |mantissa| lies in [2^-LIMIT, 2^LIMIT] (or the row is
exactly 0, or not finite), so squares and sums of squares of mantissas never overflow or underflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LIMIT = 400
HIGH = 2.0**LIMIT
LOW = 2.0**-LIMIT
LN2 = math.log(2.0)
LOG10_2 = math.log10(2.0)
SQUARE_RANGE = (2.0 ** (-2 * LIMIT - 100), 2.0 ** (2 * LIMIT + 100))
# Beyond ±2^12 a power of two under- or overflows any float64 mantissa, and ldexp takes 32-bit exponents.
EXPONENT_CLIP = 4096
# A term more than 2^2000 below the one it is added to vanishes from the sum anyway (float64 keeps 53 bits);
# shifting by at most this much keeps ldexp's 32-bit exponents in range.
SHIFT_FLOOR = -2000
# The largest |exponent| a single entry takes (from_log): 2^-(2^44) is 10^-5.3e12, a sigmoid slope at |z| ≈ 1.2e13.
EXPONENT_LIMIT = 2**44


@dataclass(frozen=True, eq=False)
class Scaled:
    """mantissa · 2^exponent; exponent an int or an int64 array (rows, 1)."""

    mantissa: np.ndarray
    exponent: int | np.ndarray = 0

    @property
    def value(self) -> np.ndarray:
        """The plain float64 value: exact where representable, ±inf past ~1.8e308, 0 (or subnormal) below."""
        if isinstance(self.exponent, int) and self.exponent == 0:
            return self.mantissa
        with np.errstate(over="ignore", under="ignore"):
            return np.ldexp(self.mantissa, np.clip(self.exponent, -EXPONENT_CLIP, EXPONENT_CLIP))

    @property
    def ln_norm(self) -> float:
        """ln ‖value‖ (Frobenius), −inf for exact zeros, NaN if any entry is NaN."""
        return ln_norm(self)

    @property
    def log10_norm(self) -> float:
        """log10 ‖value‖."""
        return ln_norm(self) / math.log(10.0)

    def log10_abs(self) -> np.ndarray:
        """log10 |value| entry by entry (−inf for zeros), exact at any magnitude."""
        return log10_magnitude(self.mantissa, self.exponent)

    def sign(self) -> np.ndarray:
        """sign(value) entry by entry."""
        return np.sign(self.mantissa)

    @staticmethod
    def of(value) -> Scaled:
        """A float array as a Scaled number (exponent 0), normalized if it needs to be."""
        return normalized(Scaled(np.asarray(value, dtype=float), 0))


def log10_magnitude(mantissa, exponent) -> np.ndarray:
    """log10 |mantissa · 2^exponent| entry by entry: −inf for an exact zero, NaN for NaN, at any magnitude."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.abs(mantissa)) + np.asarray(exponent) * LOG10_2


def from_log(sign: np.ndarray, ln_magnitude: np.ndarray) -> Scaled:
    """sign · e^ln_magnitude entry by entry, with one exponent per entry (mantissas in [1, 2), exact zeros 0).

    Beyond 2^±EXPONENT_LIMIT a magnitude underflows to 0 or overflows to ±inf, as a float64 does beyond its
    range, so exponents stay far inside int64 even when summed over a 100,000-layer chain."""
    with np.errstate(invalid="ignore", over="ignore"):
        exponent = np.floor(ln_magnitude / LN2)
        inside = np.abs(exponent) <= EXPONENT_LIMIT  # False for ±inf and NaN too
        exponent = np.where(inside, exponent, 0.0)
        mantissa = sign * np.exp(ln_magnitude - exponent * LN2)
    return Scaled(np.where(np.isneginf(ln_magnitude), 0.0, mantissa), exponent.astype(np.int64))


def pair(values: np.ndarray | Scaled) -> tuple[np.ndarray, np.ndarray]:
    """(mantissa, exponent) arrays of a plain or Scaled array (the exponent broadcast to the mantissa's shape)."""
    if isinstance(values, Scaled):
        return values.mantissa, np.broadcast_to(np.asarray(values.exponent, dtype=np.int64), values.mantissa.shape)
    return values, np.zeros(np.shape(values), dtype=np.int64)


def times(x: Scaled, factor: np.ndarray | Scaled) -> Scaled:
    """x ⊙ factor, entry by entry; a Scaled factor's exponents (per entry or per row) are folded into x's rows."""
    if not isinstance(factor, Scaled):
        return Scaled(x.mantissa * factor, x.exponent)
    return combine_exponents(x.mantissa * factor.mantissa, np.asarray(x.exponent) + factor.exponent)


def combine_exponents(mantissa: np.ndarray, exponent: np.ndarray) -> Scaled:
    """mantissa · 2^exponent with an exponent per entry, brought to one exponent per row (2-D) or per array.

    Each row takes the exponent of its largest entry, so entries far below it may underflow, as they would
    against that entry in any float sum.
    """
    m, e = np.frexp(mantissa)
    total = e.astype(np.int64) + exponent
    nonzero = m != 0
    if mantissa.ndim == 2:
        top = np.max(np.where(nonzero, total, np.iinfo(np.int64).min), axis=1, keepdims=True)
        top = np.where(top == np.iinfo(np.int64).min, 0, top)
    else:
        top = int(np.max(total[nonzero], initial=0)) if nonzero.any() else 0
    return Scaled(np.ldexp(m, np.clip(total - top, SHIFT_FLOOR, -SHIFT_FLOOR)), top)


def normalized(x: Scaled) -> Scaled:
    """x with every row's largest |mantissa| inside [2^-LIMIT, 2^LIMIT] (zero and non-finite rows as they are).

    Rows already inside are untouched, so in float64's ordinary range this is a no-op and a computation stays
    bit for bit the plain one.
    """
    m = x.mantissa
    if m.ndim < 2:
        top = np.max(np.abs(m), initial=0.0)
        if LOW <= top <= HIGH or top == 0.0 or not np.isfinite(top):
            return x
        _, shift = np.frexp(top)
        return Scaled(np.ldexp(m, -int(shift)), int(x.exponent) + int(shift))
    top = np.max(np.abs(m), axis=1, initial=0.0)
    if top.min(initial=HIGH) >= LOW and top.max(initial=0.0) <= HIGH:
        return x
    outside = ((top > HIGH) | (top < LOW)) & (top > 0.0) & np.isfinite(top)
    if not outside.any():
        return x
    _, shift = np.frexp(np.where(outside, top, 1.0))
    shift = np.where(outside, shift, 0).astype(np.int64)[:, None]
    return Scaled(np.ldexp(m, -shift), x.exponent + shift)


def add(terms: list[Scaled]) -> Scaled:
    """Σ terms (same shapes), each row at the largest exponent among the terms' rows."""
    exponents = [t.exponent for t in terms]
    if all(isinstance(e, int) and e == exponents[0] for e in exponents):
        return Scaled(sum(t.mantissa for t in terms), exponents[0])
    if all(np.ndim(e) == 0 for e in exponents):
        # whole-array exponents stay one Python int (the type's invariant), not a 0-d array
        top = max(int(e) for e in exponents)
        total = sum(np.ldexp(t.mantissa, max(int(t.exponent) - top, SHIFT_FLOOR)) for t in terms)
        return normalized(Scaled(total, top))
    top = exponents[0]
    for e in exponents[1:]:
        top = np.maximum(top, e)
    total = sum(np.ldexp(t.mantissa, np.maximum(t.exponent - top, SHIFT_FLOOR)) for t in terms)
    return normalized(Scaled(total, np.asarray(top, dtype=np.int64)))


def ln_norm(x: Scaled) -> float:
    """ln ‖x‖ (Frobenius) over every entry, rows of different exponents included; −inf for zeros."""
    m = x.mantissa
    e = x.exponent
    if isinstance(e, int):
        square = float(np.vdot(m, m))
        if SQUARE_RANGE[0] < square < SQUARE_RANGE[1]:
            return 0.5 * math.log(square) + e * LN2
        return float(ln_group_norms(m.reshape(1, -1), np.array([e]))[0])
    e = np.asarray(e).reshape(-1)  # one exponent per row, or per entry (each entry its own group)
    return log_sum_squares(ln_group_norms(m.reshape(len(e), -1), e))


def ln_group_norms(values: np.ndarray, exponent=0) -> np.ndarray:
    """ln ‖values[g] · 2^exponent[g]‖ for every row g of a 2-D array (the one safe norm: a sum of squares outside
    float64's comfortable range is recomputed with the row scaled by its largest entry first). −inf for a row of
    zeros, NaN for a row holding a NaN, inf for one holding ±inf."""
    squares = np.einsum("ij,ij->i", values, values)
    return ln_from_squares(squares, exponent, lambda bad: _careful_rows(values[bad]))


def segment_norms(values: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """‖values[starts[k]:stops[k]]‖ for non-empty segments of a vector in increasing order (they may leave gaps):
    √Σv² where that sum is inside float64's exact range (one BLAS pass each, or one reduceat for many segments),
    else the segment scaled by its largest entry first, so huge (1e200) or tiny (1e-200) finite entries keep a
    finite, nonzero norm; 0 for zeros, inf for ±inf, NaN for NaN."""
    return _segment_norms(values, starts, stops, log=False)


def ln_segment_norms(values: np.ndarray, starts: np.ndarray, stops: np.ndarray, exponent=0) -> np.ndarray:
    """ln (‖segment k‖ · 2^exponent[k]), by the same rule as segment_norms, in logs throughout (a norm below float64's
    smallest normal number keeps its digits)."""
    return _segment_norms(values, starts, stops, log=True) + np.asarray(exponent) * LN2


def _segment_norms(values: np.ndarray, starts: np.ndarray, stops: np.ndarray, log: bool) -> np.ndarray:
    if len(starts) <= SEGMENT_LOOP:
        squares = np.array([np.vdot(values[a:b], values[a:b]) for a, b in zip(starts, stops)], dtype=float)
    else:
        with np.errstate(over="ignore", under="ignore"):  # out-of-range sums are recomputed carefully below
            squares = _segment_sums(values * values, starts, stops)
    with np.errstate(divide="ignore"):
        norms = 0.5 * np.log(squares) if log else np.sqrt(squares)
    bad = ~((squares > SQUARE_RANGE[0]) & (squares < SQUARE_RANGE[1]))
    if bad.any():
        norms[bad] = _careful(values, starts[bad], stops[bad], log)
    return norms


def _careful(values: np.ndarray, starts: np.ndarray, stops: np.ndarray, log: bool) -> np.ndarray:
    """The safe norm of each segment (log=True: its ln), scaled by its largest |entry| first so that no square
    overflows or underflows: largest · √Σ(entry/largest)²; 0 for zeros, inf for ±inf, NaN for a NaN."""
    largest = _segment_reduce(np.maximum, np.abs(values), starts, stops)
    usable = (largest > 0) & np.isfinite(largest)
    scale = np.where(usable, largest, 1.0)
    bounds, counts = _bounds(starts, stops, len(values))
    per_entry = np.repeat(np.ravel(np.column_stack([scale, np.ones(len(scale))]))[:len(counts)], counts)
    scaled = values[bounds[0]:] / per_entry
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # over: in the gaps, which are dropped
        sums = _segment_sums(scaled * scaled, starts - bounds[0], stops - bounds[0])
        norms = np.log(scale) + 0.5 * np.log(sums) if log else scale * np.sqrt(sums)
        special = np.log(largest) if log else largest  # 0 (−inf), ±inf or NaN: the norm is that
    has_nan = _segment_reduce(np.add, np.isnan(values).astype(float), starts, stops) > 0
    return np.where(has_nan, np.nan, np.where(usable, norms, special))


def _careful_rows(rows: np.ndarray) -> np.ndarray:
    """ln ‖row‖ for every row of a 2-D array, by _careful."""
    n = rows.shape[1]
    if n == 0:
        return np.full(len(rows), -np.inf)
    starts = np.arange(0, rows.size, n)
    return _careful(rows.ravel(), starts, starts + n, log=True)


def _bounds(starts: np.ndarray, stops: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The segments and the gaps between them as one increasing list of bounds (the last segment may run to the
    end), and how many entries each of those pieces holds."""
    bounds = np.ravel(np.column_stack([starts, stops]))
    if bounds[-1] == size:
        bounds = bounds[:-1]
    return bounds, np.diff(np.append(bounds, size))


def _segment_reduce(ufunc, values: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """ufunc.reduce over each segment [starts[k], stops[k]) at once (reduceat over the segments and the gaps)."""
    return ufunc.reduceat(values, _bounds(starts, stops, len(values))[0])[0::2]


def _segment_sums(values: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Σ over each segment [starts[k], stops[k]) at once."""
    return _segment_reduce(np.add, values, starts, stops)


# Up to this many segments a loop of BLAS dot products beats one reduceat over the squares of every entry.
SEGMENT_LOOP = 32


def ln_from_squares(squares: np.ndarray, exponent, careful) -> np.ndarray:
    """½ ln squares + exponent·ln 2 per group, asking careful(mask) for the groups whose sum of squares left the
    range where it is exact to rounding (overflowed, underflowed, or not finite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ln = 0.5 * np.log(squares) + np.asarray(exponent) * LN2
    bad = ~((squares > SQUARE_RANGE[0]) & (squares < SQUARE_RANGE[1]))
    if bad.any():
        ln = np.array(ln, dtype=float)
        ln[bad] = careful(bad) + np.broadcast_to(np.asarray(exponent), ln.shape)[bad] * LN2
    return ln


def log_sum_squares(ln_rows: np.ndarray) -> float:
    """ln √(Σ_r e^{2·ln_rows[r]}): the norm of several groups from their ln norms."""
    if np.isnan(ln_rows).any():
        return math.nan
    top = float(ln_rows.max(initial=-math.inf))
    if not math.isfinite(top):
        return top
    return top + 0.5 * math.log(float(np.sum(np.exp(2.0 * (ln_rows - top)))))


def ln_global_norm(parts: list[Scaled]) -> float:
    """ln √(Σ_k ‖part_k‖²) over several arrays."""
    return log_sum_squares(np.array([ln_norm(p) for p in parts]))


ROW_SQUARES = (LOW * LOW, HIGH * HIGH)


def normalized_rows(x: Scaled) -> tuple[Scaled, np.ndarray, float]:
    """(x with its rows inside the band, as `normalized` keeps them, each row's Σ mantissa², and their sum),
    checked from the sums of squares the caller needs for the norm anyway (the smallest row's, and the total,
    which bounds the largest); only rows outside are rescaled."""
    m = x.mantissa
    squares = np.einsum("ij,ij->i", m, m)
    total = float(squares.sum())
    if squares.min() >= ROW_SQUARES[0] and total <= ROW_SQUARES[1]:
        return x, squares, total
    rescaled = normalized(x)
    if rescaled is x:
        return x, squares, total
    m = rescaled.mantissa
    squares = np.einsum("ij,ij->i", m, m)
    return rescaled, squares, float(squares.sum())


def ln_norm_of_rows(squares: np.ndarray, exponent: int | np.ndarray, total: float, rows: np.ndarray) -> float:
    """ln √(Σ_r squares[r] · 4^exponent[r]): a row-scaled array's Frobenius norm from its rows' Σ mantissa²
    (total: their plain sum; rows: the mantissas, read only where a sum left the exact range)."""
    if isinstance(exponent, int) and SQUARE_RANGE[0] < total < SQUARE_RANGE[1]:
        return 0.5 * math.log(total) + exponent * LN2
    exponent = np.broadcast_to(np.asarray(exponent).reshape(-1), squares.shape)
    return log_sum_squares(ln_from_squares(squares, exponent, lambda bad: _careful_rows(rows[bad])))


def stack_rows(parts: list[Scaled]) -> tuple[np.ndarray, np.ndarray]:
    """T row-scaled (rows, n) arrays as (mantissas (T, rows, n), exponents (T, rows)); one part is a view."""
    rows = parts[0].mantissa.shape[0]
    mantissa = parts[0].mantissa[None] if len(parts) == 1 else np.stack([p.mantissa for p in parts])
    exponents = [p.exponent for p in parts]
    if all(isinstance(e, int) for e in exponents):
        return mantissa, np.broadcast_to(np.array(exponents, dtype=np.int64)[:, None], (len(parts), rows))
    return mantissa, np.stack([np.broadcast_to(np.asarray(e, dtype=np.int64).reshape(-1), (rows,)) for e in exponents])


def per_step_norms(values: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """ln ‖values[t] · 2^exponent[t]‖ for every t (axis 0)."""
    return ln_group_norms(values.reshape(len(values), -1), exponent)


def sum_over_steps(values: np.ndarray, exponent: np.ndarray) -> Scaled:
    """Σ_t values[t] · 2^exponent[t] as one Scaled array (one exponent, the largest of the non-zero steps)."""
    if len(values) == 1:
        return Scaled(values[0], int(exponent[0]))
    nonzero = np.any(values.reshape(len(values), -1) != 0, axis=1)
    top = int(exponent[nonzero].max()) if nonzero.any() else 0
    shift = np.maximum(exponent - top, SHIFT_FLOOR).reshape((-1,) + (1,) * (values.ndim - 1))
    with np.errstate(under="ignore"):
        return Scaled(np.ldexp(values, shift).sum(axis=0), top)
