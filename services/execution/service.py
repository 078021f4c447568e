"""execution shell: the single owner of the account.

Order of work for every input (intent, venue event, tick, control change):
  1. the pure book decides (under one lock);
  2. the book's snapshot is stored in KV `execution` (new client order ids included);
  3. fills, positions, order updates and risk events are published on JetStream (deduped);
  4. venue calls are made; their answers are fed back to the book (step 1 again);
  5. only then is the input acked.
A crash anywhere re-delivers the input and the book (restored from its snapshot) recognizes
what it already did: no duplicate order, no lost fill.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from decimal import Decimal
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

from proto import IntentEnvelope, KillSwitch, OrderStatus, StrategyConfig, Tick
from proto.queries import OrdersQuery, OrdersReply, PositionsQuery, PositionsReply
from proto.subjects import (
    EXEC_ORDERS,
    EXEC_POSITIONS,
    KILL_SWITCH_KEY,
    KV_CONTROL,
    KV_EXECUTION,
    KV_STRATEGIES,
    TRADING,
    exec_fill,
    exec_order,
    exec_position,
    exec_risk,
    md_ticks,
)
from services.execution.core import Decision, NettingBook, RiskLimits
from services.execution.lease import Lease
from services.execution.settings import ExecutionSettings
from tradebus.bus import now_ns
from tradebus.metrics import LATENCY_BUCKETS
from tradebus.service import Runtime
from tradebus.settings import load
from tradebus.venues.base import OrderNotFound, TradingClient, VenueError, VenueFill, VenueOrder
from tradebus.venues.registry import open_feed, open_trading

log = structlog.get_logger()
SNAPSHOT_KEY = "book"


class Metrics:
    def __init__(self, rt: Runtime) -> None:
        r = rt.registry
        self.orders = Counter("tradebus_execution_orders_total", "Venue orders sent", ["owner"], registry=r)
        self.rejections = Counter(
            "tradebus_risk_rejections_total", "Risk gate events by kind", ["kind"], registry=r
        )
        self.venue_errors = Counter(
            "tradebus_venue_errors_total", "Venue call failures", ["call"], registry=r
        )
        self.intent_to_order = Histogram(
            "tradebus_intent_to_order_seconds",
            "Intent received to venue order acked",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.order_to_fill = Histogram(
            "tradebus_order_to_fill_seconds",
            "Order sent to first fill event",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dry_run = Counter(
            "tradebus_execution_dry_run_intents_total",
            "Intents not traded (dry run)",
            ["strategy"],
            registry=r,
        )
        self.fills = Counter("tradebus_execution_fills_total", "Fills published", ["liquidity"], registry=r)
        self.drift = Gauge(
            "tradebus_reconciliation_drift", "Positions found unexplained at the last reconcile", registry=r
        )
        self.leader = Gauge("tradebus_execution_leader", "1 while this instance owns the account", registry=r)
        self.venue_up = Gauge(
            "tradebus_venue_connected", "1 while the venue event stream is up", ["venue"], registry=r
        )


class Execution:
    def __init__(
        self, rt: Runtime, cfg: ExecutionSettings, book: NettingBook, trading: TradingClient
    ) -> None:
        self.rt, self.cfg, self.book, self.trading = rt, cfg, book, trading
        self.bus = rt.bus
        self.lock = asyncio.Lock()
        self.metrics = Metrics(rt)
        self.now = now_ns()
        self.sent_at: dict[str, float] = {}
        self.kv: Any = None

    # -- the one path every decision takes ---------------------------------------------------

    async def act(self, first: Decision) -> None:
        """Store, publish, call the venue, feed answers back; until nothing is left to do."""
        queue: deque[Decision] = deque([first])
        while queue:
            d = queue.popleft()
            if d.empty:
                continue
            await self.store()
            await self.publish(d)
            for cid in d.cancel:
                queue.append(await self._cancel(cid))
            for new in d.submit:
                queue.append(self.book.mark_submitted(new.request.client_order_id, self.now))
                await self.store()
                queue.append(await self._submit(new.request))
                self.metrics.orders.labels(new.owner).inc()
            for cid in d.lookup:
                queue.append(await self._lookup(cid))

    async def _submit(self, req: Any) -> Decision:
        loop = asyncio.get_running_loop()
        self.sent_at[req.client_order_id] = loop.time()
        try:
            vo = await self.trading.submit(req)
        except VenueError as exc:
            self.metrics.venue_errors.labels("submit").inc()
            if exc.retryable:  # the outcome is unknown: look it up by id, never resend
                log.warning(
                    "submit outcome unknown; will look up",
                    client_order_id=req.client_order_id,
                    error=str(exc),
                )
                return await self._lookup(req.client_order_id)
            log.warning("venue rejected order", client_order_id=req.client_order_id, error=str(exc))
            vo = VenueOrder(
                client_order_id=req.client_order_id, venue_order_id="", symbol=req.symbol, side=req.side,
                type=req.type, qty=req.qty, price=req.price, status=OrderStatus.REJECTED,
                filled_qty=Decimal(0), avg_price=None, reason=str(exc), ts_event=self.now,
            )  # fmt: skip
        except Exception as exc:  # timeouts and transport errors: unknown outcome
            self.metrics.venue_errors.labels("submit").inc()
            log.warning("submit failed; will look up", client_order_id=req.client_order_id, error=str(exc))
            return await self._lookup(req.client_order_id)
        self.metrics.intent_to_order.observe(loop.time() - self.sent_at[req.client_order_id])
        return self.book.on_order_update(vo, self.now)

    async def _cancel(self, cid: str) -> Decision:
        try:
            vo = await self.trading.cancel(cid)
        except OrderNotFound:
            return self.book.on_order_not_found(cid, self.now)
        except Exception as exc:
            self.metrics.venue_errors.labels("cancel").inc()
            log.warning("cancel failed", client_order_id=cid, error=str(exc))
            return Decision()
        return self.book.on_order_update(vo, self.now)

    async def _lookup(self, cid: str) -> Decision:
        for attempt in range(5):
            try:
                return self.book.on_order_update(await self.trading.order(cid), self.now)
            except OrderNotFound:
                return self.book.on_order_not_found(cid, self.now)
            except Exception as exc:
                self.metrics.venue_errors.labels("lookup").inc()
                log.warning("lookup failed", client_order_id=cid, attempt=attempt, error=str(exc))
                await asyncio.sleep(0.2 * 2**attempt)
        return Decision()  # still unknown: the next reconcile or order event settles it

    async def store(self) -> None:
        await self.kv.put(SNAPSHOT_KEY, json.dumps(self.book.snapshot(), separators=(",", ":")).encode())

    async def publish(self, d: Decision) -> None:
        for f in d.fills:
            await self.bus.publish_durable(exec_fill(f.strategy), f, f.fill_id)
            self.metrics.fills.labels(f.liquidity.value).inc()
        for u in d.order_updates:
            msg_id = f"{u.client_order_id}:{u.status.value}:{u.filled_qty}"
            await self.bus.publish_durable(exec_order(u.owner), u, msg_id)
        for p in d.positions:
            await self.bus.publish_durable(
                exec_position(p.strategy, p.symbol), p, f"{p.strategy}:{p.symbol}:{p.ts_event}:{p.qty}"
            )
        for e in d.risk_events:
            self.metrics.rejections.labels(e.kind).inc()
            await self.bus.publish_durable(
                exec_risk(e.kind), e, f"{e.kind}:{e.strategy}:{e.symbol}:{e.ts_event}:{e.reason}"
            )

    # -- inputs --------------------------------------------------------------------------------

    async def on_intent(self, env: IntentEnvelope) -> None:
        intent = env.intent
        async with self.lock:
            if intent.dry_run:
                self.metrics.dry_run.labels(intent.strategy).inc()
            # the book keeps its own mids from ticks (with their age for the freshness check)
            await self.act(self.book.on_intent(intent, None, self.now))

    async def on_tick(self, t: Tick) -> None:
        if not (0 < t.bid <= t.ask):
            return
        async with self.lock:
            self.now = max(self.now, t.ts_event)
            await self.act(self.book.on_tick(t.symbol, t.bid, t.ask, self.now))

    async def on_venue_event(self, ev: VenueOrder | VenueFill) -> None:
        async with self.lock:
            if isinstance(ev, VenueFill):
                sent = self.sent_at.pop(ev.client_order_id, None)
                if sent is not None:
                    self.metrics.order_to_fill.observe(asyncio.get_running_loop().time() - sent)
                await self.act(self.book.on_venue_fill(ev, self.now))
            else:
                await self.act(self.book.on_order_update(ev, self.now))

    async def on_clock(self) -> None:
        async with self.lock:
            await self.act(self.book.on_clock(self.now))

    async def reconcile(self) -> None:
        """Before any intent: replay the venue's fills, then align orders and positions."""
        async with self.lock:
            for f in await self.trading.fills(since=0):
                await self.act(self.book.on_venue_fill(f, self.now))
            bal = await self.trading.balance()
            open_orders = await self.trading.open_orders()
            d = self.book.reconcile(bal.positions, open_orders, self.now)
            drift = [e for e in d.risk_events if e.kind == "reconcile_drift"]
            self.metrics.drift.set(len(drift))
            if drift:
                log.warning("reconcile drift", events=[e.reason for e in drift])
            await self.act(d)

    async def positions(self, _: PositionsQuery) -> PositionsReply:
        view = self.book.positions_view()
        return PositionsReply.model_validate(view)


