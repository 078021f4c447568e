"""`tradebus pnl`: the ledger from the command line, read straight from Postgres.

    tradebus pnl                      every strategy and the account, all time
    tradebus pnl --strategy NAME      one strategy (and its open positions)
    tradebus pnl --since-hours 24     the figures of the last 24 hours
    tradebus pnl --recent 50          and the last 50 trades (fills, with what they realized)
    tradebus pnl --json               the same as JSON, for scripts

The database is `--database-url`, else `DATABASE_URL` / `TRADEBUS_DATABASE_URL`, else the
embedded stack's Postgres named in `var/stack.json` (`TRADEBUS_VAR_DIR`). Sessions are read-only.
Positions are valued at each symbol's last fill price. Like the `tradebus` command itself this
sits on the top floor: it composes the portfolio's pure core and its store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

NS_PER_HOUR = 3600 * 10**9


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("pnl", help="PnL figures and trades from the ledger (Postgres)")
    p.add_argument("--strategy", help="only this strategy")
    p.add_argument("--since-hours", type=float, metavar="N", help="figures of the last N hours")
    p.add_argument("--recent", type=int, metavar="N", default=0, help="also list the last N trades")
    p.add_argument("--json", action="store_true", help="JSON instead of tables")
    p.add_argument("--database-url", help="Postgres URL (default: DATABASE_URL, then var/stack.json)")
    p.set_defaults(func=main)


class PnlError(Exception):
    """Something the user can fix; the message says what."""


def database_url(explicit: str | None, env: dict[str, str], var_dir: Path) -> str:
    """Where the ledger is: the flag, the environment, or the embedded stack's Postgres."""
    for url in (explicit, env.get("DATABASE_URL"), env.get("TRADEBUS_DATABASE_URL")):
        if url:
            return url
    state_file = var_dir / "stack.json"
    try:
        state = json.loads(state_file.read_text())
    except FileNotFoundError:
        raise PnlError(
            "no database: set DATABASE_URL, pass --database-url, or start `tradebus up` "
            f"({state_file} not found)"
        ) from None
    except json.JSONDecodeError as exc:
        raise PnlError(f"{state_file}: not valid JSON: {exc}") from None
    for proc in state.get("processes", []):
        if isinstance(proc, dict) and proc.get("name") == "postgres" and proc.get("postgres"):
            return str(proc["postgres"])
    raise PnlError(f"{state_file}: the stack runs an external Postgres; set DATABASE_URL to read it")


async def gather(dsn: str, strategy: str | None, since_ns: int | None, recent: int) -> dict[str, Any]:
    """Read the ledger and work out the report's figures (JSON-ready)."""
    import asyncpg

    from services.portfolio.core import ACCOUNT, Ledger
    from services.portfolio.report import figures_json, trade_rows, window
    from services.portfolio.settings import PortfolioSettings
    from services.portfolio.store import LedgerStore
    from tradebus.settings import load

    cfg: PortfolioSettings = load(PortfolioSettings)  # type: ignore[assignment]
    try:
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=1, server_settings={"default_transaction_read_only": "on"}
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise PnlError(f"cannot reach Postgres at {_safe(dsn)}: {exc}") from None
    assert pool is not None
    try:
        store = LedgerStore(pool)
        try:
            fills = await store.all_fills()
            snapshots = await store.equity_history(since=since_ns or 0)
        except asyncpg.UndefinedTableError:
            raise PnlError(
                f"no ledger at {_safe(dsn)}: the portfolio service creates it when it first starts"
            ) from None
    finally:
        await pool.close()

    def ledger_of(upto: int | None) -> Ledger:
        ledger = Ledger(cfg.starting_cash, periods_per_year=cfg.periods_per_year)
        ledger.apply_all(f for f in fills if upto is None or f.ts_event < upto)
        return ledger

    now = ledger_of(None)
    start: Ledger | None = None
    if since_ns is not None:  # the window's curve starts at the PnL each book had at its start
        start = ledger_of(since_ns)
        now.load_history(start.snapshot(since_ns - 1))
    now.load_history(snapshots)
    known = now.strategies()
    if strategy is not None and strategy not in known:
        raise PnlError(
            f"strategy: {strategy!r} has no fills (strategies with fills: {', '.join(known) or 'none'})"
        )
    books = {name: now.figures(name) for name in ([strategy] if strategy else [ACCOUNT, *known])}
    if start is not None:
        books = {name: window(f, start.figures(name)) for name, f in books.items()}
    rows = [r for r in trade_rows(fills) if strategy is None or r.strategy == strategy]
    if since_ns is not None:
        rows = [r for r in rows if r.ts_event >= since_ns]
    return {
        "since_ts_event": since_ns,
        "account": figures_json(books[ACCOUNT]) if ACCOUNT in books else None,
        "strategies": {k: figures_json(v) for k, v in sorted(books.items()) if k != ACCOUNT},
        "trades": [r.as_json() for r in rows[-recent:]] if recent > 0 else [],
        "_books": books,
        "_rows": rows[-recent:] if recent > 0 else [],
    }


def render(report: dict[str, Any], as_json: bool, out: TextIO) -> None:
    from services.portfolio.report import figures_table, iso, positions_table, trades_table

    if as_json:
        json.dump({k: v for k, v in report.items() if not k.startswith("_")}, out, indent=2)
        out.write("\n")
        return
    since = report["since_ts_event"]
    out.write(f"PnL since {iso(since)} UTC\n\n" if since is not None else "PnL, all time\n\n")
    out.write(figures_table(report["_books"]) + "\n")
    positions = positions_table(report["_books"])
    if positions.count("\n") > 1:
        out.write("\nOpen positions\n\n" + positions + "\n")
    if report["_rows"]:
        out.write(f"\nLast {len(report['_rows'])} trades\n\n" + trades_table(report["_rows"]) + "\n")


def run(args: argparse.Namespace, env: dict[str, str], out: TextIO, now_ns: int) -> int:
    if args.since_hours is not None and not args.since_hours > 0:
        raise PnlError(f"--since-hours: must be > 0, got {args.since_hours}")
    if args.recent < 0:
        raise PnlError(f"--recent: must be >= 0, got {args.recent}")
    dsn = database_url(args.database_url, env, Path(env.get("TRADEBUS_VAR_DIR", "var")))
    since = None if args.since_hours is None else now_ns - int(args.since_hours * NS_PER_HOUR)
    report = asyncio.run(gather(dsn, args.strategy, since, args.recent))
    render(report, args.json, out)
    return 0


def main(args: argparse.Namespace) -> int:
    try:
        return run(args, dict(os.environ), sys.stdout, time.time_ns())
    except PnlError as exc:
        print(f"tradebus pnl: {exc}", file=sys.stderr)  # noqa: T201
        return 2


def _safe(dsn: str) -> str:
    """A URL without its password, for messages."""
    head, at, tail = dsn.rpartition("@")
    if not at:
        return dsn
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{tail}"
