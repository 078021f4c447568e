"""Bollinger/RSI scalper: fade the bands with RSI confirmation, exit at the middle band.

Long when the ask is below the lower band, RSI < 45 and the cooldown is armed; short when the
bid is above the upper band, RSI > 55 and armed. A long closes when the bid is above the middle
band, a short when the ask is below it. Every entry carries a bracket: stop-loss at ATR x
`atr_multiplier` from the entry price, take-profit `tp_sl_ratio` times farther. An entry
disarms the cooldown; it re-arms when the mid price crosses back over the middle band (above it
after a long, below it after a short). Nothing is done twice on one candle.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from proto import Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import Atr, BollingerBands, Rsi
from services.signals.strategies.pricing import bracket, sign


class BbRsiScalperParams(StrategyParams):
    interval: str = "1m"
    size: Decimal = Field(default=Decimal("0.01"), gt=0)
    bb_period: int = Field(default=20, ge=2)
    bb_dev: float = Field(default=2.0, gt=0)
    rsi_period: int = Field(default=14, ge=2)
    atr_period: int = Field(default=14, ge=1)
    #: the seed leaves these unset; 1.0 and 2.0 are our choice
    atr_multiplier: float = Field(default=1.0, gt=0)
    tp_sl_ratio: float = Field(default=2.0, gt=0)
    rsi_long_below: float = Field(default=45.0, ge=0, le=100)
    rsi_short_above: float = Field(default=55.0, ge=0, le=100)


class BbRsiScalper(Strategy[BbRsiScalperParams]):
    name: ClassVar[str] = "bb_rsi_scalper"
    Params: ClassVar[type[StrategyParams]] = BbRsiScalperParams

    def __init__(self, params: BbRsiScalperParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        p = self.p
        self.bb = BollingerBands(p.bb_period, p.bb_dev)
        self.rsi = Rsi(p.rsi_period)
        self.atr = Atr(p.atr_period)
        #: the cooldown: entries are allowed only while armed
        self.armed = True
        #: side of the open position, or of the last one closed (0: none yet)
        self.last_side = 0
        self.last_entry_ts: int | None = None

    @property
    def warmup(self) -> int:
        p = self.p
        return max(p.bb_period, p.rsi_period + 1, p.atr_period + 1)

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if not candle.closed:
            return ()
        if self.last_entry_ts is not None and candle.ts_open <= self.last_entry_ts:
            return ()  # this candle (or an older one) already produced an entry
        self.bb.update(candle.close)
        self.rsi.update(candle.close)
        self.atr.update(candle.high, candle.low, candle.close)
        if not (self.bb.ready and self.rsi.ready and self.atr.ready):
            return ()
        p = self.p
        bid = ctx.bid if ctx.bid is not None else candle.close
        ask = ctx.ask if ctx.ask is not None else candle.close
        mid = (bid + ask) / 2
        pos = sign(ctx.position)
        if pos:
            self.last_side = pos
        upper, middle, lower = self.bb.upper, self.bb.middle, self.bb.lower
        rsi = self.rsi.value

        if not self.armed and (
            (self.last_side > 0 and mid > middle) or (self.last_side < 0 and mid < middle)
        ):
            self.armed = True

        sl_distance = self.atr.value * p.atr_multiplier
        tp_distance = sl_distance * p.tp_sl_ratio
        if self.armed and pos <= 0 and ask < lower and rsi < p.rsi_long_below:
            return self._enter(1, ask, tp_distance, sl_distance, candle, "bb_rsi long")
        if self.armed and pos >= 0 and bid > upper and rsi > p.rsi_short_above:
            return self._enter(-1, bid, tp_distance, sl_distance, candle, "bb_rsi short")
        if pos > 0 and bid > middle:
            return (Target(qty=Decimal(0), reason="close long: bid above middle band"),)
        if pos < 0 and ask < middle:
            return (Target(qty=Decimal(0), reason="close short: ask below middle band"),)
        return ()

    def _enter(
        self, side: int, price: float, tp: float, sl: float, candle: Candle, reason: str
    ) -> Sequence[Action]:
        self.armed = False
        self.last_side = side
        self.last_entry_ts = candle.ts_open
        exits = bracket(side, price, tp_distance=tp, sl_distance=sl)
        return (Target(qty=self.p.size * side, bracket=exits, reason=reason),)
