"""The bench venue: a tick source you control and an order sink that times every order.

It speaks just enough of the sim exchange's API (`/ws/market` ticks, `/ws/account` events, the
REST calls marketdata and execution make) for the real services to run against it unchanged,
on a minimal HTTP/1.1 + WebSocket server of its own (plain asyncio), so the venue's own cost is
small and the same for the platform and for the bare relay baseline.

How a latency is measured: every tick carries a per-symbol sequence number `k` in `last_qty`
and its creation time (wall ns) in `ts`. The probe strategy (and the bare relay) wants a position
of `k` after tick `k`, so the running sum of the order quantities the venue receives for a symbol
says which tick the sender had seen last. When an order lifts that sum from `a` to `b`, ticks
`a+1..b` are served at the order's arrival: latency = arrival - creation. A tick that was skipped
(coalesced or dropped) is served by the next order that covers it; a tick never covered by the
end of the wait is counted as unserved.

    python -m bench.venue --port P [--symbols 100]
    control: POST /bench/run {"rate": ticks/s, "seconds": s}; GET /bench/result?wait=s
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

log = structlog.get_logger()

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PRICE = {"bid": "0.99", "ask": "1.01", "last": "1.00"}


def symbols_for(n: int) -> list[str]:
    return [f"B{i:03d}-USD" for i in range(n)]


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """One unmasked, final server frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


async def read_ws_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(opcode, payload) of the next client frame (clients always mask)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(n)
    payload = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
    return b0 & 0x0F, payload


