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
to the general path's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from pydantic import BaseModel

from proto import Bracket, OrderStyle, Side
from proto.base import Message
from proto.trading import Fill, IntentEnvelope, Liquidity, RiskEvent, TargetPosition
from services.backtest import fast_events as fe
from services.backtest.runner import Stats
from services.execution.core.risk import RiskKind
from services.signals.strategies.pricing import dec_price
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


def _model(cls: type[M], fields: dict[str, Any], fields_set: set[str]) -> M:
    """`cls(**fields)` without validation, for values validation would return unchanged (as
    `services.execution.core.messages.built`, through the slots' descriptors): `fields` in field
    order with `schema_version` first; `fields_set` what the live code passes explicitly."""
    obj = _new(cls)
    _set_dict(obj, fields)
    _set_fields(obj, fields_set.copy())
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


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
    cash_after = np.empty(nf + 1)
    pos_after = np.empty(nf + 1)
    cash_after[0], pos_after[0] = float(cash), 0.0
    qtys: list[Decimal] = []
    prices: list[Decimal] = []
    fees: list[Decimal] = []
    fees_total = sizes[0]
    # the round trips of `report.round_trips`, on (side, qty, price, fee) alone: one symbol, one strategy
    o_side, o_qty, o_peak, o_entry, o_exit, o_fees = 0, sizes[0], sizes[0], sizes[0], sizes[0], sizes[0]
    trades = wins = risk = 0
    for seq, (_, _, side_i, _, price_t, why) in enumerate(fills, 1):
        if why >= fe.TAKE_PROFIT:
            qty = abs(pos_d)
            risk += 1
        else:
            qty = abs(sizes[1 if why == fe.LONG else -1 if why == fe.SHORT else 0] - pos_d)
        price = Decimal(price_t) * inc
        fee = fee_of(qty, price, rate)
        qtys.append(qty)
        prices.append(price)
        fees.append(fee)
        fees_total += fee
        side = 1 if side_i > 0 else -1
        signed = qty if side > 0 else -qty
        cash -= signed * price + fee
        pos_d += signed
        cash_after[seq], pos_after[seq] = float(cash), float(pos_d)
        q = qty
        if o_side and o_side != side:
            part = min(q, o_qty)
            o_exit += part * price
            o_qty -= part
            o_fees += fee * part / qty
            if o_qty == 0:
                trades += 1
                wins += (o_exit - o_entry) * o_side - o_fees > 0
                o_side = 0
            q -= part
            if q == 0:
                continue
        if not o_side:
            o_side, o_qty, o_peak, o_entry, o_exit, o_fees = (
                side,
                sizes[0],
                sizes[0],
                sizes[0],
                sizes[0],
                sizes[0],
            )
        o_qty += q
        o_peak += q
        o_entry += q * price
        o_fees += fee * q / qty
    # each bar's close: the state after the bar's last fill (`Backtest.equity`, elementwise)
    state = np.searchsorted(t.fills[:, 0], np.arange(n), side="right")
    cash_f, pos_f = cash_after[state], pos_after[state]
    exposed = pos_f != 0
    equity = np.where(exposed, cash_f + pos_f * close, cash_f)
    bt.cash = cash
    if nf:
        bt.venue_pos[sym] = pos_d
    rows = t.intents.tolist()
    res.unexecuted += sum(1 for row in rows if row[0] == n - 1)
    res.stats = Stats(
        intents=len(rows), fills=nf, risk_events=risk, fees=fees_total, trades=trades, wins=wins
    )
    res.pending = lambda r: messages(run, rows, fills, qtys, prices, fees, r)
    bt.accepting = False
    bt.now = run.ts[n - 1] + run.iv
    # timestamps are strictly increasing on the fast path (`eligible`): `np.unique` is a copy
    return bt.finish(run.bars.ts.copy(), equity, exposed, fast_path=True, exact_steps=0, compiled=True)


