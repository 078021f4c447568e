"""The fed pull consumer against a real nats-server: messages arrive before they are asked for,
the credit stays bounded, expired requests are renewed, and requests a restart lost are replaced."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import api as js_api
from prometheus_client import CollectorRegistry

from proto import Fill
from proto.subjects import TRADING, exec_fill
from tests.integration.test_bus import a_fill
from tradebus.bus import Bus
from tradebus.pull import Puller
from tradebus.testing.servers import eventually, free_port, nats_server, nats_server_binary, wait_port


async def consumer(nc: NatsClient) -> tuple[str, str, str]:
    """A fresh stream and durable pull consumer; returns (stream, durable, subject)."""
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"PULL{tag}", f"pull.{tag}"
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[subject])
    ack = js_api.AckPolicy.EXPLICIT
    config = js_api.ConsumerConfig(durable_name="c", ack_policy=ack, max_ack_pending=1000)
    await js.add_consumer(stream, config)
    return stream, "c", subject


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    conn = await nats.connect(nats_url)
    yield conn
    await conn.close()


async def publish(nc: NatsClient, subject: str, n: int, start: int = 0) -> None:
    js = nc.jetstream()
    for i in range(start, start + n):
        await js.publish(subject, str(i).encode())


async def test_messages_arrive_before_they_are_taken(nc: NatsClient) -> None:
    stream, durable, subject = await consumer(nc)
    puller = Puller(nc, stream, durable, batch=10)
    await puller.start()
    await publish(nc, subject, 5)
    # nobody asked: the standing credit brought them in
    await eventually(lambda: len(puller.queue) == 5, what="5 messages delivered ahead")
    msgs = await puller.take(timeout=0)
    assert [m.data for m in msgs] == [str(i).encode() for i in range(5)]
    await puller.stop()


async def test_take_hands_over_what_arrived_up_to_a_batch(nc: NatsClient) -> None:
    stream, durable, subject = await consumer(nc)
    puller = Puller(nc, stream, durable, batch=10)
    await puller.start()
    await publish(nc, subject, 25)
    got: list[bytes] = []
    while len(got) < 25:
        msgs = await puller.take(timeout=5)
        assert msgs, "a batch of the 25 never came"
        assert len(msgs) <= 10
        for m in msgs:
            await m.ack()
        got += [m.data for m in msgs]
    assert got == [str(i).encode() for i in range(25)]  # in stream order, each once
    await puller.stop()


async def test_credit_stays_bounded(nc: NatsClient) -> None:
    stream, durable, subject = await consumer(nc)
    puller = Puller(nc, stream, durable, batch=10)
    await puller.start()
    await publish(nc, subject, 50)
    js = nc.jetstream()

    async def settled(delivered: int) -> bool:
        """10 waiting here and nothing more asked for: the server delivered exactly `delivered`."""
        info = await js.consumer_info(stream, durable)
        return len(puller.queue) == 10 and puller.credit == 0 and info.delivered.consumer_seq == delivered

    await eventually(lambda: settled(10), what="10 delivered, no more asked for")  # type: ignore[arg-type]
    assert len(await puller.take(timeout=0)) == 10  # taking them asks for 10 more, no more
    await eventually(lambda: settled(20), what="10 more")  # type: ignore[arg-type]
    assert (await js.consumer_info(stream, durable)).num_pending == 30
    await puller.stop()


async def test_expired_requests_are_renewed(nc: NatsClient) -> None:
    stream, durable, subject = await consumer(nc)
    puller = Puller(nc, stream, durable, batch=10, expires_s=0.2)
    await puller.start()
    await eventually(lambda: puller.ended >= 3, timeout=10, what="three requests expired")
    await publish(nc, subject, 1)
    msgs = await puller.take(timeout=5)
    assert [m.data for m in msgs] == [b"0"]
    await puller.stop()


async def test_requests_lost_in_a_restart_are_replaced(tmp_path: Path) -> None:
    port = free_port()
    with nats_server(tmp_path, port) as url:
        conn = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        stream, durable, subject = await consumer(conn)
        puller = Puller(conn, stream, durable, batch=10, expires_s=1.0)
        await puller.start()
        assert puller.credit == 10
    with nats_server(tmp_path, port):  # the pull requests the old server held are gone
        try:
            js = conn.jetstream(timeout=1)

            async def published() -> bool:
                try:  # JetStream answers once it has recovered its streams
                    await js.publish(subject, b"0", headers={"Nats-Msg-Id": "zero"})
                except Exception:
                    return False
                return True

            await eventually(published, timeout=20, interval=0.1, what="a publish after the restart")  # type: ignore[arg-type]
            # the lost request is forgotten after its expiry and new credit asked for
            msgs = await puller.take(timeout=10)
            assert [m.data for m in msgs] == [b"0"]
        finally:
            await puller.stop()
            await conn.close()


async def test_a_bus_consumer_asks_again_as_soon_as_it_reconnects(tmp_path: Path) -> None:
    """Requests stand for a minute here: without asking again on reconnect, the restarted
    server would have none until then."""
    port = free_port()
    got: list[str] = []

    async def handle(batch: list[Fill]) -> None:
        got.extend(f.fill_id for f in batch)

    with nats_server(tmp_path, port) as url:
        bus = await Bus.connect(url, service="test", registry=CollectorRegistry())
        bus.pull_expires_s = 60.0
        await bus.ensure_streams()
        await bus.consume_batch(TRADING, "pull-test", "exec.fill.>", Fill, handle)
    with nats_server(tmp_path, port):
        try:
            js = bus.nc.jetstream(timeout=1)

            async def published() -> bool:
                try:
                    await js.publish(
                        exec_fill("s"), a_fill("after", "s").to_bytes(), headers={"Nats-Msg-Id": "after"}
                    )
                except Exception:  # JetStream answers once it has recovered its streams
                    return False
                return True

            await eventually(published, timeout=20, interval=0.1, what="a publish after the restart")
            await eventually(lambda: got == ["after"], timeout=15, what="the fill consumed")
        finally:
            await bus.close()


async def test_a_refused_request_is_asked_again_shortly(tmp_path: Path) -> None:
    """A server whose JetStream is not up yet (here: none at all) answers "no responders";
    that request is over, and another is asked for shortly, not at its expiry."""
    port = free_port()
    proc = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", port)
        conn = await nats.connect(f"nats://127.0.0.1:{port}")
        puller = Puller(conn, "NONE", "c", batch=10, expires_s=60.0)
        await puller.start()
        await eventually(lambda: puller.ended >= 3, timeout=10, what="three requests refused and asked again")
        await puller.stop()
        await conn.close()
    finally:
        proc.terminate()
        proc.wait(5)
