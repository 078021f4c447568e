"""A run built from the compiled trade sequence (`fast_build.build`) is the general path's run:
the same intents, fills, venue fills, risk events, cash, equity (bit for bit) and exposure."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.backtest import fast_events as fe
from services.backtest.config import BacktestConfig, StrategySpec
from services.backtest.data import Bars, synthetic
from services.backtest.fast import FastRun
from services.backtest.fast_build import build
from services.backtest.report import round_trips, summary
from services.backtest.runner import Backtest
from services.backtest.venue import CostModel
from tests.unit.backtest.test_fast import assert_same, walk
from tests.unit.backtest.test_fast_events import gapped


def same_figures(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal summaries (NaN equal to NaN)."""
    nan = [k for k, v in a.items() if isinstance(v, float) and math.isnan(v)]
    return nan == [k for k, v in b.items() if isinstance(v, float) and math.isnan(v)] and {
        k: v for k, v in a.items() if k not in nan
    } == {k: v for k, v in b.items() if k not in nan}


def check(cfg: BacktestConfig, bars: Bars) -> bool:
    run = FastRun(Backtest(cfg, [bars]))
    t = fe.trades(run)
    if t is None or not t.covered:
        return False
    built = build(run, t)
    assert not built.materialized
    lazy = summary(built)  # from the kernel's integers: no messages built
    assert not built.materialized
    general = Backtest(replace(cfg, fast=False), [bars]).run()
    assert_same(built, general)
    assert built.materialized
    assert same_figures(lazy, summary(built, round_trips(built.fills)))
    assert same_figures(lazy, summary(general, round_trips(general.fills)))
    assert built.stats is not None and built.stats.risk_events == len(built.risk_events)
    # beyond `==`: the same JSON on the wire and the same fields set (built without validation)
    mine = [*built.intents, *built.fills, *built.risk_events]
    theirs = [*general.intents, *general.fills, *general.risk_events]
    for a, b in zip(mine, theirs, strict=True):
        assert a.model_dump_json() == b.model_dump_json()
        assert a.model_fields_set == b.model_fields_set
    for x, y in zip(built.intents, general.intents, strict=True):
        assert x.intent.model_fields_set == y.intent.model_fields_set
        assert x.intent.model_dump_json() == y.intent.model_dump_json()
    assert [repr(f) for f in built.venue_fills] == [repr(f) for f in general.venue_fills]
    return True


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    period=st.integers(2, 12),
    dev=st.sampled_from([0.5, 1.0, 2.0]),
    mult=st.sampled_from([0.3, 1.0, 2.5]),
    intrabar=st.sampled_from(["auto", "ohlc", "olhc"]),
    spread=st.sampled_from([0.0, 1.0, 30.0]),
    size=st.sampled_from(["0.01", "0.5", "3"]),
    fee=st.sampled_from(["0.0005", "0.00137", "0"]),
)
def test_a_built_run_is_the_general_run_on_random_walks(
    data: st.DataObject, period: int, dev: float, mult: float, intrabar: str, spread: float, size: str,
    fee: str,
) -> None:  # fmt: skip
    bars = gapped(data, walk(data, data.draw(st.integers(30, 300))))
    params = {"size": size, "bb_period": period, "bb_dev": dev, "rsi_period": 3, "atr_period": 3,
              "atr_multiplier": mult, "rsi_long_below": 60, "rsi_short_above": 40}  # fmt: skip
    cfg = BacktestConfig(
        strategies=(StrategySpec("bb_rsi_scalper", params),),
        intrabar=intrabar,  # type: ignore[arg-type]
        costs=CostModel(spread_bps=spread, taker_fee=Decimal(fee)),
    )
    event("covered" if check(cfg, bars) else "uncovered")


def test_a_built_run_is_the_general_run_on_a_large_series() -> None:
    bars = synthetic(200_000, seed=11)
    cfg = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.01"}),))
    assert check(cfg, bars)


def test_runs_are_compiled_only_where_the_kernel_covers_them() -> None:
    bars = synthetic(3000, seed=3)
    cfg = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.01"}),))
    default = Backtest(cfg, [bars]).run()
    assert default.compiled and default.fast_path and default.exact_steps == 0
    exact = Backtest(replace(cfg, compiled=False), [bars]).run()
    assert not exact.compiled and exact.exact_steps > 0
    late = Backtest(replace(cfg, costs=CostModel(latency_ms=25_000.0)), [bars]).run()
    assert not late.compiled and late.fast_path and late.exact_steps > 0
    # a book too thin for one order: several fills per order, not covered
    thin = Backtest(replace(cfg, costs=CostModel(depth_notional=100.0)), [bars]).run()
    assert not thin.compiled and thin.fast_path
    assert len(thin.venue_fills) > len(exact.venue_fills)
