"""A compiled run's messages, materialized in bulk (`fast_build.messages`), are the exact steps'
messages field for field: equal values of the same types (a Decimal's digits and exponent
too), the same ids, the same order. Also the pieces the bulk build relies on."""

from __future__ import annotations

import dataclasses
import gc
import math
import weakref
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from services.backtest.config import BacktestConfig, StrategySpec
from services.backtest.data import Bars, synthetic
from services.backtest.fast import eligible
from services.backtest.fast_build import _prices
from services.backtest.runner import Backtest, paused_gc
from services.signals.strategies.pricing import dec_price

CFG = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.01"}),))


def same(a: Any, b: Any, where: str) -> None:
    """`a` is `b` field for field, recursively, down to each Decimal's digits and exponent."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, BaseModel):
        assert a.model_fields_set == b.model_fields_set, where
        assert (a.__pydantic_extra__, a.__pydantic_private__) == (
            b.__pydantic_extra__,
            b.__pydantic_private__,
        )
        assert list(a.__dict__) == list(b.__dict__), where  # the fields in the same order
        for k in type(a).model_fields:
            same(getattr(a, k), getattr(b, k), f"{where}.{k}")
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, Decimal):
        assert a.as_tuple() == b.as_tuple(), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_materialized_messages_are_the_exact_steps_messages_on_many_trades() -> None:
    bars = synthetic(120_000, seed=5)
    compiled = Backtest(CFG, [bars]).run()
    exact = Backtest(replace(CFG, compiled=False), [bars]).run()
    assert compiled.compiled and not compiled.materialized
    assert not exact.compiled and exact.exact_steps > 0
    pairs = {
        "intents": (compiled.intents, exact.intents),
        "fills": (compiled.fills, exact.fills),
        "venue_fills": (compiled.venue_fills, exact.venue_fills),
        "risk_events": (compiled.risk_events, exact.risk_events),
    }
    assert compiled.materialized
    assert len(exact.fills) > 5000 and len(exact.risk_events) > 1000  # many trades, brackets fired
    assert sum(e.intent.bracket is None for e in exact.intents) > 500  # exits at the band too
    for name, (mine, theirs) in pairs.items():
        assert mine == theirs, name
        assert len(mine) == len(theirs), name
        for k, (x, y) in enumerate(zip(mine, theirs, strict=True)):
            same(x, y, f"{name}[{k}]")
    assert (compiled.cash.as_tuple(), compiled.unexecuted) == (exact.cash.as_tuple(), exact.unexecuted)


def test_a_copy_with_an_update_leaves_the_other_messages_fields_set_alone() -> None:
    """The messages of one type share one fields set (`fast_build._models`): pydantic's own ways
    to change a message must not reach it."""
    res = Backtest(CFG, [synthetic(20_000, seed=3)]).run()
    first, second = res.fills[0], res.fills[1]
    before = set(second.model_fields_set)
    assert "schema_version" not in before  # not passed by the live code
    changed = first.model_copy(update={"schema_version": 1})
    assert "schema_version" in changed.model_fields_set
    with pytest.raises(Exception, match="frozen"):
        first.fee = Decimal(0)  # type: ignore[misc]
    assert first.model_fields_set == before and second.model_fields_set == before


# floats near a half-integer at the 8th place, where rounding repr(x) and rounding x itself could differ
near_half = st.builds(
    lambda k, steps: _walk((k + 0.5) / 1e8, steps), st.integers(1, 10**15), st.integers(-3, 3)
)


def _walk(x: float, steps: int) -> float:
    for _ in range(abs(steps)):
        x = math.nextafter(x, math.inf if steps > 0 else 0.0)
    return x


@settings(max_examples=300)
@given(xs=st.lists(st.floats(1e-10, 1e9) | near_half, max_size=30))
def test_prices_in_bulk_are_dec_price_digit_for_digit(xs: list[float]) -> None:
    got = _prices(xs)
    assert [d.as_tuple() for d in got] == [dec_price(x).as_tuple() for x in xs]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_prices_in_bulk_refuse_what_dec_price_refuses(bad: float) -> None:
    with pytest.raises(ValueError, match="finite and > 0"):
        _prices([1.5, bad, 2.5])


def _bars(n: int = 300) -> Bars:
    return synthetic(n, seed=1)


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -2.0])
@pytest.mark.parametrize("at", [1, 150, -1])  # the first open is the sim's start price
def test_the_fast_path_refuses_prices_not_finite_and_positive(column: str, bad: float, at: int) -> None:
    bars = _bars()
    values = getattr(bars, column).copy()
    values[at] = bad
    assert eligible(Backtest(CFG, [bars])) is None
    broken = replace(bars, **{column: values})
    assert "finite and > 0" in (eligible(Backtest(CFG, [broken])) or "")


@pytest.mark.parametrize("at", [1, 150, 299])
def test_the_fast_path_refuses_times_not_strictly_increasing(at: int) -> None:
    bars = _bars()
    ts = bars.ts.copy()
    ts[at] = ts[at - 1]
    assert "strictly increasing" in (eligible(Backtest(CFG, [replace(bars, ts=ts)])) or "")


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_a_pause_leaves_nothing_frozen_and_its_cycles_collectable() -> None:
    was = gc.isenabled()
    gc.enable()
    try:
        frozen = gc.get_freeze_count()
        with paused_gc():
            a, b = _Node(), _Node()
            a.other, b.other = b, a
        assert gc.isenabled() and gc.get_freeze_count() == frozen
        assert gc.is_tracked(a)
        del a, b
        found = gc.collect()
        assert found >= 2  # the cycle was garbage, and the collector saw it
        assert not [o for o in gc.get_objects() if isinstance(o, _Node)]
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("compiled", [True, False])
def test_a_result_is_freed_by_reference_counting_alone(compiled: bool) -> None:
    """A result dropped with its messages never built (a sweep job's: only its summary) is
    freed at once, not left in a cycle for the collector."""
    was = gc.isenabled()
    gc.disable()
    try:
        res = Backtest(replace(CFG, compiled=compiled), [synthetic(3000, seed=3)]).run()
        assert res.fast_path and res.compiled == compiled
        ref = weakref.ref(res)
        del res
        assert ref() is None
    finally:
        (gc.enable if was else gc.disable)()
