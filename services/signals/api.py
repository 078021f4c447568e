"""The strategy API: what a strategy is given and what it returns. Pure: no I/O, no clock.

A strategy instance trades one symbol. The signals host makes one instance per symbol, feeds it
closed candles (and ticks, if it asks for them), and publishes the intents it returns. Time comes
from the data (`ts_open`, `ts_event`), never from the wall clock, so a backtest and live agree.

Bump `API_VERSION` on a breaking change and keep a shim for the old shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from proto import Bracket, Candle, Fill, OrderStyle, Quote, Tick, interval_ns

API_VERSION = 1


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: frozen, typed, unknown keys are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval: str = "1m"
    #: order size in base units (strategies may size in dollars instead; see their params)
    size: Decimal = Decimal("0.01")

    @field_validator("interval")
    @classmethod
    def _known_interval(cls, value: str) -> str:
        interval_ns(value)  # an unknown interval fails the params, naming the known ones
        return value


P = TypeVar("P", bound=StrategyParams)


@dataclass(frozen=True, slots=True)
class Target:
    """'My position in this symbol should be `qty`' (signed), with optional exits and order style."""

    qty: Decimal
    bracket: Bracket | None = None
    style: OrderStyle | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class QuotePair:
    """Resting two-sided quotes; a None side is withdrawn."""

    bid: Quote | None
    ask: Quote | None


Action = Target | QuotePair


@dataclass(slots=True)
class Context:
    """What the host knows about this strategy and symbol when it calls the strategy. Read-only."""

    symbol: str
    venue: str = "sim"
    position: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    cash: Decimal | None = None
    #: ts of the latest data seen (ns)
    now: int = 0
    #: venue market hours: ns of the next close, if the venue has hours
    session_close: int | None = None
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def mid(self) -> float | None:
        if self.bid is None or self.ask is None:
            return self.last
        return (self.bid + self.ask) / 2


class Strategy(Generic[P]):
    """Subclass with a `name`, a `Params` model, and `on_candle` and/or `on_tick`.

    Return actions (data), never call anything. `reset()` restores the state after construction.
    """

    name: ClassVar[str]
    Params: ClassVar[type[StrategyParams]]
    #: set True to receive every tick in `on_tick`
    wants_ticks: ClassVar[bool] = False
    api_version: ClassVar[int] = API_VERSION

    def __init__(self, params: P, symbol: str) -> None:
        self.p = params
        self.symbol = symbol

    @property
    def warmup(self) -> int:
        """How many closed candles the strategy needs before it can act."""
        return 0

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        return ()

    def on_tick(self, tick: Tick, ctx: Context) -> Sequence[Action]:
        return ()

    def on_fill(self, fill: Fill, ctx: Context) -> Sequence[Action]:
        return ()

    def on_stop(self, ctx: Context) -> Sequence[Action]:
        """The strategy is disabled or the process stops: withdraw what rests (e.g. quotes)."""
        return ()

    def on_params(self, params: P) -> None:
        """New parameters at run time; the default keeps state and swaps the params."""
        self.p = params
