"""Moving averages and rolling statistics: O(1) per update, bounded memory, TA-Lib conventions.

Rolling sums are updated incrementally and re-summed exactly (``math.fsum``) once per window
length, so rounding never accumulates over long runs; a run of equal values is detected so a
flat window has exactly zero variance.
"""

from __future__ import annotations

import math

NAN = math.nan


def _check_period(period: int, name: str = "period") -> int:
    if not isinstance(period, int) or isinstance(period, bool) or period < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {period!r}")
    return period


class Sma:
    """Simple moving average over the last `period` values (TA-Lib SMA)."""

    __slots__ = ("_count", "_i", "_resum", "_ring", "_sum", "period", "ready", "value")

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self._ring = [0.0] * period
        self.reset()

    def reset(self) -> None:
        self._ring[:] = [0.0] * self.period
        self._i = 0
        self._count = 0
        self._sum = 0.0
        self._resum = 0
        self.value = NAN
        self.ready = False

    def update(self, x: float) -> float:
        ring = self._ring
        i = self._i
        n = self.period
        old = ring[i]
        ring[i] = x
        i += 1
        self._i = 0 if i == n else i
        if self.ready:
            r = self._resum + 1
            if r >= n:
                self._resum = 0
                self._sum = math.fsum(ring)
            else:
                self._resum = r
                self._sum += x - old
        else:
            self._count += 1
            if self._count < n:
                return NAN
            self._sum = math.fsum(ring)
            self.ready = True
        self.value = v = self._sum / n
        return v


class RollingStats:
    """Mean and population variance over the last `period` values, exact over long runs.

    The sum and the sum of squared deviations are updated in O(1) (a sliding Welford step) and
    recomputed exactly (``math.fsum``, two-pass) from the window once every `RESUM_WINDOWS`
    windows, amortised O(1), so rounding never accumulates; a window of equal values (tracked
    by the length of the current run) has variance exactly 0 and mean exactly that value.
    The window is a fixed ring (a list), which is faster than a deque here.
    """

    __slots__ = (
        "_count", "_i", "_m2", "_resum", "_resum_every", "_ring", "_run", "_sum",
        "mean", "period", "ready", "var",
    )  # fmt: skip

    #: exact re-sum once per this many windows (error stays ~1e-15 relative in between)
    RESUM_WINDOWS = 4

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self._resum_every = self.RESUM_WINDOWS * period
        self._ring = [0.0] * period
        self.reset()

    def reset(self) -> None:
        self._ring[:] = [0.0] * self.period
        self._i = 0
        self._count = 0
        self._sum = 0.0
        self._m2 = 0.0
        self._resum = 0
        self._run = 0
        self.mean = NAN
        self.var = NAN
        self.ready = False

    @property
    def value(self) -> float:
        """The population variance (NaN until ready)."""
        return self.var

    def _exact(self) -> float:
        ring = self._ring
        self._sum = s = math.fsum(ring)
        mean = s / self.period
        self._m2 = m2 = math.fsum([(v - mean) * (v - mean) for v in ring])
        self._resum = 0
        return m2

    def _warm(self, x: float, last: float) -> bool:
        """Count a warm-up value; True once the window is full (and exactly summed)."""
        self._run = self._run + 1 if self._count and x == last else 1
        self._count += 1
        if self._count < self.period:
            return False
        self._exact()
        self.ready = True
        return True

    def update(self, x: float) -> float:
        """Add `x`; return the variance (NaN until `period` values were seen)."""
        ring = self._ring
        i = self._i
        n = self.period
        old = ring[i]
        last = ring[i - 1]
        ring[i] = x
        i += 1
        self._i = 0 if i == n else i
        if not self.ready:
            if not self._warm(x, last):
                return NAN
            m2 = self._m2
            run = self._run
        else:
            r = self._resum + 1
            if r >= self._resum_every:
                m2 = self._exact()
            else:
                self._resum = r
                s = self._sum
                d = x - old
                s1 = s + d
                self._sum = s1
                self._m2 = m2 = self._m2 + d * (x - s1 / n + old - s / n)
            run = self._run = self._run + 1 if x == last else 1
        if run >= n:
            self.mean = x
            self.var = 0.0
            return 0.0
        self.mean = self._sum / n
        self.var = v = m2 / n if m2 > 0.0 else 0.0
        return v


class RollingStd:
    """Population standard deviation over `period` values times `nbdev` (TA-Lib STDDEV)."""

    __slots__ = ("_stats", "nbdev", "period", "ready", "value")

    def __init__(self, period: int, nbdev: float = 1.0) -> None:
        self.period = _check_period(period)
        self.nbdev = nbdev
        self._stats = RollingStats(period)
        self.reset()

    def reset(self) -> None:
        self._stats.reset()
        self.value = NAN
        self.ready = False

    def update(self, x: float) -> float:
        st = self._stats
        var = st.update(x)
        if not st.ready:
            return NAN
        self.ready = True
        self.value = v = math.sqrt(var) * self.nbdev
        return v


class Ema:
    """Exponential moving average, k = 2/(period+1), seeded by the SMA of the first `period`
    values (TA-Lib's default), first value after `period` inputs."""

    __slots__ = ("_count", "_seed", "k", "period", "ready", "value")

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self.k = 2.0 / (period + 1)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._seed = 0.0
        self.value = NAN
        self.ready = False

    def update(self, x: float) -> float:
        if self.ready:
            prev = self.value
            self.value = v = (x - prev) * self.k + prev
            return v
        self._seed += x
        self._count += 1
        if self._count < self.period:
            return NAN
        self.ready = True
        self.value = v = self._seed / self.period
        return v
