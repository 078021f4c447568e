"""The fast path of `bb_rsi_scalper`: skip the bars where nothing can happen, run the rest exactly.

The general loop (`loop.py`) sends every bar through the strategy, the netting book and the
engine. For `bb_rsi_scalper` alone on one symbol, most bars change nothing: no order is in
flight, the position's bracket is out of the bar's reach and the strategy decides nothing. This
path finds those bars with compiled kernels (`fast_kernel.py`) and runs only the others through
the same objects as the general loop, in the same order:

1. The strategy's indicators (Bollinger, RSI, ATR) are computed for the whole series at once,
   bit-identical to the incremental classes, and the engine's quote of every close and of every
   bar's extremes likewise.
2. `scan` replays the strategy's decisions for the current position until the first *step*
   where something can happen: a decision that acts, or a bar whose quote range could reach the
   bracket (float check with a 1e-9 relative margin, so it can only err towards running a bar).
3. That step runs as in the general loop: the bar's open through the engine and the book, the
   previous candle to the real `StrategyHost` and strategy (its indicators replaced by the
   precomputed values, its cooldown state set from the scan), the intents through the book to
   the engine; the bar's other points too when an order is in flight or the bracket is in reach.
4. Equity of the skipped bars is cash + position x close, as the general loop computes it.

The book gets fewer ticks than in the general loop: only ticks that cannot fire a bracket are
left out, and with the loss limits off such a tick changes nothing the book decides with (the
next decision's step always starts with its own open tick). `tests/unit/backtest/test_fast.py`
proves it: intents and fills equal the general path's on Hypothesis random walks (gaps, flat
stretches, every intrabar mode, costs, latency) and on a large seeded series.

Where the compiled trade sequence covers the run (`fast_events`: zero latency, fills within the
top level, no quote near a bracket level), `FastRun.run` builds the whole result from it instead
(`fast_build`), with no exact steps; `BacktestConfig(compiled=False)` keeps the exact steps.

Used automatically (`BacktestConfig.fast`, default True) when `eligible` says so; numba is
imported only then.
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from proto import Candle, Interval
from services.backtest.config import OPEN_LIMITS
from services.backtest.loop import PROGRESS_EVERY, path_prices
from services.backtest.messages import candle
from services.backtest.messages import tick as make_tick
from services.signals.indicators import Atr, BollingerBands, Rsi
from services.signals.indicators.moving import RollingStats
from services.signals.strategies.bb_rsi_scalper import BbRsiScalper
from services.signals.strategies.pricing import sign

if TYPE_CHECKING:
    from services.backtest.runner import Backtest, Progress, Result

#: relative margin of the float bracket check (Decimal levels vs float quotes: ~1e-16 apart)
MARGIN = 1e-9
INF = float("inf")


class FastPathError(RuntimeError):
    """The kernel and the strategy disagreed: a bug; run with `BacktestConfig(fast=False)`."""


def eligible(bt: Backtest) -> str | None:
    """None when the fast path gives the general path's result for this run; else why not."""
    cfg = bt.cfg
    if not cfg.fast:
        return "disabled by the config"
    if len(bt.hosts) != 1 or bt.hosts[0].cls is not BbRsiScalper:
        return "the fast path is for bb_rsi_scalper alone"
    if len(bt.bars) != 1:
        return "the fast path is for one symbol"
    if cfg.limits != OPEN_LIMITS:
        return "risk limits are set (every tick must reach the book)"
    b = next(iter(bt.bars.values()))
    if len(b) > 1 and not bool((b.ts[1:] > b.ts[:-1]).all()):
        return "timestamps are not strictly increasing"
    # finite and > 0 without a temporary the size of the series: a NaN makes the min NaN
    if len(b) and not all(
        float(x.min()) > 0 and float(x.max()) < math.inf for x in (b.open, b.high, b.low, b.close)
    ):
        return "prices must be finite and > 0"
    try:
        import numba  # noqa: F401
    except ImportError:
        return "numba is not installed"
    return None


class _Cursor:
    """The bar whose precomputed indicator values the replays hand to the strategy."""

    __slots__ = ("close", "i")

    def __init__(self, close: np.ndarray) -> None:
        self.close = close
        self.i = -1

    def at(self, x: float) -> int:
        i = self.i
        if x != self.close[i]:
            raise FastPathError(f"the strategy updated with {x!r}, the kernel is at bar {i}")
        return i


class _Bands:
    """Stands in for the strategy's `BollingerBands`: the kernel's values of the current bar."""

    __slots__ = ("_cur", "_lower", "_middle", "_upper", "lower", "middle", "ready", "upper")

    def __init__(self, cur: _Cursor, upper: np.ndarray, middle: np.ndarray, lower: np.ndarray) -> None:
        self._cur, self._upper, self._middle, self._lower = cur, upper, middle, lower
        self.ready = False
        self.upper = self.middle = self.lower = float("nan")

    def update(self, x: float) -> float:
        i = self._cur.at(x)
        self.middle = mid = float(self._middle[i])
        self.upper = float(self._upper[i])
        self.lower = float(self._lower[i])
        self.ready = mid == mid
        return mid


