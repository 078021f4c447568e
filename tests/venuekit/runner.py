"""Run a real strategy, unchanged, over a venue adapter: candles from the feed, its targets traded
as market orders for the difference on the venue's trading client (a stand-in for execution)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from proto import Side
from services.signals.core import StrategyHost
from services.signals.strategies.sma_cross_scalp import SmaCrossScalp, SmaCrossScalpParams
from tradebus.venues.base import MarketFeed, OrderRequest, TradingClient, VenueOrder


@dataclass
class Run:
    targets: list[Decimal] = field(default_factory=list)
    orders: list[VenueOrder] = field(default_factory=list)
    position: Decimal = Decimal(0)


async def run_sma_scalp(feed: MarketFeed, client: TradingClient, symbol: str, candles: int) -> Run:
    inst = {i.symbol: i for i in await feed.instruments()}[symbol]
    params = SmaCrossScalpParams(sma_period=3, lot_usd=Decimal(500), whole_units=False)
    host = StrategyHost(name="scalp", cls=SmaCrossScalp, params=params, venue=feed.venue, symbols=[symbol])
    run = Run()
    for candle in await feed.candles(symbol, "1m", limit=candles):
        for env in host.on_candle(candle):
            target = getattr(env.intent, "qty", None)
            if target is None:
                continue
            run.targets.append(target)
            held = (await client.balance()).positions.get(symbol, Decimal(0))
            delta = (target - held).quantize(inst.size_increment, rounding=ROUND_DOWN)
            if abs(delta) >= inst.min_size:
                side = Side.BUY if delta > 0 else Side.SELL
                cid = f"scalp-{len(run.orders)}"
                run.orders.append(await client.submit(OrderRequest(cid, symbol, side, abs(delta))))
            run.position = (await client.balance()).positions.get(symbol, Decimal(0))
            host.on_position(symbol, run.position)
    return run


def assert_traded(run: Run, size_increment: Decimal) -> None:
    """The strategy entered and left at least once and the venue position follows its targets."""
    assert any(t > 0 for t in run.targets) and any(t == 0 for t in run.targets), run.targets
    assert {o.side for o in run.orders} == {Side.BUY, Side.SELL}
    assert all(o.status.value == "filled" for o in run.orders), [o.status for o in run.orders]
    assert abs(run.position - run.targets[-1]) < max(size_increment, Decimal("1e-9")) * 2


def sides(orders: Sequence[VenueOrder]) -> list[str]:
    return [o.side.value for o in orders]
