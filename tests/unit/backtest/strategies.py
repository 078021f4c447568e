"""Small strategies for backtest tests (loaded by spec `tests.unit.backtest.strategies:Name`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from proto import Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import Sma


class TrendParams(StrategyParams):
    size: Decimal = Decimal("0.1")
    #: 1 follows the last bar's direction, -1 fades it
    direction: int = 1


class Trend(Strategy[TrendParams]):
    """Long after an up bar, short after a down bar (or the opposite with direction=-1)."""

    name: ClassVar[str] = "trend"
    Params: ClassVar[type[StrategyParams]] = TrendParams

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        p: TrendParams = self.p  # type: ignore[assignment]
        up = 1 if candle.close >= candle.open else -1
        want = p.size * up * p.direction
        return (Target(qty=want),) if want != ctx.position else ()


class SmaCrossParams(StrategyParams):
    interval: str = "1d"
    size: Decimal = Decimal(1)
    fast: int = 10
    slow: int = 20


class SmaCross(Strategy[SmaCrossParams]):
    """Always in the market: long when SMA(fast) crosses above SMA(slow), short on the cross below."""

    name: ClassVar[str] = "sma_cross"
    Params: ClassVar[type[StrategyParams]] = SmaCrossParams

    def __init__(self, params: SmaCrossParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.fast, self.slow = Sma(params.fast), Sma(params.slow)
        self.prev: float | None = None

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        p: SmaCrossParams = self.p  # type: ignore[assignment]
        f, s = self.fast.update(candle.close), self.slow.update(candle.close)
        if not (self.fast.ready and self.slow.ready):
            return ()
        diff, prev = f - s, self.prev
        self.prev = diff
        if prev is None:
            return ()
        if prev < 0 < diff:
            return (Target(qty=p.size, reason="fast crossed above slow"),)
        if prev > 0 > diff:
            return (Target(qty=-p.size, reason="fast crossed below slow"),)
        return ()
