"""The real sim server (a subprocess) driven through SimFeed and SimTradingClient."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from proto import OrderStatus, OrderType, Side, Tick
from tests.integration.sim.conftest import start_sim, stop_sim
from tradebus.venues.base import (
    MarketFeed,
    OrderNotFound,
    OrderRequest,
    TradingClient,
    VenueError,
    VenueFill,
    VenueOrder,
)
from tradebus.venues.sim.client import SimFeed, SimTradingClient

SEC = 1_000_000_000


@pytest.fixture
async def feed(sim_url: str) -> AsyncIterator[SimFeed]:
    async with SimFeed(sim_url) as f:
        yield f


@pytest.fixture
async def trader(sim_url: str) -> AsyncIterator[SimTradingClient]:
    async with SimTradingClient(sim_url, SecretStr("sim-key")) as t:
        yield t


def _server_now(url: str) -> int:
    ts: int = httpx.get(f"{url}/api/v1/time").json()["ts"]
    return ts


def test_adapters_satisfy_the_protocols(feed: SimFeed, trader: SimTradingClient) -> None:
    as_feed: MarketFeed = feed
    as_trader: TradingClient = trader
    assert as_feed.venue == as_trader.venue == "sim"


async def test_instruments(feed: SimFeed) -> None:
    inst = {i.symbol: i for i in await feed.instruments()}
    assert set(inst) == {"BTC-USD", "ETH-USD", "SOL-USD"}
    assert inst["BTC-USD"].min_size >= inst["BTC-USD"].size_increment > 0


@pytest.mark.parametrize(("interval", "seconds", "limit"), [("1s", 1, 600), ("5s", 5, 300), ("1m", 60, 150)])
async def test_history_is_there_at_once_at_any_interval(
    feed: SimFeed, sim_url: str, interval: str, seconds: int, limit: int
) -> None:
    candles = await feed.candles("BTC-USD", interval, limit=limit)
    now = _server_now(sim_url)
    assert len(candles) == limit
    iv = seconds * SEC
    opens = [c.ts_open for c in candles]
    assert all(b - a == iv for a, b in itertools.pairwise(opens))
    assert all(t % iv == 0 for t in opens)
    assert candles[-1].ts_open + iv <= now
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)
    assert all(c.venue == "sim" and c.interval == interval and c.closed for c in candles)
    assert 40_000 < candles[-1].close < 100_000


async def test_more_candles_than_one_page_come_back_contiguous(feed: SimFeed) -> None:
    candles = await feed.candles("SOL-USD", "1s", limit=10_500)
    assert len(candles) == 10_500
    opens = [c.ts_open for c in candles]
    assert all(b - a == SEC for a, b in itertools.pairwise(opens))


async def test_candles_end_at_or_before_end(feed: SimFeed, sim_url: str) -> None:
    end = _server_now(sim_url) - 3600 * SEC + 17 * SEC
    candles = await feed.candles("ETH-USD", "1m", limit=10, end=end)
    assert len(candles) == 10
    assert candles[-1].ts_open + 60 * SEC <= end < candles[-1].ts_open + 120 * SEC


async def test_sim_time_runs_at_clock_speed(feed: SimFeed, sim_url: str) -> None:
    wall0 = time.monotonic_ns()
    sim0 = _server_now(sim_url)
    await feed.candles("BTC-USD", "1s", limit=10_000)  # some work between the two readings
    sim1 = _server_now(sim_url)
    wall1 = time.monotonic_ns()
    ratio = (sim1 - sim0) / (wall1 - wall0)
    assert 20 * 0.5 < ratio <= 20 * 1.02  # the wall span contains the sim span


async def test_bad_candle_request_is_a_clear_error(feed: SimFeed) -> None:
    with pytest.raises(VenueError, match="symbol") as err:
        await feed.candles("NOPE-USD", "1m", limit=5)
    assert not err.value.retryable


async def test_ticks_stream_in_sim_time(feed: SimFeed) -> None:
    got: list[Tick] = []
    async with asyncio.timeout(10):
        async for tick in feed.ticks(["ETH-USD"]):
            got.append(tick)
            if len(got) == 6:
                break
    assert {t.symbol for t in got} == {"ETH-USD"}
    assert all(t.venue == "sim" and t.ask > t.bid > 0 for t in got)
    stamps = [t.ts_event for t in got]
    assert stamps == sorted(stamps)
    assert stamps[-1] > stamps[0]  # sim time moved on between ticks


async def eventually(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_market_order_fill_arrives_on_events(trader: SimTradingClient, sim_url: str) -> None:
    received: list[VenueOrder | VenueFill] = []

    async def consume() -> None:
        async for ev in trader.events():
            received.append(ev)

    task = asyncio.create_task(consume())
    try:
        # The stream connects in the background; place small orders until one's final update
        # arrives. Each attempt is a new order, so this proves delivery, not timing.
        for attempt in range(40):
            cid = f"evt-{attempt}"
            order = await trader.submit(OrderRequest(cid, "ETH-USD", Side.BUY, Decimal("0.01")))
            assert order.status is OrderStatus.FILLED

            def done(cid: str = cid) -> bool:
                return any(isinstance(e, VenueOrder) and e.client_order_id == cid for e in received)

            if await eventually(done, timeout=0.5):
                break
        else:
            pytest.fail("no order update arrived on events()")
        mine = [e for e in received if e.client_order_id == cid]
        fills = [e for e in mine if isinstance(e, VenueFill)]
        assert fills == [f for f in await trader.fills() if f.client_order_id == cid]
        assert mine[-1] == await trader.order(cid)
        assert abs(fills[0].ts_event - _server_now(sim_url)) < 60 * SEC  # sim time
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_limit_order_rests_then_cancels(trader: SimTradingClient, sim_url: str) -> None:
    bid = Decimal(httpx.get(f"{sim_url}/api/v1/ticker", params={"symbol": "BTC-USD"}).json()["bid"])
    price = (bid * Decimal("0.8")).quantize(Decimal("0.01"))
    order = await trader.submit(
        OrderRequest("rest-1", "BTC-USD", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price)
    )
    assert order.status is OrderStatus.ACKED
    assert "rest-1" in {o.client_order_id for o in await trader.open_orders()}
    canceled = await trader.cancel("rest-1")
    assert canceled.status is OrderStatus.CANCELED
    assert "rest-1" not in {o.client_order_id for o in await trader.open_orders()}
    assert (await trader.order("rest-1")).status is OrderStatus.CANCELED
    with pytest.raises(OrderNotFound):
        await trader.cancel("never-placed")
    with pytest.raises(OrderNotFound):
        await trader.order("never-placed")


async def test_resubmitting_returns_the_same_order(trader: SimTradingClient) -> None:
    req = OrderRequest("idem-1", "SOL-USD", Side.SELL, Decimal("0.5"))
    first = await trader.submit(req)
    again = await trader.submit(req)
    assert again.venue_order_id == first.venue_order_id
    fills = [f for f in await trader.fills() if f.client_order_id == "idem-1"]
    assert sum(f.qty for f in fills) == first.filled_qty == Decimal("0.5")
    balance = await trader.balance()
    assert balance.positions["SOL-USD"] <= Decimal("-0.5")


async def test_accounts_are_separate(sim_url: str) -> None:
    async with SimTradingClient(sim_url, SecretStr("other-key")) as other:
        before = await other.balance()
        await other.submit(OrderRequest("other-1", "BTC-USD", Side.BUY, Decimal("0.001")))
        after = await other.balance()
        assert after.positions["BTC-USD"] == before.positions.get("BTC-USD", 0) + Decimal("0.001")
        with pytest.raises(OrderNotFound):
            await other.order("idem-1")


async def test_bad_requests_are_400_and_not_retryable(trader: SimTradingClient) -> None:
    with pytest.raises(VenueError, match="min_size") as err:
        await trader.submit(OrderRequest("tiny", "BTC-USD", Side.BUY, Decimal("0.00001")))
    assert not err.value.retryable
    assert not isinstance(err.value, OrderNotFound)


async def test_bad_api_key_is_refused(sim_url: str) -> None:
    async with SimTradingClient(sim_url, SecretStr("wrong")) as bad:
        with pytest.raises(VenueError, match="401") as err:
            await bad.balance()
        assert not err.value.retryable
        with pytest.raises(VenueError, match="API key"):
            await asyncio.wait_for(_drain(bad.events()), 10)


async def _drain(events: AsyncIterator[VenueOrder | VenueFill]) -> None:
    async for _ in events:
        pass


async def test_injected_5xx_are_retryable_errors() -> None:
    proc, url = start_sim(error_rate="1.0", history_hours="0.1")
    try:
        async with SimFeed(url) as f:
            with pytest.raises(VenueError, match="503") as err:
                await f.instruments()
            assert err.value.retryable
    finally:
        stop_sim(proc)
