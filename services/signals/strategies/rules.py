"""Rule strategies from YAML (seed 002): symbol, timeframe, indicators, entry/exit conditions.

    strategy: {name: "BTC 1H", exchange: sim, symbol: BTC-USD, timeframe: 1h}
    indicators:
      rsi: {period: 14, overbought: 70, oversold: 30}
      bb: {period: 20, std: 2}
      fast: {type: ema, period: 9}
    entry:
      long: ["rsi < rsi.oversold", "close < bb.lower"]     # all must hold
      short: ["rsi > rsi.overbought"]
    exit:
      long: ["close > bb.middle"]                           # any closes the position
      take_profit_pct: 2.0
      stop_loss_pct: 1.0
    risk: {position_size_usd: 100, max_positions: 3}

Conditions use the safe grammar of `rules_grammar` (never `eval`). Names: open, high, low,
close, volume; each indicator by its key (its main value) and `key.<output>` (bb.upper,
bb.middle, bb.lower, bb.width, macd.signal, macd.hist) and `key.<constant>` for any other
number in its block (rsi.oversold). Each entry signal adds one position of
`position_size_usd` up to `max_positions`; TP/SL are percentages of the latest entry close.
A bad file fails at load with the file, the line and the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field, ValidationError, create_model

from proto import INTERVAL_SECONDS, Candle
from services.signals.api import Action, Context, Strategy, StrategyParams, Target
from services.signals.indicators import (
    Atr,
    AwesomeOscillator,
    BollingerBands,
    Ema,
    Macd,
    RollingStd,
    Rsi,
    Sma,
)
from services.signals.strategies.loader import StrategyLoadError
from services.signals.strategies.pricing import bracket_pct, qty_for_notional, sign
from services.signals.strategies.rules_grammar import ConditionError, Node, evaluate, parse

Path_ = tuple[str | int, ...]


class RulesError(StrategyLoadError):
    """A rules file that cannot be loaded: `file:line: reason`."""


class _ConfigError(ValueError):
    """A bad value in an indicator block; `key` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# ------------------------------------------------------------------ YAML with line numbers


def _plain(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)  # a key's line wins over its value's
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for k, v in node.value:
            key = str(yaml.safe_load(yaml.serialize(k))) if not isinstance(k, yaml.ScalarNode) else k.value
            lines[(*path, key)] = k.start_mark.line + 1
            out[key] = _plain(v, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, (*path, i), lines) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


# ------------------------------------------------------------------ indicators


@dataclass
class _Ind:
    """One declared indicator: how to update it and which names it provides."""

    update: Callable[[Candle], object]
    ready: Callable[[], bool]
    outputs: dict[str, Callable[[], float]]
    constants: dict[str, float] = field(default_factory=dict)


def _int(cfg: Mapping[str, Any], key: str, default: int) -> int:
    v = cfg.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise _ConfigError(key, f"{key} must be an integer >= 1, got {v!r}")
    return v


def _num(cfg: Mapping[str, Any], key: str, default: float) -> float:
    v = cfg.get(key, default)
    if not isinstance(v, int | float) or isinstance(v, bool) or not v > 0:
        raise _ConfigError(key, f"{key} must be a number > 0, got {v!r}")
    return float(v)


_IND_KEYS = {
    "rsi": {"period"},
    "sma": {"period", "source"},
    "ema": {"period", "source"},
    "std": {"period", "source"},
    "atr": {"period"},
    "bb": {"period", "std"},
    "macd": {"fast", "slow", "signal"},
    "ao": {"fast", "slow"},
}
_SOURCES = ("open", "high", "low", "close", "volume")


