"""Oscillators: RSI (Wilder), MACD (TA-Lib alignment), Awesome Oscillator. O(1) per update."""

from __future__ import annotations

from services.signals.indicators.moving import NAN, Ema, Sma, _check_period


class Rsi:
    """Wilder's RSI as TA-Lib computes it: the first value after `period` changes (simple
    averages of gains and losses), then Wilder smoothing; 0 when there was no change at all."""

    __slots__ = ("_count", "_gain", "_loss", "_n1", "_prev", "period", "ready", "value")

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period(period)
        self._n1 = float(period - 1)
        self.reset()

    def reset(self) -> None:
        self._prev = NAN
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0
        self.value = NAN
        self.ready = False

    def update(self, x: float) -> float:
        diff = x - self._prev
        self._prev = x
        if self.ready:
            # TA-Lib's order of operations: (avg * (n - 1) + change) / n
            n = self.period
            n1 = self._n1
            if diff < 0:
                gain = self._gain * n1 / n
                loss = (self._loss * n1 - diff) / n
            else:
                gain = (self._gain * n1 + diff) / n
                loss = self._loss * n1 / n
        else:
            if diff != diff:  # the first value: nothing to compare with yet
                return NAN
            if diff < 0:
                self._loss -= diff
            else:
                self._gain += diff
            self._count += 1
            n = self.period
            if self._count < n:
                return NAN
            gain = self._gain / n
            loss = self._loss / n
            self.ready = True
        self._gain = gain
        self._loss = loss
        total = gain + loss
        self.value = v = 100.0 * (gain / total) if total != 0.0 else 0.0
        return v


class Macd:
    """MACD line (fast EMA - slow EMA), signal (EMA of the line) and histogram, aligned as
    TA-Lib aligns them: the fast EMA is seeded on the `fast` values ending where the slow EMA
    is seeded, and every output starts after slow + signal - 1 inputs."""

    __slots__ = ("_fast", "_seen", "_signal", "_slow", "hist", "macd", "ready", "signal", "skip")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        _check_period(fast, "fast")
        _check_period(slow, "slow")
        _check_period(signal, "signal")
        if slow < fast:
            fast, slow = slow, fast
        self._fast = Ema(fast)
        self._slow = Ema(slow)
        self._signal = Ema(signal)
        self.skip = slow - fast
        self.reset()

    def reset(self) -> None:
        self._fast.reset()
        self._slow.reset()
        self._signal.reset()
        self._seen = 0
        self.macd = NAN
        self.signal = NAN
        self.hist = NAN
        self.ready = False

    @property
    def value(self) -> float:
        return self.macd

    def update(self, x: float) -> float:
        """Add a close; return the histogram (NaN until ready)."""
        slow = self._slow.update(x)
        if self._seen < self.skip:
            self._seen += 1
            return NAN
        fast = self._fast.update(x)
        if not self._slow.ready:
            return NAN
        line = fast - slow
        sig = self._signal.update(line)
        if not self._signal.ready:
            return NAN
        self.ready = True
        self.macd = line
        self.signal = sig
        self.hist = h = line - sig
        return h


class AwesomeOscillator:
    """Awesome Oscillator: SMA(fast) - SMA(slow) of the median price (high + low) / 2."""

    __slots__ = ("_fast", "_slow", "ready", "value")

    def __init__(self, fast: int = 5, slow: int = 34) -> None:
        _check_period(fast, "fast")
        _check_period(slow, "slow")
        if slow <= fast:
            raise ValueError(f"slow ({slow}) must be greater than fast ({fast})")
        self._fast = Sma(fast)
        self._slow = Sma(slow)
        self.reset()

    def reset(self) -> None:
        self._fast.reset()
        self._slow.reset()
        self.value = NAN
        self.ready = False

    def update(self, high: float, low: float) -> float:
        median = (high + low) / 2.0
        f = self._fast.update(median)
        s = self._slow.update(median)
        if not self._slow.ready:
            return NAN
        self.ready = True
        self.value = v = f - s
        return v
