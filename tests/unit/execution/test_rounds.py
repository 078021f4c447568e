"""One round of the execution shell against fakes: venue calls of a stored decision, made
concurrently, answered in any order, applied in request order; an order created and canceled in
the same batch never reaches the venue."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from proto import OrderStatus
from proto.queries import PositionsQuery
from services.execution.core import Decision, NettingBook
from services.execution.service import Execution, Halted
from services.execution.settings import ExecutionSettings
from services.execution.store import Ids, SnapshotStore, Stored
from tests.unit.execution.factory import NS, T0, book, target
from tests.unit.execution.fake_kv import FakeKV
from tradebus.metrics import BusMetrics
from tradebus.testing.servers import eventually
from tradebus.venues.base import OrderNotFound, OrderRequest, VenueError, VenueOrder


class FakeVenue:
    """Answers after a random delay (so answers come back out of order); remembers the calls."""

    def __init__(self, unknown: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.submitted: list[str] = []
        self.canceled: list[str] = []
        self.looked_up: list[str] = []
        self.in_flight = self.most_in_flight = 0
        self.unknown = set(unknown)
        self.orders: dict[str, VenueOrder] = {}

    async def _pause(self) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(random.random() / 1000)  # a venue's latency, not a wait for a condition
        self.in_flight -= 1

    async def submit(self, r: OrderRequest) -> VenueOrder:
        self.submitted.append(r.client_order_id)
        await self._pause()
        vo = VenueOrder(r.client_order_id, f"v{r.client_order_id}", r.symbol, r.side, r.type, r.qty,
                        r.price, OrderStatus.NEW, Decimal(0), None)  # fmt: skip
        self.orders[r.client_order_id] = vo
        if r.client_order_id in self.unknown:
            raise VenueError("timed out", retryable=True)
        return vo

    async def cancel(self, cid: str) -> VenueOrder:
        self.canceled.append(cid)
        await self._pause()
        raise OrderNotFound(cid)

    async def order(self, cid: str) -> VenueOrder:
        self.looked_up.append(cid)
        await self._pause()
        return self.orders[cid]


class FakeStore(SnapshotStore):
    """The real store over an in-memory KV, keeping every record it stored."""

    def __init__(self) -> None:
        super().__init__(FakeKV())
        self.saved: list[Stored] = []

    async def save(self, s: Stored, new: Ids, remembered: Callable[[], Ids]) -> None:
        await super().save(s, new, remembered)
        self.saved.append(s)
        if self.events is not None:
            self.events.append("stored")

    events: list[str] | None = None


class FakeJS:
    """Records what is published; acks at once, or (`hold()`) only when `release()` is called."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.events: list[str] = []
        self.held: list[asyncio.Future[None]] | None = None

    def hold(self) -> None:
        self.held = []

    def release(self) -> None:
        held, self.held = self.held or [], None
        self.events.append(f"acked {len(held)}")
        for f in held:
            f.set_result(None)

    def refuse(self) -> None:
        held, self.held = self.held or [], None
        for f in held:
            f.set_exception(RuntimeError("nats: no response from stream"))

    async def publish_async(self, subject: str, payload: bytes, headers: dict[str, str]) -> Any:
        self.sent.append(headers["Nats-Msg-Id"])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.held is None:
            done.set_result(None)
        else:
            self.held.append(done)
        return done


def shell(
    b: NettingBook, venue: FakeVenue, concurrency: int = 4, flush_after_s: float = 0.01
) -> tuple[Execution, FakeStore]:
    reg = CollectorRegistry()
    bus = SimpleNamespace(js=FakeJS(), metrics=BusMetrics(reg))
    rt: Any = SimpleNamespace(registry=reg, bus=bus, stopping=asyncio.Event())
    store = FakeStore()
    cfg = ExecutionSettings(venue_concurrency=concurrency, flush_after_s=flush_after_s)
    return Execution(rt, cfg, b, venue, store, Stored(now=T0)), store  # type: ignore[arg-type]


def intents(b: NettingBook, n: int) -> Decision:
    d = Decision()
    for i in range(n):
        d.merge(b.on_intent(target(f"s{i}", f"SYM{i}-USD", "1"), None, T0))
    return d


def fresh_book(n: int) -> NettingBook:
    b = book()
    for i in range(n):
        b.on_tick(f"SYM{i}-USD", 100, 101, T0)
    return b


