"""History rules (pure): aggregate finer candles into coarser ones, the interval fallback chain,
gap finding, and the stale-feed tracker. No I/O, no clock: times are passed in.

Aggregation: a coarse candle covers the finer candles whose `ts_open` falls in its bucket; open
is the first one's open, close the last one's close, high/low the extremes, volume and trades
the sums. A bucket is emitted only once it has closed (its end is at or before `now`), so a
fallback never invents a closed candle from a bucket still filling. A bucket with missing finer
candles is still emitted (the data is what the venue had); gap finding reports the holes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from proto import INTERVAL_SECONDS, Candle, Interval, interval_ns


def finer_intervals(interval: str) -> list[str]:
    """Intervals that divide `interval` exactly, coarsest first (1m -> 30s, 15s, 10s, 5s, 1s)."""
    n = INTERVAL_SECONDS[interval] if interval in INTERVAL_SECONDS else interval_ns(interval)
    return sorted(
        (iv for iv, s in INTERVAL_SECONDS.items() if s < n and n % s == 0),
        key=lambda iv: -INTERVAL_SECONDS[iv],
    )


def aggregate(candles: Iterable[Candle], interval: str, now: int) -> list[Candle]:
    """Closed candles of `interval` from finer closed candles (any order, duplicates by ts_open
    keep the last seen), oldest first."""
    length = interval_ns(interval)
    by_ts = {c.ts_open: c for c in candles}
    out: list[Candle] = []
    bucket: list[Candle] = []

    def emit() -> None:
        start = bucket[0].ts_open - bucket[0].ts_open % length
        if start + length > now:
            return
        first, last = bucket[0], bucket[-1]
        out.append(
            Candle(
                venue=first.venue,
                symbol=first.symbol,
                interval=cast(Interval, interval),
                ts_open=start,
                open=first.open,
                high=max(c.high for c in bucket),
                low=min(c.low for c in bucket),
                close=last.close,
                volume=sum(c.volume for c in bucket),
                trades=sum(c.trades for c in bucket),
            )
        )

    for ts in sorted(by_ts):
        c = by_ts[ts]
        if bucket and ts - ts % length != bucket[0].ts_open - bucket[0].ts_open % length:
            emit()
            bucket = []
        bucket.append(c)
    if bucket:
        emit()
    return out


def find_gaps(ts_opens: Iterable[int], interval: str, start: int, end: int) -> list[tuple[int, int]]:
    """Missing candles in [start, end): half-open ranges [a, b) of ts_open values with no candle.
    `start` is rounded down and `end` up to the interval grid."""
    length = interval_ns(interval)
    lo = start - start % length
    hi = end if end % length == 0 else end - end % length + length
    have = sorted({t for t in ts_opens if lo <= t < hi})
    gaps: list[tuple[int, int]] = []
    expected = lo
    for t in have:
        if t > expected:
            gaps.append((expected, t))
        expected = t + length
    if expected < hi:
        gaps.append((expected, hi))
    return gaps


@dataclass
class StaleTracker:
    """Which symbols have had no data for `after_ns`. `check(now)` returns the symbols that just
    went stale and those that just came back, so a shell publishes only changes."""

    after_ns: int
    last: dict[str, int] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)

    def watch(self, symbols: Sequence[str], now: int) -> None:
        for s in symbols:
            self.last.setdefault(s, now)

    def seen(self, symbol: str, now: int) -> bool:
        """Record data for `symbol`; True if it was stale (it has just recovered)."""
        self.last[symbol] = max(self.last.get(symbol, now), now)
        if symbol in self.stale:
            self.stale.discard(symbol)
            return True
        return False

    def check(self, now: int) -> list[str]:
        """Symbols that have just gone stale (no data for `after_ns` up to `now`)."""
        fresh_out = [s for s, t in self.last.items() if s not in self.stale and now - t >= self.after_ns]
        self.stale.update(fresh_out)
        return sorted(fresh_out)


def with_fallback(
    interval: str, limit: int, exact: Sequence[Candle], finer: Mapping[str, Sequence[Candle]], now: int
) -> list[Candle]:
    """The newest `limit` candles of `interval`: the stored ones, with buckets they lack filled by
    aggregating the finest-available finer candles (coarsest finer interval first: 1m takes 30s,
    then 15s, ..., then 1s)."""
    got = {c.ts_open: c for c in exact}
    for iv in finer_intervals(interval):
        for c in aggregate(finer.get(iv, ()), interval, now):
            got.setdefault(c.ts_open, c)
    return [got[t] for t in sorted(got)][-limit:]
