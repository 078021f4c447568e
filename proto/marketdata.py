"""Market data: ticks, candles, book, history requests. Floats are fine here; money is not."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from proto.base import Message, Nanos

#: Candle intervals and their length in seconds. Any interval from 1s to 1w.
INTERVAL_SECONDS: dict[str, int] = {
    "1s": 1, "5s": 5, "10s": 10, "15s": 15, "30s": 30,
    "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800,
    "1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600, "12h": 43200,
    "1d": 86400, "1w": 604800,
}  # fmt: skip

Interval = Literal[
    "1s", "5s", "10s", "15s", "30s", "1m", "3m", "5m", "15m", "30m",
    "1h", "2h", "4h", "6h", "12h", "1d", "1w",
]  # fmt: skip


def interval_ns(interval: str) -> int:
    """Length of an interval in nanoseconds; ValueError names the bad interval."""
    try:
        return INTERVAL_SECONDS[interval] * 1_000_000_000
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; known: {', '.join(INTERVAL_SECONDS)}") from None


class Tick(Message):
    """Best bid/ask and the last trade of one symbol."""

    venue: str
    symbol: str
    bid: float
    ask: float
    last: float
    last_qty: float = 0.0
    ts_event: Nanos
    ts_init: Nanos = 0

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2


class Candle(Message):
    """OHLCV over [ts_open, ts_open + interval). `closed` is false while the bar is still forming."""

    venue: str
    symbol: str
    interval: Interval
    ts_open: Nanos
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    trades: int = 0
    closed: bool = True


class BookLevel(Message):
    price: float
    qty: float


class Book(Message):
    venue: str
    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts_event: Nanos


class HistoryRequest(Message):
    """Ask marketdata for closed candles; `limit` newest candles ending at or before `end` (ns)."""

    venue: str
    symbol: str
    interval: Interval
    limit: int = Field(default=200, ge=1, le=10_000)
    end: Nanos | None = None


class HistoryReply(Message):
    candles: tuple[Candle, ...] = ()
    error: str | None = None


class FeedStatus(Message):
    """KV `control`, key `feed.<venue>.<symbol>` (marketdata writes it): `stale` is true while the
    venue has sent no data for the symbol for longer than marketdata's `stale_after_s`. Consumers
    open no new positions in a stale symbol (exits still go through)."""

    venue: str
    symbol: str
    stale: bool
    last_data_ts: Nanos = 0
    ts_event: Nanos = 0
