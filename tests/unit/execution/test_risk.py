"""Each rule of the risk gate rejects with its own kind and reason; limits are validated."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from proto import OrderType, Side
from services.execution.core import RiskContext, RiskGate, RiskKind
from tests.unit.execution.factory import LOOSE, NS, T0, limits
from tradebus.venues.base import OrderRequest

D = Decimal
CTX = RiskContext(now=T0, strategy="A", mid=D(100), projected=D(0), gross_other=D(0), open_orders=0)


def req(qty: str = "1", side: Side = Side.BUY, price: str | None = None) -> OrderRequest:
    type_ = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest("tb-1", "BTC", side, D(qty), type_, None if price is None else D(price))


@pytest.mark.parametrize(
    ("lim", "order", "ctx", "kind"),
    [
        ({}, req(), {"killed": True}, RiskKind.KILL_SWITCH),
        ({}, req(), {"killed": True, "flatten": True}, RiskKind.KILL_SWITCH),  # not reducing
        ({}, req(), {"reduce_only": True, "projected": D(1)}, RiskKind.REDUCE_ONLY),
        ({}, req("3", Side.SELL), {"reduce_only": True, "projected": D(2)}, RiskKind.REDUCE_ONLY),
        ({"max_order_qty": D(2)}, req("2.5"), {}, RiskKind.MAX_ORDER_QTY),
        ({}, req(), {"mid": None}, RiskKind.NO_FRESH_PRICE),
        ({"price_band_bps": D(100)}, req(price="101.01"), {}, RiskKind.PRICE_BAND),
        ({"price_band_bps": D(100)}, req(side=Side.SELL, price="98.9"), {}, RiskKind.PRICE_BAND),
        ({"max_order_notional": D(250)}, req("3"), {}, RiskKind.MAX_ORDER_NOTIONAL),
        ({"max_position": D(5)}, req("2"), {"projected": D(4)}, RiskKind.MAX_POSITION),
        ({"max_position": D(5)}, req("2", Side.SELL), {"projected": D(-4)}, RiskKind.MAX_POSITION),
        (
            {"max_gross_exposure": D(1000), "max_order_notional": D(1000)},
            req("2"),
            {"gross_other": D(850)},
            RiskKind.MAX_GROSS_EXPOSURE,
        ),
        ({"max_open_orders": 3}, req(), {"open_orders": 3}, RiskKind.MAX_OPEN_ORDERS),
    ],
)
def test_each_rule_rejects_with_its_reason(
    lim: dict[str, Any], order: OrderRequest, ctx: dict[str, Any], kind: RiskKind
) -> None:
    event = RiskGate(limits(**lim)).check(order, replace(CTX, **ctx))
    assert event is not None
    assert event.kind == kind.value
    assert event.strategy == "A"
    assert event.symbol == "BTC"
    assert "BTC" in event.reason


@pytest.mark.parametrize(
    ("lim", "order", "ctx"),
    [
        ({}, req(), {}),
        ({}, req("1", Side.SELL), {"killed": True, "flatten": True, "projected": D(2)}),
        ({}, req("2", Side.SELL), {"reduce_only": True, "projected": D(2)}),
        ({"price_band_bps": D(100)}, req(price="101"), {}),
        ({"max_position": D(5)}, req("1", Side.SELL), {"projected": D(9)}),  # reducing passes
        (
            {"max_gross_exposure": D(1000), "max_order_notional": D(1000)},
            req("1"),
            {"gross_other": D(900)},
        ),
    ],
)
def test_orders_within_limits_pass(lim: dict[str, Any], order: OrderRequest, ctx: dict[str, Any]) -> None:
    assert RiskGate(limits(**lim)).check(order, replace(CTX, **ctx)) is None


def test_rate_limit_is_a_token_bucket_driven_by_now() -> None:
    gate = RiskGate(limits(orders_per_second=2.0, order_burst=2))
    assert gate.check(req(), CTX) is None
    assert gate.check(req(), CTX) is None
    event = gate.check(req(), CTX)
    assert event is not None
    assert event.kind == "rate_limit"
    assert gate.check(req(), replace(CTX, now=T0 + NS // 4)) is not None  # half a token
    assert gate.check(req(), replace(CTX, now=T0 + NS // 2)) is None
    # a restored gate keeps its bucket
    again = RiskGate(gate.limits)
    again.restore(gate.snapshot())
    assert again.check(req(), replace(CTX, now=T0 + NS // 2)) is not None


def test_limits_are_validated_and_name_the_field() -> None:
    with pytest.raises(ValidationError, match="max_order_qty"):
        limits(max_order_qty=D(0))
    with pytest.raises(ValidationError, match="surprise"):
        limits(surprise=1)
    with pytest.raises(ValidationError, match="max_order_notional"):
        limits(max_order_notional=D(10), max_gross_exposure=D(5))
    with pytest.raises(ValidationError, match="price_band_bps"):
        limits(price_band_bps=D(20_000))
    lim = limits()
    with pytest.raises(ValidationError):
        lim.max_position = D(1)  # type: ignore[misc]
    assert set(LOOSE) < set(type(lim).model_fields)
