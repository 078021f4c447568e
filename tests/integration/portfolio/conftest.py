"""A fresh database per test module, made from the session's Postgres."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.portfolio.db import create_pool, migrate
from services.portfolio.store import LedgerStore


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


async def new_database(pg_dsn: str) -> str:
    name = f"tb_portfolio_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(pg_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def drop_database(pg_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(pg_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def db_dsn(pg_dsn: str) -> AsyncIterator[str]:
    """A migrated database of its own for the test module."""
    name = await new_database(pg_dsn)
    dsn = with_database(pg_dsn, name)
    pool = await create_pool(dsn)
    try:
        await migrate(pool)
    finally:
        await pool.close()
    yield dsn
    await drop_database(pg_dsn, name)


@pytest.fixture(scope="module")
async def pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_dsn)
    yield p
    await p.close()


@pytest.fixture(scope="module")
def store(pool: asyncpg.Pool) -> LedgerStore:
    return LedgerStore(pool)
