"""A local WebSocket server that plays a venue's stream from recorded messages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

Handler = Callable[[ServerConnection, int], Awaitable[None]]


@asynccontextmanager
async def ws_stub(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """Serve `handler(ws, n)` (n = 0 for the first connection, 1 for the next...) on a free
    local port; yields the ws:// URL and the list of connection numbers seen."""
    seen: list[int] = []

    async def on_connect(ws: ServerConnection) -> None:
        n = len(seen)
        seen.append(n)
        await handler(ws, n)

    async with serve(on_connect, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/stream", seen


async def send_json(ws: ServerConnection, payload: Any) -> None:
    await ws.send(json.dumps(payload))
