"""The signals host core: one strategy over many symbols, actions -> proto intents. Pure.

It keeps one strategy instance per symbol, the strategy's view of its positions (from
execution), the latest bid/ask, and the enabled/dry-run switches. A strategy's exception is
caught, counted and contained: the other symbols keep going.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog

from proto import Candle, Fill, IntentEnvelope, OrderStyle, Quotes, TargetPosition, Tick
from services.signals.api import Action, Context, QuotePair, Strategy, StrategyParams, Target

log = structlog.get_logger()


@dataclass
class HostStats:
    errors: int = 0
    intents: int = 0
    suppressed: int = 0


@dataclass
class StrategyHost:
    name: str
    cls: type[Strategy[Any]]
    params: StrategyParams
    venue: str
    symbols: Sequence[str]
    enabled: bool = True
    dry_run: bool = False
    stats: HostStats = field(default_factory=HostStats)

    def __post_init__(self) -> None:
        self.instances: dict[str, Strategy[Any]] = {s: self.cls(self.params, s) for s in self.symbols}
        self.contexts: dict[str, Context] = {s: Context(symbol=s, venue=self.venue) for s in self.symbols}
        self.warming = False
        self.stale: set[str] = set()

    # -- inputs -----------------------------------------------------------------------------

    def on_candle(self, c: Candle) -> list[IntentEnvelope]:
        strat = self.instances.get(c.symbol)
        if strat is None or not c.closed:
            return []
        ctx = self.contexts[c.symbol]
        ctx.now = max(ctx.now, c.ts_open)
        if ctx.last is None or self.warming:
            ctx.last = c.close
        return self._run(c.symbol, lambda: strat.on_candle(c, ctx), c.ts_open, "c")

    def on_tick(self, t: Tick) -> list[IntentEnvelope]:
        ctx = self.contexts.get(t.symbol)
        if ctx is None:
            return []
        ctx.bid, ctx.ask, ctx.last, ctx.now = t.bid, t.ask, t.last, max(ctx.now, t.ts_event)
        strat = self.instances[t.symbol]
        if not strat.wants_ticks:
            return []
        return self._run(t.symbol, lambda: strat.on_tick(t, ctx), t.ts_event, "t")

    def on_fill(self, f: Fill) -> list[IntentEnvelope]:
        strat = self.instances.get(f.symbol)
        if strat is None:
            return []
        ctx = self.contexts[f.symbol]
        return self._run(f.symbol, lambda: strat.on_fill(f, ctx), f.ts_event, "f")

    def on_position(self, symbol: str, qty: Decimal) -> None:
        if symbol in self.contexts:
            self.contexts[symbol].position = qty

    def warm_up(self, candles: Sequence[Candle]) -> None:
        """Feed history; whatever the strategy says while warming up is discarded."""
        self.warming = True
        try:
            for c in candles:
                self.on_candle(c)
        finally:
            self.warming = False

    def set_params(self, params: StrategyParams) -> None:
        self.params = params
        for strat in self.instances.values():
            strat.on_params(params)

    def withdraw(self) -> list[IntentEnvelope]:
        """On disable and shutdown: whatever each instance's `on_stop` returns (quotes withdrawn)."""
        out: list[IntentEnvelope] = []
        for symbol, strat in self.instances.items():
            ctx = self.contexts[symbol]
            out += self._run(symbol, lambda s=strat, c=ctx: s.on_stop(c), ctx.now, "w")
        return out

    # -- internals --------------------------------------------------------------------------

    def _run(self, symbol: str, call: Any, ts: int, tag: str) -> list[IntentEnvelope]:
        try:
            actions: Sequence[Action] = call()
        except Exception:
            self.stats.errors += 1
            log.exception("strategy raised", strategy=self.name, symbol=symbol)
            return []
        if self.warming or not actions:
            return []
        out: list[IntentEnvelope] = []
        for index, action in enumerate(actions):
            if not self._allowed(symbol, action):
                self.stats.suppressed += 1
                continue
            out.append(self._envelope(symbol, action, ts, f"{tag}{index}"))
        self.stats.intents += len(out)
        return out

    def set_stale(self, symbol: str, stale: bool) -> None:
        """Marketdata's flag: no data from the venue for this symbol lately."""
        if stale:
            self.stale.add(symbol)
        else:
            self.stale.discard(symbol)

    def _allowed(self, symbol: str, action: Action) -> bool:
        """A disabled strategy, or any strategy in a symbol whose feed is stale, may only reduce:
        exits pass, entries and quotes do not."""
        if self.enabled and symbol not in self.stale:
            return True
        if isinstance(action, QuotePair):
            return action.bid is None and action.ask is None
        pos = self.contexts[symbol].position
        return abs(action.qty) < abs(pos) and action.qty * pos >= 0

    def _envelope(self, symbol: str, action: Action, ts: int, tag: str) -> IntentEnvelope:
        # deterministic: the same data replayed after a restart gives the same id, which the
        # bus (Nats-Msg-Id) and execution (duplicate-intent check) then drop
        intent_id = f"{self.name}:{symbol}:{ts}:{tag}"
        if isinstance(action, Target):
            return IntentEnvelope(
                intent=TargetPosition(
                    intent_id=intent_id,
                    strategy=self.name,
                    venue=self.venue,
                    symbol=symbol,
                    qty=action.qty,
                    bracket=action.bracket,
                    style=action.style or OrderStyle(),
                    reason=action.reason,
                    dry_run=self.dry_run,
                    ts_event=ts,
                )
            )
        return IntentEnvelope(
            intent=Quotes(
                intent_id=intent_id,
                strategy=self.name,
                venue=self.venue,
                symbol=symbol,
                bid=action.bid,
                ask=action.ask,
                dry_run=self.dry_run,
                ts_event=ts,
            )
        )
