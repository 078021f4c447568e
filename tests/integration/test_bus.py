"""The bus helper against a real nats-server: dedupe, durable consume, dead letters, KV."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from proto import Fill, Liquidity, Side, StrategyConfig
from proto.subjects import DEADLETTER, TRADING, exec_fill
from tradebus.bus import Bus
from tradebus.pull import Delivered
from tradebus.testing.servers import eventually


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    b = await Bus.connect(nats_url, service="test", registry=CollectorRegistry())
    await b.ensure_streams()
    yield b
    await b.close()


def a_fill(fill_id: str, strategy: str) -> Fill:
    return Fill(
        fill_id=fill_id, strategy=strategy, venue="sim", symbol="BTC-USD", side=Side.BUY,
        qty=Decimal("0.1"), price=Decimal("65000.5"), liquidity=Liquidity.TAKER, ts_event=1,
    )  # fmt: skip


def count(bus: Bus, kind: str, result: str) -> float:
    value = bus.metrics.messages.labels(kind, result)._value.get()
    return float(value)


async def test_durable_publish_dedupes_by_msg_id(bus: Bus) -> None:
    strategy = f"s{uuid.uuid4().hex[:8]}"
    fill = a_fill("f1", strategy)
    assert await bus.publish_durable(exec_fill(strategy), fill, "f1") is True
    assert await bus.publish_durable(exec_fill(strategy), fill, "f1") is False
    got: list[Fill] = []

    async def handle(f: Fill) -> None:
        got.append(f)

    await bus.consume(TRADING, f"test-{strategy}", exec_fill(strategy), Fill, handle)
    await eventually(lambda: got, what="the fill")
    assert got == [fill]
    assert got[0].price == Decimal("65000.5")


async def test_bad_message_goes_to_dead_letter_and_service_goes_on(bus: Bus) -> None:
    strategy = f"s{uuid.uuid4().hex[:8]}"
    subject = exec_fill(strategy)
    await bus.js.publish(subject, b"{not json", headers={"Nats-Msg-Id": "bad1"})
    await bus.js.publish(subject, b'{"fill_id": "x"}', headers={"Nats-Msg-Id": "bad2"})
    good = a_fill("g1", strategy)
    await bus.publish_durable(subject, good, "g1")
    got: list[Fill] = []

    async def handle(f: Fill) -> None:
        got.append(f)

    await bus.consume(TRADING, f"test-{strategy}", subject, Fill, handle)
    await eventually(lambda: got, what="the good fill after two bad ones")
    assert got == [good]
    dlq = await bus.js.pull_subscribe(f"dlq.{subject}", stream=DEADLETTER)
    msgs = await dlq.fetch(2, timeout=5)
    assert [m.data for m in msgs] == [b"{not json", b'{"fill_id": "x"}']
    assert all(m.headers and "Fill" in m.headers["Tradebus-Reason"] for m in msgs)


async def test_failing_handler_is_retried_then_dead_lettered(bus: Bus) -> None:
    strategy = f"s{uuid.uuid4().hex[:8]}"
    subject = exec_fill(strategy)
    attempts: list[str] = []

    async def flaky(f: Fill) -> None:
        attempts.append(f.fill_id)
        if f.fill_id == "poison" or len(attempts) == 1:
            raise RuntimeError("boom")

    await bus.publish_durable(subject, a_fill("ok", strategy), "ok")
    await bus.publish_durable(subject, a_fill("poison", strategy), "poison")
    await bus.consume(TRADING, f"test-{strategy}", subject, Fill, flaky, max_deliver=3)
    # "ok" fails once and then succeeds; "poison" fails 3 times and is dead-lettered
    await eventually(lambda: attempts.count("poison") == 3 and "ok" in attempts[1:], what="retries")
    dlq = await bus.js.pull_subscribe(f"dlq.{subject}", stream=DEADLETTER)
    msgs = await dlq.fetch(1, timeout=5)
    assert b"poison" in msgs[0].data
    assert count(bus, "exec.fill", "deadlettered") >= 1


async def test_a_delivered_batch_names_each_messages_stream_place_and_redelivery(bus: Bus) -> None:
    strategy = f"s{uuid.uuid4().hex[:8]}"
    subject = exec_fill(strategy)
    seen: list[tuple[str, int, bool]] = []

    async def once_refused(batch: Sequence[Delivered[Fill]]) -> None:
        seen.extend((d.msg.fill_id, d.stream_seq, d.redelivered) for d in batch)
        if any(d.msg.fill_id == "b" and not d.redelivered for d in batch):
            raise RuntimeError("not now")  # "b" alone is nak'ed and comes again

    acks = [await bus.js.publish(subject, a_fill(i, strategy).to_bytes()) for i in ("a", "b")]
    seqs = {"a": acks[0].seq, "b": acks[1].seq}
    await bus.consume_delivered(TRADING, f"test-{strategy}", subject, Fill, once_refused, max_deliver=3)
    await eventually(lambda: ("b", seqs["b"], True) in seen, what="b delivered again")
    assert ("a", seqs["a"], False) in seen and ("b", seqs["b"], False) in seen
    assert all(seq == seqs[i] for i, seq, _ in seen)


async def test_kv_watch_sees_current_value_then_changes(bus: Bus) -> None:
    name = f"s{uuid.uuid4().hex[:8]}"
    await bus.kv_put("strategies", name, StrategyConfig(name=name, kind="x", enabled=True))
    seen: list[bool] = []

    async def watch() -> None:
        async for _key, value in bus.kv_watch("strategies", name, StrategyConfig):
            assert value is not None
            seen.append(value.enabled)

    task = asyncio.create_task(watch())
    await eventually(lambda: seen == [True], what="the current value")
    await bus.kv_put("strategies", name, StrategyConfig(name=name, kind="x", enabled=False))
    await eventually(lambda: seen == [True, False], what="the change")
    kv = await bus.kv("strategies")
    await kv.put(name, b"garbage")  # a bad value is skipped, the watch lives on
    await bus.kv_put("strategies", name, StrategyConfig(name=name, kind="x", enabled=True))
    await eventually(lambda: seen == [True, False, True], what="the change after garbage")
    task.cancel()
