"""Market hours and the market clock (pure): for venues that open and close (US equities).

`MarketHours` is a weekly session in a time zone (default 09:30-16:00 America/New_York,
Monday to Friday; holidays are a list of dates). `MarketClock` is what a venue's clock endpoint
answers. `liquidation_due` and `closing_orders` serve strategies that must be flat at the close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from proto import OrderType, Side
from tradebus.venues.base import Balance, OrderRequest

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class MarketClock:
    ts: int
    is_open: bool
    next_open: int
    next_close: int


class HasMarketClock(Protocol):
    """A TradingClient or feed of a venue with market hours also has a clock."""

    async def clock(self) -> MarketClock: ...


def _parse_hhmm(text: str, what: str) -> time:
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"{what} must be HH:MM, got {text!r}") from None


@dataclass(frozen=True)
class MarketHours:
    open: str = "09:30"
    close: str = "16:00"
    tz: str = "America/New_York"
    #: Monday = 0 ... Sunday = 6
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    holidays: tuple[date, ...] = ()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.tz))
        if _parse_hhmm(self.open, "open") >= _parse_hhmm(self.close, "close"):
            raise ValueError(f"open {self.open} must be before close {self.close}")
        if not self.weekdays or any(not 0 <= d <= 6 for d in self.weekdays):
            raise ValueError(f"weekdays must be a non-empty subset of 0..6, got {self.weekdays}")

    def _session(self, day: date) -> tuple[int, int] | None:
        if day.weekday() not in self.weekdays or day in self.holidays:
            return None
        o = datetime.combine(day, _parse_hhmm(self.open, "open"), self._zone)
        c = datetime.combine(day, _parse_hhmm(self.close, "close"), self._zone)
        return int(o.timestamp()) * NS, int(c.timestamp()) * NS

    def clock(self, ts: int) -> MarketClock:
        """The clock at `ts` (ns): open or not, and the next open and close after it."""
        day = datetime.fromtimestamp(ts / NS, UTC).astimezone(self._zone).date()
        next_open = next_close = None
        is_open = False
        for k in range(-1, 30):
            session = self._session(day + timedelta(days=k))
            if session is None:
                continue
            o, c = session
            if o <= ts < c:
                is_open = True
            if next_open is None and o > ts:
                next_open = o
            if next_close is None and c > ts:
                next_close = c
            if next_open is not None and next_close is not None:
                break
        if next_open is None or next_close is None:
            raise ValueError("no session in the next 30 days: check weekdays and holidays")
        return MarketClock(ts=ts, is_open=is_open, next_open=next_open, next_close=next_close)


def liquidation_due(clock: MarketClock, lead_s: float) -> bool:
    """True while the market is open and closes within `lead_s` seconds."""
    return clock.is_open and clock.next_close - clock.ts <= lead_s * NS


def closing_orders(
    balance: Balance, id_prefix: str, symbols: Sequence[str] | None = None
) -> list[OrderRequest]:
    """Market orders that flatten every (or the listed) position; ids `<prefix>-<symbol>` so a
    repeat is idempotent at the venue."""
    out = []
    for symbol, qty in sorted(balance.positions.items()):
        if qty == 0 or (symbols is not None and symbol not in symbols):
            continue
        side = Side.SELL if qty > 0 else Side.BUY
        out.append(OrderRequest(f"{id_prefix}-{symbol}", symbol, side, abs(Decimal(qty)), OrderType.MARKET))
    return out
