"""The sim exchange's matching engine, with its price taken from history instead of its own path.

`ReplayEngine` is `tradebus.venues.sim.engine.SimEngine` (same order validation, synthetic book,
taker walk, resting-order fills, fees, accounts); only the source of the mid differs: `move()`
sets it to a price of the intrabar path. Costs are the engine's own models:

- spread: the quote is mid -/+ `spread_bps`/2, rounded outwards to the price increment (at
  least one increment wide); buys pay the ask, sells get the bid;
- slippage: a market order walks the synthetic book, `level_bps` apart, the top level worth
  `depth_notional` (level k holds k + 1 times as much); what one step took is gone for that step;
- fees: `maker_fee` / `taker_fee` as fractions of notional.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from tradebus.venues.base import Instrument
from tradebus.venues.sim.accounts import ZERO
from tradebus.venues.sim.config import EngineConfig, SymbolSpec, symbol_spec
from tradebus.venues.sim.engine import Events, SimEngine

ACCOUNT = "backtest"


@dataclass(frozen=True)
class CostModel:
    """Fees, spread, depth and latency of the simulated venue (see the module doc)."""

    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    spread_bps: float = 1.0
    level_bps: float = 1.0
    depth_notional: float = 1_000_000.0
    #: an order reaches the venue this long after the decision (0: at the same path point)
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        for name in ("spread_bps", "level_bps", "latency_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"costs.{name} must be >= 0, got {getattr(self, name)}")
        if self.depth_notional <= 0:
            raise ValueError(f"costs.depth_notional must be > 0, got {self.depth_notional}")
        for name in ("maker_fee", "taker_fee"):
            if not Decimal(-1) < getattr(self, name) < Decimal(1):
                raise ValueError(f"costs.{name} must be a fraction of notional, got {getattr(self, name)}")


def venue_spec(
    symbol: str,
    start_price: float,
    costs: CostModel,
    price_increment: Decimal | None = None,
    size_increment: Decimal | None = None,
    min_size: Decimal | None = None,
) -> SymbolSpec:
    """The sim's spec of `symbol` (known or generic) with the backtest's costs and increments."""
    spec = symbol_spec(symbol, start_price)
    inst: Instrument = spec.instrument
    inst = replace(
        inst,
        price_increment=price_increment or inst.price_increment,
        size_increment=size_increment or inst.size_increment,
        min_size=min_size if min_size is not None else inst.min_size,
    )
    return replace(
        spec,
        instrument=inst,
        spread_bps=costs.spread_bps,
        level_bps=costs.level_bps,
        level_notional=costs.depth_notional,
    )


class ReplayEngine(SimEngine):
    """SimEngine whose mids come from `move(symbol, price, ts)`; `advance` only moves the clock."""

    def __init__(self, specs: tuple[SymbolSpec, ...], costs: CostModel, cash: Decimal, start_ns: int) -> None:
        config = EngineConfig(
            symbols=specs,
            history_s=0,
            maker_fee=costs.maker_fee,
            taker_fee=costs.taker_fee,
            starting_cash=cash,
            accounts=(ACCOUNT,),
        )
        super().__init__(config, start_ns)

    def advance(self, now_ns: int) -> Events:
        self.now_ns = max(self.now_ns, now_ns)
        return Events()

    def move(self, symbol: str, price: float, ts: int) -> Events:
        """The market of `symbol` is at `price` at `ts`: requote, refill the book, fill resting
        orders the new quote reaches (the same rule as a step of the sim's own path)."""
        events = Events()
        self.now_ns = max(self.now_ns, ts)
        m = self._markets[symbol]
        m.set_mid(price)
        m.last = price
        if m.consumed_bid or m.consumed_ask:
            m.consumed_bid = m.consumed_ask = ZERO
        if m.ask_t <= m.best_buy_t or m.bid_t >= m.best_sell_t:
            self._fill_resting(m, self.now_ns, events)
        return events

    def bid_ask(self, symbol: str) -> tuple[float, float]:
        m = self._markets[symbol]
        return m.bid_t * m.inc_f, m.ask_t * m.inc_f

    def has_resting(self) -> bool:
        return any(m.resting for m in self._markets.values())