def messages(
    run: FastRun,
    rows: list[list[int]],
    fills: list[list[int]],
    qtys: list[Decimal],
    prices: list[Decimal],
    fees: list[Decimal],
    res: Result,
) -> None:
    """The run's intents, fills, venue fills and risk events into `res`'s lists, as the live
    objects make them (`qtys`, `prices`, `fees` of each fill from `build`)."""
    cfg = run.bt.cfg
    sym, host = run.sym, run.host
    name, venue, dry = host.name, cfg.venue, host.dry_run
    inc_f = run.bt.engine._markets[sym].inc_f  # read only
    p = run.strat.p
    size = p.size
    sizes = {1: size * 1, -1: size * -1, 0: Decimal(0)}
    mult, ratio = p.atr_multiplier, p.tp_sl_ratio
    ts, iv = run.ts, run.iv
    atr, bid, ask = run.atr, run.bid, run.ask
    at = (0, iv // 3, 2 * iv // 3, iv - 1)
    style = OrderStyle()
    brackets: list[Bracket | None] = []
    intents = res._intents
    for i, _, why, pos in rows:
        if why == fe.EXIT:
            qty, reason, br = sizes[0], EXIT_REASONS[pos], None
        else:
            sd = 1 if why == fe.LONG else -1
            entry = float(ask[i] if sd > 0 else bid[i])  # the engine's quote of the close
            sl_d = float(atr[i]) * mult
            tp_d = sl_d * ratio
            # `pricing.bracket(sd, entry, tp_distance=tp_d, sl_distance=sl_d)`, unvalidated
            br = _model(
                Bracket,
                {"schema_version": 1, "take_profit": dec_price(entry + sd * tp_d),
                 "stop_loss": dec_price(entry - sd * sl_d), "time_stop_s": None},
                BRACKET_SET,
            )  # fmt: skip
            qty, reason = sizes[sd], ENTRY_REASONS[why]
        brackets.append(br)
        tsi = ts[i]
        tp = _model(
            TargetPosition,
            {
                "schema_version": 1,
                "kind": "target",
                "intent_id": f"{name}:{sym}:{tsi}:c0",
                "strategy": name,
                "venue": venue,
                "symbol": sym,
                "qty": qty,
                "bracket": br,
                "style": style,
                "reason": reason,
                "dry_run": dry,
                "ts_event": tsi,
            },
            TARGET_SET,
        )
        intents.append(_model(IntentEnvelope, {"schema_version": 1, "intent": tp}, ENVELOPE_SET))
    # the intent acted on at each bar's open (for the bracket levels of the exits)
    intent_at = {row[0] + 1: k for k, row in reversed(list(enumerate(rows)))}
    live: Bracket | None = None
    vfs, bfs, events = res._venue_fills, res._fills, res._risk_events
    vf_id, vf_oid, vf_cid, vf_sym, vf_side, vf_qty, vf_px, vf_fee, vf_liq, vf_ts = (
        VenueFill.__dict__[f].__set__ for f in VENUE_FILL_SLOTS
    )
    for seq, (j, pt, side_i, _, price_t, why) in enumerate(fills, 1):
        now = ts[j] + at[pt]
        if why >= fe.TAKE_PROFIT:
            assert live is not None
            kind = BRACKET_WHY[why]
            level = live.take_profit if why == fe.TAKE_PROFIT else live.stop_loss
            events.append(
                _model(
                    RiskEvent,
                    {
                        "schema_version": 1,
                        "kind": BRACKET_KIND,
                        "reason": f"{kind} {level} hit at {price_t * inc_f}; target set to 0",
                        "strategy": name,
                        "symbol": sym,
                        "ts_event": now,
                    },
                    RISK_SET,
                )
            )
            live = None
        else:
            live = brackets[intent_at[j]]
        side = Side.BUY if side_i > 0 else Side.SELL
        qty, price, fee = qtys[seq - 1], prices[seq - 1], fees[seq - 1]
        vid, cid = f"F{seq}", f"bt-{seq}"
        vf = _new(VenueFill)  # the frozen dataclass's fields, set through its slots
        vf_id(vf, vid)
        vf_oid(vf, f"S{seq}")
        vf_cid(vf, cid)
        vf_sym(vf, sym)
        vf_side(vf, side)
        vf_qty(vf, qty)
        vf_px(vf, price)
        vf_fee(vf, fee)
        vf_liq(vf, "taker")
        vf_ts(vf, now)
        vfs.append(vf)
        bfs.append(
            _model(
                Fill,
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
                    "liquidity": Liquidity.TAKER,
                    "client_order_id": cid,
                    "venue_fill_id": vid,
                    "ts_event": now,
                },
                FILL_SET,
            )
        )
