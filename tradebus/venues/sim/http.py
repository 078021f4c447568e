"""A small HTTP/1.1 client for the sim's REST API, on asyncio streams.

The trading path sends one small JSON request per order and reads one small JSON answer; a
general client's per-request machinery (request and response objects, header multidicts,
timers, payload writers) cost ~210 µs of CPU per order here against ~70 µs for the bytes
themselves (`bench`, one order at a time to the bench venue). This client keeps what the
trading path needs and nothing else:

- persistent connections, at most `size` open, each carrying one request at a time; an idle
  connection older than `idle_s` (the server may have closed it: uvicorn keeps one 5 s) or
  already at EOF is dropped, not reused;
- a response body framed by `Content-Length`, `Transfer-Encoding: chunked`, or the end of the
  connection; `Connection: close` from the server closes it after the body;
- one deadline (`timeout_s`) for the whole exchange. Any failure (timeout, reset, malformed
  answer) closes that connection and raises `HttpError`; the caller decides what an unknown
  outcome means (the trading client looks an order up by id, it never resends it).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

#: the most header bytes an answer may carry
MAX_HEAD = 64 * 1024


class HttpError(Exception):
    """The exchange failed before a whole answer arrived (the request may have been handled)."""


class HttpTimeout(HttpError):
    """No whole answer within the deadline."""


@dataclass(slots=True)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def close(self) -> None:
        self.writer.close()


class KeepAlivePool:
    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        size: int = 64,
        timeout_s: float = 10.0,
        idle_s: float = 4.0,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._prefix = url.path.rstrip("/")
        fixed = {"Host": url.netloc, "Connection": "keep-alive", **headers}
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._timeout_s, self._idle_s = timeout_s, idle_s
        self._idle: list[_Conn] = []
        self._open = 0
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    @property
    def connections(self) -> int:
        """Connections open now (idle or carrying a request)."""
        return self._open

    async def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        """(status, body) of one exchange. Raises `HttpTimeout` / `HttpError`."""
        if self._closed:
            raise HttpError("the pool is closed")
        head = f"{method} {self._prefix}{path} HTTP/1.1\r\n{self._head}"
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        data = (head + "\r\n").encode("latin-1") + (body or b"")
        async with self._slots:
            conn = await self._take()
            try:
                async with asyncio.timeout(self._timeout_s):
                    conn.writer.write(data)
                    status, payload, keep = await _read_response(conn.reader)
            except TimeoutError:
                self._drop(conn)
                raise HttpTimeout(f"{method} {path}: no answer in {self._timeout_s}s") from None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                self._drop(conn)
                raise HttpError(f"{method} {path}: {exc!r}") from exc
            except BaseException:  # cancelled mid-exchange: the connection is in an unknown state
                self._drop(conn)
                raise
            if keep and not self._closed:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                self._drop(conn)
            return status, payload

    async def _take(self) -> _Conn:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < self._idle_s and not conn.reader.at_eof():
                return conn
            self._drop(conn)
        try:
            async with asyncio.timeout(self._timeout_s):
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._ssl, limit=MAX_HEAD
                )
        except TimeoutError:
            raise HttpTimeout(f"connect to {self._host}:{self._port} timed out") from None
        except OSError as exc:
            raise HttpError(f"connect to {self._host}:{self._port}: {exc!r}") from exc
        self._open += 1
        return _Conn(reader, writer)

    def _drop(self, conn: _Conn) -> None:
        self._open -= 1
        conn.close()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._drop(conn)
            try:
                await conn.writer.wait_closed()
            except OSError:
                pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep the connection) of one answer; 1xx answers are skipped."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError(f"malformed status line {lines[0][:100]!r}")
        status = int(parts[1])
        if not 100 <= status < 200:
            break
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"malformed header line {line[:100]!r}")
            fields[name.strip().lower()] = value.strip()
    keep = fields.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
    if status in (204, 304):
        return status, b"", keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, await _read_chunked(reader), keep
    length = fields.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ValueError(f"bad Content-Length {length!r}")
        return status, await reader.readexactly(int(length)), keep
    return status, await reader.read(), False  # framed by the end of the connection


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = (await reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0].strip()
        size = int(size_line, 16)  # ValueError if malformed
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the end
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("chunk not followed by CRLF")
