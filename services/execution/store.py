"""The book's snapshot in NATS KV `execution` (key `book`), with an outbox, written by compare-and-set.

One record holds everything a restart needs, stored in ONE put before anything leaves the process:
- `book`: the core's `snapshot()` (orders in state NEW are in it before they are sent);
- `outbox`: the messages this state change must publish (fills, order updates, positions, risk
  events) with their `Nats-Msg-Id`: a crash after the put and before the publish re-publishes them
  on start (JetStream drops what it already has);
- `now`: execution's data time, and `fills_since`: the venue-time watermark of fills applied.

Writes use the revision of the last read or write (`update(last=...)`): if another instance wrote
meanwhile, `Fenced` is raised and this instance must stop without calling the venue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

FORMAT = 2


class Fenced(RuntimeError):
    """Another instance wrote the snapshot since our last read or write: we no longer own it."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    subject: str
    msg_id: str
    payload: bytes


@dataclass(slots=True)
class Stored:
    book: dict[str, Any] | None = None
    outbox: list[Outgoing] = field(default_factory=list)
    now: int | None = None
    fills_since: int = 0


def encode(s: Stored) -> bytes:
    return orjson.dumps(
        {
            "format": FORMAT,
            "book": s.book,
            "outbox": [[o.subject, o.msg_id, o.payload.decode()] for o in s.outbox],
            "now": s.now,
            "fills_since": s.fills_since,
        }
    )


def decode(raw: bytes) -> Stored:
    """Read a stored record; a bare book snapshot (format 1, no outbox) is accepted too."""
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as e:
        raise ValueError(f"execution snapshot is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError("execution snapshot is not a JSON object")
    if data.get("format") != FORMAT:
        return Stored(book=data or None)
    try:
        outbox = [Outgoing(str(s), str(m), str(p).encode()) for s, m, p in data["outbox"]]
        now = None if data["now"] is None else int(data["now"])
        return Stored(data["book"], outbox, now, int(data["fills_since"]))
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"execution snapshot is malformed: {e!r}") from None


class SnapshotStore:
    def __init__(self, kv: Any, key: str = "book") -> None:
        self.kv, self.key = kv, key
        self.revision: int | None = None
        self.puts = 0
        self.last_size = 0

    async def load(self) -> Stored:
        try:
            entry = await self.kv.get(self.key)
        except KeyNotFoundError:
            self.revision = None
            return Stored()
        self.revision = int(entry.revision)
        return decode(entry.value or b"")

    async def save(self, s: Stored) -> None:
        raw = encode(s)
        try:
            if self.revision is None:
                self.revision = int(await self.kv.create(self.key, raw))
            else:
                self.revision = int(await self.kv.update(self.key, raw, last=self.revision))
        except KeyWrongLastSequenceError as exc:
            raise Fenced(f"snapshot {self.key!r} was written by another instance") from exc
        self.puts += 1
        self.last_size = len(raw)
