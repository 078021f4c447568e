"""Historical bars as numpy columns: from CSV/Parquet (polars), from candles, or synthetic.

A `Bars` is one symbol at one interval, sorted by `ts` (integer ns of the bar's open), with
float OHLCV columns. Loading checks what a backtest relies on and names the bad column or row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from proto import INTERVAL_SECONDS, Candle

NS = 1_000_000_000
_TS_NAMES = ("ts", "ts_open", "timestamp", "time", "date", "datetime", "open_time")
_OHLC = ("open", "high", "low", "close")


class DataError(ValueError):
    """Bars that cannot be backtested; the message names the file, column or row."""


@dataclass(frozen=True)
class Bars:
    symbol: str
    interval: str
    ts: np.ndarray  # int64 ns, bar open, strictly increasing
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def interval_ns(self) -> int:
        return INTERVAL_SECONDS[self.interval] * NS

    def slice(self, start_ns: int | None = None, end_ns: int | None = None) -> Bars:
        """Bars with start <= ts < end."""
        lo = 0 if start_ns is None else int(np.searchsorted(self.ts, start_ns, "left"))
        hi = len(self) if end_ns is None else int(np.searchsorted(self.ts, end_ns, "left"))
        s = slice(lo, hi)
        return Bars(
            self.symbol, self.interval, self.ts[s], self.open[s], self.high[s], self.low[s],
            self.close[s], self.volume[s],
        )  # fmt: skip


def infer_interval(ts: np.ndarray) -> str:
    """The named interval equal to the most common step between bars (gaps are allowed)."""
    if len(ts) < 2:
        raise DataError("need at least 2 bars to infer the interval; pass --timeframe")
    steps, counts = np.unique(np.diff(ts), return_counts=True)
    step_s = int(steps[np.argmax(counts)]) // NS
    for name, seconds in INTERVAL_SECONDS.items():
        if seconds == step_s:
            return name
    raise DataError(f"bar spacing of {step_s}s is not a known interval ({', '.join(INTERVAL_SECONDS)})")


def make_bars(
    symbol: str,
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray | None = None,
    interval: str | None = None,
) -> Bars:
    """Validate columns and build `Bars` (a ValueError names the first bad row)."""
    ts = np.asarray(ts, dtype=np.int64)
    cols = [np.ascontiguousarray(x, dtype=np.float64) for x in (o, h, lo, c)]
    vol = np.zeros(len(ts)) if v is None else np.ascontiguousarray(v, dtype=np.float64)
    if any(len(x) != len(ts) for x in [*cols, vol]):
        raise DataError("columns have different lengths")
    if len(ts) == 0:
        raise DataError(f"no bars for {symbol}")
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if len(bad):
        raise DataError(
            f"ts must be strictly increasing; row {int(bad[0]) + 1} is not after row {int(bad[0])}"
        )
    for name, col in zip(_OHLC, cols, strict=True):
        bad = np.flatnonzero(~np.isfinite(col) | (col <= 0))
        if len(bad):
            raise DataError(f"column {name!r} row {int(bad[0])}: {col[bad[0]]!r} is not a price > 0")
    o_, h_, l_, c_ = cols
    bad = np.flatnonzero((h_ < np.maximum(o_, c_)) | (l_ > np.minimum(o_, c_)))
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"row {i}: high/low do not bound open/close (o={o_[i]} h={h_[i]} l={l_[i]} c={c_[i]})"
        )
    name = interval or infer_interval(ts)
    if name not in INTERVAL_SECONDS:
        raise DataError(f"interval {name!r} is unknown; known: {', '.join(INTERVAL_SECONDS)}")
    return Bars(symbol, name, ts, o_, h_, l_, c_, vol)


def _ts_column(df: pl.DataFrame, source: str) -> np.ndarray:
    lower = {c.lower(): c for c in df.columns}
    for cand in _TS_NAMES:
        if cand in lower:
            col = df[lower[cand]]
            break
    else:
        raise DataError(f"{source}: no time column (one of {', '.join(_TS_NAMES)})")
    if col.dtype == pl.Utf8:
        col = col.str.to_datetime(time_zone="UTC")
    if col.dtype == pl.Date:
        col = col.cast(pl.Datetime("ns"))
    if isinstance(col.dtype, pl.Datetime):
        return col.dt.cast_time_unit("ns").to_physical().to_numpy().astype(np.int64)
    raw = col.cast(pl.Int64).to_numpy()
    # integers: seconds, milliseconds, microseconds or nanoseconds since the epoch, by size
    top = int(np.abs(raw).max()) if len(raw) else 0
    scale = 1 if top > 10**17 else 1_000 if top > 10**14 else 1_000_000 if top > 10**11 else NS
    return raw.astype(np.int64) * scale


def load_file(path: str | Path, symbol: str | None = None, interval: str | None = None) -> Bars:
    """Bars from a CSV or Parquet file with a time column and open/high/low/close[/volume].

    A `symbol` column, if present, is filtered by `symbol` (required when it holds several)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {p} does not exist")
    try:
        df = (
            pl.read_parquet(p)
            if p.suffix.lower() in (".parquet", ".pq")
            else pl.read_csv(p, try_parse_dates=True)
        )
    except Exception as exc:
        raise DataError(f"{p}: cannot read ({exc})") from None
    lower = {c.lower(): c for c in df.columns}
    if "symbol" in lower:
        present = df[lower["symbol"]].unique().to_list()
        if symbol is None and len(present) > 1:
            raise DataError(f"{p}: holds several symbols {sorted(present)}; pass --symbol")
        if symbol is not None:
            df = df.filter(pl.col(lower["symbol"]) == symbol)
        symbol = symbol or str(present[0])
    symbol = symbol or p.stem.upper()
    missing = [c for c in _OHLC if c not in lower]
    if missing:
        raise DataError(f"{p}: missing column(s) {', '.join(missing)}")
    ts = _ts_column(df, str(p))
    order = np.argsort(ts, kind="stable")
    cols = [df[lower[c]].cast(pl.Float64).to_numpy()[order] for c in _OHLC]
    vol = df[lower["volume"]].cast(pl.Float64).to_numpy()[order] if "volume" in lower else None
    try:
        o, h, lo, c = cols
        return make_bars(symbol, ts[order], o, h, lo, c, vol, interval=interval)
    except DataError as exc:
        raise DataError(f"{p}: {exc}") from None


