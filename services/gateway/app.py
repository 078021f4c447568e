"""The gateway's HTTP face: thin routes that check the token, call one function, return a model.

No `from __future__ import annotations` here: FastAPI resolves the route annotations, and the
dependency aliases (`Viewer`, `Operator`) are local to `create_app`.
"""

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from proto.queries import (
    EquityQuery,
    EquityReply,
    FillsPage,
    FillsQuery,
    OrdersQuery,
    OrdersReply,
    PnlQuery,
    PnlReply,
    PositionsReply,
    RiskEventsQuery,
    RiskEventsReply,
)
from services.gateway.audit import AuditEntry, AuditUnavailable
from services.gateway.auth import Principal, Tokens
from services.gateway.control import Control, NotFound, Unavailable
from services.gateway.live import Hub, sse_frame
from services.gateway.models import (
    CURSOR_PATTERN,
    NAME_PATTERN,
    SYMBOL_PATTERN,
    DryRunIn,
    ErrorOut,
    FlattenOut,
    HealthOut,
    Healthz,
    KillSwitchIn,
    KillSwitchOut,
    ParamsIn,
    ServiceHealth,
    StrategyOut,
    WhoAmI,
)
from services.gateway.params import KindUnavailable, ParamsInvalid

STATIC = FilePath(__file__).with_name("static")
_bearer = HTTPBearer(auto_error=False, description="a viewer or operator token")

AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or invalid bearer token"},
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorOut,
        "description": "the room that owns the answer (or the audit log) is unavailable",
    },
}
READ = {**AUTH, **UNAVAILABLE}
WRITE: dict[int | str, dict[str, Any]] = {
    **AUTH,
    403: {"model": ErrorOut, "description": "the token's role may not do this (operator required)"},
    404: {"model": ErrorOut, "description": "unknown strategy"},
    **UNAVAILABLE,
}

BODY: dict[int | str, dict[str, Any]] = {
    **WRITE,
    400: {"model": ErrorOut, "description": "the body is not JSON"},
}


