"""Compiled (numba) kernels of the `bb_rsi_scalper` fast path. Pure; imported only by `fast.py`.

- `indicators`: Bollinger bands, RSI and ATR over a whole series with the float operations of
  `services/signals/indicators` (`RollingStats` with its periodic exact re-sum and flat-run
  rule, TA-Lib seeding, Wilder smoothing), in the same order, so every value is bit-identical
  to the incremental classes. `math.fsum` is replaced by `fsum`, a port of CPython's
  (Shewchuk's partials, then the round-half-even correction): both return the correctly rounded
  sum, which is unique.
- `quotes`: the sim engine's quote of a price (`_Market.set_mid`: mid -/+ half spread, rounded
  outwards to the increment, at least one increment wide) for the close of every bar and for
  the bar's lowest and highest point.
- `scan`: the strategy's decisions (cooldown, entries, exits at the middle band) candle after
  candle for a fixed position, until the first step where something can happen: a decision
  that acts, or a bar whose range could reach the position's bracket.

Compiled on first use (cached on disk by numba); `numba` is imported here only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: room for the partial sums of `fsum` (a double needs at most ~40)
PARTIALS = 64

# what `scan` stopped at
END = 0
BRACKET = 1
DECISION = 2


@njit(cache=True)
def fsum(a: np.ndarray, p: np.ndarray) -> float:
    """Correctly rounded sum of `a` (CPython's `math.fsum` for finite values); `p` is scratch."""
    n = 0
    for k in range(a.shape[0]):
        x = a[k]
        i = 0
        for j in range(n):
            y = p[j]
            if abs(x) < abs(y):
                t = x
                x = y
                y = t
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                p[i] = lo
                i += 1
            x = hi
        n = i
        if x != 0.0:
            p[n] = x
            n += 1
    hi = 0.0
    if n > 0:
        n -= 1
        hi = p[n]
        lo = 0.0
        while n > 0:
            x = hi
            n -= 1
            y = p[n]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        if n > 0 and ((lo < 0.0 and p[n - 1] < 0.0) or (lo > 0.0 and p[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return float(hi)


@njit(cache=True)
def bollinger(
    close: np.ndarray, period: int, k: float, resum_windows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower) of `BollingerBands(period, k)` after each close; NaN until ready."""
    n = period
    size = close.shape[0]
    upper = np.full(size, np.nan)
    middle = np.full(size, np.nan)
    lower = np.full(size, np.nan)
    ring = np.zeros(n)
    sq = np.zeros(n)
    p = np.zeros(PARTIALS)
    every = resum_windows * n
    i = 0
    count = 0
    s = 0.0
    m2 = 0.0
    resum = 0
    run = 0
    ready = False
    for t in range(size):
        x = close[t]
        old = ring[i]
        last = ring[i - 1] if i > 0 else ring[n - 1]
        ring[i] = x
        i += 1
        if i == n:
            i = 0
        exact = False
        if not ready:
            run = run + 1 if count > 0 and x == last else 1
            count += 1
            if count < n:
                continue
            exact = True
            ready = True
        else:
            r = resum + 1
            if r >= every:
                exact = True
            else:
                resum = r
                d = x - old
                s1 = s + d
                m2 = m2 + d * (x - s1 / n + old - s / n)
                s = s1
            run = run + 1 if x == last else 1
        if exact:
            s = fsum(ring, p)
            mean = s / n
            for j in range(n):
                sq[j] = (ring[j] - mean) * (ring[j] - mean)
            m2 = fsum(sq, p)
            resum = 0
        if run >= n:
            mean = x
            var = 0.0
        else:
            mean = s / n
            var = m2 / n if m2 > 0.0 else 0.0
        sd = math.sqrt(var)
        middle[t] = mean
        upper[t] = mean + sd * k
        lower[t] = mean - sd * k
    return upper, middle, lower


@njit(cache=True)
def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """`Rsi(period)` after each close; NaN until ready."""
    size = close.shape[0]
    out = np.full(size, np.nan)
    n = period
    n1 = float(period - 1)
    prev = np.nan
    count = 0
    gain = 0.0
    loss = 0.0
    ready = False
    for t in range(size):
        x = close[t]
        diff = x - prev
        prev = x
        if ready:
            if diff < 0:
                g = gain * n1 / n
                lo = (loss * n1 - diff) / n
            else:
                g = (gain * n1 + diff) / n
                lo = loss * n1 / n
        else:
            if diff != diff:
                continue
            if diff < 0:
                loss -= diff
            else:
                gain += diff
            count += 1
            if count < n:
                continue
            g = gain / n
            lo = loss / n
            ready = True
        gain = g
        loss = lo
        total = g + lo
        out[t] = 100.0 * (g / total) if total != 0.0 else 0.0
    return out


@njit(cache=True)
def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """`Atr(period)` after each bar; NaN until ready."""
    size = close.shape[0]
    out = np.full(size, np.nan)
    n = period
    n1 = float(period - 1)
    pc = np.nan
    count = 0
    total = 0.0
    value = 0.0
    ready = False
    for t in range(size):
        h = high[t]
        lo = low[t]
        c = close[t]
        tr = (h if h > pc else pc) - (lo if lo < pc else pc)
        pc = c
        if ready:
            value = (value * n1 + tr) / n
            out[t] = value
            continue
        if tr != tr:
            continue
        total += tr
        count += 1
        if count < n:
            continue
        ready = True
        value = total / n
        out[t] = value
    return out


@njit(cache=True)
def quote(mid: float, half_spread: float, inc: float) -> tuple[float, float]:
    """The sim engine's (bid, ask) at `mid` (`_Market.set_mid`, then ticks x increment)."""
    half = mid * half_spread
    bid_t = math.floor((mid - half) / inc)
    ask_t = math.ceil((mid + half) / inc)
    if ask_t <= bid_t:
        ask_t = bid_t + 1
    return bid_t * inc, ask_t * inc


@njit(cache=True)
def quotes(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, half_spread: float, inc: float
) -> np.ndarray:
    """Per bar: bid and ask at the close, at the bar's lowest and at its highest point (6 rows)."""
    size = c.shape[0]
    out = np.empty((6, size))
    for t in range(size):
        bid, ask = quote(c[t], half_spread, inc)
        out[0, t] = bid
        out[1, t] = ask
        least = min(min(o[t], h[t]), min(lo[t], c[t]))
        most = max(max(o[t], h[t]), max(lo[t], c[t]))
        bid, ask = quote(least, half_spread, inc)
        out[2, t] = bid
        out[3, t] = ask
        bid, ask = quote(most, half_spread, inc)
        out[4, t] = bid
        out[5, t] = ask
    return out


@njit(cache=True)
def scan(
    k: int,
    pos: int,
    armed: bool,
    last_side: int,
    q_lo: np.ndarray,
    q_hi: np.ndarray,
    up_lim: float,
    dn_lim: float,
    ready: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    upper: np.ndarray,
    middle: np.ndarray,
    lower: np.ndarray,
    rsi_v: np.ndarray,
    long_below: float,
    short_above: float,
) -> tuple[int, bool, int, int]:
    """From step `k` on, with the strategy's position sign `pos` fixed: the first step `s` where
    something can happen, the cooldown state (armed, last side) before step `s`'s decision, and
    what stopped the scan (`BRACKET`, `DECISION`, or `END` with s = the number of bars).

    Step s is bar s's open (the bracket can fire there), the decision on bar s - 1's close, then
    bar s's other points. A bar can reach the bracket when its quote range (`q_lo`, `q_hi`: the
    exit side's quote at the bar's lowest and highest point) touches `dn_lim` or `up_lim`.
    """
    size = bid.shape[0]
    for s in range(k, size):
        if q_hi[s] >= up_lim or q_lo[s] <= dn_lim:
            return s, armed, last_side, BRACKET
        i = s - 1
        if i < 0 or not ready[i]:
            continue
        b = bid[i]
        a = ask[i]
        mid = (b + a) / 2
        ls = pos if pos != 0 else last_side
        arm = armed
        if not arm and ((ls > 0 and mid > middle[i]) or (ls < 0 and mid < middle[i])):
            arm = True
        r = rsi_v[i]
        if (
            (arm and pos <= 0 and a < lower[i] and r < long_below)
            or (arm and pos >= 0 and b > upper[i] and r > short_above)
            or (pos > 0 and b > middle[i])
            or (pos < 0 and a < middle[i])
        ):
            return s, armed, last_side, DECISION
        armed = arm
        last_side = ls
    return size, armed, last_side, END