def from_candles(candles: Sequence[Candle]) -> Bars:
    if not candles:
        raise DataError("no candles")
    c0 = candles[0]
    return make_bars(
        c0.symbol,
        np.array([c.ts_open for c in candles], dtype=np.int64),
        np.array([c.open for c in candles]),
        np.array([c.high for c in candles]),
        np.array([c.low for c in candles]),
        np.array([c.close for c in candles]),
        np.array([c.volume for c in candles]),
        interval=c0.interval,
    )


def synthetic(
    n: int, symbol: str = "BTC-USD", interval: str = "1m", seed: int = 1, start_price: float = 65_000.0,
    vol: float = 0.0008, start_ns: int = 1_700_000_000 * NS,
) -> Bars:  # fmt: skip
    """A seeded random walk of `n` bars (log returns ~ N(0, vol)) with plausible highs/lows."""
    rng = np.random.default_rng(seed)
    step = INTERVAL_SECONDS[interval] * NS
    close = start_price * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate(([start_price], close[:-1]))
    wick = np.abs(rng.normal(0.0, vol / 2, (2, n))) * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.lognormal(0.0, 1.0, n)
    ts = start_ns + np.arange(n, dtype=np.int64) * step
    return make_bars(symbol, ts, open_, high, low, close, volume, interval=interval)


def save(bars: Bars, path: str | Path) -> None:
    """Write bars as CSV or Parquet (by suffix)."""
    df = pl.DataFrame(
        {
            "ts": bars.ts, "symbol": [bars.symbol] * len(bars), "open": bars.open, "high": bars.high,
            "low": bars.low, "close": bars.close, "volume": bars.volume,
        }
    )  # fmt: skip
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        df.write_parquet(p)
    else:
        df.write_csv(p)
