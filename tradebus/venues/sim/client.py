"""The sim exchange adapter: `SimFeed` (MarketFeed) and `SimTradingClient` (TradingClient).

REST over httpx (market data) and `KeepAlivePool` (trading, `http.py`: persistent connections
and nothing else; about 3x cheaper per order than aiohttp and 15x than httpx here), pushes over
`websockets`; both WebSocket streams reconnect on their own with
capped exponential back-off. HTTP failures become `VenueError` (retryable for 5xx, timeouts
and transport errors) or `OrderNotFound` (404 on an order).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar, cast
from urllib.parse import quote, urlencode

import httpx
import structlog
from pydantic import SecretStr, ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from proto import INTERVAL_SECONDS, Candle, Interval, Tick
from tradebus.venues.base import (
    Balance,
    Instrument,
    OrderNotFound,
    OrderRequest,
    VenueError,
    VenueFill,
    VenueOrder,
)
from tradebus.venues.clock import MarketClock
from tradebus.venues.sim.http import HttpError, HttpTimeout, KeepAlivePool
from tradebus.venues.sim.wire import dec_str, fill_from_json, order_from_json

log = structlog.get_logger()
T = TypeVar("T")

VENUE = "sim"
MAX_CANDLES_PER_CALL = 10_000
WS_BAD_KEY = 4401


class Backoff:
    """Capped exponential back-off: 0.1 s, 0.2 s, ... up to `cap_s`; `reset()` after success."""

    def __init__(self, first_s: float = 0.1, cap_s: float = 5.0) -> None:
        self.first_s, self.cap_s = first_s, cap_s
        self.delay_s = first_s

    def reset(self) -> None:
        self.delay_s = self.first_s

    async def wait(self) -> None:
        delay, self.delay_s = self.delay_s, min(self.delay_s * 2, self.cap_s)
        await asyncio.sleep(delay)


def _ws_url(base_url: str, path: str, query: dict[str, str] | None = None) -> str:
    url = base_url.rstrip("/")
    if url.startswith("https://"):
        url = "wss://" + url.removeprefix("https://")
    elif url.startswith("http://"):
        url = "ws://" + url.removeprefix("http://")
    return url + path + (f"?{urlencode(query)}" if query else "")


async def _call(
    http: httpx.AsyncClient, method: str, path: str, *, order_404: bool = False, **kw: Any
) -> Any:
    what = f"sim {method} {path}"
    try:
        resp = await http.request(method, path, **kw)
    except httpx.TimeoutException as exc:
        raise VenueError(f"{what} timed out", retryable=True) from exc
    except httpx.TransportError as exc:
        raise VenueError(f"{what} failed: {exc!r}", retryable=True) from exc
    return _answer(what, resp.status_code, resp.text, order_404)


async def _pcall(
    pool: KeepAlivePool,
    method: str,
    path: str,
    *,
    order_404: bool = False,
    json_body: Any = None,
    params: dict[str, str] | None = None,
) -> Any:
    """`_call` over the keep-alive pool: the same errors for the same failures."""
    what = f"sim {method} {path}"
    if params:
        path = f"{path}?{urlencode(params)}"
    body = None if json_body is None else json.dumps(json_body).encode()
    try:
        status, raw = await pool.request(method, path, body)
    except HttpTimeout as exc:
        raise VenueError(f"{what} timed out", retryable=True) from exc
    except HttpError as exc:
        raise VenueError(f"{what} failed: {exc}", retryable=True) from exc
    return _answer(what, status, raw.decode("utf-8", "replace"), order_404)


def _answer(what: str, status: int, text: str, order_404: bool) -> Any:
    """The JSON of a sim answer, or the error it means: `OrderNotFound` for a 404 on an order,
    `VenueError` otherwise (retryable for 5xx and 429, and for an answer that is not JSON)."""
    try:
        data, is_json = json.loads(text), True
    except ValueError:
        data, is_json = None, False
    if status >= 400:
        detail = str(data.get("error", text)) if isinstance(data, dict) else text
        message = f"{what}: HTTP {status}: {detail}"
        if status == 404 and order_404:
            raise OrderNotFound(message)
        raise VenueError(message, retryable=status >= 500 or status == 429)
    if not is_json:
        raise VenueError(f"{what}: response is not JSON", retryable=True)
    return data


def _parse(what: str, parse: Callable[[Any], T], payload: Any) -> T:
    try:
        return parse(payload)
    except (ValueError, TypeError, KeyError, ValidationError) as exc:
        raise VenueError(f"sim sent a malformed {what}: {exc}") from exc


class SimFeed:
    """Market data of the sim exchange."""

    venue = VENUE

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, max_backoff_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)
        self._max_backoff_s = max_backoff_s

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def instruments(self) -> Sequence[Instrument]:
        rows = await _call(self._http, "GET", "/api/v1/symbols")
        return [_parse("symbol", _instrument, r) for r in rows]

    async def candles(
        self, symbol: str, interval: str, *, limit: int, end: int | None = None
    ) -> Sequence[Candle]:
        """Closed candles oldest first; more than 10 000 are fetched in pages, newest first."""
        if interval not in INTERVAL_SECONDS:
            raise VenueError(f"interval {interval!r} is unknown; known: {', '.join(INTERVAL_SECONDS)}")
        if limit < 1:
            raise VenueError(f"limit must be >= 1, got {limit}")
        pages: list[list[Candle]] = []
        remaining = limit
        while remaining > 0:
            ask = min(remaining, MAX_CANDLES_PER_CALL)
            params: dict[str, Any] = {"symbol": symbol, "interval": interval, "limit": ask}
            if end is not None:
                params["end"] = end
            rows = await _call(self._http, "GET", "/api/v1/candles", params=params)
            page = [_parse("candle", lambda r: _candle(symbol, interval, r), r) for r in rows]
            pages.append(page)
            remaining -= len(page)
            if len(page) < ask:
                break
            end = page[0].ts_open
        return [c for page in reversed(pages) for c in page]

    async def ticks(self, symbols: Sequence[str]) -> AsyncIterator[Tick]:
        """Ticks forever. Unknown symbols raise VenueError; lost connections are re-made."""
        backoff = Backoff(cap_s=self._max_backoff_s)
        url = _ws_url(self.base_url, "/ws/market")
        while True:
            try:
                async with connect(url, open_timeout=10, close_timeout=2) as ws:
                    await ws.send(json.dumps({"op": "subscribe", "symbols": list(symbols)}))
                    backoff.reset()
                    async for raw in ws:
                        msg = json.loads(raw)
                        kind = msg.get("type")
                        if kind == "tick":
                            yield _parse("tick", _tick, msg)
                        elif kind == "error":
                            raise VenueError(f"sim refused the subscription: {msg.get('error')}")
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
                log.warning("sim_ticks_reconnect", error=repr(exc), delay_s=backoff.delay_s)
            except InvalidURI as exc:
                raise VenueError(f"bad sim url {url!r}: {exc}") from exc
            await backoff.wait()


class SimTradingClient:
    """The trading face of one sim account (one API key)."""

    venue = VENUE

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout_s: float = 10.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._pool: KeepAlivePool | None = None  # made in the event loop, on first use
        self._max_backoff_s = max_backoff_s

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def _call(self, method: str, path: str, *, order_404: bool = False, **kw: Any) -> Any:
        if self._pool is None:
            self._pool = KeepAlivePool(
                self.base_url,
                {"X-API-Key": self._api_key.get_secret_value()},
                size=64,
                timeout_s=self._timeout_s,
            )
        return await _pcall(self._pool, method, path, order_404=order_404, **kw)

    async def submit(self, order: OrderRequest) -> VenueOrder:
        body = {
            "client_order_id": order.client_order_id,
            "symbol": order.symbol,
            "side": order.side.value,
            "type": order.type.value,
            "qty": dec_str(order.qty),
            "price": None if order.price is None else dec_str(order.price),
        }
        data = await self._call("POST", "/api/v1/orders", json_body=body)
        return _parse("order", order_from_json, data)

    async def cancel(self, client_order_id: str) -> VenueOrder:
        path = f"/api/v1/orders/{quote(client_order_id, safe='')}"
        data = await self._call("DELETE", path, order_404=True)
        return _parse("order", order_from_json, data)

    async def order(self, client_order_id: str) -> VenueOrder:
        path = f"/api/v1/orders/{quote(client_order_id, safe='')}"
        data = await self._call("GET", path, order_404=True)
        return _parse("order", order_from_json, data)

    async def open_orders(self) -> Sequence[VenueOrder]:
        rows = await self._call("GET", "/api/v1/orders", params={"open": "true"})
        return [_parse("order", order_from_json, r) for r in rows]

    async def fills(self, since: int = 0) -> Sequence[VenueFill]:
        rows = await self._call("GET", "/api/v1/fills", params={"since": str(since)})
        return [_parse("fill", fill_from_json, r) for r in rows]

    async def balance(self) -> Balance:
        data = await self._call("GET", "/api/v1/account")
        return _parse("account", _balance, data)

    async def clock(self) -> MarketClock:
        """The market clock of a sim with market hours (VenueError otherwise)."""
        data = await self._call("GET", "/api/v1/clock")
        return _parse(
            "clock",
            lambda d: MarketClock(
                int(d["ts"]), bool(d["is_open"]), int(d["next_open"]), int(d["next_close"])
            ),
            data,
        )

    async def events(self) -> AsyncIterator[VenueOrder | VenueFill]:
        """Order updates and fills as they happen. Events while disconnected are not replayed:
        reconcile with `open_orders()` and `fills(since)` after a gap. A bad key raises."""
        backoff = Backoff(cap_s=self._max_backoff_s)
        url = _ws_url(self.base_url, "/ws/account", {"api_key": self._api_key.get_secret_value()})
        while True:
            try:
                async with connect(url, open_timeout=10, close_timeout=2) as ws:
                    backoff.reset()
                    async for raw in ws:
                        msg = json.loads(raw)
                        kind = msg.get("type")
                        if kind == "order":
                            yield _parse("order", order_from_json, msg)
                        elif kind == "fill":
                            yield _parse("fill", fill_from_json, msg)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == WS_BAD_KEY:
                    raise VenueError("sim refused the API key on /ws/account") from exc
                log.warning("sim_events_reconnect", error=repr(exc), delay_s=backoff.delay_s)
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                log.warning("sim_events_reconnect", error=repr(exc), delay_s=backoff.delay_s)
            await backoff.wait()


def _instrument(r: dict[str, Any]) -> Instrument:
    return Instrument(
        symbol=str(r["symbol"]),
        base=str(r["base"]),
        quote=str(r["quote"]),
        price_increment=Decimal(r["price_increment"]),
        size_increment=Decimal(r["size_increment"]),
        min_size=Decimal(r["min_size"]),
    )


def _candle(symbol: str, interval: str, r: dict[str, Any]) -> Candle:
    return Candle(
        venue=VENUE,
        symbol=symbol,
        interval=cast(Interval, interval),
        ts_open=int(r["ts_open"]),
        open=float(r["open"]),
        high=float(r["high"]),
        low=float(r["low"]),
        close=float(r["close"]),
        volume=float(r["volume"]),
        trades=int(r["trades"]),
        closed=True,
    )


def _tick(m: dict[str, Any]) -> Tick:
    ts = int(m["ts"])
    return Tick(
        venue=VENUE,
        symbol=str(m["symbol"]),
        bid=float(m["bid"]),
        ask=float(m["ask"]),
        last=float(m["last"]),
        last_qty=float(m["last_qty"]),
        ts_event=ts,
        ts_init=ts,
    )


def _balance(d: dict[str, Any]) -> Balance:
    positions = {s: Decimal(p["qty"]) for s, p in d["positions"].items()}
    return Balance(cash=Decimal(d["cash"]), positions=positions)
