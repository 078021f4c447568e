"""Memory: resident memory (VmRSS) of one signals process running `bb_rsi_scalper` over N symbols,
warmed up (this process answers `md.history` with a full warm-up of 1m candles per symbol) and fed
a tick per symbol. The figure per 1,000 symbols is the slope between the smallest and largest N,
so the interpreter's and libraries' fixed cost is not counted against the symbols.

    PYTHONPATH=. python -m bench.memory [--symbols 10 1000 3000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from bench.procs import fmt, processes, rss_mb, spread
from bench.throughput import metric, tick_payloads
from bench.venue import symbols_for
from tradebus.testing.servers import free_port, nats_server

MINUTE_NS = 60_000_000_000
T0 = 1_700_000_000 * 1_000_000_000 // MINUTE_NS * MINUTE_NS


def history_reply(symbol: str, interval: str, limit: int) -> bytes:
    rows = []
    for i in range(limit):
        px = 100.0 + (i % 40) * 0.05
        rows.append(
            f'{{"venue":"sim","symbol":"{symbol}","interval":"{interval}","ts_open":{T0 + i * MINUTE_NS},'
            f'"open":{px},"high":{px + 0.1},"low":{px - 0.1},"close":{px + 0.02},"volume":1.0,'
            f'"trades":3,"closed":true}}'
        )
    return ('{"candles":[' + ",".join(rows) + "]}").encode()


async def serve_history(nc: NatsClient, served: list[int]) -> None:
    async def on_req(msg: Msg) -> None:
        req = json.loads(msg.data)
        await msg.respond(history_reply(req["symbol"], req["interval"], int(req["limit"])))
        served[0] += 1

    await nc.subscribe("md.history", cb=on_req)


async def warm(procs: Any, env: dict[str, str], symbols: list[str], timeout: float = 120) -> float:
    """Start signals with the history responder already listening; RSS (MB) once it is warm."""
    nc = await nats.connect(env["NATS_URL"])
    served = [0]
    await serve_history(nc, served)
    proc = procs.python("signals", ["-m", "tradebus", "run", "signals"], env)
    metrics_url = f"http://127.0.0.1:{env['TRADEBUS_METRICS_PORT']}/metrics"
    deadline = time.monotonic() + timeout
    pat = r'tradebus_bus_messages_total\{.*kind="md\.tick".*result="ok".*\}'
    try:
        while served[0] < len(symbols):
            procs.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {served[0]} of {len(symbols)} history requests came")
            await asyncio.sleep(0.05)
        while await asyncio.to_thread(metric_or_zero, metrics_url, pat) < len(symbols):
            procs.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError("signals did not start handling ticks")
            for subject, data in tick_payloads(symbols, len(symbols)):
                await nc.publish(subject, data)
            await nc.flush()
            await asyncio.sleep(0.2)
        return rss_mb(proc.pid)
    finally:
        await nc.close()


def metric_or_zero(url: str, pattern: str) -> float:
    try:
        return metric(url, pattern)
    except httpx.HTTPError:
        return 0.0


def one(n: int, logdir: Path) -> float:
    symbols = symbols_for(n)
    with nats_server(store_dir=logdir / "nats") as nats_url, processes(logdir) as procs:
        env = {
            "NATS_URL": nats_url,
            "TRADEBUS_LOG_LEVEL": "WARNING",
            "TRADEBUS_LOG_JSON": "true",
            "TRADEBUS_METRICS_PORT": str(free_port()),
            "TRADEBUS_SIGNALS_NAME": "bb_rsi_scalper",
            "TRADEBUS_SIGNALS_SYMBOLS": json.dumps(symbols),
        }
        return asyncio.run(warm(procs, env, symbols))


def measure(sizes: list[int], repeats: int) -> dict[str, Any]:
    sizes = sorted(sizes)
    raw: dict[str, list[float]] = {str(n): [] for n in sizes}
    with tempfile.TemporaryDirectory(prefix="tb-bench-mem-") as tmp:
        for r in range(repeats):
            for n in sizes:
                d = Path(tmp) / f"{n}-{r}"
                d.mkdir()
                raw[str(n)].append(one(n, d))
    lo, hi = str(sizes[0]), str(sizes[-1])
    per_1000 = [(b - a) / (sizes[-1] - sizes[0]) * 1000 for a, b in zip(raw[lo], raw[hi], strict=True)]
    return {
        "repeats": repeats,
        "sizes": sizes,
        "rss_mb": {k: spread(v) for k, v in raw.items()},
        "raw": raw,
        "mb_per_1000_symbols": spread(per_1000),
    }


def report(res: dict[str, Any]) -> list[str]:
    lines = [f"signals (bb_rsi_scalper) resident memory, {res['repeats']} repeats"]
    for n, s in res["rss_mb"].items():
        lines.append(f"  {int(n):>6} symbols: {fmt(s, ' MB', 1)}")
    lines.append(f"  per 1,000 symbols: {fmt(res['mb_per_1000_symbols'], ' MB', 1)}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--symbols", type=int, nargs="+", default=[10, 1000, 3000])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    print("\n".join(report(measure(args.symbols, args.repeats))))


if __name__ == "__main__":
    main()