async def test_a_batch_is_stored_once_before_its_orders_go_out_concurrently() -> None:
    b, venue = fresh_book(12), FakeVenue()
    ex, store = shell(b, venue)
    d = intents(b, 12)
    await ex.act(d)
    sent = [n.request.client_order_id for n in d.submit]
    assert sorted(venue.submitted) == sorted(sent) and len(sent) == 12
    assert 1 < venue.most_in_flight <= 4
    # round 1: the new orders (state NEW), stored before any call; the answers (SUBMITTED and
    # the venue's ACKED) call nothing: they wait for the next store (group commit) ...
    assert len(store.saved) == 1
    first = {o["client_order_id"]: o["status"] for o in store.saved[0].book["orders"]}  # type: ignore[index]
    assert first == dict.fromkeys(sent, "new")
    assert all(b.open_orders(T0)[i].status is OrderStatus.ACKED for i in range(12))
    assert {u.status for u in ex.pending.order_updates} == {OrderStatus.SUBMITTED, OrderStatus.ACKED}
    # ... which the flush queued behind the lock makes when no input came first
    assert ex._flusher is not None
    await asyncio.wait_for(ex._flusher, 5)
    await ex.published()
    assert len(store.saved) == 2 and ex.pending.empty
    second = {o["client_order_id"]: o["status"] for o in store.saved[1].book["orders"]}  # type: ignore[index]
    assert second == dict.fromkeys(sent, "acked")
    published = ex.bus.js.sent
    assert sum(i.endswith(":acked:0") for i in published) == 12


async def test_pending_outputs_ride_with_the_next_input_store_in_order() -> None:
    b, venue = fresh_book(2), FakeVenue()
    ex, store = shell(b, venue)
    async with ex.lock:  # the flush waits behind this input, as behind any input in the queue
        await ex.act(intents(b, 1))
        assert len(store.saved) == 1 and not ex.pending.empty
        (first_order,) = {u.client_order_id for u in ex.pending.order_updates}
        d = b.on_intent(target("s1", "SYM1-USD", "1"), None, T0)
        (second_order,) = [n.request.client_order_id for n in d.submit]
        await ex.act(d)
        # one store for both: the pending answers first (the order's newest state only), then
        # the new intent's order
        assert len(store.saved) == 2
        orders = [o.msg_id for o in store.saved[1].outbox if o.subject.startswith("exec.order.")]
        assert orders == [f"{first_order}:acked:0", f"{second_order}:new:0"]
    await asyncio.wait_for(ex._flusher, 5)  # type: ignore[arg-type]
    assert ex.pending.empty


async def test_an_unknown_submit_outcome_is_looked_up_never_resent() -> None:
    b = fresh_book(3)
    d = intents(b, 3)
    lost = d.submit[1].request.client_order_id
    venue = FakeVenue(unknown={lost})
    ex, _ = shell(b, venue)
    await ex.act(d)
    assert venue.submitted.count(lost) == 1
    assert venue.looked_up == [lost]
    assert {u.client_order_id: u.status for u in b.open_orders(T0)}[lost] is OrderStatus.ACKED


async def test_an_order_created_and_canceled_in_one_batch_never_reaches_the_venue() -> None:
    b = fresh_book(1)
    d = b.on_intent(target("s0", "SYM0-USD", "1"), None, T0)
    created = d.submit[0].request.client_order_id
    d.merge(b.kill(False, T0 + NS, "test"))  # cancels every order, the unsent one too
    venue = FakeVenue()
    ex, store = shell(b, venue)
    await ex.act(d)
    assert venue.submitted == [] and venue.canceled == []
    assert b.open_orders(T0) == []
    ends = [
        o for s in store.saved for o in (s.book or {}).get("orders", []) if o["client_order_id"] == created
    ]
    assert [o["status"] for o in ends][:1] == ["new"]
    assert store.saved  # the creation and its end were stored


async def test_a_round_that_sends_orders_leaves_its_outbox_to_the_store_of_their_answers() -> None:
    b, venue = fresh_book(3), FakeVenue()
    ex, store = shell(b, venue)
    d = intents(b, 3)
    sent = [n.request.client_order_id for n in d.submit]
    await ex.act(d)
    # stored before the calls WITH its outbox (a crash now republishes it on the next start) ...
    assert {f"{c}:new:0" for c in sent} <= {o.msg_id for o in store.saved[0].outbox}
    # ... but not published: the store the answers make publishes both, newest state only
    assert ex.bus.js.sent == []
    assert ex._flusher is not None
    await asyncio.wait_for(ex._flusher, 5)
    await ex.published()
    published = ex.bus.js.sent
    assert sorted(i for i in published if i.startswith("tb-")) == sorted(f"{c}:acked:0" for c in sent)
    assert len([i for i in published if i.startswith("s")]) == 3  # one position per strategy
    assert not ex.unpublished and ex.pending.empty
    assert published == [o.msg_id for o in store.saved[-1].outbox]


async def test_a_positions_query_shows_nothing_the_bus_has_not_been_told() -> None:
    b, venue = fresh_book(2), FakeVenue()
    ex, store = shell(b, venue)
    await ex.act(intents(b, 2))
    # the orders' answers wait for a store (group commit); a query must not show them first
    assert not ex.pending.empty
    stored = len(store.saved)
    reply = await ex.positions(PositionsQuery())
    assert ex.pending.empty and not ex.unpublished
    assert len(store.saved) == stored + 1
    assert sum(i.endswith(":acked:0") for i in ex.bus.js.sent) == 2
    assert reply.net_target == {"SYM0-USD": Decimal(1), "SYM1-USD": Decimal(1)}


