"""Throughput: the most ticks/s one marketdata process publishes and one signals process consumes
(`bb_rsi_scalper` on every symbol), beside bare nats-py processes doing the same hop.

Both are measured at saturation: the input is offered faster than the process can take it, and
the rate is the slope of what it has handled, sampled after a settling second, so it is the
rate at which it starts to fall behind.

- marketdata: the bench venue sends ticks over `/ws/market` as fast as the reader takes them;
  a bare counting subscriber counts what arrives on NATS. Bare: the `md` relay (WebSocket frame
  -> NATS, no parsing).
- signals: this process publishes ready-encoded ticks on `md.tick.sim.<symbol>` as fast as
  nats-py can; the rate is read from the signals process's own message counter on /metrics.
  Bare: a counting nats-py subscriber on the same subjects.

    PYTHONPATH=. python -m bench.throughput [--seconds 4] [--repeats 3] [--symbols 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NatsClient

from bench.procs import fmt, processes, spread, wait_http
from bench.venue import symbols_for
from tradebus.testing.servers import free_port, nats_server

SETTLE_S = 1.0


def tick_payloads(symbols: list[str], n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        s = symbols[i % len(symbols)]
        px = 100.0 + (i % 50) * 0.01
        body = {"venue": "sim", "symbol": s, "bid": px, "ask": px + 0.01, "last": px, "last_qty": 1.0,
                "ts_event": 1_700_000_000_000_000_000 + i, "ts_init": 0, "schema_version": 1}  # fmt: skip
        out.append((f"md.tick.sim.{s}", json.dumps(body).encode()))
    return out


async def counter_of(nc: NatsClient) -> int:
    return int((await nc.request("bench.count", b"", timeout=5)).data)


def metric(url: str, pattern: str) -> float:
    text = httpx.get(url, timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if re.match(pattern, line):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def slope(read: Any, seconds: float) -> float:
    """Rate of a growing count between SETTLE_S and `seconds` after now."""
    await asyncio.sleep(SETTLE_S)
    c0, t0 = await read(), time.perf_counter()
    await asyncio.sleep(seconds - SETTLE_S)
    c1, t1 = await read(), time.perf_counter()
    return float(c1 - c0) / (t1 - t0)


async def blast(nc: NatsClient, payloads: list[tuple[str, bytes]], stop: asyncio.Event) -> int:
    sent = 0
    while not stop.is_set():
        for subject, data in payloads:
            await nc.publish(subject, data)
        sent += len(payloads)
        await nc.flush()
    return sent


async def signals_rate(nats_url: str, metrics_url: str | None, symbols: list[str], seconds: float) -> float:
    nc = await nats.connect(nats_url)
    try:
        if metrics_url:

            async def read() -> float:
                pat = r'tradebus_bus_messages_total\{.*kind="md\.tick".*result="ok".*\}'
                return await asyncio.to_thread(metric, metrics_url, pat)
        else:

            async def read() -> float:
                return await counter_of(nc)

        stop = asyncio.Event()
        pub = asyncio.create_task(blast(nc, tick_payloads(symbols, 2000), stop))
        try:
            rate = await slope(read, seconds)
        finally:
            stop.set()
            await pub
        return rate
    finally:
        await nc.close()


async def marketdata_rate(nats_url: str, venue: str, seconds: float) -> float:
    nc = await nats.connect(nats_url)
    try:
        async with httpx.AsyncClient(timeout=seconds + 30) as http:
            r = await http.post(f"{venue}/bench/run", json={"rate": 0, "seconds": seconds + 1})
            r.raise_for_status()

            async def read() -> int:
                return await counter_of(nc)

            rate = await slope(read, seconds)
            await http.get(f"{venue}/bench/result", params={"wait": 0})
        return rate
    finally:
        await nc.close()


def run_signals(kind: str, symbols: list[str], seconds: float, logdir: Path) -> float:
    with nats_server(store_dir=logdir / "nats") as nats_url, processes(logdir) as procs:
        metrics_url = None
        if kind == "platform":
            port = free_port()
            metrics_url = f"http://127.0.0.1:{port}/metrics"
            procs.python(
                "signals",
                ["-m", "tradebus", "run", "signals"],
                {
                    "NATS_URL": nats_url,
                    "TRADEBUS_LOG_LEVEL": "WARNING",
                    "TRADEBUS_LOG_JSON": "true",
                    "TRADEBUS_METRICS_PORT": str(port),
                    "TRADEBUS_SIGNALS_NAME": "bb_rsi_scalper",
                    "TRADEBUS_SIGNALS_SYMBOLS": json.dumps(symbols),
                },
            )
            wait_http(metrics_url, timeout=30)
            # ready once it handles ticks: its subscriptions come after warm-up
            asyncio.run(wait_ready(nats_url, metrics_url, symbols))
        else:
            procs.python(
                "count", ["-m", "bench.relay", "count", "--nats", nats_url, "--subject", "md.tick.>"]
            )
            asyncio.run(wait_count(nats_url))
        rate = asyncio.run(signals_rate(nats_url, metrics_url, symbols, seconds))
        procs.check_alive()
        return rate


async def wait_ready(nats_url: str, metrics_url: str, symbols: list[str], timeout: float = 60) -> None:
    nc = await nats.connect(nats_url)
    deadline = time.monotonic() + timeout
    pat = r'tradebus_bus_messages_total\{.*kind="md\.tick".*result="ok".*\}'
    try:
        while await asyncio.to_thread(metric, metrics_url, pat) < len(symbols):
            if time.monotonic() > deadline:
                raise TimeoutError("signals did not start handling ticks")
            for subject, data in tick_payloads(symbols, len(symbols)):
                await nc.publish(subject, data)
            await nc.flush()
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def wait_count(nats_url: str, timeout: float = 20) -> None:
    nc = await nats.connect(nats_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                await counter_of(nc)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await nc.close()


def run_marketdata(kind: str, n_symbols: int, seconds: float, logdir: Path) -> float:
    with nats_server(store_dir=logdir / "nats") as nats_url, processes(logdir) as procs:
        port = free_port()
        venue = f"http://127.0.0.1:{port}"
        procs.python("venue", ["-m", "bench.venue", "--port", str(port), "--symbols", str(n_symbols)])
        wait_http(f"{venue}/api/v1/health")
        subject = "md.tick.>" if kind == "platform" else "bench.tick"
        procs.python("count", ["-m", "bench.relay", "count", "--nats", nats_url, "--subject", subject])
        asyncio.run(wait_count(nats_url))
        if kind == "platform":
            procs.python(
                "marketdata",
                ["-m", "tradebus", "run", "marketdata"],
                {
                    "NATS_URL": nats_url,
                    "TRADEBUS_LOG_LEVEL": "WARNING",
                    "TRADEBUS_LOG_JSON": "true",
                    "TRADEBUS_MARKETDATA_VENUE_URL": venue,
                },
            )
        else:
            procs.python("relay-md", ["-m", "bench.relay", "md", "--nats", nats_url, "--venue", venue])
        deadline = time.monotonic() + 30
        while httpx.get(f"{venue}/bench/status", timeout=2).json()["market"] < 1:
            procs.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind} never connected to the venue")
            time.sleep(0.05)
        rate = asyncio.run(marketdata_rate(nats_url, venue, seconds))
        procs.check_alive()
        return rate


def measure(seconds: float, repeats: int, n_symbols: int = 100) -> dict[str, Any]:
    symbols = symbols_for(n_symbols)
    raw: dict[str, list[float]] = {
        k: [] for k in ("signals", "signals_bare", "marketdata", "marketdata_bare")
    }
    with tempfile.TemporaryDirectory(prefix="tb-bench-tput-") as tmp:
        for r in range(repeats):
            for kind in ("platform", "baseline"):  # interleaved: the same conditions for both
                suffix = "" if kind == "platform" else "_bare"
                d = Path(tmp) / f"sig-{kind}-{r}"
                d.mkdir()
                raw["signals" + suffix].append(run_signals(kind, symbols, seconds, d))
                d = Path(tmp) / f"md-{kind}-{r}"
                d.mkdir()
                raw["marketdata" + suffix].append(run_marketdata(kind, n_symbols, seconds, d))
    out: dict[str, Any] = {"seconds": seconds, "repeats": repeats, "symbols": n_symbols, "raw": raw}
    out["summary"] = {k: spread(v) for k, v in raw.items()}
    out["summary"]["signals_share_of_bare"] = spread(
        [a / b for a, b in zip(raw["signals"], raw["signals_bare"], strict=True)]
    )
    out["summary"]["marketdata_share_of_bare"] = spread(
        [a / b for a, b in zip(raw["marketdata"], raw["marketdata_bare"], strict=True)]
    )
    return out


def report(res: dict[str, Any]) -> list[str]:
    s = res["summary"]
    return [
        f"throughput at saturation, {res['symbols']} symbols, {res['repeats']} repeats",
        f"  signals (bb_rsi_scalper)  {fmt(s['signals'], ' ticks/s', 0)}",
        f"  bare nats-py subscriber   {fmt(s['signals_bare'], ' msg/s', 0)}",
        f"  marketdata (WS -> NATS)   {fmt(s['marketdata'], ' ticks/s', 0)}",
        f"  bare relay (WS -> NATS)   {fmt(s['marketdata_bare'], ' msg/s', 0)}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--symbols", type=int, default=100)
    args = ap.parse_args()
    print("\n".join(report(measure(args.seconds, args.repeats, args.symbols))))


if __name__ == "__main__":
    main()
