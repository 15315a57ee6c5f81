"""Talking to the emulator over loopback HTTP, shared by its test files."""

from __future__ import annotations

import json
import socket
import time
from typing import IO, Any

import requests

from hhsession.emulator import Emulator

AUTH = {"Authorization": "Bearer anything"}
SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"


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


def wait_for_lines(log: IO[str], count: int, timeout: float = 5.0) -> list[str]:
    """The log's lines once it has at least ``count`` of them (or the deadline passed)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log.getvalue().splitlines()  # type: ignore[attr-defined]
        if len(lines) >= count or time.monotonic() > deadline:
            return list(lines)
        time.sleep(0.01)
