"""Scenarios for ema_rsi_alpha, macd_momentum and bb_mean_reversion (seed 001)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import talib

from proto import Bracket
from services.signals.api import Target
from services.signals.strategies import (
    BbMeanReversion,
    BbMeanReversionParams,
    EmaRsiAlpha,
    EmaRsiAlphaParams,
    MacdMomentum,
    MacdMomentumParams,
)
from services.signals.strategies.pricing import qty_for_notional
from tests.unit.strategies.scenario import candle, candles, ctx, dec

# ---------------------------------------------------------------- ema_rsi_alpha

DOWN_UP = [100 - 0.5 * i for i in range(30)] + [85.5 + i for i in range(1, 15)]


def alpha(**kw: object) -> EmaRsiAlpha:
    return EmaRsiAlpha(EmaRsiAlphaParams.model_validate(kw), "BTC-USD")


def first_cross(closes: list[float], fast: int, slow: int) -> int:
    d = talib.EMA(np.array(closes), fast) - talib.EMA(np.array(closes), slow)
    for i in range(1, len(d)):
        if not np.isnan(d[i - 1]) and np.sign(d[i]) != np.sign(d[i - 1]):
            return i
    raise AssertionError("no cross in the scenario")


def test_alpha_defaults_are_the_seeds() -> None:
    p = EmaRsiAlphaParams()
    assert (p.ema_fast, p.ema_slow, p.rsi_period, p.interval) == (9, 21, 14, "1m")
    assert (p.stop_loss_pct, p.take_profit_pct, p.trade_usd) == (0.02, 0.04, Decimal(3000))


def test_alpha_cross_up_goes_long_sized_in_usd_with_2_4_bracket() -> None:
    k = first_cross(DOWN_UP, 9, 21)
    rsi = talib.RSI(np.array(DOWN_UP), 14)[k]
    assert rsi < 70
    s = alpha()
    out = [(i, s.on_candle(c, ctx())) for i, c in enumerate(candles(DOWN_UP))]
    acts = [(i, a) for i, a in out if a]
    px = DOWN_UP[k]
    qty = (Decimal(3000) / Decimal(repr(px))).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    assert acts == [
        (
            k,
            (
                Target(
                    qty=qty,
                    bracket=Bracket(take_profit=dec(px + px * 0.04), stop_loss=dec(px - px * 0.02)),
                    reason="ema cross up, rsi filter",
                ),
            ),
        )
    ]


def test_alpha_rsi_filter_blocks_overbought_cross() -> None:
    k = first_cross(DOWN_UP, 9, 21)
    rsi = talib.RSI(np.array(DOWN_UP), 14)[k]
    s = alpha(rsi_long_below=rsi - 1)
    assert [a for c in candles(DOWN_UP) for a in s.on_candle(c, ctx())] == []


def test_alpha_opposite_cross_exits_a_long() -> None:
    up_down = [100 + 0.5 * i for i in range(30)] + [114.5 - i for i in range(1, 15)]
    k = first_cross(up_down, 9, 21)
    s = alpha(size="1", trade_usd=None)
    acts = [(i, s.on_candle(c, ctx("1"))) for i, c in enumerate(candles(up_down))]
    assert [(i, a) for i, a in acts if a] == [(k, (Target(qty=Decimal(0), reason="opposite ema cross"),))]


# ---------------------------------------------------------------- macd_momentum


def momentum(**kw: object) -> MacdMomentum:
    return MacdMomentum(MacdMomentumParams.model_validate(kw), "BTC-USD")


def test_momentum_defaults_are_the_seeds() -> None:
    p = MacdMomentumParams()
    assert (p.macd_fast, p.macd_slow, p.macd_signal, p.ema_trend) == (12, 26, 9, 50)
    assert (p.interval, p.stop_loss_pct, p.take_profit_pct) == ("5s", 0.015, 0.03)
    assert p.trade_usd == Decimal(2500)


def _uptrend_with_dip() -> list[float]:
    # a long rise (close above EMA(50)), a short dip (histogram negative), then up again
    return (
        [100 + 0.2 * i for i in range(70)]
        + [113.8 - 0.3 * i for i in range(1, 8)]
        + [111.7 + 0.4 * i for i in range(1, 15)]
    )


def test_momentum_histogram_turning_up_above_trend_goes_long() -> None:
    closes = _uptrend_with_dip()
    c = np.array(closes)
    hist = talib.MACD(c, 12, 26, 9)[2]
    ema = talib.EMA(c, 50)
    turns = [
        i
        for i in range(1, len(c))
        if hist[i - 1] < 0 < hist[i] and c[i] > ema[i]  # the oracle: TA-Lib values
    ]
    assert turns, "scenario must contain an up-turn above the trend"
    s = momentum(trade_usd=None, size="2")
    acts = [(i, s.on_candle(x, ctx())) for i, x in enumerate(candles(closes, "5s"))]
    k = turns[0]
    px = closes[k]
    assert [(i, a) for i, a in acts if a] == [
        (
            k,
            (
                Target(
                    qty=Decimal(2),
                    bracket=Bracket(take_profit=dec(px + px * 0.03), stop_loss=dec(px - px * 0.015)),
                    reason="macd histogram turned up above trend",
                ),
            ),
        )
    ]


def test_momentum_exits_a_long_when_price_crosses_below_trend() -> None:
    closes = [100 + 0.2 * i for i in range(70)]
    s = momentum()
    for x in candles(closes, "5s"):
        s.on_candle(x, ctx("1"))
    ema_now = s.trend.value
    below = candle(70, ema_now - 1.0, interval="5s")
    assert s.on_candle(below, ctx("1")) == (Target(qty=Decimal(0), reason="price crossed the trend ema"),)


# ---------------------------------------------------------------- bb_mean_reversion

QUIET = [100.0, 100.6, 100.2, 100.8, 100.4] * 6


def reversion(**kw: object) -> BbMeanReversion:
    return BbMeanReversion(BbMeanReversionParams.model_validate(kw), "BTC-USD")


def test_reversion_defaults_are_the_seeds() -> None:
    p = BbMeanReversionParams()
    assert (p.bb_period, p.bb_dev, p.rsi_period, p.interval) == (20, 2.0, 14, "1m")
    assert (p.rsi_long_below, p.rsi_short_above, p.stop_loss_pct) == (40.0, 60.0, 0.015)
    assert (p.time_stop_bars, p.trade_usd) == (30, Decimal(2500))


def test_reversion_close_below_lower_band_goes_long() -> None:
    closes = [*QUIET, 97.0]
    c = np.array(closes)
    assert c[-1] < talib.BBANDS(c, 20, 2, 2)[2][-1]
    assert talib.RSI(c, 14)[-1] < 40
    s = reversion()
    acts = [a for x in candles(closes) for a in s.on_candle(x, ctx())]
    assert acts == [
        Target(
            qty=qty_for_notional(Decimal(2500), 97.0),
            bracket=Bracket(stop_loss=dec(97.0 - 97.0 * 0.015), time_stop_s=1800.0),
            reason="below lower band, rsi oversold",
        )
    ]
    assert acts[0].qty == Decimal("25.77")  # type: ignore[union-attr]  # 2500 / 97 rounded down


def test_reversion_close_above_upper_band_goes_short() -> None:
    closes = [*QUIET, 103.5]
    s = reversion(trade_usd=None, size="3")
    acts = [a for x in candles(closes) for a in s.on_candle(x, ctx())]
    assert acts == [
        Target(
            qty=Decimal(-3),
            bracket=Bracket(stop_loss=dec(103.5 + 103.5 * 0.015), time_stop_s=1800.0),
            reason="above upper band, rsi overbought",
        )
    ]


def test_reversion_exits_at_the_middle_band() -> None:
    s = reversion()
    for x in candles([*QUIET, 97.0]):
        s.on_candle(x, ctx())
    assert s.on_candle(candle(31, 98.0), ctx("25.77")) == ()
    assert s.on_candle(candle(32, 101.0), ctx("25.77")) == (
        Target(qty=Decimal(0), reason="back at the middle band"),
    )


def test_reversion_time_stop_after_30_bars() -> None:
    s = reversion()
    for x in candles([*QUIET, 97.0]):
        s.on_candle(x, ctx())
    acts = [s.on_candle(candle(31 + i, 97.0 - 0.01 * i), ctx("25.77")) for i in range(30)]
    assert all(a == () for a in acts[:29])
    assert acts[29] == (Target(qty=Decimal(0), reason="time stop: 30 bars"),)
