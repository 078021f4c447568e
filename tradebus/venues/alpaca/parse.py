"""Pure parsing of Alpaca's documented JSON (REST and stream) into Tradebus types.

Our symbol for the equity `AAPL` is `AAPL-USD` (every Tradebus symbol is BASE-QUOTE).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from proto import Candle, Interval, OrderStatus, OrderType, Side, Tick
from tradebus.venues.base import Instrument, VenueError, VenueFill, VenueOrder
from tradebus.venues.clock import MarketClock

VENUE = "alpaca"
FRACTION = Decimal("0.000000001")

#: our interval -> Alpaca bar timeframe
TIMEFRAMES = {
    "1m": "1Min", "3m": "3Min", "5m": "5Min", "15m": "15Min", "30m": "30Min",
    "1h": "1Hour", "2h": "2Hour", "4h": "4Hour", "6h": "6Hour", "12h": "12Hour",
    "1d": "1Day", "1w": "1Week",
}  # fmt: skip

_STATUS = {
    "new": OrderStatus.ACKED, "accepted": OrderStatus.ACKED, "pending_new": OrderStatus.SUBMITTED,
    "accepted_for_bidding": OrderStatus.ACKED, "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED, "done_for_day": OrderStatus.EXPIRED, "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED, "replaced": OrderStatus.CANCELED, "pending_cancel": OrderStatus.ACKED,
    "pending_replace": OrderStatus.ACKED, "rejected": OrderStatus.REJECTED, "suspended": OrderStatus.ACKED,
    "stopped": OrderStatus.ACKED, "calculated": OrderStatus.ACKED,
}  # fmt: skip


def ours(alpaca_symbol: str) -> str:
    return f"{alpaca_symbol}-USD"


def theirs(symbol: str) -> str:
    base, sep, quote = symbol.partition("-")
    if not sep or quote != "USD" or not base:
        raise VenueError(f"symbol {symbol!r} is not an Alpaca equity (want TICKER-USD)")
    return base


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def ts_ns(text: Any, what: str) -> int:
    """RFC 3339 (Alpaca sends up to nanoseconds) -> ns since the epoch, keeping every digit."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        raise VenueError(f"alpaca sent a bad {what} time {text!r}")
    head, frac, tz = m.groups()
    whole = datetime.fromisoformat(head + ("+00:00" if tz == "Z" else tz))
    return int(whole.timestamp()) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def _dec(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise VenueError(f"alpaca sent a bad {what}: {value!r}") from None


def instrument(asset: Mapping[str, Any]) -> Instrument | None:
    if not asset.get("tradable") or asset.get("status") != "active" or asset.get("class") != "us_equity":
        return None
    size = FRACTION if asset.get("fractionable") else Decimal(1)
    return Instrument(
        symbol=ours(str(asset["symbol"])),
        base=str(asset["symbol"]),
        quote="USD",
        price_increment=Decimal("0.01"),
        size_increment=size,
        min_size=size,
    )


def candle(symbol: str, interval: str, bar: Mapping[str, Any]) -> Candle:
    try:
        return Candle(
            venue=VENUE,
            symbol=symbol,
            interval=cast(Interval, interval),
            ts_open=ts_ns(bar["t"], "bar"),
            open=float(bar["o"]),
            high=float(bar["h"]),
            low=float(bar["l"]),
            close=float(bar["c"]),
            volume=float(bar.get("v") or 0),
            trades=int(bar.get("n") or 0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise VenueError(f"alpaca sent a malformed bar of {symbol}: {exc!r}") from exc


def quote_tick(q: Mapping[str, Any], last: float, last_qty: float, now_ns: int) -> Tick:
    bid, ask = float(q["bp"]), float(q["ap"])
    return Tick(
        venue=VENUE,
        symbol=ours(str(q["S"])),
        bid=bid,
        ask=ask,
        last=last if last > 0 else (bid + ask) / 2,
        last_qty=last_qty,
        ts_event=ts_ns(q["t"], "quote"),
        ts_init=now_ns,
    )


def clock(c: Mapping[str, Any]) -> MarketClock:
    return MarketClock(
        ts=ts_ns(c.get("timestamp"), "clock"),
        is_open=bool(c.get("is_open")),
        next_open=ts_ns(c.get("next_open"), "next_open"),
        next_close=ts_ns(c.get("next_close"), "next_close"),
    )


def order(o: Mapping[str, Any]) -> VenueOrder:
    try:
        kind = str(o.get("type") or o.get("order_type"))
        limit = o.get("limit_price")
        avg = o.get("filled_avg_price")
        return VenueOrder(
            client_order_id=str(o["client_order_id"]),
            venue_order_id=str(o["id"]),
            symbol=ours(str(o["symbol"])),
            side=Side(str(o["side"])),
            type=OrderType.LIMIT if kind == "limit" else OrderType.MARKET,
            qty=_dec(o["qty"], "order qty"),
            price=_dec(limit, "limit price") if limit is not None else None,
            status=_STATUS.get(str(o["status"]), OrderStatus.SUBMITTED),
            filled_qty=_dec(o.get("filled_qty") or 0, "filled qty"),
            avg_price=_dec(avg, "filled price") if avg is not None else None,
            ts_event=ts_ns(o.get("updated_at") or o.get("submitted_at") or o.get("created_at"), "order"),
        )
    except (KeyError, ValueError) as exc:
        raise VenueError(f"alpaca sent a malformed order: {exc!r}") from exc


def fill_activity(a: Mapping[str, Any], client_order_id: str) -> VenueFill:
    """An account activity of type FILL (REST) -> VenueFill (Alpaca charges no commission)."""
    try:
        return VenueFill(
            venue_fill_id=str(a["id"]),
            venue_order_id=str(a["order_id"]),
            client_order_id=client_order_id,
            symbol=ours(str(a["symbol"])),
            side=Side(str(a["side"])),
            qty=_dec(a["qty"], "fill qty"),
            price=_dec(a["price"], "fill price"),
            fee=Decimal(0),
            liquidity="taker",
            ts_event=ts_ns(a["transaction_time"], "fill"),
        )
    except (KeyError, ValueError) as exc:
        raise VenueError(f"alpaca sent a malformed fill: {exc!r}") from exc


def trade_update(msg: Mapping[str, Any]) -> list[VenueOrder | VenueFill]:
    """A `trade_updates` stream event -> the fill (on fill/partial_fill) and the order update."""
    data = msg.get("data") or {}
    o = order(data["order"])
    out: list[VenueOrder | VenueFill] = []
    if data.get("event") in ("fill", "partial_fill"):
        out.append(
            VenueFill(
                venue_fill_id=str(data.get("execution_id") or f"{o.venue_order_id}-{data.get('timestamp')}"),
                venue_order_id=o.venue_order_id,
                client_order_id=o.client_order_id,
                symbol=o.symbol,
                side=o.side,
                qty=_dec(data["qty"], "fill qty"),
                price=_dec(data["price"], "fill price"),
                fee=Decimal(0),
                liquidity="taker",
                ts_event=ts_ns(data["timestamp"], "fill"),
            )
        )
    out.append(o)
    return out
