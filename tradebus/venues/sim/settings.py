"""Settings of the sim exchange server (env prefix TRADEBUS_SIM_)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tradebus.venues.clock import MarketHours
from tradebus.venues.ohlcv_files import Bar, read_bars
from tradebus.venues.sim.config import EngineConfig, symbol_spec
from tradebus.venues.sim.faults import FaultPlan


def _list_from_env(value: Any) -> Any:
    """Lists from the environment may be JSON (`["a","b"]`) or comma separated (`a,b`)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class SimSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEBUS_SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8100, ge=0, le=65535)
    seed: int = 7
    symbols: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["BTC-USD", "ETH-USD", "SOL-USD"], min_length=1
    )
    #: Optional start prices overriding the built-in ones, e.g. {"DOGE-USD": 0.15}.
    start_prices: dict[str, float] = Field(default_factory=dict)
    #: Sim time runs `clock_speed` times as fast as wall time.
    clock_speed: float = Field(default=1.0, gt=0, le=10_000)
    #: Wall milliseconds between published ticks.
    tick_interval_ms: int = Field(default=100, ge=1, le=60_000)
    #: Sim-time resolution of the price path (must divide 1000).
    step_ms: int = Field(default=100, ge=1, le=1000)
    history_hours: float = Field(default=3.0, ge=0, le=24 * 31)
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    starting_cash: Decimal = Field(default=Decimal(100_000), ge=0)
    #: One account per key, named acct-1, acct-2, ... in this order.
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr("sim-key")], min_length=1
    )
    book_levels: int = Field(default=20, ge=1, le=1000)
    #: Sim time at start (ns since epoch); default: the wall clock at start.
    start_ts: int | None = Field(default=None, ge=0)
    #: Fault injection: added latency per REST request, and the share of REST requests
    #: answered with 503.
    latency_ms: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    #: share of REST requests held `timeout_s` and then answered 504
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_s: float = Field(default=30.0, ge=0)
    #: an outage window in wall seconds after start: REST 503, WebSockets closed and refused
    outage_start_s: float | None = Field(default=None, ge=0)
    outage_s: float = Field(default=0.0, ge=0)
    #: close every WebSocket connection after this many wall seconds (0 = never)
    ws_drop_every_s: float = Field(default=0.0, ge=0)
    #: serve /api/v1/admin/faults: change the fault plan and drop WebSockets at run time (chaos runs)
    admin: bool = False
    #: replay recorded OHLCV files (CSV or Parquet) as the path of these symbols: {"BTC-USD": "bars.csv"}
    replay_files: dict[str, str] = Field(default_factory=dict)
    #: market hours (equities): orders are refused while the market is closed; GET /api/v1/clock
    market_hours: bool = False
    market_open: str = "09:30"
    market_close: str = "16:00"
    market_tz: str = "America/New_York"
    market_holidays: list[date] = Field(default_factory=list)

    @field_validator("symbols", "api_keys", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _list_from_env(value)

    @model_validator(mode="after")
    def _check(self) -> SimSettings:
        if 1000 % self.step_ms:
            raise ValueError(f"step_ms must divide 1000, got {self.step_ms}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"symbols has duplicates: {self.symbols}")
        keys = [k.get_secret_value() for k in self.api_keys]
        if len(set(keys)) != len(keys) or not all(keys):
            raise ValueError("api_keys must be non-empty and distinct")
        if self.error_rate + self.timeout_rate > 1:
            raise ValueError("error_rate + timeout_rate must not exceed 1")
        stray = set(self.replay_files) - set(self.symbols)
        if stray:
            raise ValueError(f"replay_files names symbols not in symbols: {sorted(stray)}")
        if self.market_hours:
            self.hours()  # raises naming a bad open/close/tz
        unknown = set(self.start_prices) - set(self.symbols)
        if unknown:
            raise ValueError(f"start_prices names symbols not in symbols: {sorted(unknown)}")
        for s in self.symbols:
            symbol_spec(s)  # raises naming a malformed symbol
        return self

    def account_keys(self) -> dict[str, str]:
        """API key -> account id."""
        return {k.get_secret_value(): f"acct-{i}" for i, k in enumerate(self.api_keys, start=1)}

    def faults(self) -> FaultPlan:
        return FaultPlan(
            latency_s=self.latency_ms / 1000,
            error_rate=self.error_rate,
            timeout_rate=self.timeout_rate,
            timeout_s=self.timeout_s,
            outage_start_s=self.outage_start_s,
            outage_s=self.outage_s,
            ws_drop_every_s=self.ws_drop_every_s,
        )

    def hours(self) -> MarketHours | None:
        if not self.market_hours:
            return None
        try:
            return MarketHours(
                self.market_open, self.market_close, self.market_tz, holidays=tuple(self.market_holidays)
            )
        except (ValueError, KeyError) as exc:
            raise ValueError(f"market hours: {exc}") from None

    def load_replay(self) -> dict[str, list[Bar]]:
        """The bars of every replayed symbol (ValueError names a bad file)."""
        return {symbol: read_bars(path) for symbol, path in self.replay_files.items()}

    def start_time(self, replay: Mapping[str, Sequence[Bar]], wall_ns: int) -> int:
        """`start_ts`, else with replay the first bar plus the history span (so history and the
        live path are both the file), else the wall clock."""
        if self.start_ts is not None:
            return self.start_ts
        if replay:
            first = min(bars[0].ts_open for bars in replay.values())
            return first + round(self.history_hours * 3600) * 10**9
        return wall_ns

    def engine_config(self, replay: Mapping[str, Sequence[Bar]] | None = None) -> EngineConfig:
        replay = replay or {}
        starts = {s: bars[0].open for s, bars in replay.items()}
        return EngineConfig(
            replay=replay,
            symbols=tuple(symbol_spec(s, starts.get(s, self.start_prices.get(s))) for s in self.symbols),
            seed=self.seed,
            step_ms=self.step_ms,
            history_s=round(self.history_hours * 3600),
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
            starting_cash=self.starting_cash,
            accounts=tuple(self.account_keys().values()),
            book_levels=self.book_levels,
        )
