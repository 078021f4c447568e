"""Service lifecycle: settings, logs, /metrics + /healthz, the bus, heartbeats, SIGTERM -> drain.

Every service is `async def run(rt: Runtime) -> None` that sets up its subscriptions and returns
or waits on `rt.stopping`; `serve(name, run)` does the rest.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import structlog
from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics

from proto import Heartbeat
from proto.subjects import heartbeat
from tradebus import logs
from tradebus.bus import Bus, now_ns
from tradebus.metrics import HttpEndpoint
from tradebus.settings import CommonSettings, load

log = structlog.get_logger()


@dataclass
class Runtime:
    name: str
    settings: CommonSettings
    registry: CollectorRegistry
    bus: Bus
    stopping: asyncio.Event
    exit_stack: AsyncExitStack
    instance: str
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    state: str = "running"
    metrics_port: int = 0

    def health(self) -> dict[str, bool]:
        out = {"nats": self.bus.connected}
        for name, check in self.checks.items():
            try:
                out[name] = bool(check())
            except Exception:
                out[name] = False
        return out

    def spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        """A background task that logs (and survives) its own crash instead of vanishing."""

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task crashed", task=name)

        task = asyncio.create_task(guarded(), name=name)
        self.exit_stack.push_async_callback(_cancel, task)
        return task


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _heartbeat(rt: Runtime) -> None:
    while not rt.stopping.is_set():
        if rt.bus.connected:
            hb = Heartbeat(service=rt.name, instance=rt.instance, state=rt.state, ts_event=now_ns())
            try:
                await rt.bus.publish(heartbeat(rt.name), hb)
            except Exception as exc:
                log.debug("heartbeat failed", error=str(exc))
        try:
            await asyncio.wait_for(rt.stopping.wait(), 2.0)
        except TimeoutError:
            pass


def settle_heap() -> None:
    """Once a service is up: collect, then freeze what survived (modules, schemas, settings,
    the restored state) out of the collector's sight. Full collections then walk only what
    came after: measured in execution at 1,000 ticks/s, they went from ~40 ms each to
    about 1 ms. Only for a process of its own (`gc.freeze` is process-wide)."""
    gc.collect()
    gc.freeze()


async def run_service(
    name: str,
    main: Callable[[Runtime], Awaitable[None]],
    common: CommonSettings | None = None,
    stopping: asyncio.Event | None = None,
) -> None:
    common = common or load(CommonSettings)  # type: ignore[assignment]
    assert common is not None
    instance = common.instance or f"{socket.gethostname()}:{os.getpid()}"
    logs.configure(common.log_level, common.log_json, service=name, instance=instance)
    own_process = stopping is None
    if stopping is None:  # a process of its own: SIGTERM/SIGINT stop it; else the caller does
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)

    disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series: they only add noise to every scrape
    registry = CollectorRegistry()
    Gauge("tradebus_service_up", "1 while the service runs", ["service"], registry=registry).labels(name).set(
        1
    )
    password = common.nats_password.get_secret_value() if common.nats_password else None
    async with AsyncExitStack() as stack:
        bus = await Bus.connect(
            common.nats_url,
            service=name,
            registry=registry,
            user=common.nats_user,
            password=password,
        )
        stack.push_async_callback(bus.close)
        rt = Runtime(name, common, registry, bus, stopping, stack, instance)
        endpoint = HttpEndpoint(registry, rt.health)
        rt.metrics_port = await endpoint.start(common.metrics_host, common.metrics_port)
        stack.push_async_callback(endpoint.stop)
        await bus.ensure_streams(replicas=common.stream_replicas)
        log.info("service starting", metrics=f"http://{common.metrics_host}:{rt.metrics_port}/metrics")
        rt.spawn(_heartbeat(rt), "heartbeat")
        await main(rt)
        if own_process:
            settle_heap()
        await stopping.wait()
        rt.state = "stopping"
        log.info("service stopping")
    log.info("service stopped")
