"""Request/reply contracts for read queries (gateway -> execution / portfolio)."""

from __future__ import annotations

from pydantic import Field

from proto.base import Message, Money
from proto.trading import Fill


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
