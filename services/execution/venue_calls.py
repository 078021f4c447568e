"""The venue calls of one stored decision (a round), made concurrently where they are independent.

Cancels go out together, then new orders (symbols in parallel, one symbol's orders in turn, in
the book's order), then lookups; at most `concurrency` calls are in flight. The answers are fed
to the book in request order, whatever order they came back in, so the book sees the same
sequence as if the calls had been made one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal

import structlog

from proto import OrderStatus
from services.execution.core import Decision, NettingBook
from services.execution.metrics import Metrics
from tradebus.venues.base import OrderNotFound, OrderRequest, TradingClient, VenueError, VenueOrder

log = structlog.get_logger()

#: a venue call's outcome: the order's state, "not found", or None (unknown: resync settles it)
Answer = VenueOrder | OrderNotFound | None


class VenueCalls:
    def __init__(self, book: NettingBook, trading: TradingClient, metrics: Metrics, concurrency: int) -> None:
        self.book, self.trading, self.metrics = book, trading, metrics
        self.concurrency = concurrency
        #: loop time each order was sent (for the order-to-fill histogram)
        self.sent_at: dict[str, float] = {}

    async def round(self, d: Decision, now: int) -> Decision:
        """The venue calls of a stored decision. Calls of one kind go out together (different
        client order ids, at most `venue_concurrency` at a time; one symbol's new orders in
        turn); a submit whose outcome is
        unknown is looked up by id, never resent. Returns what the book decided from the answers
        (with the orders' SUBMITTED updates, so the next round stores them)."""
        out = Decision()
        # a batch can create an order and cancel it in one decision: it was never sent, so it is
        # settled here as the venue would answer ("not found") and neither sent nor canceled
        fresh = {n.request.client_order_id for n in d.submit}
        unsent = {c for c in d.cancel if c in fresh}
        for cid in d.cancel:
            if cid in unsent:
                out.merge(self.book.on_order_not_found(cid, now))
        cancels = [c for c in d.cancel if c not in unsent]
        for cid, res in zip(cancels, await self._calls(self._cancel(c) for c in cancels), strict=True):
            out.merge(self._apply(cid, res, now))
        submits = [n for n in d.submit if n.request.client_order_id not in unsent]
        for new in submits:
            out.merge(self.book.mark_submitted(new.request.client_order_id, now))
        sent = await self._send_all([n.request for n in submits], now)
        unknown: list[str] = []
        for new, res in zip(submits, sent, strict=True):
            self.metrics.orders.labels(new.owner).inc()
            if res is None:
                unknown.append(new.request.client_order_id)
            else:
                out.merge(self._apply(new.request.client_order_id, res, now))
        look = [*unknown, *d.lookup]
        for cid, res in zip(look, await self._calls(self._lookup(c) for c in look), strict=True):
            out.merge(self._apply(cid, res, now))
        return out

    async def _lanes(self, jobs: Sequence[Callable[[], Awaitable[None]]]) -> None:
        """Run `jobs` with at most `concurrency` at a time: that many lanes, each taking the next
        job when its last one is done (no semaphore queue to walk on every acquire)."""
        if len(jobs) == 1:
            await jobs[0]()
            return
        it = iter(jobs)

        async def lane() -> None:
            for job in it:
                await job()

        await asyncio.gather(*(lane() for _ in range(min(self.concurrency, len(jobs)))))

    async def _calls(self, calls: Iterable[Awaitable[Answer]]) -> list[Answer]:
        pending = list(calls)
        answers: list[Answer] = [None] * len(pending)

        def job(i: int) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                answers[i] = await pending[i]

            return run

        await self._lanes([job(i) for i in range(len(pending))])
        return answers

    async def _send_all(self, reqs: Sequence[OrderRequest], now: int) -> list[Answer]:
        """Submit `reqs`: symbols in parallel, but one symbol's orders one after the other, in
        the book's order (the venue sees them as a sequential sender would send them)."""
        by_symbol: dict[str, list[int]] = {}
        for i, r in enumerate(reqs):
            by_symbol.setdefault(r.symbol, []).append(i)
        answers: list[Answer] = [None] * len(reqs)

        def in_turn(idx: list[int]) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                for i in idx:
                    answers[i] = await self._submit(reqs[i], now)

            return run

        await self._lanes([in_turn(idx) for idx in by_symbol.values()])
        return answers

    def _apply(self, cid: str, res: Answer, now: int) -> Decision:
        if isinstance(res, VenueOrder):
            return self.book.on_order_update(res, now)
        if isinstance(res, OrderNotFound):
            return self.book.on_order_not_found(cid, now)
        return Decision()  # still unknown: the next resync settles it

    async def _submit(self, req: OrderRequest, now: int) -> Answer:
        """The venue's answer to a new order: its state, or None if the outcome is unknown."""
        loop = asyncio.get_running_loop()
        self.sent_at[req.client_order_id] = loop.time()
        try:
            vo = await self.trading.submit(req)
        except VenueError as exc:
            self.metrics.venue_errors.labels("submit").inc()
            if exc.retryable:  # the outcome is unknown: look it up by id, never resend
                log.warning(
                    "submit outcome unknown; will look up",
                    client_order_id=req.client_order_id,
                    error=str(exc),
                )
                return None
            log.warning("venue rejected order", client_order_id=req.client_order_id, error=str(exc))
            return VenueOrder(
                client_order_id=req.client_order_id, venue_order_id="", symbol=req.symbol, side=req.side,
                type=req.type, qty=req.qty, price=req.price, status=OrderStatus.REJECTED,
                filled_qty=Decimal(0), avg_price=None, reason=str(exc), ts_event=now,
            )  # fmt: skip
        except Exception as exc:  # timeouts and transport errors: unknown outcome
            self.metrics.venue_errors.labels("submit").inc()
            log.warning("submit failed; will look up", client_order_id=req.client_order_id, error=str(exc))
            return None
        self.metrics.intent_to_order.observe(loop.time() - self.sent_at[req.client_order_id])
        return vo

    async def _cancel(self, cid: str) -> Answer:
        try:
            return await self.trading.cancel(cid)
        except OrderNotFound as exc:
            return exc
        except Exception as exc:  # the next resync looks the order up
            self.metrics.venue_errors.labels("cancel").inc()
            log.warning("cancel failed", client_order_id=cid, error=str(exc))
            return None

    async def _lookup(self, cid: str) -> Answer:
        for attempt in range(5):
            try:
                return await self.trading.order(cid)
            except OrderNotFound as exc:
                return exc
            except Exception as exc:
                self.metrics.venue_errors.labels("lookup").inc()
                log.warning("lookup failed", client_order_id=cid, attempt=attempt, error=str(exc))
                await asyncio.sleep(0.2 * 2**attempt)  # back-off between venue retries
        return None
