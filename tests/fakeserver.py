"""A socket-level HTTP server on loopback that records requests and follows a script.

It stands in for a misbehaving network: it can answer a scripted sequence of
statuses, drop the connection after reading the request (before or after
storing the session), close it in the middle of the response, or stall past
the client's read timeout. Like the real server it is idempotent on
``session_id``, so tests can count how many sessions a run created, and it
takes ``PUT /v1/events/{id}`` for a session it holds (the update is recorded
in ``updates`` and merged into the session), else 404.

A test that must act once a request has arrived (send a signal while the
client waits for its answer, say) waits for it with ``wait_for_requests``:
the server says when it has read one, nobody polls.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() when the request was read

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """Answer with this status (default: store the session and return its event)."""

    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes/str -> as is; None -> the stored event
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: Store the session but answer only {"session_id": ...}, as older deployments do.
    minimal: bool = False
    #: Interim answers sent first (103 Early Hints, 102 Processing), ``interim_delay`` before the final one.
    interim: tuple[int, ...] = ()
    interim_delay: float = 0.05


@dataclass
class Drop:
    """Read the request, then close without answering (optionally storing it first)."""

    store: bool = False
    reset: bool = False  # send a TCP RST instead of a clean FIN


@dataclass
class Partial:
    """Store the session, send headers and half of the body, then close."""


@dataclass
class Drip:
    """A server too slow to finish: one byte every ``interval`` seconds, for ``seconds`` in all,
    in the headers or in the body (after headers that promise a body)."""

    interval: float = 0.2
    seconds: float = 30.0
    where: str = "body"


@dataclass
class Flood:
    """A 200 whose body never ends: ``declared`` as its Content-Length (None: no length, until closed)."""

    declared: int | None = 4 * 1024**3


Action = Reply | Drop | Partial | Drip | Flood


class FakeServer:
    def __init__(self, script: Iterable[Action] = (), ssl_context: ssl.SSLContext | None = None,
                 keep_alive: bool = False) -> None:
        self.ssl_context = ssl_context
        #: Answer many requests on one connection (as a real server does), not one and close.
        self.keep_alive = keep_alive
        self.script: list[Action] = list(script)
        #: What to do once the script is used up (default: store and answer the event).
        self.default: Action = Reply()
        self.requests: list[Recorded] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.updates: list[tuple[str, dict[str, Any]]] = []
        self.connections = 0
        self._lock = threading.Lock()
        #: Notified (with ``_lock`` held) each time a request has been read.
        self._arrived = threading.Condition(self._lock)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        try:
            socket.create_connection(self._sock.getsockname(), timeout=1).close()
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for_requests(self, count: int = 1, timeout: float = 20.0) -> bool:
        """Wait until ``count`` requests have been read (at most ``timeout`` s); whether they have."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    # ------------------------------------------------------------------ serving

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self._stopping:
                conn.close()
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _next_action(self) -> Action:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def _store(self, body: bytes) -> dict[str, Any]:
        try:
            session = json.loads(body)
        except ValueError:
            session = {}
        if not isinstance(session, dict):
            session = {}
        session_id = session.get("session_id") or str(uuid.uuid4())
        with self._lock:
            if session_id not in self.sessions:
                self.sessions[session_id] = {
                    **session,
                    "session_id": session_id,
                    "event_id": session_id,  # a session is the root event of its trace
                    "event_type": "session",
                    "org_id": "org_fake",
                    "workspace_id": "ws_fake",
                    "project_id": "proj_fake",
                }
            return self.sessions[session_id]

    def _update(self, path: str, body: bytes) -> dict[str, Any] | None:
        """Apply ``PUT /v1/events/{id}`` to a stored session; None when there is no such session."""
        event_id = path.split("?", 1)[0].rsplit("/", 1)[-1]
        try:
            update = json.loads(body)
        except ValueError:
            update = {}
        with self._lock:
            session = self.sessions.get(event_id)
            if session is None:
                return None
            self.updates.append((event_id, update))
            for key, value in update.items():
                if isinstance(value, dict) and key != "outputs":
                    session[key] = {**(session.get(key) or {}), **value}
                else:
                    session[key] = value
            return {"success": True}

    def _apply(self, request: Recorded) -> tuple[int, Any]:
        """What the server does with a request: store a session, or update one."""
        if request.method == "PUT":
            answer = self._update(request.path, request.body)
            return (404, {"statusCode": 404, "message": "Event not found", "success": False}) if answer is None else (200, answer)
        return 200, self._store(request.body)

    def _handle(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections += 1
        try:
            if self.ssl_context is not None:
                conn.settimeout(10)
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
            while self._answer(conn) and self.keep_alive and not self._stopping:
                pass
        except OSError:
            pass
        finally:
            conn.close()

    def _answer(self, conn: socket.socket) -> bool:
        """Read one request and act on it; whether the connection may carry another."""
        request = _read_request(conn)
        if request is None:
            return False
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        action = self._next_action()
        if isinstance(action, Drop):
            if action.store:
                self._apply(request)
            if action.reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if isinstance(action, Drip):
            self._drip(conn, action)
            return False
        if isinstance(action, Flood):
            length = f"Content-Length: {action.declared}\r\n" if action.declared is not None else ""
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}\r\n".encode())
            chunk = b"0" * 65536
            while not self._stopping:
                conn.sendall(chunk)  # until the client hangs up (an OSError ends it)
            return False
        if isinstance(action, Partial):
            payload = json.dumps(self._apply(request)[1]).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            conn.sendall(head.encode() + payload[: len(payload) // 2])
            return False
        if action.delay:
            time.sleep(action.delay)
        for status in action.interim:
            conn.sendall(f"HTTP/1.1 {status} Interim\r\nLink: </hint.css>; rel=preload\r\n\r\n".encode())
            time.sleep(action.interim_delay)
        body, status = action.body, action.status
        if body is None:
            if status == 200:
                status, body = self._apply(request)
                if action.minimal and isinstance(body, dict) and "session_id" in body:
                    body = {"session_id": body["session_id"]}
            else:
                body = {}
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode()
        )
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        if not self.keep_alive:
            headers["Connection"] = "close"
        headers.update(action.headers)
        head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        conn.sendall(head.encode() + b"\r\n" + data)
        return True


    def _drip(self, conn: socket.socket, action: Drip) -> None:
        if action.where == "body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            byte = b" "
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            byte = b"x"
        deadline = time.monotonic() + action.seconds
        while time.monotonic() < deadline and not self._stopping:
            conn.sendall(byte)
            time.sleep(action.interval)


def _read_request(conn: socket.socket) -> Recorded | None:
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Recorded(method=method, path=path, headers=headers, body=rest[:length], at=time.monotonic())
