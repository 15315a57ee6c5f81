"""The emulator's HTTP side: ``http.server`` with a thread per connection; bodies, framing, answers."""

from __future__ import annotations

import json
import socket
import sys
import time
import zlib
from contextlib import AbstractContextManager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from ..payload import MAX_INPUT_BYTES
from .rules import HEALTH_PATHS, BadRequest, HungUp, error_body


class Served(Protocol):
    """What the HTTP side asks of the emulator (``app.Emulator``), without importing it."""

    faults: Any

    def in_flight(self) -> AbstractContextManager[None]: ...

    def count_connection(self) -> None: ...

    def should_fail(self) -> bool: ...

    def route(self, method: str, path: str, authorization: str | None, body: bytes) -> tuple[int, Any, str]: ...

    def log_request(self, client: str, method: str, path: str, status: int, note: str, took: float) -> None: ...

    def log_line(self, text: str) -> None: ...


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Dozens of simultaneous clients must not be refused at the listen queue.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Served) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line instead of http.server's traceback on stderr.

        A client that closes or resets its connection between requests has asked
        nothing and is not logged; one that hangs up mid-request or mid-answer is
        logged on its request's line by the handler.
        """
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        client = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        self.emulator.log_line(f"{client} connection error: {type(exc).__name__}: {exc}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server
    server_version = "hhsession-emulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass  # one line per request is written by Emulator.log_request instead

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK stall each answer by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.emulator.count_connection()

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # Methods no route takes: answered as every other request is (JSON, a 405 with Allow on a known path),
    # never with http.server's HTML page.
    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server itself refuses (a method it has no ``do_`` for, a bad request line): JSON too."""
        body = json.dumps(error_body(code, message or HTTPStatus(code).phrase)).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD" and code >= 200:
            self.wfile.write(body)

    def _handle(self, method: str) -> None:
        emulator = self.server.emulator
        with emulator.in_flight():
            started = time.monotonic()
            client = self.client_address[0]
            try:
                status, body, headers, note = self._answer(emulator, method)
            except HungUp as exc:
                self.close_connection = True
                emulator.log_request(client, method, self.path, 0, f"client hung up mid-request ({exc})", time.monotonic() - started)
                return
            try:
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if method != "HEAD":  # (an answer to HEAD has no body, only its length)
                    self.wfile.write(body)
            except (ConnectionError, TimeoutError) as exc:  # BrokenPipeError, ConnectionResetError, ...
                self.close_connection = True
                note = f"{note} (client hung up mid-answer: {type(exc).__name__})".lstrip()
            emulator.log_request(client, method, self.path, status, note, time.monotonic() - started)

    def _answer(self, emulator: Served, method: str) -> tuple[int, bytes, dict[str, str], str]:
        """(status, body, extra headers, log note) for the request being handled."""
        headers: dict[str, str] = {}
        try:
            body_bytes = self._read_body()
            path = self.path.split("?", 1)[0]
            if path not in HEALTH_PATHS:  # readiness checks stay fast and truthful
                if emulator.faults.latency_ms:
                    time.sleep(emulator.faults.latency_ms / 1000)
                if emulator.should_fail():
                    fail = emulator.faults.fail_status
                    raise BadRequest(fail, f"Injected failure ({fail})", injected=True)
            status, payload, note = emulator.route(method, path, self.headers.get("Authorization"), body_bytes)
            if isinstance(payload, bytes):  # an OTLP/protobuf answer
                return status, payload, {**headers, "Content-Type": "application/x-protobuf"}, note
            return status, json.dumps(payload).encode(), headers, note
        except BadRequest as exc:
            headers.update(exc.headers)
            if exc.injected and emulator.faults.retry_after is not None:
                headers["Retry-After"] = f"{emulator.faults.retry_after:g}"
            shape = {"code": 3, "message": exc.message} if exc.otlp else error_body(exc.status, exc.message)
            return exc.status, json.dumps(shape).encode(), headers, exc.message
        except HungUp:
            raise
        except Exception as exc:  # noqa: BLE001 - a stand-in server must answer, not die
            body = json.dumps(error_body(500, f"Emulator error: {type(exc).__name__}")).encode()
            return 500, body, headers, repr(exc)

    def _read_body(self) -> bytes:
        """The request's body (Content-Length or chunked), gunzipped when Content-Encoding says gzip."""
        body = self._read_framed_body()
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding != "gzip":
            raise BadRequest(415, f"Content-Encoding {encoding!r} is not supported (gzip is)")
        decompressor = zlib.decompressobj(wbits=31)  # gzip framing
        try:
            plain = decompressor.decompress(body, MAX_INPUT_BYTES + 1)
        except zlib.error:
            raise BadRequest(400, "The body is not valid gzip") from None
        if len(plain) > MAX_INPUT_BYTES or decompressor.unconsumed_tail:
            raise BadRequest(413, "Request body larger than 16 MiB once unzipped")
        return plain

    def _read_framed_body(self) -> bytes:
        # RFC 9112 §6.3: several Content-Length values that differ (in several fields or one list), or
        # one beside Transfer-Encoding, is a request whose end cannot be told: 400, and the connection closed.
        values = {value.strip() for field in self.headers.get_all("Content-Length") or () for value in field.split(",")}
        if not values:
            encoding = self.headers.get("Transfer-Encoding")
            if encoding is None:
                return b""
            if encoding.strip().lower() != "chunked":
                self.close_connection = True
                raise BadRequest(501, f"Transfer-Encoding {encoding!r} is not supported (chunked is)")
            return self._read_chunked()
        if len(values) > 1 or self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            raise BadRequest(400, "Conflicting Content-Length headers (or Content-Length with Transfer-Encoding)")
        (length_header,) = values
        if not length_header.isascii() or not length_header.isdigit():
            self.close_connection = True
            raise BadRequest(400, "Invalid Content-Length")
        length = int(length_header)
        if length > MAX_INPUT_BYTES + 1024:
            self.close_connection = True
            raise BadRequest(413, "Request body larger than 16 MiB")
        try:
            body = self.rfile.read(length) if length > 0 else b""
        except (ConnectionError, TimeoutError) as exc:
            raise HungUp(type(exc).__name__) from None
        if len(body) < length:
            raise HungUp(f"{len(body)} of {length} body bytes received")
        return body

    def _read_chunked(self) -> bytes:
        """A chunked body (RFC 9112 §7.1): chunks up to the zero chunk, trailers read and dropped."""
        body = bytearray()
        try:
            while True:
                line = self.rfile.readline(1026)
                if not line.endswith(b"\n"):
                    raise HungUp("the chunked body ended early") if not line else BadRequest(400, "Bad chunk size line")
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    self.close_connection = True
                    raise BadRequest(400, "Bad chunk size line") from None
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(body)
                if len(body) + size > MAX_INPUT_BYTES + 1024:
                    self.close_connection = True
                    raise BadRequest(413, "Request body larger than 16 MiB")
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise HungUp(f"{len(body) + len(chunk)} body bytes received, the chunk cut short")
                body += chunk
                self.rfile.readline(3)  # the chunk's CRLF
        except (ConnectionError, TimeoutError) as exc:
            raise HungUp(type(exc).__name__) from None


