"""The portfolio service on real NATS and Postgres: fills from JetStream land in the ledger once,
in batches, and every figure on /metrics is the one worked out by hand below."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal as D

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from proto import Fill, Liquidity, Side, Tick
from proto.subjects import exec_fill, md_tick
from services.portfolio import service as portfolio_service
from tests.unit.observability.exposition import problems, samples, value
from tradebus.bus import Bus
from tradebus.service import Runtime, run_service
from tradebus.settings import CommonSettings
from tradebus.testing.servers import eventually, nats_server

T0 = 1_700_000_000_000_000_000


@dataclass
class Running:
    rt: Runtime
    bus: Bus  # the test's own connection, to publish
    dsn: str

    async def metrics(self) -> str:
        async with httpx.AsyncClient(timeout=5) as c:
            return (await c.get(f"http://127.0.0.1:{self.rt.metrics_port}/metrics")).text


@pytest.fixture(scope="module")
def own_nats() -> Iterator[str]:
    """A NATS of its own: the service reads every exec.fill.> ever published, no other test's."""
    with nats_server() as url:
        yield url


@pytest.fixture(scope="module")
async def portfolio(own_nats: str, db_dsn: str) -> AsyncIterator[Running]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRADEBUS_PORTFOLIO_STARTING_CASH", "1000")
        mp.setenv("TRADEBUS_PORTFOLIO_METRICS_EVERY_S", "0.05")
        mp.setenv("TRADEBUS_PORTFOLIO_SNAPSHOT_EVERY_S", "3600")
        common = CommonSettings.model_validate(
            {"TRADEBUS_NATS_URL": own_nats, "TRADEBUS_DATABASE_URL": db_dsn, "log_level": "WARNING"}
        )
        started: list[Runtime] = []

        async def main(rt: Runtime) -> None:
            await portfolio_service.run(rt)
            started.append(rt)

        stopping = asyncio.Event()
        task = asyncio.create_task(run_service("portfolio", main, common, stopping))
        # a service that dies while starting fails here with its own error (task.result())
        rt = (await eventually(lambda: started or (task.done() and task.result()), timeout=30))[0]
        bus = await Bus.connect(own_nats, service="test", registry=CollectorRegistry())
        try:
            yield Running(rt, bus, db_dsn)
        finally:
            await bus.close()
            stopping.set()
            await asyncio.wait_for(task, 15)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def fill(
    fill_id: str,
    strategy: str,
    symbol: str,
    side: Side,
    qty: str,
    price: str,
    fee: str,
    liq: Liquidity,
    ts: int,
) -> Fill:
    return Fill(
        fill_id=fill_id, strategy=strategy, venue="sim", symbol=symbol, side=side, qty=D(qty),
        price=D(price), fee=D(fee), liquidity=liq, ts_event=T0 + ts,
    )  # fmt: skip


