from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MarketdataSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEBUS_MARKETDATA_", extra="ignore")

    #: sim, lighter, alpaca or ccxt:<exchange id>
    venue: str = "sim"
    venue_url: str = "http://127.0.0.1:8100"
    venue_api_key: SecretStr = SecretStr("sim-key")
    #: real venues: testnet / paper endpoints, ccxt constructor credentials (only where the venue's
    #: market data needs them, e.g. Alpaca) and ccxt options, as JSON
    venue_sandbox: bool = False
    venue_credentials: dict[str, SecretStr] = {}
    venue_options: dict[str, Any] = {}
    #: empty = every symbol the venue lists
    symbols: list[str] = []
    intervals: list[str] = ["1s", "5s", "15s", "1m", "5m"]
    #: how often forming candles are published (wall seconds); 0 turns them off
    partial_every_s: float = 1.0
    history_size: int = 3000
    #: keep closed candles as Parquet under this directory ("" = memory only)
    history_dir: str = ""
    #: a symbol with no data for this long is stale (KV control `feed.<venue>.<symbol>`); 0 = never
    stale_after_s: float = 30.0
