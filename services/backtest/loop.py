"""The general event loop: every bar of every symbol through the path, every strategy, every tick.

Works for every strategy (it only calls the strategy API). Ticks that cannot change anything
(no position, order or queued order, loss limits off) are not sent to the book, except the open
of a bar, which the book always gets (it is the mid the book prices the next decisions at); the
parity test proves the trades are those of a book that gets every tick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from proto import Candle
from services.backtest.messages import candle

if TYPE_CHECKING:
    from services.backtest.runner import Backtest, Progress, Result

PROGRESS_EVERY = 4096


def path_prices(o: float, h: float, lo: float, c: float, mode: str) -> tuple[float, float, float]:
    """The three points after the open: the two extremes in path order, then the close."""
    low_first = mode == "olhc" or (mode == "auto" and c >= o)
    return (lo, h, c) if low_first else (h, lo, c)


def run_general(bt: Backtest, progress: Progress | None = None) -> Result:
    cfg = bt.cfg
    syms = list(bt.bars)
    cols = {
        s: (
            b.ts.tolist(),
            b.open.tolist(),
            b.high.tolist(),
            b.low.tolist(),
            b.close.tolist(),
            b.volume.tolist(),
        )
        for s, b in bt.bars.items()
    }
    step = {s: b.interval_ns for s, b in bt.bars.items()}
    timeline = np.unique(np.concatenate([b.ts for b in bt.bars.values()]))
    n = len(timeline)
    equity = np.empty(n)
    exposed = np.zeros(n, dtype=bool)
    ptr = dict.fromkeys(syms, 0)
    pending: dict[str, Candle | None] = dict.fromkeys(syms)
    marks: dict[str, float] = {}
    for k, t in enumerate(timeline.tolist()):
        group = [s for s in syms if ptr[s] < len(cols[s][0]) and cols[s][0][ptr[s]] == t]
        for s in group:
            _, o, _h, _l, _c, _v = cols[s]
            bt.point(s, o[ptr[s]], t, book_tick=True, host_tick=False)
            prev = pending[s]
            if prev is not None:
                bt.close_candle(prev)
            bt.tick_hosts(s, t, wants_only=True)
        for s in group:
            _, o, h, lo, c, v = cols[s]
            i = ptr[s]
            iv = step[s]
            pts = path_prices(o[i], h[i], lo[i], c[i], cfg.intrabar)
            times = (t + iv // 3, t + 2 * iv // 3, t + iv - 1)
            for j in range(3):
                last = j == 2
                bt.point(s, pts[j], times[j], book_tick=not bt.quiet(), host_tick=False)
                bt.tick_hosts(s, times[j], wants_only=not last)
            pending[s] = candle(
                cfg.venue,
                s,
                bt.bars[s].interval,  # type: ignore[arg-type]
                t,
                o[i],
                h[i],
                lo[i],
                c[i],
                v[i],
            )
            marks[s] = c[i]
            ptr[s] = i + 1
        equity[k] = bt.equity(marks)
        exposed[k] = any(q != 0 for q in bt.venue_pos.values())
        if progress is not None and k % PROGRESS_EVERY == 0:
            progress(k, n)
    # the last candles close after the data ends: their decisions reach no market
    bt.accepting = False
    for s in syms:
        prev = pending[s]
        if prev is not None:
            bt.now = prev.ts_open + step[s]
            bt.close_candle(prev)
    if progress is not None:
        progress(n, n)
    return bt.finish(timeline, equity, exposed)
