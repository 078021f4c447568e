"""Volatility: true range, ATR (Wilder), Bollinger Bands (population std). O(1) per update."""

from __future__ import annotations

import math

from services.signals.indicators.moving import NAN, RollingStats, _check_period

_sqrt = math.sqrt


class TrueRange:
    """max(high - low, |high - prev close|, |low - prev close|); ready from the second bar."""

    __slots__ = ("_prev_close", "ready", "value")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._prev_close = NAN
        self.value = NAN
        self.ready = False

    def update(self, high: float, low: float, close: float) -> float:
        pc = self._prev_close
        self._prev_close = close
        if pc != pc:
            return NAN
        tr = high - low
        a = abs(pc - high)
        if a > tr:
            tr = a
        b = abs(low - pc)
        if b > tr:
            tr = b
        self.ready = True
        self.value = tr
        return tr


class Atr:
    """Average true range as TA-Lib computes it: the mean of the first `period` true ranges,
    then Wilder smoothing (prev * (n - 1) + tr) / n. First value after period + 1 bars."""

    __slots__ = ("_count", "_n1", "_prev_close", "_sum", "period", "ready", "value")

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period(period)
        self._n1 = float(period - 1)
        self.reset()

    def reset(self) -> None:
        self._prev_close = NAN
        self._count = 0
        self._sum = 0.0
        self.value = NAN
        self.ready = False

    def update(self, high: float, low: float, close: float) -> float:
        pc = self._prev_close
        self._prev_close = close
        # max(h - l, |h - pc|, |l - pc|) == max(h, pc) - min(l, pc), and the same float
        tr = (high if high > pc else pc) - (low if low < pc else pc)
        if self.ready:
            self.value = v = (self.value * self._n1 + tr) / self.period
            return v
        if tr != tr:  # the first bar: no previous close
            return NAN
        n = self.period
        self._sum += tr
        self._count += 1
        if self._count < n:
            return NAN
        self.ready = True
        self.value = v = self._sum / n
        return v


class BollingerBands(RollingStats):
    """Middle = SMA(period); upper/lower = middle +/- k * population std (TA-Lib BBANDS, SMA).

    It is a `RollingStats` whose update also sets the bands, inlined: this update runs on every
    candle of every symbol, and one call instead of two is a third of its cost.
    """

    __slots__ = ("k_dn", "k_up", "lower", "middle", "std", "upper")

    def __init__(self, period: int = 20, k_up: float = 2.0, k_dn: float | None = None) -> None:
        self.k_up = float(k_up)
        self.k_dn = float(k_up if k_dn is None else k_dn)
        super().__init__(period)

    def reset(self) -> None:
        super().reset()
        self.upper = self.middle = self.lower = self.std = NAN

    @property
    def value(self) -> float:
        """The middle band."""
        return self.middle

    @property
    def width(self) -> float:
        """(upper - lower) / middle, a volatility proxy (NaN if not ready or middle is 0)."""
        m = self.middle
        return (self.upper - self.lower) / m if m else NAN

    def position(self, price: float) -> float:
        """Where `price` sits in the bands: 0 at lower, 0.5 at middle, 1 at upper."""
        span = self.upper - self.lower
        return (price - self.lower) / span if span > 0 else 0.5

    def update(self, x: float) -> float:
        """Add a close; return the middle band (NaN until ready)."""
        var = RollingStats.update(self, x)
        if var != var:  # NaN: not ready
            return NAN
        self.middle = mid = self.mean
        self.std = sd = _sqrt(var)
        self.upper = mid + sd * self.k_up
        self.lower = mid - sd * self.k_dn
        return mid
