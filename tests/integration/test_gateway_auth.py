"""Gateway routes over a real NATS: auth (none, viewer, operator), switches in KV, strict input."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from proto import StrategyConfig
from proto.subjects import KV_STRATEGIES
from services.gateway.app import create_app
from services.gateway.control import Control, Heartbeats
from services.gateway.settings import GatewaySettings
from tradebus.bus import Bus

OPERATOR, VIEWER = "op-" + uuid.uuid4().hex, "view-" + uuid.uuid4().hex


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    b = await Bus.connect(nats_url, service="test-gw", registry=CollectorRegistry())
    await b.ensure_streams()
    yield b
    await b.close()


@pytest.fixture
async def client(bus: Bus) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(api_token=SecretStr(OPERATOR), viewer_token=SecretStr(VIEWER))
    app = create_app(settings, Control(bus, Heartbeats(), timeout_s=0.5))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_healthz_needs_no_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["nats"] is True


@pytest.mark.parametrize("path", ["/api/strategies", "/api/positions", "/api/fills", "/api/pnl"])
async def test_reads_refuse_missing_and_wrong_tokens(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401
    r = await client.get(path, headers=auth(OPERATOR + "x"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_enable_disable_round_trip_through_kv(client: httpx.AsyncClient, bus: Bus) -> None:
    name = f"s{uuid.uuid4().hex[:8]}"
    await bus.kv_put(
        KV_STRATEGIES, name, StrategyConfig(name=name, kind="bb_rsi_scalper", symbols=("BTC-USD",))
    )
    listed = (await client.get("/api/strategies", headers=auth(VIEWER))).json()
    mine = [s for s in listed if s["name"] == name]
    assert mine and mine[0]["enabled"] is True and mine[0]["symbols"] == ["BTC-USD"]

    assert (await client.post(f"/api/strategies/{name}/disable")).status_code == 401
    assert (await client.post(f"/api/strategies/{name}/disable", headers=auth(VIEWER))).status_code == 403
    r = await client.post(f"/api/strategies/{name}/disable", headers=auth(OPERATOR))
    assert r.status_code == 200 and r.json()["enabled"] is False
    stored = await bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
    assert stored is not None and stored.enabled is False and stored.updated_by == "operator"
    r = await client.post(f"/api/strategies/{name}/enable", headers=auth(OPERATOR))
    assert r.json()["enabled"] is True


async def test_bad_requests_are_clear(client: httpx.AsyncClient) -> None:
    h = auth(OPERATOR)
    assert (await client.post("/api/strategies/nope-nope/enable", headers=h)).status_code == 404
    assert (await client.post("/api/strategies/x/explode", headers=h)).status_code == 422
    assert (await client.post("/api/strategies/a.b/enable", headers=h)).status_code == 422
    assert (await client.get("/api/fills?limit=0", headers=h)).status_code == 422
    assert (await client.get("/api/fills?limit=abc", headers=h)).status_code == 422


async def test_reads_say_503_when_the_owner_does_not_answer(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/positions", headers=auth(VIEWER))
    assert r.status_code == 503 and "exec.query.positions" in r.json()["detail"]
