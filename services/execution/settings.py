"""Execution settings (env prefix `TRADEBUS_EXECUTION_`, risk limits as `TRADEBUS_EXECUTION_RISK__*`).

`load_settings()` validates both the settings and the core's `RiskLimits` at start; a bad value
stops the start with a message naming the environment variable.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.execution.core import RiskLimits
from tradebus.settings import unknown_env, unknown_env_message

PREFIX = "TRADEBUS_EXECUTION_"


class Limits(BaseModel):
    """Risk limits as configuration (validated again by the core's own model at start)."""

    model_config = ConfigDict(extra="forbid")

    max_order_qty: Decimal = Decimal("100")
    max_order_notional: Decimal = Decimal("50000")
    max_position: Decimal = Decimal("1000")
    max_gross_exposure: Decimal = Decimal("250000")
    price_band_bps: Decimal = Decimal("100")
    max_price_age_s: float = 30.0
    max_open_orders: int = 200
    orders_per_second: float = 20.0
    order_burst: int = 40
    daily_loss_limit: Decimal = Decimal("5000")
    max_drawdown: Decimal = Decimal("20000")
    dedupe_memory: int = 10_000


class ExecutionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", env_nested_delimiter="__")

    venue: str = "sim"
    venue_url: str = "http://127.0.0.1:8100"
    api_key: SecretStr = SecretStr("sim-key")
    #: short account tag used in client order ids
    account: str = "tb"
    risk: Limits = Field(default_factory=Limits)
    #: the lease that makes one instance the owner of the account
    lease_ttl_s: float = Field(default=6.0, gt=0)
    clock_every_s: float = Field(default=0.5, gt=0)
    #: wall seconds between catch-ups with the venue (fills since the watermark, lost order updates)
    resync_every_s: float = Field(default=5.0, gt=0)
    #: venue-time seconds re-read before the fill watermark (duplicates are dropped by id)
    replay_slack_s: float = Field(default=60.0, ge=0)
    #: most inputs (intents, ticks, venue events) decided together and stored in one snapshot write
    batch_max: int = Field(default=100, ge=1, le=1000)
    #: most venue calls of one round in flight at once (different client order ids)
    venue_concurrency: int = Field(default=16, ge=1, le=256)
    #: how long a decision that needs no store of its own (answers, fills, ticks) may wait in
    #: `pending` for the next input's store before a flush stores it (seconds)
    flush_after_s: float = Field(default=0.01, ge=0, le=1)


class SettingsError(SystemExit):
    """A configuration error; its message names the environment variable."""


def _env_name(loc: tuple[int | str, ...]) -> str:
    return PREFIX + "__".join(str(p).upper() for p in loc)


def load_settings() -> tuple[ExecutionSettings, RiskLimits]:
    """Read the environment; raise `SettingsError` naming the key of the first bad value, or the
    variables under `TRADEBUS_EXECUTION_` that name no setting."""
    unknown = unknown_env(ExecutionSettings)
    if unknown:
        raise SettingsError(unknown_env_message(ExecutionSettings, unknown))
    try:
        cfg = ExecutionSettings()
    except ValidationError as exc:
        problems = "; ".join(f"{_env_name(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"execution configuration error: {problems}") from None
    try:
        limits = RiskLimits.model_validate(cfg.risk.model_dump())
    except ValidationError as exc:
        parts = []
        for e in exc.errors():
            if e["loc"]:
                parts.append(f"{_env_name(('risk', *e['loc']))}: {e['msg']}")
            else:  # a rule across keys names the keys in its message
                parts.append(f"{PREFIX}RISK__*: {e['msg']}")
        raise SettingsError(f"execution configuration error: {'; '.join(parts)}") from None
    return cfg, limits
