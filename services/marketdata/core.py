"""Candles from ticks: pure, incremental, one aggregator for every (symbol, interval).

Policy (documented in docs/architecture.md):
- Bars are aligned to interval boundaries: a bar covers [k*interval, (k+1)*interval) in the
  tick's own time (ts_event), never the wall clock.
- A bar closes when the first tick of a later bar arrives (or `flush(ts)` passes its end).
- Intervals with no tick produce no bar (a gap); consumers see the jump in `ts_open`.
- A late tick that falls in the current bar updates it normally (order inside a bar only
  affects close, which takes the tick with the greatest ts). A tick older than the current bar
  (its bar already closed) is dropped and counted in `late`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from proto import Candle, Tick, interval_ns


@dataclass(slots=True)
class _Bar:
    ts_open: int
    open: float
    high: float
    low: float
    close: float
    close_ts: int
    volume: float
    trades: int


@dataclass(slots=True)
class _Series:
    venue: str
    symbol: str
    interval: str
    length: int
    bar: _Bar | None = None


@dataclass
class CandleAggregator:
    """Feed ticks, get closed candles back; `partials()` gives the forming ones."""

    intervals: Sequence[str]
    history: int = 2000
    late: int = 0
    _series: dict[tuple[str, str], _Series] = field(default_factory=dict)
    _store: dict[tuple[str, str], deque[Candle]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lengths = {iv: interval_ns(iv) for iv in self.intervals}

    def on_tick(self, tick: Tick) -> list[Candle]:
        price = tick.last if tick.last > 0 else tick.mid
        closed: list[Candle] = []
        for interval, length in self._lengths.items():
            key = (tick.symbol, interval)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series(tick.venue, tick.symbol, interval, length)
            candle = self._update(series, tick.ts_event, price, tick.last_qty)
            if candle is not None:
                closed.append(candle)
        return closed

    def _update(self, s: _Series, ts: int, price: float, qty: float) -> Candle | None:
        start = ts - ts % s.length
        bar = s.bar
        if bar is None or start > bar.ts_open:
            done = self._close(s) if bar is not None else None
            s.bar = _Bar(start, price, price, price, price, ts, qty, 1)
            return done
        if start < bar.ts_open:
            if s.interval == self.intervals[0]:
                self.late += 1
            return None
        bar.high = max(bar.high, price)
        bar.low = min(bar.low, price)
        if ts >= bar.close_ts:
            bar.close, bar.close_ts = price, ts
        bar.volume += qty
        bar.trades += 1
        return None

    def _close(self, s: _Series) -> Candle:
        candle = self._candle(s, closed=True)
        self._store.setdefault((s.symbol, s.interval), deque(maxlen=self.history)).append(candle)
        return candle

    @staticmethod
    def _candle(s: _Series, *, closed: bool) -> Candle:
        b = s.bar
        assert b is not None
        return Candle(
            venue=s.venue,
            symbol=s.symbol,
            interval=s.interval,
            ts_open=b.ts_open,
            open=b.open,
            high=b.high,
            low=b.low,
            close=b.close,
            volume=b.volume,
            trades=b.trades,
            closed=closed,
        )

    def flush(self, now: int) -> list[Candle]:
        """Close every bar whose interval ended at or before `now` (data time, ns)."""
        out: list[Candle] = []
        for s in self._series.values():
            if s.bar is not None and s.bar.ts_open + s.length <= now:
                out.append(self._close(s))
                s.bar = None
        return out

    def partials(self) -> list[Candle]:
        return [self._candle(s, closed=False) for s in self._series.values() if s.bar is not None]

    def seed(self, candles: Iterable[Candle]) -> None:
        """Add closed candles from history (e.g. the venue's) to the store, oldest first."""
        for c in candles:
            store = self._store.setdefault((c.symbol, c.interval), deque(maxlen=self.history))
            if not store or c.ts_open > store[-1].ts_open:
                store.append(c)

    def history_of(self, symbol: str, interval: str, limit: int, end: int | None = None) -> list[Candle]:
        store = self._store.get((symbol, interval), deque())
        picked = [c for c in store if end is None or c.ts_open <= end]
        return picked[-limit:]