B, S = Side.BUY, Side.SELL
TAKER, MAKER, INTERNAL = Liquidity.TAKER, Liquidity.MAKER, Liquidity.INTERNAL
SCRIPT = [
    fill("a1", "alpha", "BTC-USD", B, "2", "100", "0.2", TAKER, 1),
    fill("b1", "beta", "ETH-USD", B, "1", "50", "0.05", MAKER, 2),
    fill("a2", "alpha", "BTC-USD", S, "1", "110", "0.1", TAKER, 3),
    fill("a3", "alpha", "BTC-USD", S, "1", "95", "0.1", TAKER, 4),
    # a cross: alpha buys 0.5 ETH from beta at 55 without an exchange order
    fill("x1-buy", "alpha", "ETH-USD", B, "0.5", "55", "0", INTERNAL, 5),
    fill("x1-sell", "beta", "ETH-USD", S, "0.5", "55", "0", INTERNAL, 5),
]
# Worked out by hand, ETH marked at 60 by a tick:
#   alpha: BTC +10 (win, net 9.9) and -5 (loss); fees 0.4; 0.5 ETH from 55 -> unrealized 2.5
#   beta: 1 ETH from 50, fee 0.05; sells 0.5 at 55 -> realized 2.5 (win); 0.5 left -> unrealized 5
#   account (venue fills only, starting cash 1000): BTC round trips, 1 ETH at 50
EXPECTED = {
    "alpha": {
        "cash_usd": -22.9, "realized_pnl_usd": 5, "unrealized_pnl_usd": 2.5, "fees_usd": 0.4,
        "pnl_usd": 7.1, "total_value_usd": 7.1, "exposure_usd": 30, "turnover_usd": 432.5,
        "trades_total": 2, "wins_total": 1, "losses_total": 1, "win_ratio": 0.5,
    },
    "beta": {
        "cash_usd": -22.55, "realized_pnl_usd": 2.5, "unrealized_pnl_usd": 5, "fees_usd": 0.05,
        "pnl_usd": 7.45, "total_value_usd": 7.45, "exposure_usd": 30, "turnover_usd": 77.5,
        "trades_total": 1, "wins_total": 1, "losses_total": 0, "win_ratio": 1,
    },
    "net": {
        "cash_usd": 954.55, "realized_pnl_usd": 5, "unrealized_pnl_usd": 10, "fees_usd": 0.45,
        "pnl_usd": 14.55, "total_value_usd": 1014.55, "exposure_usd": 60, "turnover_usd": 455,
        "trades_total": 2, "wins_total": 1, "losses_total": 1, "win_ratio": 0.5,
    },
}  # fmt: skip


async def publish_script(p: Running) -> None:
    for f in SCRIPT:
        await p.bus.publish_durable(exec_fill(f.strategy), f, f.fill_id)


async def figures_when_marked(p: Running) -> str:
    tick = Tick(venue="sim", symbol="ETH-USD", bid=59.5, ask=60.5, last=60.0, ts_event=T0 + 100)

    async def probe() -> str | None:
        await p.bus.publish(md_tick("sim", "ETH-USD"), tick)  # ticks are lossy: say it until heard
        text = await p.metrics()
        return text if value(text, "tradebus_strategy_unrealized_pnl_usd", strategy="net") == 10 else None

    return await eventually(probe, timeout=15, interval=0.05, what="figures after the mark")


async def test_every_figure_on_metrics_is_the_hand_worked_one(portfolio: Running) -> None:
    await publish_script(portfolio)
    text = await figures_when_marked(portfolio)
    for strategy, figures in EXPECTED.items():
        for suffix, want in figures.items():
            got = value(text, f"tradebus_strategy_{suffix}", strategy=strategy)
            assert got == pytest.approx(want, abs=1e-9), f"{strategy} {suffix}: {got} != {want}"
    positions = {
        (dict(labels)["strategy"], dict(labels)["symbol"]): v
        for (name, labels), v in samples(text).items()
        if name == "tradebus_strategy_position"
    }
    assert positions == {
        ("alpha", "BTC-USD"): 0, ("alpha", "ETH-USD"): 0.5, ("beta", "ETH-USD"): 0.5,
        ("net", "BTC-USD"): 0, ("net", "ETH-USD"): 1,
    }  # fmt: skip
    assert value(text, "tradebus_strategy_avg_price_usd", strategy="alpha", symbol="ETH-USD") == 55
    assert value(text, "tradebus_portfolio_last_price_usd", symbol="ETH-USD") == 60
    assert value(text, "tradebus_portfolio_last_price_usd", symbol="BTC-USD") == 95
    # one series per book: the strategies' PnL adds up to the account's
    pnl = [value(text, "tradebus_strategy_pnl_usd", strategy=s) or 0.0 for s in ("alpha", "beta")]
    assert sum(pnl) == pytest.approx(value(text, "tradebus_strategy_pnl_usd", strategy="net"))
    stored = value(text, "tradebus_portfolio_fills_total", strategy="alpha", liquidity="taker")
    assert stored == 3
    assert problems(text) == []


