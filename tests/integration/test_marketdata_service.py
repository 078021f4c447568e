"""The marketdata service on the sim venue and a real NATS: closed candles are stored on the
`MARKET` stream, forming ones go out on `md.forming` and are never stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import nats
import pytest
from nats.aio.msg import Msg

from proto import Candle
from proto.subjects import MARKET
from services.marketdata.service import run
from tests.integration.sim.conftest import start_sim, stop_sim
from tradebus.bus import decode
from tradebus.service import run_service
from tradebus.settings import CommonSettings
from tradebus.testing.servers import eventually


@pytest.fixture
def fast_sim() -> Iterator[str]:
    proc, url = start_sim(clock_speed="10", history_hours="0")
    try:
        yield url
    finally:
        stop_sim(proc)


async def test_forming_candles_are_published_but_only_closed_ones_are_stored(
    fast_sim: str, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEBUS_MARKETDATA_VENUE_URL", fast_sim)
    monkeypatch.setenv("TRADEBUS_MARKETDATA_SYMBOLS", '["BTC-USD"]')
    monkeypatch.setenv("TRADEBUS_MARKETDATA_INTERVALS", '["1s", "1m"]')
    monkeypatch.setenv("TRADEBUS_MARKETDATA_PARTIAL_EVERY_S", "0.1")
    nc = await nats.connect(nats_url)
    forming: list[Candle] = []
    closed: list[Candle] = []

    async def on_forming(msg: Msg) -> None:
        forming.append(decode(Candle, msg.data))

    async def on_closed(msg: Msg) -> None:
        closed.append(decode(Candle, msg.data))

    await nc.subscribe("md.forming.sim.BTC-USD.*", cb=on_forming)
    await nc.subscribe("md.candle.sim.BTC-USD.*", cb=on_closed)
    stopping = asyncio.Event()
    service = asyncio.create_task(
        run_service("marketdata", run, CommonSettings(nats_url=nats_url, metrics_port=0), stopping)
    )
    try:
        # at clock speed 10 a 1 s candle closes every 0.1 s of wall time, a 1 m one every 6 s
        await eventually(lambda: len(closed) >= 5, timeout=30, what="closed 1 s candles")
        await eventually(lambda: any(c.interval == "1m" for c in forming), timeout=30, what="a forming 1 m")
        assert forming and not any(c.closed for c in forming)
        assert closed and all(c.closed for c in closed)

        js = nc.jetstream()
        stored = (await js.stream_info(MARKET)).state.messages
        assert stored >= 5  # the closed candles are kept (more may arrive while this reads)
        sub = await js.subscribe("md.candle.sim.BTC-USD.*", stream=MARKET, ordered_consumer=True)
        kept = [decode(Candle, (await sub.next_msg(timeout=5)).data) for _ in range(stored)]
        assert all(c.closed for c in kept)  # nothing forming was stored
        await sub.unsubscribe()
        assert not service.done()
    finally:
        stopping.set()
        await asyncio.wait_for(service, 15)
        await nc.close()
