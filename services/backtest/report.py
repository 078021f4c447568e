"""Round-trip trades from fills and the summary figures of a run (pure, numpy)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from proto import INTERVAL_SECONDS, Fill
from services.backtest.runner import Result

ZERO = Decimal(0)
YEAR_S = 365.25 * 86_400


@dataclass(frozen=True)
class Trade:
    """Flat -> flat (or a flip) of one strategy in one symbol; prices are size-weighted averages."""

    strategy: str
    symbol: str
    side: int
    qty: Decimal
    entry_ts: int
    exit_ts: int
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    fees: Decimal


@dataclass
class _Open:
    side: int
    qty: Decimal = ZERO
    peak: Decimal = ZERO
    entry_ts: int = 0
    entry_notional: Decimal = ZERO
    exit_notional: Decimal = ZERO
    exit_qty: Decimal = ZERO
    fees: Decimal = ZERO


def round_trips(fills: list[Fill]) -> list[Trade]:
    """Trades of every (strategy, symbol), in exit order. A fill that flips closes one trade
    and opens the next with the rest; its fee is split by quantity."""
    book: dict[tuple[str, str], _Open] = {}
    out: list[Trade] = []
    for f in fills:
        key = (f.strategy, f.symbol)
        q, side = f.qty, f.side.sign
        o = book.get(key)
        if o is not None and o.side != side:
            close = min(q, o.qty)
            fee = f.fee * close / f.qty
            o.exit_notional += close * f.price
            o.exit_qty += close
            o.qty -= close
            o.fees += fee
            if o.qty == 0:
                entry = o.entry_notional / o.peak
                exit_ = o.exit_notional / o.exit_qty
                pnl = (o.exit_notional - o.entry_notional) * o.side - o.fees  # exact: no averages
                trade = Trade(
                    f.strategy, f.symbol, o.side, o.peak, o.entry_ts, f.ts_event, entry, exit_, pnl, o.fees
                )
                out.append(trade)
                del book[key]
            q -= close
            if q == 0:
                continue
            o = None
        if o is None:
            o = book[key] = _Open(side=side, entry_ts=f.ts_event)
        o.qty += q
        o.peak += q
        o.entry_notional += q * f.price
        o.fees += f.fee * q / f.qty
    return out


def trades_frame(trades: list[Trade]) -> pl.DataFrame:
    rows = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(t).items()} for t in trades]
    schema = {
        "strategy": pl.Utf8, "symbol": pl.Utf8, "side": pl.Int64, "qty": pl.Utf8, "entry_ts": pl.Int64,
        "exit_ts": pl.Int64, "entry_price": pl.Utf8, "exit_price": pl.Utf8, "pnl": pl.Utf8, "fees": pl.Utf8,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Fraction below the running peak (<= 0)."""
    peak = np.maximum.accumulate(equity)
    return equity / peak - 1.0


def summary(res: Result, trades: list[Trade] | None = None) -> dict[str, Any]:
    """The figures of the summary table. Ratios are annualized from per-bar equity returns.

    Without `trades`, a compiled run's figures come from `res.stats` (its messages are not
    built); other runs' trades are `round_trips(res.fills)`."""
    st = res.stats if trades is None and not res.materialized else None
    if st is None:
        if trades is None:
            trades = round_trips(res.fills)
        n_trades, wins = len(trades), sum(1 for t in trades if t.pnl > 0)
        fees = sum((f.fee for f in res.venue_fills), ZERO)
        n_intents, n_fills = len(res.intents), len(res.fills)
    else:
        n_trades, wins, fees, n_intents, n_fills = st.trades, st.wins, st.fees, st.intents, st.fills
    eq = res.equity
    start = float(res.start_cash)
    end = float(eq[-1]) if len(eq) else start
    years = (int(res.ts[-1]) - int(res.ts[0])) / 1e9 / YEAR_S if len(res.ts) > 1 else 0.0
    rets = (
        np.diff(np.concatenate(([start], eq))) / np.concatenate(([start], eq[:-1]))
        if len(eq)
        else np.zeros(0)
    )
    per_year = YEAR_S / INTERVAL_SECONDS[res.interval]
    sd = float(rets.std()) if len(rets) > 1 else 0.0
    down = rets[rets < 0]
    dsd = float(math.sqrt(float((down**2).sum()) / len(rets))) if len(rets) and len(down) else 0.0
    mean = float(rets.mean()) if len(rets) else 0.0
    total = end / start - 1.0
    return {
        "start": res.ts[0] if len(res.ts) else 0,
        "end": res.ts[-1] if len(res.ts) else 0,
        "bars": len(eq),
        "start_equity": start,
        "end_equity": end,
        "return_pct": 100 * total,
        "cagr_pct": 100 * ((end / start) ** (1 / years) - 1) if years > 0 and end > 0 else float("nan"),
        "sharpe": mean / sd * math.sqrt(per_year) if sd > 0 else float("nan"),
        "sortino": mean / dsd * math.sqrt(per_year) if dsd > 0 else float("nan"),
        "max_drawdown_pct": 100 * float(drawdown(eq).min()) if len(eq) else 0.0,
        "trades": n_trades,
        "win_rate_pct": 100 * wins / n_trades if n_trades else float("nan"),
        "exposure_pct": 100 * float(res.exposed.mean()) if len(eq) else 0.0,
        "fees": float(fees),
        "intents": n_intents,
        "fills": n_fills,
        "unexecuted_orders": res.unexecuted,
    }


def format_summary(figures: dict[str, Any]) -> str:
    lines = []
    for k, v in figures.items():
        text = f"{v:,.4f}" if isinstance(v, float) else str(v)
        lines.append(f"{k:<20} {text:>20}")
    return "\n".join(lines)
