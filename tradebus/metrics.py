"""Per-service Prometheus registry and a tiny HTTP endpoint for /metrics and /healthz."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

log = structlog.get_logger()

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class BusMetrics:
    """What every service's bus helper counts: messages by subject kind and result, handler time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "tradebus_bus_messages_total",
            "Messages handled, by subject kind and result (ok, bad, failed, deadlettered)",
            ["kind", "result"],
            registry=registry,
        )
        self.handler_seconds = Histogram(
            "tradebus_bus_handler_seconds",
            "Time spent in a message handler",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.published = Counter(
            "tradebus_bus_published_total", "Messages published", ["kind"], registry=registry
        )
        self.consumer_lag = Gauge(
            "tradebus_jetstream_consumer_pending",
            "Messages of the stream not yet delivered to a durable consumer (its lag), "
            "updated on every fetch",
            ["consumer"],
            registry=registry,
        )
        self.batch_messages = Histogram(
            "tradebus_bus_batch_messages",
            "Messages handed to one call of a batch consumer's handler",
            ["kind"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )


def subject_kind(subject: str) -> str:
    """Low-cardinality label for a subject: its first two tokens (`exec.fill`)."""
    return ".".join(subject.split(".", 2)[:2])


class HttpEndpoint:
    """Serves GET /metrics (Prometheus text) and GET /healthz (JSON of named checks)."""

    def __init__(
        self, registry: CollectorRegistry, health: Callable[[], dict[str, bool]] | None = None
    ) -> None:
        self.registry = registry
        self.health = health or (lambda: {})
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._handle, host, port)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = head.split(b" ", 2)[1].split(b"?")[0] if b" " in head else b"/"
            if path == b"/metrics":
                status, ctype, body = "200 OK", CONTENT_TYPE_LATEST, generate_latest(self.registry)
            elif path in (b"/healthz", b"/readyz"):
                checks = self.health()
                ok = all(checks.values())
                status = "200 OK" if ok else "503 Service Unavailable"
                ctype, body = "application/json", json.dumps({"ok": ok, "checks": checks}).encode()
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            ConnectionError,
            asyncio.LimitOverrunError,
        ):
            pass
        finally:
            writer.close()
