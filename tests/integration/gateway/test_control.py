"""Control actions end in KV or on the intent subject, each with its audit row; bad input is a
clear 422; an action whose audit row cannot be written is refused (but a kill is never blocked)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from proto import IntentEnvelope, KillSwitch, StrategyConfig, TargetPosition
from proto.subjects import KILL_SWITCH_KEY, KV_CONTROL, KV_STRATEGIES, sig_intent
from services.gateway.audit import AuditUnavailable, PgAudit
from services.gateway.auth import Principal, Role
from services.gateway.control import Control, Heartbeats
from services.portfolio.db import READONLY_ROLE
from services.signals.strategies import load_strategy_class
from tests.integration.gateway.conftest import OPERATOR, Gateway, auth
from tradebus.bus import Bus
from tradebus.testing.servers import eventually

OP = auth(OPERATOR)


@pytest.fixture
async def name(bus: Bus) -> str:
    n = "c" + uuid.uuid4().hex[:10]
    cfg = StrategyConfig(
        name=n,
        kind="bb_rsi_scalper",
        symbols=("BTC-USD", "ETH-USD"),
        params={"interval": "5s", "bb_period": 20},
    )
    await bus.kv_put(KV_STRATEGIES, n, cfg)
    return n


async def audit_rows(dsn: str, target: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT * FROM audit_log WHERE target = $1 ORDER BY id", target)
    finally:
        await conn.close()
    return [
        {
            **dict(r),
            "before": r["before"] and json.loads(r["before"]),
            "after": r["after"] and json.loads(r["after"]),
        }
        for r in rows
    ]


async def test_disable_then_enable_lands_in_kv_with_audit(
    gateway: Gateway, bus: Bus, name: str, audit_dsn: str
) -> None:
    async with gateway.client() as c:
        r = await c.post(f"/api/strategies/{name}/disable", headers=OP)
        assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["updated_by"] == "operator"
        stored = await bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
        assert stored is not None and stored.enabled is False
        await c.post(f"/api/strategies/{name}/enable", headers=OP)
    rows = await audit_rows(audit_dsn, f"strategy:{name}")
    assert [(r["actor"], r["action"], r["before"], r["after"]) for r in rows] == [
        ("operator", "disable", {"enabled": True}, {"enabled": False}),
        ("operator", "enable", {"enabled": False}, {"enabled": True}),
    ]
    assert all(r["at"] is not None for r in rows)


async def test_params_are_merged_checked_by_the_strategy_model_and_stored(
    gateway: Gateway, bus: Bus, name: str, audit_dsn: str
) -> None:
    async with gateway.client() as c:
        r = await c.put(
            f"/api/strategies/{name}/params", json={"params": {"bb_period": 30, "size": "0.02"}}, headers=OP
        )
    assert r.status_code == 200, r.text
    stored = await bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
    assert stored is not None
    parsed = load_strategy_class("bb_rsi_scalper").Params.model_validate(stored.params)
    assert parsed.bb_period == 30 and parsed.size == Decimal("0.02") and parsed.interval == "5s"  # type: ignore[attr-defined]
    [row] = await audit_rows(audit_dsn, f"strategy:{name}")
    assert row["action"] == "params"
    assert row["before"]["params"]["bb_period"] == 20 and row["after"]["params"]["bb_period"] == 30


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"params": {"bb_period": "30"}}, "bb_period"),  # a string for an int: never coerced
        ({"params": {"bb_period": 1.5}}, "bb_period"),
        ({"params": {"bb_period": True}}, "bb_period"),
        ({"params": {"nonsense": 1}}, "nonsense"),
        ({"params": {"size": [1]}}, "size"),
    ],
)
async def test_bad_params_are_422_naming_the_field_and_change_nothing(
    gateway: Gateway, bus: Bus, name: str, body: dict[str, Any], field: str
) -> None:
    before = await bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
    async with gateway.client() as c:
        r = await c.put(f"/api/strategies/{name}/params", json=body, headers=OP)
    assert r.status_code == 422
    assert any(d["loc"][-1] == field and d["loc"][:2] == ["body", "params"] for d in r.json()["detail"]), (
        r.json()
    )
    assert await bus.kv_get(KV_STRATEGIES, name, StrategyConfig) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("params", {"params": {}}),
        ("params", {"params": [1]}),
        ("params", {"params": {"bb_period": 30}, "extra": 1}),
        ("dry-run", {"dry_run": "true"}),
        ("dry-run", {"dry_run": 1}),
        ("dry-run", {}),
    ],
)
async def test_strict_bodies(gateway: Gateway, name: str, path: str, body: dict[str, Any]) -> None:
    async with gateway.client() as c:
        assert (await c.put(f"/api/strategies/{name}/{path}", json=body, headers=OP)).status_code == 422


async def test_params_of_a_kind_that_cannot_be_loaded_is_409(gateway: Gateway, bus: Bus) -> None:
    n = "k" + uuid.uuid4().hex[:8]
    await bus.kv_put(KV_STRATEGIES, n, StrategyConfig(name=n, kind="no_such_strategy_kind"))
    async with gateway.client() as c:
        r = await c.put(f"/api/strategies/{n}/params", json={"params": {"size": "1"}}, headers=OP)
    assert r.status_code == 409 and "no_such_strategy_kind" in r.json()["detail"]


async def test_dry_run_toggle(gateway: Gateway, bus: Bus, name: str) -> None:
    async with gateway.client() as c:
        r = await c.put(f"/api/strategies/{name}/dry-run", json={"dry_run": True}, headers=OP)
    assert r.status_code == 200
    stored = await bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
    assert stored is not None and stored.dry_run is True and stored.enabled is True


async def test_flatten_publishes_target_zero_per_symbol(
    gateway: Gateway, bus: Bus, name: str, audit_dsn: str
) -> None:
    seen: list[TargetPosition] = []

    async def on(msg: Any) -> None:
        intent = IntentEnvelope.model_validate_json(msg.data).intent
        assert isinstance(intent, TargetPosition)
        seen.append(intent)

    sub = await bus.nc.subscribe(sig_intent(name), cb=on)
    async with gateway.client() as c:
        r = await c.post(f"/api/strategies/{name}/flatten", headers=OP)
    assert r.status_code == 200
    await eventually(lambda: len(seen) == 2, what="two flatten intents")
    await sub.unsubscribe()
    assert sorted((i.symbol, i.qty, i.strategy, i.venue, i.dry_run) for i in seen) == [
        ("BTC-USD", Decimal(0), name, "sim", False),
        ("ETH-USD", Decimal(0), name, "sim", False),
    ]
    assert sorted(r.json()["intents"]) == sorted(i.intent_id for i in seen)
    [row] = await audit_rows(audit_dsn, f"strategy:{name}")
    assert row["action"] == "flatten" and row["after"] == {"targets": {"BTC-USD": "0", "ETH-USD": "0"}}


async def test_unknown_strategy_is_404_for_every_action(gateway: Gateway) -> None:
    async with gateway.client() as c:
        for method, path, body in [
            ("GET", "", None),
            ("POST", "/enable", None),
            ("POST", "/flatten", None),
            ("PUT", "/dry-run", {"dry_run": True}),
            ("PUT", "/params", {"params": {"size": "1"}}),
        ]:
            r = await c.request(
                method, f"/api/strategies/nope{uuid.uuid4().hex[:6]}{path}", json=body, headers=OP
            )
            assert r.status_code == 404, (method, path)
        assert (await c.post("/api/strategies/x/explode", headers=OP)).status_code == 404
        assert (await c.post("/api/strategies/a.b/enable", headers=OP)).status_code == 422


async def test_kill_switch_on_and_off(gateway: Gateway, bus: Bus, audit_dsn: str) -> None:
    async with gateway.client() as c:
        r = await c.put(
            "/api/kill-switch", json={"active": True, "flatten": True, "reason": "test"}, headers=OP
        )
        assert r.status_code == 200
        ks = await bus.kv_get(KV_CONTROL, KILL_SWITCH_KEY, KillSwitch)
        assert ks is not None and ks.active and ks.flatten and ks.reason == "test"
        assert (await c.get("/api/kill-switch", headers=OP)).json()["active"] is True
        assert (await c.put("/api/kill-switch", json={"active": "yes"}, headers=OP)).status_code == 422
        r = await c.put("/api/kill-switch", json={"active": False}, headers=OP)
        ks = await bus.kv_get(KV_CONTROL, KILL_SWITCH_KEY, KillSwitch)
        assert ks is not None and not ks.active and not ks.flatten
        entries = (await c.get("/api/audit?limit=2", headers=OP)).json()
    assert [(e["action"], e["after"]["active"]) for e in entries] == [
        ("kill_switch", False),
        ("kill_switch", True),
    ]


@pytest.fixture
async def readonly_control(bus: Bus, audit_dsn: str) -> AsyncIterator[Control]:
    """A control whose audit role may not insert: every audit write fails."""
    audit = await PgAudit.open(audit_dsn, READONLY_ROLE)
    yield Control(bus, Heartbeats(), audit, timeout_s=0.5)
    await audit.close()


async def test_no_audit_no_action_but_a_kill_is_never_blocked(
    readonly_control: Control, bus: Bus, name: str
) -> None:
    who = Principal("operator", Role.OPERATOR)
    with pytest.raises(AuditUnavailable, match="audit_log"):
        await readonly_control.set_enabled(name, False, who)
    stored = await bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
    assert stored is not None and stored.enabled is True
    ks = await readonly_control.set_kill_switch(True, False, "db down", who)
    assert ks.active and (await readonly_control.kill_switch()).active
    with pytest.raises(AuditUnavailable):
        await readonly_control.set_kill_switch(False, False, "", who)
    assert (await readonly_control.kill_switch()).active
    await bus.kv_put(KV_CONTROL, KILL_SWITCH_KEY, KillSwitch())
