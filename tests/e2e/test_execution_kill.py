"""Chaos: SIGKILL the execution process at random moments while two strategies trade on the sim.

After each kill the supervisor restarts it; the new process waits for the lease to lapse,
restores the book and reconciles. At the end (kill switch on, nothing open) there must be no
duplicate venue order, and venue position == sum of strategy positions == what portfolio booked.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from proto import KillSwitch, OrderUpdate, RiskEvent
from proto.queries import PositionsQuery, PositionsReply
from proto.subjects import EXEC_POSITIONS, KILL_SWITCH_KEY, KV_CONTROL
from tradebus.testing.servers import eventually
from tradebus.testing.stack import UpStack, healthy, sim_get, up_stack

pytestmark = pytest.mark.e2e
KILLS = 5
HERE = Path(__file__).resolve().parent
SYMBOLS = ["BTC-USD", "ETH-USD"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpStack]:
    kind = f"{HERE / 'flip_often_strategy.py'}:Flip"
    strategies = (
        "strategies:\n"
        f"  - name: flip_a\n    kind: '{kind}'\n    symbols: {json.dumps(SYMBOLS)}\n"
        "    params: {interval: 1s, size: '0.02', every: 3}\n"
        f"  - name: flip_b\n    kind: '{kind}'\n    symbols: {json.dumps(SYMBOLS)}\n"
        "    params: {interval: 1s, size: '0.03', every: 4, phase: 1}\n"
    )
    env = {
        "TRADEBUS_SIM_HISTORY_HOURS": "0.2",
        "TRADEBUS_EXECUTION_LEASE_TTL_S": "1.5",
        "TRADEBUS_EXECUTION_RESYNC_EVERY_S": "1",
    }
    with up_stack(tmp_path_factory.mktemp("var"), strategies, env=env) as s:
        yield s


async def venue(s: UpStack, path: str) -> Any:
    return await sim_get(s.sim, path)


async def exec_positions(nc: Any) -> PositionsReply | None:
    try:
        reply = await nc.request(EXEC_POSITIONS, PositionsQuery().to_bytes(), timeout=1)
    except Exception:
        return None
    return PositionsReply.model_validate_json(reply.data)


async def read_stream(js: Any, subject: str, model: Any) -> list[Any]:
    """Every message stored under `subject` in TRADING, oldest first."""
    sub = await js.subscribe(subject, ordered_consumer=True)
    out: list[Any] = []
    info = await js.stream_info("TRADING", subjects_filter=subject)
    total = sum((info.state.subjects or {}).values())
    while len(out) < total:
        msg = await sub.next_msg(timeout=5)
        out.append(model.model_validate_json(msg.data))
    await sub.unsubscribe()
    return out


async def portfolio_positions(dsn: str) -> dict[str, Decimal]:
    """Net booked per symbol from every fill portfolio stored (internal crosses cancel out)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT symbol, sum(CASE WHEN side = 'buy' THEN qty ELSE -qty END) AS q"
            " FROM fills GROUP BY symbol"
        )
    finally:
        await conn.close()
    return {r["symbol"]: Decimal(r["q"]) for r in rows}


