"""Two-sided market maker (seed 001): quotes around mid, wider when volatile, skewed by inventory.

On every tick, at most once per `quote_interval_s` (by tick time), it quotes a bid and an ask:

    width      = Bollinger width (upper - lower) / middle of the candle closes
    multiplier = min(1 + max(0, (width - 0.01) / 0.01) * 0.5, 3)
    half       = mid * spread_pct * multiplier
    skew       = clamp(position / max_inventory, -1, 1)
    bid        = mid - half * (1 + 0.5 * skew)
    ask        = mid + half * (1 - 0.5 * skew)

Each side is worth `quote_value_usd` at mid. A side that would take the position past
`max_inventory` is cut to the room left, or withdrawn; the bid never spends the cash reserve
(`min_cash_ratio` of cash). `on_stop` withdraws both sides (the host calls it on disable and
shutdown).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from typing import ClassVar

from pydantic import Field

from proto import Candle, Quote, Tick
from services.signals.api import Action, Context, QuotePair, Strategy, StrategyParams
from services.signals.indicators import BollingerBands
from services.signals.strategies.pricing import dec_price, qty_decimals, qty_for_notional

_NS = 1_000_000_000


class MarketMakerParams(StrategyParams):
    interval: str = "1m"
    spread_pct: float = Field(default=0.0015, gt=0)
    quote_interval_s: float = Field(default=0.5, gt=0)
    max_inventory: Decimal = Field(default=Decimal("1.0"), gt=0)
    min_cash_ratio: float = Field(default=0.10, ge=0, lt=1)
    quote_value_usd: Decimal = Field(default=Decimal(500), gt=0)
    bb_period: int = Field(default=20, ge=2)
    bb_dev: float = Field(default=2.0, gt=0)
    #: width at which widening starts, and the width step per +`width_gain` of multiplier
    width_floor: float = Field(default=0.01, ge=0)
    width_step: float = Field(default=0.01, gt=0)
    width_gain: float = Field(default=0.5, ge=0)
    max_spread_multiplier: float = Field(default=3.0, ge=1)
    skew_factor: float = Field(default=0.5, ge=0, le=1)


class MarketMaker(Strategy[MarketMakerParams]):
    name: ClassVar[str] = "market_maker"
    Params: ClassVar[type[StrategyParams]] = MarketMakerParams
    wants_ticks: ClassVar[bool] = True

    def __init__(self, params: MarketMakerParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        self.bb = BollingerBands(self.p.bb_period, self.p.bb_dev)
        self.last_quote_ts: int | None = None

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if candle.closed:
            self.bb.update(candle.close)
        return ()

    def on_stop(self, ctx: Context) -> Sequence[Action]:
        """Withdraw both sides (on disable and shutdown)."""
        self.last_quote_ts = None
        return (QuotePair(bid=None, ask=None),)

    def spread_multiplier(self) -> float:
        p = self.p
        if not self.bb.ready:
            return 1.0
        width = self.bb.width
        if not math.isfinite(width):
            return 1.0
        mult = 1.0 + max(0.0, (width - p.width_floor) / p.width_step) * p.width_gain
        return min(mult, p.max_spread_multiplier)

    def on_tick(self, tick: Tick, ctx: Context) -> Sequence[Action]:
        p = self.p
        last = self.last_quote_ts
        if last is not None and tick.ts_event - last < p.quote_interval_s * _NS:
            return ()
        mid = tick.mid
        if not (math.isfinite(mid) and mid > 0 and tick.ask >= tick.bid):
            return ()
        self.last_quote_ts = tick.ts_event
        return (self.quotes(mid, ctx),)

    def quotes(self, mid: float, ctx: Context) -> QuotePair:
        """The quotes for `mid` and the position and cash in `ctx`."""
        p = self.p
        half = mid * p.spread_pct * self.spread_multiplier()
        pos = ctx.position
        skew = max(-1.0, min(1.0, float(pos / p.max_inventory)))
        bid_px = mid - half * (1 + p.skew_factor * skew)
        ask_px = mid + half * (1 - p.skew_factor * skew)
        qty = qty_for_notional(p.quote_value_usd, mid)
        bid_qty = min(qty, p.max_inventory - pos)
        ask_qty = min(qty, p.max_inventory + pos)
        if ctx.cash is not None and bid_px > 0:
            spendable = ctx.cash * Decimal(repr(1 - p.min_cash_ratio))
            affordable = spendable / Decimal(repr(bid_px))
            places = Decimal(1).scaleb(-qty_decimals(float(qty)))
            bid_qty = min(bid_qty, affordable.quantize(places, rounding=ROUND_DOWN))
        bid = Quote(price=dec_price(bid_px), qty=bid_qty) if bid_qty > 0 and bid_px > 0 else None
        ask = Quote(price=dec_price(ask_px), qty=ask_qty) if ask_qty > 0 else None
        return QuotePair(bid=bid, ask=ask)
