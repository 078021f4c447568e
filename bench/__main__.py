"""`python -m bench` (`make bench`): every benchmark, results in `bench/results/*.json`, and the
table in `docs/benchmarks.md` rewritten with the machine's name.

    python -m bench [--quick] [--only pipeline throughput ...] [--out DIR] [--docs PATH|--no-docs]

`--quick` runs tiny sizes (a CI smoke of the whole suite, about a minute); its results go to
`bench/results/quick/` and leave the docs alone unless `--docs` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import ROOT
from bench.table import render_table, rewrite_docs

Bench = Callable[[bool], dict[str, Any]]


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "date": dt.date.today().isoformat(),
    }


def bench_indicators(quick: bool) -> dict[str, Any]:
    from bench import indicators
    from bench.procs import spread

    raw = indicators.measure(2000 if quick else 20_000, 2 if quick else 7)
    return {"raw": raw, "summary": {k: spread(v) for k, v in raw.items()}}


def bench_ledger(quick: bool) -> dict[str, Any]:
    from bench import ledger
    from bench.procs import spread

    raw = ledger.measure(2000, 500, 200, 1) if quick else ledger.measure()
    return {"raw": raw, "summary": {k: spread(v) for k, v in raw.items()}}


def backtest_rows(printed: str, repeats: int) -> dict[str, dict[str, float]]:
    """The rows of the table `bench/backtest.py` prints (| run | bars | bars/s | min .. max |
    notes): per run and size, its median bars/s with the spread over its `repeats` runs."""
    import re

    number = r"[\d,]+"
    rows: dict[str, dict[str, float]] = {}
    for line in printed.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not re.fullmatch(number, cells[2]) or cells[0].startswith("-"):
            continue
        low_high = re.fullmatch(rf"({number}) \.\. ({number})", cells[3])
        if low_high is None:
            raise ValueError(f"bench/backtest.py printed a row without its spread: {line!r}")
        low, high = (float(x.replace(",", "")) for x in low_high.groups())
        median = float(cells[2].replace(",", ""))
        rows[f"{cells[0]} ({cells[1]} bars)"] = {"median": median, "min": low, "max": high, "n": repeats}
    return rows


def bench_backtest(quick: bool) -> dict[str, Any]:
    """`bench/backtest.py` (another room's), by its command line: it takes its own median and
    spread over `repeats` runs of each row, read here from the table it prints."""
    import subprocess

    path = ROOT / "bench" / "backtest.py"
    if not path.exists():
        return {"skipped": "bench/backtest.py is not there"}
    repeats = 1 if quick else 3
    out = subprocess.run(
        [sys.executable, str(path), "--bars", "5000" if quick else "1000000", "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=1800,
        check=False,
    )
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    return {"stdout": out.stdout, "repeats": repeats, "summary": backtest_rows(out.stdout, repeats)}


def bench_pipeline(quick: bool) -> dict[str, Any]:
    from bench import pipeline

    if quick:
        return pipeline.measure([1000], seconds=1, repeats=1, wait=3, n_symbols=20)
    return pipeline.measure([1000, 10_000], seconds=4, repeats=3, wait=4)


def bench_throughput(quick: bool) -> dict[str, Any]:
    from bench import throughput

    return throughput.measure(2, 1, 20) if quick else throughput.measure(4, 3)


def bench_memory(quick: bool) -> dict[str, Any]:
    from bench import memory

    return memory.measure([10, 200], 1) if quick else memory.measure([10, 1000, 3000], 2)


BENCHES: dict[str, Bench] = {
    "indicators": bench_indicators,
    "backtest": bench_backtest,
    "ledger": bench_ledger,
    "pipeline": bench_pipeline,
    "throughput": bench_throughput,
    "memory": bench_memory,
}


def run(names: list[str], quick: bool, out: Path) -> dict[str, dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    info = machine()
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        res = BENCHES[name](quick)
        res["machine"] = info
        res["quick"] = quick
        res["took_s"] = round(time.monotonic() - t0, 1)
        (out / f"{name}.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
        results[name] = res
        print(f"   {res['took_s']} s", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every bench")
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHES), default=list(BENCHES))
    ap.add_argument("--out", type=Path, default=None, help="where the JSON results go")
    ap.add_argument("--docs", type=Path, default=None, help="the page whose table is rewritten")
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args(argv)
    out = args.out or ROOT / "bench" / "results" / ("quick" if args.quick else "")
    results = run(args.only, args.quick, out)
    # the table shows every bench: fresh results, else the last stored ones
    for name in BENCHES:
        stored = out / f"{name}.json"
        if name not in results and stored.exists():
            results[name] = json.loads(stored.read_text())
    # the machine and date as this run's benches recorded them (a run may pass midnight)
    here = next((results[n]["machine"] for n in args.only if n in results), None) or machine()
    table = render_table(results, here, fresh=args.only)
    print(table)
    docs = args.docs or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    if docs is not None and not args.no_docs:
        rewrite_docs(docs, table)
        print(f"table written to {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
