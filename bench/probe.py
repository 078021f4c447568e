"""The latency-probe strategy: reacts to every tick with an intent that becomes a venue order.

The bench venue numbers the ticks of each symbol in `last_qty` (1, 2, 3, ...); the probe wants a
position of that many units, so each tick raises the target by one and execution sends one order
per tick. The venue reads from the running sum of order quantities which tick an order answers.
Loaded by file path (`bench/probe.py:LatencyProbe`); it is not a builtin strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from proto import Tick
from services.signals.api import Action, Context, Strategy, StrategyParams, Target


class LatencyProbeParams(StrategyParams):
    pass


class LatencyProbe(Strategy[LatencyProbeParams]):
    name: ClassVar[str] = "latency_probe"
    Params: ClassVar[type[StrategyParams]] = LatencyProbeParams
    wants_ticks: ClassVar[bool] = True

    def on_tick(self, tick: Tick, ctx: Context) -> Sequence[Action]:
        seq = int(tick.last_qty)
        if seq <= 0:
            return ()
        return (Target(qty=Decimal(seq), reason="probe"),)
