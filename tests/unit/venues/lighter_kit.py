"""A ccxt `lighter` instance answering from recorded payloads (REST) and a local stream server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.venuekit.recorded import RecordedTransport, Request, load
from tests.venuekit.wsstub import send_json
from tradebus.venues.lighter.adapter import lighter_exchange


def _candles(req: Request) -> Any:
    body = load("lighter", "candles_SOL_1m.json")
    lo, hi = int(req.query["start_timestamp"]), int(req.query["end_timestamp"])
    return {**body, "c": [c for c in body["c"] if lo <= c["t"] <= hi]}


def lighter(ws_url: str | None = None) -> tuple[Any, RecordedTransport]:
    ex = lighter_exchange(config={"rateLimit": 5})  # ccxt still throttles, just faster
    transport = RecordedTransport()
    transport.on("GET", "/api/v1/orderBookDetails", load("lighter", "orderBookDetails.json"))
    transport.on("GET", "/api/v1/assetDetails", load("lighter", "assetDetails.json"))
    transport.on("GET", "/api/v1/candles", _candles)
    transport.install(ex)
    if ws_url is not None:
        ex.urls["api"]["ws"] = ws_url
    return ex, transport


def stream_player(*, drop_first: bool = False, update_after: asyncio.Event | None = None) -> Any:
    """Answers subscribes with the recorded snapshot / trades. `drop_first` closes the first
    connection once both subscriptions are answered; the book update is sent on a later
    connection, or on the first once `update_after` is set."""
    rec = load("lighter", "stream.json")

    async def play(ws: ServerConnection, n: int) -> None:
        answered = 0
        try:
            async for raw in ws:
                msg = json.loads(raw)
                channel = str(msg.get("channel", ""))
                if channel.startswith("order_book/"):
                    await send_json(ws, rec["book_snapshot"])
                elif channel.startswith("trade/"):
                    await send_json(ws, rec["trades"])
                else:
                    continue
                answered += 1
                if answered == 2 and drop_first and n == 0:
                    await ws.close(1011, "dropped by the test")
                    return
                if answered == 2 and (n > 0 or update_after is not None):
                    if update_after is not None:
                        await update_after.wait()
                    await send_json(ws, rec["book_update"])
        except ConnectionClosed:
            return

    return play
