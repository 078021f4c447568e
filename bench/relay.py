"""The bare baseline: the pipeline's topology with no work in between.

Three processes and the same hops as the platform: `md` reads the venue's WebSocket and publishes
each frame on core NATS; `sig` republishes it on JetStream (every ack awaited, as signals does,
several in flight); `exec` pulls from a durable consumer (`--batch` messages a fetch at most,
execution's batch_max in the same bench run), sends one order per symbol of each fetched batch to
the venue over bare keep-alive HTTP/1.1 connections (16 at once, as execution's
venue_concurrency), then acks. The only work is `exec` reading the symbol and tick number it must
put in the order.

`--like-platform` (exec and sig): the same chain with the platform's messages but none of its
decisions: exec also takes every tick (core NATS) and the venue's account events (WebSocket),
stores a record of execution's size in KV (compare-and-set) before each batch's orders, and
publishes three JetStream messages per order (order state, fill, position: what execution's outbox
carries), every ack awaited before the next store; sig also takes the position messages. What
that chain measures above the bare relay is the cost of the messages alone.

    python -m bench.relay md|sig|exec --nats URL --venue URL [--batch N] [--like-platform]
    python -m bench.relay count --nats URL --subject SUBJECT   (a bare subscriber that counts)
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api as js_api
from websockets.asyncio.client import connect

TICKS = "bench.tick"
INTENTS = "bench.intent"
STREAM = "BENCHRELAY"
COUNT = "bench.count"
#: messages per fetch by default (the bench passes execution's `batch_max` of the run)
BATCH = 100
#: connections orders go out on at once (execution's `venue_concurrency`)
LANES = 16
#: `--like-platform`: the outbox subjects and stream, the KV bucket and the record's size (bytes;
#: execution's at 100 symbols)
OUT = "bench.out"
OUT_STREAM = "BENCHOUT"
KV_BUCKET = "benchrelay"
RECORD = 30_000


async def md(nc: NatsClient, venue: str) -> None:
    url = venue.replace("http://", "ws://") + "/ws/market"
    async with connect(url, compression=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "symbols": []}))
        async for raw in ws:
            await nc.publish(TICKS, raw if isinstance(raw, bytes) else raw.encode())


async def sig(nc: NatsClient, like_platform: bool = False) -> None:
    """Republish on JetStream without waiting for each ack in turn (as signals publishes per
    symbol concurrently); every ack is still awaited, and a refused one stops the relay."""
    js = nc.jetstream()
    if like_platform:  # a strategy hears its positions

        async def on_position(msg: Msg) -> None:
            json.loads(msg.data)

        await nc.subscribe(f"{OUT}.pos", cb=on_position)
    acks: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        acks.put_nowait(await js.publish_async(INTENTS, msg.data))

    async def check_acks() -> None:
        while True:
            await (await acks.get())

    await nc.subscribe(TICKS, cb=on_msg)
    await check_acks()


class RawHttp:
    """The barest HTTP/1.1 keep-alive POST: one connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, base_url: str) -> RawHttp:
        url = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        return cls(reader, writer, url.netloc)

    async def post(self, path: str, body: bytes) -> bytes:
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        data = await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"venue answered {status}: {data[:200]!r}")
        return data


async def account(venue: str) -> None:
    """The venue's account events (order states, fills), each decoded."""
    url = venue.replace("http://", "ws://") + "/ws/account"
    async with connect(url, compression=None) as ws:
        async for raw in ws:
            json.loads(raw)


