"""The order state machine: legal paths pass, illegal moves raise a clear error."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proto import OrderStatus, OrderType, Side
from services.execution.core import IllegalTransition, OrderRecord
from services.execution.core.orders import OrderTable, PlanEntry

S = OrderStatus


def order(**kw: object) -> OrderRecord:
    base: dict[str, object] = {
        "client_order_id": "tb-1", "owner": "net", "venue": "sim", "symbol": "BTC",
        "side": Side.BUY, "type": OrderType.MARKET, "qty": Decimal(3), "price": None,
        "created_ns": 0,
    }  # fmt: skip
    return OrderRecord(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    [
        [S.SUBMITTED, S.ACKED, S.PARTIALLY_FILLED, S.PARTIALLY_FILLED, S.FILLED],
        [S.SUBMITTED, S.FILLED],
        [S.SUBMITTED, S.ACKED, S.CANCELED],
        [S.SUBMITTED, S.ACKED, S.PARTIALLY_FILLED, S.EXPIRED],
        [S.SUBMITTED, S.REJECTED],
        [S.REJECTED],
        [S.CANCELED],
    ],
)
def test_legal_paths(path: list[OrderStatus]) -> None:
    o = order()
    for s in path:
        o.transition(s)
    assert o.status is path[-1]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], S.ACKED),  # must be submitted first
        ([], S.FILLED),
        ([S.SUBMITTED, S.ACKED], S.SUBMITTED),  # no going back
        ([S.SUBMITTED, S.ACKED, S.PARTIALLY_FILLED], S.ACKED),
        ([S.SUBMITTED, S.ACKED], S.REJECTED),  # rejection comes before the ack
        ([S.SUBMITTED, S.FILLED], S.CANCELED),  # terminal
        ([S.SUBMITTED, S.CANCELED], S.FILLED),
        ([S.SUBMITTED, S.EXPIRED], S.PARTIALLY_FILLED),
    ],
)
def test_illegal_moves_raise_and_name_order_and_states(path: list[OrderStatus], bad: OrderStatus) -> None:
    o = order()
    for s in path:
        o.transition(s)
    before = o.status
    with pytest.raises(IllegalTransition, match=f"tb-1: illegal transition {before.value} -> {bad.value}"):
        o.transition(bad)
    assert o.status is before


def test_expiry_is_reached_at_its_time_and_never_for_terminal_orders() -> None:
    o = order(expire_at_ns=100)
    assert not o.expired(99)
    assert o.expired(100)
    o.transition(S.SUBMITTED)
    o.transition(S.FILLED)
    assert not o.expired(200)


def test_pending_after_terminal_counts_reported_but_unreceived_fills_in_plan_order() -> None:
    o = order(plan=[PlanEntry("A", Decimal(1)), PlanEntry("B", Decimal(2))])
    assert o.pending_by_strategy() == {"A": 1, "B": 2}
    o.transition(S.SUBMITTED)
    o.reported_filled = Decimal("1.5")
    o.transition(S.CANCELED)
    assert o.pending_by_strategy() == {"A": 1, "B": Decimal("0.5")}
    assert not o.retirable


def test_dict_round_trip_and_missing_key() -> None:
    o = order(plan=[PlanEntry("A", Decimal(3))], price=Decimal("1.5"), expire_at_ns=7)
    assert OrderRecord.from_dict(o.to_dict()) == o
    d = o.to_dict()
    del d["plan"]
    with pytest.raises(ValueError, match="'plan'"):
        OrderRecord.from_dict(d)


def test_order_table_views_each_symbol_in_table_order_and_refuses_other_changes() -> None:
    recs = [order(client_order_id=f"tb-{i}", symbol=sy) for i, sy in enumerate("ABABC")]
    table = OrderTable(recs)
    assert [r.client_order_id for r in table.of_symbol("A")] == ["tb-0", "tb-2"]
    assert list(table.of_symbol("Z")) == []
    del table["tb-0"]
    table["tb-9"] = order(client_order_id="tb-9", symbol="A")
    table["tb-4"] = order(client_order_id="tb-4", symbol="B")  # re-filed under another symbol
    assert [r.client_order_id for r in table.of_symbol("A")] == ["tb-2", "tb-9"]
    assert [r.client_order_id for r in table.of_symbol("B")] == ["tb-1", "tb-3", "tb-4"]
    assert list(table.of_symbol("C")) == []
    for sy in "ABC":  # the view holds exactly the table's orders of the symbol, in table order
        assert list(table.of_symbol(sy)) == [r for r in table.values() if r.symbol == sy]
    with pytest.raises(TypeError, match="OrderTable changes only"):
        table.pop("tb-2")
    with pytest.raises(TypeError, match="OrderTable changes only"):
        table.update({})
