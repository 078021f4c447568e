"""Parity: the backtest gives the intents and trades of the live pipeline driven message by message.

The reference below is written independently of the backtest loop, the way the live shells work:
every message crosses a (simulated) bus as JSON bytes; the execution side gets *every* tick of
the path; its `act` is a copy of `services/execution/service.py: Execution.act` with the venue
replaced by the sim engine; the signals side is a plain `StrategyHost` fed candles, ticks, fills
and positions. The backtest must produce the same intents and the same fills.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proto import Candle, Fill, IntentEnvelope, PositionUpdate, Tick
from services.backtest.config import BacktestConfig, StrategySpec
from services.backtest.data import Bars, synthetic
from services.backtest.runner import Backtest
from services.backtest.venue import ACCOUNT, ReplayEngine, venue_spec
from services.execution.core import Decision, NettingBook
from services.signals.core import StrategyHost
from tradebus.bus import decode

TREND = "tests.unit.backtest.strategies:Trend"


def wire(msg: Any) -> Any:
    """Through the bus: to JSON bytes and back."""
    return decode(type(msg), msg.to_bytes())


def reference(cfg: BacktestConfig, bars: Bars) -> tuple[list[IntentEnvelope], list[Fill]]:
    spec = venue_spec(bars.symbol, float(bars.open[0]), cfg.costs)
    engine = ReplayEngine((spec,), cfg.costs, cfg.cash, int(bars.ts[0]))
    book = NettingBook(cfg.venue, cfg.limits, account="bt", instruments={bars.symbol: spec.instrument})
    hosts = []
    for s in cfg.strategies:
        cls, params, name = s.load()
        hosts.append(StrategyHost(name, cls, params, cfg.venue, [bars.symbol]))
    intents: list[IntentEnvelope] = []
    fills: list[Fill] = []
    inbox: deque[Any] = deque()  # messages in flight, in publication order
    now = 0

    def act(first: Decision) -> None:  # Execution.act, venue = engine
        queue = deque([first])
        while queue:
            d = queue.popleft()
            for f in d.fills:
                inbox.append(("fill", wire(f)))
            for p in d.positions:
                inbox.append(("position", wire(p)))
            for cid in d.cancel:
                vo, ev = engine.cancel(ACCOUNT, cid)
                queue.append(book.on_order_update(vo, now))
                inbox.extend(("venue", e) for _, e in ev)
            for new in d.submit:
                queue.append(book.mark_submitted(new.request.client_order_id, now))
                vo, ev = engine.submit(ACCOUNT, new.request)
                queue.append(book.on_order_update(vo, now))
                inbox.extend(("venue", e) for _, e in ev)

    def deliver() -> None:
        while inbox:
            kind, msg = inbox.popleft()
            if kind == "intent":
                intents.append(msg)
                act(book.on_intent(msg.intent, None, now))
            elif kind == "venue":
                act(
                    book.on_venue_fill(msg, now)
                    if hasattr(msg, "venue_fill_id")
                    else book.on_order_update(msg, now)
                )
            elif kind == "fill":
                fills.append(msg)
                for h in hosts:
                    if h.name == msg.strategy:
                        inbox.extend(("intent", wire(e)) for e in h.on_fill(decode(Fill, msg.to_bytes())))
            else:
                for h in hosts:
                    if h.name == msg.strategy:
                        h.on_position(msg.symbol, decode(PositionUpdate, msg.to_bytes()).qty)

    def tick(price: float, ts: int, to_hosts: bool) -> None:
        nonlocal now
        now = ts
        inbox.extend(("venue", e) for _, e in engine.move(bars.symbol, price, ts).account)
        deliver()
        bid, ask = engine.bid_ask(bars.symbol)
        t = wire(
            Tick(venue=cfg.venue, symbol=bars.symbol, bid=bid, ask=ask, last=(bid + ask) / 2, ts_event=ts)
        )
        act(book.on_tick(t.symbol, t.bid, t.ask, ts))
        deliver()
        if to_hosts:
            for h in hosts:
                inbox.extend(("intent", wire(e)) for e in h.on_tick(t))
            deliver()

    prev: Candle | None = None
    iv = bars.interval_ns
    for i in range(len(bars)):
        t0 = int(bars.ts[i])
        o, h, lo, c = (float(x[i]) for x in (bars.open, bars.high, bars.low, bars.close))
        tick(o, t0, False)
        if prev is not None:
            for host in hosts:
                inbox.extend(("intent", wire(e)) for e in host.on_candle(wire(prev)))
            deliver()
        mids = (lo, h) if (cfg.intrabar == "olhc" or (cfg.intrabar == "auto" and c >= o)) else (h, lo)
        tick(mids[0], t0 + iv // 3, False)
        tick(mids[1], t0 + 2 * iv // 3, False)
        tick(c, t0 + iv - 1, True)
        prev = Candle(venue=cfg.venue, symbol=bars.symbol, interval=bars.interval, ts_open=t0, open=o, high=h,
                      low=lo, close=c, volume=float(bars.volume[i]))  # fmt: skip
    for host in hosts:  # the last candle closes after the data: its intents reach no market
        intents.extend(wire(e) for e in host.on_candle(wire(prev)))
    return intents, fills


def strip(fills: list[Fill]) -> list[tuple[Any, ...]]:
    return [(f.fill_id, f.strategy, f.side, f.qty, f.price, f.fee, f.liquidity, f.ts_event) for f in fills]


def check(cfg: BacktestConfig, bars: Bars) -> int:
    res = Backtest(cfg, [bars]).run()
    ref_intents, ref_fills = reference(cfg, bars)
    assert [e.intent for e in res.intents] == [e.intent for e in ref_intents]
    assert strip(res.fills) == strip(ref_fills)
    return len(ref_fills)


def test_bb_rsi_scalper_matches_the_live_wiring() -> None:
    cfg = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.1"}),))
    assert check(cfg, synthetic(1500, seed=3)) > 20


def test_two_strategies_on_one_account_net_as_live() -> None:
    cfg = BacktestConfig(
        strategies=(
            StrategySpec("bb_rsi_scalper", {"size": "0.1"}),
            StrategySpec(TREND, {"size": "0.3"}, name="follow"),
            StrategySpec(TREND, {"size": "0.2", "direction": -1}, name="fade"),
        )
    )
    bars = synthetic(1200, seed=5)
    assert check(cfg, bars) > 20
    res = Backtest(cfg, [bars]).run()
    assert {f.strategy for f in res.fills} == {"bb_rsi_scalper", "follow", "fade"}
    # one account: the strategies' positions add up to the venue's
    by_strategy = sum((f.signed_qty for f in res.fills), Decimal(0))
    venue = sum((f.qty * f.side.sign for f in res.venue_fills), Decimal(0))
    assert by_strategy == venue


@pytest.mark.parametrize("intrabar", ["ohlc", "olhc"])
def test_path_order_and_latency_settings_keep_parity(intrabar: str) -> None:
    from services.backtest.venue import CostModel

    cfg = BacktestConfig(
        strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.2"}),),
        intrabar=intrabar,  # type: ignore[arg-type]
        costs=CostModel(spread_bps=5.0, depth_notional=5_000.0, taker_fee=Decimal("0.001")),
    )
    check(cfg, synthetic(800, seed=11, vol=0.002))


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000), vol=st.sampled_from([0.0005, 0.002, 0.01]))
def test_parity_on_random_walks(seed: int, vol: float) -> None:
    cfg = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.05"}),))
    check(cfg, synthetic(400, seed=seed, vol=vol))
