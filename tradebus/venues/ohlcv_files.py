"""Read OHLCV files (CSV or Parquet) into bars: used by the sim's replay and by backfill imports.

Columns (case-insensitive): a time column named `ts_open`, `timestamp`, `time`, `date` or
`datetime` (integers in s, ms, us or ns since the epoch, told apart by size, or ISO 8601 text /
a datetime column, UTC unless it says otherwise), then `open`, `high`, `low`, `close`, and
optionally `volume` and `trades`. Rows are sorted by time; a duplicate time or a bar whose high
or low does not contain its open and close is an error naming the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

TIME_COLUMNS = ("ts_open", "timestamp", "time", "date", "datetime")


@dataclass(frozen=True, slots=True)
class Bar:
    ts_open: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int


def _to_ns(col: pl.Series) -> pl.Series:
    if col.dtype == pl.String:
        parsed = col.str.to_datetime(time_zone="UTC", time_unit="ns", strict=False)
        if parsed.null_count() > col.null_count():
            bad = col.filter(parsed.is_null()).head(1).to_list()
            raise ValueError(f"time column: cannot read {bad[0]!r} as a date/time")
        col = parsed
    if col.dtype.is_temporal():
        if isinstance(col.dtype, pl.Datetime) and col.dtype.time_zone is None:
            col = col.dt.replace_time_zone("UTC")
        return col.cast(pl.Datetime("ns", "UTC")).dt.epoch("ns")
    if not col.dtype.is_numeric():
        raise ValueError(f"time column has type {col.dtype}; want integers or date/times")
    values = col.cast(pl.Int64)
    top = int(values.abs().max() or 0)  # type: ignore[arg-type]
    scale = 10**9 if top < 10**11 else 10**6 if top < 10**14 else 10**3 if top < 10**17 else 1
    return values * scale


def read_bars(path: Path | str) -> list[Bar]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df = pl.read_csv(path, try_parse_dates=False)
    elif suffix in (".parquet", ".pq"):
        df = pl.read_parquet(path)
    else:
        raise ValueError(f"{path}: want a .csv or .parquet file")
    df = df.rename({c: c.lower().strip() for c in df.columns})
    time_col = next((c for c in TIME_COLUMNS if c in df.columns), None)
    if time_col is None:
        raise ValueError(f"{path}: no time column; want one of {', '.join(TIME_COLUMNS)}")
    missing = [c for c in ("open", "high", "low", "close") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    try:
        ts = _to_ns(df[time_col])
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    out = pl.DataFrame(
        {
            "ts_open": ts,
            **{k: df[k].cast(pl.Float64) for k in ("open", "high", "low", "close")},
            "volume": df["volume"].cast(pl.Float64)
            if "volume" in df.columns
            else pl.repeat(0.0, df.height, eager=True),
            "trades": df["trades"].cast(pl.Int64)
            if "trades" in df.columns
            else pl.repeat(0, df.height, eager=True),
        }
    ).sort("ts_open")
    bars = [Bar(**row) for row in out.iter_rows(named=True)]
    for i, b in enumerate(bars):
        if i and b.ts_open == bars[i - 1].ts_open:
            raise ValueError(f"{path}: two bars at ts_open {b.ts_open}")
        if not (b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close)) or b.low <= 0:
            raise ValueError(
                f"{path}: bar at ts_open {b.ts_open} has high/low outside open/close or a price <= 0"
            )
    return bars
