"""One owner of the account: a lease in NATS KV, taken with compare-and-set.

The holder renews every ttl/3; a standby polls and takes over once the lease has lapsed. A
holder that fails to renew (someone else holds it now) stops at once rather than trade twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import structlog
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from proto.subjects import KV_EXECUTION
from tradebus.bus import Bus

log = structlog.get_logger()


class Lease:
    def __init__(self, bus: Bus, key: str, holder: str, ttl_s: float) -> None:
        self.bus, self.key, self.holder, self.ttl_s = bus, key, holder, ttl_s
        self.revision: int | None = None

    def _value(self) -> bytes:
        return json.dumps({"holder": self.holder, "expires": time.time() + self.ttl_s}).encode()

    async def try_acquire(self) -> bool:
        kv: Any = await self.bus.kv(KV_EXECUTION)
        try:
            entry = await kv.get(self.key)
        except KeyNotFoundError:
            try:
                self.revision = await kv.create(self.key, self._value())
                return True
            except Exception:
                return False
        held = json.loads(entry.value or b"{}")
        if held.get("holder") != self.holder and held.get("expires", 0) > time.time():
            return False
        try:
            self.revision = await kv.update(self.key, self._value(), last=entry.revision)
            return True
        except KeyWrongLastSequenceError:
            return False

    async def acquire(self, stopping: asyncio.Event) -> None:
        announced = False
        while not stopping.is_set():
            if await self.try_acquire():
                log.info("lease acquired", holder=self.holder)
                return
            if not announced:
                log.info("another instance holds the lease; standing by")
                announced = True
            try:
                await asyncio.wait_for(stopping.wait(), self.ttl_s / 3)
            except TimeoutError:
                pass

    async def keep(self, stopping: asyncio.Event) -> None:
        kv: Any = await self.bus.kv(KV_EXECUTION)
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), self.ttl_s / 3)
                return
            except TimeoutError:
                pass
            try:
                self.revision = await kv.update(self.key, self._value(), last=self.revision)
            except KeyWrongLastSequenceError:
                log.error("lease lost to another instance; stopping")
                stopping.set()
                return
            except Exception as exc:  # NATS away: keep trying until the lease would lapse
                log.warning("lease renewal failed", error=str(exc))

    async def release(self) -> None:
        kv: Any = await self.bus.kv(KV_EXECUTION)
        try:
            await kv.delete(self.key, last=self.revision)
        except Exception as exc:
            log.debug("lease release failed", error=str(exc))