async def test_sigkill_execution_repeatedly_no_duplicate_orders_and_positions_agree(stack: UpStack) -> None:
    started = time.monotonic()

    async def up_and_trading() -> bool:
        try:
            return bool(await venue(stack, "/api/v1/fills"))
        except httpx.HTTPError:
            return False

    await eventually(up_and_trading, timeout=150, interval=0.3, what="the first venue fill")
    nc = await nats.connect(stack.nats_url)
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    restarts: list[float] = []
    try:
        # both strategies in the book before the first kill (on a loaded machine one of them
        # can start trading well after the other: the kills must find both to restore)
        async def both_booked() -> bool:
            view = await exec_positions(nc)
            return view is not None and set(view.strategies) >= {"flip_a", "flip_b"}

        await eventually(both_booked, timeout=60, interval=0.3, what="both strategies in the book")
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.3, 2.5))  # a random moment while trading goes on
            old = stack.child("execution")
            os.kill(old["pid"], signal.SIGKILL)
            killed_at = time.monotonic()
            health = old["metrics"].replace("/metrics", "/healthz")

            async def back(old_pid: int = old["pid"], url: str = health) -> bool:
                new = stack.child("execution")
                return bool(new["pid"] and new["pid"] != old_pid and await healthy(url))

            await eventually(back, timeout=20, interval=0.1, what="execution restarted")
            await eventually(lambda: exec_positions(nc), timeout=20, interval=0.1, what="execution owning")
            restarts.append(time.monotonic() - killed_at)
        fills_before_settle = len(await venue(stack, "/api/v1/fills"))

        # settle: the kill switch (no flatten) cancels what is open and stops new orders
        kv = await nc.jetstream().key_value(KV_CONTROL)
        await kv.put(KILL_SWITCH_KEY, KillSwitch(active=True, reason="e2e settle", ts_event=1).to_bytes())

        async def agreed() -> tuple[dict[str, Decimal], PositionsReply] | None:
            if await venue(stack, "/api/v1/orders?open=true"):
                return None
            acct = await venue(stack, "/api/v1/account")
            at_venue = {s: Decimal(p["qty"]) for s, p in acct["positions"].items() if Decimal(p["qty"])}
            view = await exec_positions(nc)
            if view is None:
                return None
            summed: dict[str, Decimal] = {}
            for per in view.strategies.values():
                for sy, q in per.items():
                    summed[sy] = summed.get(sy, Decimal(0)) + q
            booked = await portfolio_positions(stack.pg_url)
            same = all(
                at_venue.get(sy, 0) == summed.get(sy, 0) == booked.get(sy, 0)
                for sy in set(at_venue) | set(summed) | set(booked)
            )
            return (at_venue, view) if same else None

        at_venue, view = await eventually(agreed, timeout=25, interval=0.3, what="positions to agree")
        js = nc.jetstream()
        updates = await read_stream(js, "exec.order.>", OrderUpdate)
        risk = await read_stream(js, "exec.risk.>", RiskEvent)
        vfills = await venue(stack, "/api/v1/fills")
    finally:
        await nc.close()

    # no duplicate venue order: one order per client order id (= per book sequence number), with
    # one shape; and every venue order is one the book created (nothing reused or foreign)
    shapes: dict[str, set[tuple[str, str, Decimal, Decimal | None]]] = {}
    for u in updates:
        shapes.setdefault(u.client_order_id, set()).add((u.symbol, u.side.value, u.qty, u.price))
    assert {cid: s for cid, s in shapes.items() if len(s) > 1} == {}
    filled: dict[str, Decimal] = {}
    for f in vfills:
        filled[f["client_order_id"]] = filled.get(f["client_order_id"], Decimal(0)) + Decimal(f["qty"])
    assert set(filled) <= set(shapes), f"venue orders the book never created: {set(filled) - set(shapes)}"
    for cid, q in filled.items():
        (shape,) = shapes[cid]
        assert q <= shape[2], f"{cid} filled {q} > its qty {shape[2]}"
    assert len(vfills) > fills_before_settle // 2 > 0  # it really traded through the kills
    # nothing the book could not explain
    assert [e.reason for e in risk if e.kind == "reconcile_drift"] == []
    assert all(q == 0 for q in view.strategies.get("_unattributed", {}).values())
    assert set(view.strategies) >= {"flip_a", "flip_b"}
    assert at_venue == {sy: q for sy, q in view.venue.items() if q}
    print(  # noqa: T201 -- the measured figures, shown with -s
        f"\nkills={KILLS} restart_to_owning_s={[round(r, 2) for r in restarts]} venue_orders={len(filled)} "
        f"venue_fills={len(vfills)} order_updates={len(updates)} total_s={time.monotonic() - started:.1f}"
    )
