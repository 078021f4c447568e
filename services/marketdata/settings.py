from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MarketdataSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEBUS_MARKETDATA_", extra="ignore")

    venue: str = "sim"
    venue_url: str = "http://127.0.0.1:8100"
    venue_api_key: SecretStr = SecretStr("sim-key")
    #: empty = every symbol the venue lists
    symbols: list[str] = []
    intervals: list[str] = ["1s", "5s", "15s", "1m", "5m"]
    #: how often forming candles are published (wall seconds); 0 turns them off
    partial_every_s: float = 1.0
    history_size: int = 3000
