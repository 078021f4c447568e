"""How fast the ledger stores fills with exactly-once kept: batched (COPY + ON CONFLICT) vs one
INSERT per fill. Runs against DATABASE_URL or a throwaway pgserver; prints fills/s as the median
over repeats with the min..max spread.

    PYTHONPATH=. python bench/ledger.py [--fills 20000] [--batch 1000] [--single 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from proto.trading import Fill, Liquidity, Side
from services.portfolio.db import APP_ROLE, create_pool, migrate
from services.portfolio.store import LedgerStore
from tradebus.testing.servers import postgres


def fills(tag: str, n: int) -> list[Fill]:
    return [
        Fill(
            fill_id=f"{tag}-{i}",
            strategy=f"s{i % 8}",
            venue="bench",
            symbol=("BTC-USD", "ETH-USD", "SOL-USD")[i % 3],
            side=Side.BUY if i % 2 else Side.SELL,
            qty=Decimal("0.001") * (1 + i % 50),
            price=Decimal("65000.25") + i % 100,
            fee=Decimal("0.0125"),
            liquidity=Liquidity.TAKER,
            client_order_id=f"{tag}-o{i // 3}",
            ts_event=1_700_000_000_000_000_000 + i,
        )
        for i in range(n)
    ]


async def batched(store: LedgerStore, tag: str, n: int, batch: int) -> float:
    data = fills(tag, n)
    t0 = time.perf_counter()
    new = 0
    for i in range(0, n, batch):
        # every batch also carries 5% redeliveries of the previous batch: they must be no-ops
        redelivered = data[max(0, i - batch // 20) : i]
        new += await store.insert_fills(redelivered + data[i : i + batch])
    took = time.perf_counter() - t0
    if new != n:
        raise AssertionError(f"batched: stored {new} new fills, expected {n}")
    return n / took


async def single(store: LedgerStore, tag: str, n: int) -> float:
    data = fills(tag, n)
    t0 = time.perf_counter()
    new = 0
    for f in data:
        new += await store.insert_fill(f)
    took = time.perf_counter() - t0
    if new != n:
        raise AssertionError(f"single: stored {new} new fills, expected {n}")
    return n / took


def summary(rates: list[float]) -> str:
    return (
        f"median {statistics.median(rates):>9,.0f} fills/s   "
        f"(min {min(rates):,.0f} .. max {max(rates):,.0f}, {len(rates)} runs)"
    )


async def run(dsn: str, args: argparse.Namespace) -> dict[str, list[float]]:
    name = f"tb_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    db = urlunsplit(urlsplit(dsn)._replace(path="/" + name))
    try:
        setup = await create_pool(db)
        await migrate(setup)
        await setup.close()
        pool = await create_pool(db, role=APP_ROLE)
        store = LedgerStore(pool)
        await batched(store, "warm", 2000, args.batch)  # warm caches and the staging table
        b = [await batched(store, f"b{r}", args.fills, args.batch) for r in range(args.repeats)]
        s = [await single(store, f"s{r}", args.single) for r in range(args.repeats)]
        total = await store.count_fills()
        expected = 2000 + args.repeats * (args.fills + args.single)
        if total != expected:
            raise AssertionError(f"{total} fills stored, expected {expected}")
        await pool.close()
        return {"batched_fills_per_s": b, "single_fills_per_s": s}
    finally:
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def measure(
    fills_n: int = 20_000, batch: int = 1000, single_n: int = 2000, repeats: int = 5
) -> dict[str, list[float]]:
    """fills/s per repeat, batched and single, against DATABASE_URL or a throwaway pgserver."""
    args = argparse.Namespace(fills=fills_n, batch=batch, single=single_n, repeats=repeats)
    with postgres() as dsn:
        return asyncio.run(run(dsn, args))


def print_report(res: dict[str, list[float]], batch: int) -> None:
    b, s = res["batched_fills_per_s"], res["single_fills_per_s"]
    print(f"batched ({batch}/batch, 5% redelivered): {summary(b)}")
    print(f"single INSERT per fill:             {summary(s)}")
    print(f"speed-up: {statistics.median(b) / statistics.median(s):.1f}x; every fill stored exactly once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fills", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print_report(measure(args.fills, args.batch, args.single, args.repeats), args.batch)


if __name__ == "__main__":
    main()
