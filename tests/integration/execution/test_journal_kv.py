"""The incremental store against a real NATS KV bucket: many rounds with compactions, a restart
that reads base + journal + record, the previous owner's keys deleted, a fenced old owner."""

from __future__ import annotations

import nats
import pytest
from prometheus_client import CollectorRegistry

from services.execution.core import NettingBook
from services.execution.store import Fenced, SnapshotStore, Stored
from tests.unit.execution.factory import T0, book, target
from tradebus.bus import Bus


async def save(store: SnapshotStore, b: NettingBook) -> None:
    await store.save(Stored(b.snapshot(dedupe=False), [], T0, 0), b.take_remembered(), b.remembered)


async def restore(store: SnapshotStore, like: NettingBook) -> NettingBook:
    s = await store.load()
    assert s.book is not None
    return NettingBook.restore(s.book, like.limits)


async def test_rounds_compactions_and_a_restart_on_a_real_bucket(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        kv = await Bus(nc, CollectorRegistry(), "test").kv("execution")
        first = SnapshotStore(kv, compact_every=3)
        b = book(dedupe_memory=12)
        b.on_tick("BTC-USD", 100, 101, T0)
        for i in range(10):
            b.on_intent(target("alpha", "BTC-USD", str(i + 1)), None, T0)
            await save(first, b)
        await first.flush()
        assert any(first.gen in k for k in await kv.keys())  # a base and journal entries of its own

        second = SnapshotStore(kv, compact_every=3)
        again = await restore(second, b)
        assert again.remembered() == b.remembered() and len(again.remembered()[0]) == 10
        for i in range(4):
            again.on_intent(target("alpha", "BTC-USD", str(20 + i)), None, T0)
            await save(second, again)
        await second.flush()
        assert not any(first.gen in k for k in await kv.keys())  # no stored record names them

        restored = await restore(SnapshotStore(kv, compact_every=3), b)
        assert restored.remembered() == again.remembered()
        assert len(restored.remembered()[0]) == 12  # the memory's bound, oldest dropped

        b.on_intent(target("alpha", "BTC-USD", "99"), None, T0)
        with pytest.raises(Fenced):
            await save(first, b)
    finally:
        await nc.close()
