"""The whole platform from `tradebus up`: the scalper trades on the sim exchange, its fill lands in
Postgres and at the gateway, PnL is on /metrics; disabling it stops new entries; SIGTERM leaves
no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest

from proto import IntentEnvelope, TargetPosition
from tradebus.testing.servers import eventually
from tradebus.testing.stack import UpStack, up_stack

pytestmark = pytest.mark.e2e
STRATEGY = "bb_rsi_scalper"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpStack]:
    strategies = (
        f"strategies:\n  - name: {STRATEGY}\n    kind: {STRATEGY}\n"
        "    symbols: [BTC-USD, ETH-USD, SOL-USD]\n    params: {interval: 5s}\n"
    )
    with up_stack(tmp_path_factory.mktemp("var"), strategies) as s:
        yield s


async def scalper_fills(s: UpStack) -> list[dict]:  # type: ignore[type-arg]
    async with httpx.AsyncClient(timeout=5) as c:
        try:
            r = await c.get(f"{s.gateway}/api/fills", params={"strategy": STRATEGY}, headers=s.auth())
        except httpx.HTTPError:
            return []
    return list(r.json()["fills"]) if r.status_code == 200 else []


async def test_trades_end_to_end_then_disable_then_clean_stop(stack: UpStack) -> None:
    # 1. the scalper trades: a fill at the gateway and the same fill in Postgres
    fills = await eventually(lambda: scalper_fills(stack), timeout=150, interval=0.5, what="a scalper fill")
    first = fills[-1]
    assert Decimal(first["qty"]) > 0
    assert first["client_order_id"]
    conn = await asyncpg.connect(stack.pg_url)
    try:
        row = await conn.fetchrow(
            "SELECT strategy, qty, price FROM fills WHERE fill_id = $1", first["fill_id"]
        )
    finally:
        await conn.close()
    assert row is not None
    assert row["strategy"] == STRATEGY
    assert row["qty"] == Decimal(first["qty"])
    assert row["price"] == Decimal(first["price"])

    # 2. the portfolio's /metrics shows tradebus_ PnL series for the strategy
    portfolio = next(p for p in stack.state()["processes"] if p["name"] == "portfolio")

    async def pnl_series() -> str | None:
        async with httpx.AsyncClient(timeout=5) as c:
            text = (await c.get(portfolio["metrics"])).text
        return text if f'tradebus_strategy_pnl_usd{{strategy="{STRATEGY}"}}' in text else None

    await eventually(pnl_series, timeout=20, what="PnL series on /metrics")

    # 3. disable through the API: no new entry intents after it (exits may still pass)
    nc = await nats.connect(stack.nats_url)
    seen: list[tuple[float, TargetPosition]] = []

    async def on_intent(msg: nats.aio.msg.Msg) -> None:
        intent = IntentEnvelope.model_validate_json(msg.data).intent
        if isinstance(intent, TargetPosition):
            seen.append((time.monotonic(), intent))

    await nc.subscribe(f"sig.intent.{STRATEGY}", cb=on_intent)
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.post(f"{stack.gateway}/api/strategies/{STRATEGY}/disable", headers=stack.auth())
        assert r.status_code == 200
        assert r.json()["enabled"] is False
        assert r.json()["state"] in ("running", "stopping")
        disabled_at = time.monotonic()
        listed = (await c.get(f"{stack.gateway}/api/strategies", headers=stack.auth())).json()
        assert [s["enabled"] for s in listed if s["name"] == STRATEGY] == [False]
    # watch for 10 s of wall time (100 s of sim time: ~60 candles over 3 symbols) after a 1 s grace
    await asyncio.sleep(11)
    await nc.close()
    late = [i for t, i in seen if t > disabled_at + 1.0]
    entries = [i for i in late if i.qty != 0]
    assert entries == [], f"entries after disable: {entries}"

    # 4. SIGTERM stops everything within 10 s, leaving no process behind
    pids = [p["pid"] for p in stack.state()["processes"] if p["pid"]]
    assert len(pids) >= 8
    stack.proc.send_signal(signal.SIGTERM)
    stack.proc.wait(timeout=15)
    assert stack.proc.returncode == 0

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # a zombie is not a live process
        stat = Path(f"/proc/{pid}/stat")
        return stat.exists() and stat.read_text().split()[2] != "Z"

    assert [p for p in pids if alive(p)] == []
