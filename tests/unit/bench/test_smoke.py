"""Each bench works end to end on tiny sizes (real processes on free ports), and the runner
writes its JSON and the docs table."""

from __future__ import annotations

import json
from pathlib import Path

from bench import memory, pipeline, throughput
from bench.__main__ import main


def test_pipeline_platform_and_baseline_answer_every_tick(tmp_path: Path) -> None:
    for kind in ("platform", "baseline"):
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
