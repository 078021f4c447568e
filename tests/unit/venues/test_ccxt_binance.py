"""The generic ccxt adapter against recorded Binance spot payloads (ccxt's real request building,
signing and parsing; only the HTTP transport is replaced)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from proto import OrderStatus, OrderType, Side
from tests.venuekit.recorded import RecordedTransport, Request, load
from tradebus.venues.base import OrderRequest, VenueError
from tradebus.venues.ccxt.exchange import build_exchange
from tradebus.venues.ccxt.feed import CcxtFeed
from tradebus.venues.ccxt.trading import CcxtTradingClient

MIN = 60_000


def _klines(req: Request) -> Any:
    rows = load("binance", "klines_1m.json")
    start = int(req.query.get("startTime", 0))
    limit = int(req.query.get("limit", 500))
    return [r for r in rows if r[0] >= start][:limit]


def _order_answer(name: str) -> Any:
    def answer(req: Request) -> Any:
        order = load("binance", name)
        order["clientOrderId"] = req.query.get("newClientOrderId") or req.body.get("newClientOrderId")
        return order

    return answer


@pytest.fixture
async def binance() -> AsyncIterator[tuple[CcxtFeed, CcxtTradingClient, RecordedTransport]]:
    creds = {"apiKey": SecretStr("k" * 64), "secret": SecretStr("s" * 64)}
    ex = build_exchange(
        "binance",
        credentials=creds,
        options={"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
    )
    transport = RecordedTransport()
    transport.on("GET", "/api/v3/exchangeInfo", load("binance", "exchangeInfo.json"))
    transport.on("GET", "/api/v3/klines", _klines)
    transport.install(ex)
    feed = CcxtFeed(ex, "ccxt:binance")
    client = CcxtTradingClient(feed, cash_currency="USDT")
    yield feed, client, transport
    await ex.close()


async def test_symbols_are_discovered_from_the_venue(binance: Any) -> None:
    feed, _, _ = binance
    instruments = {i.symbol: i for i in await feed.instruments()}
    assert set(instruments) == {"BTC-USDT", "ETH-USDT"}  # OLDUSDT is not trading
    btc = instruments["BTC-USDT"]
    assert (btc.base, btc.quote) == ("BTC", "USDT")
    assert btc.price_increment == Decimal("0.01")
    assert btc.size_increment == Decimal("0.00001")
    assert btc.min_size == Decimal("0.00001")


async def test_candles_page_and_keep_only_closed_ones(binance: Any) -> None:
    feed, _, transport = binance
    rows = load("binance", "klines_1m.json")
    end = (rows[-1][0] + 30_000) * 1_000_000  # in the middle of the last bar: it is not closed
    got = await feed.candles("BTC-USDT", "1m", limit=3, end=end)
    assert [c.ts_open for c in got] == [r[0] * 1_000_000 for r in rows[-4:-1]]
    assert [c.close for c in got] == [float(r[4]) for r in rows[-4:-1]]
    asked = [r for r in transport.requests if r.path == "/api/v3/klines"]
    assert asked[0].query["symbol"] == "BTCUSDT"
    assert asked[0].query["interval"] == "1m"


async def test_unknown_symbol_and_interval_are_named(binance: Any) -> None:
    feed, _, _ = binance
    with pytest.raises(VenueError, match="DOGE-USDT"):
        await feed.candles("DOGE-USDT", "1m", limit=3)
    with pytest.raises(VenueError, match="'5s'"):
        await feed.candles("BTC-USDT", "5s", limit=3)


async def test_client_order_id_passes_through_a_signed_request(binance: Any) -> None:
    _, client, transport = binance
    transport.on("POST", "/api/v3/order", _order_answer("order_market_filled.json"))
    order = await client.submit(OrderRequest("strat-a-1", "BTC-USDT", Side.BUY, Decimal("0.01")))
    assert order.client_order_id == "strat-a-1"
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == Decimal("0.01")
    assert order.avg_price == Decimal("87050")
    sent = [r for r in transport.requests if r.path == "/api/v3/order"]
    assert len(sent) == 1
    params = {**sent[0].query, **sent[0].body}
    assert params["newClientOrderId"] == "strat-a-1"
    assert params["symbol"] == "BTCUSDT" and params["side"] == "BUY" and params["type"] == "MARKET"
    assert "signature" in params
    assert sent[0].headers.get("X-MBX-APIKEY") == "k" * 64
    again = await client.submit(OrderRequest("strat-a-1", "BTC-USDT", Side.BUY, Decimal("0.01")))
    assert again == order
    assert len([r for r in transport.requests if r.path == "/api/v3/order"]) == 1


async def test_post_only_is_a_limit_maker(binance: Any) -> None:
    _, client, transport = binance
    transport.on("POST", "/api/v3/order", _order_answer("order_limit_new.json"))
    order = await client.submit(
        OrderRequest("mm-1", "ETH-USDT", Side.BUY, Decimal("0.5"), OrderType.POST_ONLY, Decimal("2900"))
    )
    assert order.status is OrderStatus.ACKED
    assert order.price == Decimal("2900")
    sent = next(r for r in transport.requests if r.path == "/api/v3/order")
    assert {**sent.query, **sent.body}["type"] == "LIMIT_MAKER"


async def test_below_minimum_size_is_refused_before_sending(binance: Any) -> None:
    _, client, transport = binance
    with pytest.raises(VenueError, match="minimum size"):
        await client.submit(OrderRequest("tiny", "BTC-USDT", Side.BUY, Decimal("0.000001")))
    assert not [r for r in transport.requests if r.path == "/api/v3/order"]


async def test_fills_carry_our_client_order_id_and_balance_reads_holdings(binance: Any) -> None:
    _, client, transport = binance
    transport.on("POST", "/api/v3/order", _order_answer("order_market_filled.json"))
    transport.on("GET", "/api/v3/myTrades", load("binance", "myTrades_BTCUSDT.json"))
    transport.on("GET", "/api/v3/account", load("binance", "account.json"))
    await client.submit(OrderRequest("strat-a-1", "BTC-USDT", Side.BUY, Decimal("0.01")))
    fills = await client.fills()
    assert [(f.client_order_id, f.qty, f.price, f.fee, f.liquidity) for f in fills] == [
        ("strat-a-1", Decimal("0.01"), Decimal("87050"), Decimal("0.8705"), "taker")
    ]
    balance = await client.balance()
    assert balance.cash == Decimal("9129.5")
    assert balance.positions == {"BTC-USDT": Decimal("0.01")}


async def test_network_trouble_is_retryable(binance: Any) -> None:
    import ccxt

    _, client, transport = binance

    def timeout(_: Request) -> Any:
        raise ccxt.RequestTimeout("binance GET timed out")

    def refused(_: Request) -> Any:
        raise ccxt.InsufficientFunds("binance Account has insufficient balance")

    transport.on("POST", "/api/v3/order", timeout)
    with pytest.raises(VenueError) as slow:
        await client.submit(OrderRequest("x-1", "BTC-USDT", Side.BUY, Decimal("0.01")))
    assert slow.value.retryable
    transport.on("POST", "/api/v3/order", refused)
    with pytest.raises(VenueError) as poor:
        await client.submit(OrderRequest("x-2", "BTC-USDT", Side.BUY, Decimal("0.01")))
    assert not poor.value.retryable


async def test_the_network_guard_stops_a_real_request(no_network: list[str]) -> None:
    ex = build_exchange("binance", options={"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False})
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever ccxt wraps it in
            await asyncio.wait_for(ex.load_markets(), 10)
    finally:
        await ex.close()
    assert "api.binance.com" in no_network
