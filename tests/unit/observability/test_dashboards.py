"""The Grafana dashboards, the Prometheus config and the alert rules, checked without a stack:
well-formed, and naming only metrics the code declares. (tests/e2e/test_observability.py checks
them against a running stack's /metrics.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.unit.observability.promql import SUFFIXES, dashboard_queries, metric_names
from tradebus.cli import TARGETS

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
PROMETHEUS = ROOT / "deploy/prometheus/prometheus.yml"
RULES = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
DOC = ROOT / "docs/observability.md"


def declared_in_code() -> set[str]:
    """Every `tradebus_*` string literal of the services and the library: the declared series."""
    found: set[str] = set()
    for folder in ("services", "tradebus"):
        for path in (ROOT / folder).rglob("*.py"):
            found.update(re.findall(r"[\"'](tradebus_[a-z0-9_]+)[\"']", path.read_text()))
    return found


def is_declared(name: str, declared: set[str]) -> bool:
    if name in declared:
        return True
    return any(name.endswith(s) and name.removesuffix(s) in declared for s in SUFFIXES)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("tradebus_a", {"tradebus_a"}),
        (
            'sum by (strategy, le) (rate(tradebus_b_bucket{x=~"a|b", y!="}"}[$__rate_interval]))',
            {"tradebus_b_bucket"},
        ),
        ("histogram_quantile(0.99, sum by (le) (rate(tradebus_c_bucket[5m]))) * 1e3", {"tradebus_c_bucket"}),
        ("time() - tradebus_d_timestamp_seconds offset 5m", {"tradebus_d_timestamp_seconds"}),
        (
            "tradebus_e / on (strategy) group_left (symbol) tradebus_f or vector(0)",
            {"tradebus_e", "tradebus_f"},
        ),
        ("sum without (instance) (tradebus_h) > Inf and up", {"tradebus_h", "up"}),
    ],
)
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_there_are_the_two_dashboards() -> None:
    titles = {json.loads(p.read_text())["uid"] for p in DASHBOARDS}
    assert titles == {"tradebus-overview", "tradebus-pipeline"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_a_dashboard_is_well_formed(path: Path) -> None:
    board = json.loads(path.read_text())
    panels = board["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], f"{p['title']}: no query"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), f"{p['title']}: refIds repeat"
    # panels do not overlap
    cells = set()
    for p in panels:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps another panel"
                cells.add((x, y))


def test_every_dashboard_query_names_only_declared_metrics() -> None:
    declared = declared_in_code()
    queries = [q for path in DASHBOARDS for q in dashboard_queries(path)]
    assert len(queries) > 30
    unknown = [
        (q.dashboard, q.panel, name)
        for q in queries
        for name in metric_names(q.expr)
        if not is_declared(name, declared)
    ]
    assert unknown == []
    every = {n for q in queries for n in metric_names(q.expr)}
    assert all(n.startswith("tradebus_") for n in every), every


def test_alert_rules_name_only_declared_metrics() -> None:
    declared = declared_in_code() | {"up"}
    for path in RULES:
        groups = yaml.safe_load(path.read_text())["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert rules
        for r in rules:
            assert r["alert"].startswith("Tradebus")
            assert [n for n in metric_names(r["expr"]) if not is_declared(n, declared)] == [], r["alert"]


def test_prometheus_scrapes_every_service_and_the_doc_names_the_jobs() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    services = set(TARGETS) - {"sim"}  # the sim exchange is the venue, not a tradebus service
    assert services <= set(jobs)
    doc = DOC.read_text()
    for name in services:
        targets = [t for sc in jobs[name].get("static_configs", []) for t in sc["targets"]]
        assert targets and all(t.endswith(":9100") for t in targets), name
        assert f"`{name}`" in doc, f"docs/observability.md does not name the job {name}"
        for t in targets:
            assert f"`{t}`" in doc, f"docs/observability.md does not name the target {t}"
