"""What the gateway does, apart from HTTP: read and write control state, ask other rooms, audit.

Every control action is written to the audit log *before* it is applied; an action whose entry
cannot be written is refused (`AuditUnavailable`), except turning the kill switch on, which is
never blocked (the failure is logged with the whole entry).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from nats.js.errors import NoKeysError

from proto import Heartbeat, IntentEnvelope, KillSwitch, Message, StrategyConfig, TargetPosition
from proto.queries import (
    EquityQuery,
    EquityReply,
    FillsPage,
    FillsQuery,
    OrdersQuery,
    OrdersReply,
    PnlQuery,
    PnlReply,
    PositionsQuery,
    PositionsReply,
    RiskEventsQuery,
    RiskEventsReply,
)
from proto.subjects import (
    EXEC_ORDERS,
    EXEC_POSITIONS,
    KILL_SWITCH_KEY,
    KV_CONTROL,
    KV_STRATEGIES,
    PORTFOLIO_EQUITY,
    PORTFOLIO_FILLS,
    PORTFOLIO_PNL,
    PORTFOLIO_RISK,
    sig_intent,
)
from services.gateway.audit import AuditEntry, AuditLog, AuditUnavailable
from services.gateway.auth import Principal
from services.gateway.params import merged_params, params_model
from tradebus.bus import Bus, now_ns

log = structlog.get_logger()
R = TypeVar("R", bound=Message)


class NotFound(LookupError):
    pass


class Unavailable(RuntimeError):
    """The room that owns the answer did not reply in time, or replied with an error."""


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

    def table(self) -> list[tuple[Heartbeat, str, float]]:
        """(last heartbeat, state, seconds since) per service, by name."""
        now = time.monotonic()
        return [(hb, self.state_of(name), now - self.at[name]) for name, hb in sorted(self.seen.items())]


@dataclass
class Control:
    bus: Bus
    heartbeats: Heartbeats
    audit: AuditLog
    timeout_s: float = 5.0

    # -- strategies ----------------------------------------------------------------------------

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
                out.append((cfg, self.state_of(key)))
        return out

    def state_of(self, name: str) -> str:
        return self.heartbeats.state_of(f"signals-{name}")

    async def strategy(self, name: str) -> StrategyConfig:
        cfg = await self.bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
        if cfg is None:
            raise NotFound(f"no strategy named {name!r}")
        return cfg

    async def _change(
        self, who: Principal, action: str, name: str, update: Mapping[str, Any]
    ) -> StrategyConfig:
        cfg = await self.strategy(name)
        new = cfg.model_copy(update={**update, "updated_by": who.name, "ts_event": now_ns()})
        before = {k: getattr(cfg, k) for k in update}
        after = {k: getattr(new, k) for k in update}
        await self.audit.record(who.name, action, f"strategy:{name}", before, after)
        await self.bus.kv_put(KV_STRATEGIES, name, new)
        log.info("strategy changed", actor=who.name, action=action, strategy=name, after=after)
        return new

    async def set_enabled(self, name: str, enabled: bool, who: Principal) -> StrategyConfig:
        return await self._change(who, "enable" if enabled else "disable", name, {"enabled": enabled})

    async def set_dry_run(self, name: str, dry_run: bool, who: Principal) -> StrategyConfig:
        return await self._change(who, "dry_run", name, {"dry_run": dry_run})

    async def set_params(self, name: str, change: Mapping[str, Any], who: Principal) -> StrategyConfig:
        """Merge `change` over the stored params, validate with the strategy's model, store."""
        cfg = await self.strategy(name)
        params = merged_params(params_model(cfg.kind), cfg.params, change)
        return await self._change(who, "params", name, {"params": params})

    async def flatten(self, name: str, who: Principal) -> list[str]:
        """Target 0 for every symbol of the strategy, published on its own intent subject."""
        cfg = await self.strategy(name)
        ts = now_ns()
        intents = [
            TargetPosition(
                intent_id=f"gateway:flatten:{name}:{symbol}:{ts}", strategy=name, venue=cfg.venue,
                symbol=symbol, qty=0, reason=f"flatten by {who.name}", ts_event=ts,
            )
            for symbol in cfg.symbols
        ]  # fmt: skip
        await self.audit.record(
            who.name, "flatten", f"strategy:{name}", None, {"targets": dict.fromkeys(cfg.symbols, "0")}
        )
        for intent in intents:
            await self.bus.publish_durable(sig_intent(name), IntentEnvelope(intent=intent), intent.intent_id)
        log.info("strategy flattened", actor=who.name, strategy=name, symbols=list(cfg.symbols))
        return [i.intent_id for i in intents]

    # -- kill switch ---------------------------------------------------------------------------

    async def kill_switch(self) -> KillSwitch:
        return await self.bus.kv_get(KV_CONTROL, KILL_SWITCH_KEY, KillSwitch) or KillSwitch()

    async def set_kill_switch(self, active: bool, flatten: bool, reason: str, who: Principal) -> KillSwitch:
        before = await self.kill_switch()
        new = KillSwitch(active=active, flatten=flatten and active, reason=reason, ts_event=now_ns())
        dump = {"active": new.active, "flatten": new.flatten, "reason": new.reason}
        old = {"active": before.active, "flatten": before.flatten, "reason": before.reason}
        try:
            await self.audit.record(who.name, "kill_switch", KILL_SWITCH_KEY, old, dump)
        except AuditUnavailable as exc:
            if not active:
                raise
            log.error("kill switch on without an audit entry", error=str(exc), actor=who.name, after=dump)
        await self.bus.kv_put(KV_CONTROL, KILL_SWITCH_KEY, new)
        log.warning("kill switch set", actor=who.name, **dump)
        return new

    async def audit_log(self, limit: int) -> list[AuditEntry]:
        return await self.audit.latest(limit)

    # -- reads from the owning rooms -----------------------------------------------------------

    async def _ask(self, subject: str, query: Message, reply: type[R]) -> R:
        try:
            out = await self.bus.request(subject, query, reply, timeout=self.timeout_s)
        except Exception as exc:
            raise Unavailable(f"{subject}: {type(exc).__name__}") from None
        error = getattr(out, "error", None)
        if error:
            raise Unavailable(f"{subject}: {error}")
        return out

    async def positions(self) -> PositionsReply:
        return await self._ask(EXEC_POSITIONS, PositionsQuery(), PositionsReply)

    async def orders(self, q: OrdersQuery) -> OrdersReply:
        return await self._ask(EXEC_ORDERS, q, OrdersReply)

    async def fills(self, q: FillsQuery) -> FillsPage:
        return await self._ask(PORTFOLIO_FILLS, q, FillsPage)

    async def pnl(self, q: PnlQuery) -> PnlReply:
        return await self._ask(PORTFOLIO_PNL, q, PnlReply)

    async def risk(self, q: RiskEventsQuery) -> RiskEventsReply:
        return await self._ask(PORTFOLIO_RISK, q, RiskEventsReply)

    async def equity(self, q: EquityQuery) -> EquityReply:
        return await self._ask(PORTFOLIO_EQUITY, q, EquityReply)
