"""A real sim process that drops every WebSocket: the feed keeps delivering."""

from __future__ import annotations

import asyncio

S = 10**9


async def test_sim_feed_reconnects_through_dropped_websockets() -> None:
    from tests.integration.sim.conftest import start_sim, stop_sim
    from tradebus.venues.sim.client import SimFeed

    proc, url = await asyncio.to_thread(
        start_sim, ws_drop_every_s="0.4", tick_interval_ms="50", history_hours="0.05"
    )
    try:
        seen = 0
        first = None
        async with SimFeed(url, max_backoff_s=0.2) as feed:
            async with asyncio.timeout(20):
                async for tick in feed.ticks(["BTC-USD"]):
                    first = first or tick.ts_event
                    seen += 1
                    if tick.ts_event - first > 1.5 * S:  # three drop intervals later, still ticking
                        break
        assert seen > 10
    finally:
        await asyncio.to_thread(stop_sim, proc)