def _make_indicator(kind: str, cfg: Mapping[str, Any]) -> _Ind:
    src = cfg.get("source", "close")
    if src not in _SOURCES:
        raise _ConfigError("source", f"source must be one of {', '.join(_SOURCES)}, got {src!r}")

    def pick(c: Candle) -> float:
        return float(getattr(c, src))

    if kind in ("sma", "ema", "rsi", "std"):
        default = 14 if kind == "rsi" else 20
        period = _int(cfg, "period", default)
        ind1: Sma | Ema | Rsi | RollingStd
        if kind == "sma":
            ind1 = Sma(period)
        elif kind == "ema":
            ind1 = Ema(period)
        elif kind == "rsi":
            ind1 = Rsi(period)
        else:
            ind1 = RollingStd(period)
        return _Ind(lambda c: ind1.update(pick(c)), lambda: ind1.ready, {"": lambda: ind1.value})
    if kind == "atr":
        atr = Atr(_int(cfg, "period", 14))
        return _Ind(lambda c: atr.update(c.high, c.low, c.close), lambda: atr.ready, {"": lambda: atr.value})
    if kind == "bb":
        bb = BollingerBands(_int(cfg, "period", 20), _num(cfg, "std", 2.0))
        return _Ind(
            lambda c: bb.update(c.close),
            lambda: bb.ready,
            {
                "": lambda: bb.middle,
                "upper": lambda: bb.upper,
                "middle": lambda: bb.middle,
                "lower": lambda: bb.lower,
                "width": lambda: bb.width,
            },
        )
    if kind == "macd":
        m = Macd(_int(cfg, "fast", 12), _int(cfg, "slow", 26), _int(cfg, "signal", 9))
        return _Ind(
            lambda c: m.update(c.close),
            lambda: m.ready,
            {"": lambda: m.macd, "signal": lambda: m.signal, "hist": lambda: m.hist},
        )
    if kind == "ao":
        ao = AwesomeOscillator(_int(cfg, "fast", 5), _int(cfg, "slow", 34))
        return _Ind(lambda c: ao.update(c.high, c.low), lambda: ao.ready, {"": lambda: ao.value})
    known = ", ".join(sorted(_IND_KEYS))
    raise _ConfigError("type", f"unknown indicator type {kind!r} (known: {known})")


@dataclass(frozen=True)
class RuleSet:
    """A parsed, validated rules file."""

    source: str
    name: str
    venue: str
    symbol: str
    timeframe: str
    indicators: dict[str, dict[str, Any]]
    entry_long: tuple[Node, ...]
    entry_short: tuple[Node, ...]
    exit_long: tuple[Node, ...]
    exit_short: tuple[Node, ...]
    take_profit_pct: float | None
    stop_loss_pct: float | None
    time_stop_s: float | None
    position_size_usd: Decimal
    max_positions: int


_TOP = {"strategy", "indicators", "entry", "exit", "risk"}


