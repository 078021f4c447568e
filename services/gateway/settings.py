from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEBUS_GATEWAY_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8000
    #: the operator token (actor name `operator` in the audit log); optional when a tokens file is given
    api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TRADEBUS_API_TOKEN", "TRADEBUS_GATEWAY_API_TOKEN")
    )
    #: a token that may only read (actor name `viewer`)
    viewer_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TRADEBUS_API_VIEWER_TOKEN", "TRADEBUS_GATEWAY_VIEWER_TOKEN"),
    )
    #: a secrets file of named tokens, one `name role token` per line (`#` starts a comment)
    tokens_file: Path | None = None
    request_timeout_s: float = 5.0
    #: Postgres role of the audit pool (needs INSERT and SELECT on audit_log); empty = the login user
    audit_role: str = "tradebus_app"
    #: a comment line on every live stream this often, so proxies keep it open
    keepalive_s: float = 15.0
    #: events buffered per live client; a client that falls further behind is disconnected
    client_queue: int = 2000
