"""Control state kept in NATS KV: strategy configs and the kill switch."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from proto.base import Message, Nanos


class StrategyConfig(Message):
    """KV `strategies`, key = strategy name. Params are validated by the strategy's own model."""

    name: str
    kind: str
    enabled: bool = True
    dry_run: bool = False
    venue: str = "sim"
    symbols: tuple[str, ...] = ()
    params: dict[str, Any] = Field(default_factory=dict)
    updated_by: str = "system"
    ts_event: Nanos = 0


class KillSwitch(Message):
    """KV `control`, key `kill_switch`. `flatten` also closes every position."""

    active: bool = False
    flatten: bool = False
    reason: str = ""
    ts_event: Nanos = 0


class Heartbeat(Message):
    """Published by every service on `svc.heartbeat.<service>` every few seconds."""

    service: str
    instance: str
    state: str = "running"
    ts_event: Nanos
