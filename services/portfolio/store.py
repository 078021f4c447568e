"""The ledger's reads and writes on Postgres (asyncpg). Exactly once, batched under load.

Fills are written in batches: COPY into a per-connection temporary staging table, then one
``INSERT ... SELECT ... ON CONFLICT (venue, fill_id) DO NOTHING``, all in one transaction. A
fill already stored, or repeated within the batch, is skipped, so a redelivered fill is a no-op
and a batch is stored entirely or not at all. Within a batch, rows get their ids in the order
(ts_event, venue, fill_id); paging orders by (ts_event, id).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from proto.base import Nanos
from proto.trading import Fill, Liquidity, OrderUpdate, PositionUpdate, RiskEvent, Side
from services.portfolio.core import EquitySnapshot

MAX_PAGE = 1000

_FILL_COLS = (
    "venue",
    "fill_id",
    "strategy",
    "symbol",
    "side",
    "qty",
    "price",
    "fee",
    "liquidity",
    "client_order_id",
    "venue_fill_id",
    "ts_event",
)
_COLS = ", ".join(_FILL_COLS)
_STAGE = "portfolio_fills_stage"
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (
    ord bigint, venue text, fill_id text, strategy text, symbol text, side text, qty numeric,
    price numeric, fee numeric, liquidity text, client_order_id text, venue_fill_id text,
    ts_event bigint
) ON COMMIT DELETE ROWS
"""
# Rows go in one total order (event time, then the unique key), the same for every writer:
# two batches sharing fills then wait for each other in order and never deadlock. `ord` only
# breaks ties between copies of one fill within a batch.
_FROM_STAGE = f"""
INSERT INTO fills ({_COLS}) SELECT {_COLS} FROM {_STAGE} ORDER BY ts_event, venue, fill_id, ord
ON CONFLICT (venue, fill_id) DO NOTHING
"""
_INSERT_ONE = f"""
INSERT INTO fills ({_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (venue, fill_id) DO NOTHING
"""
_SELECT_FILLS = f"SELECT id, {_COLS} FROM fills"


@dataclass(frozen=True, slots=True)
class InternalCross:
    """Two strategies' opposite wishes crossed at one price, without an exchange order."""

    venue: str
    cross_id: str
    symbol: str
    qty: Decimal
    price: Decimal
    buyer: str
    seller: str
    ts_event: Nanos
    buy_fill_id: str | None = None
    sell_fill_id: str | None = None


def _fill_record(f: Fill) -> tuple[Any, ...]:
    return (
        f.venue,
        f.fill_id,
        f.strategy,
        f.symbol,
        f.side.value,
        f.qty,
        f.price,
        f.fee,
        f.liquidity.value,
        f.client_order_id,
        f.venue_fill_id,
        f.ts_event,
    )


def _fill_from_row(r: Mapping[str, Any]) -> Fill:
    return Fill(
        fill_id=r["fill_id"],
        strategy=r["strategy"],
        venue=r["venue"],
        symbol=r["symbol"],
        side=Side(r["side"]),
        qty=r["qty"],
        price=r["price"],
        fee=r["fee"],
        liquidity=Liquidity(r["liquidity"]),
        client_order_id=r["client_order_id"],
        venue_fill_id=r["venue_fill_id"],
        ts_event=r["ts_event"],
    )


def _count(status: str) -> int:
    """Rows affected, from a command status such as ``INSERT 0 42``."""
    return int(status.rsplit(" ", 1)[-1])


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def encode_cursor(ts_event: int, row_id: int) -> str:
    return f"{ts_event}:{row_id}"


def decode_cursor(cursor: str) -> tuple[int, int]:
    ts, sep, row_id = cursor.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(ts), int(row_id)
    except ValueError:
        raise ValueError(f"cursor: {cursor!r} is not a cursor this API returned") from None


