"""Real infrastructure for the execution shell: a nats-server per test (the KV bucket `execution`
and the durable consumer must start empty), one sim exchange for the session with one account per
test (one API key each), ticks relayed from the sim to NATS, and the service run in-process."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient

from proto import IntentEnvelope, OrderStyle, Quotes, TargetPosition
from proto.queries import PositionsQuery, PositionsReply
from proto.subjects import EXEC_POSITIONS, md_tick, sig_intent
from services.execution import service
from tests.integration.sim.conftest import start_sim, stop_sim
from tradebus.service import Runtime, run_service
from tradebus.settings import CommonSettings
from tradebus.testing.servers import eventually, nats_server
from tradebus.venues.sim.client import SimFeed

ROOT = Path(__file__).resolve().parents[3]
KEYS = [f"exec-key-{i}" for i in range(1, 13)]
_next_key = itertools.count()


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    proc, url = start_sim(seed="11", clock_speed="5", history_hours="0", api_keys=",".join(KEYS))
    try:
        yield url
    finally:
        stop_sim(proc)


@pytest.fixture
def api_key() -> str:
    """A sim account nobody else used in this session."""
    return KEYS[next(_next_key)]


@pytest.fixture
def nats_url() -> Iterator[str]:
    with nats_server() as url:
        yield url


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sim_url: str, api_key: str) -> dict[str, str]:
    values = {
        "TRADEBUS_EXECUTION_VENUE_URL": sim_url,
        "TRADEBUS_EXECUTION_API_KEY": api_key,
        "TRADEBUS_EXECUTION_LEASE_TTL_S": "1.5",
        "TRADEBUS_EXECUTION_RESYNC_EVERY_S": "1",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@dataclass
class Instance:
    """One execution service running in this process."""

    name: str
    stopping: asyncio.Event
    task: asyncio.Task[None]
    rt: list[Runtime] = field(default_factory=list)

    async def stop(self) -> None:
        self.stopping.set()
        done, _ = await asyncio.wait([self.task], timeout=20)
        if not done:
            for t in asyncio.all_tasks():
                if t.get_name() in ("watch-kill", "watch-strategies", "execution-a"):
                    t.print_stack()
            raise AssertionError(f"execution {self.name} did not stop within 20 s")
        await self.task

    def metric(self, name: str, **labels: str) -> float | None:
        return self.rt[0].registry.get_sample_value(name, labels) if self.rt else None


def start_instance(nats_url: str, name: str) -> Instance:
    stopping = asyncio.Event()
    rts: list[Runtime] = []

    async def main(rt: Runtime) -> None:
        rts.append(rt)
        await service.run(rt)

    common = CommonSettings(
        nats_url=nats_url, instance=name, log_level=os.environ.get("TB_TEST_LOG", "WARNING")
    )
    task = asyncio.create_task(run_service("execution", main, common, stopping), name=f"execution-{name}")
    return Instance(name, stopping, task, rts)


@dataclass
class Env:
    nc: NatsClient
    sim: str
    key: str
    http: httpx.AsyncClient
    captured: dict[str, list[bytes]] = field(default_factory=dict)

    async def publish_intent(self, intent: TargetPosition | Quotes, msg_id: str | None = None) -> None:
        env = IntentEnvelope(intent=intent)
        js = self.nc.jetstream()
        await js.publish(
            sig_intent(intent.strategy), env.to_bytes(), headers={"Nats-Msg-Id": msg_id or intent.intent_id}
        )

    async def positions(self) -> PositionsReply | None:
        try:
            reply = await self.nc.request(EXEC_POSITIONS, PositionsQuery().to_bytes(), timeout=1)
        except Exception:
            return None
        return PositionsReply.model_validate_json(reply.data)

    async def venue(self, path: str, **params: Any) -> Any:
        r = await self.http.get(f"{self.sim}{path}", params=params, headers={"X-API-Key": self.key})
        r.raise_for_status()
        return r.json()

    async def venue_position(self, symbol: str) -> Decimal:
        acct = await self.venue("/api/v1/account")
        return Decimal(acct["positions"].get(symbol, {"qty": "0"})["qty"])

    async def venue_fills(self) -> list[dict[str, Any]]:
        return list(await self.venue("/api/v1/fills"))

    async def mid(self, symbol: str) -> Decimal:
        t = await self.venue("/api/v1/ticker", symbol=symbol)
        return (Decimal(str(t["bid"])) + Decimal(str(t["ask"]))) / 2

    async def capture(self, subject: str) -> list[bytes]:
        got: list[bytes] = []

        async def on_msg(msg: Any) -> None:
            got.append(msg.data)

        await self.nc.subscribe(subject, cb=on_msg)
        return got


@asynccontextmanager
async def tick_relay(nats_url: str, sim_url: str, symbols: list[str]) -> AsyncIterator[None]:
    """Stand-in for the marketdata service: sim ticks -> `md.tick.sim.<symbol>` on NATS."""
    nc = await nats.connect(nats_url)
    feed = SimFeed(sim_url)

    async def relay() -> None:
        async for t in feed.ticks(symbols):
            await nc.publish(md_tick(t.venue, t.symbol), t.to_bytes())

    task = asyncio.create_task(relay())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await feed.aclose()
        await nc.close()


@pytest.fixture
async def world(nats_url: str, sim_url: str, env: dict[str, str]) -> AsyncIterator[Env]:
    nc = await nats.connect(nats_url)
    async with httpx.AsyncClient(timeout=5) as http:
        yield Env(nc, sim_url, env["TRADEBUS_EXECUTION_API_KEY"], http)
    await nc.close()


async def ready(w: Env, timeout: float = 20) -> PositionsReply:
    return await eventually(w.positions, timeout=timeout, what="execution answering positions")


def target(
    intent_id: str, strategy: str, symbol: str, qty: str, style: OrderStyle | None = None
) -> TargetPosition:
    return TargetPosition(
        intent_id=intent_id,
        strategy=strategy,
        venue="sim",
        symbol=symbol,
        qty=Decimal(qty),
        style=style or OrderStyle(),
        ts_event=1,
    )


def run_subprocess_instance(
    nats_url: str, env: dict[str, str], name: str, capture: bool = False
) -> subprocess.Popen[bytes]:
    """An execution instance as its own process (to be SIGKILLed)."""
    full = {
        **os.environ,
        **env,
        "PYTHONPATH": str(ROOT),
        "TRADEBUS_NATS_URL": nats_url,
        "TRADEBUS_INSTANCE": name,
        "TRADEBUS_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tradebus", "run", "execution"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
    )


Probe = Callable[[], Awaitable[Any]]
