"""A user strategy in one file, outside the tradebus package.

Run it without touching any service, either by path:

    strategy: examples/my_strategy.py:EmaTrend

or, from your own installed package, as an entry point in its pyproject.toml:

    [project.entry-points."tradebus.strategies"]
    ema_trend = "my_package.my_strategy:EmaTrend"
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from proto import Bracket, Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import Atr, Ema


class EmaTrendParams(StrategyParams):
    """Every parameter is a typed field; unknown keys and bad values are rejected."""

    interval: str = "1m"
    size: Decimal = Field(default=Decimal("0.01"), gt=0)
    fast: int = Field(default=10, ge=1)
    slow: int = Field(default=30, ge=2)
    atr_period: int = Field(default=14, ge=1)
    #: stop-loss this many ATRs from the entry close; take-profit twice as far
    stop_atr: float = Field(default=1.5, gt=0)


class EmaTrend(Strategy[EmaTrendParams]):
    """Long while EMA(fast) is above EMA(slow), flat otherwise, with an ATR bracket."""

    name: ClassVar[str] = "ema_trend"
    Params: ClassVar[type[StrategyParams]] = EmaTrendParams

    def __init__(self, params: EmaTrendParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        self.fast = Ema(self.p.fast)
        self.slow = Ema(self.p.slow)
        self.atr = Atr(self.p.atr_period)

    @property
    def warmup(self) -> int:
        return max(self.p.slow, self.p.atr_period + 1)

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        self.fast.update(candle.close)
        self.slow.update(candle.close)
        self.atr.update(candle.high, candle.low, candle.close)
        if not (self.fast.ready and self.slow.ready and self.atr.ready):
            return ()
        want = self.p.size if self.fast.value > self.slow.value else Decimal(0)
        if want == ctx.position:
            return ()  # nothing to change
        if want == 0:
            return (Target(qty=Decimal(0), reason="fast ema below slow"),)
        stop = self.atr.value * self.p.stop_atr
        exits = Bracket(
            take_profit=Decimal(repr(candle.close + 2 * stop)).quantize(Decimal("1e-8")),
            stop_loss=Decimal(repr(candle.close - stop)).quantize(Decimal("1e-8")),
        )
        return (Target(qty=want, bracket=exits, reason="fast ema above slow"),)
