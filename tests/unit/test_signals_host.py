"""The signals host core: intents from actions, disabled strategies only reduce, errors contained."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from proto import Candle, Quote, Quotes, TargetPosition, Tick
from services.signals.api import Action, Context, QuotePair, Strategy, StrategyParams, Target
from services.signals.core import StrategyHost

SEC = 1_000_000_000


class FollowParams(StrategyParams):
    size: Decimal = Decimal("2")
    explode_on: float = -1.0


class Follow(Strategy[FollowParams]):
    """Long above 100, short below, flat at 100; raises on a chosen price."""

    name: ClassVar[str] = "follow"
    Params: ClassVar[type[StrategyParams]] = FollowParams

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        p: FollowParams = self.p  # type: ignore[assignment]
        if candle.close == p.explode_on:
            raise ZeroDivisionError("strategy bug")
        if candle.close > 100:
            return (Target(qty=p.size, reason="up"),)
        if candle.close < 100:
            return (Target(qty=-p.size, reason="down"),)
        return (Target(qty=Decimal(0), reason="flat"),)


class Quoter(Strategy[StrategyParams]):
    name: ClassVar[str] = "quoter"
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    wants_ticks: ClassVar[bool] = True

    def on_tick(self, tick: Tick, ctx: Context) -> Sequence[Action]:
        return (
            QuotePair(
                Quote(price=Decimal("99"), qty=Decimal(1)), Quote(price=Decimal("101"), qty=Decimal(1))
            ),
        )

    def on_stop(self, ctx: Context) -> Sequence[Action]:
        return (QuotePair(None, None),)


def candle(symbol: str, i: int, close: float, closed: bool = True) -> Candle:
    return Candle(
        venue="sim", symbol=symbol, interval="1m", ts_open=i * 60 * SEC,
        open=close, high=close, low=close, close=close, closed=closed,
    )  # fmt: skip


def host(**kw: object) -> StrategyHost:
    return StrategyHost("f1", Follow, FollowParams(**kw), "sim", ["BTC-USD", "ETH-USD"])  # type: ignore[arg-type]


def targets(envs: list) -> list[tuple[str, Decimal, str]]:  # type: ignore[type-arg]
    out = []
    for e in envs:
        assert isinstance(e.intent, TargetPosition)
        out.append((e.intent.symbol, e.intent.qty, e.intent.reason))
    return out


def test_actions_become_target_intents_with_deterministic_ids() -> None:
    h = host()
    envs = h.on_candle(candle("BTC-USD", 1, 105))
    assert targets(envs) == [("BTC-USD", Decimal("2"), "up")]
    intent = envs[0].intent
    assert intent.strategy == "f1" and intent.venue == "sim" and intent.ts_event == 60 * SEC
    again = host().on_candle(candle("BTC-USD", 1, 105))
    assert again[0].intent.intent_id == intent.intent_id  # a replay after restart dedupes


def test_partial_candles_and_unknown_symbols_are_ignored() -> None:
    h = host()
    assert h.on_candle(candle("BTC-USD", 1, 105, closed=False)) == []
    assert h.on_candle(candle("DOGE-USD", 1, 105)) == []


def test_warm_up_discards_intents_but_keeps_state() -> None:
    h = host()
    h.warm_up([candle("BTC-USD", i, 90) for i in range(5)])
    assert h.stats.intents == 0
    assert targets(h.on_candle(candle("BTC-USD", 6, 90))) == [("BTC-USD", Decimal("-2"), "down")]


def test_disabled_strategy_only_reduces() -> None:
    h = host()
    h.enabled = False
    assert h.on_candle(candle("BTC-USD", 1, 105)) == []  # entry from flat: suppressed
    h.on_position("BTC-USD", Decimal("2"))
    assert h.on_candle(candle("BTC-USD", 2, 95)) == []  # flip long -> short: suppressed
    assert targets(h.on_candle(candle("BTC-USD", 3, 100))) == [("BTC-USD", Decimal("0"), "flat")]
    assert h.stats.suppressed == 2


def test_a_strategy_exception_is_contained_per_symbol() -> None:
    h = host(explode_on=50.0)
    assert h.on_candle(candle("BTC-USD", 1, 50)) == []
    assert h.stats.errors == 1
    assert targets(h.on_candle(candle("ETH-USD", 1, 105))) == [("ETH-USD", Decimal("2"), "up")]
    assert targets(h.on_candle(candle("BTC-USD", 2, 105))) == [("BTC-USD", Decimal("2"), "up")]


def test_params_change_applies_live() -> None:
    h = host()
    h.set_params(FollowParams(size=Decimal("5")))
    assert targets(h.on_candle(candle("BTC-USD", 1, 105))) == [("BTC-USD", Decimal("5"), "up")]


def test_quotes_and_their_withdrawal() -> None:
    h = StrategyHost("mm", Quoter, StrategyParams(), "sim", ["BTC-USD"])
    t = Tick(venue="sim", symbol="BTC-USD", bid=99.5, ask=100.5, last=100, ts_event=7)
    envs = h.on_tick(t)
    assert isinstance(envs[0].intent, Quotes) and envs[0].intent.bid is not None
    assert h.contexts["BTC-USD"].bid == 99.5
    h.enabled = False
    assert h.on_tick(t) == []
    withdrawn = h.withdraw()
    assert len(withdrawn) == 1
    q = withdrawn[0].intent
    assert isinstance(q, Quotes) and q.bid is None and q.ask is None


def test_a_stale_feed_pauses_entries_in_its_symbol_only() -> None:
    h = host()
    h.set_stale("BTC-USD", True)
    assert h.on_candle(candle("BTC-USD", 1, 105)) == []  # entry in the stale symbol: paused
    assert targets(h.on_candle(candle("ETH-USD", 1, 105))) == [("ETH-USD", Decimal("2"), "up")]
    h.on_position("BTC-USD", Decimal("2"))
    assert targets(h.on_candle(candle("BTC-USD", 2, 100))) == [("BTC-USD", Decimal("0"), "flat")]  # exit
    h.set_stale("BTC-USD", False)
    assert targets(h.on_candle(candle("BTC-USD", 3, 105))) == [("BTC-USD", Decimal("2"), "up")]
