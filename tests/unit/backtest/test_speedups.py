"""The shortcuts the backtest takes for speed give exactly what the slow way gives."""

from __future__ import annotations

import gc
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto import Candle, Fill, OrderUpdate, PositionUpdate, Side, Tick
from proto.base import Message
from services.backtest.config import OPEN_LIMITS, BacktestConfig, StrategySpec
from services.backtest.data import synthetic
from services.backtest.messages import candle, tick
from services.backtest.runner import Backtest, paused_gc
from services.backtest.venue import CostModel
from services.execution.core import Decision, NettingBook
from services.execution.core.messages import plain_fill
from tradebus.venues.base import VenueFill

prices = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False)


@given(o=prices, h=prices, lo=prices, c=prices, v=prices, ts=st.integers(0, 2**62))
def test_candle_is_the_constructed_model(o: float, h: float, lo: float, c: float, v: float, ts: int) -> None:
    got = candle("sim", "ETH-USD", "5m", ts, o, h, lo, c, v)
    want = Candle.model_construct(
        venue="sim", symbol="ETH-USD", interval="5m", ts_open=ts, open=o, high=h, low=lo, close=c,
        volume=v, trades=0, closed=True, schema_version=1,
    )  # fmt: skip
    assert type(got) is Candle and got == want
    assert got.model_dump_json() == want.model_dump_json()
    assert got.model_fields_set == want.model_fields_set
    assert Candle.model_validate_json(got.model_dump_json()) == got  # a valid candle


@given(bid=prices, spread=st.floats(0, 1e3), ts=st.integers(0, 2**62))
def test_tick_is_the_constructed_model(bid: float, spread: float, ts: int) -> None:
    ask = bid + spread
    got = tick("sim", "BTC-USD", bid, ask, ts)
    want = Tick.model_construct(
        venue="sim", symbol="BTC-USD", bid=bid, ask=ask, last=(bid + ask) / 2, last_qty=0.0,
        ts_event=ts, ts_init=0, schema_version=1,
    )  # fmt: skip
    assert type(got) is Tick and got == want
    assert got.model_dump_json() == want.model_dump_json()
    assert got.model_fields_set == want.model_fields_set
    with pytest.raises(Exception, match="frozen"):
        got.bid = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_gc_restores_the_collector(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        inside: list[bool] = []

        def failing_run() -> None:
            with paused_gc():
                inside.append(gc.isenabled())
                raise RuntimeError("a failing run")

        with pytest.raises(RuntimeError):
            failing_run()
        assert inside == [False]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def _validated(m: Message) -> Message:
    """The same message through pydantic's validation, from the fields it was given."""
    return type(m)(**{k: getattr(m, k) for k in m.model_fields_set})


def test_the_books_messages_are_the_validated_models(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Message] = []
    publish = Backtest._publish

    def spy(self: Backtest, d: Decision) -> None:
        seen.extend([*d.fills, *d.order_updates, *d.positions])
        publish(self, d)

    monkeypatch.setattr(Backtest, "_publish", spy)
    costs = CostModel(depth_notional=300.0)  # thin book: partial fills, several per order
    cfg = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.5"}),), costs=costs)
    Backtest(cfg, [synthetic(3000, seed=7)]).run()
    kinds = {type(m) for m in seen}
    assert kinds == {Fill, OrderUpdate, PositionUpdate}, kinds
    for m in seen:
        v = _validated(m)
        assert m == v and m.model_dump_json() == v.model_dump_json()
        assert list(m.__dict__) == list(v.__dict__) and m.model_fields_set == v.model_fields_set


def test_a_venue_fill_of_other_types_is_validated() -> None:
    book = NettingBook("sim", OPEN_LIMITS)
    fill = VenueFill("F1", "V1", "x-1", "BTC-USD", Side.BUY, Decimal(1), 100.5, Decimal(0), "taker", 5)  # type: ignore[arg-type]
    assert not plain_fill(fill)
    (f,) = book.on_venue_fill(fill, 5).fills
    assert f.price == Decimal("100.5") and type(f.price) is Decimal  # converted, as before
