"""The sim's run-time fault control (`TRADEBUS_SIM_ADMIN`): 5xx and outages on and off again,
open WebSockets dropped on request; absent unless enabled."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.integration.sim.conftest import start_sim, stop_sim
from tradebus.testing.servers import eventually

KEY = {"X-API-Key": "sim-key"}


@pytest.fixture(scope="module")
def admin_sim() -> Iterator[str]:
    proc, url = start_sim(admin="true", clock_speed="10", history_hours="0")
    try:
        yield url
    finally:
        stop_sim(proc)


def test_admin_is_absent_unless_enabled() -> None:
    proc, url = start_sim(history_hours="0")
    try:
        assert httpx.get(f"{url}/api/v1/admin/faults", headers=KEY).status_code == 404
    finally:
        stop_sim(proc)


async def test_errors_on_then_off_and_admin_stays_reachable(admin_sim: str) -> None:
    async with httpx.AsyncClient(base_url=admin_sim, headers=KEY, timeout=5) as c:
        assert (await c.post("/api/v1/admin/faults", json={"error_rate": 1})).status_code == 200
        assert (await c.get("/api/v1/account")).status_code == 503
        shown = (await c.get("/api/v1/admin/faults")).json()
        assert shown["error_rate"] == 1
        assert (await c.post("/api/v1/admin/faults", json={})).status_code == 200
        assert (await c.get("/api/v1/account")).status_code == 200


async def test_bad_admin_requests_are_refused(admin_sim: str) -> None:
    async with httpx.AsyncClient(base_url=admin_sim, timeout=5) as c:
        assert (await c.post("/api/v1/admin/faults", json={})).status_code == 401
        r = await c.post("/api/v1/admin/faults", json={"error_rat": 1}, headers=KEY)
        assert r.status_code == 400
        assert "error_rat" in r.json()["error"]
        r = await c.post("/api/v1/admin/faults", json={"error_rate": 0.6, "timeout_rate": 0.6}, headers=KEY)
        assert r.status_code == 400


async def test_outage_answers_503_then_ends(admin_sim: str) -> None:
    async with httpx.AsyncClient(base_url=admin_sim, headers=KEY, timeout=5) as c:
        assert (await c.post("/api/v1/admin/faults", json={"outage_s": 0.5})).status_code == 200
        assert (await c.get("/api/v1/account")).status_code == 503

        async def over() -> bool | None:
            return (await c.get("/api/v1/account")).status_code == 200 or None

        await eventually(over, timeout=5, interval=0.05, what="the outage to end")


async def test_drop_closes_open_websockets(admin_sim: str) -> None:
    ws_url = admin_sim.replace("http", "ws") + "/ws/market"
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"op": "subscribe", "symbols": ["BTC-USD"]}))
        await ws.recv()  # the snapshot: the session is open
        async with httpx.AsyncClient(base_url=admin_sim, headers=KEY, timeout=5) as c:
            r = await c.post("/api/v1/admin/faults", json={"drop_websockets": True})
        assert r.json()["dropped_websockets"] >= 1

        async def drain() -> None:
            while True:
                await ws.recv()

        with pytest.raises(websockets.ConnectionClosed) as info:
            await drain()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1012
