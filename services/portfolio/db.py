"""Postgres plumbing of the ledger: pools and versioned migrations applied at start.

Migrations are the files ``migrations/NNNN_name.sql`` next to this module, applied in order of
their number, each once and in its own transaction, and recorded with a checksum in
``schema_migrations``. A session advisory lock makes concurrent starts safe: the second process
waits, then finds nothing left to do. An applied file that was edited afterwards is an error
(add a new migration instead).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger()

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: pg_advisory_lock key of the migrator ("tradebus" in ASCII, as a signed bigint).
MIGRATION_LOCK = int.from_bytes(b"tradebus", "big", signed=True)

APP_ROLE = "tradebus_app"
READONLY_ROLE = "tradebus_readonly"

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The migration files or the database's record of them do not add up."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of `directory`, in order; bad or clashing names are errors."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is already {found[version].name}")
        found[version] = Migration(version, path.name, path.read_text())
    return [found[v] for v in sorted(found)]


async def migrate(pool: asyncpg.Pool | asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration not yet applied; returns the names of those applied now."""
    migrations = discover(directory)
    if isinstance(pool, asyncpg.Connection):
        return await _migrate(pool, migrations)
    async with pool.acquire() as conn:
        return await _migrate(conn, migrations)


async def _migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(_CREATE_TABLE)
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {r["version"]: (r["name"], r["checksum"]) for r in rows}
        done: list[str] = []
        for mig in migrations:
            if mig.version in applied:
                name, checksum = applied[mig.version]
                if checksum != mig.checksum:
                    raise MigrationError(
                        f"{mig.name}: changed after it was applied (as {name}); add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    mig.version,
                    mig.name,
                    mig.checksum,
                )
            log.info("migration applied", migration=mig.name)
            done.append(mig.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def create_pool(
    dsn: str, *, role: str | None = None, min_size: int = 1, max_size: int = 4
) -> asyncpg.Pool:
    """A pool whose sessions act as `role` (e.g. APP_ROLE), if given.

    The login user must be a member of `role`. The role is a session default, so the pool's
    reset between uses keeps it.
    """
    settings = {"role": role} if role else {}
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, server_settings=settings)
    assert pool is not None  # asyncpg types allow None only when created without awaiting
    return pool
