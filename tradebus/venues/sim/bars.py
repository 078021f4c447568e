"""One-second bars of a symbol and their aggregation into candles of any interval (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradebus.venues.sim.prices import Block

SECOND_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class CandleRow:
    ts_open: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int


class BarStore:
    """Contiguous 1 s bars starting at `t0_ns` (a whole second). Bars may be stored ahead of the
    clock (a whole block at a time); `candles` only ever returns candles closed at `now_ns`."""

    def __init__(self, t0_ns: int, capacity: int = 4096) -> None:
        if t0_ns % SECOND_NS:
            raise ValueError(f"t0_ns must be a whole second, got {t0_ns}")
        self.t0_ns = t0_ns
        self.size = 0
        self._o = np.empty(capacity)
        self._h = np.empty(capacity)
        self._l = np.empty(capacity)
        self._c = np.empty(capacity)
        self._v = np.empty(capacity)
        self._n = np.empty(capacity, dtype=np.int64)

    def append(self, block: Block) -> None:
        k = len(block.bar_open)
        need = self.size + k
        if need > len(self._o):
            cap = max(need, 2 * len(self._o))
            for name in ("_o", "_h", "_l", "_c", "_v", "_n"):
                old = getattr(self, name)
                new = np.empty(cap, dtype=old.dtype)
                new[: self.size] = old[: self.size]
                setattr(self, name, new)
        s = slice(self.size, need)
        self._o[s] = block.bar_open
        self._h[s] = block.bar_high
        self._l[s] = block.bar_low
        self._c[s] = block.bar_close
        self._v[s] = block.bar_volume
        self._n[s] = block.bar_trades
        self.size = need

    def candles(
        self, interval_ns: int, limit: int, now_ns: int, end_ns: int | None = None
    ) -> list[CandleRow]:
        """At most `limit` candles closed at `now_ns` and ending at or before `end_ns`, oldest
        first, aligned to multiples of the interval since the epoch. The oldest candle may cover
        less than a whole interval when it began before the stored history."""
        if interval_ns <= 0 or interval_ns % SECOND_NS:
            raise ValueError(f"interval must be a positive whole number of seconds: {interval_ns}")
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        hi = now_ns if end_ns is None else min(end_ns, now_ns)
        last_end = (hi // interval_ns) * interval_ns
        first_open = max(last_end - limit * interval_ns, self.t0_ns)
        i0 = (first_open - self.t0_ns) // SECOND_NS
        i1 = min((last_end - self.t0_ns) // SECOND_NS, self.size)
        if i1 <= i0:
            return []
        ts = self.t0_ns + np.arange(i0, i1, dtype=np.int64) * SECOND_NS
        bucket = ts // interval_ns
        starts = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
        ends = np.concatenate((starts[1:], [len(ts)])) - 1
        sl = slice(i0, i1)
        opens = self._o[sl][starts].tolist()
        highs = np.maximum.reduceat(self._h[sl], starts).tolist()
        lows = np.minimum.reduceat(self._l[sl], starts).tolist()
        closes = self._c[sl][ends].tolist()
        vols = np.add.reduceat(self._v[sl], starts).tolist()
        counts = np.add.reduceat(self._n[sl], starts).tolist()
        ts_open = (bucket[starts] * interval_ns).tolist()
        return [
            CandleRow(t, o, h, lo, c, v, n)
            for t, o, h, lo, c, v, n in zip(ts_open, opens, highs, lows, closes, vols, counts, strict=True)
        ]
