"""The sim adapter's keep-alive HTTP client against a scripted server on a real socket: framing
(length, chunked, end of connection), reuse and non-reuse of connections, deadlines, bad
answers, and the cap on open connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from tradebus.venues.sim.http import HttpError, HttpTimeout, KeepAlivePool

Answer = Callable[[bytes], bytes | None]  # request head+body -> raw answer (None: say nothing)


class Scripted:
    """Answers each request with `answer(request)`; counts connections and requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.live = 0
        self.most_live = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                req = head + await reader.readexactly(length)
                self.requests.append(req)
                self.live += 1
                self.most_live = max(self.most_live, self.live)
                await asyncio.sleep(0.01)  # the server's own time, so requests overlap
                self.live -= 1
                out = self.answer(req)
                if out is None:
                    await asyncio.Event().wait()  # never answers
                writer.write(out)
                await writer.drain()
                if b"connection: close" in out.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serve(answer: Answer) -> AsyncIterator[tuple[str, Scripted]]:
    s = Scripted(answer)
    server = await asyncio.start_server(s.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", s


def ok(body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def test_requests_carry_the_headers_and_body_and_reuse_one_connection() -> None:
    async with serve(lambda req: ok(b'{"n":1}')) as (url, srv):
        pool = KeepAlivePool(url + "/base/", {"X-API-Key": "k1"})
        for _ in range(3):
            assert await pool.request("POST", "/api/v1/orders", b'{"a":1}') == (200, b'{"n":1}')
        await pool.aclose()
    assert srv.connections == 1 and len(srv.requests) == 3
    first = srv.requests[0]
    assert first.startswith(b"POST /base/api/v1/orders HTTP/1.1\r\n")
    assert b"X-API-Key: k1\r\n" in first and b"Content-Length: 7\r\n" in first
    assert first.endswith(b'\r\n\r\n{"a":1}')


async def test_chunked_and_end_of_connection_bodies() -> None:
    chunked = (
        b'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"e"\r\n3;x=1\r\n:1}\r\n0\r\n\r\n'
    )
    async with serve(lambda req: chunked) as (url, srv):
        pool = KeepAlivePool(url, {})
        assert await pool.request("GET", "/x") == (404, b'{"e":1}')
        assert await pool.request("GET", "/x") == (404, b'{"e":1}')
        await pool.aclose()
    assert srv.connections == 1  # chunked framing keeps the connection
    to_eof = b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n[1,2]"
    async with serve(lambda req: to_eof) as (url, srv):
        pool = KeepAlivePool(url, {})
        assert await pool.request("GET", "/y") == (200, b"[1,2]")
        assert await pool.request("GET", "/y") == (200, b"[1,2]")
        assert pool.connections == 0
        await pool.aclose()
    assert srv.connections == 2  # a body framed by the close is never followed by a reuse


async def test_an_idle_connection_past_its_age_is_not_reused() -> None:
    async with serve(lambda req: ok(b"1")) as (url, srv):
        pool = KeepAlivePool(url, {}, idle_s=0.0)
        await pool.request("GET", "/a")
        await pool.request("GET", "/a")
        await pool.aclose()
    assert srv.connections == 2


async def test_no_answer_in_time_is_a_timeout_and_the_connection_is_dropped() -> None:
    answers = iter([None, ok(b"late")])
    async with serve(lambda req: next(answers)) as (url, srv):
        pool = KeepAlivePool(url, {}, timeout_s=0.2)
        with pytest.raises(HttpTimeout):
            await pool.request("POST", "/o", b"{}")
        assert pool.connections == 0
        assert await pool.request("POST", "/o", b"{}") == (200, b"late")
        await pool.aclose()
    assert srv.connections == 2


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n",
    ],
)
async def test_a_malformed_answer_is_an_error_and_the_connection_is_dropped(raw: bytes) -> None:
    async with serve(lambda req: raw) as (url, _srv):
        pool = KeepAlivePool(url, {})
        with pytest.raises(HttpError):
            await pool.request("GET", "/z")
        assert pool.connections == 0
        await pool.aclose()


async def test_a_refused_connection_is_an_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    pool = KeepAlivePool(f"http://127.0.0.1:{port}", {})
    with pytest.raises(HttpError):
        await pool.request("GET", "/")


async def test_at_most_size_connections_and_requests_at_once() -> None:
    async with serve(lambda req: ok(b"{}")) as (url, srv):
        pool = KeepAlivePool(url, {}, size=3)
        got = await asyncio.gather(*(pool.request("GET", f"/{i}") for i in range(12)))
        await pool.aclose()
    assert got == [(200, b"{}")] * 12
    assert srv.connections == 3 and srv.most_live == 3


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        KeepAlivePool("ws://127.0.0.1:1", {})
