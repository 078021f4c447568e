"""portfolio shell: fills, orders, positions and risk events from JetStream into Postgres;
figures to Prometheus; answers fills and PnL queries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal

import structlog

from proto import Fill, OrderUpdate, PositionUpdate, RiskEvent, Tick
from proto.queries import (
    EquityPoint,
    EquityQuery,
    EquityReply,
    FillsPage,
    FillsQuery,
    PnlQuery,
    PnlReply,
    RiskEventsQuery,
    RiskEventsReply,
)
from proto.subjects import PORTFOLIO_EQUITY, PORTFOLIO_FILLS, PORTFOLIO_PNL, PORTFOLIO_RISK, TRADING
from services.portfolio.core import ACCOUNT, EquitySnapshot, Figures, Ledger
from services.portfolio.db import APP_ROLE, create_pool, migrate
from services.portfolio.metrics import PortfolioMetrics
from services.portfolio.settings import PortfolioSettings
from services.portfolio.store import MAX_PAGE, LedgerStore
from tradebus.bus import now_ns
from tradebus.service import Runtime
from tradebus.settings import load

log = structlog.get_logger()


def figures_row(f: Figures) -> dict[str, str | int | float | None]:
    row = f.model_dump(mode="json", exclude={"history", "symbols", "strategy"})
    row["positions"] = ",".join(f"{s}={format(q, 'f')}" for s, q in sorted(f.positions.items()))
    return row


async def run(rt: Runtime) -> None:
    cfg: PortfolioSettings = load(PortfolioSettings)  # type: ignore[assignment]
    if rt.settings.database_url is None:
        raise SystemExit("portfolio needs DATABASE_URL (or TRADEBUS_DATABASE_URL)")
    dsn = rt.settings.database_url.get_secret_value()
    admin = await _connect(dsn)
    try:
        applied = await migrate(admin)
    finally:
        await admin.close()
    pool = await create_pool(dsn, role=APP_ROLE, max_size=4)  # may only insert and read fills
    rt.exit_stack.push_async_callback(pool.close)
    store = LedgerStore(pool)
    ledger = Ledger(cfg.starting_cash, periods_per_year=cfg.periods_per_year)
    rebuilt = ledger.apply_all(await store.all_fills())
    ledger.load_history(await store.equity_history())
    log.info("ledger ready", migrations=applied, fills=rebuilt)
    metrics = PortfolioMetrics(rt.registry)
    bus = rt.bus

    def refresh() -> None:
        metrics.figures.update(ledger.all_figures(), ledger.last_prices())

    refresh()

    async def on_fills(batch: Sequence[Fill]) -> None:
        for f in batch:  # refuse before storing: a stored fill the ledger refuses would stop a rebuild
            if f.strategy == ACCOUNT:
                raise ValueError(f"strategy: {ACCOUNT!r} is the account's book, not a strategy")
        with metrics.write_seconds.time():  # stored before the acks: a crash redelivers, never loses
            new = await store.insert_fills(batch)
        metrics.duplicates.inc(len(batch) - new)
        for f in batch:
            if ledger.apply(f):
                metrics.fills.labels(f.strategy, f.liquidity.value).inc()

    async def on_orders(batch: Sequence[OrderUpdate]) -> None:
        await store.insert_orders(batch)

    async def on_position(p: PositionUpdate) -> None:
        await store.upsert_position(p)

    async def on_risk(e: RiskEvent) -> None:
        await store.insert_risk_event(e)

    async def on_tick(t: Tick) -> None:
        ledger.mark(t.symbol, Decimal(repr(t.mid)), t.ts_event)

    await bus.consume_batch(TRADING, "portfolio-fills", "exec.fill.>", Fill, on_fills, batch=cfg.batch_size)
    await bus.consume_batch(
        TRADING, "portfolio-orders", "exec.order.>", OrderUpdate, on_orders, batch=cfg.batch_size
    )
    await bus.consume(TRADING, "portfolio-risk", "exec.risk.>", RiskEvent, on_risk)
    await bus.consume("POSITIONS", "portfolio-positions", "exec.position.>", PositionUpdate, on_position)
    await bus.subscribe("md.tick.>", Tick, on_tick)

    async def fills(q: FillsQuery) -> FillsPage:
        try:
            page, nxt = await store.load_fills(q.strategy, q.symbol, q.limit, q.cursor)
        except ValueError as exc:
            return FillsPage(error=str(exc))
        return FillsPage(fills=tuple(page), next=nxt)

    async def pnl(q: PnlQuery) -> PnlReply:
        everything = ledger.all_figures()
        account = everything.pop(ACCOUNT, None)
        if q.strategy is not None:
            everything = {k: v for k, v in everything.items() if k == q.strategy}
        return PnlReply(
            account=figures_row(account) if account else {},
            strategies={name: figures_row(f) for name, f in sorted(everything.items())},
        )

    await bus.serve(
        PORTFOLIO_FILLS, FillsQuery, fills, queue="portfolio", error_reply=lambda e: FillsPage(error=e)
    )
    await bus.serve(PORTFOLIO_PNL, PnlQuery, pnl, queue="portfolio", error_reply=lambda e: PnlReply(error=e))

    async def figures_loop() -> None:
        last_snapshot = time.monotonic()
        while not rt.stopping.is_set():
            await asyncio.sleep(cfg.metrics_every_s)
            refresh()
            if time.monotonic() - last_snapshot >= cfg.snapshot_every_s:
                last_snapshot = time.monotonic()
                await store.insert_equity_snapshots(ledger.snapshot(now_ns()))

    rt.spawn(figures_loop(), "figures")
    rt.checks["postgres"] = lambda: not pool._closed
    await serve_gateway_reads(rt, store)


async def _connect(dsn: str):  # type: ignore[no-untyped-def]
    """Postgres may still be starting (embedded stack, compose): retry for a while."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await create_pool(dsn, max_size=1)
        except (OSError, Exception) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("postgres not ready; retrying", error=str(exc))
            await asyncio.sleep(1)