@dataclass
class Run:
    rate: float
    seconds: float
    first_seq: dict[str, int]
    offered: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    started_ns: int = 0
    ended_ns: int = 0
    last_order_ns: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class BenchVenue:
    def __init__(self, n_symbols: int) -> None:
        self.symbols = symbols_for(n_symbols)
        self.seq = dict.fromkeys(self.symbols, 0)
        self.created: dict[str, list[int]] = {s: [0] for s in self.symbols}  # index = seq
        self.covered = dict.fromkeys(self.symbols, 0)
        self.position: dict[str, int] = dict.fromkeys(self.symbols, 0)
        self.market: list[asyncio.StreamWriter] = []
        self.account: list[asyncio.StreamWriter] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.n_orders = 0
        self.run: Run | None = None
        self.ticker: asyncio.Task[None] | None = None

    # -- ticks ------------------------------------------------------------------------------

    def emit(self, symbol: str) -> None:
        k = self.seq[symbol] = self.seq[symbol] + 1
        ts = time.time_ns()
        self.created[symbol].append(ts)
        frame = ws_frame(
            (
                f'{{"type":"tick","symbol":"{symbol}","bid":"0.99","ask":"1.01","last":"1.00",'
                f'"last_qty":"{k}","ts":{ts}}}'
            ).encode()
        )
        for w in self.market:
            w.write(frame)

    async def tick_loop(self, run: Run) -> None:
        """`rate` ticks/s on a fixed schedule; rate 0 = as fast as the readers take them."""
        n_sym = len(self.symbols)
        t0 = time.perf_counter()
        run.started_ns = time.time_ns()
        sent = 0
        if run.rate <= 0:
            while time.perf_counter() - t0 < run.seconds:
                for _ in range(500):
                    self.emit(self.symbols[sent % n_sym])
                    sent += 1
                run.offered = sent
                await asyncio.gather(*(w.drain() for w in self.market))
                await asyncio.sleep(0)
            run.ended_ns = time.time_ns()
            return
        total = int(run.rate * run.seconds)
        while sent < total:
            due = min(total, int(run.rate * (time.perf_counter() - t0)) + 1)
            while sent < due:
                self.emit(self.symbols[sent % n_sym])
                sent += 1
            run.offered = sent
            await asyncio.gather(*(w.drain() for w in self.market))
            await asyncio.sleep(0.001)
        run.ended_ns = time.time_ns()

    def start(self, rate: float, seconds: float) -> None:
        if self.ticker is not None and not self.ticker.done():
            raise RuntimeError("a run is in progress")
        self.run = Run(rate, seconds, {s: k + 1 for s, k in self.seq.items()})
        self.ticker = asyncio.create_task(self.tick_loop(self.run))

    def unserved(self) -> int:
        run = self.run
        if run is None or self.ticker is None or not self.ticker.done():
            return -1
        return sum(max(0, self.seq[s] - max(self.covered[s], run.first_seq[s] - 1)) for s in self.symbols)

    async def result(self, wait_s: float) -> dict[str, Any]:
        if self.run is None or self.ticker is None:
            return {"error": "no run"}
        await self.ticker
        deadline = time.monotonic() + wait_s
        while self.unserved() > 0 and time.monotonic() < deadline:  # noqa: ASYNC110 - a poll with a deadline
            await asyncio.sleep(0.01)
        run = self.run
        return {
            "rate": run.rate,
            "seconds": run.seconds,
            "offered": run.offered,
            "served": len(run.latencies_ns),
            "unserved": self.unserved(),
            "send_seconds": (run.ended_ns - run.started_ns) / 1e9,
            "last_order_seconds": max(0, run.last_order_ns - run.started_ns) / 1e9,
            "latencies_us": [x / 1000 for x in run.latencies_ns],
        }

    # -- orders -----------------------------------------------------------------------------

    def on_order(self, body: dict[str, Any], arrived: int) -> dict[str, Any]:
        symbol = str(body["symbol"])
        qty = int(str(body["qty"]).split(".")[0])
        side = str(body["side"])
        self.position[symbol] += qty if side == "buy" else -qty
        cum = self.position[symbol]
        run = self.run
        if cum > self.covered[symbol]:
            created = self.created[symbol]
            lo = self.covered[symbol] + 1
            if run is not None:
                lo_run = max(lo, run.first_seq[symbol])
                run.latencies_ns.extend(arrived - created[k] for k in range(lo_run, cum + 1))
                run.last_order_ns = arrived
            self.covered[symbol] = cum
        self.n_orders += 1
        cid = str(body["client_order_id"])
        order = {
            "client_order_id": cid,
            "order_id": f"v{self.n_orders}",
            "symbol": symbol,
            "side": side,
            "order_type": body.get("type", "market"),
            "qty": str(qty),
            "price": None,
            "status": "filled",
            "filled_qty": str(qty),
            "avg_price": PRICE["last"],
            "reason": "",
            "ts": arrived,
        }
        self.orders[cid] = order
        if len(self.orders) > 10_000:
            self.orders.pop(next(iter(self.orders)))
        if self.account:
            fill = {
                "type": "fill",
                "fill_id": f"f{self.n_orders}",
                "order_id": order["order_id"],
                "client_order_id": cid,
                "symbol": symbol,
                "side": side,
                "qty": str(qty),
                "price": PRICE["last"],
                "fee": "0",
                "liquidity": "taker",
                "ts": arrived,
            }
            frames = ws_frame(json.dumps({"type": "order", **order}).encode()) + ws_frame(
                json.dumps(fill).encode()
            )
            for w in self.account:
                w.write(frames)
        return order

    # -- HTTP -------------------------------------------------------------------------------

    async def route(self, method: str, target: str, body: bytes, arrived: int) -> tuple[int, Any]:
        url = urlsplit(target)
        path, query = url.path, parse_qs(url.query)
        if method == "POST" and path == "/api/v1/orders":
            return 200, self.on_order(json.loads(body), arrived)
        if method == "GET":
            if path == "/api/v1/symbols":
                return 200, [
                    {"symbol": s, "base": s.split("-")[0], "quote": "USD", "price_increment": "0.01",
                     "size_increment": "1", "min_size": "1"}
                    for s in self.symbols
                ]  # fmt: skip
            if path in ("/api/v1/candles", "/api/v1/fills", "/api/v1/orders"):
                return 200, []
            if path == "/api/v1/account":
                return 200, {"cash": "1000000000", "equity": "1000000000", "positions": {}}
            if path.startswith("/api/v1/orders/"):
                order = self.orders.get(path.rsplit("/", 1)[1])
                return (200, order) if order else (404, {"error": "order not found"})
            if path == "/api/v1/health":
                return 200, {"status": "ok", "ts": time.time_ns()}
            if path == "/bench/status":
                return 200, {
                    "market": len(self.market),
                    "account": len(self.account),
                    "orders": self.n_orders,
                }
            if path == "/bench/result":
                return 200, await self.result(float(query.get("wait", ["5"])[0]))
        if method == "POST" and path == "/bench/run":
            args = json.loads(body)
            try:
                self.start(float(args["rate"]), float(args["seconds"]))
            except RuntimeError as exc:
                return 409, {"error": str(exc)}
            return 200, {"started": True}
        if method == "DELETE" and path.startswith("/api/v1/orders/"):
            return 404, {"error": "order not found"}
        return 404, {"error": f"no route {method} {path}"}

    async def serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                if headers.get("upgrade", "").lower() == "websocket":
                    await self.serve_ws(target, headers, reader, writer)
                    return
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                arrived = time.time_ns()
                try:
                    status, payload = await self.route(method, target, body, arrived)
                except (KeyError, ValueError, TypeError) as exc:
                    status, payload = 400, {"error": f"bad request: {exc!r}"}
                data = json.dumps(payload).encode()
                reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict"}[status]
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def serve_ws(
        self,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + WS_GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        group = self.market if urlsplit(target).path == "/ws/market" else self.account
        group.append(writer)
        try:
            while True:
                opcode, payload = await read_ws_frame(reader)
                if opcode == 8:
                    writer.write(ws_frame(payload[:2], 8))
                    return
                if opcode == 9:
                    writer.write(ws_frame(payload, 10))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            if writer in group:
                group.remove(writer)


async def serve(port: int, n_symbols: int) -> None:
    venue = BenchVenue(n_symbols)
    server = await asyncio.start_server(venue.serve_conn, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--symbols", type=int, default=100)
    args = ap.parse_args()
    asyncio.run(serve(args.port, args.symbols))


if __name__ == "__main__":
    main()
