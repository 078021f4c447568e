"""What a chaos run looks at between faults: is every process back, is it trading, and what do
the venue, execution (through the gateway), the ledger and the order history say."""

from __future__ import annotations

import os
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient

from chaos.stack import Stack, gateway, ledger, venue
from chaos.verdict import Booked, OrderShape, VenueFill, Views
from proto import KillSwitch, OrderUpdate
from proto.subjects import KILL_SWITCH_KEY, KV_CONTROL, TRADING
from tradebus.bus import now_ns
from tradebus.testing.stack import healthy

UNATTRIBUTED = "_unattributed"


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] not in ("Z", "T")


def port_open(url: str) -> bool:
    host, port = url.rsplit("//", 1)[-1].split("@")[-1].split("/")[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.3):
            return True
    except OSError:
        return False


async def pg_ok(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    try:
        return bool(await conn.fetchval("SELECT 1", timeout=2))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    finally:
        await conn.close(timeout=2)


async def down(stack: Stack) -> list[str]:
    """The processes of the stack that are not (yet) back and healthy; empty when all are."""
    if stack.proc is not None and stack.proc.poll() is not None:
        raise RuntimeError(f"tradebus up exited with {stack.proc.returncode}: see {stack.var / 'up.log'}")
    children = stack.children()
    missing = sorted(set(stack.expected()) - {p["name"] for p in children})
    for p in children:
        name = p["name"]
        if not alive(p.get("pid")):
            missing.append(name)
        elif "metrics" in p:
            if not await healthy(p["metrics"].replace("/metrics", "/healthz")):
                missing.append(name)
        elif name == "sim":
            if not await healthy(f"{stack.sim}/api/v1/health"):
                missing.append(name)
        elif name == "nats":
            if not port_open(stack.nats):
                missing.append(name)
        elif name == "postgres" and not await pg_ok(stack.pg):
            missing.append(name)
    return missing


async def venue_fill_count(stack: Stack) -> int:
    try:
        return len(await venue(stack, "/api/v1/fills"))
    except Exception:
        return -1


async def set_kill_switch(nc: NatsClient, active: bool, reason: str) -> None:
    kv = await nc.jetstream().key_value(KV_CONTROL)
    await kv.put(KILL_SWITCH_KEY, KillSwitch(active=active, reason=reason, ts_event=now_ns()).to_bytes())


async def order_history(nc: NatsClient) -> list[OrderShape]:
    """Every order update ever published on `exec.order.>`, as shapes."""
    js = nc.jetstream()
    info = await js.stream_info(TRADING, subjects_filter="exec.order.>")
    total = sum((info.state.subjects or {}).values())
    out: list[OrderShape] = []
    if not total:
        return out
    sub = await js.subscribe("exec.order.>", ordered_consumer=True)
    try:
        while len(out) < total:
            msg = await sub.next_msg(timeout=5)
            try:
                u = OrderUpdate.model_validate_json(msg.data)
            except ValueError:
                out.append(OrderShape(f"(unreadable #{len(out)})", "", "", Decimal(0), None))
                continue
            out.append(OrderShape(u.client_order_id, u.symbol, u.side.value, u.qty, u.price))
    finally:
        await sub.unsubscribe()
    return out


def _decimals(d: dict[str, Any]) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in d.items()}


async def snapshot(
    stack: Stack, nc: NatsClient
) -> tuple[list[VenueFill], list[Booked], list[OrderShape], Views]:
    fills = [
        VenueFill(f["fill_id"], f["client_order_id"], f["symbol"], f["side"], Decimal(f["qty"]))
        for f in await venue(stack, "/api/v1/fills")
    ]
    acct = await venue(stack, "/api/v1/account")
    at_venue = {s: Decimal(p["qty"]) for s, p in acct["positions"].items()}
    pos = await gateway(stack, "/api/positions")
    await gateway(stack, "/api/pnl")  # answers: the portfolio's figures are served
    strategies = {name: _decimals(q) for name, q in pos["strategies"].items() if name != UNATTRIBUTED}
    rows = [
        Booked(
            r["strategy"],
            r["symbol"],
            r["side"],
            Decimal(r["qty"]),
            r["liquidity"] == "internal",
            r["venue_fill_id"],
        )
        for r in await ledger(stack.pg)
    ]
    views = Views(venue=at_venue, strategies=strategies, gateway_venue=_decimals(pos["venue"]))
    return fills, rows, await order_history(nc), views
