"""The stored record (book snapshot + outbox) and the outbox's message ids."""

from __future__ import annotations

import pytest

from proto import OrderStatus
from services.execution.core import NettingBook
from services.execution.outbox import outgoing
from services.execution.store import FORMAT, Outgoing, Stored, decode, encode
from tests.unit.execution.factory import NS, T0, book, limits, target, vfill, vorder


def traded_book() -> tuple[NettingBook, list[Outgoing]]:
    b = book()
    b.on_tick("BTC-USD", 100, 101, T0)
    d = b.on_intent(target("alpha", "BTC-USD", "2"), None, T0)
    d.merge(b.on_intent(target("beta", "BTC-USD", "-0.5"), None, T0))
    order = d.submit[0]
    b.mark_submitted(order.request.client_order_id, T0)
    d.merge(b.on_order_update(vorder(order, OrderStatus.NEW), T0 + NS))
    d.merge(b.on_venue_fill(vfill(order, "1", "100.5", fee="0.01"), T0 + NS))
    return b, outgoing(d)


def test_a_record_reads_back_to_the_same_book_and_outbox() -> None:
    b, outbox = traded_book()
    raw = encode(Stored(b.snapshot(), outbox, T0 + NS, T0))
    got = decode(raw)
    assert got.outbox == outbox
    assert (got.now, got.fills_since) == (T0 + NS, T0)
    assert got.book is not None
    again = NettingBook.restore(got.book, limits())
    assert again.snapshot() == b.snapshot()
    assert again.position("alpha", "BTC-USD") == b.position("alpha", "BTC-USD") != 0


def test_outbox_ids_are_distinct_and_stable() -> None:
    _, first = traded_book()
    ids = [o.msg_id for o in first]
    assert len(ids) == len(set(ids))
    subjects = {o.subject.split(".")[1] for o in first}
    assert subjects == {"fill", "order", "position"}


def test_a_bare_book_of_format_1_is_accepted() -> None:
    b, _ = traded_book()
    got = decode(encode(Stored(b.snapshot())).replace(f'"format":{FORMAT}'.encode(), b'"format":0'))
    assert got.outbox == [] and got.book is not None and got.book["format"] == 0


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (f'{{"format": {FORMAT}, "book": null}}'.encode(), "malformed"),
        (
            f'{{"format": {FORMAT}, "book": null, "outbox": [[1]], "now": 1, "fills_since": 0}}'.encode(),
            "malformed",
        ),
    ],
)
def test_a_bad_record_is_a_clear_error(raw: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        decode(raw)
