"""Recorded payloads and a transport that answers ccxt's requests from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "venues"


def load(venue: str, name: str) -> Any:
    return json.loads((FIXTURES / venue / name).read_text())


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    headers: dict[str, str]


Answer = Callable[[Request], Any]


@dataclass
class RecordedTransport:
    """Stands in for `exchange.fetch(url, method, headers, body)`: routes by (method, path) to an
    answer, records every request, and fails loudly on anything unrouted."""

    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Any) -> None:
        if callable(answer):
            self.routes[(method, path)] = answer
        else:
            fixed: Any = answer
            self.routes[(method, path)] = lambda _req: fixed

    async def __call__(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        parsed_body: dict[str, Any] = {}
        if body:
            try:
                parsed_body = json.loads(body)
            except ValueError:
                parsed_body = {k: v[-1] for k, v in parse_qs(body).items()}
        req = Request(method, parts.path, query, parsed_body, dict(headers or {}))
        self.requests.append(req)
        answer = self.routes.get((method, parts.path))
        if answer is None:
            raise AssertionError(f"unrouted request {method} {url}")
        return answer(req)

    def install(self, exchange: Any) -> Any:
        exchange.fetch = self
        return exchange
