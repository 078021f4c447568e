"""Each bench works end to end on tiny sizes (real processes on free ports), and the runner
writes its JSON and the docs table."""

from __future__ import annotations

import json
from pathlib import Path

from bench import memory, pipeline, throughput
from bench.__main__ import backtest_rows, main


def test_pipeline_platform_and_both_relays_answer_every_tick(tmp_path: Path) -> None:
    for kind in pipeline.KINDS:
        d = tmp_path / kind
        d.mkdir()
        res = pipeline.one_run(kind, rate=200, seconds=0.5, wait=10, n_symbols=10, logdir=d)
        assert res["offered"] == 100
        assert res["unserved"] == 0
        assert res["served"] == 100
        assert 0 < res["p50"] <= res["p99"] <= res["p999"] < 10_000


def test_throughput_and_memory_tiny(tmp_path: Path) -> None:
    symbols = [f"B{i:03d}-USD" for i in range(5)]
    (tmp_path / "s").mkdir()
    assert throughput.run_signals("platform", symbols, 1.5, tmp_path / "s") > 0
    (tmp_path / "m").mkdir()
    assert throughput.run_marketdata("baseline", 5, 1.5, tmp_path / "m") > 0
    (tmp_path / "r").mkdir()
    assert memory.one(5, tmp_path / "r") > 10  # MB: a Python process with its libraries


def test_runner_writes_results_and_the_table(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    assert main(["--quick", "--only", "indicators", "--out", str(tmp_path), "--docs", str(docs)]) == 0
    res = json.loads((tmp_path / "indicators.json").read_text())
    assert res["quick"] is True
    assert res["machine"]["cores"] >= 1
    assert res["summary"]["speedup_window"]["median"] > 1  # incremental beats recomputing
    assert "indicators: speed-up" in docs.read_text()


def test_backtest_rows_keep_the_spread_the_script_printed() -> None:
    printed = """bb_rsi_scalper, synthetic 1-minute bars (seed 42), median of 3 runs, pinned to CPU 0

| run                        |      bars |      bars/s | spread (min .. max)    | notes
|----------------------------|-----------|-------------|------------------------|------
| tradebus compiled, all     | 1,000,000 |   1,541,582 | 1,327,540 .. 1,552,618 | a | note
| backtesting.py 0.6.6       | 1,000,000 |      92,453 |    78,868 .. 94,322    | 72,958 trades

fast path time: 13.84s = compiled kernels over all bars 0.06s
"""
    rows = backtest_rows(printed, 3)
    assert rows == {
        "tradebus compiled, all (1,000,000 bars)": {
            "median": 1541582.0,
            "min": 1327540.0,
            "max": 1552618.0,
            "n": 3,
        },
        "backtesting.py 0.6.6 (1,000,000 bars)": {"median": 92453.0, "min": 78868.0, "max": 94322.0, "n": 3},
    }


def test_the_backtest_bench_runs_through_the_runner(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    assert main(["--quick", "--only", "backtest", "--out", str(tmp_path), "--docs", str(docs)]) == 0
    res = json.loads((tmp_path / "backtest.json").read_text())
    end_to_end = res["summary"]["tradebus compiled, all messages materialized, end to end (5,000 bars)"]
    assert 0 < end_to_end["min"] <= end_to_end["median"] <= end_to_end["max"]
    assert "backtest: backtesting.py 0.6.6 (5,000 bars)" in docs.read_text()
