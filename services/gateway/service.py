"""gateway shell: uvicorn serving the FastAPI app, on the service's own NATS connection."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from contextlib import contextmanager

import structlog
import uvicorn

from proto import Heartbeat
from services.gateway.app import create_app
from services.gateway.control import Control, Heartbeats
from services.gateway.settings import GatewaySettings
from tradebus.service import Runtime
from tradebus.settings import load

log = structlog.get_logger()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service runtime owns SIGTERM/SIGINT."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def run(rt: Runtime) -> None:
    cfg: GatewaySettings = load(GatewaySettings)  # type: ignore[assignment]
    beats = Heartbeats()
    await rt.bus.subscribe("svc.heartbeat.>", Heartbeat, beats.on_heartbeat)
    app = create_app(cfg, Control(rt.bus, beats, cfg.request_timeout_s))
    server = _Server(uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", lifespan="off"))
    rt.checks["http"] = lambda: bool(server.started)

    async def serve() -> None:
        await server.serve()

    async def stop_http() -> None:
        server.should_exit = True

    rt.exit_stack.push_async_callback(stop_http)
    rt.spawn(serve(), "http")
    log.info("gateway listening", url=f"http://{cfg.host}:{cfg.port}")


def main() -> None:
    from tradebus.service import run_service

    asyncio.run(run_service("gateway", run))
