"""SMA-cross scalper (seed 003): buy the cross above SMA(20), sell at or above the entry at once.

States (driven by `on_candle`, `on_fill` and `ctx.position`):

* TO_BUY: flat, no order. A close crossing above the SMA sends a limit buy at the last price,
  worth `lot_usd`, that execution cancels after `buy_expire_s` -> BUY_SUBMITTED.
* BUY_SUBMITTED: a buy fill -> TO_SELL (and at once SELL_SUBMITTED); no fill within
  `buy_expire_s` -> back to TO_BUY (with a flat target, so nothing is left wanted).
* TO_SELL: holding -> a limit sell of the whole position at max(entry, last) -> SELL_SUBMITTED.
* SELL_SUBMITTED: flat again -> TO_BUY.

On venues with market hours, `flat_before_close_s` before the session close it sells at market
and buys nothing more that session.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from proto import Candle, Fill, OrderStyle, OrderType, Side, interval_ns
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import Sma
from services.signals.strategies.pricing import dec_price, qty_for_notional

_NS = 1_000_000_000


class ScalpState(StrEnum):
    TO_BUY = "TO_BUY"
    BUY_SUBMITTED = "BUY_SUBMITTED"
    TO_SELL = "TO_SELL"
    SELL_SUBMITTED = "SELL_SUBMITTED"


class SmaCrossScalpParams(StrategyParams):
    interval: str = "1m"
    sma_period: int = Field(default=20, ge=1)
    lot_usd: Decimal = Field(default=Decimal(2000), gt=0)
    #: whole units only (shares), as on stock venues; False sizes like crypto
    whole_units: bool = True
    buy_expire_s: float = Field(default=120.0, gt=0)
    #: 5 minutes before the close (03:55 pm for a 4 pm close)
    flat_before_close_s: float = Field(default=300.0, ge=0)


class SmaCrossScalp(Strategy[SmaCrossScalpParams]):
    name: ClassVar[str] = "sma_cross_scalp"
    Params: ClassVar[type[StrategyParams]] = SmaCrossScalpParams

    def __init__(self, params: SmaCrossScalpParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self._interval_ns = interval_ns(params.interval)
        self.reset()

    def reset(self) -> None:
        self.sma = Sma(self.p.sma_period)
        self.state = ScalpState.TO_BUY
        self.prev_above: bool | None = None
        self.buy_sent_ns = 0
        self.entry_price: Decimal | None = None

    @property
    def warmup(self) -> int:
        return self.p.sma_period + 1

    def _now(self, candle: Candle, ctx: Context) -> int:
        return max(ctx.now, candle.ts_open + self._interval_ns)

    def _closing(self, now: int, ctx: Context) -> bool:
        close = ctx.session_close
        return close is not None and now >= close - self.p.flat_before_close_s * _NS

    def _sell(self, ctx: Context, last: float) -> Sequence[Action]:
        self.state = ScalpState.SELL_SUBMITTED
        floor = dec_price(last)
        price = max(self.entry_price, floor) if self.entry_price is not None else floor
        style = OrderStyle(type=OrderType.LIMIT, limit_price=price)
        return (Target(qty=Decimal(0), style=style, reason="sell at or above entry"),)

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if not candle.closed:
            return ()
        sma = self.sma.update(candle.close)
        above = candle.close > sma if self.sma.ready else None
        prev, self.prev_above = self.prev_above, above
        now = self._now(candle, ctx)
        last = ctx.last if ctx.last is not None else candle.close
        held = ctx.position > 0

        if self._closing(now, ctx):
            if held or self.state is not ScalpState.TO_BUY:
                self.state = ScalpState.TO_BUY
                return (Target(qty=Decimal(0), reason="flat before the session close"),)
            return ()

        st = self.state
        if st is ScalpState.BUY_SUBMITTED:
            if held:
                return self._sell(ctx, last)
            if now - self.buy_sent_ns >= self.p.buy_expire_s * _NS:
                self.state = ScalpState.TO_BUY
                return (Target(qty=Decimal(0), reason="buy expired unfilled"),)
            return ()
        if st is ScalpState.SELL_SUBMITTED:
            if not held:
                self.state = ScalpState.TO_BUY
                self.entry_price = None
            return ()
        if st is ScalpState.TO_SELL or held:
            return self._sell(ctx, last)
        if prev is False and above:
            return self._buy(now, last)
        return ()

    def _buy(self, now: int, last: float) -> Sequence[Action]:
        p = self.p
        qty = qty_for_notional(p.lot_usd, last)
        if p.whole_units:
            qty = qty.to_integral_value(rounding=ROUND_DOWN)
        if qty <= 0:
            return ()
        self.state = ScalpState.BUY_SUBMITTED
        self.buy_sent_ns = now
        style = OrderStyle(type=OrderType.LIMIT, limit_price=dec_price(last), expire_after_s=p.buy_expire_s)
        return (Target(qty=qty, style=style, reason="close crossed above sma"),)

    def on_fill(self, fill: Fill, ctx: Context) -> Sequence[Action]:
        if fill.side is Side.BUY and self.state in (ScalpState.BUY_SUBMITTED, ScalpState.TO_BUY):
            self.entry_price = fill.price
            self.state = ScalpState.TO_SELL
            last = ctx.last if ctx.last is not None else float(fill.price)
            return self._sell(ctx, last)
        if fill.side is Side.SELL and ctx.position <= 0:
            self.state = ScalpState.TO_BUY
            self.entry_price = None
        return ()
