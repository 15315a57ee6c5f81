"""Talking to the emulator over loopback HTTP, shared by its test files."""

from __future__ import annotations

import io
import json
import socket
import threading
from typing import Any

import pytest
import requests

from hhsession.emulator import Emulator

AUTH = {"Authorization": "Bearer anything"}
SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on in this process, connecting to or resolving anything but loopback fails the test
    (a vendor's client under test may reach the emulator and nothing else)."""
    connect, resolve = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            raise AssertionError(f"the client tried to reach {address!r}")
        return connect(self, address)

    def guarded_resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and (host.decode() if isinstance(host, bytes) else str(host)) not in LOOPBACK:
            raise AssertionError(f"the client tried to resolve {host!r}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_resolve)


def export_by_session(emu: Emulator, session_id: str) -> dict[str, Any]:
    """What export answers for one session: the session and the events inside it."""
    filters = [{"field": "session_id", "operator": "is", "value": session_id, "type": "string"}]
    response = post(emu, {"filters": filters}, path="/v1/events/export")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _data(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def post(emu: Emulator, body: Any, path: str = "/v1/sessions", headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(emu.url + path, data=_data(body), headers=AUTH if headers is None else headers, timeout=10)


def put(emu: Emulator, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.put(emu.url + path, data=_data(body), headers=AUTH if headers is None else headers, timeout=10)


def get(emu: Emulator, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(emu.url + path, headers=AUTH if headers is None else headers, timeout=10)


def assert_error_body(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert set(body) == {"statusCode", "message", "success", "errorCode"}
    assert body["statusCode"] == status and body["success"] is False and body["message"]
    return body


def error(status: int, message: str) -> dict[str, Any]:
    """The exact documented error body the emulator answers."""
    codes = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
             413: "PAYLOAD_TOO_LARGE", 503: "SERVICE_UNAVAILABLE"}
    return {"statusCode": status, "message": message, "success": False, "errorCode": codes[status]}


def raw_connection(emu: Emulator) -> socket.socket:
    host, port = emu.httpd.server_address[:2]
    return socket.create_connection((str(host), int(port)), timeout=10)


class Log(io.StringIO):
    """An emulator's request log (``Emulator(log=Log())``) that says when a line is written.

    The emulator writes a request's line once it has answered it (a stored session's line says
    ``created``), so a test waits for lines instead of polling the store.
    """

    def __init__(self) -> None:
        super().__init__()
        self._written = threading.Condition()
        self._lines: list[str] = []

    def write(self, text: str) -> int:
        with self._written:
            written = super().write(text)
            self._lines += text.splitlines()
            self._written.notify_all()
        return written

    def count(self, containing: str = "") -> int:
        """How many lines hold ``containing`` (every line: "")."""
        with self._written:
            return sum(containing in line for line in self._lines)

    def wait_for(self, count: int, containing: str = "", timeout: float = 20.0) -> list[str]:
        """The lines, once ``count`` of them hold ``containing`` (or ``timeout`` s have passed)."""
        with self._written:
            self._written.wait_for(lambda: sum(containing in line for line in self._lines) >= count, timeout)
            return list(self._lines)


def handler_threads() -> set[threading.Thread]:
    """The threads a ``ThreadingHTTPServer`` (the emulator's) runs connections in."""
    return {thread for thread in threading.enumerate() if "process_request_thread" in thread.name}


def join_new_handlers(before: set[threading.Thread], timeout: float = 10.0) -> None:
    """Wait for the connections handled since ``before`` to end: whatever they would log is logged then."""
    for thread in handler_threads() - before:
        thread.join(timeout)
