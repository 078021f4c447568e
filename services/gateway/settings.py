from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEBUS_GATEWAY_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8000
    api_token: SecretStr = Field(
        validation_alias=AliasChoices("TRADEBUS_API_TOKEN", "TRADEBUS_GATEWAY_API_TOKEN")
    )
    #: a token that may only read
    viewer_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TRADEBUS_API_VIEWER_TOKEN", "TRADEBUS_GATEWAY_VIEWER_TOKEN"),
    )
    request_timeout_s: float = 5.0
