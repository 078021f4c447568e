"""YAML rule strategies: the safe grammar, loading, scenarios, and errors with file and line."""

from __future__ import annotations

import re
import textwrap
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import talib
from hypothesis import given
from hypothesis import strategies as st

from proto import Bracket
from services.signals.api import Target
from services.signals.strategies import load_strategy_class
from services.signals.strategies.pricing import qty_for_notional
from services.signals.strategies.rules import RulesError, RulesParams, load_rules_class, parse_rules
from services.signals.strategies.rules_grammar import ConditionError, evaluate, names, parse
from tests.unit.strategies.scenario import candles, ctx, dec

SEED_LIKE = textwrap.dedent(
    """\
    strategy:
      name: "BTC 1H Strategy"
      exchange: sim
      symbol: BTC/USDT
      timeframe: 1h

    indicators:
      rsi:
        period: 14
        overbought: 70
        oversold: 30

    entry:
      long:
        - rsi < 30
      short:
        - rsi > 70

    exit:
      take_profit_pct: 2.0
      stop_loss_pct: 1.0

    risk:
      position_size_usd: 100
      max_positions: 3
    """
)

KNOWN = {"rsi", "close", "bb.upper", "bb.lower", "x", "y"}


# ---------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("rsi < 30", {"rsi": 29.9}, True),
        ("rsi < 30", {"rsi": 30.0}, False),
        ("close > bb.upper", {"close": 101.0, "bb.upper": 100.0}, True),
        ("rsi < 30 and close < bb.lower", {"rsi": 20.0, "close": 5.0, "bb.lower": 4.0}, False),
        ("rsi < 30 or close < bb.lower", {"rsi": 20.0, "close": 5.0, "bb.lower": 4.0}, True),
        ("not rsi >= 50", {"rsi": 49.0}, True),
        ("x + y * 2 == 7", {"x": 1.0, "y": 3.0}, True),  # * binds tighter than +
        ("(x + y) * 2 == 8", {"x": 1.0, "y": 3.0}, True),
        ("-x < 0", {"x": 1.0}, True),
        ("close > bb.upper * 1.01", {"close": 101.5, "bb.upper": 100.0}, True),
        ("x / 0 > 1", {"x": 1.0}, False),  # division by zero is NaN: never true
    ],
)
def test_conditions_evaluate(text: str, env: dict[str, float], expected: bool) -> None:
    assert evaluate(parse(text, KNOWN), env, None) is expected


def test_crosses_use_the_previous_bar() -> None:
    node = parse("x crosses_above y", KNOWN)
    assert evaluate(node, {"x": 2.0, "y": 1.0}, {"x": 0.5, "y": 1.0}) is True
    assert evaluate(node, {"x": 2.0, "y": 1.0}, {"x": 1.5, "y": 1.0}) is False
    assert evaluate(node, {"x": 2.0, "y": 1.0}, None) is False
    below = parse("x crosses_below y", KNOWN)
    assert evaluate(below, {"x": 0.0, "y": 1.0}, {"x": 1.0, "y": 1.0}) is True


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_comparisons_agree_with_python(a: float, b: float) -> None:
    env = {"x": a, "y": b}
    for op, want in [("<", a < b), ("<=", a <= b), (">", a > b), (">=", a >= b)]:
        assert evaluate(parse(f"x {op} y", KNOWN), env, None) is want


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("rsii < 30", "unknown name 'rsii'"),
        ("__import__('os').system('true')", "unexpected character"),
        ("rsi <", "unexpected end"),
        ("rsi < 30 30", "unexpected '30'"),
        ("1 < rsi < 3", "chained comparisons"),
        ("(rsi < 3", "missing ')'"),
        ("", "empty condition"),
        ("rsi < and", "'and' where a value was expected"),
        ("rsi.__class__ < 1", "unknown name"),
    ],
)
def test_bad_conditions_say_why(text: str, reason: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(reason)):
        parse(text, KNOWN)


def test_names_lists_what_a_condition_reads() -> None:
    assert names(parse("close > bb.upper and rsi > 70 or x < 1", KNOWN)) == {
        "close",
        "bb.upper",
        "rsi",
        "x",
    }


# ---------------------------------------------------------------- loading and scenarios


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def test_file_values_become_param_defaults(tmp_path: Path) -> None:
    cls = load_rules_class(write(tmp_path, SEED_LIKE))
    p = cls.Params()
    assert cls.name == "rules_btc_1h_strategy"
    dumped = p.model_dump()
    assert dumped["interval"] == "1h"
    assert dumped["symbol"] == "BTC-USDT"
    assert (dumped["take_profit_pct"], dumped["stop_loss_pct"]) == (2.0, 1.0)
    assert (dumped["position_size_usd"], dumped["max_positions"]) == (Decimal(100), 3)
    with pytest.raises(ValueError, match="max_positions"):
        cls.Params.model_validate({"max_positions": 0})


