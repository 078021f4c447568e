"""A test strategy that trades often: every `every` closed candles it flips its target between
+size and -size (starting at `phase`). Two of these with different sizes and periods keep
execution busy with crossing and netting."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from proto import Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target


class FlipParams(StrategyParams):
    interval: str = "1s"
    size: Decimal = Field(default=Decimal("0.01"), gt=0)
    every: int = Field(default=3, ge=1)
    phase: int = Field(default=0, ge=0)


class Flip(Strategy[FlipParams]):
    name: ClassVar[str] = "flip"
    Params: ClassVar[type[StrategyParams]] = FlipParams

    def __init__(self, params: FlipParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        self.count = self.p.phase

    @property
    def warmup(self) -> int:
        return 1

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if not candle.closed:
            return ()
        self.count += 1
        if self.count % self.p.every:
            return ()
        up = (self.count // self.p.every) % 2 == 0
        return (Target(qty=self.p.size if up else -self.p.size, reason="flip"),)
