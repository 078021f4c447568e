"""Done-when: one strategy, unchanged, runs against the sim (random and replayed data) and, in dry
run, against the real adapters fed by their recorded payloads."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tests.integration.sim.conftest import start_sim, stop_sim
from tests.unit.venues.lighter_kit import lighter, stream_player
from tests.unit.venues.test_alpaca import _stream_player as alpaca_stream
from tests.unit.venues.test_alpaca import alpaca  # noqa: F401 - the recorded Alpaca fixture
from tests.unit.venues.test_sim_replay import random_bars, write_csv
from tests.venuekit.recorded import load
from tests.venuekit.runner import assert_traded, run_sma_scalp
from tests.venuekit.wsstub import ws_stub
from tradebus.venues.ccxt.feed import CcxtFeed
from tradebus.venues.registry import open_feed, open_trading


async def _on_sim(**env: str) -> None:
    proc, url = await asyncio.to_thread(start_sim, history_hours="1", **env)
    feed = open_feed("sim", url)
    client = open_trading("sim", url, SecretStr("sim-key"))
    try:
        run = await run_sma_scalp(feed, client, "SOL-USD", candles=60)
        assert_traded(run, Decimal("0.001"))
    finally:
        await feed.aclose()  # type: ignore[attr-defined]
        await client.aclose()  # type: ignore[attr-defined]
        await asyncio.to_thread(stop_sim, proc)


async def test_on_the_sim_with_random_data() -> None:
    await _on_sim(seed="11")


async def test_on_the_sim_with_replayed_data(tmp_path: Path) -> None:
    bars = random_bars(120, seed=5, start=1_767_225_600 * 10**9)
    csv = write_csv(tmp_path / "sol.csv", bars)
    await _on_sim(replay_files=f'{{"SOL-USD": "{csv}"}}')


async def test_dry_run_on_lighter_recorded() -> None:
    async with ws_stub(stream_player()) as (url, _):
        ex, transport = lighter(url)
        feed = CcxtFeed(ex, "lighter")
        client = open_trading("lighter", "", SecretStr(""), feed=feed)
        try:
            rows = load("lighter", "candles_SOL_1m.json")["c"]
            ex.milliseconds = lambda: rows[-1]["t"] + 60_000  # "now" is the end of the recording
            run = await run_sma_scalp(feed, client, "SOL-USDC-PERP", candles=len(rows))
        finally:
            await client.aclose()  # type: ignore[attr-defined]
            await ex.close()
    assert_traded(run, Decimal("0.001"))
    assert all(r.method == "GET" for r in transport.requests)


async def test_dry_run_on_alpaca_recorded(alpaca: Any) -> None:  # noqa: F811
    feed, _, transport, _ = alpaca
    async with ws_stub(alpaca_stream(load("alpaca", "stream.json"), [])) as (url, _):
        feed.stream_url = url
        client = open_trading("alpaca", "", SecretStr(""), feed=feed)
        try:
            original = feed.candles

            async def recorded_candles(
                symbol: str, interval: str, *, limit: int, end: int | None = None
            ) -> Any:
                return await original(symbol, interval, limit=limit, end=end or 1_767_800_000 * 10**9)

            feed.candles = recorded_candles
            run = await run_sma_scalp(feed, client, "AAPL-USD", candles=48)
        finally:
            await client.aclose()  # type: ignore[attr-defined]
    assert_traded(run, Decimal("0.000000001"))
    assert all(r.method == "GET" for r in transport.requests)
