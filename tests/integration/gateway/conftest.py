"""A gateway on a real port, over its own nats-server (kill switch and strategies stay private to
these tests), with a migrated Postgres for the audit log and stand-ins for the rooms it asks."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import uvicorn
from nats.aio.msg import Msg
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from proto import Message
from proto.queries import (
    EquityQuery,
    EquityReply,
    FillsPage,
    FillsQuery,
    OrdersQuery,
    OrdersReply,
    PnlQuery,
    PnlReply,
    PositionsQuery,
    PositionsReply,
    RiskEventsQuery,
    RiskEventsReply,
)
from proto.subjects import (
    EXEC_ORDERS,
    EXEC_POSITIONS,
    PORTFOLIO_EQUITY,
    PORTFOLIO_FILLS,
    PORTFOLIO_PNL,
    PORTFOLIO_RISK,
)
from services.gateway.app import create_app
from services.gateway.audit import PgAudit
from services.gateway.auth import Tokens
from services.gateway.bridge import Bridge
from services.gateway.control import Control, Heartbeats
from services.gateway.live import Hub
from services.gateway.service import _Server
from services.gateway.settings import GatewaySettings
from services.portfolio.db import APP_ROLE, migrate
from tradebus.bus import Bus
from tradebus.testing.servers import eventually, free_port, nats_server

OPERATOR = "op-" + uuid.uuid4().hex
VIEWER = "view-" + uuid.uuid4().hex


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="package")
def gw_nats_url() -> Iterator[str]:
    with nats_server() as url:
        yield url


@pytest.fixture(scope="package")
async def bus(gw_nats_url: str) -> AsyncIterator[Bus]:
    b = await Bus.connect(gw_nats_url, service="test-gw", registry=CollectorRegistry())
    await b.ensure_streams()
    yield b
    await b.close()


@pytest.fixture(scope="package")
async def audit_dsn(pg_dsn: str) -> AsyncIterator[str]:
    """A database of its own, migrated by portfolio's migrations (they own `audit_log`)."""
    name = f"tb_gateway_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(pg_dsn)._replace(path="/" + name))
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield dsn
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@dataclass
class Rooms:
    """Stand-ins for execution and portfolio: canned replies, and the queries they received."""

    replies: dict[str, Message] = field(default_factory=dict)
    asked: dict[str, list[Message]] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)


ROOMS: tuple[tuple[str, type[Message], type[Message]], ...] = (
    (EXEC_POSITIONS, PositionsQuery, PositionsReply),
    (EXEC_ORDERS, OrdersQuery, OrdersReply),
    (PORTFOLIO_FILLS, FillsQuery, FillsPage),
    (PORTFOLIO_PNL, PnlQuery, PnlReply),
    (PORTFOLIO_RISK, RiskEventsQuery, RiskEventsReply),
    (PORTFOLIO_EQUITY, EquityQuery, EquityReply),
)


@pytest.fixture(scope="package")
async def rooms(bus: Bus) -> Rooms:
    r = Rooms()
    for subject, query, reply in ROOMS:
        r.replies[subject] = reply()

        async def on(m: Msg, subject: str = subject, query: type[Message] = query) -> None:
            r.asked.setdefault(subject, []).append(query.model_validate_json(m.data))
            if subject not in r.silent:
                await m.respond(r.replies[subject].to_bytes())

        await bus.nc.subscribe(subject, cb=on)
    return r


@dataclass
class Gateway:
    url: str
    hub: Hub
    control: Control

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10)


@pytest.fixture(scope="package")
async def gateway(bus: Bus, rooms: Rooms, audit_dsn: str) -> AsyncIterator[Gateway]:
    settings = GatewaySettings(api_token=SecretStr(OPERATOR), viewer_token=SecretStr(VIEWER))
    audit = await PgAudit.open(audit_dsn, APP_ROLE)
    control = Control(bus, Heartbeats(), audit, timeout_s=0.5)
    hub = Hub(keepalive_s=0.5)
    bridge = Bridge(control, hub)
    await bridge.subscribe()
    tasks = [asyncio.create_task(bridge.watch_strategies()), asyncio.create_task(bridge.watch_kill_switch())]
    port = free_port()
    server = _Server(
        uvicorn.Config(
            create_app(control, Tokens.from_settings(settings), hub),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
    )
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, timeout=10, what="uvicorn started")
    yield Gateway(f"http://127.0.0.1:{port}", hub, control)
    hub.close()
    server.should_exit = True
    await serving
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await audit.close()
