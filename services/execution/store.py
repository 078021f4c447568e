"""The execution state in NATS KV `execution`: a small record written by compare-and-set every
round, and the dedupe memory (remembered intent ids and venue fill ids) stored incrementally.

The record (key `book`, one put before anything leaves the process) holds:
- `book`: the core's `snapshot(dedupe=False)` (orders in state NEW are in it before they are sent);
- `outbox`: the messages this state change must publish (fills, order updates, positions, risk
  events) with their `Nats-Msg-Id`: a crash after the put and before the publish re-publishes them
  on start (JetStream drops what it already has);
- `now`: execution's data time, and `fills_since`: the venue-time watermark of fills applied;
- `ids`: the ids remembered since the last journal entry (this round's, normally), and `base` +
  `journal`: the keys that hold every older remembered id. So the record is durable with ALL the
  ids its book remembers, in the same put: exactly-once needs nothing else.

After the put, while the round's publish and venue calls run, the record's `ids` are copied to a
journal entry `j.<gen>.<n>` (n counts the entries since the base); the next record then names that
entry instead of carrying the ids. Every `compact_every` rounds (and on the first round after a
start) the whole memory is written as a base `base.<gen>.<0|1>` instead, and the next record
names only the base. `<gen>` is unique per process, so an old owner that lost the fence never
overwrites what the new owner's record names; entries of a cycle are overwritten only after a
record naming the newer base is stored. Restore: base + journal entries (in order) + `ids`.

Writes use the revision of the last read or write (`update(last=...)`): if another instance wrote
meanwhile, `Fenced` is raised and this instance must stop without calling the venue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

FORMAT = 3
#: a record of format 2 carries the whole book (dedupe ids included) and no journal
FULL_FORMAT = 2
log = structlog.get_logger()

Ids = tuple[list[str], list[str]]  # (intent ids, venue fill ids), oldest first


class Fenced(RuntimeError):
    """Another instance wrote the snapshot since our last read or write: we no longer own it."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    subject: str
    msg_id: str
    payload: bytes
    #: a state's key (one order, one position), whose newest message replaces the older ones
    #: not yet published; None for events (fills, risk events). Not stored (a stored outbox is
    #: published as it is).
    key: str | None = field(default=None, compare=False)


@dataclass(slots=True)
class Stored:
    book: dict[str, Any] | None = None
    outbox: list[Outgoing] = field(default_factory=list)
    now: int | None = None
    fills_since: int = 0
    ids: Ids = field(default_factory=lambda: ([], []))
    base: str | None = None
    journal: list[str] = field(default_factory=list)


def encode(s: Stored) -> bytes:
    return orjson.dumps(
        {
            "format": FORMAT,
            "book": s.book,
            "outbox": [[o.subject, o.msg_id, o.payload.decode()] for o in s.outbox],
            "now": s.now,
            "fills_since": s.fills_since,
            "ids": [s.ids[0], s.ids[1]],
            "base": s.base,
            "journal": s.journal,
        }
    )


def _ids(value: Any, what: str) -> Ids:
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, list) for v in value):
        raise ValueError(f"{what} is not [intent ids, fill ids]")
    return [str(i) for i in value[0]], [str(i) for i in value[1]]


def decode(raw: bytes) -> Stored:
    """Read a stored record; format 2 (whole book, no journal) and a bare book snapshot (format 1,
    no outbox) are accepted too."""
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as e:
        raise ValueError(f"execution snapshot is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError("execution snapshot is not a JSON object")
    fmt = data.get("format")
    if fmt not in (FORMAT, FULL_FORMAT):
        return Stored(book=data or None)
    try:
        outbox = [Outgoing(str(s), str(m), str(p).encode()) for s, m, p in data["outbox"]]
        now = None if data["now"] is None else int(data["now"])
        stored = Stored(data["book"], outbox, now, int(data["fills_since"]))
        if fmt == FORMAT:
            stored.ids = _ids(data["ids"], "ids")
            stored.base = None if data["base"] is None else str(data["base"])
            stored.journal = [str(k) for k in data["journal"]]
        return stored
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"execution snapshot is malformed: {e!r}") from None


def merge_ids(parts: Iterable[Ids]) -> Ids:
    """Concatenate id lists in order; an id seen again moves to the end (as the book remembers)."""
    intents: dict[str, None] = {}
    fills: dict[str, None] = {}
    for ints, fls in parts:
        for seen, new in ((intents, ints), (fills, fls)):
            for k in new:
                seen.pop(k, None)
                seen[k] = None
    return list(intents), list(fills)


