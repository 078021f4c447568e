"""A test strategy that trades at once and often: long `size` on every other closed candle, flat
in between. Loaded by path (`tests/e2e/flip_strategy.py:Flip`) by the dashboard's browser test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from proto import Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target


class FlipParams(StrategyParams):
    pass


class Flip(Strategy[FlipParams]):
    name: ClassVar[str] = "flip"
    Params: ClassVar[type[StrategyParams]] = FlipParams

    def __init__(self, params: FlipParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.count = 0

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        self.count += 1
        return (Target(qty=self.p.size if self.count % 2 else self.p.size * 0, reason="flip"),)
