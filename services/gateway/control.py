"""What the gateway does, apart from HTTP: read and write control state, ask other rooms."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nats.js.errors import NoKeysError

from proto import Heartbeat, StrategyConfig
from proto.queries import FillsPage, FillsQuery, PnlQuery, PnlReply, PositionsQuery, PositionsReply
from proto.subjects import EXEC_POSITIONS, KV_STRATEGIES, PORTFOLIO_FILLS, PORTFOLIO_PNL
from tradebus.bus import Bus, now_ns


class NotFound(LookupError):
    pass


class Unavailable(RuntimeError):
    """The room that owns the answer did not reply in time."""


@dataclass
class Heartbeats:
    seen: dict[str, Heartbeat] = field(default_factory=dict)
    at: dict[str, float] = field(default_factory=dict)

    async def on_heartbeat(self, hb: Heartbeat) -> None:
        self.seen[hb.service] = hb
        self.at[hb.service] = time.monotonic()

    def state_of(self, service: str, stale_after_s: float = 10.0) -> str:
        at = self.at.get(service)
        if at is None:
            return "unknown"
        if time.monotonic() - at > stale_after_s:
            return "stale"
        return self.seen[service].state


@dataclass
class Control:
    bus: Bus
    heartbeats: Heartbeats
    timeout_s: float = 5.0

    async def strategies(self) -> list[tuple[StrategyConfig, str]]:
        kv = await self.bus.kv(KV_STRATEGIES)
        try:
            keys = await kv.keys()
        except NoKeysError:
            return []
        out = []
        for key in sorted(keys):
            cfg = await self.bus.kv_get(KV_STRATEGIES, key, StrategyConfig)
            if cfg is not None:
                out.append((cfg, self.heartbeats.state_of(f"signals-{key}")))
        return out

    async def set_enabled(self, name: str, enabled: bool, who: str) -> tuple[StrategyConfig, str]:
        cfg = await self.bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
        if cfg is None:
            raise NotFound(f"no strategy named {name!r}")
        new = cfg.model_copy(update={"enabled": enabled, "updated_by": who, "ts_event": now_ns()})
        await self.bus.kv_put(KV_STRATEGIES, name, new)
        return new, self.heartbeats.state_of(f"signals-{name}")

    async def _ask(self, subject: str, query: object, reply: type) -> object:
        try:
            return await self.bus.request(subject, query, reply, timeout=self.timeout_s)  # type: ignore[arg-type]
        except Exception as exc:
            raise Unavailable(f"{subject}: {type(exc).__name__}") from None

    async def positions(self) -> PositionsReply:
        return await self._ask(EXEC_POSITIONS, PositionsQuery(), PositionsReply)  # type: ignore[return-value]

    async def fills(self, q: FillsQuery) -> FillsPage:
        return await self._ask(PORTFOLIO_FILLS, q, FillsPage)  # type: ignore[return-value]

    async def pnl(self, q: PnlQuery) -> PnlReply:
        return await self._ask(PORTFOLIO_PNL, q, PnlReply)  # type: ignore[return-value]
