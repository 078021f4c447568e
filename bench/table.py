"""The results table of `docs/benchmarks.md`: built from the benches' JSON, written between two
marker lines so the prose around it stays."""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path
from typing import Any

from bench.procs import fmt

START = "<!-- bench:table:start -->"
END = "<!-- bench:table:end -->"


def _get(d: dict[str, Any], *keys: str) -> dict[str, float] | None:
    cur: Any = d
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur if isinstance(cur, dict) and "median" in cur else None


def _verdict(s: dict[str, float] | None, ok: bool | None) -> str:
    if ok is None:
        return ""
    if s is None or math.isnan(s["median"]):
        return "n/a"
    return "met" if ok else "**missed**"


def _row(what: str, s: dict[str, float] | None, unit: str, target: str, ok: bool | None, d: int = 2) -> str:
    figure = fmt(s, unit, d) if s is not None else "not run"
    return f"| {what} | {figure} | {target} | {_verdict(s, ok)} |"


def _older(results: dict[str, dict[str, Any]], fresh: Collection[str]) -> list[str]:
    """A line naming each result in the table that this run did not make (stored by an earlier
    run): when and on what machine it was made."""
    lines = []
    for name, res in results.items():
        m = res.get("machine")
        if name not in fresh and isinstance(m, dict):
            lines.append(f"{name} on {m.get('date')} ({m.get('cores')} cores, {m.get('cpu')})")
    return ["", "Stored from earlier runs (not run this time): " + "; ".join(lines) + "."] if lines else []


def render_table(
    results: dict[str, dict[str, Any]], machine: dict[str, Any], fresh: Collection[str] | None = None
) -> str:
    """The table of `results`; `machine` is this run's. `fresh`: the benches this run made (None:
    all of them); the others are named with their own date and machine."""
    lines = [
        f"Machine: {machine['cores']} cores, {machine['cpu']}, Python {machine['python']}, "
        f"{machine['os']}; run on {machine['date']}. Figures: median (min-max) over repeated runs.",
        *_older(results, results.keys() if fresh is None else fresh),
        "",
        "| measure | figure | target | |",
        "|---|---|---|---|",
    ]
    pipe = results.get("pipeline", {}).get("summary", {})
    for rate, per in pipe.items():
        r = f"{int(rate):,} ticks/s"
        for q, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
            p, b = _get(per, "platform", q), _get(per, "baseline", q)
            lines.append(_row(f"pipeline {r}: platform {label}", p, " ms", "", None))
            lines.append(_row(f"pipeline {r}: bare relay {label}", b, " ms", "", None))
        for q, limit in (("p50", 1.5), ("p99", 2.0)):
            s = _get(per, f"{q}_ratio")
            ok = None if s is None else s["median"] <= limit  # inf (behind) is a miss
            lines.append(_row(f"pipeline {r}: {q} platform / bare", s, "x", f"<= {limit}x", ok))
        if _get(per, "messages", "p50") is not None:  # results made before this chain have none
            for q in ("p50", "p99"):
                m = _get(per, "messages", q)
                what = f"pipeline {r}: relay with the platform's messages {q}"
                lines.append(_row(what, m, " ms", "", None))
                s = _get(per, f"messages_{q}_ratio")
                lines.append(_row(f"pipeline {r}: {q} relay with the messages / bare", s, "x", "", None))
        s = _get(per, "platform", "served_rate")
        lines.append(_row(f"pipeline {r}: ticks/s the platform answered", s, "/s", "", None, 0))
        s = _get(per, "platform", "unserved_share")
        lines.append(_row(f"pipeline {r}: share of ticks without an order", s, "", "0", None, 3))
    tput = results.get("throughput", {}).get("summary", {})
    s = _get(tput, "signals")
    lines.append(
        _row(
            "signals ticks/s, bb_rsi_scalper",
            s,
            "",
            ">= 50,000",
            None if s is None else s["median"] >= 50_000,
            0,
        )
    )
    lines.append(_row("bare nats-py subscriber msg/s", _get(tput, "signals_bare"), "", "", None, 0))
    lines.append(_row("marketdata ticks/s (WebSocket -> NATS)", _get(tput, "marketdata"), "", "", None, 0))
    lines.append(_row("bare relay msg/s (WebSocket -> NATS)", _get(tput, "marketdata_bare"), "", "", None, 0))
    ind = results.get("indicators", {}).get("summary", {})
    lines.append(
        _row("indicators: incremental BB+RSI+ATR", _get(ind, "incremental_us"), " µs/candle", "", None, 3)
    )
    lines.append(
        _row("indicators: speed-up vs TA-Lib recompute", _get(ind, "speedup_window"), "x", "", None, 1)
    )
    for name, s in results.get("backtest", {}).get("summary", {}).items():
        # the target (1,000,000 bars/s on one core, the script pins itself) is for a run that
        # has all its messages: the end-to-end row
        fig = _get({"x": s}, "x")
        met = None if "end to end" not in name or fig is None else fig["median"] >= 1_000_000
        target = ">= 1,000,000, one core" if met is not None else ""
        lines.append(_row(f"backtest: {name}", fig, " bars/s", target, met, 0))
    led = results.get("ledger", {}).get("summary", {})
    s = _get(led, "batched_fills_per_s")
    lines.append(
        _row(
            "ledger fills/s, exactly once",
            s,
            "",
            ">= 20,000",
            None if s is None else s["median"] >= 20_000,
            0,
        )
    )
    mem = results.get("memory", {})
    s = _get(mem, "mb_per_1000_symbols")
    lines.append(
        _row(
            "signals memory per 1,000 symbols",
            s,
            " MB",
            "< 50 MB",
            None if s is None else s["median"] < 50,
            1,
        )
    )
    for n, rs in mem.get("rss_mb", {}).items():
        lines.append(_row(f"signals RSS at {int(n):,} symbols", _get({"x": rs}, "x"), " MB", "", None, 1))
    return "\n".join(lines)


def rewrite_docs(path: Path, table: str) -> None:
    """Replace what is between the markers (append the markers if the page has none)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{START}\n{table}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