def _indicator_kind(key: str, cfg: Mapping[str, Any]) -> str:
    kind = cfg.get("type", key)
    if not isinstance(kind, str):
        raise _ConfigError("type", f"type must be a string, got {kind!r}")
    return kind


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Parse and check a rules document; RulesError(`source:line: reason`) if it is bad."""
    lines: dict[Path_, int] = {}

    def fail(path: Path_, reason: str) -> RulesError:
        p = path
        while p and p not in lines:
            p = p[:-1]
        return RulesError(f"{source}:{lines.get(p, 1)}: {reason}")

    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise RulesError(f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        raise RulesError(f"{source}:1: empty rules file")
    doc = _plain(root, (), lines)
    if not isinstance(doc, dict):
        raise fail((), "the top level must be a mapping")
    for key in doc:
        if key not in _TOP:
            raise fail((key,), f"unknown section {key!r} (expected: {', '.join(sorted(_TOP))})")

    def section(key: str, required: bool = True) -> dict[str, Any]:
        v = doc.get(key)
        if v is None:
            if required:
                raise fail((), f"missing section {key!r}")
            return {}
        if not isinstance(v, dict):
            raise fail((key,), f"{key!r} must be a mapping")
        return v

    st, inds, entry, exit_, risk = (
        section("strategy"), section("indicators", False), section("entry"),
        section("exit", False), section("risk", False),
    )  # fmt: skip
    for key in ("symbol", "timeframe"):
        if not isinstance(st.get(key), str) or not st[key]:
            raise fail(("strategy", key), f"strategy.{key} is required (a string)")
    timeframe = st["timeframe"]
    if timeframe not in INTERVAL_SECONDS:
        raise fail(
            ("strategy", "timeframe"),
            f"unsupported timeframe {timeframe!r} (supported: {', '.join(INTERVAL_SECONDS)})",
        )
    symbol = st["symbol"].replace("/", "-")
    name = str(st.get("name") or Path(source).stem)

    known: set[str] = set(_SOURCES)
    for key, cfg in inds.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or key in _SOURCES:
            raise fail(("indicators", key), f"bad indicator name {key!r}")
        if cfg is None:
            cfg = inds[key] = {}
        if not isinstance(cfg, dict):
            raise fail(("indicators", key), f"indicator {key!r} must be a mapping")
        try:
            kind = _indicator_kind(key, cfg)
            ind = _make_indicator(kind, cfg)
        except _ConfigError as exc:
            raise fail(("indicators", key, exc.key), f"indicator {key!r}: {exc}") from None
        known.add(key)
        known.update(f"{key}.{out}" for out in ind.outputs if out)
        for ck, cv in cfg.items():
            if ck in _IND_KEYS.get(kind, set()) or ck == "type":
                continue
            if not isinstance(cv, int | float) or isinstance(cv, bool):
                raise fail(("indicators", key, ck), f"{key}.{ck} must be a number, got {cv!r}")
            known.add(f"{key}.{ck}")

    def conditions(sec: dict[str, Any], secname: str, side: str) -> tuple[Node, ...]:
        raw = sec.get(side, [])
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            raise fail((secname, side), f"{secname}.{side} must be a list of conditions")
        out = []
        for i, text_ in enumerate(raw):
            if not isinstance(text_, str):
                raise fail((secname, side, i), f"condition must be a string, got {text_!r}")
            try:
                out.append(parse(text_, known))
            except ConditionError as exc:
                raise fail((secname, side, i), f"bad condition {text_!r}: {exc}") from None
        return tuple(out)

    for key in entry:
        if key not in ("long", "short"):
            raise fail(("entry", key), f"unknown entry key {key!r} (expected long, short)")
    exit_keys = {"long", "short", "take_profit_pct", "stop_loss_pct", "time_stop_s"}
    for key in exit_:
        if key not in exit_keys:
            raise fail(
                ("exit", key),
                f"unknown exit key {key!r} (expected: {', '.join(sorted(exit_keys))})",
            )
    entry_long, entry_short = (
        conditions(entry, "entry", "long"),
        conditions(entry, "entry", "short"),
    )
    if not entry_long and not entry_short:
        raise fail(("entry",), "entry needs at least one long or short condition")

    def positive(sec: dict[str, Any], secname: str, key: str) -> float | None:
        v = sec.get(key)
        if v is None:
            return None
        if not isinstance(v, int | float) or isinstance(v, bool) or not v > 0:
            raise fail((secname, key), f"{secname}.{key} must be a number > 0, got {v!r}")
        return float(v)

    for key in risk:
        if key not in ("position_size_usd", "max_positions"):
            raise fail(
                ("risk", key),
                f"unknown risk key {key!r} (expected position_size_usd, max_positions)",
            )
    size = positive(risk, "risk", "position_size_usd")
    maxpos = risk.get("max_positions", 1)
    if not isinstance(maxpos, int) or isinstance(maxpos, bool) or maxpos < 1:
        raise fail(("risk", "max_positions"), f"risk.max_positions must be an integer >= 1, got {maxpos!r}")
    tp, sl = positive(exit_, "exit", "take_profit_pct"), positive(exit_, "exit", "stop_loss_pct")
    return RuleSet(
        source=source,
        name=name,
        venue=str(st.get("exchange", "sim")),
        symbol=symbol,
        timeframe=timeframe,
        indicators={k: dict(v) for k, v in inds.items()},
        entry_long=entry_long,
        entry_short=entry_short,
        exit_long=conditions(exit_, "exit", "long"),
        exit_short=conditions(exit_, "exit", "short"),
        take_profit_pct=tp,
        stop_loss_pct=sl,
        time_stop_s=positive(exit_, "exit", "time_stop_s"),
        position_size_usd=Decimal(repr(size)) if size is not None else Decimal(100),
        max_positions=maxpos,
    )


# ------------------------------------------------------------------ the strategy


class RulesParams(StrategyParams):
    """Parameters of a rules strategy; a file's values become the defaults of its subclass."""

    symbol: str = ""
    venue: str = "sim"
    take_profit_pct: float | None = Field(default=None, gt=0)
    stop_loss_pct: float | None = Field(default=None, gt=0)
    time_stop_s: float | None = Field(default=None, gt=0)
    position_size_usd: Decimal = Field(default=Decimal(100), gt=0)
    max_positions: int = Field(default=1, ge=1)


