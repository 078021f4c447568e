"""Reads are forwarded to the owning room with the caller's filters, and answered with its reply;
a room that is silent or answers with an error is a 503 naming the subject."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from proto import Fill, Heartbeat, Liquidity, OrderStatus, OrderType, OrderUpdate, RiskEvent, Side
from proto.queries import (
    EquityPoint,
    EquityQuery,
    EquityReply,
    FillsPage,
    FillsQuery,
    OrdersQuery,
    OrdersReply,
    PnlQuery,
    PnlReply,
    PositionsReply,
    RiskEventsQuery,
    RiskEventsReply,
)
from proto.subjects import (
    EXEC_ORDERS,
    EXEC_POSITIONS,
    PORTFOLIO_EQUITY,
    PORTFOLIO_FILLS,
    PORTFOLIO_PNL,
    PORTFOLIO_RISK,
    heartbeat,
)
from tests.integration.gateway.conftest import VIEWER, Gateway, Rooms, auth
from tradebus.bus import Bus, now_ns
from tradebus.testing.servers import eventually

V = auth(VIEWER)
FILL = Fill(
    fill_id="f1", strategy="s1", venue="sim", symbol="BTC-USD", side=Side.BUY, qty=Decimal("0.5"),
    price=Decimal("100.25"), liquidity=Liquidity.TAKER, ts_event=1,
)  # fmt: skip
ORDER = OrderUpdate(
    client_order_id="c1", owner="net", venue="sim", symbol="BTC-USD", side=Side.SELL, type=OrderType.LIMIT,
    qty=Decimal("1"), price=Decimal("101"), status=OrderStatus.ACKED, ts_event=2,
)  # fmt: skip


@pytest.mark.parametrize(
    ("url", "subject", "reply", "query"),
    [
        ("/api/positions", EXEC_POSITIONS, PositionsReply(venue={"BTC-USD": Decimal("0.5")}), None),
        ("/api/orders?owner=net", EXEC_ORDERS, OrdersReply(orders=(ORDER,)), OrdersQuery(owner="net")),
        (
            "/api/fills?strategy=s1&symbol=BTC-USD&limit=7&cursor=12:34",
            PORTFOLIO_FILLS,
            FillsPage(fills=(FILL,), next="1:2"),
            FillsQuery(strategy="s1", symbol="BTC-USD", limit=7, cursor="12:34"),
        ),
        ("/api/pnl?strategy=s1", PORTFOLIO_PNL, PnlReply(account={"pnl": "1.5"}), PnlQuery(strategy="s1")),
        (
            "/api/risk?strategy=s1&limit=3",
            PORTFOLIO_RISK,
            RiskEventsReply(events=(RiskEvent(kind="max_position", reason="too big", ts_event=3),)),
            RiskEventsQuery(strategy="s1", limit=3),
        ),
        (
            "/api/equity?strategy=net&since=5&max_points=10",
            PORTFOLIO_EQUITY,
            EquityReply(
                series={"net": (EquityPoint(ts_event=6, pnl=Decimal("-1.5"), total_value=Decimal("99")),)}
            ),
            EquityQuery(strategy="net", since=5, max_points=10),
        ),
    ],
)
async def test_read_forwards_the_query_and_returns_the_reply(
    gateway: Gateway, rooms: Rooms, url: str, subject: str, reply: object, query: object
) -> None:
    rooms.replies[subject] = reply  # type: ignore[assignment]
    rooms.asked.pop(subject, None)
    async with gateway.client() as c:
        r = await c.get(url, headers=V)
    assert r.status_code == 200
    assert type(reply).model_validate(r.json()) == reply  # type: ignore[attr-defined]
    if query is not None:
        assert rooms.asked[subject] == [query]


@pytest.mark.parametrize(
    "url", ["/api/positions", "/api/orders", "/api/fills", "/api/pnl", "/api/risk", "/api/equity"]
)
async def test_a_silent_room_is_503_naming_the_subject(gateway: Gateway, rooms: Rooms, url: str) -> None:
    subject = {
        "/api/positions": EXEC_POSITIONS, "/api/orders": EXEC_ORDERS, "/api/fills": PORTFOLIO_FILLS,
        "/api/pnl": PORTFOLIO_PNL, "/api/risk": PORTFOLIO_RISK, "/api/equity": PORTFOLIO_EQUITY,
    }[url]  # fmt: skip
    rooms.silent.add(subject)
    try:
        async with gateway.client() as c:
            r = await c.get(url, headers=V)
    finally:
        rooms.silent.discard(subject)
    assert r.status_code == 503 and subject in r.json()["detail"]


async def test_a_room_answering_an_error_is_503_with_its_reason(gateway: Gateway, rooms: Rooms) -> None:
    rooms.replies[PORTFOLIO_PNL] = PnlReply(error="database is down")
    async with gateway.client() as c:
        r = await c.get("/api/pnl", headers=V)
    rooms.replies[PORTFOLIO_PNL] = PnlReply()
    assert r.status_code == 503 and "database is down" in r.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/fills?limit=abc", "/api/fills?limit=1.5", "/api/fills?limit=0", "/api/fills?limit=1001",
        "/api/fills?cursor=xyz", "/api/fills?strategy=a.b", "/api/equity?since=-1",
        "/api/equity?max_points=1",
        "/api/risk?limit=", "/api/orders?owner=a%20b", "/api/audit?limit=true",
    ],
)  # fmt: skip
async def test_bad_query_parameters_are_422(gateway: Gateway, url: str) -> None:
    async with gateway.client() as c:
        r = await c.get(url, headers=V)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "query"


async def test_health_comes_from_heartbeats(gateway: Gateway, bus: Bus) -> None:
    await bus.publish(
        heartbeat("execution"), Heartbeat(service="execution", instance="i-1", ts_event=now_ns())
    )

    async def rows() -> list[dict[str, Any]] | None:
        async with gateway.client() as c:
            services = (await c.get("/api/health", headers=V)).json()["services"]
        return [s for s in services if s["service"] == "execution"]

    found: list[dict[str, Any]] = await eventually(rows, what="execution in /api/health")
    [row] = found
    assert row["instance"] == "i-1" and row["state"] == "running" and 0 <= row["last_seen_s"] < 10
