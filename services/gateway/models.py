"""The gateway's own request and response models. Requests are strict: unknown fields and wrong
types are a 422, never coerced."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from proto import StrategyConfig

NAME_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
SYMBOL_PATTERN = r"^[A-Za-z0-9_\-/]{1,32}$"
CURSOR_PATTERN = r"^[0-9]{1,20}:[0-9]{1,20}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ParamsIn(Strict):
    """Parameters to change; merged over the current ones, then checked by the strategy's model."""

    params: dict[str, Any] = Field(min_length=1)


class DryRunIn(Strict):
    dry_run: bool


class KillSwitchIn(Strict):
    active: bool
    #: with `active`: also close every position
    flatten: bool = False
    reason: str = Field(default="", max_length=500)


class StrategyOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    enabled: bool
    dry_run: bool
    venue: str
    params: dict[str, Any]
    symbols: list[str]
    #: from the strategy process's heartbeats: running, stopping, stale or unknown
    state: str
    updated_by: str
    ts_event: int

    @classmethod
    def of(cls, cfg: StrategyConfig, state: str) -> StrategyOut:
        return cls(
            name=cfg.name, kind=cfg.kind, enabled=cfg.enabled, dry_run=cfg.dry_run, venue=cfg.venue,
            params=cfg.params, symbols=list(cfg.symbols), state=state, updated_by=cfg.updated_by,
            ts_event=cfg.ts_event,
        )  # fmt: skip


class FlattenOut(BaseModel):
    strategy: str
    #: the ids of the target-0 intents published, one per symbol
    intents: list[str]


class KillSwitchOut(BaseModel):
    active: bool
    flatten: bool
    reason: str
    ts_event: int


class ServiceHealth(BaseModel):
    service: str
    instance: str
    state: str
    last_seen_s: float


class HealthOut(BaseModel):
    nats: bool
    services: list[ServiceHealth]


class Healthz(BaseModel):
    ok: bool
    nats: bool


class WhoAmI(BaseModel):
    name: str
    role: str


class ErrorOut(BaseModel):
    detail: str
