"""Renko + Awesome Oscillator divergence (seed 004): fade divergences between price and AO.

Candle closes (with highs/lows for the ATR) build ATR-sized Renko bricks; the Awesome
Oscillator (5, 34) and Bollinger Bands (20, 2) run on the bricks. On each new brick:

* bullish divergence: the brick's low is below the lowest low of the previous `lookback`
  bricks while AO is above the AO of that lowest brick -> long;
* bearish divergence: the brick's high above the previous highest high while AO is below the
  AO there -> short.

Strength = |AO now - AO then| / (|AO now| + |AO then|), in [0, 1]; within
`bb_enhancement_threshold` (a fraction of the band width) of the matching Bollinger edge, or
beyond it, it is multiplied by
(1 + `bb_enhancement_boost`), capped at 1. Trades need strength >= `min_divergence_strength`.
Exits: bracket TP 10 bps, SL 5 bps, time stop 5 minutes; and AO reversal (a long exits after AO
falls on `ao_reversal_bricks` bricks in a row, a short after it rises as often).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from proto import Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import AwesomeOscillator, BollingerBands, Renko
from services.signals.strategies.pricing import bracket, sign

_BPS = 1e-4


class RenkoAoDivergenceParams(StrategyParams):
    interval: str = "15s"
    size: Decimal = Field(default=Decimal("0.001"), gt=0)
    #: fixed brick size (price units); None: ATR-sized bricks as the seed does
    renko_brick_size: float | None = Field(default=None, gt=0)
    renko_atr_period: int = Field(default=14, ge=1)
    renko_atr_multiplier: float = Field(default=1.0, gt=0)
    #: brick size as a fraction of price until the ATR is ready (0.1%)
    renko_fallback_pct: float = Field(default=0.001, gt=0)
    renko_lookback: int = Field(default=20, ge=2)
    ao_fast_period: int = Field(default=5, ge=1)
    ao_slow_period: int = Field(default=34, ge=2)
    min_divergence_strength: float = Field(default=0.3, ge=0, le=1)
    bb_period: int = Field(default=20, ge=2)
    bb_dev: float = Field(default=2.0, gt=0)
    bb_enhancement_threshold: float = Field(default=0.2, ge=0, le=0.5)
    bb_enhancement_boost: float = Field(default=0.5, ge=0)
    ao_reversal_bricks: int = Field(default=2, ge=1)
    take_profit_bps: float = Field(default=10.0, gt=0)
    stop_loss_bps: float = Field(default=5.0, gt=0)
    time_stop_s: float = Field(default=300.0, gt=0)


class RenkoAoDivergence(Strategy[RenkoAoDivergenceParams]):
    name: ClassVar[str] = "renko_ao_divergence"
    Params: ClassVar[type[StrategyParams]] = RenkoAoDivergenceParams

    def __init__(self, params: RenkoAoDivergenceParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        p = self.p
        self.renko = Renko(
            p.renko_brick_size,
            atr_period=p.renko_atr_period,
            atr_multiplier=p.renko_atr_multiplier,
            fallback_pct=p.renko_fallback_pct,
            max_bricks=p.renko_lookback + 1,
        )
        self.ao = AwesomeOscillator(p.ao_fast_period, p.ao_slow_period)
        self.bb = BollingerBands(p.bb_period, p.bb_dev)
        #: (low, high, ao) of the last lookback + 1 bricks with a ready AO
        self.history: deque[tuple[float, float, float]] = deque(maxlen=p.renko_lookback + 1)
        self.ao_run = 0  # > 0: AO rose on this many bricks in a row; < 0: fell
        self.last_strength = 0.0

    def strength(self, ao_now: float, ao_then: float, edge_distance: float) -> float:
        """Divergence strength in [0, 1], boosted within the threshold of a Bollinger edge."""
        total = abs(ao_now) + abs(ao_then)
        s = abs(ao_now - ao_then) / total if total > 0 else 0.0
        if edge_distance <= self.p.bb_enhancement_threshold:  # near or beyond the edge
            s *= 1.0 + self.p.bb_enhancement_boost
        return min(1.0, s)

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if not candle.closed:
            return ()
        formed = self.renko.update(candle.close, candle.high, candle.low)
        if not formed:
            return ()
        actions: Sequence[Action] = ()
        bricks = list(self.renko.bricks)[-formed:]
        for brick in bricks:
            self.bb.update(brick.close)
            prev_ao = self.ao.value if self.ao.ready else None
            ao = self.ao.update(brick.high, brick.low)
            if not self.ao.ready:
                continue
            if prev_ao is not None and ao != prev_ao:
                up = ao > prev_ao
                self.ao_run = max(self.ao_run, 0) + 1 if up else min(self.ao_run, 0) - 1
            self.history.append((brick.low, brick.high, ao))
            if not actions:  # one decision per candle, on the first brick that has one
                actions = self._decide(brick.close, ao, ctx)
        return actions

    def _decide(self, price: float, ao: float, ctx: Context) -> Sequence[Action]:
        p = self.p
        pos = sign(ctx.position)
        if pos > 0 and self.ao_run <= -p.ao_reversal_bricks:
            return (Target(qty=Decimal(0), reason="ao reversal"),)
        if pos < 0 and self.ao_run >= p.ao_reversal_bricks:
            return (Target(qty=Decimal(0), reason="ao reversal"),)
        if pos or len(self.history) < 2 or not self.bb.ready:
            return ()
        *before, (low, high, _) = self.history
        span = self.bb.upper - self.bb.lower
        lo_i = min(range(len(before)), key=lambda i: before[i][0])
        hi_i = max(range(len(before)), key=lambda i: before[i][1])
        if low < before[lo_i][0] and ao > before[lo_i][2]:
            edge = (price - self.bb.lower) / span if span > 0 else -1.0
            s = self.last_strength = self.strength(ao, before[lo_i][2], edge)
            if s >= p.min_divergence_strength:
                return self._enter(1, price, f"bullish divergence {s:.2f}")
        elif high > before[hi_i][1] and ao < before[hi_i][2]:
            edge = (self.bb.upper - price) / span if span > 0 else -1.0
            s = self.last_strength = self.strength(ao, before[hi_i][2], edge)
            if s >= p.min_divergence_strength:
                return self._enter(-1, price, f"bearish divergence {s:.2f}")
        return ()

    def _enter(self, side: int, price: float, reason: str) -> Sequence[Action]:
        p = self.p
        exits = bracket(
            side,
            price,
            tp_distance=price * p.take_profit_bps * _BPS,
            sl_distance=price * p.stop_loss_bps * _BPS,
            time_stop_s=p.time_stop_s,
        )
        return (Target(qty=p.size * side, bracket=exits, reason=reason),)
