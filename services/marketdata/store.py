"""Closed candles kept on disk: one Parquet file per (venue, symbol, interval) via polars.

Layout: `<root>/<venue>/<symbol>/<interval>.parquet`, plus `<interval>.gaps.json` (ranges the
venue could not fill) and `<interval>.state.json` (the backfill cursor). Writes merge with what
is stored (a new candle for an existing ts_open replaces it) and replace the file atomically.
Synchronous: call it from a thread in async code (`asyncio.to_thread`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import polars as pl

from proto import Candle, Interval

SCHEMA = {
    "ts_open": pl.Int64,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
    "trades": pl.Int64,
}


def _safe(part: str, what: str) -> str:
    if not part or part in (".", "..") or any(c in part for c in "/\\\0"):
        raise ValueError(f"{what} {part!r} cannot name a file")
    return part.replace(":", "_")


class ParquetHistory:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _base(self, venue: str, symbol: str, interval: str) -> Path:
        return self.root / _safe(venue, "venue") / _safe(symbol, "symbol") / _safe(interval, "interval")

    def _frame(self, venue: str, symbol: str, interval: str) -> pl.DataFrame:
        path = self._base(venue, symbol, interval).with_suffix(".parquet")
        if not path.exists():
            return pl.DataFrame(schema=SCHEMA)
        return pl.read_parquet(path)

    def write(self, candles: Iterable[Candle]) -> int:
        """Store closed candles (partial ones are ignored); returns how many ts_opens are new."""
        groups: dict[tuple[str, str, str], list[Candle]] = {}
        for c in candles:
            if c.closed:
                groups.setdefault((c.venue, c.symbol, c.interval), []).append(c)
        added = 0
        for (venue, symbol, interval), rows in groups.items():
            old = self._frame(venue, symbol, interval)
            new = pl.DataFrame([{k: getattr(c, k) for k in SCHEMA} for c in rows], schema=SCHEMA)
            merged = pl.concat([old, new]).unique(subset="ts_open", keep="last").sort("ts_open")
            added += merged.height - old.height
            path = self._base(venue, symbol, interval).with_suffix(".parquet")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".parquet.tmp")
            merged.write_parquet(tmp)
            os.replace(tmp, path)
        return added

    def read(
        self,
        venue: str,
        symbol: str,
        interval: str,
        *,
        limit: int | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> list[Candle]:
        """Stored candles with start <= ts_open <= end, oldest first; the newest `limit`."""
        df = self._frame(venue, symbol, interval)
        if start is not None:
            df = df.filter(pl.col("ts_open") >= start)
        if end is not None:
            df = df.filter(pl.col("ts_open") <= end)
        if limit is not None:
            df = df.tail(limit)
        iv = cast(Interval, interval)
        return [Candle(venue=venue, symbol=symbol, interval=iv, **row) for row in df.iter_rows(named=True)]

    def ts_opens(self, venue: str, symbol: str, interval: str) -> list[int]:
        return cast(list[int], self._frame(venue, symbol, interval)["ts_open"].to_list())

    def _json(self, venue: str, symbol: str, interval: str, kind: str) -> Path:
        base = self._base(venue, symbol, interval)
        return base.with_name(f"{base.name}.{kind}.json")

    def _load(self, path: Path, default: Any) -> Any:
        return json.loads(path.read_text()) if path.exists() else default

    def _dump(self, path: Path, value: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)

    def unfillable(self, venue: str, symbol: str, interval: str) -> list[tuple[int, int]]:
        """Gaps the venue could not fill (recorded by backfill), as [start, end) ns ranges."""
        return [(int(a), int(b)) for a, b in self._load(self._json(venue, symbol, interval, "gaps"), [])]

    def record_unfillable(
        self, venue: str, symbol: str, interval: str, gaps: Sequence[tuple[int, int]]
    ) -> None:
        known = set(self.unfillable(venue, symbol, interval)) | {(int(a), int(b)) for a, b in gaps}
        self._dump(self._json(venue, symbol, interval, "gaps"), sorted(known))

    def cursor(self, venue: str, symbol: str, interval: str) -> int | None:
        """Backfill has covered everything from this time (ns) up to its end; None if never run."""
        value = self._load(self._json(venue, symbol, interval, "state"), {}).get("cursor")
        return None if value is None else int(value)

    def set_cursor(self, venue: str, symbol: str, interval: str, cursor: int) -> None:
        self._dump(self._json(venue, symbol, interval, "state"), {"cursor": cursor})
