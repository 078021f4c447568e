"""The live stream: bus messages and control changes reach an open server-sent-events stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx

from proto import Fill, Liquidity, RiskEvent, Side, StrategyConfig
from proto.subjects import KV_STRATEGIES, exec_fill, exec_risk
from tests.integration.gateway.conftest import OPERATOR, VIEWER, Gateway, auth
from tradebus.bus import Bus


async def events(r: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    kind, data = "", ""
    async for line in r.aiter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and kind:
            yield kind, json.loads(data)
            kind, data = "", ""


async def first(stream: AsyncIterator[tuple[str, Any]], kind: str, match: Any, timeout: float = 10) -> Any:
    async def scan() -> Any:
        async for k, data in stream:
            if k == kind and match(data):
                return data
        raise AssertionError(f"stream ended before a {kind} event")

    return await asyncio.wait_for(scan(), timeout)


async def test_stream_carries_fills_risk_and_strategy_changes(gateway: Gateway, bus: Bus) -> None:
    name = "l" + uuid.uuid4().hex[:8]
    await bus.kv_put(KV_STRATEGIES, name, StrategyConfig(name=name, kind="bb_rsi_scalper"))
    async with gateway.client() as c, c.stream("GET", "/api/events", headers=auth(VIEWER)) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        stream = events(r)
        hello = await first(stream, "hello", lambda d: True)
        assert hello == {"name": "viewer", "role": "viewer"}

        fill = Fill(
            fill_id="live-" + name, strategy=name, venue="sim", symbol="BTC-USD", side=Side.SELL,
            qty=Decimal("0.25"), price=Decimal("101.5"), liquidity=Liquidity.MAKER, ts_event=7,
        )  # fmt: skip
        await bus.publish_durable(exec_fill(name), fill, fill.fill_id)
        got = await first(stream, "fill", lambda d: d["fill_id"] == fill.fill_id)
        assert Fill.model_validate(got) == fill

        risk = RiskEvent(kind="max_position", reason="over " + name, strategy=name, ts_event=8)
        await bus.publish_durable(exec_risk(risk.kind), risk, "r-" + name)
        assert RiskEvent.model_validate(await first(stream, "risk", lambda d: d["strategy"] == name)) == risk

        await c.post(f"/api/strategies/{name}/disable", headers=auth(OPERATOR))
        changed = await first(stream, "strategy", lambda d: d["name"] == name and d["enabled"] is False)
        assert changed["updated_by"] == "operator"
