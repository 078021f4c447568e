"""Typed publish/subscribe over plain nats-py: JetStream streams, durable pull consumers with
explicit acks, dead letters, KV, request/reply. Every handler is counted and timed.

A message that does not parse is never fatal: it is counted (`result="bad"`) and, on the money
path, copied to the `DEADLETTER` stream with the reason, then acknowledged so it is not
redelivered forever. A handler that raises is counted (`result="failed"`), and its message is
redelivered with back-off until `max_deliver`, then dead-lettered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import BadRequestError, BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from proto import Message
from proto.subjects import STREAMS, StreamSpec, deadletter
from tradebus.metrics import BusMetrics, subject_kind
from tradebus.pull import Delivered, Puller, delivered, give_back

M = TypeVar("M", bound=Message)
log = structlog.get_logger()

Handler = Callable[[M], Awaitable[None]]
BatchHandler = Callable[[Sequence[M]], Awaitable[None]]

DeliveredHandler = Callable[[Sequence[Delivered[M]]], Awaitable[None]]


class BadMessage(Exception):
    """A payload that is not a valid message of the expected model."""


def decode(model: type[M], data: bytes) -> M:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise BadMessage(f"{model.__name__}: {where}: {first['msg']}") from None
    except ValueError as exc:
        raise BadMessage(f"{model.__name__}: {exc}") from None


class Bus:
    """One NATS connection with typed helpers. Create with `await Bus.connect(...)`."""

    def __init__(self, nc: NatsClient, registry: CollectorRegistry, service: str) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=10)
        self.metrics = BusMetrics(registry)
        self.service = service
        self._tasks: list[asyncio.Task[None]] = []
        self._pullers: list[Puller] = []
        #: how long a durable consumer's pull request stands before the server ends it
        self.pull_expires_s = 5.0
        self._closing = asyncio.Event()
        #: JetStream replicas of the streams and KV buckets this bus creates (3 on a NATS cluster)
        self.replicas = 1
        #: per subject: its kind and the metric children a message of it touches (label lookups
        #: take a lock and a dict probe each; this is the hot path of every subscriber)
        self._hot: dict[str, tuple[str, Any, Any]] = {}

    def _hot_metrics(self, subject: str) -> tuple[str, Any, Any]:
        """(kind, messages{kind,"ok"}, handler_seconds{kind}) for `subject`, looked up once."""
        hot = self._hot.get(subject)
        if hot is None:
            if len(self._hot) > 10_000:  # many distinct subjects (one per symbol is fine)
                self._hot.clear()
            kind = subject_kind(subject)
            hot = (kind, self.metrics.messages.labels(kind, "ok"), self.metrics.handler_seconds.labels(kind))
            self._hot[subject] = hot
        return hot

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        service: str,
        registry: CollectorRegistry,
        user: str | None = None,
        password: str | None = None,
    ) -> Bus:
        async def on_error(exc: Exception) -> None:
            log.warning("nats error", error=str(exc))

        async def on_disconnect() -> None:
            log.warning("nats disconnected")

        buses: list[Bus] = []

        async def on_reconnect() -> None:
            log.info("nats reconnected")
            for bus in buses:
                await bus._reconnected()

        nc = await nats.connect(
            servers=url.split(","),
            name=service,
            user=user,
            password=password,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=5,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )
        bus = cls(nc, registry, service)
        buses.append(bus)
        return bus

    async def _reconnected(self) -> None:
        """The server may have lost the consumers' pull requests (a restart does): ask again."""
        for puller in self._pullers:
            await puller.renew()

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    # -- streams and KV ---------------------------------------------------------------------

    async def ensure_streams(
        self, specs: tuple[StreamSpec, ...] = STREAMS, replicas: int | None = None
    ) -> None:
        """Create (or update) the JetStream streams; idempotent and safe from many services."""
        self.replicas = replicas or self.replicas
        for spec in specs:
            config = js_api.StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                storage=js_api.StorageType.FILE,
                max_age=spec.max_age_s,
                max_msgs_per_subject=spec.max_msgs_per_subject or -1,
                duplicate_window=spec.duplicate_window_s,
                num_replicas=self.replicas,
            )
            try:
                await self.js.add_stream(config)
            except BadRequestError:
                await self.js.update_stream(config)

    async def kv(self, bucket: str, history: int = 5) -> KeyValue:
        try:
            return await self.js.key_value(bucket)
        except (BucketNotFoundError, NotFoundError):
            try:
                return await self.js.create_key_value(
                    bucket=bucket, history=history, storage=js_api.StorageType.FILE, replicas=self.replicas
                )
            except BadRequestError:  # created meanwhile by another service
                return await self.js.key_value(bucket)

    async def kv_get(self, bucket: str, key: str, model: type[M]) -> M | None:
        kv = await self.kv(bucket)
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            return None
        return decode(model, entry.value) if entry.value else None

    async def kv_put(self, bucket: str, key: str, msg: Message) -> int:
        kv = await self.kv(bucket)
        return int(await kv.put(key, msg.to_bytes()))

    async def kv_watch(self, bucket: str, key: str, model: type[M]) -> AsyncIterator[tuple[str, M | None]]:
        """Yield (key, value) for the current values, then every change; value None on delete.
        A value that does not parse is logged and skipped: the watch never dies of it."""
        kv = await self.kv(bucket)
        watcher = await kv.watch(key)
        try:
            while not self._closing.is_set():
                try:
                    entry = await watcher.updates(timeout=1.0)  # type: ignore[no-untyped-call]
                except (TimeoutError, NatsTimeoutError):
                    continue
                if entry is None:
                    continue
                if entry.operation in ("DEL", "PURGE") or not entry.value:
                    yield entry.key, None
                    continue
                try:
                    yield entry.key, decode(model, entry.value)
                except BadMessage as exc:
                    self.metrics.messages.labels(f"kv.{bucket}", "bad").inc()
                    log.error("bad kv value", bucket=bucket, key=entry.key, error=str(exc))
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]

    # -- publish ----------------------------------------------------------------------------

    async def publish(self, subject: str, msg: Message) -> None:
        """Core NATS: fire and forget (market data, heartbeats)."""
        await self.nc.publish(subject, msg.to_bytes())
        self.metrics.published.labels(subject_kind(subject)).inc()

    async def publish_durable(self, subject: str, msg: Message, msg_id: str) -> bool:
        """JetStream publish with a dedupe id; returns False if the server saw that id already."""
        ack = await self.js.publish(subject, msg.to_bytes(), headers={"Nats-Msg-Id": msg_id})
        self.metrics.published.labels(subject_kind(subject)).inc()
        return not ack.duplicate

    # -- subscribe --------------------------------------------------------------------------

    async def subscribe(self, subject: str, model: type[M], handler: Handler[M], *, queue: str = "") -> None:
        """Core NATS subscription (lossy by design). Bad payloads are counted and dropped."""

        async def on_msg(raw: Msg) -> None:
            await self._dispatch(raw.subject, raw.data, model, handler)

        await self.nc.subscribe(subject, queue=queue, cb=on_msg)

    async def _dispatch(self, subject: str, data: bytes, model: type[M], handler: Handler[M]) -> bool:
        kind, ok, seconds = self._hot_metrics(subject)
        try:
            msg = decode(model, data)
        except BadMessage as exc:
            self.metrics.messages.labels(kind, "bad").inc()
            log.warning("bad message", subject=subject, error=str(exc))
            return False
        start = time.perf_counter()
        try:
            await handler(msg)
        except Exception:
            self.metrics.messages.labels(kind, "failed").inc()
            log.exception("handler failed", subject=subject)
            return False
        finally:
            seconds.observe(time.perf_counter() - start)
        ok.inc()
        return True

    async def consume(
        self,
        stream: str,
        durable: str,
        subject: str,
        model: type[M],
        handler: Handler[M],
        *,
        batch: int = 100,
        max_deliver: int = 5,
        ack_wait_s: float = 30.0,
        deliver_new: bool = False,
    ) -> asyncio.Task[None]:
        """A durable pull consumer: each message is acked after `handler` returns.

        Unparseable -> dead letter + ack. Handler error -> nak with back-off; after `max_deliver`
        attempts -> dead letter + ack. Returns the task that runs the loop.
        """
        puller = await self._pull(stream, durable, subject, batch, max_deliver, ack_wait_s, deliver_new)
        kind = subject_kind(subject)

        async def each(raws: list[Msg]) -> None:
            for raw in raws:
                await self._handle_durable(raw, model, handler, kind, max_deliver)

        return self._fetch_loop(puller, stream, durable, each)

    async def consume_batch(
        self,
        stream: str,
        durable: str,
        subject: str,
        model: type[M],
        handler: BatchHandler[M],
        *,
        batch: int = 100,
        max_deliver: int = 5,
        ack_wait_s: float = 30.0,
        deliver_new: bool = False,
    ) -> asyncio.Task[None]:
        """A durable pull consumer that hands over what one fetch returned in one call.

        Up to `batch` messages are fetched; those that do not parse are dead-lettered and acked
        one by one; the rest go to ONE `handler(messages)` call (in stream order) and are all
        acked after it returns, so a crash before the acks redelivers the batch: the handler
        must be idempotent (the portfolio's insert is, by fill id). If the batch call raises,
        its messages are handed over again one at a time (`handler([m])`) with the rules of
        :meth:`consume`: a message that fails alone is retried with back-off and dead-lettered
        after `max_deliver` attempts; the others are stored and acked.
        """
        return await self._batched(
            stream, durable, subject, model, handler, batch, max_deliver, ack_wait_s, deliver_new, _bare
        )

    async def _pull(
        self,
        stream: str,
        durable: str,
        subject: str,
        batch: int,
        max_deliver: int,
        ack_wait_s: float,
        deliver_new: bool,
    ) -> Puller:
        config = js_api.ConsumerConfig(
            name=durable,
            durable_name=durable,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            max_deliver=max_deliver + 1,
            ack_wait=ack_wait_s,
            filter_subject=subject,
            deliver_policy=js_api.DeliverPolicy.NEW if deliver_new else js_api.DeliverPolicy.ALL,
            max_ack_pending=batch * 10,
        )
        try:  # an existing consumer is used as it is (as `pull_subscribe` does)
            await self.js.consumer_info(stream, durable)
        except NotFoundError:
            await self.js.add_consumer(stream, config)
        puller = Puller(self.nc, stream, durable, batch, self.pull_expires_s)
        await puller.start()
        self._pullers.append(puller)
        await self._record_lag(stream, durable)  # the series exists from the start, not after a first idle
        return puller

    def _fetch_loop(
        self, puller: Puller, stream: str, durable: str, handle: Callable[[list[Msg]], Awaitable[None]]
    ) -> asyncio.Task[None]:
        async def loop() -> None:
            """Batches handled strictly in turn; the next one arrives meanwhile (`Puller`)."""
            try:
                while not self._closing.is_set():
                    try:
                        msgs = await puller.take(timeout=1.0)
                    except Exception as exc:  # connection trouble: back off, the client reconnects
                        log.warning("pull failed", consumer=durable, error=str(exc))
                        await asyncio.sleep(0.5)
                        continue
                    if not msgs:
                        await self._record_lag(stream, durable)
                        continue
                    if self._closing.is_set():
                        await give_back(msgs)
                        return
                    self._lag_from(msgs[-1], durable)
                    await handle(msgs)
            finally:
                await give_back(await puller.stop())

        task = asyncio.create_task(loop(), name=f"consume:{durable}")
        self._tasks.append(task)
        return task

    async def _handle_durable(
        self, raw: Msg, model: type[M], handler: Handler[M], kind: str, max_deliver: int
    ) -> None:
        try:
            msg = decode(model, raw.data)
        except BadMessage as exc:
            self.metrics.messages.labels(kind, "bad").inc()
            await self.dead_letter(raw, str(exc))
            await raw.ack()
            return
        await self._settle(raw, handler(msg), kind, max_deliver)

    async def _settle(self, raw: Msg, work: Awaitable[None], kind: str, max_deliver: int) -> None:
        """Await one message's handler; ack on success, nak or dead-letter on failure."""
        start = time.perf_counter()
        try:
            await work
        except Exception as exc:
            self.metrics.messages.labels(kind, "failed").inc()
            attempt = raw.metadata.num_delivered if raw.metadata else 1
            log.exception("durable handler failed", subject=raw.subject, attempt=attempt)
            if attempt >= max_deliver:
                await self.dead_letter(raw, f"handler failed {attempt} times: {exc}")
                await raw.ack()
            else:
                await raw.nak(delay=min(0.2 * 2**attempt, 5.0))
            return
        finally:
            self.metrics.handler_seconds.labels(kind).observe(time.perf_counter() - start)
        self.metrics.messages.labels(kind, "ok").inc()
        await raw.ack()

    async def consume_delivered(
        self,
        stream: str,
        durable: str,
        subject: str,
        model: type[M],
        handler: DeliveredHandler[M],
        *,
        batch: int = 100,
        max_deliver: int = 5,
        ack_wait_s: float = 30.0,
    ) -> asyncio.Task[None]:
        """:meth:`consume_batch`, each message handed over with its stream sequence and whether
        it was delivered before (`Delivered`)."""
        return await self._batched(
            stream, durable, subject, model, handler, batch, max_deliver, ack_wait_s, False, delivered
        )

    async def _batched(
        self,
        stream: str,
        durable: str,
        subject: str,
        model: type[M],
        handler: Callable[[list[Any]], Awaitable[None]],
        batch: int,
        max_deliver: int,
        ack_wait_s: float,
        deliver_new: bool,
        pack: Callable[[Msg, M], Any],
    ) -> asyncio.Task[None]:
        puller = await self._pull(stream, durable, subject, batch, max_deliver, ack_wait_s, deliver_new)
        kind = subject_kind(subject)

        async def whole(raws: list[Msg]) -> None:
            await self._handle_batch(raws, model, handler, kind, max_deliver, pack)

        return self._fetch_loop(puller, stream, durable, whole)

    async def _handle_batch(
        self,
        raws: list[Msg],
        model: type[M],
        handler: Callable[[list[Any]], Awaitable[None]],
        kind: str,
        max_deliver: int,
        pack: Callable[[Msg, M], Any],
    ) -> None:
        good: list[tuple[Msg, Any]] = []
        for raw in raws:
            try:
                good.append((raw, pack(raw, decode(model, raw.data))))
            except BadMessage as exc:
                self.metrics.messages.labels(kind, "bad").inc()
                await self.dead_letter(raw, str(exc))
                await raw.ack()
        if not good:
            return
        self.metrics.batch_messages.labels(kind).observe(len(good))
        start = time.perf_counter()
        try:
            await handler([m for _, m in good])
        except Exception as exc:
            log.warning(
                "batch handler failed; retrying its messages one by one", size=len(good), error=str(exc)
            )
            for raw, msg in good:
                await self._settle(raw, handler([msg]), kind, max_deliver)
            return
        finally:
            self.metrics.handler_seconds.labels(kind).observe(time.perf_counter() - start)
        self.metrics.messages.labels(kind, "ok").inc(len(good))
        for raw, _ in good:
            await raw.ack()

    async def dead_letter(self, raw: Msg, reason: str) -> None:
        self.metrics.messages.labels(subject_kind(raw.subject), "deadlettered").inc()
        headers = {"Tradebus-Reason": reason[:1000], "Tradebus-Service": self.service}
        try:
            await self.js.publish(deadletter(raw.subject), raw.data, headers=headers)
        except Exception as exc:  # never lose the original: it stays unacked and is redelivered
            log.error("dead letter publish failed", subject=raw.subject, error=str(exc))
            raise

    async def _record_lag(self, stream: str, durable: str) -> None:
        try:
            info = await self.js.consumer_info(stream, durable)
            self.metrics.consumer_lag.labels(durable).set(info.num_pending or 0)
        except Exception as exc:
            log.debug("consumer info failed", consumer=durable, error=str(exc))

    def _lag_from(self, raw: Msg, durable: str) -> None:
        """Every delivered message carries how many are still waiting behind it: no round trip."""
        try:
            pending = raw.metadata.num_pending
        except Exception:  # not a JetStream delivery: nothing to learn
            return
        if pending is not None:
            self.metrics.consumer_lag.labels(durable).set(pending)

    # -- request/reply ----------------------------------------------------------------------

    async def request(
        self, subject: str, msg: Message | bytes, reply_model: type[M], timeout: float = 5.0
    ) -> M:
        payload = msg if isinstance(msg, bytes) else msg.to_bytes()
        reply = await self.nc.request(subject, payload, timeout=timeout)
        return decode(reply_model, reply.data)

    async def serve(
        self,
        subject: str,
        model: type[M],
        handler: Callable[[M], Awaitable[Message]],
        *,
        queue: str = "",
        error_reply: Callable[[str], Message] | None = None,
    ) -> None:
        """Answer requests on `subject`; a bad request gets `error_reply(reason)` if given."""
        kind = subject_kind(subject)

        async def on_msg(raw: Msg) -> None:
            try:
                req = decode(model, raw.data)
            except BadMessage as exc:
                self.metrics.messages.labels(kind, "bad").inc()
                if error_reply and raw.reply:
                    await raw.respond(error_reply(str(exc)).to_bytes())
                return
            try:
                out = await handler(req)
            except Exception as exc:
                self.metrics.messages.labels(kind, "failed").inc()
                log.exception("request handler failed", subject=subject)
                if error_reply and raw.reply:
                    await raw.respond(error_reply(f"internal error: {type(exc).__name__}").to_bytes())
                return
            self.metrics.messages.labels(kind, "ok").inc()
            if raw.reply:
                await raw.respond(out.to_bytes())

        await self.nc.subscribe(subject, queue=queue, cb=on_msg)

    async def serve_raw(
        self, subject: str, handler: Callable[[bytes], Awaitable[bytes]], *, queue: str = ""
    ) -> None:
        """Answer requests with bytes in and out (for JSON queries without a proto model)."""

        async def on_msg(raw: Msg) -> None:
            try:
                out = await handler(raw.data)
            except Exception:
                log.exception("request handler failed", subject=raw.subject)
                out = b'{"error":"internal error"}'
            if raw.reply:
                await raw.respond(out)

        await self.nc.subscribe(subject, queue=queue, cb=on_msg)

    # -- shutdown ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop consumer loops, then drain: in-flight handlers finish, nothing is dropped."""
        self._closing.set()
        if self._tasks:
            # a loop notices `_closing` after its current batch (a take waits at most 1 s)
            _, pending = await asyncio.wait(self._tasks, timeout=3)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for puller in self._pullers:  # its inbox never finishes draining on its own
            await give_back(await puller.stop())
        if not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.nc.drain(), 5)
            except Exception as exc:
                log.warning("drain failed", error=str(exc))
                try:
                    await self.nc.close()
                except Exception as close_exc:  # the server is gone: nothing left to flush
                    log.warning("close failed", error=str(close_exc))


def _bare(_: Msg, m: M) -> M:
    return m


def now_ns() -> int:
    return time.time_ns()


def jsonable(obj: Any) -> Any:
    """Decimal-safe JSON conversion used by query replies."""
    from decimal import Decimal

    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj
