"""The ledger store on a real Postgres: exactly-once fills, batches, paging, the other tables."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal as D

import asyncpg
import pytest

from proto.trading import (
    Fill,
    Liquidity,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    RiskEvent,
    Side,
)
from services.portfolio.core import Ledger
from services.portfolio.store import InternalCross, LedgerStore

_n = itertools.count()


def make_fill(venue: str, i: int, *, strategy: str = "s1", ts: int | None = None) -> Fill:
    return Fill(
        fill_id=f"{venue}-{i}",
        strategy=strategy,
        venue=venue,
        symbol="BTC-USD" if i % 3 else "ETH-USD",
        side=Side.BUY if i % 2 else Side.SELL,
        qty=D("0.50") + D(i % 7) / 100,
        price=D("100.25") + i,
        fee=D("0.010"),
        liquidity=Liquidity.MAKER,
        client_order_id=f"coid-{i // 4}",
        venue_fill_id=f"vf-{i}",
        ts_event=1_700_000_000_000_000_000 + (i if ts is None else ts),
    )


async def venue_count(pool: asyncpg.Pool, venue: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM fills WHERE venue = $1", venue))


async def test_a_fill_reads_back_as_it_was_written(store: LedgerStore) -> None:
    f = make_fill("rt", 5)
    assert await store.insert_fills([f]) == 1
    page, _ = await store.load_fills(strategy="s1", symbol=f.symbol, limit=1)
    assert page == [f]
    assert str(page[0].qty) == "0.55"  # the scale survives


async def test_a_redelivered_fill_is_a_no_op(store: LedgerStore, pool: asyncpg.Pool) -> None:
    f = make_fill("redeliver", 1)
    assert await store.insert_fills([f]) == 1
    assert await store.insert_fills([f]) == 0
    assert await store.insert_fill(f) is False
    assert await store.insert_fills([f, make_fill("redeliver", 2), f]) == 1
    assert await venue_count(pool, "redeliver") == 2


async def test_batches_store_each_fill_exactly_once(store: LedgerStore, pool: asyncpg.Pool) -> None:
    venue = "batch"
    fills = [make_fill(venue, i) for i in range(10_000)]
    assert await store.insert_fills(fills[:1000]) == 1000  # some are there already
    # every fill again, plus duplicates inside the batches, in a shuffled-looking order
    replay = fills[::-1] + fills[5000:6000] + fills[:10]
    new = 0
    for start in range(0, len(replay), 2500):
        new += await store.insert_fills(replay[start : start + 2500])
    assert new == 9000
    assert await venue_count(pool, venue) == 10_000
    total = await pool.fetchval("SELECT sum(qty * price) FROM fills WHERE venue = $1", venue)
    assert total == sum((f.qty * f.price for f in fills), D(0))


async def test_concurrent_writers_of_the_same_fills_store_them_once(
    store: LedgerStore, pool: asyncpg.Pool
) -> None:
    fills = [make_fill("race", i) for i in range(2000)]
    results = await asyncio.gather(
        store.insert_fills(fills), store.insert_fills(fills[::-1]), store.insert_fills(fills[500:])
    )
    assert sum(results) == 2000
    assert await venue_count(pool, "race") == 2000


async def test_a_failing_batch_stores_nothing(store: LedgerStore, pool: asyncpg.Pool) -> None:
    good = [make_fill("atomic", i) for i in range(5)]
    bad = make_fill("atomic", 99).model_copy(update={"qty": D(0)})  # violates CHECK (qty > 0)
    with pytest.raises(asyncpg.CheckViolationError):
        await store.insert_fills([*good, bad])
    assert await venue_count(pool, "atomic") == 0
    assert await store.insert_fills(good) == 5  # the connection is fine afterwards


async def test_pages_newest_first_without_gaps_or_repeats(store: LedgerStore) -> None:
    # 25 fills, ts repeating so ties are broken by arrival; strategies alternate
    fills = [make_fill("page", i, strategy=f"pg{i % 2}", ts=i // 3) for i in range(25)]
    await store.insert_fills(fills)
    seen: list[Fill] = []
    cursor = None
    pages = 0
    while True:
        page, cursor = await store.load_fills(limit=7, cursor=cursor, strategy="pg0")
        seen += page
        pages += 1
        if cursor is None:
            break
    # one batch: ties in time are stored in the order of the fill id
    want = [f for f in fills if f.strategy == "pg0"]
    want.sort(key=lambda f: (f.ts_event, f.fill_id), reverse=True)
    assert seen == want
    assert pages == 2  # 13 fills: 7 + 6, and the last page says there is no more
    only_eth, _ = await store.load_fills(strategy="pg1", symbol="ETH-USD", limit=100)
    want_eth = [f for f in fills if f.strategy == "pg1" and f.symbol == "ETH-USD"]
    want_eth.sort(key=lambda f: (f.ts_event, f.fill_id), reverse=True)
    assert only_eth == want_eth
    assert want_eth  # the filter has something to find


async def test_paging_input_is_checked(store: LedgerStore) -> None:
    with pytest.raises(ValueError, match="cursor"):
        await store.load_fills(cursor="nonsense")
    with pytest.raises(ValueError, match="limit"):
        await store.load_fills(limit=0)


async def test_the_ledger_rebuilds_from_the_store(pg_dsn: str) -> None:
    from services.portfolio.db import create_pool, migrate
    from tests.integration.portfolio.conftest import drop_database, new_database, with_database

    name = await new_database(pg_dsn)
    pool = await create_pool(with_database(pg_dsn, name))
    try:
        await migrate(pool)
        store = LedgerStore(pool)
        fills = [make_fill("rebuild", i, strategy=f"r{i % 3}", ts=(i * 7) % 20) for i in range(60)]
        live = Ledger()
        # as they happened; within a nanosecond, by venue and fill id
        for f in sorted(fills, key=lambda f: (f.ts_event, f.venue, f.fill_id)):
            live.apply(f)
        backwards = fills[::-1]  # stored out of order, in three batches
        for start in (0, 20, 40):
            await store.insert_fills(backwards[start : start + 20])
        stored = await store.all_fills()
        assert stored == sorted(fills, key=lambda f: (f.ts_event, f.venue, f.fill_id))
        rebuilt = Ledger()
        assert rebuilt.apply_all(stored) == 60
        assert rebuilt.all_figures() == live.all_figures()
    finally:
        await pool.close()
        await drop_database(pg_dsn, name)


def order(status: OrderStatus, ts: int, filled: str = "0") -> OrderUpdate:
    return OrderUpdate(
        client_order_id="o-1",
        owner="s1",
        venue="sim",
        symbol="BTC-USD",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=D(2),
        price=D("99.5"),
        status=status,
        filled_qty=D(filled),
        venue_order_id="v-1" if status is not OrderStatus.NEW else None,
        ts_event=ts,
    )


async def test_orders_keep_their_latest_state(store: LedgerStore) -> None:
    await store.insert_orders([order(OrderStatus.NEW, 1), order(OrderStatus.ACKED, 2)])
    await store.insert_orders([order(OrderStatus.FILLED, 4, "2"), order(OrderStatus.ACKED, 3)])
    row = await store.order("o-1")
    assert row is not None
    assert (row["status"], row["filled_qty"], row["venue_order_id"]) == ("filled", D(2), "v-1")
    assert await store.order("unknown") is None


async def test_positions_keep_the_latest(store: LedgerStore) -> None:
    def pos(qty: str, ts: int) -> PositionUpdate:
        return PositionUpdate(strategy="p1", venue="sim", symbol="BTC-USD", qty=D(qty), ts_event=ts)

    await store.upsert_position(pos("1.5", 10))
    await store.upsert_position(pos("-0.5", 20))
    await store.upsert_position(pos("9", 15))  # late
    mine = [p for p in await store.positions() if p.strategy == "p1"]
    assert mine == [pos("-0.5", 20)]


async def test_equity_snapshots_once_each(store: LedgerStore) -> None:
    led = Ledger(starting_cash=D(1000))
    led.apply(make_fill("eq", 1, strategy="e1"))
    first = led.snapshot(100)
    led.mark("BTC-USD", D(150))
    second = led.snapshot(200)
    assert await store.insert_equity_snapshots(first + second) == 4
    assert await store.insert_equity_snapshots(second) == 0
    hist = await store.equity_history("e1")
    assert hist == [r for r in first + second if r.strategy == "e1"]
    later = await store.equity_history(since=150)
    assert {r.strategy for r in later} == {"e1", "net"}
    assert all(r.ts_event >= 150 for r in later)


async def test_risk_events_once_each(store: LedgerStore) -> None:
    ev = RiskEvent(kind="reject", reason="max position", strategy="s1", symbol=None, ts_event=5)
    assert await store.insert_risk_event(ev) is True
    assert await store.insert_risk_event(ev) is False
    assert await store.risk_events(limit=10) == [ev]


async def test_crosses_runs_parameters_and_audit(store: LedgerStore, pool: asyncpg.Pool) -> None:
    cross = InternalCross("sim", "x-1", "BTC-USD", D("0.3"), D(100), "a", "b", 7, "fa", "fb")
    assert await store.insert_internal_cross(cross) is True
    assert await store.insert_internal_cross(cross) is False

    run = await store.start_run("s1", {"fast": 5, "size": D("0.5")}, ts_event=10)
    assert await store.stop_run(run, ts_event=20, reason="disabled") is True
    assert await store.stop_run(run, ts_event=30) is False
    row = await pool.fetchrow("SELECT * FROM strategy_runs WHERE id = $1", run)
    assert (row["started_ts"], row["stopped_ts"], row["reason"]) == (10, 20, "disabled")

    change = await store.insert_parameter_change("s1", "alice", {"fast": 5}, {"fast": 8}, 15)
    stored = await pool.fetchrow("SELECT * FROM parameter_changes WHERE id = $1", change)
    assert (stored["actor"], stored["before"], stored["after"]) == (
        "alice",
        '{"fast": 5}',
        '{"fast": 8}',
    )

    entry = await store.insert_audit("alice", "disable", "s1", {"enabled": True}, {"enabled": False})
    latest = (await store.audit_log(limit=1))[0]
    assert latest["id"] == entry
    assert (latest["actor"], latest["before"], latest["after"]) == (
        "alice",
        {"enabled": True},
        {"enabled": False},
    )
    with pytest.raises(ValueError, match="actor"):
        await store.insert_audit("", "disable")
