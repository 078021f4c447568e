"""Live updates for the dashboard: NATS events fanned out to every open server-sent-events stream.

One set of NATS subscriptions (made by the shell) feeds `Hub.publish`; each HTTP client gets its
own bounded queue. A client that falls too far behind is disconnected (its stream ends) rather
than slowing the others; the page then reconnects and reloads its tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

#: the event names a stream carries
EVENTS = ("hello", "strategy", "kill_switch", "fill", "order", "position", "risk", "heartbeat")


def sse_frame(event: str, data: str, event_id: int | None = None) -> bytes:
    """One server-sent event. `data` is JSON (one line); a newline in it would split the frame."""
    if event not in EVENTS:
        raise ValueError(f"event: {event!r} is not one of {EVENTS}")
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {part}" for part in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


KEEPALIVE = b": keepalive\n\n"


@dataclass(eq=False)
class _Client:
    queue: asyncio.Queue[bytes | None]
    dropped: bool = False


@dataclass
class Hub:
    queue_size: int = 2000
    keepalive_s: float = 15.0
    _clients: set[_Client] = field(default_factory=set)
    _seq: int = 0
    _closed: bool = False

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, event: str, data: str) -> None:
        self._seq += 1
        frame = sse_frame(event, data, self._seq)
        for client in list(self._clients):
            if client.dropped:
                continue
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                self._drop(client)

    def _drop(self, client: _Client) -> None:
        client.dropped = True
        while not client.queue.empty():  # make room for the end-of-stream marker
            client.queue.get_nowait()
        client.queue.put_nowait(None)

    def close(self) -> None:
        """End every stream (shutdown)."""
        self._closed = True
        for client in list(self._clients):
            self._drop(client)

    async def stream(self, first: bytes = b"") -> AsyncGenerator[bytes, None]:
        """The frames of one client until it disconnects, falls behind, or the hub closes."""
        client = _Client(asyncio.Queue(self.queue_size))
        self._clients.add(client)
        try:
            if first:
                yield first
            while not self._closed:
                try:
                    frame = await asyncio.wait_for(client.queue.get(), self.keepalive_s)
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                if frame is None:
                    return
                yield frame
        finally:
            self._clients.discard(client)
