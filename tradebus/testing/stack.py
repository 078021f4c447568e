"""A whole `tradebus up` stack for end-to-end tests: free ports, a temp var dir, a fast clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tradebus.testing.servers import free_port


@dataclass
class UpStack:
    proc: subprocess.Popen[bytes]
    var: Path
    token: str
    gateway: str
    nats_url: str
    pg_url: str
    sim: str

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.var / "stack.json").read_text())
        return data

    def child(self, name: str) -> dict[str, Any]:
        """The supervised process `name` as `stack.json` lists it now (pid, restarts, ...)."""
        found: dict[str, Any] = next(p for p in self.state()["processes"] if p["name"] == name)
        return found

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


#: the sim's API key in a stack `tradebus up` starts
SIM_KEY = {"X-API-Key": "sim-key"}


async def sim_get(sim: str, path: str) -> Any:
    """The JSON the stack's sim answers to GET `path` (raises on an error status)."""
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.get(f"{sim}{path}", headers=SIM_KEY)
        r.raise_for_status()
        return r.json()


async def healthy(url: str) -> bool:
    """Whether `url` answers 200 within a second."""
    try:
        async with httpx.AsyncClient(timeout=1) as c:
            return (await c.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


def up_environment(
    var: Path,
    ports: dict[str, int],
    token: str,
    *,
    clock_speed: float = 10.0,
    env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a `tradebus up` keeping its state in `var` (strategies in
    `var/strategies.yaml`) on `ports` (NATS, PG, SIM, GATEWAY), with `env` over the defaults;
    without `DATABASE_URL`: the embedded Postgres of `up` is what is tested."""
    environ = {
        **os.environ,
        "TRADEBUS_VAR_DIR": str(var),
        "TRADEBUS_STRATEGIES_FILE": str(var / "strategies.yaml"),
        "TRADEBUS_NATS_PORT": str(ports["NATS"]),
        "TRADEBUS_PG_PORT": str(ports["PG"]),
        "TRADEBUS_SIM_PORT": str(ports["SIM"]),
        "TRADEBUS_GATEWAY_PORT": str(ports["GATEWAY"]),
        "TRADEBUS_METRICS_BASE_PORT": str(free_port()),
        "TRADEBUS_API_TOKEN": token,
        "TRADEBUS_SIM_CLOCK_SPEED": str(clock_speed),
        **(env or {}),
    }
    environ.pop("DATABASE_URL", None)
    return environ


def stack_ports() -> dict[str, int]:
    return {k: free_port() for k in ("NATS", "PG", "SIM", "GATEWAY")}


@contextmanager
def up_stack(
    var: Path,
    strategies_yaml: str,
    *,
    args: tuple[str, ...] = (),
    clock_speed: float = 10.0,
    env: dict[str, str] | None = None,
) -> Iterator[UpStack]:
    """Start `tradebus up` (with `args`, and `env` over the defaults) in `var` on free ports;
    stop it (then kill it) after."""
    (var / "strategies.yaml").write_text(strategies_yaml)
    ports = stack_ports()
    token = "e2e-" + os.urandom(8).hex()
    environ = up_environment(var, ports, token, clock_speed=clock_speed, env=env)
    with open(var / "up.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradebus", "up", *args], env=environ, stdout=log, stderr=subprocess.STDOUT
        )
        stack = UpStack(
            proc, var, token, f"http://127.0.0.1:{ports['GATEWAY']}", f"nats://127.0.0.1:{ports['NATS']}",
            f"postgresql://postgres@127.0.0.1:{ports['PG']}/postgres", f"http://127.0.0.1:{ports['SIM']}",
        )  # fmt: skip
        try:
            yield stack
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
