"""A small process supervisor: start children in order, restart crashed ones with back-off,
stop them all (reverse order, SIGTERM then SIGKILL) within a deadline."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger()


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    log_file: Path | None = None
    #: how the child is asked to stop (postgres wants SIGINT for a fast shutdown)
    stop_signal: int = signal.SIGTERM
    urls: dict[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    #: stop order: higher tiers stop first
    tier: int = 3
    started_at: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


class Supervisor:
    def __init__(self, base_env: dict[str, str] | None = None) -> None:
        self.children: list[Child] = []
        self.base_env = base_env if base_env is not None else dict(os.environ)
        self.stopping = False
        self.on_change: Callable[[], None] = lambda: None

    def _spawn(self, child: Child) -> None:
        env = {**self.base_env, **child.env}
        out = open(child.log_file, "ab") if child.log_file else subprocess.DEVNULL
        try:
            child.proc = subprocess.Popen(
                child.argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our own Ctrl+C handling decides when children stop
                user=child.user,
            )
        finally:
            if child.log_file and not isinstance(out, int):
                out.close()
        child.started_at = time.monotonic()
        log.info("started", child=child.name, pid=child.proc.pid)
        self.on_change()

    async def start(self, child: Child, ready_timeout: float = 30.0, required: bool = True) -> None:
        """Start `child` and wait until it is ready. A child that is not `required` may fail to
        start: it is logged and left to `watch()` to restart with back-off."""
        self.children.append(child)
        self._spawn(child)
        if child.ready is None:
            return
        try:
            await self._until_ready(child, ready_timeout)
        except (RuntimeError, TimeoutError) as exc:
            if required:
                raise
            log.error("child failed to start; will retry", child=child.name, error=str(exc))

    @staticmethod
    async def _until_ready(child: Child, ready_timeout: float) -> None:
        assert child.ready is not None
        deadline = time.monotonic() + ready_timeout
        while not child.ready():
            assert child.proc is not None
            if child.proc.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{child.name} not ready after {ready_timeout}s")
            await asyncio.sleep(0.05)

    async def watch(self) -> None:
        """Restart crashed children with capped exponential back-off until `stop()`."""
        while not self.stopping:
            for child in self.children:
                proc = child.proc
                if proc is None or proc.poll() is None or self.stopping:
                    continue
                uptime = time.monotonic() - child.started_at
                if uptime > 60:
                    child.restarts = 0
                delay = min(0.5 * 2**child.restarts, 30.0)
                log.warning("child exited; restarting", child=child.name, code=proc.returncode, delay=delay)
                child.restarts += 1
                child.proc = None
                asyncio.get_running_loop().call_later(delay, self._restart, child)
            await asyncio.sleep(0.2)

    def _restart(self, child: Child) -> None:
        if not self.stopping and child.proc is None:
            self._spawn(child)

    async def stop(self, timeout: float = 8.0) -> None:
        """Stop by tier, highest first (services, then the venue, then Postgres, then NATS);
        whatever is still alive at the deadline is killed."""
        self.stopping = True
        deadline = time.monotonic() + timeout
        tiers = sorted({c.tier for c in self.children}, reverse=True)
        for n, tier in enumerate(tiers):
            group = [c for c in self.children if c.tier == tier]
            for child in group:
                self._signal(child, child.stop_signal)
            share = (deadline - time.monotonic()) / (len(tiers) - n)
            await self._wait(group, time.monotonic() + share)
        for child in self.children:
            if child.proc and child.proc.poll() is None:
                log.warning("killing", child=child.name)
                self._signal(child, signal.SIGKILL)
                child.proc.wait()

    @staticmethod
    def _signal(child: Child, sig: int) -> None:
        if child.proc and child.proc.poll() is None:
            try:
                os.killpg(child.proc.pid, sig)
            except ProcessLookupError:
                pass

    @staticmethod
    async def _wait(children: list[Child], deadline: float) -> None:
        while time.monotonic() < deadline:
            if all(c.proc is None or c.proc.poll() is not None for c in children):
                return
            await asyncio.sleep(0.05)
