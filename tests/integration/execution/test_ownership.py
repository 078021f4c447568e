"""One owner per account (lease + fenced snapshot), reconcile drift, lost publishes, bad config."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from typing import Any

import pytest

from proto import Fill, Heartbeat, RiskEvent
from services.execution.service import Execution
from services.execution.store import Outgoing
from tests.integration.execution.conftest import (
    Env,
    ready,
    run_subprocess_instance,
    start_instance,
    target,
    tick_relay,
)
from tradebus.testing.servers import eventually

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD"]


async def test_second_instance_stands_by_and_takes_over_when_the_first_is_killed(
    world: Env, nats_url: str, sim_url: str, env: dict[str, str]
) -> None:
    states: dict[str, str] = {}

    async def on_hb(msg: Any) -> None:
        hb = Heartbeat.model_validate_json(msg.data)
        states[hb.instance] = hb.state

    await world.nc.subscribe("svc.heartbeat.execution", cb=on_hb)
    first = run_subprocess_instance(nats_url, env, "first")
    second = None
    try:
        await ready(world, timeout=30)
        async with tick_relay(nats_url, sim_url, SYMBOLS):
            await world.publish_intent(target("l-1", "alpha", "ETH-USD", "0.4"))

            async def traded() -> bool:
                return await world.venue_position("ETH-USD") == Decimal("0.4")

            await eventually(traded, timeout=20, what="the first owner trading")
            second = start_instance(nats_url, "second")
            await eventually(lambda: states.get("second") == "standby", timeout=10, what="second on standby")
            await eventually(lambda: states.get("first") == "running", timeout=5, what="first running")
            assert states.get("second") == "standby"

            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            # the lease lapses (ttl 1.5 s) and the standby takes over with the stored book
            await eventually(lambda: states.get("second") == "running", timeout=15, what="takeover")

            async def restored() -> bool:
                p = await world.positions()
                return p is not None and p.strategies.get("alpha", {}).get("ETH-USD") == Decimal("0.4")

            await eventually(restored, timeout=15, what="the book restored by the new owner")
            await world.publish_intent(target("l-2", "alpha", "ETH-USD", "0"))

            async def flat() -> bool:
                return await world.venue_position("ETH-USD") == 0

            await eventually(flat, timeout=20, what="the new owner trading")
        fills = await world.venue_fills()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        if second is not None:
            await second.stop()
    assert len({f["client_order_id"] for f in fills}) == 2
    assert second.metric("tradebus_execution_leader") is not None


async def test_reconcile_reports_a_position_the_book_cannot_explain(
    world: Env, nats_url: str, sim_url: str
) -> None:
    # someone trades the account behind execution's back
    r = await world.http.post(
        f"{world.sim}/api/v1/orders",
        headers={"X-API-Key": world.key},
        json={
            "client_order_id": "manual-1",
            "symbol": "SOL-USD",
            "side": "buy",
            "type": "market",
            "qty": "3",
        },
    )
    assert r.status_code == 200, r.text
    risk_raw = await world.capture("exec.risk.>")
    inst = start_instance(nats_url, "a")
    try:
        view = await ready(world)
        drift = await eventually(
            lambda: [e for e in map(RiskEvent.model_validate_json, risk_raw) if e.kind == "reconcile_drift"],
            timeout=10,
            what="a reconcile_drift event",
        )
        gauge = inst.metric("tradebus_reconciliation_drift")
        events = inst.metric("tradebus_reconciliation_drift_events_total", symbol="SOL-USD")
    finally:
        await inst.stop()
    assert [(e.symbol, e.strategy) for e in drift] == [("SOL-USD", "_unattributed")]
    assert "manual-1" in drift[0].reason and "3 booked to _unattributed" in drift[0].reason
    assert gauge == 1 and events == 1
    # corrected: booked to `_unattributed`, so the strategies add up to the venue again
    assert view.strategies["_unattributed"]["SOL-USD"] == Decimal("3")
    assert view.venue["SOL-USD"] == Decimal("3")


async def test_messages_stored_but_not_published_before_a_crash_are_published_on_restart(
    world: Env, nats_url: str, sim_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fills_raw = await world.capture("exec.fill.alpha")
    real = Execution.publish
    crashed = asyncio.Event()

    async def crash_on_fill(self: Execution, outbox: list[Outgoing]) -> None:
        if any(o.subject.startswith("exec.fill.") for o in outbox) and not crashed.is_set():
            crashed.set()
            raise asyncio.CancelledError("simulated crash after the store, before the publish")
        await real(self, outbox)

    async with tick_relay(nats_url, sim_url, SYMBOLS):
        monkeypatch.setattr(Execution, "publish", crash_on_fill)
        first = start_instance(nats_url, "first")
        await ready(world)
        await world.publish_intent(target("p-1", "alpha", "BTC-USD", "0.01"))
        await eventually(crashed.is_set, timeout=15, what="the simulated crash")
        first.stopping.set()
        await asyncio.wait([first.task], timeout=20)
        monkeypatch.setattr(Execution, "publish", real)
        assert fills_raw == []  # nothing reached the bus

        second = start_instance(nats_url, "second")
        try:
            await eventually(lambda: fills_raw, timeout=15, what="the stored fill published on restart")
            await ready(world)
        finally:
            await second.stop()
    fills = [Fill.model_validate_json(b) for b in fills_raw]
    venue = await world.venue_fills()
    assert [f.venue_fill_id for f in fills] == [v["fill_id"] for v in venue]
    assert [f.qty for f in fills] == [Decimal("0.01")]


def test_a_bad_risk_limit_stops_the_start_naming_the_key(nats_url: str, env: dict[str, str]) -> None:
    bad = {**env, "TRADEBUS_EXECUTION_RISK__MAX_POSITION": "-5"}
    proc = run_subprocess_instance(nats_url, bad, "bad", capture=True)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode not in (0, None)
    assert b"TRADEBUS_EXECUTION_RISK__MAX_POSITION" in err
