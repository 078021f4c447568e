"""The sim exchange as a process: REST + WebSocket API over the pure engine (the shell).

`create_app(settings)` builds the FastAPI app (its lifespan runs the ticker that advances the
engine and publishes ticks); `serve(settings)` runs it under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

import anyio
import structlog
import uvicorn
from fastapi import Depends, FastAPI, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from proto import INTERVAL_SECONDS, OrderType, Side
from tradebus.venues.base import OrderNotFound, OrderRequest
from tradebus.venues.sim.admin import ADMIN_PREFIX, add_admin_routes
from tradebus.venues.sim.engine import AccountEvent, MarketQuote, OrderRejected, SimEngine
from tradebus.venues.sim.faults import Verdict
from tradebus.venues.sim.hub import Hub, MarketSubscriber
from tradebus.venues.sim.settings import SimSettings
from tradebus.venues.sim.wire import dec_str, fill_to_json, float_str, order_to_json

log = structlog.get_logger()

WS_BAD_KEY = 4401


class SimClock:
    """Sim time: `start_ns` plus `speed` times the wall time elapsed since construction."""

    def __init__(self, start_ns: int, speed: float, mono: Callable[[], int] = time.monotonic_ns) -> None:
        self.start_ns, self.speed, self._mono = start_ns, speed, mono
        self._mono0 = mono()

    def now(self) -> int:
        return self.start_ns + int((self._mono() - self._mono0) * self.speed)


class SimExchange:
    """The engine kept at the clock's time; whatever happens is pushed to the hub."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        replay = settings.load_replay()
        start = settings.start_time(replay, time.time_ns())
        self.engine = SimEngine(settings.engine_config(replay), start)
        self.hours = settings.hours()
        self.faults = settings.faults()
        self.started = time.monotonic()
        self.clock = SimClock(self.engine.now_ns, settings.clock_speed)
        self.hub = Hub()
        self.keys = settings.account_keys()
        self.instruments = {i.symbol: i for i in self.engine.instruments}
        self.fault_rng = random.Random(settings.seed)
        #: the deadline of every open WebSocket session (the admin's drop reschedules them to now)
        self.ws_sessions: set[asyncio.Timeout] = set()

    def sync(self) -> None:
        """Advance the engine to now; publish trades and account events."""
        events = self.engine.advance(self.clock.now())
        self.publish(events.account)
        if self.hub.market:
            for tr in events.trades:
                inst = self.instruments[tr.symbol]
                self.hub.publish_market(
                    tr.symbol,
                    {
                        "type": "trade",
                        "symbol": tr.symbol,
                        "price": float_str(tr.price, inst.price_increment),
                        "qty": float_str(tr.qty, inst.size_increment),
                        "side": tr.side.value,
                        "trades": tr.trades,
                        "ts": tr.ts,
                    },
                )

    def publish(self, events: list[AccountEvent]) -> None:
        for account, event in events:
            self.hub.publish_account(account, event)

    def tick_payload(self, q: MarketQuote) -> dict[str, Any]:
        inst = self.instruments[q.symbol]
        p, s = inst.price_increment, inst.size_increment
        return {
            "type": "tick",
            "symbol": q.symbol,
            "bid": float_str(q.bid, p),
            "ask": float_str(q.ask, p),
            "last": float_str(q.last, p),
            "last_qty": float_str(q.last_qty, s),
            "ts": q.ts,
        }

    def tick(self) -> None:
        self.sync()
        if self.hub.market:
            for q in self.engine.quotes():
                self.hub.publish_market(q.symbol, self.tick_payload(q))

    async def run(self) -> None:
        """Tick every `tick_interval_ms` of wall time, on a fixed schedule."""
        interval = self.settings.tick_interval_ms / 1000
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("sim_tick_failed")
            next_at = max(next_at + interval, loop.time())
            await asyncio.sleep(next_at - loop.time())


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType = OrderType.MARKET
    qty: Decimal
    price: Decimal | None = None


def _exchange(request: Request) -> SimExchange:
    ex: SimExchange = request.app.state.exchange
    ex.sync()
    return ex


Exchange = Annotated[SimExchange, Depends(_exchange)]


def _account(ex: Exchange, x_api_key: Annotated[str | None, Header()] = None) -> str:
    account = ex.keys.get(x_api_key or "")
    if account is None:
        raise HTTPException(401, "missing or invalid X-API-Key")
    return account


AccountId = Annotated[str, Depends(_account)]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _install_errors(app: FastAPI) -> None:
    async def rejected(_: Request, exc: Exception) -> Response:
        return _error(400, str(exc))

    async def not_found(_: Request, exc: Exception) -> Response:
        return _error(404, str(exc))

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return _error(400, "; ".join(parts))

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail))

    app.add_exception_handler(OrderRejected, rejected)
    app.add_exception_handler(OrderNotFound, not_found)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)


