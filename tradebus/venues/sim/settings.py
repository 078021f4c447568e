"""Settings of the sim exchange server (env prefix TRADEBUS_SIM_)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tradebus.venues.sim.config import EngineConfig, symbol_spec


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
        unknown = set(self.start_prices) - set(self.symbols)
        if unknown:
            raise ValueError(f"start_prices names symbols not in symbols: {sorted(unknown)}")
        for s in self.symbols:
            symbol_spec(s)  # raises naming a malformed symbol
        return self

    def account_keys(self) -> dict[str, str]:
        """API key -> account id."""
        return {k.get_secret_value(): f"acct-{i}" for i, k in enumerate(self.api_keys, start=1)}

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            symbols=tuple(symbol_spec(s, self.start_prices.get(s)) for s in self.symbols),
            seed=self.seed,
            step_ms=self.step_ms,
            history_s=round(self.history_hours * 3600),
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
            starting_cash=self.starting_cash,
            accounts=tuple(self.account_keys().values()),
            book_levels=self.book_levels,
        )
