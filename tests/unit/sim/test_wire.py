from __future__ import annotations

from decimal import Decimal

import pytest

from proto import OrderStatus, OrderType, Side
from tradebus.venues.base import VenueFill, VenueOrder
from tradebus.venues.sim.wire import (
    fill_from_json,
    fill_to_json,
    float_str,
    order_from_json,
    order_to_json,
)

# Recorded from a running sim server (POST /api/v1/orders, /ws/account).
RECORDED_ORDER = {
    "client_order_id": "a1",
    "order_id": "S1",
    "symbol": "BTC-USD",
    "side": "buy",
    "order_type": "market",
    "qty": "0.01",
    "price": None,
    "status": "filled",
    "filled_qty": "0.01",
    "avg_price": "64309.76",
    "reason": "",
    "ts": 1795294091297508700,
}
RECORDED_FILL = {
    "type": "fill",
    "fill_id": "F1",
    "order_id": "S1",
    "client_order_id": "a1",
    "symbol": "BTC-USD",
    "side": "buy",
    "qty": "0.01",
    "price": "64309.76",
    "fee": "0.32154880",
    "liquidity": "taker",
    "ts": 1795294091297508700,
}


def test_recorded_order_parses() -> None:
    o = order_from_json(RECORDED_ORDER)
    assert o.type is OrderType.MARKET
    assert o.status is OrderStatus.FILLED
    assert o.avg_price == Decimal("64309.76")
    assert o.price is None
    assert order_to_json(o) == RECORDED_ORDER


def test_recorded_fill_parses_and_round_trips() -> None:
    f = fill_from_json(RECORDED_FILL)
    assert f.side is Side.BUY
    assert f.fee == Decimal("0.32154880")
    assert {"type": "fill", **fill_to_json(f)} == RECORDED_FILL


def test_round_trip_of_a_limit_order() -> None:
    o = VenueOrder("c", "S9", "ETH-USD", Side.SELL, OrderType.POST_ONLY, Decimal("1.5"),
                   Decimal("3000.10"), OrderStatus.PARTIALLY_FILLED, Decimal("0.5"),
                   Decimal("3000.10"), "", 5)  # fmt: skip
    assert order_from_json(order_to_json(o)) == o
    f = VenueFill("F2", "S9", "c", "ETH-USD", Side.SELL, Decimal("0.5"), Decimal("3000.10"),
                  Decimal("0.3"), "maker", 7)  # fmt: skip
    assert fill_from_json(fill_to_json(f)) == f


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"qty": None}, "'qty'"),
        ({"qty": "abc"}, "'qty'"),
        ({"side": "long"}, "'side'"),
        ({"ts": "12"}, "'ts'"),
        ({"order_type": "stop"}, "'order_type'"),
    ],
)
def test_malformed_payloads_name_the_field(patch: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        order_from_json({**RECORDED_ORDER, **patch})


def test_missing_field_is_named() -> None:
    bad = dict(RECORDED_FILL)
    del bad["fee"]
    with pytest.raises(ValueError, match="'fee'"):
        fill_from_json(bad)


def test_float_str_uses_the_increment_places() -> None:
    assert float_str(149.89000000000001, Decimal("0.01")) == "149.89"
    assert float_str(1.23456, Decimal("0.001")) == "1.235"
    assert float_str(65000.4, Decimal("1")) == "65000"
