"""The outbox of a decision: every fill and risk event, and the newest state of each order and
each position (several updates of one in a decision collapse to the last; so do those of
outboxes put together later)."""

from __future__ import annotations

from decimal import Decimal

from proto import PositionUpdate, RiskEvent
from services.execution.core import Decision
from services.execution.outbox import compact, outgoing
from tests.unit.execution.factory import T0, book, target


def pos(strategy: str, symbol: str, qty: str, ts: int) -> PositionUpdate:
    return PositionUpdate(strategy=strategy, venue="sim", symbol=symbol, qty=Decimal(qty), ts_event=ts)


def test_only_the_newest_position_of_each_strategy_and_symbol_is_published() -> None:
    d = Decision(
        positions=[
            pos("a", "X-USD", "1", T0),
            pos("b", "X-USD", "5", T0),
            pos("a", "X-USD", "2", T0 + 1),
            pos("a", "Y-USD", "3", T0 + 2),
            pos("a", "X-USD", "4", T0 + 3),
        ]
    )
    out = [PositionUpdate.model_validate_json(o.payload) for o in outgoing(d)]
    assert [(p.strategy, p.symbol, p.qty) for p in out] == [
        ("b", "X-USD", Decimal(5)),
        ("a", "Y-USD", Decimal(3)),
        ("a", "X-USD", Decimal(4)),
    ]


def test_every_order_keeps_its_newest_update_and_nothing_else_is_dropped() -> None:
    b = book()
    b.on_tick("X-USD", 100, 101, T0)
    d = b.on_intent(target("a", "X-USD", "1"), None, T0)
    (order,) = [n.request.client_order_id for n in d.submit]
    d.merge(b.mark_submitted(order, T0))
    assert len(d.order_updates) == 2
    ids = [o.msg_id for o in outgoing(d) if o.subject.startswith("exec.order.")]
    assert ids == [f"{order}:submitted:0"]
    assert len([o for o in outgoing(d) if o.subject.startswith("exec.position.")]) == len(
        {(p.strategy, p.symbol) for p in d.positions}
    )


def test_outboxes_put_together_keep_each_states_newest_and_every_event_in_order() -> None:
    b = book()
    b.on_tick("X-USD", 100, 101, T0)
    first = b.on_intent(target("a", "X-USD", "1"), None, T0)
    (order,) = [n.request.client_order_id for n in first.submit]
    later = b.mark_submitted(order, T0)
    older = outgoing(first)
    newer = outgoing(later)
    kept = compact(older, newer)
    # the order's `new` is replaced by the newer `submitted`; the position is not in `newer`
    assert [o.msg_id for o in kept] == [o.msg_id for o in older if o.key != f"order:{order}"]
    assert [o.key for o in kept] == ["exec.position.a.X-USD"]
    # within one list the last of a key wins, at its own place; events have no key and all stay
    p1 = outgoing(Decision(positions=[pos("a", "X-USD", "1", T0)]))
    p2 = outgoing(Decision(positions=[pos("a", "X-USD", "2", T0 + 1)]))
    event = outgoing(Decision(risk_events=[RiskEvent(kind="k", reason="r", ts_event=T0)]))
    merged = compact([*event, *p1, *event, *p2])
    assert [o.msg_id for o in merged] == [o.msg_id for o in [*event, *event, *p2]]
