"""Fault injection of the sim exchange (pure): what happens to a REST request or a WebSocket
at a given wall time since the server started. The server applies the verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    OK = "ok"
    ERROR = "error"  # answer 503
    TIMEOUT = "timeout"  # hold the request `timeout_s`, then answer 504
    OUTAGE = "outage"  # answer 503: the venue is down


@dataclass(frozen=True, slots=True)
class FaultPlan:
    latency_s: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 30.0
    #: the venue is down (REST 503, WebSockets refused and closed) during [start, start + length)
    outage_start_s: float | None = None
    outage_s: float = 0.0
    #: every WebSocket connection is closed after this many seconds (0 = never)
    ws_drop_every_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "timeout_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.error_rate + self.timeout_rate > 1:
            raise ValueError("error_rate + timeout_rate must not exceed 1")
        for name in ("latency_s", "timeout_s", "outage_s", "ws_drop_every_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def active(self) -> bool:
        return bool(
            self.latency_s or self.error_rate or self.timeout_rate or self.outage_s or self.ws_drop_every_s
        )

    def in_outage(self, t_s: float) -> bool:
        start = self.outage_start_s
        return start is not None and start <= t_s < start + self.outage_s

    def rest(self, t_s: float, draw: float) -> Verdict:
        """The verdict on a REST request at `t_s`; `draw` is a uniform random number in [0, 1)."""
        if self.in_outage(t_s):
            return Verdict.OUTAGE
        if draw < self.error_rate:
            return Verdict.ERROR
        if draw < self.error_rate + self.timeout_rate:
            return Verdict.TIMEOUT
        return Verdict.OK

    def ws_lifetime(self, t_s: float) -> float | None:
        """How long a WebSocket opened at `t_s` may live (seconds); 0 = refuse it; None = no limit."""
        if self.in_outage(t_s):
            return 0.0
        limits = []
        if self.ws_drop_every_s > 0:
            limits.append(self.ws_drop_every_s)
        if self.outage_start_s is not None and self.outage_s > 0 and t_s < self.outage_start_s:
            limits.append(self.outage_start_s - t_s)
        return min(limits) if limits else None
