"""Builders of intents, venue fills and venue order updates for the execution core tests."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from proto import Bracket, OrderStatus, OrderStyle, Quote, Quotes, TargetPosition
from services.execution.core import NettingBook, NewOrder, RiskLimits
from tradebus.venues.base import VenueFill, VenueOrder

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
D = Decimal
_ids = itertools.count(1)

LOOSE: dict[str, Any] = {
    "max_order_qty": D(1000),
    "max_order_notional": D(10_000_000),
    "max_position": D(10_000),
    "max_gross_exposure": D(100_000_000),
    "price_band_bps": D(500),
    "max_price_age_s": 60.0,
    "max_open_orders": 1000,
    "orders_per_second": 1000.0,
    "order_burst": 1000,
    "daily_loss_limit": D(1_000_000),
    "max_drawdown": D(10_000_000),
}


def limits(**override: Any) -> RiskLimits:
    return RiskLimits(**{**LOOSE, **override})


def book(**override: Any) -> NettingBook:
    return NettingBook("sim", limits(**override))


def target(
    strategy: str,
    symbol: str,
    qty: str | Decimal,
    *,
    bracket: Bracket | None = None,
    style: OrderStyle | None = None,
    intent_id: str | None = None,
) -> TargetPosition:
    return TargetPosition(
        intent_id=intent_id or f"i{next(_ids)}",
        strategy=strategy,
        venue="sim",
        symbol=symbol,
        qty=D(qty),
        bracket=bracket,
        style=style or OrderStyle(),
        ts_event=T0,
    )


def quotes(strategy: str, symbol: str, bid: tuple[str, str] | None, ask: tuple[str, str] | None) -> Quotes:
    return Quotes(
        intent_id=f"q{next(_ids)}",
        strategy=strategy,
        venue="sim",
        symbol=symbol,
        bid=None if bid is None else Quote(price=D(bid[0]), qty=D(bid[1])),
        ask=None if ask is None else Quote(price=D(ask[0]), qty=D(ask[1])),
        ts_event=T0,
    )


def vfill(
    order: NewOrder,
    qty: str | Decimal,
    price: str | Decimal,
    *,
    fid: str | None = None,
    fee: str = "0",
) -> VenueFill:
    r = order.request
    return VenueFill(
        venue_fill_id=fid or f"vf{next(_ids)}",
        venue_order_id=f"v-{r.client_order_id}",
        client_order_id=r.client_order_id,
        symbol=r.symbol,
        side=r.side,
        qty=D(qty),
        price=D(price),
        fee=D(fee),
        liquidity="taker",
        ts_event=T0,
    )


def vorder(order: NewOrder, status: OrderStatus, filled: str | Decimal = "0") -> VenueOrder:
    r = order.request
    return VenueOrder(
        client_order_id=r.client_order_id,
        venue_order_id=f"v-{r.client_order_id}",
        symbol=r.symbol,
        side=r.side,
        type=r.type,
        qty=r.qty,
        price=r.price,
        status=status,
        filled_qty=D(filled),
        avg_price=None,
    )
