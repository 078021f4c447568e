"""The sim exchange's JSON payloads for orders and fills, both ways (server and client share it).

Money is a decimal string, times are int nanoseconds. An order's own type is `order_type`, so
the account WebSocket can tag its messages with `type` ("order" | "fill").
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from proto import OrderStatus, OrderType, Side
from tradebus.venues.base import VenueFill, VenueOrder

E = TypeVar("E", Side, OrderType, OrderStatus)


def dec_str(value: Decimal) -> str:
    return format(value, "f")


def float_str(value: float, increment: Decimal) -> str:
    """A float price/size printed with the increment's number of decimals."""
    exp = increment.as_tuple().exponent
    places = -exp if isinstance(exp, int) and exp < 0 else 0
    return f"{value:.{places}f}"


def order_to_json(o: VenueOrder) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id,
        "order_id": o.venue_order_id,
        "symbol": o.symbol,
        "side": o.side.value,
        "order_type": o.type.value,
        "qty": dec_str(o.qty),
        "price": None if o.price is None else dec_str(o.price),
        "status": o.status.value,
        "filled_qty": dec_str(o.filled_qty),
        "avg_price": None if o.avg_price is None else dec_str(o.avg_price),
        "reason": o.reason,
        "ts": o.ts_event,
    }


def fill_to_json(f: VenueFill) -> dict[str, Any]:
    return {
        "fill_id": f.venue_fill_id,
        "order_id": f.venue_order_id,
        "client_order_id": f.client_order_id,
        "symbol": f.symbol,
        "side": f.side.value,
        "qty": dec_str(f.qty),
        "price": dec_str(f.price),
        "fee": dec_str(f.fee),
        "liquidity": f.liquidity,
        "ts": f.ts_event,
    }


def _field(d: Mapping[str, Any], key: str) -> Any:
    try:
        return d[key]
    except KeyError:
        raise ValueError(f"sim payload is missing field {key!r}") from None


def _dec(d: Mapping[str, Any], key: str, *, optional: bool = False) -> Decimal | None:
    raw = d.get(key) if optional else _field(d, key)
    if raw is None:
        if optional:
            return None
        raise ValueError(f"sim payload field {key!r} must not be null")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError(f"sim payload field {key!r} is not a decimal: {raw!r}") from None
    if not value.is_finite():
        raise ValueError(f"sim payload field {key!r} is not finite: {raw!r}")
    return value


def _req_dec(d: Mapping[str, Any], key: str) -> Decimal:
    value = _dec(d, key)
    assert value is not None  # _dec raises for a missing or null required field
    return value


def _enum(d: Mapping[str, Any], key: str, kind: type[E]) -> E:
    raw = _field(d, key)
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"sim payload field {key!r} has unknown value {raw!r}") from None


def _int(d: Mapping[str, Any], key: str) -> int:
    raw = _field(d, key)
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValueError(f"sim payload field {key!r} must be an integer, got {raw!r}")
    return raw


def order_from_json(d: Mapping[str, Any]) -> VenueOrder:
    return VenueOrder(
        client_order_id=str(_field(d, "client_order_id")),
        venue_order_id=str(_field(d, "order_id")),
        symbol=str(_field(d, "symbol")),
        side=_enum(d, "side", Side),
        type=_enum(d, "order_type", OrderType),
        qty=_req_dec(d, "qty"),
        price=_dec(d, "price", optional=True),
        status=_enum(d, "status", OrderStatus),
        filled_qty=_req_dec(d, "filled_qty"),
        avg_price=_dec(d, "avg_price", optional=True),
        reason=str(d.get("reason") or ""),
        ts_event=_int(d, "ts"),
    )


def fill_from_json(d: Mapping[str, Any]) -> VenueFill:
    liquidity = str(_field(d, "liquidity"))
    if liquidity not in ("maker", "taker"):
        raise ValueError(f"sim payload field 'liquidity' has unknown value {liquidity!r}")
    return VenueFill(
        venue_fill_id=str(_field(d, "fill_id")),
        venue_order_id=str(_field(d, "order_id")),
        client_order_id=str(_field(d, "client_order_id")),
        symbol=str(_field(d, "symbol")),
        side=_enum(d, "side", Side),
        qty=_req_dec(d, "qty"),
        price=_req_dec(d, "price"),
        fee=_req_dec(d, "fee"),
        liquidity=liquidity,
        ts_event=_int(d, "ts"),
    )
