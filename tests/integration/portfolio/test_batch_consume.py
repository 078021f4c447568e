"""`Bus.consume_batch` on a real nats-server: one handler call per fetch, acks after it, bad
messages dead-lettered one by one, a poison message isolated from the rest of its batch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from proto import Fill, Liquidity, Side
from proto.subjects import DEADLETTER, TRADING, exec_fill
from tradebus.bus import Bus
from tradebus.testing.servers import eventually


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    b = await Bus.connect(nats_url, service="test", registry=CollectorRegistry())
    await b.ensure_streams()
    yield b
    await b.close()


def a_fill(i: int, strategy: str) -> Fill:
    return Fill(
        fill_id=f"f{i}", strategy=strategy, venue="sim", symbol="BTC-USD", side=Side.BUY,
        qty=Decimal("0.1"), price=Decimal(100 + i), liquidity=Liquidity.TAKER, ts_event=i + 1,
    )  # fmt: skip


async def pending(bus: Bus, durable: str) -> int:
    info = await bus.js.consumer_info(TRADING, durable)
    return int(info.num_ack_pending) + int(info.num_pending)


async def test_what_waits_is_handed_over_in_one_call_in_order_and_acked(bus: Bus) -> None:
    strategy = f"s{uuid.uuid4().hex[:8]}"
    subject = exec_fill(strategy)
    sent = [a_fill(i, strategy) for i in range(50)]
    for f in sent[:25]:
        await bus.publish_durable(subject, f, f"{strategy}-{f.fill_id}")
    await bus.js.publish(subject, b"{broken", headers={"Nats-Msg-Id": f"{strategy}-bad"})
    for f in sent[25:]:
        await bus.publish_durable(subject, f, f"{strategy}-{f.fill_id}")
    calls: list[list[Fill]] = []

    async def handle(batch: Sequence[Fill]) -> None:
        calls.append(list(batch))

    durable = f"test-{strategy}"
    await bus.consume_batch(TRADING, durable, subject, Fill, handle, batch=100)
    await eventually(lambda: sum(map(len, calls)) == 50, what="all 50 fills")
    assert calls == [sent]  # they were all waiting: one call, in stream order, without the bad one
    await eventually(lambda: _zero(bus, durable), what="every message acked")
    dlq = await bus.js.pull_subscribe(f"dlq.{subject}", stream=DEADLETTER)
    (dead,) = await dlq.fetch(1, timeout=5)
    assert dead.data == b"{broken"
    assert dead.headers is not None and "Fill" in dead.headers["Tradebus-Reason"]
    lag = bus.metrics.consumer_lag.labels(durable)._value.get()
    assert lag == 0


async def _zero(bus: Bus, durable: str) -> bool:
    return await pending(bus, durable) == 0


async def test_a_poison_message_is_isolated_and_the_rest_of_its_batch_stored(bus: Bus) -> None:
    strategy = f"s{uuid.uuid4().hex[:8]}"
    subject = exec_fill(strategy)
    sent = [a_fill(i, strategy) for i in range(6)]
    for f in sent:
        await bus.publish_durable(subject, f, f"{strategy}-{f.fill_id}")
    stored: dict[str, int] = {}
    batch_sizes: list[int] = []

    async def handle(batch: Sequence[Fill]) -> None:
        batch_sizes.append(len(batch))
        if any(f.fill_id == "f3" for f in batch):
            raise RuntimeError("f3 cannot be stored")
        for f in batch:  # idempotent by id, like the ledger
            stored[f.fill_id] = stored.get(f.fill_id, 0) + 1

    durable = f"test-{strategy}"
    await bus.consume_batch(TRADING, durable, subject, Fill, handle, batch=100, max_deliver=3)
    await eventually(lambda: _zero(bus, durable), timeout=15, what="everything settled")
    assert sorted(stored) == ["f0", "f1", "f2", "f4", "f5"]
    assert batch_sizes[0] == 6  # first the whole batch, then one at a time
    dlq = await bus.js.pull_subscribe(f"dlq.{subject}", stream=DEADLETTER)
    (dead,) = await dlq.fetch(1, timeout=5)
    assert Fill.model_validate_json(dead.data).fill_id == "f3"
    assert dead.headers is not None and "3 times" in dead.headers["Tradebus-Reason"]