async def test_the_lock_is_free_while_an_outbox_is_acked_and_the_next_store_waits_for_the_acks() -> None:
    b, venue = fresh_book(4), FakeVenue()
    ex, store = shell(b, venue)
    js = ex.bus.js
    store.events = js.events
    await ex.act(intents(b, 2))  # orders out; their answers wait in `pending`
    js.hold()
    assert ex._flusher is not None
    await asyncio.wait_for(ex._flusher, 5)  # the answers' store publishes both outboxes ...
    assert js.held and not ex.lock.locked()  # ... and leaves the lock while the acks are out
    assert ex._publishing is not None and not ex._publishing.done()

    async def next_input() -> None:  # new targets in two more symbols, as the shell's inputs act
        async with ex.lock:
            await ex.act(intents(b, 4))

    second = asyncio.create_task(next_input())
    await eventually(lambda: ex.lock.locked() or second.done(), what="the next input at work")
    js.release()
    await asyncio.wait_for(second, 5)
    # the store that replaces the stored outbox came only after that outbox was acked
    assert [e.split()[0] for e in js.events[:4]] == ["stored", "stored", "acked", "stored"], js.events
    assert int(js.events[2].split()[1]) > 0  # messages were out while the lock was free


async def test_an_outbox_that_is_not_acked_stops_the_instance_without_waiting_for_another_store() -> None:
    b, venue = fresh_book(2), FakeVenue()
    ex, store = shell(b, venue)
    js = ex.bus.js
    await ex.act(intents(b, 2))
    js.hold()
    assert ex._flusher is not None
    await asyncio.wait_for(ex._flusher, 5)
    assert js.held and not ex.dead
    js.refuse()
    await eventually(lambda: ex.dead, what="the instance marked dead")
    assert ex.rt.stopping.is_set()
    with pytest.raises(Halted):
        await ex.act(intents(b, 2))
    # the refused outbox is the last stored one: the next start publishes it
    refused = {o.msg_id for o in store.saved[-1].outbox}
    assert refused and refused <= set(js.sent)


async def test_the_answers_ride_with_the_next_input_that_comes_within_flush_after() -> None:
    """A round's answers wait up to `flush_after_s` for the next input's store; with no wait,
    the flush stores them first and the next input makes a store of its own."""

    async def stores(flush_after_s: float) -> list[Stored]:
        b, venue = fresh_book(4), FakeVenue()
        ex, store = shell(b, venue, flush_after_s=flush_after_s)
        await ex.act(intents(b, 2))  # two orders out, their answers (acked) pending
        assert len(store.saved) == 1 and not ex.pending.empty
        await asyncio.sleep(0)  # one turn of the loop: a flush with no wait takes the lock now
        async with ex.lock:  # the next input: two more symbols
            await ex.act(intents(b, 4))
        assert ex._flusher is not None
        ex._flusher.cancel()
        return store.saved

    waited = await stores(1.0)
    assert len(waited) == 2  # the next input's store carried the answers
    acked = [o["client_order_id"] for o in waited[1].book["orders"] if o["status"] == "acked"]  # type: ignore[index]
    assert len(acked) == 2
    assert len(await stores(0.0)) == 3  # the flush stored them on its own first


async def test_an_outbox_carried_over_several_stores_is_serialized_once() -> None:
    """Under a stream of rounds that send orders, each store carries everything not published
    yet (newest state per order and position); a message is made once and carried as it is."""
    b, venue = fresh_book(6), FakeVenue()
    ex, store = shell(b, venue, flush_after_s=1.0)  # no flush in time: only the inputs store
    rounds: list[list[str]] = []
    async with ex.lock:
        for k in range(3):  # three inputs, each sending orders in two new symbols
            d = Decision()
            for i in (2 * k, 2 * k + 1):
                d.merge(b.on_intent(target(f"s{i}", f"SYM{i}-USD", "1"), None, T0))
            rounds.append([n.request.client_order_id for n in d.submit])
            await ex.act(d)
    assert ex._flusher is not None
    ex._flusher.cancel()
    assert len(store.saved) == 3 and ex.bus.js.sent == []
    orders = [o.msg_id for o in store.saved[-1].outbox if o.subject.startswith("exec.order.")]
    assert sorted(orders) == sorted(
        [f"{c}:acked:0" for c in rounds[0] + rounds[1]] + [f"{c}:new:0" for c in rounds[2]]
    )
    # round 1's positions: the same messages in the second and third record, not made again
    second = {o.msg_id: o for o in store.saved[1].outbox}
    third = [o for o in store.saved[2].outbox if o.msg_id in second]
    assert len(third) >= 6  # round 1: two positions, two answers; round 2: two positions
    assert all(o is second[o.msg_id] for o in third)
