"""Run-time fault control of the sim exchange, for chaos runs (served only when `TRADEBUS_SIM_ADMIN`
is true).

`GET /api/v1/admin/faults` shows the fault plan in force; `POST /api/v1/admin/faults` replaces it
(an outage starts now and lasts `outage_s`) and, with `drop_websockets`, closes every open
WebSocket session at once. Admin requests are never themselves subject to the faults, so a chaos
run can always turn them off again. Any valid account key may call it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from tradebus.venues.sim.faults import FaultPlan

if TYPE_CHECKING:
    from tradebus.venues.sim.server import SimExchange

ADMIN_PREFIX = "/api/v1/admin/"


class FaultsIn(BaseModel):
    """The new fault plan; omitted fields mean "no such fault"."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_s: float = Field(default=30.0, ge=0, le=600)
    #: an outage (REST 503, WebSockets closed and refused) from now on for this many seconds
    outage_s: float = Field(default=0.0, ge=0, le=3600)
    ws_drop_every_s: float = Field(default=0.0, ge=0)
    #: close every WebSocket session open now (clients see code 1012 and reconnect)
    drop_websockets: bool = False


def plan_json(plan: FaultPlan, started: float) -> dict[str, Any]:
    outage_left = 0.0
    if plan.outage_start_s is not None:
        outage_left = max(0.0, plan.outage_start_s + plan.outage_s - (time.monotonic() - started))
    return {
        "latency_ms": plan.latency_s * 1000,
        "error_rate": plan.error_rate,
        "timeout_rate": plan.timeout_rate,
        "timeout_s": plan.timeout_s,
        "outage_left_s": round(outage_left, 3),
        "ws_drop_every_s": plan.ws_drop_every_s,
    }


def drop_websockets(ex: SimExchange) -> int:
    """Move the deadline of every open WebSocket session to now; returns how many there were."""
    now = asyncio.get_running_loop().time()
    sessions = list(ex.ws_sessions)
    for deadline in sessions:
        deadline.reschedule(now)
    return len(sessions)


def add_admin_routes(app: FastAPI) -> None:
    def exchange(request: Request, key: str | None) -> SimExchange:
        ex: SimExchange = request.app.state.exchange
        if (key or "") not in ex.keys:
            raise HTTPException(401, "missing or invalid X-API-Key")
        return ex

    @app.get(ADMIN_PREFIX + "faults")
    async def get_faults(
        request: Request, x_api_key: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        ex = exchange(request, x_api_key)
        return plan_json(ex.faults, ex.started)

    @app.post(ADMIN_PREFIX + "faults")
    async def set_faults(
        request: Request, body: FaultsIn, x_api_key: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        ex = exchange(request, x_api_key)
        if body.error_rate + body.timeout_rate > 1:
            raise HTTPException(400, "error_rate + timeout_rate must not exceed 1")
        ex.faults = FaultPlan(
            latency_s=body.latency_ms / 1000,
            error_rate=body.error_rate,
            timeout_rate=body.timeout_rate,
            timeout_s=body.timeout_s,
            outage_start_s=(time.monotonic() - ex.started) if body.outage_s else None,
            outage_s=body.outage_s,
            ws_drop_every_s=body.ws_drop_every_s,
        )
        dropped = drop_websockets(ex) if body.drop_websockets or body.outage_s else 0
        return {**plan_json(ex.faults, ex.started), "dropped_websockets": dropped}
