"""MACD momentum in the direction of the trend (seed 001's momentum bot), on 5 s candles.

Long when the MACD(12, 26, 9) histogram turns from negative to positive and the close is above
EMA(50); short when it turns from positive to negative below EMA(50). Exits: the bracket
(stop-loss 1.5%, take-profit 3%) or the close crossing to the other side of EMA(50).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from proto import Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import Ema, Macd
from services.signals.strategies.pricing import bracket_pct, qty_for_notional, sign


class MacdMomentumParams(StrategyParams):
    interval: str = "5s"
    macd_fast: int = Field(default=12, ge=1)
    macd_slow: int = Field(default=26, ge=2)
    macd_signal: int = Field(default=9, ge=1)
    ema_trend: int = Field(default=50, ge=1)
    stop_loss_pct: float = Field(default=0.015, gt=0)
    take_profit_pct: float = Field(default=0.03, gt=0)
    trade_usd: Decimal | None = Field(default=Decimal(2500), gt=0)


class MacdMomentum(Strategy[MacdMomentumParams]):
    name: ClassVar[str] = "macd_momentum"
    Params: ClassVar[type[StrategyParams]] = MacdMomentumParams

    def __init__(self, params: MacdMomentumParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        p = self.p
        self.macd = Macd(p.macd_fast, p.macd_slow, p.macd_signal)
        self.trend = Ema(p.ema_trend)
        self.prev_hist: float | None = None

    @property
    def warmup(self) -> int:
        p = self.p
        return max(p.ema_trend, max(p.macd_fast, p.macd_slow) + p.macd_signal)

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if not candle.closed:
            return ()
        c = candle.close
        self.macd.update(c)
        self.trend.update(c)
        if not (self.macd.ready and self.trend.ready):
            return ()
        hist = self.macd.hist
        prev, self.prev_hist = self.prev_hist, hist
        ema = self.trend.value
        pos = sign(ctx.position)
        if (pos > 0 and c < ema) or (pos < 0 and c > ema):
            return (Target(qty=Decimal(0), reason="price crossed the trend ema"),)
        if pos or prev is None:
            return ()
        if prev < 0 < hist and c > ema:
            return self._enter(1, c, "macd histogram turned up above trend")
        if prev > 0 > hist and c < ema:
            return self._enter(-1, c, "macd histogram turned down below trend")
        return ()

    def _enter(self, side: int, price: float, reason: str) -> Sequence[Action]:
        p = self.p
        qty = p.size if p.trade_usd is None else qty_for_notional(p.trade_usd, price)
        if qty <= 0:
            return ()
        exits = bracket_pct(side, price, p.take_profit_pct, p.stop_loss_pct, None)
        return (Target(qty=qty * side, bracket=exits, reason=reason),)