class LedgerStore:
    """Reads and writes of the ledger tables through one asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # -- fills ---------------------------------------------------------------------------------

    async def insert_fills(self, fills: Sequence[Fill]) -> int:
        """Store fills exactly once, in one transaction; returns how many were new."""
        if not fills:
            return 0
        async with self._pool.acquire() as conn:
            if len(fills) == 1:
                return _count(await conn.execute(_INSERT_ONE, *_fill_record(fills[0])))
            async with conn.transaction():
                await conn.execute(_CREATE_STAGE)
                await conn.copy_records_to_table(
                    _STAGE,
                    records=[(i, *_fill_record(f)) for i, f in enumerate(fills)],
                    columns=("ord", *_FILL_COLS),
                )
                return _count(await conn.execute(_FROM_STAGE))

    async def insert_fill(self, fill: Fill) -> bool:
        """Store one fill with one statement; False if it was already stored."""
        async with self._pool.acquire() as conn:
            return _count(await conn.execute(_INSERT_ONE, *_fill_record(fill))) == 1

    async def load_fills(
        self,
        strategy: str | None = None,
        symbol: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[Fill], str | None]:
        """A page of fills, newest first; pass the returned cursor to get the next page."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit: must be between 1 and {MAX_PAGE}, got {limit}")
        where: list[str] = []
        args: list[object] = []
        if strategy is not None:
            args.append(strategy)
            where.append(f"strategy = ${len(args)}")
        if symbol is not None:
            args.append(symbol)
            where.append(f"symbol = ${len(args)}")
        if cursor is not None:
            ts, row_id = decode_cursor(cursor)
            args += [ts, row_id]
            where.append(f"(ts_event, id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit + 1)
        sql = _SELECT_FILLS
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY ts_event DESC, id DESC LIMIT ${len(args)}"
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
        page = rows[:limit]
        more = len(rows) > limit
        following = encode_cursor(page[-1]["ts_event"], page[-1]["id"]) if more else None
        return [_fill_from_row(r) for r in page], following

    async def all_fills(self) -> list[Fill]:
        """Every fill in event order, to rebuild the Ledger at start.

        Fills of the same nanosecond come in (venue, fill_id) order, whatever order they were
        stored in, so a rebuild is deterministic.
        """
        sql = _SELECT_FILLS + " ORDER BY ts_event, venue, fill_id"
        async with self._pool.acquire() as conn, conn.transaction():
            return [_fill_from_row(r) async for r in conn.cursor(sql, prefetch=10_000)]

    async def count_fills(self) -> int:
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM fills"))

    # -- orders, crosses, positions ------------------------------------------------------------

    async def insert_orders(self, updates: Sequence[OrderUpdate]) -> None:
        """Keep the latest state of each order (an older update never overwrites a newer)."""
        if not updates:
            return
        async with self._pool.acquire() as conn:
            await conn.executemany(
                """
                INSERT INTO orders (client_order_id, owner, venue, symbol, side, type, qty, price,
                    status, filled_qty, avg_price, venue_order_id, reason, ts_event)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                ON CONFLICT (client_order_id) DO UPDATE SET
                    status = EXCLUDED.status, filled_qty = EXCLUDED.filled_qty,
                    avg_price = EXCLUDED.avg_price, price = EXCLUDED.price, qty = EXCLUDED.qty,
                    venue_order_id = coalesce(EXCLUDED.venue_order_id, orders.venue_order_id),
                    reason = EXCLUDED.reason, ts_event = EXCLUDED.ts_event, recorded_at = now()
                WHERE orders.ts_event <= EXCLUDED.ts_event
                """,
                [
                    (
                        u.client_order_id,
                        u.owner,
                        u.venue,
                        u.symbol,
                        u.side.value,
                        u.type.value,
                        u.qty,
                        u.price,
                        u.status.value,
                        u.filled_qty,
                        u.avg_price,
                        u.venue_order_id,
                        u.reason,
                        u.ts_event,
                    )
                    for u in updates
                ],
            )

    async def order(self, client_order_id: str) -> dict[str, Any] | None:
        """The stored state of one order, as a plain dict (None if unknown)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", client_order_id)
        return dict(row) if row else None

    async def insert_internal_cross(self, cross: InternalCross) -> bool:
        """Record a cross once (by venue and cross id); False if it was already there."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                """
                INSERT INTO internal_crosses (venue, cross_id, symbol, qty, price, buyer, seller,
                    buy_fill_id, sell_fill_id, ts_event)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING
                """,
                cross.venue,
                cross.cross_id,
                cross.symbol,
                cross.qty,
                cross.price,
                cross.buyer,
                cross.seller,
                cross.buy_fill_id,
                cross.sell_fill_id,
                cross.ts_event,
            )
        return _count(status) == 1

    async def upsert_position(self, update: PositionUpdate) -> None:
        """Keep a strategy's latest position per symbol (older updates are ignored)."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                """
                INSERT INTO positions (strategy, venue, symbol, qty, target, ts_event)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (strategy, venue, symbol) DO UPDATE SET
                    qty = EXCLUDED.qty, target = EXCLUDED.target,
                    ts_event = EXCLUDED.ts_event, recorded_at = now()
                WHERE positions.ts_event <= EXCLUDED.ts_event
                """,
                update.strategy,
                update.venue,
                update.symbol,
                update.qty,
                update.target,
                update.ts_event,
            )

    async def positions(self) -> list[PositionUpdate]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT strategy, venue, symbol, qty, target, ts_event FROM positions "
                "ORDER BY strategy, venue, symbol"
            )
        return [PositionUpdate(**dict(r)) for r in rows]

    # -- figures over time ---------------------------------------------------------------------

    async def insert_equity_snapshots(self, rows: Sequence[EquitySnapshot]) -> int:
        """Store snapshot rows once per (strategy, ts_event); returns how many were new."""
        if not rows:
            return 0
        cols = ("cash", "realized", "unrealized", "fees", "pnl", "total_value", "exposure")
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                f"""
                INSERT INTO equity_snapshots (strategy, ts_event, {", ".join(cols)})
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::numeric[], $4::numeric[],
                    $5::numeric[], $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[])
                ON CONFLICT DO NOTHING
                """,
                [r.strategy for r in rows],
                [r.ts_event for r in rows],
                *([getattr(r, c) for r in rows] for c in cols),
            )
        return _count(status)

    async def insert_equity_snapshot(self, row: EquitySnapshot) -> bool:
        return await self.insert_equity_snapshots([row]) == 1

    async def equity_history(self, strategy: str | None = None, since: Nanos = 0) -> list[EquitySnapshot]:
        """Snapshots at or after `since`, oldest first; every book's when `strategy` is None."""
        sql = "SELECT * FROM equity_snapshots WHERE ts_event >= $1"
        args: list[object] = [since]
        if strategy is not None:
            sql += " AND strategy = $2"
            args.append(strategy)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(sql + " ORDER BY ts_event, strategy", *args)
        return [EquitySnapshot(**dict(r)) for r in rows]

    # -- runs, parameters, risk, audit ---------------------------------------------------------

    async def start_run(
        self, strategy: str, params: Mapping[str, object], ts_event: Nanos, dry_run: bool = False
    ) -> int:
        """Record that a strategy started; returns the run's id."""
        async with self._pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "INSERT INTO strategy_runs (strategy, params, dry_run, started_ts) "
                    "VALUES ($1, $2::jsonb, $3, $4) RETURNING id",
                    strategy,
                    _json(dict(params)),
                    dry_run,
                    ts_event,
                )
            )

    async def stop_run(self, run_id: int, ts_event: Nanos, reason: str = "") -> bool:
        """Record that a run stopped; False if it is unknown or already stopped."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                "UPDATE strategy_runs SET stopped_ts = $2, reason = $3 WHERE id = $1 AND stopped_ts IS NULL",
                run_id,
                ts_event,
                reason,
            )
        return _count(status) == 1

    async def insert_parameter_change(
        self,
        strategy: str,
        actor: str,
        before: Mapping[str, object] | None,
        after: Mapping[str, object],
        ts_event: Nanos,
    ) -> int:
        async with self._pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "INSERT INTO parameter_changes (strategy, actor, before, after, ts_event) "
                    "VALUES ($1, $2, $3::jsonb, $4::jsonb, $5) RETURNING id",
                    strategy,
                    actor,
                    _json(None if before is None else dict(before)),
                    _json(dict(after)),
                    ts_event,
                )
            )

    async def insert_risk_event(self, event: RiskEvent) -> bool:
        """Record a risk event once; False if the same event was already stored."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                "INSERT INTO risk_events (kind, reason, strategy, symbol, ts_event) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                event.kind,
                event.reason,
                event.strategy,
                event.symbol,
                event.ts_event,
            )
        return _count(status) == 1

    async def risk_events(self, limit: int = 100) -> list[RiskEvent]:
        """The latest risk events, newest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit: must be between 1 and {MAX_PAGE}, got {limit}")
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT kind, reason, strategy, symbol, ts_event FROM risk_events "
                "ORDER BY ts_event DESC, id DESC LIMIT $1",
                limit,
            )
        return [RiskEvent(**dict(r)) for r in rows]

    async def insert_audit(
        self,
        actor: str,
        action: str,
        target: str = "",
        before: object = None,
        after: object = None,
    ) -> int:
        """Append who did what to which, with the state before and after (JSON); returns id."""
        if not actor:
            raise ValueError("actor: who did it must be named")
        if not action:
            raise ValueError("action: what was done must be named")
        async with self._pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "INSERT INTO audit_log (actor, action, target, before, after) "
                    "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) RETURNING id",
                    actor,
                    action,
                    target,
                    _json(before),
                    _json(after),
                )
            )

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest audit entries, newest first; before/after decoded from JSON."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit: must be between 1 and {MAX_PAGE}, got {limit}")
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, at, actor, action, target, before, after FROM audit_log "
                "ORDER BY id DESC LIMIT $1",
                limit,
            )
        out = []
        for r in rows:
            entry = dict(r)
            for key in ("before", "after"):
                entry[key] = None if entry[key] is None else json.loads(entry[key])
            out.append(entry)
        return out
