"""The roles' privileges: the app may only insert and read fills; dashboards only read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import asyncpg
import pytest

from proto.trading import Fill, Liquidity, Side
from services.portfolio.db import APP_ROLE, READONLY_ROLE, create_pool
from services.portfolio.store import LedgerStore


def fill(i: int) -> Fill:
    return Fill(
        fill_id=f"role-{i}",
        strategy="s1",
        venue="sim",
        symbol="BTC-USD",
        side=Side.BUY,
        qty=D(1),
        price=D(100),
        liquidity=Liquidity.TAKER,
        ts_event=i,
    )


@pytest.fixture(scope="module")
async def app_pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_dsn, role=APP_ROLE)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def readonly_pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_dsn, role=READONLY_ROLE)
    yield pool
    await pool.close()


async def test_the_pool_acts_as_the_role_even_after_reuse(app_pool: asyncpg.Pool) -> None:
    for _ in range(3):  # each release resets the session; the role must survive it
        async with app_pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == APP_ROLE


async def test_the_app_inserts_and_reads_fills(app_pool: asyncpg.Pool) -> None:
    store = LedgerStore(app_pool)
    assert await store.insert_fills([fill(1)]) == 1
    assert await store.insert_fills([fill(1), fill(2), fill(3)]) == 2  # the batched path
    page, _ = await store.load_fills(limit=10)
    assert {f.fill_id for f in page} >= {"role-1", "role-2", "role-3"}


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE fills SET price = 0",
        "DELETE FROM fills",
        "TRUNCATE fills",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM orders",
    ],
)
async def test_the_app_cannot_rewrite_history(app_pool: asyncpg.Pool, sql: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_pool.execute(sql)


async def test_the_app_can_keep_latest_state(app_pool: asyncpg.Pool) -> None:
    await app_pool.execute(
        "INSERT INTO positions (strategy, venue, symbol, qty, ts_event) VALUES "
        "('s1', 'sim', 'X', 1, 1) ON CONFLICT (strategy, venue, symbol) DO UPDATE SET qty = 2"
    )
    await app_pool.execute("UPDATE positions SET qty = 3 WHERE symbol = 'X'")
    assert await app_pool.fetchval("SELECT qty FROM positions WHERE symbol = 'X'") == 3


async def test_dashboards_only_read(readonly_pool: asyncpg.Pool, app_pool: asyncpg.Pool) -> None:
    await LedgerStore(app_pool).insert_fills([fill(10)])
    page, _ = await LedgerStore(readonly_pool).load_fills(limit=1)
    assert page == [fill(10)]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await LedgerStore(readonly_pool).insert_fills([fill(11)])
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await readonly_pool.execute("INSERT INTO audit_log (actor, action) VALUES ('x', 'y')")


async def test_dashboards_read_tables_of_later_migrations(
    pool: asyncpg.Pool, readonly_pool: asyncpg.Pool
) -> None:
    await pool.execute("CREATE TABLE later_table (x int); INSERT INTO later_table VALUES (7)")
    assert await readonly_pool.fetchval("SELECT x FROM later_table") == 7
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await readonly_pool.execute("INSERT INTO later_table VALUES (8)")
