"""EMA cross with an RSI filter (seed 001's alpha bot).

Long when EMA(9) crosses above EMA(21) and RSI(14) < 70; short when it crosses below and
RSI > 30. Exits: the bracket (stop-loss 2%, take-profit 4% from the entry close) or the opposite
cross while in a position, which closes it (flat; a new entry needs a new cross).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from proto import Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import Ema, Rsi
from services.signals.strategies.pricing import bracket_pct, qty_for_notional, sign


class EmaRsiAlphaParams(StrategyParams):
    interval: str = "1m"
    ema_fast: int = Field(default=9, ge=1)
    ema_slow: int = Field(default=21, ge=2)
    rsi_period: int = Field(default=14, ge=2)
    rsi_long_below: float = Field(default=70.0, ge=0, le=100)
    rsi_short_above: float = Field(default=30.0, ge=0, le=100)
    stop_loss_pct: float = Field(default=0.02, gt=0)
    take_profit_pct: float = Field(default=0.04, gt=0)
    #: size each entry to this many USD at the entry close; None: use `size` (base units)
    trade_usd: Decimal | None = Field(default=Decimal(3000), gt=0)


class EmaRsiAlpha(Strategy[EmaRsiAlphaParams]):
    name: ClassVar[str] = "ema_rsi_alpha"
    Params: ClassVar[type[StrategyParams]] = EmaRsiAlphaParams

    def __init__(self, params: EmaRsiAlphaParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        self.fast = Ema(self.p.ema_fast)
        self.slow = Ema(self.p.ema_slow)
        self.rsi = Rsi(self.p.rsi_period)
        self.prev_diff: float | None = None

    @property
    def warmup(self) -> int:
        return max(self.p.ema_slow + 1, self.p.rsi_period + 1)

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if not candle.closed:
            return ()
        c = candle.close
        self.fast.update(c)
        self.slow.update(c)
        self.rsi.update(c)
        if not (self.slow.ready and self.fast.ready):
            return ()
        diff = self.fast.value - self.slow.value
        prev, self.prev_diff = self.prev_diff, diff
        if prev is None or not self.rsi.ready:
            return ()
        cross = 1 if prev <= 0 < diff else -1 if prev >= 0 > diff else 0
        if not cross:
            return ()
        pos = sign(ctx.position)
        p = self.p
        if pos and cross != pos:
            return (Target(qty=Decimal(0), reason="opposite ema cross"),)
        if pos:
            return ()
        if cross > 0 and self.rsi.value < p.rsi_long_below:
            return self._enter(1, c, "ema cross up, rsi filter")
        if cross < 0 and self.rsi.value > p.rsi_short_above:
            return self._enter(-1, c, "ema cross down, rsi filter")
        return ()

    def _enter(self, side: int, price: float, reason: str) -> Sequence[Action]:
        p = self.p
        qty = p.size if p.trade_usd is None else qty_for_notional(p.trade_usd, price)
        if qty <= 0:
            return ()
        exits = bracket_pct(side, price, p.take_profit_pct, p.stop_loss_pct, None)
        return (Target(qty=qty * side, bracket=exits, reason=reason),)
