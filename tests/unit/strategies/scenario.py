"""Building blocks for strategy scenario tests: candles, ticks, contexts, fills."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from proto import Candle, Fill, Liquidity, Side, Tick, interval_ns
from services.signals.api import Action, Context, Strategy

SYMBOL = "BTC-USD"
T0 = 1_700_000_000_000_000_000


def candle(
    i: int,
    close: float,
    *,
    interval: str = "1m",
    high: float | None = None,
    low: float | None = None,
    open_: float | None = None,
    volume: float = 0.0,
) -> Candle:
    hi = close + 0.25 if high is None else high
    lo = close - 0.25 if low is None else low
    return Candle(
        venue="sim",
        symbol=SYMBOL,
        interval=interval,
        ts_open=T0 + i * interval_ns(interval),
        open=close if open_ is None else open_,
        high=hi,
        low=lo,
        close=close,
        volume=volume,
    )


def candles(closes: Sequence[float], interval: str = "1m", start: int = 0) -> list[Candle]:
    return [candle(start + i, c, interval=interval) for i, c in enumerate(closes)]


def arrays(cs: Sequence[Candle]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([c.high for c in cs]),
        np.array([c.low for c in cs]),
        np.array([c.close for c in cs]),
    )


def ctx(
    position: str | Decimal = "0",
    *,
    bid: float | None = None,
    ask: float | None = None,
    last: float | None = None,
    now: int = 0,
    cash: Decimal | None = None,
    session_close: int | None = None,
) -> Context:
    return Context(
        symbol=SYMBOL,
        position=Decimal(position),
        bid=bid,
        ask=ask,
        last=last,
        now=now,
        cash=cash,
        session_close=session_close,
    )


def tick(ts: int, bid: float, ask: float, last: float | None = None) -> Tick:
    last_px = (bid + ask) / 2 if last is None else last
    return Tick(venue="sim", symbol=SYMBOL, bid=bid, ask=ask, last=last_px, ts_event=ts)


def fill(side: Side, qty: str, price: str, ts: int = T0, strategy: str = "test") -> Fill:
    return Fill(
        fill_id=f"f-{ts}-{side}",
        strategy=strategy,
        venue="sim",
        symbol=SYMBOL,
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        liquidity=Liquidity.TAKER,
        ts_event=ts,
    )


def run(strategy: Strategy, cs: Sequence[Candle], position: str = "0") -> list[Action]:  # type: ignore[type-arg]
    """Feed candles at a fixed position; return every action."""
    out: list[Action] = []
    for c in cs:
        out.extend(strategy.on_candle(c, ctx(position)))
    return out


def dec(x: float) -> Decimal:
    """What a strategy writes for a float price on an intent: 8 places."""
    return Decimal(repr(float(x))).quantize(Decimal("1e-8"))