class RulesStrategy(Strategy[RulesParams]):
    """Runs a RuleSet. Use `load_rules_class` to get a subclass bound to one file."""

    name: ClassVar[str] = "rules"
    Params: ClassVar[type[StrategyParams]] = RulesParams
    rules: ClassVar[RuleSet]

    def __init__(self, params: RulesParams, symbol: str) -> None:
        super().__init__(params, symbol)
        self.reset()

    def reset(self) -> None:
        self.inds = {
            k: _make_indicator(_indicator_kind(k, cfg), cfg) for k, cfg in self.rules.indicators.items()
        }
        self.prev_env: dict[str, float] | None = None
        self.units = 0
        self.side = 0

    def env(self, c: Candle) -> dict[str, float]:
        env = {"open": c.open, "high": c.high, "low": c.low, "close": c.close, "volume": c.volume}
        for key, ind in self.inds.items():
            for out, get in ind.outputs.items():
                env[f"{key}.{out}" if out else key] = get()
            for ck, cv in self.rules.indicators[key].items():
                if isinstance(cv, int | float) and not isinstance(cv, bool):
                    env.setdefault(f"{key}.{ck}", float(cv))
        return env

    def on_candle(self, candle: Candle, ctx: Context) -> Sequence[Action]:
        if not candle.closed:
            return ()
        for ind in self.inds.values():
            ind.update(candle)
        if not all(ind.ready() for ind in self.inds.values()):
            return ()
        env = self.env(candle)
        prev, self.prev_env = self.prev_env, env
        if any(math.isnan(v) for v in env.values()):
            return ()
        r = self.rules
        pos = sign(ctx.position)
        if pos == 0:
            self.units = 0
        if pos > 0 and any(evaluate(n, env, prev) for n in r.exit_long):
            self.units = 0
            return (Target(qty=Decimal(0), reason="exit long rule"),)
        if pos < 0 and any(evaluate(n, env, prev) for n in r.exit_short):
            self.units = 0
            return (Target(qty=Decimal(0), reason="exit short rule"),)
        if r.entry_long and pos >= 0 and all(evaluate(n, env, prev) for n in r.entry_long):
            return self._add(1, candle.close, ctx, "entry long rule")
        if r.entry_short and pos <= 0 and all(evaluate(n, env, prev) for n in r.entry_short):
            return self._add(-1, candle.close, ctx, "entry short rule")
        return ()

    def _add(self, side: int, price: float, ctx: Context, reason: str) -> Sequence[Action]:
        p = self.p
        units = self.units if sign(ctx.position) == side else 0
        if units >= p.max_positions:
            return ()
        unit = qty_for_notional(p.position_size_usd, price)
        if unit <= 0:
            return ()
        self.units = units + 1
        tp = None if p.take_profit_pct is None else p.take_profit_pct / 100
        sl = None if p.stop_loss_pct is None else p.stop_loss_pct / 100
        exits = (
            bracket_pct(side, price, tp, sl, p.time_stop_s)
            if tp is not None or sl is not None or p.time_stop_s is not None
            else None
        )
        return (Target(qty=unit * self.units * side, bracket=exits, reason=reason),)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "rules"


def rules_class(rs: RuleSet) -> type[RulesStrategy]:
    """A RulesStrategy subclass bound to `rs`, whose Params defaults come from the file."""
    try:
        params = create_model(
            f"RulesParams_{_slug(rs.name)}",
            __base__=RulesParams,
            interval=(str, rs.timeframe),
            symbol=(str, rs.symbol),
            venue=(str, rs.venue),
            take_profit_pct=(float | None, Field(default=rs.take_profit_pct, gt=0)),
            stop_loss_pct=(float | None, Field(default=rs.stop_loss_pct, gt=0)),
            time_stop_s=(float | None, Field(default=rs.time_stop_s, gt=0)),
            position_size_usd=(Decimal, Field(default=rs.position_size_usd, gt=0)),
            max_positions=(int, Field(default=rs.max_positions, ge=1)),
        )
    except ValidationError as exc:  # pragma: no cover - parse_rules checked every value
        raise RulesError(f"{rs.source}: {exc}") from None
    attrs = {"name": f"rules_{_slug(rs.name)}", "Params": params, "rules": rs}
    return type(f"Rules_{_slug(rs.name)}", (RulesStrategy,), attrs)


def load_rules_class(path: str | Path) -> type[RulesStrategy]:
    """Load a rules file; RulesError names the file, line and reason if it is bad."""
    p = Path(path).expanduser()
    try:
        text = p.read_text()
    except OSError as exc:
        raise RulesError(f"{p}: cannot read rules file: {exc.strerror}") from None
    return rules_class(parse_rules(text, str(p)))