def test_loader_accepts_rules_prefix_and_yaml_path(tmp_path: Path) -> None:
    f = write(tmp_path, SEED_LIKE)
    assert load_strategy_class(f"rules:{f}").name == "rules_btc_1h_strategy"
    assert load_strategy_class(str(f)).name == "rules_btc_1h_strategy"


def test_rsi_rule_enters_long_and_pyramids_to_max_positions(tmp_path: Path) -> None:
    cls = load_rules_class(write(tmp_path, SEED_LIKE))
    p = cls.Params()
    assert isinstance(p, RulesParams)
    s = cls(p, "BTC-USD")
    closes = [100.0 - i for i in range(20)]  # a steady fall: RSI 0 from bar 14 on
    rsi = talib.RSI(np.array(closes), 14)
    first = int(np.flatnonzero(rsi < 30)[0])
    out = []
    pos = Decimal(0)
    for c in candles(closes, "1h"):
        acts = s.on_candle(c, ctx(pos))
        out.append(acts)
        for a in acts:
            assert isinstance(a, Target)
            pos = a.qty
    entries = [i for i, a in enumerate(out) if a]
    assert entries == [first, first + 1, first + 2]  # three adds, then max_positions holds
    px = closes[first + 2]
    unit = qty_for_notional(Decimal(100), px)
    assert out[first + 2] == (
        Target(
            qty=unit * 3,
            bracket=Bracket(take_profit=dec(px + px * 0.02), stop_loss=dec(px - px * 0.01)),
            reason="entry long rule",
        ),
    )


def test_exit_rule_and_indicator_outputs(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        strategy: {symbol: BTC-USD, timeframe: 1m}
        indicators:
          bb: {period: 10, std: 2}
          fast: {type: ema, period: 3}
        entry:
          long: ["close < bb.lower"]
        exit:
          long: ["close > fast"]
        """
    )
    cls = load_rules_class(write(tmp_path, text))
    p = cls.Params()
    assert isinstance(p, RulesParams)
    s = cls(p, "BTC-USD")
    closes = [100.0, 100.5] * 5 + [95.0, 99.0]
    out = [s.on_candle(c, ctx("0" if i < 11 else "1")) for i, c in enumerate(candles(closes))]
    c = np.array(closes)
    assert c[10] < talib.BBANDS(c, 10, 2, 2)[2][10]
    assert c[11] > talib.EMA(c, 3)[11]
    assert out[:10] == [()] * 10
    assert out[10] == (Target(qty=qty_for_notional(Decimal(100), 95.0), reason="entry long rule"),)
    assert out[11] == (Target(qty=Decimal(0), reason="exit long rule"),)


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (SEED_LIKE.replace("- rsi < 30", "- rsi << 30"), 15, "bad condition 'rsi << 30'"),
        (SEED_LIKE.replace("- rsi > 70", "- rsx > 70"), 17, "unknown name 'rsx'"),
        (SEED_LIKE.replace("timeframe: 1h", "timeframe: 1M"), 5, "unsupported timeframe '1M'"),
        (SEED_LIKE.replace("  rsi:\n", "  rsi:\n    type: kama\n"), 9, "unknown indicator type"),
        (SEED_LIKE.replace("    period: 14", "    period: -1"), 9, "period must be an integer"),
        (SEED_LIKE.replace("risk:", "risks:"), 23, "unknown section 'risks'"),
        (SEED_LIKE.replace("max_positions: 3", "max_positions: two"), 25, "max_positions"),
        (SEED_LIKE.replace("stop_loss_pct: 1.0", "stop_loss_pct: -1"), 21, "stop_loss_pct"),
        (SEED_LIKE.replace("  symbol: BTC/USDT\n", ""), 1, "strategy.symbol is required"),
        (SEED_LIKE.replace("    - rsi > 70", "    - [rsi > 70"), 19, "not valid YAML"),
    ],
)
def test_bad_file_fails_at_load_with_file_line_and_reason(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    f = write(tmp_path, text, "bad.yaml")
    with pytest.raises(RulesError) as err:
        load_rules_class(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}:{line}: "), msg
    assert reason in msg


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_strategy_class(f"rules:{tmp_path / 'nope.yaml'}")


def test_parse_rules_needs_an_entry() -> None:
    with pytest.raises(RulesError, match="missing section 'entry'"):
        parse_rules("strategy: {symbol: X, timeframe: 1m}\n", "x.yaml")