async def test_a_redelivered_fill_changes_nothing(portfolio: Running) -> None:
    await publish_script(portfolio)  # no-op on the stream (same ids): make sure it is all in
    await figures_when_marked(portfolio)
    before = await portfolio.metrics()
    dup_before = value(before, "tradebus_portfolio_duplicate_fills_total") or 0
    # the same fill again past the stream's dedupe (another msg id): the ledger must see it once
    again = SCRIPT[2]
    assert await portfolio.bus.publish_durable(exec_fill("alpha"), again, "redelivered-a2")

    async def counted() -> str | None:
        text = await portfolio.metrics()
        return text if value(text, "tradebus_portfolio_duplicate_fills_total") == dup_before + 1 else None

    after = await eventually(counted, timeout=10, what="the duplicate counted")
    for name in (
        "tradebus_strategy_realized_pnl_usd",
        "tradebus_strategy_trades_total",
        "tradebus_strategy_cash_usd",
    ):
        assert value(after, name, strategy="alpha") == value(before, name, strategy="alpha")
    conn = await asyncpg.connect(portfolio.dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM fills WHERE fill_id = 'a2'") == 1
    finally:
        await conn.close()


async def test_a_burst_is_stored_in_batches_exactly_once(portfolio: Running) -> None:
    n = 400
    burst = [
        fill(
            f"g{i}", "gamma", "SOL-USD", B if i % 2 == 0 else S, "1", str(20 + i % 5), "0.01", TAKER, 1000 + i
        )
        for i in range(n)
    ]
    for f in burst:  # in order (the figures depend on it), as fast as JetStream acks
        await portfolio.bus.publish_durable(exec_fill("gamma"), f, f.fill_id)

    async def all_in() -> str | None:
        text = await portfolio.metrics()
        return (
            text
            if value(text, "tradebus_portfolio_fills_total", strategy="gamma", liquidity="taker") == n
            else None
        )

    text = await eventually(all_in, timeout=20, what=f"{n} gamma fills")
    conn = await asyncpg.connect(portfolio.dsn)
    try:
        rows = await conn.fetchval("SELECT count(*) FROM fills WHERE strategy = 'gamma'")
    finally:
        await conn.close()
    assert rows == n
    # fewer handler calls than messages: some calls carried many fills
    calls = value(text, "tradebus_bus_batch_messages_count", kind="exec.fill") or 0
    carried = value(text, "tradebus_bus_batch_messages_sum", kind="exec.fill") or 0
    assert carried >= n
    assert calls < carried
    # every gamma pair buys at 20+i%5 and sells at 20+(i+1)%5: count the closing trades by hand
    wins = sum(1 for i in range(1, n, 2) if (20 + i % 5) - (20 + (i - 1) % 5) - 0.01 > 0)
    text = await eventually(
        lambda: _when(portfolio, "tradebus_strategy_trades_total", "gamma", n / 2), what="gamma trades"
    )
    assert value(text, "tradebus_strategy_wins_total", strategy="gamma") == wins


async def _when(p: Running, name: str, strategy: str, want: float) -> str | None:
    text = await p.metrics()
    return text if value(text, name, strategy=strategy) == want else None


async def test_the_lag_gauge_exists_from_the_start_and_drains_to_zero(portfolio: Running) -> None:
    text = await eventually(lambda: _lag_zero(portfolio), timeout=10, what="portfolio-fills lag back at 0")
    assert value(text, "tradebus_jetstream_consumer_pending", consumer="portfolio-orders") is not None


async def _lag_zero(p: Running) -> str | None:
    text = await p.metrics()
    return (
        text if value(text, "tradebus_jetstream_consumer_pending", consumer="portfolio-fills") == 0 else None
    )
