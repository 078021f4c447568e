"""Pipeline latency: bench venue tick -> marketdata -> signals (latency probe) -> execution ->
order at the venue, beside a bare relay of the same topology, interleaved run by run.

Each run starts a fresh nats-server, bench venue and three processes (real `python -m tradebus
run ...` services, the bare relays, or the relays with the platform's messages and none of its
decisions: `bench/relay.py --like-platform`), primes the chain, offers `rate` ticks/s over the
symbols for `seconds`, then waits up to `wait` seconds for the orders. A tick with no order by
then counts as infinitely late, so a percentile that falls among them reads "behind".

    PYTHONPATH=. python -m bench.pipeline [--rates 1000 10000] [--seconds 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.procs import ROOT, fmt, percentile, processes, spread, wait_http
from bench.venue import symbols_for
from tradebus.testing.servers import free_port, nats_server

BIG = "1000000000000"
RISK = {
    f"TRADEBUS_EXECUTION_RISK__{k}": v
    for k, v in {
        "MAX_ORDER_QTY": BIG,
        "MAX_ORDER_NOTIONAL": BIG,
        "MAX_POSITION": BIG,
        "MAX_GROSS_EXPOSURE": BIG,
        "MAX_OPEN_ORDERS": "1000000",
        "ORDERS_PER_SECOND": "1000000",
        "ORDER_BURST": "1000000",
        "DAILY_LOSS_LIMIT": BIG,
        "MAX_DRAWDOWN": BIG,
    }.items()
}
QUANTILES = {"p50": 0.5, "p99": 0.99, "p999": 0.999}
#: the chains of a run, side by side: the platform, the bare relay (the baseline the target is
#: set against) and the relay with the platform's messages (what the messages alone cost)
KINDS = ("platform", "baseline", "messages")


def batch_for(rate: float) -> int:
    """Intents per execution round (and messages per fetch of the bare relay) at `rate`: the
    default 100 up to 2,000 ticks/s (smaller rounds, lower latency), 1,000 above (fewer rounds,
    so the chain keeps up). The same for the platform and the baseline."""
    return 100 if rate <= 2000 else 1000


def start_chain(procs: Any, kind: str, nats_url: str, venue: str, n_symbols: int, rate: float) -> None:
    batch = str(batch_for(rate))
    if kind in ("baseline", "messages"):
        for role in ("exec", "sig", "md"):
            args = ["-m", "bench.relay", role, "--nats", nats_url, "--venue", venue, "--batch", batch]
            procs.python(f"relay-{role}", args + (["--like-platform"] if kind == "messages" else []))
        return

    def run(name: str, env: dict[str, str]) -> None:
        prof = os.environ.get("BENCH_PROFILE_DIR")
        pre = ["-m", "cProfile", "-o", f"{prof}/{name}.prof"] if prof else []
        procs.python(name, [*pre, "-m", "tradebus", "run", name], env)

    common = {"NATS_URL": nats_url, "TRADEBUS_LOG_LEVEL": "WARNING", "TRADEBUS_LOG_JSON": "true"}
    run(
        "execution",
        {**common, **RISK, "TRADEBUS_EXECUTION_VENUE_URL": venue, "TRADEBUS_EXECUTION_BATCH_MAX": batch},
    )
    run(
        "marketdata",
        {**common, "TRADEBUS_MARKETDATA_VENUE_URL": venue},
    )
    run(
        "signals",
        {
            **common,
            "TRADEBUS_SIGNALS_NAME": "probe",
            "TRADEBUS_SIGNALS_KIND": f"{ROOT / 'bench' / 'probe.py'}:LatencyProbe",
            "TRADEBUS_SIGNALS_SYMBOLS": json.dumps(symbols_for(n_symbols)),
            "TRADEBUS_SIGNALS_WARMUP_EXTRA": "0",
        },
    )


def offer(venue: str, rate: float, seconds: float, wait: float) -> dict[str, Any]:
    r = httpx.post(f"{venue}/bench/run", json={"rate": rate, "seconds": seconds}, timeout=5)
    r.raise_for_status()
    out: dict[str, Any] = httpx.get(
        f"{venue}/bench/result", params={"wait": wait}, timeout=seconds + wait + 10
    ).json()
    return out


def prime(venue: str, procs: Any, timeout: float = 60.0) -> None:
    """Offer a trickle until every tick of a round gets its order: the chain is up end to end."""
    deadline = time.monotonic() + timeout
    while True:
        procs.check_alive()
        res = offer(venue, 200, 0.5, 3)
        if res["offered"] and res["unserved"] == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the chain did not come up in {timeout}s (last round: {res['unserved']} unserved)"
            )


def one_run(
    kind: str, rate: float, seconds: float, wait: float, n_symbols: int, logdir: Path
) -> dict[str, Any]:
    with nats_server(store_dir=logdir / "nats") as nats_url, processes(logdir) as procs:
        port = free_port()
        venue = f"http://127.0.0.1:{port}"
        procs.python("venue", ["-m", "bench.venue", "--port", str(port), "--symbols", str(n_symbols)])
        wait_http(f"{venue}/api/v1/health")
        start_chain(procs, kind, nats_url, venue, n_symbols, rate)
        prime(venue, procs)
        res = offer(venue, rate, seconds, wait)
        procs.check_alive()
    lat = sorted(res.pop("latencies_us"))
    total = res["served"] + res["unserved"]
    res.update({k: percentile(lat, q, total) / 1000 for k, q in QUANTILES.items()})  # ms
    res["achieved_rate"] = res["offered"] / res["send_seconds"] if res["send_seconds"] else math.nan
    # ticks answered per second of the run, up to the last order: what the chain kept up with
    res["served_rate"] = res["served"] / res["last_order_seconds"] if res["last_order_seconds"] else 0.0
    res["kind"] = kind
    return res


def measure(
    rates: list[float], seconds: float, repeats: int, wait: float = 5.0, n_symbols: int = 100
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tb-bench-pipe-") as tmp:
        for r in range(repeats):
            for rate in rates:
                for kind in KINDS:  # side by side: the same conditions for all
                    logdir = Path(tmp) / f"{kind}-{int(rate)}-{r}"
                    logdir.mkdir()
                    runs.append(one_run(kind, rate, seconds, wait, n_symbols, logdir))
    out: dict[str, Any] = {"seconds": seconds, "repeats": repeats, "symbols": n_symbols, "runs": runs}
    summary: dict[str, Any] = {}
    for rate in rates:
        per: dict[str, Any] = {}
        for kind in KINDS:
            rs = [x for x in runs if x["rate"] == rate and x["kind"] == kind]
            per[kind] = {k: spread([x[k] for x in rs]) for k in (*QUANTILES, "achieved_rate", "served_rate")}
            per[kind]["unserved_share"] = spread([x["unserved"] / max(1, x["offered"]) for x in rs])
        # ratios per repeat (each pair ran side by side), then their median and spread
        pairs = list(
            zip(
                [x for x in runs if x["rate"] == rate and x["kind"] == "platform"],
                [x for x in runs if x["rate"] == rate and x["kind"] == "baseline"],
                strict=True,
            )
        )
        messages = [x for x in runs if x["rate"] == rate and x["kind"] == "messages"]
        for k in QUANTILES:
            per[f"{k}_ratio"] = spread([p[k] / b[k] if b[k] > 0 else math.nan for p, b in pairs])
            per[f"messages_{k}_ratio"] = spread(
                [m[k] / b[1][k] if b[1][k] > 0 else math.nan for m, b in zip(messages, pairs, strict=True)]
            )
        summary[str(int(rate))] = per
    out["summary"] = summary
    return out


def report(res: dict[str, Any]) -> list[str]:
    lines = [
        f"pipeline latency, {res['symbols']} symbols, {res['seconds']} s per run, {res['repeats']} repeats"
    ]
    for rate, per in res["summary"].items():
        for kind in KINDS:
            s = per[kind]
            lines.append(
                f"  {int(rate):>6} ticks/s {kind:<9} p50 {fmt(s['p50'], ' ms')}  p99 {fmt(s['p99'], ' ms')}"
                f"  p99.9 {fmt(s['p999'], ' ms')}  unserved {fmt(s['unserved_share'], '', 3)}"
                f"  served {fmt(s['served_rate'], '/s', 0)}"
            )
        ratios = f"p50 {fmt(per['p50_ratio'], 'x')}  p99 {fmt(per['p99_ratio'], 'x')}"
        lines.append(f"  {int(rate):>6} ticks/s ratio     {ratios}  (platform / baseline)")
        ratios = f"p50 {fmt(per['messages_p50_ratio'], 'x')}  p99 {fmt(per['messages_p99_ratio'], 'x')}"
        lines.append(f"  {int(rate):>6} ticks/s ratio     {ratios}  (messages / baseline)")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[1000, 10000])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--wait", type=float, default=5)
    ap.add_argument("--symbols", type=int, default=100)
    args = ap.parse_args()
    res = measure(args.rates, args.seconds, args.repeats, args.wait, args.symbols)
    print("\n".join(report(res)))


if __name__ == "__main__":
    main()
