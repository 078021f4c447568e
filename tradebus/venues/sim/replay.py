"""Replay of recorded OHLCV bars as the sim's price path (pure, numpy).

The intrabar path: inside a bar of N path steps the mid moves in straight lines from the open
to the first extreme at step N//3, to the second extreme at step 2N//3, and to the close at the
last step N-1. The first extreme is the low when the bar closed at or above its open (O-L-H-C),
the high otherwise (O-H-L-C), the usual conservative assumption of bar backtesters. So the
bar's open, high, low and close are all on the path, and candles of the bar's own interval
(grid-aligned) come back exactly as the file had them. A bar's volume is spread evenly over its
steps (one print per step when it has volume). Before the first bar the mid sits at the first
open; in a gap between bars and after the last bar it holds the last close with no volume.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tradebus.venues.ohlcv_files import Bar
from tradebus.venues.sim.prices import BLOCK_SECONDS, Block

MIN_STEPS_PER_BAR = 4


class ReplayPath:
    """Consecutive one-minute blocks of a path that walks through `bars`, starting at `t0_ns`."""

    def __init__(self, bars: Sequence[Bar], step_s: float, t0_ns: int) -> None:
        if not bars:
            raise ValueError("replay needs at least one bar")
        self.step_ns = round(step_s * 1e9)
        self.steps_per_second = round(1.0 / step_s)
        self.block_steps = self.steps_per_second * BLOCK_SECONDS
        self.ts = np.array([b.ts_open for b in bars], dtype=np.int64)
        gaps = np.diff(self.ts)
        if len(gaps) and (gaps <= 0).any():
            raise ValueError("replay bars must have increasing, distinct times")
        bar_ns = int(np.min(gaps)) if len(gaps) else 60 * 10**9
        self.steps_per_bar = bar_ns // self.step_ns
        if self.steps_per_bar < MIN_STEPS_PER_BAR or bar_ns % self.step_ns:
            raise ValueError(
                f"bars of {bar_ns / 1e9:g} s need at least {MIN_STEPS_PER_BAR} whole path steps each; "
                f"lower the sim's step_ms"
            )
        o = np.array([b.open for b in bars])
        h = np.array([b.high for b in bars])
        lo = np.array([b.low for b in bars])
        c = np.array([b.close for b in bars])
        up = c >= o
        self.o, self.c = o, c
        self.e1 = np.where(up, lo, h)
        self.e2 = np.where(up, h, lo)
        self.vol_per_step = np.array([b.volume for b in bars]) / self.steps_per_bar
        self.t0_ns = t0_ns
        self._k = 0
        self.regime_vol = 0.0

    def prices_at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mid and volume at each step time `t` (ns)."""
        n = self.steps_per_bar
        idx = np.searchsorted(self.ts, t, side="right") - 1
        before = idx < 0
        i = np.clip(idx, 0, len(self.ts) - 1)
        j = (t - self.ts[i]) // self.step_ns
        a1, a2, last = n // 3, 2 * n // 3, n - 1
        o, e1, e2, c = self.o[i], self.e1[i], self.e2[i], self.c[i]
        jf = j.astype(np.float64)
        mid = np.where(
            j <= a1,
            o + (e1 - o) * jf / a1,
            np.where(
                j <= a2,
                e1 + (e2 - e1) * (jf - a1) / (a2 - a1),
                e2 + (c - e2) * np.minimum(jf - a2, last - a2) / (last - a2),
            ),
        )
        inside = (j < n) & ~before
        mid = np.where(before, self.o[0], np.where(inside, mid, c))
        vol = np.where(inside, self.vol_per_step[i], 0.0)
        return mid, vol

    def next_block(self) -> Block:
        n = self.block_steps
        t = self.t0_ns + (self._k + np.arange(n, dtype=np.int64)) * self.step_ns
        self._k += n
        mids, volumes = self.prices_at(t)
        prints = (volumes > 0).astype(np.int64)
        by_sec = mids.reshape(BLOCK_SECONDS, self.steps_per_second)
        return Block(
            mids=mids.tolist(),
            volumes=volumes.tolist(),
            prints=prints.tolist(),
            bar_open=by_sec[:, 0].copy(),
            bar_high=by_sec.max(axis=1),
            bar_low=by_sec.min(axis=1),
            bar_close=by_sec[:, -1].copy(),
            bar_volume=volumes.reshape(BLOCK_SECONDS, -1).sum(axis=1),
            bar_trades=prints.reshape(BLOCK_SECONDS, -1).sum(axis=1),
        )
