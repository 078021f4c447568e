"""A JetStream pull consumer kept fed: messages flow in while the previous batch is handled.

A `fetch` per batch asks for messages only when the consumer is ready for them: what is published
while a batch is handled waits in the stream for the next request, and a request made ahead of
time returns with the first message or two, leaving the rest for the batch after. `Puller` keeps
`batch` messages of credit requested at all times (pull requests with an expiry, renewed as they
are used up or expire), so every message is in the local queue by the time the consumer is ready,
and `take()` hands over everything that arrived, up to `batch`, at once.

The credit is bounded (at most `2 * batch` requested or waiting here), so a slow consumer does not
pull the stream into memory; what is delivered and not acked is redelivered after the consumer's
ack wait, as with `fetch`. After a reconnect the credit is asked for again (`renew`: a restarted
server lost the requests); a request the server never ends otherwise is forgotten shortly after
its expiry, and new credit is requested in its place.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

log = structlog.get_logger()
T = TypeVar("T")

#: the JetStream API of the account (no domain, no prefix: as `nc.jetstream()` uses it)
API_PREFIX = "$JS.API"
STATUS = "Status"
#: statuses that end a pull request: no messages, request timeout (expired)
ENDS = {"404", "408"}
#: statuses that refuse one: a conflict (the consumer was deleted, a leader changed, too many
#: waiting requests), or nobody answers the JetStream API yet (a server still recovering its
#: streams after a restart). Asked again after `RETRY_S`, not at once (it may refuse again).
REFUSED = {"409", "503"}
HEARTBEAT = "100"
RETRY_S = 0.25


class Puller:
    def __init__(self, nc: NatsClient, stream: str, durable: str, batch: int, expires_s: float = 5.0) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.nc, self.batch, self.expires_s = nc, batch, expires_s
        self.next_subject = f"{API_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.durable = durable
        self.inbox = nc.new_inbox()
        self.queue: deque[Msg] = deque()
        self.ready = asyncio.Event()
        #: open pull requests, oldest first: [forget at (monotonic s), messages still owed]
        self.requests: deque[list[float]] = deque()
        self._sub: Any = None
        self._requesting = False
        self._retry: asyncio.Future[None] | None = None
        #: pull requests the server ended (expired or refused)
        self.ended = 0

    @property
    def credit(self) -> int:
        return int(sum(r[1] for r in self.requests))

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.inbox, cb=self._on_msg)
        await self._top_up()

    async def stop(self) -> list[Msg]:
        """Stop asking and receiving; return what arrived and was not taken (to give back)."""
        if self._retry is not None:
            self._retry.cancel()
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception as exc:
                log.debug("unsubscribe failed", error=str(exc))
            self._sub = None
        left = list(self.queue)
        self.queue.clear()
        return left

    async def take(self, timeout: float) -> list[Msg]:
        """Everything that arrived, up to `batch` (oldest first); wait up to `timeout` for one."""
        deadline = time.monotonic() + timeout
        while not self.queue:
            await self._top_up()  # also in place of requests past their expiry
            now = time.monotonic()
            if now >= deadline:
                return []
            wait = deadline - now
            if self.requests:  # wake when the oldest is to be forgotten, if that comes first
                wait = max(0.01, min(wait, self.requests[0][0] - now))
            self.ready.clear()
            try:
                await asyncio.wait_for(self.ready.wait(), wait)
            except TimeoutError:
                pass
        # what the client has received and not yet handed to us comes along (one read of the
        # socket brings many messages; they reach the queue one turn of the loop each)
        if self._sub is not None:
            for _ in range(min(self._sub.pending_msgs, self.batch - len(self.queue))):
                await asyncio.sleep(0)  # a turn of the loop: the subscription hands them over
        n = min(self.batch, len(self.queue))
        msgs = [self.queue.popleft() for _ in range(n)]
        await self._top_up()
        return msgs

    async def renew(self) -> None:
        """Forget the open requests and ask again (after a reconnect: a restarted server lost
        them; one that kept them ends them at their expiry, and until then credit is higher)."""
        self.requests.clear()
        await self._top_up()

    async def _on_msg(self, msg: Msg) -> None:
        headers = msg.headers or {}
        status = headers.get(STATUS)
        if status is None:
            self._owed_one()
            self.queue.append(msg)
            self.ready.set()
            return
        if status == HEARTBEAT:
            return
        if status not in ENDS and status not in REFUSED:
            return
        self.ended += 1  # the oldest request is over (the server ends them in order)
        if self.requests:
            self.requests.popleft()
        if status in ENDS:
            await self._top_up()
            return
        why = headers.get("Description")
        log.info("pull request refused", consumer=self.durable, status=status, reason=why)
        if self._retry is None or self._retry.done():
            self._retry = asyncio.ensure_future(self._top_up_after(RETRY_S))

    async def _top_up_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._top_up()

    def _owed_one(self) -> None:
        while self.requests and self.requests[0][1] <= 0:
            self.requests.popleft()
        if self.requests:
            self.requests[0][1] -= 1
            if self.requests[0][1] <= 0:
                self.requests.popleft()

    def _forget_expired(self) -> None:
        """A request past its expiry that the server never ended (a reconnect lost it)."""
        now = time.monotonic()
        while self.requests and self.requests[0][0] < now:
            self.requests.popleft()

    async def _top_up(self) -> None:
        """Ask for `batch` more once what is owed and what waits here falls below `batch`."""
        self._forget_expired()
        if self._sub is None or self._requesting or self.credit + len(self.queue) >= self.batch:
            return
        self._requesting = True
        try:
            req = {"batch": self.batch, "expires": int(self.expires_s * 1e9)}
            self.requests.append([time.monotonic() + self.expires_s + 1.0, float(self.batch)])
            await self.nc.publish(self.next_subject, orjson.dumps(req), reply=self.inbox)
        except Exception as exc:  # disconnected: the next take tries again
            self.requests.pop()
            log.debug("pull request failed", consumer=self.durable, error=str(exc))
        finally:
            self._requesting = False


@dataclass(frozen=True, slots=True)
class Delivered(Generic[T]):
    """A durable message with where it stands in its stream: `stream_seq`, and whether JetStream
    delivered it before (`redelivered`: a consumer took it and did not ack it in time)."""

    msg: T
    stream_seq: int
    redelivered: bool


def delivered(raw: Msg, msg: T) -> Delivered[T]:
    meta = raw.metadata
    return Delivered(msg, int(meta.sequence.stream), int(meta.num_delivered or 1) > 1)


async def give_back(msgs: list[Msg]) -> None:
    """Messages delivered but not handled (the consumer is stopping): redeliver them now, not
    after the ack wait."""
    for m in msgs:
        try:
            await m.nak()
        except Exception as exc:  # the ack wait redelivers it anyway
            log.debug("nak failed", error=str(exc))
