"""Indicators beyond TA-Lib parity: long runs, flat windows, reset, bounded memory, Renko."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import talib

from services.signals.indicators import (
    Atr,
    BollingerBands,
    Ema,
    Macd,
    Renko,
    RollingStats,
    RollingStd,
    Rsi,
    Sma,
)


def exact_var(window: list[float]) -> float:
    xs = [Fraction(v) for v in window]
    mean = sum(xs, Fraction(0)) / len(xs)
    return float(sum(((v - mean) ** 2 for v in xs), Fraction(0)) / len(xs))


def test_rolling_variance_stays_exact_over_a_long_run() -> None:
    rng = np.random.default_rng(11)
    closes = np.round(50_000 + np.cumsum(rng.normal(0, 20, 200_000)), 2).tolist()
    stats = RollingStats(20)
    for x in closes:
        stats.update(x)
    window = closes[-20:]
    # no drift after 200k updates: within 1e-10 of the exact (rational) variance
    assert stats.var == pytest.approx(exact_var(window), rel=1e-10)
    ref = talib.STDDEV(np.array(closes[-200:]), 20)[-1]
    assert math.sqrt(stats.var) == pytest.approx(ref, abs=1e-9 * 50_000)


def test_flat_window_has_exactly_zero_variance_right_away() -> None:
    stats = BollingerBands(5, 2.0)
    for x in [100.37, 250.11, 99.99, 100.01, 100.02]:
        stats.update(x)
    assert stats.std > 0
    for _ in range(4):
        stats.update(100.0)
        assert stats.std > 0
    stats.update(100.0)  # the fifth equal value: the whole window is flat
    assert stats.std == 0.0
    assert stats.upper == stats.middle == stats.lower == 100.0


@pytest.mark.parametrize(
    ("make", "feed"),
    [
        (lambda: Sma(5), lambda ind, x: ind.update(x)),
        (lambda: Ema(5), lambda ind, x: ind.update(x)),
        (lambda: Rsi(5), lambda ind, x: ind.update(x)),
        (lambda: RollingStd(5), lambda ind, x: ind.update(x)),
        (lambda: BollingerBands(5), lambda ind, x: ind.update(x)),
        (lambda: Macd(3, 6, 2), lambda ind, x: ind.update(x)),
        (lambda: Atr(5), lambda ind, x: ind.update(x + 1, x - 1, x)),
    ],
)
def test_reset_restores_the_fresh_state(make, feed) -> None:  # type: ignore[no-untyped-def]
    xs = [100 + math.sin(i / 3) * 5 for i in range(40)]
    a = make()
    for x in xs:
        feed(a, x)
    assert a.ready
    a.reset()
    assert not a.ready
    assert math.isnan(a.value)
    b = make()
    for x in xs[:25]:
        feed(a, x)
        feed(b, x)
    assert a.value == b.value


def test_memory_is_bounded_by_the_period() -> None:
    sma, bb = Sma(7), BollingerBands(9)
    for i in range(10_000):
        sma.update(float(i))
        bb.update(float(i))
    assert len(sma._ring) == 7
    assert len(bb._ring) == 9


def test_bad_period_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="period must be an integer >= 1"):
        Sma(0)
    with pytest.raises(ValueError, match="slow"):
        Macd(12, 0, 9)


def test_renko_fixed_bricks_and_two_box_reversal() -> None:
    r = Renko(1.0, max_bricks=50)
    assert r.update(100.0) == 0  # anchor
    assert r.update(100.9) == 0
    assert r.update(103.2) == 3  # 100->101->102->103
    assert [(b.open, b.close) for b in r.bricks] == [(100, 101), (101, 102), (102, 103)]
    assert r.update(101.5) == 0  # down 1.7 from 103 is not beyond the last brick's open - 1
    assert r.update(100.9) == 1  # reversal: from 102 (last open) down to 101
    assert (r.bricks[-1].open, r.bricks[-1].close, r.bricks[-1].up) == (102, 101, False)
    assert r.value == 101


def test_renko_atr_sized_bricks_use_atr_once_ready() -> None:
    r = Renko(atr_period=3, atr_multiplier=2.0, fallback_pct=0.01)
    assert r.size(200.0) == pytest.approx(2.0)  # fallback: 1% of price before the ATR is ready
    for c in [100.0, 100.0, 100.0, 100.0]:
        r.update(c, c + 0.5, c - 0.5)  # true range 1.0 every bar
    assert r.atr.ready
    assert r.size(100.0) == pytest.approx(2.0)  # 2 x ATR(1.0)
    # this bar's true range (4.0) enters the ATR first: (1.0 * 2 + 4.0) / 3 = 2.0 -> size 4.0
    assert r.update(104.0, 104.0, 104.0) == 1
    assert (r.bricks[-1].open, r.bricks[-1].close) == pytest.approx((100.0, 104.0))


def test_renko_memory_is_bounded() -> None:
    r = Renko(1.0, max_bricks=10)
    r.update(0.0)
    assert r.update(1000.0) == 1000
    assert len(r.bricks) == 10
