"""Migrations on a real Postgres: applied once, safe to run concurrently, tamper-evident."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.portfolio.db import MigrationError, discover, migrate
from tests.integration.portfolio.conftest import drop_database, new_database, with_database


@pytest.fixture
async def empty_dsn(pg_dsn: str) -> AsyncIterator[str]:
    name = await new_database(pg_dsn)
    yield with_database(pg_dsn, name)
    await drop_database(pg_dsn, name)


async def test_migrations_apply_once(empty_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        files = [m.name for m in discover()]
        assert await migrate(conn) == files
        assert await migrate(conn) == []
        rows = await conn.fetch("SELECT name FROM schema_migrations ORDER BY version")
        assert [r["name"] for r in rows] == files
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        assert {r["tablename"] for r in tables} >= {
            "orders",
            "fills",
            "internal_crosses",
            "positions",
            "equity_snapshots",
            "strategy_runs",
            "parameter_changes",
            "risk_events",
            "audit_log",
        }
    finally:
        await conn.close()


async def test_two_processes_starting_at_once_apply_each_migration_once(empty_dsn: str) -> None:
    conns = [await asyncpg.connect(empty_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = sorted(name for names in results for name in names)
        assert applied == sorted(m.name for m in discover())
    finally:
        for c in conns:
            await c.close()


async def test_an_edited_migration_is_refused(empty_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (x int);")
    conn = await asyncpg.connect(empty_dsn)
    try:
        assert await migrate(conn, tmp_path) == ["0001_first.sql"]
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (x bigint);")
        with pytest.raises(MigrationError, match=r"0001_first\.sql"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_no_trace(empty_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (x int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (x int); SELECT nonsense FROM nil;")
    conn = await asyncpg.connect(empty_dsn)
    try:
        with pytest.raises(asyncpg.PostgresError):
            await migrate(conn, tmp_path)
        versions = await conn.fetch("SELECT version FROM schema_migrations")
        assert [r["version"] for r in versions] == [1]
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT to_regclass('good')") is not None
        # the lock was released: another session applies the fixed file without waiting
        (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (x int);")
        other = await asyncpg.connect(empty_dsn)
        try:
            assert await asyncio.wait_for(migrate(other, tmp_path), 5) == ["0002_bad.sql"]
        finally:
            await other.close()
    finally:
        await conn.close()


def test_bad_migration_names_are_named(tmp_path: Path) -> None:
    (tmp_path / "1_short.sql").write_text("")
    with pytest.raises(MigrationError, match=r"1_short\.sql"):
        discover(tmp_path)


def test_clashing_versions_are_named(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(MigrationError, match="version 1"):
        discover(tmp_path)
