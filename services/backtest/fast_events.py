"""The compiled `bb_rsi_scalper` run: the whole trade sequence in one kernel.

`fast.py` runs every bar where something can happen (about 6 in 100 bars for the default
parameters) through the live objects, at ~190 us a bar. A run at 1M bars/s needs the trading
itself compiled. Here `events` replays, in one numba loop,
what the general loop does for `bb_rsi_scalper` alone on one symbol with zero latency:

- each bar as four points (open, the extremes in path order, close), the engine's quote at each
  one in integer ticks (`_Market.set_mid`);
- at every point with a position, the netting book's bracket check (`Slot.bracket_trigger`:
  take-profit first, then stop-loss, at the bid for a long and the ask for a short), and a
  triggered exit filled at that point's quote;
- after the open of bar j, the strategy's decision on candle j - 1 (the `scan` rules plus the
  entry's bracket levels from the ATR), its target netted against the position and filled at
  the open's quote.

It records the intents (bar, target) and the fills (bar, point, side, size and price in integer
units, why) in integers, and **never guesses**: it stops with `UNCOVERED` at the first case its
arithmetic cannot decide exactly (a quote within 1e-9 of a bracket level, whose Decimal rounding
to 8 places could matter; an order larger than the top synthetic level left at that point,
which would walk the book). `tests/unit/backtest/test_fast_events.py` proves the sequence equal
to the general path's intents and venue fills.

`fast_build.build` turns the integers into the run's `Result` (messages, fees, cash, equity);
`FastRun.run` uses both wherever `trades` reports the run covered, the exact steps otherwise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from services.backtest.fast import FastRun


#: relative margin within which a quote is too close to a bracket level to decide in floats
MARGIN_REL = 1e-9

# what `events` stopped at
DONE = 0
UNCOVERED = 1

# why a fill happened
LONG = 1  # entry long (intent)
SHORT = 2  # entry short (intent)
EXIT = 3  # close at the middle band (intent)
TAKE_PROFIT = 4  # bracket
STOP_LOSS = 5  # bracket


@njit(cache=True)
def ticks(mid: float, half_spread: float, inc: float) -> tuple[int, int]:
    """The engine's (bid, ask) in ticks at `mid` (`_Market.set_mid`)."""
    half = mid * half_spread
    bid_t = math.floor((mid - half) / inc)
    ask_t = math.ceil((mid + half) / inc)
    if ask_t <= bid_t:
        ask_t = bid_t + 1
    return bid_t, ask_t


@njit(cache=True)
def _near(x: float, level: float) -> bool:
    return abs(x - level) <= MARGIN_REL * abs(level)


@njit(cache=True)
def _decide(
    i: int, pos: int, armed: bool, last_side: int, c: np.ndarray, upper: np.ndarray,
    middle: np.ndarray, lower: np.ndarray, rsi_v: np.ndarray, atr_v: np.ndarray, half_spread: float,
    inc: float, size_units: int, long_below: float, short_above: float, atr_mult: float, tp_ratio: float,
) -> tuple[int, int, float, float, bool, int]:  # fmt: skip
    """`BbRsiScalper.on_candle` on candle i with the quote of its close: (why or 0, target in
    size units, take-profit, stop-loss, armed, last side)."""
    bt, at = ticks(c[i], half_spread, inc)
    b = bt * inc
    a = at * inc
    mid = (b + a) / 2
    p = (pos > 0) - (pos < 0)
    if p != 0:
        last_side = p
    if not armed and ((last_side > 0 and mid > middle[i]) or (last_side < 0 and mid < middle[i])):
        armed = True
    sl_d = atr_v[i] * atr_mult
    tp_d = sl_d * tp_ratio
    r = rsi_v[i]
    if armed and p <= 0 and a < lower[i] and r < long_below:
        return LONG, size_units, a + tp_d, a - sl_d, False, 1
    if armed and p >= 0 and b > upper[i] and r > short_above:
        return SHORT, -size_units, b - tp_d, b + sl_d, False, -1
    if (p > 0 and b > middle[i]) or (p < 0 and a < middle[i]):
        return EXIT, 0, 0.0, 0.0, armed, last_side
    return 0, pos, 0.0, 0.0, armed, last_side


