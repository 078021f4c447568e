"""Series statistics over an equity (or PnL) curve sampled at regular periods, with numpy.

Pure functions, no I/O. Inputs are the curve's *levels* (one value per period, oldest first),
e.g. a strategy's PnL at the end of each minute.

Sharpe ratio
    The per-period return is the change of the curve over one period, ``r_t = v_t - v_{t-1}``.
    A strategy starts with no capital of its own, so there is no base to divide by; dividing by
    any fixed capital base ``C`` (``r_t / C``) leaves the ratio unchanged, so this is the Sharpe
    ratio of returns on a fixed capital base. Risk-free rate 0::

        sharpe = mean(r) / std(r, ddof=1) * sqrt(periods_per_year)

    Annualization is by the square root of the number of periods in a year (365 days for a
    crypto venue that trades every day: daily -> 365, hourly -> 8760, minutely -> 525600).
    Undefined (``None``) with fewer than two returns or when every return is the same.

Drawdown
    In money, from the running peak: ``dd_t = max(v_0..v_t) - v_t``. The maximum drawdown is
    the largest ``dd_t``; the current drawdown is the last one. Both are 0 for an empty curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]

#: Periods per year for common sampling intervals (365-day year, venues trade every day).
PERIODS_PER_YEAR: dict[str, float] = {
    "1m": 365 * 24 * 60,
    "5m": 365 * 24 * 12,
    "1h": 365 * 24,
    "1d": 365,
}


def as_array(values: Sequence[float] | FloatArray) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"values: expected a 1-d series, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values: the series holds NaN or infinite values")
    return arr


def period_returns(values: Sequence[float] | FloatArray) -> FloatArray:
    """Changes from one period to the next (``len(values) - 1`` of them)."""
    return np.diff(as_array(values))


def sharpe(values: Sequence[float] | FloatArray, periods_per_year: float) -> float | None:
    """Annualized Sharpe ratio of the curve's per-period changes (see the module doc)."""
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year: must be > 0, got {periods_per_year}")
    r = period_returns(values)
    if r.size < 2:
        return None
    sd = float(np.std(r, ddof=1))
    mean = float(np.mean(r))
    # A constant series of returns has no risk to speak of; float noise is not a risk either.
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return None
    return mean / sd * math.sqrt(periods_per_year)


def drawdown_curve(values: Sequence[float] | FloatArray) -> FloatArray:
    """``max(v_0..v_t) - v_t`` for every t (non-negative)."""
    arr = as_array(values)
    if arr.size == 0:
        return arr
    return np.maximum.accumulate(arr) - arr


def drawdowns(values: Sequence[float] | FloatArray) -> tuple[float, float]:
    """``(max_drawdown, current_drawdown)`` of the curve, in the curve's units."""
    dd = drawdown_curve(values)
    if dd.size == 0:
        return 0.0, 0.0
    return float(dd.max()), float(dd[-1])


def resample_last(
    ts_event: Sequence[int], values: Sequence[float], every_ns: int
) -> tuple[list[int], list[float]]:
    """The curve's last value in each bucket of `every_ns` nanoseconds, with polars.

    A bucket starts at ``ts - ts % every_ns``; buckets without a point are left out. Use it to
    thin a PnL history for a chart, or to compute a daily Sharpe from minute snapshots.
    Input need not be sorted; when two points share a time, the later in the input wins.
    """
    if every_ns <= 0:
        raise ValueError(f"every_ns: must be > 0, got {every_ns}")
    if len(ts_event) != len(values):
        raise ValueError(f"values: {len(values)} values for {len(ts_event)} times")
    frame = pl.DataFrame(
        {"ts": list(ts_event), "v": as_array(values)}, schema={"ts": pl.Int64, "v": pl.Float64}
    )
    out = (
        frame.with_row_index("n")
        .sort("ts", "n")
        .group_by((pl.col("ts") - pl.col("ts") % every_ns).alias("bucket"), maintain_order=True)
        .agg(pl.col("v").last())
        .sort("bucket")
    )
    return out["bucket"].to_list(), out["v"].to_list()
