"""Fan-out of the sim exchange's pushes to WebSocket connections (market: lossy; account: not)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from tradebus.venues.base import VenueFill, VenueOrder
from tradebus.venues.sim.wire import fill_to_json, order_to_json

MARKET_QUEUE = 2_000


class MarketSubscriber:
    """One market connection: a bounded queue (oldest message dropped when full) and a filter."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols = set(symbols)
        self.queue: asyncio.Queue[str] = asyncio.Queue(MARKET_QUEUE)
        self.dropped = 0

    def offer(self, text: str) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(text)


class Hub:
    def __init__(self) -> None:
        self.market: set[MarketSubscriber] = set()
        self.accounts: dict[str, set[asyncio.Queue[str]]] = {}

    def publish_market(self, symbol: str, payload: dict[str, Any]) -> None:
        if not self.market:
            return
        text = json.dumps(payload)
        for sub in self.market:
            if symbol in sub.symbols:
                sub.offer(text)

    def publish_account(self, account: str, event: VenueOrder | VenueFill) -> None:
        queues = self.accounts.get(account)
        if not queues:
            return
        if isinstance(event, VenueFill):
            payload = {"type": "fill", **fill_to_json(event)}
        else:
            payload = {"type": "order", **order_to_json(event)}
        text = json.dumps(payload)
        for q in queues:
            q.put_nowait(text)

    def add_account(self, account: str) -> asyncio.Queue[str]:
        q: asyncio.Queue[str] = asyncio.Queue()
        self.accounts.setdefault(account, set()).add(q)
        return q

    def remove_account(self, account: str, q: asyncio.Queue[str]) -> None:
        self.accounts.get(account, set()).discard(q)