async def exec_(nc: NatsClient, venue: str, batch: int = BATCH, like_platform: bool = False) -> None:
    js = nc.jetstream()
    record = b"x" * RECORD
    kv: Any = None
    revision = 0
    outbox_acks: list[asyncio.Future[Any]] = []
    if like_platform:
        kv = await js.create_key_value(bucket=KV_BUCKET, history=1)
        revision = await kv.put("book", record)
        newest_tick: dict[str, Any] = {}

        async def on_tick(msg: Msg) -> None:
            tick = json.loads(msg.data)
            newest_tick[tick["symbol"]] = tick

        await nc.subscribe(TICKS, cb=on_tick)
        reader = asyncio.ensure_future(account(venue))
    config = js_api.ConsumerConfig(
        durable_name="relay", ack_policy=js_api.AckPolicy.EXPLICIT, max_ack_pending=batch * 10
    )
    sub = await js.pull_subscribe(INTENTS, durable="relay", stream=STREAM, config=config)
    sent: dict[str, int] = {}
    n = 0
    pool = [await RawHttp.open(venue) for _ in range(LANES)]
    while True:
        try:
            msgs = await sub.fetch(batch, timeout=1.0)
        except (TimeoutError, NatsTimeoutError):
            continue
        # one order per symbol per fetched batch, for all its ticks so far (execution nets the
        # targets of a batch the same way: an order per symbol, not per intent)
        newest: dict[str, int] = {}
        for m in msgs:
            tick = json.loads(m.data)
            symbol, seq = tick["symbol"], int(tick["last_qty"])
            newest[symbol] = max(seq, newest.get(symbol, 0))
        orders: list[bytes] = []
        for symbol, seq in newest.items():
            delta = seq - sent.get(symbol, 0)
            if delta > 0:
                n += 1
                body = {"client_order_id": f"r{n}", "symbol": symbol, "side": "buy",
                        "type": "market", "qty": str(delta), "price": None}  # fmt: skip
                orders.append(json.dumps(body).encode())
                sent[symbol] = seq

        async def lane(http: RawHttp, mine: list[bytes]) -> None:
            for body in mine:
                await http.post("/api/v1/orders", body)

        if like_platform:
            # the last outbox is out before the next store; the record stored before any order
            await asyncio.gather(*outbox_acks)
            revision = await kv.update("book", record, last=revision)
            outbox_acks = [
                await js.publish_async(f"{OUT}.{kind}", body, headers={"Nats-Msg-Id": f"{kind}:{k}:{n}"})
                for k, body in enumerate(orders)
                for kind in ("order", "fill", "pos")
            ]
            if reader.done():
                reader.result()  # the account feed failed: stop the relay with its error
        # the orders of a batch over `LANES` connections at once (execution's venue_concurrency)
        await asyncio.gather(*(lane(h, orders[i :: len(pool)]) for i, h in enumerate(pool)))
        for m in msgs:
            await m.ack()


async def count(nc: NatsClient, subject: str) -> None:
    """Count messages on `subject`; answer `bench.count` requests with the count so far."""
    seen = [0]

    async def on_msg(_: Msg) -> None:
        seen[0] += 1

    async def on_ask(msg: Msg) -> None:
        await msg.respond(str(seen[0]).encode())

    await nc.subscribe(subject, cb=on_msg, pending_msgs_limit=10_000_000, pending_bytes_limit=2**31)
    await nc.subscribe(COUNT, cb=on_ask)
    await asyncio.Event().wait()


async def amain(
    role: str, nats_url: str, venue: str, subject: str, batch: int = BATCH, like_platform: bool = False
) -> None:
    nc = await nats.connect(nats_url)
    if role == "count":
        try:
            await count(nc, subject)
        finally:
            await nc.close()
        return
    if role != "md":  # idempotent: whichever of sig and exec comes first creates it
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=[INTENTS], storage=js_api.StorageType.FILE)
        if like_platform:
            await js.add_stream(name=OUT_STREAM, subjects=[f"{OUT}.>"], storage=js_api.StorageType.FILE)
    try:
        if role == "md":
            await md(nc, venue)
        elif role == "sig":
            await sig(nc, like_platform)
        else:
            await exec_(nc, venue, batch, like_platform)
    finally:
        await nc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("role", choices=("md", "sig", "exec", "count"))
    ap.add_argument("--nats", required=True)
    ap.add_argument("--venue", default="")
    ap.add_argument("--subject", default=TICKS, help="what `count` counts")
    ap.add_argument("--batch", type=int, default=BATCH, help="`exec`: messages per fetch")
    ap.add_argument("--like-platform", action="store_true", help="the platform's messages too")
    args = ap.parse_args()
    asyncio.run(amain(args.role, args.nats, args.venue, args.subject, args.batch, args.like_platform))


if __name__ == "__main__":
    main()