async def run(rt: Runtime) -> None:
    cfg: ExecutionSettings = load(ExecutionSettings)  # type: ignore[assignment]
    limits = RiskLimits.model_validate(cfg.risk.model_dump())
    bus = rt.bus
    lease = Lease(bus, "lease", rt.instance, cfg.lease_ttl_s)
    rt.state = "standby"
    await lease.acquire(rt.stopping)  # a second instance waits here as a hot standby
    if rt.stopping.is_set():
        return
    rt.state = "running"
    rt.spawn(lease.keep(rt.stopping), "lease")

    feed = open_feed(cfg.venue, cfg.venue_url)
    instruments = {i.symbol: i for i in await feed.instruments()}
    kv = await bus.kv(KV_EXECUTION)
    try:
        entry = await kv.get(SNAPSHOT_KEY)
        book = NettingBook.restore(json.loads(entry.value or b"{}"), limits, instruments)
        log.info("book restored from snapshot")
    except Exception as exc:  # KeyNotFound on a first start
        log.info("new book", reason=type(exc).__name__)
        book = NettingBook(cfg.venue, limits, account=cfg.account, instruments=instruments)

    ex = Execution(rt, cfg, book, open_trading(cfg.venue, cfg.venue_url, cfg.api_key))
    ex.kv = kv
    ex.metrics.leader.set(1)
    await ex.reconcile()

    async def venue_events() -> None:
        async for ev in ex.trading.events():
            ex.metrics.venue_up.labels(cfg.venue).set(1)
            await ex.on_venue_event(ev)

    async def clock() -> None:
        while not rt.stopping.is_set():
            await asyncio.sleep(cfg.clock_every_s)
            await ex.on_clock()

    async def watch_strategies() -> None:
        async for key, value in bus.kv_watch(KV_STRATEGIES, ">", StrategyConfig):
            if value is not None:
                async with ex.lock:
                    await ex.act(ex.book.set_enabled(key, value.enabled, ex.now))

    async def watch_kill() -> None:
        async for _key, ks in bus.kv_watch(KV_CONTROL, KILL_SWITCH_KEY, KillSwitch):
            async with ex.lock:
                if ks is not None and ks.active:
                    log.warning("kill switch on", flatten=ks.flatten, reason=ks.reason)
                    await ex.act(ex.book.kill(ks.flatten, ex.now, ks.reason))
                elif ex.book.killed:
                    log.info("kill switch off")
                    await ex.act(ex.book.release_kill(ex.now))

    await bus.subscribe(md_ticks(cfg.venue), Tick, ex.on_tick)
    rt.spawn(venue_events(), "venue-events")
    rt.spawn(clock(), "clock")
    rt.spawn(watch_strategies(), "watch-strategies")
    rt.spawn(watch_kill(), "watch-kill")
    await bus.serve(
        EXEC_POSITIONS, PositionsQuery, ex.positions, error_reply=lambda e: PositionsReply(error=e)
    )
    await bus.consume(TRADING, "execution-intents", "sig.intent.>", IntentEnvelope, ex.on_intent)

    async def on_shutdown() -> None:
        async with ex.lock:
            await ex.act(ex.book.withdraw_quotes())
        await lease.release()
        ex.metrics.leader.set(0)

    rt.exit_stack.push_async_callback(on_shutdown)
    log.info("execution ready", venue=cfg.venue, symbols=sorted(instruments))
    await serve_gateway_queries(ex)


# -- read queries of the gateway (open orders) -------------------------------------------------


async def serve_gateway_queries(ex: Execution) -> None:
    """Answer `exec.query.orders`: the book's orders that are not terminal."""

    async def open_orders(q: OrdersQuery) -> OrdersReply:
        orders = ex.book.open_orders(ex.now)
        if q.owner is not None:
            orders = [o for o in orders if o.owner == q.owner]
        return OrdersReply(orders=tuple(sorted(orders, key=lambda o: o.client_order_id)))

    await ex.bus.serve(EXEC_ORDERS, OrdersQuery, open_orders, error_reply=lambda e: OrdersReply(error=e))


def main() -> None:
    from tradebus.service import run_service

    asyncio.run(run_service("execution", run))
