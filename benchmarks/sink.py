#!/usr/bin/env python3
"""A fast stand-in for ``POST /v1/sessions``, for benchmarks (stdlib only).

The emulator (``hhsession emulator``) is a threaded ``http.server`` with a
SQLite store; it tops out near 700 requests/s on a small machine, below what
the replay benchmarks must measure (64 connections at 50 ms allow 1,280/s).
This sink is one asyncio event loop: HTTP/1.1 with keep-alive and pipelining
(answers go back in request order), ``Content-Length`` and chunked bodies, and
an optional latency that delays each answer without blocking anyone else.

Two ways to play a server that has limits (issue 20's measures):

- ``--rate R --burst B``: a token bucket of R sessions/s holding B (one for the
  run: the benchmarks use one key); a session beyond it is answered 429 with
  ``Retry-After: 1`` (after the latency, as a server that far away would).
- ``--queue N``: at most N sessions are worked on at once, each for the
  latency; the others wait their turn (first come, first served), so the
  latency grows with the requests in flight beyond N.

``GET /_sink/stats`` also returns ``throttled`` (429s) and ``median_ms``, the
median time from a request's arrival to its answer.

It answers every ``POST /v1/sessions`` with 200 and a small session event whose
``event_id`` and ``session_id`` are the ``session_id`` of the posted JSON body
(or a new UUIDv4). It stores nothing and checks no key. ``GET /_sink/stats``
returns ``{"sessions": N, "first": T, "last": T}`` (counted since start or the
last ``POST /_sink/reset``; T on this machine's ``time.monotonic()`` clock,
which on Linux is the same clock in every process).

As a program (the first stdout line is the URL, as ``hhsession emulator --port 0``)::

    python benchmarks/sink.py [--port 0] [--latency 50]
    export HH_API_URL=http://127.0.0.1:40123

As a module::

    from sink import Sink
    with Sink(latency_ms=50).running() as url:   # in a thread of this process
        ...
    proc, url = spawn(latency_ms=50)             # in its own process (no shared GIL)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

MAX_HEAD = 64 * 1024
MAX_BODY = 17 * 1024 * 1024  # one session may be 16 MiB encoded
MAX_PENDING = 64  # requests read ahead on one connection before reading pauses
SESSIONS_PATH = "/v1/sessions"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ECHOED = ("session_name", "event_name", "source", "start_time", "end_time", "duration")
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
           501: "Not Implemented"}


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    __slots__ = ("method", "path", "body", "keep_alive", "arrived")

    def __init__(self, method: str, path: str, body: bytes, keep_alive: bool) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.keep_alive = keep_alive
        self.arrived = time.monotonic()


def parse_request(buf: bytearray) -> tuple[Request, int] | None:
    """One whole request from the front of ``buf`` and its length in bytes, or None if incomplete."""
    end = buf.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
    if end < 0:
        if len(buf) > MAX_HEAD:
            raise BadRequest(431, "request head larger than 64 KiB")
        return None
    head = bytes(buf[:end]).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"bad request line {lines[0][:80]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, f"bad header line {line[:80]!r}")
        name = name.lower()
        value = value.strip()
        if name in headers and name in ("content-length", "transfer-encoding"):
            if headers[name] != value:
                raise BadRequest(400, f"conflicting {name} headers")
        headers[name] = value
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    start = end + 4
    encoding = headers.get("transfer-encoding", "").lower()
    if encoding:
        if "content-length" in headers:
            raise BadRequest(400, "both Transfer-Encoding and Content-Length")
        if encoding != "chunked":
            raise BadRequest(501, f"Transfer-Encoding {encoding!r} is not supported")
        parsed = _chunked(buf, start)
        if parsed is None:
            return None
        body, stop = parsed
        return Request(method, target, body, keep_alive), stop
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise BadRequest(400, f"bad Content-Length {length_text!r}")
    length = int(length_text)
    if length > MAX_BODY:
        raise BadRequest(413, f"body of {length} bytes is too large")
    if len(buf) < start + length:
        return None
    return Request(method, target, bytes(buf[start:start + length]), keep_alive), start + length


def _chunked(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """A chunked body from ``pos`` (trailers skipped), or None if incomplete."""
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 1024:
                raise BadRequest(400, "bad chunk size line")
            return None
        size_text = bytes(buf[pos:eol]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest(400, f"bad chunk size {size_text[:20]!r}") from None
        if size < 0 or len(body) + size > MAX_BODY:
            raise BadRequest(413, "chunked body is too large")
        pos = eol + 2
        if size == 0:
            while True:  # trailer lines, then an empty line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    if len(buf) - pos > MAX_HEAD:
                        raise BadRequest(431, "trailers larger than 64 KiB")
                    return None
                line_empty = eol == pos
                pos = eol + 2
                if line_empty:
                    return bytes(body), pos
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise BadRequest(400, "chunk not followed by CRLF")
        body += buf[pos:pos + size]
        pos += size + 2


def session_event(body: bytes) -> dict[str, Any]:
    """The event a server would answer: the posted ids and names, echoed."""
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise BadRequest(400, "the body is not a JSON object")
    if isinstance(payload.get("session"), dict) and len(payload) == 1:
        payload = payload["session"]
    sid = payload.get("session_id")
    if not isinstance(sid, str) or not UUID.match(sid):
        sid = str(uuid.uuid4())
    event: dict[str, Any] = {"event_id": sid, "session_id": sid, "org_id": "o", "workspace_id": "w",
                             "project_id": "p", "event_type": "session"}
    for key in ECHOED:
        if key in payload:
            event[key] = payload[key]
    return event


def _response(status: int, document: Any, keep_alive: bool) -> bytes:
    body = json.dumps(document, separators=(",", ":")).encode()
    close = "" if keep_alive else "Connection: close\r\n"
    retry = "Retry-After: 1\r\n" if status == 429 else ""
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{retry}{close}\r\n")
    return head.encode() + body


def _error(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "success": False, "errorCode": "SINK"}


class Stats:
    def __init__(self) -> None:
        self.sessions = 0
        self.throttled = 0
        self.first: float | None = None
        self.last: float | None = None
        self.waits: list[float] = []  # arrival to answer, seconds, of every session answered

    def count(self) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.last = now
        self.sessions += 1

    def as_dict(self) -> dict[str, Any]:
        median = statistics.median(self.waits) * 1000 if self.waits else None
        return {"sessions": self.sessions, "throttled": self.throttled, "first": self.first, "last": self.last,
                "median_ms": median}


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` kept; a request takes one or is refused."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _Connection(asyncio.Protocol):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.loop = asyncio.get_running_loop()
        self.buf = bytearray()
        self.pending: deque[Request | BadRequest] = deque()
        self.busy = False  # an answer is waiting out its latency
        self.closed = False
        self.paused = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sink.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.sink.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.buf += data
        while self.buf:
            try:
                parsed = parse_request(self.buf)
            except BadRequest as exc:
                self.pending.append(exc)  # answered in order, then the connection closes
                self.buf.clear()
                assert self.transport is not None
                self.transport.pause_reading()
                self.paused = True
                break
            if parsed is None:
                break
            request, used = parsed
            del self.buf[:used]
            self.pending.append(request)
        if len(self.pending) >= MAX_PENDING and not self.paused and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        self._pump()

    def _pump(self) -> None:
        while self.pending and not self.busy and not self.closed:
            item = self.pending[0]
            if self.sink.latency > 0 and isinstance(item, Request) and item.path.startswith(SESSIONS_PATH):
                self.busy = True
                if self.sink.queue:
                    self.sink.enqueue(self)  # its turn comes when one of the N in work is answered
                else:
                    self.loop.call_later(self.sink.latency, self._after_latency)
                return
            self.pending.popleft()
            self._answer(item)
        if self.paused and not self.closed and len(self.pending) < MAX_PENDING // 2 and self.transport is not None:
            if not any(isinstance(item, BadRequest) for item in self.pending):
                self.paused = False
                self.transport.resume_reading()

    def start_work(self) -> None:
        """Its turn in the queue: worked on for the latency."""
        self.loop.call_later(self.sink.latency, self._after_latency)

    def _after_latency(self) -> None:
        self.busy = False
        if self.sink.queue:
            self.sink.done_working()
        if self.closed:
            return
        self._answer(self.pending.popleft())
        self._pump()

    def _answer(self, item: Request | BadRequest) -> None:
        assert self.transport is not None
        if isinstance(item, BadRequest):
            self.transport.write(_response(item.status, _error(item.status, item.message), False))
            self.closed = True
            self.transport.close()
            return
        status, document = self.sink.handle(item)
        self.transport.write(_response(status, document, item.keep_alive))
        if not item.keep_alive:
            self.closed = True
            self.transport.close()


class Sink:
    """The server. ``running()`` serves it from a thread of this process; ``serve()`` in the foreground."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0, rate: float = 0.0,
                 burst: float = 0.0, queue: int = 0) -> None:
        self.host = host
        self.port = port
        self.latency = latency_ms / 1000.0
        self.bucket = TokenBucket(rate, burst or rate / 4) if rate > 0 else None
        self.queue = queue
        self.working = 0
        self.waiting: deque[_Connection] = deque()
        self.stats = Stats()
        self.url = ""
        self.connections: set[_Connection] = set()

    def enqueue(self, connection: _Connection) -> None:
        if self.working < self.queue:
            self.working += 1
            connection.start_work()
        else:
            self.waiting.append(connection)

    def done_working(self) -> None:
        self.working -= 1
        while self.waiting and self.working < self.queue:
            connection = self.waiting.popleft()
            if not connection.closed:
                self.working += 1
                connection.start_work()

    def handle(self, request: Request) -> tuple[int, Any]:
        path = request.path.split("?", 1)[0]
        if path == SESSIONS_PATH:
            if request.method != "POST":
                return 405, _error(405, f"{request.method} {path}: only POST")
            if self.bucket is not None and not self.bucket.take():
                self.stats.throttled += 1
                return 429, _error(429, "rate limit exceeded; retry after 1 s")
            try:
                event = session_event(request.body)
            except BadRequest as exc:
                return exc.status, _error(exc.status, exc.message)
            except (ValueError, UnicodeDecodeError) as exc:
                return 400, _error(400, f"the body is not JSON: {exc}")
            self.stats.count()
            self.stats.waits.append(time.monotonic() - request.arrived)
            return 200, event
        if path == "/_sink/stats" and request.method == "GET":
            return 200, self.stats.as_dict()
        if path == "/_sink/reset" and request.method == "POST":
            self.stats = Stats()
            return 200, self.stats.as_dict()
        return 404, _error(404, f"{request.method} {path}: not here")

    async def start(self) -> asyncio.base_events.Server:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self), self.host, self.port, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        return server

    async def serve(self, stop: asyncio.Event, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve until ``stop`` is set, then close the listener and every open connection."""
        server = await self.start()
        if on_ready is not None:
            on_ready(self.url)
        try:
            await stop.wait()
        finally:
            server.close()
            for connection in list(self.connections):  # keep-alive clients would hold wait_closed() (3.12+)
                if connection.transport is not None:
                    connection.transport.close()
            await server.wait_closed()

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        """Serve from a thread; yields the URL. (A benchmark should prefer ``spawn``.)"""
        ready = threading.Event()
        holder: dict[str, Any] = {}

        def run() -> None:
            loop = asyncio.new_event_loop()
            holder["loop"] = loop
            holder["stop"] = stop = asyncio.Event()
            try:
                loop.run_until_complete(self.serve(stop, lambda url: ready.set()))
            finally:
                loop.close()

        thread = threading.Thread(target=run, name="sink", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the sink did not start")
        try:
            yield self.url
        finally:
            holder["loop"].call_soon_threadsafe(holder["stop"].set)
            thread.join(10)


def spawn(latency_ms: float = 0.0, python: str = sys.executable, *, rate: float = 0.0, burst: float = 0.0,
          queue: int = 0) -> tuple[subprocess.Popen[str], str]:
    """Start the sink in its own process; returns it and its URL. Terminate it when done."""
    proc = subprocess.Popen([python, str(Path(__file__).resolve()), "--port", "0", "--latency", str(latency_ms),
                             "--rate", str(rate), "--burst", str(burst), "--queue", str(queue)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    match = re.match(r"export HH_API_URL=(\S+)", proc.stdout.readline())
    if not match:
        proc.kill()
        raise RuntimeError("the sink did not start")
    return proc, match[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="MS", help="delay each answer by MS (default 0)")
    parser.add_argument("--rate", type=float, default=0.0, help="sessions/s a token bucket lets through; 429 beyond (0: no limit)")
    parser.add_argument("--burst", type=float, default=0.0, help="the bucket's size (default: a quarter second of --rate)")
    parser.add_argument("--queue", type=int, default=0, metavar="N", help="work on at most N sessions at once (0: no limit)")
    args = parser.parse_args(argv)
    sink = Sink(args.host, args.port, args.latency, rate=args.rate, burst=args.burst, queue=args.queue)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

        def ready(url: str) -> None:
            print(f"export HH_API_URL={url}", flush=True)
            print(f"sink on {url}, latency {args.latency:g} ms; Ctrl-C to stop", file=sys.stderr, flush=True)

        await sink.serve(stop, ready)
        print(f"sink stopped after {sink.stats.sessions} session(s)", file=sys.stderr, flush=True)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
