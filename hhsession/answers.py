"""What a server's answer says, read as strictly as the SPEC asks (§5): a 2xx body is JSON (NaN,
Infinity and numbers no float holds are not), the ``message`` of an error body, and whether a session
sent was one the server already had. Everything shown is masked (``redact``)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import NetworkError
from .redact import Secrets, one_line, redact


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text} is too large for a number")
    return value


#: One decoder for every answer (``json.loads`` with hooks would build one per call: once per record).
_STRICT_JSON = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


class Answer:
    """A 2xx answer, after however many attempts it took."""

    __slots__ = ("status", "body", "attempts", "elapsed", "secret")

    def __init__(self, status: int, body: bytes, attempts: int, elapsed: float, secret: Secrets = None) -> None:
        self.status, self.body, self.attempts, self.elapsed = status, body, attempts, elapsed
        self.secret = secret  # masked in what is read from the body; never in a repr

    def __repr__(self) -> str:
        return f"Answer(status={self.status}, attempts={self.attempts}, {len(self.body)} bytes)"

    def json(self) -> Any:
        """The body as JSON, as the server sent it (masking is for what is shown: an answer is compared
        with what was sent, and a short key is a word names may hold); None when empty."""
        text = self.body.decode("utf-8", "replace").strip()
        if not text:
            return None
        try:  # (NaN, Infinity and 1e400 are no JSON a reader can take: refused, not shown as such)
            return _STRICT_JSON.decode(text)
        except (ValueError, RecursionError):
            raise self._unexpected("JSON") from None

    def json_object(self) -> dict[str, Any]:
        try:
            value = self.json()
        except NetworkError:
            value = None
        if not isinstance(value, dict):
            raise self._unexpected("a JSON object")
        return value

    def _unexpected(self, what: str) -> NetworkError:
        return NetworkError(
            f"the server answered {self.status} but not with {what}: {_shown(self.body, self.secret)!r}; "
            f"check that the API URL points at the HoneyHive API",
            status=self.status,
        )


def existing_session_note(payload: Mapping[str, Any], event: Mapping[str, Any], ignore: tuple[str, ...] = ()) -> str | None:
    """Say so when the server answered with a session that already existed.

    The server is idempotent on session_id: for an id it already has, it merges
    metadata and user_properties and returns the existing event, silently
    ignoring every other field that was sent. (A retry after a lost response
    gets back exactly what was sent, so it is not flagged.)
    """
    sent_id = payload.get("session_id")

    def differs(key: str) -> bool:
        if key in ignore:  # "now" as the builder filled it in: a resent record's differs, and means nothing
            return False
        sent, got = payload.get(key), event.get(key)
        if sent is None or got is None:
            return False
        if key in ("start_time", "end_time", "duration") and isinstance(got, int | float):
            return bool(abs(got - sent) >= 1)  # the server may keep whole milliseconds only
        return bool(got != sent)

    differing = [key for key in ("session_name", "event_name", "source", "start_time", "end_time", "duration") if differs(key)]
    if not differing:
        return None
    return (
        f"session {sent_id} already existed: the server kept its {', '.join(differing)} and merged only "
        f"metadata and user_properties"
    )


def server_message(body: bytes, secret: Secrets = None) -> str:
    """The ``message`` of the documented error body, else the start of the body; masked, then cut."""
    text = redact(body.decode("utf-8", "replace"), secret).strip()
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        message = parsed.get("message") or parsed.get("error")
        if isinstance(message, str | int | float) and str(message):
            return one_line(redact(str(message), secret))[:500]
    if text[:1] == "<":  # a web server's or a proxy's error page: its title, not its markup
        title = re.search(r"<title[^>]*>(.*?)</title>", text[:4096], re.IGNORECASE | re.DOTALL)
        named = " ".join(title.group(1).split())[:100] if title else ""
        return one_line(f"an HTML page{f' ({named!r})' if named else ''}, not the API's JSON")
    return one_line(" ".join(text[:200].split()))


def _shown(body: bytes, secret: Secrets) -> str:
    return one_line(redact(body.decode("utf-8", "replace"), secret))[:200]
