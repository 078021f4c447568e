"""Renko bricks of a fixed size or sized by ATR. O(bricks formed) per update, bounded memory.

A brick forms when price moves one brick size beyond the last brick's close in the trend's
direction, or one brick size beyond the last brick's open against it (the classic two-box
reversal). With ATR sizing the size is `atr_multiplier * ATR(atr_period)` at the time a brick
forms, and `fallback_pct` of the price until the ATR is ready.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from services.signals.indicators.moving import NAN
from services.signals.indicators.volatility import Atr


@dataclass(frozen=True, slots=True)
class Brick:
    open: float
    close: float
    #: the index of the input (update) that formed it
    index: int

    @property
    def up(self) -> bool:
        return self.close > self.open

    @property
    def high(self) -> float:
        return max(self.open, self.close)

    @property
    def low(self) -> float:
        return min(self.open, self.close)


class Renko:
    """Renko bricks; `brick_size` for fixed bricks, else ATR-sized. `value` is the last close."""

    def __init__(
        self,
        brick_size: float | None = None,
        *,
        atr_period: int = 14,
        atr_multiplier: float = 1.0,
        fallback_pct: float = 0.001,
        max_bricks: int = 500,
    ) -> None:
        if brick_size is not None and not brick_size > 0:
            raise ValueError(f"brick_size must be > 0, got {brick_size!r}")
        if not atr_multiplier > 0:
            raise ValueError(f"atr_multiplier must be > 0, got {atr_multiplier!r}")
        if not fallback_pct > 0:
            raise ValueError(f"fallback_pct must be > 0, got {fallback_pct!r}")
        if max_bricks < 1:
            raise ValueError(f"max_bricks must be >= 1, got {max_bricks!r}")
        self.brick_size = brick_size
        self.atr_multiplier = atr_multiplier
        self.fallback_pct = fallback_pct
        self.atr = Atr(atr_period)
        self.bricks: deque[Brick] = deque(maxlen=max_bricks)
        self.reset()

    def reset(self) -> None:
        self.atr.reset()
        self.bricks.clear()
        self._anchor = NAN
        self._index = -1
        self.value = NAN
        self.ready = False

    def size(self, price: float) -> float:
        """The size the next brick would have at `price`."""
        if self.brick_size is not None:
            return self.brick_size
        if self.atr.ready and self.atr.value > 0:
            return self.atr.value * self.atr_multiplier
        return abs(price) * self.fallback_pct

    def update(self, close: float, high: float | None = None, low: float | None = None) -> int:
        """Add a price (a candle's close, with its high/low for ATR); return new brick count."""
        self._index += 1
        if self.brick_size is None:
            self.atr.update(close if high is None else high, close if low is None else low, close)
        if self._anchor != self._anchor:
            self._anchor = close
            return 0
        size = self.size(close)
        if not size > 0:
            return 0
        formed = 0
        while True:
            if self.bricks:
                last = self.bricks[-1]
                up_from, down_from = (last.close, last.open) if last.up else (last.open, last.close)
            else:
                up_from = down_from = self._anchor
            if close >= up_from + size:
                brick = Brick(up_from, up_from + size, self._index)
            elif close <= down_from - size:
                brick = Brick(down_from, down_from - size, self._index)
            else:
                break
            self.bricks.append(brick)
            formed += 1
        if formed:
            self.ready = True
            self.value = self.bricks[-1].close
        return formed
