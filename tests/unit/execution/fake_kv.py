"""An in-memory stand-in for a NATS KV bucket: get/create/update (compare-and-set)/put/purge, with
the errors nats-py raises, and a log of every write (key, size)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    value: bytes
    revision: int


class FakeKV:
    def __init__(self) -> None:
        self.data: dict[str, Entry] = {}
        self.seq = 0
        self.writes: list[tuple[str, int]] = []

    async def get(self, key: str) -> Entry:
        if key not in self.data:
            raise KeyNotFoundError
        return self.data[key]

    async def put(self, key: str, value: bytes) -> int:
        self.seq += 1
        self.data[key] = Entry(key, value, self.seq)
        self.writes.append((key, len(value)))
        return self.seq

    async def create(self, key: str, value: bytes) -> int:
        if key in self.data:
            raise KeyWrongLastSequenceError(description=f"{key} exists")
        return await self.put(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if key not in self.data or self.data[key].revision != last:
            raise KeyWrongLastSequenceError(description=f"{key} is not at revision {last}")
        return await self.put(key, value)

    async def purge(self, key: str) -> None:
        self.data.pop(key, None)

    async def keys(self) -> list[str]:
        return list(self.data)


class PausedKV:
    """The same bucket seen by a paused process: its plain puts wait until `go` is set."""

    def __init__(self, kv: FakeKV) -> None:
        self.kv = kv
        self.go = asyncio.Event()

    async def get(self, key: str) -> Entry:
        return await self.kv.get(key)

    async def put(self, key: str, value: bytes) -> int:
        await self.go.wait()
        return await self.kv.put(key, value)

    async def create(self, key: str, value: bytes) -> int:
        return await self.kv.create(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        return await self.kv.update(key, value, last)

    async def purge(self, key: str) -> None:
        await self.kv.purge(key)

    async def keys(self) -> list[str]:
        return await self.kv.keys()
