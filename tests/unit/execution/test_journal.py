"""The stored state with an incremental dedupe memory: record + journal + base, restored whole
after a crash at any point, fenced, migrated from the whole-book format, and small per round."""

from __future__ import annotations

import asyncio
import copy
import itertools
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto.trading import Side
from services.execution.core import NettingBook
from services.execution.store import FULL_FORMAT, Fenced, SnapshotStore, Stored
from tests.unit.execution.factory import T0, book, limits, target
from tests.unit.execution.fake_kv import FakeKV, PausedKV
from tradebus.venues.base import VenueFill

_fids = itertools.count(1)


def stray_fill(symbol: str = "BTC-USD") -> VenueFill:
    """A venue fill of an order the book does not know (booked to `_unattributed`, remembered)."""
    return VenueFill(
        venue_fill_id=f"jf{next(_fids)}",
        venue_order_id="v-x",
        client_order_id="elsewhere-1",
        symbol=symbol,
        side=Side.BUY,
        qty=Decimal("0.1"),
        price=Decimal("100"),
        fee=Decimal("0"),
        liquidity="taker",
        ts_event=T0,
    )


def new_book(memory: int = 10_000) -> NettingBook:
    b = book(dedupe_memory=memory)
    b.on_tick("BTC-USD", 100, 101, T0)
    return b


async def save(store: SnapshotStore, b: NettingBook) -> None:
    await store.save(Stored(b.snapshot(dedupe=False), [], T0, 0), b.take_remembered(), b.remembered)


def fork(kv: FakeKV) -> FakeKV:
    """What a crash right now leaves stored."""
    other = FakeKV()
    other.data, other.seq = copy.copy(kv.data), kv.seq
    return other


async def restored(kv: FakeKV, memory: int = 10_000) -> tuple[NettingBook, SnapshotStore]:
    store = SnapshotStore(kv, compact_every=4)
    s = await store.load()
    assert s.book is not None
    return NettingBook.restore(s.book, limits(dedupe_memory=memory)), store


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.sampled_from(["intent", "fill", "save", "flush", "crash"]), max_size=60))
def test_a_crash_anywhere_restores_every_id_the_stored_book_remembers(ops: list[str]) -> None:
    async def run() -> None:
        kv, memory = FakeKV(), 7
        b, store = new_book(memory), SnapshotStore(kv, compact_every=4)
        await save(store, b)
        stored_memory = b.remembered()
        for op in ops:
            if op == "intent":
                b.on_intent(target("alpha", "BTC-USD", "1"), None, T0)
            elif op == "fill":
                b.on_venue_fill(stray_fill(), T0)
            elif op == "save":
                await save(store, b)
                stored_memory = b.remembered()
            elif op == "flush":
                await store.flush()
            else:  # crash: a new instance starts from what is stored, and goes on from there
                b, store = await restored(fork(kv), memory)
                kv = store.kv
                assert b.remembered() == stored_memory
            again, _ = await restored(fork(kv), memory)
            assert again.remembered() == stored_memory

    asyncio.run(run())


async def test_a_restored_book_drops_what_it_already_did() -> None:
    kv, b = FakeKV(), new_book()
    store = SnapshotStore(kv, compact_every=3)
    done = [target("alpha", "BTC-USD", str(i)) for i in range(1, 11)]
    fills = [stray_fill() for _ in range(10)]
    for intent, fill in zip(done, fills, strict=True):
        b.on_intent(intent, None, T0)
        b.on_venue_fill(fill, T0)
        await save(store, b)
    again, _ = await restored(kv)
    assert all(again.on_intent(i, None, T0).risk_events[0].kind == "duplicate_intent" for i in done)
    assert all(again.on_venue_fill(f, T0).empty for f in fills)
    assert again.position("_unattributed", "BTC-USD") == b.position("_unattributed", "BTC-USD") != 0


