"""Lighter through ccxt against recorded payloads: markets, base-unit scaling, minimum sizes,
candles, the order book + trades stream (with a dropped connection), and dry-run fills."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from proto import OrderStatus, OrderType, Side, Tick
from tests.unit.venues.lighter_kit import lighter, stream_player
from tests.venuekit.recorded import load
from tests.venuekit.wsstub import ws_stub
from tradebus.venues.base import OrderRequest, VenueError
from tradebus.venues.ccxt.feed import CcxtFeed
from tradebus.venues.dryrun import DryRunTradingClient
from tradebus.venues.lighter.adapter import LighterTradingClient
from tradebus.venues.lighter.scaling import MAX_CLIENT_INDEX, LighterMarket, client_index
from tradebus.venues.registry import open_trading

SOL_DETAILS = load("lighter", "orderBookDetails.json")["order_book_details"][1]


async def test_markets_come_from_the_venue_with_their_minimum_sizes() -> None:
    ex, _ = lighter()
    feed = CcxtFeed(ex, "lighter")
    try:
        found = {i.symbol: i for i in await feed.instruments()}
    finally:
        await ex.close()
    assert set(found) == {"ETH-USDC-PERP", "SOL-USDC-PERP"}  # the inactive market is left out
    sol = found["SOL-USDC-PERP"]
    assert sol.min_size == Decimal("0.001")
    assert sol.size_increment == Decimal("0.001")
    assert sol.price_increment == Decimal("0.001")


@settings(max_examples=60, deadline=None)
@given(units=st.integers(min_value=1, max_value=10**7), price_units=st.integers(min_value=1, max_value=10**9))
def test_base_unit_scaling_matches_ccxts_order_request(units: int, price_units: int) -> None:
    market = LighterMarket.from_details(SOL_DETAILS)
    qty = Decimal(units).scaleb(-market.size_decimals)
    price = Decimal(price_units).scaleb(-market.price_decimals)
    ex = _LOADED["ex"]
    request = ex.create_order_request(
        "SOL/USDC:USDC",
        "limit",
        "buy",
        float(qty),
        float(price),
        {"accountIndex": 1, "apiKeyIndex": 0, "nonce": 1},
    )[0]
    assert request["base_amount"] == market.base_amount(qty) == units
    assert request["avg_execution_price"] == market.price_units(price) == price_units
    assert market.qty_of(request["base_amount"]) == qty


_LOADED: dict[str, Any] = {}


@pytest.fixture(autouse=True, scope="module")
def _loaded_exchange() -> object:
    """One ccxt lighter with recorded markets, for the property test (Hypothesis runs it a lot)."""
    ex, _ = lighter()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(ex.load_markets())
    _LOADED["ex"] = ex
    yield
    loop.run_until_complete(ex.close())
    loop.close()


def test_sizes_below_the_minimum_or_too_fine_are_refused() -> None:
    market = LighterMarket.from_details(SOL_DETAILS)
    with pytest.raises(ValueError, match=r"minimum size 0\.001"):
        market.base_amount(Decimal("0.0009"))
    with pytest.raises(ValueError, match="more than 3 decimals"):
        market.base_amount(Decimal("0.0015"))
    with pytest.raises(ValueError, match="min_base_amount"):
        LighterMarket.from_details({k: v for k, v in SOL_DETAILS.items() if k != "min_base_amount"})


@given(st.text(min_size=1, max_size=64))
def test_client_index_is_a_stable_48_bit_number(cid: str) -> None:
    index = client_index(cid)
    assert 1 <= index <= MAX_CLIENT_INDEX
    assert client_index(cid) == index


async def test_live_client_refuses_a_small_order_before_signing() -> None:
    ex, transport = lighter()
    client = LighterTradingClient(CcxtFeed(ex, "lighter"))
    try:
        with pytest.raises(VenueError, match="minimum size"):
            await client.submit(OrderRequest("s-1", "SOL-USDC-PERP", Side.BUY, Decimal("0.0005")))
    finally:
        await ex.close()
    assert {r.path for r in transport.requests} <= {"/api/v1/orderBookDetails", "/api/v1/assetDetails"}


async def test_candles_are_parsed_and_only_closed_ones_kept() -> None:
    ex, transport = lighter()
    feed = CcxtFeed(ex, "lighter")
    rows = load("lighter", "candles_SOL_1m.json")["c"]
    end = (rows[-1]["t"] + 1) * 1_000_000  # the last bar has only just opened
    try:
        got = await feed.candles("SOL-USDC-PERP", "1m", limit=3, end=end)
    finally:
        await ex.close()
    assert [c.ts_open // 1_000_000 for c in got] == [r["t"] for r in rows[-4:-1]]
    assert [(c.open, c.high, c.low, c.close, c.volume) for c in got] == [
        (r["o"], r["h"], r["l"], r["c"], r["v"]) for r in rows[-4:-1]
    ]
    assert next(r for r in transport.requests if r.path == "/api/v1/candles").query["market_id"] == "2"


async def test_stream_gives_ticks_and_survives_a_dropped_connection() -> None:
    async with ws_stub(stream_player(drop_first=True)) as (url, connections):
        ex, _ = lighter(url)
        feed = CcxtFeed(ex, "lighter", max_backoff_s=0.5)
        got: list[Tick] = []
        try:
            async with asyncio.timeout(20):
                async for tick in feed.ticks(["SOL-USDC-PERP"]):
                    got.append(tick)
                    if (tick.bid, tick.ask) == (140.15, 140.2):
                        break
        finally:
            await ex.close()
    assert len(connections) >= 2  # the first was dropped; the feed came back on its own
    assert (got[0].bid, got[0].ask) == (140.24, 140.26)
    assert all(t.symbol == "SOL-USDC-PERP" and t.venue == "lighter" for t in got)
    assert got[-1].ts_event == load("lighter", "stream.json")["book_update"]["timestamp"] * 1_000_000


async def test_dry_run_fills_on_paper_against_the_live_book() -> None:
    go = asyncio.Event()
    async with ws_stub(stream_player(update_after=go)) as (url, _):
        ex, transport = lighter(url)
        client = open_trading("lighter", "", SecretStr(""), feed=CcxtFeed(ex, "lighter"))
        assert isinstance(client, DryRunTradingClient)
        try:
            bought = await client.submit(OrderRequest("d-1", "SOL-USDC-PERP", Side.BUY, Decimal("0.5")))
            assert (bought.status, bought.avg_price) == (OrderStatus.FILLED, Decimal("140.26"))
            resting = await client.submit(
                OrderRequest(
                    "d-2", "SOL-USDC-PERP", Side.BUY, Decimal("0.2"), OrderType.LIMIT, Decimal("140.21")
                )
            )
            assert resting.status is OrderStatus.ACKED
            with pytest.raises(VenueError, match="minimum size"):
                await client.submit(OrderRequest("d-3", "SOL-USDC-PERP", Side.BUY, Decimal("0.0001")))
            go.set()  # the ask drops to 140.20: the resting buy is reached
            async with asyncio.timeout(10):
                while (await client.order("d-2")).status is not OrderStatus.FILLED:
                    await asyncio.sleep(0.01)  # poll with a deadline
            fills = await client.fills()
            balance = await client.balance()
        finally:
            await client.aclose()
            await ex.close()
    assert [(f.client_order_id, f.price, f.liquidity) for f in fills] == [
        ("d-1", Decimal("140.26"), "taker"),
        ("d-2", Decimal("140.21"), "maker"),
    ]
    assert balance.positions == {"SOL-USDC-PERP": Decimal("0.7")}
    assert not [r for r in transport.requests if r.method != "GET"]  # nothing was sent to trade


def test_live_without_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="needs credentials"):
        open_trading("lighter", "", SecretStr(""), live=True)
