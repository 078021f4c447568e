"""gateway shell: uvicorn serving the FastAPI app, on the service's own NATS connection."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from contextlib import contextmanager

import structlog
import uvicorn

from services.gateway.app import create_app
from services.gateway.audit import AuditLog, LogAudit, PgAudit
from services.gateway.auth import TokenFileError, Tokens
from services.gateway.bridge import Bridge
from services.gateway.control import Control, Heartbeats
from services.gateway.live import Hub
from services.gateway.settings import GatewaySettings
from tradebus.service import Runtime
from tradebus.settings import load

log = structlog.get_logger()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service runtime owns SIGTERM/SIGINT."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def open_audit(rt: Runtime, cfg: GatewaySettings) -> AuditLog:
    if rt.settings.database_url is None:
        log.warning("no DATABASE_URL: control actions are audited in the log only")
        return LogAudit()
    audit = await PgAudit.open(rt.settings.database_url.get_secret_value(), cfg.audit_role)
    rt.exit_stack.push_async_callback(audit.close)
    return audit


async def run(rt: Runtime) -> None:
    cfg: GatewaySettings = load(GatewaySettings)  # type: ignore[assignment]
    try:
        tokens = Tokens.from_settings(cfg)
    except (TokenFileError, ValueError) as exc:
        raise SystemExit(f"gateway: {exc}") from None
    control = Control(rt.bus, Heartbeats(), await open_audit(rt, cfg), cfg.request_timeout_s)
    hub = Hub(queue_size=cfg.client_queue, keepalive_s=cfg.keepalive_s)
    bridge = Bridge(control, hub)
    await bridge.subscribe()
    rt.spawn(bridge.watch_strategies(), "watch-strategies")
    rt.spawn(bridge.watch_kill_switch(), "watch-kill-switch")
    app = create_app(control, tokens, hub)
    server = _Server(
        uvicorn.Config(
            app,
            host=cfg.host,
            port=cfg.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
    )
    rt.checks["http"] = lambda: bool(server.started)

    async def serve() -> None:
        await server.serve()

    async def stop_http() -> None:
        hub.close()  # live streams end first, or uvicorn would wait for them
        server.should_exit = True

    rt.exit_stack.push_async_callback(stop_http)
    rt.spawn(serve(), "http")
    log.info("gateway listening", url=f"http://{cfg.host}:{cfg.port}")


def main() -> None:
    from tradebus.service import run_service

    asyncio.run(run_service("gateway", run))
