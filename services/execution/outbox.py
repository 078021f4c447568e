"""The outbox of a decision: the JetStream messages it must publish, each with its `Nats-Msg-Id`,
and their publication: all sent at once, then every ack awaited (JetStream keeps one
connection's messages in the order they were sent, and drops an id it already has)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from proto.subjects import exec_fill, exec_order, exec_position, exec_risk
from services.execution.core import Decision
from services.execution.store import Outgoing

#: seconds to wait for the acks of one outbox (one JetStream request's timeout)
ACK_TIMEOUT_S = 10.0


def outgoing(d: Decision) -> list[Outgoing]:
    """Fills, order updates, positions and risk events of `d`, with ids stable across retries.

    Order updates and positions are states, read as the newest one: of several for the same
    order (or the same strategy and symbol) in one decision, only the last is published. Each
    carries that `key`, so outboxes put together later keep the newest state only (`compact`)."""
    out = [Outgoing(exec_fill(f.strategy), f.fill_id, f.to_bytes()) for f in d.fills]
    newest_order = {u.client_order_id: i for i, u in enumerate(d.order_updates)}
    for i, u in enumerate(d.order_updates):
        if newest_order[u.client_order_id] != i:
            continue
        msg_id = f"{u.client_order_id}:{u.status.value}:{u.filled_qty}"
        out.append(Outgoing(exec_order(u.owner), msg_id, u.to_bytes(), f"order:{u.client_order_id}"))
    newest_pos = {(p.strategy, p.symbol): i for i, p in enumerate(d.positions)}
    for i, p in enumerate(d.positions):
        if newest_pos[(p.strategy, p.symbol)] != i:
            continue
        msg_id = f"{p.strategy}:{p.symbol}:{p.ts_event}:{p.qty}:{p.target}"
        subject = exec_position(p.strategy, p.symbol)
        out.append(Outgoing(subject, msg_id, p.to_bytes(), subject))
    for e in d.risk_events:
        msg_id = f"{e.kind}:{e.strategy}:{e.symbol}:{e.ts_event}:{e.reason}"
        out.append(Outgoing(exec_risk(e.kind), msg_id, e.to_bytes()))
    return out


def compact(older: Sequence[Outgoing], newer: Sequence[Outgoing] = ()) -> list[Outgoing]:
    """`older` without the states that a later one of the same key replaces (in `older` itself
    or in `newer`), in order; messages with no key (fills, risk events) all stay."""
    last: dict[str, int] = {o.key: i for i, o in enumerate(older) if o.key is not None}
    for o in newer:
        if o.key is not None:
            last[o.key] = -1
    return [o for i, o in enumerate(older) if o.key is None or last[o.key] == i]


async def publish_all(js: Any, outbox: Sequence[Outgoing], timeout_s: float = ACK_TIMEOUT_S) -> None:
    """Send every message without waiting in between, then wait for all the acks; raise if one
    is refused or missing after `timeout_s` (the caller then stops: the outbox is stored)."""
    if not outbox:
        return
    acks = [await js.publish_async(o.subject, o.payload, headers={"Nats-Msg-Id": o.msg_id}) for o in outbox]
    try:
        await asyncio.wait_for(asyncio.gather(*acks), timeout_s)
    except BaseException:
        for a in acks:
            if not a.done():
                a.cancel()
        raise
