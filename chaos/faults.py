"""The faults a chaos run injects into a running stack. Each `inject` returns when the fault is
over (the stack is left to recover by itself: the supervisor restarts what died)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from chaos.observe import alive, down
from chaos.stack import Stack, set_venue_faults
from tradebus.testing.servers import eventually

log = structlog.get_logger()

Inject = Callable[[Stack, random.Random], Awaitable[None]]


@dataclass
class Fault:
    name: str
    times: int
    inject: Inject


def _signal_group(pid: int, sig: int) -> None:
    """Every supervised child leads its own process group (postgres has worker processes)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


async def _back(stack: Stack, name: str, old_pid: int, timeout: float = 60) -> None:
    async def up() -> bool:
        p = stack.child(name)
        return bool(p["pid"] != old_pid and alive(p["pid"]) and name not in await down(stack))

    await eventually(up, timeout=timeout, interval=0.1, what=f"{name} restarted")  # type: ignore[arg-type]  # a bool probe


def sigkill(service: str, times: int, gap: tuple[float, float] = (0.3, 2.5)) -> Fault:
    """SIGKILL `service` `times` times, each at a random moment after it came back."""

    async def inject(stack: Stack, rng: random.Random) -> None:
        for n in range(times):
            await asyncio.sleep(rng.uniform(*gap))  # a random moment while trading goes on
            pid = stack.child(service)["pid"]
            os.kill(pid, signal.SIGKILL)
            if n < times - 1:
                await _back(stack, service, pid)

    return Fault(f"SIGKILL {service}", times, inject)


def restart_nats(times: int) -> Fault:
    async def inject(stack: Stack, rng: random.Random) -> None:
        for n in range(times):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            pid = stack.child("nats")["pid"]
            os.kill(pid, signal.SIGKILL)
            if n < times - 1:
                await _back(stack, "nats", pid)

    return Fault("restart nats-server (SIGKILL)", times, inject)


def pause_postgres(seconds: float) -> Fault:
    """SIGSTOP every Postgres process for `seconds`, then SIGCONT: connections hang, nothing is
    refused (a harder case than a clean stop, and no restart back-off in the way)."""

    async def inject(stack: Stack, rng: random.Random) -> None:
        pid = stack.child("postgres")["pid"]
        _signal_group(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(seconds)  # the fault itself: Postgres is stopped this long
        finally:
            _signal_group(pid, signal.SIGCONT)

    return Fault(f"stop Postgres {seconds:g} s (SIGSTOP)", 1, inject)


def drop_websockets(times: int) -> Fault:
    async def inject(stack: Stack, rng: random.Random) -> None:
        for _ in range(times):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await set_venue_faults(stack, drop_websockets=True)

    return Fault("drop venue WebSockets", times, inject)


def venue_faults(name: str, seconds: float, **faults: float) -> Fault:
    async def inject(stack: Stack, rng: random.Random) -> None:
        await set_venue_faults(stack, **faults)
        try:
            await asyncio.sleep(seconds)  # the fault itself: the venue misbehaves this long
        finally:
            await set_venue_faults(stack)

    return Fault(name, 1, inject)


def slow_signals(strategy: str, seconds: float, duty: float = 0.1, period: float = 0.5) -> Fault:
    """Let one signals process run only `duty` of the time (SIGSTOP/SIGCONT) for `seconds`."""
    name = f"signals-{strategy}"

    async def inject(stack: Stack, rng: random.Random) -> None:
        pid = stack.child(name)["pid"]
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                _signal_group(pid, signal.SIGSTOP)
                await asyncio.sleep(period * (1 - duty))
                _signal_group(pid, signal.SIGCONT)
                await asyncio.sleep(period * duty)
        finally:
            _signal_group(pid, signal.SIGCONT)

    return Fault(f"slow {name} to {duty:.0%} for {seconds:g} s", 1, inject)


SERVICES = ("marketdata", "execution", "portfolio", "gateway")


def full_plan(strategies: tuple[str, ...]) -> list[Fault]:
    """`make chaos`: every fault of the issue, several times where it is a moment."""
    kills = [sigkill(s, 3) for s in SERVICES] + [sigkill(f"signals-{s}", 2) for s in strategies]
    return [
        *kills,
        restart_nats(2),
        pause_postgres(30),
        drop_websockets(3),
        venue_faults("venue answers 5xx (30%) for 15 s", 15, error_rate=0.3),
        venue_faults("venue times out (20%, 2 s) for 15 s", 15, timeout_rate=0.2, timeout_s=2),
        slow_signals(strategies[0], 20),
    ]


def short_plan(strategies: tuple[str, ...]) -> list[Fault]:
    """CI: one of each kind, short."""
    return [
        sigkill("execution", 1),
        sigkill("portfolio", 1),
        sigkill(f"signals-{strategies[0]}", 1),
        restart_nats(1),
        pause_postgres(5),
        drop_websockets(1),
        venue_faults(
            "venue answers 5xx (30%) and times out (10%, 1 s) for 4 s",
            4,
            error_rate=0.3,
            timeout_rate=0.1,
            timeout_s=1,
        ),
        slow_signals(strategies[1], 4),
    ]
