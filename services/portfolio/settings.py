from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PortfolioSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEBUS_PORTFOLIO_", extra="ignore")

    starting_cash: Decimal = Decimal("100000")
    #: how often figures are recomputed for /metrics and an equity snapshot is stored
    snapshot_every_s: float = 5.0
    metrics_every_s: float = 1.0
    #: most fills (and order updates) stored in one transaction
    batch_size: int = Field(default=200, ge=1, le=5000)
    #: PnL points per year used to annualize Sharpe (one point per snapshot)
    periods_per_year: float = 365 * 86400 / 5
