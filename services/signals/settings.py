from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SignalsSettings(BaseSettings):
    """One signals process hosts one strategy instance (`name`) of a strategy class (`kind`)."""

    model_config = SettingsConfigDict(env_prefix="TRADEBUS_SIGNALS_", extra="ignore")

    name: str = "bb_rsi_scalper"
    #: builtin name, entry point, `file.py:Class`, `package.module:Class` or `rules:file.yaml`;
    #: empty = same as `name`
    kind: str = ""
    venue: str = "sim"
    symbols: list[str] = ["BTC-USD", "ETH-USD", "SOL-USD"]
    #: initial parameters (JSON object); the KV entry wins once it exists
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    dry_run: bool = False
    #: extra closed candles requested beyond the strategy's own warm-up need
    warmup_extra: int = 50
