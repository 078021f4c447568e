"""The bench's own arithmetic: latency attribution at the bench venue, percentiles with
unanswered ticks, the WebSocket framing, the probe, and the docs table."""

from __future__ import annotations

import asyncio
import math
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bench.probe import LatencyProbe, LatencyProbeParams
from bench.procs import fmt, percentile, spread
from bench.table import END, START, render_table, rewrite_docs
from bench.venue import BenchVenue, Run, read_ws_frame, ws_frame
from proto import Tick
from services.signals.api import Context, Target


def order(venue: BenchVenue, symbol: str, qty: int, cid: str) -> None:
    body = {"symbol": symbol, "qty": str(qty), "side": "buy", "client_order_id": cid, "type": "market"}
    venue.on_order(body, arrived=venue.created[symbol][-1] + 1_000_000)


def test_each_tick_is_served_by_the_order_that_covers_it() -> None:
    v = BenchVenue(2)
    a, b = v.symbols
    v.run = Run(1.0, 1.0, dict.fromkeys(v.symbols, 1))
    for _ in range(3):
        v.emit(a)
    v.emit(b)
    order(v, a, 2, "o1")  # covers ticks 1 and 2 of `a`
    assert len(v.run.latencies_ns) == 2
    assert v.covered == {a: 2, b: 0}
    order(v, a, 1, "o2")
    order(v, b, 1, "o3")
    assert len(v.run.latencies_ns) == 4
    assert all(x > 0 for x in v.run.latencies_ns)
    assert v.position == {a: 3, b: 1}


def test_ticks_before_the_run_do_not_count() -> None:
    v = BenchVenue(1)
    (a,) = v.symbols
    v.emit(a)
    v.emit(a)
    v.run = Run(1.0, 1.0, {a: v.seq[a] + 1})
    v.emit(a)
    order(v, a, 3, "o1")
    assert len(v.run.latencies_ns) == 1


async def test_ws_frames_round_trip_masked_and_long() -> None:
    for payload in (b"x", b"y" * 300, b"z" * 70_000):
        frame = bytearray(ws_frame(payload))
        # turn it into a masked client frame: set the mask bit, insert a mask, xor the payload
        head_len = {125: 2, 126: 4, 127: 10}[min(frame[1], 127) if frame[1] >= 126 else 125]
        mask = os.urandom(4)
        body = bytes(c ^ mask[i % 4] for i, c in enumerate(frame[head_len:]))
        frame[1] |= 0x80
        reader = asyncio.StreamReader()
        reader.feed_data(bytes(frame[:head_len]) + mask + body)
        assert await read_ws_frame(reader) == (1, payload)


def test_probe_targets_the_tick_number() -> None:
    probe = LatencyProbe(LatencyProbeParams(), "B000-USD")
    tick = Tick(venue="sim", symbol="B000-USD", bid=0.99, ask=1.01, last=1.0, last_qty=7.0, ts_event=1)
    assert probe.on_tick(tick, Context(symbol="B000-USD")) == (Target(qty=Decimal(7), reason="probe"),)
    assert probe.wants_ticks


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.integers(0, 20))
def test_percentile_counts_missing_values_as_infinitely_late(xs: list[float], missing: int) -> None:
    xs = sorted(xs)
    total = len(xs) + missing
    for q in (0.5, 0.99, 0.999):
        p = percentile(xs, q, total)
        share_at_or_below = sum(1 for x in xs if x <= p) / total
        if math.isinf(p):
            assert len(xs) / total < q
        else:
            assert share_at_or_below >= q


def test_spread_and_fmt() -> None:
    s = spread([3.0, 1.0, 2.0, math.nan])
    assert (s["median"], s["min"], s["max"], s["n"]) == (2.0, 1.0, 3.0, 3)
    assert fmt(s, " ms") == "2.00 ms (1.00-3.00)"
    assert fmt(spread([math.inf, math.inf, 1.0]), " ms") == "behind (1.00-behind)"


def test_docs_table_is_rewritten_between_markers(tmp_path: Path) -> None:
    page = tmp_path / "b.md"
    page.write_text(f"# B\n\nprose before\n\n{START}\nold\n{END}\n\nprose after\n")
    results: dict[str, dict[str, Any]] = {
        "ledger": {"summary": {"batched_fills_per_s": spread([25_000.0, 19_000.0, 30_000.0])}},
        "memory": {"mb_per_1000_symbols": spread([60.0])},
    }
    machine = {"cores": 2, "cpu": "Test CPU", "python": "3.11", "os": "Linux", "date": "2026-01-01"}
    rewrite_docs(page, render_table(results, machine))
    text = page.read_text()
    assert "old" not in text
    assert "prose before" in text and "prose after" in text
    assert "Test CPU" in text
    ledger_row = next(line for line in text.splitlines() if line.startswith("| ledger"))
    assert ledger_row.endswith("| met |")
    memory_row = next(line for line in text.splitlines() if line.startswith("| signals memory"))
    assert "missed" in memory_row


def test_the_table_names_where_and_when_each_stored_result_was_made() -> None:
    here = {"cores": 2, "cpu": "New CPU", "python": "3.11", "os": "Linux", "date": "2026-02-02"}
    old = {**here, "cpu": "Old CPU", "date": "2026-01-01"}
    results: dict[str, dict[str, Any]] = {
        "ledger": {"summary": {"batched_fills_per_s": spread([25_000.0])}, "machine": old},
        "memory": {"mb_per_1000_symbols": spread([6.0]), "machine": here},
    }
    table = render_table(results, here, fresh=["memory"])
    assert "Stored from earlier runs (not run this time): ledger on 2026-01-01 (2 cores, Old CPU)." in table
    assert "memory on" not in table
    assert "Stored" not in render_table(results, here)  # all made by this run