def create_app(control: Control, tokens: Tokens, hub: Hub) -> FastAPI:
    app = FastAPI(
        title="Tradebus gateway",
        version="1",
        description=(
            "Control and read the Tradebus platform. Quantities and prices are decimal strings, "
            "times integer nanoseconds (UTC). Every request but /healthz and the dashboard needs "
            "`Authorization: Bearer <token>`; control actions need an operator token."
        ),
    )

    def caller(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
        who = tokens.who(creds.credentials) if creds else None
        if who is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or invalid bearer token",
                {"WWW-Authenticate": "Bearer"},
            )
        return who

    def operator(who: Principal = Depends(caller)) -> Principal:
        if not who.may_operate:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "operator role required")
        return who

    Viewer = Annotated[Principal, Depends(caller)]
    Operator = Annotated[Principal, Depends(operator)]
    Name = Annotated[str, Path(pattern=NAME_PATTERN)]
    OptName = Annotated[str | None, Query(pattern=NAME_PATTERN)]
    Limit = Annotated[int, Query(ge=1, le=1000)]

    async def guarded(coro: Any) -> Any:
        try:
            return await coro
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except (Unavailable, AuditUnavailable) as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """A 405 names every method of the path in `Allow`, not only those of the first route."""
        if exc.status_code != status.HTTP_405_METHOD_NOT_ALLOWED:
            return await http_exception_handler(request, exc)
        path = request.url.path
        allowed = sorted(
            {
                m
                for r in app.router.routes
                if isinstance(r, APIRoute) and r.path_regex.match(path)
                for m in r.methods or ()
            }
        )
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers={"Allow": ", ".join(allowed)})

    # -- page and health -----------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", response_model=Healthz, tags=["health"])
    async def healthz() -> Healthz:
        return Healthz(ok=control.bus.connected, nats=control.bus.connected)

    @app.get("/api/health", response_model=HealthOut, responses=AUTH, tags=["health"])
    async def health(_: Viewer) -> HealthOut:
        rows = [
            ServiceHealth(service=hb.service, instance=hb.instance, state=state, last_seen_s=round(age, 3))
            for hb, state, age in control.heartbeats.table()
        ]
        return HealthOut(nats=control.bus.connected, services=rows)

    @app.get("/api/whoami", response_model=WhoAmI, responses=AUTH, tags=["health"])
    async def whoami(who: Viewer) -> WhoAmI:
        return WhoAmI(name=who.name, role=who.role.value)

    # -- strategies ----------------------------------------------------------------------------

    @app.get("/api/strategies", response_model=list[StrategyOut], responses=READ, tags=["strategies"])
    async def list_strategies(_: Viewer) -> list[StrategyOut]:
        return [StrategyOut.of(c, s) for c, s in await guarded(control.strategies())]

    @app.get(
        "/api/strategies/{name}",
        response_model=StrategyOut,
        responses={**READ, 404: WRITE[404]},
        tags=["strategies"],
    )
    async def one_strategy(name: Name, _: Viewer) -> StrategyOut:
        return StrategyOut.of(await guarded(control.strategy(name)), control.state_of(name))

    @app.post("/api/strategies/{name}/flatten", response_model=FlattenOut, responses=WRITE, tags=["control"])
    async def flatten(name: Name, who: Operator) -> FlattenOut:
        """Publish a target of 0 for every symbol of the strategy on its intent subject.

        The strategy stays enabled: it may enter again on its next signal (disable it to stop it)."""
        return FlattenOut(strategy=name, intents=await guarded(control.flatten(name, who)))

    @app.post("/api/strategies/{name}/enable", response_model=StrategyOut, responses=WRITE, tags=["control"])
    async def enable(name: Name, who: Operator) -> StrategyOut:
        cfg = await guarded(control.set_enabled(name, True, who))
        return StrategyOut.of(cfg, control.state_of(name))

    @app.post("/api/strategies/{name}/disable", response_model=StrategyOut, responses=WRITE, tags=["control"])
    async def disable(name: Name, who: Operator) -> StrategyOut:
        """Execution sets its targets to 0 and cancels its quotes; from then on it may only reduce."""
        cfg = await guarded(control.set_enabled(name, False, who))
        return StrategyOut.of(cfg, control.state_of(name))

    @app.put("/api/strategies/{name}/dry-run", response_model=StrategyOut, responses=BODY, tags=["control"])
    async def dry_run(name: Name, body: DryRunIn, who: Operator) -> StrategyOut:
        cfg = await guarded(control.set_dry_run(name, body.dry_run, who))
        return StrategyOut.of(cfg, control.state_of(name))

    @app.put(
        "/api/strategies/{name}/params",
        response_model=StrategyOut,
        responses={
            **BODY,
            409: {"model": ErrorOut, "description": "the strategy's class cannot be loaded to check them"},
        },
        tags=["control"],
    )
    async def params(name: Name, body: ParamsIn, who: Operator) -> Any:
        """Change parameters: merged over the current ones, checked by the strategy's own model
        (strictly: a wrong type is a 422), applied live by the strategy process."""
        try:
            cfg = await guarded(control.set_params(name, body.params, who))
        except ParamsInvalid as exc:
            detail = [
                {"loc": ["body", "params", *loc], "msg": msg, "type": kind} for loc, msg, kind in exc.problems
            ]
            return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)
        except KindUnavailable as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return StrategyOut.of(cfg, control.state_of(name))

    # -- kill switch and audit -----------------------------------------------------------------

    @app.get("/api/kill-switch", response_model=KillSwitchOut, responses=READ, tags=["control"])
    async def get_kill_switch(_: Viewer) -> KillSwitchOut:
        ks = await control.kill_switch()
        return KillSwitchOut(active=ks.active, flatten=ks.flatten, reason=ks.reason, ts_event=ks.ts_event)

    @app.put(
        "/api/kill-switch",
        response_model=KillSwitchOut,
        responses={k: v for k, v in BODY.items() if k != 404},
        tags=["control"],
    )
    async def put_kill_switch(body: KillSwitchIn, who: Operator) -> KillSwitchOut:
        """On: execution cancels every order and ignores intents (with `flatten`, closes every
        position). Off: trading resumes towards the strategies' targets."""
        ks = await guarded(control.set_kill_switch(body.active, body.flatten, body.reason, who))
        return KillSwitchOut(active=ks.active, flatten=ks.flatten, reason=ks.reason, ts_event=ks.ts_event)

    @app.get("/api/audit", response_model=list[AuditEntry], responses=READ, tags=["control"])
    async def audit(_: Viewer, limit: Limit = 100) -> list[AuditEntry]:
        entries: list[AuditEntry] = await guarded(control.audit_log(limit))
        return entries

    # -- reads ---------------------------------------------------------------------------------

    @app.get("/api/positions", response_model=PositionsReply, responses=READ, tags=["read"])
    async def positions(_: Viewer) -> PositionsReply:
        """Per strategy, the net target, and at the venue."""
        reply: PositionsReply = await guarded(control.positions())
        return reply

    @app.get("/api/orders", response_model=OrdersReply, responses=READ, tags=["read"])
    async def orders(_: Viewer, owner: OptName = None) -> OrdersReply:
        """Open orders (a strategy's quotes, or `net` netting orders)."""
        reply: OrdersReply = await guarded(control.orders(OrdersQuery(owner=owner)))
        return reply

    @app.get("/api/fills", response_model=FillsPage, responses=READ, tags=["read"])
    async def fills(
        _: Viewer,
        strategy: OptName = None,
        symbol: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
        limit: Limit = 100,
        cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
    ) -> FillsPage:
        """Newest first; pass `next` back as `cursor` for the following page."""
        q = FillsQuery(strategy=strategy, symbol=symbol, limit=limit, cursor=cursor)
        page: FillsPage = await guarded(control.fills(q))
        return page

    @app.get("/api/pnl", response_model=PnlReply, responses=READ, tags=["read"])
    async def pnl(_: Viewer, strategy: OptName = None) -> PnlReply:
        reply: PnlReply = await guarded(control.pnl(PnlQuery(strategy=strategy)))
        return reply

    @app.get("/api/equity", response_model=EquityReply, responses=READ, tags=["read"])
    async def equity(
        _: Viewer,
        strategy: OptName = None,
        since: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
        max_points: Annotated[int, Query(ge=2, le=5000)] = 500,
    ) -> EquityReply:
        """PnL over time per book (`net` is the account), oldest first."""
        q = EquityQuery(strategy=strategy, since=since, max_points=max_points)
        reply: EquityReply = await guarded(control.equity(q))
        return reply

    @app.get("/api/risk", response_model=RiskEventsReply, responses=READ, tags=["read"])
    async def risk(_: Viewer, strategy: OptName = None, limit: Limit = 100) -> RiskEventsReply:
        """Risk gate events, newest first."""
        reply: RiskEventsReply = await guarded(control.risk(RiskEventsQuery(strategy=strategy, limit=limit)))
        return reply

    @app.get(
        "/api/events",
        response_class=StreamingResponse,
        responses={
            **AUTH,
            200: {
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
                "description": "server-sent events: hello, strategy, kill_switch, fill, order, "
                "position, risk, heartbeat; each `data` is the JSON of the bus message",
            },
        },
        tags=["read"],
    )
    async def events(who: Viewer) -> StreamingResponse:
        """Live updates bridged from NATS (for the dashboard); never ends on its own."""
        hello = sse_frame("hello", WhoAmI(name=who.name, role=who.role.value).model_dump_json())
        return StreamingResponse(
            hub.stream(hello),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return app