async def test_a_round_write_does_not_grow_with_the_memory() -> None:
    async def round_bytes(remembered: int) -> int:
        kv, b = FakeKV(), new_book()
        store = SnapshotStore(kv, compact_every=8)
        for _ in range(remembered):
            b.on_intent(target("alpha", "BTC-USD", "1", intent_id=f"old-{next(_fids):08d}"), None, T0)
        await save(store, b)
        for _ in range(16):  # past a compaction: the base holds the old ids
            b.on_intent(target("alpha", "BTC-USD", "2"), None, T0)
            await save(store, b)
        await store.flush()
        kv.writes.clear()
        b.on_intent(target("alpha", "BTC-USD", "3"), None, T0)
        await save(store, b)
        await store.flush()
        return sum(size for _, size in kv.writes)

    small, large = await round_bytes(10), await round_bytes(5_000)
    assert large < small * 1.2, (small, large)
    b = new_book()
    for _ in range(5_000):
        b.on_intent(target("alpha", "BTC-USD", "1"), None, T0)
    assert len(orjson.dumps(b.snapshot())) > 10 * small  # what one round wrote before


async def test_an_old_owner_is_fenced_and_never_overwrites_what_the_new_one_names() -> None:
    kv, b = FakeKV(), new_book()
    paused = PausedKV(kv)
    old = SnapshotStore(paused, compact_every=4)
    b.on_intent(target("alpha", "BTC-USD", "1"), None, T0)
    await save(old, b)  # stored; its journal copy is still on the way (a slow, paused owner)
    newer_book, newer = await restored(kv)
    for qty in ("2", "3", "4"):  # a base of its own, then journal entries it names
        newer_book.on_intent(target("alpha", "BTC-USD", qty), None, T0)
        await save(newer, newer_book)
        await newer.flush()
    paused.go.set()
    await old.flush()  # the old owner's late journal copy lands now
    b.on_intent(target("alpha", "BTC-USD", "4"), None, T0)
    with pytest.raises(Fenced):
        await save(old, b)
    again, _ = await restored(kv)
    assert again.remembered() == newer_book.remembered()


async def test_a_whole_book_record_of_format_2_is_migrated_without_losing_ids() -> None:
    kv, b = FakeKV(), new_book()
    for _ in range(5):
        b.on_intent(target("alpha", "BTC-USD", "1"), None, T0)
        b.on_venue_fill(stray_fill(), T0)
    record = {"format": FULL_FORMAT, "book": b.snapshot(), "outbox": [], "now": T0, "fills_since": 0}
    await kv.create("book", orjson.dumps(record))
    again, store = await restored(kv)
    assert again.remembered() == b.remembered()
    await save(store, again)  # crash before its base is written: the record carries the ids
    assert (await restored(fork(kv)))[0].remembered() == b.remembered()
    await store.flush()
    assert (await restored(fork(kv)))[0].remembered() == b.remembered()


async def test_a_missing_journal_entry_is_a_clear_error() -> None:
    kv, b = FakeKV(), new_book()
    store = SnapshotStore(kv, compact_every=10)
    for _ in range(3):
        b.on_intent(target("alpha", "BTC-USD", "1"), None, T0)
        await save(store, b)
    await store.flush()
    entry = next(k for k in kv.data if k.startswith("j."))
    await kv.purge(entry)
    with pytest.raises(ValueError, match=f"journal entry '{entry}'.*missing"):
        await restored(kv)


async def test_a_new_owner_deletes_every_key_of_the_earlier_ones_once_its_own_base_is_named() -> None:
    kv, b = FakeKV(), new_book()
    old = SnapshotStore(kv, compact_every=3)
    for _ in range(8):  # both base slots and some journal entries
        b.on_intent(target("alpha", "BTC-USD", "1"), None, T0)
        await save(old, b)
    await old.flush()
    assert {k.split(".")[0] for k in kv.data if old.gen in k} == {"base", "j"}
    again, store = await restored(kv)
    for _ in range(2):  # its base, then a record that names it
        await save(store, again)
        await store.flush()
    assert not [k for k in kv.data if old.gen in k]
    assert (await restored(fork(kv)))[0].remembered() == b.remembered()
