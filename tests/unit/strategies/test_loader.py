"""Loading strategies: builtins, module paths, files outside the package, entry points."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from services.signals.api import Strategy, Target
from services.signals.strategies import (
    BUILTIN,
    BbRsiScalper,
    StrategyLoadError,
    load_strategy_class,
)
from tests.unit.strategies.scenario import candle, ctx

USER_STRATEGY = textwrap.dedent(
    '''
    from __future__ import annotations

    from decimal import Decimal
    from typing import ClassVar

    from proto import Candle
    from services.signals.api import Context, Strategy, StrategyParams, Target


    class AboveParams(StrategyParams):
        level: float = 100.0


    class Above(Strategy[AboveParams]):
        """Long while the close is above `level`, flat otherwise."""

        name: ClassVar[str] = "above"
        Params: ClassVar[type[StrategyParams]] = AboveParams

        def on_candle(self, candle: Candle, ctx: Context) -> tuple[Target, ...]:
            want = self.p.size if candle.close > self.p.level else Decimal(0)
            return (Target(qty=want),) if want != ctx.position else ()
    '''
)


def _check_user_strategy(cls: type[Strategy]) -> None:  # type: ignore[type-arg]
    assert cls.name == "above"
    s = cls(cls.Params.model_validate({"level": 50.0, "size": "2"}), "BTC-USD")
    assert s.on_candle(candle(0, 51.0), ctx()) == (Target(qty=Decimal(2)),)
    assert s.on_candle(candle(1, 49.0), ctx("2")) == (Target(qty=Decimal(0)),)


def test_builtin_by_name() -> None:
    assert load_strategy_class("bb_rsi_scalper") is BbRsiScalper
    assert all(load_strategy_class(name) is cls for name, cls in BUILTIN.items())


def test_module_path() -> None:
    spec = "services.signals.strategies.bb_rsi_scalper:BbRsiScalper"
    assert load_strategy_class(spec) is BbRsiScalper


def test_user_file_outside_the_package(tmp_path: Path) -> None:
    f = tmp_path / "somewhere" / "my_strategy.py"
    f.parent.mkdir()
    f.write_text(USER_STRATEGY)
    _check_user_strategy(load_strategy_class(f"{f}:Above"))


def test_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "acme_strats"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(USER_STRATEGY)
    dist = tmp_path / "acme_strats-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-strats\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tradebus.strategies]\nabove = acme_strats:Above\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _check_user_strategy(load_strategy_class("above"))


def test_unknown_name_lists_what_is_known() -> None:
    with pytest.raises(StrategyLoadError, match=r"unknown strategy 'nope'.*bb_rsi_scalper"):
        load_strategy_class("nope")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StrategyLoadError, match="no such file"):
        load_strategy_class(f"{tmp_path / 'missing.py'}:X")


def test_missing_class(tmp_path: Path) -> None:
    f = tmp_path / "s.py"
    f.write_text(USER_STRATEGY)
    with pytest.raises(StrategyLoadError, match="has no attribute 'Below'"):
        load_strategy_class(f"{f}:Below")


def test_not_a_strategy(tmp_path: Path) -> None:
    f = tmp_path / "s.py"
    f.write_text("class Thing:\n    pass\n")
    with pytest.raises(StrategyLoadError, match="not a subclass of Strategy"):
        load_strategy_class(f"{f}:Thing")


def test_broken_file_names_the_error(tmp_path: Path) -> None:
    f = tmp_path / "s.py"
    f.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(StrategyLoadError, match="boom"):
        load_strategy_class(f"{f}:X")


def test_missing_module() -> None:
    with pytest.raises(StrategyLoadError, match="cannot import module 'no_such_mod'"):
        load_strategy_class("no_such_mod:X")


def test_every_strategy_of_the_sources_is_builtin() -> None:
    from services.signals.strategies import BUILTIN

    assert sorted(BUILTIN) == sorted(
        [
            "bb_rsi_scalper", "market_maker", "ema_rsi_alpha", "macd_momentum",
            "bb_mean_reversion", "sma_cross_scalp", "rsi_bb_trend", "renko_ao_divergence",
        ]
    )  # fmt: skip
    for name, cls in BUILTIN.items():
        assert cls.name == name
        assert load_strategy_class(name) is cls


@pytest.mark.parametrize(
    "name", sorted(__import__("services.signals.strategies", fromlist=["BUILTIN"]).BUILTIN)
)
def test_every_strategy_refuses_an_unknown_interval(name: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown interval '7x'"):
        BUILTIN[name].Params.model_validate({"interval": "7x"})
