"""The messages of a compiled `bb_rsi_scalper` run, built from the kernel's integers.

`fast_events.events` gives the trade sequence (intents, fills, why) as integers. This module
turns it into the run's `Result` with the values the live objects would have made: the
strategy's `TargetPosition`s (its host's intent ids, `pricing.bracket` for the exits, its
reasons), the engine's `VenueFill`s (ids `F<n>` / `S<n>`, client ids `bt-<n>` of the netting
book: one order and one fill per trade in the covered case, Decimal price `ticks x increment`,
`fee_of` at the taker rate), the book's `Fill`s and bracket `RiskEvent`s, the cash, and the
equity and exposure of every bar as `Backtest.equity` computes them.

`build` computes the cash, equity, exposure and `Result.stats` at once; the messages are built
by `messages` on first access of the `Result`'s message lists (`Result.pending`).

The live objects of the `Backtest` (book, engine, host) are not advanced: only its `result`,
`cash` and `venue_pos` are. `tests/unit/backtest/test_fast_build.py` proves the `Result` equal
to the general path's, `tests/unit/backtest/test_materialize.py` the messages to the exact
steps' field for field (types, Decimal exponents, fields set).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal, getcontext
from itertools import repeat
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from pydantic import BaseModel

from proto import Bracket, OrderStyle, Side
from proto.base import Message
from proto.trading import Fill, IntentEnvelope, Liquidity, RiskEvent, TargetPosition
from services.backtest import fast_events as fe
from services.backtest.runner import Stats
from services.execution.core.risk import RiskKind
from services.signals.strategies.pricing import PRICE_PLACES, dec_price
from tradebus.venues.base import VenueFill
from tradebus.venues.sim.accounts import fee_of

if TYPE_CHECKING:
    from services.backtest.fast import FastRun
    from services.backtest.runner import Result

M = TypeVar("M", bound=Message)

# the fields the live code passes (the others keep their defaults)
BRACKET_SET = {"take_profit", "stop_loss", "time_stop_s"}
TARGET_SET = {
    "intent_id",
    "strategy",
    "venue",
    "symbol",
    "qty",
    "bracket",
    "style",
    "reason",
    "dry_run",
    "ts_event",
}
ENVELOPE_SET = {"intent"}
FILL_SET = set(Fill.model_fields) - {"schema_version"}
VENUE_FILL_SLOTS = ("venue_fill_id", "venue_order_id", "client_order_id", "symbol", "side", "qty", "price",
                    "fee", "liquidity", "ts_event")  # fmt: skip
if VenueFill.__slots__ != VENUE_FILL_SLOTS:  # the setters below are by position
    raise ImportError(f"VenueFill's fields changed: {VenueFill.__slots__}; update fast_build")
RISK_SET = {"kind", "reason", "strategy", "symbol", "ts_event"}
#: validation turns the book's `RiskKind` into its plain string
BRACKET_KIND = str(RiskKind.BRACKET.value)

EXIT_REASONS = {1: "close long: bid above middle band", -1: "close short: ask below middle band"}
ENTRY_REASONS = {fe.LONG: "bb_rsi long", fe.SHORT: "bb_rsi short"}
BRACKET_WHY = {fe.TAKE_PROFIT: "take_profit", fe.STOP_LOSS: "stop_loss"}


_new = object.__new__
_slots = BaseModel.__dict__
_set_dict = _slots["__dict__"].__set__
_set_fields = _slots["__pydantic_fields_set__"].__set__
_set_extra = _slots["__pydantic_extra__"].__set__
_set_private = _slots["__pydantic_private__"].__set__


def _drain(it: Iterable[object]) -> None:
    deque(it, maxlen=0)


def _models(cls: type[M], dicts: list[dict[str, Any]], fields_set: set[str]) -> list[M]:
    """`cls(**d)` for each of `dicts` without validation, for values validation would return
    unchanged (as `services.execution.core.messages.built`, through the slots' descriptors):
    each `d` in field order with `schema_version` first; `fields_set` what the live code passes
    explicitly, one copy of it shared by the objects (a set of 10 names costs ~0.7 us to copy;
    the messages are frozen, so pydantic never adds to it in place: `model_copy` copies it). In
    bulk: the slots set by `map`, no Python call per object."""
    n = len(dicts)
    objs: list[M] = list(map(_new, repeat(cls, n)))
    _drain(map(_set_dict, objs, dicts))
    _drain(map(_set_fields, objs, repeat(set(fields_set), n)))
    _drain(map(_set_extra, objs, repeat(None, n)))
    _drain(map(_set_private, objs, repeat(None, n)))
    return objs


def _prices(xs: list[float]) -> list[Decimal]:
    """`dec_price` of each of `xs`, the same Decimals (digits and exponent), most without a
    float repr: `dec_price(x)` rounds repr(x), which is within half an ulp of x, to 8 places
    (half-even); where x * 1e8 is farther than (an ulp of x) * 1e8 + an ulp of the product from
    a half-integer, repr(x) * 1e8 and x * 1e8 round to the same integer k, and the price is k
    scaled by 1e-8. The others (and any x `dec_price` refuses, which raises its error) go
    through `dec_price` itself."""
    a = np.asarray(xs, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        y = a * 10.0**PRICE_PLACES
        lo = np.floor(y)
        frac = y - lo
        safe = (
            np.isfinite(a)
            & (a > 0)
            & (y < 2.0**52)
            & (np.abs(frac - 0.5) > np.spacing(a) * 10.0**PRICE_PLACES + np.spacing(y))
        )
    if getcontext().rounding != ROUND_HALF_EVEN:  # `quantize` rounds by the context
        safe[:] = False
    ks = np.where(safe, lo + (frac > 0.5), 0.0).astype(np.int64).tolist()
    out = list(map(Decimal.scaleb, map(Decimal, ks), repeat(-PRICE_PLACES)))
    for i in np.flatnonzero(~safe).tolist():
        out[i] = dec_price(xs[i])
    return out


def build(run: FastRun, t: fe.Trades) -> Result:
    """The `Result` of `run` from its covered trade sequence `t`: cash, equity, exposure and
    `Result.stats` now; the messages when first accessed (`messages`)."""
    bt = run.bt
    res = bt.result
    cfg = bt.cfg
    sym = run.sym
    m = bt.engine._markets[sym]  # read only
    inc = m.inc
    size = run.strat.p.size
    sizes = {1: size * 1, -1: size * -1, 0: Decimal(0)}
    rate = cfg.costs.taker_fee
    n, close = run.n, run.c
    cash = bt.cash
    pos_d = sizes[0]
    fills = t.fills.tolist()
    nf = len(fills)
    qtys: list[Decimal] = []
    prices: list[Decimal] = []
    fees: list[Decimal] = []
    cashes = [cash]  # the cash after each fill
    units = [0]  # the position after each fill, in sizes (exact: the quantities are 0, 1 or 2 sizes)
    u = 0
    fees_total = sizes[0]
    # the round trips of `report.round_trips`, on (side, qty, price, fee) alone: one symbol, one
    # strategy; a fee's share `fee * part / qty` is `fee` itself when part is all of qty (exact)
    o_side, o_qty, o_entry, o_exit, o_fees = 0, sizes[0], sizes[0], sizes[0], sizes[0]
    trades = wins = risk = 0
    for _, _, side_i, _, price_t, why in fills:
        if why >= fe.TAKE_PROFIT:
            qty = abs(pos_d)
            qu = abs(u)
            risk += 1
        else:
            tu = 1 if why == fe.LONG else -1 if why == fe.SHORT else 0
            qty = abs(sizes[tu] - pos_d)
            qu = abs(tu - u)
        price = Decimal(price_t) * inc
        fee = fee_of(qty, price, rate)
        qtys.append(qty)
        prices.append(price)
        fees.append(fee)
        fees_total += fee
        if side_i > 0:
            side, signed = 1, qty
            u += qu
        else:
            side, signed = -1, -qty
            u -= qu
        cash -= signed * price + fee
        pos_d += signed
        cashes.append(cash)
        units.append(u)
        q = qty
        if o_side and o_side != side:
            part = min(q, o_qty)
            o_exit += part * price
            o_qty -= part
            o_fees += fee if part == qty else fee * part / qty
            if o_qty == 0:
                trades += 1
                wins += (o_exit - o_entry) * o_side - o_fees > 0
                o_side = 0
            q -= part
            if q == 0:
                continue
        if not o_side:
            o_side, o_qty, o_entry, o_exit, o_fees = side, sizes[0], sizes[0], sizes[0], sizes[0]
        o_qty += q
        o_entry += q * price
        o_fees += fee if q == qty else fee * q / qty
    if pos_d != size * u:
        raise AssertionError(f"position {pos_d} is not {u} sizes of {size}")
    # each bar's close: the state after the bar's last fill (`Backtest.equity`, elementwise);
    # a Decimal's float depends on its value alone: one per distinct position
    cash_after = np.fromiter(map(float, cashes), dtype=np.float64, count=nf + 1)
    held, at_units = np.unique(np.array(units, dtype=np.int64), return_inverse=True)
    pos_after = np.array([float(size * k) for k in held.tolist()], dtype=np.float64)[at_units]
    state = np.bincount(t.fills[:, 0], minlength=n) if nf else np.zeros(n, dtype=np.int64)
    np.cumsum(state, out=state)
    equity, pos_f = cash_after[state], pos_after[state]
    exposed = pos_f != 0
    # `np.where(exposed, cash + pos * close, cash)` with no temporary the size of the series
    np.multiply(pos_f, close, out=pos_f)
    np.add(equity, pos_f, out=equity, where=exposed)
    bt.cash = cash
    if nf:
        bt.venue_pos[sym] = pos_d
    rows = t.intents.tolist()
    res.unexecuted += sum(1 for row in rows if row[0] == n - 1)
    res.stats = Stats(
        intents=len(rows), fills=nf, risk_events=risk, fees=fees_total, trades=trades, wins=wins
    )
    res.pending = lambda r: messages(run, rows, t.fills, qtys, prices, fees, r)
    bt.accepting = False
    bt.now = int(run.bars.ts[n - 1]) + run.iv
    # timestamps are strictly increasing on the fast path (`eligible`): `np.unique` is a copy
    return bt.finish(run.bars.ts.copy(), equity, exposed, fast_path=True, exact_steps=0, compiled=True)


def messages(
    run: FastRun,
    rows: list[list[int]],
    fills: np.ndarray,
    qtys: list[Decimal],
    prices: list[Decimal],
    fees: list[Decimal],
    res: Result,
) -> None:
    """The run's intents, fills, venue fills and risk events into `res`'s lists, as the live
    objects make them (`qtys`, `prices`, `fees` of each fill from `build`). Built column by
    column: each value computed as the live code does, the objects set in bulk (`_models`)."""
    cfg = run.bt.cfg
    sym, host = run.sym, run.host
    name, venue, dry = host.name, cfg.venue, host.dry_run
    inc_f = run.bt.engine._markets[sym].inc_f  # read only
    p = run.strat.p
    size = p.size
    sizes = {1: size * 1, -1: size * -1, 0: Decimal(0)}
    mult, ratio = p.atr_multiplier, p.tp_sl_ratio
    iv = run.iv
    style = OrderStyle()
    # -- intents: the entries' brackets (`pricing.bracket(sd, entry, tp_distance=tp_d,
    # sl_distance=sl_d)`, unvalidated), from the engine's quote of the close and the ATR
    entries = [k for k, row in enumerate(rows) if row[2] != fe.EXIT]
    tps: list[float] = []
    sls: list[float] = []
    if entries:
        idx = [rows[k][0] for k in entries]
        # the engine's quotes and the ATR at those bars, as Python floats (`float(ask[i])`)
        asks, bids, atrs = run.ask[idx].tolist(), run.bid[idx].tolist(), run.atr[idx].tolist()
        for k, ask, bid, atr in zip(entries, asks, bids, atrs, strict=True):
            sd = 1 if rows[k][2] == fe.LONG else -1
            entry = ask if sd > 0 else bid
            sl_d = atr * mult
            tp_d = sl_d * ratio
            tps.append(entry + sd * tp_d)
            sls.append(entry - sd * sl_d)
    brs = _models(
        Bracket,
        [{"schema_version": 1, "take_profit": tp, "stop_loss": sl, "time_stop_s": None}
         for tp, sl in zip(_prices(tps), _prices(sls), strict=True)],
        BRACKET_SET,
    )  # fmt: skip
    brackets: list[Bracket | None] = [None] * len(rows)
    for k, br in zip(entries, brs, strict=True):
        brackets[k] = br
    prefix = f"{name}:{sym}:"
    ts = run.bars.ts[[row[0] for row in rows]].tolist()  # each intent's candle
    targets = _models(
        TargetPosition,
        [
            {
                "schema_version": 1,
                "kind": "target",
                "intent_id": f"{prefix}{tsi}:c0",
                "strategy": name,
                "venue": venue,
                "symbol": sym,
                "qty": sizes[0] if why == fe.EXIT else sizes[1 if why == fe.LONG else -1],
                "bracket": br,
                "style": style,
                "reason": EXIT_REASONS[pos] if why == fe.EXIT else ENTRY_REASONS[why],
                "dry_run": dry,
                "ts_event": tsi,
            }
            for (_, _, why, pos), br, tsi in zip(rows, brackets, ts, strict=True)
        ],
        TARGET_SET,
    )
    res._intents.extend(_models(IntentEnvelope, [{"schema_version": 1, "intent": tp} for tp in targets],
                                ENVELOPE_SET))  # fmt: skip
    # -- fills: the book's and the engine's, one of each per trade; the bracket exits' risk events
    nf = len(fills)
    if not nf:
        return
    bars_j, points, side_is, price_ts, whys = (fills[:, c] for c in (0, 1, 2, 4, 5))
    at = np.array([0, iv // 3, 2 * iv // 3, iv - 1], dtype=np.int64)
    nows: list[int] = (run.bars.ts[bars_j] + at[points]).tolist()  # `ts[j] + at[point]`
    sides = [Side.BUY if s > 0 else Side.SELL for s in side_is.tolist()]
    seqs = list(map(str, range(1, nf + 1)))
    vids = ["F" + s for s in seqs]
    cids = ["bt-" + s for s in seqs]
    # each bracket exit closes the position the fill before it opened (a fill of the intent
    # acted on at that bar's open: the bracket levels)
    intent_at = {row[0] + 1: k for k, row in reversed(list(enumerate(rows)))}
    exits = np.flatnonzero(whys >= fe.TAKE_PROFIT)
    orphans = exits[(exits == 0) | (whys[exits - 1] >= fe.TAKE_PROFIT)]  # (exits - 1 is -1 only at 0)
    if len(orphans):
        raise AssertionError(f"a bracket exit without a bracket: fill {int(orphans[0]) + 1}")
    lives = [brackets[intent_at[j]] for j in bars_j[exits - 1].tolist()]
    reasons = [
        f"{BRACKET_WHY[why]} {live.take_profit if why == fe.TAKE_PROFIT else live.stop_loss} hit at "
        f"{price_t * inc_f}; target set to 0"
        for live, why, price_t in zip(lives, whys[exits].tolist(), price_ts[exits].tolist(), strict=True)
        if live is not None
    ]
    if len(reasons) != len(lives):
        raise AssertionError("a bracket exit after an exit at the band (no bracket)")
    risk = [
        {"schema_version": 1, "kind": BRACKET_KIND, "reason": reason, "strategy": name, "symbol": sym,
         "ts_event": now}
        for reason, now in zip(reasons, (nows[f] for f in exits.tolist()), strict=True)
    ]  # fmt: skip
    res._risk_events.extend(_models(RiskEvent, risk, RISK_SET))
    # the frozen dataclass's fields, set through its slots, one column at a time
    vfs: list[VenueFill] = list(map(_new, repeat(VenueFill, nf)))
    oids = ["S" + s for s in seqs]
    cols: tuple[Iterable[object], ...] = (vids, oids, cids, repeat(sym, nf), sides, qtys, prices, fees,
                                         repeat("taker", nf), nows)  # fmt: skip
    for slot, col in zip(VENUE_FILL_SLOTS, cols, strict=True):
        _drain(map(VenueFill.__dict__[slot].__set__, vfs, col))
    res._venue_fills.extend(vfs)
    taker = Liquidity.TAKER
    res._fills.extend(
        _models(
            Fill,
            [
                {
                    "schema_version": 1,
                    "fill_id": f"{vid}:{name}",
                    "strategy": name,
                    "venue": venue,
                    "symbol": sym,
                    "side": side,
                    "qty": qty,
                    "price": price,
                    "fee": fee,
                    "liquidity": taker,
                    "client_order_id": cid,
                    "venue_fill_id": vid,
                    "ts_event": now,
                }
                for vid, cid, side, qty, price, fee, now in zip(
                    vids, cids, sides, qtys, prices, fees, nows, strict=True
                )
            ],
            FILL_SET,
        )
    )