@njit(cache=True)
def events(
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    low_first: np.ndarray,
    ready: np.ndarray,
    upper: np.ndarray,
    middle: np.ndarray,
    lower: np.ndarray,
    rsi_v: np.ndarray,
    atr_v: np.ndarray,
    half_spread: float,
    inc: float,
    size_units: int,
    size_inc: float,
    level_notional: float,
    min_units: int,
    long_below: float,
    short_above: float,
    atr_mult: float,
    tp_ratio: float,
) -> tuple[int, int, np.ndarray, int, np.ndarray, int]:
    """(status, bar reached, intents, number of intents, fills, number of fills).

    intents rows: (decision bar i, target in size units, why, position sign before); the intent
    of candle i is acted on at bar i + 1's open (the last candle's is unexecuted).
    fills rows: (bar, point 0-3,
    side +1/-1, qty in size units, price in ticks, why). With `UNCOVERED` the arrays hold what
    happened before bar `reached`, which the kernel could not run exactly.
    """
    n = c.shape[0]
    intents = np.zeros((n + 1, 4), dtype=np.int64)
    fills = np.zeros((2 * n + 2, 6), dtype=np.int64)
    ni = 0
    nf = 0
    pos = 0  # in size units
    tp = 0.0
    sl = 0.0
    has_br = False
    armed = True
    last_side = 0
    px = np.empty(4)
    for j in range(n + 1):
        if j == n:
            if n > 0 and ready[n - 1]:  # the last candle: decided, never executed
                why, target, ntp, nsl, armed, last_side = _decide(
                    n - 1, pos, armed, last_side, c, upper, middle, lower, rsi_v, atr_v, half_spread, inc,
                    size_units, long_below, short_above, atr_mult, tp_ratio,
                )  # fmt: skip
                if why != 0:
                    intents[ni, 0], intents[ni, 1], intents[ni, 2] = n - 1, target, why
                    intents[ni, 3] = (pos > 0) - (pos < 0)
                    ni += 1
            break
        if low_first[j]:
            px[0], px[1], px[2], px[3] = o[j], lo[j], h[j], c[j]
        else:
            px[0], px[1], px[2], px[3] = o[j], h[j], lo[j], c[j]
        for k in range(4):
            bid_t, ask_t = ticks(px[k], half_spread, inc)
            units = int(level_notional / px[k] / size_inc)
            top = max(units, min_units, 1)
            used_bid = 0
            used_ask = 0
            # the book's tick: the bracket
            if pos != 0 and has_br:
                exit_px = (bid_t if pos > 0 else ask_t) * inc
                if _near(exit_px, tp) or _near(exit_px, sl):
                    return UNCOVERED, j, intents, ni, fills, nf
                hit = 0
                if (pos > 0 and exit_px >= tp) or (pos < 0 and exit_px <= tp):
                    hit = TAKE_PROFIT
                elif (pos > 0 and exit_px <= sl) or (pos < 0 and exit_px >= sl):
                    hit = STOP_LOSS
                if hit != 0:
                    qty = abs(pos)
                    if qty > top:
                        return UNCOVERED, j, intents, ni, fills, nf
                    side = -1 if pos > 0 else 1
                    fills[nf, 0], fills[nf, 1], fills[nf, 2] = j, k, side
                    fills[nf, 3], fills[nf, 4], fills[nf, 5] = qty, bid_t if side < 0 else ask_t, hit
                    nf += 1
                    if side < 0:
                        used_bid += qty
                    else:
                        used_ask += qty
                    pos = 0
                    has_br = False
            if k != 0 or j == 0 or not ready[j - 1]:
                continue
            why, target, ntp, nsl, armed, last_side = _decide(
                j - 1, pos, armed, last_side, c, upper, middle, lower, rsi_v, atr_v, half_spread, inc,
                size_units, long_below, short_above, atr_mult, tp_ratio,
            )  # fmt: skip
            if why == 0:
                continue
            intents[ni, 0], intents[ni, 1], intents[ni, 2] = j - 1, target, why
            intents[ni, 3] = (pos > 0) - (pos < 0)
            ni += 1
            # the slot's bracket follows the intent (none for a flat target)
            has_br = target != 0
            tp, sl = ntp, nsl
            delta = target - pos
            if delta != 0:
                side = 1 if delta > 0 else -1
                qty = abs(delta)
                if qty + (used_ask if side > 0 else used_bid) > top:
                    return UNCOVERED, j, intents, ni, fills, nf
                fills[nf, 0], fills[nf, 1], fills[nf, 2] = j, k, side
                fills[nf, 3], fills[nf, 4] = qty, ask_t if side > 0 else bid_t
                fills[nf, 5] = intents[ni - 1, 2]
                nf += 1
                pos = target
    return DONE, n, intents, ni, fills, nf


class Trades:
    """The kernel's account of a run: intents and fills as integers (see `events`)."""

    __slots__ = ("covered", "fills", "intents", "reached")

    def __init__(self, covered: bool, reached: int, intents: np.ndarray, fills: np.ndarray) -> None:
        self.covered = covered
        self.reached = reached
        self.intents = intents
        self.fills = fills


def trades(run: FastRun) -> Trades | None:
    """The trade sequence of `run` (a fresh `FastRun`), or None for a configuration the kernel
    does not model (latency, several intrabar orders are fine; risk limits are excluded by
    `fast.eligible`)."""
    bt = run.bt
    costs = bt.cfg.costs
    if costs.latency_ms != 0:
        return None
    m = bt.engine._markets[run.sym]  # the engine's own parameters, read only
    inst = m.instrument
    size = run.strat.p.size
    units, rest = divmod(size, inst.size_increment)
    if rest or units <= 0 or size < inst.min_size:
        return None
    mode = bt.cfg.intrabar
    low_first = np.full(run.n, mode == "olhc") if mode != "auto" else run.c >= run.o
    p = run.strat.p
    status, reached, intents, ni, fills, nf = events(
        run.o, run.h, run.lo, run.c, np.ascontiguousarray(low_first), run.ready, run.upper, run.middle,
        run.lower, run.rsi, run.atr, m.half_spread, m.inc_f, int(units), m.size_inc_f,
        float(m.spec.level_notional), int(inst.min_size / inst.size_increment),
        float(p.rsi_long_below), float(p.rsi_short_above), float(p.atr_multiplier), float(p.tp_sl_ratio),
    )  # fmt: skip
    return Trades(status == DONE, int(reached), intents[:ni], fills[:nf])
