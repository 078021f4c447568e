"""execution shell: the single owner of the account.

Inputs come in batches (intents: what one JetStream fetch returned; ticks and venue events: what
waited in their queues) and each batch is handled under one lock, in rounds:
  1. the pure book decides on every input of the batch, in order (one merged decision);
  2. the book's snapshot AND the messages the decision must publish (its outbox) are stored in
     ONE compare-and-set put in KV `execution` (new client order ids included, in state NEW; the
     dedupe ids remembered this round ride along, older ones are in a journal: see `store`);
  3. then together: the outbox is published on JetStream with `Nats-Msg-Id` (all sent at once,
     every ack awaited; JetStream drops repeats; a round that sends new orders leaves its
     outbox, stored, to the store its answers make: `unpublished`), the round's ids are copied
     to the journal, and the round's venue calls are made
     (cancels, then new orders marked SUBMITTED and sent, then lookups; see `venue_calls`);
     their answers are fed back to the book, which gives the next round (step 2 again);
  4. only when no round is left is the batch acked.
Group commit: a decision that calls nothing at the venue and did not come from an acked input
(the venue's answers and events, ticks) is not stored on its own: it waits in `pending` and rides
with the next store, which the next input makes or, if none comes within `flush_after_s`, a
flush queued behind the lock. A crash before that store loses nothing the next start does not
rebuild: the venue's fills are replayed from the stored watermark and orders whose answer was
not stored are looked up by id, exactly as after a crash during a venue call.
A crash anywhere re-delivers the unacked inputs; the restored book recognizes what it already did
(intent ids, venue fill ids, client order ids) and the stored outbox is re-published on start: no
duplicate order, no lost fill, no lost message. If a store or publish fails the in-memory book is
ahead of what is stored: the instance stops at once and restarts from the snapshot.
Time is data time: `now` follows tick timestamps (and is stored with the snapshot).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import structlog

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
    md_ticks,
)
from services.execution.core import Decision, NettingBook
from services.execution.lease import Lease
from services.execution.metrics import Metrics
from services.execution.outbox import compact, outgoing, publish_all
from services.execution.settings import ExecutionSettings, load_settings
from services.execution.store import Outgoing, SnapshotStore, Stored
from services.execution.venue_calls import VenueCalls
from tradebus.bus import now_ns
from tradebus.metrics import subject_kind
from tradebus.pull import Delivered
from tradebus.service import Runtime
from tradebus.venues.base import (
    TradingClient,
    VenueFill,
    VenueOrder,
)
from tradebus.venues.registry import open_feed, open_trading

log = structlog.get_logger()
T = TypeVar("T")
SNAPSHOT_KEY = "book"
NS = 1_000_000_000


class Halted(RuntimeError):
    """This instance no longer acts (stopping, fenced, or its state could not be stored)."""


class Execution:
    def __init__(
        self,
        rt: Runtime,
        cfg: ExecutionSettings,
        book: NettingBook,
        trading: TradingClient,
        store: SnapshotStore,
        stored: Stored | None = None,
    ) -> None:
        self.rt, self.cfg, self.book, self.trading, self.store = rt, cfg, book, trading, store
        self.bus = rt.bus
        self.lock = asyncio.Lock()
        self.metrics = Metrics(rt)
        self.calls = VenueCalls(book, trading, self.metrics, cfg.venue_concurrency)
        stored = stored or Stored()
        #: data time (ns): the newest tick seen, restored from the snapshot
        self.now = stored.now if stored.now is not None else now_ns()
        #: venue time of the newest venue fill applied; replays start here (less a slack)
        self.fills_since = stored.fills_since
        #: decided and applied to the book, not stored yet (see "group commit" above)
        self.pending = Decision()
        #: messages stored in the last record's outbox but not published yet: a round that sends
        #: orders leaves its outbox to the store its answers make, which publishes both, each
        #: order's and position's newest state only (so `new` then `acked` is one message)
        self.unpublished: list[Outgoing] = []
        self._flusher: asyncio.Task[None] | None = None
        #: the last store's outbox being published and its ids copied to the journal; the next
        #: store (which replaces that outbox) waits for it, the lock does not
        self._publishing: asyncio.Future[None] | None = None
        self.dead = False
        self.closed = False
        self.kill_applied: tuple[bool, bool] | None = None

    @property
    def halted(self) -> bool:
        return self.dead or self.closed or self.rt.stopping.is_set()

    # -- the one path every decision takes ---------------------------------------------------

    async def act(self, first: Decision, *, durable: bool = True) -> None:
        """Store, publish, call the venue, feed answers back; until nothing is left to do.

        One round per decision: ONE store of the snapshot with its outbox (and whatever was
        pending); then, at the same time, the outbox published (all acks awaited) and the venue
        calls of the round (cancels first, then submits, then lookups, concurrent where
        independent); the answers are applied to the book in request order and what the book
        decided from them is the next round's decision. The next store (which replaces the
        stored outbox) waits for the publish acks, so a crash at any point leaves the unpublished
        outbox stored for the next start. `durable`: `first` comes from an input that is acked
        after this returns, so it is stored even if it calls nothing; a decision that calls
        nothing otherwise joins `pending` (group commit)."""
        if self.dead:
            raise Halted("execution state is no longer stored; restarting")
        try:
            idle = first.empty and self.pending.empty and not self.unpublished
            d, store = first, durable and not idle
            while store or d.has_calls:
                # older outputs first, in the same store (`pending` never calls the venue)
                older, self.pending = self.pending, Decision()
                # orders go out: their answers make another store, which publishes this outbox
                outbox = await self.commit(older, d, carry=bool(d.submit))
                self._publishing = asyncio.ensure_future(self.after_store(outbox))
                self._publishing.add_done_callback(self._on_published)
                d = await self.venue_round(d)
                store = False
            if not d.empty:
                self.pending.merge(d)
                self._queue_flush()
        except Exception:
            self.dead = True
            self.rt.stopping.set()
            log.exception("execution state could not be stored or published; stopping to restart")
            raise

    def _on_published(self, fut: asyncio.Future[None]) -> None:
        """A publication that failed stops the instance at once (its outbox is stored: the next
        start publishes it), not only when the next store would have found out."""
        if fut.cancelled() or fut.exception() is None:
            return
        if not self.dead:
            self.dead = True
            self.rt.stopping.set()
            log.error(
                "execution outbox could not be published; stopping to restart", error=str(fut.exception())
            )

    async def published(self) -> None:
        """Wait for the last store's outbox to be acked (and its ids journaled); raise if not."""
        publishing, self._publishing = self._publishing, None
        if publishing is not None:
            await publishing

    def _queue_flush(self) -> None:
        """Store `pending` after `flush_after_s` and the inputs already waiting for the lock
        (an input that stores takes it along: the next batch of intents usually does)."""
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="execution-flush")

    async def _flush(self) -> None:
        try:
            if self.cfg.flush_after_s > 0:  # the next input's store may take `pending` along
                await asyncio.sleep(self.cfg.flush_after_s)
            async with self.lock:
                if not self.halted:
                    await self.flush()
        except Exception as exc:  # act() marked the instance dead and asked for a restart
            log.error("pending decisions could not be stored", error=str(exc))

    async def flush(self) -> None:
        """Store what is pending now and publish what is unpublished (the caller holds the lock)."""
        if not self.pending.empty or self.unpublished:
            await self.act(Decision())

    async def commit(self, older: Decision, fresh: Decision, *, carry: bool = False) -> list[Outgoing]:
        """Store the book with the outbox of everything not published yet: what the last store
        left unpublished and `older`, then `fresh` (each order's and position's newest state
        only; a message is serialized once, however many stores carry it). Return that outbox
        to publish now, or nothing (`carry`: `fresh` sends orders; the store their answers make
        publishes it all)."""
        new = outgoing(fresh)
        full = [*compact([*self.unpublished, *outgoing(older)], new), *new]
        await self.published()  # this store replaces the stored outbox: the last one is out
        await self.save(full)
        self.unpublished = full if carry else []
        for d in (older, fresh):
            for f in d.fills:
                self.metrics.fills.labels(f.liquidity.value).inc()
            for e in d.risk_events:
                self.metrics.rejections.labels(e.kind).inc()
                if e.kind == "reconcile_drift":
                    self.metrics.drift_events.labels(e.symbol or "").inc()
        return [] if carry else full

    async def save(self, outbox: Sequence[Outgoing] = ()) -> None:
        start = time.perf_counter()
        record = Stored(self.book.snapshot(dedupe=False), list(outbox), self.now, self.fills_since)
        await self.store.save(record, self.book.take_remembered(), self.book.remembered)
        self.metrics.snapshot_seconds.observe(time.perf_counter() - start)
        self.metrics.snapshot_bytes.set(self.store.last_size)

    async def after_store(self, outbox: Sequence[Outgoing]) -> None:
        """What follows a store, beside the venue calls: the outbox published, and the round's
        remembered ids copied to the journal (the next store waits for both)."""
        await asyncio.gather(self.publish(outbox), self.store.flush())

    async def publish(self, outbox: Sequence[Outgoing]) -> None:
        await publish_all(self.bus.js, outbox)
        for o in outbox:
            self.bus.metrics.published.labels(subject_kind(o.subject)).inc()

    async def venue_round(self, d: Decision) -> Decision:
        return await self.calls.round(d, self.now)

    def apply_fill(self, f: VenueFill) -> Decision:
        """Feed one venue fill to the book (duplicates are dropped there); advance the watermark."""
        try:
            d = self.book.on_venue_fill(f, self.now)
        except ValueError as exc:
            log.error("bad venue fill ignored", venue_fill_id=f.venue_fill_id, error=str(exc))
            return Decision()
        self.fills_since = max(self.fills_since, f.ts_event)
        return d

    def replay_from(self) -> int:
        return max(0, self.fills_since - int(self.cfg.replay_slack_s * NS))

    # -- inputs --------------------------------------------------------------------------------

    async def on_intents(self, batch: Sequence[Delivered[IntentEnvelope]]) -> None:
        """A batch of intents (in stream order): all applied to the book, then ONE round of
        store, publish and venue calls; the batch is acked after it returns."""
        if self.halted:  # not acked: the next owner gets them
            raise Halted("execution is stopping; the intents are left for the next owner")
        async with self.lock:
            for d in batch:
                if d.msg.intent.dry_run:
                    self.metrics.dry_run.labels(d.msg.intent.strategy).inc()
            # netted as one batch; the book keeps its own mids from ticks (with their age)
            intents = [(d.msg.intent, None) for d in batch]
            delivery = [(d.stream_seq, d.redelivered) for d in batch]
            await self.act(self.book.on_intents(intents, self.now, delivery))

    async def on_ticks(self, ticks: Sequence[Tick]) -> None:
        """Ticks in arrival order, as one input of the book (brackets on each tick, timers and
        loss limits at the newest); one round for all of them."""
        if self.halted:
            return
        async with self.lock:
            batch = []
            for t in ticks:
                if 0 < t.bid <= t.ask:
                    self.now = max(self.now, t.ts_event)
                    batch.append((t.symbol, t.bid, t.ask, self.now))
            await self.act(self.book.on_ticks(batch), durable=False)

    async def on_venue_events(self, events: Sequence[VenueOrder | VenueFill]) -> None:
        """Venue events in arrival order, each applied to the book, the loss limits checked
        once after the last; one round for all of them."""
        if self.halted:
            return  # the next owner replays fills and looks orders up
        async with self.lock:
            d = Decision()
            loop_time = asyncio.get_running_loop().time()
            with self.book.one_loss_check(self.now, d):  # loss limits at the batch's end
                for ev in events:
                    if isinstance(ev, VenueFill):
                        sent = self.calls.sent_at.pop(ev.client_order_id, None)
                        if sent is not None:
                            self.metrics.order_to_fill.observe(loop_time - sent)
                        d.merge(self.apply_fill(ev))
                    else:
                        d.merge(self.book.on_order_update(ev, self.now))
            await self.act(d, durable=False)

    async def on_clock(self) -> None:
        if self.halted:
            return
        async with self.lock:
            await self.act(self.book.on_clock(self.now))

    async def on_kill_switch(self, ks: KillSwitch | None) -> None:
        state = (ks is not None and ks.active, ks is not None and ks.flatten)
        if self.halted:
            return
        async with self.lock:
            if state == self.kill_applied:
                return
            self.kill_applied = state
            if ks is not None and ks.active:
                log.warning("kill switch on", flatten=ks.flatten, reason=ks.reason)
                await self.act(self.book.kill(ks.flatten, self.now, ks.reason))
            elif self.book.killed:
                log.info("kill switch off")
                await self.act(self.book.release_kill(self.now))

    async def on_strategy(self, name: str, cfg: StrategyConfig | None) -> None:
        if not self.halted and cfg is not None and cfg.enabled != self.book.enabled(name):
            async with self.lock:
                await self.act(self.book.set_enabled(name, cfg.enabled, self.now))

    async def reconcile(self, outbox: Sequence[Outgoing] = ()) -> None:
        """Before any intent: publish the stored outbox, replay the venue's fills since the
        watermark, then align orders and positions. The fills are read before and after the
        balance; if one landed meanwhile the balance is read again, so no fill in flight is
        mistaken for drift."""
        async with self.lock:
            await self.publish(outbox)
            since = self.replay_from()
            fills: dict[str, VenueFill] = {}
            for _attempt in range(5):
                for f in await self.trading.fills(since=since):
                    fills.setdefault(f.venue_fill_id, f)
                bal = await self.trading.balance()
                open_orders = await self.trading.open_orders()
                later = [f for f in await self.trading.fills(since=since) if f.venue_fill_id not in fills]
                if not later:
                    break
                log.info("venue filled during reconcile; reading again", fills=len(later))
            d = Decision()
            for f in sorted(fills.values(), key=lambda f: f.ts_event):
                d.merge(self.apply_fill(f))
            self.metrics.replayed.labels("start").inc(len(fills))
            d.merge(self.book.reconcile(bal.positions, open_orders, self.now))
            drift = [e for e in d.risk_events if e.kind == "reconcile_drift"]
            self.metrics.drift.set(len(drift))
            for e in drift:
                log.warning("reconcile drift", symbol=e.symbol, reason=e.reason)
            log.info("reconciled", replayed_fills=len(fills), since=since, open_orders=len(open_orders))
            await self.act(d)

    async def resync(self) -> None:
        """Catch up with what the venue event stream may have missed (it does not replay after a
        gap): fills since the watermark, and our live orders the venue no longer lists."""
        if self.halted:
            return
        fills = await self.trading.fills(since=self.replay_from())
        open_ids = {vo.client_order_id for vo in await self.trading.open_orders()}
        async with self.lock:
            d = Decision()
            for f in fills:
                d.merge(self.apply_fill(f))
            # orders still live in the book but not open at the venue: their end was missed
            d.lookup += [
                u.client_order_id
                for u in self.book.open_orders(self.now)
                if u.client_order_id not in open_ids and u.status is not OrderStatus.NEW
            ]
            self.metrics.replayed.labels("resync").inc(len(fills))
            await self.act(d)

    async def committed(self) -> None:
        """Store and publish what is pending or unpublished, so a read of the book that follows
        shows nothing the bus has not been told (the caller holds the lock)."""
        if not self.halted:
            await self.flush()
            await self.published()

    async def positions(self, _: PositionsQuery) -> PositionsReply:
        async with self.lock:
            await self.committed()
            view = self.book.positions_view()
        return PositionsReply.model_validate(view)


