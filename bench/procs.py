"""Processes for the benches: real service processes and bench helpers on free ports, with
their output kept in files, and summaries of repeated measurements."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


class Procs:
    """Child processes started in order and stopped in reverse (SIGTERM, then SIGKILL)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        out = open(self.logdir / f"{name}.log", "wb")  # closed right after the child has it
        full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        proc = subprocess.Popen(list(argv), env=full, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.children.append((name, proc))
        return proc

    def python(
        self, name: str, args: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return self.start(name, [sys.executable, *args], env)

    def check_alive(self) -> None:
        for name, proc in self.children:
            if proc.poll() is not None:
                tail = (self.logdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 8
        for _, proc in reversed(self.children):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.children.clear()


@contextmanager
def processes(logdir: Path) -> Iterator[Procs]:
    procs = Procs(logdir)
    try:
        yield procs
    finally:
        procs.stop()


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout}s")
        time.sleep(0.05)


def percentile(sorted_xs: Sequence[float], q: float, total: int | None = None) -> float:
    """The q-quantile (nearest rank) of `total` values of which `sorted_xs` are the finite ones
    (the rest count as infinitely late); inf when the rank falls among the missing ones."""
    n = total if total is not None else len(sorted_xs)
    if n == 0:
        return math.nan
    rank = max(1, math.ceil(q * n))
    return sorted_xs[rank - 1] if rank <= len(sorted_xs) else math.inf


def spread(xs: Sequence[float]) -> dict[str, float]:
    """Median with min and max of repeated runs."""
    finite = [x for x in xs if not math.isnan(x)]
    if not finite:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite), "n": len(finite)}


def fmt(s: dict[str, float], unit: str = "", digits: int = 2) -> str:
    """`median unit (min-max)`; an infinite figure (ticks never answered) reads "behind"."""

    def one(x: float) -> str:
        return "behind" if math.isinf(x) else f"{x:,.{digits}f}"

    if s["n"] == 0:
        return "n/a"
    med = one(s["median"]) + ("" if math.isinf(s["median"]) else unit)
    if s["n"] == 1 or s["min"] == s["max"]:
        return med
    return f"{med} ({one(s['min'])}-{one(s['max'])})"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
