"""`AlpacaFeed` and `AlpacaTradingClient`: REST through a ccxt `alpaca` instance (auth, paper or
live URLs, rate limits), streams (market data, trade updates) through `websockets`."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import structlog
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from proto import Candle, Tick, interval_ns
from tradebus.venues.alpaca import parse
from tradebus.venues.base import (
    Balance,
    Instrument,
    OrderNotFound,
    OrderRequest,
    VenueError,
    VenueFill,
    VenueOrder,
)
from tradebus.venues.ccxt.exchange import call
from tradebus.venues.clock import MarketClock
from tradebus.venues.sim.client import Backoff

log = structlog.get_logger()

DATA_STREAM = "wss://stream.data.alpaca.markets/v2/{feed}"
PAGE = 10_000


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


async def _rest(exchange: Any, api: str, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
    return await call(
        f"alpaca {method} {path}", exchange.request(path, [api, "private"], method, params or {})
    )


async def _authenticated(url: str, key: str, secret: str, first: dict[str, Any]) -> Any:
    """Open a stream, authenticate and send `first`; returns the open connection."""
    ws = await connect(url, open_timeout=10, close_timeout=2)
    await ws.send(json.dumps({"action": "auth", "key": key, "secret": secret}))
    await ws.send(json.dumps(first))
    return ws


class AlpacaFeed:
    venue = parse.VENUE

    def __init__(self, exchange: Any, *, data_feed: str = "iex", stream_url: str | None = None) -> None:
        self.exchange = exchange
        self.stream_url = stream_url or DATA_STREAM.format(feed=data_feed)
        self.data_feed = data_feed
        self._instruments: dict[str, Instrument] | None = None

    async def aclose(self) -> None:
        await self.exchange.close()

    async def instruments(self) -> Sequence[Instrument]:
        if self._instruments is None:
            rows = await _rest(
                self.exchange, "trader", "GET", "v2/assets", {"status": "active", "asset_class": "us_equity"}
            )
            found = (parse.instrument(r) for r in rows)
            self._instruments = {i.symbol: i for i in found if i is not None}
        return list(self._instruments.values())

    async def clock(self) -> MarketClock:
        return parse.clock(await _rest(self.exchange, "trader", "GET", "v2/clock"))

    async def candles(
        self, symbol: str, interval: str, *, limit: int, end: int | None = None
    ) -> Sequence[Candle]:
        """Bars ending at or before `end`, oldest first. Alpaca has no bars under one minute."""
        if interval not in parse.TIMEFRAMES:
            raise VenueError(f"alpaca has no {interval!r} bars; it has {', '.join(parse.TIMEFRAMES)}")
        length = interval_ns(interval)
        stop = end if end is not None else time.time_ns()
        # calendar time holds nights and weekends: ask for a wide window, keep the newest `limit`
        start = stop - limit * length * 5 - 4 * 86_400 * 10**9
        params: dict[str, Any] = {
            "symbols": parse.theirs(symbol),
            "timeframe": parse.TIMEFRAMES[interval],
            "start": _iso(start),
            "end": _iso(stop),
            "limit": PAGE,
            "feed": self.data_feed,
            "sort": "asc",
        }
        out: list[Candle] = []
        while True:
            page = await _rest(self.exchange, "market", "GET", "v2/stocks/bars", params)
            bars = (page.get("bars") or {}).get(parse.theirs(symbol)) or []
            out.extend(parse.candle(symbol, interval, b) for b in bars)
            token = page.get("next_page_token")
            if not token:
                break
            params = {**params, "page_token": token}
        closed = [c for c in out if c.ts_open + length <= stop]
        return closed[-limit:]

    async def ticks(self, symbols: Sequence[str]) -> AsyncIterator[Tick]:
        """Quotes joined with trades (for `last`); reconnects with back-off."""
        names = [parse.theirs(s) for s in symbols]
        last: dict[str, tuple[float, float]] = {}
        backoff = Backoff(first_s=0.2, cap_s=30.0)
        key, secret = str(self.exchange.apiKey), str(self.exchange.secret)
        while True:
            try:
                ws = await _authenticated(
                    self.stream_url, key, secret, {"action": "subscribe", "trades": names, "quotes": names}
                )
                async with ws:
                    async for raw in ws:
                        for msg in json.loads(raw):
                            kind = msg.get("T")
                            if kind == "t":
                                last[msg["S"]] = (float(msg["p"]), float(msg.get("s") or 0))
                            elif kind == "q":
                                backoff.reset()
                                price, qty = last.get(msg["S"], (0.0, 0.0))
                                yield parse.quote_tick(msg, price, qty, time.time_ns())
                            elif kind == "error":
                                raise VenueError(f"alpaca stream error {msg.get('code')}: {msg.get('msg')}")
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
                log.warning("alpaca_stream_reconnect", error=repr(exc), delay_s=backoff.delay_s)
            await backoff.wait()


class AlpacaTradingClient:
    """Real orders on Alpaca (paper when the exchange is in sandbox mode). Orders are `day` orders;
    `client_order_id` goes to Alpaca as is (it must be at most 128 characters)."""

    venue = parse.VENUE

    def __init__(self, feed: AlpacaFeed, *, stream_url: str | None = None) -> None:
        self.feed = feed
        self.exchange = feed.exchange
        trader = str(self.exchange.implode_hostname(self.exchange.urls["api"]["trader"]))
        self.stream_url = stream_url or trader.replace("https://", "wss://") + "/stream"

    async def aclose(self) -> None:
        await self.feed.aclose()

    async def clock(self) -> MarketClock:
        return await self.feed.clock()

    async def submit(self, order: OrderRequest) -> VenueOrder:
        if order.type.value == "post_only":
            raise VenueError("alpaca has no post-only orders for equities")
        body: dict[str, Any] = {
            "symbol": parse.theirs(order.symbol),
            "qty": str(order.qty),
            "side": order.side.value,
            "type": order.type.value,
            "time_in_force": "day",
            "client_order_id": order.client_order_id,
        }
        if order.price is not None:
            body["limit_price"] = str(order.price)
        try:
            return parse.order(await _rest(self.exchange, "trader", "POST", "v2/orders", body))
        except VenueError as exc:
            if "client_order_id must be unique" not in str(exc):
                raise
            return await self.order(order.client_order_id)  # a resubmit: the venue has it already

    async def order(self, client_order_id: str) -> VenueOrder:
        params = {"client_order_id": client_order_id}
        try:
            return parse.order(
                await _rest(self.exchange, "trader", "GET", "v2/orders:by_client_order_id", params)
            )
        except OrderNotFound:
            raise
        except VenueError as exc:
            if "not found" in str(exc).lower():
                raise OrderNotFound(str(exc)) from exc
            raise

    async def cancel(self, client_order_id: str) -> VenueOrder:
        known = await self.order(client_order_id)
        if known.status.value in ("filled", "canceled", "rejected", "expired"):
            return known
        await _rest(self.exchange, "trader", "DELETE", f"v2/orders/{quote(known.venue_order_id, safe='')}")
        return await self.order(client_order_id)

    async def open_orders(self) -> Sequence[VenueOrder]:
        rows = await _rest(self.exchange, "trader", "GET", "v2/orders", {"status": "open", "limit": 500})
        return [parse.order(r) for r in rows]

    async def fills(self, since: int = 0) -> Sequence[VenueFill]:
        params: dict[str, Any] = {"direction": "asc", "page_size": 100}
        if since:
            params["after"] = _iso(since - 1)
        rows = await _rest(self.exchange, "trader", "GET", "v2/account/activities/FILL", params)
        ids: dict[str, str] = {}
        out = []
        for a in rows:
            oid = str(a.get("order_id"))
            if oid not in ids:
                ids[oid] = (await self._by_id(oid)).client_order_id
            out.append(parse.fill_activity(a, ids[oid]))
        return sorted((f for f in out if f.ts_event >= since), key=lambda f: f.ts_event)

    async def _by_id(self, venue_order_id: str) -> VenueOrder:
        return parse.order(
            await _rest(self.exchange, "trader", "GET", f"v2/orders/{quote(venue_order_id, safe='')}")
        )

    async def balance(self) -> Balance:
        account = await _rest(self.exchange, "trader", "GET", "v2/account")
        rows = await _rest(self.exchange, "trader", "GET", "v2/positions")
        positions = {}
        for p in rows:
            qty = Decimal(str(p["qty"]))
            positions[parse.ours(str(p["symbol"]))] = -abs(qty) if p.get("side") == "short" else qty
        return Balance(cash=Decimal(str(account["cash"])), positions=positions)

    async def close_all_positions(self) -> None:
        """Alpaca's own flatten: cancel open orders and close every position at market."""
        await _rest(self.exchange, "trader", "DELETE", "v2/positions", {"cancel_orders": "true"})

    async def events(self) -> AsyncIterator[VenueOrder | VenueFill]:
        backoff = Backoff(first_s=0.2, cap_s=30.0)
        key, secret = str(self.exchange.apiKey), str(self.exchange.secret)
        listen = {"action": "listen", "data": {"streams": ["trade_updates"]}}
        while True:
            try:
                async with await _authenticated(self.stream_url, key, secret, listen) as ws:
                    async for raw in ws:
                        msg = json.loads(raw)
                        if isinstance(msg, dict) and msg.get("stream") == "trade_updates":
                            backoff.reset()
                            for event in parse.trade_update(msg):
                                yield event
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
                log.warning("alpaca_events_reconnect", error=repr(exc), delay_s=backoff.delay_s)
            await backoff.wait()


async def liquidate_if_due(client: AlpacaTradingClient, lead_s: float) -> bool:
    """Flatten every position when the close is within `lead_s`; True if it did."""
    from tradebus.venues.clock import liquidation_due

    if liquidation_due(await client.clock(), lead_s):
        await client.close_all_positions()
        return True
    return False


__all__ = ["AlpacaFeed", "AlpacaTradingClient", "liquidate_if_due"]
