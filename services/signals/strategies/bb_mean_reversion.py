"""Bollinger mean reversion (seed 001's mean-reversion bot).

Long when the close is below the lower band and RSI(14) < 40; short when above the upper band
and RSI > 60. Exits: the close reaching the middle band, the stop-loss (1.5%, in the bracket),
or a time stop after 30 bars (counted here, and also set on the bracket as 30 intervals).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from proto import Candle, interval_ns
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import BollingerBands, Rsi
from services.signals.strategies.pricing import bracket_pct, qty_for_notional, sign


class BbMeanReversionParams(StrategyParams):
    interval: str = "1m"
    bb_period: int = Field(default=20, ge=2)
    bb_dev: float = Field(default=2.0, gt=0)
    rsi_period: int = Field(default=14, ge=2)
    rsi_long_below: float = Field(default=40.0, ge=0, le=100)
    rsi_short_above: float = Field(default=60.0, ge=0, le=100)
    stop_loss_pct: float = Field(default=0.015, gt=0)
    time_stop_bars: int = Field(default=30, ge=1)
    trade_usd: Decimal | None = Field(default=Decimal(2500), gt=0)


class BbMeanReversion(Strategy[BbMeanReversionParams]):
    name: ClassVar[str] = "bb_mean_reversion"
    Params: ClassVar[type[StrategyParams]] = BbMeanReversionParams

    def __init__(self, params: BbMeanReversionParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        self.bb = BollingerBands(self.p.bb_period, self.p.bb_dev)
        self.rsi = Rsi(self.p.rsi_period)
        #: bars seen since the position was opened (None: flat)
        self.bars_held: int | None = None

    @property
    def warmup(self) -> int:
        return max(self.p.bb_period, self.p.rsi_period + 1)

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if not candle.closed:
            return ()
        c = candle.close
        self.bb.update(c)
        self.rsi.update(c)
        if not (self.bb.ready and self.rsi.ready):
            return ()
        p = self.p
        pos = sign(ctx.position)
        if pos:
            held = self.bars_held = (self.bars_held or 0) + 1
            if (pos > 0 and c >= self.bb.middle) or (pos < 0 and c <= self.bb.middle):
                self.bars_held = None
                return (Target(qty=Decimal(0), reason="back at the middle band"),)
            if held >= p.time_stop_bars:
                self.bars_held = None
                return (Target(qty=Decimal(0), reason=f"time stop: {held} bars"),)
            return ()
        self.bars_held = None
        if c < self.bb.lower and self.rsi.value < p.rsi_long_below:
            return self._enter(1, c, "below lower band, rsi oversold")
        if c > self.bb.upper and self.rsi.value > p.rsi_short_above:
            return self._enter(-1, c, "above upper band, rsi overbought")
        return ()

    def _enter(self, side: int, price: float, reason: str) -> Sequence[Action]:
        p = self.p
        qty = p.size if p.trade_usd is None else qty_for_notional(p.trade_usd, price)
        if qty <= 0:
            return ()
        self.bars_held = 0
        time_stop = p.time_stop_bars * interval_ns(p.interval) / 1e9
        exits = bracket_pct(side, price, None, p.stop_loss_pct, time_stop)
        return (Target(qty=qty * side, bracket=exits, reason=reason),)
