"""Typed settings. Common ones use the `TRADEBUS_` prefix (and plain `NATS_URL`/`DATABASE_URL`);
each service adds its own model with a `TRADEBUS_<SERVICE>_` prefix. Build them at start, never at
import time, so a typo fails the start with a message naming the key."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEBUS_", extra="ignore")

    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        validation_alias=AliasChoices("TRADEBUS_NATS_URL", "NATS_URL"),
    )
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TRADEBUS_DATABASE_URL", "DATABASE_URL")
    )
    #: JetStream replicas of the platform's streams and KV buckets (TRADEBUS_STREAM_REPLICAS; 3 on a cluster)
    stream_replicas: int = Field(default=1, ge=1, le=5)
    log_level: str = "INFO"
    log_json: bool | None = None
    #: where this service serves /metrics and /healthz (port 0 = pick a free one)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    #: an instance name (pod name in k8s); defaults to host:pid
    instance: str | None = None


def load(cls: type[BaseSettings]) -> BaseSettings:
    """Build settings from the environment; turn a validation error into a readable message."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = "; ".join(
            f"{prefix}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(f"configuration error in {cls.__name__}: {problems}") from None
