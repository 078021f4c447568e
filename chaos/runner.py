"""One chaos run: start the stack, wait for trading, then for each fault in turn inject it, time
the recovery (every process back and healthy, and a new venue fill), settle (kill switch on, no
open order) and judge the money invariants; the kill switch is released before the next fault."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal

import nats
import structlog
from nats.aio.client import Client as NatsClient

from chaos.faults import Fault
from chaos.observe import down, set_kill_switch, snapshot, venue_fill_count
from chaos.stack import Stack
from chaos.verdict import Verdict, judge
from tradebus.testing.servers import eventually

log = structlog.get_logger()


@dataclass
class Row:
    fault: str
    times: int
    recovery_s: float | None
    fills_lost: int
    duplicates: int
    drift: Decimal
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.recovery_s is not None and not self.fills_lost and not self.duplicates and self.drift == 0


@dataclass
class Run:
    rows: list[Row] = field(default_factory=list)
    fills: int = 0
    orders: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)


async def _quiet(exc: Exception) -> None:
    log.debug("nats error (expected while nats-server restarts)", error=str(exc))


async def _gone() -> None:
    log.debug("nats disconnected")


async def wait_trading(stack: Stack, timeout: float = 120) -> None:
    async def trading() -> bool:
        return not await down(stack) and await venue_fill_count(stack) > 0

    await eventually(trading, timeout=timeout, interval=0.5, what="the stack up and a first venue fill")  # type: ignore[arg-type]  # a bool probe


async def recover(stack: Stack, since_fills: int, timeout: float) -> float | None:
    """Seconds until every process is back and a venue fill newer than `since_fills` came; None
    if that did not happen within `timeout`."""
    start = time.monotonic()

    async def back() -> bool:
        return not await down(stack) and await venue_fill_count(stack) > since_fills

    try:
        await eventually(back, timeout=timeout, interval=0.1, what="recovery")  # type: ignore[arg-type]  # a bool probe
    except AssertionError:
        return None
    return time.monotonic() - start


async def settle(stack: Stack, nc: NatsClient, timeout: float) -> Verdict:
    """Kill switch on (cancel what is open, no new order), then judge until clean or `timeout`."""
    await set_kill_switch(nc, True, "chaos settle")
    last: list[Verdict] = []

    async def clean() -> bool:
        try:
            verdict = judge(*await snapshot(stack, nc))
        except Exception as exc:  # a view not answering yet: not settled
            log.debug("snapshot failed", error=str(exc))
            return False
        last.append(verdict)
        return verdict.clean

    try:
        await eventually(clean, timeout=timeout, interval=0.5, what="settled and consistent")  # type: ignore[arg-type]  # a bool probe
    except AssertionError:
        if not last:
            return Verdict(duplicates=["no snapshot could be taken"])
    return last[-1]


async def run(
    stack: Stack, plan: list[Fault], *, seed: int | None = None, recovery_timeout: float = 90,
    settle_timeout: float = 45,
) -> Run:  # fmt: skip
    started = time.monotonic()
    rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(4), "big"))
    result = Run()
    await wait_trading(stack)
    nc = await nats.connect(
        stack.nats, max_reconnect_attempts=-1, reconnect_time_wait=0.3, error_cb=_quiet, disconnected_cb=_gone
    )
    before = Verdict()
    try:
        for fault in plan:
            log.info("injecting", fault=fault.name, times=fault.times)
            await fault.inject(stack, rng)
            recovery = await recover(stack, await venue_fill_count(stack), recovery_timeout)
            verdict = await settle(stack, nc, settle_timeout)
            # what is new since the last fault (the checks are over the whole run so far)
            lost = len(set(verdict.fills_lost) - set(before.fills_lost))
            dups = len(set(verdict.duplicates) - set(before.duplicates))
            problems = [*verdict.fills_lost[:3], *verdict.duplicates[:3]]
            problems += [f"{s}: {v}" for s, v in list(verdict.drift_detail.items())[:3]]
            if recovery is None:
                problems.insert(0, f"not recovered in {recovery_timeout:g} s: {await down(stack)}")
            row = Row(fault.name, fault.times, recovery, lost, dups, verdict.drift, problems)
            result.rows.append(row)
            log.info("judged", fault=fault.name, recovery_s=recovery, ok=row.ok, problems=problems)
            before = verdict
            await set_kill_switch(nc, False, "chaos resume")
        fills, _, shapes, _ = await snapshot(stack, nc)
        result.fills, result.orders = len(fills), len({s.client_order_id for s in shapes})
    finally:
        await nc.close()
    result.seconds = time.monotonic() - started
    return result


def table(result: Run) -> str:
    """The run as a Markdown table (what `make chaos` prints and docs/reliability.md holds)."""
    head = "| fault | times injected | recovery time | fills lost | duplicates | drift | ok |"
    lines = [head, "|---|---:|---:|---:|---:|---:|:---:|"]
    for r in result.rows:
        rec = f"{r.recovery_s:.1f} s" if r.recovery_s is not None else "not recovered"
        lines.append(
            f"| {r.fault} | {r.times} | {rec} | {r.fills_lost} | {r.duplicates} | {r.drift} | "
            f"{'yes' if r.ok else 'NO'} |"
        )
    lines.append("")
    lines.append(
        f"{len(result.rows)} faults in {result.seconds:.0f} s; {result.fills} venue fills, "
        f"{result.orders} venue orders checked."
    )
    return "\n".join(lines)
