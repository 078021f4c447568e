"""Reading Prometheus text exposition in tests: values by series, and the house naming rules."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

Series = tuple[str, tuple[tuple[str, str], ...]]

#: labels that would carry an id (unbounded cardinality), never allowed on a tradebus_ series
FORBIDDEN_LABELS = frozenset({"id", "instance_id", "pid", "ts", "timestamp", "fill_id", "order_id"})
#: histograms measure seconds, except these, which count messages per call
NON_SECONDS_HISTOGRAMS = frozenset({"tradebus_bus_batch_messages"})
_NOT_BASE_UNITS = re.compile(r"_(ms|millis|milliseconds|us|micros|microseconds|minutes|hours|percent)(_|$)")


def samples(text: str) -> dict[Series, float]:
    """Every sample of an exposition, keyed by (sample name, sorted labels)."""
    out: dict[Series, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of one series, or None if the exposition does not have it."""
    return samples(text).get((name, tuple(sorted(labels.items()))))


def sample_names(text: str) -> set[str]:
    """Every sample name, with the suffixes a query uses (`_total`, `_bucket`, `_sum`, `_count`),
    and every family name (so a histogram or counter is found by its base name too)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "histogram":  # declared but not yet observed (labelled): still exported
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def problems(text: str) -> list[str]:
    """Where an exposition breaks the naming rules (Prometheus conventions plus the house's)."""
    found: list[str] = []
    for family in text_string_to_metric_families(text):
        name, kind = family.name, family.type
        if not name.startswith("tradebus_"):
            found.append(f"{name}: not a tradebus_ series")
        if _NOT_BASE_UNITS.search(name):
            found.append(f"{name}: not in base units (seconds, bytes, ratio)")
        if kind != "counter" and name.endswith("_total"):
            found.append(f"{name}: a {kind} must not end in _total (only counters do)")
        if kind == "counter" and any(not s.name.endswith(("_total", "_created")) for s in family.samples):
            found.append(f"{name}: a counter's samples end in _total")
        if kind == "histogram" and not name.endswith("_seconds") and name not in NON_SECONDS_HISTOGRAMS:
            found.append(f"{name}: a latency histogram is in _seconds")
        if "timestamp" in name and not name.endswith("_timestamp_seconds"):
            found.append(f"{name}: a timestamp is in _timestamp_seconds")
        for s in family.samples:
            for label in s.labels:
                if label in FORBIDDEN_LABELS or label.endswith("_id"):
                    found.append(f"{name}: label {label!r} is an id (unbounded cardinality)")
    return sorted(set(found))
