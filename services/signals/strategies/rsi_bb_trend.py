"""RSI/Bollinger trend follower (seed 004), on 15 s candles.

Long when RSI > 50 + 10, the close is near or above the Bollinger middle (no more than
`bb_position_threshold` of the half band below it), EMA fast is above EMA slow by at least
`trend_confirmation_bps`, volatility (std of close-to-close returns over `volatility_window`,
in bps) is within [2, 25], and, when the venue reports volume, the candle's volume is above its
average. Short is the mirror image. Exits: bracket TP 8 bps, SL 4 bps, time stop 3 minutes; and
RSI reversal (a long exits when RSI < 50, a short when RSI > 50).

The seed names EMA fast/slow without periods; we pick 9 and 21.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from proto import Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import BollingerBands, Ema, RollingStd, Rsi, Sma
from services.signals.strategies.pricing import bracket, sign

_BPS = 1e-4


class RsiBbTrendParams(StrategyParams):
    interval: str = "15s"
    size: Decimal = Field(default=Decimal("0.001"), gt=0)
    rsi_period: int = Field(default=14, ge=2)
    rsi_bullish_threshold: float = Field(default=50.0, ge=0, le=100)
    rsi_bearish_threshold: float = Field(default=50.0, ge=0, le=100)
    rsi_momentum_strength: float = Field(default=10.0, ge=0, le=50)
    bb_period: int = Field(default=20, ge=2)
    bb_dev: float = Field(default=2.0, gt=0)
    bb_position_threshold: float = Field(default=0.3, ge=0)
    ema_fast: int = Field(default=9, ge=1)
    ema_slow: int = Field(default=21, ge=2)
    trend_confirmation_bps: float = Field(default=2.0, ge=0)
    volatility_window: int = Field(default=20, ge=2)
    min_volatility_bps: float = Field(default=2.0, ge=0)
    max_volatility_bps: float = Field(default=25.0, gt=0)
    volume_period: int = Field(default=20, ge=1)
    take_profit_bps: float = Field(default=8.0, gt=0)
    stop_loss_bps: float = Field(default=4.0, gt=0)
    time_stop_s: float = Field(default=180.0, gt=0)


class RsiBbTrend(Strategy[RsiBbTrendParams]):
    name: ClassVar[str] = "rsi_bb_trend"
    Params: ClassVar[type[StrategyParams]] = RsiBbTrendParams

    def __init__(self, params: RsiBbTrendParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        p = self.p
        self.rsi = Rsi(p.rsi_period)
        self.bb = BollingerBands(p.bb_period, p.bb_dev)
        self.fast = Ema(p.ema_fast)
        self.slow = Ema(p.ema_slow)
        self.vol = RollingStd(p.volatility_window)
        self.avg_volume = Sma(p.volume_period)
        self.prev_close: float | None = None

    @property
    def warmup(self) -> int:
        p = self.p
        return max(p.rsi_period + 1, p.bb_period, p.ema_slow, p.volatility_window + 1)

    def _indicators_ready(self) -> bool:
        return self.rsi.ready and self.bb.ready and self.slow.ready and self.fast.ready and self.vol.ready

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if not candle.closed:
            return ()
        c = candle.close
        prev, self.prev_close = self.prev_close, c
        if prev is not None and prev > 0:
            self.vol.update(c / prev - 1.0)
        self.rsi.update(c)
        self.bb.update(c)
        self.fast.update(c)
        self.slow.update(c)
        volume_ok = True
        if candle.volume > 0:
            avg = self.avg_volume.value if self.avg_volume.ready else math.nan
            volume_ok = not self.avg_volume.ready or candle.volume > avg
            self.avg_volume.update(candle.volume)
        if not self._indicators_ready():
            return ()
        p = self.p
        rsi = self.rsi.value
        pos = sign(ctx.position)
        if pos > 0 and rsi < p.rsi_bullish_threshold:
            return (Target(qty=Decimal(0), reason="rsi reversal"),)
        if pos < 0 and rsi > p.rsi_bearish_threshold:
            return (Target(qty=Decimal(0), reason="rsi reversal"),)
        if pos:
            return ()
        vol_bps = self.vol.value / _BPS
        if not (p.min_volatility_bps <= vol_bps <= p.max_volatility_bps) or not volume_ok:
            return ()
        half = self.bb.upper - self.bb.middle
        where = (c - self.bb.middle) / half if half > 0 else 0.0
        trend_bps = (self.fast.value - self.slow.value) / self.slow.value / _BPS
        if (
            rsi > p.rsi_bullish_threshold + p.rsi_momentum_strength
            and where >= -p.bb_position_threshold
            and trend_bps >= p.trend_confirmation_bps
        ):
            return self._enter(1, c, "rsi momentum up, trend up")
        if (
            rsi < p.rsi_bearish_threshold - p.rsi_momentum_strength
            and where <= p.bb_position_threshold
            and trend_bps <= -p.trend_confirmation_bps
        ):
            return self._enter(-1, c, "rsi momentum down, trend down")
        return ()

    def _enter(self, side: int, price: float, reason: str) -> Sequence[Action]:
        p = self.p
        exits = bracket(
            side,
            price,
            tp_distance=price * p.take_profit_bps * _BPS,
            sl_distance=price * p.stop_loss_bps * _BPS,
            time_stop_s=p.time_stop_s,
        )
        return (Target(qty=p.size * side, bracket=exits, reason=reason),)
