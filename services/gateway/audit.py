"""The audit log of control actions: who did what to which, when, with the state before and after.

Rows go to the ledger's `audit_log` table (created by portfolio's migrations) through the
gateway's own small asyncpg pool. Without a database the entries are only logged.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

import asyncpg
import structlog
from pydantic import BaseModel

log = structlog.get_logger()


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any = None
    after: Any = None


class AuditUnavailable(RuntimeError):
    """The audit log cannot be read or written."""


class AuditLog(Protocol):
    async def record(self, actor: str, action: str, target: str, before: Any, after: Any) -> None: ...

    async def latest(self, limit: int) -> list[AuditEntry]: ...


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


class PgAudit:
    """`audit_log` in Postgres. Build with `await PgAudit.open(dsn, role)`; `close()` at the end."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, role: str = "") -> PgAudit:
        settings = {"role": role} if role else {}
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings=settings)
        assert pool is not None
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def record(self, actor: str, action: str, target: str, before: Any, after: Any) -> None:
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO audit_log (actor, action, target, before, after) "
                    "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)",
                    actor,
                    action,
                    target,
                    _json(before),
                    _json(after),
                )
        except (OSError, asyncpg.PostgresError) as exc:
            raise AuditUnavailable(f"audit_log: {type(exc).__name__}: {exc}") from None

    async def latest(self, limit: int) -> list[AuditEntry]:
        try:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT id, at, actor, action, target, before, after FROM audit_log "
                    "ORDER BY id DESC LIMIT $1",
                    limit,
                )
        except (OSError, asyncpg.PostgresError) as exc:
            raise AuditUnavailable(f"audit_log: {type(exc).__name__}: {exc}") from None
        return [
            AuditEntry(
                **{
                    **dict(r),
                    "before": None if r["before"] is None else json.loads(r["before"]),
                    "after": None if r["after"] is None else json.loads(r["after"]),
                }
            )
            for r in rows
        ]


class LogAudit:
    """No database configured: every entry is logged (at warning level), none can be read back."""

    async def record(self, actor: str, action: str, target: str, before: Any, after: Any) -> None:
        log.warning(
            "audit (no database)", actor=actor, action=action, target=target, before=before, after=after
        )

    async def latest(self, limit: int) -> list[AuditEntry]:
        raise AuditUnavailable("audit_log: the gateway has no DATABASE_URL")
