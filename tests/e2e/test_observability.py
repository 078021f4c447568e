"""Against a running `tradebus up`: every /metrics in var/stack.json follows the naming rules,
every dashboard query names series that are exported with data, and `tradebus pnl` prints the
strategy's figures from the run's Postgres."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.unit.observability.exposition import problems, sample_names, samples
from tests.unit.observability.promql import dashboard_queries, metric_names
from tradebus.testing.servers import eventually, free_port

pytestmark = pytest.mark.e2e
STRATEGY = "bb_rsi_scalper"
ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
#: undefined early in a run (no closed trade yet; too few unequal PnL changes): name check only
UNDEFINED_EARLY = frozenset({"tradebus_strategy_win_ratio", "tradebus_strategy_sharpe_ratio"})


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    var = tmp_path_factory.mktemp("var")
    strategies = var / "strategies.yaml"
    strategies.write_text(
        f"strategies:\n  - name: {STRATEGY}\n    kind: {STRATEGY}\n"
        "    symbols: [BTC-USD, ETH-USD, SOL-USD]\n    params: {interval: 5s}\n"
    )
    env = {
        **os.environ,
        "TRADEBUS_VAR_DIR": str(var),
        "TRADEBUS_STRATEGIES_FILE": str(strategies),
        "TRADEBUS_NATS_PORT": str(free_port()),
        "TRADEBUS_PG_PORT": str(free_port()),
        "TRADEBUS_SIM_PORT": str(free_port()),
        "TRADEBUS_GATEWAY_PORT": str(free_port()),
        "TRADEBUS_METRICS_BASE_PORT": str(free_port()),
        "TRADEBUS_API_TOKEN": "obs-" + os.urandom(8).hex(),
        "TRADEBUS_SIM_CLOCK_SPEED": "10",
        "TRADEBUS_PORTFOLIO_SNAPSHOT_EVERY_S": "1",
    }
    env.pop("DATABASE_URL", None)
    with open(var / "up.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradebus", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield var
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def metrics_urls(var: Path) -> dict[str, str]:
    try:
        state = json.loads((var / "stack.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {p["name"]: p["metrics"] for p in state["processes"] if p.get("metrics")}


UNREACHED: dict[str, str] = {}


async def scrape(urls: dict[str, str]) -> dict[str, str]:
    """Every service's /metrics text, or {} if one cannot be read (named in `UNREACHED`)."""
    async with httpx.AsyncClient(timeout=5) as c:
        out = {}
        for name, url in urls.items():
            try:
                out[name] = (await c.get(url)).text
            except httpx.HTTPError as exc:
                UNREACHED.clear()
                UNREACHED[name] = f"{url}: {exc!r}"
                return {}
        return out


def with_data(text: str) -> set[str]:
    return {name for name, _ in samples(text)}


async def test_metrics_dashboards_and_pnl_on_a_running_stack(var: Path) -> None:
    services = {"marketdata", "execution", "portfolio", "gateway", f"signals-{STRATEGY}"}
    try:
        urls = await eventually(
            lambda: (u := metrics_urls(var)) and services <= set(u) and u,
            timeout=180,  # a cold start (initdb, nine imports) on a busy 2-core machine
            interval=0.5,
            what="stack.json",
        )
    except AssertionError:
        tail = (var / "up.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"the stack did not come up; up.log ends:\n{tail}")
    queries = [q for path in DASHBOARDS for q in dashboard_queries(path)]

    async def everything_has_data() -> tuple[dict[str, str], list[tuple[str, str, str]]] | None:
        texts = await scrape(urls)
        if not texts:
            return None
        have = set().union(*(with_data(t) for t in texts.values()))
        missing = [
            (q.dashboard, q.panel, n)
            for q in queries
            if "or vector(0)" not in q.expr
            for n in metric_names(q.expr) - UNDEFINED_EARLY
            if n not in have
        ]
        everything_has_data.last = missing  # type: ignore[attr-defined]
        return (texts, missing) if not missing else None

    try:
        texts, _ = await eventually(everything_has_data, timeout=150, interval=1.0, what="every panel's data")
    except AssertionError:
        tail = (var / "up.log").read_text(errors="replace")[-3000:]
        pytest.fail(
            f"dashboard series without data: {getattr(everything_has_data, 'last', '?')}; "
            f"last unreachable: {UNREACHED}; up.log ends:\n{tail}"
        )
    exported = set().union(*(sample_names(t) for t in texts.values()))
    named = {n for q in queries for n in metric_names(q.expr)}
    assert named - exported == set()
    for name, text in texts.items():
        assert problems(text) == [], name

    # the run's ledger from the command line, found through var/stack.json
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TRADEBUS_DATABASE_URL")}
    env |= {"TRADEBUS_VAR_DIR": str(var), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tradebus", "pnl", "--strategy", STRATEGY, "--recent", "5"]
    done = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[2].split()
    assert header == [STRATEGY]
    rows = {line.split("  ")[0]: line.split()[-1] for line in done.stdout.splitlines()[4:19]}
    assert int(rows["trades"]) >= 0 and "turnover" in rows
    assert float(rows["turnover"].replace(",", "")) > 0  # it traded
    assert "Last " in done.stdout and STRATEGY in done.stdout.split("Last ", 1)[1]
