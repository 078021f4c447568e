"""Alpaca (equities) against recorded payloads: assets, paged bars, the market clock, orders with
our client order id, fills, positions, the data stream, trade updates and dry-run fills."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from proto import OrderStatus, OrderType, Side
from tests.venuekit.recorded import RecordedTransport, Request, load
from tests.venuekit.wsstub import send_json, ws_stub
from tradebus.venues.alpaca import parse
from tradebus.venues.alpaca.client import AlpacaFeed, AlpacaTradingClient, liquidate_if_due
from tradebus.venues.base import OrderNotFound, OrderRequest, VenueError, VenueFill, VenueOrder
from tradebus.venues.ccxt.exchange import build_exchange
from tradebus.venues.clock import MarketClock
from tradebus.venues.dryrun import DryRunTradingClient
from tradebus.venues.registry import open_trading

CREDS = {"apiKey": SecretStr("PKTEST"), "secret": SecretStr("secret")}


def _bars(req: Request) -> Any:
    pages = load("alpaca", "bars_AAPL_1m.json")
    return pages["page2"] if req.query.get("page_token") else pages["page1"]


def _order_by_client_id(store: dict[str, Any]) -> Any:
    def answer(req: Request) -> Any:
        cid = req.query["client_order_id"]
        if cid not in store:
            import ccxt

            raise ccxt.OrderNotFound(f'alpaca {{"code":40410000,"message":"order not found for {cid}"}}')
        return store[cid]

    return answer


@pytest.fixture
async def alpaca() -> AsyncIterator[
    tuple[AlpacaFeed, AlpacaTradingClient, RecordedTransport, dict[str, Any]]
]:
    ex = build_exchange("alpaca", sandbox=True, credentials=CREDS, config={"rateLimit": 5})
    transport = RecordedTransport()
    orders: dict[str, Any] = {}

    def submit(req: Request) -> Any:
        order = {**load("alpaca", "order_accepted.json"), "client_order_id": req.body["client_order_id"]}
        orders.setdefault(req.body["client_order_id"], order)
        return order

    transport.on("GET", "/v2/assets", load("alpaca", "assets.json"))
    transport.on("GET", "/v2/stocks/bars", _bars)
    transport.on("GET", "/v2/clock", load("alpaca", "clock.json"))
    transport.on("POST", "/v2/orders", submit)
    transport.on("GET", "/v2/orders:by_client_order_id", _order_by_client_id(orders))
    transport.on("GET", "/v2/account/activities/FILL", load("alpaca", "activities_fill.json"))
    transport.on("GET", f"/v2/orders/{load('alpaca', 'order_accepted.json')['id']}", lambda _: orders["al-1"])
    transport.on("GET", "/v2/account", load("alpaca", "account.json"))
    transport.on("GET", "/v2/positions", load("alpaca", "positions.json"))
    transport.on("DELETE", "/v2/positions", [])
    transport.install(ex)
    feed = AlpacaFeed(ex)
    yield feed, AlpacaTradingClient(feed), transport, orders
    await ex.close()


async def test_tradable_equities_are_discovered(alpaca: Any) -> None:
    feed, _, transport, _ = alpaca
    found = {i.symbol: i for i in await feed.instruments()}
    assert set(found) == {"AAPL-USD", "BRK.A-USD"}
    assert found["AAPL-USD"].size_increment == Decimal("0.000000001")  # fractionable
    assert found["BRK.A-USD"].min_size == Decimal(1)
    req = transport.requests[0]
    assert req.query["asset_class"] == "us_equity"
    assert req.headers["APCA-API-KEY-ID"] == "PKTEST"


async def test_bars_follow_page_tokens(alpaca: Any) -> None:
    feed, _, transport, _ = alpaca
    pages = load("alpaca", "bars_AAPL_1m.json")
    every = pages["page1"]["bars"]["AAPL"] + pages["page2"]["bars"]["AAPL"]
    end = parse.ts_ns(every[-1]["t"], "t") + 60 * 10**9  # the last bar has closed
    got = await feed.candles("AAPL-USD", "1m", limit=4, end=end)
    assert [c.close for c in got] == [b["c"] for b in every[-4:]]
    asked = [r for r in transport.requests if r.path == "/v2/stocks/bars"]
    assert [r.query.get("page_token") for r in asked] == [None, pages["page1"]["next_page_token"]]
    assert asked[0].query["timeframe"] == "1Min" and asked[0].query["symbols"] == "AAPL"
    with pytest.raises(VenueError, match="no '5s' bars"):
        await feed.candles("AAPL-USD", "5s", limit=4)


async def test_the_clock_and_liquidation_before_the_close(alpaca: Any) -> None:
    _, client, transport, _ = alpaca
    clock = await client.clock()
    assert clock.is_open
    assert clock.next_close - clock.ts == (9 * 60 + 29) * 10**9 + 876_543_211  # keeps nanoseconds
    assert not await liquidate_if_due(client, lead_s=300)
    assert not [r for r in transport.requests if r.method == "DELETE"]
    assert await liquidate_if_due(client, lead_s=600)
    assert [r.path for r in transport.requests if r.method == "DELETE"] == ["/v2/positions"]


async def test_orders_carry_our_client_order_id_and_resubmits_are_idempotent(alpaca: Any) -> None:
    _, client, transport, _ = alpaca
    req = OrderRequest("al-1", "AAPL-USD", Side.BUY, Decimal(2), OrderType.LIMIT, Decimal(190))
    placed = await client.submit(req)
    assert (placed.client_order_id, placed.status, placed.price) == ("al-1", OrderStatus.ACKED, Decimal(190))
    body = next(r for r in transport.requests if r.method == "POST").body
    assert body == {
        "symbol": "AAPL", "qty": "2", "side": "buy", "type": "limit", "time_in_force": "day",
        "client_order_id": "al-1", "limit_price": "190",
    }  # fmt: skip

    def duplicate(_: Request) -> Any:
        import ccxt

        raise ccxt.InvalidOrder('alpaca {"code":40010001,"message":"client_order_id must be unique"}')

    transport.on("POST", "/v2/orders", duplicate)
    assert await client.submit(req) == placed
    with pytest.raises(OrderNotFound):
        await client.order("never-sent")
    with pytest.raises(VenueError, match="post-only"):
        await client.submit(
            OrderRequest("al-2", "AAPL-USD", Side.BUY, Decimal(1), OrderType.POST_ONLY, Decimal(1))
        )


async def test_fills_and_positions(alpaca: Any) -> None:
    _, client, _, _ = alpaca
    await client.submit(OrderRequest("al-1", "AAPL-USD", Side.BUY, Decimal(2), OrderType.LIMIT, Decimal(190)))
    fills = await client.fills()
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [("al-1", Decimal(2), Decimal("189.98"))]
    balance = await client.balance()
    assert balance.cash == Decimal("99620.04")
    assert balance.positions == {"AAPL-USD": Decimal(2), "TSLA-USD": Decimal(-3)}


def _stream_player(rec: dict[str, Any], received: list[dict[str, Any]]) -> Any:
    async def play(ws: ServerConnection, n: int) -> None:
        try:
            await send_json(ws, rec["welcome"])
            async for raw in ws:
                msg = json.loads(raw)
                received.append(msg)
                if msg.get("action") == "auth":
                    await send_json(ws, rec["authenticated"])
                elif msg.get("action") == "subscribe":
                    await send_json(ws, rec["subscribed"])
                    await send_json(ws, rec["data"])
                elif msg.get("action") == "listen":
                    await ws.send(json.dumps(rec["trade_update"]).encode())  # trade_updates come as binary
        except ConnectionClosed:
            return

    return play


async def test_data_stream_joins_quotes_with_trades(alpaca: Any) -> None:
    feed, _, _, _ = alpaca
    rec = load("alpaca", "stream.json")
    received: list[dict[str, Any]] = []
    async with ws_stub(_stream_player(rec, received)) as (url, _):
        feed.stream_url = url
        async with asyncio.timeout(10):
            tick = await anext(aiter(feed.ticks(["AAPL-USD"])))
    assert (tick.symbol, tick.bid, tick.ask, tick.last, tick.last_qty) == (
        "AAPL-USD",
        190.2,
        190.3,
        190.25,
        5.0,
    )
    assert tick.ts_event == parse.ts_ns(rec["data"][1]["t"], "t")
    assert received[0] == {"action": "auth", "key": "PKTEST", "secret": "secret"}


async def test_trade_updates_give_the_fill_then_the_order(alpaca: Any) -> None:
    _, client, _, _ = alpaca
    rec = load("alpaca", "stream.json")
    async with ws_stub(_stream_player(rec, [])) as (url, _):
        client.stream_url = url
        got: list[VenueOrder | VenueFill] = []
        async with asyncio.timeout(10):
            async for event in client.events():
                got.append(event)
                if len(got) == 2:
                    break
    fill, order = got
    assert isinstance(fill, VenueFill) and isinstance(order, VenueOrder)
    assert (fill.client_order_id, fill.qty, fill.price) == ("al-1", Decimal(2), Decimal("189.98"))
    assert order.status is OrderStatus.FILLED


async def test_dry_run_never_posts_an_order(alpaca: Any) -> None:
    feed, _, transport, _ = alpaca
    rec = load("alpaca", "stream.json")
    async with ws_stub(_stream_player(rec, [])) as (url, _):
        feed.stream_url = url
        client = open_trading("alpaca", "", SecretStr(""), feed=feed)
        assert isinstance(client, DryRunTradingClient)
        try:
            order = await client.submit(OrderRequest("dr-1", "AAPL-USD", Side.BUY, Decimal("1.5")))
        finally:
            await client.aclose()
    assert (order.status, order.avg_price) == (OrderStatus.FILLED, Decimal("190.3"))
    assert not [r for r in transport.requests if r.method in ("POST", "DELETE", "PATCH")]


def test_clock_parse_rejects_garbage() -> None:
    with pytest.raises(VenueError, match="next_open"):
        parse.clock(
            {"timestamp": "2026-01-05T15:00:00Z", "is_open": True, "next_open": "soon", "next_close": ""}
        )
    assert isinstance(parse.clock(load("alpaca", "clock.json")), MarketClock)