def _install_faults(app: FastAPI, settings: SimSettings) -> None:
    if not settings.faults().active and not settings.admin:
        return

    @app.middleware("http")
    async def faults(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path.startswith("/api/") and path != "/api/v1/health" and not path.startswith(ADMIN_PREFIX):
            ex: SimExchange = request.app.state.exchange
            plan = ex.faults  # the admin may replace it at run time
            if plan.latency_s > 0:
                await asyncio.sleep(plan.latency_s)
            verdict = plan.rest(time.monotonic() - ex.started, ex.fault_rng.random())
            if verdict is Verdict.OUTAGE:
                return _error(503, "injected outage")
            if verdict is Verdict.ERROR:
                return _error(503, "injected fault")
            if verdict is Verdict.TIMEOUT:
                await asyncio.sleep(plan.timeout_s)
                return _error(504, "injected timeout")
        return await call_next(request)


async def _limited(ws: WebSocket, ex: SimExchange, run: Awaitable[None]) -> None:
    """Run a WebSocket session under the fault plan: refused during an outage, closed when its
    lifetime (drop interval, or the start of an outage) is over."""
    life = ex.faults.ws_lifetime(time.monotonic() - ex.started)
    if life is None and not ex.settings.admin:
        await run
        return
    try:
        async with asyncio.timeout(life) as deadline:
            ex.ws_sessions.add(deadline)
            try:
                await run
            finally:
                ex.ws_sessions.discard(deadline)
    except TimeoutError:
        with contextlib.suppress(RuntimeError, OSError):
            await ws.close(code=1012, reason="injected disconnect")


def create_app(settings: SimSettings) -> FastAPI:
    exchange = SimExchange(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(exchange.run(), name="sim-ticker")
        log.info(
            "sim_exchange_started",
            symbols=list(exchange.instruments),
            clock_speed=settings.clock_speed,
            accounts=len(exchange.keys),
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="Tradebus sim exchange", lifespan=lifespan)
    app.state.exchange = exchange
    _install_errors(app)
    _install_faults(app, settings)
    if settings.admin:
        add_admin_routes(app)
    _add_market_routes(app)
    _add_account_routes(app)
    _add_websockets(app)
    return app


def _add_market_routes(app: FastAPI) -> None:
    @app.get("/api/v1/health")
    async def health(ex: Exchange) -> dict[str, Any]:
        return {"status": "ok", "ts": ex.engine.now_ns}

    @app.get("/api/v1/time")
    async def sim_time(ex: Exchange) -> dict[str, int]:
        return {"ts": ex.engine.now_ns}

    @app.get("/api/v1/clock")
    async def market_clock(ex: Exchange) -> Response:
        if ex.hours is None:
            return _error(404, "this sim has no market hours (set TRADEBUS_SIM_MARKET_HOURS=true)")
        c = ex.hours.clock(ex.engine.now_ns)
        return JSONResponse(
            {"ts": c.ts, "is_open": c.is_open, "next_open": c.next_open, "next_close": c.next_close}
        )

    @app.get("/api/v1/symbols")
    async def symbols(ex: Exchange) -> list[dict[str, str]]:
        return [
            {
                "symbol": i.symbol,
                "base": i.base,
                "quote": i.quote,
                "price_increment": dec_str(i.price_increment),
                "size_increment": dec_str(i.size_increment),
                "min_size": dec_str(i.min_size),
            }
            for i in ex.instruments.values()
        ]

    @app.get("/api/v1/candles")
    async def candles(
        ex: Exchange,
        symbol: str,
        interval: str,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
        end: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        if interval not in INTERVAL_SECONDS:
            raise OrderRejected(f"interval {interval!r} is unknown; known: {', '.join(INTERVAL_SECONDS)}")
        rows = ex.engine.candles(symbol, INTERVAL_SECONDS[interval] * 1_000_000_000, limit, end)
        inst = ex.instruments[symbol]
        p, s = inst.price_increment, inst.size_increment
        return JSONResponse(
            [
                {
                    "ts_open": r.ts_open,
                    "open": float_str(r.open, p),
                    "high": float_str(r.high, p),
                    "low": float_str(r.low, p),
                    "close": float_str(r.close, p),
                    "volume": float_str(r.volume, s),
                    "trades": r.trades,
                }
                for r in rows
            ]
        )

    @app.get("/api/v1/ticker")
    async def ticker(ex: Exchange, symbol: str) -> dict[str, Any]:
        payload = ex.tick_payload(ex.engine.quote(symbol))
        del payload["type"]
        return payload

    @app.get("/api/v1/book")
    async def book(
        ex: Exchange, symbol: str, depth: Annotated[int, Query(ge=1, le=1000)] = 10
    ) -> dict[str, Any]:
        view = ex.engine.book(symbol, depth)
        return {
            "symbol": view.symbol,
            "bids": [[dec_str(p), dec_str(q)] for p, q in view.bids],
            "asks": [[dec_str(p), dec_str(q)] for p, q in view.asks],
            "ts": view.ts,
        }


def _add_account_routes(app: FastAPI) -> None:
    @app.post("/api/v1/orders")
    async def submit(ex: Exchange, account: AccountId, body: OrderIn) -> dict[str, Any]:
        if ex.hours is not None and not ex.hours.clock(ex.engine.now_ns).is_open:
            raise OrderRejected("market is closed; see GET /api/v1/clock")
        req = OrderRequest(
            client_order_id=body.client_order_id,
            symbol=body.symbol,
            side=body.side,
            qty=body.qty,
            type=body.type,
            price=body.price,
        )
        order, events = ex.engine.submit(account, req)
        ex.publish(events)
        return order_to_json(order)

    @app.get("/api/v1/orders")
    async def orders(ex: Exchange, account: AccountId, open: bool = True) -> list[dict[str, Any]]:
        if not open:
            raise OrderRejected("only open=true is supported; use /api/v1/fills for history")
        return [order_to_json(o) for o in ex.engine.open_orders(account)]

    @app.get("/api/v1/orders/{client_order_id}")
    async def order(ex: Exchange, account: AccountId, client_order_id: str) -> dict[str, Any]:
        return order_to_json(ex.engine.order(account, client_order_id))

    @app.delete("/api/v1/orders/{client_order_id}")
    async def cancel(ex: Exchange, account: AccountId, client_order_id: str) -> dict[str, Any]:
        canceled, events = ex.engine.cancel(account, client_order_id)
        ex.publish(events)
        return order_to_json(canceled)

    @app.get("/api/v1/fills")
    async def fills(
        ex: Exchange, account: AccountId, since: Annotated[int, Query(ge=0)] = 0
    ) -> list[dict[str, Any]]:
        return [fill_to_json(f) for f in ex.engine.fills(account, since)]

    @app.get("/api/v1/account")
    async def account_view(ex: Exchange, account: AccountId) -> dict[str, Any]:
        view = ex.engine.account(account)
        return {
            "cash": dec_str(view.cash),
            "equity": dec_str(view.equity),
            "positions": {
                s: {"qty": dec_str(q), "avg_price": dec_str(a)} for s, (q, a) in view.positions.items()
            },
        }


async def _connection(ws: WebSocket, queue: asyncio.Queue[str], on_text: Callable[[str], None]) -> None:
    """Send what arrives on `queue` and hand what the peer sends to `on_text`, until either side
    stops (the peer left, or a send failed)."""
    async with anyio.create_task_group() as tg:

        async def pump() -> None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                while True:
                    await ws.send_text(await queue.get())
            tg.cancel_scope.cancel()

        tg.start_soon(pump)
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                on_text(await ws.receive_text())
        tg.cancel_scope.cancel()


def _add_websockets(app: FastAPI) -> None:
    @app.websocket("/ws/market")
    async def ws_market(ws: WebSocket) -> None:
        ex: SimExchange = ws.app.state.exchange
        await ws.accept()
        sub = MarketSubscriber(ex.instruments)
        ex.hub.market.add(sub)

        def on_text(text: str) -> None:
            try:
                msg = json.loads(text)
            except ValueError:
                msg = None
            _subscribe(ex, sub, msg)

        try:
            await _limited(ws, ex, _connection(ws, sub.queue, on_text))
        finally:
            ex.hub.market.discard(sub)

    @app.websocket("/ws/account")
    async def ws_account(ws: WebSocket, api_key: str = "") -> None:
        ex: SimExchange = ws.app.state.exchange
        await ws.accept()
        account = ex.keys.get(api_key)
        if account is None:
            await ws.close(code=WS_BAD_KEY, reason="invalid api_key")
            return
        queue = ex.hub.add_account(account)

        try:
            await _limited(ws, ex, _connection(ws, queue, lambda _: None))
        finally:
            ex.hub.remove_account(account, queue)


def _subscribe(ex: SimExchange, sub: MarketSubscriber, msg: Any) -> None:
    """Handle {"op": "subscribe", "symbols": [...]} (empty or missing: every symbol)."""
    if not isinstance(msg, dict) or msg.get("op") != "subscribe":
        sub.offer(json.dumps({"type": "error", "error": 'expected {"op": "subscribe", ...}'}))
        return
    symbols = msg.get("symbols") or list(ex.instruments)
    if not isinstance(symbols, list):
        sub.offer(json.dumps({"type": "error", "error": "symbols must be a list"}))
        return
    unknown = [s for s in symbols if s not in ex.instruments]
    if unknown:
        sub.offer(json.dumps({"type": "error", "error": f"unknown symbols: {unknown}"}))
        return
    sub.symbols = set(symbols)
    for q in ex.engine.quotes():  # a snapshot right away, so a client need not wait a tick
        if q.symbol in sub.symbols:
            sub.offer(json.dumps(ex.tick_payload(q)))


async def serve(settings: SimSettings) -> None:
    """Run the sim exchange under uvicorn until cancelled or signalled."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        ws="websockets-sansio",
    )
    await uvicorn.Server(config).serve()


__all__ = ["SimClock", "SimExchange", "create_app", "serve"]
