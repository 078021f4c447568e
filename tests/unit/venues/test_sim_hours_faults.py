"""Market hours and fault injection of the sim: the pure rules and the server applying them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from tradebus.venues.base import Balance
from tradebus.venues.clock import MarketClock, MarketHours, closing_orders, liquidation_due
from tradebus.venues.sim.faults import FaultPlan, Verdict
from tradebus.venues.sim.server import create_app
from tradebus.venues.sim.settings import SimSettings

NY = ZoneInfo("America/New_York")
S = 10**9


def ns(y: int, mo: int, d: int, h: int, mi: int, tz: ZoneInfo = NY) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=tz).timestamp()) * S


def test_a_weekday_session_in_new_york_across_dst() -> None:
    hours = MarketHours()
    mon = hours.clock(ns(2026, 3, 9, 10, 0))  # the Monday after the DST switch
    assert mon.is_open and mon.next_close == ns(2026, 3, 9, 16, 0)
    assert mon.next_close - ns(2026, 3, 9, 14, 0, ZoneInfo("UTC")) == 6 * 3600 * S  # 16:00 EDT = 20:00 UTC
    sat = hours.clock(ns(2026, 3, 7, 12, 0))
    assert not sat.is_open and sat.next_open == ns(2026, 3, 9, 9, 30)
    holiday = MarketHours(holidays=(date(2026, 1, 19),)).clock(ns(2026, 1, 19, 11, 0))
    assert not holiday.is_open and holiday.next_open == ns(2026, 1, 20, 9, 30)


@given(st.integers(1_700_000_000, 1_900_000_000))
def test_clock_is_consistent(t: int) -> None:
    c = MarketHours().clock(t * S)
    assert c.next_open > c.ts and c.next_close > c.ts
    assert c.is_open == (c.next_close < c.next_open)
    local = datetime.fromtimestamp(t, UTC).astimezone(NY)
    if local.weekday() >= 5:
        assert not c.is_open


def test_bad_hours_are_named() -> None:
    with pytest.raises(ValueError, match="before close"):
        MarketHours(open="17:00")
    with pytest.raises(ValueError, match="market hours"):
        SimSettings(market_hours=True, market_open="9h30")


def test_liquidation_is_due_only_near_an_open_close() -> None:
    c = MarketClock(ts=1000 * S, is_open=True, next_open=2000 * S, next_close=1300 * S)
    assert liquidation_due(c, 300) and not liquidation_due(c, 299)
    assert not liquidation_due(MarketClock(1000 * S, False, 1100 * S, 1200 * S), 3600)
    from decimal import Decimal

    orders = closing_orders(
        Balance(Decimal(0), {"A-USD": Decimal(2), "B-USD": Decimal(-1), "C-USD": Decimal(0)}), "eod"
    )
    assert [(o.client_order_id, o.side.value, o.qty) for o in orders] == [
        ("eod-A-USD", "sell", Decimal(2)),
        ("eod-B-USD", "buy", Decimal(1)),
    ]


def test_fault_plan_verdicts() -> None:
    plan = FaultPlan(error_rate=0.1, timeout_rate=0.2, outage_start_s=10, outage_s=5, ws_drop_every_s=3)
    assert plan.rest(1, 0.05) is Verdict.ERROR
    assert plan.rest(1, 0.25) is Verdict.TIMEOUT
    assert plan.rest(1, 0.5) is Verdict.OK
    assert plan.rest(12, 0.5) is Verdict.OUTAGE
    assert plan.rest(15, 0.5) is Verdict.OK  # the window is half-open
    assert plan.ws_lifetime(12) == 0
    assert plan.ws_lifetime(9) == pytest.approx(1)  # cut at the outage
    assert plan.ws_lifetime(20) == 3
    with pytest.raises(ValueError, match="must not exceed 1"):
        FaultPlan(error_rate=0.6, timeout_rate=0.6)


@pytest.fixture
def closed_market() -> Iterator[TestClient]:
    saturday = ns(2026, 3, 7, 12, 0)
    cfg = SimSettings(history_hours=0.05, api_keys=[SecretStr("k")], start_ts=saturday, market_hours=True)
    with TestClient(create_app(cfg)) as c:
        yield c


def test_sim_refuses_orders_while_closed_and_serves_its_clock(closed_market: TestClient) -> None:
    clock = closed_market.get("/api/v1/clock").json()
    assert clock["is_open"] is False and clock["next_open"] == ns(2026, 3, 9, 9, 30)
    body = {"client_order_id": "c1", "symbol": "BTC-USD", "side": "buy", "qty": "0.01"}
    r = closed_market.post("/api/v1/orders", json=body, headers={"X-API-Key": "k"})
    assert r.status_code == 400 and "market is closed" in r.json()["error"]


def test_sim_outage_window_and_timeouts() -> None:
    cfg = SimSettings(history_hours=0.05, api_keys=[SecretStr("k")], outage_start_s=0, outage_s=3600)
    with TestClient(create_app(cfg)) as c:
        r = c.get("/api/v1/symbols")
        assert (r.status_code, r.json()["error"]) == (503, "injected outage")
        assert c.get("/api/v1/health").status_code == 200  # health stays up
    cfg = SimSettings(history_hours=0.05, api_keys=[SecretStr("k")], timeout_rate=1, timeout_s=0.05)
    with TestClient(create_app(cfg)) as c:
        assert c.get("/api/v1/symbols").status_code == 504


def test_sim_closes_websockets_during_an_outage() -> None:
    from starlette.websockets import WebSocketDisconnect

    cfg = SimSettings(history_hours=0.05, api_keys=[SecretStr("k")], outage_start_s=0, outage_s=3600)
    with TestClient(create_app(cfg)) as c, c.websocket_connect("/ws/market") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1012
