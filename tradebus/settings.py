"""Typed settings. Common ones use the `TRADEBUS_` prefix (and plain `NATS_URL`/`DATABASE_URL`);
each service adds its own model with a `TRADEBUS_<SERVICE>_` prefix. Build them at start, never at
import time, so a typo fails the start with a message naming the key.

pydantic-settings ignores environment variables it does not know, so `load` also refuses any
variable under a service's own prefix that names no setting (`TRADEBUS_EXECUTION_LEASE_TTL`
instead of `..._LEASE_TTL_S`). The shared `TRADEBUS_` prefix alone is not checked: every service
and the stack read variables under it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import AliasChoices, AliasPath, Field, SecretStr, ValidationError
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


#: prefixes shared by more than one settings model: a variable under them may belong to another
SHARED_PREFIXES = frozenset({"", "TRADEBUS_"})


def _aliases(cls: type[BaseSettings]) -> set[str]:
    out: set[str] = set()
    for field in cls.model_fields.values():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        out.update(c.upper() for c in choices if isinstance(c, str) and not isinstance(c, AliasPath))
    return out


def unknown_env(cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables under `cls`'s own prefix that name none of its settings (sorted).

    With a nested delimiter only the part before it must name a field (`RISK__MAX_POSITION`
    -> `risk`); the nested model's own `extra="forbid"` catches a typo after it."""
    environ = os.environ if environ is None else environ
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    if prefix in SHARED_PREFIXES:
        return []
    delimiter = cls.model_config.get("env_nested_delimiter") or None
    fields = {name.upper() for name in cls.model_fields}
    aliases = _aliases(cls)
    bad = []
    for key in environ:
        upper = key.upper()
        if not upper.startswith(prefix) or upper in aliases:
            continue
        rest = upper[len(prefix) :]
        head = rest.split(delimiter.upper(), 1)[0] if delimiter else rest
        if head not in fields:
            bad.append(key)
    return sorted(bad)


def unknown_env_message(cls: type[BaseSettings], unknown: list[str]) -> str:
    prefix = str(cls.model_config.get("env_prefix", ""))
    known = ", ".join(prefix + name.upper() for name in cls.model_fields)
    return f"configuration error in {cls.__name__}: unknown setting(s) {', '.join(unknown)} (known: {known})"


def load(cls: type[BaseSettings]) -> BaseSettings:
    """Build settings from the environment; turn a validation error, or a variable under the
    model's own prefix that names no setting, into a readable message."""
    unknown = unknown_env(cls)
    if unknown:
        raise SystemExit(unknown_env_message(cls, unknown))
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = "; ".join(
            f"{prefix}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(f"configuration error in {cls.__name__}: {problems}") from None
