"""Scenarios for rsi_bb_trend and renko_ao_divergence (seed 004)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import talib

from proto import Bracket
from services.signals.api import Action, Target
from services.signals.strategies import (
    RenkoAoDivergence,
    RenkoAoDivergenceParams,
    RsiBbTrend,
    RsiBbTrendParams,
)
from tests.unit.strategies.scenario import candle, ctx, dec

# ---------------------------------------------------------------- rsi_bb_trend


def trend(**kw: object) -> RsiBbTrend:
    return RsiBbTrend(RsiBbTrendParams.model_validate(kw), "SOL-USD")


def uptrend(n: int = 30) -> list[float]:
    """+10 bps then -2 bps, alternating: RSI high, EMAs apart, volatility ~6 bps."""
    out, px = [], 100.0
    for i in range(n):
        px *= 1.001 if i % 2 == 0 else 0.9998
        out.append(round(px, 4))
    return out


def feed(
    s: RsiBbTrend, closes: list[float], position: str = "0", volumes: list[float] | None = None
) -> list[Sequence[Action]]:
    out: list[Sequence[Action]] = []
    for i, c in enumerate(closes):
        v = 0.0 if volumes is None else volumes[i]
        out.append(s.on_candle(candle(i, c, interval="15s", volume=v), ctx(position)))
    return out


def test_trend_defaults_are_the_seeds() -> None:
    p = RsiBbTrendParams()
    assert (p.interval, p.rsi_momentum_strength, p.bb_position_threshold) == ("15s", 10.0, 0.3)
    assert (p.trend_confirmation_bps, p.min_volatility_bps, p.max_volatility_bps) == (2, 2, 25)
    assert (p.take_profit_bps, p.stop_loss_bps, p.time_stop_s) == (8.0, 4.0, 180.0)


def test_trend_momentum_goes_long_at_the_first_ready_candle() -> None:
    closes = uptrend()
    c = np.array(closes)
    k = 20  # EMA(21) and the 20-return volatility window are ready here
    assert talib.RSI(c, 14)[k] > 60
    fast, slow = talib.EMA(c, 9)[k], talib.EMA(c, 21)[k]
    assert (fast - slow) / slow * 1e4 >= 2
    vol_bps = float(np.std(c[1 : k + 1] / c[:k] - 1)) * 1e4
    assert 2 <= vol_bps <= 25
    out = feed(trend(), closes)
    px = closes[k]
    assert next((i, a) for i, a in enumerate(out) if a) == (
        k,
        (
            Target(
                qty=Decimal("0.001"),
                bracket=Bracket(
                    take_profit=dec(px + px * 8 * 1e-4),
                    stop_loss=dec(px - px * 4 * 1e-4),
                    time_stop_s=180.0,
                ),
                reason="rsi momentum up, trend up",
            ),
        ),
    )


def test_trend_volatility_window_filters() -> None:
    assert all(a == () for a in feed(trend(max_volatility_bps=3.0), uptrend()))
    assert all(a == () for a in feed(trend(min_volatility_bps=10.0), uptrend()))


def test_trend_volume_filter_applies_when_volume_exists() -> None:
    closes = uptrend()
    low_last = [100.0] * 20 + [50.0] * 10  # candle 20's volume is under the average
    assert feed(trend(), closes, volumes=low_last)[20] == ()
    high_last = [100.0] * 20 + [150.0] * 10
    assert feed(trend(), closes, volumes=high_last)[20] != ()


def test_trend_long_exits_on_rsi_reversal() -> None:
    s = trend()
    closes = uptrend()
    feed(s, closes, position="0.001")
    down = [closes[-1] * (1 - 0.002 * (i + 1)) for i in range(10)]
    acts = [s.on_candle(candle(30 + i, c, interval="15s"), ctx("0.001")) for i, c in enumerate(down)]
    rsi = talib.RSI(np.array(closes + down), 14)[30:]
    k = int(np.argmax(rsi < 50))
    assert rsi[k] < 50
    assert next(i for i, a in enumerate(acts) if a) == k
    assert acts[k] == (Target(qty=Decimal(0), reason="rsi reversal"),)


# ---------------------------------------------------------------- renko_ao_divergence

# fixed 1.0 bricks: down 100 -> 90 (ten bricks), up one (91 -> 92), down two (91 -> 89)
PATH = [100.0, 90.0, 92.0, 89.0]
MEDIANS = [99.5 - i for i in range(10)] + [91.5, 90.5, 89.5]
CLOSES = [99.0 - i for i in range(10)] + [92.0, 90.0, 89.0]
LOWS = [99.0 - i for i in range(10)] + [91.0, 90.0, 89.0]


def renko(**kw: object) -> RenkoAoDivergence:
    base: dict[str, object] = {
        "renko_brick_size": 1.0,
        "ao_fast_period": 2,
        "ao_slow_period": 4,
        "renko_lookback": 5,
        "bb_period": 5,
    }
    return RenkoAoDivergence(RenkoAoDivergenceParams.model_validate(base | kw), "SOL-USD")


def test_renko_defaults_are_the_seeds() -> None:
    p = RenkoAoDivergenceParams()
    assert (p.renko_atr_period, p.renko_atr_multiplier, p.renko_lookback) == (14, 1.0, 20)
    assert (p.ao_fast_period, p.ao_slow_period, p.min_divergence_strength) == (5, 34, 0.3)
    assert (p.bb_enhancement_threshold, p.take_profit_bps, p.stop_loss_bps) == (0.2, 10.0, 5.0)
    assert p.time_stop_s == 300.0
    assert p.renko_brick_size is None  # ATR-sized by default


def _expected_strength() -> float:
    med = np.array(MEDIANS)
    ao = talib.SMA(med, 2) - talib.SMA(med, 4)
    # the last brick (low 89) vs the lowest low of the five before it (index 9, low 90)
    before = range(len(LOWS) - 6, len(LOWS) - 1)
    j = min(before, key=lambda i: LOWS[i])
    assert LOWS[-1] < LOWS[j]
    assert ao[-1] > ao[j]  # a higher AO low: bullish divergence
    s = abs(ao[-1] - ao[j]) / (abs(ao[-1]) + abs(ao[j]))
    up, _, low = (a[-1] for a in talib.BBANDS(np.array(CLOSES), 5, 2, 2))
    if (CLOSES[-1] - low) / (up - low) <= 0.2:
        s *= 1.5
    return float(min(1.0, s))


def test_renko_bullish_divergence_goes_long_with_strength() -> None:
    s = renko()
    out = [s.on_candle(candle(i, px, interval="15s", high=px, low=px), ctx()) for i, px in enumerate(PATH)]
    strength = _expected_strength()
    assert strength >= 0.3
    assert out[:3] == [(), (), ()]
    px = 89.0
    assert out[3] == (
        Target(
            qty=Decimal("0.001"),
            bracket=Bracket(
                take_profit=dec(px + px * 10 * 1e-4),
                stop_loss=dec(px - px * 5 * 1e-4),
                time_stop_s=300.0,
            ),
            reason=f"bullish divergence {strength:.2f}",
        ),
    )
    assert [(b.open, b.close) for b in s.renko.bricks][-3:] == [
        (91.0, 92.0),
        (91.0, 90.0),
        (90.0, 89.0),
    ]


def test_renko_weak_divergence_is_ignored() -> None:
    s = renko(min_divergence_strength=min(1.0, _expected_strength() + 0.01))
    out = [s.on_candle(candle(i, px, interval="15s", high=px, low=px), ctx()) for i, px in enumerate(PATH)]
    assert out == [(), (), (), ()]


def test_renko_long_exits_when_ao_keeps_falling() -> None:
    s = renko()
    for i, px in enumerate(PATH[:3]):
        s.on_candle(candle(i, px, interval="15s", high=px, low=px), ctx())
    # from 92 the price falls brick by brick; the position is long
    acts = [
        s.on_candle(candle(3 + i, px, interval="15s", high=px, low=px), ctx("0.001"))
        for i, px in enumerate([90.0, 89.0, 88.0])
    ]
    med = np.array([*MEDIANS[:11], 90.5, 89.5, 88.5])
    ao = talib.SMA(med, 2) - talib.SMA(med, 4)
    falls = np.diff(ao)[-3:] < 0  # did AO fall on each of the last three bricks
    first = next(i for i in range(1, 3) if falls[i - 1] and falls[i])
    assert acts[first] == (Target(qty=Decimal(0), reason="ao reversal"),)
