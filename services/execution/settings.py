from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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


class ExecutionSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRADEBUS_EXECUTION_", extra="ignore", env_nested_delimiter="__"
    )

    venue: str = "sim"
    venue_url: str = "http://127.0.0.1:8100"
    api_key: SecretStr = SecretStr("sim-key")
    #: short account tag used in client order ids
    account: str = "tb"
    risk: Limits = Field(default_factory=Limits)
    #: the lease that makes one instance the owner of the account
    lease_ttl_s: float = 6.0
    clock_every_s: float = 0.5
