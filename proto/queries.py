"""Request/reply contracts for read queries (gateway -> execution / portfolio)."""

from __future__ import annotations

from pydantic import Field

from proto.base import Message, Money, Nanos
from proto.trading import Fill, OrderUpdate, RiskEvent


class FillsQuery(Message):
    strategy: str | None = None
    symbol: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None


class FillsPage(Message):
    fills: tuple[Fill, ...] = ()
    next: str | None = None
    error: str | None = None


class PnlQuery(Message):
    strategy: str | None = None


class PnlReply(Message):
    """Figures per strategy and for the account; money as decimal strings, counts as ints."""

    account: dict[str, str | int | float | None] = Field(default_factory=dict)
    strategies: dict[str, dict[str, str | int | float | None]] = Field(default_factory=dict)
    error: str | None = None


class PositionsQuery(Message):
    pass


class PositionsReply(Message):
    """`sum(strategies[s][sym] for s) == venue[sym]` for every symbol."""

    venue: dict[str, Money] = Field(default_factory=dict)
    net_target: dict[str, Money] = Field(default_factory=dict)
    strategies: dict[str, dict[str, Money]] = Field(default_factory=dict)
    error: str | None = None


class OrdersQuery(Message):
    """Open (not terminal) orders; `owner` filters by a strategy, or `net` for netting orders."""

    owner: str | None = None


class OrdersReply(Message):
    orders: tuple[OrderUpdate, ...] = ()
    error: str | None = None


class RiskEventsQuery(Message):
    strategy: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class RiskEventsReply(Message):
    """The latest risk events, newest first."""

    events: tuple[RiskEvent, ...] = ()
    error: str | None = None


class EquityQuery(Message):
    """PnL history of one book (a strategy, or the account's `net`), or of every book."""

    strategy: str | None = None
    since: Nanos = Field(default=0, ge=0)
    #: at most this many points per book (evenly thinned, the latest always kept)
    max_points: int = Field(default=500, ge=2, le=5000)


class EquityPoint(Message):
    ts_event: Nanos
    pnl: Money
    total_value: Money


class EquityReply(Message):
    """book name -> points, oldest first."""

    series: dict[str, tuple[EquityPoint, ...]] = Field(default_factory=dict)
    error: str | None = None