# -- read queries of the gateway (risk events, equity history) ---------------------------------


def thin(points: list[EquitySnapshot], at_most: int) -> list[EquitySnapshot]:
    """At most `at_most` points, evenly spaced over the list; the first and last always kept."""
    if len(points) <= at_most:
        return points
    step = (len(points) - 1) / (at_most - 1)
    return [points[round(i * step)] for i in range(at_most)]


async def serve_gateway_reads(rt: Runtime, store: LedgerStore) -> None:
    """Answer `portfolio.query.risk` and `portfolio.query.equity` from Postgres."""

    async def risk(q: RiskEventsQuery) -> RiskEventsReply:
        events = await store.risk_events(q.limit if q.strategy is None else MAX_PAGE)
        if q.strategy is not None:
            events = [e for e in events if e.strategy == q.strategy][: q.limit]
        return RiskEventsReply(events=tuple(events))

    async def equity(q: EquityQuery) -> EquityReply:
        by_book: dict[str, list[EquitySnapshot]] = {}
        for row in await store.equity_history(q.strategy, q.since):
            by_book.setdefault(row.strategy, []).append(row)
        return EquityReply(
            series={
                name: tuple(
                    EquityPoint(ts_event=r.ts_event, pnl=r.pnl, total_value=r.total_value)
                    for r in thin(rows, q.max_points)
                )
                for name, rows in sorted(by_book.items())
            }
        )

    await rt.bus.serve(
        PORTFOLIO_RISK,
        RiskEventsQuery,
        risk,
        queue="portfolio",
        error_reply=lambda e: RiskEventsReply(error=e),
    )
    await rt.bus.serve(
        PORTFOLIO_EQUITY, EquityQuery, equity, queue="portfolio", error_reply=lambda e: EquityReply(error=e)
    )


def main() -> None:
    from tradebus.service import run_service

    asyncio.run(run_service("portfolio", run))