class SnapshotStore:
    def __init__(self, kv: Any, key: str = "book", compact_every: int = 64) -> None:
        if compact_every < 2:
            raise ValueError("compact_every must be at least 2")
        self.kv, self.key, self.compact_every = kv, key, compact_every
        self.gen = uuid.uuid4().hex[:12]
        self.revision: int | None = None
        self.puts = 0
        self.last_size = 0
        #: what the last stored record names, and the ids it carries itself
        self.base: str | None = None
        self.journal: list[str] = []
        self.pending: Ids = ([], [])
        self._bases = 0
        self._needs_base = False
        self._garbage: list[str] = []
        self._after: asyncio.Future[None] | None = None

    async def load(self) -> Stored:
        """The stored record, its book completed with every remembered id (base + journal + ids)."""
        try:
            entry = await self.kv.get(self.key)
        except KeyNotFoundError:
            self.revision = None
            return Stored()
        self.revision = int(entry.revision)
        s = decode(entry.value or b"")
        if s.book is None:
            return s
        parts: list[Ids] = []
        for k in ([s.base] if s.base else []) + s.journal:
            parts.append(await self._read_ids(k))
        parts.append(s.ids)
        if s.base is not None or s.journal or s.ids != ([], []) or "seen_intents" not in s.book:
            intents, fills = merge_ids(parts)
            s.book = {**s.book, "seen_intents": intents, "seen_fills": fills}
        # everything is carried by our first record, then written as a base of our own generation
        self.pending = (list(s.book["seen_intents"]), list(s.book["seen_fills"]))
        self._garbage = ([s.base] if s.base else []) + s.journal + await self._other_entries()
        self._needs_base = True
        return s

    async def _other_entries(self) -> list[str]:
        """Every base and journal key in the bucket now (none is ours yet): those of earlier
        processes, named by the record or not (an unused base slot, a late journal copy)."""
        try:
            keys = await self.kv.keys()
        except Exception as exc:  # nats-py raises when the bucket has no keys at all
            log.info("no old journal keys listed", error=str(exc))
            return []
        return [str(k) for k in keys if str(k).startswith(("base.", "j."))]

    async def _read_ids(self, key: str) -> Ids:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            raise ValueError(f"execution journal entry {key!r} named by the snapshot is missing") from None
        try:
            return _ids(orjson.loads(entry.value or b"null"), f"execution journal entry {key!r}")
        except orjson.JSONDecodeError as e:
            raise ValueError(f"execution journal entry {key!r} is not JSON: {e}") from None

    async def save(self, s: Stored, new: Ids, remembered: Callable[[], Ids]) -> None:
        """Store `s` (book without dedupe ids) with the ids remembered since the last save (`new`),
        by compare-and-set; then start copying them to the journal (or, every `compact_every`
        rounds, the whole memory `remembered()` to a base). `flush()` waits for that copy; the
        next save does too."""
        await self.flush()
        pending = (self.pending[0] + new[0], self.pending[1] + new[1])
        s.ids, s.base, s.journal = pending, self.base, list(self.journal)
        compact = self._needs_base or len(self.journal) >= self.compact_every - 1
        memory = remembered() if compact else None  # the whole memory as of this record
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
        self.pending = pending
        garbage: list[str] = []
        if self._garbage and self.base is not None and self.base.startswith(f"base.{self.gen}."):
            garbage, self._garbage = self._garbage, []  # no stored record names them any more
        if memory is not None:
            key = f"base.{self.gen}.{self._bases % 2}"
            self._bases += 1
            self._after = asyncio.ensure_future(self._write_base(key, memory, garbage))
        elif pending != ([], []):
            key = f"j.{self.gen}.{len(self.journal)}"
            self._after = asyncio.ensure_future(self._write_entry(key, pending, garbage))
        elif garbage:
            self._after = asyncio.ensure_future(self._delete(garbage))

    async def flush(self) -> None:
        """Wait for the journal or base write of the last save; raise if it failed."""
        after, self._after = self._after, None
        if after is not None:
            await after

    async def _write_entry(self, key: str, ids: Ids, garbage: list[str]) -> None:
        await self.kv.put(key, orjson.dumps([ids[0], ids[1]]))
        self.journal.append(key)
        self.pending = ([], [])
        await self._delete(garbage)

    async def _write_base(self, key: str, ids: Ids, garbage: list[str]) -> None:
        await self.kv.put(key, orjson.dumps([ids[0], ids[1]]))
        if self.base is not None and not self.base.startswith(f"base.{self.gen}."):
            self._garbage.append(self.base)  # deleted once a record naming the new base is stored
        self._garbage += [k for k in self.journal if not k.startswith(f"j.{self.gen}.")]
        self.base, self.journal, self.pending = key, [], ([], [])
        self._needs_base = False
        await self._delete(garbage)

    async def _delete(self, keys: list[str]) -> None:
        for k in dict.fromkeys(keys):
            try:
                await self.kv.purge(k)
            except Exception as exc:  # garbage only: a later start does not read it
                log.warning("could not delete an old journal entry", key=k, error=str(exc))
