"""The execution shell against a real nats-server and a real sim exchange: netting, fills,
duplicates, the kill switch, and crashes around a venue call."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from proto import Fill, KillSwitch, Liquidity, OrderStyle, OrderType, PositionUpdate, RiskEvent
from proto.subjects import KILL_SWITCH_KEY, KV_CONTROL
from services.execution import service
from tests.integration.execution.conftest import Env, ready, start_instance, target, tick_relay
from tradebus.testing.servers import eventually
from tradebus.venues.base import OrderRequest, VenueOrder

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD"]


def parsed(model: Any, raw: list[bytes]) -> list[Any]:
    return [model.model_validate_json(b) for b in raw]


async def test_opposite_targets_cross_internally_and_the_difference_trades(
    world: Env, nats_url: str, sim_url: str
) -> None:
    fills_raw = await world.capture("exec.fill.>")
    positions_raw = await world.capture("exec.position.>")
    inst = start_instance(nats_url, "a")
    try:
        await ready(world)
        # no ticks yet: no fresh mid, so both targets wait and are planned together
        await world.publish_intent(target("a-1", "alpha", "BTC-USD", "0.05"))
        await world.publish_intent(target("b-1", "beta", "BTC-USD", "-0.03"))

        async def both_targets() -> bool:
            p = await world.positions()
            return p is not None and p.net_target.get("BTC-USD") == Decimal("0.02")

        await eventually(both_targets, timeout=10, what="both targets booked")
        assert await world.venue_fills() == []
        async with tick_relay(nats_url, sim_url, SYMBOLS):

            async def venue_has_net() -> Decimal | None:
                q = await world.venue_position("BTC-USD")
                return q if q == Decimal("0.02") else None

            await eventually(venue_has_net, timeout=15, what="the net 0.02 bought at the venue")
            await eventually(lambda: len(fills_raw) >= 3, timeout=10, what="three fills published")
        view = await world.positions()
    finally:
        await inst.stop()

    fills = parsed(Fill, fills_raw)
    internal = [f for f in fills if f.liquidity is Liquidity.INTERNAL]
    venue = [f for f in fills if f.liquidity is not Liquidity.INTERNAL]
    assert sorted((f.strategy, f.side.value, f.qty) for f in internal) == [
        ("alpha", "buy", Decimal("0.03")),
        ("beta", "sell", Decimal("0.03")),
    ]
    assert len({f.price for f in internal}) == 1  # both sides at the same mid, no fee
    assert all(f.fee == 0 for f in internal)
    assert [(f.strategy, f.qty) for f in venue] == [("alpha", Decimal("0.02"))]
    # the venue saw one order, for the difference only
    vfills = await world.venue_fills()
    assert {f["client_order_id"] for f in vfills} == {venue[0].client_order_id}
    assert sum(Decimal(f["qty"]) for f in vfills) == Decimal("0.02")
    assert venue[0].venue_fill_id in {f["fill_id"] for f in vfills}
    # positions: published per strategy, and the query adds up to the venue
    last: dict[str, PositionUpdate] = {}
    for p in parsed(PositionUpdate, positions_raw):
        if p.symbol == "BTC-USD":
            last[p.strategy] = p
    assert last["alpha"].qty == Decimal("0.05")
    assert last["beta"].qty == Decimal("-0.03")
    assert last["net"].qty == Decimal("0.02")
    assert view is not None
    assert view.strategies["alpha"]["BTC-USD"] == Decimal("0.05")
    assert view.strategies["beta"]["BTC-USD"] == Decimal("-0.03")
    assert view.venue["BTC-USD"] == Decimal("0.02")


async def test_a_repeated_intent_does_nothing(world: Env, nats_url: str, sim_url: str) -> None:
    risk_raw = await world.capture("exec.risk.>")
    inst = start_instance(nats_url, "a")
    try:
        await ready(world)
        async with tick_relay(nats_url, sim_url, SYMBOLS):
            intent = target("dup-1", "alpha", "ETH-USD", "0.5")
            await world.publish_intent(intent)

            async def filled() -> bool:
                return await world.venue_position("ETH-USD") == Decimal("0.5")

            await eventually(filled, timeout=15, what="the first intent traded")
            # the same intent again (a redelivery, or a strategy that sent it twice): a new
            # JetStream message id, so only execution can recognize it
            await world.publish_intent(intent, msg_id="dup-1-again")
            await eventually(
                lambda: any(e.kind == "duplicate_intent" for e in parsed(RiskEvent, risk_raw)),
                timeout=10,
                what="a duplicate_intent event",
            )
            # a later, different intent is still traded: the consumer moved past the duplicate
            await world.publish_intent(target("dup-2", "alpha", "ETH-USD", "0.7"))

            async def second() -> bool:
                return await world.venue_position("ETH-USD") == Decimal("0.7")

            await eventually(second, timeout=15, what="the next intent traded")
        fills = await world.venue_fills()
    finally:
        await inst.stop()
    assert sum(Decimal(f["qty"]) for f in fills) == Decimal("0.7")
    assert len({f["client_order_id"] for f in fills}) == 2
    dup = [e for e in parsed(RiskEvent, risk_raw) if e.kind == "duplicate_intent"]
    assert len(dup) == 1 and "dup-1" in dup[0].reason


async def test_kill_switch_with_flatten_cancels_and_flattens(world: Env, nats_url: str, sim_url: str) -> None:
    risk_raw = await world.capture("exec.risk.>")
    inst = start_instance(nats_url, "a")
    try:
        await ready(world)
        async with tick_relay(nats_url, sim_url, SYMBOLS):
            await world.publish_intent(target("k-1", "alpha", "BTC-USD", "0.04"))
            await world.publish_intent(target("k-2", "beta", "ETH-USD", "-0.3"))
            # a resting bid 0.8 % under the mid (inside the 1 % price band; at 0.5 % the sim's
            # moving price filled it now and then before the kill switch, a flaky set-up)
            low = ((await world.mid("ETH-USD")) * Decimal("0.992")).quantize(Decimal("0.01"))
            style = OrderStyle(type=OrderType.LIMIT, limit_price=low)
            await world.publish_intent(target("k-3", "gamma", "ETH-USD", "0.2", style))

            async def set_up() -> bool:
                btc = await world.venue_position("BTC-USD")
                eth = await world.venue_position("ETH-USD")
                resting = await world.venue("/api/v1/orders", open="true")
                return btc == Decimal("0.04") and eth == Decimal("-0.3") and len(resting) == 1

            await eventually(set_up, timeout=15, what="positions and one resting order")
            kv = await world.nc.jetstream().key_value(KV_CONTROL)
            ks = KillSwitch(active=True, flatten=True, reason="integration test", ts_event=1)
            await kv.put(KILL_SWITCH_KEY, ks.to_bytes())

            async def flat() -> bool:
                btc = await world.venue_position("BTC-USD")
                eth = await world.venue_position("ETH-USD")
                resting = await world.venue("/api/v1/orders", open="true")
                return btc == 0 and eth == 0 and resting == []

            await eventually(flat, timeout=15, what="everything canceled and flat")
            # while killed, a new entry is refused
            await world.publish_intent(target("k-4", "alpha", "BTC-USD", "0.01"))
            await eventually(
                lambda: any(
                    e.kind == "kill_switch" and e.strategy == "alpha" for e in parsed(RiskEvent, risk_raw)
                ),
                timeout=10,
                what="the entry refused by the kill switch",
            )
        view = await world.positions()
    finally:
        await inst.stop()
    assert view is not None
    assert all(q == 0 for s in view.strategies.values() for q in s.values())
    assert await world.venue_position("BTC-USD") == 0
    kinds = [e.kind for e in parsed(RiskEvent, risk_raw)]
    assert "kill_switch" in kinds


class CrashingClient:
    """Wraps the real client; the first submit 'crashes the process' before or after the venue
    got it (CancelledError is not an Exception: it unwinds the handler without an ack)."""

    def __init__(self, inner: Any, after_send: bool) -> None:
        self.inner, self.after_send, self.crashed = inner, after_send, asyncio.Event()

    async def submit(self, order: OrderRequest) -> VenueOrder:
        if not self.crashed.is_set():
            self.crashed.set()
            if self.after_send:
                await self.inner.submit(order)
            raise asyncio.CancelledError("simulated crash")
        result: VenueOrder = await self.inner.submit(order)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("after_send", [False, True], ids=["before-send", "reply-lost"])
async def test_crash_around_a_venue_order_neither_loses_nor_doubles_it(
    world: Env, nats_url: str, sim_url: str, monkeypatch: pytest.MonkeyPatch, after_send: bool
) -> None:
    real = service.open_trading
    clients: list[CrashingClient] = []

    def crashing(*args: Any) -> CrashingClient:
        clients.append(CrashingClient(real(*args), after_send))
        return clients[-1]

    async with tick_relay(nats_url, sim_url, SYMBOLS):
        monkeypatch.setattr(service, "open_trading", crashing)
        first = start_instance(nats_url, "first")
        await ready(world)
        await world.publish_intent(target("c-1", "alpha", "SOL-USD", "2"))
        await eventually(lambda: clients[0].crashed.is_set(), timeout=15, what="the simulated crash")
        await first.stop()
        monkeypatch.setattr(service, "open_trading", real)
        sent_before = {f["client_order_id"] for f in await world.venue_fills()}
        assert len(sent_before) == (1 if after_send else 0)

        second = start_instance(nats_url, "second")
        try:

            async def settled() -> bool:
                p = await world.positions()
                return (
                    p is not None
                    and p.strategies.get("alpha", {}).get("SOL-USD") == Decimal("2")
                    and await world.venue_position("SOL-USD") == Decimal("2")
                )

            await eventually(settled, timeout=20, what="the target reached after the restart")
            view = await world.positions()
        finally:
            await second.stop()
    fills = await world.venue_fills()
    orders = {f["client_order_id"] for f in fills}
    assert len(orders) == 1, f"one venue order expected, got {orders}"
    if after_send:
        assert orders == sent_before  # found by its id on restart, not sent again
    assert sum(Decimal(f["qty"]) for f in fills) == Decimal("2")
    assert view is not None
    assert view.strategies.get("_unattributed", {}).get("SOL-USD", Decimal(0)) == 0
