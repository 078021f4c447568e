"""What a backtest is asked to do: strategies, costs, cash, intrabar path, risk limits (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import ValidationError

from services.backtest.venue import CostModel
from services.execution.core import RiskLimits
from services.signals.api import Strategy, StrategyParams
from services.signals.strategies import load_strategy_class

#: limits so wide they never act: a backtest measures the strategy, not the live account's caps
HUGE = Decimal("1e18")
OPEN_LIMITS = RiskLimits(
    max_order_qty=HUGE,
    max_order_notional=HUGE,
    max_position=HUGE,
    max_gross_exposure=HUGE,
    price_band_bps=Decimal(10_000),
    max_price_age_s=10 * 365 * 86_400.0,
    max_open_orders=1_000_000,
    orders_per_second=1e9,
    order_burst=1_000_000_000,
    daily_loss_limit=HUGE,
    max_drawdown=HUGE,
)

Intrabar = Literal["auto", "ohlc", "olhc"]


class ConfigError(ValueError):
    """A backtest request that cannot run; the message names the strategy and key."""


@dataclass(frozen=True)
class StrategySpec:
    """One strategy of the run. `kind` is anything `load_strategy_class` resolves; `name` is its
    name on the (simulated) bus, default the class's name; `symbols` default to every symbol."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    symbols: tuple[str, ...] = ()

    def load(self) -> tuple[type[Strategy[Any]], StrategyParams, str]:
        try:
            cls = load_strategy_class(self.kind)
        except ValueError as exc:
            raise ConfigError(f"strategy {self.kind!r}: {exc}") from None
        try:
            params = cls.Params.model_validate(dict(self.params))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"strategy {self.kind!r} params: {problems}") from None
        return cls, params, self.name or cls.name


@dataclass(frozen=True)
class BacktestConfig:
    strategies: tuple[StrategySpec, ...]
    costs: CostModel = field(default_factory=CostModel)
    cash: Decimal = Decimal(100_000)
    #: order of the path inside a bar; auto: O-L-H-C for an up bar, O-H-L-C for a down bar
    intrabar: Intrabar = "auto"
    venue: str = "sim"
    limits: RiskLimits = OPEN_LIMITS
    price_increment: Decimal | None = None
    size_increment: Decimal | None = None
    min_size: Decimal | None = None
    #: use a strategy's proven-identical fast signal kernel when it has one
    fast: bool = True
    #: on the fast path, build the whole run from the compiled trade sequence where it covers
    #: the run (`fast_events`, `fast_build`); False: every eventful bar through the live objects
    compiled: bool = True

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ConfigError("at least one strategy is needed")
        if self.intrabar not in ("auto", "ohlc", "olhc"):
            raise ConfigError(f"intrabar must be auto, ohlc or olhc, got {self.intrabar!r}")
        if self.cash <= 0:
            raise ConfigError(f"cash must be > 0, got {self.cash}")

    @property
    def loss_limits_off(self) -> bool:
        return self.limits.daily_loss_limit >= HUGE and self.limits.max_drawdown >= HUGE