class _Value:
    """Stands in for the strategy's `Rsi` / `Atr`: the kernel's value of the current bar."""

    __slots__ = ("_cur", "_values", "ready", "value")

    def __init__(self, cur: _Cursor, values: np.ndarray) -> None:
        self._cur, self._values = cur, values
        self.ready = False
        self.value = float("nan")

    def update(self, *args: float) -> float:
        self.value = v = float(self._values[self._cur.at(args[-1])])
        self.ready = v == v
        return v


class FastRun:
    """One fast run over `bt` (which `eligible` accepted)."""

    def __init__(self, bt: Backtest) -> None:
        from services.backtest import fast_kernel as kern

        self.k = kern
        self.bt = bt
        ((self.sym, bars),) = bt.bars.items()
        self.bars = bars
        self.host = bt.hosts[0]
        self.ctx = self.host.contexts[self.sym]
        self.strat = cast(BbRsiScalper, self.host.instances[self.sym])
        p = self.strat.p
        f64 = np.float64
        self.o, self.h, self.lo, self.c = (
            np.ascontiguousarray(x, dtype=f64) for x in (bars.open, bars.high, bars.low, bars.close)
        )
        self.upper, self.middle, self.lower = kern.bollinger(
            self.c, p.bb_period, float(p.bb_dev), RollingStats.RESUM_WINDOWS
        )
        self.rsi = kern.rsi(self.c, p.rsi_period)
        self.atr = kern.atr(self.h, self.lo, self.c, p.atr_period)
        self.ready = ~(np.isnan(self.upper) | np.isnan(self.rsi) | np.isnan(self.atr))
        market = bt.engine._markets[self.sym]  # the engine's own quote parameters
        q = kern.quotes(self.o, self.h, self.lo, self.c, market.half_spread, market.inc_f)
        self.bid, self.ask, self.bid_lo, self.ask_lo, self.bid_hi, self.ask_hi = q
        self.cur = _Cursor(self.c)
        s = self.strat
        s.bb = cast(BollingerBands, _Bands(self.cur, self.upper, self.middle, self.lower))
        s.rsi = cast(Rsi, _Value(self.cur, self.rsi))
        s.atr = cast(Atr, _Value(self.cur, self.atr))
        self.iv = bars.interval_ns
        self.n = len(bars)
        self.steps = 0

    @cached_property
    def ts(self) -> list[int]:
        """The bars' open times as Python ints (the exact steps'; a compiled run reads the few
        it needs from the array)."""
        return cast(list[int], self.bars.ts.tolist())

    # ------------------------------------------------------------------ state of the book
    def _busy(self) -> bool:
        """An order is queued, resting or open: every point must go through as in the general loop."""
        bt = self.bt
        return bool(bt.outbox) or bt.engine.has_resting() or bt.book.has_open_orders()

    def _reach(self) -> tuple[np.ndarray, np.ndarray, float, float] | None:
        """(low quotes, high quotes, upper limit, lower limit) a bar must touch to maybe fire the
        bracket; None when any bar may (a time stop)."""
        pos = sign(self.ctx.position)
        slot = self.bt.book._slots.get((self.host.name, self.sym))  # read only
        br = None if slot is None or pos == 0 else slot.bracket
        if br is None:
            return self.bid_lo, self.bid_hi, INF, -INF
        if br.time_stop_s is not None:
            return None
        tp = None if br.take_profit is None else float(br.take_profit)
        sl = None if br.stop_loss is None else float(br.stop_loss)
        if pos > 0:  # exits at the bid: TP above, SL below
            up = INF if tp is None else tp * (1 - MARGIN)
            dn = -INF if sl is None else sl * (1 + MARGIN)
            return self.bid_lo, self.bid_hi, up, dn
        up = INF if sl is None else sl * (1 - MARGIN)
        dn = -INF if tp is None else tp * (1 + MARGIN)
        return self.ask_lo, self.ask_hi, up, dn

    def _in_reach(self, j: int) -> bool:
        r = self._reach()
        if r is None:
            return True
        q_lo, q_hi, up, dn = r
        return bool(q_hi[j] >= up or q_lo[j] <= dn)

    # ------------------------------------------------------------------ the steps
    def _candle(self, i: int) -> Candle:
        b = self.bars
        return candle(
            self.bt.cfg.venue, self.sym, cast(Interval, b.interval), self.ts[i],
            float(self.o[i]), float(self.h[i]), float(self.lo[i]), float(self.c[i]), float(b.volume[i]),
        )  # fmt: skip

    def _close_quote(self, i: int) -> None:
        """The strategy's view of bar i's close, as the general loop's tick at the close gives it."""
        bid, ask = float(self.bid[i]), float(self.ask[i])
        self.host.on_tick(make_tick(self.bt.cfg.venue, self.sym, bid, ask, self.ts[i] + self.iv - 1))

    def _decide(self, i: int) -> int:
        """Candle i closes: the real host and strategy decide. Returns the number of intents."""
        bt = self.bt
        self._close_quote(i)
        self.cur.i = i
        before = len(bt.result.intents)
        bt.close_candle(self._candle(i))
        return len(bt.result.intents) - before

    def step(self, j: int, predicted: bool) -> None:
        """Bar j as the general loop runs it (points that cannot matter left out)."""
        bt, sym = self.bt, self.sym
        self.steps += 1
        t = self.ts[j]
        pos = self.ctx.position
        bt.point(sym, float(self.o[j]), t, book_tick=True, host_tick=False)
        if j > 0:
            unchanged = self.ctx.position == pos
            made = self._decide(j - 1)
            if predicted and unchanged and not made:
                raise FastPathError(f"the kernel expected an intent on bar {j - 1}, the strategy made none")
        if self._busy() or (self.ctx.position and self._in_reach(j)):
            o, h, lo, c = (float(x[j]) for x in (self.o, self.h, self.lo, self.c))
            pts = path_prices(o, h, lo, c, bt.cfg.intrabar)
            iv = self.iv
            times = (t + iv // 3, t + 2 * iv // 3, t + iv - 1)
            for k in range(3):
                bt.point(sym, pts[k], times[k], book_tick=not bt.quiet(), host_tick=False)
                bt.tick_hosts(sym, times[k], wants_only=k != 2)

    def run(self, progress: Progress | None = None) -> Result:
        if self.n and self.bt.cfg.compiled:
            from services.backtest import fast_events
            from services.backtest.fast_build import build

            t = fast_events.trades(self)
            if t is not None and t.covered:
                if progress is not None:
                    progress(self.n, self.n)
                return build(self, t)
        return self.exact(progress)

    def exact(self, progress: Progress | None = None) -> Result:
        """The run with the live objects on every bar where something can happen."""
        bt, kern, n = self.bt, self.k, self.n
        equity = np.empty(n)
        exposed = np.zeros(n, dtype=bool)
        p = self.strat.p
        lb, sa = float(p.rsi_long_below), float(p.rsi_short_above)
        k = 0
        shown = -1
        while k < n:
            s = self.strat
            reach = None if self._busy() else self._reach()
            if reach is None:
                j, why = k, kern.BRACKET
            else:
                q_lo, q_hi, up, dn = reach
                j, armed, last_side, why = kern.scan(
                    k, sign(self.ctx.position), s.armed, s.last_side, q_lo, q_hi, up, dn, self.ready,
                    self.bid, self.ask, self.upper, self.middle, self.lower, self.rsi, lb, sa,
                )  # fmt: skip
                s.armed, s.last_side = bool(armed), int(last_side)
            if j > k:
                self._flat_equity(k, j, equity, exposed)
            if j >= n:
                break
            self.step(j, why == kern.DECISION)
            equity[j] = bt.equity({self.sym: float(self.c[j])})
            exposed[j] = any(q != 0 for q in bt.venue_pos.values())
            k = j + 1
            if progress is not None and k // PROGRESS_EVERY != shown:
                shown = k // PROGRESS_EVERY
                progress(k, n)
        # the last candle closes after the data ends: its decision reaches no market
        bt.accepting = False
        bt.now = self.ts[n - 1] + self.iv
        self._decide(n - 1)
        if progress is not None:
            progress(n, n)
        return bt.finish(np.unique(self.bars.ts), equity, exposed, fast_path=True, exact_steps=self.steps)

    def _flat_equity(self, k: int, j: int, equity: np.ndarray, exposed: np.ndarray) -> None:
        """Bars k..j-1 changed nothing: cash + position x close, as `Backtest.equity` computes it."""
        bt = self.bt
        cash = float(bt.cash)
        q = bt.venue_pos.get(self.sym, Decimal(0))
        if q:
            equity[k:j] = cash + float(q) * self.c[k:j]
        else:
            equity[k:j] = cash
        exposed[k:j] = any(v != 0 for v in bt.venue_pos.values())


def run_fast(bt: Backtest, progress: Progress | None = None) -> Result:
    return FastRun(bt).run(progress)


def describe(bt: Backtest) -> dict[str, Any]:
    """Which path a run takes and why (for logs and the CLI)."""
    why = eligible(bt)
    return {"fast_path": why is None, "reason": why or "bb_rsi_scalper alone, proven identical"}