async def _every(rt: Runtime, seconds: float, job: Any, what: str) -> None:
    while not rt.stopping.is_set():
        try:
            await asyncio.wait_for(rt.stopping.wait(), seconds)
            return
        except TimeoutError:
            pass
        try:
            await job()
        except Halted:
            return
        except Exception as exc:  # venue away: the next round tries again
            log.warning(f"{what} failed", error=str(exc))


async def _drain(
    rt: Runtime, queue: asyncio.Queue[T], handle: Callable[[list[T]], Awaitable[None]], limit: int
) -> None:
    """Hand what waits in `queue` (up to `limit`, in arrival order) to ONE `handle` call."""
    while not rt.stopping.is_set():
        batch = [await queue.get()]
        while len(batch) < limit and not queue.empty():
            batch.append(queue.get_nowait())
        try:
            await handle(batch)
        except Halted:
            return


async def run(rt: Runtime) -> None:
    cfg, limits = load_settings()
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
    store = SnapshotStore(await bus.kv(KV_EXECUTION), SNAPSHOT_KEY)
    stored = await store.load()
    if stored.book is not None:
        book = NettingBook.restore(stored.book, limits, instruments)
        log.info("book restored from snapshot", revision=store.revision, outbox=len(stored.outbox))
    else:
        log.info("new book")
        book = NettingBook(cfg.venue, limits, account=cfg.account, instruments=instruments)

    trading = open_trading(cfg.venue, cfg.venue_url, cfg.api_key)
    close = getattr(trading, "aclose", None)
    if close is not None:  # the adapter's connection pool, after the shutdown hook below
        rt.exit_stack.push_async_callback(close)
    ex = Execution(rt, cfg, book, trading, store, stored)
    ex.metrics.leader.set(1)

    # venue events are buffered from now on, and handled once the book is reconciled
    events: asyncio.Queue[VenueOrder | VenueFill] = asyncio.Queue()

    async def pump() -> None:
        async for ev in trading.events():
            ex.metrics.venue_up.labels(cfg.venue).set(1)
            events.put_nowait(ev)

    rt.spawn(pump(), "venue-events")
    await ex.reconcile(stored.outbox)
    ks = await bus.kv_get(KV_CONTROL, KILL_SWITCH_KEY, KillSwitch)
    await ex.on_kill_switch(ks)  # before any intent, as the switch stands now

    ticks: asyncio.Queue[Tick] = asyncio.Queue(maxsize=cfg.batch_max * 100)

    async def on_tick(t: Tick) -> None:
        try:
            ticks.put_nowait(t)
        except asyncio.QueueFull:  # execution is far behind: ticks are lossy, the next one counts
            pass

    async def watch_strategies() -> None:
        async for key, value in bus.kv_watch(KV_STRATEGIES, ">", StrategyConfig):
            await ex.on_strategy(key, value)

    async def watch_kill() -> None:
        async for _key, value in bus.kv_watch(KV_CONTROL, KILL_SWITCH_KEY, KillSwitch):
            await ex.on_kill_switch(value)

    # venue events and ticks are cheap per item and rarely call the venue: a round takes 10x
    # more of them, so a backlog (fills queued behind intent rounds) clears in a few turns of the
    # lock instead of holding orders open, which every new order's risk check walks
    rt.spawn(_drain(rt, events, ex.on_venue_events, cfg.batch_max * 10), "venue-drain")
    rt.spawn(_drain(rt, ticks, ex.on_ticks, cfg.batch_max * 10), "tick-drain")
    rt.spawn(_every(rt, cfg.clock_every_s, ex.on_clock, "clock"), "clock")
    rt.spawn(_every(rt, cfg.resync_every_s, ex.resync, "resync"), "resync")
    rt.spawn(watch_strategies(), "watch-strategies")
    rt.spawn(watch_kill(), "watch-kill")
    await bus.subscribe(md_ticks(cfg.venue), Tick, on_tick)
    await bus.serve(
        EXEC_POSITIONS, PositionsQuery, ex.positions, error_reply=lambda e: PositionsReply(error=e)
    )
    await bus.consume_delivered(
        TRADING, "execution-intents", "sig.intent.>", IntentEnvelope, ex.on_intents, batch=cfg.batch_max
    )

    async def on_shutdown() -> None:
        async with ex.lock:
            ex.closed = True
            if not ex.dead:
                try:
                    await ex.act(ex.book.withdraw_quotes())
                    await ex.published()
                except Exception as exc:
                    log.warning("could not withdraw quotes on shutdown", error=str(exc))
        await lease.release()
        ex.metrics.leader.set(0)

    rt.exit_stack.push_async_callback(on_shutdown)
    log.info("execution ready", venue=cfg.venue, symbols=sorted(instruments))
    await serve_gateway_queries(ex)


# -- read queries of the gateway (open orders) -------------------------------------------------


async def serve_gateway_queries(ex: Execution) -> None:
    """Answer `exec.query.orders`: the book's orders that are not terminal."""

    async def open_orders(q: OrdersQuery) -> OrdersReply:
        async with ex.lock:
            await ex.committed()
            orders = ex.book.open_orders(ex.now)
        if q.owner is not None:
            orders = [o for o in orders if o.owner == q.owner]
        return OrdersReply(orders=tuple(sorted(orders, key=lambda o: o.client_order_id)))

    await ex.bus.serve(EXEC_ORDERS, OrdersQuery, open_orders, error_reply=lambda e: OrdersReply(error=e))


def main() -> None:
    from tradebus.service import run_service

    asyncio.run(run_service("execution", run))
