"""Which metrics a PromQL expression (or a Grafana dashboard) reads: enough of PromQL to tell
metric names from functions, keywords, label names, durations and Grafana variables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
)
KEYWORDS_CI = frozenset({"inf", "nan"})
#: the suffixes a query adds to a histogram or counter family's name
SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (`rate(x_total[5m]) / y` -> {x_total, y})."""
    text = _STRINGS.sub(" ", expr)
    text = _VARIABLES.sub("1", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        word, call = m.group(1), m.group(2)
        if call or word in KEYWORDS or word.lower() in KEYWORDS_CI:
            continue
        names.add(word)
    return names


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str


def _label_values_metric(query: str) -> str | None:
    m = re.match(r"\s*label_values\(\s*(.+),\s*\w+\s*\)\s*$", query)
    return m.group(1) if m else None


def dashboard_queries(path: Path) -> Iterator[Query]:
    """Every PromQL expression of a dashboard: panel targets and query variables."""
    board: dict[str, Any] = json.loads(path.read_text())
    title = str(board["title"])

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(board.get("panels", [])):
        for t in p.get("targets", []):
            yield Query(title, str(p.get("title")), str(t["expr"]))
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        yield Query(title, f"${var['name']}", _label_values_metric(q) or q)
