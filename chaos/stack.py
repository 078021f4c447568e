"""A whole `tradebus up` stack on free ports in a temporary directory, with fast test strategies
and the sim's run-time fault control on; plus the read-outs the checks need (venue, NATS,
Postgres, health)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tradebus.testing.stack import SIM_KEY, sim_get, stack_ports, up_environment

ROOT = Path(__file__).resolve().parents[1]
FLIP = ROOT / "tests" / "e2e" / "flip_often_strategy.py"
SYMBOLS = ("BTC-USD", "ETH-USD")
VENUE_KEY = SIM_KEY
#: the strategies of a chaos run: two flippers that cross often, and a slower third
STRATEGIES = (
    ("flip_a", "{interval: 1s, size: '0.02', every: 3}"),
    ("flip_b", "{interval: 1s, size: '0.03', every: 4, phase: 1}"),
    ("flip_c", "{interval: 1s, size: '0.01', every: 7, phase: 2}"),
)


def strategies_yaml(strategies: tuple[tuple[str, str], ...] = STRATEGIES) -> str:
    lines = ["strategies:"]
    for name, params in strategies:
        lines += [
            f"  - name: {name}",
            f"    kind: '{FLIP}:Flip'",
            f"    symbols: {json.dumps(list(SYMBOLS))}",
            f"    params: {params}",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class Stack:
    var: Path
    ports: dict[str, int]
    token: str
    proc: subprocess.Popen[bytes] | None = None
    owns_var: bool = False
    env: dict[str, str] = field(default_factory=dict)

    @property
    def sim(self) -> str:
        return f"http://127.0.0.1:{self.ports['SIM']}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['GATEWAY']}"

    @property
    def nats(self) -> str:
        return f"nats://127.0.0.1:{self.ports['NATS']}"

    @property
    def pg(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports['PG']}/postgres"

    def state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.var / "stack.json").read_text())
        except FileNotFoundError:  # `tradebus up` has not started its first child yet
            return {"processes": []}
        return data

    def expected(self) -> list[str]:
        """Every process `tradebus up` runs for this stack."""
        signals = [f"signals-{name}" for name, _ in STRATEGIES]
        return ["nats", "postgres", "sim", "marketdata", "execution", "portfolio", *signals, "gateway"]

    def children(self) -> list[dict[str, Any]]:
        return list(self.state()["processes"])

    def child(self, name: str) -> dict[str, Any]:
        return next(p for p in self.children() if p["name"] == name)


def start(var: Path | None = None, extra_env: dict[str, str] | None = None) -> Stack:
    """Start `tradebus up` in the background (not waiting for it: see `checks.all_up`)."""
    owns = var is None
    var = var or Path(tempfile.mkdtemp(prefix="tb-chaos-"))
    var.mkdir(parents=True, exist_ok=True)
    (var / "strategies.yaml").write_text(strategies_yaml())
    ports = stack_ports()
    token = "chaos-" + os.urandom(8).hex()
    env = up_environment(
        var,
        ports,
        token,
        env={
            "PYTHONPATH": str(ROOT),
            "TRADEBUS_SIM_HISTORY_HOURS": "0.2",
            "TRADEBUS_SIM_ADMIN": "true",
            "TRADEBUS_EXECUTION_LEASE_TTL_S": "1.5",
            "TRADEBUS_EXECUTION_RESYNC_EVERY_S": "1",
            **(extra_env or {}),
        },
    )
    log = open(var / "up.log", "wb")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradebus", "up"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    finally:
        log.close()
    return Stack(var, ports, token, proc, owns, env)


def stop(stack: Stack, keep_var: bool = False) -> None:
    proc = stack.proc
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if stack.owns_var and not keep_var:
        shutil.rmtree(stack.var, ignore_errors=True)


# -- read-outs -------------------------------------------------------------------------------


async def venue(stack: Stack, path: str) -> Any:
    return await sim_get(stack.sim, path)


async def set_venue_faults(stack: Stack, **faults: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.post(f"{stack.sim}/api/v1/admin/faults", json=faults, headers=VENUE_KEY)
        r.raise_for_status()
        out: dict[str, Any] = r.json()
        return out


async def gateway(stack: Stack, path: str) -> Any:
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.get(f"{stack.gateway}{path}", headers={"Authorization": f"Bearer {stack.token}"})
        r.raise_for_status()
        return r.json()


async def ledger(dsn: str) -> list[dict[str, Any]]:
    """Every fill portfolio booked."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT fill_id, strategy, symbol, side, qty, liquidity, client_order_id, venue_fill_id"
            " FROM fills"
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


def signed(side: str, qty: Decimal) -> Decimal:
    return qty if side == "buy" else -qty
