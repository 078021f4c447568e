"""NATS -> live streams: the bus messages the dashboard shows, forwarded to the hub as JSON."""

from __future__ import annotations

from dataclasses import dataclass

from proto import Fill, Heartbeat, KillSwitch, Message, OrderUpdate, PositionUpdate, RiskEvent, StrategyConfig
from proto.subjects import KILL_SWITCH_KEY, KV_CONTROL, KV_STRATEGIES
from services.gateway.control import Control
from services.gateway.live import Hub
from services.gateway.models import StrategyOut


@dataclass
class Bridge:
    control: Control
    hub: Hub

    async def subscribe(self) -> None:
        """Core NATS subscriptions (money-path subjects are on JetStream, also seen by plain subscribers)."""
        bus = self.control.bus

        def forward(event: str):  # type: ignore[no-untyped-def]
            async def on(msg: Message) -> None:
                self.hub.publish(event, msg.model_dump_json())

            return on

        async def on_heartbeat(hb: Heartbeat) -> None:
            await self.control.heartbeats.on_heartbeat(hb)
            self.hub.publish("heartbeat", hb.model_dump_json())

        await bus.subscribe("exec.fill.>", Fill, forward("fill"))
        await bus.subscribe("exec.order.>", OrderUpdate, forward("order"))
        await bus.subscribe("exec.position.>", PositionUpdate, forward("position"))
        await bus.subscribe("exec.risk.>", RiskEvent, forward("risk"))
        await bus.subscribe("svc.heartbeat.>", Heartbeat, on_heartbeat)

    async def watch_strategies(self) -> None:
        async for _key, cfg in self.control.bus.kv_watch(KV_STRATEGIES, ">", StrategyConfig):
            if cfg is not None:
                out = StrategyOut.of(cfg, self.control.state_of(cfg.name))
                self.hub.publish("strategy", out.model_dump_json())

    async def watch_kill_switch(self) -> None:
        async for _key, ks in self.control.bus.kv_watch(KV_CONTROL, KILL_SWITCH_KEY, KillSwitch):
            self.hub.publish("kill_switch", (ks or KillSwitch()).model_dump_json())
