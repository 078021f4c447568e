"""The gateway's HTTP face: thin routes that check the token, call one function, return a model."""

import secrets
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from proto.queries import FillsPage, FillsQuery, PnlQuery, PnlReply, PositionsReply
from services.gateway.control import Control, NotFound, Unavailable
from services.gateway.settings import GatewaySettings

NAME_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
SYMBOL_PATTERN = r"^[A-Za-z0-9_\-/]{1,32}$"


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


class StrategyOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    enabled: bool
    dry_run: bool
    venue: str
    params: dict[str, Any]
    symbols: list[str]
    state: str


class Health(BaseModel):
    ok: bool
    nats: bool


class ErrorOut(BaseModel):
    detail: str


_bearer = HTTPBearer(auto_error=False)
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or invalid bearer token"},
    403: {"model": ErrorOut, "description": "the token's role may not do this"},
    503: {"model": ErrorOut, "description": "the room that owns the answer did not reply"},
}


def create_app(settings: GatewaySettings, control: Control) -> FastAPI:
    app = FastAPI(
        title="Tradebus gateway",
        version="1",
        description="Control and read the Tradebus platform. Quantities and prices are decimal strings.",
    )
    tokens: list[tuple[str, Role]] = [(settings.api_token.get_secret_value(), Role.OPERATOR)]
    if settings.viewer_token:
        tokens.append((settings.viewer_token.get_secret_value(), Role.VIEWER))

    def role_of(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Role:
        given = creds.credentials.encode() if creds else b""
        found: Role | None = None
        for token, role in tokens:  # compare against every token: constant time per token
            if secrets.compare_digest(given, token.encode()):
                found = role
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or invalid bearer token",
                {"WWW-Authenticate": "Bearer"},
            )
        return found

    def operator(role: Role = Depends(role_of)) -> Role:
        if role is not Role.OPERATOR:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "operator role required")
        return role

    Viewer = Annotated[Role, Depends(role_of)]
    Operator = Annotated[Role, Depends(operator)]
    StrategyName = Annotated[str, Path(pattern=NAME_PATTERN)]

    def out(cfg: Any, state: str) -> StrategyOut:
        return StrategyOut(
            name=cfg.name, kind=cfg.kind, enabled=cfg.enabled, dry_run=cfg.dry_run, venue=cfg.venue,
            params=cfg.params, symbols=list(cfg.symbols), state=state,
        )  # fmt: skip

    async def guarded(coro: Any) -> Any:
        try:
            return await coro
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except Unavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        return Health(ok=control.bus.connected, nats=control.bus.connected)

    @app.get(
        "/api/strategies",
        response_model=list[StrategyOut],
        responses=AUTH_ERRORS,
        tags=["strategies"],
    )
    async def list_strategies(_: Viewer) -> list[StrategyOut]:
        return [out(c, s) for c, s in await control.strategies()]

    @app.post(
        "/api/strategies/{name}/{action}",
        response_model=StrategyOut,
        responses={**AUTH_ERRORS, 404: {"model": ErrorOut, "description": "unknown strategy"}},
        tags=["strategies"],
    )
    async def switch(name: StrategyName, action: Literal["enable", "disable"], role: Operator) -> StrategyOut:
        cfg, state = await guarded(control.set_enabled(name, action == "enable", who=role.value))
        return out(cfg, state)

    @app.get("/api/positions", response_model=PositionsReply, responses=AUTH_ERRORS, tags=["read"])
    async def positions(_: Viewer) -> PositionsReply:
        reply: PositionsReply = await guarded(control.positions())
        return reply

    @app.get("/api/fills", response_model=FillsPage, responses=AUTH_ERRORS, tags=["read"])
    async def fills(
        _: Viewer,
        strategy: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
        symbol: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> FillsPage:
        q = FillsQuery(strategy=strategy, symbol=symbol, limit=limit, cursor=cursor)
        page: FillsPage = await guarded(control.fills(q))
        return page

    @app.get("/api/pnl", response_model=PnlReply, responses=AUTH_ERRORS, tags=["read"])
    async def pnl(_: Viewer, strategy: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None) -> PnlReply:
        reply: PnlReply = await guarded(control.pnl(PnlQuery(strategy=strategy)))
        return reply

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, exc: Unavailable) -> Any:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))

    return app
