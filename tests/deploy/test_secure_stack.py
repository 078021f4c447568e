"""`tradebus up --secure`: every service connects as its own NATS user and the platform still trades:
the scalper's intent reaches execution, a fill reaches portfolio and the gateway, the gateway
reads the strategies KV and asks portfolio and execution. Anonymous connections are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from tradebus.testing.servers import eventually
from tradebus.testing.stack import up_stack

pytestmark = pytest.mark.e2e
STRATEGY = "bb_rsi_scalper"


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    strategies = (
        f"strategies:\n  - name: {STRATEGY}\n    kind: {STRATEGY}\n"
        "    symbols: [BTC-USD, ETH-USD, SOL-USD]\n    params: {interval: 5s}\n"
    )
    with up_stack(tmp_path_factory.mktemp("var-secure"), strategies, args=("--secure",)) as s:
        yield s.var, {"gateway": s.gateway, "nats": s.nats_url, "token": s.token}


async def test_secure_stack_trades_with_per_service_users(secure_stack: tuple[Path, dict[str, str]]) -> None:
    var, info = secure_stack
    auth = {"Authorization": f"Bearer {info['token']}"}

    async def get(path: str) -> httpx.Response | None:
        async with httpx.AsyncClient(timeout=5) as c:
            try:
                r = await c.get(info["gateway"] + path, headers=auth)
            except httpx.HTTPError:
                return None
        return r if r.status_code == 200 else None

    listed = await eventually(lambda: get("/api/strategies"), timeout=90, interval=0.5, what="the gateway")
    assert [s["name"] for s in listed.json()] == [STRATEGY]
    await eventually(lambda: get("/api/positions"), timeout=30, what="positions from execution")

    async def a_fill() -> list[object] | None:
        r = await get(f"/api/fills?strategy={STRATEGY}")
        return list(r.json()["fills"]) if r else None

    await eventually(a_fill, timeout=150, interval=0.5, what="a scalper fill through the secured bus")
    pnl = await eventually(lambda: get("/api/pnl"), timeout=30, what="PnL from portfolio")
    assert STRATEGY in pnl.json()["strategies"]

    # the services used their own users: the server knows no anonymous client, the file is private
    passwords = json.loads((var / "nats" / "passwords.json").read_text())
    assert {"marketdata", "execution", "portfolio", "gateway", f"signals-{STRATEGY}"} <= set(passwords)
    assert (var / "nats" / "passwords.json").stat().st_mode & 0o077 == 0

    async def quiet(exc: Exception) -> None:
        pass

    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(info["nats"], allow_reconnect=False, max_reconnect_attempts=0, error_cb=quiet)
