"""Every endpoint with no token, a wrong token, a viewer and an operator token."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from proto import StrategyConfig
from proto.subjects import KV_STRATEGIES
from services.gateway.app import create_app
from tests.integration.gateway.conftest import OPERATOR, VIEWER, Gateway, auth
from tradebus.bus import Bus

VIEW, OPERATE = "viewer", "operator"
NAME = "auth" + uuid.uuid4().hex[:8]

#: (method, path template, body, least role)
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/api/health", None, VIEW),
    ("GET", "/api/whoami", None, VIEW),
    ("GET", "/api/strategies", None, VIEW),
    ("GET", "/api/strategies/{name}", None, VIEW),
    ("POST", "/api/strategies/{name}/flatten", None, OPERATE),
    ("POST", "/api/strategies/{name}/enable", None, OPERATE),
    ("POST", "/api/strategies/{name}/disable", None, OPERATE),
    ("PUT", "/api/strategies/{name}/dry-run", {"dry_run": False}, OPERATE),
    ("PUT", "/api/strategies/{name}/params", {"params": {"bb_period": 21}}, OPERATE),
    ("GET", "/api/kill-switch", None, VIEW),
    ("PUT", "/api/kill-switch", {"active": False}, OPERATE),
    ("GET", "/api/audit", None, VIEW),
    ("GET", "/api/positions", None, VIEW),
    ("GET", "/api/orders", None, VIEW),
    ("GET", "/api/fills", None, VIEW),
    ("GET", "/api/pnl", None, VIEW),
    ("GET", "/api/equity", None, VIEW),
    ("GET", "/api/risk", None, VIEW),
    ("GET", "/api/events", None, VIEW),
]
IDS = [f"{m} {p}" for m, p, _, _ in ENDPOINTS]


@pytest.fixture(scope="module", autouse=True)
async def strategy(bus: Bus) -> None:
    cfg = StrategyConfig(name=NAME, kind="bb_rsi_scalper", symbols=("BTC-USD",), params={"interval": "5s"})
    await bus.kv_put(KV_STRATEGIES, NAME, cfg)


def test_the_matrix_covers_every_api_route(gateway: Gateway) -> None:
    app = create_app(gateway.control, None, gateway.hub)  # type: ignore[arg-type]
    documented = {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if path.startswith("/api/")
    }
    assert documented == {(m, p) for m, p, _, _ in ENDPOINTS}


async def call(c: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]) -> int:
    url = path.format(name=NAME)
    if path == "/api/events":  # a stream: the status line is enough
        async with c.stream(method, url, headers=headers) as r:
            return r.status_code
    r = await c.request(method, url, json=body, headers=headers)
    return r.status_code


@pytest.mark.parametrize(("method", "path", "body", "least"), ENDPOINTS, ids=IDS)
async def test_no_or_wrong_token_is_401(
    gateway: Gateway, method: str, path: str, body: Any, least: str
) -> None:
    async with gateway.client() as c:
        url = path.format(name=NAME)
        for headers in ({}, auth(OPERATOR + "x"), auth(VIEWER[:-1]), {"Authorization": f"Basic {OPERATOR}"}):
            r = await c.request(method, url, json=body, headers=headers)
            assert r.status_code == 401, (headers, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json() == {"detail": "missing or invalid bearer token"}


@pytest.mark.parametrize(("method", "path", "body", "least"), ENDPOINTS, ids=IDS)
async def test_viewer_reads_but_may_not_operate(
    gateway: Gateway, method: str, path: str, body: Any, least: str
) -> None:
    async with gateway.client() as c:
        status = await call(c, method, path, body, auth(VIEWER))
    assert status == (200 if least == VIEW else 403)


@pytest.mark.parametrize(("method", "path", "body", "least"), ENDPOINTS, ids=IDS)
async def test_operator_may_do_everything(
    gateway: Gateway, method: str, path: str, body: Any, least: str
) -> None:
    async with gateway.client() as c:
        assert await call(c, method, path, body, auth(OPERATOR)) == 200


async def test_whoami_names_the_token(gateway: Gateway) -> None:
    async with gateway.client() as c:
        assert (await c.get("/api/whoami", headers=auth(VIEWER))).json() == {
            "name": "viewer",
            "role": "viewer",
        }
        assert (await c.get("/api/whoami", headers=auth(OPERATOR))).json()["role"] == "operator"


async def test_healthz_and_page_need_no_token(gateway: Gateway) -> None:
    async with gateway.client() as c:
        r = await c.get("/healthz")
        assert r.status_code == 200 and r.json()["nats"] is True
        page = await c.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]


async def test_openapi_documents_401_and_403(gateway: Gateway) -> None:
    async with gateway.client() as c:
        spec = (await c.get("/openapi.json")).json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.startswith("/api/"):
                assert "401" in op["responses"], (method, path)
                if method != "get":
                    assert "403" in op["responses"], (method, path)
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
