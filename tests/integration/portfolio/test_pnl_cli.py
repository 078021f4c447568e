"""`tradebus pnl` against a Postgres filled through the ledger store: figures by hand."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from proto.trading import Fill, Liquidity, Side
from services.portfolio.db import create_pool
from services.portfolio.store import LedgerStore
from tradebus.cli import build_parser
from tradebus.pnl_cli import NS_PER_HOUR, PnlError, database_url, run

NOW = time.time_ns()


def at(hours_ago: float) -> int:
    return NOW - int(hours_ago * NS_PER_HOUR)


def f(
    i: str, strategy: str, symbol: str, side: Side, qty: str, price: str, fee: str, hours_ago: float
) -> Fill:
    return Fill(
        fill_id=i, strategy=strategy, venue="sim", symbol=symbol, side=side, qty=D(qty), price=D(price),
        fee=D(fee), liquidity=Liquidity.TAKER, client_order_id=f"c-{i}", ts_event=at(hours_ago),
    )  # fmt: skip


FILLS = [
    f("a1", "alpha", "BTC-USD", Side.BUY, "1", "100", "0.1", 5),
    f("a2", "alpha", "BTC-USD", Side.SELL, "1", "110", "0.1", 4),  # +10, win
    f("b1", "beta", "ETH-USD", Side.BUY, "1", "50", "0", 2),
    f("a3", "alpha", "BTC-USD", Side.BUY, "2", "100", "0.2", 1),
    f("a4", "alpha", "BTC-USD", Side.SELL, "1", "97", "0.1", 0.5),  # -3, loss; 1 BTC left at 97
    f("b2", "beta", "ETH-USD", Side.SELL, "0.5", "60", "0", 0.2),  # +5, win; 0.5 ETH left at 60
]


@pytest.fixture(scope="module")
async def ledger_dsn(db_dsn: str) -> str:
    pool = await create_pool(db_dsn)
    try:
        assert await LedgerStore(pool).insert_fills(FILLS) == len(FILLS)
    finally:
        await pool.close()
    return db_dsn


async def pnl(dsn: str, *argv: str) -> str:
    args = build_parser().parse_args(["pnl", *argv])
    out = io.StringIO()
    env = {"DATABASE_URL": dsn}
    assert await asyncio.to_thread(run, args, env, out, NOW) == 0
    return out.getvalue()


@pytest.fixture(autouse=True)
def default_starting_cash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBUS_PORTFOLIO_STARTING_CASH", "1000")


async def test_all_time_figures_by_strategy_and_account(ledger_dsn: str) -> None:
    report = json.loads(await pnl(ledger_dsn, "--json"))
    alpha, beta, account = report["strategies"]["alpha"], report["strategies"]["beta"], report["account"]
    # alpha: +10 and -3 realized, 0.5 fees, 1 BTC from 100 marked at 97
    assert (D(alpha["realized"]), D(alpha["unrealized"]), D(alpha["fees"]), D(alpha["pnl"])) == (
        7,
        -3,
        D("0.5"),
        D("3.5"),
    )
    assert (alpha["trade_count"], alpha["wins"], alpha["losses"], alpha["win_rate"]) == (2, 1, 1, 0.5)
    assert alpha["symbols"]["BTC-USD"]["qty"] == "1"
    # beta: +5 realized, 0.5 ETH from 50 marked at 60
    assert (D(beta["realized"]), D(beta["unrealized"]), D(beta["pnl"]), D(beta["exposure"])) == (5, 5, 10, 30)
    assert (beta["trade_count"], beta["wins"], beta["losses"]) == (1, 1, 0)
    assert (D(account["pnl"]), D(account["total_value"]), account["trade_count"]) == (
        D("13.5"),
        D("1013.5"),
        3,
    )
    assert report["trades"] == []


async def test_since_hours_is_the_change_over_the_window(ledger_dsn: str) -> None:
    report = json.loads(await pnl(ledger_dsn, "--since-hours", "3", "--json"))
    alpha, account = report["strategies"]["alpha"], report["account"]
    # before the window alpha had realized 10 with 0.2 fees (PnL 9.8); now PnL is 3.5
    assert (D(alpha["realized"]), D(alpha["fees"]), D(alpha["pnl"])) == (-3, D("0.3"), D("-6.3"))
    assert (alpha["trade_count"], alpha["wins"], alpha["losses"], alpha["win_rate"]) == (1, 0, 1, 0.0)
    assert alpha["symbols"]["BTC-USD"]["qty"] == "1"  # positions are as they are now
    # from 9.8 at the window's start down to 3.5 now
    assert (D(alpha["max_drawdown"]), D(alpha["current_drawdown"])) == (D("6.3"), D("6.3"))
    assert D(report["strategies"]["beta"]["pnl"]) == 10  # all of beta is inside the window
    assert (D(account["pnl"]), account["trade_count"]) == (D("3.7"), 2)


async def test_recent_trades_newest_last_with_what_they_realized(ledger_dsn: str) -> None:
    report = json.loads(await pnl(ledger_dsn, "--recent", "2", "--json"))
    got = [(t["fill_id"], t["strategy"], t["realized"], t["position_after"]) for t in report["trades"]]
    assert got == [("a4", "alpha", "-3", "1"), ("b2", "beta", "5.0", "0.5")]
    only_alpha = json.loads(await pnl(ledger_dsn, "--strategy", "alpha", "--recent", "10", "--json"))
    assert [t["price"] for t in only_alpha["trades"]] == ["100", "110", "100", "97"]
    assert [t["realized"] for t in only_alpha["trades"]] == [None, "10", None, "-3"]
    assert list(only_alpha["strategies"]) == ["alpha"]
    assert only_alpha["account"] is None


async def test_the_table_shows_a_strategys_figures(ledger_dsn: str) -> None:
    text = await pnl(ledger_dsn, "--strategy", "beta", "--recent", "1")
    lines = {line.split("  ")[0].strip(): line.split() for line in text.splitlines() if line.strip()}
    assert lines["PnL"][-1] == "10.00"
    assert lines["win rate"][-1] == "100.0%"
    assert "Open positions" in text and "Last 1 trades" in text
    assert "alpha" not in text


async def test_an_unknown_strategy_is_named_in_the_error(ledger_dsn: str) -> None:
    args = build_parser().parse_args(["pnl", "--strategy", "gamma"])
    with pytest.raises(PnlError, match=r"strategy: 'gamma' has no fills .*alpha, beta"):
        await asyncio.to_thread(run, args, {"DATABASE_URL": ledger_dsn}, io.StringIO(), NOW)


def test_the_url_comes_from_the_flag_the_env_or_the_stack_file(tmp_path: Path) -> None:
    assert (
        database_url("postgresql://flag", {"DATABASE_URL": "postgresql://env"}, tmp_path)
        == "postgresql://flag"
    )
    assert database_url(None, {"DATABASE_URL": "postgresql://env"}, tmp_path) == "postgresql://env"
    with pytest.raises(PnlError, match=r"stack\.json not found"):
        database_url(None, {}, tmp_path)
    (tmp_path / "stack.json").write_text(json.dumps({"processes": [{"name": "nats"}]}))
    with pytest.raises(PnlError, match="DATABASE_URL"):
        database_url(None, {}, tmp_path)


async def test_the_command_reads_the_stack_file_of_a_run(ledger_dsn: str, tmp_path: Path) -> None:
    """As a user runs it after `tradebus up`: a process, the URL from var/stack.json."""
    state = {"processes": [{"name": "postgres", "pid": 1, "postgres": ledger_dsn}]}
    (tmp_path / "stack.json").write_text(json.dumps(state))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TRADEBUS_DATABASE_URL")}
    env |= {"TRADEBUS_VAR_DIR": str(tmp_path), "PYTHONPATH": str(Path.cwd())}
    cmd = [sys.executable, "-m", "tradebus", "pnl", "--strategy", "alpha"]
    done = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pnl_line = next(line for line in done.stdout.splitlines() if line.startswith("PnL "))
    assert pnl_line.split()[-1] == "3.50"
    bad = await asyncio.to_thread(
        subprocess.run, [*cmd[:4], "--since-hours", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "--since-hours: must be > 0" in bad.stderr


def test_parser_knows_the_command() -> None:
    ns = build_parser().parse_args(["pnl", "--since-hours", "24", "--recent", "50", "--json"])
    assert isinstance(ns, argparse.Namespace)
    assert (ns.since_hours, ns.recent, ns.json, ns.strategy) == (24.0, 50, True, None)
